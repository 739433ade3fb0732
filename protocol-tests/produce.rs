//! Produce: offsets, every codec, validation errors, idempotent sequences, durability.

use bytes::BytesMut;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;

use crate::common::*;

#[tokio::test]
async fn offsets_are_dense_across_codecs_and_survive_restart() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "codecs", 1).await;
    let mut expected = 0;
    for (i, codec) in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd]
        .into_iter()
        .enumerate()
    {
        let version = if i % 2 == 0 { 3 } else { 12 };
        assert_eq!(produce(&mut c, version, "codecs", 0, batch(4, -1, -1, -1, codec)).await, (0, expected));
        expected += 4;
    }
    drop(c);
    b.restart().await;
    let mut c = b.client().await;
    let ResponseKind::Fetch(f) = c.send(12, RequestKind::Fetch(fetch_request("codecs", 0, 0, 0, 0))).await else {
        unreachable!()
    };
    let p = &f.responses[0].partitions[0];
    assert_eq!(p.high_watermark, 20);
    let recs = decode_records(&p.records);
    assert_eq!(recs.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..20).collect::<Vec<_>>());
    assert_eq!(recs[5].value.as_deref(), Some(&b"value-1"[..]));
    assert_eq!(produce(&mut c, 9, "codecs", 0, batch(1, -1, -1, -1, Compression::None)).await, (0, 20));
    b.stop().await;
}

#[tokio::test]
async fn bad_batches_get_their_error_codes() {
    let b = TestBroker::start_with(&["message.max.bytes=2000"]).await;
    let mut c = b.client().await;
    create_topic(&mut c, "strict", 2).await;
    let mut corrupt = BytesMut::from(&batch(3, -1, -1, -1, Compression::None)[..]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    assert_eq!(produce(&mut c, 9, "strict", 0, corrupt.freeze()).await.0, ResponseError::CorruptMessage.code());
    assert_eq!(
        produce(&mut c, 9, "strict", 0, batch(200, -1, -1, -1, Compression::None)).await.0,
        ResponseError::MessageTooLarge.code()
    );
    assert_eq!(
        produce(&mut c, 9, "strict", 7, batch(1, -1, -1, -1, Compression::None)).await.0,
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert_eq!(
        produce(&mut c, 9, "nowhere", 0, batch(1, -1, -1, -1, Compression::None)).await.0,
        ResponseError::UnknownTopicOrPartition.code()
    );
    let truncated = batch(3, -1, -1, -1, Compression::None).slice(..40);
    assert_eq!(produce(&mut c, 9, "strict", 0, truncated).await.0, ResponseError::CorruptMessage.code());
    // Nothing of the above was written; a good batch still lands at 0.
    assert_eq!(produce(&mut c, 9, "strict", 0, batch(2, -1, -1, -1, Compression::None)).await, (0, 0));
    b.stop().await;
}

#[tokio::test]
async fn one_bad_partition_does_not_fail_the_request() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "mixed", 2).await;
    let mut good = produce_request::PartitionProduceData::default();
    good.index = 0;
    good.records = Some(batch(2, -1, -1, -1, Compression::None));
    let mut bad = produce_request::PartitionProduceData::default();
    bad.index = 1;
    bad.records = Some(batch(2, -1, -1, -1, Compression::None).slice(..30));
    let mut t = produce_request::TopicProduceData::default();
    t.name = name("mixed");
    t.partition_data = vec![good, bad];
    let mut req = ProduceRequest::default();
    req.acks = 1;
    req.topic_data = vec![t];
    let ResponseKind::Produce(r) = c.send(9, RequestKind::Produce(req)).await else { unreachable!() };
    let parts = &r.responses[0].partition_responses;
    assert_eq!((parts[0].error_code, parts[0].base_offset), (0, 0));
    assert_eq!(parts[1].error_code, ResponseError::CorruptMessage.code());
    b.stop().await;
}

#[tokio::test]
async fn acks_zero_gets_no_response_but_is_written() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "fire", 1).await;
    let mut p = produce_request::PartitionProduceData::default();
    p.records = Some(batch(5, -1, -1, -1, Compression::None));
    let mut t = produce_request::TopicProduceData::default();
    t.name = name("fire");
    t.partition_data = vec![p];
    let mut req = ProduceRequest::default();
    req.acks = 0;
    req.topic_data = vec![t];
    // Send without waiting for a response, then a fetch on the same connection answers first.
    let mut header = RequestHeader::default();
    header.request_api_key = ApiKey::Produce as i16;
    header.request_api_version = 9;
    header.correlation_id = 1000;
    let mut buf = BytesMut::new();
    use kafka_protocol::protocol::Encodable;
    header.encode(&mut buf, ApiKey::Produce.request_header_version(9)).unwrap();
    req.encode(&mut buf, 9).unwrap();
    let mut frame = (buf.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&buf);
    c.write_raw(&frame).await;
    let ResponseKind::Fetch(f) = c.send(12, RequestKind::Fetch(fetch_request("fire", 0, 0, 5000, 1))).await else {
        unreachable!()
    };
    assert_eq!(f.responses[0].partitions[0].high_watermark, 5);
    b.stop().await;
}

#[tokio::test]
async fn idempotent_retries_gaps_and_fencing() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "idem", 1).await;
    let mut req = InitProducerIdRequest::default();
    req.transactional_id = None;
    req.transaction_timeout_ms = 60000;
    req.producer_id = ProducerId(-1);
    req.producer_epoch = -1;
    let ResponseKind::InitProducerId(r) = c.send(4, RequestKind::InitProducerId(req.clone())).await else {
        unreachable!()
    };
    assert_eq!(r.error_code, 0);
    let pid = r.producer_id.0;
    let ResponseKind::InitProducerId(r2) = c.send(0, RequestKind::InitProducerId(req)).await else { unreachable!() };
    assert_ne!(r2.producer_id.0, pid, "each producer gets its own id");

    assert_eq!(produce(&mut c, 9, "idem", 0, batch(3, pid, 0, 0, Compression::None)).await, (0, 0));
    assert_eq!(produce(&mut c, 9, "idem", 0, batch(2, pid, 0, 3, Compression::None)).await, (0, 3));
    // A retry of the first batch is acknowledged with its original offset, not appended.
    assert_eq!(produce(&mut c, 9, "idem", 0, batch(3, pid, 0, 0, Compression::None)).await, (0, 0));
    let gap = produce(&mut c, 9, "idem", 0, batch(1, pid, 0, 9, Compression::None)).await;
    assert_eq!(gap.0, ResponseError::OutOfOrderSequenceNumber.code());
    // Producer state survives a restart.
    drop(c);
    b.restart().await;
    let mut c = b.client().await;
    assert_eq!(produce(&mut c, 9, "idem", 0, batch(2, pid, 0, 3, Compression::None)).await, (0, 3));
    assert_eq!(produce(&mut c, 9, "idem", 0, batch(1, pid, 1, 0, Compression::None)).await, (0, 5));
    let stale = produce(&mut c, 9, "idem", 0, batch(1, pid, 0, 5, Compression::None)).await;
    assert_eq!(stale.0, ResponseError::InvalidProducerEpoch.code());
    let ResponseKind::Fetch(f) = c.send(12, RequestKind::Fetch(fetch_request("idem", 0, 0, 0, 0))).await else {
        unreachable!()
    };
    assert_eq!(f.responses[0].partitions[0].high_watermark, 6);
    b.stop().await;
}
