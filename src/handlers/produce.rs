//! Produce: validate each partition's batches, append, answer per partition. acks=0 gets no
//! response; a failure in one partition never fails the others. With acks=all a replicated
//! partition needs min.insync.replicas in its ISR (NOT_ENOUGH_REPLICAS), and the answer waits
//! until the high watermark passes the batch (REQUEST_TIMED_OUT after the request's timeout).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{NodeEndpoint, PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{BrokerId, ProduceRequest, ProduceResponse, TopicName};

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
    // acks=all on replicated partitions: (topic, partition response) positions to complete.
    let mut waits: Vec<Wait> = Vec::new();
    // KIP-951: the leaders named in NOT_LEADER_OR_FOLLOWER answers, whose endpoints follow.
    let mut hinted = std::collections::BTreeSet::new();
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
                (Some(topic), Some(s)) => {
                    append(broker, topic, s, p.index, p.records.as_ref(), req.acks, &mut record_errors)
                }
            };
            match result {
                Ok((outcome, wait)) => {
                    if let Some(mut w) = wait {
                        (w.topic_at, w.partition_at) = (r.responses.len(), out.partition_responses.len());
                        w.end = outcome.log_end;
                        waits.push(w);
                    }
                    pr.base_offset = outcome.base_offset;
                    pr.log_append_time_ms = outcome.log_append_time_ms;
                    pr.log_start_offset = outcome.log_start;
                }
                Err((e, msg)) => {
                    pr.error_code = e.code();
                    pr.error_message = msg.map(str_bytes);
                    if e == ResponseError::NotLeaderOrFollower && ctx.version >= 10 {
                        let meta = topic.and_then(|t| t.partition(p.index));
                        hint_leader(&mut pr, meta, &mut hinted);
                    }
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
    wait_for_replicas(broker, &mut r, waits, req.timeout_ms, ctx.version >= 10, &mut hinted).await;
    if ctx.version >= 10 {
        let endpoint = |(id, host, port, rack)| {
            let mut n = NodeEndpoint::default();
            (n.node_id, n.host, n.port, n.rack) = (BrokerId(id), host, port, rack);
            n
        };
        r.node_endpoints = super::endpoints(broker, hinted).into_iter().map(endpoint).collect();
    }
    if req.acks == 0 { None } else { Some(r) }
}

/// KIP-951: a NOT_LEADER_OR_FOLLOWER answer names the current leader and its epoch, so the
/// client goes there without asking for metadata first.
fn hint_leader(
    pr: &mut PartitionProduceResponse,
    meta: Option<&crate::cluster::PartitionMeta>,
    hinted: &mut std::collections::BTreeSet<i32>,
) {
    let Some(m) = meta else { return };
    pr.current_leader.leader_id = BrokerId(m.leader);
    pr.current_leader.leader_epoch = m.leader_epoch;
    if m.leader >= 0 {
        hinted.insert(m.leader);
    }
}

/// An acks=all append to a replicated partition, waiting for its high watermark.
struct Wait {
    topic_at: usize,
    partition_at: usize,
    part: std::sync::Arc<crate::log::Partition>,
    end: i64,
    topic: String,
    index: i32,
    leader_epoch: i32,
    min_isr: usize,
}

/// Completes the acks=all answers: each waits until its partition's high watermark reaches the
/// log end of its append, at most `timeout_ms` for them all. Kafka's codes: REQUEST_TIMED_OUT
/// when it does not, NOT_LEADER_OR_FOLLOWER when this broker stopped leading the partition
/// meanwhile (the client retries at the new leader, which deduplicates an idempotent batch),
/// NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below min.insync.replicas.
async fn wait_for_replicas(
    broker: &Broker,
    r: &mut ProduceResponse,
    waits: Vec<Wait>,
    timeout_ms: i32,
    hints: bool,
    hinted: &mut std::collections::BTreeSet<i32>,
) {
    use tokio::time::{Instant, timeout_at};
    let deadline = Instant::now() + std::time::Duration::from_millis(timeout_ms.max(0) as u64);
    // How often a waiting answer looks whether its partition changed leader.
    let look = std::time::Duration::from_millis(100);
    for w in waits {
        let mut hw = w.part.subscribe();
        let outcome = loop {
            let image = broker.image();
            let meta = image.topics.get(&w.topic).and_then(|t| t.partition(w.index));
            if meta.is_none_or(|m| !broker.leads(m) || m.leader_epoch != w.leader_epoch) {
                break ResponseError::NotLeaderOrFollower.code();
            }
            if *hw.borrow_and_update() >= w.end {
                let isr = meta.map_or(0, |m| m.isr.len());
                break if isr < w.min_isr { ResponseError::NotEnoughReplicasAfterAppend.code() } else { 0 };
            }
            if Instant::now() >= deadline {
                break ResponseError::RequestTimedOut.code();
            }
            let _ = timeout_at(deadline.min(Instant::now() + look), hw.changed()).await;
        };
        let pr = &mut r.responses[w.topic_at].partition_responses[w.partition_at];
        pr.error_code = outcome;
        if outcome != 0 {
            pr.base_offset = -1;
        }
        if hints && outcome == ResponseError::NotLeaderOrFollower.code() {
            let image = broker.image();
            hint_leader(pr, image.topics.get(&w.topic).and_then(|t| t.partition(w.index)), hinted);
        }
    }
}

type AppendResult = Result<(crate::log::AppendOutcome, Option<Wait>), (ResponseError, Option<String>)>;

fn append(
    broker: &Broker,
    topic: &Topic,
    settings: &LogSettings,
    index: i32,
    records: Option<&bytes::Bytes>,
    acks: i16,
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
    let replicated = meta.replicas.len() > 1;
    if acks == -1 && replicated && meta.isr.len() < settings.min_insync_replicas {
        let msg = format!(
            "The size of the current ISR {:?} is insufficient to satisfy the min.isr requirement of {} for partition {}-{index}",
            meta.isr, settings.min_insync_replicas, topic.name
        );
        return Err((ResponseError::NotEnoughReplicas, Some(msg)));
    }
    let partition = broker.partition(meta.uid).map_err(|e| (errors::store_error(&e), Some(e.to_string())))?;
    // Before the append: a replicated partition's high watermark must not follow it.
    partition.set_replicated(replicated);
    let outcome = partition.produce(records, settings, meta.leader_epoch, now_ms()).map_err(|e| {
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
    })?;
    if !replicated {
        return Ok((outcome, None));
    }
    broker.advance_high_watermark(meta, &partition, settings.min_insync_replicas);
    let wait = (acks == -1).then(|| Wait {
        topic_at: 0,
        partition_at: 0,
        part: partition,
        end: outcome.log_end,
        topic: topic.name.clone(),
        index,
        leader_epoch: meta.leader_epoch,
        min_isr: settings.min_insync_replicas,
    });
    Ok((outcome, wait))
}
