//! ACL administration (DescribeAcls, CreateAcls, DeleteAcls) and DescribeQuorum.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;

use crate::common::*;

const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const ANY: i8 = 1;
const MATCH: i8 = 2;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const READ: i8 = 3;
const WRITE: i8 = 4;
const ALLOW: i8 = 3;
const DENY: i8 = 2;

fn creation(rt: i8, name: &str, pt: i8, principal: &str, op: i8, perm: i8) -> create_acls_request::AclCreation {
    create_acls_request::AclCreation::default()
        .with_resource_type(rt)
        .with_resource_name(s(name))
        .with_resource_pattern_type(pt)
        .with_principal(s(principal))
        .with_host(s("*"))
        .with_operation(op)
        .with_permission_type(perm)
}

pub fn alice_reads(topic: &str) -> create_acls_request::AclCreation {
    creation(TOPIC, topic, LITERAL, "User:alice", READ, ALLOW)
}

pub fn describe_all() -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_name_filter(None)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_resource_type_filter(ANY)
        .with_pattern_type_filter(ANY)
        .with_operation(ANY)
        .with_permission_type(ANY)
}

pub fn delete_all() -> delete_acls_request::DeleteAclsFilter {
    delete_acls_request::DeleteAclsFilter::default()
        .with_resource_name_filter(None)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_resource_type_filter(ANY)
        .with_pattern_type_filter(ANY)
        .with_operation(ANY)
        .with_permission_type(ANY)
}

pub fn metadata_quorum() -> DescribeQuorumRequest {
    DescribeQuorumRequest::default().with_topics(vec![
        describe_quorum_request::TopicData::default()
            .with_topic_name(name("__cluster_metadata"))
            .with_partitions(vec![describe_quorum_request::PartitionData::default()]),
    ])
}

/// (resource type, name, pattern type, principal, operation, permission) of every listed ACL.
type Row = (i8, String, i8, String, i8, i8);

async fn describe(c: &mut Client, req: DescribeAclsRequest) -> Result<Vec<Row>, i16> {
    let ResponseKind::DescribeAcls(r) = c.send(3, RequestKind::DescribeAcls(req)).await else { panic!() };
    if r.error_code != 0 {
        return Err(r.error_code);
    }
    let mut rows: Vec<Row> = r
        .resources
        .iter()
        .flat_map(|res| {
            res.acls.iter().map(move |a| {
                (
                    res.resource_type,
                    res.resource_name.to_string(),
                    res.pattern_type,
                    a.principal.to_string(),
                    a.operation,
                    a.permission_type,
                )
            })
        })
        .collect();
    rows.sort();
    Ok(rows)
}

async fn create(c: &mut Client, creations: Vec<create_acls_request::AclCreation>) -> Vec<(i16, Option<String>)> {
    let req = CreateAclsRequest::default().with_creations(creations);
    let ResponseKind::CreateAcls(r) = c.send(3, RequestKind::CreateAcls(req)).await else { panic!() };
    r.results.iter().map(|x| (x.error_code, x.error_message.as_ref().map(|m| m.to_string()))).collect()
}

fn row(rt: i8, name: &str, pt: i8, principal: &str, op: i8, perm: i8) -> Row {
    (rt, name.into(), pt, principal.into(), op, perm)
}

