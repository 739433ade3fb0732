//! Broker configuration: Kafka's `server.properties` vocabulary turned into one validated struct.
//!
//! Sources, later ones winning: built-in defaults, a properties file (`--config`), then
//! `--override key=value` pairs. Unknown keys are logged once and ignored, so an existing Kafka
//! `server.properties` starts gregor; an invalid value stops start-up naming the key and value.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use thiserror::Error;

pub mod cluster;
mod limits;
mod replication;
pub mod topic;

pub use cluster::Quorum;
pub use limits::ConnectionLimits;
pub use replication::Replication;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("invalid value {value:?} for {key}: {reason}")]
    Invalid { key: String, value: String, reason: String },
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot parse config file {path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("override {0:?} is not of the form key=value")]
    Override(String),
}

/// One `listeners` entry: `NAME://host:port`. An empty host means every IPv4 and IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub host: String,
    pub port: u16,
}

impl Listener {
    /// The socket addresses to bind: `[::]` and `0.0.0.0` for an empty host.
    pub fn bind_addrs(&self) -> Vec<SocketAddr> {
        if self.host.is_empty() {
            return vec![SocketAddr::from(([0u16; 8], self.port)), SocketAddr::from(([0u8; 4], self.port))];
        }
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        match host.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, self.port)],
            Err(_) => {
                use std::net::ToSocketAddrs;
                (host, self.port).to_socket_addrs().map(|a| a.collect()).unwrap_or_default()
            }
        }
    }
}

/// Every setting the broker understands. Names follow Kafka's properties.
#[derive(Debug, Clone)]
pub struct Config {
    pub node_id: i32,
    pub listeners: Vec<Listener>,
    pub advertised_listeners: Vec<Listener>,
    pub log_dirs: Vec<PathBuf>,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    /// The replication keys of a cluster: min.insync.replicas and
    /// unclean.leader.election.enable (topic defaults), replica.lag.time.max.ms, and the
    /// follower fetch's replica.fetch.max.bytes, replica.fetch.response.max.bytes and
    /// replica.fetch.wait.max.ms.
    pub replication: Replication,
    pub auto_create_topics_enable: bool,
    pub message_max_bytes: i32,
    /// What one client connection may cost: frames, connections, idle time.
    pub limits: ConnectionLimits,
    /// process.roles and the controller quorum (KRaft).
    pub quorum: Quorum,
    /// broker.rack: reported in Metadata and DescribeCluster, and replicas are placed across racks.
    pub broker_rack: Option<String>,
    pub log_flush_interval_messages: i64,
    pub log_retention_ms: i64,
    pub log_retention_bytes: i64,
    pub log_cleanup_policy: String,
    /// compression.type: the topic default codec the broker stores batches in ("producer": as
    /// sent).
    pub compression_type: String,
    pub log_retention_check_interval_ms: i64,
    pub cluster_id: Option<String>,
    pub offsets_topic_num_partitions: i32,
    pub offsets_retention_minutes: i64,
    pub group_initial_rebalance_delay_ms: i32,
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    pub group_max_size: i32,
    /// `max.incremental.fetch.session.cache.slots`: fetch sessions kept at once (0: none).
    pub fetch_session_slots: usize,
    /// `producer.id.expiration.ms`: a producer's state in a partition is forgotten this long
    /// after its last write there (unless a transaction is open), checked every
    /// `producer.id.expiration.check.interval.ms`.
    pub producer_id_expiration_ms: i64,
    pub producer_id_expiration_check_interval_ms: i64,
    pub group_consumer_heartbeat_interval_ms: i32,
    pub group_consumer_session_timeout_ms: i32,
    pub group_consumer_assignors: Vec<String>,
    pub transaction_max_timeout_ms: i32,
    pub transaction_state_log_num_partitions: i32,
    pub transactional_id_expiration_ms: i64,
    /// `authorizer.class.name`: empty means no authorizer, and the ACL APIs answer SECURITY_DISABLED.
    pub authorizer_class_name: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_id: 1,
            listeners: vec![Listener { name: "PLAINTEXT".into(), host: String::new(), port: 9092 }],
            advertised_listeners: vec![],
            log_dirs: vec![PathBuf::from("./data")],
            num_partitions: 1,
            default_replication_factor: 1,
            replication: Replication::default(),
            auto_create_topics_enable: true,
            message_max_bytes: 1_048_588,
            limits: ConnectionLimits::default(),
            quorum: Quorum::default(),
            broker_rack: None,
            log_flush_interval_messages: i64::MAX,
            log_retention_ms: 7 * 24 * 3600 * 1000,
            log_retention_bytes: -1,
            log_cleanup_policy: "delete".into(),
            compression_type: "producer".into(),
            log_retention_check_interval_ms: 300_000,
            cluster_id: None,
            offsets_topic_num_partitions: 50,
            offsets_retention_minutes: 10_080,
            group_initial_rebalance_delay_ms: 3_000,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_max_size: i32::MAX,
            fetch_session_slots: 1000,
            producer_id_expiration_ms: 86_400_000,
            producer_id_expiration_check_interval_ms: 600_000,
            group_consumer_heartbeat_interval_ms: 5_000,
            group_consumer_session_timeout_ms: 45_000,
            group_consumer_assignors: vec!["uniform".into(), "range".into()],
            transaction_max_timeout_ms: 900_000,
            transaction_state_log_num_partitions: 50,
            transactional_id_expiration_ms: 604_800_000,
            authorizer_class_name: String::new(),
        }
    }
}

