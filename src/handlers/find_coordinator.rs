//! FindCoordinator: on one node, this broker coordinates every group and transactional id.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::{RequestContext, str_bytes};
use crate::broker::Broker;

pub const VERSIONS: (i16, i16) = (0, 6);

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let (host, port) = broker.config.advertised();
    let node = BrokerId(broker.config.node_id);
    let mut r = FindCoordinatorResponse::default();
    let mut key_type_ok = req.key_type == 0 || req.key_type == 1;
    let mut error = if key_type_ok { 0 } else { ResponseError::InvalidRequest.code() };
    let ready = match req.key_type {
        0 => super::groups_ready(broker).await,
        1 => super::txns_ready(broker).await,
        _ => Ok(()),
    };
    if let Err(e) = ready {
        key_type_ok = false;
        error = e.code();
    }
    if ctx.version >= 4 {
        r.coordinators = req
            .coordinator_keys
            .iter()
            .map(|k| {
                let mut c = Coordinator::default();
                c.key = k.clone();
                c.error_code = error;
                if key_type_ok {
                    c.node_id = node;
                    c.host = str_bytes(host.clone());
                    c.port = port as i32;
                } else {
                    c.node_id = BrokerId(-1);
                    c.port = -1;
                }
                c
            })
            .collect();
    } else {
        r.error_code = error;
        r.node_id = if key_type_ok { node } else { BrokerId(-1) };
        r.host = str_bytes(if key_type_ok { host } else { String::new() });
        r.port = if key_type_ok { port as i32 } else { -1 };
    }
    r
}
