//! Topic-level configs: the names Kafka knows, their broker-side defaults, and value checks.
//!
//! A topic's value comes from its own configs, else from the broker's: dynamic per-broker,
//! dynamic cluster-wide default, server.properties, then Kafka's default (`Defaults`).

use std::collections::BTreeMap;

use crate::config::Config;

/// How a config value is checked.
#[derive(Clone, Copy)]
pub enum Kind {
    Long { min: i64 },
    Int { min: i64 },
    Bool,
    Ratio,
    OneOf(&'static [&'static str]),
    Text,
    List,
}

/// Every topic config: name, kind, the broker property it falls back to, and Kafka's default.
pub const TOPIC_CONFIGS: &[(&str, Kind, Option<&str>, &str)] = &[
    ("cleanup.policy", Kind::List, Some("log.cleanup.policy"), "delete"),
    ("compression.gzip.level", Kind::Int { min: -1 }, Some("compression.gzip.level"), "-1"),
    ("compression.lz4.level", Kind::Int { min: 1 }, Some("compression.lz4.level"), "9"),
    ("compression.zstd.level", Kind::Int { min: -131072 }, Some("compression.zstd.level"), "3"),
    (
        "compression.type",
        Kind::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        Some("compression.type"),
        "producer",
    ),
    ("delete.retention.ms", Kind::Long { min: 0 }, Some("log.cleaner.delete.retention.ms"), "86400000"),
    ("file.delete.delay.ms", Kind::Long { min: 0 }, Some("log.segment.delete.delay.ms"), "60000"),
    ("flush.messages", Kind::Long { min: 1 }, Some("log.flush.interval.messages"), "9223372036854775807"),
    ("flush.ms", Kind::Long { min: 0 }, Some("log.flush.interval.ms"), "9223372036854775807"),
    ("follower.replication.throttled.replicas", Kind::List, None, ""),
    ("index.interval.bytes", Kind::Int { min: 0 }, Some("log.index.interval.bytes"), "4096"),
    ("leader.replication.throttled.replicas", Kind::List, None, ""),
    ("local.retention.bytes", Kind::Long { min: -2 }, Some("log.local.retention.bytes"), "-2"),
    ("local.retention.ms", Kind::Long { min: -2 }, Some("log.local.retention.ms"), "-2"),
    ("max.compaction.lag.ms", Kind::Long { min: 1 }, Some("log.cleaner.max.compaction.lag.ms"), "9223372036854775807"),
    ("max.message.bytes", Kind::Int { min: 0 }, Some("message.max.bytes"), "1048588"),
    ("message.timestamp.after.max.ms", Kind::Long { min: 0 }, Some("log.message.timestamp.after.max.ms"), "3600000"),
    (
        "message.timestamp.before.max.ms",
        Kind::Long { min: 0 },
        Some("log.message.timestamp.before.max.ms"),
        "9223372036854775807",
    ),
    (
        "message.timestamp.type",
        Kind::OneOf(&["CreateTime", "LogAppendTime"]),
        Some("log.message.timestamp.type"),
        "CreateTime",
    ),
    ("min.cleanable.dirty.ratio", Kind::Ratio, Some("log.cleaner.min.cleanable.ratio"), "0.5"),
    ("min.compaction.lag.ms", Kind::Long { min: 0 }, Some("log.cleaner.min.compaction.lag.ms"), "0"),
    ("min.insync.replicas", Kind::Int { min: 1 }, Some("min.insync.replicas"), "1"),
    ("preallocate", Kind::Bool, Some("log.preallocate"), "false"),
    ("remote.log.copy.disable", Kind::Bool, None, "false"),
    ("remote.log.delete.on.disable", Kind::Bool, None, "false"),
    ("remote.storage.enable", Kind::Bool, None, "false"),
    ("retention.bytes", Kind::Long { min: -1 }, Some("log.retention.bytes"), "-1"),
    ("retention.ms", Kind::Long { min: -1 }, Some("log.retention.ms"), "604800000"),
    ("segment.bytes", Kind::Int { min: 1024 * 1024 }, Some("log.segment.bytes"), "1073741824"),
    ("segment.index.bytes", Kind::Int { min: 4 }, Some("log.index.size.max.bytes"), "10485760"),
    ("segment.jitter.ms", Kind::Long { min: 0 }, Some("log.roll.jitter.ms"), "0"),
    ("segment.ms", Kind::Long { min: 1 }, Some("log.roll.ms"), "604800000"),
    ("unclean.leader.election.enable", Kind::Bool, Some("unclean.leader.election.enable"), "false"),
];

