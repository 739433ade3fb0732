//! A node that starts with an empty metadata store (its data dir was lost) while the other
//! voters hold the group's log: it takes the leader's log instead of initializing a group of its
//! own, and grants no vote until that log has reached it (`Node::rejoining`). Granting one
//! earlier could elect a voter that lacks committed entries, which would then be overwritten.

use std::sync::Arc;

use super::peer::{PeerRequest, PeerResponse};
use super::{Node, PEER_CALL_TIMEOUT};

/// What a voter of a group just formed has applied (DescribeQuorum's high watermark): the
/// initial membership and the first leader's blank entry.
const NEW_GROUP_APPLIED: i64 = 2;

impl Node {
    /// Whether the group exists already, asked of each other voter at once: the leader one
    /// knows of, or else a voter that has applied more than a new group's first entries (its
    /// leader may be the node now starting: a metadata leader whose data dir was lost). A node
    /// that starts with an empty store uses it to tell a new cluster from an existing one.
    pub(super) async fn led_elsewhere(&self) -> Option<i32> {
        let me = self.options.node_id;
        let addrs = self.options.peer_addrs();
        let asks = addrs.iter().map(|addr| async move {
            match self.peers.call(addr, PeerRequest::Quorum, PEER_CALL_TIMEOUT).await {
                Ok(PeerResponse::Quorum(q)) => q
                    .leader
                    .filter(|l| *l != me)
                    .or((q.high_watermark > NEW_GROUP_APPLIED).then_some(q.answered_by)),
                _ => None,
            }
        });
        futures::future::join_all(asks).await.into_iter().flatten().next()
    }

    /// Clears `rejoining` once a leader's log has reached this node: its vote is then that
    /// leader's, committed, and it has applied the leader's log or snapshot.
    pub(super) async fn vote_once_caught_up(self: Arc<Self>) {
        let me = self.me();
        let caught_up = self
            .raft
            .wait(None)
            .metrics(
                |m| m.vote.is_committed() && m.current_leader.is_some_and(|l| l != me) && m.last_applied.is_some(),
                "a leader's log reached this node",
            )
            .await;
        if let Ok(m) = caught_up {
            self.rejoining.store(false, std::sync::atomic::Ordering::SeqCst);
            tracing::info!(
                leader = ?m.current_leader,
                applied = ?m.last_applied.map(|l| l.index),
                "caught up with the metadata leader: this node votes again"
            );
        }
    }

    /// Whether this node may grant a vote (not while it rejoins with an empty store).
    pub(super) fn may_vote(&self) -> bool {
        !self.rejoining.load(std::sync::atomic::Ordering::SeqCst)
    }
}
