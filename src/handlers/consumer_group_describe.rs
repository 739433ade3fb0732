//! ConsumerGroupDescribe (KIP-848). A classic group answers GROUP_ID_NOT_FOUND, which tells
//! the admin client to fall back to DescribeGroups, as Kafka does.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{Assignment, DescribedGroup, Member, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName};

use super::{RequestContext, str_bytes};
use crate::broker::Broker;
use crate::cluster::Image;
use crate::group::consumer::{self, ConsumerGroup};

pub const VERSIONS: (i16, i16) = (0, 1);

fn assignment(a: &consumer::Assignment, image: &Image) -> Assignment {
    let mut out = Assignment::default();
    out.topic_partitions = a
        .iter()
        .filter_map(|(id, ps)| {
            let t = image.topic_by_id(id)?;
            let mut tp = TopicPartitions::default();
            tp.topic_id = *id;
            tp.topic_name = TopicName(str_bytes(t.name.clone()));
            tp.partitions = ps.iter().copied().collect();
            Some(tp)
        })
        .collect();
    out
}

fn describe(g: &ConsumerGroup, image: &Image, version: i16) -> DescribedGroup {
    let mut d = DescribedGroup::default();
    d.group_state = str_bytes(g.state_name());
    d.group_epoch = g.group_epoch;
    d.assignment_epoch = g.assignment_epoch;
    d.assignor_name = str_bytes(g.assignor.clone());
    d.authorized_operations = i32::MIN;
    d.members = g
        .members
        .values()
        .map(|m| {
            let mut mm = Member::default();
            mm.member_id = str_bytes(m.id.clone());
            mm.instance_id = m.instance_id.clone().map(str_bytes);
            mm.rack_id = m.rack_id.clone().map(str_bytes);
            mm.member_epoch = m.epoch;
            mm.client_id = str_bytes(m.client_id.clone());
            mm.client_host = str_bytes(m.client_host.clone());
            mm.subscribed_topic_names = m.subscribed_names.iter().map(|n| TopicName(str_bytes(n.clone()))).collect();
            // Kafka sends an empty string, not null, for a member without a regex.
            mm.subscribed_topic_regex = Some(str_bytes(m.subscribed_regex.clone().unwrap_or_default()));
            mm.assignment = assignment(&m.assigned, image);
            mm.target_assignment = assignment(g.target.get(&m.id).unwrap_or(&Default::default()), image);
            if version >= 1 {
                // KIP-1099: 0 for a classic member of a mixed group, 1 for a consumer one.
                mm.member_type = if m.classic.is_some() { 0 } else { 1 };
            }
            mm
        })
        .collect();
    d
}

pub async fn handle(
    broker: &Broker,
    ctx: &RequestContext,
    req: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let image = broker.image();
    let mut r = ConsumerGroupDescribeResponse::default();
    for id in req.group_ids {
        let described = match super::coordinates(broker, id.0.as_str(), false) {
            Ok(()) => {
                broker.groups.consumer_describe(id.0.as_str(), |g| describe(g, &image, ctx.version)).await.ok_or(None)
            }
            Err(e) => Err(Some(e)),
        };
        let mut d = match described {
            Ok(d) => d,
            Err(Some(e)) => {
                let mut d = DescribedGroup::default();
                d.error_code = e.code();
                d.authorized_operations = i32::MIN;
                d
            }
            Err(None) => {
                let mut d = DescribedGroup::default();
                d.error_code = ResponseError::GroupIdNotFound.code();
                d.error_message = Some(str_bytes(format!("Group {} not found.", id.0.as_str())));
                d.authorized_operations = i32::MIN;
                d
            }
        };
        if req.include_authorized_operations {
            d.authorized_operations = (1 << 3) | (1 << 6) | (1 << 8);
        }
        d.group_id = id;
        r.groups.push(d);
    }
    r
}
