//! Cluster metadata: an openraft group over the controller nodes whose state machine is the
//! `Image`. The default broker is a group of one, initialized on first start; nodes started with
//! the same `controller.quorum.voters` initialize the same group and elect a leader by themselves.
//! Broker-only nodes are the group's learners (Kafka's observers): they ask the leader to add
//! them and then receive its log (`observer`). `peer` carries raft between them, forwards
//! metadata writes to the leader and carries broker heartbeats; the leader fences a broker that
//! misses its session (`duties`: what nodes do on timers). A dynamic quorum's voters change at
//! run time (`voters`, KIP-853); `quorum` describes the group. `replication` holds Kafka's partition
//! replication rules (high watermark, ISR, elections, divergence) as pure functions.

pub mod acl;
mod duties;
mod elections;
pub mod image;
mod observer;
pub mod peer;
pub mod placement;
mod quorum;
pub mod raft;
mod rejoin;
pub mod replication;
pub mod voters;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use openraft::BasicNode;
use openraft::error::{ClientWriteError, RaftError};
use rocksdb::DB;
use thiserror::Error;
use tokio::sync::watch;

pub use image::{BrokerInfo, Command, CommandResult, Image, PartitionMeta, Topic};
use peer::{Network, PeerRequest, PeerResponse, PeerService, Peers};
pub use quorum::{Quorum, QuorumReplica};
use raft::{LogStore, NodeId, Raft, StateMachine};

#[derive(Debug, Error)]
pub enum MetadataError {
    #[error("metadata raft failed to start: {0}")]
    Start(String),
    #[error("metadata write failed: {0}")]
    Write(#[from] RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>),
    /// No metadata leader could take the write in time (an election, or no quorum).
    #[error("no metadata leader took the write within {0:?}")]
    NoLeader(Duration),
    /// A decision of the metadata leader's own (fencing, elections) reached the log after this
    /// node stopped leading: it is dropped, not forwarded.
    #[error("this node no longer leads the metadata group")]
    Deposed,
    /// The metadata group answered a command with a result of another kind (a bug, never input).
    #[error("the metadata group answered {0:?} to a command that expects another result")]
    Unexpected(CommandResult),
}

/// How this node takes part in the metadata group.
#[derive(Debug, Clone)]
pub struct MetadataOptions {
    pub node_id: i32,
    /// Every voter's id and controller address (`controller.quorum.voters`); empty: this node is
    /// a group of one and talks to no peer.
    pub voters: BTreeMap<i32, String>,
    /// On a broker-only node of a cluster: the address its peers reach it on (its inter-broker
    /// listener, which serves them beside Kafka clients); it joins as an observer.
    pub observer_addr: Option<String>,
    /// Set in a dynamic quorum's cluster (KIP-853): the voters are in the metadata log.
    pub dynamic: Option<DynamicQuorum>,
    /// process.roles contains broker: this node heartbeats for its broker.
    pub broker: bool,
    /// broker.heartbeat.interval.ms and broker.session.timeout.ms.
    pub heartbeat_interval: Duration,
    pub session_timeout: Duration,
    /// auto.leader.rebalance.enable: how often the metadata leader checks leadership balance
    /// and the share of a broker's preferred partitions led elsewhere that triggers it.
    pub leader_rebalance: Option<(Duration, u32)>,
    /// unclean.leader.election.enable as this node's server.properties set it: the default of
    /// topics that do not set it, unless a cluster-wide dynamic config does.
    pub unclean_election: bool,
}

impl MetadataOptions {
    pub fn single(node_id: i32) -> MetadataOptions {
        MetadataOptions {
            node_id,
            voters: BTreeMap::new(),
            observer_addr: None,
            dynamic: None,
            broker: true,
            heartbeat_interval: Duration::from_millis(2000),
            session_timeout: Duration::from_millis(9000),
            leader_rebalance: None,
            unclean_election: false,
        }
    }

    fn is_cluster(&self) -> bool {
        !self.voters.is_empty() || self.dynamic.is_some()
    }

