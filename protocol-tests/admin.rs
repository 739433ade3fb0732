//! CreatePartitions, AlterConfigs, IncrementalAlterConfigs and DeleteRecords.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;

use crate::common::*;

async fn describe_config(c: &mut Client, topic: &str, key: &str) -> Option<(String, i8)> {
    describe_on(c, 2, topic, key).await
}

async fn describe_on(c: &mut Client, resource_type: i8, resource: &str, key: &str) -> Option<(String, i8)> {
    let mut res = describe_configs_request::DescribeConfigsResource::default();
    res.resource_type = resource_type;
    res.resource_name = s(resource);
    let ResponseKind::DescribeConfigs(r) =
        c.send(4, RequestKind::DescribeConfigs(DescribeConfigsRequest::default().with_resources(vec![res]))).await
    else {
        unreachable!()
    };
    r.results[0]
        .configs
        .iter()
        .find(|e| e.name.as_str() == key)
        .map(|e| (e.value.as_deref().unwrap_or("").to_string(), e.config_source))
}

async fn incremental(c: &mut Client, topic: &str, ops: &[(&str, i8, Option<&str>)]) -> (i16, Option<String>) {
    incremental_on(c, 2, topic, ops).await
}

async fn incremental_on(
    c: &mut Client,
    resource_type: i8,
    resource: &str,
    ops: &[(&str, i8, Option<&str>)],
) -> (i16, Option<String>) {
    let configs = ops
        .iter()
        .map(|(k, op, v)| {
            incremental_alter_configs_request::AlterableConfig::default()
                .with_name(s(k))
                .with_config_operation(*op)
                .with_value(v.map(s))
        })
        .collect();
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(resource))
            .with_configs(configs),
    ]);
    let ResponseKind::IncrementalAlterConfigs(r) = c.send(1, RequestKind::IncrementalAlterConfigs(req)).await else {
        unreachable!()
    };
    (r.responses[0].error_code, r.responses[0].error_message.as_ref().map(|m| m.to_string()))
}

#[tokio::test]
async fn partitions_only_grow_and_keyed_production_goes_on() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "grow", 2).await;
    let req = |count| {
        CreatePartitionsRequest::default().with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default().with_name(name("grow")).with_count(count),
        ])
    };
    let ResponseKind::CreatePartitions(r) = c.send(3, RequestKind::CreatePartitions(req(1))).await else {
        unreachable!()
    };
    assert_eq!(r.results[0].error_code, ResponseError::InvalidPartitions.code());
    let ResponseKind::CreatePartitions(r) = c.send(3, RequestKind::CreatePartitions(req(5))).await else {
        unreachable!()
    };
    assert_eq!(r.results[0].error_code, 0);
    assert_eq!(produce(&mut c, 9, "grow", 4, batch(2, -1, -1, -1, Compression::None)).await, (0, 0));
    assert_eq!(produce(&mut c, 9, "grow", 0, batch(2, -1, -1, -1, Compression::None)).await, (0, 0));
    let ResponseKind::Metadata(m) =
        c.send(12, RequestKind::Metadata(MetadataRequest::default().with_topics(None))).await
    else {
        unreachable!()
    };
    assert_eq!(m.topics[0].partitions.len(), 5);
    // More than Kafka's 10,000 partitions in one request: refused whole, nothing added, even to
    // validate only.
    let two = |validate_only| {
        CreatePartitionsRequest::default().with_validate_only(validate_only).with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default().with_name(name("grow")).with_count(5_005),
            create_partitions_request::CreatePartitionsTopic::default().with_name(name("other")).with_count(5_002),
        ])
    };
    create_topic(&mut c, "other", 1).await;
    for validate_only in [true, false] {
        let ResponseKind::CreatePartitions(r) = c.send(3, RequestKind::CreatePartitions(two(validate_only))).await
        else {
            unreachable!()
        };
        for t in &r.results {
            assert_eq!(t.error_code, ResponseError::PolicyViolation.code(), "{t:?}");
            assert_eq!(t.error_message.as_deref(), Some("Unable to perform excessively large batch operation."));
        }
    }
    let ResponseKind::Metadata(m) =
        c.send(12, RequestKind::Metadata(MetadataRequest::default().with_topics(None))).await
    else {
        unreachable!()
    };
    let sizes: Vec<(String, usize)> =
        m.topics.iter().map(|t| (t.name.as_ref().unwrap().0.to_string(), t.partitions.len())).collect();
    assert!(sizes.contains(&("grow".into(), 5)) && sizes.contains(&("other".into(), 1)), "{sizes:?}");
    b.stop().await;
}

