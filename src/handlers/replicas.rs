//! Replica administration: ElectLeaders (preferred and unclean elections through the metadata
//! log), and AlterPartitionReassignments, ListPartitionReassignments and AlterReplicaLogDirs as
//! one node answers them (no reassignment in progress, a move to the current dir is done;
//! moving replicas between nodes is not built yet).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::*;

use super::{RequestContext, str_bytes};
use crate::broker::Broker;
use crate::cluster::image::{Election, Image, PartitionMeta};
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

pub fn alter_reassignments(
    broker: &Broker,
    _ctx: &RequestContext,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let image = broker.image();
    let mut r = AlterPartitionReassignmentsResponse::default();
    r.allow_replication_factor_change = req.allow_replication_factor_change;
    for t in req.topics {
        let mut out = ReassignableTopicResponse::default();
        out.name = t.name.clone();
        for p in t.partitions {
            let mut pr = ReassignablePartitionResponse::default();
            pr.partition_index = p.partition_index;
            let result = match (partition(&image, t.name.0.as_str(), p.partition_index), &p.replicas) {
                (None, _) => Err((ResponseError::UnknownTopicOrPartition, "The partition does not exist.".to_string())),
                (Some(_), None) => {
                    Err((ResponseError::NoReassignmentInProgress, "No ongoing reassignment to cancel.".to_string()))
                }
                (Some(meta), Some(replicas)) => {
                    let wanted: Vec<i32> = replicas.iter().map(|b| b.0).collect();
                    if let Some(b) = wanted.iter().find(|b| !image.brokers.contains_key(b)) {
                        Err((ResponseError::InvalidReplicaAssignment, format!("Replica {b} is not registered.")))
                    } else if wanted == meta.replicas {
                        // Already there: nothing to move.
                        Ok(())
                    } else {
                        Err((
                            ResponseError::InvalidReplicaAssignment,
                            format!(
                                "Replicas {wanted:?} differ from {:?}; reassignment needs more brokers.",
                                meta.replicas
                            ),
                        ))
                    }
                }
            };
            if let Err((e, msg)) = result {
                pr.error_code = e.code();
                pr.error_message = Some(str_bytes(msg));
            }
            out.partitions.push(pr);
        }
        r.responses.push(out);
    }
    r
}

pub fn list_reassignments(
    _broker: &Broker,
    _ctx: &RequestContext,
    _req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    // Reassignments complete at once on one node: none is ever ongoing.
    ListPartitionReassignmentsResponse::default()
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
                pr.error_code = if there.as_ref() != Some(&ours) {
                    ResponseError::LogDirNotFound.code()
                } else if partition(&image, t.name.0.as_str(), p).is_none() {
                    ResponseError::UnknownTopicOrPartition.code()
                } else {
                    0
                };
                out.partitions.push(pr);
            }
            r.results.push(out);
        }
    }
    r
}
