//! Group configs (KIP-848): per-group overrides set with
//! `kafka-configs --entity-type groups`, kept in the metadata image. The consumer-protocol
//! coordinator reads the session timeout and heartbeat interval of a group from here; the share
//! and streams keys are stored and described (gregor has no share or streams groups yet).

use std::collections::BTreeMap;

use crate::config::Config;

/// How a value is checked, and the type DescribeConfigs reports.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Int { min: i64, max: i64 },
    OneOf(&'static [&'static str]),
    Bool,
}

/// DescribeConfigs' ConfigType of a value of this kind.
fn type_code(kind: Kind) -> i8 {
    match kind {
        Kind::Bool => 1,
        Kind::OneOf(_) => 2,
        Kind::Int { .. } => 3,
    }
}

const CONSUMER_SESSION: &str = "consumer.session.timeout.ms";
const CONSUMER_HEARTBEAT: &str = "consumer.heartbeat.interval.ms";

/// Kafka 4.3's group configs with their broker-side bounds (group.*.min/max.* defaults) and
/// defaults; the consumer timings default to this broker's group.consumer.* settings.
const GROUP_CONFIGS: &[(&str, Kind, &str)] = &[
    ("consumer.assignment.interval.ms", Kind::Int { min: 0, max: i32::MAX as i64 }, "1000"),
    (CONSUMER_HEARTBEAT, Kind::Int { min: 5_000, max: 15_000 }, "5000"),
    (CONSUMER_SESSION, Kind::Int { min: 45_000, max: 60_000 }, "45000"),
    ("share.assignment.interval.ms", Kind::Int { min: 0, max: i32::MAX as i64 }, "1000"),
    ("share.auto.offset.reset", Kind::OneOf(&["latest", "earliest"]), "latest"),
    ("share.delivery.count.limit", Kind::Int { min: 2, max: 10 }, "5"),
    ("share.heartbeat.interval.ms", Kind::Int { min: 5_000, max: 15_000 }, "5000"),
    ("share.isolation.level", Kind::OneOf(&["read_committed", "read_uncommitted"]), "read_uncommitted"),
    ("share.partition.max.record.locks", Kind::Int { min: 100, max: 10_000 }, "2000"),
    ("share.record.lock.duration.ms", Kind::Int { min: 15_000, max: 60_000 }, "30000"),
    ("share.renew.acknowledge.enable", Kind::Bool, "true"),
    ("share.session.timeout.ms", Kind::Int { min: 45_000, max: 60_000 }, "45000"),
    ("streams.assignment.interval.ms", Kind::Int { min: 0, max: i32::MAX as i64 }, "1000"),
    ("streams.heartbeat.interval.ms", Kind::Int { min: 5_000, max: 15_000 }, "5000"),
    ("streams.initial.rebalance.delay.ms", Kind::Int { min: 0, max: i32::MAX as i64 }, "3000"),
    ("streams.num.standby.replicas", Kind::Int { min: 0, max: 2 }, "0"),
    ("streams.session.timeout.ms", Kind::Int { min: 45_000, max: 60_000 }, "45000"),
];

/// One described group config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: &'static str,
    pub value: String,
    /// Set on the group (GROUP_CONFIG), else the default (DEFAULT_CONFIG).
    pub dynamic: bool,
    pub config_type: i8,
    /// The broker config the default comes from, and its value (the DEFAULT_CONFIG synonym).
    pub default_name: String,
    pub default_value: String,
}

/// The broker config that holds a group config's default: `group.` + the name, except for the
/// three share settings Kafka keeps under their own names.
fn broker_name(name: &str) -> String {
    match name {
        "share.auto.offset.reset" | "share.isolation.level" | "share.renew.acknowledge.enable" => name.to_string(),
        _ => format!("group.{name}"),
    }
}

/// The broker bounds named in Kafka's message for a timing outside them, e.g.
/// `group.consumer.min.session.timeout.ms` for `consumer.session.timeout.ms`.
fn bound_name(name: &str, bound: &str) -> Option<String> {
    let (kind, rest) = name.split_once('.')?;
    matches!(rest, "session.timeout.ms" | "heartbeat.interval.ms").then(|| format!("group.{kind}.{bound}.{rest}"))
}

