//! The consumer group protocol of KIP-848: the broker computes assignments and each member
//! reconciles towards its target through heartbeats, revoking before it is given partitions
//! another member still owns. Plain data and functions of (state, heartbeat, topics, now).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::consumer_protocol::{self, NamedPartitions};
use super::state::MovedMember;

/// Partitions by topic id.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// The topics the assignor may hand out: name -> (id, partition count).
pub type TopicView = BTreeMap<String, (Uuid, i32)>;

pub const LEAVE_EPOCH: i32 = -1;
pub const STATIC_LEAVE_EPOCH: i32 = -2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    Stable,
    /// Waiting for the member to give up partitions it must revoke.
    UnrevokedPartitions,
    /// Waiting for other members to release partitions this one is to get.
    UnreleasedPartitions,
}

#[derive(Debug, Clone)]
pub struct ConsumerMember {
    pub id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub subscribed_names: Vec<String>,
    pub subscribed_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub epoch: i32,
    pub previous_epoch: i32,
    pub state: MemberState,
    pub assigned: Assignment,
    pub pending_revocation: Assignment,
    /// Set for a member that speaks the classic protocol (JoinGroup/SyncGroup/Heartbeat) in a
    /// consumer-protocol group.
    pub classic: Option<ClassicMeta>,
    last_seen: Instant,
    revoke_deadline: Option<Instant>,
    last_sent: Option<Assignment>,
}

impl ConsumerMember {
    /// A member that has just joined: epoch 0, nothing assigned yet.
    fn new(id: &str, instance_id: Option<String>, now: Instant) -> ConsumerMember {
        ConsumerMember {
            id: id.to_string(),
            instance_id,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            rebalance_timeout_ms: 0,
            subscribed_names: vec![],
            subscribed_regex: None,
            server_assignor: None,
            epoch: 0,
            previous_epoch: -1,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            classic: None,
            last_seen: now,
            revoke_deadline: None,
            last_sent: None,
        }
    }
}

/// What a classic member brought with its last JoinGroup.
#[derive(Debug, Clone)]
pub struct ClassicMeta {
    pub session_timeout_ms: i32,
    /// (name, metadata) in the member's order of preference; the first one is what it is told.
    pub protocols: Vec<(String, Bytes)>,
}

impl ClassicMeta {
    pub fn protocol_name(&self) -> &str {
        self.protocols.first().map(|(n, _)| n.as_str()).unwrap_or_default()
    }

    fn subscription(&self) -> Option<consumer_protocol::Subscription> {
        self.protocols.first().and_then(|(_, m)| consumer_protocol::subscription(m))
    }

    /// The metadata of the protocol the member is told it runs.
    pub fn metadata(&self) -> Bytes {
        self.protocols.first().map(|(_, m)| m.clone()).unwrap_or_default()
    }
}

/// A JoinGroup from a classic member, its member id already settled.
#[derive(Debug, Clone, Default)]
pub struct ClassicJoin {
    pub member_id: String,
    /// The request came without a member id (a new member, or a static one restarting).
    pub new_id: bool,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocols: Vec<(String, Bytes)>,
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

/// Settings from group.consumer.*.
#[derive(Debug, Clone)]
pub struct ConsumerGroupConfig {
    pub heartbeat_interval_ms: i32,
    pub session_timeout_ms: i32,
    pub assignors: Vec<String>,
    pub group_size_max: usize,
}

impl Default for ConsumerGroupConfig {
    fn default() -> Self {
        ConsumerGroupConfig {
            heartbeat_interval_ms: 5_000,
            session_timeout_ms: 45_000,
            assignors: vec!["uniform".into(), "range".into()],
            group_size_max: usize::MAX,
        }
    }
}

/// A ConsumerGroupHeartbeat as the state machine sees it.
#[derive(Debug, Clone, Default)]
pub struct Heartbeat {
    pub member_id: String,
    pub epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub subscribed_names: Option<Vec<String>>,
    pub subscribed_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatOut {
    pub error: Option<(ResponseError, String)>,
    pub member_id: String,
    pub epoch: i32,
    pub assignment: Option<Assignment>,
}

fn fail(e: ResponseError, msg: impl Into<String>, member_id: &str) -> HeartbeatOut {
    HeartbeatOut { error: Some((e, msg.into())), member_id: member_id.to_string(), epoch: -1, assignment: None }
}

#[derive(Debug, Default)]
pub struct ConsumerGroup {
    pub id: String,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    pub target: BTreeMap<String, Assignment>,
    pub assignor: String,
    static_members: HashMap<String, String>,
    /// The subscribed topics' (name, id, partitions) when the target was computed.
    topics_seen: Vec<(String, Uuid, i32)>,
}

fn minus(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = Assignment::new();
    for (t, ps) in a {
        let rest: BTreeSet<i32> = ps.iter().filter(|p| !b.get(t).is_some_and(|x| x.contains(p))).copied().collect();
        if !rest.is_empty() {
            out.insert(*t, rest);
        }
    }
    out
}

fn intersect(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = Assignment::new();
    for (t, ps) in a {
        if let Some(bs) = b.get(t) {
            let both: BTreeSet<i32> = ps.intersection(bs).copied().collect();
            if !both.is_empty() {
                out.insert(*t, both);
            }
        }
    }
    out
}

fn is_empty(a: &Assignment) -> bool {
    a.values().all(|s| s.is_empty())
}

impl ConsumerGroup {
    pub fn new(id: &str) -> ConsumerGroup {
        ConsumerGroup { id: id.to_string(), assignor: "uniform".into(), ..Default::default() }
    }

