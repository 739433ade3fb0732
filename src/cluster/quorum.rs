//! The metadata raft group as DescribeQuorum reports it (Kafka's `__cluster_metadata` quorum):
//! this node's view, or the leader's, which alone knows how far each replica got.

use super::peer::{PeerRequest, PeerResponse};
use super::raft::{NodeId, Raft};
use super::{Metadata, PEER_CALL_TIMEOUT};

impl Metadata {
    /// The metadata quorum as DescribeQuorum reports it.
    pub fn quorum(&self) -> Quorum {
        Metadata::quorum_of(&self.node.raft)
    }

    pub(super) fn quorum_of(raft: &Raft) -> Quorum {
        let m = raft.metrics().borrow().clone();
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
            answered_by: m.id as i32,
            leader: m.current_leader.map(|l| l as i32),
            term: m.current_term as i32,
            high_watermark: end(m.last_applied.map(|l| l.index)),
            voters: membership.voter_ids().map(replica).collect(),
            observers: membership.learner_ids().map(replica).collect(),
        }
    }

    /// The quorum as the metadata leader sees it (it alone knows how far each voter got): this
    /// node's own view when it leads, no leader is known, or the leader does not answer.
    pub async fn leader_quorum(&self) -> Quorum {
        let own = self.quorum();
        let Some(addr) = own.leader.filter(|l| *l != own.answered_by).and_then(|l| self.node.address_of(l as NodeId))
        else {
            return own;
        };
        match self.node.peers.call(&addr, PeerRequest::Quorum, PEER_CALL_TIMEOUT).await {
            Ok(PeerResponse::Quorum(q)) => q,
            other => {
                tracing::debug!(?other, "the metadata leader did not describe the quorum");
                own
            }
        }
    }
}

/// What DescribeQuorum reports of the metadata raft group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quorum {
    /// The node whose view this is.
    pub answered_by: i32,
    pub leader: Option<i32>,
    pub term: i32,
    /// Applied entries: the next index to be applied (Kafka's high watermark is an end offset).
    pub high_watermark: i64,
    pub voters: Vec<QuorumReplica>,
    pub observers: Vec<QuorumReplica>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QuorumReplica {
    pub id: i32,
    /// -1 when the leader has not heard from the replica.
    pub log_end_offset: i64,
}
