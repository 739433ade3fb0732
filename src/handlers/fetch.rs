//! Fetch: reads whole batches up to the high watermark within the request's byte limits,
//! long-polls (max_wait_ms, min_bytes) on the partitions' high-watermark watches, and keeps
//! incremental fetch sessions (KIP-227) through `protocol::fetch_session`. A fetch from a
//! follower (a replica id) reads up to the log end instead, answers DivergingEpoch where the
//! follower's log parts from this leader's, and tells replication how far the follower got.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, NodeEndpoint, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ProducerId, TopicName};
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use super::{RequestContext, str_bytes};
use crate::broker::Broker;
use crate::handlers::errors;
use crate::log::Partition;
use crate::protocol::fetch_session::{self, PartitionKey, Plan, SessionError, SessionPartition};

pub const VERSIONS: (i16, i16) = (4, 18);

/// Longest a fetch may wait, whatever the client asks.
const WAIT_MS_MAX: i32 = 60_000;

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: FetchRequest) -> FetchResponse {
    let follower = if ctx.version >= 15 { req.replica_state.replica_id.0 } else { req.replica_id.0 };
    if follower >= 0 {
        return follower_fetch(broker, ctx, &req, follower).await;
    }
    let plan = match plan(broker, ctx, &req) {
        Ok(p) => p,
        Err(e) => {
            let mut r = FetchResponse::default();
            r.error_code = match e {
                SessionError::NotFound => ResponseError::FetchSessionIdNotFound.code(),
                SessionError::InvalidEpoch => ResponseError::InvalidFetchSessionEpoch.code(),
            };
            return r;
        }
    };
    let wait_ms = req.max_wait_ms.clamp(0, WAIT_MS_MAX) as u64;
    let deadline = Instant::now() + Duration::from_millis(wait_ms);
    let response_bytes_max = if req.max_bytes > 0 { req.max_bytes as usize } else { usize::MAX };
    // read_committed stops at the last stable offset and lists the aborted transactions.
    let committed = req.isolation_level == 1;
    loop {
        let mut watches = Vec::new();
        let (results, bytes, errors) = read_all(broker, ctx, &plan, committed, response_bytes_max, &mut watches);
        let satisfied = bytes >= req.min_bytes.max(0) as usize || errors || watches.is_empty();
        let timed_out = Instant::now() >= deadline;
        if satisfied || timed_out {
            return respond(broker, ctx, &plan, results);
        }
        let changed = futures::future::select_all(watches.iter_mut().map(|w| Box::pin(w.changed())));
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            let (results, _, _) = read_all(broker, ctx, &plan, committed, response_bytes_max, &mut Vec::new());
            return respond(broker, ctx, &plan, results);
        }
    }
}

/// A follower's fetch: no session, every requested partition answered, waiting (max_wait_ms,
/// min_bytes) on the partitions' log ends.
async fn follower_fetch(broker: &Broker, ctx: &RequestContext, req: &FetchRequest, follower: i32) -> FetchResponse {
    let wait_ms = req.max_wait_ms.clamp(0, WAIT_MS_MAX) as u64;
    let deadline = Instant::now() + Duration::from_millis(wait_ms);
    let response_bytes_max = if req.max_bytes > 0 { req.max_bytes as usize } else { usize::MAX };
    loop {
        let mut watches = Vec::new();
        let mut total = 0usize;
        let mut errors = false;
        let image = broker.image();
        let mut r = FetchResponse::default();
        for t in &req.topics {
            let topic =
                if ctx.version >= 13 { image.topic_by_id(&t.topic_id) } else { image.topics.get(t.topic.0.as_str()) };
            let mut out = FetchableTopicResponse::default();
            out.topic = t.topic.clone();
            out.topic_id = t.topic_id;
            for p in &t.partitions {
                let meta = topic.zip(topic.and_then(|tp| tp.partition(p.partition)));
                let room = (p.partition_max_bytes.max(1) as usize).min(response_bytes_max.saturating_sub(total).max(1));
                let (pd, watch, refused) = follower_partition(broker, meta, p, follower, room);
                total += pd.records.as_ref().map_or(0, |r| r.len());
                errors |= refused;
                watches.extend(watch);
                out.partitions.push(pd);
            }
            r.responses.push(out);
        }
        let satisfied = total >= req.min_bytes.max(0) as usize || errors || watches.is_empty();
        if satisfied || Instant::now() >= deadline {
            return r;
        }
        let changed = futures::future::select_all(watches.iter_mut().map(|w| Box::pin(w.changed())));
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            return r;
        }
    }
}

