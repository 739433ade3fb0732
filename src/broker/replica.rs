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

use super::Broker;
use crate::cluster::replication::{self, Follower};
use crate::cluster::{Command, CommandResult, PartitionMeta};
use crate::log::{Partition, ReadError};

mod follower;

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
    /// The high watermark last checkpointed for each replicated partition (by uid).
    checkpointed: Mutex<HashMap<u64, i64>>,
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
/// How often the high watermarks of replicated partitions are checkpointed.
const HIGH_WATERMARK_CHECKPOINT: Duration = Duration::from_secs(5);

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
        self.every(HIGH_WATERMARK_CHECKPOINT, |b, _| b.checkpoint_high_watermarks());
    }

    /// Stores the high watermark of each open replicated partition that moved since the last
    /// round, so that after a restart it starts from there and not from its log end: a replica
    /// that leads again must not expose records its ISR may not have had (Kafka's
    /// replica.high.watermark.checkpoint.interval.ms, 5 s).
    pub(super) fn checkpoint_high_watermarks(&self) {
        let marks: Vec<(u64, i64)> = self
            .logs
            .partitions
            .iter()
            .filter_map(|e| e.value().replicated_high_watermark().map(|hw| (*e.key(), hw)))
            .collect();
        let mut done = self.replicas.checkpointed.lock().expect("checkpoints");
        let moved: Vec<(u64, i64)> = marks.iter().filter(|(uid, hw)| done.get(uid) != Some(hw)).copied().collect();
        if moved.is_empty() {
            return;
        }
        match self.logs.store.checkpoint_high_watermarks(&moved) {
            // What is stored now, for the partitions still open (closed ones drop out).
            Ok(()) => *done = marks.into_iter().collect(),
            Err(e) => tracing::warn!(error = %e, "cannot checkpoint high watermarks"),
        }
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
            fetchers.entry(leader).or_insert_with(|| tokio::spawn(follower::follow(weak.clone(), leader)));
        }
    }
}
