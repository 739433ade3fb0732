//! The replication keys of a broker in a cluster, with Kafka's defaults.

use super::{ConfigError, parse_bool, parse_num};

/// Kafka's replication settings of a broker (see `Config::replication`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replication {
    pub min_insync_replicas: i32,
    pub unclean_leader_election: bool,
    pub lag_time_max_ms: i64,
    pub fetch_partition_bytes_max: i32,
    pub fetch_response_bytes_max: i32,
    pub fetch_wait_ms_max: i32,
    /// auto.leader.rebalance.enable, leader.imbalance.check.interval.seconds and
    /// leader.imbalance.per.broker.percentage.
    pub auto_leader_rebalance: bool,
    pub imbalance_check_interval_s: u64,
    pub imbalance_per_broker_percent: u32,
    /// offsets.topic.replication.factor, transaction.state.log.replication.factor and
    /// transaction.state.log.min.isr: how the coordinators' internal topics are created in a
    /// cluster (a lone node creates them with one replica).
    pub offsets_topic_replication_factor: i16,
    pub txn_topic_replication_factor: i16,
    pub txn_topic_min_isr: i32,
    /// offsets.commit.timeout.ms: how long an offset commit or a transaction's state change
    /// waits for the internal topic's in-sync replicas.
    pub offsets_commit_timeout_ms: u64,
}

impl Default for Replication {
    fn default() -> Self {
        Replication {
            min_insync_replicas: 1,
            unclean_leader_election: false,
            lag_time_max_ms: 30_000,
            fetch_partition_bytes_max: 1 << 20,
            fetch_response_bytes_max: 10 << 20,
            fetch_wait_ms_max: 500,
            auto_leader_rebalance: true,
            imbalance_check_interval_s: 300,
            imbalance_per_broker_percent: 10,
            offsets_topic_replication_factor: 3,
            txn_topic_replication_factor: 3,
            txn_topic_min_isr: 2,
            offsets_commit_timeout_ms: 5_000,
        }
    }
}

impl Replication {
    /// Takes `key` if it is one of the replication keys: Ok(false) for any other key.
    pub(super) fn set(&mut self, key: &str, v: &str) -> Result<bool, ConfigError> {
        match key {
            "min.insync.replicas" => self.min_insync_replicas = parse_num(key, v, 1, i16::MAX as i64)? as i32,
            "unclean.leader.election.enable" => {
                self.unclean_leader_election = parse_bool(key, v)?;
            }
            "offsets.topic.replication.factor" => {
                self.offsets_topic_replication_factor = parse_num(key, v, 1, i16::MAX as i64)? as i16
            }
            "transaction.state.log.replication.factor" => {
                self.txn_topic_replication_factor = parse_num(key, v, 1, i16::MAX as i64)? as i16
            }
            "transaction.state.log.min.isr" => self.txn_topic_min_isr = parse_num(key, v, 1, i16::MAX as i64)? as i32,
            "offsets.commit.timeout.ms" => {
                self.offsets_commit_timeout_ms = parse_num(key, v, 1, i32::MAX as i64)? as u64
            }
            "replica.lag.time.max.ms" => self.lag_time_max_ms = parse_num(key, v, 1, i32::MAX as i64)?,
            "replica.fetch.max.bytes" => self.fetch_partition_bytes_max = parse_num(key, v, 1, i32::MAX as i64)? as i32,
            "replica.fetch.response.max.bytes" => {
                self.fetch_response_bytes_max = parse_num(key, v, 1, i32::MAX as i64)? as i32
            }
            "auto.leader.rebalance.enable" => self.auto_leader_rebalance = parse_bool(key, v)?,
            "leader.imbalance.check.interval.seconds" => {
                self.imbalance_check_interval_s = parse_num(key, v, 1, i32::MAX as i64)? as u64
            }
            "leader.imbalance.per.broker.percentage" => {
                self.imbalance_per_broker_percent = parse_num(key, v, 0, 100)? as u32
            }
            "replica.fetch.wait.max.ms" => self.fetch_wait_ms_max = parse_num(key, v, 0, i32::MAX as i64)? as i32,
            _ => return Ok(false),
        }
        Ok(true)
    }
}
