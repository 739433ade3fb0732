//! KIP-853's dynamic quorum: the voters are in the metadata log, not in the nodes' configs.
//! The controller named first in `controller.quorum.bootstrap.servers` starts the quorum alone
//! when no other answers (what `kafka-storage format --standalone` does for Kafka); every other
//! controller follows it as an observer until AddRaftVoter (`kafka-metadata-quorum
//! add-controller`) makes it a voter, and RemoveRaftVoter (`remove-controller`) makes a voter an
//! observer again. A voter is keyed by its id and its metadata directory id (meta.properties).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::{BasicNode, ChangeMembers};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::observer::Joined;
use super::peer::{PeerRequest, PeerResponse};
use super::raft::NodeId;
use super::{Command, Metadata, Node, WRITE_WAIT};

/// A change of the voter set, as AddRaftVoter and RemoveRaftVoter ask for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VoterChange {
    /// Node `id` (an observer at `addr`, its controller listener) becomes a voter.
    Add { id: i32, directory_id: Uuid, addr: String },
    /// Voter `id` becomes an observer.
    Remove { id: i32, directory_id: Uuid },
}

/// Why a voter change was not made (each has its Kafka error code in the handlers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum VoterRefusal {
    #[error(
        "the voters are fixed by controller.quorum.voters (kraft.version 0): use controller.quorum.bootstrap.servers for a quorum whose voters can change"
    )]
    Static,
    #[error("node {0} is already a voter")]
    Duplicate(i32),
    #[error("no voter has id {0} and that directory id")]
    NotFound(i32),
    #[error(
        "node {0} does not follow the metadata quorum: start it with controller.quorum.bootstrap.servers naming the controllers, then add it"
    )]
    NotObserver(i32),
    #[error("{0}")]
    Invalid(String),
    #[error("the voter change did not complete: {0}")]
    Failed(String),
    #[error("this node does not lead the metadata quorum")]
    NotLeader(Option<NodeId>),
}

impl Node {
    /// Whether this node is a voter of the group's current membership.
    fn is_voter(&self) -> bool {
        let me = self.me();
        self.raft.metrics().borrow().membership_config.membership().voter_ids().any(|v| v == me)
    }

    /// Start-up of a controller of a dynamic quorum (`own`: its controller address).
    pub(super) async fn start_dynamic(self: Arc<Self>, empty: bool, own: String) {
        let me = self.me();
        if !empty && self.is_voter() {
            // A voter restarting: its log says so.
            return;
        }
        let first = self.options.dynamic.as_ref().is_some_and(|d| d.first);
        if empty && first && self.led_elsewhere().await.is_none() {
            self.set_voting(true);
            match self.raft.initialize(BTreeMap::from([(me, BasicNode::new(&own))])).await {
                Ok(()) => tracing::info!(
                    "this node starts the metadata quorum as its only voter (it is named first in \
                     controller.quorum.bootstrap.servers); kafka-metadata-quorum add-controller adds the others"
                ),
                Err(e) => tracing::debug!(error = %e, "metadata group already initialized"),
            }
            return;
        }
        if let Joined::Voter = self.join_as_observer().await {
            // A voter back with an empty store: as in a static quorum, it takes the leader's log
            // and votes only once that has reached it.
            tracing::warn!("this voter's metadata store is empty: catching up from the leader before it votes");
            self.set_voting(false);
            tokio::spawn(self.clone().vote_once_caught_up());
        } else {
            // An observer is asked for no vote until AddRaftVoter makes it a voter.
            self.set_voting(true);
        }
    }

    /// On a voter of a dynamic quorum: records its directory id in the image if it is not there
    /// (the node that started the quorum alone; one added by AddRaftVoter has it already).
    pub(super) async fn record_directory(&self) {
        let Some(d) = self.options.dynamic.as_ref().filter(|d| d.controller_addr.is_some()) else { return };
        if !self.is_voter() || self.image.load().voter_directories.get(&self.options.node_id) == Some(&d.directory_id) {
            return;
        }
        let cmd = Command::SetVoterDirectory { id: self.options.node_id, directory: Some(d.directory_id) };
        if let Err(e) = self.submit(cmd).await {
            tracing::warn!(error = %e, "could not record this voter's directory id");
        }
    }