/// Keys that are understood (listed by `--help`).
pub const KNOWN_KEYS: &[(&str, &str)] = &[
    ("node.id", "this broker's id (default 1)"),
    ("broker.id", "alias of node.id"),
    ("listeners", "comma-separated NAME://host:port; empty host = all addresses (default PLAINTEXT://:9092)"),
    ("advertised.listeners", "what clients are told to connect to (default: listeners, localhost for an empty host)"),
    ("log.dirs", "comma-separated data directories; the first holds the store (default ./data)"),
    ("log.dir", "alias of log.dirs"),
    ("num.partitions", "partitions of a topic created without a count (default 1)"),
    ("default.replication.factor", "replication factor of a topic created without one (default 1)"),
    ("min.insync.replicas", "acks=all needs this many in-sync replicas (topic default; default 1)"),
    (
        "unclean.leader.election.enable",
        "an out-of-sync replica may lead when none in sync is left (topic default; default false)",
    ),
    (
        "offsets.topic.replication.factor",
        "replicas of __consumer_offsets in a cluster; created once this many brokers are live (default 3)",
    ),
    (
        "transaction.state.log.replication.factor",
        "replicas of __transaction_state in a cluster; created once this many brokers are live (default 3)",
    ),
    ("transaction.state.log.min.isr", "min.insync.replicas of __transaction_state (default 2)"),
    ("offsets.commit.timeout.ms", "an offset commit waits this long for the in-sync replicas (default 5000)"),
    ("replica.lag.time.max.ms", "a follower not caught up for this long leaves the ISR (default 30000)"),
    ("replica.fetch.max.bytes", "bytes a follower fetches per partition at most (default 1048576)"),
    ("replica.fetch.response.max.bytes", "bytes of one follower fetch response at most (default 10485760)"),
    ("replica.fetch.wait.max.ms", "how long a follower's fetch waits for data at the leader (default 500)"),
    (
        "auto.leader.rebalance.enable",
        "give partitions back to their preferred leader when it is in sync (default true)",
    ),
    ("leader.imbalance.check.interval.seconds", "how often leadership balance is checked (default 300)"),
    (
        "leader.imbalance.per.broker.percentage",
        "share of a broker's preferred partitions led elsewhere that triggers a rebalance (default 10)",
    ),
    ("auto.create.topics.enable", "create unknown topics on metadata requests (default true)"),
    ("message.max.bytes", "largest record batch accepted (default 1048588)"),
    ("socket.request.max.bytes", "largest request frame accepted (default 104857600)"),
    ("log.flush.interval.messages", "1 = sync every write to disk (default: never, as Kafka)"),
    ("log.retention.ms", "topic default retention.ms"),
    ("log.retention.minutes", "topic default retention, minutes"),
    ("log.retention.hours", "topic default retention, hours (default 168)"),
    ("log.retention.bytes", "topic default retention.bytes (default -1)"),
    ("log.cleanup.policy", "topic default cleanup.policy (default delete)"),
    ("log.retention.check.interval.ms", "how often retention is enforced (default 300000)"),
    ("cleanup.policy", "alias of log.cleanup.policy"),
    ("compression.type", "topic default compression.type: the codec batches are stored in (default producer)"),
    ("max.connections", "connections accepted at once; more wait to be accepted (default 10000)"),
    ("max.connections.per.ip", "connections from one address; more are closed at once (default 2147483647)"),
    ("max.connections.per.ip.overrides", "comma-separated host:count or ip:count exceptions to max.connections.per.ip"),
    (
        "connections.max.idle.ms",
        "close a connection that sends nothing and takes nothing for this long (default 600000)",
    ),
    (
        "queued.max.request.bytes",
        "bytes of requests read but not yet answered, all connections together; reading waits above it (default 536870912; -1 = no limit)",
    ),
    (
        "gregor.request.read.timeout.ms",
        "a request must arrive whole this long after its first byte, or the connection closes (default 60000)",
    ),
    (
        "process.roles",
        "broker,controller (the default), broker or controller (in a cluster of controller.quorum.voters)",
    ),
    ("controller.quorum.voters", "id@host:port of each controller: nodes with the same voters form one cluster"),
    ("controller.quorum.bootstrap.servers", "host:port of the controllers (KIP-853); only this node for now"),
    ("controller.listener.names", "the listeners of the KRaft controller role (in a cluster: node-to-node traffic)"),
    ("broker.heartbeat.interval.ms", "how often a broker tells the metadata leader it is alive (default 2000)"),
    ("broker.session.timeout.ms", "a broker not heard from for this long is fenced (default 9000)"),
    ("broker.rack", "this broker's rack: reported to clients, and replicas are placed across racks"),
    ("cluster.id", "cluster id reported to clients (default: generated on first start)"),
    ("offsets.topic.num.partitions", "partitions of __consumer_offsets (default 50)"),
    ("offsets.retention.minutes", "how long committed offsets of an empty group are kept (default 10080)"),
    (
        "group.initial.rebalance.delay.ms",
        "wait for more members before the first rebalance of an empty group (default 3000)",
    ),
    ("group.min.session.timeout.ms", "smallest session timeout a member may ask for (default 6000)"),
    ("group.max.session.timeout.ms", "largest session timeout a member may ask for (default 1800000)"),
    ("group.max.size", "members a group may have (default unlimited)"),
    (
        "producer.id.expiration.ms",
        "a producer's state in a partition is forgotten after this idle time (default 86400000)",
    ),
    ("producer.id.expiration.check.interval.ms", "how often idle producers are looked for (default 600000)"),
    (
        "max.incremental.fetch.session.cache.slots",
        "incremental fetch sessions kept at once, the least recently used evicted (default 1000; 0: none)",
    ),
    ("group.consumer.heartbeat.interval.ms", "heartbeat interval of consumer-protocol members (default 5000)"),
    ("group.consumer.session.timeout.ms", "session timeout of consumer-protocol members (default 45000)"),
    ("transaction.max.timeout.ms", "largest transaction timeout a producer may ask for (default 900000)"),
    ("transaction.state.log.num.partitions", "partitions of __transaction_state (default 50)"),
    ("transactional.id.expiration.ms", "how long an idle transactional id is kept (default 604800000)"),
    ("group.consumer.assignors", "server-side assignors, the first is the default (default uniform,range)"),
    (
        "authorizer.class.name",
        "any non-empty value turns the ACL APIs on (ACLs are stored and listed; not yet enforced)",
    ),
];

