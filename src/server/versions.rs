//! The one table of supported APIs. Dispatch refuses what it does not list, and the ApiVersions
//! response is built from it, so nothing is advertised that no handler serves.

use kafka_protocol::messages::ApiKey;

use crate::handlers;
pub use crate::handlers::api_versions::ApiSupport;

const fn api(key: ApiKey, served: (i16, i16)) -> ApiSupport {
    ApiSupport { key, advertised_min: served.0, served }
}

/// Produce is advertised from v0 although v0-2 are refused (KIP-896), as Kafka 4 does:
/// librdkafka only enables compression when it sees Produce v0 in the range.
const PRODUCE: ApiSupport = ApiSupport { key: ApiKey::Produce, advertised_min: 0, served: handlers::produce::VERSIONS };

pub const SUPPORTED: &[ApiSupport] = &[
    PRODUCE,
    api(ApiKey::Fetch, handlers::fetch::VERSIONS),
    api(ApiKey::ListOffsets, handlers::list_offsets::VERSIONS),
    api(ApiKey::Metadata, handlers::metadata::VERSIONS),
    api(ApiKey::FindCoordinator, handlers::find_coordinator::VERSIONS),
    api(ApiKey::ApiVersions, handlers::api_versions::VERSIONS),
    api(ApiKey::CreateTopics, handlers::create_topics::VERSIONS),
    api(ApiKey::DeleteTopics, handlers::delete_topics::VERSIONS),
    api(ApiKey::InitProducerId, handlers::init_producer_id::VERSIONS),
    api(ApiKey::DescribeConfigs, handlers::describe_configs::VERSIONS),
    api(ApiKey::DescribeCluster, handlers::describe_cluster::VERSIONS),
    api(ApiKey::DescribeTopicPartitions, handlers::describe_topic_partitions::VERSIONS),
    api(ApiKey::JoinGroup, handlers::join_group::VERSIONS),
    api(ApiKey::SyncGroup, handlers::sync_group::VERSIONS),
    api(ApiKey::Heartbeat, handlers::heartbeat::VERSIONS),
    api(ApiKey::LeaveGroup, handlers::leave_group::VERSIONS),
    api(ApiKey::OffsetCommit, handlers::offset_commit::VERSIONS),
    api(ApiKey::OffsetFetch, handlers::offset_fetch::VERSIONS),
    api(ApiKey::DescribeGroups, handlers::describe_groups::VERSIONS),
    api(ApiKey::ListGroups, handlers::list_groups::VERSIONS),
    api(ApiKey::DeleteGroups, handlers::delete_groups::VERSIONS),
    api(ApiKey::OffsetDelete, handlers::offset_delete::VERSIONS),
    api(ApiKey::ConsumerGroupHeartbeat, handlers::consumer_group_heartbeat::VERSIONS),
    api(ApiKey::ConsumerGroupDescribe, handlers::consumer_group_describe::VERSIONS),
    api(ApiKey::CreatePartitions, handlers::create_partitions::VERSIONS),
    api(ApiKey::AlterConfigs, handlers::alter_configs::VERSIONS),
    api(ApiKey::IncrementalAlterConfigs, handlers::alter_configs::INCREMENTAL_VERSIONS),
    api(ApiKey::DeleteRecords, handlers::delete_records::VERSIONS),
    api(ApiKey::AddPartitionsToTxn, handlers::add_partitions_to_txn::VERSIONS),
    api(ApiKey::AddOffsetsToTxn, handlers::add_offsets_to_txn::VERSIONS),
    api(ApiKey::EndTxn, handlers::end_txn::VERSIONS),
    api(ApiKey::TxnOffsetCommit, handlers::txn_offset_commit::VERSIONS),
    api(ApiKey::ListTransactions, handlers::transactions_admin::LIST_VERSIONS),
    api(ApiKey::DescribeTransactions, handlers::transactions_admin::DESCRIBE_VERSIONS),
    api(ApiKey::DescribeProducers, handlers::transactions_admin::PRODUCERS_VERSIONS),
    api(ApiKey::WriteTxnMarkers, handlers::write_txn_markers::VERSIONS),
    api(ApiKey::DescribeAcls, handlers::acls::VERSIONS),
    api(ApiKey::CreateAcls, handlers::acls::VERSIONS),
    api(ApiKey::DeleteAcls, handlers::acls::VERSIONS),
    api(ApiKey::DescribeQuorum, handlers::describe_quorum::VERSIONS),
    api(ApiKey::ElectLeaders, handlers::replicas::ELECT_VERSIONS),
    api(ApiKey::ListConfigResources, handlers::describe_configs::LIST_RESOURCES_VERSIONS),
    api(ApiKey::AlterPartitionReassignments, handlers::replicas::ALTER_REASSIGN_VERSIONS),
    api(ApiKey::ListPartitionReassignments, handlers::replicas::LIST_REASSIGN_VERSIONS),
    api(ApiKey::AlterReplicaLogDirs, handlers::replicas::LOG_DIRS_VERSIONS),
    api(ApiKey::OffsetForLeaderEpoch, handlers::offset_for_leader_epoch::VERSIONS),
    api(ApiKey::DescribeLogDirs, handlers::describe_log_dirs::VERSIONS),
];

/// The entry for an API key, if the broker supports it at all.
pub fn lookup(key: ApiKey) -> Option<&'static ApiSupport> {
    SUPPORTED.iter().find(|s| s.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_versions_are_ones_the_codec_knows() {
        for s in SUPPORTED {
            let codec = s.key.valid_versions();
            assert!(
                s.served.0 >= codec.min && s.served.1 <= codec.max,
                "{:?} serves {:?} beyond codec {:?}",
                s.key,
                s.served,
                codec
            );
            assert!(s.advertised_min <= s.served.0 && s.served.0 <= s.served.1);
        }
    }
}
