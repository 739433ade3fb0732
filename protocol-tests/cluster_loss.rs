//! A node whose data dir is lost (a replaced disk) and that starts again empty: it takes the
//! metadata from the leader, serves the same cluster, its replicas fill up again, and once it
//! has caught up it votes again, so the cluster still elects a leader when another node goes.

use std::time::{Duration, Instant};

use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;

use crate::cluster::{TestCluster, create, describe_quorum_request, isr, leaders, metadata, wait_metadata};
use crate::common::*;

/// The metadata leader and each voter's log end, as `node` answers DescribeQuorum.
async fn quorum(cluster: &TestCluster, node: i32) -> (i32, Vec<(i32, i64)>) {
    let mut c = cluster.client(node).await;
    let ResponseKind::DescribeQuorum(q) = c.send(2, RequestKind::DescribeQuorum(describe_quorum_request())).await
    else {
        unreachable!()
    };
    let p = &q.topics[0].partitions[0];
    (p.leader_id.0, p.current_voters.iter().map(|v| (v.replica_id.0, v.log_end_offset)).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_lost_its_data_rejoins_from_the_leader_and_votes_again() {
    let mut cluster = TestCluster::start(3).await;
    let mut c1 = cluster.client(1).await;
    let m = wait_metadata(&mut c1, "three brokers registered", |m| m.brokers.len() == 3).await;
    let cluster_id = m.cluster_id.clone().expect("cluster id");
    let (leader, _) = quorum(&cluster, 1).await;
    assert!((1..=3).contains(&leader), "a metadata leader");
    // A follower of the metadata group loses its data: the leader still holds how far that
    // follower's log had matched before.
    let lost = leader % 3 + 1;
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = name("survives");
    t.num_partitions = 1;
    t.replication_factor = 3;
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 5000;
    let ResponseKind::CreateTopics(r) = c1.send(7, RequestKind::CreateTopics(req)).await else { unreachable!() };
    assert_eq!(r.topics[0].error_code, 0);
    for i in 0..5 {
        assert_eq!(create(&mut c1, &format!("before-{i}"), 1, 1).await.topics[0].error_code, 0);
    }
    let m = wait_metadata(&mut c1, "the topic in sync", |m| {
        m.topics.iter().any(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == "survives"))
            && isr(m, "survives").len() == 3
    })
    .await;
    let partition_leader = leaders(&m, "survives")[0];
    let mut at_leader = cluster.client(partition_leader).await;
    assert_eq!(produce(&mut at_leader, 9, "survives", 0, batch(5, -1, -1, -1, Compression::None)).await, (0, 0));

    cluster.stop(lost).await;
    cluster.wipe(lost);
    cluster.restart(lost).await;

    // It serves the cluster it belonged to, with everything created before the loss.
    let mut back = cluster.client(lost).await;
    let m = wait_metadata(&mut back, "the wiped node has the cluster's metadata", |m| {
        m.brokers.len() == 3
            && m.topics.iter().filter(|t| t.name.as_ref().is_some_and(|n| n.0.starts_with("before-"))).count() == 5
    })
    .await;
    assert_eq!(m.cluster_id, Some(cluster_id.clone()), "the wiped node is in the same cluster");
    // Its replica of the partition fills up again and rejoins the ISR (asked of the metadata
    // leader: node 1 may be the one that lost its data).
    let mut at_metadata_leader = cluster.client(leader).await;
    wait_metadata(&mut at_metadata_leader, "the wiped node back in the ISR", |m| isr(m, "survives").len() == 3).await;
    // The leader sees its metadata log caught up.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (now_leader, ends) = quorum(&cluster, leader).await;
        let end = |id: i32| ends.iter().find(|(r, _)| *r == id).map_or(-1, |(_, e)| *e);
        if now_leader == leader && end(lost) == end(leader) {
            break;
        }
        assert!(Instant::now() < deadline, "the wiped node's metadata log did not catch up: {ends:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The metadata leader goes: the two left need the wiped node's vote to elect one.
    cluster.stop(leader).await;
    let remaining = 6 - leader - lost;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (now_leader, _) = quorum(&cluster, remaining).await;
        if now_leader == lost || now_leader == remaining {
            break;
        }
        assert!(Instant::now() < deadline, "no metadata leader among nodes {lost} and {remaining}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(create(&mut back, "after-loss", 1, 1).await.topics[0].error_code, 0, "metadata is writable");
    let m = metadata(&mut cluster.client(remaining).await, Some(&["after-loss"])).await;
    assert_eq!(m.topics[0].error_code, 0);
    cluster.stop_all().await;
}

/// Three nodes, all stopped: `stale` missed a committed metadata write (a topic) that `holder`
/// and `wiped` have, and `wiped` has lost its data dir. Returns the cluster, holder, stale, wiped.
async fn stale_holder_wiped() -> (TestCluster, i32, i32, i32) {
    let mut cluster = TestCluster::start(3).await;
    wait_metadata(&mut cluster.client(1).await, "three brokers registered", |m| m.brokers.len() == 3).await;
    let (holder, _) = quorum(&cluster, 1).await;
    let stale = holder % 3 + 1;
    let wiped = 6 - holder - stale;
    cluster.stop(stale).await;
    let mut c = cluster.client(holder).await;
    assert_eq!(create(&mut c, "while-stale-was-down", 1, 1).await.topics[0].error_code, 0);
    cluster.stop(holder).await;
    cluster.stop(wiped).await;
    cluster.wipe(wiped);
    (cluster, holder, stale, wiped)
}

/// Takes back the three nodes once they have elected a leader, and checks that each lists the
/// write `stale` had missed.
async fn every_node_has_the_write(
    mut cluster: TestCluster,
    nodes: [(i32, tokio::task::JoinHandle<gregor::Running>); 3],
) {
    let ids: Vec<i32> = nodes.iter().map(|(id, _)| *id).collect();
    for (id, node) in nodes {
        let node = tokio::time::timeout(Duration::from_secs(30), node)
            .await
            .expect("the nodes elect a leader")
            .expect("node starts");
        cluster.adopt(id, node);
    }
    for id in ids {
        wait_metadata(&mut cluster.client(id).await, "the committed topic on every node", |m| {
            m.topics.iter().any(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == "while-stale-was-down"))
        })
        .await;
    }
    cluster.stop_all().await;
}

/// What a silent stand-in for a stopped node saw on its peer port: who asked what, and when a
/// sender gave up and closed its connection.
#[derive(Debug, PartialEq)]
enum Seen {
    Asked { from: i64, what: String },
    Closed { from: i64 },
}

/// Accepts peer connections at `addr` and answers none, reporting each connection's first
/// request and its close.
async fn silent_peer(addr: std::net::SocketAddr, seen: tokio::sync::mpsc::UnboundedSender<Seen>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind(addr).await.expect("the stopped node's peer port is free");
    let mut conns = tokio::task::JoinSet::new();
    while let Ok((mut s, _)) = listener.accept().await {
        let seen = seen.clone();
        conns.spawn(async move {
            let mut head = [0u8; 12];
            if s.read_exact(&mut head).await.is_err() {
                return;
            }
            let mut body = vec![0u8; u32::from_be_bytes(head[8..12].try_into().unwrap()) as usize];
            if s.read_exact(&mut body).await.is_err() {
                return;
            }
            let msg: serde_json::Value = serde_json::from_slice(&body).expect("a peer message is JSON");
            let from = msg["from"].as_i64().unwrap_or(-1);
            let what = match &msg["body"] {
                serde_json::Value::Object(o) => o.keys().next().cloned().unwrap_or_default(),
                other => other.as_str().unwrap_or_default().to_string(),
            };
            let _ = seen.send(Seen::Asked { from, what });
            let mut rest = [0u8; 1024];
            while matches!(s.read(&mut rest).await, Ok(n) if n > 0) {}
            let _ = seen.send(Seen::Closed { from });
        });
    }
}

/// Waits (15 s at most) until the silent stand-in has seen `want`.
async fn until_seen(seen: &mut tokio::sync::mpsc::UnboundedReceiver<Seen>, want: Seen) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match tokio::time::timeout_at(deadline, seen.recv()).await {
            Ok(Some(s)) if s == want => return,
            Ok(Some(_)) => {}
            _ => panic!("the stopped node's stand-in did not see {want:?} within 15 s"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_back_empty_grants_no_vote_while_it_asks_whether_the_group_exists() {
    // Node `stale` misses a committed metadata write; node `holder` has it, and node `wiped`
    // had it but comes back empty while `holder` is away and `stale` campaigns. Had `wiped`
    // voted for `stale` while it still asked its peers whether the group existed, `stale` would
    // lead and its log would overwrite the committed write (seen in CI's fault run: two nodes
    // each leading the same partition at one leader epoch).
    let (cluster, holder, stale, wiped) = stale_holder_wiped().await;

    // `holder`'s peer port answers nothing: `wiped` waits for its answer for a while.
    let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let stand_in = tokio::spawn(silent_peer(cluster.controller_addr(holder), tx));
    let stale_back = cluster.spawn_restart(stale);
    until_seen(&mut seen, Seen::Asked { from: stale as i64, what: "Vote".into() }).await;
    let wiped_back = cluster.spawn_restart(wiped);
    until_seen(&mut seen, Seen::Asked { from: wiped as i64, what: "Quorum".into() }).await;
    // `stale` keeps campaigning while `wiped` waits, until `wiped` gives up on `holder`.
    until_seen(&mut seen, Seen::Closed { from: wiped as i64 }).await;
    stand_in.abort();
    let _ = stand_in.await;

    let holder_back = cluster.spawn_restart(holder);
    every_node_has_the_write(cluster, [(stale, stale_back), (wiped, wiped_back), (holder, holder_back)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_back_empty_with_the_others_out_of_reach_starts_no_group_of_its_own() {
    // As above, but `wiped` comes back while neither other node answers. Starting a new group
    // then would let it vote for `stale` once that is back, which would overwrite the write.
    let (cluster, holder, stale, wiped) = stale_holder_wiped().await;

    let (tx, mut at_holder) = tokio::sync::mpsc::unbounded_channel();
    let holder_stand_in = tokio::spawn(silent_peer(cluster.controller_addr(holder), tx));
    let (tx, mut at_stale) = tokio::sync::mpsc::unbounded_channel();
    let stale_stand_in = tokio::spawn(silent_peer(cluster.controller_addr(stale), tx));
    let wiped_back = cluster.spawn_restart(wiped);
    until_seen(&mut at_stale, Seen::Asked { from: wiped as i64, what: "Quorum".into() }).await;
    // `stale`'s port closes: `wiped` has no answer from either node.
    stale_stand_in.abort();
    let _ = stale_stand_in.await;
    let stale_back = cluster.spawn_restart(stale);
    until_seen(&mut at_holder, Seen::Asked { from: stale as i64, what: "Vote".into() }).await;
    // `wiped` asks again (it started no group) while `stale` campaigns, and learns from `stale`
    // that the group exists.
    until_seen(&mut at_holder, Seen::Asked { from: wiped as i64, what: "Quorum".into() }).await;
    until_seen(&mut at_holder, Seen::Closed { from: wiped as i64 }).await;
    holder_stand_in.abort();
    let _ = holder_stand_in.await;

    let holder_back = cluster.spawn_restart(holder);
    every_node_has_the_write(cluster, [(stale, stale_back), (wiped, wiped_back), (holder, holder_back)]).await;
}