/// Parses a properties file as Java's `Properties.load(InputStream)` reads it: ISO-8859-1, with
/// no byte-order mark. (java-properties decodes windows-1252 and sniffs a BOM: a file starting
/// with FE FF switched it to UTF-16 and then panicked, found by the config fuzz target.)
pub fn parse_properties(bytes: &[u8]) -> Result<BTreeMap<String, String>, String> {
    // ISO-8859-1 maps each byte to the code point of its value; the UTF-8 text of that cannot
    // start with a BOM, so the parser's decoder passes it through.
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    let mut out = BTreeMap::new();
    java_properties::PropertiesIter::new_with_encoding(text.as_bytes(), encoding_rs::UTF_8)
        .read_into(|k, v| {
            out.insert(k, v);
        })
        .map_err(|e| e.to_string())?;
    Ok(out)
}

impl Config {
    /// Builds a config from an optional properties file and `key=value` overrides.
    pub fn load(file: Option<&str>, overrides: &[String]) -> Result<Config, ConfigError> {
        let mut props = BTreeMap::new();
        if let Some(path) = file {
            let bytes = std::fs::read(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
            let map = parse_properties(&bytes).map_err(|reason| ConfigError::Parse { path: path.into(), reason })?;
            props.extend(map);
        }
        for o in overrides {
            let (k, v) = o.split_once('=').ok_or_else(|| ConfigError::Override(o.clone()))?;
            props.insert(k.trim().to_string(), v.trim().to_string());
        }
        Config::from_props(&props)
    }

    /// Applies properties over the defaults. Unknown keys are logged and ignored.
    /// Long by design: one match arm per property, the broker's vocabulary in one place.
    pub fn from_props(props: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        let mut retention_ms = None;
        let mut retention_minutes = None;
        let mut retention_hours = None;
        for (key, value) in props {
            let v = value.as_str();
            if c.replication.set(key, v)? {
                continue;
            }
            match key.as_str() {
                "node.id" | "broker.id" => c.node_id = parse_num(key, v, 0, i32::MAX as i64)? as i32,
                "listeners" => c.listeners = parse_listeners(key, v)?,
                "advertised.listeners" => c.advertised_listeners = parse_listeners(key, v)?,
                "log.dirs" | "log.dir" => {
                    c.log_dirs = v.split(',').map(|s| PathBuf::from(s.trim())).collect();
                    if c.log_dirs.iter().any(|p| p.as_os_str().is_empty()) {
                        return Err(invalid(key, v, "empty directory"));
                    }
                }
                "num.partitions" => c.num_partitions = parse_num(key, v, 1, 1_000_000)? as i32,
                "default.replication.factor" => {
                    c.default_replication_factor = parse_num(key, v, 1, i16::MAX as i64)? as i16
                }
                "auto.create.topics.enable" => c.auto_create_topics_enable = parse_bool(key, v)?,
                "message.max.bytes" => c.message_max_bytes = parse_num(key, v, 0, i32::MAX as i64)? as i32,
                "log.flush.interval.messages" => c.log_flush_interval_messages = parse_num(key, v, 1, i64::MAX)?,
                "log.retention.ms" => retention_ms = Some(parse_num(key, v, -1, i64::MAX)?),
                "log.retention.minutes" => retention_minutes = Some(parse_num(key, v, -1, i32::MAX as i64)?),
                "log.retention.hours" => retention_hours = Some(parse_num(key, v, -1, i32::MAX as i64)?),
                "log.retention.bytes" => c.log_retention_bytes = parse_num(key, v, -1, i64::MAX)?,
                "log.cleanup.policy" | "cleanup.policy" => {
                    c.log_cleanup_policy =
                        topic::validate_value("cleanup.policy", v).map_err(|reason| invalid(key, v, &reason))?
                }
                "compression.type" => {
                    c.compression_type =
                        topic::validate_value("compression.type", v).map_err(|reason| invalid(key, v, &reason))?
                }
                "log.retention.check.interval.ms" => {
                    c.log_retention_check_interval_ms = parse_num(key, v, 1, i64::MAX)?
                }
                k if ConnectionLimits::KEYS.contains(&k) => c.limits.set(k, v)?,
                k if Quorum::KEYS.contains(&k) => c.quorum.set(k, v)?,
                "broker.rack" => c.broker_rack = Some(v.trim().to_string()).filter(|r| !r.is_empty()),
                "cluster.id" => c.cluster_id = Some(v.to_string()),
                "offsets.topic.num.partitions" => c.offsets_topic_num_partitions = parse_num(key, v, 1, 10_000)? as i32,
                "offsets.retention.minutes" => c.offsets_retention_minutes = parse_num(key, v, 1, i64::MAX / 60_000)?,
                "group.initial.rebalance.delay.ms" => {
                    c.group_initial_rebalance_delay_ms = parse_num(key, v, 0, i32::MAX as i64)? as i32
                }
                "group.min.session.timeout.ms" => {
                    c.group_min_session_timeout_ms = parse_num(key, v, 0, i32::MAX as i64)? as i32
                }
                "group.max.session.timeout.ms" => {
                    c.group_max_session_timeout_ms = parse_num(key, v, 0, i32::MAX as i64)? as i32
                }
                "group.max.size" => c.group_max_size = parse_num(key, v, 1, i32::MAX as i64)? as i32,
                "producer.id.expiration.ms" => c.producer_id_expiration_ms = parse_num(key, v, 1, i64::MAX)?,
                "producer.id.expiration.check.interval.ms" => {
                    c.producer_id_expiration_check_interval_ms = parse_num(key, v, 1, i64::MAX)?
                }
                "max.incremental.fetch.session.cache.slots" => {
                    c.fetch_session_slots = parse_num(key, v, 0, i32::MAX as i64)? as usize
                }
                "transaction.max.timeout.ms" => {
                    c.transaction_max_timeout_ms = parse_num(key, v, 1, i32::MAX as i64)? as i32
                }
                "transaction.state.log.num.partitions" => {
                    c.transaction_state_log_num_partitions = parse_num(key, v, 1, 10_000)? as i32
                }
                "transactional.id.expiration.ms" => c.transactional_id_expiration_ms = parse_num(key, v, 1, i64::MAX)?,
                "authorizer.class.name" => c.authorizer_class_name = v.to_string(),
                "group.consumer.heartbeat.interval.ms" => {
                    c.group_consumer_heartbeat_interval_ms = parse_num(key, v, 1, i32::MAX as i64)? as i32
                }
                "group.consumer.session.timeout.ms" => {
                    c.group_consumer_session_timeout_ms = parse_num(key, v, 1, i32::MAX as i64)? as i32
                }
                "group.consumer.assignors" => {
                    let names: Vec<String> =
                        v.split(',').map(|a| a.trim().to_string()).filter(|a| !a.is_empty()).collect();
                    let known = |a: &str| {
                        a == "uniform" || a == "range" || a.ends_with("UniformAssignor") || a.ends_with("RangeAssignor")
                    };
                    if names.is_empty() || !names.iter().all(|a| known(a)) {
                        return Err(invalid(key, v, "assignors must be uniform and/or range"));
                    }
                    c.group_consumer_assignors = names
                        .into_iter()
                        .map(|a| {
                            if a.ends_with("RangeAssignor") || a == "range" { "range".into() } else { "uniform".into() }
                        })
                        .collect();
                }
                _ => tracing::info!(key = %key, "ignoring unknown config key"),
            }
        }
        // Kafka's precedence: ms over minutes over hours; -1 means unlimited.
        c.log_retention_ms = match (retention_ms, retention_minutes, retention_hours) {
            (Some(ms), _, _) => ms,
            (None, Some(m), _) => {
                if m < 0 {
                    -1
                } else {
                    m * 60_000
                }
            }
            (None, None, Some(h)) => {
                if h < 0 {
                    -1
                } else {
                    h * 3_600_000
                }
            }
            _ => c.log_retention_ms,
        };
        c.quorum.resolve(&c.listeners);
        c.validate()?;
        Ok(c)
    }

    /// Cross-field checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listeners.is_empty() {
            return Err(invalid("listeners", "", "at least one listener is required"));
        }
        self.quorum.validate(self.node_id, &self.listeners)?;
        if self.quorum.broker && !self.listeners.iter().any(|l| self.quorum.serves_clients(l)) {
            return Err(invalid(
                "listeners",
                "",
                "a cluster node needs a listener for clients besides its controller listener",
            ));
        }
        if self.group_min_session_timeout_ms > self.group_max_session_timeout_ms {
            return Err(invalid(
                "group.min.session.timeout.ms",
                &self.group_min_session_timeout_ms.to_string(),
                "must not exceed group.max.session.timeout.ms",
            ));
        }
        if self.limits.request_bytes_max < self.message_max_bytes {
            tracing::warn!(
                socket_request_max_bytes = self.limits.request_bytes_max,
                message_max_bytes = self.message_max_bytes,
                "socket.request.max.bytes is below message.max.bytes"
            );
        }
        Ok(())
    }

    /// The endpoint clients are told to connect to: the advertised listener with the name of the
    /// first listener that serves clients, or that listener itself (`localhost` for an empty host).
    pub fn advertised(&self) -> (String, u16) {
        let first = self.listeners.iter().find(|l| self.quorum.serves_clients(l)).unwrap_or(&self.listeners[0]);
        let l = self
            .advertised_listeners
            .iter()
            .find(|a| a.name == first.name)
            .or(self.advertised_listeners.iter().find(|a| self.quorum.serves_clients(a)))
            .unwrap_or(first);
        reachable(l)
    }

    /// Listener `l` as others reach it: the advertised listener of its name, else `l` itself
    /// (`localhost` for an empty host).
    pub fn advertised_of(&self, l: &Listener) -> (String, u16) {
        reachable(self.advertised_listeners.iter().find(|a| a.name == l.name).unwrap_or(l))
    }

    /// Where the store lives: the first of `log.dirs`.
    pub fn data_dir(&self) -> &PathBuf {
        &self.log_dirs[0]
    }
}

