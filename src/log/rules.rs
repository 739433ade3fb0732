//! The append rules Kafka keeps in its log validator: what a producer's records must satisfy
//! before the log takes them, decided from the topic's parsed settings. Sequence checks follow
//! in `Partition::append`, under the partition's lock.

use bytes::Bytes;
use thiserror::Error;

use super::batch::{self, BatchError, BatchHeader};
use super::codec;
use super::partition::AppendError;
use super::settings::LogSettings;

/// Why a producer's records were refused.
#[derive(Debug, Error)]
pub enum Refusal {
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(
        "Timestamp {timestamp} of a record is out of the range [{min}, {max}] allowed by message.timestamp.before/after.max.ms"
    )]
    Timestamp { timestamp: i64, min: i64, max: i64 },
    /// A compacted topic takes no record without a key: the indexes, in their batch, of those
    /// that have none.
    #[error("{} record(s) without a key for a compacted topic", .records.len())]
    KeyMissing { records: Vec<i32> },
    #[error(transparent)]
    Append(#[from] AppendError),
}

/// The batches of `records` as the log stores them: each validated (size, CRC, counts), its
/// timestamps in range, every record keyed on a compacted topic, and rewritten in the topic's
/// codec when it asks for one.
pub fn prepare(records: &Bytes, s: &LogSettings, now: i64) -> Result<Vec<(BatchHeader, Bytes)>, Refusal> {
    let batches = batch::split_and_validate(records, s.batch_bytes_max)?;
    if !s.log_append_time {
        let (min, max) = (now.saturating_sub(s.timestamp_before_ms_max), now.saturating_add(s.timestamp_after_ms_max));
        for (h, _) in &batches {
            // The batch's first and largest timestamps bound its records' (Kafka checks each).
            if h.max_timestamp > max {
                return Err(Refusal::Timestamp { timestamp: h.max_timestamp, min, max });
            }
            if h.base_timestamp < min {
                return Err(Refusal::Timestamp { timestamp: h.base_timestamp, min, max });
            }
        }
    }
    if s.compacted {
        // As Kafka, the only case where the broker looks inside (and decompresses) a batch.
        for (_, raw) in &batches {
            let set = codec::decode(raw, codec::DECOMPRESSED_BYTES_MAX).map_err(BatchError::from)?;
            let records: Vec<i32> =
                set.records.iter().enumerate().filter(|(_, r)| r.key.is_none()).map(|(i, _)| i as i32).collect();
            if !records.is_empty() {
                return Err(Refusal::KeyMissing { records });
            }
        }
    }
    match s.codec {
        None => Ok(batches),
        Some(codec) => batches
            .into_iter()
            .map(|(_, raw)| {
                let b = batch::recompress(&raw, codec)?;
                Ok((BatchHeader::read(&b), b))
            })
            .collect(),
    }
}
