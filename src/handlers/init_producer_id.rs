//! InitProducerId for idempotent producers: a fresh producer id at epoch 0. Transactional ids
//! need the transaction coordinator, a later issue; until then they are refused.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::RequestContext;
use crate::broker::Broker;

/// v6 (KIP-939) exists, but kafka-protocol 0.18 decodes requests only up to v5.
pub const VERSIONS: (i16, i16) = (0, 5);

pub async fn handle(broker: &Broker, _ctx: &RequestContext, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let mut r = InitProducerIdResponse::default();
    r.producer_id = ProducerId(-1);
    r.producer_epoch = -1;
    if req.transactional_id.is_some() {
        tracing::info!("transactional producer refused: transactions are not supported yet");
        r.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
        return r;
    }
    match broker.next_producer_id().await {
        Ok(id) => {
            r.producer_id = ProducerId(id);
            r.producer_epoch = 0;
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not allocate a producer id");
            r.error_code = ResponseError::CoordinatorNotAvailable.code();
        }
    }
    r
}
