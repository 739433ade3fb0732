//! DescribeConfigs for topics (every topic config with its source and synonyms) and for
//! brokers: this node's view (static and dynamic values) or the cluster-wide dynamic defaults.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::{RequestContext, str_bytes};
use crate::broker::Broker;
use crate::config::topic::{self as topic_config, Source};

pub const VERSIONS: (i16, i16) = (1, 4);

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const RESOURCE_GROUP: i8 = 32;
/// ConfigSource GROUP_CONFIG: set on the group.
const SOURCE_GROUP: i8 = 8;

/// What one resource of the request asks for.
struct Ask<'a> {
    /// Null or empty: every config.
    keys: Option<&'a [kafka_protocol::protocol::StrBytes]>,
    synonyms: bool,
    version: i16,
}

impl Ask<'_> {
    fn wants(&self, name: &str) -> bool {
        self.keys.is_none_or(|keys| keys.is_empty() || keys.iter().any(|k| k.as_str() == name))
    }
}

type Refusal = (ResponseError, String);

pub fn handle(broker: &Broker, ctx: &RequestContext, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let mut r = DescribeConfigsResponse::default();
    let image = broker.image();
    let defaults = broker.defaults(&image);
    for res in req.resources {
        let mut out = DescribeConfigsResult::default();
        out.resource_type = res.resource_type;
        out.resource_name = res.resource_name.clone();
        let ask = Ask { keys: res.configuration_keys.as_deref(), synonyms: req.include_synonyms, version: ctx.version };
        let name = res.resource_name.as_str();
        let described = match res.resource_type {
            RESOURCE_TOPIC => topic_entries(&image, &defaults, name, &ask),
            RESOURCE_BROKER if name.is_empty() => Ok(cluster_default_entries(&image, &ask)),
            RESOURCE_BROKER => broker_entries(broker, &defaults, name, &ask),
            RESOURCE_GROUP => Ok(group_entries(broker, &image, name, &ask)),
            other => Err((ResponseError::InvalidRequest, format!("Unsupported resource type {other}"))),
        };
        match described {
            Ok(configs) => out.configs = configs,
            Err((e, msg)) => {
                out.error_code = e.code();
                out.error_message = Some(str_bytes(msg));
            }
        }
        r.results.push(out);
    }
    r
}

/// Every config of a topic, with its source and, when asked, its synonyms.
fn topic_entries(
    image: &crate::cluster::Image,
    defaults: &topic_config::Defaults,
    name: &str,
    ask: &Ask,
) -> Result<Vec<DescribeConfigsResourceResult>, Refusal> {
    let topic = image
        .topics
        .get(name)
        .ok_or_else(|| (ResponseError::UnknownTopicOrPartition, format!("Topic {name} does not exist")))?;
    let mut out = Vec::new();
    for e in topic_config::effective(&topic.configs, defaults) {
        if !ask.wants(e.name) {
            continue;
        }
        let mut c = entry(e.name, &e.value, e.source as i8, e.read_only, ask.version);
        c.config_type = topic_config::config_type(e.name);
        if ask.synonyms {
            if e.source == Source::TopicConfig {
                c.synonyms.push(synonym(e.name, &e.value, Source::TopicConfig as i8));
            }
            if let Some(bk) = e.broker_key {
                c.synonyms.extend(broker_synonyms(defaults, bk));
            }
        }
        out.push(c);
    }
    Ok(out)
}

/// The cluster-wide default resource (empty broker name): only the dynamic defaults.
fn cluster_default_entries(image: &crate::cluster::Image, ask: &Ask) -> Vec<DescribeConfigsResourceResult> {
    let mut out = Vec::new();
    for (k, v) in image.broker_configs.get("").into_iter().flatten() {
        if ask.wants(k) {
            let mut c = entry(k, v, Source::DynamicDefaultBroker as i8, false, ask.version);
            c.config_type = topic_config::topic_key_of(k).map_or(0, topic_config::config_type);
            if ask.synonyms {
                c.synonyms.push(synonym(k, v, Source::DynamicDefaultBroker as i8));
            }
            out.push(c);
        }
    }
    out
}

