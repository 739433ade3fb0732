//! The log of an internal topic (`__consumer_offsets`, `__transaction_state`) as the group and
//! transaction coordinators see it: keyed records appended to one partition, optionally inside a
//! producer's transaction, and replayed in order on start-up.

use bytes::Bytes;

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
    ) -> Result<(), String>;
    /// Writes a commit or abort marker for a producer's transaction in one partition.
    fn write_marker(&self, partition: i32, producer_id: i64, epoch: i16, commit: bool) -> Result<(), String>;
    /// Visits every record of one partition in offset order.
    fn replay(&self, partition: i32, visit: &mut dyn FnMut(LoggedRecord)) -> Result<(), String>;
}
