//! A node that starts with an empty metadata store (its data dir was lost) while the other
//! voters hold the group's log: it takes the leader's log instead of initializing a group of its
//! own, and grants no vote until that log has reached it (`Node::rejoining`). Granting one
//! earlier could elect a voter that lacks committed entries, which would then be overwritten.
//! It starts a new group only when a majority of the voters say they have none: with the
//! others out of reach it cannot tell a new cluster from a lost data dir, so it waits.

use std::sync::Arc;
use std::time::Duration;

use super::peer::{PeerRequest, PeerResponse};
use super::{Node, PEER_CALL_TIMEOUT};

/// What a voter of a group just formed has applied (DescribeQuorum's high watermark): the
/// initial membership and the first leader's blank entry.
const NEW_GROUP_APPLIED: i64 = 2;

/// How often a voter with an empty store asks the others again.
const RETRY: Duration = Duration::from_millis(300);

/// What a voter answered about the group.
enum Answer {
    /// It knows a leader, or has applied more than a new group has: the group exists.
    Exists(i32),
    /// It has no more than a new group's first entries and knows no leader.
    New,
    /// It did not answer.
    Silent,
}

impl Answer {
    /// The node that says the group exists, if this answer does.
    fn exists(&self) -> Option<i32> {
        if let Answer::Exists(peer) = self { Some(*peer) } else { None }
    }
}

impl Node {
    /// Each other voter's answer (at once) on whether the group exists: the leader it knows of,
    /// or else itself if it has applied more than a new group's first entries (its leader may
    /// be the node now starting: a metadata leader whose data dir was lost).
    async fn ask_voters(&self) -> Vec<Answer> {
        let me = self.options.node_id;
        let addrs = self.options.peer_addrs();
        let asks = addrs.iter().map(|addr| async move {
            match self.peers.call(addr, PeerRequest::Quorum, PEER_CALL_TIMEOUT).await {
                Ok(PeerResponse::Quorum(q)) => match q.leader.filter(|l| *l != me) {
                    Some(leader) => Answer::Exists(leader),
                    None if q.high_watermark > NEW_GROUP_APPLIED => Answer::Exists(q.answered_by),
                    None => Answer::New,
                },
                _ => Answer::Silent,
            }
        });
        futures::future::join_all(asks).await
    }

    /// Whether the group exists, asked once of each other voter: a node of a dynamic quorum
    /// named first starts the group alone when none says so.
    pub(super) async fn led_elsewhere(&self) -> Option<i32> {
        self.ask_voters().await.iter().find_map(Answer::exists)
    }

    /// Whether the group of a static quorum exists, for a voter that starts with an empty store:
    /// asked until some voter says it does, or a majority of the voters (this one among them)
    /// says it is new. Until then this node can neither tell a new cluster from a lost data
    /// dir nor be part of an election, so it waits.
    pub(super) async fn group_exists(&self) -> Option<i32> {
        let voters = self.options.voters.len();
        let started = tokio::time::Instant::now();
        let mut said = started;
        loop {
            let answers = self.ask_voters().await;
            if let Some(peer) = answers.iter().find_map(Answer::exists) {
                return Some(peer);
            }
            let new = 1 + answers.iter().filter(|a| matches!(a, Answer::New)).count();
            if 2 * new > voters {
                return None;
            }
            if said.elapsed() >= Duration::from_secs(5) {
                said = tokio::time::Instant::now();
                tracing::info!(
                    waited_s = started.elapsed().as_secs(),
                    answered_new = new,
                    voters,
                    "the metadata store is empty: waiting for a majority of the voters to answer before starting a \
                     new metadata group (another voter may hold the group's log)"
                );
            }
            tokio::time::sleep(RETRY).await;
        }
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
            self.set_voting(true);
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

    /// Lets this node grant votes again (`true`) or stops it (`false`: it rejoins).
    pub(super) fn set_voting(&self, on: bool) {
        self.rejoining.store(!on, std::sync::atomic::Ordering::SeqCst);
    }
}
