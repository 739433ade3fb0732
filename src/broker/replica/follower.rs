//! The follower side of replication: one fetcher per leader this node follows, copying its
//! batches with Fetch (replica id = this node) and repairing the local log where the leader's
//! answer says it parts from the leader's (DivergingEpoch, OFFSET_OUT_OF_RANGE).

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::FETCH_BACKOFF;
use crate::broker::Broker;
use crate::cluster::PartitionMeta;
use crate::cluster::replication;
use crate::log::{AppendError, Partition};
use crate::protocol::client::Connection;

/// The partitions this node follows from `leader`: (topic, index, metadata, open log).
type Followed = Vec<(String, i32, PartitionMeta, Arc<Partition>)>;

fn followed(b: &Broker, leader: i32) -> Followed {
    let image = b.image();
    let me = b.config.node_id;
    let mut out = Vec::new();
    for t in image.topics.values() {
        for (index, meta) in t.partitions.iter().enumerate() {
            if meta.leader != leader || !meta.replicas.contains(&me) {
                continue;
            }
            match b.partition(meta.uid) {
                Ok(part) => {
                    part.set_replicated(true);
                    out.push((t.name.clone(), index as i32, meta.clone(), part));
                }
                Err(e) => {
                    tracing::warn!(topic = %t.name, partition = index, error = %e, "cannot open a followed partition")
                }
            }
        }
    }
    out
}

fn fetch_request(b: &Broker, parts: &Followed) -> FetchRequest {
    let r = &b.config.replication;
    let mut topics: Vec<FetchTopic> = Vec::new();
    for (name, index, meta, part) in parts {
        let mut p = FetchPartition::default();
        p.partition = *index;
        p.current_leader_epoch = meta.leader_epoch;
        p.fetch_offset = part.log_end();
        p.last_fetched_epoch = part.epochs().0.latest().map_or(-1, |(e, _)| e);
        p.log_start_offset = part.log_start();
        p.partition_max_bytes = r.fetch_partition_bytes_max;
        if topics.last().is_none_or(|t| t.topic.0.as_str() != name) {
            let mut t = FetchTopic::default();
            t.topic = TopicName(StrBytes::from_string(name.clone()));
            topics.push(t);
        }
        topics.last_mut().expect("pushed").partitions.push(p);
    }
    let mut req = FetchRequest::default();
    req.replica_id = BrokerId(b.config.node_id);
    req.max_wait_ms = r.fetch_wait_ms_max;
    req.min_bytes = 1;
    req.max_bytes = r.fetch_response_bytes_max;
    req.session_id = 0;
    req.session_epoch = -1;
    req.topics = topics;
    req
}

/// The Fetch version followers send (DivergingEpoch, topic names).
const FOLLOWER_FETCH_VERSION: i16 = 12;

/// One leader's fetcher: fetches every partition this node follows from `leader` until there is
/// none left (or the broker stops).
pub(super) async fn follow(weak: Weak<Broker>, leader: i32) {
    let mut conn: Option<Connection> = None;
    loop {
        let Some(b) = weak.upgrade() else { return };
        if b.is_stopping() {
            return;
        }
        let parts = followed(&b, leader);
        if parts.is_empty() {
            return;
        }
        let Some(addr) = b.image().brokers.get(&leader).map(|i| format!("{}:{}", i.host, i.port)) else {
            drop(b);
            tokio::time::sleep(FETCH_BACKOFF).await;
            continue;
        };
        let req = fetch_request(&b, &parts);
        let timeout = Duration::from_millis(b.config.replication.fetch_wait_ms_max as u64) + Duration::from_secs(10);
        let client_id = format!("gregor-replica-{}", b.config.node_id);
        drop(b);
        if conn.as_ref().is_none_or(|c| c.addr() != addr) {
            match Connection::open(&addr, &client_id, Duration::from_secs(3)).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::debug!(leader, error = %e, "cannot reach the leader to fetch");
                    tokio::time::sleep(FETCH_BACKOFF).await;
                    continue;
                }
            }
        }
        let resp = match conn.as_mut().expect("opened above").call(&req, FOLLOWER_FETCH_VERSION, timeout).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(leader, error = %e, "follower fetch failed");
                conn = None;
                tokio::time::sleep(FETCH_BACKOFF).await;
                continue;
            }
        };
        let mut refused = 0;
        for t in &resp.responses {
            for pd in &t.partitions {
                let Some((_, _, _, part)) =
                    parts.iter().find(|(n, i, _, _)| n.as_str() == t.topic.0.as_str() && *i == pd.partition_index)
                else {
                    continue;
                };
                if !apply_fetched(t.topic.0.as_str(), part, pd) {
                    refused += 1;
                }
            }
        }
        if refused > 0 && refused == parts.len() {
            // Everything refused (a leader change in flight): wait for the metadata to move.
            tokio::time::sleep(FETCH_BACKOFF).await;
        }
    }
}

