//! Partition logs: record batches stored whole, offsets, and the in-memory state of each
//! partition (log start, log end, high watermark, producer sequences in `producer`).
//!
//! What a producer's records must satisfy is decided in `rules`, from the topic's parsed
//! `settings`; `Partition::produce` applies both. `epochs` is a partition's leader-epoch
//! cache (where each epoch starts), which replication and OffsetForLeaderEpoch ask.
//!
//! `Store` is the persistence boundary: RocksDB (`rocks::RocksStore`) in the broker, an in-memory
//! map (`store::MemStore`) in unit tests. `Partition` owns offset assignment and reads.

pub mod batch;
pub mod codec;
pub mod compaction;
pub mod epochs;
pub mod internal;
pub mod partition;
pub mod producer;
pub mod rocks;
pub mod rules;
pub mod settings;
pub mod store;

pub use partition::{AppendError, AppendOutcome, Partition, ReadError};
pub use store::{AbortedTxn, MemStore, Store, StoreError};
