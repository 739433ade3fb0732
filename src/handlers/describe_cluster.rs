//! DescribeCluster: brokers, cluster id and controller, as the AdminClient asks for them.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::metadata::CLUSTER_OPERATIONS_ALL;
use super::{RequestContext, str_bytes};
use crate::broker::Broker;

pub const VERSIONS: (i16, i16) = (0, 2);

pub fn handle(broker: &Broker, _ctx: &RequestContext, req: DescribeClusterRequest) -> DescribeClusterResponse {
    let image = broker.image();
    let mut r = DescribeClusterResponse::default();
    r.cluster_id = str_bytes(image.cluster_id.clone());
    r.controller_id = BrokerId(broker.controller_id(&image));
    r.endpoint_type = req.endpoint_type;
    r.cluster_authorized_operations =
        if req.include_cluster_authorized_operations { CLUSTER_OPERATIONS_ALL } else { i32::MIN };
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
