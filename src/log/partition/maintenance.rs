//! Work over a partition's stored batches besides appends and reads: DeleteRecords and
//! retention moving the log start, compaction passes, sizes, and timestamp look-ups.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{Partition, ReadError};
use crate::log::batch::{self, BatchHeader};
use crate::log::store::StoreError;

impl Partition {
    /// Advances the log start offset to `offset` (-1: the high watermark), dropping whole
    /// batches before it. Returns the new log start (low watermark).
    pub fn delete_records(&self, offset: i64) -> Result<i64, ReadError> {
        let _append = self.state.lock().unwrap();
        let hw = self.high_watermark();
        let start = self.log_start();
        let target = if offset == -1 { hw } else { offset };
        if target < 0 || target > hw {
            return Err(ReadError::OutOfRange { offset, log_start: start, log_end: hw });
        }
        if target <= start {
            return Ok(start);
        }
        self.store.truncate_front(self.uid, target)?;
        self.log_start.store(target, Ordering::Release);
        Ok(target)
    }

    /// Where retention moves the log start: past whole batches older than `retention_ms`
    /// (by their max timestamp) or beyond `retention_bytes` from the end; -1 disables either.
    pub fn retention_start(
        &self,
        now_ms: i64,
        retention_ms: i64,
        retention_bytes: i64,
    ) -> Result<Option<i64>, StoreError> {
        if retention_ms < 0 && retention_bytes < 0 {
            return Ok(None);
        }
        let hw = self.high_watermark();
        let start = self.log_start();
        let mut batches: Vec<(i64, i64, usize)> = Vec::new();
        self.store.visit_meta(self.uid, start, &mut |m| {
            if m.base_offset >= hw {
                return false;
            }
            batches.push((m.last_offset, m.max_timestamp, m.size as usize));
            true
        })?;
        let mut remaining: i64 = batches.iter().map(|b| b.2 as i64).sum();
        let mut new_start = start;
        for (last, max_ts, size) in batches {
            let too_old = retention_ms >= 0 && max_ts < now_ms.saturating_sub(retention_ms);
            let too_big = retention_bytes >= 0 && remaining > retention_bytes;
            if !too_old && !too_big {
                break;
            }
            new_start = last + 1;
            remaining -= size as i64;
        }
        Ok((new_start > start).then_some(new_start.min(hw)))
    }

    /// One compaction pass (cleanup.policy=compact); returns how many batches changed.
    pub fn compact(&self, now_ms: i64, s: &crate::log::compaction::CompactionSettings) -> Result<usize, StoreError> {
        use crate::log::compaction::{self, StoredBatch};
        let hw = self.high_watermark();
        let mut metas = Vec::new();
        self.store.visit_meta(self.uid, self.log_start(), &mut |m| {
            if m.base_offset >= hw {
                return false;
            }
            metas.push(m);
            true
        })?;
        let end = compaction::cleanable_end(&metas, self.last_stable(), now_ms, s);
        let (cleaned_to, expire_at) =
            (self.cleaned_to.load(Ordering::Acquire), self.tombstones_expire_at.load(Ordering::Acquire));
        if !compaction::is_due(&metas, cleaned_to, end, expire_at, now_ms, s) {
            return Ok(0);
        }
        let mut batches = Vec::new();
        let mut damaged = None;
        self.store.visit(self.uid, self.log_start(), &mut |base, b| {
            if base >= end {
                return false;
            }
            match batch::read_back(b, base, true) {
                Ok(header) => batches.push(StoredBatch { header, bytes: Bytes::copy_from_slice(b) }),
                Err(e) => damaged = Some(e),
            }
            damaged.is_none()
        })?;
        if let Some(e) = damaged {
            return Err(e);
        }
        let aborted = self.state.lock().unwrap().aborted.clone();
        let pass = compaction::clean_pass(&batches, end, now_ms, s, &aborted)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if !pass.changes.is_empty() {
            self.store.replace(self.uid, &pass.changes)?;
        }
        self.cleaned_to.store(end, Ordering::Release);
        self.tombstones_expire_at.store(pass.tombstones_expire_at.unwrap_or(i64::MAX), Ordering::Release);
        Ok(pass.changes.len())
    }

    /// The stored batch whose base offset is `base`, if it is still there.
    fn stored_batch(&self, base: i64) -> Result<Option<Bytes>, StoreError> {
        let mut out = None;
        self.store.visit(self.uid, base, &mut |b, bytes| {
            if b == base {
                out = Some(Bytes::copy_from_slice(bytes));
            }
            false
        })?;
        Ok(out)
    }

    /// Bytes of the stored batches from the log start on.
    pub fn size_bytes(&self) -> Result<u64, StoreError> {
        let mut total = 0u64;
        self.store.visit_meta(self.uid, self.log_start(), &mut |m| {
            total += m.size as u64;
            true
        })?;
        Ok(total)
    }

    /// The first offset whose timestamp is at or after `ts`, with that timestamp.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, StoreError> {
        let hw = self.high_watermark();
        // The batches' metadata says which ones may hold it; only those are read.
        let mut candidates = Vec::new();
        self.store.visit_meta(self.uid, self.log_start(), &mut |m| {
            if m.base_offset >= hw {
                return false;
            }
            if m.max_timestamp >= ts {
                candidates.push(m.base_offset);
            }
            true
        })?;
        for base in candidates {
            if let Some(b) = self.stored_batch(base)? {
                let h = batch::read_back(&b, base, true)?;
                if let Some(hit) = first_record_at_or_after(&b, &h, ts)? {
                    return Ok(Some(hit));
                }
            }
        }
        Ok(None)
    }

    /// The offset and timestamp of the record with the largest timestamp (first such one).
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, StoreError> {
        let hw = self.high_watermark();
        let mut best: Option<(i64, i64)> = None;
        self.store.visit_meta(self.uid, self.log_start(), &mut |m| {
            if m.base_offset >= hw {
                return false;
            }
            if best.is_none_or(|(_, ts)| m.max_timestamp > ts) {
                best = Some((m.base_offset, m.max_timestamp));
            }
            true
        })?;
        let Some((base, _)) = best else { return Ok(None) };
        match self.stored_batch(base)? {
            None => Ok(None),
            Some(b) => {
                let h = batch::read_back(&b, base, true)?;
                first_record_at_or_after(&b, &h, h.max_timestamp)
            }
        }
    }
}

fn first_record_at_or_after(b: &[u8], h: &BatchHeader, ts: i64) -> Result<Option<(i64, i64)>, StoreError> {
    if h.log_append_time() {
        return Ok(Some((h.base_offset, h.max_timestamp)));
    }
    let set = crate::log::codec::decode(&Bytes::copy_from_slice(b), crate::log::codec::DECOMPRESSED_BYTES_MAX)
        .map_err(|e| StoreError::Corrupt(format!("batch at offset {}: {e}", h.base_offset)))?;
    Ok(set.records.iter().find(|r| r.timestamp >= ts).map(|r| (r.offset, r.timestamp)))
}
