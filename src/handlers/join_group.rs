//! JoinGroup: hands the request to the coordinator and waits (without blocking other
//! connections) until the join phase completes.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::{RequestContext, err_code, str_bytes};
use crate::broker::Broker;
use crate::group::JoinRequest;

pub const VERSIONS: (i16, i16) = (0, 9);

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: JoinGroupRequest) -> JoinGroupResponse {
    let mut r = JoinGroupResponse::default();
    r.generation_id = -1;
    r.member_id = req.member_id.clone();
    let group = req.group_id.0.to_string();
    if group.is_empty() {
        r.error_code = ResponseError::InvalidGroupId.code();
        return r;
    }
    if let Err(e) = super::groups_ready(broker).await.and_then(|()| super::coordinates(broker, &group, false)) {
        r.error_code = e.code();
        return r;
    }
    let join = JoinRequest {
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
        client_id: ctx.client_id.clone(),
        client_host: ctx.client_host.clone(),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout: it is the session timeout.
        rebalance_timeout_ms: if ctx.version >= 1 { req.rebalance_timeout_ms } else { req.session_timeout_ms },
        protocol_type: req.protocol_type.to_string(),
        protocols: req.protocols.iter().map(|p| (p.name.to_string(), p.metadata.clone())).collect(),
        require_known_member_id: ctx.version >= 4,
    };
    tracing::debug!(%group, member = %join.member_id, instance = ?join.instance_id, "JoinGroup");
    let out = broker.groups.join(&group, join).await;
    tracing::debug!(%group, member = %out.member_id, generation = out.generation, leader = %out.leader, error = ?out.error, "JoinGroup answered");
    r.error_code = err_code(out.error);
    r.generation_id = out.generation;
    r.leader = str_bytes(out.leader);
    if ctx.version >= 9 {
        r.skip_assignment = out.skip_assignment;
        // A returning static leader that skips the assignment is told it leads (KIP-814);
        // before v9 it is told the old leader id, so it syncs as a follower.
        if out.skip_assignment {
            r.leader = str_bytes(out.member_id.clone());
        }
    }
    r.member_id = str_bytes(out.member_id);
    // Without skipAssignment (before v9) a returning static leader gets no member list, so it
    // syncs as a follower and keeps the current assignment, as Kafka answers.
    let members = if out.skip_assignment && ctx.version < 9 { vec![] } else { out.members };
    if ctx.version >= 7 {
        r.protocol_type = out.protocol_type.map(str_bytes);
    }
    r.protocol_name = match (out.protocol_name, ctx.version >= 7) {
        (Some(p), _) => Some(str_bytes(p)),
        (None, true) => None,
        (None, false) => Some(str_bytes("")),
    };
    r.members = members
        .into_iter()
        .map(|m| {
            let mut jm = JoinGroupResponseMember::default();
            jm.member_id = str_bytes(m.member_id);
            if ctx.version >= 5 {
                jm.group_instance_id = m.instance_id.map(str_bytes);
            }
            jm.metadata = m.metadata;
            jm
        })
        .collect();
    r
}