    /// Kafka's state names: Empty, Assigning, Reconciling, Stable.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.group_epoch != self.assignment_epoch {
            "Assigning"
        } else if self.members.values().any(|m| m.epoch != self.assignment_epoch || m.state != MemberState::Stable) {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// Topic names a member subscribes to, its regex resolved against `topics`.
    pub fn member_topics(m: &ConsumerMember, topics: &TopicView) -> BTreeSet<String> {
        let mut out: BTreeSet<String> =
            m.subscribed_names.iter().filter(|n| topics.contains_key(*n)).cloned().collect();
        if let Some(re) = m.subscribed_regex.as_deref().and_then(|r| regex::Regex::new(&format!("^(?:{r})$")).ok()) {
            // Every topic of the metadata, internal ones included, as Kafka resolves a regex.
            out.extend(topics.keys().filter(|n| re.is_match(n)).cloned());
        }
        out
    }

    /// Every topic any member subscribes to, as of `topics`.
    pub fn subscribed_topics(&self, topics: &TopicView) -> BTreeSet<String> {
        self.members.values().flat_map(|m| Self::member_topics(m, topics)).collect()
    }

    fn snapshot(&self, topics: &TopicView) -> Vec<(String, Uuid, i32)> {
        self.subscribed_topics(topics)
            .into_iter()
            .filter_map(|n| topics.get(&n).map(|(id, c)| (n.clone(), *id, *c)))
            .collect()
    }

    /// Handles one heartbeat.
    pub fn heartbeat(
        &mut self,
        hb: Heartbeat,
        topics: &TopicView,
        cfg: &ConsumerGroupConfig,
        now: Instant,
    ) -> HeartbeatOut {
        if hb.epoch == LEAVE_EPOCH || hb.epoch == STATIC_LEAVE_EPOCH {
            return self.leave(&hb, now);
        }
        if let Some(a) = &hb.server_assignor
            && !cfg.assignors.contains(a)
        {
            return fail(ResponseError::UnsupportedAssignor, format!("Assignor {a} is not supported"), &hb.member_id);
        }
        let joined = hb.epoch == 0;
        let member_id = if joined {
            match self.join(&hb, cfg, now) {
                Ok(id) => id,
                Err(out) => return out,
            }
        } else {
            let Some(m) = self.members.get(&hb.member_id) else {
                return fail(
                    ResponseError::UnknownMemberId,
                    format!("Member {} is not a member of group {}", hb.member_id, self.id),
                    &hb.member_id,
                );
            };
            let owned_ok = hb.owned.as_ref().is_none_or(|o| is_empty(&minus(o, &m.assigned)));
            if hb.epoch != m.epoch && !(hb.epoch == m.previous_epoch && owned_ok) {
                return fail(
                    ResponseError::FencedMemberEpoch,
                    format!("The member epoch {} does not match the expected {}", hb.epoch, m.epoch),
                    &hb.member_id,
                );
            }
            hb.member_id.clone()
        };
        let full_request = hb.owned.is_some() || hb.epoch == 0;
        let m = self.members.get_mut(&member_id).expect("joined above");
        m.last_seen = now;
        m.rebalance_timeout_ms =
            if hb.rebalance_timeout_ms > 0 { hb.rebalance_timeout_ms } else { m.rebalance_timeout_ms };
        let mut bump = joined;
        if let Some(names) = hb.subscribed_names
            && names != m.subscribed_names
        {
            m.subscribed_names = names;
            bump = true;
        }
        if hb.subscribed_regex.is_some() && hb.subscribed_regex != m.subscribed_regex {
            m.subscribed_regex = hb.subscribed_regex.filter(|r| !r.is_empty());
            bump = true;
        }
        if hb.server_assignor.is_some() {
            m.server_assignor = hb.server_assignor;
        }
        if let Some(owned) = &hb.owned {
            // Revocation is acknowledged once the member no longer reports those partitions.
            if m.state == MemberState::UnrevokedPartitions && is_empty(&intersect(owned, &m.pending_revocation)) {
                m.pending_revocation.clear();
                m.revoke_deadline = None;
                m.state = MemberState::Stable;
            }
        }
        if bump || self.snapshot(topics) != self.topics_seen {
            self.group_epoch += 1;
        }
        if self.group_epoch > self.assignment_epoch {
            self.compute_target(topics);
        }
        self.reconcile(&member_id, now);
        let m = self.members.get_mut(&member_id).expect("still a member");
        let changed = m.last_sent.as_ref() != Some(&m.assigned);
        let assignment = (changed || full_request).then(|| m.assigned.clone());
        if assignment.is_some() {
            m.last_sent = Some(m.assigned.clone());
        }
        HeartbeatOut { error: None, member_id, epoch: m.epoch, assignment }
    }

    fn join(&mut self, hb: &Heartbeat, cfg: &ConsumerGroupConfig, now: Instant) -> Result<String, HeartbeatOut> {
        if hb.subscribed_names.is_none() && hb.subscribed_regex.is_none() {
            return Err(fail(
                ResponseError::InvalidRequest,
                "SubscribedTopicNames or SubscribedTopicRegex must be set in first request",
                &hb.member_id,
            ));
        }
        let id = if hb.member_id.is_empty() { Uuid::new_v4().to_string() } else { hb.member_id.clone() };
        if let Some(inst) = &hb.instance_id
            && let Some(old_id) = self.static_members.get(inst).cloned()
            && old_id != id
        {
            let old = self.members.get(&old_id);
            if old.is_some_and(|o| o.epoch != STATIC_LEAVE_EPOCH) {
                return Err(fail(
                    ResponseError::UnreleasedInstanceId,
                    format!("Static member {inst} has not left the group"),
                    &id,
                ));
            }
            // A static member coming back takes over its predecessor's place.
            if let Some(mut old) = self.members.remove(&old_id) {
                old.id = id.clone();
                old.epoch = old.previous_epoch.max(0);
                old.last_sent = None;
                if let Some(t) = self.target.remove(&old_id) {
                    self.target.insert(id.clone(), t);
                }
                self.members.insert(id.clone(), old);
                self.static_members.insert(inst.clone(), id.clone());
                return Ok(id);
            }
        }
        if !self.members.contains_key(&id) && self.members.len() >= cfg.group_size_max {
            return Err(fail(ResponseError::GroupMaxSizeReached, "The group is full", &id));
        }
        if let Some(old) = self.members.remove(&id) {
            // Rejoining with epoch 0: it starts over.
            drop(old);
        }
        let mut m = ConsumerMember::new(&id, hb.instance_id.clone(), now);
        m.rack_id = hb.rack_id.clone();
        m.client_id = hb.client_id.clone();
        m.client_host = hb.client_host.clone();
        m.rebalance_timeout_ms = hb.rebalance_timeout_ms.max(0);
        self.members.insert(id.clone(), m);
        if let Some(inst) = &hb.instance_id {
            self.static_members.insert(inst.clone(), id.clone());
        }
        Ok(id)
    }

    fn leave(&mut self, hb: &Heartbeat, now: Instant) -> HeartbeatOut {
        let id = match (&hb.instance_id, hb.member_id.is_empty()) {
            (Some(inst), true) => self.static_members.get(inst).cloned().unwrap_or_default(),
            _ => hb.member_id.clone(),
        };
        if !self.members.contains_key(&id) {
            return fail(
                ResponseError::UnknownMemberId,
                format!("Member {id} is not a member of group {}", self.id),
                &id,
            );
        }
        if hb.epoch == STATIC_LEAVE_EPOCH && hb.instance_id.is_some() {
            // A static member leaving temporarily keeps its partitions until its session ends.
            let m = self.members.get_mut(&id).expect("checked");
            m.previous_epoch = m.epoch;
            m.epoch = STATIC_LEAVE_EPOCH;
            m.last_seen = now;
        } else {
            self.remove(&id);
        }
        HeartbeatOut { error: None, member_id: id, epoch: hb.epoch, assignment: None }
    }

    fn remove(&mut self, id: &str) {
        if let Some(m) = self.members.remove(id)
            && let Some(inst) = m.instance_id
            && self.static_members.get(&inst).is_some_and(|x| x == id)
        {
            self.static_members.remove(&inst);
        }
        self.target.remove(id);
        self.group_epoch += 1;
    }

    /// Removes members whose session ended or who did not revoke in time.
    pub fn tick(&mut self, cfg: &ConsumerGroupConfig, topics: &TopicView, now: Instant) {
        let session = |m: &ConsumerMember| {
            Duration::from_millis(m.classic.as_ref().map_or(cfg.session_timeout_ms, |c| c.session_timeout_ms) as u64)
        };
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| now.duration_since(m.last_seen) > session(m) || m.revoke_deadline.is_some_and(|d| now > d))
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            tracing::info!(group = %self.id, member = %id, "consumer group member fenced (session or revocation timeout)");
            self.remove(&id);
        }
        if self.group_epoch > self.assignment_epoch && !self.members.is_empty() {
            self.compute_target(topics);
        }
    }

