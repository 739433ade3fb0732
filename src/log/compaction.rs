//! Compaction (cleanup.policy=compact): in the cleanable part of a log, only the last record of
//! each key survives; offsets never change; tombstones (null values) are kept for
//! delete.retention.ms and then dropped. The head of the log (what Kafka keeps in its active
//! segment: newer than segment.ms or within the last segment.bytes, and anything within
//! min.compaction.lag.ms or at or past the last stable offset) is never touched.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, RecordBatchEncoder, RecordEncodeOptions};

use super::batch::{self, BatchHeader};
use super::store::BatchMeta;

/// Settings of one topic that steer its cleaning.
#[derive(Debug, Clone, Copy)]
pub struct CompactionSettings {
    pub segment_bytes: i64,
    pub segment_ms: i64,
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
    pub delete_retention_ms: i64,
    /// min.cleanable.dirty.ratio: the share of the cleanable part not yet cleaned that makes a
    /// pass worth its reading.
    pub min_cleanable_ratio: f64,
}

/// One stored batch as the cleaner sees it.
#[derive(Debug, Clone)]
pub struct StoredBatch {
    pub header: BatchHeader,
    pub bytes: Bytes,
}

/// Where cleaning stops: the first offset of the head that is never compacted.
pub fn cleanable_end(batches: &[BatchMeta], last_stable: i64, now_ms: i64, s: &CompactionSettings) -> i64 {
    let mut end = last_stable;
    // The "active segment": the newest batches within segment.bytes and younger than segment.ms
    // (Kafka rolls a segment when either limit is passed).
    let mut head_bytes = 0i64;
    for b in batches.iter().rev() {
        head_bytes += b.size as i64;
        let age = now_ms.saturating_sub(b.max_timestamp);
        if head_bytes <= s.segment_bytes && age < s.segment_ms {
            end = end.min(b.base_offset);
        } else {
            break;
        }
    }
    // Nothing younger than min.compaction.lag.ms is cleaned.
    if let Some(b) = batches.iter().find(|b| now_ms.saturating_sub(b.max_timestamp) < s.min_compaction_lag_ms) {
        end = end.min(b.base_offset);
    }
    end
}

/// Whether a pass is worth running, as Kafka's cleaner picks a log: the part cleaned since the
/// last pass (from `cleaned_to` up to `end`) is at least min.cleanable.dirty.ratio of the
/// cleanable part, or its oldest batch has waited max.compaction.lag.ms; or a tombstone the
/// last pass kept has reached delete.retention.ms (`tombstones_expire_at`).
pub fn is_due(
    batches: &[BatchMeta],
    cleaned_to: i64,
    end: i64,
    tombstones_expire_at: i64,
    now_ms: i64,
    s: &CompactionSettings,
) -> bool {
    if now_ms >= tombstones_expire_at {
        return true;
    }
    let (mut clean, mut dirty, mut oldest_dirty) = (0u64, 0u64, None);
    for b in batches.iter().filter(|b| b.last_offset < end) {
        if b.base_offset < cleaned_to {
            clean += b.size as u64;
        } else {
            dirty += b.size as u64;
            oldest_dirty.get_or_insert(b.max_timestamp);
        }
    }
    if dirty == 0 {
        return false;
    }
    dirty as f64 / (clean + dirty) as f64 >= s.min_cleanable_ratio
        || oldest_dirty.is_some_and(|ts| now_ms.saturating_sub(ts) >= s.max_compaction_lag_ms)
}

/// A change to one stored batch: its base offset, and its replacement (None: delete it).
pub type Change = (i64, Option<Bytes>);

/// What one pass changes, and when the first tombstone it kept may go.
#[derive(Debug, Default)]
pub struct Pass {
    pub changes: Vec<Change>,
    pub tombstones_expire_at: Option<i64>,
}

/// Why a cleaning pass stopped: a stored batch that does not decode, or a cleaned one that does
/// not encode.
#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    #[error("batch at {base_offset}: {source}")]
    Decode { base_offset: i64, source: super::codec::DecodeError },
    #[error("re-encoding batch at {base_offset}: {message}")]
    Encode { base_offset: i64, message: String },
}