#[tokio::test]
async fn configs_are_set_deleted_appended_and_validated() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "conf", 1).await;
    assert_eq!(incremental(&mut c, "conf", &[("retention.ms", 0, Some("1000"))]).await.0, 0);
    assert_eq!(describe_config(&mut c, "conf", "retention.ms").await, Some(("1000".into(), 1)));
    assert_eq!(incremental(&mut c, "conf", &[("cleanup.policy", 2, Some("compact"))]).await.0, 0);
    assert_eq!(describe_config(&mut c, "conf", "cleanup.policy").await.unwrap().0, "delete,compact");
    assert_eq!(incremental(&mut c, "conf", &[("cleanup.policy", 3, Some("delete"))]).await.0, 0);
    assert_eq!(describe_config(&mut c, "conf", "cleanup.policy").await.unwrap().0, "compact");
    let (code, msg) = incremental(&mut c, "conf", &[("retention.ms", 0, Some("soon"))]).await;
    assert_eq!(code, ResponseError::InvalidConfig.code());
    assert!(msg.unwrap().contains("retention.ms"));
    assert_eq!(
        incremental(&mut c, "conf", &[("no.such.config", 0, Some("1"))]).await.0,
        ResponseError::InvalidConfig.code()
    );
    assert_eq!(
        incremental(&mut c, "conf", &[("retention.ms", 2, Some("5"))]).await.0,
        ResponseError::InvalidConfig.code()
    );
    assert_eq!(
        incremental(&mut c, "ghost", &[("retention.ms", 0, Some("5"))]).await.0,
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert_eq!(incremental(&mut c, "conf", &[("retention.ms", 1, None)]).await.0, 0);
    assert_eq!(describe_config(&mut c, "conf", "retention.ms").await.unwrap().1, 5, "back to the default");
    // AlterConfigs replaces the whole set, and it survives a restart.
    let req = AlterConfigsRequest::default().with_resources(vec![
        alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("conf"))
            .with_configs(vec![
                alter_configs_request::AlterableConfig::default()
                    .with_name(s("max.message.bytes"))
                    .with_value(Some(s("5000"))),
            ]),
    ]);
    let ResponseKind::AlterConfigs(r) = c.send(2, RequestKind::AlterConfigs(req)).await else { unreachable!() };
    assert_eq!(r.responses[0].error_code, 0);
    drop(c);
    b.restart().await;
    let mut c = b.client().await;
    assert_eq!(describe_config(&mut c, "conf", "max.message.bytes").await, Some(("5000".into(), 1)));
    assert_eq!(describe_config(&mut c, "conf", "cleanup.policy").await.unwrap().1, 5, "replaced away");
    assert_eq!(
        produce(&mut c, 9, "conf", 0, batch(400, -1, -1, -1, Compression::None)).await.0,
        ResponseError::MessageTooLarge.code()
    );
    b.stop().await;
}

