//! The coordinator's offset paths over an in-memory internal log: commits, transactional
//! commits and their markers, deletes, a log that refuses writes, and the replay that rebuilds
//! all of it on start-up.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::group::GroupError;
use bytes::Bytes;

use super::*;
use crate::log::internal::{InternalLog, InternalLogError, LoggedRecord};

/// `__consumer_offsets` in memory: records per partition, in order; `refuse` makes writes fail.
#[derive(Default)]
struct MemLog {
    partitions: Mutex<HashMap<i32, Vec<LoggedRecord>>>,
    refuse: AtomicBool,
}

impl MemLog {
    fn check(&self, index: i32) -> Result<(), InternalLogError> {
        if self.refuse.load(Ordering::Relaxed) {
            return Err(InternalLogError::NoPartition { topic: "__consumer_offsets", index });
        }
        Ok(())
    }
}

impl InternalLog for MemLog {
    fn append(
        &self,
        index: i32,
        records: Vec<(Bytes, Option<Bytes>)>,
        txn: Option<(i64, i16)>,
    ) -> Result<i64, InternalLogError> {
        self.check(index)?;
        let mut g = self.partitions.lock().unwrap();
        let log = g.entry(index).or_default();
        for (key, value) in records {
            let producer_id = txn.map_or(-1, |t| t.0);
            log.push(LoggedRecord { key, value, producer_id, transactional: txn.is_some(), marker: None });
        }
        Ok(log.len() as i64)
    }

    fn write_marker(&self, index: i32, producer_id: i64, _epoch: i16, commit: bool) -> Result<i64, InternalLogError> {
        self.check(index)?;
        let marker =
            LoggedRecord { key: Bytes::new(), value: None, producer_id, transactional: true, marker: Some(commit) };
        let mut g = self.partitions.lock().unwrap();
        let log = g.entry(index).or_default();
        log.push(marker);
        Ok(log.len() as i64)
    }

    fn replicated(&self, _index: i32, _end: i64) -> crate::log::internal::Replicated {
        Box::pin(async { Ok(()) })
    }

    fn replay(&self, index: i32, visit: &mut dyn FnMut(LoggedRecord)) -> Result<(), InternalLogError> {
        for r in self.partitions.lock().unwrap().get(&index).cloned().unwrap_or_default() {
            visit(r);
        }
        Ok(())
    }
}

fn coordinator(log: &Arc<MemLog>) -> Arc<Coordinator> {
    let topics: TopicSource = Arc::new(|| BTreeMap::from([("t".to_string(), (uuid::Uuid::from_u128(1), 4))]));
    let log: Arc<dyn GroupLog> = log.clone();
    Coordinator::new(GroupConfig::default(), ConsumerGroupConfig::default(), topics, 3, log)
}

fn at(offset: i64) -> Committed {
    Committed { offset, leader_epoch: -1, metadata: format!("m{offset}"), commit_timestamp_ms: 1 }
}

fn offsets(pairs: &[(i32, i64)]) -> Vec<(String, i32, Committed)> {
    pairs.iter().map(|&(p, o)| ("t".to_string(), p, at(o))).collect()
}

async fn seen(c: &Coordinator, group: &str) -> Vec<(i32, i64)> {
    c.fetch_offsets(group).await.into_iter().map(|((_, p), c)| (p, c.offset)).collect()
}

#[tokio::test]
async fn commits_and_deletes_survive_a_replay() {
    let log = Arc::new(MemLog::default());
    let c = coordinator(&log);
    c.commit("g", "", None, -1, offsets(&[(0, 5), (1, 7)])).await.unwrap();
    c.commit("g", "", None, -1, offsets(&[(0, 9)])).await.unwrap();
    assert_eq!(seen(&c, "g").await, vec![(0, 9), (1, 7)]);
    let out = c.delete_offsets("g", vec![("t".into(), 1), ("t".into(), 3)]).await.unwrap();
    assert!(out.iter().all(|(_, e)| e.is_none()), "{out:?}");
    assert_eq!(seen(&c, "g").await, vec![(0, 9)]);

    let again = coordinator(&log);
    again.load().unwrap();
    assert_eq!(seen(&again, "g").await, vec![(0, 9)], "the replay keeps the last commit and the delete");
    assert_eq!(again.fetch_offsets("g").await[&("t".to_string(), 0)].metadata, "m9");
}

#[tokio::test]
async fn a_member_outside_the_group_cannot_commit() {
    let log = Arc::new(MemLog::default());
    let c = coordinator(&log);
    assert_eq!(
        c.commit("g", "ghost", None, 3, offsets(&[(0, 1)])).await,
        Err(GroupError::UnknownMemberId),
        "no such member"
    );
    assert!(seen(&c, "g").await.is_empty());
}

#[tokio::test]
async fn transactional_offsets_count_on_commit_only_also_after_a_replay() {
    let log = Arc::new(MemLog::default());
    let c = coordinator(&log);
    c.commit("g", "", None, -1, offsets(&[(0, 1)])).await.unwrap();
    c.txn_commit("g", (40, 0), ("", None, -1), offsets(&[(0, 10), (2, 12)])).await.unwrap();
    assert_eq!(seen(&c, "g").await, vec![(0, 1)], "pending offsets do not count yet");
    assert_eq!(c.pending_txn_partitions("g").await.len(), 2);
    c.complete_txn("g", 40, 0, true).await.unwrap();
    assert_eq!(seen(&c, "g").await, vec![(0, 10), (2, 12)]);

    c.txn_commit("g", (41, 0), ("", None, -1), offsets(&[(0, 99)])).await.unwrap();
    c.complete_txn("g", 41, 0, false).await.unwrap();
    assert_eq!(seen(&c, "g").await, vec![(0, 10), (2, 12)], "an aborted transaction's offsets are dropped");
    assert!(c.pending_txn_partitions("g").await.is_empty());

    // A transaction still open when the log is replayed stays pending.
    c.txn_commit("g", (42, 0), ("", None, -1), offsets(&[(1, 50)])).await.unwrap();
    let again = coordinator(&log);
    again.load().unwrap();
    assert_eq!(seen(&again, "g").await, vec![(0, 10), (2, 12)]);
    assert_eq!(again.pending_txn_partitions("g").await.into_iter().collect::<Vec<_>>(), vec![("t".to_string(), 1)]);
    again.complete_txn("g", 42, 0, true).await.unwrap();
    assert_eq!(seen(&again, "g").await, vec![(0, 10), (1, 50), (2, 12)]);
}

#[tokio::test]
async fn a_log_that_refuses_writes_changes_nothing() {
    let log = Arc::new(MemLog::default());
    let c = coordinator(&log);
    c.commit("g", "", None, -1, offsets(&[(0, 1)])).await.unwrap();
    log.refuse.store(true, Ordering::Relaxed);
    assert_eq!(c.commit("g", "", None, -1, offsets(&[(0, 2)])).await, Err(GroupError::CoordinatorNotAvailable));
    assert!(c.txn_commit("g", (7, 0), ("", None, -1), offsets(&[(0, 3)])).await.is_err());
    assert_eq!(seen(&c, "g").await, vec![(0, 1)]);
    assert!(c.pending_txn_partitions("g").await.is_empty(), "a transactional commit not written is not pending");
}