/// Applies one partition of a leader's answer to its follower's log; false if the leader
/// refused it.
fn apply_fetched(topic: &str, part: &Partition, pd: &PartitionData) -> bool {
    if pd.error_code == kafka_protocol::ResponseError::OffsetOutOfRange.code() {
        let own_end = part.log_end();
        let repaired = match replication::out_of_range(own_end, pd.log_start_offset, pd.high_watermark) {
            replication::OutOfRange::StartAt(start) => {
                tracing::info!(
                    topic,
                    partition = pd.partition_index,
                    from = own_end,
                    to = start,
                    "follower behind its leader's log start: starting over there"
                );
                part.restart_at(start)
            }
            replication::OutOfRange::TruncateTo(end) => {
                tracing::info!(
                    topic,
                    partition = pd.partition_index,
                    from = own_end,
                    to = end,
                    "follower log past its leader's end: truncating to the leader's high watermark"
                );
                part.truncate_to(end)
            }
            replication::OutOfRange::Wait => return false,
        };
        if let Err(e) = repaired {
            tracing::warn!(topic, partition = pd.partition_index, error = %e, "cannot repair the follower's log");
            return false;
        }
        return true;
    }
    if pd.error_code != 0 {
        tracing::debug!(topic, partition = pd.partition_index, code = pd.error_code, "leader refused a follower fetch");
        return false;
    }
    let d = &pd.diverging_epoch;
    if d.epoch >= 0 || d.end_offset >= 0 {
        let (epochs, end) = part.epochs();
        let (to, _) = replication::truncation(&epochs, end, part.high_watermark(), (d.epoch, d.end_offset));
        tracing::info!(
            topic,
            partition = pd.partition_index,
            from = end,
            to,
            "follower log diverged from its leader's: truncating"
        );
        if let Err(e) = part.truncate_to(to) {
            tracing::warn!(topic, partition = pd.partition_index, error = %e, "truncation failed");
        }
        return true;
    }
    if let Some(records) = pd.records.as_ref().filter(|r| !r.is_empty())
        && let Err(e) = append_fetched(part, records)
    {
        tracing::warn!(topic, partition = pd.partition_index, error = %e, "cannot append the leader's batches");
        return false;
    }
    if let Err(e) = part.follow_log_start(pd.log_start_offset) {
        tracing::warn!(topic, partition = pd.partition_index, error = %e, "cannot follow the leader's log start");
    }
    part.set_high_watermark(pd.high_watermark);
    true
}

/// Appends a leader's batches. An empty log that starts inside the leader's first batch (the
/// leader's log start falls within a batch: DeleteRecords) starts over at that batch's base.
fn append_fetched(part: &Partition, records: &Bytes) -> Result<i64, AppendError> {
    match part.append_replica(records) {
        Err(AppendError::Gap { got, log_end }) if got < log_end && part.log_start() == log_end => {
            part.restart_at(got)?;
            part.append_replica(records)
        }
        other => other,
    }
}
