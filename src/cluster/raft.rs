//! openraft plumbing: the type config, the raft log in RocksDB, and the state machine holding the
//! cluster `Image` (the peer network is `peer`).
//!
//! The state machine keeps the image in memory and publishes each applied version through an
//! `ArcSwap`, so request handlers read it without a lock. Durability comes from the raft log plus
//! snapshots stored in the `raft_meta` column family; on restart the log is replayed from the
//! last snapshot up to the saved committed index.

// openraft's StorageError is large by design; it is its API, not ours.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::io::Cursor;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use arc_swap::ArcSwap;
use openraft::storage::{LogFlushed, RaftLogStorage, RaftStateMachine};
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, LogState, OptionalSend, RaftLogReader, RaftSnapshotBuilder,
    Snapshot, SnapshotMeta, StorageError, StorageIOError, StoredMembership, Vote,
};
use rocksdb::{DB, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};

use super::image::{Command, CommandResult, Image};
use crate::log::rocks::{CF_RAFT_LOG, CF_RAFT_META};

openraft::declare_raft_types!(
    /// Types of gregor's metadata raft group.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
);

pub type NodeId = u64;
pub type Raft = openraft::Raft<TypeConfig>;
type SResult<T> = Result<T, StorageError<NodeId>>;

const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_PURGED: &[u8] = b"last_purged";
const KEY_SNAPSHOT: &[u8] = b"snapshot";

fn read_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::read(AnyError::new(&e)).into()
}

fn write_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write(AnyError::new(&e)).into()
}

fn meta_get<T: for<'de> Deserialize<'de>>(db: &DB, key: &[u8]) -> SResult<Option<T>> {
    let cf = db.cf_handle(CF_RAFT_META).expect("raft_meta family");
    match db.get_cf(cf, key).map_err(read_err)? {
        None => Ok(None),
        Some(v) => serde_json::from_slice(&v).map(Some).map_err(read_err),
    }
}

fn meta_put<T: Serialize>(db: &DB, key: &[u8], value: &T) -> SResult<()> {
    let cf = db.cf_handle(CF_RAFT_META).expect("raft_meta family");
    let v = serde_json::to_vec(value).map_err(write_err)?;
    let mut opts = WriteOptions::default();
    opts.set_sync(true);
    db.put_cf_opt(cf, key, v, &opts).map_err(write_err)
}

/// The raft log: entries keyed by big-endian index, serialized as JSON (small and rare).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
}

impl LogStore {
    pub fn new(db: Arc<DB>) -> LogStore {
        LogStore { db }
    }

