//! Produce: validate each partition's batches, append, answer per partition. acks=0 gets no
//! response; a failure in one partition never fails the others.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};

use super::{RequestContext, str_bytes};
use crate::broker::Broker;
use crate::cluster::Topic;
use crate::config::topic as topic_config;
use crate::handlers::errors;
use crate::log::partition::AppendOptions;
use crate::log::{batch, codec};
use crate::now_ms;

pub const VERSIONS: (i16, i16) = (3, 13);

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: ProduceRequest) -> Option<ProduceResponse> {
    let image = broker.image();
    let acks_valid = matches!(req.acks, -1..=1);
    let mut r = ProduceResponse::default();
    for t in req.topic_data {
        let topic =
            if ctx.version >= 13 { image.topic_by_id(&t.topic_id) } else { image.topics.get(t.name.0.as_str()) };
        let mut out = TopicProduceResponse::default();
        out.name = t.name.clone();
        out.topic_id = t.topic_id;
        let settings = topic.map(|tp| TopicSettings::of(broker, &broker.defaults(&image), tp));
        for p in t.partition_data {
            let mut pr = PartitionProduceResponse::default();
            let mut record_errors: Vec<(i32, String)> = Vec::new();
            pr.index = p.index;
            pr.base_offset = -1;
            pr.log_append_time_ms = -1;
            pr.log_start_offset = -1;
            let result = match (&topic, &settings) {
                _ if !acks_valid => Err((ResponseError::InvalidRequiredAcks, None)),
                (None, _) | (_, None) => {
                    let e = if ctx.version >= 13 {
                        ResponseError::UnknownTopicId
                    } else {
                        ResponseError::UnknownTopicOrPartition
                    };
                    Err((e, None))
                }
                // As Kafka: clients never write the coordinators' own logs.
                (Some(topic), _) if super::is_internal(&topic.name) => Err((
                    ResponseError::InvalidTopicException,
                    Some(format!("Cannot append to internal topic {}", topic.name)),
                )),
                (Some(topic), Some(s)) => append(broker, topic, s, p.index, p.records.as_ref(), &mut record_errors),
            };
            match result {
                Ok(outcome) => {
                    pr.base_offset = outcome.base_offset;
                    pr.log_append_time_ms = outcome.log_append_time_ms;
                    pr.log_start_offset = outcome.log_start;
                }
                Err((e, msg)) => {
                    pr.error_code = e.code();
                    pr.error_message = msg.map(str_bytes);
                    if ctx.version >= 8 && !record_errors.is_empty() {
                        // As Kafka: the records at fault, and a summary of the first three.
                        let first: Vec<String> = record_errors
                            .iter()
                            .take(3)
                            .map(|(i, m)| format!("RecordError(batchIndex={i}, message='{m}')"))
                            .collect();
                        pr.error_message = Some(str_bytes(format!(
                            "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
                            record_errors.len(),
                            first.join(", ")
                        )));
                        pr.record_errors = record_errors
                            .into_iter()
                            .map(|(i, m)| {
                                let mut b =
                                    kafka_protocol::messages::produce_response::BatchIndexAndErrorMessage::default();
                                b.batch_index = i;
                                b.batch_index_error_message = Some(str_bytes(m));
                                b
                            })
                            .collect();
                    }
                }
            }
            out.partition_responses.push(pr);
        }
        if let Some(tp) = topic {
            out.name = TopicName(str_bytes(tp.name.clone()));
        }
        r.responses.push(out);
    }
    if req.acks == 0 { None } else { Some(r) }
}

struct TopicSettings {
    batch_bytes_max: usize,
    log_append_time: bool,
    /// message.timestamp.before.max.ms / after.max.ms: how far a CreateTime may lie in the
    /// past or the future.
    timestamp_before_ms_max: i64,
    timestamp_after_ms_max: i64,
    /// cleanup.policy includes compact: every record needs a key.
    compacted: bool,
    /// compression.type other than "producer": batches in another codec are rewritten.
    codec: Option<kafka_protocol::records::Compression>,
}

