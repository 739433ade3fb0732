//! The group coordinator: one `Group` per id behind its own lock, members waiting on join and
//! sync without blocking their connections, a ticker for session and rebalance timeouts, and
//! persistence of offsets and group metadata to `__consumer_offsets` through `GroupLog`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::group::GroupError;
use bytes::Bytes;
use dashmap::DashMap;
use tokio::sync::Mutex;

use super::consumer::{self, ClassicJoin, ConsumerGroup, ConsumerGroupConfig, TopicView};
use super::records::{Committed, GroupMeta, Record};
use super::state::{Group, GroupConfig, GroupState, JoinOutcome, JoinRequest, Persist, Reply, SyncOutcome};

/// Where the coordinator's records go: the partitions of `__consumer_offsets`.
pub use crate::log::internal::InternalLog as GroupLog;
use crate::log::internal::{InternalLogError, LoggedRecord};
use crate::now_ms;

mod offsets;

struct Entry {
    group: Group,
    /// Set while the group runs the consumer protocol (KIP-848) instead of the classic one.
    consumer: Option<ConsumerGroup>,
    offsets: BTreeMap<(String, i32), Committed>,
    /// Offsets committed inside open transactions, by producer id (TxnOffsetCommit).
    pending_txn: std::collections::HashMap<i64, BTreeMap<(String, i32), Committed>>,
}

impl Entry {
    fn new(group: &str) -> Entry {
        Entry { group: Group::new(group), consumer: None, offsets: BTreeMap::new(), pending_txn: Default::default() }
    }

    fn consumer_active(&self) -> bool {
        self.consumer.as_ref().is_some_and(|c| !c.members.is_empty())
    }
}

/// The topics consumer groups may be assigned, read from the current metadata.
pub type TopicSource = Arc<dyn Fn() -> TopicView + Send + Sync>;

/// The `__consumer_offsets` records of committed offsets.
fn offset_records(group: &str, offsets: &[(String, i32, Committed)]) -> Vec<(Bytes, Option<Bytes>)> {
    offsets
        .iter()
        .map(|(t, p, c)| {
            Record::Offset { group: group.to_string(), topic: t.clone(), partition: *p, value: Some(c.clone()) }
                .encode()
        })
        .collect()
}

/// How often timers are checked.
const TICK: Duration = Duration::from_millis(100);

/// A group's own consumer-protocol timings (session timeout, heartbeat interval), from its
/// group configs.
pub type GroupTimings = Arc<dyn Fn(&str) -> (Option<i32>, Option<i32>) + Send + Sync>;

pub struct Coordinator {
    cfg: GroupConfig,
    consumer_cfg: ConsumerGroupConfig,
    timings: std::sync::OnceLock<GroupTimings>,
    topics: TopicSource,
    partitions: i32,
    groups: DashMap<String, Arc<Mutex<Entry>>>,
    log: Arc<dyn GroupLog>,
    /// In a cluster: the partitions of `__consumer_offsets` led here, whose groups this node
    /// coordinates.
    pub ownership: crate::log::internal::Ownership,
}

#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Clone)]
pub struct GroupDescription {
    /// Kafka's name of the state ("Stable", "Empty", ...; consumer groups have their own).
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

impl Coordinator {
    pub fn new(
        cfg: GroupConfig,
        consumer_cfg: ConsumerGroupConfig,
        topics: TopicSource,
        partitions: i32,
        log: Arc<dyn GroupLog>,
    ) -> Arc<Coordinator> {
        Arc::new(Coordinator {
            cfg,
            consumer_cfg,
            timings: std::sync::OnceLock::new(),
            topics,
            partitions,
            groups: DashMap::new(),
            log,
            ownership: Default::default(),
        })
    }

    /// Where groups' own timings come from (kafka-configs --entity-type groups); set once.
    pub fn set_group_timings(&self, timings: GroupTimings) {
        let _ = self.timings.set(timings);
    }