    fn cf(&self) -> &rocksdb::ColumnFamily {
        self.db.cf_handle(CF_RAFT_LOG).expect("raft_log family")
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> SResult<Vec<Entry<TypeConfig>>> {
        let start = match range.start_bound() {
            Bound::Included(x) => *x,
            Bound::Excluded(x) => x + 1,
            Bound::Unbounded => 0,
        };
        let mut out = Vec::new();
        let mut it = self.db.raw_iterator_cf(self.cf());
        it.seek(start.to_be_bytes());
        while it.valid() {
            let (Some(k), Some(v)) = (it.key(), it.value()) else { break };
            let index = u64::from_be_bytes(k.try_into().map_err(|_| read_err(std::io::Error::other("raft log key")))?);
            if !range.contains(&index) {
                break;
            }
            let entry: Entry<TypeConfig> = serde_json::from_slice(v).map_err(read_err)?;
            assert_eq!(entry.log_id.index, index, "raft entry stored under a different index");
            out.push(entry);
            it.next();
        }
        it.status().map_err(read_err)?;
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> SResult<LogState<TypeConfig>> {
        let last_purged: Option<LogId<NodeId>> = meta_get(&self.db, KEY_PURGED)?;
        let mut it = self.db.raw_iterator_cf(self.cf());
        it.seek_to_last();
        let last = match it.value() {
            Some(v) if it.valid() => Some(serde_json::from_slice::<Entry<TypeConfig>>(v).map_err(read_err)?.log_id),
            _ => None,
        };
        Ok(LogState { last_purged_log_id: last_purged, last_log_id: last.or(last_purged) })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> SResult<()> {
        meta_put(&self.db, KEY_VOTE, vote)
    }

    async fn read_vote(&mut self) -> SResult<Option<Vote<NodeId>>> {
        meta_get(&self.db, KEY_VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> SResult<()> {
        meta_put(&self.db, KEY_COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> SResult<Option<LogId<NodeId>>> {
        Ok(meta_get::<Option<LogId<NodeId>>>(&self.db, KEY_COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> SResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut wb = WriteBatch::default();
        for e in entries {
            wb.put_cf(self.cf(), e.log_id.index.to_be_bytes(), serde_json::to_vec(&e).map_err(write_err)?);
        }
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        let res = self.db.write_opt(wb, &opts);
        callback.log_io_completed(res.as_ref().map(|_| ()).map_err(|e| std::io::Error::other(e.to_string())));
        res.map_err(write_err)
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> SResult<()> {
        self.db.delete_range_cf(self.cf(), log_id.index.to_be_bytes(), u64::MAX.to_be_bytes()).map_err(write_err)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> SResult<()> {
        meta_put(&self.db, KEY_PURGED, &log_id)?;
        self.db.delete_range_cf(self.cf(), 0u64.to_be_bytes(), (log_id.index + 1).to_be_bytes()).map_err(write_err)
    }
}

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    data: Vec<u8>,
}

/// The state machine: the image, plus what raft needs to know about what was applied.
pub struct StateMachine {
    db: Arc<DB>,
    image: Arc<ArcSwap<Image>>,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
}

impl StateMachine {
    /// Loads the last snapshot, if any, into the published image.
    pub fn open(db: Arc<DB>, image: Arc<ArcSwap<Image>>) -> SResult<StateMachine> {
        let mut sm = StateMachine { db, image, last_applied: None, membership: StoredMembership::default() };
        if let Some(s) = meta_get::<StoredSnapshot>(&sm.db, KEY_SNAPSHOT)? {
            let img: Image = serde_json::from_slice(&s.data).map_err(read_err)?;
            sm.image.store(Arc::new(img));
            sm.last_applied = s.meta.last_log_id;
            sm.membership = s.meta.last_membership.clone();
        }
        Ok(sm)
    }
}

/// What a snapshot is built from: the image as it was when openraft asked for a builder, with
/// the last log id applied to it. openraft builds the snapshot on a task of its own while the
/// state machine goes on applying, so the builder must not read the published image later: a
/// snapshot whose image ran ahead of its log id would have the entries after that id applied a
/// second time by a node that installs it or restarts from it.
pub struct SnapshotBuilder {
    db: Arc<DB>,
    image: Arc<Image>,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> SResult<Snapshot<TypeConfig>> {
        let data = serde_json::to_vec(&*self.image).map_err(write_err)?;
        let id = match self.last_applied {
            Some(l) => format!("{}-{}", l.leader_id, l.index),
            None => "empty".to_string(),
        };
        let meta =
            SnapshotMeta { last_log_id: self.last_applied, last_membership: self.membership.clone(), snapshot_id: id };
        meta_put(&self.db, KEY_SNAPSHOT, &StoredSnapshot { meta: meta.clone(), data: data.clone() })?;
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> SResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> SResult<Vec<CommandResult>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut image: Option<Image> = None;
        let mut results = Vec::new();
        for e in entries {
            self.last_applied = Some(e.log_id);
            match e.payload {
                EntryPayload::Blank => results.push(CommandResult::Done),
                EntryPayload::Normal(cmd) => {
                    let img = image.get_or_insert_with(|| (**self.image.load()).clone());
                    results.push(img.apply(&cmd));
                }
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(e.log_id), m);
                    results.push(CommandResult::Done);
                }
            }
        }
        if let Some(img) = image {
            self.image.store(Arc::new(img));
        }
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        // Called between two applies: the published image is the one `last_applied` describes.
        SnapshotBuilder {
            db: self.db.clone(),
            image: self.image.load_full(),
            last_applied: self.last_applied,
            membership: self.membership.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> SResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> SResult<()> {
        let data = snapshot.into_inner();
        let img: Image = serde_json::from_slice(&data).map_err(read_err)?;
        meta_put(&self.db, KEY_SNAPSHOT, &StoredSnapshot { meta: meta.clone(), data })?;
        self.image.store(Arc::new(img));
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> SResult<Option<Snapshot<TypeConfig>>> {
        Ok(meta_get::<StoredSnapshot>(&self.db, KEY_SNAPSHOT)?
            .map(|s| Snapshot { meta: s.meta, snapshot: Box::new(Cursor::new(s.data)) }))
    }
}

#[cfg(test)]
mod tests;
