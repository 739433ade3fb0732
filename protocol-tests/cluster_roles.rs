//! A cluster with every KRaft role, as a Kafka cluster with dedicated controllers runs: node 1
//! controller-only, nodes 2 and 3 combined, node 4 broker-only. The voters are the nodes with
//! the controller role; the broker-only node follows the metadata as an observer, hosts
//! replicas and serves clients like any broker; the controller-only node hosts nothing and no
//! client is told of it.

use std::time::{Duration, Instant};

use kafka_protocol::messages::*;
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
