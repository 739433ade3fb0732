use super::*;
use crate::log::store::MemStore;
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

fn batch(pid: i64, seq: i32, n: usize, ts: i64) -> (BatchHeader, Bytes) {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: pid,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: seq + i as i32, // base sequence -1 for non-idempotent batches
            timestamp: ts + i as i64,
            key: None,
            value: Some(Bytes::from(vec![b'x'; 10])),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions { version: 2, compression: Compression::None };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &opts).unwrap();
    let b = buf.freeze();
    batch::split_and_validate(&b, 1 << 20).unwrap().remove(0)
}

#[test]
fn offsets_are_dense_and_survive_reopen() {
    let store: Arc<dyn Store> = Arc::new(MemStore::default());
    let p = Partition::open(1, store.clone(), false).unwrap();
    assert_eq!(p.append(&[batch(-1, -1, 3, 100)], AppendOptions::default()).unwrap().base_offset, 0);
    assert_eq!(p.append(&[batch(-1, -1, 2, 200)], AppendOptions::default()).unwrap().base_offset, 3);
    assert_eq!(p.high_watermark(), 5);
    let again = Partition::open(1, store, false).unwrap();
    assert_eq!((again.log_start(), again.log_end()), (0, 5));
    let r = again.read(4, 1).unwrap();
    assert_eq!(batch::BatchHeader::read(&r.records).base_offset, 3, "batch holding offset 4 is returned whole");
    assert!(matches!(again.read(6, 100), Err(ReadError::OutOfRange { .. })));
    assert!(again.read(5, 100).unwrap().records.is_empty());
}

#[test]
fn retried_batch_keeps_its_offset_and_gap_is_refused() {
    let store: Arc<dyn Store> = Arc::new(MemStore::default());
    let p = Partition::open(2, store.clone(), false).unwrap();
    assert_eq!(p.append(&[batch(9, 0, 2, 0)], AppendOptions::default()).unwrap().base_offset, 0);
    assert_eq!(p.append(&[batch(9, 2, 2, 0)], AppendOptions::default()).unwrap().base_offset, 2);
    assert_eq!(p.append(&[batch(9, 0, 2, 0)], AppendOptions::default()).unwrap().base_offset, 0);
    assert_eq!(p.log_end(), 4);
    assert!(matches!(
        p.append(&[batch(9, 7, 1, 0)], AppendOptions::default()),
        Err(AppendError::Sequence(SequenceError::OutOfOrder { .. }))
    ));
    let reopened = Partition::open(2, store, false).unwrap();
    assert_eq!(reopened.append(&[batch(9, 2, 2, 0)], AppendOptions::default()).unwrap().base_offset, 2);
}

#[test]
fn idle_producers_expire_and_their_state_is_forgotten() {
    let store: Arc<dyn Store> = Arc::new(MemStore::default());
    let p = Partition::open(3, store.clone(), false).unwrap();
    p.append(&[batch(9, 0, 2, 0)], AppendOptions::default()).unwrap();
    p.append(&[batch(10, 0, 2, 0)], AppendOptions::default()).unwrap();
    p.begin_transaction(11, p.log_end());
    let now = crate::now_ms();
    assert_eq!(p.expire_producers(now, 60_000).unwrap(), 0, "written just now");
    assert_eq!(p.expire_producers(now + 60_000, 60_000).unwrap(), 2, "9 and 10; 11 has a transaction open");
    assert_eq!(p.producers().iter().map(|e| e.0).collect::<Vec<_>>(), vec![11]);
    assert_eq!(store.producers(3).unwrap().len(), 0, "the persisted entries are gone too");
    // An expired producer's next batch starts a new entry, whatever its sequence (as Kafka).
    assert_eq!(p.append(&[batch(9, 7, 1, 0)], AppendOptions::default()).unwrap().base_offset, 4);
    // Restored producers count from the open.
    let reopened = Partition::open(3, store, false).unwrap();
    assert_eq!(reopened.expire_producers(crate::now_ms() + 59_000, 60_000).unwrap(), 0);
}

#[test]
fn delete_records_moves_the_log_start_within_bounds() {
    let store: Arc<dyn Store> = Arc::new(MemStore::default());
    let p = Partition::open(4, store.clone(), false).unwrap();
    p.append(&[batch(-1, -1, 3, 0)], AppendOptions::default()).unwrap();
    p.append(&[batch(-1, -1, 3, 0)], AppendOptions::default()).unwrap();
    assert_eq!(p.delete_records(4).unwrap(), 4);
    assert!(matches!(p.read(2, 100), Err(ReadError::OutOfRange { .. })));
    assert_eq!(BatchHeader::read(&p.read(4, 100).unwrap().records).base_offset, 3, "the batch holding 4 stays");
    assert!(matches!(p.delete_records(7), Err(ReadError::OutOfRange { .. })));
    assert_eq!(p.delete_records(2).unwrap(), 4, "never moves back");
    assert_eq!(Partition::open(4, store, false).unwrap().log_start(), 4);
    assert_eq!(p.delete_records(-1).unwrap(), 6);
}