    /// A broker-only node: a learner of the metadata group, never a voter.
    fn is_observer(&self) -> bool {
        self.observer_addr.is_some() && self.dynamic_controller().is_none()
    }

    /// On a controller of a dynamic quorum: its controller address.
    fn dynamic_controller(&self) -> Option<&String> {
        self.dynamic.as_ref().and_then(|d| d.controller_addr.as_ref())
    }

    /// The other controllers this node asks about the quorum: the voters of a static quorum, the
    /// bootstrap servers of a dynamic one.
    fn peer_addrs(&self) -> Vec<String> {
        match &self.dynamic {
            Some(d) => d.bootstrap.clone(),
            None => self.voters.iter().filter(|(id, _)| **id != self.node_id).map(|(_, a)| a.clone()).collect(),
        }
    }
}

/// A node of a dynamic quorum (`controller.quorum.bootstrap.servers` naming other nodes).
#[derive(Debug, Clone)]
pub struct DynamicQuorum {
    /// The other bootstrap servers' controller addresses.
    pub bootstrap: Vec<String>,
    /// This node's controller address; None on a broker-only node.
    pub controller_addr: Option<String>,
    /// This controller is named first: it starts the quorum alone when no other answers.
    pub first: bool,
    /// This node's metadata directory id (meta.properties), its voter key with its id.
    pub directory_id: uuid::Uuid,
}

/// Where the listeners hand the peer connections they accept (on a controller's CONTROLLER
/// listener, and a broker-only node's client listeners): the metadata node, as soon as it
/// exists. The listeners accept before the broker has started, since a node starts by waiting
/// for its quorum, which reaches it over such connections.
#[derive(Clone)]
pub struct PeerGate(Arc<watch::Sender<Option<Arc<Node>>>>);

impl Default for PeerGate {
    fn default() -> Self {
        PeerGate(Arc::new(watch::Sender::new(None)))
    }
}

impl PeerGate {
    /// Serves one peer connection (it opens with `peer::MAGIC`) once the metadata node exists.
    pub async fn serve(
        &self,
        stream: tokio::net::TcpStream,
        addr: std::net::SocketAddr,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut opened = self.0.subscribe();
        let node = tokio::select! {
            n = opened.wait_for(Option::is_some) => match n {
                Ok(n) => n.clone(),
                Err(_) => return,
            },
            _ = shutdown.changed() => return,
        };
        let Some(node) = node else { return };
        if let Err(e) = peer::serve_connection(stream, addr, node, shutdown).await {
            tracing::debug!(%addr, error = %e, "peer connection ended");
        }
    }

