//! The keys that place a node in a KRaft cluster, read and checked as Kafka reads them:
//! `process.roles`, `controller.quorum.voters`, `controller.quorum.bootstrap.servers` and
//! `controller.listener.names`.
//!
//! gregor runs one node today. The server.properties of a one-node KRaft cluster (a combined
//! broker and controller whose quorum is itself, as Kafka's quickstart configures it) starts it
//! as that node; one that names other nodes stops start-up naming the key, rather than start a
//! lone node that other nodes would never reach.

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
    /// `controller.listener.names`.
    pub controller_listener_names: Vec<String>,
}

impl Default for Quorum {
    fn default() -> Self {
        Quorum {
            broker: true,
            controller: true,
            roles_given: false,
            voters: Vec::new(),
            bootstrap_servers: Vec::new(),
            controller_listener_names: Vec::new(),
        }
    }
}

impl Quorum {
    pub const KEYS: &[&str] = &[
        "process.roles",
        "controller.quorum.voters",
        "controller.quorum.bootstrap.servers",
        "controller.listener.names",
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
        if !self.controller && listeners.iter().any(|l| self.is_controller_listener(l)) {
            return Err(invalid(
                "listeners",
                &listeners.iter().map(|l| format!("{}://{}:{}", l.name, l.host, l.port)).collect::<Vec<_>>().join(","),
                "a broker-only node must not listen on a controller listener (controller.listener.names)",
            ));
        }
        self.one_node_only(node_id, listeners)
    }

    /// `controller.quorum.voters` as it was written, for error messages.
    fn voters_value(&self) -> String {
        self.voters.iter().map(|x| format!("{}@{}:{}", x.id, x.host, x.port)).collect::<Vec<_>>().join(",")
    }

    fn is_controller_listener(&self, l: &Listener) -> bool {
        self.controller_listener_names.contains(&l.name)
    }

    /// What gregor runs today: a combined node that is the whole quorum.
    fn one_node_only(&self, node_id: i32, listeners: &[Listener]) -> Result<(), ConfigError> {
        if !(self.broker && self.controller) {
            return Err(invalid(
                "process.roles",
                if self.broker { "broker" } else { "controller" },
                "gregor runs combined broker,controller nodes only; separate brokers and controllers come \
                 with clusters (issue 14)",
            ));
        }
        let others: Vec<i32> = self.voters.iter().map(|x| x.id).filter(|id| *id != node_id).collect();
        if !others.is_empty() {
            return Err(invalid(
                "controller.quorum.voters",
                &self.voters_value(),
                &format!(
                    "names nodes {others:?} besides this node {node_id}: multi-node clusters are not \
                     supported yet (issue 14); list this node alone"
                ),
            ));
        }
        let own_ports: Vec<u16> = listeners.iter().filter(|l| self.is_controller_listener(l)).map(|l| l.port).collect();
        let elsewhere: Vec<String> = self
            .bootstrap_servers
            .iter()
            .filter(|(host, port)| !(own_ports.contains(port) && is_local(host)))
            .map(|(h, p)| format!("{h}:{p}"))
            .collect();
        if !elsewhere.is_empty() {
            return Err(invalid(
                "controller.quorum.bootstrap.servers",
                &elsewhere.join(","),
                "names controllers other than this node: multi-node clusters are not supported yet (issue 14)",
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
    fn kafka_rules_and_what_gregor_cannot_run_yet_stop_start_up_naming_the_key() {
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
        assert_eq!(
            key_of(&with("process.roles=broker,controller\ncontroller.quorum.voters=1@h1:9093,2@h2:9093,3@h3:9093\n")),
            "controller.quorum.voters",
            "three voters: a cluster, not yet"
        );
        assert_eq!(
            key_of(&with("process.roles=broker,controller\ncontroller.quorum.bootstrap.servers=h1:9093,h2:9093\n")),
            "controller.quorum.bootstrap.servers"
        );
        assert_eq!(key_of(&with("process.roles=broker\ncontroller.quorum.voters=2@h2:9093\n")), "listeners");
        assert_eq!(
            key_of(
                "node.id=1\nprocess.roles=broker\ncontroller.quorum.voters=2@h2:9093\n\
                 listeners=PLAINTEXT://:9092\ncontroller.listener.names=CONTROLLER\n"
            ),
            "process.roles",
            "a broker-only node needs remote controllers: not yet"
        );
        assert_eq!(key_of("controller.quorum.voters=1@localhost:9093\n"), "process.roles");
    }
}
