//! Every advertised API at its lowest and highest served version gets a decodable answer.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::common::*;

pub fn sample(key: ApiKey, version: i16, topic_id: uuid::Uuid) -> RequestKind {
    match key {
        ApiKey::Produce => {
            let mut p = produce_request::PartitionProduceData::default();
            p.records = Some(batch(1, -1, -1, -1, kafka_protocol::records::Compression::None));
            let mut t = produce_request::TopicProduceData::default();
            t.name = name("cover");
            if version >= 13 {
                t.topic_id = topic_id;
            }
            t.partition_data = vec![p];
            let mut r = ProduceRequest::default();
            r.acks = 1;
            r.topic_data = vec![t];
            RequestKind::Produce(r)
        }
        ApiKey::Fetch => {
            let mut r = fetch_request("cover", 0, 0, 0, 0);
            if version >= 13 {
                r.topics[0].topic_id = topic_id;
            }
            RequestKind::Fetch(r)
        }
        ApiKey::ListOffsets => {
            let mut p = list_offsets_request::ListOffsetsPartition::default();
            p.timestamp = -1;
            let mut t = list_offsets_request::ListOffsetsTopic::default();
            t.name = name("cover");
            t.partitions = vec![p];
            RequestKind::ListOffsets(ListOffsetsRequest::default().with_topics(vec![t]))
        }
        ApiKey::Metadata => {
            let mut t = metadata_request::MetadataRequestTopic::default();
            t.name = Some(name("cover"));
            RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![t])))
        }
        ApiKey::FindCoordinator => {
            let mut r = FindCoordinatorRequest::default();
            if version >= 4 {
                r.coordinator_keys = vec![s("group")];
            } else {
                r.key = s("group");
            }
            RequestKind::FindCoordinator(r)
        }
        ApiKey::ApiVersions => RequestKind::ApiVersions(
            ApiVersionsRequest::default()
                .with_client_software_name(s("protocol-tests"))
                .with_client_software_version(s("1.0")),
        ),
        ApiKey::CreateTopics => {
            let mut t = create_topics_request::CreatableTopic::default();
            t.name = name("cover");
            t.num_partitions = 1;
            t.replication_factor = 1;
            RequestKind::CreateTopics(CreateTopicsRequest::default().with_topics(vec![t]))
        }
        ApiKey::DeleteTopics if version >= 6 => RequestKind::DeleteTopics(
            DeleteTopicsRequest::default()
                .with_topics(vec![delete_topics_request::DeleteTopicState::default().with_name(Some(name("absent")))]),
        ),
        ApiKey::DeleteTopics => {
            RequestKind::DeleteTopics(DeleteTopicsRequest::default().with_topic_names(vec![name("absent")]))
        }
        ApiKey::InitProducerId => RequestKind::InitProducerId(
            InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        ),
        ApiKey::DescribeConfigs => {
            let mut res = describe_configs_request::DescribeConfigsResource::default();
            res.resource_type = 2;
            res.resource_name = s("cover");
            RequestKind::DescribeConfigs(DescribeConfigsRequest::default().with_resources(vec![res]))
        }
        ApiKey::DescribeCluster => RequestKind::DescribeCluster(DescribeClusterRequest::default()),
        ApiKey::DescribeTopicPartitions => RequestKind::DescribeTopicPartitions(
            DescribeTopicPartitionsRequest::default()
                .with_topics(vec![describe_topic_partitions_request::TopicRequest::default().with_name(name("cover"))])
                .with_response_partition_limit(100),
        ),
        ApiKey::JoinGroup => RequestKind::JoinGroup(crate::groups::join_request("cover-g", "", version)),
        ApiKey::SyncGroup => RequestKind::SyncGroup(
            SyncGroupRequest::default()
                .with_group_id(GroupId(s("cover-g")))
                .with_member_id(s("nobody"))
                .with_generation_id(1),
        ),
        ApiKey::Heartbeat => RequestKind::Heartbeat(
            HeartbeatRequest::default()
                .with_group_id(GroupId(s("cover-g")))
                .with_member_id(s("nobody"))
                .with_generation_id(1),
        ),
        ApiKey::LeaveGroup if version >= 3 => RequestKind::LeaveGroup(
            LeaveGroupRequest::default()
                .with_group_id(GroupId(s("cover-g")))
                .with_members(vec![leave_group_request::MemberIdentity::default().with_member_id(s("nobody"))]),
        ),
        ApiKey::LeaveGroup => RequestKind::LeaveGroup(
            LeaveGroupRequest::default().with_group_id(GroupId(s("cover-g"))).with_member_id(s("nobody")),
        ),
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(crate::groups::commit_request("cover-simple", "cover", 0, 7)),
        ApiKey::OffsetFetch => RequestKind::OffsetFetch(crate::groups::fetch_request("cover-simple", "cover", version)),
        ApiKey::DescribeGroups => {
            RequestKind::DescribeGroups(DescribeGroupsRequest::default().with_groups(vec![GroupId(s("cover-simple"))]))
        }
        ApiKey::ListGroups => RequestKind::ListGroups(ListGroupsRequest::default()),
        ApiKey::DeleteGroups => {
            RequestKind::DeleteGroups(DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("absent-g"))]))
        }
        ApiKey::OffsetDelete => RequestKind::OffsetDelete(
            OffsetDeleteRequest::default().with_group_id(GroupId(s("cover-simple"))).with_topics(vec![
                offset_delete_request::OffsetDeleteRequestTopic::default()
                    .with_name(name("absent-topic"))
                    .with_partitions(vec![offset_delete_request::OffsetDeleteRequestPartition::default()]),
            ]),
        ),
        ApiKey::ConsumerGroupHeartbeat => RequestKind::ConsumerGroupHeartbeat(
            ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s(&format!("cover-kip848-v{version}"))))
                // From v1 the client generates its member id.
                .with_member_id(s(if version >= 1 { "5bV0a7m1Rr6m3xPzQ4cKLw" } else { "" }))
                .with_member_epoch(0)
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(Some(vec![name("cover")]))
                .with_topic_partitions(Some(vec![])),
        ),
        ApiKey::ConsumerGroupDescribe => RequestKind::ConsumerGroupDescribe(
            ConsumerGroupDescribeRequest::default()
                .with_group_ids(vec![GroupId(s("cover-kip848-v0")), GroupId(s("cover-simple"))]),
        ),
        ApiKey::CreatePartitions => {
            RequestKind::CreatePartitions(CreatePartitionsRequest::default().with_topics(vec![
                create_partitions_request::CreatePartitionsTopic::default().with_name(name("cover")).with_count(1),
            ]))
        }
        ApiKey::AlterConfigs => RequestKind::AlterConfigs(AlterConfigsRequest::default().with_resources(vec![
                alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("cover"))
                    .with_configs(vec![
                        alter_configs_request::AlterableConfig::default()
                            .with_name(s("retention.ms"))
                            .with_value(Some(s("60000"))),
                    ]),
            ])),
        ApiKey::IncrementalAlterConfigs => {
            RequestKind::IncrementalAlterConfigs(IncrementalAlterConfigsRequest::default().with_resources(vec![
                incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("cover"))
                    .with_configs(vec![
                        incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(s("retention.bytes"))
                            .with_config_operation(0)
                            .with_value(Some(s("1000000"))),
                    ]),
            ]))
        }
        ApiKey::DeleteRecords => RequestKind::DeleteRecords(DeleteRecordsRequest::default().with_topics(vec![
            delete_records_request::DeleteRecordsTopic::default()
                .with_name(name("cover"))
                .with_partitions(vec![delete_records_request::DeleteRecordsPartition::default().with_offset(0)]),
        ])),
        ApiKey::AddPartitionsToTxn if version >= 4 => {
            RequestKind::AddPartitionsToTxn(AddPartitionsToTxnRequest::default().with_transactions(vec![
                add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
                    .with_transactional_id(TransactionalId(s("cover-txn")))
                    .with_producer_id(ProducerId(-5))
                    .with_topics(vec![
                        add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                            .with_name(name("cover"))
                            .with_partitions(vec![0]),
                    ]),
            ]))
        }
        ApiKey::AddPartitionsToTxn => RequestKind::AddPartitionsToTxn(
            AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(TransactionalId(s("cover-txn")))
                .with_v3_and_below_producer_id(ProducerId(-5))
                .with_v3_and_below_topics(vec![
                    add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                        .with_name(name("cover"))
                        .with_partitions(vec![0]),
                ]),
        ),
        ApiKey::AddOffsetsToTxn => RequestKind::AddOffsetsToTxn(
            AddOffsetsToTxnRequest::default()
                .with_transactional_id(TransactionalId(s("cover-txn")))
                .with_producer_id(ProducerId(-5))
                .with_group_id(GroupId(s("g"))),
        ),
        ApiKey::EndTxn => RequestKind::EndTxn(
            EndTxnRequest::default()
                .with_transactional_id(TransactionalId(s("cover-txn")))
                .with_producer_id(ProducerId(-5)),
        ),
        ApiKey::TxnOffsetCommit => RequestKind::TxnOffsetCommit(
            TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(s("cover-txn")))
                .with_group_id(GroupId(s("g")))
                .with_producer_id(ProducerId(-5))
                .with_generation_id(-1)
                .with_topics(vec![
                    txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                        .with_name(name("cover"))
                        .with_partitions(vec![txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()]),
                ]),
        ),
        ApiKey::ListTransactions => {
            RequestKind::ListTransactions(ListTransactionsRequest::default().with_duration_filter(-1))
        }
        ApiKey::DescribeTransactions => RequestKind::DescribeTransactions(
            DescribeTransactionsRequest::default().with_transactional_ids(vec![TransactionalId(s("cover-txn"))]),
        ),
        ApiKey::ListConfigResources => RequestKind::ListConfigResources(
            ListConfigResourcesRequest::default().with_resource_types(if version >= 1 { vec![2, 4] } else { vec![] }),
        ),
        ApiKey::ElectLeaders => {
            RequestKind::ElectLeaders(ElectLeadersRequest::default().with_topic_partitions(Some(vec![
            elect_leaders_request::TopicPartitions::default().with_topic(name("cover")).with_partitions(vec![0, 99]),
        ])))
        }
        ApiKey::AlterPartitionReassignments => RequestKind::AlterPartitionReassignments(
            AlterPartitionReassignmentsRequest::default().with_timeout_ms(10_000).with_topics(vec![
                alter_partition_reassignments_request::ReassignableTopic::default()
                    .with_name(name("cover"))
                    .with_partitions(vec![
                        alter_partition_reassignments_request::ReassignablePartition::default()
                            .with_partition_index(0)
                            .with_replicas(Some(vec![BrokerId(1)])),
                        alter_partition_reassignments_request::ReassignablePartition::default()
                            .with_partition_index(0)
                            .with_replicas(None),
                    ]),
            ]),
        ),
        ApiKey::ListPartitionReassignments => RequestKind::ListPartitionReassignments(
            ListPartitionReassignmentsRequest::default().with_timeout_ms(10_000).with_topics(None),
        ),
        ApiKey::AlterReplicaLogDirs => {
            RequestKind::AlterReplicaLogDirs(AlterReplicaLogDirsRequest::default().with_dirs(vec![
                alter_replica_log_dirs_request::AlterReplicaLogDir::default()
                    .with_path(s("/nonexistent-dir"))
                    .with_topics(vec![
                        alter_replica_log_dirs_request::AlterReplicaLogDirTopic::default()
                            .with_name(name("cover"))
                            .with_partitions(vec![0]),
                    ]),
            ]))
        }
        ApiKey::WriteTxnMarkers => RequestKind::WriteTxnMarkers(WriteTxnMarkersRequest::default().with_markers(vec![
            write_txn_markers_request::WritableTxnMarker::default()
                .with_producer_id(ProducerId(424242))
                .with_producer_epoch(0)
                .with_transaction_result(false)
                .with_topics(vec![
                    write_txn_markers_request::WritableTxnMarkerTopic::default()
                        .with_name(name("cover"))
                        .with_partition_indexes(vec![0, 99]),
                ]),
        ])),
        ApiKey::DescribeProducers => {
            RequestKind::DescribeProducers(DescribeProducersRequest::default().with_topics(vec![
                describe_producers_request::TopicRequest::default()
                    .with_name(name("cover"))
                    .with_partition_indexes(vec![0]),
            ]))
        }
        ApiKey::OffsetForLeaderEpoch => {
            RequestKind::OffsetForLeaderEpoch(OffsetForLeaderEpochRequest::default().with_topics(vec![
                offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                    .with_topic(name("cover"))
                    .with_partitions(vec![
                        offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                            .with_current_leader_epoch(0)
                            .with_leader_epoch(0),
                    ]),
            ]))
        }
        ApiKey::DescribeLogDirs => RequestKind::DescribeLogDirs(DescribeLogDirsRequest::default().with_topics(None)),
        ApiKey::DescribeAcls => RequestKind::DescribeAcls(crate::acls::describe_all()),
        ApiKey::CreateAcls => RequestKind::CreateAcls(
            CreateAclsRequest::default().with_creations(vec![crate::acls::alice_reads("cover")]),
        ),
        ApiKey::DeleteAcls => {
            RequestKind::DeleteAcls(DeleteAclsRequest::default().with_filters(vec![crate::acls::delete_all()]))
        }
        ApiKey::DescribeQuorum => RequestKind::DescribeQuorum(crate::acls::metadata_quorum()),
        // A whole voter key and a controller endpoint, with a null cluster id as the admin client
        // sends (an empty one is another cluster's): what is left to refuse is the static quorum.
        ApiKey::AddRaftVoter => RequestKind::AddRaftVoter(
            AddRaftVoterRequest::default()
                .with_cluster_id(None)
                .with_voter_id(2)
                .with_voter_directory_id(uuid::Uuid::from_u128(2))
                .with_listeners(vec![
                    add_raft_voter_request::Listener::default()
                        .with_name(StrBytes::from_static_str("CONTROLLER"))
                        .with_host(StrBytes::from_static_str("localhost"))
                        .with_port(9093),
                ]),
        ),
        ApiKey::RemoveRaftVoter => RequestKind::RemoveRaftVoter(
            RemoveRaftVoterRequest::default()
                .with_cluster_id(None)
                .with_voter_id(2)
                .with_voter_directory_id(uuid::Uuid::from_u128(2)),
        ),
        other => panic!("no sample request for {other:?}: add one"),
    }
}

