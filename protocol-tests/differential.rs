//! Differential run against Apache Kafka: the requests of the min/max version sweep
//! (`coverage::sample`) go, in the same order, to a Kafka broker named by PROTOCOL_TESTS_KAFKA
//! (host:port) and to an in-process gregor; the responses are compared field by field after
//! normalizing what legitimately differs (ids, hosts, timestamps, throttle times, raw record
//! bytes). Differences listed in `differential-known.txt` (API, version, field path prefix,
//! reason) are printed; any other fails. `protocol-tests/differential` starts Kafka and runs it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use kafka_protocol::messages::*;

use crate::common::*;
use crate::coverage::sample;

/// Fields whose values differ between any two brokers (last path component).
const NORMALIZED: &[&str] = &[
    "throttle_time_ms",
    "node_id",
    "leader_id",
    "controller_id",
    "cluster_id",
    "topic_id",
    "host",
    "port",
    "broker_id",
    "producer_id",
    "member_id",
    "leader",
    "session_id",
    "log_append_time_ms",
    "timestamp",
    "max_timestamp",
    "transaction_start_time_ms",
    "last_timestamp",
    "records",
    "error_message",
    "client_host",
    "log_dir",
    "total_bytes",
    "usable_bytes",
    "partition_size",
    "unknown_tagged_fields",
    "coordinator_epoch",
    "current_txn_start_offset",
    "last_fetch_timestamp",
    "last_caught_up_timestamp",
];

/// Flattens a pretty Debug rendering into (field path, value) pairs; list items get indices.
fn flatten(debug: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    // (indent, name, next unnamed index)
    let mut stack: Vec<(usize, String, usize)> = Vec::new();
    for line in debug.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim().trim_end_matches(',');
        while stack.last().is_some_and(|(i, _, _)| *i >= indent) {
            stack.pop();
        }
        if matches!(t, "}" | "]" | ")") {
            continue;
        }
        let (name, value) = match t.split_once(": ") {
            Some((n, v)) if !n.contains(' ') && !n.contains('(') => (n.to_string(), v.to_string()),
            _ => {
                let idx = stack.last_mut().map_or(0, |f| {
                    f.2 += 1;
                    f.2 - 1
                });
                (idx.to_string(), t.to_string())
            }
        };
        let path: Vec<&str> = stack.iter().map(|(_, n, _)| n.as_str()).chain([name.as_str()]).collect();
        let path = path.join(".");
        let normalized = NORMALIZED.contains(&name.as_str());
        if value.ends_with('{') || value.ends_with('[') || value.ends_with('(') {
            if normalized {
                out.insert(path.clone(), "<normalized>".into());
            }
            stack.push((indent, name, 0));
            if normalized {
                // Skip the subtree: everything deeper than this line.
                stack.last_mut().unwrap().1 = format!("{}#skip", stack.last().unwrap().1);
            }
            continue;
        }
        if stack.iter().any(|(_, n, _)| n.ends_with("#skip")) {
            continue;
        }
        out.insert(path, if normalized { "<normalized>".into() } else { value });
    }
    out
}

/// Fields that identify a list item: items are keyed by them instead of their position.
const ITEM_KEYS: &[&str] = &["name", "group_id", "partition_index", "transactional_id"];

/// Re-keys list items by their identifying field (`configs.3.x` -> `configs[retention.ms].x`),
/// so that lists in another order compare equal item by item.
fn key_by_name(flat: BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut renames: Vec<(String, String)> = flat
        .iter()
        .filter_map(|(k, v)| {
            let (item, field) = k.rsplit_once('.')?;
            if !ITEM_KEYS.contains(&field) {
                return None;
            }
            let (list, idx) = item.rsplit_once('.')?;
            idx.parse::<usize>().ok()?;
            Some((format!("{item}."), format!("{list}[{}].", v.trim_matches('"'))))
        })
        .collect();
    // Deepest first, so a nested list is renamed before its parent.
    renames.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    flat.into_iter()
        .map(|(k, v)| {
            let mut key = k.clone();
            for (from, to) in &renames {
                if let Some(rest) = key.strip_prefix(from.as_str()) {
                    key = format!("{to}{rest}");
                } else if key == from.trim_end_matches('.') {
                    key = to.trim_end_matches('.').to_string();
                }
            }
            (key, v)
        })
        .collect()
}

struct Known {
    api: String,
    version: String,
    path: String,
}

fn known() -> Vec<(Known, String)> {
    include_str!("differential-known.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut it = l.splitn(4, ' ');
            let k = Known {
                api: it.next().unwrap_or_default().into(),
                version: it.next().unwrap_or_default().into(),
                path: it.next().unwrap_or_default().into(),
            };
            (k, it.next().unwrap_or_default().trim().to_string())
        })
        .collect()
}

fn is_known(list: &[(Known, String)], api: &str, version: i16, path: &str) -> Option<String> {
    list.iter()
        .find(|(k, _)| {
            (k.api == "*" || k.api == api)
                && (k.version == "*" || k.version == version.to_string())
                && (k.path == "*" || path.starts_with(&k.path))
        })
        .map(|(_, why)| why.clone())
}

