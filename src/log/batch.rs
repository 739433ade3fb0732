//! Record batch (magic v2) header checks on the produce path.
//!
//! Batches are stored whole as the client sent them, so the broker reads only the fixed-width
//! header fields it needs and checks the CRC; records are never decompressed here. Field offsets
//! follow Kafka's `DefaultRecordBatch` layout.

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

pub const BASE_OFFSET: usize = 0;
pub const LENGTH: usize = 8;
pub const LEADER_EPOCH: usize = 12;
pub const MAGIC: usize = 16;
pub const CRC: usize = 17;
pub const ATTRIBUTES: usize = 21;
pub const LAST_OFFSET_DELTA: usize = 23;
pub const BASE_TIMESTAMP: usize = 27;
pub const MAX_TIMESTAMP: usize = 35;
pub const PRODUCER_ID: usize = 43;
pub const PRODUCER_EPOCH: usize = 51;
pub const BASE_SEQUENCE: usize = 53;
pub const RECORD_COUNT: usize = 57;
/// Size of the header up to and including the record count.
pub const HEADER_BYTES: usize = 61;
/// Bytes before `batchLength` counts: baseOffset and batchLength itself.
pub const LOG_OVERHEAD: usize = 12;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("record batch of {0} bytes is shorter than the {HEADER_BYTES}-byte v2 header")]
    TooShort(usize),
    #[error("record batch declares {declared} bytes but {available} remain")]
    LengthMismatch { declared: usize, available: usize },
    #[error("record batch magic {0} is not supported (only v2)")]
    Magic(i8),
    #[error("record batch CRC {stored:#010x} does not match computed {computed:#010x}")]
    Crc { stored: u32, computed: u32 },
    #[error("record batch holds {count} records but lastOffsetDelta is {delta}")]
    Count { count: i32, delta: i32 },
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    TooLarge { size: usize, max: usize },
    #[error("produce request carries no record batch")]
    Empty,
    #[error("record batch is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Decode(#[from] super::codec::DecodeError),
}

/// The header fields of one v2 batch, read without touching its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// partitionLeaderEpoch: the leader epoch the batch was appended in.
    pub leader_epoch: i32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    /// Reads the header of a batch known to be at least `HEADER_BYTES` long.
    pub fn read(b: &[u8]) -> BatchHeader {
        debug_assert!(b.len() >= HEADER_BYTES);
        let i64_at = |o: usize| i64::from_be_bytes(b[o..o + 8].try_into().unwrap());
        let i32_at = |o: usize| i32::from_be_bytes(b[o..o + 4].try_into().unwrap());
        let i16_at = |o: usize| i16::from_be_bytes(b[o..o + 2].try_into().unwrap());
        BatchHeader {
            base_offset: i64_at(BASE_OFFSET),
            leader_epoch: i32_at(LEADER_EPOCH),
            attributes: i16_at(ATTRIBUTES),
            last_offset_delta: i32_at(LAST_OFFSET_DELTA),
            base_timestamp: i64_at(BASE_TIMESTAMP),
            max_timestamp: i64_at(MAX_TIMESTAMP),
            producer_id: i64_at(PRODUCER_ID),
            producer_epoch: i16_at(PRODUCER_EPOCH),
            base_sequence: i32_at(BASE_SEQUENCE),
            record_count: i32_at(RECORD_COUNT),
        }
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }

    /// Sequence number of the last record, wrapping at i32::MAX as Kafka does.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = self.base_sequence as i64 + self.last_offset_delta as i64;
        if last > i32::MAX as i64 { (last - i32::MAX as i64 - 1) as i32 } else { last as i32 }
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }

    /// Compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn codec(&self) -> i16 {
        self.attributes & 0x07
    }

    pub fn log_append_time(&self) -> bool {
        self.attributes & 0x08 != 0
    }
}

/// The codec a topic's compression.type asks for; None for "producer" (keep the client's).
pub fn topic_codec(compression_type: &str) -> Option<kafka_protocol::records::Compression> {
    use kafka_protocol::records::Compression;
    match compression_type {
        "uncompressed" => Some(Compression::None),
        "gzip" => Some(Compression::Gzip),
        "snappy" => Some(Compression::Snappy),
        "lz4" => Some(Compression::Lz4),
        "zstd" => Some(Compression::Zstd),
        _ => None,
    }
}

