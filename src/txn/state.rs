//! The transaction coordinator's state machine for one transactional id, as Kafka runs it:
//! Empty -> Ongoing -> PrepareCommit/PrepareAbort -> CompleteCommit/CompleteAbort. Pure data
//! and functions; `txn::coordinator` persists the results and writes the markers.

use std::collections::BTreeSet;

use crate::txn::TxnError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    Empty = 0,
    Ongoing = 1,
    PrepareCommit = 2,
    PrepareAbort = 3,
    CompleteCommit = 4,
    CompleteAbort = 5,
    Dead = 6,
}

impl TxnState {
    pub fn from_code(c: i8) -> Option<TxnState> {
        Some(match c {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            6 => TxnState::Dead,
            _ => return None,
        })
    }

    /// The name kafka-transactions.sh prints.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
        }
    }
}

/// A partition of a transaction: topic name and index.
pub type TxnPartition = (String, i32);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMeta {
    pub id: String,
    pub producer_id: i64,
    pub epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<TxnPartition>,
    /// Consumer groups whose offsets are part of the transaction.
    pub groups: BTreeSet<String>,
    pub started_ms: i64,
    pub updated_ms: i64,
}

/// What ending a transaction requires of the coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndAction {
    /// Write markers to these partitions (and complete these groups' offsets), then complete.
    WriteMarkers { commit: bool, partitions: BTreeSet<TxnPartition>, groups: BTreeSet<String> },
    /// A retry of an end already done: answer success.
    AlreadyDone,
}

impl TxnMeta {
    pub fn new(id: &str, producer_id: i64, timeout_ms: i32, now_ms: i64) -> TxnMeta {
        TxnMeta {
            id: id.to_string(),
            producer_id,
            epoch: -1,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            started_ms: -1,
            updated_ms: now_ms,
        }
    }

    /// Checks the producer id and epoch of a transactional request.
    pub fn check_producer(&self, producer_id: i64, epoch: i16) -> Result<(), TxnError> {
        if producer_id != self.producer_id {
            return Err(TxnError::InvalidProducerIdMapping);
        }
        if epoch < self.epoch {
            return Err(TxnError::ProducerFenced);
        }
        if epoch > self.epoch {
            return Err(TxnError::InvalidProducerEpoch);
        }
        Ok(())
    }

    /// AddPartitionsToTxn and AddOffsetsToTxn: the transaction is (or becomes) ongoing.
    pub fn add(
        &mut self,
        producer_id: i64,
        epoch: i16,
        partitions: &[TxnPartition],
        group: Option<&str>,
        now_ms: i64,
    ) -> Result<(), TxnError> {
        self.check_producer(producer_id, epoch)?;
        match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => return Err(TxnError::ConcurrentTransactions),
            TxnState::Dead => return Err(TxnError::InvalidTxnState),
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                self.partitions.clear();
                self.groups.clear();
                self.started_ms = now_ms;
            }
            TxnState::Ongoing => {}
        }
        self.partitions.extend(partitions.iter().cloned());
        if let Some(g) = group {
            self.groups.insert(g.to_string());
        }
        self.state = TxnState::Ongoing;
        self.updated_ms = now_ms;
        Ok(())
    }

    /// EndTxn: decides whether markers must be written.
    pub fn end(&mut self, producer_id: i64, epoch: i16, commit: bool, now_ms: i64) -> Result<EndAction, TxnError> {
        self.check_producer(producer_id, epoch)?;
        match (self.state, commit) {
            (TxnState::Ongoing, _) => {
                self.state = if commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort };
                self.updated_ms = now_ms;
                Ok(EndAction::WriteMarkers { commit, partitions: self.partitions.clone(), groups: self.groups.clone() })
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(EndAction::AlreadyDone),
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => Err(TxnError::ConcurrentTransactions),
            _ => Err(TxnError::InvalidTxnState),
        }
    }

    /// Markers are written: the transaction is complete.
    pub fn complete(&mut self, now_ms: i64) {
        self.state = match self.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            TxnState::PrepareAbort => TxnState::CompleteAbort,
            other => other,
        };
        self.partitions.clear();
        self.groups.clear();
        self.updated_ms = now_ms;
    }

    /// Whether an ongoing transaction has outlived its timeout.
    pub fn expired(&self, now_ms: i64) -> bool {
        self.state == TxnState::Ongoing && self.started_ms >= 0 && now_ms - self.started_ms > self.timeout_ms as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> TxnMeta {
        let mut m = TxnMeta::new("t", 7, 60_000, 0);
        m.epoch = 0;
        m
    }

    #[test]
    fn commit_flow_and_retries() {
        let mut m = meta();
        m.add(7, 0, &[("a".into(), 0)], None, 10).unwrap();
        m.add(7, 0, &[("b".into(), 1)], Some("g"), 11).unwrap();
        assert_eq!(m.state, TxnState::Ongoing);
        let action = m.end(7, 0, true, 12).unwrap();
        assert!(
            matches!(action, EndAction::WriteMarkers { commit: true, ref partitions, ref groups } if partitions.len() == 2 && groups.len() == 1)
        );
        assert_eq!(m.end(7, 0, true, 12), Err(TxnError::ConcurrentTransactions));
        m.complete(13);
        assert_eq!(m.state, TxnState::CompleteCommit);
        assert_eq!(m.end(7, 0, true, 14), Ok(EndAction::AlreadyDone));
        assert_eq!(m.end(7, 0, false, 14), Err(TxnError::InvalidTxnState));
        // The next transaction starts from a clean set.
        m.add(7, 0, &[("c".into(), 0)], None, 20).unwrap();
        assert_eq!(m.partitions.len(), 1);
    }

    #[test]
    fn producer_checks_and_bad_states() {
        let mut m = meta();
        assert_eq!(m.end(7, 0, true, 1), Err(TxnError::InvalidTxnState), "nothing to end");
        assert_eq!(m.add(8, 0, &[], None, 1), Err(TxnError::InvalidProducerIdMapping));
        m.epoch = 3;
        assert_eq!(m.add(7, 2, &[], None, 1), Err(TxnError::ProducerFenced));
        assert_eq!(m.add(7, 4, &[], None, 1), Err(TxnError::InvalidProducerEpoch));
        m.add(7, 3, &[("a".into(), 0)], None, 100).unwrap();
        assert!(!m.expired(100 + 60_000));
        assert!(m.expired(100 + 60_001));
        m.end(7, 3, false, 200).unwrap();
        assert_eq!(m.add(7, 3, &[], None, 201), Err(TxnError::ConcurrentTransactions));
        m.complete(202);
        assert_eq!(m.state, TxnState::CompleteAbort);
    }
}
