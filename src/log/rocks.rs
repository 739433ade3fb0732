//! RocksDB implementation of `Store`, and the one database a broker opens.
//!
//! Column families: `records` (uid ++ base offset -> batch), `batch_meta` (uid ++ base offset ->
//! last offset, max timestamp, size: what retention and look-ups need without reading a batch),
//! `partitions` (uid -> log start; uid ++ 'e' -> leader epochs), `producers` (uid ++ producer id -> entry) and the raft
//! families used by `cluster::raft`.
//! Keys are fixed-width big-endian so byte order is offset order.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use rocksdb::{
    ColumnFamilyDescriptor, CompactOptions, DB, DBCompressionType, Direction, IteratorMode, Options, WriteBatch,
    WriteOptions,
};

use super::batch;
use super::store::{AbortedTxn, AppendBatch, BatchMeta, Store, StoreError, Truncation};

pub const CF_RECORDS: &str = "records";
pub const CF_PARTITIONS: &str = "partitions";
pub const CF_PRODUCERS: &str = "producers";
pub const CF_RAFT_LOG: &str = "raft_log";
pub const CF_RAFT_META: &str = "raft_meta";
pub const CF_TXN_INDEX: &str = "txn_index";
pub const CF_BATCH_META: &str = "batch_meta";
const FAMILIES: &[&str] =
    &[CF_RECORDS, CF_PARTITIONS, CF_PRODUCERS, CF_RAFT_LOG, CF_RAFT_META, CF_TXN_INDEX, CF_BATCH_META];

/// Opens (creating if needed) the broker's database with all column families.
/// Batches at least this large are stored in blob files rather than in the LSM tree.
const BLOB_MIN_BYTES: u64 = 512;

pub fn open_db(path: &Path) -> Result<Arc<DB>, StoreError> {
    std::fs::create_dir_all(path).map_err(|e| StoreError::Io(format!("create {}: {e}", path.display())))?;
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.set_max_background_jobs(2);
    // Column families that see few writes (partitions, producers, raft) would otherwise pin every
    // write-ahead log file until they flush: past this total the oldest ones are flushed and the
    // logs recycled, which keeps the data directory bounded.
    opts.set_max_total_wal_size(256 << 20);
    // Hand written data to the kernel's writeback a megabyte at a time instead of in bursts.
    opts.set_bytes_per_sync(1 << 20);
    opts.set_wal_bytes_per_sync(1 << 20);
    let families = FAMILIES.iter().map(|name| {
        let mut o = Options::default();
        if *name == CF_RECORDS {
            // Batches arrive compressed by clients; recompressing costs CPU for nothing.
            o.set_compression_type(DBCompressionType::None);
            o.set_write_buffer_size(64 << 20);
            o.set_max_write_buffer_number(4);
            // Batches live in blob files and the LSM holds only their keys, so the compactions
            // that apply retention's range deletions rewrite keys, not data: a blob file is
            // deleted once every batch in it is gone, and GC moves the few survivors out of
            // the oldest files (compacted topics, long retention).
            o.set_enable_blob_files(true);
            o.set_min_blob_size(BLOB_MIN_BYTES);
            o.set_blob_file_size(64 << 20);
            o.set_enable_blob_gc(true);
            o.set_blob_gc_age_cutoff(0.25);
            o.set_blob_gc_force_threshold(0.5);
        }
        ColumnFamilyDescriptor::new(*name, o)
    });
    // A store written before `batch_meta` existed gets its metadata built once, here.
    let existing = DB::list_cf(&opts, path).unwrap_or_default();
    let build_meta = !existing.is_empty() && !existing.iter().any(|f| f == CF_BATCH_META);
    let db = DB::open_cf_descriptors(&opts, path, families).map_err(|e| open_error(path, e))?;
    if build_meta {
        index_stored_batches(&db)?;
    }
    Ok(Arc::new(db))
}

/// Why the store would not open, with what an operator can do about it. RocksDB's message
/// names the damaged or missing file.
fn open_error(path: &Path, e: rocksdb::Error) -> StoreError {
    match e.kind() {
        rocksdb::ErrorKind::Corruption | rocksdb::ErrorKind::NotFound if path.join("CURRENT").exists() => {
            StoreError::Corrupt(format!(
                "the store at {} is damaged and was left as it is: {e}. Restore the directory from a backup, \
                 or move it aside and start on an empty one",
                path.display()
            ))
        }
        _ => StoreError::Io(format!("open RocksDB at {}: {e}", path.display())),
    }
}

