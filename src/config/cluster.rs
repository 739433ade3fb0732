//! The keys that place a node in a KRaft cluster, read and checked as Kafka reads them:
//! `process.roles`, `controller.quorum.voters`, `controller.quorum.bootstrap.servers` and
//! `controller.listener.names`.
//!
//! A node runs alone (no quorum keys, or a one-node KRaft config as Kafka's quickstart writes
//! it), or in a cluster: of a static `controller.quorum.voters` list (the voters are the nodes
//! with the controller role, combined broker,controller or controller-only, and broker-only
//! nodes follow their metadata as observers), or of a dynamic quorum (KIP-853) whose
//! `controller.quorum.bootstrap.servers` name other nodes: the voters are then in the metadata
//! log, changed with AddRaftVoter / RemoveRaftVoter. Plus the liveness keys
//! `broker.heartbeat.interval.ms` and `broker.session.timeout.ms`.

use super::{ConfigError, Listener, invalid};

/// One `controller.quorum.voters` entry: `id@host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quorum {
    /// `process.roles`; both when the key is absent (gregor's one-node default).
    pub broker: bool,
    pub controller: bool,
    /// Whether `process.roles` was given: Kafka's KRaft checks apply only then.
    pub roles_given: bool,
    /// `controller.quorum.voters` (static quorum).
    pub voters: Vec<Voter>,
    /// `controller.quorum.bootstrap.servers` (KIP-853's dynamic quorum), as host:port.
    pub bootstrap_servers: Vec<(String, u16)>,
    /// Whether `bootstrap_servers` name a node other than this one (set by `resolve`): the node
    /// is then a member of a dynamic quorum's cluster.
    pub dynamic: bool,
    /// `controller.listener.names`.
    pub controller_listener_names: Vec<String>,
    /// `broker.heartbeat.interval.ms` (Kafka's default 2000).
    pub heartbeat_interval_ms: u64,
    /// `broker.session.timeout.ms` (Kafka's default 9000): a broker not heard from for this long
    /// is fenced.
    pub session_timeout_ms: u64,
}

impl Default for Quorum {
    fn default() -> Self {
        Quorum {
            broker: true,
            controller: true,
            roles_given: false,
            voters: Vec::new(),
            bootstrap_servers: Vec::new(),
            dynamic: false,
            controller_listener_names: Vec::new(),
            heartbeat_interval_ms: 2000,
            session_timeout_ms: 9000,
        }
    }
}

impl Quorum {
    pub const KEYS: &[&str] = &[
        "process.roles",
        "controller.quorum.voters",
        "controller.quorum.bootstrap.servers",
        "controller.listener.names",
        "broker.heartbeat.interval.ms",
        "broker.session.timeout.ms",
    ];