fn find(name: &str) -> Option<&'static (&'static str, Kind, Option<&'static str>, &'static str)> {
    TOPIC_CONFIGS.iter().find(|c| c.0 == name)
}

/// Checks one topic config; returns the normalized value or a reason naming the problem.
pub fn validate_value(name: &str, value: &str) -> Result<String, String> {
    let Some((_, kind, _, _)) = find(name) else {
        return Err(format!("Unknown topic config name: {name}"));
    };
    let v = value.trim();
    let bad = |what: &str| format!("Invalid value {value} for configuration {name}: {what}");
    match kind {
        Kind::Long { min } | Kind::Int { min } => {
            let n: i64 = v.parse().map_err(|_| bad("Not a number of type LONG"))?;
            if matches!(kind, Kind::Int { .. }) && (n > i32::MAX as i64 || n < i32::MIN as i64) {
                return Err(bad("Not a number of type INT"));
            }
            if n < *min {
                return Err(bad(&format!("Value must be at least {min}")));
            }
        }
        Kind::Bool => {
            if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
                return Err(bad("Expected value to be either true or false"));
            }
            return Ok(v.to_ascii_lowercase());
        }
        Kind::Ratio => {
            let f: f64 = v.parse().map_err(|_| bad("Not a number of type DOUBLE"))?;
            // Kafka names the parsed double, as Java prints it ("2.0").
            let shown = if f.fract() == 0.0 && f.abs() < 1e7 { format!("{f:.1}") } else { f.to_string() };
            let out_of_range = |what: &str| format!("Invalid value {shown} for configuration {name}: {what}");
            if f < 0.0 {
                return Err(out_of_range("Value must be at least 0"));
            }
            if f > 1.0 {
                return Err(out_of_range("Value must be no more than 1"));
            }
        }
        Kind::OneOf(allowed) => {
            if !allowed.contains(&v) {
                return Err(bad(&format!("String must be one of: {}", allowed.join(", "))));
            }
        }
        Kind::List => {
            let items: Vec<&str> = v.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
            if name == "cleanup.policy"
                && let Some(item) = items.iter().find(|i| **i != "delete" && **i != "compact")
            {
                return Err(format!(
                    "Invalid value {item} for configuration {name}: String must be one of: compact, delete"
                ));
            }
            return Ok(items.join(","));
        }
        Kind::Text => {}
    }
    Ok(v.to_string())
}

/// Validates a set of topic configs, returning the normalized map.
pub fn validate_all<'a>(
    configs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (name, value) in configs {
        let Some(value) = value else {
            return Err(format!("Null value not supported for topic configs: {name}"));
        };
        out.insert(name.to_string(), validate_value(name, value)?);
    }
    Ok(out)
}

/// Where a reported value comes from (Kafka's ConfigSource codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    TopicConfig = 1,
    DynamicBroker = 2,
    DynamicDefaultBroker = 3,
    StaticBroker = 4,
    Default = 5,
}

/// What topics fall back to: the broker's static config and its dynamic configs.
#[derive(Clone, Copy)]
pub struct Defaults<'a> {
    pub config: &'a Config,
    /// Dynamic configs of this broker (kafka-configs --entity-type brokers --entity-name N).
    pub per_broker: Option<&'a BTreeMap<String, String>>,
    /// Dynamic cluster-wide defaults (--entity-default).
    pub cluster: Option<&'a BTreeMap<String, String>>,
}

