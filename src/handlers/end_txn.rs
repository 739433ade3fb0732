//! EndTxn: commit or abort, writing the markers before answering.

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use super::RequestContext;
use crate::broker::Broker;
use crate::handlers::errors::WireCode;

pub const VERSIONS: (i16, i16) = (0, 4);

pub async fn handle(broker: &Broker, _ctx: &RequestContext, req: EndTxnRequest) -> EndTxnResponse {
    let mut r = EndTxnResponse::default();
    r.producer_id = ProducerId(-1);
    r.producer_epoch = -1;
    if let Err(e) = super::coordinates(broker, req.transactional_id.0.as_str(), true) {
        r.error_code = e.code();
        return r;
    }
    let result = broker
        .txns
        .end(
            broker.txn_effects.as_ref(),
            req.transactional_id.0.as_str(),
            (req.producer_id.0, req.producer_epoch),
            req.committed,
        )
        .await;
    r.error_code = result.err().map(|e| e.code()).unwrap_or(0);
    r
}
