//! The one table of supported APIs: each row names the API, the versions its handler serves and
//! the call that serves it. The table generates both `SUPPORTED` (what ApiVersions advertises
//! and what `dispatch::decode` accepts) and `route` (the call for a decoded request), so nothing
//! is advertised that is not routed.

use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

use super::dispatch::DispatchError;
use crate::broker::Broker;
use crate::handlers::api_versions::ApiSupport;
use crate::handlers::{self, RequestContext};

/// `api(Variant [from MIN]) = VERSIONS => |broker, ctx, request| call`: the call is an async
/// block's body giving `Option<ResponseKind>` (None: no answer, acks=0). `from MIN` advertises
/// versions below the served range (Produce only).
macro_rules! apis {
    (@min $versions:expr) => { $versions.0 };
    (@min $versions:expr, $min:literal) => { $min };
    ($( $api:ident $(from $min:literal)? = $versions:expr => |$b:ident, $c:ident, $r:ident| $call:expr ),* $(,)?) => {
        pub const SUPPORTED: &[ApiSupport] = &[
            $( ApiSupport { key: ApiKey::$api, advertised_min: apis!(@min $versions $(, $min)?), served: $versions } ),*
        ];

        /// The handler call for a decoded request. Keys outside `SUPPORTED` never get here
        /// (`dispatch::decode` refuses them).
        pub async fn route(
            broker: &Arc<Broker>,
            ctx: &RequestContext,
            key: ApiKey,
            request: RequestKind,
        ) -> Result<Option<ResponseKind>, DispatchError> {
            match request {
                $( RequestKind::$api($r) => {
                    let ($b, $c) = (broker, ctx);
                    Ok($call)
                } )*
                _ => Err(DispatchError::Unsupported { key }),
            }
        }
    };
}

use handlers::*;