/// One partition of a follower's fetch: its answer, the log-end watch to wait on, and whether it
/// was refused or diverged (the fetch answers at once then).
fn follower_partition(
    broker: &Broker,
    meta: Option<(&crate::cluster::Topic, &crate::cluster::PartitionMeta)>,
    p: &kafka_protocol::messages::fetch_request::FetchPartition,
    follower: i32,
    room: usize,
) -> (PartitionData, Option<watch::Receiver<i64>>, bool) {
    let mut pd = PartitionData::default();
    pd.partition_index = p.partition;
    (pd.high_watermark, pd.last_stable_offset, pd.log_start_offset) = (-1, -1, -1);
    pd.aborted_transactions = None;
    let refused = match meta {
        None => Err(ResponseError::UnknownTopicOrPartition),
        Some((_, m)) if !broker.leads(m) || !m.replicas.contains(&follower) => Err(ResponseError::NotLeaderOrFollower),
        Some((_, m)) if p.current_leader_epoch > m.leader_epoch => Err(ResponseError::UnknownLeaderEpoch),
        Some((_, m)) if p.current_leader_epoch >= 0 && p.current_leader_epoch < m.leader_epoch => {
            Err(ResponseError::FencedLeaderEpoch)
        }
        Some(served) => Ok(served),
    };
    let (topic, m) = match refused {
        Ok(served) => served,
        Err(e) => {
            pd.error_code = e.code();
            return (pd, None, true);
        }
    };
    let part = match broker.partition(m.uid) {
        Ok(part) => part,
        Err(e) => {
            pd.error_code = errors::store_error(&e).code();
            return (pd, None, true);
        }
    };
    let served =
        broker.serve_follower(&topic.name, p.partition, m, &part, follower, p.fetch_offset, p.last_fetched_epoch, room);
    let refused = match served {
        Ok(read) => {
            if let Some((epoch, end)) = read.diverging {
                (pd.diverging_epoch.epoch, pd.diverging_epoch.end_offset) = (epoch, end);
            }
            pd.high_watermark = read.high_watermark;
            pd.last_stable_offset = part.last_stable();
            pd.log_start_offset = read.log_start;
            pd.records = Some(read.records);
            read.diverging.is_some()
        }
        Err(e) => {
            pd.error_code = errors::read_error(&e).code();
            pd.high_watermark = part.high_watermark();
            pd.log_start_offset = part.log_start();
            true
        }
    };
    (pd, Some(part.subscribe_end()), refused)
}

fn plan(broker: &Broker, ctx: &RequestContext, req: &FetchRequest) -> Result<Plan, SessionError> {
    let by_id = ctx.version >= 13;
    let key = |name: &TopicName, id: Uuid, partition: i32| PartitionKey {
        topic_id: if by_id { id } else { Uuid::nil() },
        topic: if by_id { String::new() } else { name.0.to_string() },
        partition,
    };
    let requested: Vec<_> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                let sp =
                    SessionPartition { fetch_offset: p.fetch_offset, max_bytes: p.partition_max_bytes, sent: None };
                (key(&t.topic, t.topic_id, p.partition), sp)
            })
        })
        .collect();
    if ctx.version < 7 {
        return Ok(Plan { session_id: 0, incremental: false, partitions: requested });
    }
    let forgotten = req
        .forgotten_topics_data
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| key(&t.topic, t.topic_id, *p)))
        .collect();
    broker.fetch_sessions.begin(req.session_id, req.session_epoch, requested, forgotten)
}

struct PartitionResult {
    key: PartitionKey,
    topic_name: Option<String>,
    data: PartitionData,
    records: usize,
    error: bool,
}

/// One pass over the planned partitions, filling `watches` with their change receivers.
/// Returns the results, the record bytes read and whether any partition had an error.
fn read_all(
    broker: &Broker,
    ctx: &RequestContext,
    plan: &Plan,
    committed: bool,
    response_bytes_max: usize,
    watches: &mut Vec<watch::Receiver<i64>>,
) -> (Vec<PartitionResult>, usize, bool) {
    let image = broker.image();
    let mut total = 0usize;
    let mut any_error = false;
    let mut out = Vec::with_capacity(plan.partitions.len());
    for (key, sp) in &plan.partitions {
        let topic = if ctx.version >= 13 { image.topic_by_id(&key.topic_id) } else { image.topics.get(&key.topic) };
        let mut pd = PartitionData::default();
        // Null unless a read_committed read lists aborted transactions, as Kafka sends it.
        pd.aborted_transactions = None;
        pd.partition_index = key.partition;
        pd.high_watermark = -1;
        pd.last_stable_offset = -1;
        pd.log_start_offset = -1;
        let meta = topic.and_then(|t| t.partition(key.partition));
        let mut records = 0;
        // Another broker's partition is not opened here: it is that broker's to serve.
        match meta.map(|m| if broker.leads(m) { broker.partition(m.uid).map(Some) } else { Ok(None) }) {
            None => {
                let e = if ctx.version >= 13 && topic.is_none() {
                    ResponseError::UnknownTopicId
                } else {
                    ResponseError::UnknownTopicOrPartition
                };
                pd.error_code = e.code();
            }
            Some(Ok(None)) => {
                pd.error_code = ResponseError::NotLeaderOrFollower.code();
                // KIP-951: the current leader, so the consumer moves there at once.
                if let (true, Some(m)) = (ctx.version >= 12, meta) {
                    pd.current_leader.leader_id = BrokerId(m.leader);
                    pd.current_leader.leader_epoch = m.leader_epoch;
                }
            }
            Some(Err(e)) => pd.error_code = errors::store_error(&e).code(),
            Some(Ok(Some(part))) => {
                watches.push(part.subscribe());
                records = read_into(&part, sp, committed, response_bytes_max.saturating_sub(total), total > 0, &mut pd);
                total += records;
            }
        }
        let error = pd.error_code != 0;
        any_error |= error;
        out.push(PartitionResult {
            key: key.clone(),
            topic_name: topic.map(|t| t.name.clone()),
            data: pd,
            records,
            error,
        });
    }
    (out, total, any_error)
}

