//! What the transaction coordinator refuses, in the terms of Kafka's transaction protocol. The
//! handlers give each its wire code (`handlers::errors`).

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TxnError {
    #[error("the producer attempted a transactional operation in an invalid state")]
    InvalidTxnState,
    #[error("the producer id is not assigned to this transactional id")]
    InvalidProducerIdMapping,
    #[error("another operation on the same transaction is under way")]
    ConcurrentTransactions,
    #[error("a newer producer with the same transactional id fenced this one")]
    ProducerFenced,
    #[error("the producer epoch is old")]
    InvalidProducerEpoch,
    #[error("the coordinator is not available")]
    CoordinatorNotAvailable,
    #[error("this node no longer coordinates it")]
    NotCoordinator,
    #[error("the transaction timeout is larger than transaction.max.timeout.ms")]
    InvalidTransactionTimeout,
}

impl From<crate::log::internal::InternalLogError> for TxnError {
    /// A write to the internal topic that failed: the coordinator moved with the partition's
    /// leadership, or is not available for now (Kafka's mapping of the append's errors).
    fn from(e: crate::log::internal::InternalLogError) -> Self {
        match e {
            crate::log::internal::InternalLogError::NotLeader { .. } => TxnError::NotCoordinator,
            _ => TxnError::CoordinatorNotAvailable,
        }
    }
}
