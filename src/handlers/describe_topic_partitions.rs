//! DescribeTopicPartitions (KIP-966): what kafka-topics --describe uses since 3.7, with a
//! partition limit and a cursor for paging.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName};

use super::{RequestContext, is_internal, metadata::TOPIC_OPERATIONS_ALL, str_bytes};
use crate::broker::Broker;

pub const VERSIONS: (i16, i16) = (0, 0);

pub fn handle(
    broker: &Broker,
    _ctx: &RequestContext,
    req: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let image = broker.image();
    let mut names: Vec<String> = if req.topics.is_empty() {
        image.topics.keys().cloned().collect()
    } else {
        req.topics.iter().map(|t| t.name.0.to_string()).collect()
    };
    names.sort();
    let (cursor_topic, cursor_partition) = match &req.cursor {
        Some(c) => (Some(c.topic_name.0.to_string()), c.partition_index),
        None => (None, 0),
    };
    let mut budget = if req.response_partition_limit > 0 { req.response_partition_limit } else { 2000 };
    let mut r = DescribeTopicPartitionsResponse::default();
    for name in names {
        if cursor_topic.as_ref().is_some_and(|c| name < *c) {
            continue;
        }
        let mut t = DescribeTopicPartitionsResponseTopic::default();
        t.name = Some(TopicName(str_bytes(name.clone())));
        t.topic_authorized_operations = TOPIC_OPERATIONS_ALL;
        let Some(topic) = image.topics.get(&name) else {
            t.error_code = ResponseError::UnknownTopicOrPartition.code();
            r.topics.push(t);
            continue;
        };
        t.topic_id = topic.id;
        t.is_internal = is_internal(&name);
        let first = if cursor_topic.as_deref() == Some(name.as_str()) { cursor_partition.max(0) as usize } else { 0 };
        for (i, p) in topic.partitions.iter().enumerate().skip(first) {
            if budget == 0 {
                let mut c = Cursor::default();
                c.topic_name = TopicName(str_bytes(name.clone()));
                c.partition_index = i as i32;
                r.next_cursor = Some(c);
                r.topics.push(t);
                return r;
            }
            budget -= 1;
            let mut d = DescribeTopicPartitionsResponsePartition::default();
            d.partition_index = i as i32;
            d.leader_id = BrokerId(p.leader);
            d.leader_epoch = p.leader_epoch;
            d.replica_nodes = p.replicas.iter().map(|b| BrokerId(*b)).collect();
            d.isr_nodes = p.isr.iter().map(|b| BrokerId(*b)).collect();
            d.eligible_leader_replicas = Some(vec![]);
            d.last_known_elr = Some(vec![]);
            t.partitions.push(d);
        }
        r.topics.push(t);
    }
    r
}