#[test]
fn retention_drops_old_and_excess_batches_from_the_front() {
    let p = Partition::open(5, Arc::new(MemStore::default()), false).unwrap();
    p.append(&[batch(-1, -1, 2, 1_000)], AppendOptions::default()).unwrap();
    p.append(&[batch(-1, -1, 2, 5_000)], AppendOptions::default()).unwrap();
    p.append(&[batch(-1, -1, 2, 9_000)], AppendOptions::default()).unwrap();
    assert_eq!(p.retention_start(10_000, -1, -1).unwrap(), None);
    assert_eq!(p.retention_start(10_000, 6_000, -1).unwrap(), Some(2), "only the batch older than 4000 goes");
    let one = p.read(4, 1 << 20).unwrap().records.len() as i64;
    assert_eq!(p.retention_start(10_000, -1, one).unwrap(), Some(4), "keeps the newest batch that fits");
    assert_eq!(p.retention_start(100_000, 1, -1).unwrap(), Some(6), "everything expired: up to the high watermark");
}

fn txn_batch(pid: i64, seq: i32, n: usize) -> (BatchHeader, Bytes) {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: true,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: pid,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: seq + i as i32,
            timestamp: 1,
            key: None,
            value: Some(Bytes::from_static(b"t")),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions { version: 2, compression: Compression::None },
    )
    .unwrap();
    batch::split_and_validate(&buf.freeze(), 1 << 20).unwrap().remove(0)
}

#[test]
fn open_transactions_hold_the_last_stable_offset_and_aborts_are_indexed() {
    let store: Arc<dyn Store> = Arc::new(MemStore::default());
    let p = Partition::open(6, store.clone(), false).unwrap();
    p.append(&[batch(-1, -1, 2, 0)], AppendOptions::default()).unwrap();
    p.append(&[txn_batch(50, 0, 3)], AppendOptions::default()).unwrap();
    p.append(&[batch(-1, -1, 1, 0)], AppendOptions::default()).unwrap();
    assert_eq!((p.high_watermark(), p.last_stable()), (6, 2));
    assert_eq!(
        p.read_isolated(0, 1 << 20, true).unwrap().records.len(),
        p.read(0, 1).unwrap().records.len(),
        "only the first batch is stable"
    );
    assert_eq!(p.write_marker(50, 0, false, 0).unwrap(), 6);
    assert_eq!(p.last_stable(), 7);
    let r = p.read_isolated(0, 1 << 20, true).unwrap();
    assert_eq!(r.aborted, vec![(50, 2)]);
    // State survives a reopen: the abort index and a second, still open transaction.
    p.append(&[txn_batch(60, 0, 1)], AppendOptions::default()).unwrap();
    let again = Partition::open(6, store, false).unwrap();
    assert_eq!(again.last_stable(), 7);
    assert_eq!(again.read_isolated(0, 1 << 20, true).unwrap().aborted, vec![(50, 2)]);
    assert_eq!(again.write_marker(60, 0, true, 0).unwrap(), 8);
    assert_eq!(again.last_stable(), 9);
    assert!(again.write_marker(60, -1, true, 0).is_err(), "a stale epoch cannot write markers");
}

#[test]
fn a_marker_from_an_older_coordinator_is_fenced() {
    let store: Arc<dyn Store> = Arc::new(MemStore::default());
    let p = Partition::open(7, store, false).unwrap();
    p.append(&[txn_batch(70, 0, 1)], AppendOptions::default()).unwrap();
    // The coordinator of epoch 3 ends the transaction; a new one opens.
    p.write_marker(70, 0, true, 3).unwrap();
    p.append(&[txn_batch(70, 1, 1)], AppendOptions::default()).unwrap();
    // A coordinator that lost its partition (epoch 2) cannot end it.
    assert!(matches!(
        p.write_marker(70, 0, false, 2),
        Err(AppendError::CoordinatorFenced { producer_id: 70, got: 2, current: 3 })
    ));
    assert_eq!(p.last_stable(), 2, "still open");
    // The current coordinator, or a newer one, can.
    assert_eq!(p.write_marker(70, 0, true, 4).unwrap(), 3);
    assert_eq!(p.last_stable(), 4);
}

