//! ListTransactions, DescribeTransactions and DescribeProducers: what kafka-transactions.sh
//! shows (list, describe, describe-producers).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_producers_response::{PartitionResponse, ProducerState, TopicResponse};
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState as Described};
use kafka_protocol::messages::list_transactions_response::TransactionState as Listed;
use kafka_protocol::messages::{
    DescribeProducersRequest, DescribeProducersResponse, DescribeTransactionsRequest, DescribeTransactionsResponse,
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TopicName, TransactionalId,
};

use super::{RequestContext, str_bytes};
use crate::broker::Broker;
use crate::txn::state::TxnState;

pub const LIST_VERSIONS: (i16, i16) = (0, 2);
pub const DESCRIBE_VERSIONS: (i16, i16) = (0, 0);
pub const PRODUCERS_VERSIONS: (i16, i16) = (0, 0);

const STATES: &[&str] =
    &["Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead"];

pub async fn list(broker: &Broker, _ctx: &RequestContext, req: ListTransactionsRequest) -> ListTransactionsResponse {
    let mut r = ListTransactionsResponse::default();
    r.unknown_state_filters = req.state_filters.iter().filter(|s| !STATES.contains(&s.as_str())).cloned().collect();
    let pattern =
        req.transactional_id_pattern.as_ref().and_then(|p| regex::Regex::new(&format!("^(?:{})$", p.as_str())).ok());
    let now = crate::now_ms();
    for m in broker.txns.list().await {
        let state_ok = req.state_filters.is_empty() || req.state_filters.iter().any(|s| s.as_str() == m.state.name());
        let pid_ok = req.producer_id_filters.is_empty() || req.producer_id_filters.iter().any(|p| p.0 == m.producer_id);
        let running_ms = if m.state == TxnState::Ongoing { now - m.started_ms } else { -1 };
        let duration_ok =
            req.duration_filter < 0 || (m.state == TxnState::Ongoing && running_ms >= req.duration_filter);
        let id_ok = pattern.as_ref().is_none_or(|re| re.is_match(&m.id));
        if state_ok && pid_ok && duration_ok && id_ok {
            let mut t = Listed::default();
            t.transactional_id = TransactionalId(str_bytes(m.id.clone()));
            t.producer_id = ProducerId(m.producer_id);
            t.transaction_state = str_bytes(m.state.name());
            r.transaction_states.push(t);
        }
    }
    r
}

pub async fn describe(
    broker: &Broker,
    _ctx: &RequestContext,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let mut r = DescribeTransactionsResponse::default();
    for id in req.transactional_ids {
        let mut d = Described::default();
        d.transactional_id = id.clone();
        // An unknown id keeps the schema's zero defaults, as Kafka answers.
        d.transaction_start_time_ms = -1;
        match broker.txns.describe(id.0.as_str()).await {
            None => d.error_code = ResponseError::TransactionalIdNotFound.code(),
            Some(m) => {
                d.transaction_state = str_bytes(m.state.name());
                d.transaction_timeout_ms = m.timeout_ms;
                // The last transaction's start stays reported after it completes, as in Kafka.
                d.transaction_start_time_ms = m.started_ms;
                d.producer_id = ProducerId(m.producer_id);
                d.producer_epoch = m.epoch;
                let mut by_topic: std::collections::BTreeMap<&str, Vec<i32>> = Default::default();
                for (t, p) in &m.partitions {
                    by_topic.entry(t.as_str()).or_default().push(*p);
                }
                d.topics = by_topic
                    .into_iter()
                    .map(|(t, ps)| {
                        let mut td = TopicData::default();
                        td.topic = TopicName(str_bytes(t));
                        td.partitions = ps;
                        td
                    })
                    .collect();
            }
        }
        r.transaction_states.push(d);
    }
    r
}

pub async fn producers(
    broker: &Broker,
    _ctx: &RequestContext,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let image = broker.image();
    let mut r = DescribeProducersResponse::default();
    for t in req.topics {
        let topic = image.topics.get(t.name.0.as_str());
        let mut out = TopicResponse::default();
        out.name = t.name.clone();
        for index in t.partition_indexes {
            let mut pr = PartitionResponse::default();
            pr.partition_index = index;
            match super::partition_of(broker, topic, index) {
                Err(e) => pr.error_code = e.code(),
                Ok((_, part)) => {
                    pr.active_producers = part
                        .producers()
                        .into_iter()
                        .map(|(pid, epoch, last_seq, last_timestamp, coordinator_epoch, txn_start)| {
                            let mut ps = ProducerState::default();
                            ps.producer_id = ProducerId(pid);
                            ps.producer_epoch = epoch as i32;
                            ps.last_sequence = last_seq;
                            ps.last_timestamp = last_timestamp;
                            ps.coordinator_epoch = coordinator_epoch;
                            ps.current_txn_start_offset = txn_start.unwrap_or(-1);
                            ps
                        })
                        .collect();
                }
            }
            out.partitions.push(pr);
        }
        r.topics.push(out);
    }
    r
}