/// This broker's view: its static configs, then every dynamic one with where its value comes from.
fn broker_entries(
    broker: &Broker,
    defaults: &topic_config::Defaults,
    name: &str,
    ask: &Ask,
) -> Result<Vec<DescribeConfigsResourceResult>, Refusal> {
    let node = broker.config.node_id;
    if name != node.to_string() {
        return Err((
            ResponseError::InvalidRequest,
            format!("Unexpected broker id, expected {node}, but received {name}"),
        ));
    }
    let mut out: Vec<DescribeConfigsResourceResult> = Vec::new();
    for (k, v, default) in broker_configs(broker) {
        if !ask.wants(k) {
            continue;
        }
        // Set in server.properties unless it is Kafka's default value.
        let is_static = default.as_ref().is_none_or(|d| *d != v);
        let source = if is_static { Source::StaticBroker } else { Source::Default };
        let mut c = entry(k, &v, source as i8, true, ask.version);
        c.config_type = static_type(k);
        if ask.synonyms {
            c.synonyms.push(synonym(k, &v, source as i8));
            if let Some(d) = default.filter(|_| is_static) {
                c.synonyms.push(synonym(k, &d, Source::Default as i8));
            }
        }
        out.push(c);
    }
    let mut dynamic: Vec<&str> = topic_config::TOPIC_CONFIGS.iter().filter_map(|c| c.2).collect();
    dynamic.extend(defaults.per_broker.into_iter().chain(defaults.cluster).flatten().map(|(k, _)| k.as_str()));
    dynamic.sort_unstable();
    dynamic.dedup();
    for k in dynamic {
        if !ask.wants(k) || out.iter().any(|c| c.name.as_str() == k) {
            continue;
        }
        let (value, source) = defaults
            .broker_value(k)
            .unwrap_or_else(|| (topic_config::broker_default(k).unwrap_or_default().to_string(), Source::Default));
        let mut c = entry(k, &value, source as i8, false, ask.version);
        c.config_type = topic_config::topic_key_of(k).map_or(0, topic_config::config_type);
        if ask.synonyms {
            c.synonyms = broker_synonyms(defaults, k);
        }
        out.push(c);
    }
    Ok(out)
}

/// A group's configs: set on the group, else the broker's.
fn group_entries(
    broker: &Broker,
    image: &crate::cluster::Image,
    name: &str,
    ask: &Ask,
) -> Vec<DescribeConfigsResourceResult> {
    let mut out = Vec::new();
    for e in crate::group::configs::describe(image.group_configs.get(name), &broker.config) {
        if !ask.wants(e.name) {
            continue;
        }
        let source = if e.dynamic { SOURCE_GROUP } else { Source::Default as i8 };
        let mut c = entry(e.name, &e.value, source, false, ask.version);
        c.config_type = e.config_type;
        if ask.synonyms {
            if e.dynamic {
                c.synonyms.push(synonym(e.name, &e.value, SOURCE_GROUP));
            }
            c.synonyms.push(synonym(&e.default_name, &e.default_value, Source::Default as i8));
        }
        out.push(c);
    }
    out
}

fn entry(name: &str, value: &str, source: i8, read_only: bool, _version: i16) -> DescribeConfigsResourceResult {
    let mut c = DescribeConfigsResourceResult::default();
    c.name = str_bytes(name);
    c.value = Some(str_bytes(value));
    c.read_only = read_only;
    c.config_source = source;
    c.is_sensitive = false;
    // Documentation is only sent when asked for (v3+ include_documentation); null otherwise.
    c.documentation = None;
    c
}

fn synonym(name: &str, value: &str, source: i8) -> DescribeConfigsSynonym {
    let mut s = DescribeConfigsSynonym::default();
    s.name = str_bytes(name);
    s.value = Some(str_bytes(value));
    s.source = source;
    s
}

/// The synonyms of a broker property: every level that sets it, then Kafka's default.
fn broker_synonyms(defaults: &topic_config::Defaults, key: &str) -> Vec<DescribeConfigsSynonym> {
    let mut out: Vec<DescribeConfigsSynonym> =
        defaults.broker_levels(key).iter().map(|(v, src)| synonym(key, v, *src as i8)).collect();
    // Kafka's default closes the chain; a default kept under another name (log.retention.hours
    // for log.retention.ms) shows only when some level sets the property.
    if let Some((k, d)) = topic_config::default_synonym(key)
        && (k == key || !out.is_empty())
    {
        out.push(synonym(k, d, Source::Default as i8));
    }
    out
}

