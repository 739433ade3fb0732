//! The cluster image: what the metadata log says the cluster is. `Image::apply` is the pure
//! transition function of the raft state machine; request handlers read an immutable snapshot.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::acl::AclBinding;
use super::replication;

mod reassign;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerInfo {
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionMeta {
    /// Storage id of the partition's log; assigned once, never reused.
    pub uid: u64,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// A reassignment in progress (Kafka's addingReplicas / removingReplicas): `replicas` is the
    /// target followed by the replicas being removed; the added ones fetch until the whole target
    /// is in the ISR, then the removed ones leave. Both empty when none is in progress.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adding: Vec<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removing: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub partitions: Vec<PartitionMeta>,
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub cluster_id: String,
    pub brokers: BTreeMap<i32, BrokerInfo>,
    pub topics: BTreeMap<String, Topic>,
    pub topic_names: BTreeMap<Uuid, String>,
    pub next_partition_uid: u64,
    pub next_producer_id: i64,
    /// Dynamic broker configs by scope: "" for the cluster-wide default, a node id for one broker.
    #[serde(default)]
    pub broker_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// Group configs by group id (kafka-configs --entity-type groups).
    #[serde(default)]
    pub group_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// ACL bindings (CreateAcls / DeleteAcls).
    #[serde(default)]
    pub acls: BTreeSet<AclBinding>,
    /// Registered brokers that may not lead or serve: missed broker.session.timeout.ms, or shut
    /// down cleanly. A fenced broker leaves every ISR it is not the last member of.
    #[serde(default)]
    pub fenced: BTreeSet<i32>,
    /// In a dynamic quorum: each voter's metadata directory id, the other half of its voter key
    /// (KIP-853), as AddRaftVoter gave it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub voter_directories: BTreeMap<i32, Uuid>,
}

/// What an election did to one partition (Kafka's ElectLeaders codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Election {
    Elected,
    /// The partition already has the leader the election would give it.
    NotNeeded,
    /// The preferred replica is fenced or out of sync (preferred), or no replica may lead
    /// (unclean).
    NotAvailable,
    NoSuchPartition,
}

/// What a reassignment request did to one partition (AlterPartitionReassignments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reassigned {
    /// Started, replaced, cancelled, or already complete.
    Done,
    NoSuchPartition,
    /// A cancellation where nothing is in progress.
    NoneInProgress,
    /// The target cannot be taken (Kafka's INVALID_REPLICA_ASSIGNMENT), with why.
    Invalid(String),
}

