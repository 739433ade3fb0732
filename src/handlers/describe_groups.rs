//! DescribeGroups: state, protocol and members with their metadata and assignments.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::{RequestContext, str_bytes};
use crate::broker::Broker;

pub const VERSIONS: (i16, i16) = (0, 6);

/// Every group operation is allowed while there are no ACLs: READ, DELETE, DESCRIBE.
const GROUP_OPERATIONS_ALL: i32 = (1 << 3) | (1 << 6) | (1 << 8);

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let mut r = DescribeGroupsResponse::default();
    for g in req.groups {
        let mut out = DescribedGroup::default();
        out.group_id = g.clone();
        out.authorized_operations =
            if ctx.version >= 3 && req.include_authorized_operations { GROUP_OPERATIONS_ALL } else { i32::MIN };
        if let Err(e) = super::coordinates(broker, g.0.as_str(), false) {
            out.error_code = e.code();
            r.groups.push(out);
            continue;
        }
        match broker.groups.describe(g.0.as_str()).await {
            None => {
                out.group_state = str_bytes("Dead");
                if ctx.version >= 6 {
                    out.error_code = ResponseError::GroupIdNotFound.code();
                    out.error_message = Some(str_bytes(format!("Group {} not found.", g.0.as_str())));
                }
            }
            Some(d) => {
                out.group_state = str_bytes(d.state);
                out.protocol_type = str_bytes(d.protocol_type);
                out.protocol_data = str_bytes(d.protocol);
                out.members = d
                    .members
                    .into_iter()
                    .map(|m| {
                        let mut dm = DescribedGroupMember::default();
                        dm.member_id = str_bytes(m.member_id);
                        if ctx.version >= 4 {
                            dm.group_instance_id = m.instance_id.map(str_bytes);
                        }
                        dm.client_id = str_bytes(m.client_id);
                        dm.client_host = str_bytes(m.client_host);
                        dm.member_metadata = m.metadata;
                        dm.member_assignment = m.assignment;
                        dm
                    })
                    .collect();
            }
        }
        r.groups.push(out);
    }
    r
}
