//! DeleteGroups: empty groups only (NON_EMPTY_GROUP otherwise), with their offsets.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::handlers::errors::WireCode;

pub const VERSIONS: (i16, i16) = (0, 2);

pub async fn handle(broker: &Broker, _ctx: &RequestContext, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut r = DeleteGroupsResponse::default();
    for g in req.groups_names {
        let mut out = DeletableGroupResult::default();
        out.error_code = match super::coordinates(broker, g.0.as_str(), false) {
            Err(e) => e.code(),
            Ok(()) => broker.groups.delete(g.0.as_str()).await.err().map(|e| e.code()).unwrap_or(0),
        };
        if out.error_code == 0 {
            tracing::info!(group = %g.0.as_str(), "deleted group");
        }
        out.group_id = g;
        r.results.push(out);
    }
    r
}
