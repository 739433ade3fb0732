//! FindCoordinator: the node that coordinates a group or a transactional id. A lone node
//! coordinates everything; in a cluster it is the leader of the key's partition of
//! `__consumer_offsets` or `__transaction_state`.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::{RequestContext, str_bytes};
use crate::broker::Broker;

pub const VERSIONS: (i16, i16) = (0, 6);

/// Where one key is coordinated: (node, host, port), or the error the client gets.
type Found = Result<(i32, String, u16), ResponseError>;

fn locate(broker: &Broker, key: &str, txn: bool) -> Found {
    let node = broker.coordinator_of(key, txn).filter(|n| *n >= 0).ok_or(ResponseError::CoordinatorNotAvailable)?;
    if node == broker.config.node_id {
        let (host, port) = broker.config.advertised();
        return Ok((node, host, port));
    }
    let image = broker.image();
    let b = image.brokers.get(&node).ok_or(ResponseError::CoordinatorNotAvailable)?;
    Ok((node, b.host.clone(), b.port))
}

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let mut r = FindCoordinatorResponse::default();
    let txn = req.key_type == 1;
    let ready = match req.key_type {
        0 => super::groups_ready(broker).await,
        1 => super::txns_ready(broker).await,
        _ => Err(ResponseError::InvalidRequest),
    };
    // (error, node, host, port) for one key: -1 and no host where it is not found.
    let find = |key: &str| match ready.and_then(|()| locate(broker, key, txn)) {
        Ok((node, host, port)) => (0, node, host, port as i32),
        Err(e) => (e.code(), -1, String::new(), -1),
    };
    if ctx.version >= 4 {
        r.coordinators = req
            .coordinator_keys
            .iter()
            .map(|k| {
                let mut c = Coordinator::default();
                c.key = k.clone();
                let (error, node, host, port) = find(k.as_str());
                (c.error_code, c.node_id, c.host, c.port) = (error, BrokerId(node), str_bytes(host), port);
                c
            })
            .collect();
    } else {
        let (error, node, host, port) = find(req.key.as_str());
        (r.error_code, r.node_id, r.host, r.port) = (error, BrokerId(node), str_bytes(host), port);
    }
    r
}
