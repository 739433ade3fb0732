//! Transactions: InitProducerId with a transactional id, AddPartitionsToTxn, AddOffsetsToTxn,
//! TxnOffsetCommit, EndTxn, read_committed fetches, timeouts and fencing.

use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;

use crate::common::*;

pub async fn init(c: &mut Client, txn: &str, timeout_ms: i32) -> (i16, i64, i16) {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s(txn))))
        .with_transaction_timeout_ms(timeout_ms)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let ResponseKind::InitProducerId(r) = c.send(4, RequestKind::InitProducerId(req)).await else { unreachable!() };
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

async fn add_partitions(c: &mut Client, txn: &str, pid: i64, epoch: i16, topic: &str, partitions: Vec<i32>) -> i16 {
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s(txn)))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![
            add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                .with_name(name(topic))
                .with_partitions(partitions),
        ]);
    let ResponseKind::AddPartitionsToTxn(r) = c.send(3, RequestKind::AddPartitionsToTxn(req)).await else {
        unreachable!()
    };
    r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
}

async fn end(c: &mut Client, txn: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    let req = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(txn)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit);
    let ResponseKind::EndTxn(r) = c.send(3, RequestKind::EndTxn(req)).await else { unreachable!() };
    r.error_code
}

async fn fetch_committed(c: &mut Client, topic: &str) -> fetch_response::PartitionData {
    let mut req = fetch_request(topic, 0, 0, 0, 0);
    req.isolation_level = 1;
    let ResponseKind::Fetch(f) = c.send(12, RequestKind::Fetch(req)).await else { unreachable!() };
    f.responses[0].partitions[0].clone()
}

#[tokio::test]
async fn commit_abort_markers_and_last_stable_offset() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "tx", 1).await;
    let (err, pid, epoch) = init(&mut c, "app", 60_000).await;
    assert_eq!((err, epoch), (0, 0));
    // Aborted transaction: 3 records, then the abort marker at offset 3.
    assert_eq!(add_partitions(&mut c, "app", pid, epoch, "tx", vec![0]).await, 0);
    assert_eq!(produce(&mut c, 9, "tx", 0, txn_batch(3, pid, epoch, 0)).await, (0, 0));
    let open = fetch_committed(&mut c, "tx").await;
    assert_eq!((open.high_watermark, open.last_stable_offset), (3, 0), "an open transaction holds the LSO");
    assert!(decode_records(&open.records).is_empty());
    assert_eq!(end(&mut c, "app", pid, epoch, false).await, 0);
    assert_eq!(end(&mut c, "app", pid, epoch, false).await, 0, "a retried EndTxn succeeds");
    assert_eq!(end(&mut c, "app", pid, epoch, true).await, ResponseError::InvalidTxnState.code());
    // Committed transaction: 2 records at 4-5, marker at 6.
    assert_eq!(add_partitions(&mut c, "app", pid, epoch, "tx", vec![0]).await, 0);
    assert_eq!(produce(&mut c, 9, "tx", 0, txn_batch(2, pid, epoch, 3)).await, (0, 4));
    assert_eq!(end(&mut c, "app", pid, epoch, true).await, 0);
    let done = fetch_committed(&mut c, "tx").await;
    assert_eq!((done.high_watermark, done.last_stable_offset), (7, 7));
    let aborted = done.aborted_transactions.clone().expect("read_committed lists aborted transactions");
    assert_eq!(aborted.len(), 1);
    assert_eq!((aborted[0].producer_id.0, aborted[0].first_offset), (pid, 0));
    // The client drops aborted records and control batches; both markers are control records.
    let recs = decode_records(&done.records);
    assert_eq!(recs.iter().filter(|r| r.control).count(), 2);
    assert_eq!(recs.iter().filter(|r| !r.control && r.offset >= 4).count(), 2);
    assert_eq!(
        add_partitions(&mut c, "app", pid, epoch, "nope", vec![0]).await,
        ResponseError::UnknownTopicOrPartition.code()
    );
    b.stop().await;
}

#[tokio::test]
async fn a_new_instance_fences_and_aborts_the_old_one() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "fence", 1).await;
    let (_, pid, e0) = init(&mut c, "app", 60_000).await;
    add_partitions(&mut c, "app", pid, e0, "fence", vec![0]).await;
    produce(&mut c, 9, "fence", 0, txn_batch(2, pid, e0, 0)).await;
    let (err, pid2, e1) = init(&mut c, "app", 60_000).await;
    assert_eq!(err, 0);
    assert_eq!(pid2, pid, "same transactional id, same producer id");
    assert!(e1 > e0);
    // The zombie's open transaction was aborted: nothing of it is readable, the LSO moved on.
    let p = fetch_committed(&mut c, "fence").await;
    assert_eq!(p.last_stable_offset, p.high_watermark);
    assert_eq!(add_partitions(&mut c, "app", pid, e0, "fence", vec![0]).await, ResponseError::ProducerFenced.code());
    assert_eq!(end(&mut c, "app", pid, e0, true).await, ResponseError::ProducerFenced.code());
    let (err, _, _) = init(&mut c, "app", 10_000_000).await;
    assert_eq!(err, ResponseError::InvalidTransactionTimeout.code());
    b.stop().await;
}