/// The batches before `end` that cleaning changes (the others stay as they are), and when the
/// first tombstone kept reaches delete.retention.ms. A replacement may live under a later base
/// offset when its first records were removed. Data batches of the partition's `aborted`
/// transactions are dropped (as Kafka's cleaner does), committed transactional records are
/// compacted like any others, and control batches (markers) stay.
pub fn clean_pass(
    batches: &[StoredBatch],
    end: i64,
    now_ms: i64,
    s: &CompactionSettings,
    aborted: &[crate::log::store::AbortedTxn],
) -> Result<Pass, CleanError> {
    let cleanable: Vec<&StoredBatch> = batches.iter().filter(|b| b.header.last_offset() < end).collect();
    let Scan { last, decoded, mut changes } = scan(&cleanable, aborted)?;
    let mut expiry: Option<i64> = None;
    for (b, set) in cleanable.iter().zip(decoded) {
        let Some(set) = set else { continue };
        let tombstone_expired = now_ms.saturating_sub(b.header.max_timestamp) > s.delete_retention_ms;
        let keep: Vec<_> = set
            .records
            .iter()
            .filter(|r| match &r.key {
                // Keyless records cannot be compacted; Kafka refuses them on compacted topics.
                None => true,
                Some(k) => last.get(k) == Some(&r.offset) && !(r.value.is_none() && tombstone_expired),
            })
            .cloned()
            .collect();
        if keep.iter().any(|r| r.value.is_none() && r.key.is_some()) {
            let at = b.header.max_timestamp.saturating_add(s.delete_retention_ms).saturating_add(1);
            expiry = Some(expiry.map_or(at, |e| e.min(at)));
        }
        if keep.len() == set.records.len() {
            continue;
        }
        let replacement = if keep.is_empty() { None } else { Some(rebuild(&b.header, keep)?) };
        changes.push((b.header.base_offset, replacement));
    }
    Ok(Pass { changes, tombstones_expire_at: expiry })
}

/// The first pass over the cleanable batches: the last offset of every key, each batch's
/// records (None for control batches and dropped ones), and the batches of aborted
/// transactions to delete.
struct Scan {
    last: HashMap<Bytes, i64>,
    decoded: Vec<Option<kafka_protocol::records::RecordSet>>,
    changes: Vec<Change>,
}

fn scan(cleanable: &[&StoredBatch], aborted: &[crate::log::store::AbortedTxn]) -> Result<Scan, CleanError> {
    let is_aborted = |h: &BatchHeader| {
        h.is_transactional()
            && aborted.iter().any(|a| {
                a.producer_id == h.producer_id && a.first_offset <= h.base_offset && h.base_offset <= a.last_offset
            })
    };
    let mut scan = Scan { last: HashMap::new(), decoded: Vec::with_capacity(cleanable.len()), changes: Vec::new() };
    for b in cleanable {
        if b.header.is_control() {
            scan.decoded.push(None);
            continue;
        }
        if is_aborted(&b.header) {
            scan.changes.push((b.header.base_offset, None));
            scan.decoded.push(None);
            continue;
        }
        let set = super::codec::decode(&b.bytes, super::codec::DECOMPRESSED_BYTES_MAX)
            .map_err(|source| CleanError::Decode { base_offset: b.header.base_offset, source })?;
        for r in &set.records {
            if let Some(k) = &r.key {
                scan.last.insert(k.clone(), r.offset);
            }
        }
        scan.decoded.push(Some(set));
    }
    Ok(scan)
}

