//! Transactions: the transaction state machine (`state`), its log (`log`) and the coordinator
//! (`coordinator`). Idempotent producers' per-partition state lives with the log
//! (`log::producer`), as Kafka keeps it in its log layer.

pub mod coordinator;
pub mod log;
pub mod state;

mod error;
pub use error::TxnError;

pub use coordinator::{MarkerError, TxnCoordinator, TxnEffects};

/// The internal topic holding transaction state.
pub const TXN_TOPIC: &str = "__transaction_state";