#[tokio::test]
async fn delete_records_moves_the_low_watermark() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "trim", 1).await;
    for _ in 0..3 {
        produce(&mut c, 9, "trim", 0, batch(5, -1, -1, -1, Compression::None)).await;
    }
    let req = |offset| {
        DeleteRecordsRequest::default().with_topics(vec![
            delete_records_request::DeleteRecordsTopic::default()
                .with_name(name("trim"))
                .with_partitions(vec![delete_records_request::DeleteRecordsPartition::default().with_offset(offset)]),
        ])
    };
    let ResponseKind::DeleteRecords(r) = c.send(2, RequestKind::DeleteRecords(req(7))).await else { unreachable!() };
    assert_eq!((r.topics[0].partitions[0].error_code, r.topics[0].partitions[0].low_watermark), (0, 7));
    let ResponseKind::DeleteRecords(r) = c.send(0, RequestKind::DeleteRecords(req(99))).await else { unreachable!() };
    assert_eq!(r.topics[0].partitions[0].error_code, ResponseError::OffsetOutOfRange.code());
    let ResponseKind::Fetch(f) = c.send(12, RequestKind::Fetch(fetch_request("trim", 0, 3, 0, 0))).await else {
        unreachable!()
    };
    assert_eq!(f.responses[0].partitions[0].error_code, ResponseError::OffsetOutOfRange.code());
    assert_eq!(f.responses[0].partitions[0].log_start_offset, 7);
    let ResponseKind::Fetch(f) = c.send(12, RequestKind::Fetch(fetch_request("trim", 0, 7, 0, 0))).await else {
        unreachable!()
    };
    let recs = decode_records(&f.responses[0].partitions[0].records);
    assert!(recs.iter().any(|r| r.offset == 7), "reading from the low watermark works");
    b.stop().await;
}

#[tokio::test]
async fn retention_advances_the_log_start_in_the_background() {
    let b = TestBroker::start_with(&["log.retention.check.interval.ms=100"]).await;
    let mut c = b.client().await;
    create_topic(&mut c, "short", 1).await;
    // The test batches carry timestamps from 2023: with retention.ms of one hour they are expired.
    for _ in 0..3 {
        produce(&mut c, 9, "short", 0, batch(4, -1, -1, -1, Compression::None)).await;
    }
    assert_eq!(incremental(&mut c, "short", &[("retention.ms", 0, Some("3600000"))]).await.0, 0);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let ResponseKind::Fetch(f) = c.send(12, RequestKind::Fetch(fetch_request("short", 0, 12, 0, 0))).await else {
            unreachable!()
        };
        if f.responses[0].partitions[0].log_start_offset == 12 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "retention did not run within the deadline");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let ResponseKind::Fetch(f) = c.send(12, RequestKind::Fetch(fetch_request("short", 0, 0, 0, 0))).await else {
        unreachable!()
    };
    assert_eq!(f.responses[0].partitions[0].error_code, ResponseError::OffsetOutOfRange.code());
    b.stop().await;
}

