//! Per-partition producer state for idempotent producers: the epoch and the last five batches'
//! sequence ranges, as Kafka keeps them. Pure logic with unit tests; `log::Partition` persists
//! the entry with each batch it appends.

use std::collections::VecDeque;

use thiserror::Error;

/// Kafka keeps the metadata of this many recent batches per producer to detect retries.
pub const BATCHES_KEPT_MAX: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    pub first_seq: i32,
    pub last_seq: i32,
    pub base_offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducerEntry {
    pub epoch: i16,
    pub batches: VecDeque<BatchMeta>,
    /// First offset of this producer's open transaction in the partition, if one is open.
    pub txn_first_offset: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Append the batch.
    Append,
    /// A retry of a batch already written at this base offset.
    Duplicate { base_offset: i64 },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SequenceError {
    #[error("producer epoch {got} is older than the current epoch {current}")]
    StaleEpoch { got: i16, current: i16 },
    #[error("out of order sequence: expected {expected}, got {got} (epoch {epoch})")]
    OutOfOrder { expected: i32, got: i32, epoch: i16 },
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

/// Decides what to do with an idempotent batch given the producer's current entry.
pub fn check(
    entry: Option<&ProducerEntry>,
    epoch: i16,
    first_seq: i32,
    last_seq: i32,
) -> Result<SequenceCheck, SequenceError> {
    let Some(entry) = entry else {
        // Unknown producer (new, or its state expired): accept, as Kafka does.
        return Ok(SequenceCheck::Append);
    };
    if epoch < entry.epoch {
        return Err(SequenceError::StaleEpoch { got: epoch, current: entry.epoch });
    }
    if epoch > entry.epoch || entry.batches.is_empty() {
        // A new epoch starts its sequences again at 0.
        if epoch > entry.epoch && first_seq != 0 {
            return Err(SequenceError::OutOfOrder { expected: 0, got: first_seq, epoch });
        }
        return Ok(SequenceCheck::Append);
    }
    if let Some(b) = entry.batches.iter().find(|b| b.first_seq == first_seq && b.last_seq == last_seq) {
        return Ok(SequenceCheck::Duplicate { base_offset: b.base_offset });
    }
    let expected = next_seq(entry.batches.back().expect("non-empty").last_seq);
    if first_seq != expected {
        return Err(SequenceError::OutOfOrder { expected, got: first_seq, epoch });
    }
    Ok(SequenceCheck::Append)
}

impl ProducerEntry {
    /// Records an appended batch (the caller checked it first).
    pub fn record(&mut self, epoch: i16, meta: BatchMeta) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
        if self.batches.len() == BATCHES_KEPT_MAX {
            self.batches.pop_front();
        }
        self.batches.push_back(meta);
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(3 + self.batches.len() * 16);
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.push(self.batches.len() as u8);
        for b in &self.batches {
            out.extend_from_slice(&b.first_seq.to_be_bytes());
            out.extend_from_slice(&b.last_seq.to_be_bytes());
            out.extend_from_slice(&b.base_offset.to_be_bytes());
        }
        out.extend_from_slice(&self.txn_first_offset.unwrap_or(-1).to_be_bytes());
        out
    }

    pub fn decode(b: &[u8]) -> Option<ProducerEntry> {
        if b.len() < 3 {
            return None;
        }
        let epoch = i16::from_be_bytes([b[0], b[1]]);
        let n = b[2] as usize;
        let fixed = 3 + n * 16;
        if (b.len() != fixed && b.len() != fixed + 8) || n > BATCHES_KEPT_MAX {
            return None;
        }
        let txn_first_offset = (b.len() == fixed + 8)
            .then(|| i64::from_be_bytes(b[fixed..fixed + 8].try_into().unwrap()))
            .filter(|o| *o >= 0);
        let batches = (0..n)
            .map(|i| {
                let s = &b[3 + i * 16..3 + (i + 1) * 16];
                BatchMeta {
                    first_seq: i32::from_be_bytes(s[0..4].try_into().unwrap()),
                    last_seq: i32::from_be_bytes(s[4..8].try_into().unwrap()),
                    base_offset: i64::from_be_bytes(s[8..16].try_into().unwrap()),
                }
            })
            .collect();
        Some(ProducerEntry { epoch, batches, txn_first_offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_with(seqs: &[(i32, i32, i64)]) -> ProducerEntry {
        let mut e = ProducerEntry::default();
        for &(f, l, o) in seqs {
            e.record(0, BatchMeta { first_seq: f, last_seq: l, base_offset: o });
        }
        e
    }

    #[test]
    fn in_order_retry_gap_and_stale_epoch() {
        let e = entry_with(&[(0, 4, 0), (5, 9, 5)]);
        assert_eq!(check(Some(&e), 0, 10, 12), Ok(SequenceCheck::Append));
        assert_eq!(check(Some(&e), 0, 5, 9), Ok(SequenceCheck::Duplicate { base_offset: 5 }));
        assert!(matches!(check(Some(&e), 0, 12, 13), Err(SequenceError::OutOfOrder { expected: 10, .. })));
        let mut newer = e.clone();
        newer.epoch = 3;
        assert!(matches!(check(Some(&newer), 2, 10, 10), Err(SequenceError::StaleEpoch { .. })));
        assert_eq!(check(Some(&e), 1, 0, 3), Ok(SequenceCheck::Append));
        assert!(check(Some(&e), 1, 4, 5).is_err());
        assert_eq!(check(None, 0, 77, 80), Ok(SequenceCheck::Append));
    }

    #[test]
    fn keeps_five_batches_and_round_trips() {
        let mut e = entry_with(&[(0, 0, 0), (1, 1, 1), (2, 2, 2), (3, 3, 3), (4, 4, 4), (5, 5, 5)]);
        assert_eq!(e.batches.len(), BATCHES_KEPT_MAX);
        assert_eq!(e.batches[0].first_seq, 1);
        assert_eq!(ProducerEntry::decode(&e.encode()), Some(e.clone()));
        e.txn_first_offset = Some(42);
        assert_eq!(ProducerEntry::decode(&e.encode()), Some(e));
        assert_eq!(ProducerEntry::decode(&[1]), None);
    }

    #[test]
    fn sequence_wraps_at_max() {
        let e = entry_with(&[(i32::MAX - 1, i32::MAX, 0)]);
        assert_eq!(check(Some(&e), 0, 0, 3), Ok(SequenceCheck::Append));
    }
}
