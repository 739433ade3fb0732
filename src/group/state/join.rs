//! The join phase of a classic group: new, known and static members joining, the protocol vote,
//! and completing the join into CompletingRebalance.

use super::*;

impl Group {
    pub(super) fn new_member_id(&mut self, client_id: &str, instance_id: Option<&str>) -> String {
        self.next_member_seq += 1;
        let prefix = instance_id.unwrap_or(client_id);
        format!("{prefix}-{}", uuid::Uuid::new_v4())
    }

    /// Handles a JoinGroup.
    pub fn join(&mut self, req: JoinRequest, cfg: &GroupConfig, now: Instant) -> (Reply<JoinOutcome>, Persist) {
        let member_id = req.member_id.clone();
        let fail = |e| (Reply::Now(JoinOutcome::error(e, &member_id)), Persist::Nothing);
        if req.session_timeout_ms < cfg.session_timeout_ms_min || req.session_timeout_ms > cfg.session_timeout_ms_max {
            return fail(GroupError::InvalidSessionTimeout);
        }
        if self.state == GroupState::Dead {
            return fail(GroupError::CoordinatorNotAvailable);
        }
        if req.protocol_type.is_empty() || req.protocols.is_empty() {
            return fail(GroupError::InconsistentGroupProtocol);
        }
        if !self.members.is_empty() && !self.supports(&req) {
            return fail(GroupError::InconsistentGroupProtocol);
        }
        if req.member_id.is_empty() {
            return self.join_unknown(req, cfg, now);
        }
        let known = self.members.contains_key(&req.member_id);
        let pending = self.pending.remove(&req.member_id).is_some();
        if !known && !pending {
            return fail(GroupError::UnknownMemberId);
        }
        if let Some(inst) = &req.instance_id
            && self.static_members.get(inst).is_some_and(|m| *m != req.member_id)
        {
            return fail(GroupError::FencedInstanceId);
        }
        if pending {
            if self.members.len() >= cfg.group_size_max {
                return fail(GroupError::GroupMaxSizeReached);
            }
            return self.add_and_rebalance(req.member_id.clone(), req, cfg, now);
        }
        self.rejoin_known(req, cfg, now)
    }

    pub(super) fn join_unknown(
        &mut self,
        req: JoinRequest,
        cfg: &GroupConfig,
        now: Instant,
    ) -> (Reply<JoinOutcome>, Persist) {
        if let Some(inst) = req.instance_id.clone() {
            let new_id = self.new_member_id(&req.client_id, Some(&inst));
            if let Some(old_id) = self.static_members.get(&inst).cloned() {
                // A static member restarting: it takes over the old member's place (KIP-345).
                return self.replace_static(old_id, new_id, req, cfg, now);
            }
            if self.members.len() >= cfg.group_size_max {
                return (Reply::Now(JoinOutcome::error(GroupError::GroupMaxSizeReached, "")), Persist::Nothing);
            }
            self.static_members.insert(inst, new_id.clone());
            return self.add_and_rebalance(new_id, req, cfg, now);
        }
        let new_id = self.new_member_id(&req.client_id, None);
        if req.require_known_member_id {
            let session = Duration::from_millis(req.session_timeout_ms as u64);
            self.pending.insert(new_id.clone(), now + session);
            return (Reply::Now(JoinOutcome::error(GroupError::MemberIdRequired, &new_id)), Persist::Nothing);
        }
        if self.members.len() >= cfg.group_size_max {
            return (Reply::Now(JoinOutcome::error(GroupError::GroupMaxSizeReached, "")), Persist::Nothing);
        }
        self.add_and_rebalance(new_id, req, cfg, now)
    }

    pub(super) fn replace_static(
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
            let _ = w.send(JoinOutcome::error(GroupError::FencedInstanceId, &old_id));
        }
        if let Some(w) = old.sync_waiter.take() {
            let _ = w.send(SyncOutcome::error(GroupError::FencedInstanceId));
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

    pub(super) fn rejoin_known(
        &mut self,
        req: JoinRequest,
        cfg: &GroupConfig,
        now: Instant,
    ) -> (Reply<JoinOutcome>, Persist) {
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

    pub(super) fn member_from(&self, id: &str, req: JoinRequest, now: Instant) -> Member {
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

    pub(super) fn add_and_rebalance(
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

    pub(super) fn park_join_rx(&mut self, id: &str) -> oneshot::Receiver<JoinOutcome> {
        let (tx, rx) = oneshot::channel();
        if let Some(m) = self.members.get_mut(id)
            && let Some(old) = m.join_waiter.replace(tx)
        {
            let _ = old.send(JoinOutcome::error(GroupError::UnknownMemberId, id));
        }
        rx
    }

    pub(super) fn park_join(&mut self, id: &str, now: Instant) -> (Reply<JoinOutcome>, Persist) {
        let rx = self.park_join_rx(id);
        self.try_complete_join(now);
        (Reply::Later(rx), Persist::Nothing)
    }

    pub(super) fn supports(&self, req: &JoinRequest) -> bool {
        if self.protocol_type.as_deref().is_some_and(|t| t != req.protocol_type) {
            return false;
        }
        let candidates = self.candidate_protocols();
        req.protocols.iter().any(|(n, _)| candidates.contains(n))
    }

    /// Protocols every current member supports.
    pub(super) fn candidate_protocols(&self) -> Vec<String> {
        let mut it = self.members.values();
        let Some(first) = it.next() else { return vec![] };
        let mut c: Vec<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for m in it {
            c.retain(|n| m.protocols.iter().any(|(p, _)| p == n));
        }
        c
    }

    /// Kafka's choice: among protocols all members support, the one most members rank first.
    pub(super) fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: IndexMap<&str, usize> = candidates.iter().map(|c| (c.as_str(), 0)).collect();
        for m in self.members.values() {
            if let Some((n, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n)) {
                *votes.get_mut(n.as_str()).expect("candidate") += 1;
            }
        }
        votes.iter().max_by_key(|(_, v)| **v).map(|(n, _)| n.to_string())
    }

    pub(super) fn prepare_rebalance(&mut self, cfg: &GroupConfig, now: Instant) {
        if self.state == GroupState::CompletingRebalance {
            // Members waiting on SyncGroup must rejoin.
            for m in self.members.values_mut() {
                if let Some(w) = m.sync_waiter.take() {
                    let _ = w.send(SyncOutcome::error(GroupError::RebalanceInProgress));
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
    pub(super) fn try_complete_join(&mut self, _now: Instant) -> Persist {
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

    pub(super) fn complete_join(&mut self) -> Persist {
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

    pub(super) fn join_outcome(&self, member_id: &str, with_members: bool) -> JoinOutcome {
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
}
