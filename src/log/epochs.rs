//! A partition's leader epochs: the offset at which each epoch's first batch starts, as Kafka's
//! leader-epoch checkpoint keeps them. Replication asks it where an epoch ends, to find where a
//! follower's log diverges from its leader's; consumers ask the same through
//! OffsetForLeaderEpoch (KIP-320).

use std::collections::BTreeMap;

/// Kafka's "no epoch" and "no offset" answers.
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_OFFSET: i64 = -1;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochs {
    /// epoch -> the offset of its first batch; epochs and offsets both increase.
    starts: BTreeMap<i32, i64>,
}

impl LeaderEpochs {
    pub fn latest(&self) -> Option<(i32, i64)> {
        self.starts.last_key_value().map(|(e, o)| (*e, *o))
    }

    /// A batch of `epoch` is appended at `offset`. An epoch already known keeps its first start;
    /// an older epoch than the latest is ignored (a leader never writes one), as Kafka's cache
    /// does.
    pub fn assign(&mut self, epoch: i32, offset: i64) {
        if epoch < 0 || self.latest().is_some_and(|(e, o)| epoch <= e || offset < o) {
            return;
        }
        self.starts.insert(epoch, offset);
    }

    /// The epoch at or before `epoch` and the offset where it ends in a log that ends at
    /// `log_end`. Kafka's `endOffsetFor`: the latest epoch ends at the log end; an older one
    /// where the next epoch starts; one older than every epoch known ends where the first
    /// starts; one newer than every epoch known, or undefined, is undefined.
    pub fn end_offset_for(&self, epoch: i32, log_end: i64) -> (i32, i64) {
        if epoch == UNDEFINED_EPOCH {
            return (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
        }
        if self.latest().is_some_and(|(e, _)| e == epoch) {
            return (epoch, log_end);
        }
        let Some((_, next_start)) = self.starts.range(epoch + 1..).next() else {
            return (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
        };
        match self.starts.range(..=epoch).next_back() {
            Some((floor, _)) => (*floor, *next_start),
            None => (epoch, *next_start),
        }
    }

    /// The log was truncated to end at `end`: epochs that start at or after it are forgotten.
    pub fn truncate_from_end(&mut self, end: i64) {
        self.starts.retain(|_, start| *start < end);
    }

    /// The log now starts at `start`: epochs that ended before it are forgotten, and the one
    /// that covers it starts there.
    pub fn truncate_from_start(&mut self, start: i64) {
        let covering = self.starts.range(..).rev().find(|(_, s)| **s <= start).map(|(e, _)| *e);
        if let Some(keep) = covering {
            self.starts.retain(|e, _| *e >= keep);
            self.starts.insert(keep, start);
        }
    }
}

impl LeaderEpochs {
    /// The cache as the store keeps it: (epoch i32, start offset i64) pairs, big-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.starts.len() * 12);
        for (epoch, start) in &self.starts {
            out.extend_from_slice(&epoch.to_be_bytes());
            out.extend_from_slice(&start.to_be_bytes());
        }
        out
    }

    /// None if `b` is not a whole number of pairs.
    pub fn decode(b: &[u8]) -> Option<LeaderEpochs> {
        if !b.len().is_multiple_of(12) {
            return None;
        }
        let pairs = b.chunks_exact(12).map(|c| {
            (
                i32::from_be_bytes(c[..4].try_into().expect("4 bytes")),
                i64::from_be_bytes(c[4..].try_into().expect("8 bytes")),
            )
        });
        Some(LeaderEpochs { starts: pairs.collect() })
    }
}

/// The epochs of batches appended in this order, as `assign` takes them.
impl FromIterator<(i32, i64)> for LeaderEpochs {
    fn from_iter<I: IntoIterator<Item = (i32, i64)>>(batches: I) -> LeaderEpochs {
        let mut e = LeaderEpochs::default();
        for (epoch, offset) in batches {
            e.assign(epoch, offset);
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epochs(pairs: &[(i32, i64)]) -> LeaderEpochs {
        pairs.iter().copied().collect()
    }

    #[test]
    fn the_stored_form_round_trips() {
        let e = epochs(&[(1, 0), (3, 10), (4, 25)]);
        assert_eq!(LeaderEpochs::decode(&e.encode()), Some(e));
        assert_eq!(LeaderEpochs::decode(&[]), Some(LeaderEpochs::default()));
        assert_eq!(LeaderEpochs::decode(&[0; 5]), None);
    }

    #[test]
    fn end_offsets_follow_kafka() {
        let e = epochs(&[(1, 0), (3, 10), (4, 25)]);
        assert_eq!(e.end_offset_for(4, 40), (4, 40), "the latest epoch ends at the log end");
        assert_eq!(e.end_offset_for(3, 40), (3, 25));
        assert_eq!(e.end_offset_for(2, 40), (1, 10), "an epoch this log never had: the one before it");
        assert_eq!(e.end_offset_for(0, 40), (0, 0), "older than all: ends where the first starts");
        assert_eq!(e.end_offset_for(5, 40), (UNDEFINED_EPOCH, UNDEFINED_OFFSET), "newer than all");
        assert_eq!(e.end_offset_for(UNDEFINED_EPOCH, 40), (UNDEFINED_EPOCH, UNDEFINED_OFFSET));
        assert_eq!(LeaderEpochs::default().end_offset_for(1, 0), (UNDEFINED_EPOCH, UNDEFINED_OFFSET));
    }

    #[test]
    fn assignment_only_moves_forward_and_truncation_trims_both_ends() {
        let mut e = epochs(&[(1, 0), (1, 5), (3, 10), (2, 12), (4, 8)]);
        assert_eq!(
            e,
            epochs(&[(1, 0), (3, 10)]),
            "a known epoch keeps its start; older epochs and offsets are ignored"
        );
        e.assign(5, 20);
        e.truncate_from_end(20);
        assert_eq!(e.latest(), Some((3, 10)), "an epoch starting at the new end goes");
        e.truncate_from_start(12);
        assert_eq!(e, epochs(&[(3, 12)]), "the covering epoch now starts at the log start");
    }
}
