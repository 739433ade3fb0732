//! The fuzz targets' bodies: each takes the fuzzer's bytes to one of gregor's entry points for
//! untrusted input, as the broker calls it, and checks what must hold whatever the bytes.
//!
//! - `frame`: a connection's byte stream through the frame reader, each frame through the
//!   header and request decoders and the versions table.
//! - `request`: one request frame handled by an in-process broker on a temporary store.
//! - `batch`: a produce request's records through batch validation, bounded decompression and
//!   recompression to another codec.
//! - `compaction`: validated batches through one cleaning pass.
//! - `config`: a server.properties file through the properties parser and `Config`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gregor::log::batch::{self, BatchHeader};
use gregor::log::codec;
use gregor::log::compaction::{self, CompactionSettings, StoredBatch};
use gregor::protocol::frame::{FrameLimits, QueuedBytes, read_frame};
use gregor::server::dispatch;
use kafka_protocol::messages::RequestKind;
use kafka_protocol::records::Compression;

thread_local! {
    static RUNTIME: tokio::runtime::Runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
}

/// Up to 64 frames of a connection's stream, each decoded as the broker decodes it.
pub fn frame(data: &[u8]) {
    let limits = FrameLimits {
        request_bytes_max: 1 << 20,
        idle: Duration::from_secs(1),
        read_timeout: Duration::from_secs(1),
        queued: Some(QueuedBytes::new(4 << 20)),
    };
    RUNTIME.with(|rt| {
        rt.block_on(async {
            let mut input = data;
            for _ in 0..64 {
                match read_frame(&mut input, &limits).await {
                    Ok(Some(f)) => {
                        let _ = dispatch::decode(&f.bytes, false);
                    }
                    Ok(None) | Err(_) => break,
                }
            }
        })
    });
    assert_eq!(limits.queued.as_ref().map(|q| q.available()), Some(4 << 20), "every frame gave its bytes back");
}

/// An in-process broker on a temporary store, started once per fuzzing process. Its runtime has
/// worker threads of its own, so the broker's background tasks keep running between inputs.
struct InProcess {
    runtime: tokio::runtime::Runtime,
    broker: Arc<gregor::Broker>,
    _dir: tempfile::TempDir,
}

fn in_process() -> &'static InProcess {
    static BROKER: OnceLock<InProcess> = OnceLock::new();
    BROKER.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary data directory");
        let overrides = vec![
            format!("log.dirs={}", dir.path().display()),
            "listeners=PLAINTEXT://127.0.0.1:0".to_string(),
            "group.initial.rebalance.delay.ms=0".to_string(),
            "offsets.topic.num.partitions=2".to_string(),
            "transaction.state.log.num.partitions=2".to_string(),
        ];
        let config = gregor::Config::load(None, &overrides).expect("fuzz config");
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let broker = runtime.block_on(gregor::Broker::start(config)).expect("broker starts");
        InProcess { runtime, broker, _dir: dir }
    })
}

/// How long one request may take before the next input: a long poll or a rebalance wait the
/// bytes asked for goes on in the background, as it would for a client that hung up.
const REQUEST_WAIT: Duration = Duration::from_millis(200);

/// One request frame (header and body, no size prefix) handled by the broker.
pub fn request(data: &[u8]) {
    let b = in_process();
    let frame = Bytes::copy_from_slice(data);
    let broker = b.broker.clone();
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 40000));
    let handled = b.runtime.spawn(async move { dispatch::handle(&broker, frame, peer, false).await });
    let _ = b.runtime.block_on(async { tokio::time::timeout(REQUEST_WAIT, handled).await });
}

/// Flags in the first byte of the `batch` and `compaction` inputs: recompute each batch's CRC
/// (so mutations reach the records instead of stopping at the checksum), and read the rest as
/// a Produce request frame, as recorded from a real client, instead of bare records.
const FIX_CRC: u8 = 1;
const PRODUCE_FRAME: u8 = 0x80;

