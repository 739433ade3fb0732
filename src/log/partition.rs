//! One partition's log: offset assignment (serialized per partition), idempotent-producer
//! checks, reads up to the high watermark, and a watch that wakes long-polling fetches. A
//! replicated partition also keeps its leader epochs, takes a follower's copies of its leader's
//! batches as they are (`append_replica`), truncates where it diverged (`truncate_to`), and has
//! its high watermark set by replication rather than follow its log end.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::{Bytes, BytesMut};
use thiserror::Error;
use tokio::sync::watch;

use super::batch::{self, BatchHeader};
use super::epochs::LeaderEpochs;
use super::producer::{self, BatchMeta, ProducerEntry, SequenceCheck, SequenceError};
use super::rules::{self, Refusal};
use super::settings::LogSettings;
use super::store::{AbortedTxn, AppendBatch, Store, StoreError};

#[derive(Debug, Error)]
pub enum AppendError {
    #[error(transparent)]
    Sequence(#[from] SequenceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A follower was handed batches that do not continue its log.
    #[error("replicated batch at offset {got} does not continue the log ending at {log_end}")]
    Gap { got: i64, log_end: i64 },
    /// A transaction marker from a coordinator older than one that already wrote here.
    #[error("marker of coordinator epoch {got}, older than {current} for producer {producer_id}")]
    CoordinatorFenced { producer_id: i64, got: i32, current: i32 },
}

#[derive(Debug, Error)]
pub enum ReadError {
    #[error("offset {offset} is outside the log range [{log_start}, {log_end}]")]
    OutOfRange { offset: i64, log_start: i64, log_end: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Options a topic's configs give an append.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppendOptions {
    pub leader_epoch: i32,
    /// `message.timestamp.type=LogAppendTime`: the broker stamps the batch with this time.
    pub log_append_time_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    pub base_offset: i64,
    /// The log end after the append: acks=all waits for the high watermark to reach it.
    pub log_end: i64,
    pub log_append_time_ms: i64,
    pub log_start: i64,
}

/// What a fetch gets back.
#[derive(Debug, Clone)]
pub struct ReadResult {
    pub records: Bytes,
    pub high_watermark: i64,
    pub last_stable: i64,
    pub log_start: i64,
    /// For read_committed: aborted transactions overlapping the returned range (pid, first offset).
    pub aborted: Vec<(i64, i64)>,
}

struct State {
    log_end: i64,
    producers: HashMap<i64, ProducerEntry>,
    aborted: Vec<AbortedTxn>,
    /// For DescribeProducers, since this process started: each producer's last batch
    /// timestamp and the coordinator epoch of its last marker.
    producer_seen: HashMap<i64, (i64, i32)>,
    /// The broker's clock when each producer last wrote here (for restored producers: when the
    /// partition was opened). producer.id.expiration.ms counts from it.
    producer_used_ms: HashMap<i64, i64>,
    /// Where each leader epoch's first batch starts.
    epochs: LeaderEpochs,
}

impl State {
    /// The last stable offset: the first offset of the oldest open transaction, else `hw`.
    fn last_stable(&self, hw: i64) -> i64 {
        self.producers.values().filter_map(|e| e.txn_first_offset).min().map_or(hw, |f| f.min(hw))
    }
}

pub struct Partition {
    pub uid: u64,
    store: Arc<dyn Store>,
    sync_writes: bool,
    state: Mutex<State>,
    log_start: AtomicI64,
    last_stable: AtomicI64,
    high_watermark: watch::Sender<i64>,
    /// The log end, for followers' fetches waiting at the leader.
    log_end_watch: watch::Sender<i64>,
    /// Whether the high watermark follows the log end (a partition with no other replica in
    /// sync) or is set by replication (`set_high_watermark`).
    follows_end: std::sync::atomic::AtomicBool,
    /// The leader epoch markers are written in: the latest one an append or the broker gave.
    leader_epoch: std::sync::atomic::AtomicI32,
    /// Compaction: where the last pass stopped (0 until a pass runs in this process), and when
    /// the first tombstone it kept may go (i64::MAX: none).
    cleaned_to: AtomicI64,
    tombstones_expire_at: AtomicI64,
}

impl Partition {
    /// Opens a partition, recovering its offsets and producer state from the store.
    pub fn open(uid: u64, store: Arc<dyn Store>, sync_writes: bool) -> Result<Partition, StoreError> {
        let last_end = store
            .last_batch(uid)?
            .map(|(base, b)| batch::read_back(&b, base, true))
            .transpose()?
            .map(|h| h.last_offset() + 1);
        // A log with no batch left (all deleted, or a follower that starts at its leader's log
        // start) ends where it starts.
        let stored_start = store.log_start(uid)?;
        let log_end = last_end.unwrap_or(stored_start.unwrap_or(0));
        let log_start = match stored_start {
            Some(s) => s,
            None => {
                let mut first = None;
                store.visit(uid, 0, &mut |base, _| {
                    first = Some(base);
                    false
                })?;
                first.unwrap_or(log_end)
            }
        };
        let mut producers = HashMap::new();
        for (pid, raw) in store.producers(uid)? {
            let entry = ProducerEntry::decode(&raw)
                .ok_or_else(|| StoreError::Corrupt(format!("producer state of {pid} in partition {uid}")))?;
            producers.insert(pid, entry);
        }
        if log_start > log_end {
            return Err(StoreError::Corrupt(format!(
                "log start {log_start} beyond log end {log_end} in partition {uid}"
            )));
        }
        let aborted = store.aborted(uid)?;
        let opened = crate::now_ms();
        let producer_used_ms = producers.keys().map(|pid| (*pid, opened)).collect();
        let epochs = match store.leader_epochs(uid)? {
            Some(raw) => LeaderEpochs::decode(&raw)
                .ok_or_else(|| StoreError::Corrupt(format!("leader epochs of partition {uid}")))?,
            // Written before the cache was kept: the batches say which epoch each was written in
            // (read once; the cache is stored for the next start).
            None => {
                let mut pairs = Vec::new();
                store.visit(uid, log_start, &mut |base, b| {
                    pairs.push((batch::stored_header(b).leader_epoch, base));
                    true
                })?;
                let epochs: LeaderEpochs = pairs.into_iter().collect();
                if log_end > log_start {
                    let write = AppendBatch {
                        uid,
                        batches: &[],
                        producers: Vec::new(),
                        aborted: Vec::new(),
                        epochs: Some(epochs.encode()),
                    };
                    store.append(write, false)?;
                }
                epochs
            }
        };
        let leader_epoch = epochs.latest().map_or(0, |(e, _)| e);
        // A replicated partition starts from its checkpointed high watermark (replication moves
        // it on from there); one never replicated, from its log end.
        let checkpoint = store.high_watermark(uid)?;
        let high_watermark = checkpoint.map_or(log_end, |hw| hw.clamp(log_start, log_end));
        let state = State { log_end, producers, aborted, producer_seen: HashMap::new(), producer_used_ms, epochs };
        let last_stable = state.last_stable(high_watermark);
        Ok(Partition {
            uid,
            store,
            sync_writes,
            state: Mutex::new(state),
            log_start: AtomicI64::new(log_start),
            last_stable: AtomicI64::new(last_stable),
            high_watermark: watch::Sender::new(high_watermark),
            log_end_watch: watch::Sender::new(log_end),
            follows_end: checkpoint.is_none().into(),
            leader_epoch: leader_epoch.into(),
            cleaned_to: AtomicI64::new(0),
            tombstones_expire_at: AtomicI64::new(i64::MAX),
        })
    }

