//! ConsumerGroupHeartbeat (KIP-848): join, heartbeat, reconcile and leave in one API.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};

use super::{RequestContext, str_bytes};
use crate::broker::Broker;
use crate::group::consumer::{self, Heartbeat};
use crate::handlers::errors::WireCode;

pub const VERSIONS: (i16, i16) = (0, 1);

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let mut r = ConsumerGroupHeartbeatResponse::default();
    r.member_epoch = -1;
    let group = req.group_id.0.to_string();
    let invalid = if group.is_empty() {
        Some("GroupId can't be empty.")
    } else if (ctx.version >= 1 || req.member_epoch > 0 || req.member_epoch == consumer::LEAVE_EPOCH)
        && req.member_id.is_empty()
    {
        // From v1 the client generates its member id (KIP-1082).
        Some("MemberId can't be empty.")
    } else if req.member_epoch == 0 && req.rebalance_timeout_ms < 0 {
        Some("RebalanceTimeoutMs must be provided in first request.")
    } else {
        None
    };
    if let Some(msg) = invalid {
        r.error_code = ResponseError::InvalidRequest.code();
        r.error_message = Some(str_bytes(msg));
        return r;
    }
    if let Err(e) = super::groups_ready(broker).await.and_then(|()| super::coordinates(broker, &group, false)) {
        r.error_code = e.code();
        return r;
    }
    let image = broker.image();
    let owned = req.topic_partitions.as_ref().map(|tps| {
        tps.iter().map(|tp| (tp.topic_id, tp.partitions.iter().copied().collect())).collect::<consumer::Assignment>()
    });
    let hb = Heartbeat {
        member_id: req.member_id.to_string(),
        epoch: req.member_epoch,
        instance_id: req.instance_id.as_ref().map(|s| s.to_string()),
        rack_id: req.rack_id.as_ref().map(|s| s.to_string()),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed_names: req.subscribed_topic_names.as_ref().map(|ns| ns.iter().map(|n| n.0.to_string()).collect()),
        subscribed_regex: if ctx.version >= 1 {
            req.subscribed_topic_regex.as_ref().map(|s| s.to_string())
        } else {
            None
        },
        server_assignor: req.server_assignor.as_ref().map(|s| s.to_string()),
        owned,
        client_id: ctx.client_id.clone(),
        client_host: ctx.client_host.clone(),
    };
    let out = broker.groups.consumer_heartbeat(&group, hb).await;
    if let Some((e, msg)) = out.error {
        r.error_code = e.code();
        r.error_message = Some(str_bytes(msg));
        return r;
    }
    r.member_id = Some(str_bytes(out.member_id));
    r.member_epoch = out.epoch;
    r.heartbeat_interval_ms = broker.groups.heartbeat_interval_ms(&group);
    r.assignment = out.assignment.map(|a| {
        let mut asg = Assignment::default();
        asg.topic_partitions = a
            .into_iter()
            .filter(|(id, _)| image.topic_by_id(id).is_some())
            .map(|(id, ps)| {
                let mut tp = TopicPartitions::default();
                tp.topic_id = id;
                tp.partitions = ps.into_iter().collect();
                tp
            })
            .collect();
        asg
    });
    r
}
