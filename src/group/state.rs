//! The classic group protocol as Kafka's coordinator runs it: a group's members, generation and
//! protocol, and the transitions between Empty, PreparingRebalance, CompletingRebalance, Stable
//! and Dead. Plain data and functions of (state, request, now): no I/O, no timers of its own.
//! Waiting members are parked as oneshot senders that a transition completes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use indexmap::IndexMap;
use tokio::sync::oneshot;

use crate::group::GroupError;

mod join;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name Kafka tools print.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// Limits from the broker's group.* settings.
#[derive(Debug, Clone, Copy)]
pub struct GroupConfig {
    pub session_timeout_ms_min: i32,
    pub session_timeout_ms_max: i32,
    pub initial_rebalance_delay_ms: i32,
    pub group_size_max: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            session_timeout_ms_min: 6_000,
            session_timeout_ms_max: 1_800_000,
            initial_rebalance_delay_ms: 3_000,
            group_size_max: usize::MAX,
        }
    }
}

/// What a JoinGroup carries.
#[derive(Debug, Clone, Default)]
pub struct JoinRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// v4+: a new dynamic member first gets MEMBER_ID_REQUIRED with its id (KIP-394).
    pub require_known_member_id: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub metadata: Bytes,
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOutcome {
    pub error: Option<GroupError>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Filled for the leader only.
    pub members: Vec<JoinMember>,
    /// A returning static leader keeps the current assignment (KIP-814, JoinGroup v9+).
    pub skip_assignment: bool,
}

impl JoinOutcome {
    pub fn error(e: GroupError, member_id: &str) -> JoinOutcome {
        JoinOutcome {
            error: Some(e),
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: vec![],
            skip_assignment: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    pub error: Option<GroupError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncOutcome {
    pub fn error(e: GroupError) -> SyncOutcome {
        SyncOutcome { error: Some(e), protocol_type: None, protocol_name: None, assignment: Bytes::new() }
    }
}

/// Either an answer now, or a receiver completed by a later transition.
pub enum Reply<T> {
    Now(T),
    Later(oneshot::Receiver<T>),
}

#[derive(Debug)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    last_seen: Instant,
    join_waiter: Option<oneshot::Sender<JoinOutcome>>,
    sync_waiter: Option<oneshot::Sender<SyncOutcome>>,
}

/// A member moving between a consumer-protocol group and a classic one (KIP-848 online
/// upgrade and downgrade).
#[derive(Debug, Clone)]
pub struct MovedMember {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
}

impl Member {
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|(n, _)| n == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }
}

/// Something the coordinator must persist after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    Nothing,
    GroupMetadata,
}

pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub members: IndexMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with the time they expire.
    pending: HashMap<String, Instant>,
    /// group.instance.id -> member id of static members.
    pub static_members: HashMap<String, String>,
    rebalance_deadline: Option<Instant>,
    /// The earliest moment the first rebalance of an empty group may complete.
    initial_delay_until: Option<Instant>,
    /// A member joined while the initial delay ran: the delay is extended once more.
    new_member_added: bool,
    next_member_seq: u64,
}

