//! The classic group APIs: the join/sync/heartbeat flow at old and new versions, committed
//! offsets (also across a restart), admin APIs, and the error codes Kafka gives.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Encodable;

use crate::common::*;

/// A "consumer" protocol subscription to `topics`, as clients embed it in JoinGroup.
fn subscription(topics: &[&str]) -> Bytes {
    let mut sub = ConsumerProtocolSubscription::default();
    sub.topics = topics.iter().map(|t| s(t)).collect();
    let mut b = BytesMut::new();
    b.put_i16(1);
    sub.encode(&mut b, 1).unwrap();
    b.freeze()
}

pub fn join_request(group: &str, member: &str, version: i16) -> JoinGroupRequest {
    let mut p = join_group_request::JoinGroupRequestProtocol::default();
    p.name = s("range");
    p.metadata = subscription(&["cover"]);
    let mut r = JoinGroupRequest::default();
    r.group_id = GroupId(s(group));
    r.session_timeout_ms = 10_000;
    if version >= 1 {
        r.rebalance_timeout_ms = 10_000;
    }
    r.member_id = s(member);
    r.protocol_type = s("consumer");
    r.protocols = vec![p];
    r
}

pub fn commit_request(group: &str, topic: &str, partition: i32, offset: i64) -> OffsetCommitRequest {
    let mut p = offset_commit_request::OffsetCommitRequestPartition::default();
    p.partition_index = partition;
    p.committed_offset = offset;
    p.committed_metadata = Some(s("meta"));
    let mut t = offset_commit_request::OffsetCommitRequestTopic::default();
    t.name = name(topic);
    t.partitions = vec![p];
    let mut r = OffsetCommitRequest::default();
    r.group_id = GroupId(s(group));
    r.generation_id_or_member_epoch = -1;
    r.topics = vec![t];
    r
}

pub fn fetch_request(group: &str, topic: &str, version: i16) -> OffsetFetchRequest {
    let mut r = OffsetFetchRequest::default();
    if version >= 8 {
        let mut t = offset_fetch_request::OffsetFetchRequestTopics::default();
        t.name = name(topic);
        t.partition_indexes = vec![0];
        let mut g = offset_fetch_request::OffsetFetchRequestGroup::default();
        g.group_id = GroupId(s(group));
        g.topics = Some(vec![t]);
        r.groups = vec![g];
    } else {
        let mut t = offset_fetch_request::OffsetFetchRequestTopic::default();
        t.name = name(topic);
        t.partition_indexes = vec![0];
        r.group_id = GroupId(s(group));
        r.topics = Some(vec![t]);
    }
    r
}

async fn join(c: &mut Client, version: i16, req: JoinGroupRequest) -> JoinGroupResponse {
    let ResponseKind::JoinGroup(r) = c.send(version, RequestKind::JoinGroup(req)).await else { unreachable!() };
    r
}

async fn sync(
    c: &mut Client,
    version: i16,
    group: &str,
    member: &str,
    generation: i32,
    assign: &[(&str, &[u8])],
) -> SyncGroupResponse {
    let mut r = SyncGroupRequest::default();
    r.group_id = GroupId(s(group));
    r.member_id = s(member);
    r.generation_id = generation;
    if version >= 5 {
        r.protocol_type = Some(s("consumer"));
        r.protocol_name = Some(s("range"));
    }
    r.assignments = assign
        .iter()
        .map(|(m, a)| {
            let mut x = sync_group_request::SyncGroupRequestAssignment::default();
            x.member_id = s(m);
            x.assignment = Bytes::copy_from_slice(a);
            x
        })
        .collect();
    let ResponseKind::SyncGroup(r) = c.send(version, RequestKind::SyncGroup(r)).await else { unreachable!() };
    r
}

async fn heartbeat(c: &mut Client, version: i16, group: &str, member: &str, generation: i32) -> i16 {
    let mut r = HeartbeatRequest::default();
    r.group_id = GroupId(s(group));
    r.member_id = s(member);
    r.generation_id = generation;
    let ResponseKind::Heartbeat(r) = c.send(version, RequestKind::Heartbeat(r)).await else { unreachable!() };
    r.error_code
}

