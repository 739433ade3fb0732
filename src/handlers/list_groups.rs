//! ListGroups with the state filter (v4+) and type filter (v5+).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::{RequestContext, str_bytes};
use crate::broker::Broker;

pub const VERSIONS: (i16, i16) = (0, 5);

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: ListGroupsRequest) -> ListGroupsResponse {
    let mut r = ListGroupsResponse::default();
    let states: Vec<String> = req.states_filter.iter().map(|s| s.to_ascii_lowercase()).collect();
    let types: Vec<String> = req.types_filter.iter().map(|s| s.to_ascii_lowercase()).collect();
    for (id, protocol_type, state, kind) in broker.groups.list().await {
        if !states.is_empty() && !states.contains(&state.to_ascii_lowercase()) {
            continue;
        }
        if !types.is_empty() && !types.iter().any(|t| t == kind) {
            continue;
        }
        let mut g = ListedGroup::default();
        g.group_id = GroupId(str_bytes(id));
        g.protocol_type = str_bytes(protocol_type);
        if ctx.version >= 4 {
            g.group_state = str_bytes(state);
        }
        if ctx.version >= 5 {
            g.group_type = str_bytes(kind);
        }
        r.groups.push(g);
    }
    r
}
