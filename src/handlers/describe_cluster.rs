//! DescribeCluster: brokers, cluster id and controller, as the AdminClient asks for them; on a
//! controller listener (KIP-919, an AdminClient with `bootstrap.controllers`), the controllers
//! and the active one. The endpoint type asked for must be the listener's.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::metadata::CLUSTER_OPERATIONS_ALL;
use super::{RequestContext, str_bytes};
use crate::broker::Broker;

pub const VERSIONS: (i16, i16) = (0, 2);

/// DescribeCluster's EndpointType for controllers (1 is brokers).
const CONTROLLERS: i8 = 2;

pub fn handle(broker: &Broker, ctx: &RequestContext, req: DescribeClusterRequest) -> DescribeClusterResponse {
    let image = broker.image();
    let mut r = DescribeClusterResponse::default();
    r.cluster_id = str_bytes(image.cluster_id.clone());
    r.controller_id = BrokerId(broker.controller_id(&image));
    r.endpoint_type = req.endpoint_type;
    r.cluster_authorized_operations =
        if req.include_cluster_authorized_operations { CLUSTER_OPERATIONS_ALL } else { i32::MIN };
    let wants_controllers = req.endpoint_type == CONTROLLERS;
    if broker.metadata.is_cluster() && ctx.controller_listener != wants_controllers {
        r.error_code = ResponseError::MismatchedEndpointType.code();
        r.error_message = Some(str_bytes(if ctx.controller_listener {
            "this is a controller listener: ask a broker listener for brokers"
        } else {
            "this is a broker listener: ask a controller listener (bootstrap.controllers) for controllers"
        }));
        r.controller_id = BrokerId(-1);
        return r;
    }
    if wants_controllers {
        r.controller_id = BrokerId(broker.metadata.leader().unwrap_or(-1));
        let mut controllers = broker.metadata.controllers();
        if controllers.is_empty() {
            // A node alone is its own controller, reached on any of its listeners.
            let (host, port) = broker.config.advertised();
            controllers.push((broker.config.node_id, host, port));
        }
        r.brokers = controllers
            .into_iter()
            .map(|(id, host, port)| {
                let mut d = DescribeClusterBroker::default();
                d.broker_id = BrokerId(id);
                d.host = str_bytes(host);
                d.port = port as i32;
                d
            })
            .collect();
        return r;
    }
    r.brokers = image
        .live_brokers()
        .iter()
        .map(|(id, b)| {
            let mut d = DescribeClusterBroker::default();
            d.broker_id = BrokerId(*id);
            d.host = str_bytes(b.host.clone());
            d.port = b.port as i32;
            d.rack = b.rack.clone().map(str_bytes);
            d
        })
        .collect();
    r
}