    fn open(&self, node: Arc<Node>) {
        self.0.send_replace(Some(node));
    }
}

/// Handle to the metadata group: reads are lock-free snapshots, writes go through raft (to the
/// leader, wherever it is). Cloning shares the same group.
#[derive(Clone)]
pub struct Metadata {
    node: Arc<Node>,
    stop: Arc<watch::Sender<bool>>,
}

/// What the peer server and the background tasks share.
struct Node {
    raft: Raft,
    image: Arc<ArcSwap<Image>>,
    peers: Arc<Peers>,
    options: MetadataOptions,
    /// On the metadata leader: when each broker was last heard from.
    seen: Mutex<HashMap<i32, Instant>>,
    /// Whether this node still heartbeats for its broker (not after a controlled shutdown).
    heartbeating: std::sync::atomic::AtomicBool,
    /// Set while a voter that started with an empty metadata store asks whether the group
    /// exists, and kept when it does (its data dir was lost): it grants no votes until a leader
    /// has reached it. Its vote from before was lost with the store, and granting one again in
    /// a term it already voted in could elect two leaders.
    rejoining: std::sync::atomic::AtomicBool,
}

/// How long start-up waits for this node to lead its one-node group.
const LEADER_WAIT_MS_MAX: u64 = 10_000;

/// How long a metadata write may wait for a leader (elections take about a second).
const WRITE_WAIT: Duration = Duration::from_secs(15);

/// How long one forwarded write or heartbeat may take.
const PEER_CALL_TIMEOUT: Duration = Duration::from_secs(5);

impl Metadata {
    /// Starts this node's part of the metadata group; `gate` (where the listeners hand peer
    /// connections: a controller's CONTROLLER listener, a broker-only node's client listeners)
    /// is opened to it at once. A node of a cluster without a gate is reached by no peer.
    pub async fn start(
        db: Arc<DB>,
        options: MetadataOptions,
        gate: Option<&PeerGate>,
    ) -> Result<Metadata, MetadataError> {
        let err = |e: &dyn std::fmt::Display| MetadataError::Start(e.to_string());
        let cluster = options.is_cluster();
        let config = openraft::Config {
            cluster_name: "gregor".into(),
            heartbeat_interval: if cluster { 100 } else { 50 },
            election_timeout_min: if cluster { 800 } else { 100 },
            election_timeout_max: if cluster { 1200 } else { 150 },
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(1000),
            ..Default::default()
        }
        .validate()
        .map_err(|e| err(&e))?;
        let image = Arc::new(ArcSwap::from_pointee(Image::default()));
        let sm = StateMachine::open(db.clone(), image.clone()).map_err(|e| err(&e))?;
        let id = options.node_id as u64;
        let cluster_of = image.clone();
        let peers = Peers::new(options.node_id, move || cluster_of.load().cluster_id.clone());
        let network = Network { peers: peers.clone() };
        let raft = Raft::new(id, Arc::new(config), network, LogStore::new(db), sm).await.map_err(|e| err(&e))?;
        let (stop, stopped) = watch::channel(false);
        let empty = !raft.is_initialized().await.map_err(|e| err(&e))?;
        let node = Arc::new(Node {
            raft: raft.clone(),
            image,
            peers,
            options: options.clone(),
            seen: Mutex::new(HashMap::new()),
            heartbeating: true.into(),
            // A voter with an empty store grants no vote from the moment peers can reach it
            // until it knows whether the group exists: a vote granted while it asks (its empty
            // log is behind no candidate's) could elect a voter that missed committed entries.
            rejoining: (cluster && empty && !options.is_observer()).into(),
        });
        if let Some(gate) = gate {
            gate.open(node.clone());
        }
        let dynamic = options.dynamic_controller().is_some();
        let group_at =
            if cluster && empty && !options.is_observer() && !dynamic { node.group_exists().await } else { None };
        if let Some(own) = options.dynamic_controller() {
            node.clone().start_dynamic(empty, own.clone()).await;
        } else if options.is_observer() {
            // The voters' leader adds this node as a learner (again after a restart, in case its
            // address changed) and replicates its log to it; an observer never initializes.
            node.join_as_observer().await;
        } else if let Some(peer) = group_at {
            // The group exists and replicates its log (or a snapshot) to this node, which is in
            // its membership; initializing a group of its own would only start an election.
            tracing::warn!(
                peer,
                "the metadata store is empty but the other voters hold the metadata log (was this node's data dir \
                 lost?): catching up from their leader, granting no votes until it has reached this node"
            );
            node.set_voting(false);
            tokio::spawn(node.clone().vote_once_caught_up());
        } else if empty {
            let members: BTreeMap<NodeId, BasicNode> = if cluster {
                options.voters.iter().map(|(id, addr)| (*id as NodeId, BasicNode::new(addr))).collect()
            } else {
                BTreeMap::from([(id, BasicNode::default())])
            };
            // Every voter initializes the same membership; a peer's vote may have reached this
            // node first, which openraft refuses as NotAllowed, and which is just as good.
            node.set_voting(true);
            if let Err(e) = raft.initialize(members).await {
                tracing::debug!(error = %e, "metadata group already initialized by a peer");
            }
        }
        if cluster {
            // A member catches up with the leader through its first write (the broker's
            // registration), which returns once this node has applied everything before it.
            node.wait_for_leader().await;
        } else {
            let timeout = Some(Duration::from_millis(LEADER_WAIT_MS_MAX));
            raft.wait(timeout).current_leader(id, "this node leads the metadata group").await.map_err(|e| err(&e))?;
            // Everything committed before the restart is applied before the broker serves.
            let m = raft.metrics().borrow().clone();
            if let Some(last) = m.last_log_index {
                raft.wait(timeout)
                    .applied_index_at_least(Some(last), "metadata replayed")
                    .await
                    .map_err(|e| err(&e))?;
            }
        }
        if cluster {
            node.record_directory().await;
            if options.broker {
                tokio::spawn(node.clone().heartbeats(stopped.clone()));
            }
            tokio::spawn(node.clone().fence_silent_brokers(stopped.clone()));
            tokio::spawn(node.clone().unclean_elections(stopped.clone()));
            if let Some((every, percent)) = options.leader_rebalance {
                tokio::spawn(node.clone().rebalance_leaders(every, percent, stopped));
            }
        }
        Ok(Metadata { node, stop: Arc::new(stop) })
    }

