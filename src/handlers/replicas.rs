//! Replica administration on one node: ElectLeaders, AlterPartitionReassignments,
//! ListPartitionReassignments and AlterReplicaLogDirs. Every partition has its only replica,
//! which leads, in this broker's one log dir, so these answer what Kafka answers for that state:
//! no election needed, no reassignment in progress, a move to the current dir is done.

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
use crate::cluster::image::{Image, PartitionMeta};

pub const ELECT_VERSIONS: (i16, i16) = (0, 2);
pub const ALTER_REASSIGN_VERSIONS: (i16, i16) = (0, 1);
pub const LIST_REASSIGN_VERSIONS: (i16, i16) = (0, 0);
pub const LOG_DIRS_VERSIONS: (i16, i16) = (1, 2);

fn partition<'a>(image: &'a Image, topic: &str, index: i32) -> Option<&'a PartitionMeta> {
    image.topics.get(topic).and_then(|t| t.partition(index))
}

pub fn elect_leaders(broker: &Broker, _ctx: &RequestContext, req: ElectLeadersRequest) -> ElectLeadersResponse {
    let image = broker.image();
    let mut r = ElectLeadersResponse::default();
    // Null means every partition; none needs an election, and Kafka lists none then.
    for t in req.topic_partitions.unwrap_or_default() {
        let mut out = ReplicaElectionResult::default();
        out.topic = t.topic.clone();
        for p in t.partitions {
            let mut pr = PartitionResult::default();
            pr.partition_id = p;
            let (code, msg) = match partition(&image, t.topic.0.as_str(), p) {
                None => (ResponseError::UnknownTopicOrPartition, "The partition does not exist."),
                Some(_) => (ResponseError::ElectionNotNeeded, "Leader election not needed for topic partition."),
            };
            pr.error_code = code.code();
            pr.error_message = Some(str_bytes(msg));
            out.partition_result.push(pr);
        }
        r.replica_election_results.push(out);
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