    pub fn log_start(&self) -> i64 {
        self.log_start.load(Ordering::Acquire)
    }

    pub fn high_watermark(&self) -> i64 {
        *self.high_watermark.borrow()
    }

    /// The last stable offset: read_committed consumers read up to here.
    pub fn last_stable(&self) -> i64 {
        self.last_stable.load(Ordering::Acquire)
    }

    pub fn log_end(&self) -> i64 {
        self.state.lock().unwrap().log_end
    }

    /// A receiver that changes whenever the high watermark moves.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }

    /// Appends validated batches, assigning offsets. A retried idempotent batch is answered with
    /// its original offset and not written again.
    /// A producer's records: the append rules of the topic's `settings` (`rules::prepare`), then
    /// the append with its sequence checks, at `now`.
    pub fn produce(
        &self,
        records: &Bytes,
        settings: &LogSettings,
        leader_epoch: i32,
        now: i64,
    ) -> Result<AppendOutcome, Refusal> {
        let batches = rules::prepare(records, settings, now)?;
        let opts = AppendOptions { leader_epoch, log_append_time_ms: settings.log_append_time.then_some(now) };
        Ok(self.append(&batches, opts)?)
    }

    pub fn append(&self, batches: &[(BatchHeader, Bytes)], opts: AppendOptions) -> Result<AppendOutcome, AppendError> {
        let mut state = self.state.lock().unwrap();
        let mut writes: Vec<(i64, Bytes)> = Vec::with_capacity(batches.len());
        let mut first_offset = None;
        let mut producer_update: Option<(i64, ProducerEntry)> = None;
        let mut next = state.log_end;
        for (h, raw) in batches {
            if h.producer_id >= 0 && h.base_sequence >= 0 {
                let current = producer_update
                    .as_ref()
                    .filter(|(pid, _)| *pid == h.producer_id)
                    .map(|(_, e)| e)
                    .or_else(|| state.producers.get(&h.producer_id));
                match producer::check(current, h.producer_epoch, h.base_sequence, h.last_sequence())? {
                    SequenceCheck::Duplicate { base_offset } => {
                        first_offset.get_or_insert(base_offset);
                        continue;
                    }
                    SequenceCheck::Append => {
                        let mut entry = current.cloned().unwrap_or_default();
                        if current.is_none() {
                            entry.epoch = h.producer_epoch;
                        }
                        let meta =
                            BatchMeta { first_seq: h.base_sequence, last_seq: h.last_sequence(), base_offset: next };
                        entry.record(h.producer_epoch, meta);
                        if h.is_transactional() && entry.txn_first_offset.is_none() {
                            entry.txn_first_offset = Some(next);
                        }
                        producer_update = Some((h.producer_id, entry));
                        let ts = opts.log_append_time_ms.unwrap_or(h.max_timestamp);
                        state.producer_seen.entry(h.producer_id).or_insert((-1, -1)).0 = ts;
                    }
                }
            }
            let mut stored = batch::with_offset(raw, next, opts.leader_epoch);
            if let Some(now) = opts.log_append_time_ms {
                let mut m = BytesMut::from(&stored[..]);
                batch::set_log_append_time(&mut m, now);
                stored = m.freeze();
            }
            first_offset.get_or_insert(next);
            writes.push((next, stored));
            next += h.last_offset_delta as i64 + 1;
        }
        let log_start = self.log_start();
        let outcome = AppendOutcome {
            base_offset: first_offset.unwrap_or(state.log_end),
            log_end: next,
            log_append_time_ms: opts.log_append_time_ms.unwrap_or(-1),
            log_start,
        };
        if writes.is_empty() {
            return Ok(outcome);
        }
        let producers = producer_update.as_ref().map(|(pid, e)| (*pid, e.encode())).into_iter().collect();
        let epochs = self.new_epoch(&mut state, opts.leader_epoch, writes[0].0);
        self.store.append(
            AppendBatch { uid: self.uid, batches: &writes, producers, aborted: Vec::new(), epochs },
            self.sync_writes,
        )?;
        if let Some((pid, e)) = producer_update {
            state.producers.insert(pid, e);
            state.producer_used_ms.insert(pid, crate::now_ms());
        }
        assert!(next > state.log_end, "log end must grow on append");
        state.log_end = next;
        self.publish(&state, next);
        Ok(outcome)
    }

