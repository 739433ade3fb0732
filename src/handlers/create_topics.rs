//! CreateTopics: validation (name, counts, replication factor, assignments, configs), then one
//! metadata command per topic. A topic's failure is that topic's error code only.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::{RequestContext, str_bytes, validate_topic_name};
use crate::broker::Broker;
use crate::cluster::placement::{PARTITIONS_MAX, PARTITIONS_PER_REQUEST_MAX, for_new_topic};
use crate::config::topic as topic_config;

pub const VERSIONS: (i16, i16) = (2, 7);

pub async fn handle(broker: &Broker, ctx: &RequestContext, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let mut r = CreateTopicsResponse::default();
    if requested_partitions(broker, &req.topics) > PARTITIONS_PER_REQUEST_MAX {
        // As Kafka's controller: the whole request is refused, every topic with the same error.
        for t in &req.topics {
            let mut result = CreatableTopicResult::default();
            result.name = t.name.clone();
            result.num_partitions = -1;
            result.replication_factor = -1;
            result.error_code = ResponseError::PolicyViolation.code();
            result.error_message = Some(str_bytes("Excessively large number of partitions per request."));
            r.topics.push(result);
        }
        return r;
    }
    let mut seen = std::collections::HashSet::new();
    for t in req.topics {
        let mut result = CreatableTopicResult::default();
        result.name = t.name.clone();
        result.num_partitions = -1;
        result.replication_factor = -1;
        if !seen.insert(t.name.0.to_string()) {
            result.error_code = ResponseError::InvalidRequest.code();
            result.error_message = Some(str_bytes("Duplicate topic name in request"));
            r.topics.push(result);
            continue;
        }
        match plan(broker, &t) {
            Err((e, msg)) => {
                result.error_code = e.code();
                result.error_message = Some(str_bytes(msg));
            }
            Ok((assignment, configs)) => {
                let name = t.name.0.as_str();
                result.num_partitions = assignment.len() as i32;
                result.replication_factor = assignment.first().map(|a| a.len() as i16).unwrap_or(0);
                if broker.image().topics.contains_key(name) {
                    result.error_code = ResponseError::TopicAlreadyExists.code();
                    result.error_message = Some(str_bytes(format!("Topic '{name}' already exists.")));
                } else if !req.validate_only {
                    match broker.create_topic(name, assignment, configs.clone()).await {
                        Ok(Some(topic)) => {
                            result.topic_id = topic.id;
                            tracing::info!(topic = name, partitions = result.num_partitions, "created topic");
                        }
                        Ok(None) => {
                            result.error_code = ResponseError::TopicAlreadyExists.code();
                            result.error_message = Some(str_bytes(format!("Topic '{name}' already exists.")));
                        }
                        Err(e) => {
                            result.error_code = ResponseError::UnknownServerError.code();
                            result.error_message = Some(str_bytes(e.to_string()));
                        }
                    }
                }
                if ctx.version >= 5 && result.error_code == 0 {
                    result.configs = Some(describe_configs(broker, &configs));
                }
            }
        }
        if ctx.version >= 5 && result.error_code != 0 {
            result.num_partitions = -1;
            result.replication_factor = -1;
        }
        r.topics.push(result);
    }
    r
}

/// The partitions a request asks for, counted as Kafka counts them: the assignments when given,
/// else the count (-1 for the default).
fn requested_partitions(broker: &Broker, topics: &[CreatableTopic]) -> i64 {
    topics
        .iter()
        .map(|t| match (t.assignments.len(), t.num_partitions) {
            (0, -1) => i64::from(broker.config.num_partitions),
            (0, n) => i64::from(n.max(0)),
            (given, _) => given as i64,
        })
        .sum()
}

type Plan = (Vec<Vec<i32>>, BTreeMap<String, String>);

fn plan(broker: &Broker, t: &CreatableTopic) -> Result<Plan, (ResponseError, String)> {
    let name = t.name.0.as_str();
    validate_topic_name(name).map_err(|m| (ResponseError::InvalidTopicException, m))?;
    let image = broker.image();
    let live = image.live_brokers();
    let nodes: Vec<i32> = image.brokers.keys().copied().collect();
    let configs = topic_config::validate_all(t.configs.iter().map(|c| (c.name.as_str(), c.value.as_deref())))
        .map_err(|m| (ResponseError::InvalidConfig, m))?;
    if !t.assignments.is_empty() {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            return Err((
                ResponseError::InvalidRequest,
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into(),
            ));
        }
        let mut by_index: Vec<_> = t.assignments.iter().collect();
        by_index.sort_by_key(|a| a.partition_index);
        let mut out = Vec::new();
        for (i, a) in by_index.iter().enumerate() {
            if a.partition_index != i as i32 {
                return Err((
                    ResponseError::InvalidReplicaAssignment,
                    "Partitions should be a consecutive 0-based integer sequence".into(),
                ));
            }
            let replicas: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
            if replicas.is_empty() || replicas.iter().any(|b| !nodes.contains(b)) {
                return Err((
                    ResponseError::InvalidReplicaAssignment,
                    format!("Replica assignment {replicas:?} names unknown brokers"),
                ));
            }
            out.push(replicas);
        }
        return Ok((out, configs));
    }
    let partitions = if t.num_partitions == -1 { broker.config.num_partitions } else { t.num_partitions };
    if partitions <= 0 || partitions > PARTITIONS_MAX {
        return Err((
            ResponseError::InvalidPartitions,
            format!("Number of partitions must be between 1 and {PARTITIONS_MAX}: {partitions}"),
        ));
    }
    let rf = if t.replication_factor == -1 { broker.config.default_replication_factor } else { t.replication_factor };
    if rf <= 0 {
        return Err((
            ResponseError::InvalidReplicationFactor,
            "Replication factor must be larger than 0, or -1 to use the default value.".into(),
        ));
    }
    if rf as usize > live.len() {
        return Err((
            ResponseError::InvalidReplicationFactor,
            format!(
                "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only {} broker(s) are registered.",
                live.len()
            ),
        ));
    }
    Ok((for_new_topic(&live, partitions, rf), configs))
}

fn describe_configs(broker: &Broker, configs: &BTreeMap<String, String>) -> Vec<CreatableTopicConfigs> {
    let image = broker.image();
    topic_config::effective(configs, &broker.defaults(&image))
        .into_iter()
        .map(|e| {
            let mut c = CreatableTopicConfigs::default();
            c.name = str_bytes(e.name);
            c.value = Some(str_bytes(e.value));
            c.read_only = e.read_only;
            c.config_source = e.source as i8;
            c.is_sensitive = e.sensitive;
            c
        })
        .collect()
}
