//! CreateTopics, DeleteTopics, DescribeTopicPartitions, DescribeConfigs.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;

use crate::common::*;

fn creatable(n: &str, partitions: i32, rf: i16) -> create_topics_request::CreatableTopic {
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = name(n);
    t.num_partitions = partitions;
    t.replication_factor = rf;
    t
}

async fn create(
    c: &mut Client,
    version: i16,
    topics: Vec<create_topics_request::CreatableTopic>,
    validate_only: bool,
) -> CreateTopicsResponse {
    let mut req = CreateTopicsRequest::default();
    req.topics = topics;
    req.timeout_ms = 5000;
    req.validate_only = validate_only;
    let ResponseKind::CreateTopics(r) = c.send(version, RequestKind::CreateTopics(req)).await else { unreachable!() };
    r
}

#[tokio::test]
async fn create_validates_and_reports_per_topic() {
    let b = TestBroker::start_with(&["num.partitions=2"]).await;
    let mut c = b.client().await;
    let mut with_config = creatable("configured", 1, 1);
    let mut cfg = create_topics_request::CreatableTopicConfig::default();
    cfg.name = s("retention.ms");
    cfg.value = Some(s("1000"));
    with_config.configs = vec![cfg];
    let mut bad_config = creatable("bad-config", 1, 1);
    let mut cfg = create_topics_request::CreatableTopicConfig::default();
    cfg.name = s("retention.ms");
    cfg.value = Some(s("soon"));
    bad_config.configs = vec![cfg];
    let r = create(
        &mut c,
        7,
        vec![
            creatable("defaults", -1, -1),
            with_config,
            bad_config,
            creatable("bad/name", 1, 1),
            creatable("rf3", 1, 3),
            creatable("zero", 0, 1),
        ],
        false,
    )
    .await;
    let by = |n: &str| r.topics.iter().find(|t| t.name.0.as_str() == n).unwrap();
    assert_eq!(by("defaults").error_code, 0);
    assert_eq!(by("defaults").num_partitions, 2, "-1 means num.partitions");
    assert_eq!(by("defaults").replication_factor, 1);
    assert_eq!(by("configured").error_code, 0);
    let configs = by("configured").configs.as_ref().unwrap();
    let retention = configs.iter().find(|c| c.name.as_str() == "retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("1000"));
    assert_eq!(by("bad-config").error_code, ResponseError::InvalidConfig.code());
    assert_eq!(by("bad/name").error_code, ResponseError::InvalidTopicException.code());
    assert_eq!(by("rf3").error_code, ResponseError::InvalidReplicationFactor.code());
    assert_eq!(by("zero").error_code, ResponseError::InvalidPartitions.code());

    let again = create(&mut c, 2, vec![creatable("defaults", 1, 1)], false).await;
    assert_eq!(again.topics[0].error_code, ResponseError::TopicAlreadyExists.code());
    let dry = create(&mut c, 7, vec![creatable("dry-run", 4, 1)], true).await;
    assert_eq!((dry.topics[0].error_code, dry.topics[0].num_partitions), (0, 4));
    let ResponseKind::Metadata(m) =
        c.send(12, RequestKind::Metadata(MetadataRequest::default().with_topics(None))).await
    else {
        unreachable!()
    };
    assert!(
        !m.topics.iter().any(|t| t.name.as_ref().unwrap().0.as_str() == "dry-run"),
        "validate_only creates nothing"
    );
    b.stop().await;
}

#[tokio::test]
async fn one_request_creates_at_most_ten_thousand_partitions() {
    // Kafka's controller refuses a CreateTopics whose topics add up to more than 10,000
    // partitions: every topic gets POLICY_VIOLATION and nothing is created.
    let b = TestBroker::start_with(&["num.partitions=3"]).await;
    let mut c = b.client().await;
    let at_limit = create(&mut c, 7, vec![creatable("a", 5_000, 1), creatable("b", 5_000, 1)], true).await;
    assert!(at_limit.topics.iter().all(|t| t.error_code == 0), "{at_limit:?}");
    let over =
        create(&mut c, 7, vec![creatable("a", 9_998, 1), creatable("b", -1, 1), creatable("c", 1, 1)], false).await;
    assert_eq!(over.topics.len(), 3);
    for t in &over.topics {
        assert_eq!(t.error_code, ResponseError::PolicyViolation.code(), "{t:?}");
        assert_eq!(t.error_message.as_deref(), Some("Excessively large number of partitions per request."));
        assert_eq!((t.num_partitions, t.replication_factor), (-1, -1));
    }
    let ResponseKind::Metadata(m) =
        c.send(12, RequestKind::Metadata(MetadataRequest::default().with_topics(None))).await
    else {
        unreachable!()
    };
    assert!(m.topics.is_empty(), "nothing was created: {:?}", m.topics);
    b.stop().await;
}

#[tokio::test]
async fn delete_by_name_and_by_id_and_data_goes_with_it() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "by-name", 1).await;
    let id = create_topic(&mut c, "by-id", 1).await;
    assert_eq!(
        produce(&mut c, 9, "by-name", 0, batch(3, -1, -1, -1, kafka_protocol::records::Compression::None)).await,
        (0, 0)
    );

    let mut req = DeleteTopicsRequest::default();
    req.topic_names = vec![name("by-name"), name("missing")];
    req.timeout_ms = 5000;
    let ResponseKind::DeleteTopics(r) = c.send(5, RequestKind::DeleteTopics(req)).await else { unreachable!() };
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(r.responses[1].error_code, ResponseError::UnknownTopicOrPartition.code());

    let mut st = delete_topics_request::DeleteTopicState::default();
    st.topic_id = id;
    let mut req = DeleteTopicsRequest::default();
    req.topics = vec![st];
    let ResponseKind::DeleteTopics(r) = c.send(6, RequestKind::DeleteTopics(req)).await else { unreachable!() };
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(r.responses[0].name.as_ref().unwrap().0.as_str(), "by-id");

    // A re-created topic starts empty.
    create_topic(&mut c, "by-name", 1).await;
    let ResponseKind::Fetch(f) = c.send(12, RequestKind::Fetch(fetch_request("by-name", 0, 0, 0, 0))).await else {
        unreachable!()
    };
    assert_eq!(f.responses[0].partitions[0].high_watermark, 0);
    b.stop().await;
}