    /// Moves the high watermark and the last stable offset, and wakes waiting fetches. With no
    /// other replica in sync the high watermark is the log end (`end`), once the write is durable
    /// locally; else replication moves it, and here it only never passes the log end.
    fn publish(&self, state: &State, end: i64) {
        let hw = if self.follows_end.load(Ordering::Acquire) { end } else { self.high_watermark().min(end) };
        self.last_stable.store(state.last_stable(hw), Ordering::Release);
        self.high_watermark.send_replace(hw);
        self.log_end_watch.send_if_modified(|e| std::mem::replace(e, end) != end);
    }

    /// A batch of leader epoch `epoch` is about to be written at `offset`: the epoch cache as it
    /// must be stored with it, if the batch starts a new epoch.
    fn new_epoch(&self, state: &mut State, epoch: i32, offset: i64) -> Option<Vec<u8>> {
        self.leader_epoch.fetch_max(epoch, Ordering::AcqRel);
        if epoch < 0 || state.epochs.latest().is_some_and(|(e, _)| e >= epoch) {
            return None;
        }
        state.epochs.assign(epoch, offset);
        Some(state.epochs.encode())
    }

    /// Writes a transaction marker (a control batch) for `producer_id` and closes its open
    /// transaction here; an abort is indexed for read_committed fetches. Returns its offset.
    pub fn write_marker(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) -> Result<i64, AppendError> {
        let mut state = self.state.lock().unwrap();
        let mut entry = state.producers.get(&producer_id).cloned().unwrap_or_default();
        if epoch < entry.epoch {
            return Err(SequenceError::StaleEpoch { got: epoch, current: entry.epoch }.into());
        }
        // As Kafka's producer state: a coordinator that lost its partition (a newer one wrote
        // here since) is fenced (kept in memory while the broker runs).
        if let Some(&(_, current)) = state.producer_seen.get(&producer_id)
            && current > coordinator_epoch
        {
            return Err(AppendError::CoordinatorFenced { producer_id, got: coordinator_epoch, current });
        }
        let offset = state.log_end;
        let leader_epoch = self.leader_epoch.load(Ordering::Acquire);
        let marker = batch::with_offset(
            &batch::control_batch(producer_id, epoch, commit, coordinator_epoch, offset),
            offset,
            leader_epoch,
        );
        let aborted = match (commit, entry.txn_first_offset) {
            (false, Some(first)) => Some(AbortedTxn { first_offset: first, producer_id, last_offset: offset }),
            _ => None,
        };
        if epoch > entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.txn_first_offset = None;
        let producers = vec![(producer_id, entry.encode())];
        let epochs = self.new_epoch(&mut state, leader_epoch, offset);
        let write = AppendBatch {
            uid: self.uid,
            batches: &[(offset, marker)],
            producers,
            aborted: aborted.into_iter().collect(),
            epochs,
        };
        self.store.append(write, self.sync_writes)?;
        state.producers.insert(producer_id, entry);
        let now = crate::now_ms();
        state.producer_seen.insert(producer_id, (now, coordinator_epoch));
        state.producer_used_ms.insert(producer_id, now);
        if let Some(a) = aborted {
            state.aborted.push(a);
        }
        state.log_end = offset + 1;
        self.publish(&state, offset + 1);
        Ok(offset)
    }