/// Rewrites a validated batch with another codec, as Kafka does when a topic's compression.type
/// differs from the producer's: the records, offsets, timestamps, producer id, epoch and
/// sequence stay; only the compression changes. A batch already in `target` is returned as is.
pub fn recompress(raw: &Bytes, target: kafka_protocol::records::Compression) -> Result<Bytes, BatchError> {
    use kafka_protocol::records::{Compression, RecordBatchEncoder, RecordEncodeOptions};
    let h = BatchHeader::read(raw);
    let codec = match target {
        Compression::None => 0,
        Compression::Gzip => 1,
        Compression::Snappy => 2,
        Compression::Lz4 => 3,
        Compression::Zstd => 4,
    };
    if h.codec() == codec || h.is_control() {
        return Ok(raw.clone());
    }
    let set = super::codec::decode(raw, super::codec::DECOMPRESSED_BYTES_MAX)?;
    let mut out = BytesMut::with_capacity(raw.len());
    RecordBatchEncoder::encode(&mut out, set.records.iter(), &RecordEncodeOptions { version: 2, compression: target })
        .map_err(|e| BatchError::Corrupt(format!("cannot re-encode: {e}")))?;
    Ok(out.freeze())
}

/// Splits a produce request's `records` into validated batches. Each returned batch is a
/// zero-copy slice of the request.
pub fn split_and_validate(records: &Bytes, max_batch_bytes: usize) -> Result<Vec<(BatchHeader, Bytes)>, BatchError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < records.len() {
        let rest = &records[pos..];
        if rest.len() < HEADER_BYTES {
            return Err(BatchError::TooShort(rest.len()));
        }
        let magic = rest[MAGIC] as i8;
        if magic != 2 {
            return Err(BatchError::Magic(magic));
        }
        let declared = i32::from_be_bytes(rest[LENGTH..LENGTH + 4].try_into().unwrap());
        if declared < (HEADER_BYTES - LOG_OVERHEAD) as i32 {
            return Err(BatchError::TooShort(declared.max(0) as usize + LOG_OVERHEAD));
        }
        let size = declared as usize + LOG_OVERHEAD;
        if size > rest.len() {
            return Err(BatchError::LengthMismatch { declared: size, available: rest.len() });
        }
        if size > max_batch_bytes {
            return Err(BatchError::TooLarge { size, max: max_batch_bytes });
        }
        let batch = &rest[..size];
        let stored = u32::from_be_bytes(batch[CRC..CRC + 4].try_into().unwrap());
        let computed = crc32c::crc32c(&batch[ATTRIBUTES..]);
        if stored != computed {
            return Err(BatchError::Crc { stored, computed });
        }
        let header = BatchHeader::read(batch);
        if header.record_count < 0
            || header.last_offset_delta < 0
            || header.record_count != header.last_offset_delta + 1
        {
            return Err(BatchError::Count { count: header.record_count, delta: header.last_offset_delta });
        }
        out.push((header, records.slice(pos..pos + size)));
        pos += size;
    }
    if out.is_empty() {
        return Err(BatchError::Empty);
    }
    Ok(out)
}

/// Returns a copy of `batch` with baseOffset and partitionLeaderEpoch rewritten. Both lie
/// outside the CRC, so the checksum stays valid.
pub fn with_offset(batch: &[u8], base_offset: i64, leader_epoch: i32) -> Bytes {
    let mut out = BytesMut::with_capacity(batch.len());
    out.put_i64(base_offset);
    out.put_slice(&batch[LENGTH..LEADER_EPOCH]);
    out.put_i32(leader_epoch);
    out.put_slice(&batch[MAGIC..]);
    out.freeze()
}