fn index_stored_batches(db: &DB) -> Result<(), StoreError> {
    let (records, meta) = (db.cf_handle(CF_RECORDS).unwrap(), db.cf_handle(CF_BATCH_META).unwrap());
    let mut it = db.raw_iterator_cf(records);
    it.seek_to_first();
    let (mut wb, mut count) = (WriteBatch::default(), 0u64);
    while it.valid() {
        let (Some(k), Some(v)) = (it.key(), it.value()) else { break };
        let (_, base) = split_key(k);
        wb.put_cf(meta, k, encode_meta(&BatchMeta::of(base, v)));
        count += 1;
        if wb.len() >= 10_000 {
            db.write(std::mem::take(&mut wb)).map_err(io)?;
        }
        it.next();
    }
    it.status().map_err(io)?;
    db.write(wb).map_err(io)?;
    tracing::info!(batches = count, "indexed the stored batches' metadata");
    Ok(())
}

const META_LEN: usize = 20;

fn encode_meta(m: &BatchMeta) -> [u8; META_LEN] {
    let mut v = [0u8; META_LEN];
    v[..8].copy_from_slice(&m.last_offset.to_be_bytes());
    v[8..16].copy_from_slice(&m.max_timestamp.to_be_bytes());
    v[16..].copy_from_slice(&m.size.to_be_bytes());
    v
}

fn decode_meta(base: i64, v: &[u8]) -> Result<BatchMeta, StoreError> {
    if v.len() != META_LEN {
        return Err(StoreError::Corrupt(format!("batch metadata at offset {base} has {} bytes", v.len())));
    }
    Ok(BatchMeta {
        base_offset: base,
        last_offset: i64::from_be_bytes(v[..8].try_into().unwrap()),
        max_timestamp: i64::from_be_bytes(v[8..16].try_into().unwrap()),
        size: u32::from_be_bytes(v[16..].try_into().unwrap()),
    })
}

fn io(e: rocksdb::Error) -> StoreError {
    match e.kind() {
        rocksdb::ErrorKind::Corruption => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Io(e.to_string()),
    }
}

pub fn key(uid: u64, n: i64) -> [u8; 16] {
    assert!(n >= 0, "negative offset or id {n} in a key");
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&uid.to_be_bytes());
    k[8..].copy_from_slice(&(n as u64).to_be_bytes());
    k
}

fn split_key(k: &[u8]) -> (u64, i64) {
    assert_eq!(k.len(), 16, "records key of {} bytes", k.len());
    (u64::from_be_bytes(k[..8].try_into().unwrap()), u64::from_be_bytes(k[8..].try_into().unwrap()) as i64)
}

/// Where a partition's leader-epoch cache lives in `partitions`: its uid and b'e' (its log start
/// is under the uid alone).
fn epochs_key(uid: u64) -> [u8; 9] {
    let mut k = [b'e'; 9];
    k[..8].copy_from_slice(&uid.to_be_bytes());
    k
}

/// Where a replicated partition's checkpointed high watermark lives in `partitions`.
fn high_watermark_key(uid: u64) -> [u8; 9] {
    let mut k = [b'w'; 9];
    k[..8].copy_from_slice(&uid.to_be_bytes());
    k
}

pub struct RocksStore {
    db: Arc<DB>,
}

impl RocksStore {
    pub fn new(db: Arc<DB>) -> RocksStore {
        RocksStore { db }
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db.cf_handle(name).expect("column family created at open")
    }

    /// An offset stored in `partitions` as 8 big-endian bytes; `what` names it in the error.
    fn offset_at(&self, key: &[u8], what: impl FnOnce() -> String) -> Result<Option<i64>, StoreError> {
        match self.db.get_cf(self.cf(CF_PARTITIONS), key).map_err(io)? {
            None => Ok(None),
            Some(b) if b.len() == 8 => Ok(Some(i64::from_be_bytes(b[..].try_into().unwrap()))),
            Some(b) => Err(StoreError::Corrupt(format!("{} has {} bytes", what(), b.len()))),
        }
    }
}

impl RocksStore {
    /// Where reading `uid` from `from` starts: the base offset of the batch that holds `from`,
    /// else `from` itself (the first batch after it). Asked of the batch metadata, so no batch
    /// is read to find it.
    fn start_of(&self, uid: u64, from: i64) -> Result<i64, StoreError> {
        let from = from.max(0);
        let mut it = self.db.raw_iterator_cf(self.cf(CF_BATCH_META));
        it.seek_for_prev(key(uid, from));
        if it.valid()
            && let (Some(k), Some(v)) = (it.key(), it.value())
        {
            let (u, base) = split_key(k);
            if u == uid && decode_meta(base, v)?.last_offset >= from {
                return Ok(base);
            }
        }
        it.status().map_err(io)?;
        Ok(from)
    }
}

