//! gregor: a Kafka-protocol-compatible broker in one binary.
//!
//! Layout, highest layer first (`layers.txt`; a module uses only the ones below it):
//! - `server`: listeners, one task per connection, the one API table (`apis`) that generates
//!   dispatch and the ApiVersions answer.
//! - `handlers`: one file per Kafka API, and the mapping of domain errors to Kafka codes.
//! - `broker`: wiring of store, metadata, partitions and coordinators; shared by all connections;
//!   partition replication in a cluster (`replica`: followers' fetchers, the leader's high
//!   watermark and ISR changes).
//! - `group`, `txn`: the group coordinator (classic and KIP-848) and the transaction coordinator,
//!   each refusing with its own error enum (`GroupError`, `TxnError`).
//! - `cluster`: the metadata image replicated through openraft across the voters of a cluster
//!   (`peer`: raft, forwarded writes and broker heartbeats between nodes; fencing of silent
//!   brokers), ACLs, replica placement, and Kafka's replication rules as pure functions
//!   (`replication`).
//! - `log`: partition logs on RocksDB (batches stored whole), offsets, reads, the append rules
//!   and the parsed topic settings they use, idempotent producers' sequence state, the leader-
//!   epoch cache, compaction, the coordinators' internal-topic logs.
//! - `protocol`: framing and its limits, incremental fetch sessions, requests to other brokers
//!   (`client`).
//! - `config`: Kafka property names to one validated `Config` (connection limits, the KRaft quorum
//!   keys), and the topic configs.

pub mod broker;
pub mod cluster;
pub mod config;
pub mod group;
pub mod handlers;
pub mod log;
pub mod protocol;
pub mod server;
pub mod txn;

use std::net::SocketAddr;
use std::sync::Arc;

pub use broker::Broker;
pub use config::Config;

/// Wall-clock milliseconds since the Unix epoch, Kafka's timestamp unit.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A running broker: its bound addresses and a way to stop it. Used by `main` and by tests.
pub struct Running {
    pub broker: Arc<Broker>,
    pub addrs: Vec<SocketAddr>,
    /// The queued.max.request.bytes budget of the listeners (tests watch it).
    pub request_budget: Option<protocol::frame::QueuedBytes>,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    /// Tells the listeners the broker has started (kept for as long as they serve).
    _ready: tokio::sync::watch::Sender<Option<Arc<Broker>>>,
}

impl Running {
    /// Stops accepting, closes connections, stops the metadata group.
    pub async fn stop(self) {
        self.broker.leave().await;
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        self.broker.shutdown().await;
    }

    /// Waits until the server stops by itself (it does not, short of `stop`).
    pub async fn wait(&mut self) {
        let _ = (&mut self.task).await;
    }
}

/// Starts a broker and its listeners.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    if !config.authorizer_class_name.trim().is_empty() {
        tracing::warn!(
            authorizer = %config.authorizer_class_name,
            "ACL administration is on; ACLs are stored and listed but not yet enforced"
        );
    }
    // The listeners accept before the broker has started: a node of a cluster reaches its quorum
    // through them while it starts (Kafka clients wait).
    let server = server::Server::bind(&config).await?;
    let addrs = server.local_addrs();
    let request_budget = server.request_budget();
    let (ready, broker_rx) = tokio::sync::watch::channel(None);
    let peers = config.quorum.is_cluster().then(cluster::PeerGate::default);
    let peers_on_clients = config.quorum.is_cluster() && !config.quorum.controller;
    let (shutdown, rx) = tokio::sync::watch::channel(false);
    let serving = server::connection::Serving { broker: broker_rx, peers: peers.clone(), peers_on_clients };
    let task = tokio::spawn(server.serve(serving, rx));
    let broker = match Broker::start_with(config, peers.as_ref()).await {
        Ok(b) => b,
        Err(e) => {
            let _ = shutdown.send(true);
            let _ = task.await;
            return Err(e.into());
        }
    };
    ready.send_replace(Some(broker.clone()));
    Ok(Running { broker, addrs, request_budget, shutdown, task, _ready: ready })
}
