//! DescribeConfigs for topics (every topic config with its source) and for this broker.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::{RequestContext, str_bytes};
use crate::broker::Broker;
use crate::log::topic_config::{self, Source};

pub const VERSIONS: (i16, i16) = (1, 4);

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

pub fn handle(broker: &Broker, ctx: &RequestContext, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let mut r = DescribeConfigsResponse::default();
    for res in req.resources {
        let mut out = DescribeConfigsResult::default();
        out.resource_type = res.resource_type;
        out.resource_name = res.resource_name.clone();
        // Null (or empty) keys mean every config.
        let wanted = |name: &str| {
            res.configuration_keys
                .as_ref()
                .is_none_or(|keys| keys.is_empty() || keys.iter().any(|k| k.as_str() == name))
        };
        match res.resource_type {
            RESOURCE_TOPIC => match broker.image().topics.get(res.resource_name.as_str()) {
                None => {
                    out.error_code = ResponseError::UnknownTopicOrPartition.code();
                    out.error_message = Some(str_bytes(format!("Topic {} does not exist", res.resource_name.as_str())));
                }
                Some(topic) => {
                    for e in topic_config::effective(&topic.configs, &broker.config) {
                        if !wanted(e.name) {
                            continue;
                        }
                        let mut c = entry(e.name, &e.value, e.source as i8, e.read_only, ctx.version);
                        if req.include_synonyms {
                            if e.source == Source::TopicConfig {
                                c.synonyms.push(synonym(e.name, &e.value, Source::TopicConfig as i8));
                            }
                            if let Some(bk) = e.broker_key {
                                let v = topic_config::value_of(&Default::default(), &broker.config, e.name)
                                    .unwrap_or_default();
                                let src =
                                    if e.source == Source::Default { Source::Default } else { Source::StaticBroker };
                                c.synonyms.push(synonym(bk, &v, src as i8));
                            }
                        }
                        out.configs.push(c);
                    }
                }
            },
            RESOURCE_BROKER => {
                let name = res.resource_name.as_str();
                if !name.is_empty() && name != broker.config.node_id.to_string() {
                    out.error_code = ResponseError::InvalidRequest.code();
                    out.error_message = Some(str_bytes(format!(
                        "Unexpected broker id, expected {}, but received {name}",
                        broker.config.node_id
                    )));
                } else {
                    for (k, v) in broker_configs(broker) {
                        if wanted(k) {
                            out.configs.push(entry(k, &v, Source::StaticBroker as i8, true, ctx.version));
                        }
                    }
                }
            }
            other => {
                out.error_code = ResponseError::InvalidRequest.code();
                out.error_message = Some(str_bytes(format!("Unsupported resource type {other}")));
            }
        }
        r.results.push(out);
    }
    r
}

fn entry(name: &str, value: &str, source: i8, read_only: bool, _version: i16) -> DescribeConfigsResourceResult {
    let mut c = DescribeConfigsResourceResult::default();
    c.name = str_bytes(name);
    c.value = Some(str_bytes(value));
    c.read_only = read_only;
    c.config_source = source;
    c.is_sensitive = false;
    c
}

fn synonym(name: &str, value: &str, source: i8) -> DescribeConfigsSynonym {
    let mut s = DescribeConfigsSynonym::default();
    s.name = str_bytes(name);
    s.value = Some(str_bytes(value));
    s.source = source;
    s
}

fn broker_configs(broker: &Broker) -> Vec<(&'static str, String)> {
    let c = &broker.config;
    let (host, port) = c.advertised();
    vec![
        ("node.id", c.node_id.to_string()),
        ("broker.id", c.node_id.to_string()),
        ("advertised.listeners", format!("{}://{host}:{port}", c.listeners[0].name)),
        ("log.dirs", c.log_dirs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(",")),
        ("num.partitions", c.num_partitions.to_string()),
        ("default.replication.factor", c.default_replication_factor.to_string()),
        ("auto.create.topics.enable", c.auto_create_topics_enable.to_string()),
        ("message.max.bytes", c.message_max_bytes.to_string()),
        ("socket.request.max.bytes", c.socket_request_max_bytes.to_string()),
        ("log.retention.ms", c.log_retention_ms.to_string()),
        ("log.retention.bytes", c.log_retention_bytes.to_string()),
        ("log.cleanup.policy", c.log_cleanup_policy.clone()),
        ("min.insync.replicas", "1".to_string()),
    ]
}
