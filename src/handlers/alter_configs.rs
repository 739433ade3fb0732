//! AlterConfigs (replace all of a resource's configs) and IncrementalAlterConfigs (SET, DELETE,
//! APPEND, SUBTRACT) for topics and for dynamic broker configs: per broker (resource name = node
//! id) and cluster-wide defaults (empty resource name), kept in the metadata log.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse as IncResponse;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};

use super::{RequestContext, str_bytes};
use crate::broker::Broker;
use crate::config::topic as topic_config;

pub const VERSIONS: (i16, i16) = (0, 2);
pub const INCREMENTAL_VERSIONS: (i16, i16) = (0, 1);

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const RESOURCE_GROUP: i8 = 32;

type Outcome = Result<(), (ResponseError, String)>;

async fn apply(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    validate_only: bool,
    change: impl FnOnce(&mut BTreeMap<String, String>) -> Outcome,
) -> Outcome {
    match resource_type {
        RESOURCE_TOPIC => {}
        RESOURCE_BROKER => return apply_broker(broker, name, validate_only, change).await,
        RESOURCE_GROUP => return apply_group(broker, name, validate_only, change).await,
        other => return Err((ResponseError::InvalidRequest, format!("Unsupported resource type {other}"))),
    }
    let image = broker.image();
    let topic = image
        .topics
        .get(name)
        .ok_or((ResponseError::UnknownTopicOrPartition, format!("The topic '{name}' does not exist.")))?;
    let mut configs = topic.configs.clone();
    change(&mut configs)?;
    let pairs: Vec<(String, String)> = configs.into_iter().collect();
    let configs = topic_config::validate_all(pairs.iter().map(|(k, v)| (k.as_str(), Some(v.as_str()))))
        .map_err(|m| (ResponseError::InvalidConfig, m))?;
    if validate_only {
        return Ok(());
    }
    match broker.set_topic_configs(name, configs).await {
        Ok(true) => Ok(()),
        Ok(false) => Err((ResponseError::UnknownTopicOrPartition, format!("The topic '{name}' does not exist."))),
        Err(e) => Err((ResponseError::UnknownServerError, e.to_string())),
    }
}

/// Broker properties that can change without a restart: those that are topic defaults.
fn dynamic_broker_key(key: &str) -> bool {
    topic_config::topic_key_of(key).is_some()
}

/// Broker properties gregor knows but only reads at start-up (server.properties).
const STATIC_BROKER_KEYS: &[&str] = &[
    "node.id",
    "broker.id",
    "process.roles",
    "listeners",
    "advertised.listeners",
    "log.dirs",
    "log.dir",
    "controller.quorum.voters",
    "num.partitions",
    "default.replication.factor",
    "auto.create.topics.enable",
    "socket.request.max.bytes",
    "offsets.topic.num.partitions",
    "transaction.state.log.num.partitions",
];

async fn apply_broker(
    broker: &Broker,
    name: &str,
    validate_only: bool,
    change: impl FnOnce(&mut BTreeMap<String, String>) -> Outcome,
) -> Outcome {
    if !name.is_empty() && name.parse::<i32>().is_err() {
        return Err((ResponseError::InvalidRequest, format!("Invalid broker name {name}")));
    }
    let image = broker.image();
    let mut configs = image.broker_configs.get(name).cloned().unwrap_or_default();
    change(&mut configs)?;
    let fixed: Vec<&str> = configs.keys().map(String::as_str).filter(|k| STATIC_BROKER_KEYS.contains(k)).collect();
    if !fixed.is_empty() {
        return Err((
            ResponseError::InvalidRequest,
            format!("Cannot update these configs dynamically: [{}]", fixed.join(", ")),
        ));
    }
    let mut normalized = BTreeMap::new();
    for (k, v) in configs {
        // Properties gregor does not know are kept (Kafka keeps them too); they change nothing.
        let v = match topic_config::topic_key_of(&k).filter(|_| dynamic_broker_key(&k)) {
            // Kafka answers INVALID_REQUEST for a bad dynamic broker value.
            Some(topic_key) => topic_config::validate_value(topic_key, &v)
                .map_err(|m| (ResponseError::InvalidRequest, m.replace(topic_key, &k)))?,
            None => v,
        };
        normalized.insert(k, v);
    }
    if validate_only {
        return Ok(());
    }
    broker.set_broker_configs(name, normalized).await.map_err(|e| (ResponseError::UnknownServerError, e.to_string()))
}

