//! The coordinators' internal topics (`__consumer_offsets`, `__transaction_state`) as the
//! `InternalLog` they write and replay.

use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::{Bytes, BytesMut};

use super::Logs;
use crate::cluster::Image;
use crate::log::internal::{InternalLog, InternalLogError, LoggedRecord};
use crate::log::partition::AppendOptions;
use crate::log::{Partition, batch};

/// `InternalLog` on the partitions of one internal topic.
pub(super) struct InternalTopicLog {
    pub(super) topic: &'static str,
    pub(super) logs: Arc<Logs>,
    pub(super) image: Arc<ArcSwap<Image>>,
}

impl InternalTopicLog {
    fn partition(&self, index: i32) -> Result<Arc<Partition>, InternalLogError> {
        let image = self.image.load();
        let meta = image
            .topics
            .get(self.topic)
            .and_then(|t| t.partition(index))
            .ok_or(InternalLogError::NoPartition { topic: self.topic, index })?;
        Ok(self.logs.partition(meta.uid)?)
    }
}

impl InternalLog for InternalTopicLog {
    fn append(
        &self,
        index: i32,
        records: Vec<(Bytes, Option<Bytes>)>,
        txn: Option<(i64, i16)>,
    ) -> Result<(), InternalLogError> {
        use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
        let now = crate::now_ms();
        let (producer_id, producer_epoch) = txn.unwrap_or((-1, -1));
        let recs: Vec<Record> = records
            .into_iter()
            .enumerate()
            .map(|(i, (key, value))| Record {
                transactional: txn.is_some(),
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id,
                producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // No sequence checks for the coordinators' own writes: base sequence -1.
                sequence: i as i32 - 1,
                timestamp: now,
                key: Some(key),
                value,
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            recs.iter(),
            &RecordEncodeOptions { version: 2, compression: Compression::None },
        )
        .map_err(|e| InternalLogError::Records(format!("{e:#}")))?;
        let batches = batch::split_and_validate(&buf.freeze(), usize::MAX)?;
        let p = self.partition(index)?;
        let outcome = p.append(&batches, AppendOptions::default())?;
        if let Some((pid, _)) = txn {
            // The coordinators' records carry no sequence, so the partition does not track
            // their transaction; register it so the marker closes it.
            p.begin_transaction(pid, outcome.base_offset);
        }
        Ok(())
    }

    fn write_marker(&self, index: i32, producer_id: i64, epoch: i16, commit: bool) -> Result<(), InternalLogError> {
        let p = self.partition(index)?;
        p.write_marker(producer_id, epoch, commit, 0)?;
        Ok(())
    }

    fn replay(&self, index: i32, visit: &mut dyn FnMut(LoggedRecord)) -> Result<(), InternalLogError> {
        let p = self.partition(index)?;
        let mut offset = p.log_start();
        while offset < p.high_watermark() {
            let read = p.read(offset, 1 << 20)?;
            let mut buf = read.records;
            if buf.is_empty() {
                break;
            }
            let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buf)
                .map_err(|e| InternalLogError::Records(format!("{e:#}")))?;
            for r in sets.into_iter().flat_map(|s| s.records) {
                offset = offset.max(r.offset + 1);
                if r.offset < p.log_start() {
                    continue;
                }
                let Some(key) = r.key else { continue };
                let marker = if r.control { Some(key.len() >= 4 && key[2..4] == [0, 1]) } else { None };
                visit(LoggedRecord {
                    key,
                    value: r.value,
                    producer_id: r.producer_id,
                    transactional: r.transactional,
                    marker,
                });
            }
        }
        Ok(())
    }
}