#[tokio::test]
async fn every_api_at_min_and_max_version() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let topic_id = create_topic(&mut c, "cover", 1).await;
    for api in gregor::server::apis::SUPPORTED {
        for version in [api.served.0, api.served.1] {
            // Each request is decoded by the test client; a hang or close fails the test.
            let resp = c.send(version, sample(api.key, version, topic_id)).await;
            let ok = match resp {
                ResponseKind::Produce(r) => r.responses[0].partition_responses[0].error_code == 0,
                ResponseKind::Fetch(r) => r.responses[0].partitions[0].error_code == 0,
                ResponseKind::ListOffsets(r) => r.topics[0].partitions[0].error_code == 0,
                ResponseKind::Metadata(r) => r.topics[0].error_code == 0,
                ResponseKind::FindCoordinator(r) => {
                    r.error_code == 0 && r.coordinators.iter().all(|c| c.error_code == 0)
                }
                ResponseKind::ApiVersions(r) => r.error_code == 0,
                ResponseKind::CreateTopics(r) => {
                    r.topics[0].error_code == kafka_protocol::ResponseError::TopicAlreadyExists.code()
                }
                ResponseKind::DeleteTopics(r) => {
                    r.responses[0].error_code == kafka_protocol::ResponseError::UnknownTopicOrPartition.code()
                }
                ResponseKind::InitProducerId(r) => r.error_code == 0 && r.producer_id.0 >= 0,
                ResponseKind::DescribeConfigs(r) => r.results[0].error_code == 0 && !r.results[0].configs.is_empty(),
                ResponseKind::DescribeCluster(r) => r.error_code == 0 && r.brokers.len() == 1,
                ResponseKind::DescribeTopicPartitions(r) => r.topics[0].error_code == 0,
                ResponseKind::JoinGroup(r) => {
                    let want = if version >= 4 { ResponseError::MemberIdRequired.code() } else { 0 };
                    r.error_code == want
                }
                // From v5 the sample's missing protocol type and name are refused first.
                ResponseKind::SyncGroup(r) => {
                    let want = if version >= 5 {
                        ResponseError::InconsistentGroupProtocol
                    } else {
                        ResponseError::UnknownMemberId
                    };
                    r.error_code == want.code()
                }
                ResponseKind::Heartbeat(r) => r.error_code == ResponseError::UnknownMemberId.code(),
                ResponseKind::LeaveGroup(r) => {
                    r.error_code == ResponseError::UnknownMemberId.code()
                        || r.members.first().is_some_and(|m| m.error_code == ResponseError::UnknownMemberId.code())
                }
                ResponseKind::OffsetCommit(r) => r.topics[0].partitions[0].error_code == 0,
                ResponseKind::OffsetFetch(r) => {
                    let offset = if version >= 8 {
                        r.groups[0].topics[0].partitions[0].committed_offset
                    } else {
                        r.topics[0].partitions[0].committed_offset
                    };
                    offset == 7
                }
                ResponseKind::DescribeGroups(r) => {
                    r.groups[0].error_code == 0 && r.groups[0].group_state.as_str() == "Empty"
                }
                ResponseKind::ListGroups(r) => {
                    r.error_code == 0 && r.groups.iter().any(|g| g.group_id.0.as_str() == "cover-simple")
                }
                ResponseKind::ConsumerGroupHeartbeat(r) => {
                    r.error_code == 0
                        && r.member_epoch == 1
                        && r.assignment.as_ref().is_some_and(|a| a.topic_partitions[0].partitions == vec![0])
                }
                ResponseKind::ConsumerGroupDescribe(r) => {
                    r.groups[0].error_code == 0
                        && r.groups[0].members.len() == 1
                        && r.groups[1].error_code == ResponseError::GroupIdNotFound.code()
                }
                ResponseKind::CreatePartitions(r) => r.results[0].error_code == ResponseError::InvalidPartitions.code(),
                ResponseKind::AlterConfigs(r) => r.responses[0].error_code == 0,
                ResponseKind::IncrementalAlterConfigs(r) => r.responses[0].error_code == 0,
                ResponseKind::DeleteRecords(r) => r.topics[0].partitions[0].error_code == 0,
                // An unknown transactional id is refused with INVALID_PRODUCER_ID_MAPPING.
                ResponseKind::AddPartitionsToTxn(r) => {
                    let parts = if version >= 4 {
                        &r.results_by_transaction[0].topic_results
                    } else {
                        &r.results_by_topic_v3_and_below
                    };
                    parts[0].results_by_partition[0].partition_error_code
                        == ResponseError::InvalidProducerIdMapping.code()
                }
                ResponseKind::AddOffsetsToTxn(r) => r.error_code == ResponseError::InvalidProducerIdMapping.code(),
                ResponseKind::EndTxn(r) => r.error_code == ResponseError::InvalidProducerIdMapping.code(),
                ResponseKind::TxnOffsetCommit(r) => {
                    r.topics[0].partitions[0].error_code == ResponseError::InvalidProducerIdMapping.code()
                }
                ResponseKind::ListTransactions(r) => r.error_code == 0,
                ResponseKind::DescribeTransactions(r) => {
                    r.transaction_states[0].error_code == ResponseError::TransactionalIdNotFound.code()
                }
                ResponseKind::DescribeProducers(r) => r.topics[0].partitions[0].error_code == 0,
                ResponseKind::ListConfigResources(r) => {
                    let has = |t: i8, n: &str| {
                        r.config_resources.iter().any(|c| c.resource_type == t && c.resource_name.as_str() == n)
                    };
                    // v0 lists client-metrics resources only: none here.
                    r.error_code == 0
                        && if version == 0 { r.config_resources.is_empty() } else { has(2, "cover") && has(4, "1") }
                }
                ResponseKind::ElectLeaders(r) => {
                    let p = &r.replica_election_results[0].partition_result;
                    p[0].error_code == ResponseError::ElectionNotNeeded.code()
                        && p[1].error_code == ResponseError::UnknownTopicOrPartition.code()
                }
                ResponseKind::AlterPartitionReassignments(r) => {
                    let p = &r.responses[0].partitions;
                    r.error_code == 0
                        && p[0].error_code == 0
                        && p[1].error_code == ResponseError::NoReassignmentInProgress.code()
                }
                ResponseKind::ListPartitionReassignments(r) => r.error_code == 0 && r.topics.is_empty(),
                ResponseKind::AlterReplicaLogDirs(r) => {
                    r.results[0].partitions[0].error_code == ResponseError::LogDirNotFound.code()
                }
                ResponseKind::WriteTxnMarkers(r) => {
                    let p = &r.markers[0].topics[0].partitions;
                    p[0].error_code == 0 && p[1].error_code == ResponseError::UnknownTopicOrPartition.code()
                }
                ResponseKind::OffsetForLeaderEpoch(r) => {
                    let e = &r.topics[0].partitions[0];
                    e.error_code == 0 && e.leader_epoch == 0 && e.end_offset >= 1
                }
                ResponseKind::DescribeLogDirs(r) => {
                    let d = &r.results[0];
                    // v4+ reports the disk's total and usable bytes.
                    let space = version < 4 || (d.total_bytes > 0 && (0..=d.total_bytes).contains(&d.usable_bytes));
                    space && d.topics.iter().any(|t| t.name.0.as_str() == "cover" && t.partitions[0].partition_size > 0)
                }
                // Without authorizer.class.name, as Kafka without an authorizer.
                ResponseKind::DescribeAcls(r) => r.error_code == ResponseError::SecurityDisabled.code(),
                ResponseKind::CreateAcls(r) => r.results[0].error_code == ResponseError::SecurityDisabled.code(),
                ResponseKind::DeleteAcls(r) => r.filter_results[0].error_code == ResponseError::SecurityDisabled.code(),
                ResponseKind::DescribeQuorum(r) => {
                    let p = &r.topics[0].partitions[0];
                    p.error_code == 0
                        && p.leader_id.0 == 1
                        && p.high_watermark > 0
                        && p.current_voters.len() == 1
                        && (version < 2 || r.nodes.len() == 1)
                }
                // A node alone is not a dynamic quorum: its voters are fixed.
                ResponseKind::AddRaftVoter(r) => r.error_code == ResponseError::UnsupportedVersion.code(),
                ResponseKind::RemoveRaftVoter(r) => r.error_code == ResponseError::UnsupportedVersion.code(),
                ResponseKind::DeleteGroups(r) => r.results[0].error_code == ResponseError::GroupIdNotFound.code(),
                ResponseKind::OffsetDelete(r) => {
                    r.error_code == 0
                        && r.topics[0].partitions[0].error_code == ResponseError::UnknownTopicOrPartition.code()
                }
                _ => false,
            };
            assert!(ok, "{:?} v{version}: unexpected answer", api.key);
        }
    }
    b.stop().await;
}
