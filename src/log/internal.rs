//! The log of an internal topic (`__consumer_offsets`, `__transaction_state`) as the group and
//! transaction coordinators see it: keyed records appended to one partition, optionally inside a
//! producer's transaction, and replayed in order on start-up.

use bytes::Bytes;
use thiserror::Error;

use super::batch::BatchError;
use super::{AppendError, ReadError, StoreError};

/// Why an internal topic's log could not be written or read.
#[derive(Debug, Error)]
pub enum InternalLogError {
    #[error("{topic} has no partition {index}")]
    NoPartition { topic: &'static str, index: i32 },
    #[error("cannot encode or decode the coordinator's records: {0}")]
    Records(String),
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// This node no longer leads the partition (its coordinator moved with the leadership).
    #[error("{topic}-{index} is no longer led by this node")]
    NotLeader { topic: &'static str, index: i32 },
    /// The in-sync replicas did not confirm the records in time (or are fewer than
    /// min.insync.replicas).
    #[error("{topic}-{index}: the in-sync replicas did not confirm the records within {timeout_ms} ms")]
    NotReplicated { topic: &'static str, index: i32, timeout_ms: u64 },
}

/// Whether a topic is one of the coordinators' own (clients may read but not write them).
pub fn is_internal(name: &str) -> bool {
    name == "__consumer_offsets" || name == "__transaction_state"
}

/// Java's `String.hashCode`, which Kafka uses to place a group or transactional id in a
/// partition of its internal topic.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// The internal-topic partition of a group id or transactional id, as Kafka computes it.
pub fn partition_for(id: &str, partitions: i32) -> i32 {
    let h = java_string_hash(id);
    // Kafka's Utils.abs maps i32::MIN to 0.
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions
}

/// A record read back from an internal topic.
#[derive(Debug, Clone)]
pub struct LoggedRecord {
    pub key: Bytes,
    pub value: Option<Bytes>,
    /// The producer of a transactional record, or of a marker.
    pub producer_id: i64,
    pub transactional: bool,
    /// For a transaction marker: commit (true) or abort (false).
    pub marker: Option<bool>,
}

/// The partitions of an internal topic whose groups or transactions a coordinator serves: each
/// with the leader epoch it was taken in, loading (clients are told COORDINATOR_LOAD_IN_PROGRESS)
/// or loaded. A lone node serves every partition and does not track them.
#[derive(Default)]
pub struct Ownership {
    partitions: dashmap::DashMap<i32, (i32, bool)>,
}

impl Ownership {
    /// Whether partition `p` is served here: `Some(true)` once loaded.
    pub fn loaded(&self, p: i32) -> Option<bool> {
        self.partitions.get(&p).map(|e| e.1)
    }

    /// Takes partition `p` in leader epoch `epoch`, to be loaded; false if it was already
    /// taken in that epoch.
    pub fn take(&self, p: i32, epoch: i32) -> bool {
        match self.partitions.insert(p, (epoch, false)) {
            Some((e, loaded)) if e == epoch => {
                self.partitions.insert(p, (e, loaded));
                false
            }
            _ => true,
        }
    }

    /// Partition `p` is loaded, if it is still held in `epoch`.
    pub fn set_loaded(&self, p: i32, epoch: i32) -> bool {
        match self.partitions.get_mut(&p) {
            Some(mut e) if e.0 == epoch => {
                e.1 = true;
                true
            }
            _ => false,
        }
    }

    /// Gives partition `p` up; false if it was not held.
    pub fn give_up(&self, p: i32) -> bool {
        self.partitions.remove(&p).is_some()
    }

    /// The leader epoch partition `p` is held in (the coordinator epoch of what is kept there).
    pub fn epoch(&self, p: i32) -> Option<i32> {
        self.partitions.get(&p).map(|e| e.0)
    }

    /// The partitions held, with their epochs.
    pub fn held(&self) -> Vec<(i32, i32)> {
        self.partitions.iter().map(|e| (*e.key(), e.value().0)).collect()
    }
}

/// Waits for written records to reach the internal topic's in-sync replicas.
pub type Replicated = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), InternalLogError>> + Send>>;

pub trait InternalLog: Send + Sync + 'static {
    /// Appends records (key, value or tombstone) to one partition, in order, inside the
    /// transaction of `txn` (producer id, epoch) when given; returns the log end after them.
    fn append(
        &self,
        partition: i32,
        records: Vec<(Bytes, Option<Bytes>)>,
        txn: Option<(i64, i16)>,
    ) -> Result<i64, InternalLogError>;
    /// Writes a commit or abort marker for a producer's transaction in one partition; returns
    /// the log end after it.
    fn write_marker(&self, partition: i32, producer_id: i64, epoch: i16, commit: bool)
    -> Result<i64, InternalLogError>;
    /// Resolves once the records of `partition` below `end` are on every in-sync replica (at
    /// once for a partition with one replica), as an acks=all produce waits: `NotLeader` when
    /// this node stopped leading the partition meanwhile, `NotReplicated` after the timeout.
    fn replicated(&self, partition: i32, end: i64) -> Replicated;
    /// Visits every record of one partition in offset order, up to its high watermark.
    fn replay(&self, partition: i32, visit: &mut dyn FnMut(LoggedRecord)) -> Result<(), InternalLogError>;
}

/// Appends and waits until the in-sync replicas have the records (what a coordinator does
/// before it answers a commit).
pub async fn write(
    log: &dyn InternalLog,
    partition: i32,
    records: Vec<(Bytes, Option<Bytes>)>,
    txn: Option<(i64, i16)>,
) -> Result<(), InternalLogError> {
    let end = log.append(partition, records, txn)?;
    log.replicated(partition, end).await
}

/// Writes a marker and waits until the in-sync replicas have it.
pub async fn write_marker(
    log: &dyn InternalLog,
    partition: i32,
    producer_id: i64,
    epoch: i16,
    commit: bool,
) -> Result<(), InternalLogError> {
    let end = log.write_marker(partition, producer_id, epoch, commit)?;
    log.replicated(partition, end).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_follows_leader_epochs() {
        let o = Ownership::default();
        assert_eq!(o.loaded(3), None);
        assert!(o.take(3, 5), "taken in epoch 5");
        assert!(!o.take(3, 5), "already taken in that epoch");
        assert_eq!(o.loaded(3), Some(false));
        assert!(!o.set_loaded(3, 4), "a load of an older epoch does not count");
        assert!(o.set_loaded(3, 5));
        assert_eq!(o.loaded(3), Some(true));
        assert!(!o.take(3, 5), "taking it again in the same epoch keeps it loaded");
        assert_eq!(o.loaded(3), Some(true));
        assert!(o.take(3, 6), "a new epoch loads again");
        assert_eq!(o.loaded(3), Some(false));
        assert_eq!(o.held(), vec![(3, 6)]);
        assert!(o.give_up(3));
        assert!(!o.give_up(3));
        assert!(!o.set_loaded(3, 6), "given up while loading");
    }

    #[test]
    fn placement_matches_java() {
        // "hello".hashCode() == 99162322 in Java.
        assert_eq!(java_string_hash("hello"), 99162322);
        assert_eq!(partition_for("hello", 50), 99162322 % 50);
        assert!((0..50).contains(&partition_for("console-consumer-12345", 50)));
        assert!(is_internal("__consumer_offsets") && is_internal("__transaction_state") && !is_internal("orders"));
    }
}
