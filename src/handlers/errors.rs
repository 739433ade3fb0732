//! Domain errors to Kafka error codes, in one place.

use kafka_protocol::ResponseError;

use crate::log::batch::BatchError;
use crate::log::codec::DecodeError;
use crate::log::producer::SequenceError;
use crate::log::{AppendError, ReadError, StoreError};

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

pub fn append_error(e: &AppendError) -> ResponseError {
    match e {
        AppendError::Sequence(SequenceError::StaleEpoch { .. }) => ResponseError::InvalidProducerEpoch,
        AppendError::Sequence(SequenceError::OutOfOrder { .. }) => ResponseError::OutOfOrderSequenceNumber,
        AppendError::Store(s) => store_error(s),
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