/// The records areas an input holds: every partition's of a Produce frame, or the bytes as one.
fn records(flags: u8, rest: &[u8]) -> Vec<Bytes> {
    if flags & PRODUCE_FRAME != 0 {
        let Ok(dispatch::Decoded::Request { request: RequestKind::Produce(p), .. }) =
            dispatch::decode(&Bytes::copy_from_slice(rest), false)
        else {
            return Vec::new();
        };
        return p.topic_data.into_iter().flat_map(|t| t.partition_data).filter_map(|p| p.records).collect();
    }
    let mut b = BytesMut::from(rest);
    if flags & FIX_CRC != 0 {
        let mut pos = 0usize;
        while pos + batch::HEADER_BYTES <= b.len() {
            let declared = i32::from_be_bytes(b[pos + batch::LENGTH..pos + batch::LENGTH + 4].try_into().unwrap());
            let Some(end) = usize::try_from(declared).ok().and_then(|d| pos.checked_add(d + batch::LOG_OVERHEAD))
            else {
                break;
            };
            if end > b.len() || end < pos + batch::HEADER_BYTES {
                break;
            }
            let crc = crc32c::crc32c(&b[pos + batch::ATTRIBUTES..end]);
            b[pos + batch::CRC..pos + batch::CRC + 4].copy_from_slice(&crc.to_be_bytes());
            pos = end;
        }
    }
    vec![b.freeze()]
}

const CODECS: [Compression; 5] =
    [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

/// Produce-path checks on the records, then decoding and recompression of each valid batch:
/// a recompressed batch is valid and holds the same records.
pub fn batch(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else { return };
    for records in records(flags, rest) {
        batches_of(flags, &records);
    }
}

fn batches_of(flags: u8, records: &Bytes) {
    let Ok(batches) = batch::split_and_validate(records, 1 << 20) else { return };
    for (i, (header, raw)) in batches.iter().enumerate() {
        assert_eq!(BatchHeader::read(raw), *header);
        let Ok(set) = codec::decode(raw, 1 << 20) else { continue };
        assert_eq!(set.records.len(), header.record_count as usize, "a decoded batch holds its count");
        let target = CODECS[(flags as usize >> 1).wrapping_add(i) % CODECS.len()];
        let Ok(again) = batch::recompress(raw, target) else { continue };
        let valid = batch::split_and_validate(&again, usize::MAX).expect("a recompressed batch is valid");
        assert_eq!(valid.len(), 1, "recompression makes one batch");
        let set2 = codec::decode(&again, codec::DECOMPRESSED_BYTES_MAX).expect("a recompressed batch decodes");
        assert_eq!(set.records.len(), set2.records.len(), "recompression keeps every record");
        for (a, b) in set.records.iter().zip(&set2.records) {
            assert_eq!((a.offset, &a.key, &a.value, a.timestamp), (b.offset, &b.key, &b.value, b.timestamp));
        }
    }
}

/// One cleaning pass over the valid batches of the input, laid out at dense offsets. Whatever
/// the pass keeps is a valid batch of the offsets it replaces.
pub fn compaction(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else { return };
    // A log of every records area of the input, one after the other.
    let batches: Vec<(BatchHeader, Bytes)> = records(flags, rest)
        .iter()
        .filter_map(|r| batch::split_and_validate(r, 1 << 20).ok())
        .flatten()
        .collect();
    let mut offset = 0i64;
    let mut stored = Vec::new();
    for (h, raw) in &batches {
        let bytes = batch::with_offset(raw, offset, 0);
        stored.push(StoredBatch { header: BatchHeader { base_offset: offset, ..*h }, bytes });
        offset += h.last_offset_delta as i64 + 1;
    }
    let settings = CompactionSettings {
        segment_bytes: 1 << 30,
        segment_ms: i64::MAX,
        min_compaction_lag_ms: 0,
        max_compaction_lag_ms: i64::MAX,
        delete_retention_ms: if flags & 2 != 0 { 0 } else { 86_400_000 },
        min_cleanable_ratio: 0.5,
    };
    let Ok(pass) = compaction::clean_pass(&stored, offset, 1_800_000_000_000, &settings, &[]) else { return };
    for (base, replacement) in &pass.changes {
        assert!((0..offset).contains(base), "change at {base} outside the log");
        if let Some(r) = replacement {
            // A cleaned batch keeps its lastOffsetDelta with fewer records (as Kafka's cleaner
            // does), so only its length, magic and CRC are checked, not the produce-path count rule.
            assert!(r.len() >= batch::HEADER_BYTES, "a cleaned batch has a header");
            let stored = u32::from_be_bytes(r[batch::CRC..batch::CRC + 4].try_into().unwrap());
            assert_eq!(stored, crc32c::crc32c(&r[batch::ATTRIBUTES..]), "a cleaned batch's CRC holds");
            let h = BatchHeader::read(r);
            assert!(h.base_offset >= *base && h.last_offset() < offset, "cleaned batch stays in its offsets");
        }
    }
}

/// A server.properties file: parsed, then turned into a `Config` or a clear error.
pub fn config(data: &[u8]) {
    let Ok(props) = gregor::config::parse_properties(data) else { return };
    if let Err(e) = gregor::Config::from_props(&props) {
        assert!(!e.to_string().is_empty());
    }
}