#[tokio::test]
async fn acls_are_created_listed_deleted_and_kept_across_restarts() {
    let mut b =
        TestBroker::start_with(&["authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"])
            .await;
    let mut c = b.client().await;
    assert_eq!(describe(&mut c, describe_all()).await, Ok(vec![]));

    let results = create(
        &mut c,
        vec![
            alice_reads("orders"),
            creation(TOPIC, "orders", LITERAL, "User:alice", WRITE, ALLOW),
            creation(TOPIC, "pay-", PREFIXED, "User:bob", READ, ALLOW),
            creation(TOPIC, "*", LITERAL, "User:carol", READ, DENY),
            creation(GROUP, "orders", LITERAL, "User:alice", READ, ALLOW),
            creation(CLUSTER, "kafka-cluster", LITERAL, "User:ops", 7, ALLOW),
            // Refused one by one, the rest still created.
            creation(TOPIC, "", LITERAL, "User:alice", READ, ALLOW),
            creation(TOPIC, "x", MATCH, "User:alice", READ, ALLOW),
            creation(TOPIC, "x", LITERAL, "alice", READ, ALLOW),
            creation(CLUSTER, "other", LITERAL, "User:ops", 7, ALLOW),
            creation(TOPIC, "x", LITERAL, "User:alice", ANY, ALLOW),
        ],
    )
    .await;
    let codes: Vec<i16> = results.iter().map(|r| r.0).collect();
    let bad = ResponseError::InvalidRequest.code();
    assert_eq!(codes, vec![0, 0, 0, 0, 0, 0, bad, bad, bad, bad, bad], "{results:?}");
    assert_eq!(results[6].1.as_deref(), Some("Invalid empty resource name"));
    // Creating one again changes nothing.
    assert_eq!(create(&mut c, vec![alice_reads("orders")]).await[0].0, 0);

    let all = describe(&mut c, describe_all()).await.unwrap();
    assert_eq!(all.len(), 6, "{all:?}");
    let orders = describe_all().with_resource_type_filter(TOPIC).with_resource_name_filter(Some(s("orders")));
    assert_eq!(
        describe(&mut c, orders.clone()).await.unwrap(),
        vec![
            row(TOPIC, "orders", LITERAL, "User:alice", READ, ALLOW),
            row(TOPIC, "orders", LITERAL, "User:alice", WRITE, ALLOW)
        ]
    );
    let applying = describe_all()
        .with_resource_type_filter(TOPIC)
        .with_resource_name_filter(Some(s("pay-eu")))
        .with_pattern_type_filter(MATCH);
    assert_eq!(
        describe(&mut c, applying).await.unwrap(),
        vec![row(TOPIC, "*", LITERAL, "User:carol", READ, DENY), row(TOPIC, "pay-", PREFIXED, "User:bob", READ, ALLOW)]
    );
    let alice = describe_all().with_principal_filter(Some(s("User:alice")));
    assert_eq!(describe(&mut c, alice).await.unwrap().len(), 3);
    assert_eq!(describe(&mut c, describe_all().with_operation(0)).await, Err(ResponseError::InvalidRequest.code()));

    b.restart().await;
    let mut c = b.client().await;
    assert_eq!(describe(&mut c, describe_all()).await.unwrap(), all, "ACLs are part of the metadata log");

    // Two filters: alice's WRITE on orders, and every DENY; plus one that matches nothing.
    let filters = vec![
        delete_all()
            .with_resource_type_filter(TOPIC)
            .with_resource_name_filter(Some(s("orders")))
            .with_principal_filter(Some(s("User:alice")))
            .with_operation(WRITE),
        delete_all().with_permission_type(DENY),
        delete_all().with_principal_filter(Some(s("User:nobody"))),
        delete_all().with_pattern_type_filter(0),
    ];
    let ResponseKind::DeleteAcls(r) =
        c.send(3, RequestKind::DeleteAcls(DeleteAclsRequest::default().with_filters(filters))).await
    else {
        panic!()
    };
    let matched: Vec<(i16, Vec<(String, i8)>)> = r
        .filter_results
        .iter()
        .map(|f| (f.error_code, f.matching_acls.iter().map(|m| (m.resource_name.to_string(), m.operation)).collect()))
        .collect();
    assert_eq!(
        matched,
        vec![
            (0, vec![("orders".to_string(), WRITE)]),
            (0, vec![("*".to_string(), READ)]),
            (0, vec![]),
            (ResponseError::InvalidRequest.code(), vec![]),
        ]
    );
    assert_eq!(describe(&mut c, orders).await.unwrap(), vec![row(TOPIC, "orders", LITERAL, "User:alice", READ, ALLOW)]);
    assert_eq!(describe(&mut c, describe_all()).await.unwrap().len(), 4);
    b.stop().await;
}

#[tokio::test]
async fn acl_apis_need_an_authorizer() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    assert_eq!(describe(&mut c, describe_all()).await, Err(ResponseError::SecurityDisabled.code()));
    let results = create(&mut c, vec![alice_reads("orders")]).await;
    assert_eq!(results, vec![(ResponseError::SecurityDisabled.code(), Some("No Authorizer is configured.".into()))]);
    b.stop().await;
}

#[tokio::test]
async fn describe_quorum_reports_the_metadata_raft_group() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let hw = |r: &DescribeQuorumResponse| r.topics[0].partitions[0].high_watermark;
    let ResponseKind::DescribeQuorum(before) = c.send(2, RequestKind::DescribeQuorum(metadata_quorum())).await else {
        panic!()
    };
    let p = &before.topics[0].partitions[0];
    assert_eq!((p.error_code, p.leader_id.0), (0, 1));
    assert!(p.leader_epoch >= 1, "raft term {}", p.leader_epoch);
    let voters: Vec<(i32, bool)> =
        p.current_voters.iter().map(|v| (v.replica_id.0, v.log_end_offset >= p.high_watermark)).collect();
    assert_eq!(voters, vec![(1, true)]);
    assert!(p.observers.is_empty());
    let nodes: Vec<i32> = before.nodes.iter().map(|n| n.node_id.0).collect();
    assert_eq!(nodes, vec![1]);
    assert_eq!(before.nodes[0].listeners[0].port, b.addr.port());

    // A metadata change moves the high watermark.
    create_topic(&mut c, "quorum-moves", 1).await;
    let ResponseKind::DescribeQuorum(after) = c.send(2, RequestKind::DescribeQuorum(metadata_quorum())).await else {
        panic!()
    };
    assert!(hw(&after) > hw(&before), "{} then {}", hw(&before), hw(&after));

    let other = metadata_quorum().with_topics(vec![
        describe_quorum_request::TopicData::default()
            .with_topic_name(name("quorum-moves"))
            .with_partitions(vec![describe_quorum_request::PartitionData::default()]),
    ]);
    let ResponseKind::DescribeQuorum(r) = c.send(2, RequestKind::DescribeQuorum(other)).await else { panic!() };
    assert_eq!(r.topics[0].partitions[0].error_code, ResponseError::UnknownTopicOrPartition.code());
    b.stop().await;
}