/// A group's configs; the group need not exist (Kafka keeps them for a group to come).
async fn apply_group(
    broker: &Broker,
    name: &str,
    validate_only: bool,
    change: impl FnOnce(&mut BTreeMap<String, String>) -> Outcome,
) -> Outcome {
    if name.is_empty() {
        return Err((ResponseError::InvalidRequest, "Group name must not be empty".into()));
    }
    let image = broker.image();
    let mut configs = image.group_configs.get(name).cloned().unwrap_or_default();
    change(&mut configs)?;
    let mut checked = BTreeMap::new();
    for (k, v) in configs {
        let v = crate::group::configs::validate(&k, &v).map_err(|m| (ResponseError::InvalidConfig, m))?;
        checked.insert(k, v);
    }
    if validate_only {
        return Ok(());
    }
    broker.set_group_configs(name, checked).await.map_err(|e| (ResponseError::UnknownServerError, e.to_string()))
}

pub async fn handle(broker: &Broker, _ctx: &RequestContext, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let mut r = AlterConfigsResponse::default();
    for res in req.resources {
        let entries: Vec<(String, Option<String>)> =
            res.configs.iter().map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string()))).collect();
        let outcome = apply(broker, res.resource_type, res.resource_name.as_str(), req.validate_only, |configs| {
            configs.clear();
            for (k, v) in entries {
                let v = v.ok_or((ResponseError::InvalidRequest, format!("Null value not supported for {k}")))?;
                configs.insert(k, v);
            }
            Ok(())
        })
        .await;
        let mut out = AlterConfigsResourceResponse::default();
        out.resource_type = res.resource_type;
        out.resource_name = res.resource_name;
        if let Err((e, msg)) = outcome {
            out.error_code = e.code();
            out.error_message = Some(str_bytes(msg));
        }
        r.responses.push(out);
    }
    r
}

pub async fn handle_incremental(
    broker: &Broker,
    _ctx: &RequestContext,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut r = IncrementalAlterConfigsResponse::default();
    for res in req.resources {
        let ops: Vec<(String, i8, Option<String>)> = res
            .configs
            .iter()
            .map(|c| (c.name.to_string(), c.config_operation, c.value.as_ref().map(|v| v.to_string())))
            .collect();
        let outcome = apply(broker, res.resource_type, res.resource_name.as_str(), req.validate_only, |configs| {
            for (k, op, v) in ops {
                // Deleting a name that is not set (even an unknown one) is no error, as in Kafka.
                if res.resource_type == RESOURCE_TOPIC && op != 1 {
                    topic_config::validate_value(&k, v.as_deref().unwrap_or("0"))
                        .or_else(|e| if e.starts_with("Unknown") { Err(e) } else { Ok(String::new()) })
                        .map_err(|m| (ResponseError::InvalidConfig, m))?;
                }
                let list = |s: &str| -> Vec<String> {
                    s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()
                };
                match op {
                    0 => {
                        let v =
                            v.ok_or((ResponseError::InvalidRequest, format!("Null value not supported for {k}")))?;
                        configs.insert(k, v);
                    }
                    1 => {
                        configs.remove(&k);
                    }
                    2 | 3 => {
                        let list_key = topic_config::is_list(&k)
                            || topic_config::topic_key_of(&k).is_some_and(topic_config::is_list);
                        if !list_key {
                            let verb = if op == 2 { "APPEND" } else { "SUBTRACT" };
                            return Err((
                                ResponseError::InvalidConfig,
                                format!("Can't {verb} to key {k} because its type is not LIST."),
                            ));
                        }
                        let image = broker.image();
                        let defaults = broker.defaults(&image);
                        let current =
                            configs.get(&k).cloned().unwrap_or_else(|| match topic_config::topic_key_of(&k) {
                                Some(tk) => topic_config::value_of(&BTreeMap::new(), &defaults, tk).unwrap_or_default(),
                                None => topic_config::value_of(&BTreeMap::new(), &defaults, &k).unwrap_or_default(),
                            });
                        let mut items = list(&current);
                        for item in list(v.as_deref().unwrap_or("")) {
                            if op == 2 && !items.contains(&item) {
                                items.push(item);
                            } else if op == 3 {
                                items.retain(|x| *x != item);
                            }
                        }
                        configs.insert(k, items.join(","));
                    }
                    other => return Err((ResponseError::InvalidRequest, format!("Unknown config operation {other}"))),
                }
            }
            Ok(())
        })
        .await;
        let mut out = IncResponse::default();
        out.resource_type = res.resource_type;
        out.resource_name = res.resource_name;
        if let Err((e, msg)) = outcome {
            out.error_code = e.code();
            out.error_message = Some(str_bytes(msg));
        }
        r.responses.push(out);
    }
    r
}