/// Reads one partition into `pd`, within `room` bytes of the response; `later` when partitions
/// before it returned data. Returns the record bytes read.
fn read_into(
    part: &Partition,
    sp: &SessionPartition,
    committed: bool,
    room: usize,
    later: bool,
    pd: &mut PartitionData,
) -> usize {
    let limit = (sp.max_bytes.max(0) as usize).min(room);
    let read = if limit == 0 && later {
        part.read_isolated(sp.fetch_offset, 0, committed).map(|mut r| {
            r.records = Bytes::new();
            r.aborted.clear();
            r
        })
    } else {
        part.read_isolated(sp.fetch_offset, limit.max(1), committed).map(|mut r| {
            // KIP-74: only the first partition with data may go past the response's max_bytes
            // (so a consumer always progresses); later ones wait for room.
            if later && r.records.len() > room {
                r.records = Bytes::new();
                r.aborted.clear();
            }
            r
        })
    };
    match read {
        Ok(res) => {
            pd.high_watermark = res.high_watermark;
            pd.last_stable_offset = res.last_stable;
            pd.log_start_offset = res.log_start;
            let records = res.records.len();
            pd.records = Some(res.records);
            if committed {
                let aborted = res.aborted.into_iter().map(|(pid, first)| {
                    let mut a = AbortedTransaction::default();
                    a.producer_id = ProducerId(pid);
                    a.first_offset = first;
                    a
                });
                pd.aborted_transactions = Some(aborted.collect());
            }
            records
        }
        Err(e) => {
            pd.error_code = errors::read_error(&e).code();
            pd.high_watermark = part.high_watermark();
            pd.last_stable_offset = part.last_stable();
            pd.log_start_offset = part.log_start();
            0
        }
    }
}

/// Builds the response; an incremental session answers only partitions with news.
fn respond(broker: &Broker, ctx: &RequestContext, plan: &Plan, results: Vec<PartitionResult>) -> FetchResponse {
    let mut r = FetchResponse::default();
    r.session_id = plan.session_id;
    if ctx.version >= 16 {
        let not_leader = ResponseError::NotLeaderOrFollower.code();
        let hinted: std::collections::BTreeSet<i32> = results
            .iter()
            .filter(|res| res.data.error_code == not_leader && res.data.current_leader.leader_id.0 >= 0)
            .map(|res| res.data.current_leader.leader_id.0)
            .collect();
        let endpoint = |(id, host, port, rack)| {
            let mut n = NodeEndpoint::default();
            (n.node_id, n.host, n.port, n.rack) = (BrokerId(id), host, port, rack);
            n
        };
        r.node_endpoints = super::endpoints(broker, hinted).into_iter().map(endpoint).collect();
    }
    let mut sent = Vec::new();
    for (res, (_, sp)) in results.into_iter().zip(&plan.partitions) {
        let hw = res.data.high_watermark;
        let log_start = res.data.log_start_offset;
        if plan.incremental && !fetch_session::has_news(sp, hw, log_start, res.records, res.error) {
            continue;
        }
        if plan.session_id != 0 {
            sent.push((res.key.clone(), hw, log_start, res.records > 0));
        }
        let same_topic = r.responses.last().is_some_and(|t: &FetchableTopicResponse| {
            if ctx.version >= 13 { t.topic_id == res.key.topic_id } else { t.topic.0.as_str() == res.key.topic }
        });
        if !same_topic {
            let mut t = FetchableTopicResponse::default();
            t.topic_id = res.key.topic_id;
            t.topic = TopicName(str_bytes(res.topic_name.clone().unwrap_or_else(|| res.key.topic.clone())));
            r.responses.push(t);
        }
        r.responses.last_mut().expect("pushed above").partitions.push(res.data);
    }
    broker.fetch_sessions.sent(plan.session_id, &sent);
    r
}
