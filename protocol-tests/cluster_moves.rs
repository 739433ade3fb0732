//! Replicas moving between the nodes of a cluster (AlterPartitionReassignments and
//! ListPartitionReassignments, with Kafka's error codes) and unclean.leader.election.enable
//! giving an offline partition a leader by itself.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;

use crate::cluster::{TestCluster, fetch_error, isr, leaders, wait_metadata, wait_records};
use crate::common::*;

/// CreateTopics of one partition on `replicas`, with these configs.
async fn create_on(c: &mut Client, topic: &str, replicas: &[i32], configs: &[(&str, &str)]) {
    let mut a = create_topics_request::CreatableReplicaAssignment::default();
    a.partition_index = 0;
    a.broker_ids = replicas.iter().map(|b| BrokerId(*b)).collect();
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = name(topic);
    t.num_partitions = -1;
    t.replication_factor = -1;
    t.assignments = vec![a];
    t.configs = configs
        .iter()
        .map(|(k, v)| {
            let mut c = create_topics_request::CreatableTopicConfig::default();
            c.name = s(k);
            c.value = Some(s(v));
            c
        })
        .collect();
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 5000;
    let ResponseKind::CreateTopics(r) = c.send(7, RequestKind::CreateTopics(req)).await else { unreachable!() };
    assert_eq!(r.topics[0].error_code, 0, "{topic}: {:?}", r.topics[0].error_message);
}

/// AlterPartitionReassignments of partition 0 of `topic` (None cancels); its error code.
async fn reassign(c: &mut Client, topic: &str, replicas: Option<&[i32]>, allow_rf_change: bool) -> i16 {
    let mut p = alter_partition_reassignments_request::ReassignablePartition::default();
    p.partition_index = 0;
    p.replicas = replicas.map(|rs| rs.iter().map(|b| BrokerId(*b)).collect());
    let mut t = alter_partition_reassignments_request::ReassignableTopic::default();
    t.name = name(topic);
    t.partitions = vec![p];
    let mut req = AlterPartitionReassignmentsRequest::default();
    req.timeout_ms = 5000;
    req.allow_replication_factor_change = allow_rf_change;
    req.topics = vec![t];
    let ResponseKind::AlterPartitionReassignments(r) = c.send(1, RequestKind::AlterPartitionReassignments(req)).await
    else {
        unreachable!()
    };
    assert_eq!(r.error_code, 0, "{r:?}");
    r.responses[0].partitions[0].error_code
}

/// ListPartitionReassignments of every partition: (topic, partition, adding, removing).
async fn ongoing(c: &mut Client) -> Vec<(String, i32, Vec<i32>, Vec<i32>)> {
    let req = ListPartitionReassignmentsRequest::default();
    let ResponseKind::ListPartitionReassignments(r) = c.send(0, RequestKind::ListPartitionReassignments(req)).await
    else {
        unreachable!()
    };
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.to_string(), p.partition_index, ids(&p.adding_replicas), ids(&p.removing_replicas)))
        })
        .collect()
}

