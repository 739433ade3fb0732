//! Producer ids and idempotence. Transactions are a later issue.

pub mod producer;

pub use producer::{ProducerEntry, SequenceCheck, SequenceError};