fn default_of(name: &str, fallback: &str, config: &Config) -> String {
    match name {
        CONSUMER_SESSION => config.group_consumer_session_timeout_ms.to_string(),
        CONSUMER_HEARTBEAT => config.group_consumer_heartbeat_interval_ms.to_string(),
        _ => fallback.to_string(),
    }
}

/// Every group config of a group with `set` overrides, in name order.
pub fn describe(set: Option<&BTreeMap<String, String>>, config: &Config) -> Vec<Entry> {
    GROUP_CONFIGS
        .iter()
        .map(|(name, kind, fallback)| {
            let own = set.and_then(|s| s.get(*name));
            let default_value = default_of(name, fallback, config);
            Entry {
                name,
                value: own.cloned().unwrap_or_else(|| default_value.clone()),
                dynamic: own.is_some(),
                config_type: type_code(*kind),
                default_name: broker_name(name),
                default_value,
            }
        })
        .collect()
}

/// Checks one value; the error is INVALID_CONFIG's message.
pub fn validate(name: &str, value: &str) -> Result<String, String> {
    let Some((_, kind, _)) = GROUP_CONFIGS.iter().find(|c| c.0 == name) else {
        return Err(format!("Unknown group config name: {name}"));
    };
    let v = value.trim();
    match kind {
        Kind::Int { min, max } => {
            let n: i64 = v
                .parse()
                .map_err(|_| format!("Invalid value {value} for configuration {name}: Not a number of type INT"))?;
            if n < *min {
                return Err(match bound_name(name, "min") {
                    Some(b) => format!("{name} must be greater than or equal to {b}"),
                    None => format!("Invalid value {n} for configuration {name}: Value must be at least {min}"),
                });
            }
            if n > *max {
                return Err(match bound_name(name, "max") {
                    Some(b) => format!("{name} must be less than or equal to {b}"),
                    None => format!("Invalid value {n} for configuration {name}: Value must be no more than {max}"),
                });
            }
            Ok(n.to_string())
        }
        Kind::OneOf(options) => {
            options.iter().find(|o| o.eq_ignore_ascii_case(v)).map(|o| o.to_string()).ok_or_else(|| {
                format!("Invalid value {value} for configuration {name}: String must be one of: {}", options.join(", "))
            })
        }
        Kind::Bool => match v.to_ascii_lowercase().as_str() {
            b @ ("true" | "false") => Ok(b.to_string()),
            _ => Err(format!(
                "Invalid value {value} for configuration {name}: Expected value to be either true or false"
            )),
        },
    }
}

/// The consumer-protocol timings of a group: (session timeout, heartbeat interval) overrides.
pub fn consumer_timings(set: Option<&BTreeMap<String, String>>) -> (Option<i32>, Option<i32>) {
    let get = |k: &str| set.and_then(|s| s.get(k)).and_then(|v| v.parse().ok());
    (get(CONSUMER_SESSION), get(CONSUMER_HEARTBEAT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_configs_describe_defaults_and_overrides_and_check_values() {
        let config = Config::default();
        let set = BTreeMap::from([(CONSUMER_SESSION.to_string(), "50000".to_string())]);
        let all = describe(Some(&set), &config);
        assert_eq!(all.len(), 17);
        let session = all.iter().find(|e| e.name == CONSUMER_SESSION).unwrap();
        assert_eq!((session.value.as_str(), session.dynamic, session.config_type), ("50000", true, 3));
        let reset = all.iter().find(|e| e.name == "share.auto.offset.reset").unwrap();
        assert_eq!((reset.value.as_str(), reset.dynamic, reset.config_type), ("latest", false, 2));
        assert_eq!(validate(CONSUMER_SESSION, "50000"), Ok("50000".into()));
        assert_eq!(
            validate(CONSUMER_SESSION, "1000"),
            Err("consumer.session.timeout.ms must be greater than or equal to group.consumer.min.session.timeout.ms"
                .into())
        );
        assert_eq!(session.default_name, "group.consumer.session.timeout.ms");
        assert_eq!(reset.default_name, "share.auto.offset.reset");
        assert!(validate(CONSUMER_HEARTBEAT, "x").is_err());
        assert!(validate("share.renew.acknowledge.enable", "maybe").is_err());
        assert_eq!(validate("nope", "1"), Err("Unknown group config name: nope".into()));
        assert_eq!(consumer_timings(Some(&set)), (Some(50_000), None));
    }
}