impl TopicSettings {
    fn of(broker: &Broker, defaults: &topic_config::Defaults, topic: &Topic) -> TopicSettings {
        let get = |name| topic_config::value_of(&topic.configs, defaults, name).unwrap_or_default();
        TopicSettings {
            batch_bytes_max: get("max.message.bytes").parse().unwrap_or(broker.config.message_max_bytes as usize),
            log_append_time: get("message.timestamp.type") == "LogAppendTime",
            timestamp_before_ms_max: get("message.timestamp.before.max.ms").parse().unwrap_or(i64::MAX),
            timestamp_after_ms_max: get("message.timestamp.after.max.ms").parse().unwrap_or(3_600_000),
            compacted: get("cleanup.policy").split(',').any(|p| p == "compact"),
            codec: batch::topic_codec(&get("compression.type")),
        }
    }
}

type AppendResult = Result<crate::log::AppendOutcome, (ResponseError, Option<String>)>;

fn append(
    broker: &Broker,
    topic: &Topic,
    s: &TopicSettings,
    index: i32,
    records: Option<&bytes::Bytes>,
    record_errors: &mut Vec<(i32, String)>,
) -> AppendResult {
    let meta = topic.partition(index);
    let Some(meta) = meta else {
        return Err((ResponseError::UnknownTopicOrPartition, None));
    };
    let Some(records) = records else {
        return Err((ResponseError::InvalidRecord, Some("produce request without records".into())));
    };
    let batches = batch::split_and_validate(records, s.batch_bytes_max).map_err(|e| {
        tracing::debug!(topic = %topic.name, partition = index, error = %e, "refused batch");
        (errors::batch_error(&e), Some(e.to_string()))
    })?;
    if !s.log_append_time {
        let now = now_ms();
        for (h, _) in &batches {
            // The batch's first and largest timestamps bound its records' (Kafka checks each).
            let too_new = h.max_timestamp > now.saturating_add(s.timestamp_after_ms_max);
            let too_old = h.base_timestamp < now.saturating_sub(s.timestamp_before_ms_max);
            if too_new || too_old {
                let msg = format!(
                    "Timestamp {} of a record is out of the range [{}, {}] allowed by message.timestamp.before/after.max.ms",
                    if too_new { h.max_timestamp } else { h.base_timestamp },
                    now.saturating_sub(s.timestamp_before_ms_max),
                    now.saturating_add(s.timestamp_after_ms_max)
                );
                return Err((ResponseError::InvalidTimestamp, Some(msg)));
            }
        }
    }
    if s.compacted {
        // As Kafka, the only case where the broker looks inside (and decompresses) a batch.
        for (_, raw) in &batches {
            let set = codec::decode(raw, codec::DECOMPRESSED_BYTES_MAX).map_err(|e| {
                let e = batch::BatchError::from(e);
                (errors::batch_error(&e), Some(e.to_string()))
            })?;
            let msg =
                format!("Compacted topic cannot accept message without key in topic partition {}-{index}.", topic.name);
            for (i, _) in set.records.iter().enumerate().filter(|(_, r)| r.key.is_none()) {
                record_errors.push((i as i32, msg.clone()));
            }
            if !record_errors.is_empty() {
                return Err((ResponseError::InvalidRecord, Some(msg)));
            }
        }
    }
    let batches = match s.codec {
        None => batches,
        Some(codec) => batches
            .into_iter()
            .map(|(_, raw)| {
                let b = batch::recompress(&raw, codec).map_err(|e| (errors::batch_error(&e), Some(e.to_string())))?;
                Ok((batch::BatchHeader::read(&b), b))
            })
            .collect::<Result<Vec<_>, (ResponseError, Option<String>)>>()?,
    };
    let partition = broker.partition(meta.uid).map_err(|e| (errors::store_error(&e), Some(e.to_string())))?;
    let opts = AppendOptions { leader_epoch: meta.leader_epoch, log_append_time_ms: s.log_append_time.then(now_ms) };
    partition.append(&batches, opts).map_err(|e| {
        tracing::debug!(topic = %topic.name, partition = index, error = %e, "append refused");
        (errors::append_error(&e), Some(e.to_string()))
    })
}
