//! Producer ids, idempotence and transactions: per-partition producer state (`producer`), the
//! transaction state machine (`state`), its log (`log`) and the coordinator (`coordinator`).

pub mod coordinator;
pub mod log;
pub mod producer;
pub mod state;

pub use coordinator::{TxnCoordinator, TxnEffects};
pub use producer::{ProducerEntry, SequenceCheck, SequenceError};

/// The internal topic holding transaction state.
pub const TXN_TOPIC: &str = "__transaction_state";
