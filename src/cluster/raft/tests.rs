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