#[tokio::test]
async fn describe_topic_partitions_pages_with_a_cursor() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "paged", 5).await;
    let mut req = DescribeTopicPartitionsRequest::default();
    let mut t = describe_topic_partitions_request::TopicRequest::default();
    t.name = name("paged");
    req.topics = vec![t, {
        let mut u = describe_topic_partitions_request::TopicRequest::default();
        u.name = name("unknown");
        u
    }];
    req.response_partition_limit = 3;
    let ResponseKind::DescribeTopicPartitions(r) = c.send(0, RequestKind::DescribeTopicPartitions(req.clone())).await
    else {
        unreachable!()
    };
    assert_eq!(r.topics[0].partitions.len(), 3);
    let cursor = r.next_cursor.clone().expect("more to come");
    assert_eq!(cursor.partition_index, 3);
    let mut next = req.clone();
    let mut cur = describe_topic_partitions_request::Cursor::default();
    cur.topic_name = cursor.topic_name.clone();
    cur.partition_index = cursor.partition_index;
    next.cursor = Some(cur);
    let ResponseKind::DescribeTopicPartitions(r) = c.send(0, RequestKind::DescribeTopicPartitions(next)).await else {
        unreachable!()
    };
    assert_eq!(r.topics[0].partitions.iter().map(|p| p.partition_index).collect::<Vec<_>>(), vec![3, 4]);
    assert_eq!(r.topics[1].error_code, ResponseError::UnknownTopicOrPartition.code());
    b.stop().await;
}

#[tokio::test]
async fn describe_configs_reports_sources() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let mut t = creatable("cfg", 1, 1);
    let mut cfg = create_topics_request::CreatableTopicConfig::default();
    cfg.name = s("cleanup.policy");
    cfg.value = Some(s("compact"));
    t.configs = vec![cfg];
    assert_eq!(create(&mut c, 7, vec![t], false).await.topics[0].error_code, 0);
    let mut res = describe_configs_request::DescribeConfigsResource::default();
    res.resource_type = 2;
    res.resource_name = s("cfg");
    let mut missing = res.clone();
    missing.resource_name = s("nope");
    let mut broker = res.clone();
    broker.resource_type = 4;
    broker.resource_name = s("1");
    let mut req = DescribeConfigsRequest::default();
    req.resources = vec![res, missing, broker];
    req.include_synonyms = true;
    let ResponseKind::DescribeConfigs(r) = c.send(4, RequestKind::DescribeConfigs(req)).await else { unreachable!() };
    let policy = r.results[0].configs.iter().find(|c| c.name.as_str() == "cleanup.policy").unwrap();
    assert_eq!((policy.value.as_deref(), policy.config_source), (Some("compact"), 1));
    let seg = r.results[0].configs.iter().find(|c| c.name.as_str() == "segment.bytes").unwrap();
    assert_eq!(seg.config_source, 5, "default");
    assert_eq!(r.results[1].error_code, ResponseError::UnknownTopicOrPartition.code());
    assert_eq!(r.results[2].error_code, 0);
    assert!(r.results[2].configs.iter().any(|c| c.name.as_str() == "num.partitions"));
    b.stop().await;
}
