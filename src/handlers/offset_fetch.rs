//! OffsetFetch: one group (v0-7) or a batch of groups (v8+); a partition without a commit
//! answers offset -1.

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName};

use super::{RequestContext, str_bytes};
use crate::broker::Broker;
use crate::group::records::Committed;
use crate::handlers::errors::WireCode;

/// v10 exists, but kafka-protocol 0.18 decodes requests only up to v9.
pub const VERSIONS: (i16, i16) = (1, 9);

/// Requested partitions per topic; None = every committed partition.
type Wanted = Option<Vec<(String, Vec<i32>)>>;

/// (partition, committed offset, error code) rows per topic.
type Rows = Vec<(String, Vec<(i32, Option<Committed>, i16)>)>;

/// With require_stable, a partition with an offset commit pending in an open transaction answers
/// UNSTABLE_OFFSET_COMMIT (the client retries it), as Kafka does, partition by partition.
async fn lookup(broker: &Broker, group: &str, wanted: Wanted, require_stable: bool) -> Result<Rows, i16> {
    let committed = broker.groups.fetch_offsets(group).await;
    let pending = if require_stable { broker.groups.pending_txn_partitions(group).await } else { Default::default() };
    let row = |t: &str, p: i32, c: Option<Committed>| {
        let code = if pending.contains(&(t.to_string(), p)) {
            kafka_protocol::ResponseError::UnstableOffsetCommit.code()
        } else {
            0
        };
        (p, c, code)
    };
    Ok(match wanted {
        Some(topics) => topics
            .into_iter()
            .map(|(t, parts)| {
                let rows = parts.into_iter().map(|p| row(&t, p, committed.get(&(t.clone(), p)).cloned())).collect();
                (t, rows)
            })
            .collect(),
        None => {
            let mut by_topic: BTreeMap<String, Vec<(i32, Option<Committed>, i16)>> = BTreeMap::new();
            for ((t, p), c) in committed {
                let r = row(&t, p, Some(c));
                by_topic.entry(t).or_default().push(r);
            }
            by_topic.into_iter().collect()
        }
    })
}

/// One group of a v8+ request (KIP-709: several groups per request, each with its own error).
async fn fetch_group(broker: &Broker, g: &OffsetFetchRequestGroup, require_stable: bool) -> OffsetFetchResponseGroup {
    let wanted =
        g.topics.as_ref().map(|ts| ts.iter().map(|t| (t.name.0.to_string(), t.partition_indexes.clone())).collect());
    let mut out = OffsetFetchResponseGroup::default();
    out.group_id = g.group_id.clone();
    if let Err(e) = super::coordinates(broker, g.group_id.0.as_str(), false) {
        out.error_code = e.code();
        return out;
    }
    if let Some(member) = g.member_id.as_ref().filter(|m| !m.is_empty())
        && let Err(e) = broker.groups.check_fetch_member(g.group_id.0.as_str(), member.as_str(), g.member_epoch).await
    {
        out.error_code = e.code();
        return out;
    }
    match lookup(broker, g.group_id.0.as_str(), wanted, require_stable).await {
        Err(code) => out.error_code = code,
        Ok(rows) => {
            out.topics = rows
                .into_iter()
                .map(|(t, parts)| {
                    let mut ot = OffsetFetchResponseTopics::default();
                    ot.name = TopicName(str_bytes(t));
                    ot.partitions = parts
                        .into_iter()
                        .map(|(p, c, code)| {
                            let mut op = OffsetFetchResponsePartitions::default();
                            op.partition_index = p;
                            op.error_code = code;
                            op.committed_offset = c.as_ref().map(|c| c.offset).unwrap_or(-1);
                            op.committed_leader_epoch = c.as_ref().map(|c| c.leader_epoch).unwrap_or(-1);
                            op.metadata = Some(str_bytes(c.map(|c| c.metadata).unwrap_or_default()));
                            op
                        })
                        .collect();
                    ot
                })
                .collect();
        }
    }
    out
}

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: OffsetFetchRequest) -> OffsetFetchResponse {
    let mut r = OffsetFetchResponse::default();
    if let Err(e) = super::groups_ready(broker).await {
        r.error_code = e.code();
        return r;
    }
    if ctx.version >= 8 {
        for g in &req.groups {
            r.groups.push(fetch_group(broker, g, req.require_stable).await);
        }
        return r;
    }
    let wanted =
        req.topics.as_ref().map(|ts| ts.iter().map(|t| (t.name.0.to_string(), t.partition_indexes.clone())).collect());
    let group: &GroupId = &req.group_id;
    if let Err(e) = super::coordinates(broker, group.0.as_str(), false) {
        r.error_code = e.code();
        return r;
    }
    match lookup(broker, group.0.as_str(), wanted, req.require_stable && ctx.version >= 7).await {
        Err(code) => r.error_code = if ctx.version >= 2 { code } else { 0 },
        Ok(rows) => {
            r.topics = rows
                .into_iter()
                .map(|(t, parts)| {
                    let mut ot = OffsetFetchResponseTopic::default();
                    ot.name = TopicName(str_bytes(t));
                    ot.partitions = parts
                        .into_iter()
                        .map(|(p, c, code)| {
                            let mut op = OffsetFetchResponsePartition::default();
                            op.partition_index = p;
                            op.error_code = code;
                            op.committed_offset = c.as_ref().map(|c| c.offset).unwrap_or(-1);
                            if ctx.version >= 5 {
                                op.committed_leader_epoch = c.as_ref().map(|c| c.leader_epoch).unwrap_or(-1);
                            }
                            op.metadata = Some(str_bytes(c.map(|c| c.metadata).unwrap_or_default()));
                            op
                        })
                        .collect();
                    ot
                })
                .collect();
        }
    }
    r
}
