//! How this node takes part in the metadata group, read from its KRaft keys.

use crate::cluster::MetadataOptions;
use crate::config::Config;

/// How this node takes part in the metadata group, from its quorum keys.
pub(super) fn metadata_options(config: &Config) -> MetadataOptions {
    let q = &config.quorum;
    let addr =
        |host: &str, port: u16| if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    MetadataOptions {
        node_id: config.node_id,
        voters: q.voters.iter().map(|v| (v.id, addr(&v.host, v.port))).collect(),
        observer_addr: (q.is_cluster() && !q.controller).then(|| {
            let (host, port) = config.advertised();
            addr(&host, port)
        }),
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