#[tokio::test]
async fn compaction_keeps_the_last_record_per_key_at_its_offset() {
    let b = TestBroker::start_with(&["log.retention.check.interval.ms=100"]).await;
    let mut c = b.client().await;
    create_topic(&mut c, "compacted", 1).await;
    assert_eq!(
        incremental(&mut c, "compacted", &[("cleanup.policy", 0, Some("compact")), ("segment.ms", 0, Some("100"))])
            .await
            .0,
        0
    );
    // Keys key-0..key-3 twice: the first four records are superseded.
    produce(&mut c, 9, "compacted", 0, batch(4, -1, -1, -1, Compression::Gzip)).await;
    produce(&mut c, 9, "compacted", 0, batch(4, -1, -1, -1, Compression::Gzip)).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let ResponseKind::Fetch(f) = c.send(12, RequestKind::Fetch(fetch_request("compacted", 0, 0, 0, 0))).await
        else {
            unreachable!()
        };
        let offsets: Vec<i64> =
            decode_records(&f.responses[0].partitions[0].records).iter().map(|r| r.offset).collect();
        if offsets == vec![4, 5, 6, 7] {
            assert_eq!(f.responses[0].partitions[0].high_watermark, 8, "offsets are kept");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "compaction did not happen: {offsets:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(produce(&mut c, 9, "compacted", 0, batch(1, -1, -1, -1, Compression::None)).await, (0, 8));
    b.stop().await;
}

#[tokio::test]
async fn offset_for_leader_epoch_answers_and_checks_epochs() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "epochs", 1).await;
    produce(&mut c, 9, "epochs", 0, batch(3, -1, -1, -1, Compression::None)).await;
    let ask = |current: i32, epoch: i32| {
        OffsetForLeaderEpochRequest::default().with_topics(vec![
            offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                .with_topic(name("epochs"))
                .with_partitions(vec![
                    offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                        .with_current_leader_epoch(current)
                        .with_leader_epoch(epoch),
                ]),
        ])
    };
    let mut answers = Vec::new();
    for (current, epoch) in [(0, 0), (5, 0), (-1, 3)] {
        let ResponseKind::OffsetForLeaderEpoch(r) =
            c.send(4, RequestKind::OffsetForLeaderEpoch(ask(current, epoch))).await
        else {
            unreachable!()
        };
        let e = &r.topics[0].partitions[0];
        answers.push((e.error_code, e.leader_epoch, e.end_offset));
    }
    assert_eq!(answers, vec![(0, 0, 3), (ResponseError::UnknownLeaderEpoch.code(), -1, -1), (0, -1, -1)]);
    b.stop().await;
}

#[tokio::test]
async fn timestamps_outside_the_allowed_range_are_refused() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "clock", 1).await;
    // The test batches are stamped in 2023: too old once before.max.ms is one day.
    assert_eq!(produce(&mut c, 9, "clock", 0, batch(1, -1, -1, -1, Compression::None)).await, (0, 0));
    assert_eq!(incremental(&mut c, "clock", &[("message.timestamp.before.max.ms", 0, Some("86400000"))]).await.0, 0);
    let old = produce(&mut c, 9, "clock", 0, batch(1, -1, -1, -1, Compression::None)).await;
    assert_eq!(old.0, ResponseError::InvalidTimestamp.code());
    // LogAppendTime topics take the broker's clock instead.
    assert_eq!(incremental(&mut c, "clock", &[("message.timestamp.type", 0, Some("LogAppendTime"))]).await.0, 0);
    assert_eq!(produce(&mut c, 9, "clock", 0, batch(1, -1, -1, -1, Compression::None)).await, (0, 1));
    b.stop().await;
}

#[tokio::test]
async fn compacted_topics_refuse_records_without_a_key() {
    use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "keyed-only", 1).await;
    assert_eq!(incremental(&mut c, "keyed-only", &[("cleanup.policy", 0, Some("compact"))]).await.0, 0);
    let keyless = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 1_700_000_000_000,
        key: None,
        value: Some(bytes::Bytes::from_static(b"no key")),
        headers: Default::default(),
    };
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [&keyless],
        &RecordEncodeOptions { version: 2, compression: Compression::Snappy },
    )
    .unwrap();
    let refused = produce_partition(&mut c, 9, "keyed-only", 0, buf.freeze()).await;
    assert_eq!(refused.error_code, ResponseError::InvalidRecord.code());
    // Produce v8+: the record at fault is named, as Kafka does.
    assert_eq!(refused.record_errors.len(), 1);
    assert_eq!(refused.record_errors[0].batch_index, 0);
    assert_eq!(produce(&mut c, 9, "keyed-only", 0, batch(2, -1, -1, -1, Compression::Snappy)).await, (0, 0));
    b.stop().await;
}

