//! The classic group protocol as Kafka's coordinator runs it: a group's members, generation and
//! protocol, and the transitions between Empty, PreparingRebalance, CompletingRebalance, Stable
//! and Dead. Plain data and functions of (state, request, now): no I/O, no timers of its own.
//! Waiting members are parked as oneshot senders that a transition completes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use indexmap::IndexMap;
use tokio::sync::oneshot;

use kafka_protocol::ResponseError;

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
    pub error: Option<ResponseError>,
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
    pub fn error(e: ResponseError, member_id: &str) -> JoinOutcome {
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
    pub error: Option<ResponseError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncOutcome {
    pub fn error(e: ResponseError) -> SyncOutcome {
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

    fn new_member_id(&mut self, client_id: &str, instance_id: Option<&str>) -> String {
        self.next_member_seq += 1;
        let prefix = instance_id.unwrap_or(client_id);
        format!("{prefix}-{}", uuid::Uuid::new_v4())
    }

    /// Handles a JoinGroup.
    pub fn join(&mut self, req: JoinRequest, cfg: &GroupConfig, now: Instant) -> (Reply<JoinOutcome>, Persist) {
        let member_id = req.member_id.clone();
        let fail = |e| (Reply::Now(JoinOutcome::error(e, &member_id)), Persist::Nothing);
        if req.session_timeout_ms < cfg.session_timeout_ms_min || req.session_timeout_ms > cfg.session_timeout_ms_max {
            return fail(ResponseError::InvalidSessionTimeout);
        }
        if self.state == GroupState::Dead {
            return fail(ResponseError::CoordinatorNotAvailable);
        }
        if req.protocol_type.is_empty() || req.protocols.is_empty() {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        if !self.members.is_empty() && !self.supports(&req) {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        if req.member_id.is_empty() {
            return self.join_unknown(req, cfg, now);
        }
        let known = self.members.contains_key(&req.member_id);
        let pending = self.pending.remove(&req.member_id).is_some();
        if !known && !pending {
            return fail(ResponseError::UnknownMemberId);
        }
        if let Some(inst) = &req.instance_id
            && self.static_members.get(inst).is_some_and(|m| *m != req.member_id)
        {
            return fail(ResponseError::FencedInstanceId);
        }
        if pending {
            if self.members.len() >= cfg.group_size_max {
                return fail(ResponseError::GroupMaxSizeReached);
            }
            return self.add_and_rebalance(req.member_id.clone(), req, cfg, now);
        }
        self.rejoin_known(req, cfg, now)
    }

    fn join_unknown(&mut self, req: JoinRequest, cfg: &GroupConfig, now: Instant) -> (Reply<JoinOutcome>, Persist) {
        if let Some(inst) = req.instance_id.clone() {
            let new_id = self.new_member_id(&req.client_id, Some(&inst));
            if let Some(old_id) = self.static_members.get(&inst).cloned() {
                // A static member restarting: it takes over the old member's place (KIP-345).
                return self.replace_static(old_id, new_id, req, cfg, now);
            }
            if self.members.len() >= cfg.group_size_max {
                return (Reply::Now(JoinOutcome::error(ResponseError::GroupMaxSizeReached, "")), Persist::Nothing);
            }
            self.static_members.insert(inst, new_id.clone());
            return self.add_and_rebalance(new_id, req, cfg, now);
        }
        let new_id = self.new_member_id(&req.client_id, None);
        if req.require_known_member_id {
            let session = Duration::from_millis(req.session_timeout_ms as u64);
            self.pending.insert(new_id.clone(), now + session);
            return (Reply::Now(JoinOutcome::error(ResponseError::MemberIdRequired, &new_id)), Persist::Nothing);
        }
        if self.members.len() >= cfg.group_size_max {
            return (Reply::Now(JoinOutcome::error(ResponseError::GroupMaxSizeReached, "")), Persist::Nothing);
        }
        self.add_and_rebalance(new_id, req, cfg, now)
    }

    fn replace_static(
        &mut self,
        old_id: String,
        new_id: String,
        req: JoinRequest,
        cfg: &GroupConfig,
        now: Instant,
    ) -> (Reply<JoinOutcome>, Persist) {
        let Some(mut old) = self.members.shift_remove(&old_id) else {
            self.static_members.remove(req.instance_id.as_deref().unwrap_or_default());
            return self.join_unknown(req, cfg, now);
        };
        // The fenced old instance's waiters learn it was replaced.
        if let Some(w) = old.join_waiter.take() {
            let _ = w.send(JoinOutcome::error(ResponseError::FencedInstanceId, &old_id));
        }
        if let Some(w) = old.sync_waiter.take() {
            let _ = w.send(SyncOutcome::error(ResponseError::FencedInstanceId));
        }
        let inst = req.instance_id.clone().unwrap_or_default();
        self.static_members.insert(inst, new_id.clone());
        let was_leader = self.leader.as_deref() == Some(old_id.as_str());
        // Kafka answers with the leader as it was before the replacement.
        let leader_before = self.leader.clone();
        let mut m = self.member_from(&new_id, req, now);
        m.assignment = old.assignment.clone();
        self.members.insert(new_id.clone(), m);
        if was_leader {
            self.leader = Some(new_id.clone());
        }
        match self.state {
            // As Kafka: no rebalance unless the protocol the group would select changes. A
            // returning leader gets the members back and is told to skip the assignment (KIP-814).
            GroupState::Stable if self.select_protocol() == self.protocol_name => {
                let is_leader = self.leader.as_deref() == Some(new_id.as_str());
                let mut out = self.join_outcome(&new_id, is_leader);
                out.skip_assignment = is_leader;
                out.leader = leader_before.unwrap_or_default();
                (Reply::Now(out), Persist::GroupMetadata)
            }
            GroupState::PreparingRebalance => self.park_join(&new_id, now),
            _ => {
                let rx = self.park_join_rx(&new_id);
                self.prepare_rebalance(cfg, now);
                self.try_complete_join(now);
                (Reply::Later(rx), Persist::Nothing)
            }
        }
    }

    fn rejoin_known(&mut self, req: JoinRequest, cfg: &GroupConfig, now: Instant) -> (Reply<JoinOutcome>, Persist) {
        let id = req.member_id.clone();
        let member = self.members.get_mut(&id).expect("known member");
        let changed = member.protocols != req.protocols;
        member.protocols = req.protocols;
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.last_seen = now;
        match self.state {
            GroupState::PreparingRebalance => self.park_join(&id, now),
            GroupState::CompletingRebalance if !changed => {
                (Reply::Now(self.join_outcome(&id, self.leader.as_deref() == Some(&id))), Persist::Nothing)
            }
            GroupState::Stable if !changed && self.leader.as_deref() != Some(&id) => {
                (Reply::Now(self.join_outcome(&id, false)), Persist::Nothing)
            }
            _ => {
                let rx = self.park_join_rx(&id);
                self.prepare_rebalance(cfg, now);
                self.try_complete_join(now);
                (Reply::Later(rx), Persist::Nothing)
            }
        }
    }

    fn member_from(&self, id: &str, req: JoinRequest, now: Instant) -> Member {
        Member {
            id: id.to_string(),
            instance_id: req.instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocol_type: req.protocol_type,
            protocols: req.protocols,
            assignment: Bytes::new(),
            last_seen: now,
            join_waiter: None,
            sync_waiter: None,
        }
    }

    fn add_and_rebalance(
        &mut self,
        id: String,
        req: JoinRequest,
        cfg: &GroupConfig,
        now: Instant,
    ) -> (Reply<JoinOutcome>, Persist) {
        let m = self.member_from(&id, req, now);
        if self.members.is_empty() {
            self.protocol_type = Some(m.protocol_type.clone());
        }
        self.members.insert(id.clone(), m);
        if self.leader.is_none() {
            self.leader = Some(id.clone());
        }
        let rx = self.park_join_rx(&id);
        if self.state == GroupState::PreparingRebalance {
            self.new_member_added |= self.initial_delay_until.is_some();
        } else {
            self.prepare_rebalance(cfg, now);
        }
        self.try_complete_join(now);
        (Reply::Later(rx), Persist::Nothing)
    }

    fn park_join_rx(&mut self, id: &str) -> oneshot::Receiver<JoinOutcome> {
        let (tx, rx) = oneshot::channel();
        if let Some(m) = self.members.get_mut(id)
            && let Some(old) = m.join_waiter.replace(tx)
        {
            let _ = old.send(JoinOutcome::error(ResponseError::UnknownMemberId, id));
        }
        rx
    }

    fn park_join(&mut self, id: &str, now: Instant) -> (Reply<JoinOutcome>, Persist) {
        let rx = self.park_join_rx(id);
        self.try_complete_join(now);
        (Reply::Later(rx), Persist::Nothing)
    }

    fn supports(&self, req: &JoinRequest) -> bool {
        if self.protocol_type.as_deref().is_some_and(|t| t != req.protocol_type) {
            return false;
        }
        let candidates = self.candidate_protocols();
        req.protocols.iter().any(|(n, _)| candidates.contains(n))
    }

    /// Protocols every current member supports.
    fn candidate_protocols(&self) -> Vec<String> {
        let mut it = self.members.values();
        let Some(first) = it.next() else { return vec![] };
        let mut c: Vec<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for m in it {
            c.retain(|n| m.protocols.iter().any(|(p, _)| p == n));
        }
        c
    }

    /// Kafka's choice: among protocols all members support, the one most members rank first.
    fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: IndexMap<&str, usize> = candidates.iter().map(|c| (c.as_str(), 0)).collect();
        for m in self.members.values() {
            if let Some((n, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n)) {
                *votes.get_mut(n.as_str()).expect("candidate") += 1;
            }
        }
        votes.iter().max_by_key(|(_, v)| **v).map(|(n, _)| n.to_string())
    }

    fn prepare_rebalance(&mut self, cfg: &GroupConfig, now: Instant) {
        if self.state == GroupState::CompletingRebalance {
            // Members waiting on SyncGroup must rejoin.
            for m in self.members.values_mut() {
                if let Some(w) = m.sync_waiter.take() {
                    let _ = w.send(SyncOutcome::error(ResponseError::RebalanceInProgress));
                }
            }
        }
        let timeout = self.members.values().map(|m| m.rebalance_timeout_ms).max().unwrap_or(0).max(0);
        self.rebalance_deadline = Some(now + Duration::from_millis(timeout as u64));
        // A new group waits group.initial.rebalance.delay.ms for more members, and completes from
        // the timer even when that is 0, as Kafka does: members that join within one tick share
        // the first generation.
        if self.state == GroupState::Empty {
            self.initial_delay_until = Some(now + Duration::from_millis(cfg.initial_rebalance_delay_ms.max(0) as u64));
            self.new_member_added = false;
        }
        self.state = GroupState::PreparingRebalance;
    }

    /// Completes the join phase once every member has rejoined (the initial delay of a new
    /// group ends only in `tick`).
    fn try_complete_join(&mut self, _now: Instant) -> Persist {
        if self.state != GroupState::PreparingRebalance {
            return Persist::Nothing;
        }
        if self.initial_delay_until.is_some() {
            return Persist::Nothing;
        }
        if self.members.values().any(|m| m.join_waiter.is_none()) {
            return Persist::Nothing;
        }
        self.complete_join()
    }

    fn complete_join(&mut self) -> Persist {
        self.initial_delay_until = None;
        self.rebalance_deadline = None;
        self.generation += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol_name = None;
            self.leader = None;
            return Persist::GroupMetadata;
        }
        self.protocol_name = self.select_protocol();
        if self.leader.as_ref().is_none_or(|l| !self.members.contains_key(l)) {
            self.leader = self.members.keys().next().cloned();
        }
        self.state = GroupState::CompletingRebalance;
        let leader = self.leader.clone().unwrap_or_default();
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let out = self.join_outcome(&id, id == leader);
            if let Some(w) = self.members.get_mut(&id).and_then(|m| m.join_waiter.take()) {
                let _ = w.send(out);
            }
        }
        Persist::Nothing
    }

    fn join_outcome(&self, member_id: &str, with_members: bool) -> JoinOutcome {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        JoinOutcome {
            error: None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            skip_assignment: false,
            members: if with_members {
                self.members
                    .values()
                    .map(|m| JoinMember {
                        member_id: m.id.clone(),
                        instance_id: m.instance_id.clone(),
                        metadata: m.metadata(&protocol),
                    })
                    .collect()
            } else {
                vec![]
            },
        }
    }

    /// The member and generation checks of SyncGroup, Heartbeat and OffsetCommit.
    pub fn check_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ResponseError> {
        if let Some(inst) = instance_id
            && let Some(known) = self.static_members.get(inst)
            && known != member_id
        {
            return Err(ResponseError::FencedInstanceId);
        }
        if !self.members.contains_key(member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        if generation != self.generation {
            return Err(ResponseError::IllegalGeneration);
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
            GroupState::Dead => return now_err(ResponseError::CoordinatorNotAvailable),
            GroupState::Empty => return now_err(ResponseError::UnknownMemberId),
            _ => {}
        }
        if let Err(e) = self.check_member(member_id, instance_id, generation) {
            return now_err(e);
        }
        let (ptype, pname) = protocol;
        if ptype.is_some_and(|t| Some(t) != self.protocol_type.as_deref())
            || pname.is_some_and(|n| Some(n) != self.protocol_name.as_deref())
        {
            return now_err(ResponseError::InconsistentGroupProtocol);
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_seen = now;
        }
        match self.state {
            GroupState::PreparingRebalance => now_err(ResponseError::RebalanceInProgress),
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
    ) -> Result<(), ResponseError> {
        match self.state {
            GroupState::Dead => return Err(ResponseError::CoordinatorNotAvailable),
            GroupState::Empty => return Err(ResponseError::UnknownMemberId),
            _ => {}
        }
        self.check_member(member_id, instance_id, generation)?;
        self.members.get_mut(member_id).expect("checked").last_seen = now;
        if self.state == GroupState::PreparingRebalance {
            return Err(ResponseError::RebalanceInProgress);
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
    ) -> Result<Persist, ResponseError> {
        if self.state == GroupState::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        let id = match instance_id {
            Some(inst) => {
                let known = self.static_members.get(inst).cloned().ok_or(ResponseError::UnknownMemberId)?;
                if !member_id.is_empty() && known != member_id {
                    return Err(ResponseError::FencedInstanceId);
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
            return Err(ResponseError::UnknownMemberId);
        }
        Ok(self.remove_member(&id, cfg, now))
    }

    fn remove_member(&mut self, id: &str, cfg: &GroupConfig, now: Instant) -> Persist {
        if let Some(mut m) = self.members.shift_remove(id) {
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(JoinOutcome::error(ResponseError::UnknownMemberId, id));
            }
            if let Some(w) = m.sync_waiter.take() {
                let _ = w.send(SyncOutcome::error(ResponseError::UnknownMemberId));
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
                let _ = w.send(JoinOutcome::error(ResponseError::RebalanceInProgress, &m.id));
            }
            if let Some(w) = m.sync_waiter.take() {
                let _ = w.send(SyncOutcome::error(ResponseError::RebalanceInProgress));
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
mod tests {
    use super::*;

    fn cfg() -> GroupConfig {
        GroupConfig { initial_rebalance_delay_ms: 0, ..GroupConfig::default() }
    }

    fn req(member: &str, protocols: &[&str]) -> JoinRequest {
        JoinRequest {
            member_id: member.into(),
            client_id: "c".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            protocol_type: "consumer".into(),
            protocols: protocols.iter().map(|p| (p.to_string(), Bytes::from_static(b"meta"))).collect(),
            require_known_member_id: true,
            ..Default::default()
        }
    }

    fn now_join(r: (Reply<JoinOutcome>, Persist)) -> JoinOutcome {
        match r.0 {
            Reply::Now(o) => o,
            Reply::Later(_) => panic!("expected an immediate answer"),
        }
    }

    fn later<T>(r: Reply<T>) -> oneshot::Receiver<T> {
        match r {
            Reply::Later(rx) => rx,
            Reply::Now(_) => panic!("expected to wait"),
        }
    }

    /// Joins a new dynamic member through MEMBER_ID_REQUIRED; returns its id and join receiver.
    fn join_new(g: &mut Group, t: Instant) -> (String, oneshot::Receiver<JoinOutcome>) {
        let first = now_join(g.join(req("", &["range"]), &cfg(), t));
        assert_eq!(first.error, Some(ResponseError::MemberIdRequired));
        let id = first.member_id.clone();
        let rx = later(g.join(req(&id, &["range"]), &cfg(), t).0);
        // A new group's first join completes from the timer (delay 0 here).
        g.tick(&cfg(), t);
        (id, rx)
    }

    #[test]
    fn first_member_becomes_leader_and_syncs_to_stable() {
        let t = Instant::now();
        let mut g = Group::new("g");
        let (id, mut rx) = join_new(&mut g, t);
        let out = rx.try_recv().expect("join completes with every member in");
        assert_eq!((out.error, out.generation, out.leader.as_str()), (None, 1, id.as_str()));
        assert_eq!(out.protocol_name.as_deref(), Some("range"));
        assert_eq!(out.members.len(), 1, "the leader sees the members");
        assert_eq!(g.state, GroupState::CompletingRebalance);
        let (reply, persist) = g.sync(&id, None, 1, (None, None), vec![(id.clone(), Bytes::from_static(b"a"))], t);
        assert_eq!(persist, Persist::GroupMetadata);
        assert_eq!(later(reply).try_recv().unwrap().assignment, Bytes::from_static(b"a"));
        assert_eq!(g.state, GroupState::Stable);
        assert_eq!(g.heartbeat(&id, None, 1, t), Ok(()));
    }

    #[test]
    fn a_second_member_triggers_a_rebalance_that_waits_for_both() {
        let t = Instant::now();
        let mut g = Group::new("g");
        let (a, mut rx) = join_new(&mut g, t);
        rx.try_recv().unwrap();
        later(g.sync(&a, None, 1, (None, None), vec![], t).0);
        let (b, mut rx_b) = join_new(&mut g, t);
        assert_eq!(g.state, GroupState::PreparingRebalance);
        assert!(rx_b.try_recv().is_err(), "waits for the existing member to rejoin");
        assert_eq!(g.heartbeat(&a, None, 1, t), Err(ResponseError::RebalanceInProgress));
        let mut rx_a = later(g.join(req(&a, &["range"]), &cfg(), t).0);
        let (oa, ob) = (rx_a.try_recv().unwrap(), rx_b.try_recv().unwrap());
        assert_eq!((oa.generation, ob.generation), (2, 2));
        assert_eq!(oa.leader, a, "the leader stays");
        assert!(ob.members.is_empty(), "followers do not see the members");
        assert_eq!(g.sync(&b, None, 1, (None, None), vec![], t).0.now_err(), Some(ResponseError::IllegalGeneration));
        let mut sync_b = later(g.sync(&b, None, 2, (None, None), vec![], t).0);
        assert!(sync_b.try_recv().is_err(), "followers wait for the leader's assignments");
        let assignments = vec![(a.clone(), Bytes::from_static(b"A")), (b.clone(), Bytes::from_static(b"B"))];
        later(g.sync(&a, None, 2, (None, None), assignments, t).0);
        assert_eq!(sync_b.try_recv().unwrap().assignment, Bytes::from_static(b"B"));
    }

    #[test]
    fn leaving_and_session_expiry_rebalance_and_empty_the_group() {
        let t = Instant::now();
        let mut g = Group::new("g");
        let (a, mut rx) = join_new(&mut g, t);
        rx.try_recv().unwrap();
        later(g.sync(&a, None, 1, (None, None), vec![], t).0);
        let (b, _rx_b) = join_new(&mut g, t);
        let _rx_a = later(g.join(req(&a, &["range"]), &cfg(), t).0);
        assert_eq!(g.state, GroupState::CompletingRebalance);
        // b never heartbeats: its session expires and the group rebalances without it.
        let later_t = t + Duration::from_secs(11);
        g.heartbeat(&a, None, 2, t + Duration::from_secs(10)).unwrap();
        g.tick(&cfg(), later_t);
        assert!(!g.members.contains_key(&b));
        assert_eq!(g.state, GroupState::PreparingRebalance);
        assert_eq!(g.leave(&a, None, &cfg(), later_t), Ok(Persist::GroupMetadata));
        assert_eq!(g.state, GroupState::Empty);
        assert_eq!(g.leave(&a, None, &cfg(), later_t), Err(ResponseError::UnknownMemberId));
    }

    #[test]
    fn rebalance_timeout_drops_members_that_do_not_rejoin() {
        let t = Instant::now();
        let mut g = Group::new("g");
        let (a, mut rx) = join_new(&mut g, t);
        rx.try_recv().unwrap();
        later(g.sync(&a, None, 1, (None, None), vec![], t).0);
        let (b, mut rx_b) = join_new(&mut g, t);
        // a keeps heartbeating (REBALANCE_IN_PROGRESS) but never rejoins.
        let past = t + Duration::from_secs(31);
        assert_eq!(g.heartbeat(&a, None, 1, past), Err(ResponseError::RebalanceInProgress));
        g.tick(&cfg(), past);
        let ob = rx_b.try_recv().expect("join completes at the rebalance timeout");
        assert_eq!((ob.generation, ob.leader.as_str()), (2, b.as_str()));
        assert!(!g.members.contains_key(&a));
    }

    #[test]
    fn static_member_restart_keeps_generation_and_fences_the_old_id() {
        let t = Instant::now();
        let mut g = Group::new("g");
        let mut r = req("", &["range"]);
        r.instance_id = Some("i1".into());
        let mut rx = later(g.join(r.clone(), &cfg(), t).0);
        g.tick(&cfg(), t);
        let old = rx.try_recv().unwrap().member_id;
        later(g.sync(&old, Some("i1"), 1, (None, None), vec![(old.clone(), Bytes::from_static(b"A"))], t).0);
        let out = now_join(g.join(r, &cfg(), t));
        assert_eq!((out.error, out.generation), (None, 1), "no rebalance for a known static member");
        assert_ne!(out.member_id, old);
        assert_eq!(g.heartbeat(&old, Some("i1"), 1, t), Err(ResponseError::FencedInstanceId));
        assert_eq!(g.heartbeat(&out.member_id, Some("i1"), 1, t), Ok(()));
        assert_eq!(g.members[&out.member_id].assignment, Bytes::from_static(b"A"));
        assert!(out.skip_assignment && out.members.len() == 1, "the returning leader keeps the assignment (KIP-814)");
        // New subscription bytes under the same selected protocol: still no rebalance.
        let mut changed = req("", &["range"]);
        changed.instance_id = Some("i1".into());
        changed.protocols[0].1 = Bytes::from_static(b"other-topics");
        let again = now_join(g.join(changed, &cfg(), t));
        assert_eq!((again.error, again.generation, g.state), (None, 1, GroupState::Stable));
    }

    #[test]
    fn a_new_group_waits_while_members_keep_arriving() {
        let t = Instant::now();
        let delayed = GroupConfig { initial_rebalance_delay_ms: 1000, ..cfg() };
        let mut g = Group::new("g");
        let join = |g: &mut Group, at| {
            let first = now_join(g.join(req("", &["range"]), &delayed, at));
            later(g.join(req(&first.member_id, &["range"]), &delayed, at).0)
        };
        let mut a = join(&mut g, t);
        g.tick(&delayed, t + Duration::from_millis(500));
        let mut b = join(&mut g, t + Duration::from_millis(600));
        g.tick(&delayed, t + Duration::from_millis(1000));
        assert!(a.try_recv().is_err(), "b joined during the delay: it runs once more");
        g.tick(&delayed, t + Duration::from_millis(1900));
        assert!(a.try_recv().is_err());
        g.tick(&delayed, t + Duration::from_millis(2000));
        let (oa, ob) = (a.try_recv().unwrap(), b.try_recv().unwrap());
        assert_eq!((oa.generation, ob.generation, oa.members.len() + ob.members.len()), (1, 1, 2));

        // With no delay the first join still completes from the timer, so a member that comes
        // in before it fires shares the first generation.
        let mut g = Group::new("g0");
        let first = now_join(g.join(req("", &["range"]), &cfg(), t));
        let mut a = later(g.join(req(&first.member_id, &["range"]), &cfg(), t).0);
        assert!(a.try_recv().is_err(), "even with no delay the first join waits for the timer");
        let mut b = join(&mut g, t);
        g.tick(&cfg(), t);
        g.tick(&cfg(), t + Duration::from_millis(100));
        assert_eq!((a.try_recv().unwrap().generation, b.try_recv().unwrap().generation), (1, 1));
    }

    #[test]
    fn bad_joins_get_kafka_errors() {
        let t = Instant::now();
        let mut g = Group::new("g");
        let mut short = req("", &["range"]);
        short.session_timeout_ms = 10;
        assert_eq!(now_join(g.join(short, &cfg(), t)).error, Some(ResponseError::InvalidSessionTimeout));
        assert_eq!(now_join(g.join(req("nobody", &["range"]), &cfg(), t)).error, Some(ResponseError::UnknownMemberId));
        let (_a, mut rx) = join_new(&mut g, t);
        rx.try_recv().unwrap();
        let other = now_join(g.join(req("", &["roundrobin"]), &cfg(), t));
        assert_eq!(other.error, Some(ResponseError::InconsistentGroupProtocol));
    }

    #[test]
    fn initial_delay_holds_the_first_rebalance() {
        let t = Instant::now();
        let delayed = GroupConfig { initial_rebalance_delay_ms: 3000, ..cfg() };
        let mut g = Group::new("g");
        let id = now_join(g.join(req("", &["range"]), &delayed, t)).member_id;
        let mut rx = later(g.join(req(&id, &["range"]), &delayed, t).0);
        g.tick(&delayed, t + Duration::from_millis(100));
        assert!(rx.try_recv().is_err());
        g.tick(&delayed, t + Duration::from_millis(3100));
        assert_eq!(rx.try_recv().unwrap().generation, 1);
    }

    impl<T: std::fmt::Debug> Reply<T> {
        fn now_err(self) -> Option<ResponseError>
        where
            T: HasError,
        {
            match self {
                Reply::Now(o) => o.error(),
                Reply::Later(_) => None,
            }
        }
    }

    trait HasError {
        fn error(&self) -> Option<ResponseError>;
    }

    impl HasError for SyncOutcome {
        fn error(&self) -> Option<ResponseError> {
            self.error
        }
    }
}
