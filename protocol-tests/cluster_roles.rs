//! A cluster with every KRaft role, as a Kafka cluster with dedicated controllers runs: node 1
//! controller-only, nodes 2 and 3 combined, node 4 broker-only. The voters are the nodes with
//! the controller role; the broker-only node follows the metadata as an observer, hosts
//! replicas and serves clients like any broker; the controller-only node hosts nothing and no
//! client is told of it.

use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Encodable;
use kafka_protocol::records::Compression;

use crate::cluster::{TestCluster, create, describe_quorum_request, isr, leaders, metadata, wait_metadata};
use crate::common::*;

/// The voters and observers `node` names in DescribeQuorum.
async fn quorum_members(cluster: &TestCluster, node: i32) -> (Vec<i32>, Vec<i32>) {
    let mut c = cluster.client(node).await;
    let ResponseKind::DescribeQuorum(q) = c.send(2, RequestKind::DescribeQuorum(describe_quorum_request())).await
    else {
        unreachable!()
    };
    let p = &q.topics[0].partitions[0];
    let ids = |rs: &[describe_quorum_response::ReplicaState]| {
        let mut ids: Vec<i32> = rs.iter().map(|r| r.replica_id.0).collect();
        ids.sort();
        ids
    };
    (ids(&p.current_voters), ids(&p.observers))
}

fn broker_ids(m: &MetadataResponse) -> Vec<i32> {
    let mut ids: Vec<i32> = m.brokers.iter().map(|b| b.node_id.0).collect();
    ids.sort();
    ids
}

fn all_in_sync(m: &MetadataResponse, topic: &str) -> bool {
    m.topics.iter().find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic)).is_some_and(|t| {
        !t.partitions.is_empty() && t.partitions.iter().all(|p| p.isr_nodes.len() == 3 && p.leader_id.0 > 0)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_only_and_broker_only_nodes_form_one_cluster_with_combined_ones() {
    let mut cluster =
        TestCluster::with_roles(&["controller", "broker,controller", "broker,controller", "broker"]).await;
    let mut c4 = cluster.client(4).await;
    let m = wait_metadata(&mut c4, "brokers 2, 3 and 4 registered", |m| broker_ids(m) == [2, 3, 4]).await;
    assert!(
        [2, 3, 4].contains(&m.controller_id.0),
        "clients are told of a broker as controller, never of the controller-only node: {}",
        m.controller_id.0
    );
    let (voters, observers) = quorum_members(&cluster, 4).await;
    assert_eq!(voters, [1, 2, 3], "the voters are the nodes with the controller role");
    assert_eq!(observers, [4], "the broker-only node is an observer");

    // A topic of replication factor 3 lives on the three brokers, created through the observer.
    assert_eq!(create(&mut c4, "roles", 3, 3).await.topics[0].error_code, 0);
    let m = wait_metadata(&mut c4, "every replica in sync", |m| all_in_sync(m, "roles")).await;
    let t = m.topics.iter().find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == "roles")).unwrap();
    for p in &t.partitions {
        let mut replicas: Vec<i32> = p.replica_nodes.iter().map(|r| r.0).collect();
        replicas.sort();
        assert_eq!(replicas, [2, 3, 4], "partition {} placed on the brokers only", p.partition_index);
    }
    for (partition, leader) in leaders(&m, "roles").into_iter().enumerate() {
        let mut at_leader = cluster.client(leader).await;
        let produced = produce(&mut at_leader, 9, "roles", partition as i32, batch(4, -1, -1, -1, Compression::None));
        assert_eq!(produced.await, (0, 0), "acks=all to partition {partition} led by {leader}");
    }

    // The broker-only node restarts: it follows the metadata again and its replicas rejoin
    // the ISRs (asked of node 2, which stays up).
    cluster.stop(4).await;
    let mut c2 = cluster.client(2).await;
    wait_metadata(&mut c2, "node 4 out of the ISRs", |m| {
        m.topics.iter().flat_map(|t| &t.partitions).all(|p| !p.isr_nodes.iter().any(|r| r.0 == 4))
    })
    .await;
    cluster.restart(4).await;
    // It starts fenced, as in Kafka, until its first heartbeat.
    wait_metadata(&mut c2, "node 4 unfenced again", |m| broker_ids(m) == [2, 3, 4]).await;
    assert_eq!(create(&mut cluster.client(4).await, "after-restart", 1, 3).await.topics[0].error_code, 0);
    wait_metadata(&mut c2, "node 4 back in every ISR", |m| all_in_sync(m, "roles") && all_in_sync(m, "after-restart"))
        .await;

    // The metadata leader goes (whichever voter it is): the other two elect one, and the
    // observer's writes reach it.
    let leader = metadata_leader(&cluster, 4).await;
    cluster.stop(leader).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = metadata_leader(&cluster, 4).await;
        if now > 0 && now != leader {
            break;
        }
        assert!(Instant::now() < deadline, "no new metadata leader after node {leader} stopped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut c4 = cluster.client(4).await;
    assert_eq!(create(&mut c4, "after-leader", 1, 1).await.topics[0].error_code, 0);
    let m = metadata(&mut c4, Some(&["after-leader"])).await;
    assert_eq!(m.topics[0].error_code, 0, "the observer reads its own write");
    let survivor = if leader == 2 { 3 } else { 2 };
    let mut at_survivor = cluster.client(survivor).await;
    wait_metadata(&mut at_survivor, "the topic reached a voter", |m| {
        m.topics.iter().any(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == "after-leader"))
    })
    .await;
    assert!(isr(&m, "after-leader").len() == 1);
    cluster.stop_all().await;
}

