//! Each per-client limit, hit on purpose: the offending client gets Kafka's answer (a closed
//! connection, or its request read later) and every other client is served.

use std::time::{Duration, Instant};

use crate::common::*;

/// Generous: these wait for a close or an answer that must come; a hang fails the test.
const DEADLINE: Duration = Duration::from_secs(20);

/// Polls `cond` until it holds, failing the test after `DEADLINE`.
async fn until(cond: impl Fn() -> bool, what: &str) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn serves(c: &mut Client) -> bool {
    api_versions(c, 3).await.error_code == 0
}

/// ApiVersions v3 as raw bytes (size prefix included), to send in pieces.
fn api_versions_frame() -> Vec<u8> {
    use bytes::BytesMut;
    use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestHeader};
    use kafka_protocol::protocol::Encodable;
    let mut h = RequestHeader::default();
    h.request_api_key = ApiKey::ApiVersions as i16;
    h.request_api_version = 3;
    h.correlation_id = 42;
    let mut body = BytesMut::new();
    h.encode(&mut body, ApiKey::ApiVersions.request_header_version(3)).unwrap();
    ApiVersionsRequest::default()
        .with_client_software_name(s("limits"))
        .with_client_software_version(s("1"))
        .encode(&mut body, 3)
        .unwrap();
    let mut framed = (body.len() as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(&body);
    framed
}

#[tokio::test]
async fn connections_over_max_connections_per_ip_are_closed() {
    let b = TestBroker::start_with(&["max.connections.per.ip=3"]).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = b.client().await;
        assert!(serves(&mut c).await);
        held.push(c);
    }
    let mut fourth = b.client().await;
    assert!(fourth.is_closed().await, "the fourth connection from 127.0.0.1 is closed");
    // A slot comes back when a connection ends; the broker notices the close asynchronously.
    drop(held.pop());
    let start = Instant::now();
    loop {
        let mut c = b.client().await;
        c.write_raw(&api_versions_frame()).await;
        if c.read_frame().await.is_some() {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "the freed slot was never given back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.stop().await;
}

#[tokio::test]
async fn an_override_raises_the_limit_for_its_address() {
    let b = TestBroker::start_with(&["max.connections.per.ip=1", "max.connections.per.ip.overrides=127.0.0.1:4"]).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut c = b.client().await;
        assert!(serves(&mut c).await);
        held.push(c);
    }
    let mut fifth = b.client().await;
    assert!(fifth.is_closed().await, "the override is a limit too");
    b.stop().await;
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_connections_max_idle_ms() {
    let b = TestBroker::start_with(&["connections.max.idle.ms=300"]).await;
    let mut busy = b.client().await;
    let mut idle = b.client().await;
    assert!(serves(&mut idle).await);
    let start = Instant::now();
    // The busy client keeps talking within the limit and stays open.
    while start.elapsed() < Duration::from_millis(900) {
        assert!(serves(&mut busy).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(idle.is_closed().await, "the silent connection is closed");
    assert!(serves(&mut busy).await);
    b.stop().await;
}

#[tokio::test]
async fn a_request_that_trickles_in_is_cut_off_and_others_are_served() {
    let b = TestBroker::start_with(&["gregor.request.read.timeout.ms=500"]).await;
    let frame = api_versions_frame();
    let mut slow = b.client().await;
    // One byte every 100 ms: the whole frame would take seconds.
    let trickle = async {
        for byte in &frame {
            slow.write_raw(&[*byte]).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), trickle).await;
    assert!(slow.is_closed().await, "the trickling connection is closed");
    let mut other = b.client().await;
    assert!(serves(&mut other).await);
    b.stop().await;
}

#[tokio::test]
async fn requests_wait_while_queued_max_request_bytes_is_taken() {
    let frame = api_versions_frame();
    let need = frame.len() - 4; // what an ApiVersions request takes of the budget
    let b = TestBroker::start_with(&["queued.max.request.bytes=200", "gregor.request.read.timeout.ms=20000"]).await;
    // A 150-byte frame announced and partly sent holds 150 of the 200 bytes while it arrives.
    let mut holder = b.client().await;
    let mut big = 150u32.to_be_bytes().to_vec();
    big.extend_from_slice(&[0u8; 40]);
    holder.write_raw(&big).await;
    until(|| b.queued_bytes_available() == 50, "the holder takes 150 bytes").await;
    // A request that fits in what is left is served.
    assert!(need < 50, "ApiVersions takes {need} bytes");
    let mut small = b.client().await;
    assert!(serves(&mut small).await);
    // A second frame leaves one byte too few for another ApiVersions.
    let mut second = b.client().await;
    let claim = 50 - (need - 1);
    let mut partial = (claim as u32).to_be_bytes().to_vec();
    partial.push(0);
    second.write_raw(&partial).await;
    until(|| b.queued_bytes_available() == need - 1, "the second frame takes its bytes").await;
    let mut waiting = b.client().await;
    waiting.write_raw(&frame).await;
    let early = tokio::time::timeout(Duration::from_millis(500), waiting.read_frame()).await;
    assert!(early.is_err(), "answered although the budget was taken");
    // The first holder hangs up: its 150 bytes come back and the waiting request is read.
    drop(holder);
    assert!(waiting.read_frame().await.is_some(), "answered once the budget came back");
    drop(second);
    until(|| b.queued_bytes_available() == 200, "every byte comes back").await;
    b.stop().await;
}