/// compression.type other than "producer": the broker rewrites batches in the topic's codec
/// (records, offsets and producer fields kept); "producer" keeps the client's codec.
#[tokio::test]
async fn topic_compression_type_makes_the_broker_recompress() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "squeezed", 1).await;
    assert_eq!(produce(&mut c, 9, "squeezed", 0, batch(3, -1, -1, -1, Compression::Lz4)).await, (0, 0));
    assert_eq!(incremental(&mut c, "squeezed", &[("compression.type", 0, Some("gzip"))]).await.0, 0);
    assert_eq!(produce(&mut c, 9, "squeezed", 0, batch(3, 9, 0, 0, Compression::Lz4)).await, (0, 3));
    assert_eq!(produce(&mut c, 9, "squeezed", 0, batch(2, -1, -1, -1, Compression::None)).await, (0, 6));
    let ResponseKind::Fetch(r) = c.send(12, RequestKind::Fetch(fetch_request("squeezed", 0, 0, 0, 1))).await else {
        unreachable!()
    };
    let records = r.responses[0].partitions[0].records.clone().expect("records");
    // The codec of each stored batch: attributes are bytes 21..23 of a v2 batch.
    let mut codecs = vec![];
    let mut rest = &records[..];
    while rest.len() >= 61 {
        let len = i32::from_be_bytes(rest[8..12].try_into().unwrap()) as usize + 12;
        codecs.push(i16::from_be_bytes(rest[21..23].try_into().unwrap()) & 7);
        rest = &rest[len..];
    }
    assert_eq!(codecs, vec![3, 1, 1], "lz4 kept before the change, gzip after");
    let decoded = decode_records(&Some(records));
    assert_eq!(decoded.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..8).collect::<Vec<i64>>());
    assert_eq!(decoded[3].producer_id, 9);
    assert_eq!(decoded[5].sequence, 2);
    b.stop().await;
}

#[tokio::test]
async fn server_properties_compression_type_is_the_topic_default() {
    // compression.type in server.properties, as Kafka reads it: every topic without its own
    // stores batches in that codec, and DescribeConfigs names the static broker config.
    let b = TestBroker::start_with(&["compression.type=zstd"]).await;
    let mut c = b.client().await;
    create_topic(&mut c, "zstd-default", 1).await;
    assert_eq!(produce(&mut c, 9, "zstd-default", 0, batch(2, -1, -1, -1, Compression::None)).await, (0, 0));
    let ResponseKind::Fetch(r) = c.send(12, RequestKind::Fetch(fetch_request("zstd-default", 0, 0, 0, 1))).await else {
        unreachable!()
    };
    let records = r.responses[0].partitions[0].records.clone().expect("records");
    assert_eq!(i16::from_be_bytes(records[21..23].try_into().unwrap()) & 7, 4, "stored as zstd");
    assert_eq!(decode_records(&Some(records)).len(), 2);
    assert_eq!(describe_config(&mut c, "zstd-default", "compression.type").await, Some(("zstd".to_string(), 4)));
    b.stop().await;
}