    /// Opens a transaction for `producer_id` at the log end unless one is open (for writers that
    /// bypass sequence tracking, such as the coordinators' own transactional records).
    pub fn begin_transaction(&self, producer_id: i64, first_offset: i64) {
        let mut state = self.state.lock().unwrap();
        let entry = state.producers.entry(producer_id).or_default();
        if entry.txn_first_offset.is_none() {
            entry.txn_first_offset = Some(first_offset);
        }
        let hw = state.log_end;
        self.publish(&state, hw);
    }

    /// Forgets the state of producers that have not written here for `expiration_ms` and have no
    /// open transaction (Kafka's producer.id.expiration.ms): their next batch, if one ever comes,
    /// starts a new entry. Returns how many were forgotten.
    pub fn expire_producers(&self, now_ms: i64, expiration_ms: i64) -> Result<usize, StoreError> {
        let mut state = self.state.lock().unwrap();
        let expired: Vec<i64> = state
            .producers
            .iter()
            .filter(|(pid, e)| {
                let used = state.producer_used_ms.get(pid).copied().unwrap_or(now_ms);
                e.txn_first_offset.is_none() && now_ms.saturating_sub(used) >= expiration_ms
            })
            .map(|(pid, _)| *pid)
            .collect();
        if expired.is_empty() {
            return Ok(0);
        }
        self.store.forget_producers(self.uid, &expired)?;
        for pid in &expired {
            state.producers.remove(pid);
            state.producer_seen.remove(pid);
            state.producer_used_ms.remove(pid);
        }
        Ok(expired.len())
    }

