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

pub trait InternalLog: Send + Sync + 'static {
    /// Appends records (key, value or tombstone) to one partition, durably, in order; inside
    /// the transaction of `txn` (producer id, epoch) when given.
    fn append(
        &self,
        partition: i32,
        records: Vec<(Bytes, Option<Bytes>)>,
        txn: Option<(i64, i16)>,
    ) -> Result<(), InternalLogError>;
    /// Writes a commit or abort marker for a producer's transaction in one partition.
    fn write_marker(&self, partition: i32, producer_id: i64, epoch: i16, commit: bool) -> Result<(), InternalLogError>;
    /// Visits every record of one partition in offset order.
    fn replay(&self, partition: i32, visit: &mut dyn FnMut(LoggedRecord)) -> Result<(), InternalLogError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_matches_java() {
        // "hello".hashCode() == 99162322 in Java.
        assert_eq!(java_string_hash("hello"), 99162322);
        assert_eq!(partition_for("hello", 50), 99162322 % 50);
        assert!((0..50).contains(&partition_for("console-consumer-12345", 50)));
        assert!(is_internal("__consumer_offsets") && is_internal("__transaction_state") && !is_internal("orders"));
    }
}