    /// The current image: an immutable snapshot, cheap to take.
    pub fn image(&self) -> Arc<Image> {
        self.node.image.load_full()
    }

    /// The published image itself, for components that outlive one request.
    pub fn image_handle(&self) -> Arc<ArcSwap<Image>> {
        self.node.image.clone()
    }

    /// Whether other nodes share this metadata group.
    pub fn is_cluster(&self) -> bool {
        self.node.options.is_cluster()
    }

    /// The voters: id, host and port of their controller listener (what clients of a controller
    /// listener are told, KIP-919), as the metadata group's membership has them (none for a node
    /// alone).
    pub fn controllers(&self) -> Vec<(i32, String, u16)> {
        let m = self.node.raft.metrics().borrow().membership_config.clone();
        let membership = m.membership();
        membership
            .voter_ids()
            .filter_map(|id| {
                let (host, port) = membership.get_node(&id)?.addr.rsplit_once(':')?;
                Some((id as i32, host.trim_start_matches('[').trim_end_matches(']').to_string(), port.parse().ok()?))
            })
            .collect()
    }

    /// Whether the voters may change (a dynamic quorum).
    pub fn is_dynamic(&self) -> bool {
        self.node.options.dynamic.is_some()
    }

    /// The metadata leader (Kafka's active controller), if one is known.
    pub fn leader(&self) -> Option<i32> {
        self.node.raft.metrics().borrow().current_leader.map(|l| l as i32)
    }

    /// Replicates and applies a command, returning its result. On a node that does not lead the
    /// group the command is forwarded to the leader; either way it has been applied to this
    /// node's image when this returns, so the caller reads its own write.
    pub async fn submit(&self, cmd: Command) -> Result<CommandResult, MetadataError> {
        self.node.submit(cmd).await
    }

    /// Controlled shutdown: stop heartbeating and fence this broker, so that its leaderships
    /// move to other live ISR members before it exits.
    pub async fn leave(&self) {
        if !self.is_cluster() || !self.node.options.broker {
            return;
        }
        self.node.heartbeating.store(false, std::sync::atomic::Ordering::SeqCst);
        let id = self.node.options.node_id;
        match tokio::time::timeout(PEER_CALL_TIMEOUT, self.submit(Command::FenceBroker { id })).await {
            Ok(Ok(_)) => tracing::info!("controlled shutdown: this broker is fenced and leads nothing"),
            Ok(Err(e)) => tracing::warn!(error = %e, "controlled shutdown could not fence this broker"),
            Err(_) => tracing::warn!("controlled shutdown: the metadata leader did not answer in time"),
        }
    }

    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let _ = self.node.raft.shutdown().await;
    }
}

impl Node {
    fn me(&self) -> NodeId {
        self.options.node_id as NodeId
    }

    fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    /// Where voter `id` is reached: its controller address in `controller.quorum.voters`, or in
    /// the group's membership (a dynamic quorum's voters are known only there).
    fn address_of(&self, id: NodeId) -> Option<String> {
        self.options.voters.get(&(id as i32)).cloned().or_else(|| {
            let m = self.raft.metrics().borrow().membership_config.clone();
            m.membership().get_node(&id).map(|n| n.addr.clone()).filter(|a| !a.is_empty())
        })
    }