apis! {
    // Advertised from v0 although v0-2 are refused (KIP-896), as Kafka 4 does: librdkafka only
    // enables compression when it sees Produce v0 in the range.
    Produce from 0 = produce::VERSIONS => |b, c, r| produce::handle(b, c, r).await.map(ResponseKind::Produce),
    Fetch = fetch::VERSIONS => |b, c, r| Some(ResponseKind::Fetch(fetch::handle(b, c, r).await)),
    ListOffsets = list_offsets::VERSIONS => |b, c, r| Some(ResponseKind::ListOffsets(list_offsets::handle(b, c, r))),
    Metadata = metadata::VERSIONS => |b, c, r| Some(ResponseKind::Metadata(metadata::handle(b, c, r).await)),
    FindCoordinator = find_coordinator::VERSIONS
        => |b, c, r| Some(ResponseKind::FindCoordinator(find_coordinator::handle(b, c, r).await)),
    ApiVersions = api_versions::VERSIONS
        => |_b, c, r| Some(ResponseKind::ApiVersions(api_versions::handle(c, r, advertised(c.controller_listener)))),
    CreateTopics = create_topics::VERSIONS
        => |b, c, r| Some(ResponseKind::CreateTopics(create_topics::handle(b, c, r).await)),
    DeleteTopics = delete_topics::VERSIONS
        => |b, c, r| Some(ResponseKind::DeleteTopics(delete_topics::handle(b, c, r).await)),
    InitProducerId = init_producer_id::VERSIONS
        => |b, c, r| Some(ResponseKind::InitProducerId(init_producer_id::handle(b, c, r).await)),
    DescribeConfigs = describe_configs::VERSIONS
        => |b, c, r| Some(ResponseKind::DescribeConfigs(describe_configs::handle(b, c, r))),
    DescribeCluster = describe_cluster::VERSIONS
        => |b, c, r| Some(ResponseKind::DescribeCluster(describe_cluster::handle(b, c, r))),
    DescribeTopicPartitions = describe_topic_partitions::VERSIONS
        => |b, c, r| Some(ResponseKind::DescribeTopicPartitions(describe_topic_partitions::handle(b, c, r))),
    JoinGroup = join_group::VERSIONS => |b, c, r| Some(ResponseKind::JoinGroup(join_group::handle(b, c, r).await)),
    SyncGroup = sync_group::VERSIONS => |b, c, r| Some(ResponseKind::SyncGroup(sync_group::handle(b, c, r).await)),
    Heartbeat = heartbeat::VERSIONS => |b, c, r| Some(ResponseKind::Heartbeat(heartbeat::handle(b, c, r).await)),
    LeaveGroup = leave_group::VERSIONS => |b, c, r| Some(ResponseKind::LeaveGroup(leave_group::handle(b, c, r).await)),
    OffsetCommit = offset_commit::VERSIONS
        => |b, c, r| Some(ResponseKind::OffsetCommit(offset_commit::handle(b, c, r).await)),
    OffsetFetch = offset_fetch::VERSIONS
        => |b, c, r| Some(ResponseKind::OffsetFetch(offset_fetch::handle(b, c, r).await)),
    DescribeGroups = describe_groups::VERSIONS
        => |b, c, r| Some(ResponseKind::DescribeGroups(describe_groups::handle(b, c, r).await)),
    ListGroups = list_groups::VERSIONS => |b, c, r| Some(ResponseKind::ListGroups(list_groups::handle(b, c, r).await)),
    DeleteGroups = delete_groups::VERSIONS
        => |b, c, r| Some(ResponseKind::DeleteGroups(delete_groups::handle(b, c, r).await)),
    OffsetDelete = offset_delete::VERSIONS
        => |b, c, r| Some(ResponseKind::OffsetDelete(offset_delete::handle(b, c, r).await)),
    ConsumerGroupHeartbeat = consumer_group_heartbeat::VERSIONS
        => |b, c, r| Some(ResponseKind::ConsumerGroupHeartbeat(consumer_group_heartbeat::handle(b, c, r).await)),
    ConsumerGroupDescribe = consumer_group_describe::VERSIONS
        => |b, c, r| Some(ResponseKind::ConsumerGroupDescribe(consumer_group_describe::handle(b, c, r).await)),
    CreatePartitions = create_partitions::VERSIONS
        => |b, c, r| Some(ResponseKind::CreatePartitions(create_partitions::handle(b, c, r).await)),
    AlterConfigs = alter_configs::VERSIONS
        => |b, c, r| Some(ResponseKind::AlterConfigs(alter_configs::handle(b, c, r).await)),
    IncrementalAlterConfigs = alter_configs::INCREMENTAL_VERSIONS
        => |b, c, r| Some(ResponseKind::IncrementalAlterConfigs(alter_configs::handle_incremental(b, c, r).await)),
    DeleteRecords = delete_records::VERSIONS
        => |b, c, r| Some(ResponseKind::DeleteRecords(delete_records::handle(b, c, r).await)),
    AddPartitionsToTxn = add_partitions_to_txn::VERSIONS
        => |b, c, r| Some(ResponseKind::AddPartitionsToTxn(add_partitions_to_txn::handle(b, c, r).await)),
    AddOffsetsToTxn = add_offsets_to_txn::VERSIONS
        => |b, c, r| Some(ResponseKind::AddOffsetsToTxn(add_offsets_to_txn::handle(b, c, r).await)),
    EndTxn = end_txn::VERSIONS => |b, c, r| Some(ResponseKind::EndTxn(end_txn::handle(b, c, r).await)),
    TxnOffsetCommit = txn_offset_commit::VERSIONS
        => |b, c, r| Some(ResponseKind::TxnOffsetCommit(txn_offset_commit::handle(b, c, r).await)),
    ListTransactions = transactions_admin::LIST_VERSIONS
        => |b, c, r| Some(ResponseKind::ListTransactions(transactions_admin::list(b, c, r).await)),
    DescribeTransactions = transactions_admin::DESCRIBE_VERSIONS
        => |b, c, r| Some(ResponseKind::DescribeTransactions(transactions_admin::describe(b, c, r).await)),
    DescribeProducers = transactions_admin::PRODUCERS_VERSIONS
        => |b, c, r| Some(ResponseKind::DescribeProducers(transactions_admin::producers(b, c, r).await)),
    WriteTxnMarkers = write_txn_markers::VERSIONS
        => |b, c, r| Some(ResponseKind::WriteTxnMarkers(write_txn_markers::handle(b, c, r).await)),
    DescribeAcls = acls::VERSIONS => |b, c, r| Some(ResponseKind::DescribeAcls(acls::describe(b, c, r))),
    CreateAcls = acls::VERSIONS => |b, c, r| Some(ResponseKind::CreateAcls(acls::create(b, c, r).await)),
    DeleteAcls = acls::VERSIONS => |b, c, r| Some(ResponseKind::DeleteAcls(acls::delete(b, c, r).await)),
    DescribeQuorum = describe_quorum::VERSIONS
        => |b, c, r| Some(ResponseKind::DescribeQuorum(describe_quorum::handle(b, c, r).await)),
    AddRaftVoter = raft_voters::ADD_VERSIONS
        => |b, c, r| Some(ResponseKind::AddRaftVoter(raft_voters::add(b, c, r).await)),
    RemoveRaftVoter = raft_voters::REMOVE_VERSIONS
        => |b, c, r| Some(ResponseKind::RemoveRaftVoter(raft_voters::remove(b, c, r).await)),
    ElectLeaders = replicas::ELECT_VERSIONS => |b, c, r| Some(ResponseKind::ElectLeaders(replicas::elect_leaders(b, c, r).await)),
    ListConfigResources = describe_configs::LIST_RESOURCES_VERSIONS
        => |b, c, r| Some(ResponseKind::ListConfigResources(describe_configs::list_resources(b, c, r))),
    AlterPartitionReassignments = replicas::ALTER_REASSIGN_VERSIONS
        => |b, c, r| Some(ResponseKind::AlterPartitionReassignments(replicas::alter_reassignments(b, c, r).await)),
    ListPartitionReassignments = replicas::LIST_REASSIGN_VERSIONS
        => |b, c, r| Some(ResponseKind::ListPartitionReassignments(replicas::list_reassignments(b, c, r))),
    AlterReplicaLogDirs = replicas::LOG_DIRS_VERSIONS
        => |b, c, r| Some(ResponseKind::AlterReplicaLogDirs(replicas::alter_log_dirs(b, c, r))),
    OffsetForLeaderEpoch = offset_for_leader_epoch::VERSIONS
        => |b, c, r| Some(ResponseKind::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(b, c, r))),
    DescribeLogDirs = describe_log_dirs::VERSIONS
        => |b, c, r| Some(ResponseKind::DescribeLogDirs(describe_log_dirs::handle(b, c, r))),
}

/// What a controller listener serves (KIP-919's `--bootstrap-controller` clients: the quorum,
/// the cluster's controllers, broker configs and ACLs); its ApiVersions lists only these.
pub const CONTROLLER_APIS: &[ApiKey] = &[
    ApiKey::ApiVersions,
    ApiKey::DescribeCluster,
    ApiKey::DescribeQuorum,
    ApiKey::AddRaftVoter,
    ApiKey::RemoveRaftVoter,
    ApiKey::DescribeConfigs,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::DescribeAcls,
    ApiKey::CreateAcls,
    ApiKey::DeleteAcls,
];

static CONTROLLER_SUPPORTED: std::sync::LazyLock<Vec<ApiSupport>> =
    std::sync::LazyLock::new(|| SUPPORTED.iter().filter(|s| CONTROLLER_APIS.contains(&s.key)).copied().collect());

/// The APIs a client listener, or a controller listener (`controller`), advertises.
pub fn advertised(controller: bool) -> &'static [ApiSupport] {
    if controller { &CONTROLLER_SUPPORTED } else { SUPPORTED }
}

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
        assert_eq!(lookup(ApiKey::Produce).unwrap().advertised_min, 0);
    }
}
