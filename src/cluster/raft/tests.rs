use std::sync::Arc;

use arc_swap::ArcSwap;
use openraft::StorageError;
use openraft::testing::{StoreBuilder, Suite};

use super::{LogStore, NodeId, StateMachine, TypeConfig};
use crate::cluster::Image;
use crate::log::rocks::open_db;

/// A fresh RocksDB in a temporary directory for each of the suite's cases; the directory lives
/// as long as the case (the suite's guard).
struct Rocks;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Rocks {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<NodeId>> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let db = open_db(dir.path()).expect("a fresh store opens");
        let sm = StateMachine::open(db.clone(), Arc::new(ArcSwap::from_pointee(Image::default())))?;
        Ok((dir, LogStore::new(db), sm))
    }
}

#[test]
fn the_raft_log_and_state_machine_pass_openraft_storage_suite() {
    Suite::test_all(Rocks).expect("openraft's storage suite");
}

/// A snapshot describes the image at its own last log id, even when entries are applied between
/// the moment openraft takes a builder and the moment the builder runs (it runs on a task of
/// its own). A snapshot that ran ahead would have those entries applied twice by a node that
/// installs it.
#[tokio::test]
async fn a_snapshot_holds_the_image_at_its_own_last_log_id() {
    use openraft::storage::RaftStateMachine;
    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, RaftSnapshotBuilder};

    use crate::cluster::image::{BrokerInfo, Command};

    let dir = tempfile::tempdir().expect("temporary directory");
    let db = open_db(dir.path()).expect("a fresh store opens");
    let image = Arc::new(ArcSwap::from_pointee(Image::default()));
    let mut sm = StateMachine::open(db.clone(), image.clone()).expect("state machine");
    let register = |index: u64, id: i32| Entry::<TypeConfig> {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(Command::RegisterBroker {
            id,
            info: BrokerInfo { host: "127.0.0.1".into(), port: 9092, rack: None },
        }),
    };
    sm.apply([register(1, 1)]).await.expect("applied");
    let mut builder = sm.get_snapshot_builder().await;
    sm.apply([register(2, 2)]).await.expect("applied");
    assert_eq!(image.load().brokers.len(), 2, "the published image has both brokers");

    let snapshot = builder.build_snapshot().await.expect("built");
    assert_eq!(snapshot.meta.last_log_id.map(|l| l.index), Some(1));
    let held: Image = serde_json::from_slice(snapshot.snapshot.get_ref()).expect("an image");
    assert_eq!(held.brokers.keys().copied().collect::<Vec<_>>(), vec![1], "the image as of index 1");

    // A restart from that snapshot replays index 2 onto an image without broker 2.
    let reopened = Arc::new(ArcSwap::from_pointee(Image::default()));
    StateMachine::open(db, reopened.clone()).expect("reopens");
    assert_eq!(reopened.load().brokers.keys().copied().collect::<Vec<_>>(), vec![1]);
}