impl Group {
    pub fn new(id: &str) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: IndexMap::new(),
            pending: HashMap::new(),
            static_members: HashMap::new(),
            rebalance_deadline: None,
            initial_delay_until: None,
            new_member_added: false,
            next_member_seq: 0,
        }
    }

    /// The member and generation checks of SyncGroup, Heartbeat and OffsetCommit.
    pub fn check_member(&self, member_id: &str, instance_id: Option<&str>, generation: i32) -> Result<(), GroupError> {
        if let Some(inst) = instance_id
            && let Some(known) = self.static_members.get(inst)
            && known != member_id
        {
            return Err(GroupError::FencedInstanceId);
        }
        if !self.members.contains_key(member_id) {
            return Err(GroupError::UnknownMemberId);
        }
        if generation != self.generation {
            return Err(GroupError::IllegalGeneration);
        }
        Ok(())
    }

    /// Handles a SyncGroup; the leader's assignments complete everyone's wait.
    pub fn sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        protocol: (Option<&str>, Option<&str>),
        assignments: Vec<(String, Bytes)>,
        now: Instant,
    ) -> (Reply<SyncOutcome>, Persist) {
        let now_err = |e| (Reply::Now(SyncOutcome::error(e)), Persist::Nothing);
        match self.state {
            GroupState::Dead => return now_err(GroupError::CoordinatorNotAvailable),
            GroupState::Empty => return now_err(GroupError::UnknownMemberId),
            _ => {}
        }
        if let Err(e) = self.check_member(member_id, instance_id, generation) {
            return now_err(e);
        }
        let (ptype, pname) = protocol;
        if ptype.is_some_and(|t| Some(t) != self.protocol_type.as_deref())
            || pname.is_some_and(|n| Some(n) != self.protocol_name.as_deref())
        {
            return now_err(GroupError::InconsistentGroupProtocol);
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_seen = now;
        }
        match self.state {
            GroupState::PreparingRebalance => now_err(GroupError::RebalanceInProgress),
            GroupState::Stable => {
                let a = self.members[member_id].assignment.clone();
                (Reply::Now(self.sync_outcome(a)), Persist::Nothing)
            }
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                self.members.get_mut(member_id).expect("checked").sync_waiter = Some(tx);
                if self.leader.as_deref() != Some(member_id) {
                    return (Reply::Later(rx), Persist::Nothing);
                }
                for m in self.members.values_mut() {
                    m.assignment =
                        assignments.iter().find(|(id, _)| *id == m.id).map(|(_, a)| a.clone()).unwrap_or_default();
                }
                self.state = GroupState::Stable;
                let ids: Vec<String> = self.members.keys().cloned().collect();
                for id in ids {
                    let out = self.sync_outcome(self.members[&id].assignment.clone());
                    if let Some(w) = self.members.get_mut(&id).and_then(|m| m.sync_waiter.take()) {
                        let _ = w.send(out);
                    }
                }
                (Reply::Later(rx), Persist::GroupMetadata)
            }
            GroupState::Empty | GroupState::Dead => unreachable!("handled above"),
        }
    }

    fn sync_outcome(&self, assignment: Bytes) -> SyncOutcome {
        SyncOutcome {
            error: None,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment,
        }
    }

    /// Handles a Heartbeat.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> Result<(), GroupError> {
        match self.state {
            GroupState::Dead => return Err(GroupError::CoordinatorNotAvailable),
            GroupState::Empty => return Err(GroupError::UnknownMemberId),
            _ => {}
        }
        self.check_member(member_id, instance_id, generation)?;
        self.members.get_mut(member_id).expect("checked").last_seen = now;
        if self.state == GroupState::PreparingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// Removes members that leave; the rest rebalance.
    pub fn leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        cfg: &GroupConfig,
        now: Instant,
    ) -> Result<Persist, GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let id = match instance_id {
            Some(inst) => {
                let known = self.static_members.get(inst).cloned().ok_or(GroupError::UnknownMemberId)?;
                if !member_id.is_empty() && known != member_id {
                    return Err(GroupError::FencedInstanceId);
                }
                self.static_members.remove(inst);
                known
            }
            None => member_id.to_string(),
        };
        if self.pending.remove(&id).is_some() {
            return Ok(Persist::Nothing);
        }
        if !self.members.contains_key(&id) {
            return Err(GroupError::UnknownMemberId);
        }
        Ok(self.remove_member(&id, cfg, now))
    }

    fn remove_member(&mut self, id: &str, cfg: &GroupConfig, now: Instant) -> Persist {
        if let Some(mut m) = self.members.shift_remove(id) {
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(JoinOutcome::error(GroupError::UnknownMemberId, id));
            }
            if let Some(w) = m.sync_waiter.take() {
                let _ = w.send(SyncOutcome::error(GroupError::UnknownMemberId));
            }
            if let Some(inst) = &m.instance_id
                && self.static_members.get(inst).is_some_and(|x| x == id)
            {
                self.static_members.remove(inst);
            }
        }
        if self.leader.as_deref() == Some(id) {
            self.leader = self.members.keys().next().cloned();
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(cfg, now);
                self.try_complete_join(now)
            }
            GroupState::PreparingRebalance => self.try_complete_join(now),
            _ => Persist::Nothing,
        }
    }

    /// Time-driven transitions: expired sessions, rebalance timeouts, the initial delay.
    pub fn tick(&mut self, cfg: &GroupConfig, now: Instant) -> Persist {
        self.pending.retain(|_, until| *until > now);
        let mut persist = Persist::Nothing;
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                m.join_waiter.is_none()
                    && now.duration_since(m.last_seen) > Duration::from_millis(m.session_timeout_ms as u64)
            })
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            tracing::info!(group = %self.id, member = %id, "member session expired");
            if self.remove_member(&id, cfg, now) == Persist::GroupMetadata {
                persist = Persist::GroupMetadata;
            }
        }
        if let Some(until) = self.initial_delay_until
            && now >= until
        {
            // Kafka's initial rebalance: while members keep arriving, wait another delay (within
            // the rebalance timeout).
            let left = self.rebalance_deadline.map_or(Duration::ZERO, |d| d.saturating_duration_since(now));
            if self.new_member_added && !left.is_zero() {
                self.new_member_added = false;
                let delay = Duration::from_millis(cfg.initial_rebalance_delay_ms.max(0) as u64);
                self.initial_delay_until = Some(now + delay.min(left));
            } else {
                self.initial_delay_until = None;
            }
        }
        if self.state == GroupState::PreparingRebalance {
            if self.rebalance_deadline.is_some_and(|d| now >= d) && self.initial_delay_until.is_none() {
                // Members that did not rejoin in time are dropped; the rest go on.
                let late: Vec<String> =
                    self.members.values().filter(|m| m.join_waiter.is_none()).map(|m| m.id.clone()).collect();
                for id in late {
                    if let Some(m) = self.members.shift_remove(&id)
                        && let Some(inst) = m.instance_id
                    {
                        self.static_members.remove(&inst);
                    }
                }
                if self.complete_join() == Persist::GroupMetadata {
                    persist = Persist::GroupMetadata;
                }
            } else if self.try_complete_join(now) == Persist::GroupMetadata {
                persist = Persist::GroupMetadata;
            }
        }
        persist
    }

    /// Online upgrade: the members leave this group for a consumer-protocol one. Anyone waiting
    /// on a join or a sync is told to rejoin; the group is left empty.
    pub fn take_members(&mut self) -> Vec<MovedMember> {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let mut out = Vec::new();
        for (_, mut m) in self.members.drain(..) {
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(JoinOutcome::error(GroupError::RebalanceInProgress, &m.id));
            }
            if let Some(w) = m.sync_waiter.take() {
                let _ = w.send(SyncOutcome::error(GroupError::RebalanceInProgress));
            }
            // The chosen protocol first, as the member's subscription of record.
            m.protocols.sort_by_key(|(n, _)| *n != protocol);
            out.push(MovedMember {
                id: m.id,
                instance_id: m.instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout_ms: m.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                protocols: m.protocols,
                assignment: m.assignment,
            });
        }
        *self = Group { generation: self.generation, ..Group::new(&self.id) };
        out
    }

    /// Online downgrade: a classic group of the given members at `generation`, rebalancing so
    /// that they rejoin under the classic protocol.
    pub fn from_members(
        id: &str,
        generation: i32,
        members: Vec<MovedMember>,
        cfg: &GroupConfig,
        now: Instant,
    ) -> Group {
        let mut g = Group::new(id);
        g.generation = generation;
        g.protocol_type = Some("consumer".into());
        for m in members {
            if let Some(inst) = &m.instance_id {
                g.static_members.insert(inst.clone(), m.id.clone());
            }
            let member = Member {
                id: m.id.clone(),
                instance_id: m.instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout_ms: m.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                protocol_type: "consumer".into(),
                protocols: m.protocols,
                assignment: m.assignment,
                last_seen: now,
                join_waiter: None,
                sync_waiter: None,
            };
            g.members.insert(m.id, member);
        }
        g.leader = g.members.keys().next().cloned();
        g.protocol_name = g.select_protocol();
        g.state = GroupState::Stable;
        // No initial delay: this is not a new group.
        g.prepare_rebalance(&GroupConfig { initial_rebalance_delay_ms: 0, ..*cfg }, now);
        g
    }

    /// A group as its last metadata record left it: a stable group keeps its members, their
    /// assignments and the generation (each member's session starts afresh at `now`), so a
    /// coordinator taking it over does not make it rebalance; any other group is empty.
    pub fn restore(id: &str, meta: &super::records::GroupMeta, now: Instant) -> Group {
        let mut g = Group::new(id);
        g.generation = meta.generation;
        g.protocol_type = Some(meta.protocol_type.clone()).filter(|t| !t.is_empty());
        let Some(protocol) = meta.protocol.clone().filter(|_| !meta.members.is_empty()) else { return g };
        for m in &meta.members {
            if let Some(inst) = &m.instance_id {
                g.static_members.insert(inst.clone(), m.member_id.clone());
            }
            let member = Member {
                id: m.member_id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                session_timeout_ms: m.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                protocol_type: meta.protocol_type.clone(),
                protocols: vec![(protocol.clone(), m.subscription.clone())],
                assignment: m.assignment.clone(),
                last_seen: now,
                join_waiter: None,
                sync_waiter: None,
            };
            g.members.insert(m.member_id.clone(), member);
        }
        g.protocol_name = Some(protocol);
        g.leader =
            meta.leader.clone().filter(|l| g.members.contains_key(l)).or_else(|| g.members.keys().next().cloned());
        g.state = GroupState::Stable;
        g
    }

    /// The members worth persisting: those of a stable group, with their assignments.
    pub fn persisted_members(&self) -> Vec<super::records::MemberMeta> {
        if self.state != GroupState::Stable {
            return Vec::new();
        }
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.members
            .values()
            .map(|m| super::records::MemberMeta {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                session_timeout_ms: m.session_timeout_ms,
                subscription: m.metadata(&protocol),
                assignment: m.assignment.clone(),
            })
            .collect()
    }

    /// True when the group has no members and is not rebalancing.
    pub fn is_empty(&self) -> bool {
        self.state == GroupState::Empty && self.members.is_empty()
    }

    /// Topics the members subscribe to, when the protocol type is "consumer" (for OffsetDelete).
    pub fn subscribed_topics(&self) -> Option<std::collections::HashSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") || self.state != GroupState::Stable {
            return None;
        }
        let protocol = self.protocol_name.clone()?;
        let mut topics = std::collections::HashSet::new();
        for m in self.members.values() {
            topics.extend(super::consumer_protocol::subscription_topics(&m.metadata(&protocol))?);
        }
        Some(topics)
    }
}

#[cfg(test)]
mod tests;
