//! Kafka's partition replication on this broker. As a leader: what each follower fetched, the
//! high watermark that follows from it, and ISR changes (a follower that caught up joins, one
//! that fell behind for replica.lag.time.max.ms leaves) submitted to the metadata log. As a
//! follower: one fetcher per leader that copies its batches with Fetch (replica id = this node),
//! truncating first where the leader's DivergingEpoch says the logs part.
//!
//! The rules themselves are pure functions in `cluster::replication`; this file applies them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::Broker;
use crate::cluster::replication::{self, Follower};
use crate::cluster::{Command, CommandResult, PartitionMeta};
use crate::log::{AppendError, Partition, ReadError};
use crate::protocol::client::Connection;

/// What a leader knows of the followers of one partition, in one leader epoch.
struct Led {
    epoch: i32,
    followers: HashMap<i32, Follower>,
}

/// Replication state shared by the fetch path, the produce path and the background tasks.
#[derive(Default)]
pub struct Replicas {
    led: DashMap<u64, Led>,
    /// Partitions (by uid) with an ISR change submitted and not yet answered: one at a time.
    altering: DashMap<u64, ()>,
    /// The running fetcher of each leader this node follows.
    fetchers: Mutex<HashMap<i32, tokio::task::JoinHandle<()>>>,
    /// When the leader's replication throttle lets the next throttled fetch through (ms).
    throttled_until_ms: Mutex<i64>,
}

impl Replicas {
    /// Stops every fetcher and waits until each has let go of its partitions.
    pub async fn stop_fetchers(&self) {
        let fetchers: Vec<_> = self.fetchers.lock().expect("fetchers").drain().map(|(_, f)| f).collect();
        for f in fetchers {
            f.abort();
            let _ = f.await;
        }
    }
}

/// A follower's fetch of one partition, as its leader answers it.
pub struct FollowerRead {
    /// Where the follower's log parts from the leader's (Fetch v12's DivergingEpoch).
    pub diverging: Option<(i32, i64)>,
    pub records: Bytes,
    pub high_watermark: i64,
    pub log_start: i64,
}

/// How often the supervisor looks for leaders to follow, and a fetcher backs off after an error.
const FOLLOW_CHECK: Duration = Duration::from_millis(200);
const FETCH_BACKOFF: Duration = Duration::from_millis(300);
/// How often a node looks for partition copies it no longer hosts.
const UNHOSTED_CHECK: Duration = Duration::from_secs(2);

impl Broker {
    /// The followers of `meta`'s partition as its leader knows them, after `fetched` (follower,
    /// fetch offset, leader's log end) if given. State starts afresh with each leader epoch, as
    /// Kafka's does: an ISR member not heard from yet has an unknown log end (the high watermark
    /// waits for its first fetch) and a full lag time to make it; another replica counts as
    /// caught up only once it fetched up to the leader's log end, and never while fenced.
    fn followers_of(&self, meta: &PartitionMeta, fetched: Option<(i32, i64, i64)>) -> Vec<Follower> {
        let now = crate::now_ms();
        let me = self.config.node_id;
        let image = self.image();
        let mut led = self
            .replicas
            .led
            .entry(meta.uid)
            .or_insert_with(|| Led { epoch: meta.leader_epoch, followers: HashMap::new() });
        if led.epoch != meta.leader_epoch {
            *led = Led { epoch: meta.leader_epoch, followers: HashMap::new() };
        }
        led.followers.retain(|id, _| meta.replicas.contains(id));
        for r in meta.replicas.iter().filter(|r| **r != me) {
            let in_isr = meta.isr.contains(r);
            let f = led.followers.entry(*r).or_insert(Follower {
                id: *r,
                log_end: -1,
                caught_up_ms: if in_isr { now } else { 0 },
                in_isr,
            });
            f.in_isr = in_isr;
            if !image.is_live(*r) {
                f.caught_up_ms = 0;
            }
        }
        if let Some((id, offset, leader_end)) = fetched
            && let Some(f) = led.followers.get_mut(&id)
        {
            f.log_end = offset;
            if offset >= leader_end {
                f.caught_up_ms = now;
            }
        }
        led.followers.values().copied().collect()
    }

    /// The min.insync.replicas of `topic` (1 if it is gone).
    pub(super) fn min_isr(&self, topic: &str) -> usize {
        let image = self.image();
        self.topic_settings(&image).of(topic).map_or(1, |s| s.min_insync_replicas)
    }

    /// Moves the high watermark of a replicated partition led here as far as its in-sync
    /// followers allow (after an append, or a follower's fetch).
    /// `min_isr` is the topic's min.insync.replicas.
    pub fn advance_high_watermark(&self, meta: &PartitionMeta, part: &Partition, min_isr: usize) {
        if meta.replicas.len() <= 1 {
            return;
        }
        part.set_replicated(true);
        let followers = self.followers_of(meta, None);
        self.set_high_watermark(part, &followers, min_isr);
    }