/// Changes to the image, replicated through the metadata log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    SetClusterId {
        id: String,
    },
    /// Adds or updates a broker's endpoint. A broker registering for the first time is live;
    /// one that was fenced stays fenced until its heartbeat unfences it.
    RegisterBroker {
        id: i32,
        info: BrokerInfo,
    },
    /// The broker stopped heartbeating (or shuts down): its leaderships move to live ISR
    /// members, or the partition goes offline (leader -1) when none is left.
    FenceBroker {
        id: i32,
    },
    /// The broker heartbeats again: offline partitions it may lead get it as leader.
    UnfenceBroker {
        id: i32,
    },
    /// ElectLeaders (kafka-leader-election, auto.leader.rebalance): `preferred` gives each
    /// partition its first replica if that one is live and in sync; otherwise (unclean) an
    /// offline partition gets a live ISR member, or any live replica.
    ElectLeaders {
        preferred: bool,
        partitions: Vec<(String, i32)>,
    },
    /// A partition leader's new ISR (Kafka's AlterPartition): taken only from the current
    /// leader in its current epoch, never empty, never naming a non-replica or a fenced broker.
    AlterIsr {
        topic: String,
        partition: i32,
        leader: i32,
        leader_epoch: i32,
        isr: Vec<i32>,
    },
    /// AlterPartitionReassignments: each partition's target replicas, or None to cancel the
    /// reassignment in progress (the added replicas leave again).
    Reassign {
        partitions: Vec<(String, i32, Option<Vec<i32>>)>,
    },
    CreateTopic {
        name: String,
        id: Uuid,
        assignment: Vec<Vec<i32>>,
        configs: BTreeMap<String, String>,
    },
    DeleteTopic {
        name: String,
    },
    AllocateProducerIds {
        count: i64,
    },
    /// Adds partitions at the end of a topic, one replica list each.
    AddPartitions {
        name: String,
        assignment: Vec<Vec<i32>>,
    },
    /// Replaces a topic's explicit configs.
    SetTopicConfigs {
        name: String,
        configs: BTreeMap<String, String>,
    },
    /// Replaces the dynamic broker configs of a scope ("" cluster default, or a node id).
    SetBrokerConfigs {
        scope: String,
        configs: BTreeMap<String, String>,
    },
    /// Replaces a group's configs (empty: it has none).
    SetGroupConfigs {
        group: String,
        configs: BTreeMap<String, String>,
    },
    /// Adds ACL bindings; one already present stays as it is.
    CreateAcls {
        bindings: Vec<AclBinding>,
    },
    /// Removes these exact bindings (those a DeleteAcls filter selected).
    DeleteAcls {
        bindings: Vec<AclBinding>,
    },
    /// A voter's directory id (None: it is no longer a voter).
    SetVoterDirectory {
        id: i32,
        directory: Option<Uuid>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum CommandResult {
    #[default]
    Done,
    TopicExists,
    TopicCreated {
        uids: Vec<u64>,
    },
    TopicDeleted {
        uids: Vec<u64>,
    },
    NoSuchTopic,
    /// Per partition of an ElectLeaders, in its order.
    Elections {
        outcomes: Vec<Election>,
    },
    /// An AlterIsr from a leader that no longer leads in that epoch, or naming replicas that
    /// may not be in sync; the leader learns the current state from the image.
    IsrRefused,
    ProducerIds {
        first: i64,
    },
    PartitionsAdded {
        uids: Vec<u64>,
    },
    /// Per partition of a Reassign, in its order.
    Reassignments {
        outcomes: Vec<Reassigned>,
    },
}

impl PartitionMeta {
    /// A new partition on `replicas`: all in sync, the first leads, epoch 0.
    fn new(uid: u64, replicas: &[i32]) -> PartitionMeta {
        PartitionMeta {
            uid,
            leader: replicas.first().copied().unwrap_or(-1),
            leader_epoch: 0,
            replicas: replicas.to_vec(),
            isr: replicas.to_vec(),
            adding: Vec::new(),
            removing: Vec::new(),
        }
    }

    /// Whether a reassignment is in progress.
    pub fn reassigning(&self) -> bool {
        !self.adding.is_empty() || !self.removing.is_empty()
    }
}

impl Topic {
    /// The partition at `index`; None if the topic has no such partition.
    pub fn partition(&self, index: i32) -> Option<&PartitionMeta> {
        usize::try_from(index).ok().and_then(|i| self.partitions.get(i))
    }

    fn partition_mut(&mut self, index: i32) -> Option<&mut PartitionMeta> {
        usize::try_from(index).ok().and_then(|i| self.partitions.get_mut(i))
    }
}

impl Image {
    /// Registered brokers that are not fenced: the ones clients are told about and placement uses.
    pub fn live_brokers(&self) -> BTreeMap<i32, BrokerInfo> {
        self.brokers.iter().filter(|(id, _)| !self.fenced.contains(id)).map(|(id, b)| (*id, b.clone())).collect()
    }

    pub fn is_live(&self, id: i32) -> bool {
        self.brokers.contains_key(&id) && !self.fenced.contains(&id)
    }

    /// Kafka's fencing: `id` leaves every ISR it is not the only member of, and each partition it
    /// led gets the first live ISR member as leader, or none (offline) if the ISR has no other.
    /// Every leader change takes a new leader epoch.
    fn fence(&mut self, id: i32) {
        let live: Vec<i32> = self.live_brokers().into_keys().collect();
        for p in self.topics.values_mut().flat_map(|t| t.partitions.iter_mut()) {
            if !p.replicas.contains(&id) {
                continue;
            }
            if p.isr.len() > 1 {
                p.isr.retain(|r| *r != id);
            }
            if p.leader == id {
                let elected =
                    replication::elect(replication::Election::Offline { unclean: false }, &p.replicas, &p.isr, &live);
                p.leader = elected.unwrap_or(-1);
                p.leader_epoch += 1;
            }
        }
    }

    /// A broker back from fencing leads the offline partitions whose ISR names it.
    fn unfence(&mut self, id: i32) {
        for p in self.topics.values_mut().flat_map(|t| t.partitions.iter_mut()) {
            if p.leader == -1 && p.isr.contains(&id) {
                p.leader = id;
                p.leader_epoch += 1;
            }
        }
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<&Topic> {
        self.topic_names.get(id).and_then(|n| self.topics.get(n))
    }

    /// Applies one command. Deterministic: every replica computes the same image.
    /// Long by design: one match arm per metadata command.
    pub fn apply(&mut self, cmd: &Command) -> CommandResult {
        match cmd {
            Command::SetClusterId { id } => {
                if self.cluster_id.is_empty() {
                    self.cluster_id = id.clone();
                }
                CommandResult::Done
            }
            Command::SetVoterDirectory { id, directory } => {
                match directory {
                    Some(d) => self.voter_directories.insert(*id, *d),
                    None => self.voter_directories.remove(id),
                };
                CommandResult::Done
            }
            Command::RegisterBroker { id, info } => {
                self.brokers.insert(*id, info.clone());
                CommandResult::Done
            }
            Command::FenceBroker { id } => {
                if self.brokers.contains_key(id) && self.fenced.insert(*id) {
                    self.fence(*id);
                }
                CommandResult::Done
            }
            Command::UnfenceBroker { id } => {
                if self.fenced.remove(id) {
                    self.unfence(*id);
                }
                CommandResult::Done
            }
            Command::ElectLeaders { preferred, partitions } => {
                let live: Vec<i32> = self.live_brokers().into_keys().collect();
                let outcomes = partitions
                    .iter()
                    .map(|(topic, index)| {
                        let Some(p) = self.topics.get_mut(topic).and_then(|t| t.partition_mut(*index)) else {
                            return Election::NoSuchPartition;
                        };
                        elect_one(p, *preferred, &live)
                    })
                    .collect();
                CommandResult::Elections { outcomes }
            }
            Command::AlterIsr { topic, partition, leader, leader_epoch, isr } => {
                let fenced = &self.fenced;
                let Some(p) = self.topics.get_mut(topic).and_then(|t| t.partition_mut(*partition)) else {
                    return CommandResult::NoSuchTopic;
                };
                let valid = p.leader == *leader
                    && p.leader_epoch == *leader_epoch
                    && isr.contains(leader)
                    && isr.iter().all(|r| p.replicas.contains(r))
                    && isr.iter().filter(|r| !p.isr.contains(r)).all(|r| !fenced.contains(r));
                if !valid {
                    return CommandResult::IsrRefused;
                }
                // Assignment order, as Kafka lists it.
                p.isr = p.replicas.iter().filter(|r| isr.contains(r)).copied().collect();
                if p.reassigning() {
                    let live: Vec<i32> = self.brokers.keys().filter(|id| !fenced.contains(id)).copied().collect();
                    reassign::complete(p, &live);
                }
                CommandResult::Done
            }
            Command::Reassign { partitions } => {
                let live: Vec<i32> = self.live_brokers().into_keys().collect();
                let registered: BTreeSet<i32> = self.brokers.keys().copied().collect();
                let outcomes = partitions
                    .iter()
                    .map(|(topic, index, target)| {
                        let Some(p) = self.topics.get_mut(topic).and_then(|t| t.partition_mut(*index)) else {
                            return Reassigned::NoSuchPartition;
                        };
                        match target {
                            Some(target) => reassign::start(p, target, &registered, &live),
                            None => reassign::cancel(p, &live),
                        }
                    })
                    .collect();
                CommandResult::Reassignments { outcomes }
            }
            Command::CreateTopic { name, id, assignment, configs } => {
                if self.topics.contains_key(name) || self.topic_names.contains_key(id) {
                    return CommandResult::TopicExists;
                }
                let partitions: Vec<PartitionMeta> = assignment
                    .iter()
                    .map(|replicas| {
                        let uid = self.next_partition_uid;
                        self.next_partition_uid += 1;
                        PartitionMeta::new(uid, replicas)
                    })
                    .collect();
                let uids = partitions.iter().map(|p| p.uid).collect();
                self.topic_names.insert(*id, name.clone());
                self.topics
                    .insert(name.clone(), Topic { name: name.clone(), id: *id, partitions, configs: configs.clone() });
                CommandResult::TopicCreated { uids }
            }
            Command::DeleteTopic { name } => match self.topics.remove(name) {
                None => CommandResult::NoSuchTopic,
                Some(t) => {
                    self.topic_names.remove(&t.id);
                    CommandResult::TopicDeleted { uids: t.partitions.iter().map(|p| p.uid).collect() }
                }
            },
            Command::AddPartitions { name, assignment } => {
                let Some(topic) = self.topics.get_mut(name) else { return CommandResult::NoSuchTopic };
                let mut uids = Vec::new();
                for replicas in assignment {
                    let uid = self.next_partition_uid;
                    self.next_partition_uid += 1;
                    uids.push(uid);
                    topic.partitions.push(PartitionMeta::new(uid, replicas));
                }
                CommandResult::PartitionsAdded { uids }
            }
            Command::SetTopicConfigs { name, configs } => match self.topics.get_mut(name) {
                None => CommandResult::NoSuchTopic,
                Some(t) => {
                    t.configs = configs.clone();
                    CommandResult::Done
                }
            },
            Command::SetBrokerConfigs { scope, configs } => {
                if configs.is_empty() {
                    self.broker_configs.remove(scope);
                } else {
                    self.broker_configs.insert(scope.clone(), configs.clone());
                }
                CommandResult::Done
            }
            Command::SetGroupConfigs { group, configs } => {
                if configs.is_empty() {
                    self.group_configs.remove(group);
                } else {
                    self.group_configs.insert(group.clone(), configs.clone());
                }
                CommandResult::Done
            }
            Command::CreateAcls { bindings } => {
                self.acls.extend(bindings.iter().cloned());
                CommandResult::Done
            }
            Command::DeleteAcls { bindings } => {
                for b in bindings {
                    self.acls.remove(b);
                }
                CommandResult::Done
            }
            Command::AllocateProducerIds { count } => {
                let first = self.next_producer_id;
                self.next_producer_id += count;
                CommandResult::ProducerIds { first }
            }
        }
    }
}

/// One partition's ElectLeaders: Kafka's preferred and unclean strategies.
fn elect_one(p: &mut PartitionMeta, preferred: bool, live: &[i32]) -> Election {
    let (kind, needed) = if preferred {
        (replication::Election::Preferred, p.replicas.first() != Some(&p.leader))
    } else {
        (replication::Election::Offline { unclean: true }, p.leader < 0)
    };
    if !needed {
        return Election::NotNeeded;
    }
    match replication::elect(kind, &p.replicas, &p.isr, live) {
        None => Election::NotAvailable,
        Some(leader) => {
            if !p.isr.contains(&leader) {
                // Unclean: the new leader is all that is known to be in sync.
                p.isr = vec![leader];
            }
            p.leader = leader;
            p.leader_epoch += 1;
            Election::Elected
        }
    }
}

#[cfg(test)]
mod tests;