    fn compute_target(&mut self, topics: &TopicView) {
        let assignor =
            self.members.values().find_map(|m| m.server_assignor.clone()).unwrap_or_else(|| "uniform".to_string());
        let subs: BTreeMap<String, BTreeSet<String>> =
            self.members.values().map(|m| (m.id.clone(), Self::member_topics(m, topics))).collect();
        self.target = if assignor == "range" { range(&subs, topics) } else { uniform(&subs, topics, &self.target) };
        self.assignor = assignor;
        self.assignment_epoch = self.group_epoch;
        self.topics_seen = self.snapshot(topics);
    }

    fn owned_by_others(&self, id: &str) -> Assignment {
        let mut out = Assignment::new();
        for m in self.members.values().filter(|m| m.id != id) {
            for (t, ps) in m.assigned.iter().chain(m.pending_revocation.iter()) {
                out.entry(*t).or_default().extend(ps.iter().copied());
            }
        }
        out
    }

    /// Moves a member towards its target: revoke first, then take what others released.
    fn reconcile(&mut self, id: &str, now: Instant) {
        let target = self.target.get(id).cloned().unwrap_or_default();
        let others = self.owned_by_others(id);
        let assignment_epoch = self.assignment_epoch;
        let m = self.members.get_mut(id).expect("member");
        if m.state == MemberState::UnrevokedPartitions {
            return;
        }
        if m.epoch == assignment_epoch && m.state == MemberState::Stable {
            return;
        }
        let revoke = minus(&m.assigned, &target);
        if !is_empty(&revoke) {
            m.assigned = intersect(&m.assigned, &target);
            m.pending_revocation = revoke;
            m.state = MemberState::UnrevokedPartitions;
            m.revoke_deadline = Some(now + Duration::from_millis(m.rebalance_timeout_ms.max(1) as u64));
            return;
        }
        let free = minus(&target, &others);
        let unreleased = minus(&target, &free);
        m.assigned = free;
        if m.epoch != assignment_epoch {
            m.previous_epoch = m.epoch;
            m.epoch = assignment_epoch;
        }
        m.state = if is_empty(&unreleased) { MemberState::Stable } else { MemberState::UnreleasedPartitions };
    }

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
    fn classic_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<&ConsumerMember, ResponseError> {
        let m = match instance_id {
            Some(inst) => {
                let id = self.static_members.get(inst).ok_or(ResponseError::UnknownMemberId)?;
                if id != member_id {
                    return Err(ResponseError::FencedInstanceId);
                }
                self.members.get(id).ok_or(ResponseError::UnknownMemberId)?
            }
            None => self.members.get(member_id).ok_or(ResponseError::UnknownMemberId)?,
        };
        if m.classic.is_none() {
            return Err(ResponseError::UnknownMemberId);
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
    ) -> Result<(i32, String), ResponseError> {
        // Every classic member must share a protocol with the newcomer.
        for m in self.members.values().filter(|m| m.id != j.member_id) {
            if let Some(c) = &m.classic
                && !c.protocols.iter().any(|(n, _)| j.protocols.iter().any(|(p, _)| p == n))
            {
                return Err(ResponseError::InconsistentGroupProtocol);
            }
        }
        let classic = ClassicMeta { session_timeout_ms: j.session_timeout_ms, protocols: j.protocols };
        let sub = classic.subscription().ok_or(ResponseError::InconsistentGroupProtocol)?;
        let id = j.member_id.clone();
        if let Some(inst) = &j.instance_id
            && let Some(old_id) = self.static_members.get(inst).cloned()
            && old_id != id
        {
            if !j.new_id {
                return Err(ResponseError::FencedInstanceId);
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
                return Err(ResponseError::GroupMaxSizeReached);
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
    ) -> Result<(String, Bytes), ResponseError> {
        let m = self.classic_member(member_id, instance_id)?;
        if generation != m.epoch {
            return Err(ResponseError::IllegalGeneration);
        }
        let name = m.classic.as_ref().map(|c| c.protocol_name().to_string()).unwrap_or_default();
        if protocol.0.is_some_and(|t| t != "consumer") || protocol.1.is_some_and(|p| p != name) {
            return Err(ResponseError::InconsistentGroupProtocol);
        }
        if self.group_epoch > m.epoch && m.state != MemberState::UnrevokedPartitions {
            return Err(ResponseError::RebalanceInProgress);
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
    ) -> Result<(), ResponseError> {
        let m = self.classic_member(member_id, instance_id)?;
        if generation != m.epoch {
            return Err(ResponseError::IllegalGeneration);
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
        if rejoin { Err(ResponseError::RebalanceInProgress) } else { Ok(()) }
    }

    /// LeaveGroup for one member of this group.
    pub fn classic_leave(&mut self, member_id: &str, instance_id: Option<&str>) -> Result<(), ResponseError> {
        let id = match instance_id {
            Some(inst) => {
                let id = self.static_members.get(inst).cloned().ok_or(ResponseError::UnknownMemberId)?;
                if !member_id.is_empty() && member_id != id {
                    return Err(ResponseError::FencedInstanceId);
                }
                id
            }
            None => member_id.to_string(),
        };
        if !self.members.contains_key(&id) {
            return Err(ResponseError::UnknownMemberId);
        }
        self.remove(&id);
        Ok(())
    }

    pub fn check_commit(&self, member_id: &str, epoch: i32) -> Result<(), ResponseError> {
        let m = self.members.get(member_id).ok_or(ResponseError::UnknownMemberId)?;
        if m.classic.is_some() {
            // A classic member commits with its generation, which is its member epoch.
            return if epoch == m.epoch { Ok(()) } else { Err(ResponseError::IllegalGeneration) };
        }
        if epoch > m.epoch {
            return Err(ResponseError::FencedMemberEpoch);
        }
        if epoch < m.epoch {
            return Err(ResponseError::StaleMemberEpoch);
        }
        Ok(())
    }
}

/// Partitions of `topics` (sorted by name) each subscribed member may take.
fn partitions_of(names: &BTreeSet<String>, topics: &TopicView) -> Vec<(Uuid, i32)> {
    names.iter().filter_map(|n| topics.get(n)).flat_map(|(id, count)| (0..*count).map(move |p| (*id, p))).collect()
}

/// Balanced and sticky: members keep what they had up to their fair share; the rest goes to
/// the least-loaded member that subscribes to the topic.
fn uniform(
    subs: &BTreeMap<String, BTreeSet<String>>,
    topics: &TopicView,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    let all: BTreeSet<String> = subs.values().flatten().cloned().collect();
    let partitions = partitions_of(&all, topics);
    let eligible =
        |member: &str, topic: Uuid| subs[member].iter().any(|n| topics.get(n).is_some_and(|(id, _)| *id == topic));
    let n = partitions.len();
    let m = subs.len().max(1);
    let (floor, mut extra) = (n / m, n % m);
    let mut out: BTreeMap<String, Assignment> = subs.keys().map(|k| (k.clone(), Assignment::new())).collect();
    let mut count: BTreeMap<String, usize> = subs.keys().map(|k| (k.clone(), 0)).collect();
    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    for (member, prev) in previous {
        if !subs.contains_key(member) {
            continue;
        }
        for (t, ps) in prev {
            for p in ps {
                let key = (*t, *p);
                let quota = floor + usize::from(extra > 0);
                if !partitions.contains(&key) || taken.contains(&key) || !eligible(member, *t) || count[member] >= quota
                {
                    continue;
                }
                if count[member] == floor {
                    extra -= 1;
                }
                taken.insert(key);
                out.get_mut(member).unwrap().entry(*t).or_default().insert(*p);
                *count.get_mut(member).unwrap() += 1;
            }
        }
    }
    for key in partitions {
        if taken.contains(&key) {
            continue;
        }
        let best = count.iter().filter(|(mem, _)| eligible(mem, key.0)).min_by_key(|(mem, c)| (**c, (*mem).clone()));
        if let Some((mem, _)) = best {
            let mem = mem.clone();
            out.get_mut(&mem).unwrap().entry(key.0).or_default().insert(key.1);
            *count.get_mut(&mem).unwrap() += 1;
        }
    }
    out
}

/// Per topic, contiguous ranges of partitions over the subscribed members sorted by id.
fn range(subs: &BTreeMap<String, BTreeSet<String>>, topics: &TopicView) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = subs.keys().map(|k| (k.clone(), Assignment::new())).collect();
    let all: BTreeSet<String> = subs.values().flatten().cloned().collect();
    for name in all {
        let Some((id, count)) = topics.get(&name) else { continue };
        let members: Vec<&String> = subs.iter().filter(|(_, t)| t.contains(&name)).map(|(m, _)| m).collect();
        let k = members.len() as i32;
        let (per, extra) = (count / k, count % k);
        let mut next = 0;
        for (i, m) in members.iter().enumerate() {
            let n = per + i32::from((i as i32) < extra);
            let set: BTreeSet<i32> = (next..next + n).collect();
            next += n;
            if !set.is_empty() {
                out.get_mut(*m).unwrap().insert(*id, set);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics() -> TopicView {
        BTreeMap::from([("t".to_string(), (Uuid::from_u128(1), 6))])
    }

    fn hb(member: &str, epoch: i32, owned: Option<Assignment>) -> Heartbeat {
        Heartbeat {
            member_id: member.into(),
            epoch,
            rebalance_timeout_ms: 30_000,
            subscribed_names: if epoch == 0 { Some(vec!["t".into()]) } else { None },
            owned,
            ..Default::default()
        }
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(|s| s.len()).sum()
    }

    fn classic_join(
        g: &mut ConsumerGroup,
        id: &str,
        owned: &[i32],
        now: Instant,
    ) -> Result<(i32, String), ResponseError> {
        let owned = if owned.is_empty() { vec![] } else { vec![("t".to_string(), owned.to_vec())] };
        let meta = consumer_protocol::encode_subscription(1, &["t"], &owned);
        let j = ClassicJoin {
            member_id: id.into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            protocols: vec![("cooperative-sticky".into(), meta)],
            ..Default::default()
        };
        g.classic_join(j, &topics(), &ConsumerGroupConfig::default(), now)
    }

    fn synced(g: &mut ConsumerGroup, id: &str, now: Instant) -> Vec<i32> {
        let epoch = g.members[id].epoch;
        let (name, bytes) = g.classic_sync(id, None, epoch, (Some("consumer"), None), &topics(), now).unwrap();
        assert_eq!(name, "cooperative-sticky");
        consumer_protocol::assignment(&bytes).unwrap().into_iter().flat_map(|(_, ps)| ps).collect()
    }

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
            Err(ResponseError::IllegalGeneration)
        );
        assert_eq!(g.check_commit("b", epoch + 1), Err(ResponseError::IllegalGeneration));
        assert_eq!(g.check_commit("b", epoch), Ok(()));

        // a revokes half; then b is told to rejoin and gets the released partitions.
        let a1 = g.heartbeat(hb("a", a.epoch, None), &topics(), &cfg, t0);
        let kept = a1.assignment.expect("a loses partitions");
        assert_eq!(count(&kept), 3);
        let a2 = g.heartbeat(hb("a", a.epoch, Some(kept.clone())), &topics(), &cfg, t0);
        assert_eq!(a2.error, None);
        assert_eq!(g.classic_heartbeat("b", None, epoch, t0), Err(ResponseError::RebalanceInProgress));
        let (epoch2, _) = classic_join(&mut g, "b", &[], t0).unwrap();
        assert_eq!(g.classic_heartbeat("b", None, epoch2, t0), Ok(()));
        let mut b_parts = synced(&mut g, "b", t0);
        b_parts.sort();
        let a_parts: Vec<i32> = kept.values().flatten().copied().collect();
        assert_eq!(b_parts.len(), 3);
        assert!(b_parts.iter().all(|p| !a_parts.contains(p)), "{a_parts:?} and {b_parts:?} overlap");

        // Unknown members, static fencing and wrong protocol types get Kafka's errors.
        assert_eq!(g.classic_heartbeat("zz", None, 1, t0), Err(ResponseError::UnknownMemberId));
        assert_eq!(g.classic_heartbeat("a", None, a2.epoch, t0), Err(ResponseError::UnknownMemberId));
        assert_eq!(
            g.classic_sync("b", None, epoch2, (Some("connect"), None), &topics(), t0),
            Err(ResponseError::InconsistentGroupProtocol)
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
        assert_eq!(g.classic_heartbeat("b", None, e1, t0), Err(ResponseError::RebalanceInProgress));
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

    #[test]
    fn join_gets_everything_then_a_second_member_waits_for_revocation() {
        let (cfg, t, now) = (ConsumerGroupConfig::default(), topics(), Instant::now());
        let mut g = ConsumerGroup::new("g");
        let a = g.heartbeat(hb("a", 0, None), &t, &cfg, now);
        assert_eq!((a.epoch, count(a.assignment.as_ref().unwrap())), (1, 6));
        assert_eq!(g.state_name(), "Stable");
        let b = g.heartbeat(hb("b", 0, None), &t, &cfg, now);
        assert_eq!(b.epoch, 2);
        assert_eq!(count(b.assignment.as_ref().unwrap()), 0, "b's partitions are still a's");
        assert_eq!(g.state_name(), "Reconciling");
        // a is told to keep three: it must revoke the others, at its old epoch.
        let a2 = g.heartbeat(hb("a", 1, None), &t, &cfg, now);
        assert_eq!((a2.epoch, count(a2.assignment.as_ref().unwrap())), (1, 3));
        let kept = a2.assignment.unwrap();
        // a acknowledges by reporting what it owns now; it moves to epoch 2.
        let a3 = g.heartbeat(hb("a", 1, Some(kept.clone())), &t, &cfg, now);
        assert_eq!(a3.epoch, 2);
        let b2 = g.heartbeat(hb("b", 2, None), &t, &cfg, now);
        let got = b2.assignment.unwrap();
        assert_eq!(count(&got), 3);
        assert!(is_empty(&intersect(&got, &kept)), "no partition is owned twice");
        assert_eq!(g.state_name(), "Stable");
    }

    #[test]
    fn fencing_unknown_members_and_leaving() {
        let (cfg, t, now) = (ConsumerGroupConfig::default(), topics(), Instant::now());
        let mut g = ConsumerGroup::new("g");
        g.heartbeat(hb("a", 0, None), &t, &cfg, now);
        assert_eq!(g.heartbeat(hb("a", 7, None), &t, &cfg, now).error.unwrap().0, ResponseError::FencedMemberEpoch);
        assert_eq!(g.heartbeat(hb("zz", 3, None), &t, &cfg, now).error.unwrap().0, ResponseError::UnknownMemberId);
        assert_eq!(g.check_commit("a", 0), Err(ResponseError::StaleMemberEpoch));
        assert_eq!(g.check_commit("a", 1), Ok(()));
        let out = g.heartbeat(hb("a", LEAVE_EPOCH, None), &t, &cfg, now);
        assert_eq!((out.error, out.epoch), (None, LEAVE_EPOCH));
        assert_eq!(g.state_name(), "Empty");
    }

    #[test]
    fn session_timeout_fences_and_others_take_over() {
        let (cfg, t, now) = (ConsumerGroupConfig::default(), topics(), Instant::now());
        let mut g = ConsumerGroup::new("g");
        g.heartbeat(hb("a", 0, None), &t, &cfg, now);
        g.heartbeat(hb("b", 0, None), &t, &cfg, now);
        let later = now + Duration::from_secs(46);
        let b = g.heartbeat(hb("b", 2, None), &t, &cfg, now + Duration::from_secs(40));
        assert!(b.error.is_none());
        g.tick(&cfg, &t, later);
        assert!(!g.members.contains_key("a"));
        let b = g.heartbeat(hb("b", 2, None), &t, &cfg, later);
        assert_eq!(count(b.assignment.as_ref().unwrap()), 6);
    }

    #[test]
    fn assignors_balance() {
        let t =
            BTreeMap::from([("x".to_string(), (Uuid::from_u128(1), 5)), ("y".to_string(), (Uuid::from_u128(2), 2))]);
        let both: BTreeSet<String> = ["x".to_string(), "y".to_string()].into();
        let subs = BTreeMap::from([("m1".to_string(), both.clone()), ("m2".to_string(), both)]);
        let u = uniform(&subs, &t, &BTreeMap::new());
        let sizes: Vec<usize> = u.values().map(count).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 7);
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        let r = range(&subs, &t);
        assert_eq!(r["m1"][&Uuid::from_u128(1)], BTreeSet::from([0, 1, 2]));
        assert_eq!(r["m2"][&Uuid::from_u128(1)], BTreeSet::from([3, 4]));
        // Stickiness: a previous owner keeps its partitions when still within its share.
        let prev =
            BTreeMap::from([("m2".to_string(), BTreeMap::from([(Uuid::from_u128(1), BTreeSet::from([0, 1, 2]))]))]);
        let u2 = uniform(&subs, &t, &prev);
        assert!(u2["m2"][&Uuid::from_u128(1)].is_superset(&BTreeSet::from([0, 1, 2])));
    }

    #[test]
    fn regex_subscriptions_follow_new_topics() {
        let (cfg, now) = (ConsumerGroupConfig::default(), Instant::now());
        let mut t = topics();
        let mut g = ConsumerGroup::new("g");
        let mut first = hb("a", 0, None);
        first.subscribed_names = None;
        first.subscribed_regex = Some("t.*".into());
        assert_eq!(count(g.heartbeat(first, &t, &cfg, now).assignment.as_ref().unwrap()), 6);
        t.insert("t2".into(), (Uuid::from_u128(2), 2));
        t.insert("other".into(), (Uuid::from_u128(3), 2));
        let out = g.heartbeat(hb("a", 1, None), &t, &cfg, now);
        assert_eq!((out.epoch, count(out.assignment.as_ref().unwrap())), (2, 8));
    }

    #[test]
    fn a_regex_matching_an_internal_topic_gets_its_partitions() {
        // Kafka resolves a regex against every topic in the metadata, internal ones included.
        let (cfg, now) = (ConsumerGroupConfig::default(), Instant::now());
        let mut t = topics();
        t.insert("__consumer_offsets".into(), (Uuid::from_u128(9), 5));
        let mut g = ConsumerGroup::new("g");
        let mut first = hb("a", 0, None);
        first.subscribed_names = None;
        first.subscribed_regex = Some("__consumer_.*".into());
        let out = g.heartbeat(first, &t, &cfg, now);
        let assigned = out.assignment.as_ref().unwrap();
        assert_eq!(count(assigned), 5);
        assert_eq!(assigned[&Uuid::from_u128(9)].len(), 5);
    }
}