    fn set_high_watermark(&self, part: &Partition, followers: &[Follower], min_isr: usize) {
        let lag = self.config.replication.lag_time_max_ms;
        let hw = replication::high_watermark(
            part.high_watermark(),
            part.log_end(),
            followers,
            min_isr,
            crate::now_ms(),
            lag,
        );
        part.set_high_watermark(hw);
    }

    /// A follower's fetch at `fetch_offset`, whose last batch was of `last_fetched_epoch`, of a
    /// partition led here: where the logs part, or the batches from there to the log end. The
    /// fetch also tells the leader how far the follower got: the high watermark may move, and a
    /// follower that caught up joins the ISR.
    #[allow(clippy::too_many_arguments)]
    pub fn serve_follower(
        &self,
        topic: &str,
        index: i32,
        meta: &PartitionMeta,
        part: &Partition,
        follower: i32,
        fetch_offset: i64,
        last_fetched_epoch: i32,
        max_bytes: usize,
    ) -> Result<FollowerRead, ReadError> {
        part.set_replicated(true);
        part.set_leader_epoch(meta.leader_epoch);
        let (epochs, leader_end) = part.epochs();
        if let Some(d) = replication::diverging_epoch(&epochs, leader_end, last_fetched_epoch, fetch_offset) {
            return Ok(FollowerRead {
                diverging: Some(d),
                records: Bytes::new(),
                high_watermark: part.high_watermark(),
                log_start: part.log_start(),
            });
        }
        if fetch_offset > leader_end {
            // A tail this leader never had (the divergence check could not place it): the
            // follower repairs its log before it counts for the ISR or the high watermark.
            return Err(ReadError::OutOfRange {
                offset: fetch_offset,
                log_start: part.log_start(),
                log_end: leader_end,
            });
        }
        let followers = self.followers_of(meta, Some((follower, fetch_offset, leader_end)));
        self.set_high_watermark(part, &followers, self.min_isr(topic));
        // A replica out of the ISR of a throttled partition (kafka-reassign-partitions
        // --throttle) gets nothing while the throttle's rate is used up.
        let rate = (!meta.isr.contains(&follower)).then(|| self.leader_throttle(topic, index)).flatten();
        if rate.is_some() && *self.replicas.throttled_until_ms.lock().expect("throttle") > crate::now_ms() {
            return Ok(FollowerRead {
                diverging: None,
                records: Bytes::new(),
                high_watermark: part.high_watermark(),
                log_start: part.log_start(),
            });
        }
        if !meta.isr.contains(&follower) && self.image().is_live(follower) {
            let epoch_start = part.epoch_start(meta.leader_epoch);
            if replication::may_join_isr(fetch_offset, part.high_watermark(), epoch_start) {
                let mut isr = meta.isr.clone();
                isr.push(follower);
                self.alter_isr(topic, index, meta, isr);
            }
        }
        let read = part.read_replica(fetch_offset, max_bytes)?;
        if let Some(rate) = rate {
            let mut until = self.replicas.throttled_until_ms.lock().expect("throttle");
            let spent = (read.records.len() as i64).saturating_mul(1000) / rate.max(1);
            *until = (*until).max(crate::now_ms()).saturating_add(spent);
        }
        Ok(FollowerRead {
            diverging: None,
            records: read.records,
            high_watermark: read.high_watermark,
            log_start: read.log_start,
        })
    }

    /// The leader's replication throttle of partition `index` of `topic`, in bytes a second: the
    /// broker's leader.replication.throttled.rate (its own dynamic config, else the cluster's)
    /// when the topic's leader.replication.throttled.replicas names this partition on this
    /// broker (or is `*`); None when not throttled.
    fn leader_throttle(&self, topic: &str, index: i32) -> Option<i64> {
        let image = self.image();
        let me = self.config.node_id;
        let listed = image.topics.get(topic)?.configs.get("leader.replication.throttled.replicas")?;
        if !replication::throttled_replica(listed, index, me) {
            return None;
        }
        let rate_of = |scope: &str| {
            image.broker_configs.get(scope)?.get("leader.replication.throttled.rate")?.trim().parse::<i64>().ok()
        };
        rate_of(&me.to_string()).or_else(|| rate_of(""))
    }

    /// Submits a new ISR for a partition led here, one change per partition at a time.
    fn alter_isr(&self, topic: &str, index: i32, meta: &PartitionMeta, isr: Vec<i32>) {
        if self.replicas.altering.insert(meta.uid, ()).is_some() {
            return;
        }
        let cmd = Command::AlterIsr {
            topic: topic.to_string(),
            partition: index,
            leader: self.config.node_id,
            leader_epoch: meta.leader_epoch,
            isr: isr.clone(),
        };
        let (metadata, replicas, uid, from) =
            (self.metadata.clone(), self.replicas.clone(), meta.uid, meta.isr.clone());
        let topic = topic.to_string();
        tokio::spawn(async move {
            match metadata.submit(cmd).await {
                Ok(CommandResult::Done) => tracing::info!(%topic, partition = index, ?from, to = ?isr, "ISR changed"),
                Ok(other) => tracing::debug!(%topic, partition = index, ?other, "ISR change not taken"),
                Err(e) => tracing::warn!(%topic, partition = index, error = %e, "ISR change failed"),
            }
            replicas.altering.remove(&uid);
        });
    }

