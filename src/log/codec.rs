//! Decoding the records of a v2 batch with a bound on what decompression may produce.
//!
//! The broker looks inside a batch only for compacted topics (keys), for a topic whose
//! compression.type differs from the producer's, for timestamp look-ups and for the cleaner. A
//! batch is the sender's bytes: a few kilobytes of zstd or gzip can claim gigabytes, so every
//! codec here stops at a limit instead of trusting the stream.

use std::cell::RefCell;
use std::io::Read;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::records::{Compression, RecordBatchDecoder, RecordSet};
use thiserror::Error;

/// The most bytes one batch may decompress to. Kafka streams records out of a compressed batch;
/// gregor decodes a batch whole, so it bounds the whole.
pub const DECOMPRESSED_BYTES_MAX: usize = 64 << 20;

/// xerial's snappy framing (what Kafka's Java client writes): an 8-byte magic, two 4-byte
/// versions, then blocks of a 4-byte length and a raw snappy block.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_BYTES: usize = 16;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record batch decompresses to more than {max} bytes")]
    TooLarge { max: usize },
    #[error("cannot decompress the {codec:?} records: {reason}")]
    Codec { codec: Compression, reason: String },
    #[error("cannot decode the record batch: {0}")]
    Batch(String),
}

/// Decodes one v2 batch (CRC checked by the decoder), decompressing its records into at most
/// `decompressed_bytes_max` bytes.
pub fn decode(raw: &Bytes, decompressed_bytes_max: usize) -> Result<RecordSet, DecodeError> {
    // The decoder takes an `Fn` returning anyhow; the cell carries the typed failure out.
    let failure = RefCell::new(None);
    let decompress_bounded = |records: &mut Bytes, codec: Compression| -> anyhow::Result<Bytes> {
        decompress(records, codec, decompressed_bytes_max).map_err(|e| {
            let msg = e.to_string();
            *failure.borrow_mut() = Some(e);
            anyhow::anyhow!(msg)
        })
    };
    let mut buf = raw.clone();
    let result = RecordBatchDecoder::decode_with_custom_compression(&mut buf, Some(decompress_bounded));
    result.map_err(|e| failure.take().unwrap_or_else(|| DecodeError::Batch(format!("{e:#}"))))
}

/// Decompresses the records area of a batch into at most `max` bytes.
pub fn decompress(records: &mut Bytes, codec: Compression, max: usize) -> Result<Bytes, DecodeError> {
    let input = records.split_to(records.len());
    let codec_err = |e: &dyn std::fmt::Display| DecodeError::Codec { codec, reason: e.to_string() };
    match codec {
        Compression::None => Ok(input),
        Compression::Gzip => read_bounded(flate2::read::GzDecoder::new(input.reader()), max, codec),
        Compression::Zstd => {
            let d = zstd::stream::read::Decoder::new(input.reader()).map_err(|e| codec_err(&e))?;
            read_bounded(d, max, codec)
        }
        Compression::Lz4 => {
            let d = lz4::Decoder::new(input.reader()).map_err(|e| codec_err(&e))?;
            read_bounded(d, max, codec)
        }
        Compression::Snappy => snappy(&input, max),
    }
}

/// Reads a decompressing stream to its end, failing once it passes `max` bytes.
fn read_bounded(r: impl Read, max: usize, codec: Compression) -> Result<Bytes, DecodeError> {
    let mut out = Vec::new();
    let read = r.take((max as u64).saturating_add(1)).read_to_end(&mut out);
    read.map_err(|e| DecodeError::Codec { codec, reason: e.to_string() })?;
    if out.len() > max {
        return Err(DecodeError::TooLarge { max });
    }
    Ok(Bytes::from(out))
}

/// Snappy in xerial framing, or one raw block as some clients send. Each block states its
/// decompressed length up front; that length is checked before anything is allocated.
fn snappy(input: &Bytes, max: usize) -> Result<Bytes, DecodeError> {
    let err = |e: &dyn std::fmt::Display| DecodeError::Codec { codec: Compression::Snappy, reason: e.to_string() };
    let mut out = BytesMut::new();
    let append_block = |block: &[u8], out: &mut BytesMut| -> Result<(), DecodeError> {
        let len = snap::raw::decompress_len(block).map_err(|e| err(&e))?;
        if out.len().saturating_add(len) > max {
            return Err(DecodeError::TooLarge { max });
        }
        let start = out.len();
        out.resize(start + len, 0);
        let n = snap::raw::Decoder::new().decompress(block, &mut out[start..]).map_err(|e| err(&e))?;
        out.truncate(start + n);
        Ok(())
    };
    if input.len() < XERIAL_HEADER_BYTES || &input[..XERIAL_MAGIC.len()] != XERIAL_MAGIC {
        append_block(input, &mut out)?;
        return Ok(out.freeze());
    }
    let mut rest = &input[XERIAL_HEADER_BYTES..];
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(err(&"truncated block length"));
        }
        let size = u32::from_be_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        let block = rest.get(4..4 + size).ok_or_else(|| err(&format!("block of {size} bytes is truncated")))?;
        append_block(block, &mut out)?;
        rest = &rest[4 + size..];
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

    fn batch(value_bytes: usize, records: usize, compression: Compression) -> Bytes {
        let records: Vec<Record> = (0..records as i64)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i,
                sequence: i as i32 - 1, // one batch: offset - sequence stays constant
                timestamp: 1_700_000_000_000,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(vec![b'z'; value_bytes])),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(&mut buf, records.iter(), &RecordEncodeOptions { version: 2, compression }).unwrap();
        buf.freeze()
    }

    #[test]
    fn every_codec_decodes_within_the_limit() {
        for c in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let set = decode(&batch(100, 5, c), 1 << 20).unwrap_or_else(|e| panic!("{c:?}: {e}"));
            assert_eq!(set.records.len(), 5, "{c:?}");
            assert_eq!(set.records[4].value.as_ref().unwrap().len(), 100, "{c:?}");
        }
    }

    #[test]
    fn a_batch_that_inflates_past_the_limit_is_refused() {
        // 4 MiB of one byte compresses to a few kilobytes in every codec.
        for c in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let b = batch(4 << 20, 1, c);
            assert!(b.len() < 256 << 10, "{c:?} compressed to {} bytes", b.len());
            match decode(&b, 1 << 20) {
                Err(DecodeError::TooLarge { max }) => assert_eq!(max, 1 << 20),
                other => panic!("{c:?}: expected TooLarge, got {other:?}"),
            }
            assert!(decode(&b, 8 << 20).is_ok(), "{c:?} within a larger limit");
        }
    }

    #[test]
    fn no_limit_at_all_still_decodes() {
        // The streaming codecs read up to `max + 1` bytes; with usize::MAX that sum once wrapped
        // to 0 and every zstd, gzip and lz4 batch read as empty (found by the fuzz batch target).
        for c in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let set = decode(&batch(10, 2, c), usize::MAX).unwrap_or_else(|e| panic!("{c:?}: {e}"));
            assert_eq!(set.records.len(), 2, "{c:?}");
        }
    }

    #[test]
    fn a_snappy_block_claiming_a_huge_length_is_refused_before_allocating() {
        // A raw snappy block starts with its decompressed length as a varint: claim 4 GiB - 1.
        let mut claim = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
        assert!(matches!(decompress(&mut claim, Compression::Snappy, 1 << 20), Err(DecodeError::TooLarge { .. })));
    }
}
