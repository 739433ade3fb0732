//! OffsetDelete: drops committed offsets of partitions a group does not consume.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::handlers::errors::WireCode;

pub const VERSIONS: (i16, i16) = (0, 0);

pub async fn handle(broker: &Broker, _ctx: &RequestContext, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let image = broker.image();
    let mut r = OffsetDeleteResponse::default();
    let mut asked = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            asked.push((t.name.0.to_string(), p.partition_index));
        }
    }
    let known: Vec<_> = asked
        .iter()
        .filter(|(t, p)| image.topics.get(t).is_some_and(|tp| *p >= 0 && (*p as usize) < tp.partitions.len()))
        .cloned()
        .collect();
    if let Err(e) = super::coordinates(broker, req.group_id.0.as_str(), false) {
        r.error_code = e.code();
        return r;
    }
    let results = match broker.groups.delete_offsets(req.group_id.0.as_str(), known).await {
        Err(e) => {
            r.error_code = e.code();
            return r;
        }
        Ok(res) => res,
    };
    for t in req.topics {
        let mut out = OffsetDeleteResponseTopic::default();
        for p in &t.partitions {
            let key = (t.name.0.to_string(), p.partition_index);
            let mut pr = OffsetDeleteResponsePartition::default();
            pr.partition_index = p.partition_index;
            pr.error_code = match results.iter().find(|(k, _)| *k == key) {
                None => ResponseError::UnknownTopicOrPartition.code(),
                Some((_, e)) => e.map(|e| e.code()).unwrap_or(0),
            };
            out.partitions.push(pr);
        }
        out.name = t.name;
        r.topics.push(out);
    }
    r
}
