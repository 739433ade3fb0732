use super::*;
use crate::log::Partition;
use crate::log::partition::{AppendOptions, ReadError};

#[test]
fn rocks_store_round_trips_through_a_reopen() {
    let dir = std::env::temp_dir().join(format!("gregor-rocks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let b = kafka_protocol_batch();
    {
        let store: Arc<dyn Store> = Arc::new(RocksStore::new(open_db(&dir).unwrap()));
        let p = Partition::open(5, store.clone(), false).unwrap();
        p.append(&[b.clone(), b.clone()], AppendOptions::default()).unwrap();
        let other = Partition::open(6, store.clone(), false).unwrap();
        other.append(std::slice::from_ref(&b), AppendOptions::default()).unwrap();
    }
    let store: Arc<dyn Store> = Arc::new(RocksStore::new(open_db(&dir).unwrap()));
    let p = Partition::open(5, store.clone(), false).unwrap();
    assert_eq!(p.log_end(), 4);
    assert_eq!(store.partition_uids().unwrap(), vec![5, 6]);
    store.delete_partition(5).unwrap();
    assert_eq!(store.partition_uids().unwrap(), vec![6]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn retention_gives_the_space_back() {
    let dir = std::env::temp_dir().join(format!("gregor-rocks-reclaim-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = open_db(&dir).unwrap();
    let rocks = Arc::new(RocksStore::new(db.clone()));
    let store: Arc<dyn Store> = rocks.clone();
    let blob_bytes = || {
        db.flush_cf(rocks.cf(CF_RECORDS)).unwrap();
        db.property_int_value_cf(rocks.cf(CF_RECORDS), "rocksdb.total-blob-file-size").unwrap().unwrap()
    };
    let big = batch_of(64 << 10);
    let (dropped, kept) =
        (Partition::open(5, store.clone(), false).unwrap(), Partition::open(6, store.clone(), false).unwrap());
    // A blob file goes once none of its batches is left, so the batch that stays is written
    // (and flushed into a file of its own) first.
    kept.append(std::slice::from_ref(&big), AppendOptions::default()).unwrap();
    let kept_bytes = blob_bytes();
    for _ in 0..200 {
        dropped.append(std::slice::from_ref(&big), AppendOptions::default()).unwrap();
    }
    let before = blob_bytes() - kept_bytes;
    assert!(before > 200 * (64 << 10), "batches are stored in blob files: {before} bytes");

    let end = dropped.high_watermark();
    dropped.delete_records(end).unwrap();
    store.reclaim(&[(5, end)]);
    let after = blob_bytes() - kept_bytes;
    assert!(after < before / 20, "blob files left after retention: {after} of {before} bytes");

    let mut read = Vec::new();
    store
        .visit(6, 0, &mut |base, b| {
            read.push((base, b.len()));
            true
        })
        .unwrap();
    assert_eq!(read, vec![(0, big.1.len())], "the other partition's batch survives the reclaim");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn batch_metadata_follows_the_batches_and_is_built_for_an_older_store() {
    let dir = std::env::temp_dir().join(format!("gregor-rocks-meta-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let read_both = |store: &RocksStore, uid: u64, from: i64| {
        let (mut from_batches, mut from_meta) = (Vec::new(), Vec::new());
        store
            .visit(uid, from, &mut |base, b| {
                from_batches.push(BatchMeta::of(base, b));
                true
            })
            .unwrap();
        store
            .visit_meta(uid, from, &mut |m| {
                from_meta.push(m);
                true
            })
            .unwrap();
        (from_batches, from_meta)
    };
    {
        let db = open_db(&dir).unwrap();
        let rocks = Arc::new(RocksStore::new(db.clone()));
        let store: Arc<dyn Store> = rocks.clone();
        let p = Partition::open(7, store.clone(), false).unwrap();
        for n in [1, 40, 3, 100] {
            p.append(std::slice::from_ref(&batch_of(n)), AppendOptions::default()).unwrap();
        }
        let (batches, meta) = read_both(&rocks, 7, 0);
        assert_eq!(meta.iter().map(|m| m.base_offset).collect::<Vec<_>>(), vec![0, 2, 4, 6]);
        assert_eq!(meta, batches);
        // From the middle of a batch, both start with the batch that holds the offset.
        assert_eq!(read_both(&rocks, 7, 3).1.first().map(|m| m.base_offset), Some(2));
        // A replaced batch (as compaction writes it) and a dropped one.
        let mut at_4 = None;
        store
            .visit(7, 4, &mut |_, b| {
                at_4 = Some(Bytes::copy_from_slice(b));
                false
            })
            .unwrap();
        store.replace(7, &[(2, None), (4, at_4)]).unwrap();
        p.delete_records(1).unwrap();
        let (batches, meta) = read_both(&rocks, 7, 0);
        assert_eq!(meta, batches);
        assert_eq!(meta.len(), 3, "{meta:?}");
        assert_eq!(p.size_bytes().unwrap(), meta.iter().map(|m| m.size as u64).sum::<u64>());
        drop((p, store, rocks));
        // A store from before the metadata family: reopening builds it.
        let Ok(mut db) = Arc::try_unwrap(db) else { panic!("another handle to the database is open") };
        db.drop_cf(CF_BATCH_META).unwrap();
    }
    let db = open_db(&dir).unwrap();
    let rocks = RocksStore::new(db);
    let (batches, meta) = read_both(&rocks, 7, 0);
    assert_eq!(meta.len(), 3);
    assert_eq!(meta, batches);
    drop(rocks);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Files of the store whose names end with `ext`, largest first.
fn files_ending(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .collect();
    files.sort_by_key(|p| std::cmp::Reverse(std::fs::metadata(p).unwrap().len()));
    files
}

/// Writes `batches` batches of `value_len`-byte records to partition 9 and closes the store
/// with everything flushed to table and blob files.
fn written_and_closed(dir: &Path, batches: usize, value_len: usize) {
    let _ = std::fs::remove_dir_all(dir);
    let db = open_db(dir).unwrap();
    let rocks = Arc::new(RocksStore::new(db.clone()));
    let p = Partition::open(9, rocks.clone(), false).unwrap();
    for _ in 0..batches {
        p.append(std::slice::from_ref(&batch_of(value_len)), AppendOptions::default()).unwrap();
    }
    for cf in FAMILIES {
        db.flush_cf(rocks.cf(cf)).unwrap();
    }
}

#[test]
fn a_truncated_table_file_stops_the_open_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("gregor-rocks-truncated-{}", std::process::id()));
    written_and_closed(&dir, 50, 100);
    let sst = files_ending(&dir, ".sst").remove(0);
    let len = std::fs::metadata(&sst).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&sst).unwrap().set_len(len / 2).unwrap();
    let err = open_db(&dir).err().expect("a truncated table file must not open");
    let name = sst.file_name().unwrap().to_string_lossy().into_owned();
    match &err {
        StoreError::Corrupt(msg) => {
            assert!(msg.contains(&name), "the message names {name}: {msg}");
            assert!(msg.contains("Restore the directory from a backup"), "{msg}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(std::fs::metadata(&sst).unwrap().len(), len / 2, "the damaged file is left as it was");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupted_blob_is_an_error_never_wrong_bytes() {
    let dir = std::env::temp_dir().join(format!("gregor-rocks-blob-{}", std::process::id()));
    written_and_closed(&dir, 20, 4096);
    // Overwrite record bytes in the middle of the blob file: 'v' becomes 'w'.
    let blob = files_ending(&dir, ".blob").remove(0);
    let mut bytes = std::fs::read(&blob).unwrap();
    let at = bytes.len() / 2;
    let hit = at + bytes[at..].windows(16).position(|w| w == [b'v'; 16]).expect("record bytes in the blob file");
    bytes[hit..hit + 16].fill(b'w');
    std::fs::write(&blob, &bytes).unwrap();

    let store: Arc<dyn Store> = Arc::new(RocksStore::new(open_db(&dir).unwrap()));
    let (mut served, mut failed) = (0, 0);
    match Partition::open(9, store.clone(), false) {
        Err(e) => assert!(matches!(e, StoreError::Corrupt(_)), "{e:?}"),
        Ok(p) => {
            for from in (0..40).step_by(2) {
                match p.read(from, 1 << 20) {
                    Ok(r) => {
                        assert!(!r.records.windows(4).any(|w| w == b"wwww"), "corrupted bytes served from {from}");
                        served += 1;
                    }
                    Err(e) => {
                        assert!(matches!(e, ReadError::Store(StoreError::Corrupt(_))), "{e:?}");
                        failed += 1;
                    }
                }
            }
            assert!(failed > 0, "some read covers the damaged batch ({served} served)");
        }
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

fn kafka_protocol_batch() -> (batch::BatchHeader, Bytes) {
    batch_of(1)
}

fn batch_of(value_len: usize) -> (batch::BatchHeader, Bytes) {
    use kafka_protocol::records::*;
    let value = Bytes::from(vec![b'v'; value_len]);
    let recs: Vec<Record> = (0..2)
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
            timestamp: 5,
            key: None,
            value: Some(value.clone()),
            headers: Default::default(),
        })
        .collect();
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        recs.iter(),
        &RecordEncodeOptions { version: 2, compression: Compression::None },
    )
    .unwrap();
    batch::split_and_validate(&buf.freeze(), 1 << 20).unwrap().remove(0)
}