async fn commit(c: &mut Client, version: i16, req: OffsetCommitRequest) -> i16 {
    let ResponseKind::OffsetCommit(r) = c.send(version, RequestKind::OffsetCommit(req)).await else { unreachable!() };
    r.topics[0].partitions[0].error_code
}

async fn committed(c: &mut Client, version: i16, group: &str, topic: &str) -> i64 {
    let ResponseKind::OffsetFetch(r) =
        c.send(version, RequestKind::OffsetFetch(fetch_request(group, topic, version))).await
    else {
        unreachable!()
    };
    if version >= 8 {
        r.groups[0].topics[0].partitions[0].committed_offset
    } else {
        r.topics[0].partitions[0].committed_offset
    }
}

#[tokio::test]
async fn join_sync_heartbeat_commit_at_old_and_new_versions() {
    let mut b = TestBroker::start_with(&["group.initial.rebalance.delay.ms=0", "offsets.topic.num.partitions=3"]).await;
    let mut c = b.client().await;
    create_topic(&mut c, "cover", 1).await;
    // librdkafka's versions: JoinGroup v5, SyncGroup v3, Heartbeat v3, OffsetCommit v7, OffsetFetch v7.
    for (jv, sv, hv, cv, fv, group) in [(5, 3, 3, 7, 7, "g-old"), (9, 5, 4, 9, 9, "g-new"), (0, 0, 0, 2, 1, "g-v0")] {
        let first = join(&mut c, jv, join_request(group, "", jv)).await;
        let member = if jv >= 4 {
            assert_eq!(first.error_code, ResponseError::MemberIdRequired.code(), "{group}");
            let again = join(&mut c, jv, join_request(group, first.member_id.as_str(), jv)).await;
            assert_eq!(again.error_code, 0);
            again
        } else {
            assert_eq!(first.error_code, 0);
            first
        };
        assert_eq!(member.generation_id, 1);
        assert_eq!(member.leader, member.member_id);
        assert_eq!(member.members.len(), 1);
        let id = member.member_id.to_string();
        let s1 = sync(&mut c, sv, group, &id, 1, &[(&id, b"assigned")]).await;
        assert_eq!((s1.error_code, &s1.assignment[..]), (0, &b"assigned"[..]));
        assert_eq!(heartbeat(&mut c, hv, group, &id, 1).await, 0);
        assert_eq!(heartbeat(&mut c, hv, group, &id, 7).await, ResponseError::IllegalGeneration.code());
        assert_eq!(heartbeat(&mut c, hv, group, "stranger", 1).await, ResponseError::UnknownMemberId.code());
        let mut req = commit_request(group, "cover", 0, 42);
        req.generation_id_or_member_epoch = 1;
        req.member_id = s(&id);
        assert_eq!(commit(&mut c, cv, req.clone()).await, 0);
        assert_eq!(committed(&mut c, fv, group, "cover").await, 42);
        req.generation_id_or_member_epoch = 3;
        assert_eq!(commit(&mut c, cv, req.clone()).await, ResponseError::IllegalGeneration.code());
        let mut unknown_topic = commit_request(group, "nope", 0, 1);
        unknown_topic.generation_id_or_member_epoch = 1;
        unknown_topic.member_id = s(&id);
        assert_eq!(commit(&mut c, cv, unknown_topic).await, ResponseError::UnknownTopicOrPartition.code());
    }
    // Committed offsets survive a restart; members do not (they rejoin).
    drop(c);
    b.restart().await;
    let mut c = b.client().await;
    assert_eq!(committed(&mut c, 9, "g-new", "cover").await, 42);
    assert_eq!(committed(&mut c, 7, "g-old", "cover").await, 42);
    assert_eq!(committed(&mut c, 7, "never-committed", "cover").await, -1);
    b.stop().await;
}

