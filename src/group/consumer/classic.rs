//! Classic members inside a consumer-protocol group (KIP-848's online migration): JoinGroup,
//! SyncGroup, Heartbeat and LeaveGroup answered from the broker's assignment, and the
//! conversions between a classic group and a consumer-protocol one.

use crate::group::GroupError;
use bytes::Bytes;

use super::*;

impl ConsumerGroup {
    /// Online upgrade: a consumer-protocol group made of a classic group's members, each keeping
    /// its assignment at the classic generation.
    pub fn from_classic(
        id: &str,
        generation: i32,
        members: Vec<MovedMember>,
        topics: &TopicView,
        now: Instant,
    ) -> Self {
        let mut g = ConsumerGroup::new(id);
        g.group_epoch = generation;
        g.assignment_epoch = generation;
        for mm in members {
            let classic = ClassicMeta { session_timeout_ms: mm.session_timeout_ms, protocols: mm.protocols };
            let sub = classic.subscription().unwrap_or_default();
            let assigned = to_ids(&consumer_protocol::assignment(&mm.assignment).unwrap_or_default(), topics);
            if let Some(inst) = &mm.instance_id {
                g.static_members.insert(inst.clone(), mm.id.clone());
            }
            g.target.insert(mm.id.clone(), assigned.clone());
            let mut m = ConsumerMember::new(&mm.id, mm.instance_id, now);
            m.rack_id = sub.rack_id;
            m.client_id = mm.client_id;
            m.client_host = mm.client_host;
            m.rebalance_timeout_ms = mm.rebalance_timeout_ms;
            m.subscribed_names = sub.topics;
            (m.epoch, m.previous_epoch) = (generation, generation);
            m.assigned = assigned;
            m.classic = Some(classic);
            g.members.insert(mm.id, m);
        }
        g.topics_seen = g.snapshot(topics);
        g
    }

    /// True when every member speaks the classic protocol (the group can go back to classic).
    pub fn all_classic(&self) -> bool {
        !self.members.is_empty() && self.members.values().all(|m| m.classic.is_some())
    }

    /// Online downgrade: the members as a classic group takes them, with their assignments.
    pub fn classic_members(&self, topics: &TopicView) -> Vec<MovedMember> {
        self.members
            .values()
            .filter_map(|m| {
                let c = m.classic.as_ref()?;
                let version = c.subscription().map_or(0, |s| s.version);
                Some(MovedMember {
                    id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    session_timeout_ms: c.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocols: c.protocols.clone(),
                    assignment: consumer_protocol::encode_assignment(version, &to_names(&m.assigned, topics)),
                })
            })
            .collect()
    }

    /// A classic member's current assignment as SyncGroup returns it.
    pub fn classic_assignment(&self, m: &ConsumerMember, topics: &TopicView) -> Bytes {
        let version = m.classic.as_ref().and_then(|c| c.subscription()).map_or(0, |s| s.version);
        consumer_protocol::encode_assignment(version, &to_names(&m.assigned, topics))
    }

    /// The member a classic request names: by instance id for static members (whose member id
    /// must match), else by member id; it must speak the classic protocol.
    fn classic_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<&ConsumerMember, GroupError> {
        let m = match instance_id {
            Some(inst) => {
                let id = self.static_members.get(inst).ok_or(GroupError::UnknownMemberId)?;
                if id != member_id {
                    return Err(GroupError::FencedInstanceId);
                }
                self.members.get(id).ok_or(GroupError::UnknownMemberId)?
            }
            None => self.members.get(member_id).ok_or(GroupError::UnknownMemberId)?,
        };
        if m.classic.is_none() {
            return Err(GroupError::UnknownMemberId);
        }
        Ok(m)
    }

