//! The coordinators' internal topics (`__consumer_offsets`, `__transaction_state`) as the
//! `InternalLog` they write and replay.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::{Bytes, BytesMut};

use super::{Broker, Logs};
use crate::cluster::{Image, PartitionMeta};
use crate::log::internal::{InternalLog, InternalLogError, LoggedRecord, Replicated};
use crate::log::partition::AppendOptions;
use crate::log::{Partition, batch};

/// `InternalLog` on the partitions of one internal topic. In a cluster the topic is replicated
/// like any other: the coordinator writes only to partitions led here, stamped with the leader
/// epoch, and a write counts once the in-sync replicas have it.
pub(super) struct InternalTopicLog {
    pub(super) topic: &'static str,
    pub(super) logs: Arc<Logs>,
    pub(super) image: Arc<ArcSwap<Image>>,
    /// The broker, once it exists (it owns the coordinators that own this log): the high
    /// watermark of a replicated partition moves through its replication state.
    pub(super) broker: OnceLock<Weak<Broker>>,
    /// This node, and whether it is one of a cluster (a lone node leads every partition).
    pub(super) node_id: i32,
    pub(super) cluster: bool,
    /// offsets.commit.timeout.ms.
    pub(super) timeout: Duration,
}

impl InternalTopicLog {
    pub(super) fn new(
        topic: &'static str,
        logs: &Arc<Logs>,
        image: Arc<ArcSwap<Image>>,
        config: &crate::config::Config,
    ) -> Self {
        InternalTopicLog {
            topic,
            logs: logs.clone(),
            image,
            broker: OnceLock::new(),
            node_id: config.node_id,
            cluster: config.quorum.is_cluster(),
            timeout: Duration::from_millis(config.replication.offsets_commit_timeout_ms),
        }
    }

    fn meta(&self, index: i32) -> Result<PartitionMeta, InternalLogError> {
        let image = self.image.load();
        image
            .topics
            .get(self.topic)
            .and_then(|t| t.partition(index))
            .cloned()
            .ok_or(InternalLogError::NoPartition { topic: self.topic, index })
    }

    fn partition(&self, index: i32) -> Result<Arc<Partition>, InternalLogError> {
        Ok(self.logs.partition(self.meta(index)?.uid)?)
    }

    /// A partition this node may write: its leader's, with the leader epoch set.
    fn led(&self, index: i32) -> Result<(PartitionMeta, Arc<Partition>), InternalLogError> {
        let meta = self.meta(index)?;
        if self.cluster && meta.leader != self.node_id {
            return Err(InternalLogError::NotLeader { topic: self.topic, index });
        }
        let p = self.logs.partition(meta.uid)?;
        p.set_replicated(meta.replicas.len() > 1);
        p.set_leader_epoch(meta.leader_epoch);
        Ok((meta, p))
    }

    /// After a write: the high watermark moves as far as the in-sync replicas allow (at once
    /// when this node is the only one).
    fn advance(&self, meta: &PartitionMeta, p: &Partition) {
        if let Some(b) = self.broker.get().and_then(Weak::upgrade) {
            let min_isr = b.min_isr(self.topic);
            b.advance_high_watermark(meta, p, min_isr);
        }
    }
}

/// How often a write waiting for its replicas looks whether the leadership moved.
const LEADERSHIP_LOOK: Duration = Duration::from_millis(100);