fn replicas(m: &MetadataResponse, topic: &str) -> Vec<i32> {
    let t = m.topics.iter().find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic)).expect("topic listed");
    t.partitions[0].replica_nodes.iter().map(|b| b.0).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_moves_off_its_leader_and_requests_kafka_refuses_are_refused() {
    let cluster = TestCluster::start(3).await;
    let mut c1 = cluster.client(1).await;
    wait_metadata(&mut c1, "three brokers registered", |m| m.brokers.len() == 3).await;
    create_on(&mut c1, "moves", &[1, 2], &[]).await;
    wait_metadata(&mut c1, "both replicas in sync", |m| isr(m, "moves").len() == 2).await;
    assert_eq!(produce(&mut c1, 9, "moves", 0, batch(5, -1, -1, -1, Compression::None)).await, (0, 0));

    // What Kafka refuses, with its codes.
    use ResponseError::*;
    assert_eq!(reassign(&mut c1, "nowhere", Some(&[1]), true).await, UnknownTopicOrPartition.code());
    // AlterReplicaLogDirs to the current dir: a no-op where a replica lives, REPLICA_NOT_AVAILABLE
    // on a broker that holds none (node 3), as Kafka answers.
    let mut c3 = cluster.client(3).await;
    assert_eq!(alter_log_dir(&mut c1, cluster.data_dir(1), "moves").await, 0);
    assert_eq!(alter_log_dir(&mut c3, cluster.data_dir(3), "moves").await, ReplicaNotAvailable.code());
    assert_eq!(reassign(&mut c1, "moves", None, true).await, NoReassignmentInProgress.code());
    assert_eq!(reassign(&mut c1, "moves", Some(&[1, 9]), true).await, InvalidReplicaAssignment.code());
    assert_eq!(reassign(&mut c1, "moves", Some(&[1, 1]), true).await, InvalidReplicaAssignment.code());
    assert_eq!(reassign(&mut c1, "moves", Some(&[1, 2, 3]), false).await, InvalidReplicationFactor.code());
    assert!(ongoing(&mut c1).await.is_empty());

    // [1, 2] to [3, 2]: 3 catches up, joins the ISR, 1 (the leader) leaves and hands over.
    assert_eq!(reassign(&mut c1, "moves", Some(&[3, 2]), true).await, 0);
    let m = wait_metadata(&mut c1, "the reassignment complete", |m| replicas(m, "moves") == vec![3, 2]).await;
    let leader = leaders(&m, "moves")[0];
    assert!([2, 3].contains(&leader), "a target replica leads: {m:?}");
    let mut in_sync = isr(&m, "moves");
    in_sync.sort();
    assert_eq!(in_sync, vec![2, 3]);
    assert!(ongoing(&mut c1).await.is_empty(), "nothing in progress once complete");
    wait_records(&cluster, 3, "moves", 5).await;
    let mut at_1 = cluster.client(1).await;
    assert_eq!(fetch_error(&mut at_1, "moves", 0).await.0, NotLeaderOrFollower.code());
    cluster.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_partition_of_an_unclean_topic_gets_an_out_of_sync_leader_by_itself() {
    let mut cluster = TestCluster::start(3).await;
    let mut c3 = cluster.client(3).await;
    wait_metadata(&mut c3, "three brokers registered", |m| m.brokers.len() == 3).await;
    create_on(&mut c3, "dirty", &[1, 2], &[("unclean.leader.election.enable", "true")]).await;
    create_on(&mut c3, "clean", &[1, 2], &[]).await;
    wait_metadata(&mut c3, "both in sync", |m| isr(m, "dirty").len() == 2 && isr(m, "clean").len() == 2).await;

    // 2 goes (the ISRs shrink to 1), records go to 1 alone, then 1 goes: both offline.
    cluster.stop(2).await;
    wait_metadata(&mut c3, "2 out of the ISRs", |m| isr(m, "dirty") == vec![1] && isr(m, "clean") == vec![1]).await;
    let mut c1 = cluster.client(1).await;
    for t in ["dirty", "clean"] {
        assert_eq!(produce(&mut c1, 9, t, 0, batch(3, -1, -1, -1, Compression::None)).await, (0, 0));
    }
    cluster.stop(1).await;
    // 2 back, out of sync: the unclean topic takes it as leader (without the 3 records it
    // missed), the other waits for its last in-sync replica.
    cluster.restart(2).await;
    let m = wait_metadata(&mut c3, "an unclean leader", |m| leaders(m, "dirty") == vec![2]).await;
    assert_eq!(leaders(&m, "clean"), vec![-1], "unclean.leader.election.enable false: offline");
    wait_records(&cluster, 2, "dirty", 0).await;
    cluster.restart(1).await;
    wait_metadata(&mut c3, "its last in-sync replica back", |m| leaders(m, "clean") == vec![1]).await;
    wait_records(&cluster, 1, "clean", 3).await;
    cluster.stop_all().await;
}

/// AlterReplicaLogDirs of partition 0 of `topic` to `dir`: its error code.
async fn alter_log_dir(c: &mut Client, dir: &std::path::Path, topic: &str) -> i16 {
    let t = alter_replica_log_dirs_request::AlterReplicaLogDirTopic::default()
        .with_name(name(topic))
        .with_partitions(vec![0]);
    let d = alter_replica_log_dirs_request::AlterReplicaLogDir::default()
        .with_path(kafka_protocol::protocol::StrBytes::from_string(dir.display().to_string()))
        .with_topics(vec![t]);
    let req = AlterReplicaLogDirsRequest::default().with_dirs(vec![d]);
    let ResponseKind::AlterReplicaLogDirs(r) = c.send(2, RequestKind::AlterReplicaLogDirs(req)).await else {
        unreachable!()
    };
    r.results[0].partitions[0].error_code
}

/// DeleteRecords of partition 0 of `topic` below `offset`: (error code, low watermark).
async fn delete_below(c: &mut Client, topic: &str, offset: i64) -> (i16, i64) {
    let req = DeleteRecordsRequest::default().with_timeout_ms(5000).with_topics(vec![
        delete_records_request::DeleteRecordsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![delete_records_request::DeleteRecordsPartition::default().with_offset(offset)]),
    ]);
    let ResponseKind::DeleteRecords(r) = c.send(2, RequestKind::DeleteRecords(req)).await else { unreachable!() };
    (r.topics[0].partitions[0].error_code, r.topics[0].partitions[0].low_watermark)
}