    /// Producers with an open transaction here: (producer id, epoch, first offset).
    pub fn open_transactions(&self) -> Vec<(i64, i16, i64)> {
        let state = self.state.lock().unwrap();
        state.producers.iter().filter_map(|(pid, e)| e.txn_first_offset.map(|f| (*pid, e.epoch, f))).collect()
    }

    /// Every producer known here: (producer id, epoch, last sequence, last offset, open txn start).
    /// Producers with state here: (id, epoch, last sequence, last timestamp, coordinator epoch of
    /// the last marker, open transaction's first offset); -1 where unknown.
    pub fn producers(&self) -> Vec<(i64, i16, i32, i64, i32, Option<i64>)> {
        let state = self.state.lock().unwrap();
        state
            .producers
            .iter()
            .map(|(pid, e)| {
                let last = e.batches.back();
                let (ts, coordinator_epoch) = state.producer_seen.get(pid).copied().unwrap_or((-1, -1));
                (*pid, e.epoch, last.map_or(-1, |b| b.last_seq), ts, coordinator_epoch, e.txn_first_offset)
            })
            .collect()
    }

    /// Reads whole batches from the one holding `from` up to the high watermark, at most
    /// `max_bytes` unless the first batch alone is larger (then it is returned whole).
    pub fn read(&self, from: i64, max_bytes: usize) -> Result<ReadResult, ReadError> {
        self.read_isolated(from, max_bytes, false)
    }

    /// `read`, stopping at the last stable offset for read_committed, with the aborted
    /// transactions the consumer must skip.
    ///
    /// As Kafka's, an offset is out of range only past the log end: between the high watermark
    /// and the log end (a new leader whose high watermark has not caught up with the one its
    /// predecessor gave consumers) the read is empty, and the consumer keeps its position.
    pub fn read_isolated(&self, from: i64, max_bytes: usize, committed: bool) -> Result<ReadResult, ReadError> {
        let hw = self.high_watermark();
        let last_stable = self.last_stable().min(hw);
        let upto = if committed { last_stable } else { hw };
        self.read_to(from, max_bytes, upto, self.log_end(), committed)
    }

    /// Whole batches from the one holding `from` up to `upto`, `from` being at most `limit`.
    fn read_to(
        &self,
        from: i64,
        max_bytes: usize,
        upto: i64,
        limit: i64,
        committed: bool,
    ) -> Result<ReadResult, ReadError> {
        let hw = self.high_watermark();
        let last_stable = self.last_stable().min(hw);
        let log_start = self.log_start();
        if from < log_start || from > limit {
            return Err(ReadError::OutOfRange { offset: from, log_start, log_end: limit });
        }
        let mut out = BytesMut::new();
        let mut end = from;
        if from < upto {
            let mut damaged = None;
            self.store.visit(self.uid, from, &mut |base, b| {
                if base >= upto {
                    return false;
                }
                if !out.is_empty() && out.len() + b.len() > max_bytes {
                    return false;
                }
                let h = match batch::read_back(b, base, false) {
                    Ok(h) => h,
                    Err(e) => {
                        damaged = Some(e);
                        return false;
                    }
                };
                out.extend_from_slice(b);
                end = h.last_offset() + 1;
                out.len() < max_bytes
            })?;
            if let Some(e) = damaged {
                return Err(ReadError::Store(e));
            }
        }
        let aborted = if committed && end > from {
            let state = self.state.lock().unwrap();
            state
                .aborted
                .iter()
                .filter(|a| a.last_offset >= from && a.first_offset < end)
                .map(|a| (a.producer_id, a.first_offset))
                .collect()
        } else {
            Vec::new()
        };
        Ok(ReadResult { records: out.freeze(), high_watermark: hw, last_stable, log_start, aborted })
    }
}

mod maintenance;
mod replica;

#[cfg(test)]
mod tests;
