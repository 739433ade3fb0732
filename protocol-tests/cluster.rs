//! Several nodes in one process, started from the KRaft keys a Kafka cluster uses: they form one
//! metadata group, every node sees every write, partitions and coordinators are served only by
//! their leader, which the others name with Kafka's error codes, and replicated partitions keep
//! every acknowledged record through the loss of their leader.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;

use crate::common::*;
use crate::groups::{commit_request, join_request};
use crate::txn::init;

/// `n` distinct free ports: all bound at once, then released (one at a time, the same port can
/// come back twice).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> =
        (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    held.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// A cluster of `n` combined broker,controller nodes on loopback ports, each with its own data.
pub(crate) struct TestCluster {
    nodes: Vec<Option<gregor::Running>>,
    overrides: Vec<Vec<String>>,
    addrs: Vec<SocketAddr>,
    _dirs: Vec<tempfile::TempDir>,
}

impl TestCluster {
    pub(crate) async fn start(n: usize) -> TestCluster {
        TestCluster::with_roles(&vec!["broker,controller"; n]).await
    }

    /// A cluster whose node `i + 1` has `process.roles=roles[i]`: the nodes with the controller
    /// role are the voters. A controller-only node listens only on its controller listener (its
    /// client address is that port, which serves no client); a broker-only node only on
    /// PLAINTEXT.
    pub(crate) async fn with_roles(roles: &[&str]) -> TestCluster {
        let n = roles.len();
        let free = free_ports(2 * n);
        let ports: Vec<(u16, u16)> = (0..n).map(|i| (free[2 * i], free[2 * i + 1])).collect();
        let voters: Vec<String> = ports
            .iter()
            .zip(roles)
            .enumerate()
            .filter(|(_, (_, r))| r.contains("controller"))
            .map(|(i, ((_, c), _))| format!("{}@127.0.0.1:{c}", i + 1))
            .collect();
        let dirs: Vec<tempfile::TempDir> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
        let overrides: Vec<Vec<String>> = ports
            .iter()
            .zip(&dirs)
            .zip(roles)
            .enumerate()
            .map(|(i, (((client, controller), dir), roles))| {
                let listeners = match *roles {
                    "controller" => format!("CONTROLLER://127.0.0.1:{controller}"),
                    "broker" => format!("PLAINTEXT://127.0.0.1:{client}"),
                    _ => format!("PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}"),
                };
                vec![
                    format!("process.roles={roles}"),
                    format!("node.id={}", i + 1),
                    format!("controller.quorum.voters={}", voters.join(",")),
                    format!("listeners={listeners}"),
                    "controller.listener.names=CONTROLLER".to_string(),
                    format!("log.dirs={}", dir.path().display()),
                    "broker.heartbeat.interval.ms=100".to_string(),
                    "broker.session.timeout.ms=1500".to_string(),
                ]
            })
            .collect();
        let addrs = ports
            .iter()
            .zip(roles)
            .map(|((c, k), r)| SocketAddr::from(([127, 0, 0, 1], if *r == "controller" { *k } else { *c })))
            .collect();
        // Every node waits at start-up for the quorum, so they start together.
        let started = futures::future::join_all(overrides.iter().map(|o| boot(o.clone()))).await;
        TestCluster { nodes: started.into_iter().map(Some).collect(), overrides, addrs, _dirs: dirs }
    }

    /// Node `node`'s client address (a controller-only node's: its controller listener).
    /// Node `node`'s data dir (its only log dir).
    pub(crate) fn data_dir(&self, node: i32) -> &std::path::Path {
        self._dirs[node as usize - 1].path()
    }

    pub(crate) fn addr(&self, node: i32) -> SocketAddr {
        self.addrs[node as usize - 1]
    }

    pub(crate) async fn client(&self, node: i32) -> Client {
        Client::connect(self.addrs[node as usize - 1]).await
    }

    /// Stops node `id` as SIGTERM does: a controlled shutdown that fences it first.
    pub(crate) async fn stop(&mut self, id: i32) {
        if let Some(r) = self.nodes[id as usize - 1].take() {
            r.stop().await;
        }
    }

    /// Starts node `id` again on its ports and data. In one process the stopped node's tasks may
    /// hold its store for a moment after `stop`; the start is retried while RocksDB's lock is
    /// still taken (a restarted process never sees that).
    pub(crate) async fn restart(&mut self, id: i32) {
        let node = self.spawn_restart(id).await.expect("node restarts");
        self.adopt(id, node);
    }

    /// Starts node `id` again in a task of its own: a node of a cluster returns from start-up
    /// only once it knows a metadata leader, which may take others starting too.
    pub(crate) fn spawn_restart(&self, id: i32) -> tokio::task::JoinHandle<gregor::Running> {
        let config = gregor::Config::load(None, &self.overrides[id as usize - 1]).unwrap();
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                match gregor::start(config.clone()).await {
                    Ok(r) => return r,
                    Err(e) if format!("{e:#}").contains("LOCK") && Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("node {id} restarts: {e:#}"),
                }
            }
        })
    }

    /// Takes node `id` back from `spawn_restart`.
    pub(crate) fn adopt(&mut self, id: i32, node: gregor::Running) {
        self.nodes[id as usize - 1] = Some(node);
    }

    /// Where node `id` listens for its peers (its CONTROLLER listener).
    pub(crate) fn controller_addr(&self, id: i32) -> SocketAddr {
        let listeners = self.overrides[id as usize - 1].iter().find_map(|o| o.strip_prefix("listeners=")).unwrap();
        let controller = listeners.split(',').find_map(|l| l.strip_prefix("CONTROLLER://")).expect("a controller");
        controller.parse().unwrap()
    }

    /// Empties node `id`'s data dir (it must be stopped), as if its disk had been replaced.
    pub(crate) fn wipe(&self, id: i32) {
        let dir = self._dirs[id as usize - 1].path();
        std::fs::remove_dir_all(dir).unwrap();
        std::fs::create_dir(dir).unwrap();
    }

    pub(crate) async fn stop_all(mut self) {
        for id in 1..=self.nodes.len() as i32 {
            self.stop(id).await;
        }
    }
}

