//! OffsetCommit: group-level checks by the coordinator, partition-level checks here.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::cluster::Topic;
use crate::group::records::Committed;
use crate::handlers::errors::WireCode;

/// v10 exists, but kafka-protocol 0.18 decodes requests only up to v9.
pub const VERSIONS: (i16, i16) = (2, 9);

/// Kafka's offset.metadata.max.bytes default.
const METADATA_BYTES_MAX: usize = 4096;

/// One partition's commit, checked as Kafka checks it in OffsetCommit and TxnOffsetCommit alike:
/// the partition exists and the metadata fits offset.metadata.max.bytes.
pub(super) fn checked_commit(
    topic: Option<&Topic>,
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: Option<&str>,
    now_ms: i64,
) -> Result<Committed, ResponseError> {
    if !topic.is_some_and(|t| partition >= 0 && (partition as usize) < t.partitions.len()) {
        return Err(ResponseError::UnknownTopicOrPartition);
    }
    if metadata.is_some_and(|m| m.len() > METADATA_BYTES_MAX) {
        return Err(ResponseError::OffsetMetadataTooLarge);
    }
    let metadata = metadata.unwrap_or("").to_string();
    Ok(Committed { offset, leader_epoch, metadata, commit_timestamp_ms: now_ms })
}

pub async fn handle(broker: &Broker, _ctx: &RequestContext, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let image = broker.image();
    let now = crate::now_ms();
    let ready =
        super::groups_ready(broker).await.and_then(|()| super::coordinates(broker, req.group_id.0.as_str(), false));
    let mut valid = Vec::new();
    let mut r = OffsetCommitResponse::default();
    // Per-partition errors first; the rest is committed in one write.
    let mut codes: Vec<Vec<i16>> = Vec::new();
    for t in &req.topics {
        let topic = image.topics.get(t.name.0.as_str());
        let mut tc = Vec::new();
        for p in &t.partitions {
            let metadata = p.committed_metadata.as_deref();
            let checked = ready.and_then(|()| {
                checked_commit(topic, p.partition_index, p.committed_offset, p.committed_leader_epoch, metadata, now)
            });
            tc.push(match checked {
                Ok(c) => {
                    valid.push((t.name.0.to_string(), p.partition_index, c));
                    0
                }
                Err(e) => e.code(),
            });
        }
        codes.push(tc);
    }
    let group_result = if valid.is_empty() {
        Ok(())
    } else {
        broker
            .groups
            .commit(
                req.group_id.0.as_str(),
                req.member_id.as_str(),
                req.group_instance_id.as_deref(),
                req.generation_id_or_member_epoch,
                valid,
            )
            .await
    };
    let group_code = group_result.err().map(|e| e.code()).unwrap_or(0);
    for (t, tc) in req.topics.iter().zip(codes) {
        let mut out = OffsetCommitResponseTopic::default();
        out.name = t.name.clone();
        out.topic_id = t.topic_id;
        out.partitions = t
            .partitions
            .iter()
            .zip(tc)
            .map(|(p, code)| {
                let mut pr = OffsetCommitResponsePartition::default();
                pr.partition_index = p.partition_index;
                pr.error_code = if code != 0 { code } else { group_code };
                pr
            })
            .collect();
        r.topics.push(out);
    }
    r
}
