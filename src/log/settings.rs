//! One topic's settings as its log uses them, parsed once from the topic's configs and the
//! broker's defaults (the broker keeps them per metadata image), never per request.

use std::collections::BTreeMap;

use kafka_protocol::records::Compression;

use super::batch::topic_codec;
use super::compaction::CompactionSettings;
use crate::config::topic::{Defaults, value_of};

#[derive(Debug, Clone, Copy)]
pub struct LogSettings {
    /// max.message.bytes: the largest batch the log takes.
    pub batch_bytes_max: usize,
    /// message.timestamp.type=LogAppendTime: the broker stamps each batch.
    pub log_append_time: bool,
    /// message.timestamp.before.max.ms / after.max.ms: how far a CreateTime may lie in the
    /// past or the future.
    pub timestamp_before_ms_max: i64,
    pub timestamp_after_ms_max: i64,
    /// compression.type other than "producer": batches in another codec are rewritten.
    pub codec: Option<Compression>,
    /// cleanup.policy includes compact: every record needs a key, and the cleaner runs.
    pub compacted: bool,
    /// cleanup.policy includes delete: retention runs.
    pub deleted_by_retention: bool,
    /// retention.ms and retention.bytes (-1: unlimited).
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub compaction: CompactionSettings,
    /// min.insync.replicas: acks=all needs this many replicas in sync.
    pub min_insync_replicas: usize,
}

impl LogSettings {
    /// The effective settings of a topic with `configs` over the broker's `defaults`.
    pub fn of(configs: &BTreeMap<String, String>, defaults: &Defaults) -> LogSettings {
        let get = |name| value_of(configs, defaults, name).unwrap_or_default();
        let int = |name| get(name).parse::<i64>().ok();
        let policy = get("cleanup.policy");
        LogSettings {
            batch_bytes_max: get("max.message.bytes").parse().unwrap_or(defaults.config.message_max_bytes as usize),
            log_append_time: get("message.timestamp.type") == "LogAppendTime",
            timestamp_before_ms_max: int("message.timestamp.before.max.ms").unwrap_or(i64::MAX),
            timestamp_after_ms_max: int("message.timestamp.after.max.ms").unwrap_or(3_600_000),
            codec: topic_codec(&get("compression.type")),
            compacted: policy.split(',').any(|p| p == "compact"),
            deleted_by_retention: policy.split(',').any(|p| p == "delete"),
            retention_ms: int("retention.ms").unwrap_or(-1),
            retention_bytes: int("retention.bytes").unwrap_or(-1),
            compaction: CompactionSettings {
                segment_bytes: int("segment.bytes").unwrap_or(-1),
                segment_ms: int("segment.ms").unwrap_or(-1),
                min_compaction_lag_ms: int("min.compaction.lag.ms").unwrap_or(-1).max(0),
                max_compaction_lag_ms: int("max.compaction.lag.ms").unwrap_or(-1).max(1),
                delete_retention_ms: int("delete.retention.ms").unwrap_or(-1),
                min_cleanable_ratio: get("min.cleanable.dirty.ratio").parse::<f64>().unwrap_or(0.5),
            },
            min_insync_replicas: int("min.insync.replicas").unwrap_or(1).max(1) as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn topic_configs_override_the_broker_and_kafka_defaults() {
        let config = Config::load(None, &["log.retention.ms=1000".into(), "compression.type=gzip".into()]).unwrap();
        let static_only = LogSettings::of(&BTreeMap::new(), &Defaults::of(&config));
        assert_eq!(static_only.codec, Some(Compression::Gzip), "server.properties' compression.type");
        let cluster = BTreeMap::from([("compression.type".to_string(), "lz4".to_string())]);
        let defaults = Defaults { config: &config, per_broker: None, cluster: Some(&cluster) };
        let plain = LogSettings::of(&BTreeMap::new(), &defaults);
        assert_eq!(plain.retention_ms, 1000, "server.properties' log.retention.ms");
        assert_eq!(plain.min_insync_replicas, 1, "Kafka's default");
        let two = Config::load(None, &["min.insync.replicas=2".into()]).unwrap();
        assert_eq!(LogSettings::of(&BTreeMap::new(), &Defaults::of(&two)).min_insync_replicas, 2);
        assert_eq!(
            plain.codec,
            Some(Compression::Lz4),
            "the cluster-wide dynamic compression.type over the static one"
        );
        assert!(plain.deleted_by_retention && !plain.compacted && !plain.log_append_time);
        assert_eq!(plain.timestamp_after_ms_max, 3_600_000, "Kafka's default");
        let configs = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact,delete".to_string()),
            ("retention.ms".to_string(), "5".to_string()),
            ("message.timestamp.type".to_string(), "LogAppendTime".to_string()),
            ("compression.type".to_string(), "producer".to_string()),
            ("min.cleanable.dirty.ratio".to_string(), "0.1".to_string()),
            ("max.message.bytes".to_string(), "2048".to_string()),
        ]);
        let s = LogSettings::of(&configs, &defaults);
        assert!(s.compacted && s.deleted_by_retention && s.log_append_time);
        assert_eq!((s.retention_ms, s.codec, s.batch_bytes_max), (5, None, 2048));
        assert_eq!(s.compaction.min_cleanable_ratio, 0.1);
    }
}