/// Rewrites maxTimestamp for LogAppendTime topics. This field is inside the CRC, so the CRC is
/// recomputed.
pub fn set_log_append_time(batch: &mut [u8], time_ms: i64) {
    batch[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&time_ms.to_be_bytes());
    let attrs = i16::from_be_bytes(batch[ATTRIBUTES..ATTRIBUTES + 2].try_into().unwrap()) | 0x08;
    batch[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES..]);
    batch[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// A transaction marker: a control batch whose one record says commit or abort (Kafka's
/// EndTransactionMarker: key = version 0 + type, value = version 0 + coordinator epoch).
pub fn control_batch(producer_id: i64, epoch: i16, commit: bool, coordinator_epoch: i32, offset: i64) -> Bytes {
    use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
    let mut key = BytesMut::with_capacity(4);
    key.put_i16(0);
    key.put_i16(if commit { 1 } else { 0 });
    let mut value = BytesMut::with_capacity(6);
    value.put_i16(0);
    value.put_i32(coordinator_epoch);
    let now = crate::now_ms();
    let record = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id,
        producer_epoch: epoch,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: -1,
        timestamp: now,
        key: Some(key.freeze()),
        value: Some(value.freeze()),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [&record],
        &RecordEncodeOptions { version: 2, compression: Compression::None },
    )
    .expect("a control batch always encodes");
    buf.freeze()
}