impl InternalLog for InternalTopicLog {
    fn append(
        &self,
        index: i32,
        records: Vec<(Bytes, Option<Bytes>)>,
        txn: Option<(i64, i16)>,
    ) -> Result<i64, InternalLogError> {
        use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
        let now = crate::now_ms();
        let (producer_id, producer_epoch) = txn.unwrap_or((-1, -1));
        let recs: Vec<Record> = records
            .into_iter()
            .enumerate()
            .map(|(i, (key, value))| Record {
                transactional: txn.is_some(),
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id,
                producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // No sequence checks for the coordinators' own writes: base sequence -1.
                sequence: i as i32 - 1,
                timestamp: now,
                key: Some(key),
                value,
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            recs.iter(),
            &RecordEncodeOptions { version: 2, compression: Compression::None },
        )
        .map_err(|e| InternalLogError::Records(format!("{e:#}")))?;
        let batches = batch::split_and_validate(&buf.freeze(), usize::MAX)?;
        let (meta, p) = self.led(index)?;
        let outcome =
            p.append(&batches, AppendOptions { leader_epoch: meta.leader_epoch, log_append_time_ms: None })?;
        if let Some((pid, _)) = txn {
            // The coordinators' records carry no sequence, so the partition does not track
            // their transaction; register it so the marker closes it.
            p.begin_transaction(pid, outcome.base_offset);
        }
        self.advance(&meta, &p);
        Ok(outcome.log_end)
    }

    fn write_marker(&self, index: i32, producer_id: i64, epoch: i16, commit: bool) -> Result<i64, InternalLogError> {
        let (meta, p) = self.led(index)?;
        p.write_marker(producer_id, epoch, commit, 0)?;
        self.advance(&meta, &p);
        Ok(p.log_end())
    }

    fn replicated(&self, index: i32, end: i64) -> Replicated {
        let (topic, timeout) = (self.topic, self.timeout);
        let (meta, p) = match self.led(index) {
            Ok(led) => led,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        if meta.replicas.len() <= 1 {
            return Box::pin(async { Ok(()) });
        }
        let image = self.image.clone();
        let node_id = self.node_id;
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            let mut hw = p.subscribe();
            loop {
                let now = image.load();
                let current = now.topics.get(topic).and_then(|t| t.partition(index));
                if current.is_none_or(|m| m.leader != node_id || m.leader_epoch != meta.leader_epoch) {
                    return Err(InternalLogError::NotLeader { topic, index });
                }
                if *hw.borrow_and_update() >= end {
                    return Ok(());
                }
                let look = tokio::time::Instant::now() + LEADERSHIP_LOOK;
                if tokio::time::Instant::now() >= deadline {
                    return Err(InternalLogError::NotReplicated {
                        topic,
                        index,
                        timeout_ms: timeout.as_millis() as u64,
                    });
                }
                let _ = tokio::time::timeout_at(deadline.min(look), hw.changed()).await;
            }
        })
    }

    fn replay(&self, index: i32, visit: &mut dyn FnMut(LoggedRecord)) -> Result<(), InternalLogError> {
        let p = self.partition(index)?;
        let mut offset = p.log_start();
        while offset < p.high_watermark() {
            let read = p.read(offset, 1 << 20)?;
            let mut buf = read.records;
            if buf.is_empty() {
                break;
            }
            let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buf)
                .map_err(|e| InternalLogError::Records(format!("{e:#}")))?;
            for r in sets.into_iter().flat_map(|s| s.records) {
                offset = offset.max(r.offset + 1);
                if r.offset < p.log_start() {
                    continue;
                }
                let Some(key) = r.key else { continue };
                let marker = if r.control { Some(key.len() >= 4 && key[2..4] == [0, 1]) } else { None };
                visit(LoggedRecord {
                    key,
                    value: r.value,
                    producer_id: r.producer_id,
                    transactional: r.transactional,
                    marker,
                });
            }
        }
        Ok(())
    }
}

/// How often a new coordinator looks whether its partition's high watermark caught up.
const CATCH_UP_LOOK: Duration = Duration::from_millis(50);

impl Broker {
    /// In a cluster the group and transaction coordinators follow the leadership of their
    /// internal topics' partitions: a partition led here is taken and loaded (clients are told
    /// COORDINATOR_LOAD_IN_PROGRESS meanwhile), one led elsewhere is given up (NOT_COORDINATOR).
    pub(super) fn spawn_coordination(self: &Arc<Self>) {
        self.every(super::IMAGE_POLL, |b, weak| b.follow_coordination(weak));
    }

