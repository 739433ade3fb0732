//! InitProducerId: a fresh producer id for idempotent producers; for transactional ones the
//! transaction coordinator's id and next epoch, fencing older instances.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::RequestContext;
use crate::broker::Broker;
use crate::txn::TxnError;

/// v6 (KIP-939) exists, but kafka-protocol 0.18 decodes requests only up to v5.
pub const VERSIONS: (i16, i16) = (0, 5);

pub async fn handle(broker: &Broker, _ctx: &RequestContext, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let mut r = InitProducerIdResponse::default();
    r.producer_id = ProducerId(-1);
    r.producer_epoch = -1;
    let result = match req.transactional_id.as_ref().filter(|t| !t.0.is_empty()) {
        None => broker.next_producer_id().await.map(|id| (id, 0)).map_err(|e| {
            tracing::warn!(error = %e, "could not allocate a producer id");
            ResponseError::CoordinatorNotAvailable
        }),
        Some(txn_id) => {
            let ready = super::txns_ready(broker).await;
            if let Err(e) = ready.and_then(|()| super::coordinates(broker, txn_id.0.as_str(), true)) {
                r.error_code = e.code();
                return r;
            }
            let expected = (req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
            let ids = broker.producer_ids();
            let alloc = move || {
                let ids = ids.clone();
                Box::pin(async move { ids.next().await.map_err(|_| TxnError::CoordinatorNotAvailable) })
                    as futures::future::BoxFuture<'static, Result<i64, TxnError>>
            };
            broker
                .txns
                .init_producer_id(
                    broker.txn_effects.as_ref(),
                    txn_id.0.as_str(),
                    req.transaction_timeout_ms,
                    expected,
                    alloc,
                )
                .await
                .map_err(ResponseError::from)
        }
    };
    match result {
        Ok((id, epoch)) => {
            r.producer_id = ProducerId(id);
            r.producer_epoch = epoch;
        }
        Err(e) => r.error_code = e.code(),
    }
    r
}