/// A listener's host and port as a peer dials them: an unspecified host is this machine.
fn reachable(l: &Listener) -> (String, u16) {
    let host = if l.host.is_empty() || l.host == "0.0.0.0" || l.host == "::" || l.host == "[::]" {
        "localhost".to_string()
    } else {
        l.host.clone()
    };
    (host, l.port)
}

fn invalid(key: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid { key: key.into(), value: value.into(), reason: reason.into() }
}

fn parse_num(key: &str, v: &str, min: i64, max: i64) -> Result<i64, ConfigError> {
    let n: i64 = v.trim().parse().map_err(|_| invalid(key, v, "not an integer"))?;
    if n < min || n > max {
        return Err(invalid(key, v, &format!("must be between {min} and {max}")));
    }
    Ok(n)
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, v, "must be true or false")),
    }
}

fn parse_listeners(key: &str, v: &str) -> Result<Vec<Listener>, ConfigError> {
    let mut out = Vec::new();
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, rest) = item.split_once("://").ok_or_else(|| invalid(key, v, "expected NAME://host:port"))?;
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| invalid(key, v, "expected NAME://host:port"))?;
        let port: u16 = port.parse().map_err(|_| invalid(key, v, "port is not a number 0-65535"))?;
        out.push(Listener { name: name.to_string(), host: host.to_string(), port });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_are_read_as_java_reads_them() {
        // The config fuzz target's crash: FE FF up front made the parser panic.
        let crash = b"\xfe\xff\xff\xff\xff\xff\xff\xffey \\\n  \nl#is7key \\\n  \n\xa9\xa3t\\=veid = 7key \\\n  \nl#is7key \\\n  \n\xa9#\\`\n";
        assert!(parse_properties(crash).is_ok());
        let p = parse_properties(b"# comment\nnode.id = 3\nlog.dirs=/a,\\\n  /b\ncaf\xe9=\\u00e9\n").unwrap();
        assert_eq!(p["node.id"], "3");
        assert_eq!(p["log.dirs"], "/a,/b", "a continued line");
        assert_eq!(p["caf\u{e9}"], "\u{e9}", "ISO-8859-1 bytes and \\u escapes");
    }

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_listen_everywhere_and_advertise_localhost() {
        let c = Config::from_props(&BTreeMap::new()).unwrap();
        assert_eq!(c.advertised(), ("localhost".to_string(), 9092));
        assert_eq!(c.listeners[0].bind_addrs().len(), 2);
        assert_eq!(c.node_id, 1);
    }

    #[test]
    fn invalid_value_names_key_and_value() {
        let err = Config::from_props(&props(&[("num.partitions", "zero")])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("num.partitions") && msg.contains("zero"), "{msg}");
    }

    #[test]
    fn connection_limits_parse_with_kafka_names() {
        let c = Config::from_props(&props(&[
            ("max.connections.per.ip", "3"),
            ("max.connections.per.ip.overrides", "127.0.0.2:7, [::1]:9"),
            ("queued.max.request.bytes", "-1"),
            ("connections.max.idle.ms", "1000"),
            ("socket.request.max.bytes", "2048"),
        ]))
        .unwrap();
        let l = &c.limits;
        let o = l.per_ip_overrides();
        assert_eq!(l.connections_per_ip_max, 3);
        assert_eq!(o.get(&"127.0.0.2".parse().unwrap()), Some(&7));
        assert_eq!(o.get(&"::1".parse().unwrap()), Some(&9));
        assert_eq!(o.len(), 2);
        assert_eq!(l.queued_request_bytes_max, None);
        assert_eq!((l.idle_ms_max, l.request_bytes_max), (1000, 2048));
        for bad in [("queued.max.request.bytes", "0"), ("max.connections.per.ip.overrides", "nohost")] {
            assert!(Config::from_props(&props(&[bad])).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unknown_keys_are_ignored_and_retention_precedence_holds() {
        let c = Config::from_props(&props(&[
            ("zookeeper.connect", "x:2181"),
            ("log.retention.hours", "1"),
            ("listeners", "PLAINTEXT://127.0.0.1:19092"),
        ]))
        .unwrap();
        assert_eq!(c.log_retention_ms, 3_600_000);
        assert_eq!(c.advertised(), ("127.0.0.1".to_string(), 19092));
        let c = Config::from_props(&props(&[("log.retention.hours", "1"), ("log.retention.ms", "5")])).unwrap();
        assert_eq!(c.log_retention_ms, 5);
        let c = Config::from_props(&props(&[("compression.type", "zstd")])).unwrap();
        assert_eq!(c.compression_type, "zstd");
        assert!(Config::from_props(&props(&[("compression.type", "brotli")])).is_err());
    }
}