/// Dynamic broker configs: a cluster-wide default and a per-broker value, reported with their
/// sources, used as the topics' defaults, validated, and removed again.
#[tokio::test]
async fn dynamic_broker_configs_become_topic_defaults() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "dyn", 1).await;
    assert_eq!(describe_config(&mut c, "dyn", "retention.ms").await, Some(("604800000".into(), 5)));
    assert_eq!(incremental_on(&mut c, 4, "", &[("log.retention.ms", 0, Some("3600000"))]).await.0, 0);
    assert_eq!(describe_on(&mut c, 4, "", "log.retention.ms").await, Some(("3600000".into(), 3)));
    assert_eq!(describe_on(&mut c, 4, "1", "log.retention.ms").await, Some(("3600000".into(), 3)));
    assert_eq!(describe_config(&mut c, "dyn", "retention.ms").await, Some(("3600000".into(), 3)));

    assert_eq!(incremental_on(&mut c, 4, "1", &[("log.retention.ms", 0, Some("7200000"))]).await.0, 0);
    assert_eq!(describe_on(&mut c, 4, "1", "log.retention.ms").await, Some(("7200000".into(), 2)));
    assert_eq!(describe_config(&mut c, "dyn", "retention.ms").await, Some(("7200000".into(), 2)));

    // Kafka answers INVALID_REQUEST for a bad dynamic broker value.
    let (code, msg) = incremental_on(&mut c, 4, "", &[("log.retention.ms", 0, Some("soon"))]).await;
    assert_eq!(code, ResponseError::InvalidRequest.code());
    assert!(msg.unwrap_or_default().contains("log.retention.ms"));
    let (code, _) = incremental_on(&mut c, 4, "", &[("broker.id", 0, Some("7"))]).await;
    assert_eq!(code, ResponseError::InvalidRequest.code());
    assert_eq!(
        incremental_on(&mut c, 4, "x", &[("log.retention.ms", 0, Some("1"))]).await.0,
        ResponseError::InvalidRequest.code()
    );

    assert_eq!(incremental_on(&mut c, 4, "1", &[("log.retention.ms", 1, None)]).await.0, 0);
    assert_eq!(incremental_on(&mut c, 4, "", &[("log.retention.ms", 1, None)]).await.0, 0);
    assert_eq!(describe_on(&mut c, 4, "", "log.retention.ms").await, None);
    assert_eq!(describe_config(&mut c, "dyn", "retention.ms").await, Some(("604800000".into(), 5)));
    b.stop().await;
}

/// Group configs (kafka-configs --entity-type groups): set on a group that need not exist,
/// described with their sources, checked, and used by the consumer-protocol coordinator.
#[tokio::test]
async fn group_configs_are_set_described_and_used() {
    const GROUP: i8 = 32;
    let b = TestBroker::start_with(&["offsets.topic.num.partitions=1"]).await;
    let mut c = b.client().await;
    create_topic(&mut c, "cover", 1).await;
    assert_eq!(describe_on(&mut c, GROUP, "g1", "consumer.session.timeout.ms").await, Some(("45000".into(), 5)));
    let set = |k: &'static str, v: &'static str| (k, 0i8, Some(v));
    assert_eq!(incremental_on(&mut c, GROUP, "g1", &[set("consumer.session.timeout.ms", "50000")]).await.0, 0);
    assert_eq!(incremental_on(&mut c, GROUP, "g1", &[set("consumer.heartbeat.interval.ms", "6000")]).await.0, 0);
    assert_eq!(describe_on(&mut c, GROUP, "g1", "consumer.session.timeout.ms").await, Some(("50000".into(), 8)));
    assert_eq!(describe_on(&mut c, GROUP, "g1", "share.isolation.level").await, Some(("read_uncommitted".into(), 5)));
    let bad = incremental_on(&mut c, GROUP, "g1", &[set("consumer.session.timeout.ms", "1000")]).await;
    assert_eq!(bad.0, ResponseError::InvalidConfig.code(), "{bad:?}");
    let unknown = incremental_on(&mut c, GROUP, "g1", &[set("no.such.config", "1")]).await;
    assert_eq!(unknown.0, ResponseError::InvalidConfig.code(), "{unknown:?}");

    // A consumer-protocol member of g1 is told the group's heartbeat interval.
    let hb = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s("g1")))
        .with_member_id(s("x6cSZ0dRQk2rVh1n4bE0Ag"))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![name("cover")]))
        .with_topic_partitions(Some(vec![]));
    let ResponseKind::ConsumerGroupHeartbeat(r) = c.send(0, RequestKind::ConsumerGroupHeartbeat(hb)).await else {
        unreachable!()
    };
    assert_eq!((r.error_code, r.heartbeat_interval_ms), (0, 6000));

    // DELETE goes back to the default.
    let del = incremental_on(&mut c, GROUP, "g1", &[("consumer.session.timeout.ms", 1, None)]).await;
    assert_eq!(del.0, 0);
    assert_eq!(describe_on(&mut c, GROUP, "g1", "consumer.session.timeout.ms").await, Some(("45000".into(), 5)));
    b.stop().await;
}
