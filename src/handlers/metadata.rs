//! Metadata: brokers, cluster id, controller, and topics (creating unknown ones when allowed).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use uuid::Uuid;

use super::{RequestContext, is_internal, str_bytes, validate_topic_name};
use crate::broker::Broker;
use crate::cluster::{Image, Topic};

pub const VERSIONS: (i16, i16) = (0, 13);

/// Every topic operation is allowed while there are no ACLs: READ, WRITE, CREATE, DELETE, ALTER,
/// DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS as a bit set of Kafka's AclOperation codes.
pub const TOPIC_OPERATIONS_ALL: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

/// Every operation on the cluster, as Kafka reports them when nothing is denied: CREATE (5),
/// ALTER (7), DESCRIBE (8), CLUSTER_ACTION (9), DESCRIBE_CONFIGS (10), ALTER_CONFIGS (11),
/// IDEMPOTENT_WRITE (12).
pub const CLUSTER_OPERATIONS_ALL: i32 = (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: MetadataRequest) -> MetadataResponse {
    let auto_create = broker.config.auto_create_topics_enable && (ctx.version < 4 || req.allow_auto_topic_creation);
    let mut r = MetadataResponse::default();
    let mut topics = Vec::new();
    let all = match &req.topics {
        None => true,
        Some(t) => t.is_empty() && ctx.version == 0,
    };
    if all {
        let image = broker.image();
        topics = image.topics.values().map(|t| describe(&image, t, &req)).collect();
    } else {
        for t in req.topics.iter().flatten() {
            let entry = match &t.name {
                Some(name) => by_name(broker, name, auto_create, &req).await,
                None => by_id(broker, t.topic_id, &req),
            };
            topics.push(entry);
        }
    }
    let image = broker.image();
    // Fenced brokers are not offered to clients, as Kafka's metadata cache leaves them out.
    r.brokers = image
        .live_brokers()
        .iter()
        .map(|(id, b)| {
            let mut m = MetadataResponseBroker::default();
            m.node_id = BrokerId(*id);
            m.host = str_bytes(b.host.clone());
            m.port = b.port as i32;
            m.rack = b.rack.clone().map(str_bytes);
            m
        })
        .collect();
    r.cluster_id = Some(str_bytes(image.cluster_id.clone()));
    r.controller_id = BrokerId(broker.controller_id(&image));
    // Asked for by v8-10 only (KIP-700 moved it to DescribeCluster).
    let cluster_ops = (8..=10).contains(&ctx.version) && req.include_cluster_authorized_operations;
    r.cluster_authorized_operations = if cluster_ops { CLUSTER_OPERATIONS_ALL } else { i32::MIN };
    r.topics = topics;
    r
}

async fn by_name(broker: &Broker, name: &TopicName, auto_create: bool, req: &MetadataRequest) -> MetadataResponseTopic {
    let n = name.0.as_str();
    if let Some(t) = broker.image().topics.get(n) {
        return describe(&broker.image(), t, req);
    }
    if let Err(reason) = validate_topic_name(n) {
        tracing::debug!(topic = n, %reason, "metadata for an invalid topic name");
        return error_topic(Some(name.clone()), Uuid::nil(), ResponseError::InvalidTopicException);
    }
    if !auto_create || is_internal(n) {
        return error_topic(Some(name.clone()), Uuid::nil(), ResponseError::UnknownTopicOrPartition);
    }
    let count = broker.config.num_partitions;
    let rf = broker.config.default_replication_factor;
    let live = broker.image().live_brokers();
    if (rf as usize) > live.len() {
        return error_topic(Some(name.clone()), Uuid::nil(), ResponseError::InvalidReplicationFactor);
    }
    let assignment = crate::cluster::placement::for_new_topic(&live, count, rf);
    match broker.create_topic(n, assignment, Default::default()).await {
        Ok(_) => tracing::info!(topic = n, partitions = count, "auto-created topic"),
        Err(e) => tracing::warn!(topic = n, error = %e, "auto-creation failed"),
    }
    match broker.image().topics.get(n) {
        Some(t) => describe(&broker.image(), t, req),
        None => error_topic(Some(name.clone()), Uuid::nil(), ResponseError::LeaderNotAvailable),
    }
}

fn by_id(broker: &Broker, id: Uuid, req: &MetadataRequest) -> MetadataResponseTopic {
    match broker.image().topic_by_id(&id) {
        Some(t) => describe(&broker.image(), t, req),
        None => error_topic(None, id, ResponseError::UnknownTopicId),
    }
}

fn error_topic(name: Option<TopicName>, id: Uuid, e: ResponseError) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default();
    t.name = name;
    t.topic_id = id;
    t.error_code = e.code();
    t.topic_authorized_operations = i32::MIN;
    t
}

/// A partition whose leader is offline answers LEADER_NOT_AVAILABLE, and replicas on fenced
/// brokers are listed as offline, as Kafka's metadata cache reports them.
fn describe(image: &Image, topic: &Topic, req: &MetadataRequest) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default();
    t.name = Some(TopicName(str_bytes(topic.name.clone())));
    t.topic_id = topic.id;
    t.is_internal = is_internal(&topic.name);
    t.topic_authorized_operations =
        if req.include_topic_authorized_operations { TOPIC_OPERATIONS_ALL } else { i32::MIN };
    t.partitions = topic
        .partitions
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut m = MetadataResponsePartition::default();
            m.partition_index = i as i32;
            m.leader_id = BrokerId(p.leader);
            m.leader_epoch = p.leader_epoch;
            m.replica_nodes = p.replicas.iter().map(|b| BrokerId(*b)).collect();
            m.isr_nodes = p.isr.iter().map(|b| BrokerId(*b)).collect();
            m.offline_replicas = p.replicas.iter().filter(|b| !image.is_live(**b)).map(|b| BrokerId(*b)).collect();
            if p.leader < 0 {
                m.error_code = ResponseError::LeaderNotAvailable.code();
            }
            m
        })
        .collect();
    t
}
