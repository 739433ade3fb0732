//! Produce: validate each partition's batches, append, answer per partition. acks=0 gets no
//! response; a failure in one partition never fails the others.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};

use super::{RequestContext, str_bytes};
use crate::broker::Broker;
use crate::cluster::Topic;
use crate::handlers::errors;
use crate::log::rules::Refusal;
use crate::log::settings::LogSettings;
use crate::now_ms;

pub const VERSIONS: (i16, i16) = (3, 13);

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: ProduceRequest) -> Option<ProduceResponse> {
    let image = broker.image();
    let parsed = broker.topic_settings(&image);
    let acks_valid = matches!(req.acks, -1..=1);
    let mut r = ProduceResponse::default();
    for t in req.topic_data {
        let topic =
            if ctx.version >= 13 { image.topic_by_id(&t.topic_id) } else { image.topics.get(t.name.0.as_str()) };
        let mut out = TopicProduceResponse::default();
        out.name = t.name.clone();
        out.topic_id = t.topic_id;
        let settings = topic.and_then(|tp| parsed.of(&tp.name));
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

type AppendResult = Result<crate::log::AppendOutcome, (ResponseError, Option<String>)>;

fn append(
    broker: &Broker,
    topic: &Topic,
    settings: &LogSettings,
    index: i32,
    records: Option<&bytes::Bytes>,
    record_errors: &mut Vec<(i32, String)>,
) -> AppendResult {
    let Some(meta) = topic.partition(index) else {
        return Err((ResponseError::UnknownTopicOrPartition, None));
    };
    if !broker.leads(meta) {
        return Err((ResponseError::NotLeaderOrFollower, None));
    }
    let Some(records) = records else {
        return Err((ResponseError::InvalidRecord, Some("produce request without records".into())));
    };
    let partition = broker.partition(meta.uid).map_err(|e| (errors::store_error(&e), Some(e.to_string())))?;
    partition.produce(records, settings, meta.leader_epoch, now_ms()).map_err(|e| {
        tracing::debug!(topic = %topic.name, partition = index, error = %e, "records refused");
        let message = match &e {
            Refusal::KeyMissing { records } => {
                let msg = format!(
                    "Compacted topic cannot accept message without key in topic partition {}-{index}.",
                    topic.name
                );
                record_errors.extend(records.iter().map(|i| (*i, msg.clone())));
                msg
            }
            other => other.to_string(),
        };
        (errors::refusal(&e), Some(message))
    })
}
