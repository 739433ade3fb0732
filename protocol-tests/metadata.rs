use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;

use crate::common::*;

fn topics_req(names: &[&str], auto: bool) -> MetadataRequest {
    let mut req = MetadataRequest::default();
    req.topics = Some(
        names
            .iter()
            .map(|n| {
                let mut t = metadata_request::MetadataRequestTopic::default();
                t.name = Some(name(n));
                t
            })
            .collect(),
    );
    req.allow_auto_topic_creation = auto;
    req
}

#[tokio::test]
async fn describes_cluster_and_auto_creates() {
    let b = TestBroker::start_with(&["num.partitions=3"]).await;
    let mut c = b.client().await;
    let ResponseKind::Metadata(r) = c.send(12, RequestKind::Metadata(topics_req(&["auto-made"], true))).await else {
        unreachable!()
    };
    assert_eq!(r.brokers.len(), 1);
    assert_eq!(r.brokers[0].port as u16, b.addr.port());
    assert_eq!(r.controller_id, r.brokers[0].node_id, "controller is a listed broker");
    assert!(r.cluster_id.as_ref().is_some_and(|c| !c.is_empty()));
    assert_eq!(r.topics[0].error_code, 0);
    assert_eq!(r.topics[0].partitions.len(), 3);
    assert!(!r.topics[0].topic_id.is_nil());

    let ResponseKind::Metadata(r) = c.send(12, RequestKind::Metadata(topics_req(&["not-there"], false))).await else {
        unreachable!()
    };
    assert_eq!(r.topics[0].error_code, ResponseError::UnknownTopicOrPartition.code());
    let ResponseKind::Metadata(r) = c.send(12, RequestKind::Metadata(topics_req(&["bad name!"], true))).await else {
        unreachable!()
    };
    assert_eq!(r.topics[0].error_code, ResponseError::InvalidTopicException.code());
    b.stop().await;
}

#[tokio::test]
async fn broker_rack_is_reported_to_clients() {
    // broker.rack, as Kafka reports it: in Metadata's brokers (v1+) and in DescribeCluster.
    let b = TestBroker::start_with(&["broker.rack=eu-west-1a"]).await;
    let mut c = b.client().await;
    let ResponseKind::Metadata(m) = c.send(12, RequestKind::Metadata(MetadataRequest::default())).await else {
        unreachable!()
    };
    assert_eq!(m.brokers[0].rack.as_deref(), Some("eu-west-1a"));
    let ResponseKind::DescribeCluster(d) =
        c.send(1, RequestKind::DescribeCluster(DescribeClusterRequest::default())).await
    else {
        unreachable!()
    };
    assert_eq!(d.brokers[0].rack.as_deref(), Some("eu-west-1a"));
    b.stop().await;
}

#[tokio::test]
async fn auto_creation_can_be_disabled() {
    let b = TestBroker::start_with(&["auto.create.topics.enable=false"]).await;
    let mut c = b.client().await;
    let ResponseKind::Metadata(r) = c.send(9, RequestKind::Metadata(topics_req(&["x"], true))).await else {
        unreachable!()
    };
    assert_eq!(r.topics[0].error_code, ResponseError::UnknownTopicOrPartition.code());
    let mut all = MetadataRequest::default();
    all.topics = None;
    let ResponseKind::Metadata(r) = c.send(9, RequestKind::Metadata(all)).await else { unreachable!() };
    assert!(r.topics.is_empty(), "topic list is null = all topics, and there are none");
    b.stop().await;
}
