use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;

use crate::common::*;

async fn list(c: &mut Client, version: i16, topic: &str, partition: i32, ts: i64) -> (i16, i64, i64) {
    let mut p = list_offsets_request::ListOffsetsPartition::default();
    p.partition_index = partition;
    p.timestamp = ts;
    let mut t = list_offsets_request::ListOffsetsTopic::default();
    t.name = name(topic);
    t.partitions = vec![p];
    let mut req = ListOffsetsRequest::default();
    req.replica_id = BrokerId(-1);
    req.topics = vec![t];
    let ResponseKind::ListOffsets(r) = c.send(version, RequestKind::ListOffsets(req)).await else { unreachable!() };
    let pr = &r.topics[0].partitions[0];
    (pr.error_code, pr.offset, pr.timestamp)
}

#[tokio::test]
async fn earliest_latest_timestamp_and_max() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "times", 1).await;
    produce(&mut c, 9, "times", 0, batch(5, -1, -1, -1, Compression::Lz4)).await;
    assert_eq!(list(&mut c, 1, "times", 0, -2).await, (0, 0, -1));
    assert_eq!(list(&mut c, 10, "times", 0, -1).await, (0, 5, -1));
    // Records carry timestamps 1_700_000_000_000 + i.
    assert_eq!(list(&mut c, 7, "times", 0, 1_700_000_000_002).await, (0, 2, 1_700_000_000_002));
    assert_eq!(list(&mut c, 7, "times", 0, 1_800_000_000_000).await, (0, -1, -1));
    assert_eq!(list(&mut c, 7, "times", 0, -3).await, (0, 4, 1_700_000_000_004));
    assert_eq!(list(&mut c, 7, "times", 4, -1).await.0, ResponseError::UnknownTopicOrPartition.code());
    b.stop().await;
}