/// Whether a control batch is a commit marker (Some(true)), an abort marker (Some(false)), or
/// neither (another control record, or one that does not decode).
pub fn marker_commits(batch: &Bytes) -> Option<bool> {
    let mut buf = batch.clone();
    let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buf).ok()?;
    let record = sets.into_iter().flat_map(|s| s.records).next()?;
    let key = record.key.filter(|k| k.len() >= 4)?;
    match i16::from_be_bytes([key[2], key[3]]) {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

/// Reads back a batch the store holds under `base`: its size, magic, declared length and base
/// offset must be what was written and, with `check_crc`, its CRC must match (recovery, the
/// cleaner and look-ups inside a batch check it; fetches rely on RocksDB's block and blob
/// checksums). A batch that fails is reported as corrupt and never served.
pub fn read_back(value: &[u8], base: i64, check_crc: bool) -> Result<BatchHeader, super::store::StoreError> {
    let corrupt =
        |what: String| Err(super::store::StoreError::Corrupt(format!("stored batch at offset {base}: {what}")));
    if value.len() < HEADER_BYTES {
        return corrupt(format!("{} bytes, shorter than a batch header", value.len()));
    }
    let h = BatchHeader::read(value);
    let declared = i32::from_be_bytes(value[LENGTH..LENGTH + 4].try_into().expect("4 bytes"));
    if value[MAGIC] != 2 || declared < 0 || declared as usize + LOG_OVERHEAD != value.len() {
        return corrupt(format!("magic {} and length {declared} for {} bytes", value[MAGIC] as i8, value.len()));
    }
    if h.base_offset != base || h.last_offset_delta < 0 {
        return corrupt(format!("header says offsets {}+{}", h.base_offset, h.last_offset_delta));
    }
    if check_crc {
        let (stored, computed) = (
            u32::from_be_bytes(value[CRC..CRC + 4].try_into().expect("4 bytes")),
            crc32c::crc32c(&value[ATTRIBUTES..]),
        );
        if stored != computed {
            return corrupt(format!("CRC {stored:#010x}, computed {computed:#010x}"));
        }
    }
    Ok(h)
}

/// Reads the header of a batch about to be stored, which the produce path validated (or the
/// broker wrote), asserting it is one.
pub fn stored_header(value: &[u8]) -> BatchHeader {
    assert!(value.len() >= HEADER_BYTES, "stored batch of {} bytes is shorter than a header", value.len());
    BatchHeader::read(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

    pub fn encode(n: usize, compression: Compression) -> Bytes {
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: 7,
                producer_epoch: 0,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32,
                timestamp: 1000 + i as i64,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(format!("v{i}"))),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        let opts = RecordEncodeOptions { version: 2, compression };
        RecordBatchEncoder::encode(&mut buf, records.iter(), &opts).unwrap();
        buf.freeze()
    }

    #[test]
    fn recompression_keeps_records_offsets_and_producer_fields() {
        use kafka_protocol::records::RecordBatchDecoder;
        let raw = encode(5, Compression::Lz4);
        let gz = recompress(&raw, Compression::Gzip).unwrap();
        let (h0, h1) = (BatchHeader::read(&raw), BatchHeader::read(&gz));
        assert_eq!(h1.codec(), 1);
        assert_eq!(
            (h1.record_count, h1.last_offset_delta, h1.producer_id, h1.base_sequence, h1.max_timestamp),
            (h0.record_count, h0.last_offset_delta, h0.producer_id, h0.base_sequence, h0.max_timestamp)
        );
        assert!(split_and_validate(&gz, 1 << 20).is_ok(), "the rewritten batch has a valid CRC");
        let a = RecordBatchDecoder::decode(&mut raw.clone()).unwrap().records;
        let b = RecordBatchDecoder::decode(&mut gz.clone()).unwrap().records;
        assert_eq!(a, b);
        let plain = recompress(&gz, Compression::None).unwrap();
        assert_eq!(BatchHeader::read(&plain).codec(), 0);
        assert_eq!(recompress(&plain, Compression::None).unwrap(), plain, "same codec: untouched");
    }

    #[test]
    fn reading_back_checks_size_offset_and_crc() {
        let b = with_offset(&encode(3, Compression::None), 40, 0);
        assert_eq!(read_back(&b, 40, true).unwrap().last_offset(), 42);
        let mut flipped = b.to_vec();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x20;
        assert!(read_back(&flipped, 40, false).is_ok(), "without the CRC check a record byte is not looked at");
        let err = read_back(&flipped, 40, true).unwrap_err().to_string();
        assert!(err.contains("offset 40") && err.contains("CRC"), "{err}");
        assert!(read_back(&b, 41, false).is_err(), "stored under another offset");
        assert!(read_back(&b[..b.len() - 1], 40, false).is_err(), "one byte short");
        assert!(read_back(&b[..HEADER_BYTES - 1], 40, false).is_err(), "shorter than a header");
        let mut magic = b.to_vec();
        magic[MAGIC] = 1;
        assert!(read_back(&magic, 40, false).is_err(), "magic 1");
    }

    #[test]
    fn valid_batch_passes_and_header_is_read() {
        let b = encode(3, Compression::None);
        let batches = split_and_validate(&b, 1 << 20).unwrap();
        assert_eq!(batches.len(), 1);
        let h = batches[0].0;
        assert_eq!((h.record_count, h.last_offset_delta, h.producer_id, h.base_sequence), (3, 2, 7, 0));
        assert_eq!(h.max_timestamp, 1002);
        assert_eq!(h.last_sequence(), 2);
    }

    #[test]
    fn corrupt_crc_is_refused() {
        let mut b = BytesMut::from(&encode(2, Compression::Gzip)[..]);
        let last = b.len() - 1;
        b[last] ^= 0xff;
        assert!(matches!(split_and_validate(&b.freeze(), 1 << 20), Err(BatchError::Crc { .. })));
    }

    #[test]
    fn truncated_and_oversize_batches_are_refused() {
        let b = encode(5, Compression::None);
        let cut = b.slice(..b.len() - 3);
        assert!(matches!(split_and_validate(&cut, 1 << 20), Err(BatchError::LengthMismatch { .. })));
        assert!(matches!(split_and_validate(&b, 10), Err(BatchError::TooLarge { .. })));
        assert!(matches!(split_and_validate(&Bytes::new(), 10), Err(BatchError::Empty)));
    }

    #[test]
    fn offset_rewrite_keeps_crc_valid() {
        let b = encode(4, Compression::Lz4);
        let moved = with_offset(&b, 1234, 9);
        let v = split_and_validate(&moved, 1 << 20).unwrap();
        assert_eq!(v[0].0.base_offset, 1234);
        assert_eq!(v[0].0.last_offset(), 1237);
        let mut m = BytesMut::from(&moved[..]);
        set_log_append_time(&mut m, 42);
        let v = split_and_validate(&m.freeze(), 1 << 20).unwrap();
        assert_eq!(v[0].0.max_timestamp, 42);
        assert!(v[0].0.log_append_time());
    }
}
