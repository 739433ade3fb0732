//! DeleteRecords (`kafka-delete-records`): moves a partition's log start forward, never past
//! the high watermark.

use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::handlers::errors;

pub const VERSIONS: (i16, i16) = (0, 2);

pub async fn handle(broker: &Broker, _ctx: &RequestContext, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let image = broker.image();
    let mut r = DeleteRecordsResponse::default();
    for t in req.topics {
        let topic = image.topics.get(t.name.0.as_str());
        let mut out = DeleteRecordsTopicResult::default();
        out.name = t.name.clone();
        for p in t.partitions {
            let mut pr = DeleteRecordsPartitionResult::default();
            pr.partition_index = p.partition_index;
            pr.low_watermark = -1;
            match super::partition_of(broker, topic, p.partition_index) {
                Err(e) => pr.error_code = e.code(),
                Ok((_, part)) => match part.delete_records(p.offset) {
                    Ok(low) => pr.low_watermark = low,
                    Err(e) => pr.error_code = errors::read_error(&e).code(),
                },
            }
            out.partitions.push(pr);
        }
        r.topics.push(out);
    }
    r
}
