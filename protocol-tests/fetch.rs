//! Fetch: long poll, byte limits, out-of-range, topic ids.

use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;

use crate::common::*;

#[tokio::test]
async fn long_poll_wakes_on_new_data() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "poll", 1).await;
    let addr = b.addr;
    let waiter = tokio::spawn(async move {
        let mut c = Client::connect(addr).await;
        let ResponseKind::Fetch(f) = c.send(12, RequestKind::Fetch(fetch_request("poll", 0, 0, 15_000, 1))).await
        else {
            unreachable!()
        };
        f
    });
    // The waiter is parked until data arrives; produce once it has had a chance to park.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiter.is_finished(), "fetch with min_bytes=1 on an empty partition waits");
    assert_eq!(produce(&mut c, 9, "poll", 0, batch(2, -1, -1, -1, Compression::None)).await, (0, 0));
    let f = tokio::time::timeout(Duration::from_secs(10), waiter).await.expect("woken well before max_wait").unwrap();
    let p = &f.responses[0].partitions[0];
    assert_eq!(decode_records(&p.records).len(), 2);
    b.stop().await;
}

#[tokio::test]
async fn empty_fetch_returns_after_max_wait() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "idle", 1).await;
    let ResponseKind::Fetch(f) = c.send(12, RequestKind::Fetch(fetch_request("idle", 0, 0, 100, 1))).await else {
        unreachable!()
    };
    let p = &f.responses[0].partitions[0];
    assert_eq!((p.error_code, p.high_watermark), (0, 0));
    assert!(decode_records(&p.records).is_empty());
    b.stop().await;
}

#[tokio::test]
async fn limits_out_of_range_and_topic_ids() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let id = create_topic(&mut c, "limits", 1).await;
    for _ in 0..3 {
        produce(&mut c, 9, "limits", 0, batch(10, -1, -1, -1, Compression::None)).await;
    }
    // partition_max_bytes smaller than one batch: that whole batch still comes back, alone.
    let mut req = fetch_request("limits", 0, 12, 0, 0);
    req.topics[0].partitions[0].partition_max_bytes = 10;
    let ResponseKind::Fetch(f) = c.send(4, RequestKind::Fetch(req)).await else { unreachable!() };
    let recs = decode_records(&f.responses[0].partitions[0].records);
    assert_eq!((recs.first().unwrap().offset, recs.len()), (10, 10));

    let ResponseKind::Fetch(f) = c.send(12, RequestKind::Fetch(fetch_request("limits", 0, 31, 0, 0))).await else {
        unreachable!()
    };
    assert_eq!(f.responses[0].partitions[0].error_code, ResponseError::OffsetOutOfRange.code());
    let ResponseKind::Fetch(f) = c.send(12, RequestKind::Fetch(fetch_request("limits", 3, 0, 0, 0))).await else {
        unreachable!()
    };
    assert_eq!(f.responses[0].partitions[0].error_code, ResponseError::UnknownTopicOrPartition.code());

    let mut by_id = fetch_request("", 0, 0, 0, 0);
    by_id.topics[0].topic_id = id;
    let mut unknown = by_id.topics[0].clone();
    unknown.topic_id = uuid::Uuid::from_u128(42);
    by_id.topics.push(unknown);
    let ResponseKind::Fetch(f) = c.send(18, RequestKind::Fetch(by_id)).await else { unreachable!() };
    assert_eq!(f.responses[0].topic_id, id);
    assert_eq!(f.responses[0].partitions[0].high_watermark, 30);
    assert_eq!(decode_records(&f.responses[0].partitions[0].records).len(), 30);
    assert_eq!(f.responses[1].partitions[0].error_code, ResponseError::UnknownTopicId.code());
    b.stop().await;
}

#[tokio::test]
async fn incremental_sessions_answer_only_news() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    let id = create_topic(&mut c, "sess", 2).await;
    produce(&mut c, 9, "sess", 0, batch(3, -1, -1, -1, Compression::None)).await;
    // Full fetch opening a session (epoch 0), both partitions, by topic id.
    let mut req = fetch_request("", 0, 0, 0, 0);
    req.topics[0].topic_id = id;
    let mut p1 = req.topics[0].partitions[0].clone();
    p1.partition = 1;
    req.topics[0].partitions.push(p1);
    req.session_id = 0;
    req.session_epoch = 0;
    let ResponseKind::Fetch(f) = c.send(17, RequestKind::Fetch(req.clone())).await else { unreachable!() };
    assert_ne!(f.session_id, 0, "a session was created");
    assert_eq!(f.responses[0].partitions.len(), 2);
    let session = f.session_id;
    // Incremental, nothing changed: the client moves its offset on partition 0; no news at all.
    let mut inc = req.clone();
    inc.session_id = session;
    inc.session_epoch = 1;
    inc.topics[0].partitions = vec![{
        let mut p = req.topics[0].partitions[0].clone();
        p.fetch_offset = 3;
        p
    }];
    let ResponseKind::Fetch(f) = c.send(17, RequestKind::Fetch(inc.clone())).await else { unreachable!() };
    assert_eq!((f.error_code, f.session_id), (0, session));
    assert!(f.responses.iter().all(|t| t.partitions.is_empty()), "no news: {:?}", f.responses);
    // New data on partition 1 only: only partition 1 comes back.
    produce(&mut c, 9, "sess", 1, batch(2, -1, -1, -1, Compression::None)).await;
    let mut inc2 = inc.clone();
    inc2.session_epoch = 2;
    inc2.topics.clear();
    let ResponseKind::Fetch(f) = c.send(17, RequestKind::Fetch(inc2)).await else { unreachable!() };
    let parts: Vec<_> = f.responses.iter().flat_map(|t| t.partitions.iter()).collect();
    assert_eq!(parts.len(), 1);
    assert_eq!((parts[0].partition_index, decode_records(&parts[0].records).len()), (1, 2));
    // A stale epoch is refused.
    let ResponseKind::Fetch(f) = c.send(17, RequestKind::Fetch(inc)).await else { unreachable!() };
    assert_eq!(f.error_code, ResponseError::InvalidFetchSessionEpoch.code());
    b.stop().await;
}