async fn boot(overrides: Vec<String>) -> gregor::Running {
    let config = gregor::Config::load(None, &overrides).unwrap();
    gregor::start(config).await.expect("node starts")
}

pub(crate) async fn metadata(c: &mut Client, topics: Option<&[&str]>) -> MetadataResponse {
    let mut req = MetadataRequest::default();
    req.topics = topics.map(|ts| {
        ts.iter()
            .map(|t| {
                let mut m = metadata_request::MetadataRequestTopic::default();
                m.name = Some(name(t));
                m
            })
            .collect()
    });
    let ResponseKind::Metadata(r) = c.send(12, RequestKind::Metadata(req)).await else { unreachable!() };
    r
}

/// Asks `c` for metadata until `done` holds of it, for at most 15 s.
pub(crate) async fn wait_metadata(
    c: &mut Client,
    what: &str,
    done: impl Fn(&MetadataResponse) -> bool,
) -> MetadataResponse {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let m = metadata(c, None).await;
        if done(&m) {
            return m;
        }
        assert!(Instant::now() < deadline, "{what}: not within 15 s; last metadata {m:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn leaders(m: &MetadataResponse, topic: &str) -> Vec<i32> {
    let t = m.topics.iter().find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic)).expect("topic listed");
    t.partitions.iter().map(|p| p.leader_id.0).collect()
}

pub(crate) async fn create(c: &mut Client, topic: &str, partitions: i32, rf: i16) -> CreateTopicsResponse {
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = name(topic);
    t.num_partitions = partitions;
    t.replication_factor = rf;
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 5000;
    let ResponseKind::CreateTopics(r) = c.send(7, RequestKind::CreateTopics(req)).await else { unreachable!() };
    r
}

pub(crate) async fn fetch_error(c: &mut Client, topic: &str, partition: i32) -> (i16, usize) {
    let ResponseKind::Fetch(r) = c.send(12, RequestKind::Fetch(fetch_request(topic, partition, 0, 0, 1))).await else {
        unreachable!()
    };
    let p = &r.responses[0].partitions[0];
    (p.error_code, decode_records(&p.records).len())
}