/// A follower that was down while its leader's log start moved past its log end (DeleteRecords
/// here, retention in production) gets OFFSET_OUT_OF_RANGE for its next fetch: it starts over at
/// the leader's log start, rejoins the ISR, and leading later serves from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_behind_its_leaders_log_start_starts_over_there_and_rejoins() {
    let mut cluster = TestCluster::start(3).await;
    let mut c1 = cluster.client(1).await;
    wait_metadata(&mut c1, "three brokers registered", |m| m.brokers.len() == 3).await;
    create_on(&mut c1, "purged", &[1, 2], &[]).await;
    wait_metadata(&mut c1, "both replicas in sync", |m| isr(m, "purged").len() == 2).await;
    assert_eq!(produce(&mut c1, 9, "purged", 0, batch(5, -1, -1, -1, Compression::None)).await, (0, 0));
    wait_records(&cluster, 1, "purged", 5).await;

    cluster.stop(2).await;
    wait_metadata(&mut c1, "node 2 out of the ISR", |m| isr(m, "purged") == [1]).await;
    for i in 1..4 {
        assert_eq!(produce(&mut c1, 9, "purged", 0, batch(5, -1, -1, -1, Compression::None)).await, (0, i * 5));
    }
    assert_eq!(delete_below(&mut c1, "purged", 15).await, (0, 15), "the leader's log now starts past node 2's end");

    cluster.restart(2).await;
    wait_metadata(&mut c1, "node 2 back in the ISR", |m| isr(m, "purged").len() == 2).await;
    assert_eq!(produce(&mut c1, 9, "purged", 0, batch(5, -1, -1, -1, Compression::None)).await, (0, 20));

    // Node 2 leads once node 1 is gone, with the log it rebuilt from the leader's log start.
    cluster.stop(1).await;
    let mut c2 = cluster.client(2).await;
    wait_metadata(&mut c2, "node 2 leads", |m| leaders(m, "purged") == [2]).await;
    // A new leader's high watermark moves up to its log end once its ISR (itself now) has it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let f = loop {
        let ResponseKind::Fetch(f) = c2.send(12, RequestKind::Fetch(fetch_request("purged", 0, 15, 0, 0))).await else {
            unreachable!()
        };
        if f.responses[0].partitions[0].high_watermark == 25 {
            break f;
        }
        assert!(std::time::Instant::now() < deadline, "node 2's high watermark: {:?}", f.responses[0].partitions[0]);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let p = &f.responses[0].partitions[0];
    assert_eq!((p.error_code, p.log_start_offset), (0, 15));
    let offsets: Vec<i64> = decode_records(&p.records).iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (15..25).collect::<Vec<_>>(), "what the leader had from its log start on");
    let ResponseKind::Fetch(f) = c2.send(12, RequestKind::Fetch(fetch_request("purged", 0, 3, 0, 0))).await else {
        unreachable!()
    };
    assert_eq!(f.responses[0].partitions[0].error_code, ResponseError::OffsetOutOfRange.code());
    cluster.stop_all().await;
}
