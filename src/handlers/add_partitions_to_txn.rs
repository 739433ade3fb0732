//! AddPartitionsToTxn: v0-3 from producers (one transaction), v4+ batched (as brokers send it).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use super::RequestContext;
use crate::broker::Broker;

pub const VERSIONS: (i16, i16) = (0, 5);

/// Adds one transaction's partitions; returns per-topic results.
async fn add(
    broker: &Broker,
    txn_id: &str,
    producer: (i64, i16),
    topics: &[AddPartitionsToTxnTopic],
    verify_only: bool,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let image = broker.image();
    let unknown: Vec<(String, i32)> = topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.name.0.to_string(), *p)))
        .filter(|(t, p)| !image.topics.get(t).is_some_and(|tp| *p >= 0 && (*p as usize) < tp.partitions.len()))
        .collect();
    let all: Vec<(String, i32)> =
        topics.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.name.0.to_string(), *p))).collect();
    let outcome: Result<(), ResponseError> = if !unknown.is_empty() {
        Err(ResponseError::OperationNotAttempted)
    } else if let Err(e) = super::txns_ready(broker).await.and_then(|()| super::coordinates(broker, txn_id, true)) {
        Err(e)
    } else if verify_only {
        broker.txns.verify_partitions(txn_id, producer, &all).await.map_err(ResponseError::from)
    } else {
        broker.txns.add(txn_id, producer, &all, None).await.map_err(ResponseError::from)
    };
    topics
        .iter()
        .map(|t| {
            let mut tr = AddPartitionsToTxnTopicResult::default();
            tr.name = t.name.clone();
            tr.results_by_partition = t
                .partitions
                .iter()
                .map(|p| {
                    let mut pr = AddPartitionsToTxnPartitionResult::default();
                    pr.partition_index = *p;
                    pr.partition_error_code = if unknown.contains(&(t.name.0.to_string(), *p)) {
                        ResponseError::UnknownTopicOrPartition.code()
                    } else {
                        outcome.err().map(|e| e.code()).unwrap_or(0)
                    };
                    pr
                })
                .collect();
            tr
        })
        .collect()
}

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let mut r = AddPartitionsToTxnResponse::default();
    if ctx.version <= 3 {
        let producer = (req.v3_and_below_producer_id.0, req.v3_and_below_producer_epoch);
        r.results_by_topic_v3_and_below =
            add(broker, req.v3_and_below_transactional_id.0.as_str(), producer, &req.v3_and_below_topics, false).await;
        return r;
    }
    for t in &req.transactions {
        let mut out = AddPartitionsToTxnResult::default();
        out.transactional_id = t.transactional_id.clone();
        out.topic_results =
            add(broker, t.transactional_id.0.as_str(), (t.producer_id.0, t.producer_epoch), &t.topics, t.verify_only)
                .await;
        r.results_by_transaction.push(out);
    }
    r
}
