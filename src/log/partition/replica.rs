//! What replication asks of a partition log: whether its high watermark follows the log end,
//! the leader epochs, a follower's copy of its leader's batches, and truncation where it
//! diverged.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use tokio::sync::watch;

use super::{AppendError, Partition, ReadError, ReadResult};
use crate::log::batch::{self, BatchHeader};
use crate::log::epochs::LeaderEpochs;
use crate::log::producer::{BatchMeta, ProducerEntry};
use crate::log::store::{AbortedTxn, AppendBatch, StoreError, Truncation};

impl Partition {
    /// Whether replication sets the high watermark (other replicas are in sync) or it follows
    /// the log end (this replica alone).
    pub fn set_replicated(&self, replicated: bool) {
        if self.follows_end.load(Ordering::Acquire) != replicated {
            return;
        }
        let state = self.state.lock().unwrap();
        self.follows_end.store(!replicated, Ordering::Release);
        self.publish(&state, state.log_end);
    }

    /// The high watermark, when replication sets it (what is checkpointed); None when it follows
    /// the log end.
    pub fn replicated_high_watermark(&self) -> Option<i64> {
        (!self.follows_end.load(Ordering::Acquire)).then(|| self.high_watermark())
    }

    /// Replication moved the high watermark (never past the log end, never back but through
    /// truncation).
    pub fn set_high_watermark(&self, hw: i64) {
        let state = self.state.lock().unwrap();
        let hw = hw.min(state.log_end);
        if hw > self.high_watermark() {
            self.last_stable.store(state.last_stable(hw), Ordering::Release);
            self.high_watermark.send_replace(hw);
        }
    }

    /// The leader epoch this partition was last written or led in.
    pub fn set_leader_epoch(&self, epoch: i32) {
        self.leader_epoch.fetch_max(epoch, Ordering::AcqRel);
    }

    /// Kafka's `endOffsetFor` on this log: the epoch at or before `epoch` and where it ends.
    pub fn epoch_end(&self, epoch: i32) -> (i32, i64) {
        let state = self.state.lock().unwrap();
        state.epochs.end_offset_for(epoch, state.log_end)
    }

    /// The leader epochs of this log, and its end.
    pub fn epochs(&self) -> (LeaderEpochs, i64) {
        let state = self.state.lock().unwrap();
        (state.epochs.clone(), state.log_end)
    }

    /// A follower appends its leader's batches as they are: offsets, epochs and producer
    /// fields untouched, CRC checked. Batches it already has are skipped; a batch that would
    /// leave a gap is refused. Producer state (sequences, open transactions, markers) follows
    /// the batches, so that a follower that becomes leader deduplicates retries as the old
    /// leader would have. A partial batch at the end (a fetch cut at its size limit) is left
    /// for the next fetch. Returns the new log end.
    pub fn append_replica(&self, records: &Bytes) -> Result<i64, AppendError> {
        let mut state = self.state.lock().unwrap();
        let mut next = state.log_end;
        let mut writes: Vec<(i64, Bytes)> = Vec::new();
        let mut changed: HashMap<i64, ProducerEntry> = HashMap::new();
        let mut aborted = Vec::new();
        let mut epochs = None;
        let mut pos = 0;
        while pos + batch::LOG_OVERHEAD <= records.len() {
            let base = i64::from_be_bytes(records[pos..pos + 8].try_into().expect("8 bytes"));
            let len = i32::from_be_bytes(records[pos + 8..pos + 12].try_into().expect("4 bytes"));
            let total = batch::LOG_OVERHEAD + len.max(0) as usize;
            if len < 0 || pos + total > records.len() {
                break;
            }
            let raw = records.slice(pos..pos + total);
            pos += total;
            let h = batch::read_back(&raw, base, true)?;
            if h.last_offset() < next {
                continue;
            }
            if base != next {
                return Err(AppendError::Gap { got: base, log_end: next });
            }
            if let Some(e) = self.new_epoch(&mut state, h.leader_epoch, base) {
                epochs = Some(e);
            }
            if h.producer_id >= 0 {
                let entry = match changed.remove(&h.producer_id) {
                    Some(e) => e,
                    None => state.producers.get(&h.producer_id).cloned().unwrap_or_default(),
                };
                let entry = replicate_producer(entry, &h, &raw, &mut aborted);
                changed.insert(h.producer_id, entry);
            }
            writes.push((base, raw));
            next = h.last_offset() + 1;
        }
        if writes.is_empty() {
            return Ok(next);
        }
        let producers = changed.iter().map(|(pid, e)| (*pid, e.encode())).collect();
        let write = AppendBatch { uid: self.uid, batches: &writes, producers, aborted: aborted.clone(), epochs };
        self.store.append(write, self.sync_writes)?;
        let now = crate::now_ms();
        for (pid, e) in changed {
            state.producers.insert(pid, e);
            state.producer_used_ms.insert(pid, now);
        }
        state.aborted.extend(aborted);
        state.log_end = next;
        self.publish(&state, next);
        Ok(next)
    }