impl<'a> Defaults<'a> {
    /// Only the static config (tests, and before metadata is read).
    pub fn of(config: &'a Config) -> Defaults<'a> {
        Defaults { config, per_broker: None, cluster: None }
    }

    /// The broker-level value of a broker property and its source, if set anywhere but
    /// Kafka's defaults.
    pub fn broker_value(&self, broker_key: &str) -> Option<(String, Source)> {
        if let Some(v) = self.per_broker.and_then(|m| m.get(broker_key)) {
            return Some((v.clone(), Source::DynamicBroker));
        }
        if let Some(v) = self.cluster.and_then(|m| m.get(broker_key)) {
            return Some((v.clone(), Source::DynamicDefaultBroker));
        }
        static_override(broker_key, self.config).map(|v| (v, Source::StaticBroker))
    }

    /// Every level that sets a broker property, most specific first (DescribeConfigs synonyms).
    pub fn broker_levels(&self, broker_key: &str) -> Vec<(String, Source)> {
        let mut out = Vec::new();
        if let Some(v) = self.per_broker.and_then(|m| m.get(broker_key)) {
            out.push((v.clone(), Source::DynamicBroker));
        }
        if let Some(v) = self.cluster.and_then(|m| m.get(broker_key)) {
            out.push((v.clone(), Source::DynamicDefaultBroker));
        }
        if let Some(v) = static_override(broker_key, self.config) {
            out.push((v, Source::StaticBroker));
        }
        out
    }
}

/// Kafka's ConfigType code of a topic config (DescribeConfigs v3+).
pub fn config_type(name: &str) -> i8 {
    match find(name).map(|c| c.1) {
        Some(Kind::Bool) => 1,
        Some(Kind::OneOf(_) | Kind::Text) => 2,
        Some(Kind::Int { .. }) => 3,
        Some(Kind::Long { .. }) => 5,
        Some(Kind::Ratio) => 6,
        Some(Kind::List) => 7,
        None => 0,
    }
}

/// True when a topic config holds a list (APPEND and SUBTRACT apply).
pub fn is_list(name: &str) -> bool {
    matches!(find(name).map(|c| c.1), Some(Kind::List))
}

/// The Kafka default a broker property's synonym chain ends with: retention and roll times are
/// defaulted in hours.
pub fn default_synonym(broker_key: &str) -> Option<(&'static str, &'static str)> {
    match broker_key {
        "log.retention.ms" => Some(("log.retention.hours", "168")),
        "log.roll.ms" => Some(("log.roll.hours", "168")),
        "log.roll.jitter.ms" => Some(("log.roll.jitter.hours", "0")),
        k => TOPIC_CONFIGS.iter().find(|c| c.2 == Some(k)).map(|c| (c.2.unwrap_or_default(), c.3)),
    }
}

/// The topic config a broker property is the default of.
pub fn topic_key_of(broker_key: &str) -> Option<&'static str> {
    TOPIC_CONFIGS.iter().find(|c| c.2 == Some(broker_key)).map(|c| c.0)
}

/// Kafka's default of a broker property that is a topic default.
pub fn broker_default(broker_key: &str) -> Option<&'static str> {
    TOPIC_CONFIGS.iter().find(|c| c.2 == Some(broker_key)).map(|c| c.3)
}

/// One entry of a topic's full config view.
pub struct Entry {
    pub name: &'static str,
    pub value: String,
    pub source: Source,
    pub broker_key: Option<&'static str>,
    pub sensitive: bool,
    pub read_only: bool,
}

/// The full config view of a topic: explicit values first-class, the rest from broker defaults.
pub fn effective(topic: &BTreeMap<String, String>, broker: &Defaults) -> Vec<Entry> {
    TOPIC_CONFIGS
        .iter()
        .map(|(name, _, broker_key, default)| {
            let (value, source) = if let Some(v) = topic.get(*name) {
                (v.clone(), Source::TopicConfig)
            } else if let Some(found) = broker_key.and_then(|k| broker.broker_value(k)) {
                found
            } else {
                (default.to_string(), Source::Default)
            };
            Entry { name, value, source, broker_key: *broker_key, sensitive: false, read_only: false }
        })
        .collect()
}

/// server.properties settings (by broker property name) that differ from Kafka's defaults and
/// so become the topic default.
fn static_override(broker_key: &str, c: &Config) -> Option<String> {
    topic_key_of(broker_key).and_then(|t| broker_override(t, c))
}

