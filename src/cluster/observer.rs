//! Broker-only nodes of a cluster (Kafka's observers), and the controllers of a dynamic quorum
//! until AddRaftVoter makes them voters, are learners of the metadata group: at start-up one
//! asks the voters (or the bootstrap servers), following their leader hints, until the leader
//! has it as a learner at its address; the leader then replicates the log to it as to a voter,
//! and it never votes nor stands for election.

use std::time::{Duration, Instant};

use openraft::{BasicNode, ChangeMembers};

use super::peer::{PeerRequest, PeerResponse};
use super::raft::NodeId;
use super::{Node, PEER_CALL_TIMEOUT};

/// How long an observer waits between rounds of asking the voters.
const JOIN_RETRY: Duration = Duration::from_millis(500);
/// ... and before it asks the leader a voter named.
const HINTED_RETRY: Duration = Duration::from_millis(50);

/// What a node joining the metadata group became.
pub(super) enum Joined {
    Observer,
    Voter,
}

impl Node {
    /// Returns once the metadata leader has this node as a learner at `observer_addr` (Observer),
    /// or says it is a voter already (Voter: a voter of a dynamic quorum back with an empty
    /// store). Waits as long as it takes (the voters may not be up yet), saying so every few
    /// seconds.
    pub(super) async fn join_as_observer(&self) -> Joined {
        let Some(addr) = self.options.observer_addr.clone() else { return Joined::Observer };
        let controller = self.options.dynamic_controller().is_some();
        let started = Instant::now();
        let mut said = Instant::now();
        let mut hint: Option<NodeId> = None;
        loop {
            let hinted = hint.take().and_then(|l| self.address_of(l));
            let targets: Vec<String> = hinted.into_iter().chain(self.options.peer_addrs()).collect();
            for target in &targets {
                let ask = PeerRequest::Observe { addr: addr.clone() };
                match self.peers.call(target, ask, PEER_CALL_TIMEOUT).await {
                    Ok(PeerResponse::Observed) => {
                        tracing::info!(voter = %target, %addr, "this node follows the metadata quorum as an observer");
                        return Joined::Observer;
                    }
                    Ok(PeerResponse::AlreadyVoter) if controller => return Joined::Voter,
                    Ok(PeerResponse::AlreadyVoter) => tracing::warn!(
                        voter = %target,
                        "node.id is a voter of the metadata quorum; a broker-only node needs a node.id of its own"
                    ),
                    Ok(PeerResponse::NotLeader { leader: Some(l) }) => {
                        hint = Some(l);
                        break;
                    }
                    Ok(other) => tracing::debug!(voter = %target, ?other, "a voter did not add this observer"),
                    Err(e) => {
                        tracing::debug!(voter = %target, error = %e, "asking a voter to add this observer failed")
                    }
                }
            }
            if said.elapsed() > Duration::from_secs(5) {
                tracing::info!(
                    waited_s = started.elapsed().as_secs(),
                    controllers = ?self.options.peer_addrs(),
                    "waiting for the metadata quorum to take this node as an observer"
                );
                said = Instant::now();
            }
            tokio::time::sleep(if hint.is_some() { HINTED_RETRY } else { JOIN_RETRY }).await;
        }
    }

    /// On the metadata leader: node `id` is a learner at `addr` once this returns `Observed`
    /// (nothing is written when it already is one there).
    pub(super) async fn add_observer(&self, id: i32, addr: String) -> PeerResponse {
        if self.leader() != Some(self.me()) {
            return PeerResponse::NotLeader { leader: self.leader() };
        }
        let id = id as NodeId;
        let membership = self.raft.metrics().borrow().membership_config.clone();
        if membership.membership().voter_ids().any(|v| v == id) {
            return PeerResponse::AlreadyVoter;
        }
        let result = match membership.membership().get_node(&id) {
            Some(known) if known.addr == addr => return PeerResponse::Observed,
            Some(_) => {
                let change = ChangeMembers::SetNodes([(id, BasicNode::new(&addr))].into());
                self.raft.change_membership(change, true).await
            }
            None => self.raft.add_learner(id, BasicNode::new(&addr), false).await,
        };
        match result {
            Ok(_) => {
                tracing::info!(node = id, %addr, "node added to the metadata group as an observer");
                PeerResponse::Observed
            }
            Err(e) => PeerResponse::Refused(e.to_string()),
        }
    }
}