    pub(super) fn set(&mut self, key: &str, v: &str) -> Result<(), ConfigError> {
        let items = || v.split(',').map(str::trim).filter(|s| !s.is_empty());
        match key {
            "process.roles" => {
                let (mut broker, mut controller) = (false, false);
                for role in items() {
                    let seen = match role {
                        "broker" => std::mem::replace(&mut broker, true),
                        "controller" => std::mem::replace(&mut controller, true),
                        _ => {
                            return Err(invalid(
                                key,
                                v,
                                &format!("unknown role {role:?}: the roles are broker and controller"),
                            ));
                        }
                    };
                    if seen {
                        return Err(invalid(key, v, "duplicate role names"));
                    }
                }
                if !broker && !controller {
                    return Err(invalid(key, v, "at least one of broker and controller is required"));
                }
                (self.broker, self.controller, self.roles_given) = (broker, controller, true);
            }
            "controller.quorum.voters" => {
                let mut voters: Vec<Voter> = Vec::new();
                for item in items() {
                    let voter =
                        parse_voter(item).ok_or_else(|| invalid(key, v, &format!("{item:?} is not id@host:port")))?;
                    if voters.iter().any(|x| x.id == voter.id) {
                        return Err(invalid(key, v, &format!("voter id {} appears twice", voter.id)));
                    }
                    voters.push(voter);
                }
                self.voters = voters;
            }
            "controller.quorum.bootstrap.servers" => {
                self.bootstrap_servers = items()
                    .map(|item| {
                        parse_host_port(item).ok_or_else(|| invalid(key, v, &format!("{item:?} is not host:port")))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "controller.listener.names" => self.controller_listener_names = items().map(str::to_string).collect(),
            "broker.heartbeat.interval.ms" | "broker.session.timeout.ms" => {
                let ms = v.trim().parse::<u64>().ok().filter(|ms| (1..=i32::MAX as u64).contains(ms));
                let ms = ms.ok_or_else(|| invalid(key, v, "a number of milliseconds from 1 to 2147483647"))?;
                if key == "broker.heartbeat.interval.ms" {
                    self.heartbeat_interval_ms = ms;
                } else {
                    self.session_timeout_ms = ms;
                }
            }
            _ => unreachable!("{key} is in KEYS"),
        }
        Ok(())
    }

    /// Kafka's KRaft checks of a node's quorum keys against its id and listeners, then what
    /// gregor can run today: one node that is its own quorum.
    pub(super) fn validate(&self, node_id: i32, listeners: &[Listener]) -> Result<(), ConfigError> {
        if !self.roles_given {
            if !self.voters.is_empty() || !self.bootstrap_servers.is_empty() {
                return Err(invalid(
                    "process.roles",
                    "",
                    "a KRaft node (controller.quorum.voters or controller.quorum.bootstrap.servers set) \
                     needs process.roles",
                ));
            }
            return Ok(());
        }
        if self.voters.is_empty() && self.bootstrap_servers.is_empty() {
            return Err(invalid(
                "controller.quorum.voters",
                "",
                "a KRaft node needs controller.quorum.voters or controller.quorum.bootstrap.servers",
            ));
        }
        if self.controller && !self.voters.is_empty() && !self.voters.iter().any(|x| x.id == node_id) {
            return Err(invalid(
                "controller.quorum.voters",
                &self.voters_value(),
                &format!("process.roles contains controller, so node.id {node_id} must be one of the voters"),
            ));
        }
        if !self.controller && self.voters.iter().any(|x| x.id == node_id) {
            return Err(invalid(
                "controller.quorum.voters",
                &self.voters_value(),
                &format!("process.roles is broker only, so node.id {node_id} must not be one of the voters"),
            ));
        }
        if self.controller_listener_names.is_empty() {
            return Err(invalid(
                "controller.listener.names",
                "",
                "a KRaft node needs at least one controller listener name",
            ));
        }
        if self.controller && !listeners.iter().any(|l| self.is_controller_listener(l)) {
            return Err(invalid(
                "controller.listener.names",
                &self.controller_listener_names.join(","),
                "process.roles contains controller, so one of these names must be in listeners",
            ));
        }
        if !self.broker && listeners.iter().any(|l| !self.is_controller_listener(l)) {
            return Err(invalid(
                "listeners",
                &listeners.iter().map(|l| format!("{}://{}:{}", l.name, l.host, l.port)).collect::<Vec<_>>().join(","),
                &format!(
                    "a controller-only node listens only on controller listeners ({})",
                    self.controller_listener_names.join(",")
                ),
            ));
        }
        if !self.controller && listeners.iter().any(|l| self.is_controller_listener(l)) {
            return Err(invalid(
                "listeners",
                &listeners.iter().map(|l| format!("{}://{}:{}", l.name, l.host, l.port)).collect::<Vec<_>>().join(","),
                "a broker-only node must not listen on a controller listener (controller.listener.names)",
            ));
        }
        if self.session_timeout_ms <= self.heartbeat_interval_ms {
            return Err(invalid(
                "broker.session.timeout.ms",
                &self.session_timeout_ms.to_string(),
                "must be longer than broker.heartbeat.interval.ms",
            ));
        }
        self.what_gregor_runs(listeners)
    }

    /// Whether this node is a member of a cluster (of a static quorum: a voter or a broker-only
    /// observer; or of a dynamic one): it talks to its peers.
    pub fn is_cluster(&self) -> bool {
        !self.voters.is_empty() || self.dynamic
    }

    /// Sets `dynamic`: whether `controller.quorum.bootstrap.servers` name another node.
    pub(super) fn resolve(&mut self, listeners: &[Listener]) {
        self.dynamic = self.voters.is_empty() && !self.other_bootstrap_servers(listeners).is_empty();
    }

    /// `controller.quorum.bootstrap.servers` other than this node's own controller listeners.
    pub fn other_bootstrap_servers(&self, listeners: &[Listener]) -> Vec<(String, u16)> {
        let own: Vec<&Listener> = listeners.iter().filter(|l| self.is_controller_listener(l)).collect();
        self.bootstrap_servers
            .iter()
            .filter(|(host, port)| !own.iter().any(|l| l.port == *port && (l.host == *host || is_local(host))))
            .cloned()
            .collect()
    }

    /// Whether this node's controller listener is the first of `controller.quorum.bootstrap.servers`:
    /// in a dynamic quorum, the node that starts it alone when none exists yet (what `kafka-storage
    /// format --standalone` does for Kafka).
    pub fn first_bootstrap_server(&self, listeners: &[Listener]) -> bool {
        let others = self.other_bootstrap_servers(listeners);
        self.controller && self.bootstrap_servers.first().is_some_and(|first| !others.contains(first))
    }

    /// Whether clients are served on `l` as on any broker listener: every listener, except the
    /// controller listener of a cluster member (its peers connect there, and the clients of a
    /// controller listener: `--bootstrap-controller` tools).
    pub fn serves_clients(&self, l: &Listener) -> bool {
        !(self.is_cluster() && self.is_controller_listener(l))
    }

    /// `controller.quorum.voters` as it was written, for error messages.
    fn voters_value(&self) -> String {
        self.voters.iter().map(|x| format!("{}@{}:{}", x.id, x.host, x.port)).collect::<Vec<_>>().join(",")
    }

    pub fn is_controller_listener(&self, l: &Listener) -> bool {
        self.controller_listener_names.contains(&l.name)
    }

    /// What gregor runs: a node alone, or a member of a static or dynamic quorum's cluster (any
    /// roles). A broker-only node needs someone to follow.
    fn what_gregor_runs(&self, listeners: &[Listener]) -> Result<(), ConfigError> {
        if !self.controller && self.voters.is_empty() && self.other_bootstrap_servers(listeners).is_empty() {
            return Err(invalid(
                "controller.quorum.bootstrap.servers",
                &self.bootstrap_servers.iter().map(|(h, p)| format!("{h}:{p}")).collect::<Vec<_>>().join(","),
                "a broker-only node needs the controllers it follows",
            ));
        }
        Ok(())
    }
}

fn parse_voter(item: &str) -> Option<Voter> {
    let (id, rest) = item.split_once('@')?;
    let id: i32 = id.trim().parse().ok().filter(|id| *id >= 0)?;
    let (host, port) = parse_host_port(rest)?;
    Some(Voter { id, host, port })
}

/// `host:port`, the host possibly a bracketed IPv6 address.
fn parse_host_port(item: &str) -> Option<(String, u16)> {
    let (host, port) = item.trim().rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    Some((host.to_string(), port.parse().ok()?))
}

/// Whether `host` names this machine as the listeners do (loopback or an unspecified address);
/// another name is taken as another node.
fn is_local(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::config::{Config, ConfigError};

    fn load(lines: &str) -> Result<Config, ConfigError> {
        let props: BTreeMap<String, String> = crate::config::parse_properties(lines.as_bytes()).unwrap();
        Config::from_props(&props)
    }

    /// The keys of Kafka 4.3's quickstart server.properties for a combined node.
    const QUICKSTART: &str = "process.roles=broker,controller\nnode.id=1\n\
        controller.quorum.bootstrap.servers=localhost:9093\n\
        listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ninter.broker.listener.name=PLAINTEXT\n\
        advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093\n\
        controller.listener.names=CONTROLLER\n\
        listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n";

    #[test]
    fn a_one_node_kraft_config_starts_this_node() {
        let c = load(QUICKSTART).unwrap();
        assert!(c.quorum.broker && c.quorum.controller);
        assert_eq!(c.quorum.bootstrap_servers, vec![("localhost".to_string(), 9093)]);
        assert_eq!(c.advertised(), ("localhost".to_string(), 9092));
        let static_one = "process.roles=broker,controller\nnode.id=3\ncontroller.quorum.voters=3@127.0.0.1:9093\n\
            listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n";
        assert_eq!(load(static_one).unwrap().quorum.voters[0].id, 3);
        assert!(load("").unwrap().quorum.voters.is_empty(), "no KRaft keys: today's single-node default");
    }

    #[test]
    fn kafka_rules_stop_start_up_naming_the_key_and_every_role_joins_a_static_or_dynamic_cluster() {
        let key_of = |lines: &str| match load(lines) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        };
        let base = "node.id=1\nlisteners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n";
        let with = |extra: &str| format!("{base}{extra}");
        assert_eq!(
            key_of(&with("process.roles=broker,zookeeper\ncontroller.quorum.voters=1@localhost:9093\n")),
            "process.roles"
        );
        assert_eq!(
            key_of(&with("process.roles=broker,broker\ncontroller.quorum.voters=1@localhost:9093\n")),
            "process.roles"
        );
        assert_eq!(
            key_of(&with("process.roles=broker,controller\ncontroller.quorum.voters=1@localhost\n")),
            "controller.quorum.voters"
        );
        assert_eq!(
            key_of(&with("process.roles=broker,controller\ncontroller.quorum.voters=1@a:1,1@b:2\n")),
            "controller.quorum.voters",
            "a voter id twice"
        );
        assert_eq!(
            key_of(&with("process.roles=broker,controller\ncontroller.quorum.voters=2@localhost:9093\n")),
            "controller.quorum.voters",
            "a controller must be a voter"
        );
        assert_eq!(key_of(&with("process.roles=broker,controller\n")), "controller.quorum.voters", "no quorum at all");
        assert_eq!(
            key_of(
                "node.id=1\nprocess.roles=broker,controller\ncontroller.quorum.voters=1@localhost:9093\n\
                 listeners=PLAINTEXT://:9092\n"
            ),
            "controller.listener.names"
        );
        assert!(
            load(&with("process.roles=broker,controller\ncontroller.quorum.voters=1@h1:9093,2@h2:9093,3@h3:9093\n"))
                .unwrap()
                .quorum
                .is_cluster(),
            "three voters: a cluster"
        );
        assert_eq!(
            key_of(&with(
                "process.roles=broker,controller\ncontroller.quorum.voters=1@h1:9093\nbroker.session.timeout.ms=100\n\
                 broker.heartbeat.interval.ms=100\n"
            )),
            "broker.session.timeout.ms"
        );
        let dynamic =
            load(&with("process.roles=broker,controller\ncontroller.quorum.bootstrap.servers=h1:9093,h2:9093\n"))
                .unwrap()
                .quorum;
        assert!(dynamic.dynamic && dynamic.is_cluster(), "a dynamic quorum naming other nodes: a cluster");
        let c = load(&with(
            "process.roles=broker,controller\ncontroller.quorum.bootstrap.servers=localhost:9093,h2:9093\n",
        ))
        .unwrap();
        assert!(c.quorum.first_bootstrap_server(&c.listeners), "this node is named first: it may start the quorum");
        assert_eq!(c.quorum.other_bootstrap_servers(&c.listeners), vec![("h2".to_string(), 9093)]);
        let c = load(&with(
            "process.roles=broker,controller\ncontroller.quorum.bootstrap.servers=h2:9093,localhost:9093\n",
        ))
        .unwrap();
        assert!(c.quorum.dynamic && !c.quorum.first_bootstrap_server(&c.listeners), "another node is named first");
        assert_eq!(key_of(&with("process.roles=broker\ncontroller.quorum.voters=2@h2:9093\n")), "listeners");
        let broker_only = "node.id=4\nprocess.roles=broker\ncontroller.quorum.voters=1@h1:9093,2@h2:9093\n\
            listeners=PLAINTEXT://:9092\ncontroller.listener.names=CONTROLLER\n";
        let q = load(broker_only).unwrap().quorum;
        assert!(q.broker && !q.controller && q.is_cluster(), "a broker-only node of a static quorum");
        assert_eq!(
            key_of(&broker_only.replace("node.id=4", "node.id=2")),
            "controller.quorum.voters",
            "a broker-only node with a voter's id"
        );
        let q = load(
            &broker_only
                .replace("controller.quorum.voters=1@h1:9093,2@h2:9093", "controller.quorum.bootstrap.servers=h1:9093"),
        )
        .unwrap()
        .quorum;
        assert!(q.dynamic && q.is_cluster() && !q.controller, "a broker-only node of a dynamic quorum");
        let controller_only = "node.id=1\nprocess.roles=controller\ncontroller.quorum.voters=1@h1:9093,2@h2:9093\n\
            listeners=CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n";
        let c = load(controller_only).unwrap();
        assert!(!c.quorum.broker && c.quorum.controller, "a controller-only node needs no client listener");
        assert!(!c.listeners.iter().any(|l| c.quorum.serves_clients(l)));
        assert_eq!(
            key_of(
                &controller_only
                    .replace("listeners=CONTROLLER://:9093", "listeners=PLAINTEXT://:9092,CONTROLLER://:9093")
            ),
            "listeners",
            "a controller-only node with a client listener"
        );
        assert_eq!(key_of("controller.quorum.voters=1@localhost:9093\n"), "process.roles");
    }
}