/// Kafka's ConfigType of the read-only broker properties below.
fn static_type(key: &str) -> i8 {
    match key {
        "auto.create.topics.enable" => 1,
        "advertised.listeners" | "log.dirs" => 7,
        "log.retention.check.interval.ms" => 5,
        _ => 3,
    }
}

/// Read-only broker properties: (name, value, Kafka's default if it has one).
fn broker_configs(broker: &Broker) -> Vec<(&'static str, String, Option<String>)> {
    let c = &broker.config;
    let d = crate::config::Config::default();
    let (host, port) = c.advertised();
    vec![
        ("node.id", c.node_id.to_string(), None),
        ("broker.id", c.node_id.to_string(), None),
        ("advertised.listeners", format!("{}://{host}:{port}", c.listeners[0].name), None),
        ("log.dirs", c.log_dirs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(","), None),
        ("num.partitions", c.num_partitions.to_string(), Some(d.num_partitions.to_string())),
        (
            "default.replication.factor",
            c.default_replication_factor.to_string(),
            Some(d.default_replication_factor.to_string()),
        ),
        (
            "auto.create.topics.enable",
            c.auto_create_topics_enable.to_string(),
            Some(d.auto_create_topics_enable.to_string()),
        ),
        (
            "socket.request.max.bytes",
            c.limits.request_bytes_max.to_string(),
            Some(d.limits.request_bytes_max.to_string()),
        ),
        (
            "log.retention.check.interval.ms",
            c.log_retention_check_interval_ms.to_string(),
            Some(d.log_retention_check_interval_ms.to_string()),
        ),
        (
            "offsets.topic.num.partitions",
            c.offsets_topic_num_partitions.to_string(),
            Some(d.offsets_topic_num_partitions.to_string()),
        ),
        (
            "transaction.state.log.num.partitions",
            c.transaction_state_log_num_partitions.to_string(),
            Some(d.transaction_state_log_num_partitions.to_string()),
        ),
    ]
}

pub const LIST_RESOURCES_VERSIONS: (i16, i16) = (0, 1);

/// ListConfigResources: the resources that can have configs. v0 (it was
/// ListClientMetricsResources) lists only client-metrics resources, of which gregor has none; v1
/// lists topics, brokers and broker loggers, for the requested types (none requested: all).
pub fn list_resources(
    broker: &Broker,
    ctx: &RequestContext,
    req: kafka_protocol::messages::ListConfigResourcesRequest,
) -> kafka_protocol::messages::ListConfigResourcesResponse {
    use kafka_protocol::messages::list_config_resources_response::ConfigResource;
    const TOPIC: i8 = 2;
    const BROKER: i8 = 4;
    const BROKER_LOGGER: i8 = 8;
    const CLIENT_METRICS: i8 = 16;
    const GROUP: i8 = 32;
    let mut r = kafka_protocol::messages::ListConfigResourcesResponse::default();
    if ctx.version == 0 {
        return r;
    }
    let types = if req.resource_types.is_empty() {
        vec![TOPIC, BROKER, BROKER_LOGGER, CLIENT_METRICS, GROUP]
    } else {
        req.resource_types.clone()
    };
    if let Some(t) = types.iter().find(|t| ![TOPIC, BROKER, BROKER_LOGGER, CLIENT_METRICS, GROUP].contains(t)) {
        r.error_code = ResponseError::UnsupportedVersion.code();
        tracing::debug!(resource_type = t, "ListConfigResources for an unknown resource type");
        return r;
    }
    let image = broker.image();
    let resource = |resource_type: i8, name: String| {
        let mut c = ConfigResource::default();
        c.resource_type = resource_type;
        c.resource_name = str_bytes(name);
        c
    };
    // Kafka's order: brokers, broker loggers, then topics.
    for t in [BROKER, BROKER_LOGGER, TOPIC, CLIENT_METRICS, GROUP].into_iter().filter(|t| types.contains(t)) {
        match t {
            TOPIC => r.config_resources.extend(image.topics.keys().map(|n| resource(TOPIC, n.clone()))),
            BROKER | BROKER_LOGGER => {
                r.config_resources.extend(image.brokers.keys().map(|id| resource(t, id.to_string())))
            }
            GROUP => r.config_resources.extend(image.group_configs.keys().map(|g| resource(GROUP, g.clone()))),
            // No client-metrics subscriptions exist here.
            _ => {}
        }
    }
    r
}