impl Store for RocksStore {
    fn append(&self, w: AppendBatch<'_>, sync: bool) -> Result<(), StoreError> {
        let mut wb = WriteBatch::default();
        let (records, meta) = (self.cf(CF_RECORDS), self.cf(CF_BATCH_META));
        for (base, b) in w.batches {
            wb.put_cf(records, key(w.uid, *base), b);
            wb.put_cf(meta, key(w.uid, *base), encode_meta(&BatchMeta::of(*base, b)));
        }
        for (pid, entry) in &w.producers {
            wb.put_cf(self.cf(CF_PRODUCERS), key(w.uid, *pid), entry);
        }
        for a in &w.aborted {
            let mut v = [0u8; 16];
            v[..8].copy_from_slice(&a.producer_id.to_be_bytes());
            v[8..].copy_from_slice(&a.last_offset.to_be_bytes());
            wb.put_cf(self.cf(CF_TXN_INDEX), key(w.uid, a.first_offset), v);
        }
        if let Some(e) = &w.epochs {
            wb.put_cf(self.cf(CF_PARTITIONS), epochs_key(w.uid), e);
        }
        let mut opts = WriteOptions::default();
        opts.set_sync(sync);
        self.db.write_opt(wb, &opts).map_err(io)
    }

    fn visit(&self, uid: u64, from: i64, visit: &mut dyn FnMut(i64, &[u8]) -> bool) -> Result<(), StoreError> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_RECORDS));
        it.seek(key(uid, self.start_of(uid, from)?));
        while it.valid() {
            let (Some(k), Some(v)) = (it.key(), it.value()) else { break };
            let (u, base) = split_key(k);
            if u != uid || !visit(base, v) {
                break;
            }
            it.next();
        }
        it.status().map_err(io)
    }

    fn visit_meta(&self, uid: u64, from: i64, visit: &mut dyn FnMut(BatchMeta) -> bool) -> Result<(), StoreError> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_BATCH_META));
        it.seek(key(uid, self.start_of(uid, from)?));
        while it.valid() {
            let (Some(k), Some(v)) = (it.key(), it.value()) else { break };
            let (u, base) = split_key(k);
            if u != uid || !visit(decode_meta(base, v)?) {
                break;
            }
            it.next();
        }
        it.status().map_err(io)
    }

    fn last_batch(&self, uid: u64) -> Result<Option<(i64, Bytes)>, StoreError> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_RECORDS));
        it.seek_for_prev(key(uid, i64::MAX));
        it.status().map_err(io)?;
        if it.valid()
            && let (Some(k), Some(v)) = (it.key(), it.value())
            && split_key(k).0 == uid
        {
            return Ok(Some((split_key(k).1, Bytes::copy_from_slice(v))));
        }
        Ok(None)
    }

    fn log_start(&self, uid: u64) -> Result<Option<i64>, StoreError> {
        self.offset_at(&uid.to_be_bytes(), || format!("log start of partition {uid}"))
    }

    fn truncate_front(&self, uid: u64, log_start: i64) -> Result<(), StoreError> {
        // Drop whole batches that end before the new start; the one holding it stays.
        let mut keep_from = log_start;
        self.visit_meta(uid, log_start, &mut |m| {
            keep_from = m.base_offset.min(log_start);
            false
        })?;
        let mut wb = WriteBatch::default();
        wb.put_cf(self.cf(CF_PARTITIONS), uid.to_be_bytes(), log_start.to_be_bytes());
        wb.delete_range_cf(self.cf(CF_RECORDS), key(uid, 0), key(uid, keep_from));
        wb.delete_range_cf(self.cf(CF_BATCH_META), key(uid, 0), key(uid, keep_from));
        self.db.write(wb).map_err(io)
    }

    fn truncate_back(&self, t: Truncation<'_>) -> Result<(), StoreError> {
        let mut wb = WriteBatch::default();
        let (from, to) = (key(t.uid, t.end), key(t.uid + 1, 0));
        wb.delete_range_cf(self.cf(CF_RECORDS), from, to);
        wb.delete_range_cf(self.cf(CF_BATCH_META), from, to);
        for a in self.aborted(t.uid)?.iter().filter(|a| a.last_offset >= t.end) {
            wb.delete_cf(self.cf(CF_TXN_INDEX), key(t.uid, a.first_offset));
        }
        for (pid, entry) in t.producers {
            match entry {
                Some(e) => wb.put_cf(self.cf(CF_PRODUCERS), key(t.uid, *pid), e),
                None => wb.delete_cf(self.cf(CF_PRODUCERS), key(t.uid, *pid)),
            }
        }
        wb.put_cf(self.cf(CF_PARTITIONS), epochs_key(t.uid), &t.epochs);
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(wb, &opts).map_err(io)
    }

    fn leader_epochs(&self, uid: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get_cf(self.cf(CF_PARTITIONS), epochs_key(uid)).map_err(io)
    }

    fn producers(&self, uid: u64) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        let start = key(uid, 0);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_PRODUCERS), IteratorMode::From(&start, Direction::Forward)) {
            let (k, v) = item.map_err(io)?;
            let (u, pid) = split_key(&k);
            if u != uid {
                break;
            }
            out.push((pid, v.to_vec()));
        }
        Ok(out)
    }

    fn replace(&self, uid: u64, changes: &[(i64, Option<Bytes>)]) -> Result<(), StoreError> {
        let mut wb = WriteBatch::default();
        let (records, meta) = (self.cf(CF_RECORDS), self.cf(CF_BATCH_META));
        for (old, new) in changes {
            wb.delete_cf(records, key(uid, *old));
            wb.delete_cf(meta, key(uid, *old));
            if let Some(b) = new {
                let base = batch::stored_header(b).base_offset;
                wb.put_cf(records, key(uid, base), b);
                wb.put_cf(meta, key(uid, base), encode_meta(&BatchMeta::of(base, b)));
            }
        }
        self.db.write(wb).map_err(io)
    }

    fn aborted(&self, uid: u64) -> Result<Vec<AbortedTxn>, StoreError> {
        let start = key(uid, 0);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_TXN_INDEX), IteratorMode::From(&start, Direction::Forward)) {
            let (k, v) = item.map_err(io)?;
            let (u, first_offset) = split_key(&k);
            if u != uid {
                break;
            }
            if v.len() != 16 {
                return Err(StoreError::Corrupt(format!(
                    "aborted txn index entry of partition {uid} has {} bytes",
                    v.len()
                )));
            }
            let producer_id = i64::from_be_bytes(v[..8].try_into().unwrap());
            let last_offset = i64::from_be_bytes(v[8..].try_into().unwrap());
            out.push(AbortedTxn { first_offset, producer_id, last_offset });
        }
        Ok(out)
    }

    fn forget_producers(&self, uid: u64, producer_ids: &[i64]) -> Result<(), StoreError> {
        let mut wb = WriteBatch::default();
        for pid in producer_ids {
            wb.delete_cf(self.cf(CF_PRODUCERS), key(uid, *pid));
        }
        self.db.write(wb).map_err(io)
    }

    fn delete_partition(&self, uid: u64) -> Result<(), StoreError> {
        let mut wb = WriteBatch::default();
        let (from, to) = (key(uid, 0), key(uid + 1, 0));
        wb.delete_range_cf(self.cf(CF_RECORDS), from, to);
        wb.delete_range_cf(self.cf(CF_PRODUCERS), from, to);
        wb.delete_range_cf(self.cf(CF_TXN_INDEX), from, to);
        wb.delete_range_cf(self.cf(CF_BATCH_META), from, to);
        wb.delete_cf(self.cf(CF_PARTITIONS), uid.to_be_bytes());
        wb.delete_cf(self.cf(CF_PARTITIONS), epochs_key(uid));
        wb.delete_cf(self.cf(CF_PARTITIONS), high_watermark_key(uid));
        self.db.write(wb).map_err(io)
    }

    fn high_watermark(&self, uid: u64) -> Result<Option<i64>, StoreError> {
        self.offset_at(&high_watermark_key(uid), || format!("high watermark of partition {uid}"))
    }

    fn checkpoint_high_watermarks(&self, marks: &[(u64, i64)]) -> Result<(), StoreError> {
        let mut wb = WriteBatch::default();
        for (uid, hw) in marks {
            wb.put_cf(self.cf(CF_PARTITIONS), high_watermark_key(*uid), hw.to_be_bytes());
        }
        self.db.write(wb).map_err(io)
    }

    fn reclaim(&self, ranges: &[(u64, i64)]) {
        // A range deletion frees space once a compaction drops the keys it covers. The keys are
        // all that compaction rewrites here (the batches are in blob files, each deleted when
        // nothing refers to it any more), so one pass over the whole span is cheap, and it runs
        // beside the background compactions rather than holding them off.
        let Some(from) = ranges.iter().map(|(uid, _)| key(*uid, 0)).min() else { return };
        let Some(to) = ranges.iter().map(|(uid, before)| key(*uid, (*before).max(0))).max() else { return };
        let mut opts = CompactOptions::default();
        opts.set_exclusive_manual_compaction(false);
        self.db.compact_range_cf_opt(self.cf(CF_RECORDS), Some(from), Some(to), &opts);
    }

    fn partition_uids(&self) -> Result<Vec<u64>, StoreError> {
        let mut out = Vec::new();
        let mut it = self.db.raw_iterator_cf(self.cf(CF_RECORDS));
        it.seek_to_first();
        while it.valid() {
            let Some(k) = it.key() else { break };
            let (uid, _) = split_key(k);
            out.push(uid);
            it.seek(key(uid + 1, 0));
        }
        it.status().map_err(io)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
