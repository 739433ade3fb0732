//! LeaveGroup: one member (v0-2) or a batch of members by id or instance id (v3+).

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::handlers::errors::WireCode;

pub const VERSIONS: (i16, i16) = (0, 5);

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: LeaveGroupRequest) -> LeaveGroupResponse {
    let members: Vec<(String, Option<String>)> = if ctx.version >= 3 {
        req.members
            .iter()
            .map(|m| (m.member_id.to_string(), m.group_instance_id.as_ref().map(|s| s.to_string())))
            .collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    let mut r = LeaveGroupResponse::default();
    if let Err(e) = super::coordinates(broker, req.group_id.0.as_str(), false) {
        r.error_code = e.code();
        return r;
    }
    match broker.groups.leave(req.group_id.0.as_str(), &members).await {
        Err(e) => r.error_code = e.code(),
        Ok(results) if ctx.version >= 3 => {
            r.members = members
                .into_iter()
                .zip(results)
                .map(|((id, inst), res)| {
                    let mut m = MemberResponse::default();
                    m.member_id = super::str_bytes(id);
                    m.group_instance_id = inst.map(super::str_bytes);
                    m.error_code = res.err().map(|e| e.code()).unwrap_or(0);
                    m
                })
                .collect();
        }
        Ok(results) => r.error_code = results.first().and_then(|r| r.err()).map(|e| e.code()).unwrap_or(0),
    }
    r
}
