//! How this node takes part in the metadata group, read from its KRaft keys.

use crate::cluster::{DynamicQuorum, MetadataOptions};
use crate::config::Config;

/// How this node takes part in the metadata group, from its quorum keys; `directory_id` is its
/// metadata directory's (meta.properties), its voter key in a dynamic quorum.
pub(super) fn metadata_options(config: &Config, directory_id: uuid::Uuid) -> MetadataOptions {
    let q = &config.quorum;
    let addr =
        |host: &str, port: u16| if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let controller_addr = q.controller.then(|| controller_address(config)).flatten().map(|(h, p)| addr(&h, p));
    let dynamic = q.dynamic.then(|| DynamicQuorum {
        bootstrap: q.other_bootstrap_servers(&config.listeners).iter().map(|(h, p)| addr(h, *p)).collect(),
        controller_addr: controller_addr.clone(),
        first: q.first_bootstrap_server(&config.listeners),
        directory_id,
    });
    MetadataOptions {
        node_id: config.node_id,
        voters: q.voters.iter().map(|v| (v.id, addr(&v.host, v.port))).collect(),
        observer_addr: if !q.is_cluster() {
            None
        } else if !q.controller {
            let (host, port) = config.advertised();
            Some(addr(&host, port))
        } else if q.dynamic {
            // A controller of a dynamic quorum follows as an observer until it is made a voter.
            controller_addr
        } else {
            None
        },
        dynamic,
        broker: q.broker,
        heartbeat_interval: std::time::Duration::from_millis(q.heartbeat_interval_ms),
        session_timeout: std::time::Duration::from_millis(q.session_timeout_ms),
        leader_rebalance: config.replication.auto_leader_rebalance.then(|| {
            (
                std::time::Duration::from_secs(config.replication.imbalance_check_interval_s),
                config.replication.imbalance_per_broker_percent,
            )
        }),
        unclean_election: config.replication.unclean_leader_election,
    }
}

/// This node's controller listener as its peers reach it.
fn controller_address(config: &Config) -> Option<(String, u16)> {
    let l = config.listeners.iter().find(|l| config.quorum.is_controller_listener(l))?;
    Some(config.advertised_of(l))
}