    /// JoinGroup from a classic member: it becomes (or stays) a member whose assignment the
    /// broker computes; the answer comes at once with its member epoch as the generation.
    pub fn classic_join(
        &mut self,
        j: ClassicJoin,
        topics: &TopicView,
        cfg: &ConsumerGroupConfig,
        now: Instant,
    ) -> Result<(i32, String), GroupError> {
        // Every classic member must share a protocol with the newcomer.
        for m in self.members.values().filter(|m| m.id != j.member_id) {
            if let Some(c) = &m.classic
                && !c.protocols.iter().any(|(n, _)| j.protocols.iter().any(|(p, _)| p == n))
            {
                return Err(GroupError::InconsistentGroupProtocol);
            }
        }
        let classic = ClassicMeta { session_timeout_ms: j.session_timeout_ms, protocols: j.protocols };
        let sub = classic.subscription().ok_or(GroupError::InconsistentGroupProtocol)?;
        let id = j.member_id.clone();
        if let Some(inst) = &j.instance_id
            && let Some(old_id) = self.static_members.get(inst).cloned()
            && old_id != id
        {
            if !j.new_id {
                return Err(GroupError::FencedInstanceId);
            }
            // A static member restarting takes over its predecessor's place and assignment.
            if let Some(mut old) = self.members.remove(&old_id) {
                old.id = id.clone();
                old.last_sent = None;
                if let Some(t) = self.target.remove(&old_id) {
                    self.target.insert(id.clone(), t);
                }
                self.members.insert(id.clone(), old);
            }
            self.static_members.insert(inst.clone(), id.clone());
        }
        let mut bump = false;
        if !self.members.contains_key(&id) {
            if self.members.len() >= cfg.group_size_max {
                return Err(GroupError::GroupMaxSizeReached);
            }
            if let Some(inst) = &j.instance_id {
                self.static_members.insert(inst.clone(), id.clone());
            }
            self.members.insert(id.clone(), ConsumerMember::new(&id, j.instance_id.clone(), now));
            bump = true;
        }
        let owned = to_ids(&sub.owned, topics);
        let m = self.members.get_mut(&id).expect("present");
        if m.subscribed_names != sub.topics || m.subscribed_regex.is_some() {
            m.subscribed_names = sub.topics;
            m.subscribed_regex = None;
            bump = true;
        }
        m.rack_id = sub.rack_id;
        m.client_id = j.client_id;
        m.client_host = j.client_host;
        if j.rebalance_timeout_ms > 0 {
            m.rebalance_timeout_ms = j.rebalance_timeout_ms;
        }
        m.last_seen = now;
        let protocol = classic.protocol_name().to_string();
        m.classic = Some(classic);
        // A classic member gives partitions up before it rejoins: what it no longer owns is
        // revoked.
        if m.state == MemberState::UnrevokedPartitions && is_empty(&intersect(&owned, &m.pending_revocation)) {
            m.pending_revocation.clear();
            m.revoke_deadline = None;
            m.state = MemberState::Stable;
        }
        if bump || self.snapshot(topics) != self.topics_seen {
            self.group_epoch += 1;
        }
        if self.group_epoch > self.assignment_epoch {
            self.compute_target(topics);
        }
        self.reconcile(&id, now);
        Ok((self.members[&id].epoch, protocol))
    }

