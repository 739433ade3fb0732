//! Cluster metadata: an openraft group whose state machine is the `Image`. The default broker is
//! a group of one, initialized on first start. `replication` holds Kafka's partition replication
//! rules (high watermark, ISR, elections, divergence) as pure functions for the cluster to come.

pub mod acl;
pub mod image;
pub mod placement;
pub mod raft;
pub mod replication;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use openraft::BasicNode;
use rocksdb::DB;
use thiserror::Error;

pub use image::{BrokerInfo, Command, CommandResult, Image, PartitionMeta, Topic};
use raft::{LogStore, Network, Raft, StateMachine};

#[derive(Debug, Error)]
pub enum MetadataError {
    #[error("metadata raft failed to start: {0}")]
    Start(String),
    #[error("metadata write failed: {0}")]
    Write(#[from] openraft::error::RaftError<raft::NodeId, openraft::error::ClientWriteError<raft::NodeId, BasicNode>>),
    /// The metadata group answered a command with a result of another kind (a bug, never input).
    #[error("the metadata group answered {0:?} to a command that expects another result")]
    Unexpected(CommandResult),
}

/// Handle to the metadata group: reads are lock-free snapshots, writes go through raft.
/// Cloning shares the same group.
#[derive(Clone)]
pub struct Metadata {
    raft: Raft,
    image: Arc<ArcSwap<Image>>,
}

/// How long start-up waits for this node to lead its one-node group.
const LEADER_WAIT_MS_MAX: u64 = 10_000;

impl Metadata {
    pub async fn start(db: Arc<DB>, node_id: i32) -> Result<Metadata, MetadataError> {
        let err = |e: &dyn std::fmt::Display| MetadataError::Start(e.to_string());
        let config = openraft::Config {
            cluster_name: "gregor".into(),
            heartbeat_interval: 50,
            election_timeout_min: 100,
            election_timeout_max: 150,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(1000),
            ..Default::default()
        }
        .validate()
        .map_err(|e| err(&e))?;
        let image = Arc::new(ArcSwap::from_pointee(Image::default()));
        let sm = StateMachine::open(db.clone(), image.clone()).map_err(|e| err(&e))?;
        let id = node_id as u64;
        let raft = Raft::new(id, Arc::new(config), Network, LogStore::new(db), sm).await.map_err(|e| err(&e))?;
        if !raft.is_initialized().await.map_err(|e| err(&e))? {
            let members = BTreeMap::from([(id, BasicNode::default())]);
            raft.initialize(members).await.map_err(|e| err(&e))?;
        }
        let timeout = Some(Duration::from_millis(LEADER_WAIT_MS_MAX));
        let m =
            raft.wait(timeout).current_leader(id, "this node leads the metadata group").await.map_err(|e| err(&e))?;
        // Everything committed before the restart is applied before the broker serves.
        if let Some(last) = m.last_log_index {
            raft.wait(timeout).applied_index_at_least(Some(last), "metadata replayed").await.map_err(|e| err(&e))?;
        }
        Ok(Metadata { raft, image })
    }

    /// The current image: an immutable snapshot, cheap to take.
    pub fn image(&self) -> Arc<Image> {
        self.image.load_full()
    }

    /// The published image itself, for components that outlive one request.
    pub fn image_handle(&self) -> Arc<ArcSwap<Image>> {
        self.image.clone()
    }

    /// Replicates and applies a command, returning its result.
    pub async fn submit(&self, cmd: Command) -> Result<CommandResult, MetadataError> {
        Ok(self.raft.client_write(cmd).await?.data)
    }

    /// The metadata quorum as DescribeQuorum reports it.
    pub fn quorum(&self) -> Quorum {
        let m = self.raft.metrics().borrow().clone();
        let end = |index: Option<u64>| index.map_or(0, |i| i as i64 + 1);
        let matched = m.replication.as_ref();
        let replica = |id: u64| {
            let log_end = if Some(id) == m.current_leader && id == m.id {
                end(m.last_log_index)
            } else {
                matched.and_then(|r| r.get(&id)).map_or(-1, |l| end(l.as_ref().map(|l| l.index)))
            };
            QuorumReplica { id: id as i32, log_end_offset: log_end }
        };
        let membership = m.membership_config.membership();
        Quorum {
            leader: m.current_leader.map(|l| l as i32),
            term: m.current_term as i32,
            high_watermark: end(m.last_applied.map(|l| l.index)),
            voters: membership.voter_ids().map(replica).collect(),
            observers: membership.learner_ids().map(replica).collect(),
        }
    }

    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}

/// What DescribeQuorum reports of the metadata raft group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quorum {
    pub leader: Option<i32>,
    pub term: i32,
    /// Applied entries: the next index to be applied (Kafka's high watermark is an end offset).
    pub high_watermark: i64,
    pub voters: Vec<QuorumReplica>,
    pub observers: Vec<QuorumReplica>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumReplica {
    pub id: i32,
    /// -1 when the leader has not heard from the replica.
    pub log_end_offset: i64,
}