    /// A follower whose log diverged from its new leader's drops everything from `end` on (the
    /// caller chose `end` by Kafka's rules; never below the log start). Producer state, the
    /// aborted-transaction index and the leader epochs lose what was dropped.
    pub fn truncate_to(&self, end: i64) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap();
        let end = end.max(self.log_start());
        if end >= state.log_end {
            return Ok(());
        }
        state.epochs.truncate_from_end(end);
        let mut producers: Vec<(i64, Option<Vec<u8>>)> = Vec::new();
        let mut kept: Vec<(i64, ProducerEntry)> = Vec::new();
        for (pid, e) in &state.producers {
            let mut t = e.clone();
            t.batches.retain(|b| b.base_offset < end);
            if t.txn_first_offset.is_some_and(|f| f >= end) {
                t.txn_first_offset = None;
            }
            if t != *e {
                producers.push((*pid, Some(t.encode())));
                kept.push((*pid, t));
            }
        }
        self.store.truncate_back(Truncation {
            uid: self.uid,
            end,
            producers: &producers,
            epochs: state.epochs.encode(),
        })?;
        for (pid, t) in kept {
            state.producers.insert(pid, t);
        }
        state.aborted.retain(|a| a.last_offset < end);
        state.log_end = end;
        let hw = self.high_watermark().min(end);
        self.last_stable.store(state.last_stable(hw), Ordering::Release);
        self.high_watermark.send_replace(hw);
        self.log_end_watch.send_replace(end);
        Ok(())
    }

    /// A follower whose whole log is below its leader's log start (the leader deleted what it
    /// lacks) drops everything and starts empty at `start` (Kafka's truncateFullyAndStartAt).
    pub fn restart_at(&self, start: i64) -> Result<(), StoreError> {
        self.truncate_to(self.log_start())?;
        let mut state = self.state.lock().unwrap();
        self.store.truncate_front(self.uid, start)?;
        self.log_start.store(start, Ordering::Release);
        state.log_end = start;
        self.last_stable.store(state.last_stable(start), Ordering::Release);
        self.high_watermark.send_replace(start);
        self.log_end_watch.send_replace(start);
        Ok(())
    }

    /// A follower's log start follows its leader's (DeleteRecords and retention there), up to
    /// its own log end; whole batches before it are dropped.
    pub fn follow_log_start(&self, leader_start: i64) -> Result<(), StoreError> {
        let state = self.state.lock().unwrap();
        let target = leader_start.min(state.log_end);
        if target <= self.log_start() {
            return Ok(());
        }
        self.store.truncate_front(self.uid, target)?;
        self.log_start.store(target, Ordering::Release);
        Ok(())
    }

    /// What a follower fetches: batches up to the log end, not only the high watermark.
    pub fn read_replica(&self, from: i64, max_bytes: usize) -> Result<ReadResult, ReadError> {
        let end = self.log_end();
        self.read_to(from, max_bytes, end, end, false)
    }

    /// Where leader epoch `epoch` starts in this log: its first batch, or the log end while none
    /// was written in it (Kafka's leaderEpochStartOffset of a new leader).
    pub fn epoch_start(&self, epoch: i32) -> i64 {
        let (epochs, end) = self.epochs();
        match epochs.latest() {
            Some((e, start)) if e == epoch => start,
            _ => end,
        }
    }

    /// A receiver that changes whenever the log end moves (what a follower's fetch waits on).
    pub fn subscribe_end(&self) -> watch::Receiver<i64> {
        self.log_end_watch.subscribe()
    }
}

/// A producer's entry after its leader's batch `h` (bytes `raw`) was replicated: sequences of
/// an idempotent batch, the first offset of a transaction, or the end of one (a marker, which
/// indexes an abort in `aborted`).
fn replicate_producer(
    mut entry: ProducerEntry,
    h: &BatchHeader,
    raw: &Bytes,
    aborted: &mut Vec<AbortedTxn>,
) -> ProducerEntry {
    if h.producer_epoch > entry.epoch {
        entry.epoch = h.producer_epoch;
        entry.batches.clear();
    }
    if h.is_control() {
        if let (Some(false), Some(first)) = (batch::marker_commits(raw), entry.txn_first_offset) {
            aborted.push(AbortedTxn { first_offset: first, producer_id: h.producer_id, last_offset: h.base_offset });
        }
        entry.txn_first_offset = None;
        return entry;
    }
    if h.base_sequence >= 0 {
        let meta = BatchMeta { first_seq: h.base_sequence, last_seq: h.last_sequence(), base_offset: h.base_offset };
        entry.record(h.producer_epoch, meta);
    }
    if h.is_transactional() && entry.txn_first_offset.is_none() {
        entry.txn_first_offset = Some(h.base_offset);
    }
    entry
}
