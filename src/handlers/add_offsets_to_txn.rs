//! AddOffsetsToTxn: the group's offsets become part of the transaction.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::RequestContext;
use crate::broker::Broker;

pub const VERSIONS: (i16, i16) = (0, 4);

pub async fn handle(broker: &Broker, _ctx: &RequestContext, req: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse {
    let mut r = AddOffsetsToTxnResponse::default();
    let ready = super::groups_ready(broker).await;
    let result = match ready.and_then(|()| super::coordinates(broker, req.transactional_id.0.as_str(), true)) {
        Err(e) => Err(e),
        Ok(()) => broker
            .txns
            .add(
                req.transactional_id.0.as_str(),
                (req.producer_id.0, req.producer_epoch),
                &[],
                Some(req.group_id.0.as_str()),
            )
            .await
            .map_err(ResponseError::from),
    };
    r.error_code = result.err().map(|e| e.code()).unwrap_or(0);
    r
}
