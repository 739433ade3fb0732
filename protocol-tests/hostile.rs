//! Requests that lie about their own sizes. A count or length on the wire must never size an
//! allocation by itself: the broker answers or closes that one connection and keeps serving.
//! Before the decoders were bounded, each of these aborted the whole process (the test binary
//! with it) with "memory allocation of N bytes failed".

use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::Compression;

use crate::common::*;
use crate::coverage::sample;

/// How long a mutated request may keep a connection before the sweep moves on (a mutation can
/// turn a field into a long-poll wait or a rebalance timeout; those are legal).
const ANSWER_WAIT: Duration = Duration::from_millis(300);

async fn still_serves(b: &TestBroker, what: &str) {
    let mut c = b.client().await;
    let r = tokio::time::timeout(Duration::from_secs(10), api_versions(&mut c, 3)).await;
    assert!(matches!(r, Ok(ref r) if r.error_code == 0), "broker stopped serving after {what}");
}

#[tokio::test]
async fn metadata_v4_claiming_2_pow_31_topics_closes_only_its_connection() {
    let b = TestBroker::start().await;
    // The 18-byte reproducer: size 14, api key 3, version 4, correlation id 7, null client id,
    // topics count 0x7fffffff and no topics.
    let frame = [0, 0, 0, 14, 0, 3, 0, 4, 0, 0, 0, 7, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff];
    let mut c = b.client().await;
    c.write_raw(&frame).await;
    assert!(c.is_closed().await, "a request shorter than its own count is refused");
    still_serves(&b, "the reproducer").await;
    b.stop().await;
}

/// The encoded request (header and body) of the coverage sample of `key` at `version`.
fn encoded(key: ApiKey, version: i16, topic_id: uuid::Uuid) -> BytesMut {
    let mut header = RequestHeader::default();
    header.request_api_key = key as i16;
    header.request_api_version = version;
    header.correlation_id = 1;
    header.client_id = Some(StrBytes::from_static_str("hostile"));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, key.request_header_version(version)).unwrap();
    sample(key, version, topic_id).encode(&mut buf, version).unwrap();
    buf
}

/// Counts as each encoding writes them: int32 and int16 at their largest, and the unsigned
/// varint of a compact array or string at 2^32 - 1.
const HUGE_COUNTS: [&[u8]; 3] = [&[0x7f, 0xff, 0xff, 0xff], &[0x7f, 0xff], &[0xff, 0xff, 0xff, 0xff, 0x0f]];

#[tokio::test]
async fn every_count_of_every_api_can_claim_too_much() {
    let b = TestBroker::start().await;
    let mut setup = b.client().await;
    let topic_id = create_topic(&mut setup, "cover", 1).await;
    let mut frames = 0usize;
    for api in gregor::server::apis::SUPPORTED {
        for version in [api.served.0, api.served.1] {
            let request = encoded(api.key, version, topic_id);
            let mut c = b.client().await;
            // Every position of the header's client id and of the body: one of them is each
            // array, map, string and record count this request has.
            for at in 8..request.len() {
                for huge in HUGE_COUNTS {
                    let mut m = request.to_vec();
                    let end = (at + huge.len()).min(m.len());
                    m[at..end].copy_from_slice(&huge[..end - at]);
                    frames += 1;
                    let mut framed = (m.len() as u32).to_be_bytes().to_vec();
                    framed.extend_from_slice(&m);
                    c.write_raw(&framed).await;
                    // An answer, a close or a wait are all fine; only the process matters.
                    let answered = tokio::time::timeout(ANSWER_WAIT, c.read_frame()).await;
                    if !matches!(answered, Ok(Some(_))) {
                        c = b.client().await;
                    }
                }
            }
            still_serves(&b, &format!("{:?} v{version}", api.key)).await;
        }
    }
    assert!(frames > 10_000, "the sweep sent {frames} frames");
    b.stop().await;
}

/// Creates `topic` with one partition and one config.
async fn create_with(c: &mut Client, topic: &str, key: &str, value: &str) {
    use kafka_protocol::messages::*;
    let mut cfg = create_topics_request::CreatableTopicConfig::default();
    cfg.name = s(key);
    cfg.value = Some(s(value));
    let mut t = create_topics_request::CreatableTopic::default();
    t.name = name(topic);
    t.num_partitions = 1;
    t.replication_factor = 1;
    t.configs = vec![cfg];
    let req = CreateTopicsRequest::default().with_topics(vec![t]).with_timeout_ms(5000);
    let ResponseKind::CreateTopics(r) = c.send(7, RequestKind::CreateTopics(req)).await else { unreachable!() };
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
}

/// A zstd batch of 80 keyed records of 1 MiB of zeros each: 80 MiB that compress to kilobytes.
fn inflating_batch() -> bytes::Bytes {
    use kafka_protocol::records::*;
    let zeros = bytes::Bytes::from(vec![0u8; 1 << 20]);
    let records: Vec<Record> = (0..80)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i,
            sequence: i as i32 - 1,
            timestamp: kafka_now_ms(),
            key: Some(bytes::Bytes::from(format!("k{i}"))),
            value: Some(zeros.clone()),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions { version: 2, compression: Compression::Zstd };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &opts).unwrap();
    buf.freeze()
}

fn kafka_now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test]
async fn a_batch_that_inflates_past_the_bound_is_refused_where_the_broker_looks_inside() {
    use kafka_protocol::ResponseError;
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    // Compacted topics decode every batch for its keys; compression.type=gzip re-encodes it.
    create_with(&mut c, "bomb-compacted", "cleanup.policy", "compact").await;
    create_with(&mut c, "bomb-gzip", "compression.type", "gzip").await;
    let bomb = inflating_batch();
    assert!(bomb.len() < 1 << 20, "the batch is {} bytes on the wire", bomb.len());
    for topic in ["bomb-compacted", "bomb-gzip"] {
        let pr = produce_partition(&mut c, 9, topic, 0, bomb.clone()).await;
        assert_eq!(pr.error_code, ResponseError::MessageTooLarge.code(), "{topic}: {:?}", pr.error_message);
        let msg = pr.error_message.map(|m| m.to_string()).unwrap_or_default();
        assert!(msg.contains("decompresses to more than"), "{topic}: {msg}");
    }
    // A topic that stores batches as they come never inflates them.
    create_topic(&mut c, "bomb-plain", 1).await;
    assert_eq!(produce(&mut c, 9, "bomb-plain", 0, bomb).await, (0, 0));
    b.stop().await;
}

#[tokio::test]
async fn clients_cannot_write_the_coordinators_logs() {
    use kafka_protocol::ResponseError;
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    // The offsets topic exists once a group has asked for its coordinator.
    let find = kafka_protocol::messages::FindCoordinatorRequest::default().with_key(s("g"));
    c.send(3, RequestKind::FindCoordinator(find)).await;
    for topic in ["__consumer_offsets"] {
        let pr = produce_partition(&mut c, 9, topic, 0, batch(1, -1, -1, -1, Compression::None)).await;
        assert_eq!(pr.error_code, ResponseError::InvalidTopicException.code(), "{topic}");
    }
    b.stop().await;
}