/// Broker settings that differ from Kafka's defaults and so become the topic default.
fn broker_override(name: &str, c: &Config) -> Option<String> {
    let d = Config::default();
    match name {
        "retention.ms" if c.log_retention_ms != d.log_retention_ms => Some(c.log_retention_ms.to_string()),
        "retention.bytes" if c.log_retention_bytes != d.log_retention_bytes => Some(c.log_retention_bytes.to_string()),
        "cleanup.policy" if c.log_cleanup_policy != d.log_cleanup_policy => Some(c.log_cleanup_policy.clone()),
        "compression.type" if c.compression_type != d.compression_type => Some(c.compression_type.clone()),
        "max.message.bytes" if c.message_max_bytes != d.message_max_bytes => Some(c.message_max_bytes.to_string()),
        "min.insync.replicas" if c.replication.min_insync_replicas != d.replication.min_insync_replicas => {
            Some(c.replication.min_insync_replicas.to_string())
        }
        "unclean.leader.election.enable"
            if c.replication.unclean_leader_election != d.replication.unclean_leader_election =>
        {
            Some(c.replication.unclean_leader_election.to_string())
        }
        "flush.messages" if c.log_flush_interval_messages != d.log_flush_interval_messages => {
            Some(c.log_flush_interval_messages.to_string())
        }
        _ => None,
    }
}

/// The effective value of one config for a topic.
pub fn value_of(topic: &BTreeMap<String, String>, broker: &Defaults, name: &str) -> Option<String> {
    if let Some(v) = topic.get(name) {
        return Some(v.clone());
    }
    let (_, _, broker_key, default) = find(name)?;
    Some(broker_key.and_then(|k| broker.broker_value(k)).map_or_else(|| default.to_string(), |(v, _)| v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_kinds_and_names() {
        assert_eq!(validate_value("cleanup.policy", "compact, delete").unwrap(), "compact,delete");
        assert!(validate_value("cleanup.policy", "shred").is_err());
        assert!(validate_value("retention.ms", "-2").unwrap_err().contains("retention.ms"));
        assert!(validate_value("max.message.bytes", "99999999999").is_err());
        assert!(validate_value("no.such.config", "1").unwrap_err().contains("Unknown"));
        assert_eq!(validate_value("preallocate", "TRUE").unwrap(), "true");
    }

    #[test]
    fn effective_view_marks_sources() {
        let mut topic = BTreeMap::new();
        topic.insert("retention.ms".to_string(), "1000".to_string());
        let broker = Config { log_retention_bytes: 5, ..Config::default() };
        let cluster = BTreeMap::from([("log.segment.bytes".to_string(), "2000000".to_string())]);
        let per_broker = BTreeMap::from([("log.retention.bytes".to_string(), "7".to_string())]);
        let view = effective(&topic, &Defaults::of(&broker));
        let get = |n: &str| view.iter().find(|e| e.name == n).unwrap();
        assert_eq!(get("retention.ms").source, Source::TopicConfig);
        assert_eq!(get("retention.bytes").source, Source::StaticBroker);
        assert_eq!(get("retention.bytes").value, "5");
        assert_eq!(get("segment.bytes").source, Source::Default);

        let dynamic = Defaults { config: &broker, per_broker: Some(&per_broker), cluster: Some(&cluster) };
        let view = effective(&topic, &dynamic);
        let get = |n: &str| view.iter().find(|e| e.name == n).unwrap();
        assert_eq!(
            (get("retention.bytes").value.as_str(), get("retention.bytes").source),
            ("7", Source::DynamicBroker)
        );
        assert_eq!(
            (get("segment.bytes").value.as_str(), get("segment.bytes").source),
            ("2000000", Source::DynamicDefaultBroker)
        );
        assert_eq!(get("retention.ms").source, Source::TopicConfig);
        assert_eq!(value_of(&BTreeMap::new(), &dynamic, "retention.bytes").as_deref(), Some("7"));
        assert_eq!(dynamic.broker_levels("log.retention.bytes").len(), 2, "dynamic and static");
    }
}