/// A second member joins `group` from another connection; its JoinGroup waits until `first`
/// rejoins. Returns that pending join once `first`'s heartbeat (generation 1) answers
/// REBALANCE_IN_PROGRESS: the group is PreparingRebalance.
async fn second_member_joins(
    addr: std::net::SocketAddr,
    c1: &mut Client,
    group: &str,
    first: &str,
) -> tokio::task::JoinHandle<JoinGroupResponse> {
    let g = group.to_string();
    let waiting = tokio::spawn(async move {
        let mut c2 = Client::connect(addr).await;
        let id = join(&mut c2, 9, join_request(&g, "", 9)).await.member_id.to_string();
        join(&mut c2, 9, join_request(&g, &id, 9)).await
    });
    let hb = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let code = heartbeat(c1, 4, group, first, 1).await;
            if code != 0 {
                return code;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the rebalance shows within the deadline");
    assert_eq!(hb, ResponseError::RebalanceInProgress.code());
    waiting
}

#[tokio::test]
async fn a_second_member_makes_the_first_rejoin() {
    let b = TestBroker::start_with(&["group.initial.rebalance.delay.ms=0"]).await;
    let mut c1 = b.client().await;
    create_topic(&mut c1, "cover", 1).await;
    let a = join(&mut c1, 9, join_request("g2", "", 9)).await.member_id.to_string();
    let ja = join(&mut c1, 9, join_request("g2", &a, 9)).await;
    assert_eq!(sync(&mut c1, 5, "g2", &a, ja.generation_id, &[]).await.error_code, 0);
    let waiting = second_member_joins(b.addr, &mut c1, "g2", &a).await;
    let ja2 = join(&mut c1, 9, join_request("g2", &a, 9)).await;
    let jb = waiting.await.unwrap();
    assert_eq!((ja2.generation_id, jb.generation_id), (2, 2));
    assert_eq!(ja2.members.len(), 2, "the leader gets both members");
    assert!(jb.members.is_empty());

    let mut describe = DescribeGroupsRequest::default();
    describe.groups = vec![GroupId(s("g2")), GroupId(s("missing"))];
    let ResponseKind::DescribeGroups(d) = c1.send(5, RequestKind::DescribeGroups(describe.clone())).await else {
        unreachable!()
    };
    assert_eq!(d.groups[0].group_state.as_str(), "CompletingRebalance");
    assert_eq!(d.groups[0].members.len(), 2);
    assert_eq!(d.groups[1].group_state.as_str(), "Dead");
    let ResponseKind::DescribeGroups(d) = c1.send(6, RequestKind::DescribeGroups(describe)).await else {
        unreachable!()
    };
    assert_eq!(d.groups[1].error_code, ResponseError::GroupIdNotFound.code());

    // A non-empty group is not deleted; OffsetDelete refuses subscribed topics once Stable.
    let mut del = DeleteGroupsRequest::default();
    del.groups_names = vec![GroupId(s("g2"))];
    let ResponseKind::DeleteGroups(r) = c1.send(2, RequestKind::DeleteGroups(del.clone())).await else {
        unreachable!()
    };
    assert_eq!(r.results[0].error_code, ResponseError::NonEmptyGroup.code());
    let jb_id = jb.member_id.to_string();
    sync(&mut c1, 5, "g2", &a, 2, &[(&a, b"x"), (&jb_id, b"y")]).await;
    let od = OffsetDeleteRequest::default().with_group_id(GroupId(s("g2"))).with_topics(vec![
        offset_delete_request::OffsetDeleteRequestTopic::default()
            .with_name(name("cover"))
            .with_partitions(vec![offset_delete_request::OffsetDeleteRequestPartition::default()]),
    ]);
    let ResponseKind::OffsetDelete(r) = c1.send(0, RequestKind::OffsetDelete(od)).await else { unreachable!() };
    assert_eq!(r.topics[0].partitions[0].error_code, ResponseError::GroupSubscribedToTopic.code());

    // Both leave (batched, v3+): the group is empty and can be deleted.
    let mut leave = LeaveGroupRequest::default();
    leave.group_id = GroupId(s("g2"));
    leave.members = vec![
        leave_group_request::MemberIdentity::default().with_member_id(s(&a)),
        leave_group_request::MemberIdentity::default().with_member_id(s(&jb_id)),
        leave_group_request::MemberIdentity::default().with_member_id(s("ghost")),
    ];
    let ResponseKind::LeaveGroup(r) = c1.send(5, RequestKind::LeaveGroup(leave)).await else { unreachable!() };
    let codes: Vec<i16> = r.members.iter().map(|m| m.error_code).collect();
    assert_eq!(codes, vec![0, 0, ResponseError::UnknownMemberId.code()]);
    let ResponseKind::ListGroups(l) =
        c1.send(5, RequestKind::ListGroups(ListGroupsRequest::default().with_states_filter(vec![s("Empty")]))).await
    else {
        unreachable!()
    };
    assert!(l.groups.iter().any(|g| g.group_id.0.as_str() == "g2" && g.group_type.as_str() == "classic"));
    let ResponseKind::DeleteGroups(r) = c1.send(2, RequestKind::DeleteGroups(del)).await else { unreachable!() };
    assert_eq!(r.results[0].error_code, 0);
    b.stop().await;
}

#[tokio::test]
async fn join_errors() {
    let b = TestBroker::start_with(&["group.initial.rebalance.delay.ms=0"]).await;
    let mut c = b.client().await;
    let mut short = join_request("ge", "", 9);
    short.session_timeout_ms = 1;
    assert_eq!(join(&mut c, 9, short).await.error_code, ResponseError::InvalidSessionTimeout.code());
    assert_eq!(join(&mut c, 9, join_request("", "", 9)).await.error_code, ResponseError::InvalidGroupId.code());
    assert_eq!(
        join(&mut c, 9, join_request("ge", "made-up", 9)).await.error_code,
        ResponseError::UnknownMemberId.code()
    );
    let id = join(&mut c, 9, join_request("ge", "", 9)).await.member_id.to_string();
    assert_eq!(join(&mut c, 9, join_request("ge", &id, 9)).await.error_code, 0);
    let mut other = join_request("ge", "", 9);
    other.protocols[0].name = s("roundrobin");
    assert_eq!(join(&mut c, 9, other).await.error_code, ResponseError::InconsistentGroupProtocol.code());
    // A static member's old id is fenced once the instance rejoins.
    let mut st = join_request("gs", "", 9);
    st.group_instance_id = Some(s("instance-1"));
    let first = join(&mut c, 9, st.clone()).await;
    assert_eq!(first.error_code, 0);
    sync(&mut c, 5, "gs", first.member_id.as_str(), 1, &[]).await;
    let second = join(&mut c, 9, st).await;
    assert_eq!((second.error_code, second.generation_id), (0, 1));
    let mut hb = HeartbeatRequest::default();
    hb.group_id = GroupId(s("gs"));
    hb.member_id = first.member_id.clone();
    hb.group_instance_id = Some(s("instance-1"));
    hb.generation_id = 1;
    let ResponseKind::Heartbeat(r) = c.send(4, RequestKind::Heartbeat(hb)).await else { unreachable!() };
    assert_eq!(r.error_code, ResponseError::FencedInstanceId.code());
    b.stop().await;
}

async fn consumer_heartbeat(c: &mut Client, group: &str, member: &str, epoch: i32) -> ConsumerGroupHeartbeatResponse {
    let mut r = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        // From v1 the client generates its member id.
        .with_member_id(s(if member.is_empty() { "x6cSZ0dRQk2rVh1n4bE0Ag" } else { member }))
        .with_member_epoch(epoch)
        .with_rebalance_timeout_ms(if epoch == 0 { 30_000 } else { -1 });
    if epoch == 0 {
        r = r.with_subscribed_topic_names(Some(vec![name("cover")])).with_topic_partitions(Some(vec![]));
    }
    let ResponseKind::ConsumerGroupHeartbeat(r) = c.send(1, RequestKind::ConsumerGroupHeartbeat(r)).await else {
        unreachable!()
    };
    r
}

async fn list_type(c: &mut Client, group: &str) -> String {
    let ResponseKind::ListGroups(r) = c.send(5, RequestKind::ListGroups(ListGroupsRequest::default())).await else {
        unreachable!()
    };
    r.groups.iter().find(|g| g.group_id.0.as_str() == group).map(|g| g.group_type.to_string()).unwrap_or_default()
}

/// A classic member in a consumer-protocol group (KIP-848 mixed group): JoinGroup answers at
/// once with the member epoch as generation and no leader, SyncGroup hands out the broker's
/// assignment, Heartbeat checks the generation; when the consumer-protocol member leaves, the
/// group goes back to the classic protocol and rebalances.
#[tokio::test]
async fn classic_members_join_a_consumer_protocol_group() {
    let b = TestBroker::start_with(&["group.initial.rebalance.delay.ms=0", "offsets.topic.num.partitions=3"]).await;
    let mut c = b.client().await;
    create_topic(&mut c, "cover", 4).await;
    let g = "mixed";
    let a = consumer_heartbeat(&mut c, g, "", 0).await;
    assert_eq!(a.error_code, 0, "{a:?}");
    let a_id = a.member_id.clone().unwrap().to_string();
    assert_eq!(list_type(&mut c, g).await, "consumer");

    let first = join(&mut c, 5, join_request(g, "", 5)).await;
    assert_eq!(first.error_code, ResponseError::MemberIdRequired.code());
    let id = first.member_id.to_string();
    let joined = join(&mut c, 5, join_request(g, &id, 5)).await;
    assert_eq!(joined.error_code, 0, "{joined:?}");
    assert!(joined.generation_id > 0);
    assert_eq!(joined.leader.as_str(), "", "nobody leads: the broker assigns");
    assert!(joined.members.is_empty());
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    let other = {
        let mut r = join_request(g, "", 5);
        r.protocol_type = s("connect");
        r
    };
    assert_eq!(join(&mut c, 5, other).await.error_code, ResponseError::InconsistentGroupProtocol.code());

    let generation = joined.generation_id;
    assert_eq!(heartbeat(&mut c, 3, g, &id, generation + 1).await, ResponseError::IllegalGeneration.code());
    let synced = sync(&mut c, 5, g, &id, generation, &[]).await;
    assert_eq!(synced.error_code, 0, "{synced:?}");
    assert_eq!(synced.protocol_name.as_deref(), Some("range"));
    assert!(synced.assignment.len() >= 2, "a consumer-protocol assignment: {:?}", synced.assignment);
    let mut bad = commit_request(g, "cover", 0, 5);
    bad.member_id = s(&id);
    bad.generation_id_or_member_epoch = generation + 1;
    assert_eq!(commit(&mut c, 8, bad).await, ResponseError::IllegalGeneration.code());

    // The consumer-protocol member leaves: only the classic member is left, so the group is
    // classic again and that member must rejoin.
    let left = consumer_heartbeat(&mut c, g, &a_id, -1).await;
    assert_eq!(left.error_code, 0);
    assert_eq!(list_type(&mut c, g).await, "classic");
    let hb = heartbeat(&mut c, 3, g, &id, generation).await;
    assert!(
        hb == ResponseError::RebalanceInProgress.code() || hb == ResponseError::IllegalGeneration.code(),
        "told to rejoin, got {hb}"
    );
    let rejoined = join(&mut c, 5, join_request(g, &id, 5)).await;
    assert_eq!(rejoined.error_code, 0);
    assert_eq!(rejoined.leader, rejoined.member_id, "the classic protocol again: the member leads");
    b.stop().await;
}

#[tokio::test]
async fn a_member_commits_in_every_state_but_completing_rebalance() {
    let b = TestBroker::start_with(&["group.initial.rebalance.delay.ms=0"]).await;
    commits_by_group_state(b.addr, "cover", "g-states").await;
    b.stop().await;
}

/// Kafka's classic group accepts a current-generation commit while it prepares a rebalance
/// (eager members commit in their revoke callback before rejoining) and refuses one only
/// between the joins and the assignment. Run against gregor above, and against Apache Kafka by
/// `protocol-tests/differential`.
pub(crate) async fn commits_by_group_state(addr: std::net::SocketAddr, topic: &str, group: &str) {
    let mut c1 = Client::connect(addr).await;
    create_topic(&mut c1, topic, 1).await;
    let member_commit = |member: &str, generation: i32, offset: i64| {
        let mut r = commit_request(group, topic, 0, offset);
        r.member_id = s(member);
        r.generation_id_or_member_epoch = generation;
        r
    };
    let a = join(&mut c1, 9, join_request(group, "", 9)).await.member_id.to_string();
    let ja = join(&mut c1, 9, join_request(group, &a, 9)).await;
    assert_eq!(sync(&mut c1, 5, group, &a, ja.generation_id, &[]).await.error_code, 0);
    assert_eq!(commit(&mut c1, 8, member_commit(&a, 1, 10)).await, 0, "Stable");
    assert_eq!(commit(&mut c1, 8, member_commit(&a, 7, 10)).await, ResponseError::IllegalGeneration.code());

    let waiting = second_member_joins(addr, &mut c1, group, &a).await;
    assert_eq!(commit(&mut c1, 8, member_commit(&a, 1, 20)).await, 0, "PreparingRebalance: the old generation commits");
    assert_eq!(committed(&mut c1, 8, group, topic).await, 20);

    let ja2 = join(&mut c1, 9, join_request(group, &a, 9)).await;
    let jb = waiting.await.unwrap();
    assert_eq!((ja2.generation_id, jb.generation_id), (2, 2));
    assert_eq!(
        commit(&mut c1, 8, member_commit(&a, 2, 30)).await,
        ResponseError::RebalanceInProgress.code(),
        "CompletingRebalance"
    );
    let jb_id = jb.member_id.to_string();
    assert_eq!(sync(&mut c1, 5, group, &a, 2, &[(&a, b"x"), (&jb_id, b"y")]).await.error_code, 0);
    assert_eq!(commit(&mut c1, 8, member_commit(&a, 2, 40)).await, 0, "Stable again");
    assert_eq!(committed(&mut c1, 8, group, topic).await, 40);
}

#[tokio::test]
async fn a_consumer_regex_reaches_internal_topics() {
    // Kafka resolves a KIP-848 member's regex against every topic, internal ones included.
    let b = TestBroker::start_with(&["offsets.topic.num.partitions=3"]).await;
    let mut c = b.client().await;
    create_topic(&mut c, "cover", 1).await;
    let first = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s("g-internal")))
        .with_member_id(s("aW50ZXJuYWwtcmVnZXgtMQ"))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_regex(Some(s("__consumer_off.*")))
        .with_topic_partitions(Some(vec![]));
    let ResponseKind::ConsumerGroupHeartbeat(r) = c.send(1, RequestKind::ConsumerGroupHeartbeat(first)).await else {
        unreachable!()
    };
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let ResponseKind::Metadata(md) =
        c.send(12, RequestKind::Metadata(MetadataRequest::default().with_topics(None))).await
    else {
        unreachable!()
    };
    let offsets_id = md
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == "__consumer_offsets"))
        .map(|t| t.topic_id)
        .expect("the offsets topic exists once a group is used");
    let assigned: Vec<(uuid::Uuid, usize)> = r
        .assignment
        .map(|a| a.topic_partitions.iter().map(|t| (t.topic_id, t.partitions.len())).collect())
        .unwrap_or_default();
    assert_eq!(assigned, vec![(offsets_id, 3)], "every partition of __consumer_offsets, none of cover");
    b.stop().await;
}