/// The metadata leader `node` knows of (DescribeQuorum), -1 when none.
async fn metadata_leader(cluster: &TestCluster, node: i32) -> i32 {
    let mut c = cluster.client(node).await;
    let ResponseKind::DescribeQuorum(q) = c.send(2, RequestKind::DescribeQuorum(describe_quorum_request())).await
    else {
        unreachable!()
    };
    q.topics[0].partitions[0].leader_id.0
}

/// DescribeCluster at `c` for brokers (1) or controllers (2): (error, controller id, sorted
/// node ids with their ports).
async fn describe_cluster(c: &mut Client, endpoint_type: i8) -> (i16, i32, Vec<(i32, i32)>) {
    let mut req = DescribeClusterRequest::default();
    req.endpoint_type = endpoint_type;
    let ResponseKind::DescribeCluster(r) = c.send(1, RequestKind::DescribeCluster(req)).await else { unreachable!() };
    let mut nodes: Vec<(i32, i32)> = r.brokers.iter().map(|b| (b.broker_id.0, b.port)).collect();
    nodes.sort();
    (r.error_code, r.controller_id.0, nodes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_listener_serves_bootstrap_controller_clients_the_controller_apis_only() {
    let cluster = TestCluster::with_roles(&["controller", "broker,controller", "broker,controller", "broker"]).await;
    let mut c4 = cluster.client(4).await;
    wait_metadata(&mut c4, "brokers 2, 3 and 4 registered", |m| broker_ids(m) == [2, 3, 4]).await;
    // The controller-only node's client address is its controller listener.
    let mut at_controller = cluster.client(1).await;
    let keys: Vec<i16> = api_versions(&mut at_controller, 3).await.api_keys.iter().map(|k| k.api_key).collect();
    for key in [ApiKey::ApiVersions, ApiKey::DescribeCluster, ApiKey::DescribeQuorum] {
        assert!(keys.contains(&(key as i16)), "a controller listener advertises {key:?}: {keys:?}");
    }
    for key in [ApiKey::Produce, ApiKey::Fetch, ApiKey::Metadata] {
        assert!(!keys.contains(&(key as i16)), "a controller listener does not advertise {key:?}");
    }

    // KIP-919: the controllers and the active one, as an AdminClient with bootstrap.controllers
    // discovers them.
    let (error, active, controllers) = describe_cluster(&mut at_controller, 2).await;
    assert_eq!(error, 0);
    assert_eq!(controllers.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(controllers[0].1, cluster.addr(1).port() as i32, "a controller's controller listener");
    let leader = metadata_leader(&cluster, 4).await;
    assert_eq!(active, leader, "the active controller is the metadata leader");
    // The endpoint type must be the listener's.
    assert_eq!(describe_cluster(&mut at_controller, 1).await.0, ResponseError::MismatchedEndpointType.code());
    assert_eq!(describe_cluster(&mut c4, 2).await.0, ResponseError::MismatchedEndpointType.code());
    let (error, _, brokers) = describe_cluster(&mut c4, 1).await;
    assert_eq!((error, brokers.iter().map(|(id, _)| *id).collect::<Vec<_>>()), (0, vec![2, 3, 4]));

    // DescribeQuorum on a controller listener, and its nodes reached on their listeners.
    let ResponseKind::DescribeQuorum(q) =
        at_controller.send(2, RequestKind::DescribeQuorum(describe_quorum_request())).await
    else {
        unreachable!()
    };
    assert_eq!(q.topics[0].partitions[0].leader_id.0, leader);
    let mut nodes: Vec<(i32, String)> =
        q.nodes.iter().map(|n| (n.node_id.0, n.listeners[0].name.to_string())).collect();
    nodes.sort();
    let named = |id: i32, name: &str| (id, name.to_string());
    assert_eq!(nodes, [named(1, "CONTROLLER"), named(2, "CONTROLLER"), named(3, "CONTROLLER"), named(4, "PLAINTEXT")]);

    // A static quorum's voters are fixed (Kafka's kraft.version 0): kafka-metadata-quorum
    // add-controller and remove-controller are refused with UNSUPPORTED_VERSION.
    for key in [ApiKey::AddRaftVoter, ApiKey::RemoveRaftVoter] {
        assert!(keys.contains(&(key as i16)), "a controller listener advertises {key:?}: {keys:?}");
    }
    let mut listener = add_raft_voter_request::Listener::default();
    listener.name = kafka_protocol::protocol::StrBytes::from_static_str("CONTROLLER");
    listener.host = kafka_protocol::protocol::StrBytes::from_static_str("127.0.0.1");
    listener.port = cluster.addr(4).port();
    let mut add = AddRaftVoterRequest::default();
    add.cluster_id = None;
    add.voter_id = 4;
    add.voter_directory_id = uuid::Uuid::from_u128(4);
    add.listeners = vec![listener];
    let ResponseKind::AddRaftVoter(added) = at_controller.send(0, RequestKind::AddRaftVoter(add)).await else {
        unreachable!()
    };
    assert_eq!(added.error_code, ResponseError::UnsupportedVersion.code(), "{:?}", added.error_message);
    let mut remove = RemoveRaftVoterRequest::default();
    remove.cluster_id = None;
    remove.voter_id = 3;
    remove.voter_directory_id = uuid::Uuid::from_u128(3);
    let ResponseKind::RemoveRaftVoter(removed) = c4.send(0, RequestKind::RemoveRaftVoter(remove)).await else {
        unreachable!()
    };
    assert_eq!(removed.error_code, ResponseError::UnsupportedVersion.code(), "{:?}", removed.error_message);
    assert_eq!(quorum_members(&cluster, 4).await.0, [1, 2, 3], "the voters unchanged");

    // A broker API on a controller listener closes the connection, as on Kafka's controllers.
    let mut header = RequestHeader::default();
    header.request_api_key = ApiKey::Metadata as i16;
    header.request_api_version = 12;
    header.correlation_id = 7;
    let mut frame = bytes::BytesMut::new();
    header.encode(&mut frame, ApiKey::Metadata.request_header_version(12)).unwrap();
    MetadataRequest::default().encode(&mut frame, 12).unwrap();
    assert!(at_controller.round_trip(&frame).await.is_none(), "Metadata on a controller listener: closed");
    cluster.stop_all().await;
}