    /// Waits, as long as it takes, for the voters to elect a leader; says so every few seconds.
    async fn wait_for_leader(&self) {
        let mut metrics = self.raft.metrics();
        let started = Instant::now();
        let mut said = Instant::now();
        while metrics.borrow().current_leader.is_none() {
            if said.elapsed() > Duration::from_secs(5) {
                tracing::info!(
                    waited_s = started.elapsed().as_secs(),
                    controllers = ?self.options.peer_addrs(),
                    "waiting for a metadata quorum"
                );
                said = Instant::now();
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), metrics.changed()).await;
        }
    }

    /// Writes what this node decided as the metadata leader (fencing a silent broker, elections)
    /// while it still leads. A deposed leader's decision is dropped, never forwarded: the
    /// silence it measured may be its own side of a network partition, and the new leader
    /// measures for itself.
    async fn write_as_leader(&self, cmd: Command) -> Result<CommandResult, MetadataError> {
        match self.raft.client_write(cmd).await {
            Ok(r) => Ok(r.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => Err(MetadataError::Deposed),
            Err(e) => Err(e.into()),
        }
    }

    async fn submit(&self, cmd: Command) -> Result<CommandResult, MetadataError> {
        let started = Instant::now();
        loop {
            let leader = match self.raft.client_write(cmd.clone()).await {
                Ok(r) => return Ok(r.data),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => f.leader_id,
                Err(e) => return Err(e.into()),
            };
            if let Some(addr) = leader.filter(|l| *l != self.me()).and_then(|l| self.address_of(l)) {
                match self.peers.call(&addr, PeerRequest::Write(cmd.clone()), PEER_CALL_TIMEOUT).await {
                    Ok(PeerResponse::Written { index, result }) => {
                        // Read-your-writes: the caller looks at this node's image next.
                        let wait = WRITE_WAIT.saturating_sub(started.elapsed());
                        let _ = self.raft.wait(Some(wait)).applied_index_at_least(Some(index), "own write").await;
                        return Ok(result);
                    }
                    Ok(other) => tracing::debug!(?other, "forwarded metadata write not taken; retrying"),
                    Err(e) => tracing::debug!(error = %e, "forwarding a metadata write failed; retrying"),
                }
            }
            if started.elapsed() > WRITE_WAIT {
                return Err(MetadataError::NoLeader(WRITE_WAIT));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl PeerService for Node {
    fn cluster_id(&self) -> String {
        self.image.load().cluster_id.clone()
    }

    async fn handle(&self, from: i32, req: PeerRequest) -> PeerResponse {
        match req {
            PeerRequest::Vote(_) if !self.may_vote() => PeerResponse::Refused(
                "this node is rejoining with an empty metadata store and grants no vote yet".into(),
            ),
            PeerRequest::Vote(r) => PeerResponse::Vote(self.raft.vote(r).await),
            PeerRequest::AppendEntries(r) => PeerResponse::AppendEntries(self.raft.append_entries(r).await),
            PeerRequest::InstallSnapshot(r) => PeerResponse::InstallSnapshot(self.raft.install_snapshot(r).await),
            PeerRequest::Write(cmd) => match self.raft.client_write(cmd).await {
                Ok(r) => PeerResponse::Written { index: r.log_id.index, result: r.data },
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    PeerResponse::NotLeader { leader: f.leader_id }
                }
                Err(e) => PeerResponse::Refused(e.to_string()),
            },
            PeerRequest::Quorum => PeerResponse::Quorum(Metadata::quorum_of(&self.raft)),
            PeerRequest::Observe { addr } => self.add_observer(from, addr).await,
            PeerRequest::ChangeVoters(change) => PeerResponse::VotersChanged(self.change_voters_here(change).await),
            PeerRequest::Heartbeat { broker } => {
                if self.leader() != Some(self.me()) {
                    return PeerResponse::NotLeader { leader: self.leader() };
                }
                if broker != from {
                    return PeerResponse::Refused(format!("node {from} heartbeats for broker {broker}"));
                }
                self.heard_from(broker);
                PeerResponse::HeartbeatAck
            }
        }
    }
}
