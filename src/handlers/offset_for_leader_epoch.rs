//! OffsetForLeaderEpoch: the end offset of a leader epoch, which consumers use to validate their
//! position after a leader change, from the partition's leader-epoch cache.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::handlers::errors;

pub const VERSIONS: (i16, i16) = (2, 4);

pub fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let image = broker.image();
    let mut r = OffsetForLeaderEpochResponse::default();
    for t in req.topics {
        let topic = image.topics.get(t.topic.0.as_str());
        let mut out = OffsetForLeaderTopicResult::default();
        out.topic = t.topic.clone();
        for p in t.partitions {
            let mut e = EpochEndOffset::default();
            e.partition = p.partition;
            e.leader_epoch = -1;
            e.end_offset = -1;
            let meta = topic.and_then(|tp| tp.partition(p.partition));
            match meta {
                None => e.error_code = ResponseError::UnknownTopicOrPartition.code(),
                Some(m) if !broker.leads(m) => e.error_code = ResponseError::NotLeaderOrFollower.code(),
                Some(m) if p.current_leader_epoch > m.leader_epoch => {
                    e.error_code = ResponseError::UnknownLeaderEpoch.code()
                }
                Some(m) if p.current_leader_epoch >= 0 && p.current_leader_epoch < m.leader_epoch => {
                    e.error_code = ResponseError::FencedLeaderEpoch.code()
                }
                // An epoch newer than any this partition had: undefined, as Kafka answers.
                Some(m) if p.leader_epoch > m.leader_epoch => {}
                Some(m) => match broker.partition(m.uid) {
                    // The current epoch ends at the log end; an older one where the next epoch
                    // this log has starts (Kafka's leader-epoch cache).
                    Ok(part) if p.leader_epoch == m.leader_epoch => {
                        e.leader_epoch = m.leader_epoch;
                        e.end_offset = part.log_end();
                    }
                    Ok(part) => (e.leader_epoch, e.end_offset) = part.epoch_end(p.leader_epoch),
                    Err(err) => e.error_code = errors::store_error(&err).code(),
                },
            }
            out.partitions.push(e);
        }
        r.topics.push(out);
    }
    r
}