    /// In a cluster: every half replica.lag.time.max.ms, followers that fell behind leave the
    /// ISR of the partitions led here (and the high watermark of a partition whose followers
    /// are all gone moves with the leader alone, as far as min.insync.replicas allows); every
    /// FOLLOW_CHECK, a fetcher runs for each leader this node follows.
    pub(super) fn spawn_replication(self: &Arc<Self>) {
        let every = Duration::from_millis((self.config.replication.lag_time_max_ms as u64 / 2).clamp(100, 5_000));
        self.every(every, |b, _| b.shrink_isrs());
        self.every(FOLLOW_CHECK, |b, weak| b.start_fetchers(weak));
        self.every(UNHOSTED_CHECK, |b, _| b.drop_unhosted_partitions());
    }

    /// Deletes the local copy of every partition this node is no longer a replica of: moved
    /// away by a reassignment, or of a topic deleted through another node. Checked again against
    /// the latest image right before each delete, so that a replica assigned back here meanwhile
    /// keeps its log; a late append of a fetch that was in flight is swept on the next round.
    fn drop_unhosted_partitions(&self) {
        let me = self.config.node_id;
        let hosted = |image: &crate::cluster::Image| -> std::collections::HashSet<u64> {
            let all = image.topics.values().flat_map(|t| &t.partitions);
            all.filter(|p| p.replicas.contains(&me)).map(|p| p.uid).collect()
        };
        let stored = match self.logs.store.partition_uids() {
            Ok(uids) => uids,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the stored partitions");
                return;
            }
        };
        let open = self.logs.partitions.iter().map(|e| *e.key()).collect::<Vec<_>>();
        let here = hosted(&self.image());
        let mut gone: Vec<u64> = stored.into_iter().chain(open).filter(|uid| !here.contains(uid)).collect();
        if gone.is_empty() {
            return;
        }
        gone.sort_unstable();
        gone.dedup();
        let here = hosted(&self.image());
        for uid in gone.into_iter().filter(|uid| !here.contains(uid)) {
            match self.logs.delete(uid) {
                Ok(()) => tracing::info!(uid, "removed the data of a partition no longer hosted here"),
                Err(e) => {
                    tracing::warn!(uid, error = %e, "cannot remove the data of a partition no longer hosted here")
                }
            }
        }
    }

    /// Runs `tick` every `period` until the broker stops or is gone.
    pub(super) fn every(self: &Arc<Self>, period: Duration, tick: impl Fn(&Broker, &Weak<Broker>) + Send + 'static) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let Some(b) = weak.upgrade() else { return };
                if b.is_stopping() {
                    return;
                }
                tick(&b, &weak);
            }
        });
    }

    fn shrink_isrs(&self) {
        let image = self.image();
        let me = self.config.node_id;
        let (now, lag) = (crate::now_ms(), self.config.replication.lag_time_max_ms);
        for t in image.topics.values() {
            for (index, meta) in t.partitions.iter().enumerate() {
                if meta.leader != me || meta.replicas.len() <= 1 {
                    continue;
                }
                let followers = self.followers_of(meta, None);
                let behind = replication::out_of_sync(&followers, now, lag);
                if !behind.is_empty() {
                    let isr: Vec<i32> = meta.isr.iter().copied().filter(|r| !behind.contains(r)).collect();
                    tracing::warn!(topic = %t.name, partition = index, ?behind, "followers fell behind: leaving the ISR");
                    self.alter_isr(&t.name, index as i32, meta, isr);
                }
                if let Ok(part) = self.partition(meta.uid) {
                    part.set_replicated(true);
                    self.set_high_watermark(&part, &followers, self.min_isr(&t.name));
                }
            }
        }
    }

    fn start_fetchers(&self, weak: &Weak<Broker>) {
        let image = self.image();
        let me = self.config.node_id;
        let leaders: std::collections::BTreeSet<i32> = image
            .topics
            .values()
            .flat_map(|t| t.partitions.iter())
            .filter(|p| p.leader >= 0 && p.leader != me && p.replicas.contains(&me))
            .map(|p| p.leader)
            .collect();
        let mut fetchers = self.replicas.fetchers.lock().expect("fetchers");
        fetchers.retain(|_, h| !h.is_finished());
        for leader in leaders {
            fetchers.entry(leader).or_insert_with(|| tokio::spawn(follow(weak.clone(), leader)));
        }
    }
}

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
async fn follow(weak: Weak<Broker>, leader: i32) {
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
