//! OffsetCommit: group-level checks by the coordinator, partition-level checks here.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::group::records::Committed;

/// v10 exists, but kafka-protocol 0.18 decodes requests only up to v9.
pub const VERSIONS: (i16, i16) = (2, 9);

/// Kafka's offset.metadata.max.bytes default.
const METADATA_BYTES_MAX: usize = 4096;

pub async fn handle(broker: &Broker, _ctx: &RequestContext, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let image = broker.image();
    let now = crate::now_ms();
    let ready = super::groups_ready(broker).await;
    let mut valid = Vec::new();
    let mut r = OffsetCommitResponse::default();
    // Per-partition errors first; the rest is committed in one write.
    let mut codes: Vec<Vec<i16>> = Vec::new();
    for t in &req.topics {
        let topic = image.topics.get(t.name.0.as_str());
        let mut tc = Vec::new();
        for p in &t.partitions {
            let exists =
                topic.is_some_and(|tp| p.partition_index >= 0 && (p.partition_index as usize) < tp.partitions.len());
            let code = if let Err(e) = ready {
                e.code()
            } else if !exists {
                ResponseError::UnknownTopicOrPartition.code()
            } else if p.committed_metadata.as_ref().is_some_and(|m| m.len() > METADATA_BYTES_MAX) {
                ResponseError::OffsetMetadataTooLarge.code()
            } else {
                valid.push((
                    t.name.0.to_string(),
                    p.partition_index,
                    Committed {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.committed_metadata.as_deref().unwrap_or("").to_string(),
                        commit_timestamp_ms: now,
                    },
                ));
                0
            };
            tc.push(code);
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
