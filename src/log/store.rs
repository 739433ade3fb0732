//! The persistence boundary of partition logs, in Kafka terms.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("storage I/O failed: {0}")]
    Io(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// One partition's write: batches with their assigned base offsets, and the producer state,
/// aborted transactions and leader epochs to persist atomically with them.
pub struct AppendBatch<'a> {
    pub uid: u64,
    pub batches: &'a [(i64, Bytes)],
    /// Producer entries the batches changed: (producer id, encoded entry).
    pub producers: Vec<(i64, Vec<u8>)>,
    /// Aborted transactions to index.
    pub aborted: Vec<AbortedTxn>,
    /// The partition's leader-epoch cache, encoded, when the batches start a new epoch.
    pub epochs: Option<Vec<u8>>,
}

/// A follower's truncation to its leader's log: everything from `end` on goes, with the
/// aborted transactions that end there; producer entries and leader epochs are rewritten.
pub struct Truncation<'a> {
    pub uid: u64,
    pub end: i64,
    /// (producer id, new encoded entry, or None to forget the producer).
    pub producers: &'a [(i64, Option<Vec<u8>>)],
    pub epochs: Vec<u8>,
}

/// An aborted transaction's range in a partition, for read_committed fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub first_offset: i64,
    pub producer_id: i64,
    pub last_offset: i64,
}

/// What the log needs to know of a stored batch without reading it: retention, sizes and
/// timestamp look-ups walk these instead of the batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub size: u32,
}

impl BatchMeta {
    /// The metadata of a stored batch kept under `base`.
    pub fn of(base: i64, stored: &[u8]) -> BatchMeta {
        let h = super::batch::stored_header(stored);
        BatchMeta {
            base_offset: base,
            last_offset: h.last_offset(),
            max_timestamp: h.max_timestamp,
            size: stored.len() as u32,
        }
    }
}

