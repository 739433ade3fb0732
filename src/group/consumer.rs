//! The consumer group protocol of KIP-848: the broker computes assignments and each member
//! reconciles towards its target through heartbeats, revoking before it is given partitions
//! another member still owns. Plain data and functions of (state, heartbeat, topics, now).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::group::GroupError;
use bytes::Bytes;
use uuid::Uuid;

use super::consumer_protocol::{self, NamedPartitions};
use super::state::MovedMember;

mod assign;
mod classic;

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
    pub error: Option<(GroupError, String)>,
    pub member_id: String,
    pub epoch: i32,
    pub assignment: Option<Assignment>,
}

fn fail(e: GroupError, msg: impl Into<String>, member_id: &str) -> HeartbeatOut {
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

    /// Each member's topics. Members with the same subscription share one resolved set, so a
    /// regex that a thousand members send is matched against the topics once, not a thousand
    /// times.
    fn subscriptions(&self, topics: &TopicView) -> assign::Subscriptions {
        type Subscription<'a> = (&'a Vec<String>, Option<&'a String>);
        let mut resolved: HashMap<Subscription<'_>, Arc<BTreeSet<String>>> = HashMap::new();
        self.members
            .values()
            .map(|m| {
                let key = (&m.subscribed_names, m.subscribed_regex.as_ref());
                let set = resolved.entry(key).or_insert_with(|| Arc::new(Self::member_topics(m, topics)));
                (m.id.clone(), set.clone())
            })
            .collect()
    }

    /// Every topic any member subscribes to, as of `topics`.
    pub fn subscribed_topics(&self, topics: &TopicView) -> BTreeSet<String> {
        assign::distinct(&self.subscriptions(topics)).into_iter().flat_map(|(set, _)| set.iter().cloned()).collect()
    }

    fn snapshot(&self, topics: &TopicView) -> Vec<(String, Uuid, i32)> {
        self.subscribed_topics(topics)
            .into_iter()
            .filter_map(|n| topics.get(&n).map(|(id, c)| (n.clone(), *id, *c)))
            .collect()
    }

    /// Handles one heartbeat. Long by design: validation, the member's update and the epoch bump, then
    /// reconciliation, in the order Kafka applies them.
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
            return fail(GroupError::UnsupportedAssignor, format!("Assignor {a} is not supported"), &hb.member_id);
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
                    GroupError::UnknownMemberId,
                    format!("Member {} is not a member of group {}", hb.member_id, self.id),
                    &hb.member_id,
                );
            };
            let owned_ok = hb.owned.as_ref().is_none_or(|o| is_empty(&minus(o, &m.assigned)));
            if hb.epoch != m.epoch && !(hb.epoch == m.previous_epoch && owned_ok) {
                return fail(
                    GroupError::FencedMemberEpoch,
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
                GroupError::InvalidRequest,
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
                    GroupError::UnreleasedInstanceId,
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
            return Err(fail(GroupError::GroupMaxSizeReached, "The group is full", &id));
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
            return fail(GroupError::UnknownMemberId, format!("Member {id} is not a member of group {}", self.id), &id);
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
        let subs = self.subscriptions(topics);
        self.target = if assignor == "range" {
            assign::range(&subs, topics)
        } else {
            assign::uniform(&subs, topics, &self.target)
        };
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

    pub fn check_commit(&self, member_id: &str, epoch: i32) -> Result<(), GroupError> {
        let m = self.members.get(member_id).ok_or(GroupError::UnknownMemberId)?;
        if m.classic.is_some() {
            // A classic member commits with its generation, which is its member epoch.
            return if epoch == m.epoch { Ok(()) } else { Err(GroupError::IllegalGeneration) };
        }
        if epoch > m.epoch {
            return Err(GroupError::FencedMemberEpoch);
        }
        if epoch < m.epoch {
            return Err(GroupError::StaleMemberEpoch);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