async fn find_coordinator(c: &mut Client, group: &str) -> (i16, i32) {
    let mut req = FindCoordinatorRequest::default();
    req.key = s(group);
    let ResponseKind::FindCoordinator(r) = c.send(3, RequestKind::FindCoordinator(req)).await else { unreachable!() };
    (r.error_code, r.node_id.0)
}

async fn find_txn_coordinator(c: &mut Client, txn: &str) -> (i16, i32) {
    let mut req = FindCoordinatorRequest::default();
    req.key = s(txn);
    req.key_type = 1;
    let ResponseKind::FindCoordinator(r) = c.send(3, RequestKind::FindCoordinator(req)).await else { unreachable!() };
    (r.error_code, r.node_id.0)
}

/// Whether to ask again: a coordinator that has just taken its partition answers
/// COORDINATOR_LOAD_IN_PROGRESS until it has loaded it (retried for at most 15 s from `since`).
fn still_loading(code: i16, since: Instant) -> bool {
    code == ResponseError::CoordinatorLoadInProgress.code() && since.elapsed() < Duration::from_secs(15)
}

/// A simple (assign-mode) offset commit of partition 0 of `topic`, retried while the
/// coordinator loads; its error code.
async fn commit_while_loading(c: &mut Client, group: &str, topic: &str, offset: i64) -> i16 {
    let since = Instant::now();
    loop {
        let req = RequestKind::OffsetCommit(commit_request(group, topic, 0, offset));
        let ResponseKind::OffsetCommit(r) = c.send(8, req).await else { unreachable!() };
        let code = r.topics[0].partitions[0].error_code;
        if !still_loading(code, since) {
            return code;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_form_one_cluster_and_serve_each_partition_from_its_leader() {
    let cluster = TestCluster::start(3).await;
    let mut c1 = cluster.client(1).await;
    let m = wait_metadata(&mut c1, "three brokers registered", |m| m.brokers.len() == 3).await;
    let ids: Vec<i32> = m.brokers.iter().map(|b| b.node_id.0).collect();
    assert_eq!(ids, vec![1, 2, 3]);
    // Each broker names itself as the controller (Kafka names a random live broker): one a
    // client reaches as long as it reaches that broker, never a metadata leader just gone.
    assert_eq!(m.controller_id.0, 1, "node 1 names itself as the controller");
    let cluster_id = m.cluster_id.clone().expect("cluster id");
    for node in 2..=3 {
        let m = metadata(&mut cluster.client(node).await, None).await;
        assert_eq!(m.cluster_id.as_ref(), Some(&cluster_id), "node {node} is in the same cluster");
        assert_eq!(m.controller_id.0, node, "node {node} names itself as the controller");
    }

    // Created through node 2, seen by node 1 at once (the write is applied where it was made
    // before the answer, and node 1 catches up within moments).
    let mut c2 = cluster.client(2).await;
    let r = create(&mut c2, "spread", 6, 1).await;
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
    let m = wait_metadata(&mut c1, "the topic reaches node 1", |m| !m.topics.is_empty()).await;
    let owners = leaders(&m, "spread");
    for node in 1..=3 {
        assert_eq!(owners.iter().filter(|l| **l == node).count(), 2, "leaders spread evenly: {owners:?}");
    }
    // More replicas than live brokers: refused.
    let r = create(&mut c2, "too-many", 1, 4).await;
    assert_eq!(r.topics[0].error_code, ResponseError::InvalidReplicationFactor.code());

    // Each partition takes records at its leader and is refused elsewhere.
    for (partition, leader) in owners.iter().enumerate() {
        let partition = partition as i32;
        let mut at_leader = cluster.client(*leader).await;
        let (code, offset) =
            produce(&mut at_leader, 9, "spread", partition, batch(3, -1, -1, -1, Compression::None)).await;
        assert_eq!((code, offset), (0, 0), "partition {partition} at its leader {leader}");
        assert_eq!(fetch_error(&mut at_leader, "spread", partition).await, (0, 3));
        let other = leader % 3 + 1;
        let mut elsewhere = cluster.client(other).await;
        let (code, _) = produce(&mut elsewhere, 9, "spread", partition, batch(1, -1, -1, -1, Compression::None)).await;
        assert_eq!(code, ResponseError::NotLeaderOrFollower.code(), "partition {partition} at node {other}");
        assert_eq!(fetch_error(&mut elsewhere, "spread", partition).await.0, ResponseError::NotLeaderOrFollower.code());
        // KIP-951: from Produce v10 and Fetch v12 the refusal names the leader (and Produce
        // its endpoint), so clients move without a metadata round trip.
        let mut pd = produce_request::PartitionProduceData::default();
        pd.index = partition;
        pd.records = Some(batch(1, -1, -1, -1, Compression::None));
        let mut td = produce_request::TopicProduceData::default();
        td.name = name("spread");
        td.partition_data = vec![pd];
        let mut req = ProduceRequest::default();
        req.acks = 1;
        req.timeout_ms = 5000;
        req.topic_data = vec![td];
        let ResponseKind::Produce(r) = elsewhere.send(12, RequestKind::Produce(req)).await else { unreachable!() };
        let pr = &r.responses[0].partition_responses[0];
        assert_eq!((pr.current_leader.leader_id.0, pr.current_leader.leader_epoch), (*leader, 0));
        assert_eq!(r.node_endpoints.len(), 1);
        assert_eq!(
            (r.node_endpoints[0].node_id.0, r.node_endpoints[0].port),
            (*leader, cluster.addrs[*leader as usize - 1].port() as i32)
        );
        let ResponseKind::Fetch(f) =
            elsewhere.send(12, RequestKind::Fetch(fetch_request("spread", partition, 0, 0, 1))).await
        else {
            unreachable!()
        };
        assert_eq!(f.responses[0].partitions[0].current_leader.leader_id.0, *leader);
    }

    // Every node names the same group coordinator; only it takes the group's requests.
    let (code, coordinator) = find_coordinator(&mut c1, "cluster-group").await;
    assert_eq!(code, 0);
    for node in 2..=3 {
        assert_eq!(find_coordinator(&mut cluster.client(node).await, "cluster-group").await, (0, coordinator));
    }
    let other = coordinator % 3 + 1;
    let mut elsewhere = cluster.client(other).await;
    let ResponseKind::JoinGroup(j) =
        elsewhere.send(5, RequestKind::JoinGroup(join_request("cluster-group", "", 5))).await
    else {
        unreachable!()
    };
    assert_eq!(j.error_code, ResponseError::NotCoordinator.code());
    let mut at_coordinator = cluster.client(coordinator).await;
    assert_eq!(commit_while_loading(&mut at_coordinator, "cluster-group", "spread", 2).await, 0);

    // DescribeQuorum from any node: three voters, one leader.
    let ResponseKind::DescribeQuorum(q) =
        elsewhere.send(2, RequestKind::DescribeQuorum(describe_quorum_request())).await
    else {
        unreachable!()
    };
    assert_eq!(q.topics[0].partitions[0].current_voters.len(), 3);
    assert!((1..=3).contains(&q.topics[0].partitions[0].leader_id.0));

    // Deleted through node 3: gone from node 1's metadata.
    let mut c3 = cluster.client(3).await;
    let mut del = DeleteTopicsRequest::default();
    del.topic_names = vec![name("spread")];
    del.timeout_ms = 5000;
    let ResponseKind::DeleteTopics(d) = c3.send(5, RequestKind::DeleteTopics(del)).await else { unreachable!() };
    assert_eq!(d.responses[0].error_code, 0);
    wait_metadata(&mut c1, "the deletion reaches node 1", |m| {
        m.topics.iter().all(|t| t.name.as_ref().is_none_or(|n| n.0.as_str() != "spread"))
    })
    .await;
    cluster.stop_all().await;
}

pub(crate) fn describe_quorum_request() -> DescribeQuorumRequest {
    let mut p = describe_quorum_request::PartitionData::default();
    p.partition_index = 0;
    let mut t = describe_quorum_request::TopicData::default();
    t.topic_name = name("__cluster_metadata");
    t.partitions = vec![p];
    let mut req = DescribeQuorumRequest::default();
    req.topics = vec![t];
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_is_fenced_its_partitions_wait_offline_and_it_takes_them_back() {
    let mut cluster = TestCluster::start(3).await;
    let mut c1 = cluster.client(1).await;
    wait_metadata(&mut c1, "three brokers registered", |m| m.brokers.len() == 3).await;
    let r = create(&mut c1, "kept", 3, 1).await;
    assert_eq!(r.topics[0].error_code, 0);
    let m = wait_metadata(&mut c1, "the topic", |m| !m.topics.is_empty()).await;
    let owners = leaders(&m, "kept");
    let on3 = owners.iter().position(|l| *l == 3).expect("node 3 leads a partition") as i32;
    let mut c3 = cluster.client(3).await;
    assert_eq!(produce(&mut c3, 9, "kept", on3, batch(5, -1, -1, -1, Compression::None)).await, (0, 0));

    // A controlled shutdown fences node 3: it leaves the broker list, and with no other replica
    // its partition has no leader (LEADER_NOT_AVAILABLE, node 3 listed offline).
    cluster.stop(3).await;
    let m = wait_metadata(&mut c1, "node 3 fenced", |m| m.brokers.len() == 2).await;
    let t = &m.topics[0];
    let p = &t.partitions[on3 as usize];
    assert_eq!(p.leader_id.0, -1);
    assert_eq!(p.error_code, ResponseError::LeaderNotAvailable.code());
    assert_eq!(p.offline_replicas.iter().map(|b| b.0).collect::<Vec<_>>(), vec![3]);
    let leader_epoch = p.leader_epoch;
    // New topics go to the live nodes only.
    assert_eq!(create(&mut c1, "after", 4, 1).await.topics[0].error_code, 0);
    let m = metadata(&mut c1, Some(&["after"])).await;
    assert!(leaders(&m, "after").iter().all(|l| [1, 2].contains(l)), "{m:?}");

    // Back: it heartbeats, is unfenced, leads its partition again with a new epoch, and kept
    // its records.
    cluster.restart(3).await;
    let m = wait_metadata(&mut c1, "node 3 back", |m| {
        m.brokers.len() == 3
            && m.topics.iter().any(|t| t.partitions.get(on3 as usize).is_some_and(|p| p.leader_id.0 == 3))
    })
    .await;
    let t = m.topics.iter().find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == "kept")).unwrap();
    assert!(t.partitions[on3 as usize].leader_epoch > leader_epoch, "a new leader epoch");
    // Node 1 may see the leadership before node 3's own metadata has it: ask node 3 until it
    // answers as the leader (at most 15 s), then check its records.
    let mut c3 = cluster.client(3).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut got = fetch_error(&mut c3, "kept", on3).await;
    while got.0 == ResponseError::NotLeaderOrFollower.code() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        got = fetch_error(&mut c3, "kept", on3).await;
    }
    assert_eq!(got, (0, 5));
    cluster.stop_all().await;
}

/// Waits until `node` answers a consumer fetch of partition 0 of `topic` with `want` records.
pub(crate) async fn wait_records(cluster: &TestCluster, node: i32, topic: &str, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = fetch_error(&mut cluster.client(node).await, topic, 0).await;
        if got == (0, want) {
            return;
        }
        assert!(Instant::now() < deadline, "node {node}: {want} records of {topic} not within 15 s; last {got:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn isr(m: &MetadataResponse, topic: &str) -> Vec<i32> {
    let t = m.topics.iter().find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic)).expect("topic listed");
    t.partitions[0].isr_nodes.iter().map(|b| b.0).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicated_partition_keeps_every_acknowledged_record_when_its_leader_goes() {
    let mut cluster = TestCluster::start(3).await;
    let mut c1 = cluster.client(1).await;
    wait_metadata(&mut c1, "three brokers registered", |m| m.brokers.len() == 3).await;
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = name("copies");
    t.num_partitions = 1;
    t.replication_factor = 3;
    let mut min_isr = create_topics_request::CreatableTopicConfig::default();
    min_isr.name = s("min.insync.replicas");
    min_isr.value = Some(s("2"));
    t.configs = vec![min_isr];
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 5000;
    let ResponseKind::CreateTopics(r) = c1.send(7, RequestKind::CreateTopics(req)).await else { unreachable!() };
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
    let m = wait_metadata(&mut c1, "the topic", |m| !m.topics.is_empty()).await;
    assert_eq!(isr(&m, "copies").len(), 3);
    let first = leaders(&m, "copies")[0];

    // acks=all is answered once the followers have the batch: the records are then readable.
    let mut at_leader = cluster.client(first).await;
    for i in 0..3 {
        let acked = produce(&mut at_leader, 9, "copies", 0, batch(4, -1, -1, -1, Compression::None)).await;
        assert_eq!(acked, (0, i * 4));
    }
    assert_eq!(fetch_error(&mut at_leader, "copies", 0).await, (0, 12), "the high watermark covers acks=all");

    // The leader goes: another ISR member leads, in a new epoch, with every acknowledged record.
    cluster.stop(first).await;
    let survivor = first % 3 + 1;
    let mut cs = cluster.client(survivor).await;
    let m = wait_metadata(&mut cs, "a new leader", |m| {
        m.topics.iter().any(|t| t.partitions.first().is_some_and(|p| p.leader_id.0 >= 0 && p.leader_id.0 != first))
    })
    .await;
    let second = leaders(&m, "copies")[0];
    assert_eq!(isr(&m, "copies").len(), 2, "the stopped leader left the ISR");
    wait_records(&cluster, second, "copies", 12).await;
    let mut at_second = cluster.client(second).await;
    let acked = produce(&mut at_second, 9, "copies", 0, batch(4, -1, -1, -1, Compression::None)).await;
    assert_eq!(acked, (0, 12), "two in sync: min.insync.replicas 2 is met");

    // One more goes: one replica in sync is below min.insync.replicas, acks=all is refused.
    let third = [1, 2, 3].into_iter().find(|n| *n != first && *n != second).unwrap();
    cluster.stop(third).await;
    let mut c2 = cluster.client(second).await;
    wait_metadata(&mut c2, "the ISR shrinks to the leader", |m| isr(m, "copies") == vec![second]).await;
    let refused = produce(&mut at_second, 9, "copies", 0, batch(1, -1, -1, -1, Compression::None)).await;
    assert_eq!(refused.0, ResponseError::NotEnoughReplicas.code());

    // Both come back, catch up and rejoin the ISR; nothing acknowledged was lost.
    cluster.restart(first).await;
    cluster.restart(third).await;
    wait_metadata(&mut c2, "the ISR is whole again", |m| isr(m, "copies").len() == 3).await;
    wait_records(&cluster, second, "copies", 16).await;

    // kafka-leader-election --election-type preferred: the first replica leads again, with
    // every record; a second election is not needed.
    let elect = |partitions: Option<Vec<i32>>| {
        let mut req = ElectLeadersRequest::default();
        req.election_type = 0;
        req.timeout_ms = 5000;
        req.topic_partitions = partitions.map(|ps| {
            let mut t = elect_leaders_request::TopicPartitions::default();
            t.topic = name("copies");
            t.partitions = ps;
            vec![t]
        });
        req
    };
    let ResponseKind::ElectLeaders(e) = c2.send(2, RequestKind::ElectLeaders(elect(Some(vec![0])))).await else {
        unreachable!()
    };
    assert_eq!(e.replica_election_results[0].partition_result[0].error_code, 0, "{e:?}");
    let m = wait_metadata(&mut c2, "the preferred leader back", |m| leaders(m, "copies")[0] == first).await;
    assert_eq!(isr(&m, "copies").len(), 3);
    wait_records(&cluster, first, "copies", 16).await;
    let ResponseKind::ElectLeaders(e) = c2.send(2, RequestKind::ElectLeaders(elect(Some(vec![0])))).await else {
        unreachable!()
    };
    assert_eq!(e.replica_election_results[0].partition_result[0].error_code, ResponseError::ElectionNotNeeded.code());
    let ResponseKind::ElectLeaders(e) = c2.send(2, RequestKind::ElectLeaders(elect(None))).await else {
        unreachable!()
    };
    assert!(e.replica_election_results.is_empty(), "all partitions: none needed one");
    cluster.stop_all().await;
}

/// OffsetFetch v7 of partition 0 of `topic`: (top-level error, partition error, offset).
async fn committed(c: &mut Client, group: &str, topic: &str) -> (i16, i16, i64) {
    let req = RequestKind::OffsetFetch(crate::groups::fetch_request(group, topic, 7));
    let ResponseKind::OffsetFetch(r) = c.send(7, req).await else { unreachable!() };
    let p = r.topics.first().and_then(|t| t.partitions.first());
    (r.error_code, p.map_or(-1, |p| p.error_code), p.map_or(-1, |p| p.committed_offset))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_offsets_and_transactional_ids_move_with_their_coordinators_partition() {
    let mut cluster = TestCluster::start(3).await;
    let mut c1 = cluster.client(1).await;
    wait_metadata(&mut c1, "three brokers registered", |m| m.brokers.len() == 3).await;
    assert_eq!(create(&mut c1, "moved", 1, 3).await.topics[0].error_code, 0);

    // The group's coordinator takes a commit once it has loaded its partition of
    // __consumer_offsets (created with offsets.topic.replication.factor=3 replicas).
    let (code, coordinator) = find_coordinator(&mut c1, "moving-group").await;
    assert_eq!(code, 0);
    let m = metadata(&mut c1, Some(&["__consumer_offsets"])).await;
    assert!(m.topics[0].partitions.iter().all(|p| p.replica_nodes.len() == 3), "{m:?}");
    let mut at = cluster.client(coordinator).await;
    assert_eq!(commit_while_loading(&mut at, "moving-group", "moved", 42).await, 0);

    // A transactional id coordinated by the same node, with its producer id.
    let mut txn = None;
    for i in 0..200 {
        let id = format!("moving-txn-{i}");
        let (code, node) = find_txn_coordinator(&mut c1, &id).await;
        assert_eq!(code, 0);
        if node == coordinator {
            txn = Some(id);
            break;
        }
    }
    let txn = txn.expect("a transactional id coordinated by the group's coordinator");
    let mut at = cluster.client(coordinator).await;
    let since = Instant::now();
    let (code, pid, epoch) = loop {
        let answer = init(&mut at, &txn, 10_000).await;
        if !still_loading(answer.0, since) {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((code, epoch), (0, 0));

    // The coordinator goes; another node leads its partitions and answers from what the
    // replicas kept: the committed offset, and the producer id with its next epoch.
    cluster.stop(coordinator).await;
    let survivor = coordinator % 3 + 1;
    let mut c = cluster.client(survivor).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = None;
    let group_coordinator = loop {
        let (code, node) = find_coordinator(&mut c, "moving-group").await;
        if code == 0 && node != coordinator && node > 0 {
            let answer = committed(&mut cluster.client(node).await, "moving-group", "moved").await;
            if answer.0 == 0 {
                assert_eq!(answer, (0, 0, 42), "the commit survived at node {node}");
                break node;
            }
            last = Some(answer);
        }
        assert!(Instant::now() < deadline, "no new group coordinator answered within 20 s: {code} {node} {last:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_ne!(group_coordinator, coordinator);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, node) = find_txn_coordinator(&mut c, &txn).await;
        if code == 0 && node != coordinator && node > 0 {
            let answer = init(&mut cluster.client(node).await, &txn, 10_000).await;
            if answer.0 == 0 {
                assert_eq!(answer, (0, pid, 1), "the transactional id's state survived at node {node}");
                break;
            }
        }
        assert!(Instant::now() < deadline, "no new transaction coordinator answered within 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The old coordinator, back, is a follower of those partitions: NOT_COORDINATOR.
    cluster.restart(coordinator).await;
    let mut back = cluster.client(coordinator).await;
    wait_metadata(&mut back, "the node is back", |m| m.brokers.len() == 3).await;
    // (The preferred leader takes its partitions back only after
    // leader.imbalance.check.interval.seconds, 300 s.)
    assert_eq!(find_coordinator(&mut back, "moving-group").await, (0, group_coordinator));
    assert_eq!(committed(&mut back, "moving-group", "moved").await.0, ResponseError::NotCoordinator.code());
    cluster.stop_all().await;
}