    /// The consumer-protocol settings of one group: the broker's, with the group's own timings.
    fn consumer_cfg_of(&self, group: &str) -> std::borrow::Cow<'_, ConsumerGroupConfig> {
        let (session, heartbeat) = self.timings.get().map_or((None, None), |t| t(group));
        if session.is_none() && heartbeat.is_none() {
            return std::borrow::Cow::Borrowed(&self.consumer_cfg);
        }
        let mut cfg = self.consumer_cfg.clone();
        cfg.session_timeout_ms = session.unwrap_or(cfg.session_timeout_ms);
        cfg.heartbeat_interval_ms = heartbeat.unwrap_or(cfg.heartbeat_interval_ms);
        std::borrow::Cow::Owned(cfg)
    }

    /// Rebuilds groups and offsets by replaying every partition of `__consumer_offsets` (a
    /// lone node, at start-up).
    pub fn load(&self) -> Result<(), InternalLogError> {
        for p in 0..self.partitions {
            self.load_partition(p)?;
        }
        Ok(())
    }

    /// Rebuilds the groups kept in partition `p` of `__consumer_offsets` from its records,
    /// replacing what was known of them.
    pub fn load_partition(&self, p: i32) -> Result<(), InternalLogError> {
        let mut loaded: std::collections::HashMap<String, Entry> = Default::default();
        // Groups with transactional offsets in this partition, by producer id.
        let mut in_txn: std::collections::HashMap<i64, Vec<String>> = Default::default();
        self.log.replay(p, &mut |r: LoggedRecord| {
            if let Some(commit) = r.marker {
                for g in in_txn.remove(&r.producer_id).unwrap_or_default() {
                    let e = loaded.entry(g.clone()).or_insert_with(|| Entry::new(&g));
                    let pending = e.pending_txn.remove(&r.producer_id).unwrap_or_default();
                    if commit {
                        e.offsets.extend(pending);
                    }
                }
                return;
            }
            let Some(rec) = Record::decode(r.key, r.value) else { return };
            let id = rec.group_id().to_string();
            let e = loaded.entry(id.clone()).or_insert_with(|| Entry::new(&id));
            match rec {
                Record::Offset { group, topic, partition, value: Some(c) } if r.transactional => {
                    e.pending_txn.entry(r.producer_id).or_default().insert((topic, partition), c);
                    let groups = in_txn.entry(r.producer_id).or_default();
                    if !groups.contains(&group) {
                        groups.push(group);
                    }
                }
                Record::Offset { topic, partition, value: Some(c), .. } => {
                    e.offsets.insert((topic, partition), c);
                }
                Record::Offset { topic, partition, value: None, .. } => {
                    e.offsets.remove(&(topic, partition));
                }
                Record::Group { value: Some(m), .. } => {
                    e.group = Group::restore(&id, &m, Instant::now());
                }
                Record::Group { value: None, .. } => e.group = Group::new(&e.group.id),
            }
        })?;
        self.groups.retain(|g, _| self.partition_for(g) != p);
        for (id, e) in loaded {
            if !e.offsets.is_empty() || !e.pending_txn.is_empty() || e.group.generation > 0 {
                self.groups.insert(id, Arc::new(Mutex::new(e)));
            }
        }
        Ok(())
    }

    /// Forgets the groups of partition `p` of `__consumer_offsets`: another node coordinates
    /// them now (their members are told NOT_COORDINATOR and find it).
    pub fn unload_partition(&self, p: i32) {
        self.groups.retain(|g, _| self.partition_for(g) != p);
    }

