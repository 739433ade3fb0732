//! Replica administration: ElectLeaders (preferred and unclean elections through the metadata
//! log), AlterPartitionReassignments and ListPartitionReassignments (moving replicas between
//! brokers, Kafka's way), and AlterReplicaLogDirs as one node answers it (a move to the current
//! dir is done).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::*;

use super::{RequestContext, str_bytes};
use crate::broker::Broker;
use crate::cluster::image::{Election, Image, PartitionMeta, Reassigned};
use crate::cluster::{Command, CommandResult};

pub const ELECT_VERSIONS: (i16, i16) = (0, 2);
pub const ALTER_REASSIGN_VERSIONS: (i16, i16) = (0, 1);
pub const LIST_REASSIGN_VERSIONS: (i16, i16) = (0, 0);
pub const LOG_DIRS_VERSIONS: (i16, i16) = (1, 2);

fn partition<'a>(image: &'a Image, topic: &str, index: i32) -> Option<&'a PartitionMeta> {
    image.topics.get(topic).and_then(|t| t.partition(index))
}

/// ElectLeaders (kafka-leader-election): preferred (type 0) gives each partition its first
/// replica when that one is live and in sync; unclean (type 1) gives an offline partition a live
/// replica. Null partitions means every partition that needs it; only the elected are listed.
pub async fn elect_leaders(broker: &Broker, ctx: &RequestContext, req: ElectLeadersRequest) -> ElectLeadersResponse {
    let image = broker.image();
    let preferred = ctx.version == 0 || req.election_type == 0;
    let mut r = ElectLeadersResponse::default();
    let all = req.topic_partitions.is_none();
    let asked: Vec<(String, i32)> = match &req.topic_partitions {
        Some(ts) => ts.iter().flat_map(|t| t.partitions.iter().map(|p| (t.topic.0.to_string(), *p))).collect(),
        None => image
            .topics
            .values()
            .flat_map(|t| t.partitions.iter().enumerate().map(|(i, p)| (t.name.clone(), i as i32, p)))
            .filter(|(_, _, p)| if preferred { p.replicas.first() != Some(&p.leader) } else { p.leader < 0 })
            .map(|(t, i, _)| (t, i))
            .collect(),
    };
    let outcomes = if asked.is_empty() {
        Vec::new()
    } else {
        match broker.metadata.submit(Command::ElectLeaders { preferred, partitions: asked.clone() }).await {
            Ok(CommandResult::Elections { outcomes }) => outcomes,
            other => {
                tracing::warn!(?other, "leader election failed");
                r.error_code = ResponseError::RequestTimedOut.code();
                return r;
            }
        }
    };
    let strategy =
        if preferred { "PreferredReplicaPartitionLeaderElectionStrategy" } else { "UncleanLeaderElectionStrategy" };
    for ((topic, index), outcome) in asked.into_iter().zip(outcomes) {
        if all && outcome != Election::Elected {
            continue;
        }
        let (code, msg) = match outcome {
            Election::Elected => (None, None),
            Election::NotNeeded => {
                (Some(ResponseError::ElectionNotNeeded), Some("Leader election not needed for topic partition.".into()))
            }
            Election::NotAvailable => (
                Some(if preferred {
                    ResponseError::PreferredLeaderNotAvailable
                } else {
                    ResponseError::EligibleLeadersNotAvailable
                }),
                Some(format!("Failed to elect leader for partition {topic}-{index} under strategy {strategy}")),
            ),
            Election::NoSuchPartition => {
                (Some(ResponseError::UnknownTopicOrPartition), Some("The partition does not exist.".to_string()))
            }
        };
        if outcome == Election::Elected {
            tracing::info!(%topic, partition = index, strategy, "leader elected");
        }
        let mut pr = PartitionResult::default();
        pr.partition_id = index;
        pr.error_code = code.map_or(0, |c| c.code());
        pr.error_message = msg.map(str_bytes);
        if r.replica_election_results.last().is_none_or(|t: &ReplicaElectionResult| t.topic.0.as_str() != topic) {
            let mut out = ReplicaElectionResult::default();
            out.topic = TopicName(str_bytes(topic));
            r.replica_election_results.push(out);
        }
        r.replica_election_results.last_mut().expect("pushed").partition_result.push(pr);
    }
    r
}