#[tokio::test]
async fn timed_out_transactions_are_aborted_even_across_a_restart() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "slow", 1).await;
    let (_, pid, epoch) = init(&mut c, "slow-app", 1_500).await;
    add_partitions(&mut c, "slow-app", pid, epoch, "slow", vec![0]).await;
    produce(&mut c, 9, "slow", 0, txn_batch(2, pid, epoch, 0)).await;
    drop(c);
    b.restart().await;
    let mut c = b.client().await;
    assert_eq!(fetch_committed(&mut c, "slow").await.last_stable_offset, 0, "still open after the restart");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let p = fetch_committed(&mut c, "slow").await;
        if p.last_stable_offset == p.high_watermark && p.high_watermark == 3 {
            assert_eq!(p.aborted_transactions.unwrap().len(), 1);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the coordinator did not abort the expired transaction");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(end(&mut c, "slow-app", pid, epoch, true).await, ResponseError::ProducerFenced.code());
    b.stop().await;
}

/// A TxnOffsetCommit of `txn` (transactional id, producer id, epoch) for one topic's partitions.
fn txn_offsets(
    txn: (&str, i64, i16),
    group: &str,
    topic: &str,
    partitions: Vec<txn_offset_commit_request::TxnOffsetCommitRequestPartition>,
) -> TxnOffsetCommitRequest {
    TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s(txn.0)))
        .with_group_id(GroupId(s(group)))
        .with_producer_id(ProducerId(txn.1))
        .with_producer_epoch(txn.2)
        .with_generation_id(-1)
        .with_topics(vec![
            txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                .with_name(name(topic))
                .with_partitions(partitions),
        ])
}

#[tokio::test]
async fn transactional_offsets_count_only_on_commit() {
    let mut b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "in", 1).await;
    let (_, pid, epoch) = init(&mut c, "etl", 60_000).await;
    let commit_offsets = |offset: i64| {
        let p = txn_offset_commit_request::TxnOffsetCommitRequestPartition::default().with_committed_offset(offset);
        txn_offsets(("etl", pid, epoch), "etl-group", "in", vec![p])
    };
    let fetch = || {
        OffsetFetchRequest::default().with_group_id(GroupId(s("etl-group"))).with_topics(Some(vec![
            offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(name("in"))
                .with_partition_indexes(vec![0]),
        ]))
    };
    for (offset, commit) in [(5, false), (9, true)] {
        let add = AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(s("etl")))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_group_id(GroupId(s("etl-group")));
        let ResponseKind::AddOffsetsToTxn(r) = c.send(3, RequestKind::AddOffsetsToTxn(add)).await else {
            unreachable!()
        };
        assert_eq!(r.error_code, 0);
        let ResponseKind::TxnOffsetCommit(r) = c.send(3, RequestKind::TxnOffsetCommit(commit_offsets(offset))).await
        else {
            unreachable!()
        };
        assert_eq!(r.topics[0].partitions[0].error_code, 0);
        let ResponseKind::OffsetFetch(f) = c.send(7, RequestKind::OffsetFetch(fetch().with_require_stable(true))).await
        else {
            unreachable!()
        };
        assert_eq!(f.error_code, 0);
        assert_eq!(
            f.topics[0].partitions[0].error_code,
            ResponseError::UnstableOffsetCommit.code(),
            "pending transactional offsets are unstable, partition by partition"
        );
        assert_eq!(end(&mut c, "etl", pid, epoch, commit).await, 0);
    }
    drop(c);
    b.restart().await;
    let mut c = b.client().await;
    let ResponseKind::OffsetFetch(f) = c.send(7, RequestKind::OffsetFetch(fetch())).await else { unreachable!() };
    assert_eq!(f.topics[0].partitions[0].committed_offset, 9, "the aborted 5 never counted, the committed 9 did");
    b.stop().await;
}

async fn write_marker(c: &mut Client, topic: &str, partition: i32, pid: i64, epoch: i16, commit: bool) -> i16 {
    let marker = write_txn_markers_request::WritableTxnMarker::default()
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_transaction_result(commit)
        .with_coordinator_epoch(0)
        .with_topics(vec![
            write_txn_markers_request::WritableTxnMarkerTopic::default()
                .with_name(name(topic))
                .with_partition_indexes(vec![partition]),
        ]);
    let req = WriteTxnMarkersRequest::default().with_markers(vec![marker]);
    let ResponseKind::WriteTxnMarkers(r) = c.send(1, RequestKind::WriteTxnMarkers(req)).await else { unreachable!() };
    r.markers[0].topics[0].partitions[0].error_code
}