    /// Runs the timers until the coordinator is dropped elsewhere.
    pub fn spawn_ticker(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(TICK).await;
                let Some(c) = weak.upgrade() else { return };
                let entries: Vec<Arc<Mutex<Entry>>> = c.groups.iter().map(|e| e.value().clone()).collect();
                let topics = (c.topics)();
                for entry in entries {
                    let mut e = entry.lock().await;
                    if e.group.tick(&c.cfg, Instant::now()) == Persist::GroupMetadata {
                        c.persist_group(&e.group);
                    }
                    if let Some(cg) = e.consumer.as_mut() {
                        let cfg = c.consumer_cfg_of(&cg.id);
                        cg.tick(&cfg, &topics, Instant::now());
                        c.maybe_downgrade(&mut e, &topics);
                    }
                }
            }
        });
    }

    pub fn partition_for(&self, group: &str) -> i32 {
        crate::log::internal::partition_for(group, self.partitions)
    }

    fn entry(&self, group: &str) -> Arc<Mutex<Entry>> {
        self.groups.entry(group.to_string()).or_insert_with(|| Arc::new(Mutex::new(Entry::new(group)))).clone()
    }

    fn existing(&self, group: &str) -> Option<Arc<Mutex<Entry>>> {
        self.groups.get(group).map(|e| e.clone())
    }

    fn persist_group(&self, g: &Group) {
        let meta = GroupMeta {
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            generation: g.generation,
            protocol: g.protocol_name.clone(),
            leader: g.leader.clone(),
            timestamp_ms: now_ms(),
            members: g.persisted_members(),
        };
        let rec = Record::Group { group: g.id.clone(), value: Some(meta) };
        if let Err(e) = self.log.append(self.partition_for(&g.id), vec![rec.encode()], None) {
            tracing::warn!(group = %g.id, error = %e, "could not persist group metadata");
        }
    }

    pub async fn join(&self, group: &str, req: JoinRequest) -> JoinOutcome {
        let member_id = req.member_id.clone();
        let entry = self.entry(group);
        let reply = {
            let mut e = entry.lock().await;
            if e.consumer_active() {
                return self.join_consumer_group(&mut e, req);
            }
            e.consumer = None;
            let (reply, persist) = e.group.join(req, &self.cfg, Instant::now());
            if persist == Persist::GroupMetadata {
                self.persist_group(&e.group);
            }
            reply
        };
        match reply {
            Reply::Now(o) => o,
            Reply::Later(rx) => {
                rx.await.unwrap_or_else(|_| JoinOutcome::error(GroupError::UnknownMemberId, &member_id))
            }
        }
    }

    /// A classic member joining a group that runs the consumer protocol (a mixed group, KIP-848):
    /// the broker assigns, and the answer comes at once.
    fn join_consumer_group(&self, e: &mut Entry, req: JoinRequest) -> JoinOutcome {
        let fail = |err| JoinOutcome::error(err, &req.member_id);
        if req.protocol_type != "consumer" || req.protocols.is_empty() {
            return fail(GroupError::InconsistentGroupProtocol);
        }
        if req.session_timeout_ms < self.cfg.session_timeout_ms_min
            || req.session_timeout_ms > self.cfg.session_timeout_ms_max
        {
            return fail(GroupError::InvalidSessionTimeout);
        }
        let new_id = req.member_id.is_empty();
        let member_id = if new_id { uuid::Uuid::new_v4().to_string() } else { req.member_id.clone() };
        if new_id && req.require_known_member_id && req.instance_id.is_none() {
            return JoinOutcome::error(GroupError::MemberIdRequired, &member_id);
        }
        let topics = (self.topics)();
        let cg = e.consumer.as_mut().expect("consumer group is active");
        let cfg = self.consumer_cfg_of(&cg.id);
        let join = ClassicJoin {
            member_id: member_id.clone(),
            new_id,
            instance_id: req.instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocols: req.protocols,
        };
        match cg.classic_join(join, &topics, &cfg, Instant::now()) {
            Ok((epoch, protocol)) => JoinOutcome {
                error: None,
                generation: epoch,
                protocol_type: Some("consumer".into()),
                protocol_name: Some(protocol),
                leader: String::new(),
                member_id,
                members: vec![],
                skip_assignment: false,
            },
            Err(err) => JoinOutcome::error(err, &member_id),
        }
    }

    /// Online downgrade: once only classic members are left in a consumer-protocol group, it
    /// becomes a classic group again and rebalances.
    fn maybe_downgrade(&self, e: &mut Entry, topics: &TopicView) {
        let Some(cg) = e.consumer.as_ref() else { return };
        if !cg.all_classic() {
            return;
        }
        tracing::info!(group = %cg.id, "only classic members left: the group goes back to the classic protocol");
        e.group = Group::from_members(&cg.id, cg.group_epoch, cg.classic_members(topics), &self.cfg, Instant::now());
        e.consumer = None;
    }

    pub async fn sync(
        &self,
        group: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        protocol: (Option<&str>, Option<&str>),
        assignments: Vec<(String, Bytes)>,
    ) -> SyncOutcome {
        let Some(entry) = self.existing(group) else { return SyncOutcome::error(GroupError::UnknownMemberId) };
        let reply = {
            let mut e = entry.lock().await;
            if e.consumer_active() {
                let topics = (self.topics)();
                let cg = e.consumer.as_mut().expect("active");
                return match cg.classic_sync(member_id, instance_id, generation, protocol, &topics, Instant::now()) {
                    Ok((name, assignment)) => SyncOutcome {
                        error: None,
                        protocol_type: Some("consumer".into()),
                        protocol_name: Some(name),
                        assignment,
                    },
                    Err(err) => SyncOutcome::error(err),
                };
            }
            let (reply, persist) =
                e.group.sync(member_id, instance_id, generation, protocol, assignments, Instant::now());
            if persist == Persist::GroupMetadata {
                self.persist_group(&e.group);
            }
            reply
        };
        match reply {
            Reply::Now(o) => o,
            Reply::Later(rx) => rx.await.unwrap_or_else(|_| SyncOutcome::error(GroupError::RebalanceInProgress)),
        }
    }

    pub async fn heartbeat(
        &self,
        group: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), GroupError> {
        let entry = self.existing(group).ok_or(GroupError::UnknownMemberId)?;
        let mut e = entry.lock().await;
        if let Some(cg) = e.consumer.as_mut().filter(|c| !c.members.is_empty()) {
            return cg.classic_heartbeat(member_id, instance_id, generation, Instant::now());
        }
        e.group.heartbeat(member_id, instance_id, generation, Instant::now())
    }

    /// LeaveGroup for each (member id, instance id); one result per member.
    pub async fn leave(
        &self,
        group: &str,
        members: &[(String, Option<String>)],
    ) -> Result<Vec<Result<(), GroupError>>, GroupError> {
        let entry = self.existing(group).ok_or(GroupError::UnknownMemberId)?;
        let mut e = entry.lock().await;
        if e.consumer_active() {
            let cg = e.consumer.as_mut().expect("active");
            let out = members.iter().map(|(id, inst)| cg.classic_leave(id, inst.as_deref())).collect();
            self.maybe_downgrade(&mut e, &(self.topics)());
            return Ok(out);
        }
        let mut out = Vec::new();
        for (id, inst) in members {
            match e.group.leave(id, inst.as_deref(), &self.cfg, Instant::now()) {
                Ok(p) => {
                    if p == Persist::GroupMetadata {
                        self.persist_group(&e.group);
                    }
                    out.push(Ok(()))
                }
                Err(err) => out.push(Err(err)),
            }
        }
        Ok(out)
    }

    pub async fn describe(&self, group: &str) -> Option<GroupDescription> {
        let entry = self.existing(group)?;
        let e = entry.lock().await;
        if let Some(cg) = e.consumer.as_ref().filter(|c| !c.members.is_empty()) {
            let topics = (self.topics)();
            return Some(GroupDescription {
                state: cg.state_name(),
                protocol_type: "consumer".into(),
                protocol: String::new(),
                members: cg
                    .members
                    .values()
                    .map(|m| MemberDescription {
                        member_id: m.id.clone(),
                        instance_id: m.instance_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        metadata: m.classic.as_ref().map(|c| c.metadata()).unwrap_or_default(),
                        assignment: if m.classic.is_some() { cg.classic_assignment(m, &topics) } else { Bytes::new() },
                    })
                    .collect(),
            });
        }
        let g = &e.group;
        let protocol = g.protocol_name.clone().unwrap_or_default();
        Some(GroupDescription {
            state: g.state.name(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if g.state == GroupState::Stable || g.state == GroupState::CompletingRebalance {
                protocol.clone()
            } else {
                String::new()
            },
            members: g
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: m.metadata(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        })
    }

    /// Every group: (id, protocol type, state name, group type "classic" or "consumer").
    pub async fn list(&self) -> Vec<(String, String, &'static str, &'static str)> {
        let entries: Vec<(String, Arc<Mutex<Entry>>)> =
            self.groups.iter().map(|e| (e.key().clone(), e.value().clone())).collect();
        let mut out = Vec::new();
        for (id, entry) in entries {
            let e = entry.lock().await;
            if e.group.state == GroupState::Dead {
                continue;
            }
            if let Some(cg) = e.consumer.as_ref() {
                out.push((id, "consumer".to_string(), cg.state_name(), "consumer"));
                continue;
            }
            out.push((id, e.group.protocol_type.clone().unwrap_or_default(), e.group.state.name(), "classic"));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Deletes an empty group with its offsets.
    pub async fn delete(&self, group: &str) -> Result<(), GroupError> {
        let entry = self.existing(group).ok_or(GroupError::GroupIdNotFound)?;
        let mut e = entry.lock().await;
        if e.group.state == GroupState::Dead {
            return Err(GroupError::GroupIdNotFound);
        }
        if !e.group.is_empty() || e.consumer_active() {
            return Err(GroupError::NonEmptyGroup);
        }
        let mut recs: Vec<_> = e
            .offsets
            .keys()
            .map(|(t, p)| {
                Record::Offset { group: group.to_string(), topic: t.clone(), partition: *p, value: None }.encode()
            })
            .collect();
        recs.push(Record::Group { group: group.to_string(), value: None }.encode());
        crate::log::internal::write(&*self.log, self.partition_for(group), recs, None).await?;
        e.offsets.clear();
        e.group.state = GroupState::Dead;
        drop(e);
        self.groups.remove(group);
        Ok(())
    }

    /// ConsumerGroupHeartbeat (KIP-848).
    pub async fn consumer_heartbeat(&self, group: &str, hb: consumer::Heartbeat) -> consumer::HeartbeatOut {
        let entry = self.entry(group);
        let mut e = entry.lock().await;
        let topics = (self.topics)();
        if !e.group.members.is_empty() && self.can_upgrade(&e.group) {
            tracing::info!(group, "a consumer-protocol member joins a classic group: the group is upgraded");
            let members = e.group.take_members();
            e.consumer = Some(ConsumerGroup::from_classic(group, e.group.generation, members, &topics, Instant::now()));
        }
        if !e.group.members.is_empty() || !matches!(e.group.state, GroupState::Empty) {
            let msg = format!("Group {group} is not a consumer group.");
            return consumer::HeartbeatOut {
                error: Some((GroupError::GroupIdNotFound, msg)),
                member_id: hb.member_id,
                epoch: -1,
                assignment: None,
            };
        }
        let cg = e.consumer.get_or_insert_with(|| ConsumerGroup::new(group));
        let out = cg.heartbeat(hb, &topics, &self.consumer_cfg_of(group), Instant::now());
        self.maybe_downgrade(&mut e, &topics);
        out
    }

    /// Online upgrade is possible for a classic group of "consumer" protocol members that fits
    /// in a consumer group (Kafka's group.consumer.migration.policy=bidirectional).
    fn can_upgrade(&self, g: &Group) -> bool {
        g.protocol_type.as_deref() == Some("consumer")
            && g.members.values().all(|m| m.protocol_type == "consumer")
            && g.members.len() < self.consumer_cfg.group_size_max
    }

    /// A consumer-protocol group's full view for ConsumerGroupDescribe; None if there is none.
    pub async fn consumer_describe<T>(&self, group: &str, view: impl FnOnce(&ConsumerGroup) -> T) -> Option<T> {
        let entry = self.existing(group)?;
        let e = entry.lock().await;
        e.consumer.as_ref().map(view)
    }

    pub fn heartbeat_interval_ms(&self, group: &str) -> i32 {
        self.consumer_cfg_of(group).heartbeat_interval_ms
    }

    /// OffsetFetch v9+ from a consumer-protocol member: it must be current.
    pub async fn check_fetch_member(&self, group: &str, member_id: &str, epoch: i32) -> Result<(), GroupError> {
        let Some(entry) = self.existing(group) else { return Ok(()) };
        let e = entry.lock().await;
        match e.consumer.as_ref() {
            Some(cg) => cg.check_commit(member_id, epoch),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