    /// On the metadata leader: makes `change`, returning once the new voter set is committed.
    pub(super) async fn change_voters_here(&self, change: VoterChange) -> Result<(), VoterRefusal> {
        if self.leader() != Some(self.me()) {
            return Err(VoterRefusal::NotLeader(self.leader()));
        }
        let membership = self.raft.metrics().borrow().membership_config.membership().clone();
        let is_voter = |id: i32| membership.voter_ids().any(|v| v == id as NodeId);
        let failed = |e: &dyn std::fmt::Display| VoterRefusal::Failed(e.to_string());
        match change {
            VoterChange::Add { id, directory_id, addr } => {
                if is_voter(id) {
                    return Err(VoterRefusal::Duplicate(id));
                }
                let node = membership.get_node(&(id as NodeId)).ok_or(VoterRefusal::NotObserver(id))?;
                if node.addr != addr {
                    let nodes = ChangeMembers::SetNodes([(id as NodeId, BasicNode::new(&addr))].into());
                    self.raft.change_membership(nodes, true).await.map_err(|e| failed(&e))?;
                }
                let add = ChangeMembers::AddVoterIds([id as NodeId].into());
                self.raft.change_membership(add, false).await.map_err(|e| failed(&e))?;
                tracing::info!(node = id, %addr, "node added to the voters of the metadata quorum");
                let cmd = Command::SetVoterDirectory { id, directory: Some(directory_id) };
                self.submit(cmd).await.map_err(|e| failed(&e))?;
            }
            VoterChange::Remove { id, directory_id } => {
                let known = self.image.load().voter_directories.get(&id).copied();
                if !is_voter(id) || known.is_some_and(|d| d != directory_id) {
                    return Err(VoterRefusal::NotFound(id));
                }
                if membership.voter_ids().count() == 1 {
                    return Err(VoterRefusal::Invalid(format!("node {id} is the only voter")));
                }
                let remove = ChangeMembers::RemoveVoters([id as NodeId].into());
                self.raft.change_membership(remove, true).await.map_err(|e| failed(&e))?;
                tracing::info!(node = id, "node removed from the voters of the metadata quorum");
                let cmd = Command::SetVoterDirectory { id, directory: None };
                self.submit(cmd).await.map_err(|e| failed(&e))?;
            }
        }
        Ok(())
    }
}

impl Metadata {
    /// Whether the voters may change: a dynamic quorum's (a static quorum and a node alone
    /// refuse AddRaftVoter and RemoveRaftVoter with `VoterRefusal::Static`).
    pub fn voters_may_change(&self) -> bool {
        self.node.options.dynamic.is_some()
    }

    /// AddRaftVoter / RemoveRaftVoter from any node: made by the metadata leader.
    pub async fn change_voters(&self, change: VoterChange) -> Result<(), VoterRefusal> {
        let node = &self.node;
        if !self.voters_may_change() {
            return Err(VoterRefusal::Static);
        }
        let started = Instant::now();
        let mut last = VoterRefusal::NotLeader(None);
        while started.elapsed() < WRITE_WAIT {
            let result = match node.leader() {
                Some(l) if l == node.me() => node.change_voters_here(change.clone()).await,
                Some(l) => match node.address_of(l) {
                    Some(addr) => {
                        match node.peers.call(&addr, PeerRequest::ChangeVoters(change.clone()), WRITE_WAIT).await {
                            Ok(PeerResponse::VotersChanged(r)) => r,
                            Ok(other) => Err(VoterRefusal::Failed(format!("the leader answered {other:?}"))),
                            Err(e) => Err(VoterRefusal::Failed(e.to_string())),
                        }
                    }
                    None => Err(VoterRefusal::NotLeader(Some(l))),
                },
                None => Err(VoterRefusal::NotLeader(None)),
            };
            match result {
                Err(e @ VoterRefusal::NotLeader(_)) => last = e,
                other => return other,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(last)
    }
}