/// AlterPartitionReassignments (kafka-reassign-partitions --execute / --cancel): each partition's
/// new replicas, or null to cancel its reassignment, through the metadata log. The added
/// replicas fetch from the leader; once the whole target is in sync the removed ones leave (and
/// delete their copy), a leader among them handing over first.
pub async fn alter_reassignments(
    broker: &Broker,
    _ctx: &RequestContext,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let image = broker.image();
    let mut r = AlterPartitionReassignmentsResponse::default();
    r.allow_replication_factor_change = req.allow_replication_factor_change;
    // Per partition: its answer if known before the metadata log is asked, else its place there.
    let mut asked: Vec<(String, i32, Option<Vec<i32>>)> = Vec::new();
    let mut answers: Vec<(String, i32, Result<usize, (ResponseError, String)>)> = Vec::new();
    for t in &req.topics {
        let topic = t.name.0.to_string();
        for p in &t.partitions {
            let target: Option<Vec<i32>> = p.replicas.as_ref().map(|rs| rs.iter().map(|b| b.0).collect());
            let answer = match (partition(&image, &topic, p.partition_index), &target) {
                (None, _) => Err((ResponseError::UnknownTopicOrPartition, "The partition does not exist.".to_string())),
                (Some(meta), Some(target))
                    if !req.allow_replication_factor_change
                        && target.len() != meta.replicas.len() - meta.adding.len() =>
                {
                    Err((
                        ResponseError::InvalidReplicationFactor,
                        format!(
                            "The replication factor is changed from {} to {} but allowReplicationFactorChange is false",
                            meta.replicas.len() - meta.adding.len(),
                            target.len()
                        ),
                    ))
                }
                _ => {
                    asked.push((topic.clone(), p.partition_index, target));
                    Ok(asked.len() - 1)
                }
            };
            answers.push((topic.clone(), p.partition_index, answer));
        }
    }
    let outcomes = if asked.is_empty() {
        Vec::new()
    } else {
        match broker.metadata.submit(Command::Reassign { partitions: asked.clone() }).await {
            Ok(CommandResult::Reassignments { outcomes }) => outcomes,
            other => {
                tracing::warn!(?other, "reassignment failed");
                r.error_code = ResponseError::RequestTimedOut.code();
                r.error_message = Some(str_bytes("The metadata log did not take the reassignment."));
                return r;
            }
        }
    };
    for (topic, index, answer) in answers {
        let result = answer.and_then(|i| match &outcomes[i] {
            Reassigned::Done => {
                match &asked[i].2 {
                    Some(target) => tracing::info!(%topic, partition = index, ?target, "reassignment started"),
                    None => tracing::info!(%topic, partition = index, "reassignment cancelled"),
                }
                Ok(())
            }
            Reassigned::NoSuchPartition => {
                Err((ResponseError::UnknownTopicOrPartition, "The partition does not exist.".to_string()))
            }
            Reassigned::NoneInProgress => {
                Err((ResponseError::NoReassignmentInProgress, "No ongoing reassignment to cancel.".to_string()))
            }
            Reassigned::Invalid(why) => Err((ResponseError::InvalidReplicaAssignment, why.clone())),
        });
        let mut pr = ReassignablePartitionResponse::default();
        pr.partition_index = index;
        if let Err((e, msg)) = result {
            pr.error_code = e.code();
            pr.error_message = Some(str_bytes(msg));
        }
        if r.responses.last().is_none_or(|t: &ReassignableTopicResponse| t.name.0.as_str() != topic) {
            let mut out = ReassignableTopicResponse::default();
            out.name = TopicName(str_bytes(topic));
            r.responses.push(out);
        }
        r.responses.last_mut().expect("pushed").partitions.push(pr);
    }
    r
}

/// ListPartitionReassignments (kafka-reassign-partitions --list / --verify): the reassignments in
/// progress, of every partition or of those asked.
pub fn list_reassignments(
    broker: &Broker,
    _ctx: &RequestContext,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let image = broker.image();
    let ongoing = |index: i32, p: &PartitionMeta| {
        let ids = |v: &[i32]| v.iter().map(|b| BrokerId(*b)).collect::<Vec<_>>();
        let mut o = OngoingPartitionReassignment::default();
        o.partition_index = index;
        o.replicas = ids(&p.replicas);
        o.adding_replicas = ids(&p.adding);
        o.removing_replicas = ids(&p.removing);
        p.reassigning().then_some(o)
    };
    let mut r = ListPartitionReassignmentsResponse::default();
    let asked: Vec<(String, Option<Vec<i32>>)> = match &req.topics {
        Some(ts) => ts.iter().map(|t| (t.name.0.to_string(), Some(t.partition_indexes.clone()))).collect(),
        None => image.topics.keys().map(|n| (n.clone(), None)).collect(),
    };
    for (name, indexes) in asked {
        let Some(topic) = image.topics.get(&name) else { continue };
        let partitions: Vec<_> = match indexes {
            Some(is) => is.iter().filter_map(|i| topic.partition(*i).and_then(|p| ongoing(*i, p))).collect(),
            None => topic.partitions.iter().enumerate().filter_map(|(i, p)| ongoing(i as i32, p)).collect(),
        };
        if !partitions.is_empty() {
            let mut t = OngoingTopicReassignment::default();
            t.name = TopicName(str_bytes(name));
            t.partitions = partitions;
            r.topics.push(t);
        }
    }
    r
}

pub fn alter_log_dirs(
    broker: &Broker,
    _ctx: &RequestContext,
    req: AlterReplicaLogDirsRequest,
) -> AlterReplicaLogDirsResponse {
    let image = broker.image();
    let dir = broker.config.data_dir();
    let ours = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
    let mut r = AlterReplicaLogDirsResponse::default();
    for d in req.dirs {
        let there = std::fs::canonicalize(d.path.as_str()).ok();
        for t in d.topics {
            let mut out = AlterReplicaLogDirTopicResult::default();
            out.topic_name = t.name.clone();
            for p in t.partitions {
                let mut pr = AlterReplicaLogDirPartitionResult::default();
                pr.partition_index = p;
                pr.error_code = match partition(&image, t.name.0.as_str(), p) {
                    _ if there.as_ref() != Some(&ours) => ResponseError::LogDirNotFound.code(),
                    None => ResponseError::UnknownTopicOrPartition.code(),
                    // In a cluster, as Kafka: this broker holds no replica of it.
                    Some(m) if !m.replicas.contains(&broker.config.node_id) => {
                        ResponseError::ReplicaNotAvailable.code()
                    }
                    Some(_) => 0,
                };
                out.partitions.push(pr);
            }
            r.results.push(out);
        }
    }
    r
}
