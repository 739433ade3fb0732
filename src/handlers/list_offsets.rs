//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3), earliest local (-4), and the
//! first offset at or after a timestamp.

use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::handlers::errors;

pub const VERSIONS: (i16, i16) = (1, 10);

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

pub fn handle(broker: &Broker, ctx: &RequestContext, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let image = broker.image();
    let mut r = ListOffsetsResponse::default();
    for t in req.topics {
        let topic = image.topics.get(t.name.0.as_str());
        let mut out = ListOffsetsTopicResponse::default();
        out.name = t.name.clone();
        for p in t.partitions {
            let mut pr = ListOffsetsPartitionResponse::default();
            pr.partition_index = p.partition_index;
            pr.timestamp = -1;
            pr.offset = -1;
            pr.leader_epoch = -1;
            let (meta, part) = match super::partition_of(broker, topic, p.partition_index) {
                Ok(found) => found,
                Err(e) => {
                    pr.error_code = e.code();
                    out.partitions.push(pr);
                    continue;
                }
            };
            if ctx.version >= 4 {
                pr.leader_epoch = meta.leader_epoch;
            }
            // A new leader answers only once its high watermark reaches the start of its epoch:
            // below it, offsets its predecessor gave out could not be told (Kafka's rule).
            let epoch_start = part.epoch_start(meta.leader_epoch);
            if meta.replicas.len() > 1 && epoch_start > part.high_watermark() {
                pr.error_code = kafka_protocol::ResponseError::OffsetNotAvailable.code();
                out.partitions.push(pr);
                continue;
            }
            let found = match p.timestamp {
                LATEST if req.isolation_level == 1 => Ok(Some((part.last_stable(), -1))),
                LATEST => Ok(Some((part.high_watermark(), -1))),
                EARLIEST | EARLIEST_LOCAL => Ok(Some((part.log_start(), -1))),
                LATEST_TIERED => Ok(Some((-1, -1))),
                MAX_TIMESTAMP => part.max_timestamp(),
                ts => part.offset_for_timestamp(ts),
            };
            match found {
                Ok(Some((offset, ts))) => {
                    pr.offset = offset;
                    pr.timestamp = ts;
                }
                // Nothing at or after the timestamp: Kafka answers -1 for offset, time and epoch.
                Ok(None) => pr.leader_epoch = -1,
                Err(e) => pr.error_code = errors::store_error(&e).code(),
            }
            out.partitions.push(pr);
        }
        r.topics.push(out);
    }
    r
}
