//! The cluster image: what the metadata log says the cluster is. `Image::apply` is the pure
//! transition function of the raft state machine; request handlers read an immutable snapshot.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::acl::AclBinding;

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
}

/// Changes to the image, replicated through the metadata log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    SetClusterId {
        id: String,
    },
    RegisterBroker {
        id: i32,
        info: BrokerInfo,
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
    ProducerIds {
        first: i64,
    },
    PartitionsAdded {
        uids: Vec<u64>,
    },
}

impl Topic {
    /// The partition at `index`; None if the topic has no such partition.
    pub fn partition(&self, index: i32) -> Option<&PartitionMeta> {
        usize::try_from(index).ok().and_then(|i| self.partitions.get(i))
    }
}

impl Image {
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
            Command::RegisterBroker { id, info } => {
                self.brokers.insert(*id, info.clone());
                CommandResult::Done
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
                        PartitionMeta {
                            uid,
                            leader: replicas.first().copied().unwrap_or(-1),
                            leader_epoch: 0,
                            replicas: replicas.clone(),
                            isr: replicas.clone(),
                        }
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
                    topic.partitions.push(PartitionMeta {
                        uid,
                        leader: replicas.first().copied().unwrap_or(-1),
                        leader_epoch: 0,
                        replicas: replicas.clone(),
                        isr: replicas.clone(),
                    });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_never_reused_after_delete_and_recreate() {
        let mut img = Image::default();
        let create = |id| Command::CreateTopic {
            name: "t".into(),
            id,
            assignment: vec![vec![1], vec![1]],
            configs: BTreeMap::new(),
        };
        assert_eq!(img.apply(&create(Uuid::from_u128(1))), CommandResult::TopicCreated { uids: vec![0, 1] });
        assert_eq!(img.apply(&create(Uuid::from_u128(2))), CommandResult::TopicExists);
        assert_eq!(
            img.apply(&Command::DeleteTopic { name: "t".into() }),
            CommandResult::TopicDeleted { uids: vec![0, 1] }
        );
        assert!(img.topic_by_id(&Uuid::from_u128(1)).is_none());
        assert_eq!(img.apply(&create(Uuid::from_u128(3))), CommandResult::TopicCreated { uids: vec![2, 3] });
        assert_eq!(img.apply(&Command::DeleteTopic { name: "x".into() }), CommandResult::NoSuchTopic);
    }

    #[test]
    fn producer_id_blocks_do_not_overlap() {
        let mut img = Image::default();
        assert_eq!(img.apply(&Command::AllocateProducerIds { count: 10 }), CommandResult::ProducerIds { first: 0 });
        assert_eq!(img.apply(&Command::AllocateProducerIds { count: 10 }), CommandResult::ProducerIds { first: 10 });
    }
}
