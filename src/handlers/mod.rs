//! One file per Kafka API. Each declares the versions it serves (`VERSIONS`, used by the table
//! in `server::apis`) and one `handle` function: decode-level logic only, delegating to the
//! broker's log and metadata.

pub mod acls;
pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_configs;
pub mod api_versions;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_quorum;
pub mod describe_topic_partitions;
pub mod end_txn;
pub mod errors;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod raft_voters;
pub mod replicas;
pub mod sync_group;
pub mod transactions_admin;
pub mod txn_offset_commit;
pub mod write_txn_markers;

use kafka_protocol::protocol::StrBytes;

/// What a handler knows about the request besides its body.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub version: i16,
    pub correlation_id: i32,
    pub client_id: String,
    /// The peer's address as Kafka reports it (`/127.0.0.1`).
    pub client_host: String,
    /// The request came on a controller listener (a `--bootstrap-controller` client, KIP-919).
    pub controller_listener: bool,
}

/// The metadata and open log of `topic`'s partition `index`, or the code a client gets:
/// UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER where another broker leads it, or the
/// storage error's.
pub(crate) fn partition_of<'a>(
    broker: &crate::broker::Broker,
    topic: Option<&'a crate::cluster::Topic>,
    index: i32,
) -> Result<(&'a crate::cluster::PartitionMeta, std::sync::Arc<crate::log::Partition>), kafka_protocol::ResponseError> {
    let meta = topic.and_then(|t| t.partition(index)).ok_or(kafka_protocol::ResponseError::UnknownTopicOrPartition)?;
    if !broker.leads(meta) {
        return Err(kafka_protocol::ResponseError::NotLeaderOrFollower);
    }
    let log = broker.partition(meta.uid).map_err(|e| errors::store_error(&e))?;
    Ok((meta, log))
}

pub(crate) fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// Kafka's topic name rule: 1 to 249 of `[a-zA-Z0-9._-]`, and not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > 249 {
        return Err(format!("Topic name is illegal, it can't be longer than 249 characters, topic name: {name}"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-') {
        return Err(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Group handlers first make sure `__consumer_offsets` exists; a failure is
/// COORDINATOR_NOT_AVAILABLE, which clients retry.
pub(crate) async fn groups_ready(broker: &crate::broker::Broker) -> Result<(), kafka_protocol::ResponseError> {
    broker.ensure_offsets_topic().await.map_err(|e| {
        tracing::warn!(error = %e, "cannot create the offsets topic");
        kafka_protocol::ResponseError::CoordinatorNotAvailable
    })
}

/// Transaction handlers first make sure `__transaction_state` exists.
pub(crate) async fn txns_ready(broker: &crate::broker::Broker) -> Result<(), kafka_protocol::ResponseError> {
    broker.ensure_txn_topic().await.map_err(|e| {
        tracing::warn!(error = %e, "cannot create the transaction state topic");
        kafka_protocol::ResponseError::CoordinatorNotAvailable
    })
}

/// Whether this node coordinates the group `key` (`txn` false) or the transactional id `key`
/// (`txn` true): NOT_COORDINATOR where another node does, COORDINATOR_NOT_AVAILABLE while the
/// key's partition has no leader (the client looks the coordinator up again on both),
/// COORDINATOR_LOAD_IN_PROGRESS while this node, its new leader, still loads it (the client
/// retries here).
pub(crate) fn coordinates(
    broker: &crate::broker::Broker,
    key: &str,
    txn: bool,
) -> Result<(), kafka_protocol::ResponseError> {
    match broker.coordinator_of(key, txn) {
        Some(node) if node == broker.config.node_id && !broker.coordinator_loaded(key, txn) => {
            Err(kafka_protocol::ResponseError::CoordinatorLoadInProgress)
        }
        Some(node) if node == broker.config.node_id => Ok(()),
        Some(node) if node >= 0 => Err(kafka_protocol::ResponseError::NotCoordinator),
        _ => Err(kafka_protocol::ResponseError::CoordinatorNotAvailable),
    }
}

/// KIP-951's node endpoints of the brokers `ids` that are registered: (id, host, port, rack).
pub(crate) fn endpoints(
    broker: &crate::broker::Broker,
    ids: impl IntoIterator<Item = i32>,
) -> Vec<(i32, StrBytes, i32, Option<StrBytes>)> {
    let image = broker.image();
    ids.into_iter()
        .filter_map(|id| {
            let b = image.brokers.get(&id)?;
            Some((id, str_bytes(b.host.clone()), b.port as i32, b.rack.clone().map(str_bytes)))
        })
        .collect()
}

pub(crate) fn err_code<E: Into<kafka_protocol::ResponseError>>(e: Option<E>) -> i16 {
    e.map(|e| e.into().code()).unwrap_or(0)
}

pub use crate::log::internal::is_internal;

#[cfg(test)]
mod tests {
    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(super::validate_topic_name("orders.v1_x-2").is_ok());
        for bad in ["", ".", "..", "a b", "ü", &"x".repeat(250)] {
            assert!(super::validate_topic_name(bad).is_err(), "{bad:?}");
        }
    }
}