/// One batch of the records `keep` of the batch `h`, in its codec: offsets stay, and sequences
/// follow the offsets so that the records stay one batch.
fn rebuild(h: &BatchHeader, keep: Vec<kafka_protocol::records::Record>) -> Result<Bytes, CleanError> {
    let first = keep[0].offset;
    let base_seq = if h.base_sequence < 0 { -1 } else { h.base_sequence + (first - h.base_offset) as i32 };
    let records: Vec<_> = keep
        .into_iter()
        .map(|mut r| {
            r.sequence =
                if base_seq < 0 { (r.offset - first) as i32 - 1 } else { base_seq + (r.offset - first) as i32 };
            r
        })
        .collect();
    let compression = match h.codec() {
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        4 => Compression::Zstd,
        _ => Compression::None,
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, records.iter(), &RecordEncodeOptions { version: 2, compression })
        .map_err(|e| CleanError::Encode { base_offset: h.base_offset, message: e.to_string() })?;
    let rebuilt = buf.freeze();
    // A cleaned batch has gaps (fewer records than its offset span), as Kafka's do, so the
    // produce-time count check does not apply.
    let out = batch::BatchHeader::read(&rebuilt);
    assert_eq!(out.base_offset, first, "a cleaned batch keeps its records' offsets");
    assert_eq!(out.record_count as usize, records.len(), "a cleaned batch is one batch");
    Ok(rebuilt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::{Record, RecordBatchDecoder, TimestampType};

    fn stored(base: i64, kvs: &[(&str, Option<&str>)], ts: i64) -> StoredBatch {
        batch_of(base, None, kvs, ts)
    }

    /// A transactional batch of producer `pid`.
    fn stored_txn(base: i64, pid: i64, kvs: &[(&str, &str)]) -> StoredBatch {
        let kvs: Vec<(&str, Option<&str>)> = kvs.iter().map(|(k, v)| (*k, Some(*v))).collect();
        batch_of(base, Some(pid), &kvs, 0)
    }

    fn batch_of(base: i64, txn_producer: Option<i64>, kvs: &[(&str, Option<&str>)], ts: i64) -> StoredBatch {
        let records: Vec<Record> = kvs
            .iter()
            .enumerate()
            .map(|(i, (k, v))| Record {
                transactional: txn_producer.is_some(),
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: txn_producer.unwrap_or(-1),
                producer_epoch: if txn_producer.is_some() { 0 } else { -1 },
                timestamp_type: TimestampType::Creation,
                offset: base + i as i64,
                sequence: if txn_producer.is_some() { i as i32 } else { i as i32 - 1 },
                timestamp: ts,
                key: Some(Bytes::copy_from_slice(k.as_bytes())),
                value: v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            records.iter(),
            &RecordEncodeOptions { version: 2, compression: Compression::Lz4 },
        )
        .unwrap();
        let bytes = buf.freeze();
        StoredBatch { header: BatchHeader::read(&bytes), bytes }
    }

    fn settings() -> CompactionSettings {
        CompactionSettings {
            segment_bytes: 1 << 20,
            segment_ms: 1000,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 5000,
            min_cleanable_ratio: 0.5,
        }
    }

    fn clean(
        batches: &[StoredBatch],
        end: i64,
        now_ms: i64,
        s: &CompactionSettings,
    ) -> Result<Vec<Change>, CleanError> {
        clean_with_aborted(batches, end, now_ms, s, &[])
    }

    fn clean_with_aborted(
        batches: &[StoredBatch],
        end: i64,
        now_ms: i64,
        s: &CompactionSettings,
        aborted: &[crate::log::store::AbortedTxn],
    ) -> Result<Vec<Change>, CleanError> {
        clean_pass(batches, end, now_ms, s, aborted).map(|p| p.changes)
    }

    fn metas(log: &[StoredBatch]) -> Vec<BatchMeta> {
        log.iter().map(|b| BatchMeta::of(b.header.base_offset, &b.bytes)).collect()
    }

    #[test]
    fn a_pass_waits_for_enough_dirt_or_a_deadline() {
        let meta =
            |base: i64, size: u32, ts: i64| BatchMeta { base_offset: base, last_offset: base, max_timestamp: ts, size };
        let log = [meta(0, 600, 0), meta(1, 300, 0), meta(2, 100, 0), meta(3, 100, 9_000)];
        let s = settings();
        let due = |cleaned_to, expire_at, now, s: &CompactionSettings| is_due(&log, cleaned_to, 3, expire_at, now, s);
        assert!(due(0, i64::MAX, 1_000, &s), "never cleaned: all of it is dirty");
        assert!(!due(3, i64::MAX, 1_000, &s), "nothing new below the head");
        assert!(!due(2, i64::MAX, 1_000, &s), "100 of 1000 bytes is under the 0.5 ratio");
        assert!(!due(1, i64::MAX, 1_000, &s), "400 of 1000 bytes is still under it");
        let lower = CompactionSettings { min_cleanable_ratio: 0.4, ..s };
        assert!(due(1, i64::MAX, 1_000, &lower));
        assert!(!due(2, i64::MAX, 1_000, &lower));
        let lagging = CompactionSettings { max_compaction_lag_ms: 500, ..s };
        assert!(due(2, i64::MAX, 1_000, &lagging), "the dirty batch waited past max.compaction.lag.ms");
        assert!(due(3, 900, 1_000, &s), "a kept tombstone expired");
    }

    fn decode(b: &Bytes) -> Vec<(i64, String, Option<String>)> {
        let mut buf = b.clone();
        RecordBatchDecoder::decode(&mut buf)
            .unwrap()
            .records
            .into_iter()
            .map(|r| {
                let v = r.value.map(|v| String::from_utf8(v.to_vec()).unwrap());
                (r.offset, String::from_utf8(r.key.unwrap().to_vec()).unwrap(), v)
            })
            .collect()
    }

    #[test]
    fn last_value_per_key_survives_with_its_offset() {
        let log = vec![
            stored(0, &[("a", Some("1")), ("b", Some("1")), ("a", Some("2"))], 0),
            stored(3, &[("c", Some("1")), ("b", None)], 0),
            stored(5, &[("a", Some("3"))], 9_000),
        ];
        let s = CompactionSettings { delete_retention_ms: 60_000, ..settings() };
        let end = cleanable_end(&metas(&log), 6, 9_500, &s);
        assert_eq!(end, 5, "the young last batch is the head");
        let plan = clean(&log, end, 9_500, &s).unwrap();
        assert_eq!(plan.len(), 1, "only the first batch changes (the tombstone is still within delete.retention.ms)");
        let (old_base, Some(bytes)) = &plan[0] else { panic!("rewrite expected") };
        assert_eq!(*old_base, 0);
        assert_eq!(decode(bytes), vec![(2, "a".to_string(), Some("2".to_string()))]);
    }

    #[test]
    fn aborted_transactions_go_and_committed_ones_compact_like_any_records() {
        use crate::log::store::AbortedTxn;
        let marker = |pid, commit, offset| {
            let bytes = crate::log::batch::control_batch(pid, 0, commit, 0, offset);
            StoredBatch { header: BatchHeader::read(&bytes), bytes }
        };
        let log = vec![
            stored_txn(0, 5, &[("a", "aborted"), ("b", "aborted")]),
            marker(5, false, 2),
            stored_txn(3, 5, &[("a", "committed")]),
            marker(5, true, 4),
            stored(5, &[("a", Some("plain"))], 0),
            stored_txn(6, 6, &[("c", "committed")]),
            marker(6, true, 7),
        ];
        let aborted = [AbortedTxn { first_offset: 0, producer_id: 5, last_offset: 2 }];
        let s = CompactionSettings { delete_retention_ms: 60_000, ..settings() };
        let plan = clean_with_aborted(&log, 8, 10_000, &s, &aborted).unwrap();
        let mut plan: Vec<(i64, bool)> = plan.into_iter().map(|(o, b)| (o, b.is_some())).collect();
        plan.sort();
        // The aborted batch goes; the committed "a" is superseded by the plain one; "c" and the
        // markers stay.
        assert_eq!(plan, vec![(0, false), (3, false)]);
        // Without the index the batch counts as data: only its superseded "a" would go.
        let blind = clean(&log, 8, 10_000, &s).unwrap();
        assert!(blind.iter().any(|(o, b)| *o == 0 && b.is_some()));
    }

    #[test]
    fn cleaned_batches_with_gaps_are_cleaned_again() {
        let s = CompactionSettings { delete_retention_ms: 60_000, ..settings() };
        let log = vec![stored(0, &[("b", Some("1")), ("a", Some("1")), ("c", Some("1")), ("a", Some("2"))], 0)];
        let plan = clean(&log, 4, 10_000, &s).unwrap();
        let (_, Some(once)) = &plan[0] else { panic!("rewrite expected") };
        let offsets: Vec<i64> = decode(once).into_iter().map(|(o, _, _)| o).collect();
        assert_eq!(offsets, vec![0, 2, 3], "offsets kept, with a gap");
        // The next pass sees the cleaned batch (3 records over 4 offsets) and a newer c.
        let log = vec![
            StoredBatch { header: BatchHeader::read(once), bytes: once.clone() },
            stored(4, &[("c", Some("2"))], 0),
        ];
        let plan = clean(&log, 5, 10_000, &s).unwrap();
        let (_, Some(twice)) = &plan[0] else { panic!("rewrite expected") };
        let kept: Vec<(i64, String)> = decode(twice).into_iter().map(|(o, k, _)| (o, k)).collect();
        assert_eq!(kept, vec![(0, "b".to_string()), (3, "a".to_string())]);
    }

    #[test]
    fn expired_tombstones_and_fully_superseded_batches_go() {
        let log = vec![
            stored(0, &[("a", Some("1"))], 0),
            stored(1, &[("a", None)], 0),
            stored(2, &[("b", Some("1"))], 0),
            stored(3, &[("z", Some("head"))], 100_000),
        ];
        let now = 100_000;
        let end = cleanable_end(&metas(&log), 4, now, &settings());
        assert_eq!(end, 3);
        let plan = clean(&log, end, now, &settings()).unwrap();
        assert_eq!(plan, vec![(0, None), (1, None)]);
        assert!(cleanable_end(&metas(&log), 1, now, &settings()) <= 1, "never past the last stable offset");
    }
}
