//! Domain errors to Kafka error codes, in one place: the log's, the group and transaction
//! coordinators' and the store's.

use kafka_protocol::ResponseError;

use crate::group::GroupError;
use crate::log::batch::BatchError;
use crate::log::codec::DecodeError;
use crate::log::producer::SequenceError;
use crate::log::rules::Refusal;
use crate::log::{AppendError, ReadError, StoreError};
use crate::txn::TxnError;

/// The wire code of an error, or 0 for none.
pub fn code(e: Option<ResponseError>) -> i16 {
    e.map(|e| e.code()).unwrap_or(0)
}

pub fn batch_error(e: &BatchError) -> ResponseError {
    match e {
        BatchError::TooLarge { .. } => ResponseError::MessageTooLarge,
        BatchError::Magic(_) => ResponseError::UnsupportedForMessageFormat,
        BatchError::Crc { .. }
        | BatchError::Count { .. }
        | BatchError::TooShort(_)
        | BatchError::LengthMismatch { .. }
        | BatchError::Corrupt(_) => ResponseError::CorruptMessage,
        BatchError::Empty => ResponseError::InvalidRecord,
        BatchError::Decode(DecodeError::TooLarge { .. }) => ResponseError::MessageTooLarge,
        BatchError::Decode(_) => ResponseError::CorruptMessage,
    }
}

pub fn refusal(e: &Refusal) -> ResponseError {
    match e {
        Refusal::Batch(b) => batch_error(b),
        Refusal::Timestamp { .. } => ResponseError::InvalidTimestamp,
        Refusal::KeyMissing { .. } => ResponseError::InvalidRecord,
        Refusal::Append(a) => append_error(a),
    }
}

pub fn append_error(e: &AppendError) -> ResponseError {
    match e {
        AppendError::Sequence(SequenceError::StaleEpoch { .. }) => ResponseError::InvalidProducerEpoch,
        AppendError::Sequence(SequenceError::OutOfOrder { .. }) => ResponseError::OutOfOrderSequenceNumber,
        AppendError::Store(s) => store_error(s),
        // Only a follower's copy can leave a gap; no client append does.
        AppendError::Gap { .. } => ResponseError::UnknownServerError,
        AppendError::CoordinatorFenced { .. } => ResponseError::TransactionCoordinatorFenced,
    }
}

pub fn read_error(e: &ReadError) -> ResponseError {
    match e {
        ReadError::OutOfRange { .. } => ResponseError::OffsetOutOfRange,
        ReadError::Store(s) => store_error(s),
    }
}

pub fn store_error(e: &StoreError) -> ResponseError {
    match e {
        StoreError::Io(_) => ResponseError::KafkaStorageError,
        // Kafka takes a log dir with a damaged segment offline; its partitions answer this.
        StoreError::Corrupt(_) => {
            tracing::error!(error = %e, "corrupt data in the store");
            ResponseError::KafkaStorageError
        }
    }
}

/// The wire code of a coordinator's error, through the mappings below.
pub trait WireCode: Copy + Into<ResponseError> {
    fn code(self) -> i16 {
        self.into().code()
    }
}

impl WireCode for GroupError {}
impl WireCode for TxnError {}

impl From<GroupError> for ResponseError {
    fn from(e: GroupError) -> ResponseError {
        match e {
            GroupError::UnknownMemberId => ResponseError::UnknownMemberId,
            GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
            GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
            GroupError::FencedInstanceId => ResponseError::FencedInstanceId,
            GroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
            GroupError::NotCoordinator => ResponseError::NotCoordinator,
            GroupError::IllegalGeneration => ResponseError::IllegalGeneration,
            GroupError::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
            GroupError::GroupIdNotFound => ResponseError::GroupIdNotFound,
            GroupError::MemberIdRequired => ResponseError::MemberIdRequired,
            GroupError::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
            GroupError::FencedMemberEpoch => ResponseError::FencedMemberEpoch,
            GroupError::StaleMemberEpoch => ResponseError::StaleMemberEpoch,
            GroupError::NonEmptyGroup => ResponseError::NonEmptyGroup,
            GroupError::UnsupportedAssignor => ResponseError::UnsupportedAssignor,
            GroupError::UnreleasedInstanceId => ResponseError::UnreleasedInstanceId,
            GroupError::InvalidRequest => ResponseError::InvalidRequest,
            GroupError::GroupSubscribedToTopic => ResponseError::GroupSubscribedToTopic,
        }
    }
}

impl From<TxnError> for ResponseError {
    fn from(e: TxnError) -> ResponseError {
        match e {
            TxnError::InvalidTxnState => ResponseError::InvalidTxnState,
            TxnError::InvalidProducerIdMapping => ResponseError::InvalidProducerIdMapping,
            TxnError::ConcurrentTransactions => ResponseError::ConcurrentTransactions,
            TxnError::ProducerFenced => ResponseError::ProducerFenced,
            TxnError::InvalidProducerEpoch => ResponseError::InvalidProducerEpoch,
            TxnError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
            TxnError::NotCoordinator => ResponseError::NotCoordinator,
            TxnError::InvalidTransactionTimeout => ResponseError::InvalidTransactionTimeout,
        }
    }
}