/// Durable storage of record batches and partition state. Keys are (partition uid, base offset).
pub trait Store: Send + Sync + 'static {
    /// Writes the batches and producer state in one atomic write; `sync` forces it to disk.
    fn append(&self, write: AppendBatch<'_>, sync: bool) -> Result<(), StoreError>;
    /// Visits stored batches of `uid` in offset order, starting with the batch that holds
    /// `from` (or the first after it), while `visit` returns true.
    fn visit(&self, uid: u64, from: i64, visit: &mut dyn FnMut(i64, &[u8]) -> bool) -> Result<(), StoreError>;
    /// As `visit`, with each batch's metadata instead of its bytes (a store may keep them apart,
    /// so that this reads no batch).
    fn visit_meta(&self, uid: u64, from: i64, visit: &mut dyn FnMut(BatchMeta) -> bool) -> Result<(), StoreError> {
        self.visit(uid, from, &mut |base, b| visit(BatchMeta::of(base, b)))
    }
    /// The last stored batch of `uid`.
    fn last_batch(&self, uid: u64) -> Result<Option<(i64, Bytes)>, StoreError>;
    /// The persisted log start offset, if one was ever set.
    fn log_start(&self, uid: u64) -> Result<Option<i64>, StoreError>;
    /// Persists a new log start offset and drops whole batches that end before it.
    fn truncate_front(&self, uid: u64, log_start: i64) -> Result<(), StoreError>;
    /// Drops the batches from `t.end` on (a follower diverged from its leader), atomically with
    /// the producer and epoch changes it brings.
    fn truncate_back(&self, t: Truncation<'_>) -> Result<(), StoreError>;
    /// The leader-epoch cache persisted with the last append that started an epoch, if any.
    fn leader_epochs(&self, uid: u64) -> Result<Option<Vec<u8>>, StoreError>;
    /// Persisted producer states of `uid`: (producer id, encoded entry).
    fn producers(&self, uid: u64) -> Result<Vec<(i64, Vec<u8>)>, StoreError>;
    /// Replaces stored batches atomically: each (old base offset, new batch or None to delete).
    /// A new batch is stored under its own base offset, which may be later than the old one.
    fn replace(&self, uid: u64, changes: &[(i64, Option<Bytes>)]) -> Result<(), StoreError>;
    /// The aborted-transaction index of `uid`, in offset order.
    fn aborted(&self, uid: u64) -> Result<Vec<AbortedTxn>, StoreError>;
    /// Removes everything stored for the partition.
    fn delete_partition(&self, uid: u64) -> Result<(), StoreError>;
    /// Removes the persisted state of these producers (expired: producer.id.expiration.ms).
    fn forget_producers(&self, uid: u64, producer_ids: &[i64]) -> Result<(), StoreError>;
    /// Uids that have any stored batch (for reconciling with metadata at start-up).
    fn partition_uids(&self) -> Result<Vec<u64>, StoreError>;
    /// Gives the space of data deleted before `before` in each (uid, before) back to the disk
    /// (may be slow; call it off the request path).
    fn reclaim(&self, _ranges: &[(u64, i64)]) {}
    /// The high watermark last checkpointed for `uid` (a replicated partition), if any.
    fn high_watermark(&self, uid: u64) -> Result<Option<i64>, StoreError>;
    /// Checkpoints the high watermarks of replicated partitions, (uid, high watermark), in one
    /// write (Kafka's replication-offset-checkpoint).
    fn checkpoint_high_watermarks(&self, marks: &[(u64, i64)]) -> Result<(), StoreError>;
}

/// In-memory store for unit tests.
#[derive(Default)]
pub struct MemStore {
    inner: Mutex<MemInner>,
}

#[derive(Default)]
struct MemInner {
    batches: BTreeMap<(u64, i64), Bytes>,
    starts: BTreeMap<u64, i64>,
    producers: BTreeMap<(u64, i64), Vec<u8>>,
    aborted: BTreeMap<(u64, i64), AbortedTxn>,
    epochs: BTreeMap<u64, Vec<u8>>,
    high_watermarks: BTreeMap<u64, i64>,
}

impl Store for MemStore {
    fn append(&self, w: AppendBatch<'_>, _sync: bool) -> Result<(), StoreError> {
        let mut g = self.inner.lock().unwrap();
        for (base, b) in w.batches {
            g.batches.insert((w.uid, *base), b.clone());
        }
        for (pid, e) in w.producers {
            g.producers.insert((w.uid, pid), e);
        }
        for a in w.aborted {
            g.aborted.insert((w.uid, a.first_offset), a);
        }
        if let Some(e) = w.epochs {
            g.epochs.insert(w.uid, e);
        }
        Ok(())
    }

    fn truncate_back(&self, t: Truncation<'_>) -> Result<(), StoreError> {
        let mut g = self.inner.lock().unwrap();
        let uid = t.uid;
        g.batches.retain(|(u, base), _| *u != uid || *base < t.end);
        g.aborted.retain(|(u, _), a| *u != uid || a.last_offset < t.end);
        for (pid, e) in t.producers {
            match e {
                Some(e) => g.producers.insert((uid, *pid), e.clone()),
                None => g.producers.remove(&(uid, *pid)),
            };
        }
        g.epochs.insert(uid, t.epochs);
        Ok(())
    }

    fn leader_epochs(&self, uid: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.inner.lock().unwrap().epochs.get(&uid).cloned())
    }

    fn replace(&self, uid: u64, changes: &[(i64, Option<Bytes>)]) -> Result<(), StoreError> {
        let mut g = self.inner.lock().unwrap();
        for (old, new) in changes {
            g.batches.remove(&(uid, *old));
            if let Some(b) = new {
                g.batches.insert((uid, super::batch::stored_header(b).base_offset), b.clone());
            }
        }
        Ok(())
    }

    fn aborted(&self, uid: u64) -> Result<Vec<AbortedTxn>, StoreError> {
        let g = self.inner.lock().unwrap();
        Ok(g.aborted.range((uid, i64::MIN)..=(uid, i64::MAX)).map(|(_, a)| *a).collect())
    }

    fn visit(&self, uid: u64, from: i64, visit: &mut dyn FnMut(i64, &[u8]) -> bool) -> Result<(), StoreError> {
        let g = self.inner.lock().unwrap();
        let start = g
            .batches
            .range((uid, i64::MIN)..=(uid, from))
            .next_back()
            .filter(|(_, b)| super::batch::stored_header(b).last_offset() >= from)
            .map(|((_, base), _)| *base)
            .unwrap_or(from);
        for ((_, base), b) in g.batches.range((uid, start)..=(uid, i64::MAX)) {
            if !visit(*base, b) {
                break;
            }
        }
        Ok(())
    }

    fn last_batch(&self, uid: u64) -> Result<Option<(i64, Bytes)>, StoreError> {
        let g = self.inner.lock().unwrap();
        Ok(g.batches.range((uid, i64::MIN)..=(uid, i64::MAX)).next_back().map(|((_, base), b)| (*base, b.clone())))
    }

    fn log_start(&self, uid: u64) -> Result<Option<i64>, StoreError> {
        Ok(self.inner.lock().unwrap().starts.get(&uid).copied())
    }

    fn truncate_front(&self, uid: u64, log_start: i64) -> Result<(), StoreError> {
        let mut g = self.inner.lock().unwrap();
        g.starts.insert(uid, log_start);
        let drop: Vec<_> = g
            .batches
            .range((uid, i64::MIN)..(uid, log_start))
            .filter(|(_, b)| super::batch::stored_header(b).last_offset() < log_start)
            .map(|(k, _)| *k)
            .collect();
        for k in drop {
            g.batches.remove(&k);
        }
        Ok(())
    }

    fn producers(&self, uid: u64) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let g = self.inner.lock().unwrap();
        Ok(g.producers.range((uid, i64::MIN)..=(uid, i64::MAX)).map(|((_, p), e)| (*p, e.clone())).collect())
    }

    fn forget_producers(&self, uid: u64, producer_ids: &[i64]) -> Result<(), StoreError> {
        let mut g = self.inner.lock().unwrap();
        for pid in producer_ids {
            g.producers.remove(&(uid, *pid));
        }
        Ok(())
    }

    fn delete_partition(&self, uid: u64) -> Result<(), StoreError> {
        let mut g = self.inner.lock().unwrap();
        g.batches.retain(|(u, _), _| *u != uid);
        g.producers.retain(|(u, _), _| *u != uid);
        g.aborted.retain(|(u, _), _| *u != uid);
        g.starts.remove(&uid);
        g.epochs.remove(&uid);
        g.high_watermarks.remove(&uid);
        Ok(())
    }

    fn high_watermark(&self, uid: u64) -> Result<Option<i64>, StoreError> {
        Ok(self.inner.lock().unwrap().high_watermarks.get(&uid).copied())
    }

    fn checkpoint_high_watermarks(&self, marks: &[(u64, i64)]) -> Result<(), StoreError> {
        self.inner.lock().unwrap().high_watermarks.extend(marks.iter().copied());
        Ok(())
    }

    fn partition_uids(&self) -> Result<Vec<u64>, StoreError> {
        let g = self.inner.lock().unwrap();
        let mut uids: Vec<u64> = g.batches.keys().map(|(u, _)| *u).collect();
        uids.dedup();
        Ok(uids)
    }
}