    fn follow_coordination(&self, weak: &Weak<Broker>) {
        let image = self.image();
        let me = self.config.node_id;
        for topic in [super::OFFSETS_TOPIC, super::TXN_TOPIC] {
            let ownership = self.ownership(topic);
            let led: std::collections::HashMap<i32, i32> = image
                .topics
                .get(topic)
                .map(|t| {
                    t.partitions
                        .iter()
                        .enumerate()
                        .filter(|(_, m)| m.leader == me && image.is_live(me))
                        .map(|(i, m)| (i as i32, m.leader_epoch))
                        .collect()
                })
                .unwrap_or_default();
            for (p, _) in ownership.held() {
                if !led.contains_key(&p) && ownership.give_up(p) {
                    self.unload(topic, p);
                    tracing::info!(partition = p, "{topic}: led elsewhere now, its coordinator state is given up");
                }
            }
            for (p, epoch) in led {
                if ownership.take(p, epoch) {
                    tokio::spawn(load_coordinator(weak.clone(), topic, p, epoch));
                }
            }
        }
    }

    fn ownership(&self, topic: &str) -> &crate::log::internal::Ownership {
        if topic == super::OFFSETS_TOPIC { &self.groups.ownership } else { &self.txns.ownership }
    }

    fn unload(&self, topic: &str, p: i32) {
        if topic == super::OFFSETS_TOPIC {
            self.groups.unload_partition(p);
        } else {
            self.txns.unload_partition(p);
        }
    }

    /// Whether the coordinator state of a group (`txn` false) or transactional id is loaded
    /// here (always on a lone node).
    pub fn coordinator_loaded(&self, key: &str, txn: bool) -> bool {
        if !self.metadata.is_cluster() {
            return true;
        }
        let (topic, index) = self.internal_partition_of(key, txn);
        self.ownership(topic).loaded(index) == Some(true)
    }
}

/// Loads the coordinator state of partition `p` of an internal topic taken in leader `epoch`:
/// first the high watermark must reach the log end this node had when it took the leadership
/// (every record the previous leader acknowledged is below it), then the records are replayed.
/// Gives up when the leadership moves on meanwhile.
async fn load_coordinator(weak: Weak<Broker>, topic: &'static str, p: i32, epoch: i32) {
    let started = std::time::Instant::now();
    let mut target = None;
    loop {
        let Some(b) = weak.upgrade() else { return };
        if b.is_stopping() {
            return;
        }
        let image = b.image();
        let Some(meta) = image.topics.get(topic).and_then(|t| t.partition(p)) else { return };
        if meta.leader != b.config.node_id || meta.leader_epoch != epoch {
            return;
        }
        let part = match b.partition(meta.uid) {
            Ok(part) => part,
            Err(e) => {
                tracing::warn!(partition = p, error = %e, "{topic}: cannot open the partition to load it");
                b.ownership(topic).give_up(p);
                return;
            }
        };
        part.set_replicated(meta.replicas.len() > 1);
        part.set_leader_epoch(epoch);
        let end = *target.get_or_insert(part.log_end());
        b.advance_high_watermark(meta, &part, b.min_isr(topic));
        if part.high_watermark() >= end {
            break;
        }
        let mut hw = part.subscribe();
        drop((b, image));
        let _ = tokio::time::timeout(CATCH_UP_LOOK, hw.changed()).await;
    }
    let Some(b) = weak.upgrade() else { return };
    let loader = b.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        if topic == super::OFFSETS_TOPIC { loader.groups.load_partition(p) } else { loader.txns.load_partition(p) }
    })
    .await;
    let ownership = b.ownership(topic);
    match loaded {
        Ok(Ok(())) if ownership.set_loaded(p, epoch) => {
            tracing::info!(
                partition = p,
                leader_epoch = epoch,
                ms = started.elapsed().as_millis() as u64,
                "{topic}: coordinator state loaded"
            );
        }
        Ok(Ok(())) => {
            // Given up while loading: what was loaded is not ours to keep.
            if ownership.loaded(p).is_none() {
                b.unload(topic, p);
            }
        }
        Ok(Err(e)) => {
            tracing::warn!(partition = p, error = %e, "{topic}: cannot load the coordinator state; will retry");
            ownership.give_up(p);
        }
        Err(e) => {
            tracing::warn!(partition = p, error = %e, "{topic}: loading the coordinator state failed; will retry");
            ownership.give_up(p);
        }
    }
}