#[test]
fn timestamps_find_offsets() {
    let p = Partition::open(3, Arc::new(MemStore::default()), false).unwrap();
    p.append(&[batch(-1, -1, 3, 100)], AppendOptions::default()).unwrap();
    p.append(&[batch(-1, -1, 3, 50)], AppendOptions::default()).unwrap();
    assert_eq!(p.offset_for_timestamp(101).unwrap(), Some((1, 101)));
    assert_eq!(p.offset_for_timestamp(1000).unwrap(), None);
    assert_eq!(p.max_timestamp().unwrap(), Some((2, 102)));
}

/// Everything `p` holds from `from`, as a fetch would hand it to a follower.
fn fetched(p: &Partition, from: i64) -> Bytes {
    let mut out = BytesMut::new();
    p.store
        .visit(p.uid, from, &mut |_, b| {
            out.extend_from_slice(b);
            true
        })
        .unwrap();
    out.freeze()
}

#[test]
fn a_follower_copies_its_leader_with_offsets_epochs_and_producer_state() {
    let leader = Partition::open(10, Arc::new(MemStore::default()), false).unwrap();
    let epoch = |leader_epoch| AppendOptions { leader_epoch, log_append_time_ms: None };
    leader.append(&[batch(7, 0, 3, 100)], epoch(1)).unwrap();
    leader.append(&[batch(-1, -1, 2, 200)], epoch(1)).unwrap();
    leader.append(&[batch(7, 3, 2, 300)], epoch(4)).unwrap();
    assert_eq!(leader.epochs().0.latest(), Some((4, 5)));

    let store: Arc<dyn Store> = Arc::new(MemStore::default());
    let follower = Partition::open(11, store.clone(), false).unwrap();
    follower.set_replicated(true);
    let all = fetched(&leader, 0);
    // Cut inside the last batch: the whole batches are taken, the rest waits for the next fetch.
    assert_eq!(follower.append_replica(&all.slice(..all.len() - 5)).unwrap(), 5);
    assert_eq!(follower.append_replica(&all).unwrap(), 7, "the batches it has are skipped");
    assert_eq!(follower.high_watermark(), 0, "replication, not the log end, moves a follower's watermark");
    // A consumer's read past the high watermark but within the log is empty, not out of range
    // (the high watermark of a new leader may lag the one its predecessor gave the consumer).
    assert!(follower.read(5, 100).unwrap().records.is_empty(), "above the high watermark, within the log");
    assert!(matches!(follower.read(8, 100), Err(ReadError::OutOfRange { .. })), "past the log end");
    follower.set_high_watermark(9);
    assert_eq!(follower.high_watermark(), 7, "never past the log end");

    assert_eq!(follower.epoch_end(1), (1, 5));
    assert_eq!(fetched(&follower, 0), all, "the same bytes at the same offsets");
    // A retry of the producer's last batch, after the follower took over, gets its offset.
    let again = Partition::open(11, store, false).unwrap();
    assert_eq!(again.epochs().0.latest(), Some((4, 5)), "the epochs survive a restart");
    assert_eq!(again.append(&[batch(7, 3, 2, 300)], epoch(5)).unwrap().base_offset, 5);
    // A batch that skips offsets is refused.
    let other = Partition::open(12, Arc::new(MemStore::default()), false).unwrap();
    assert!(matches!(other.append_replica(&fetched(&leader, 3)), Err(AppendError::Gap { got: 3, log_end: 0 })));
}

#[test]
fn truncation_drops_the_diverged_tail_with_its_producer_state_and_epochs() {
    let store: Arc<dyn Store> = Arc::new(MemStore::default());
    let p = Partition::open(20, store.clone(), false).unwrap();
    let epoch = |leader_epoch| AppendOptions { leader_epoch, log_append_time_ms: None };
    p.append(&[batch(7, 0, 2, 100)], epoch(1)).unwrap();
    p.append(&[batch(7, 2, 2, 100)], epoch(2)).unwrap();
    p.write_marker(8, 0, false, 0).unwrap();
    assert_eq!(p.log_end(), 5);
    p.truncate_to(2).unwrap();
    assert_eq!((p.log_end(), p.high_watermark()), (2, 2));
    assert_eq!(p.epochs().0.latest(), Some((1, 0)), "epoch 2 started at 2: gone");
    // The producer's batch at 2 is forgotten: its sequence 2 is new again.
    assert_eq!(p.append(&[batch(7, 2, 2, 100)], epoch(3)).unwrap().base_offset, 2);
    let again = Partition::open(20, store, false).unwrap();
    assert_eq!(again.log_end(), 4);
    assert_eq!(again.epochs().0.latest(), Some((3, 2)));
    assert_eq!(again.append(&[batch(7, 2, 2, 100)], epoch(3)).unwrap().base_offset, 2, "still deduplicated");
}

