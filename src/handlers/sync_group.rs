//! SyncGroup: the leader's assignments reach every member of the generation.

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::{RequestContext, err_code, str_bytes};
use crate::broker::Broker;

pub const VERSIONS: (i16, i16) = (0, 5);

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: SyncGroupRequest) -> SyncGroupResponse {
    if ctx.version >= 5 && (req.protocol_type.is_none() || req.protocol_name.is_none()) {
        // From v5 both are mandatory; Kafka refuses the request before looking at the group.
        let mut r = SyncGroupResponse::default();
        r.error_code = kafka_protocol::ResponseError::InconsistentGroupProtocol.code();
        return r;
    }
    if let Err(e) = super::coordinates(broker, req.group_id.0.as_str(), false) {
        let mut r = SyncGroupResponse::default();
        r.error_code = e.code();
        return r;
    }
    tracing::debug!(group = %req.group_id.0, member = %req.member_id, generation = req.generation_id, "SyncGroup");
    let assignments = req.assignments.iter().map(|a| (a.member_id.to_string(), a.assignment.clone())).collect();
    let out = broker
        .groups
        .sync(
            req.group_id.0.as_str(),
            req.member_id.as_str(),
            req.group_instance_id.as_deref(),
            req.generation_id,
            (req.protocol_type.as_deref(), req.protocol_name.as_deref()),
            assignments,
        )
        .await;
    tracing::debug!(group = %req.group_id.0, member = %req.member_id, error = ?out.error, "SyncGroup answered");
    let mut r = SyncGroupResponse::default();
    r.error_code = err_code(out.error);
    if ctx.version >= 5 {
        r.protocol_type = out.protocol_type.map(str_bytes);
        r.protocol_name = out.protocol_name.map(str_bytes);
    }
    r.assignment = out.assignment;
    r
}