    /// SyncGroup from a classic member: its current assignment, unless it must rejoin first.
    pub fn classic_sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        protocol: (Option<&str>, Option<&str>),
        topics: &TopicView,
        now: Instant,
    ) -> Result<(String, Bytes), GroupError> {
        let m = self.classic_member(member_id, instance_id)?;
        if generation != m.epoch {
            return Err(GroupError::IllegalGeneration);
        }
        let name = m.classic.as_ref().map(|c| c.protocol_name().to_string()).unwrap_or_default();
        if protocol.0.is_some_and(|t| t != "consumer") || protocol.1.is_some_and(|p| p != name) {
            return Err(GroupError::InconsistentGroupProtocol);
        }
        if self.group_epoch > m.epoch && m.state != MemberState::UnrevokedPartitions {
            return Err(GroupError::RebalanceInProgress);
        }
        let out = (name, self.classic_assignment(m, topics));
        let id = m.id.clone();
        self.members.get_mut(&id).expect("present").last_seen = now;
        Ok(out)
    }

    /// Heartbeat from a classic member: REBALANCE_IN_PROGRESS when it must rejoin to move on
    /// (a newer group epoch, partitions to revoke, or released partitions to take).
    pub fn classic_heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> Result<(), GroupError> {
        let m = self.classic_member(member_id, instance_id)?;
        if generation != m.epoch {
            return Err(GroupError::IllegalGeneration);
        }
        let id = m.id.clone();
        let waiting = !is_empty(&intersect(
            &minus(self.target.get(&id).unwrap_or(&Assignment::new()), &m.assigned),
            &self.owned_by_others(&id),
        ));
        let rejoin = m.epoch < self.group_epoch
            || m.state == MemberState::UnrevokedPartitions
            || (m.state == MemberState::UnreleasedPartitions && !waiting);
        self.members.get_mut(&id).expect("present").last_seen = now;
        if rejoin { Err(GroupError::RebalanceInProgress) } else { Ok(()) }
    }

    /// LeaveGroup for one member of this group.
    pub fn classic_leave(&mut self, member_id: &str, instance_id: Option<&str>) -> Result<(), GroupError> {
        let id = match instance_id {
            Some(inst) => {
                let id = self.static_members.get(inst).cloned().ok_or(GroupError::UnknownMemberId)?;
                if !member_id.is_empty() && member_id != id {
                    return Err(GroupError::FencedInstanceId);
                }
                id
            }
            None => member_id.to_string(),
        };
        if !self.members.contains_key(&id) {
            return Err(GroupError::UnknownMemberId);
        }
        self.remove(&id);
        Ok(())
    }
}

/// Partitions by topic id from partitions by name; unknown topics are left out.
fn to_ids(named: &NamedPartitions, topics: &TopicView) -> Assignment {
    let mut out = Assignment::new();
    for (name, ps) in named {
        if let Some((id, _)) = topics.get(name)
            && !ps.is_empty()
        {
            out.entry(*id).or_default().extend(ps.iter().copied());
        }
    }
    out
}