/// Waits until Kafka's group and transaction coordinators answer (it creates and loads their
/// internal topics asynchronously), so that the sweep compares behaviour, not start-up timing.
async fn warm_up(c: &mut Client) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for key_type in [0i8, 1] {
        loop {
            let req =
                FindCoordinatorRequest::default().with_key_type(key_type).with_coordinator_keys(vec![s("cover-txn")]);
            if let ResponseKind::FindCoordinator(r) = c.send(4, RequestKind::FindCoordinator(req)).await
                && r.coordinators.iter().all(|x| x.error_code == 0)
            {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "Kafka's coordinators did not come up");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    loop {
        let req = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(s("warm-up"))))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        if let ResponseKind::InitProducerId(r) = c.send(4, RequestKind::InitProducerId(req)).await
            && r.error_code == 0
        {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "Kafka's transaction coordinator did not load");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until a new topic has a leader (Kafka propagates metadata asynchronously).
async fn wait_leader(c: &mut Client, topic: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let req = MetadataRequest::default()
            .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default().with_name(Some(name(topic)))]));
        if let ResponseKind::Metadata(r) = c.send(12, RequestKind::Metadata(req)).await
            && r.topics.first().is_some_and(|t| t.error_code == 0 && t.partitions.iter().all(|p| p.leader_id.0 >= 0))
        {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{topic} has no leader on the reference broker");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
#[ignore = "needs Apache Kafka: run protocol-tests/differential"]
async fn responses_match_apache_kafka() {
    let kafka: SocketAddr = std::env::var("PROTOCOL_TESTS_KAFKA")
        .expect("PROTOCOL_TESTS_KAFKA=host:port names the Apache Kafka broker")
        .parse()
        .expect("PROTOCOL_TESTS_KAFKA is host:port");
    let b = TestBroker::start_with(&[
        "group.initial.rebalance.delay.ms=0",
        "offsets.topic.num.partitions=1",
        "transaction.state.log.num.partitions=1",
    ])
    .await;
    let mut g = b.client().await;
    let mut k = Client::connect(kafka).await;
    let g_topic = create_topic(&mut g, "cover", 1).await;
    let k_topic = create_topic(&mut k, "cover", 1).await;
    wait_leader(&mut k, "cover").await;
    warm_up(&mut k).await;
    warm_up(&mut g).await;
    let list = known();
    let (mut unexplained, mut explained) = (Vec::new(), 0);
    for api in gregor::server::apis::SUPPORTED {
        for version in [api.served.0, api.served.1] {
            let theirs = k.send(version, sample(api.key, version, k_topic)).await;
            let ours = g.send(version, sample(api.key, version, g_topic)).await;
            let (a, b) = (key_by_name(flatten(&format!("{theirs:#?}"))), key_by_name(flatten(&format!("{ours:#?}"))));
            let name = format!("{:?}", api.key);
            for path in a.keys().chain(b.keys()).collect::<std::collections::BTreeSet<_>>() {
                let (x, y) = (a.get(path), b.get(path));
                if x == y {
                    continue;
                }
                let line = format!("{name} v{version} {path}: kafka {x:?}, gregor {y:?}");
                match is_known(&list, &name, version, path) {
                    Some(why) => {
                        explained += 1;
                        println!("known   {line} ({why})");
                    }
                    None => unexplained.push(line),
                }
            }
        }
    }
    println!("{explained} known differences");
    for l in &unexplained {
        println!("UNKNOWN {l}");
    }
    assert!(unexplained.is_empty(), "{} unexplained differences from Apache Kafka (see above)", unexplained.len());
    b.stop().await;
}

#[tokio::test]
#[ignore = "needs Apache Kafka: run protocol-tests/differential"]
async fn commits_by_group_state_match_apache_kafka() {
    // The same scenario that gregor's own test runs, with Kafka's answers asserted.
    let kafka: SocketAddr = std::env::var("PROTOCOL_TESTS_KAFKA")
        .expect("PROTOCOL_TESTS_KAFKA=host:port names the Apache Kafka broker")
        .parse()
        .expect("PROTOCOL_TESTS_KAFKA is host:port");
    crate::groups::commits_by_group_state(kafka, "commit-states", "g-commit-states").await;
}

#[test]
fn flattening_names_nested_fields_and_list_items() {
    let text = "Resp {\n    a: 1,\n    items: [\n        Item {\n            x: 2,\n            node_id: 7,\n        },\n        Item {\n            x: 3,\n            records: Some(\n                b\"zz\",\n            ),\n        },\n    ],\n}";
    let f = flatten(text);
    assert_eq!(f.get("0.a").map(String::as_str), Some("1"), "{f:?}");
    assert_eq!(f.get("0.items.1.x").map(String::as_str), Some("3"), "{f:?}");
    assert_eq!(f.get("0.items.0.node_id").map(String::as_str), Some("<normalized>"), "{f:?}");
    assert!(!f.values().any(|v| v.contains("zz")), "normalized subtrees are skipped: {f:?}");
}