/// WriteTxnMarkers, as `kafka-transactions.sh abort` sends it for a hanging transaction: the
/// abort marker ends the transaction in the partition, the last stable offset moves past it and
/// read_committed lists it as aborted; stale epochs and unknown partitions get Kafka's errors.
#[tokio::test]
async fn write_txn_markers_aborts_a_hanging_transaction() {
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "hang", 1).await;
    let (err, pid, epoch) = init(&mut c, "hanging", 60_000).await;
    assert_eq!(err, 0);
    assert_eq!(add_partitions(&mut c, "hanging", pid, epoch, "hang", vec![0]).await, 0);
    assert_eq!(produce(&mut c, 9, "hang", 0, txn_batch(3, pid, epoch, 0)).await, (0, 0));
    assert_eq!(fetch_committed(&mut c, "hang").await.last_stable_offset, 0);

    assert_eq!(
        write_marker(&mut c, "hang", 0, pid, epoch - 1, false).await,
        ResponseError::InvalidProducerEpoch.code()
    );
    // A negative producer id (no producer has one) is refused, and the broker keeps serving.
    assert_eq!(
        write_marker(&mut c, "hang", 0, -4_042_884_814, epoch, false).await,
        ResponseError::InvalidRequest.code()
    );
    assert_eq!(write_marker(&mut c, "hang", 7, pid, epoch, false).await, ResponseError::UnknownTopicOrPartition.code());
    assert_eq!(write_marker(&mut c, "nope", 0, pid, epoch, false).await, ResponseError::UnknownTopicOrPartition.code());
    assert_eq!(write_marker(&mut c, "hang", 0, pid, epoch, false).await, 0);
    let done = fetch_committed(&mut c, "hang").await;
    assert_eq!((done.high_watermark, done.last_stable_offset), (4, 4));
    let aborted = done.aborted_transactions.clone().expect("aborted transactions listed");
    assert_eq!((aborted[0].producer_id.0, aborted[0].first_offset), (pid, 0));
    b.stop().await;
}

async fn txn_state(c: &mut Client, txn: &str) -> (i16, String) {
    let req = DescribeTransactionsRequest::default().with_transactional_ids(vec![TransactionalId(s(txn))]);
    let ResponseKind::DescribeTransactions(r) = c.send(0, RequestKind::DescribeTransactions(req)).await else {
        unreachable!()
    };
    (r.transaction_states[0].error_code, r.transaction_states[0].transaction_state.to_string())
}

/// transactional.id.expiration.ms: an idle id is forgotten (also after a restart, through its
/// tombstone), while one with an open transaction is kept.
#[tokio::test]
async fn idle_transactional_ids_expire() {
    let mut b = TestBroker::start_with(&["transactional.id.expiration.ms=1500"]).await;
    let mut c = b.client().await;
    create_topic(&mut c, "exp", 1).await;
    assert_eq!(init(&mut c, "idle", 60_000).await.0, 0);
    let (err, pid, epoch) = init(&mut c, "busy", 600_000).await;
    assert_eq!(err, 0);
    assert_eq!(add_partitions(&mut c, "busy", pid, epoch, "exp", vec![0]).await, 0);
    assert_eq!(txn_state(&mut c, "idle").await.0, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if txn_state(&mut c, "idle").await.0 == ResponseError::TransactionalIdNotFound.code() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the idle transactional id did not expire");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(txn_state(&mut c, "busy").await, (0, "Ongoing".to_string()), "an open transaction is kept");
    b.restart().await;
    let mut c = b.client().await;
    assert_eq!(txn_state(&mut c, "idle").await.0, ResponseError::TransactionalIdNotFound.code());
    assert_eq!(txn_state(&mut c, "busy").await.0, 0);
    b.stop().await;
}

#[tokio::test]
async fn transactional_offsets_keep_the_metadata_limit() {
    // As OffsetCommit: metadata over offset.metadata.max.bytes (4096) is refused per partition.
    let b = TestBroker::start().await;
    let mut c = b.client().await;
    create_topic(&mut c, "in", 2).await;
    let (_, pid, epoch) = init(&mut c, "meta", 60_000).await;
    let add = AddOffsetsToTxnRequest::default()
        .with_transactional_id(TransactionalId(s("meta")))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_group_id(GroupId(s("meta-group")));
    let ResponseKind::AddOffsetsToTxn(r) = c.send(3, RequestKind::AddOffsetsToTxn(add)).await else { unreachable!() };
    assert_eq!(r.error_code, 0);
    let partition = |index: i32, metadata_len: usize| {
        txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
            .with_partition_index(index)
            .with_committed_offset(3)
            .with_committed_metadata(Some(s(&"m".repeat(metadata_len))))
    };
    let commit = txn_offsets(("meta", pid, epoch), "meta-group", "in", vec![partition(0, 4096), partition(1, 4097)]);
    let ResponseKind::TxnOffsetCommit(r) = c.send(3, RequestKind::TxnOffsetCommit(commit)).await else {
        unreachable!()
    };
    let codes: Vec<i16> = r.topics[0].partitions.iter().map(|p| p.error_code).collect();
    assert_eq!(codes, vec![0, ResponseError::OffsetMetadataTooLarge.code()]);
    b.stop().await;
}