/// Partitions by topic name from partitions by id.
fn to_names(a: &Assignment, topics: &TopicView) -> NamedPartitions {
    let names: HashMap<Uuid, &String> = topics.iter().map(|(n, (id, _))| (*id, n)).collect();
    a.iter().filter_map(|(id, ps)| names.get(id).map(|n| ((*n).clone(), ps.iter().copied().collect()))).collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use super::*;

    #[test]
    fn a_classic_member_shares_a_consumer_group_through_join_sync_and_heartbeat() {
        let (cfg, t0) = (ConsumerGroupConfig::default(), Instant::now());
        let mut g = ConsumerGroup::new("g");
        let a = g.heartbeat(hb("a", 0, None), &topics(), &cfg, t0);
        assert_eq!(a.assignment.as_ref().map(count), Some(6));

        // The classic member joins: the answer is immediate, with no partitions yet (a owns them).
        let (epoch, protocol) = classic_join(&mut g, "b", &[], t0).unwrap();
        assert_eq!(protocol, "cooperative-sticky");
        assert_eq!(g.members["b"].classic.as_ref().map(|c| c.session_timeout_ms), Some(10_000));
        assert_eq!(synced(&mut g, "b", t0), Vec::<i32>::new());
        assert_eq!(
            g.classic_sync("b", None, epoch + 7, (None, None), &topics(), t0),
            Err(GroupError::IllegalGeneration)
        );
        assert_eq!(g.check_commit("b", epoch + 1), Err(GroupError::IllegalGeneration));
        assert_eq!(g.check_commit("b", epoch), Ok(()));

        // a revokes half; then b is told to rejoin and gets the released partitions.
        let a1 = g.heartbeat(hb("a", a.epoch, None), &topics(), &cfg, t0);
        let kept = a1.assignment.expect("a loses partitions");
        assert_eq!(count(&kept), 3);
        let a2 = g.heartbeat(hb("a", a.epoch, Some(kept.clone())), &topics(), &cfg, t0);
        assert_eq!(a2.error, None);
        assert_eq!(g.classic_heartbeat("b", None, epoch, t0), Err(GroupError::RebalanceInProgress));
        let (epoch2, _) = classic_join(&mut g, "b", &[], t0).unwrap();
        assert_eq!(g.classic_heartbeat("b", None, epoch2, t0), Ok(()));
        let mut b_parts = synced(&mut g, "b", t0);
        b_parts.sort();
        let a_parts: Vec<i32> = kept.values().flatten().copied().collect();
        assert_eq!(b_parts.len(), 3);
        assert!(b_parts.iter().all(|p| !a_parts.contains(p)), "{a_parts:?} and {b_parts:?} overlap");

        // Unknown members, static fencing and wrong protocol types get Kafka's errors.
        assert_eq!(g.classic_heartbeat("zz", None, 1, t0), Err(GroupError::UnknownMemberId));
        assert_eq!(g.classic_heartbeat("a", None, a2.epoch, t0), Err(GroupError::UnknownMemberId));
        assert_eq!(
            g.classic_sync("b", None, epoch2, (Some("connect"), None), &topics(), t0),
            Err(GroupError::InconsistentGroupProtocol)
        );
    }
    #[test]
    fn a_classic_member_that_must_revoke_is_told_to_rejoin_and_revokes_by_rejoining() {
        let (cfg, t0) = (ConsumerGroupConfig::default(), Instant::now());
        let mut g = ConsumerGroup::new("g");
        let (e1, _) = classic_join(&mut g, "b", &[], t0).unwrap();
        assert_eq!(synced(&mut g, "b", t0).len(), 6);
        // A consumer-protocol member arrives: b must give up three partitions.
        let a = g.heartbeat(hb("a", 0, None), &topics(), &cfg, t0);
        assert_eq!(a.assignment.as_ref().map(count), Some(0));
        assert_eq!(g.classic_heartbeat("b", None, e1, t0), Err(GroupError::RebalanceInProgress));
        // b rejoins still owning all six: it keeps three and the others are pending revocation.
        let (e2, _) = classic_join(&mut g, "b", &[0, 1, 2, 3, 4, 5], t0).unwrap();
        assert_eq!(e2, e1, "no new epoch until the revocation is done");
        let kept = synced(&mut g, "b", t0);
        assert_eq!(kept.len(), 3);
        // It rejoins owning only what it kept: the revocation is acknowledged.
        let (e3, _) = classic_join(&mut g, "b", &kept, t0).unwrap();
        assert!(e3 > e1);
        assert_eq!(synced(&mut g, "b", t0), kept);
        let a2 = g.heartbeat(hb("a", a.epoch, Some(Assignment::new())), &topics(), &cfg, t0);
        assert_eq!(a2.assignment.as_ref().map(count), Some(3));
    }
    #[test]
    fn groups_move_between_the_protocols_with_their_assignments() {
        let t0 = Instant::now();
        let tid = Uuid::from_u128(1);
        let moved = |id: &str, parts: Vec<i32>| MovedMember {
            id: id.into(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "/h".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            protocols: vec![("range".into(), consumer_protocol::encode_subscription(3, &["t"], &vec![]))],
            assignment: consumer_protocol::encode_assignment(3, &vec![("t".to_string(), parts)]),
        };
        let g = ConsumerGroup::from_classic(
            "g",
            4,
            vec![moved("x", vec![0, 1, 2]), moved("y", vec![3, 4, 5])],
            &topics(),
            t0,
        );
        assert_eq!((g.group_epoch, g.assignment_epoch), (4, 4));
        assert_eq!(g.members["x"].assigned, Assignment::from([(tid, BTreeSet::from([0, 1, 2]))]));
        assert_eq!(g.members["y"].epoch, 4);
        assert_eq!(g.state_name(), "Stable");
        assert!(g.all_classic());
        let back = g.classic_members(&topics());
        assert_eq!(back.len(), 2);
        assert_eq!(consumer_protocol::assignment(&back[1].assignment), Some(vec![("t".to_string(), vec![3, 4, 5])]));
    }
}
