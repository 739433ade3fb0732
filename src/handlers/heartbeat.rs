//! Heartbeat: keeps a member's session alive and tells it when to rejoin.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::handlers::errors::WireCode;

pub const VERSIONS: (i16, i16) = (0, 4);

pub async fn handle(broker: &Broker, _ctx: &RequestContext, req: HeartbeatRequest) -> HeartbeatResponse {
    let mut r = HeartbeatResponse::default();
    if let Err(e) = super::coordinates(broker, req.group_id.0.as_str(), false) {
        r.error_code = e.code();
        return r;
    }
    let res = broker
        .groups
        .heartbeat(req.group_id.0.as_str(), req.member_id.as_str(), req.group_instance_id.as_deref(), req.generation_id)
        .await;
    r.error_code = res.err().map(|e| e.code()).unwrap_or(0);
    r
}