#[test]
fn a_follower_behind_its_leaders_log_start_starts_over_there() {
    let leader = Partition::open(30, Arc::new(MemStore::default()), false).unwrap();
    for i in 0..5 {
        leader.append(&[batch(-1, -1, 5, 100 + i)], AppendOptions::default()).unwrap();
    }
    assert_eq!(leader.delete_records(20).unwrap(), 20);
    let store: Arc<dyn Store> = Arc::new(MemStore::default());
    let follower = Partition::open(31, store.clone(), false).unwrap();
    follower.set_replicated(true);
    let old = Partition::open(33, Arc::new(MemStore::default()), false).unwrap();
    old.append(&[batch(-1, -1, 5, 50)], AppendOptions::default()).unwrap();
    assert_eq!(follower.append_replica(&fetched(&old, 0)).unwrap(), 5, "what it had before the leader deleted");
    assert!(matches!(leader.read_replica(0, 1 << 20), Err(ReadError::OutOfRange { log_start: 20, .. })));
    follower.restart_at(20).unwrap();
    assert_eq!((follower.log_start(), follower.log_end(), follower.high_watermark()), (20, 20, 20));
    assert_eq!(follower.append_replica(&fetched(&leader, 20)).unwrap(), 25);
    let again = Partition::open(31, store.clone(), false).unwrap();
    assert_eq!((again.log_start(), again.log_end()), (20, 25), "survives a restart");
    // The leader's log start inside its first batch: the follower takes the whole batch (from
    // its base) and then moves its log start to the leader's.
    let split = Partition::open(34, Arc::new(MemStore::default()), false).unwrap();
    split.append(&[batch(-1, -1, 10, 10)], AppendOptions::default()).unwrap();
    assert_eq!(split.delete_records(5).unwrap(), 5);
    let f = Partition::open(35, Arc::new(MemStore::default()), false).unwrap();
    f.restart_at(5).unwrap();
    assert!(matches!(f.append_replica(&fetched(&split, 5)), Err(AppendError::Gap { got: 0, log_end: 5 })));
    f.restart_at(0).unwrap();
    assert_eq!(f.append_replica(&fetched(&split, 5)).unwrap(), 10);
    f.follow_log_start(5).unwrap();
    assert_eq!((f.log_start(), f.log_end()), (5, 10));
    f.follow_log_start(3).unwrap();
    assert_eq!(f.log_start(), 5, "never back");
    // An empty log that starts past 0 (every batch deleted) reopens with its end at its start.
    let empty: Arc<dyn Store> = Arc::new(MemStore::default());
    let p = Partition::open(32, empty.clone(), false).unwrap();
    p.restart_at(7).unwrap();
    let reopened = Partition::open(32, empty, false).unwrap();
    assert_eq!((reopened.log_start(), reopened.log_end()), (7, 7));
}

/// A replicated partition reopens at its checkpointed high watermark, not at its log end: the
/// records above it are not served until replication moves it again (Kafka's
/// replication-offset-checkpoint). One that is not replicated any more follows its log end.
#[test]
fn a_replicated_partition_reopens_at_its_checkpointed_high_watermark() {
    let store: Arc<dyn Store> = Arc::new(MemStore::default());
    let p = Partition::open(1, store.clone(), false).unwrap();
    p.append(&[batch(-1, -1, 4, 100)], AppendOptions::default()).unwrap();
    p.append(&[batch(-1, -1, 2, 200)], AppendOptions::default()).unwrap();
    assert_eq!(p.replicated_high_watermark(), None, "alone, the high watermark follows the log end");
    p.set_replicated(true);
    assert_eq!(p.replicated_high_watermark(), Some(6), "replicated: what replication set, checkpointed");
    // As checkpointed while the followers had only the first batch.
    store.checkpoint_high_watermarks(&[(1, 4)]).unwrap();

    let again = Partition::open(1, store.clone(), false).unwrap();
    assert_eq!((again.log_end(), again.high_watermark()), (6, 4));
    assert_eq!(again.replicated_high_watermark(), Some(4));
    let r = again.read(0, 1 << 20).unwrap();
    assert_eq!(r.high_watermark, 4);
    let first = batch::BatchHeader::read(&r.records);
    assert_eq!((first.base_offset, first.last_offset()), (0, 3), "the batch below the high watermark");
    assert!(again.read(4, 1 << 20).unwrap().records.is_empty(), "nothing above it is served yet");
    again.set_high_watermark(6);
    assert_eq!(again.high_watermark(), 6, "replication moves it on");

    let third = Partition::open(1, store, false).unwrap();
    third.set_replicated(false);
    assert_eq!(third.high_watermark(), 6, "no longer replicated: the log end");
}
