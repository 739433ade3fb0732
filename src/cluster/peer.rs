//! The transport between the nodes of a cluster, on the CONTROLLER listener of controllers and
//! the client listeners of broker-only nodes (told apart from Kafka clients by `MAGIC`):
//! openraft's RPCs, metadata writes forwarded to the raft leader, and broker heartbeats. No
//! client or CLI tool speaks it.
//!
//! A connection opens with `MAGIC`; then each message is a big-endian u32 length and a JSON
//! body, one request then its response. Every request carries the cluster id its sender knows:
//! a node refuses requests from another cluster (a different, non-empty id) with a log line.

// openraft's error types are large by design; they are its API, not ours.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::{BasicNode, RaftNetwork, RaftNetworkFactory};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::image::{Command, CommandResult};
use super::raft::{NodeId, TypeConfig};

/// The first bytes of every peer connection: a Kafka client that reaches this listener by
/// mistake is told apart at once (as a Kafka frame length it would be over a gigabyte).
pub const MAGIC: &[u8; 8] = b"GREGOR\x00\x01";

/// The largest peer message: a raft batch or one snapshot chunk, with room to spare.
const MESSAGE_BYTES_MAX: usize = 256 << 20;

/// How long a connection attempt to a peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// The sender's cluster id; empty while its metadata has none yet.
    pub cluster_id: String,
    pub from: i32,
    pub body: T,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum PeerRequest {
    Vote(VoteRequest<NodeId>),
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A metadata command for the raft leader to replicate.
    Write(Command),
    /// A broker is alive (broker.heartbeat.interval.ms).
    Heartbeat {
        broker: i32,
    },
    /// DescribeQuorum, answered by the metadata leader.
    Quorum,
    /// A broker-only node (or a controller of a dynamic quorum) asks the metadata leader to
    /// replicate to it as a learner, at `addr`.
    Observe {
        addr: String,
    },
    /// AddRaftVoter / RemoveRaftVoter, for the metadata leader to make.
    ChangeVoters(super::voters::VoterChange),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum PeerResponse {
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    /// The write was committed at `index` of the metadata log.
    Written {
        index: u64,
        result: CommandResult,
    },
    /// This node does not lead the metadata group; the leader it knows of, if any.
    NotLeader {
        leader: Option<NodeId>,
    },
    HeartbeatAck,
    Quorum(super::Quorum),
    /// The sender is a learner of the metadata group at the address it gave.
    Observed,
    /// The sender asked to observe but is a voter of the metadata group.
    AlreadyVoter,
    /// What the leader did with a ChangeVoters.
    VotersChanged(Result<(), super::voters::VoterRefusal>),
    /// The request was refused: another cluster, or it could not be handled.
    Refused(String),
}

/// What a node serves to its peers.
pub trait PeerService: Send + Sync + 'static {
    fn cluster_id(&self) -> String;
    fn handle(&self, from: i32, req: PeerRequest) -> impl Future<Output = PeerResponse> + Send;
}

/// Reads one message; None when the peer closed the connection between messages.
async fn read_message<T: for<'de> Deserialize<'de>>(r: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MESSAGE_BYTES_MAX {
        return Err(std::io::Error::other(format!("peer message of {len} bytes is over the limit")));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await?;
    serde_json::from_slice(&buf).map(Some).map_err(std::io::Error::other)
}

async fn write_message<T: Serialize>(w: &mut (impl AsyncWriteExt + Unpin), msg: &T) -> std::io::Result<()> {
    let body = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    w.write_all(&(body.len() as u32).to_be_bytes()).await?;
    w.write_all(&body).await?;
    w.flush().await
}

/// Serves one peer connection (it starts with `MAGIC`) until the peer closes it.
pub async fn serve_connection<S: PeerService>(
    stream: TcpStream,
    addr: SocketAddr,
    service: Arc<S>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let (mut r, mut w) = (BufReader::new(r), BufWriter::new(w));
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).await?;
    if &magic != MAGIC {
        tracing::warn!(%addr, "closed a connection to the controller listener that is not a gregor node");
        return Ok(());
    }
    loop {
        let msg = tokio::select! {
            m = read_message::<Envelope<PeerRequest>>(&mut r) => m?,
            _ = shutdown.changed() => return Ok(()),
        };
        let Some(msg) = msg else { return Ok(()) };
        let ours = service.cluster_id();
        let response = if !ours.is_empty() && !msg.cluster_id.is_empty() && ours != msg.cluster_id {
            tracing::warn!(
                %addr,
                node = msg.from,
                theirs = %msg.cluster_id,
                ours = %ours,
                "refused a request from a node of another cluster"
            );
            PeerResponse::Refused(format!("this node belongs to cluster {ours}, not {}", msg.cluster_id))
        } else {
            service.handle(msg.from, msg.body).await
        };
        write_message(&mut w, &response).await?;
    }
}

/// One open connection to a peer.
struct Connection {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: BufWriter<tokio::net::tcp::OwnedWriteHalf>,
}

impl Connection {
    async fn open(addr: &str) -> std::io::Result<Connection> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, format!("connecting to {addr}")))??;
        let _ = stream.set_nodelay(true);
        let (r, w) = stream.into_split();
        let mut c = Connection { r: BufReader::new(r), w: BufWriter::new(w) };
        c.w.write_all(MAGIC).await?;
        Ok(c)
    }

    async fn call(&mut self, req: &Envelope<PeerRequest>) -> std::io::Result<PeerResponse> {
        write_message(&mut self.w, req).await?;
        read_message(&mut self.r).await?.ok_or_else(|| std::io::Error::other("the peer closed the connection"))
    }
}

/// Why a call to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("cannot reach {addr}: {source}")]
    Unreachable { addr: String, source: std::io::Error },
    #[error("{addr} did not answer within {after:?}")]
    TimedOut { addr: String, after: Duration },
}

/// Who this node is, for the envelopes it sends, and idle connections to each peer address.
pub struct Peers {
    node_id: i32,
    cluster_id: Box<dyn Fn() -> String + Send + Sync>,
    idle: Mutex<HashMap<String, Vec<Connection>>>,
    /// Peers whose last call failed: a peer going down and coming back is logged once each way.
    down: Mutex<std::collections::HashSet<String>>,
}

impl Peers {
    pub fn new(node_id: i32, cluster_id: impl Fn() -> String + Send + Sync + 'static) -> Arc<Peers> {
        Arc::new(Peers {
            node_id,
            cluster_id: Box::new(cluster_id),
            idle: Mutex::new(HashMap::new()),
            down: Mutex::new(Default::default()),
        })
    }

    /// Sends `req` to the node at `addr` and waits at most `timeout` for its answer. A
    /// connection is reused when the call completes; one that failed is dropped.
    pub async fn call(&self, addr: &str, req: PeerRequest, timeout: Duration) -> Result<PeerResponse, CallError> {
        let envelope = Envelope { cluster_id: (self.cluster_id)(), from: self.node_id, body: req };
        let idle = self.idle.lock().expect("peer pool").get_mut(addr).and_then(Vec::pop);
        let attempt = async {
            let mut conn = match idle {
                Some(c) => c,
                None => Connection::open(addr).await?,
            };
            let res = conn.call(&envelope).await?;
            Ok::<_, std::io::Error>((conn, res))
        };
        let result = match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok((conn, res))) => {
                self.idle.lock().expect("peer pool").entry(addr.to_string()).or_default().push(conn);
                Ok(res)
            }
            Ok(Err(source)) => Err(CallError::Unreachable { addr: addr.to_string(), source }),
            Err(_) => Err(CallError::TimedOut { addr: addr.to_string(), after: timeout }),
        };
        let mut down = self.down.lock().expect("peer states");
        match &result {
            Ok(_) if down.remove(addr) => tracing::info!(peer = addr, "cluster peer reachable again"),
            Err(e) if down.insert(addr.to_string()) => {
                tracing::warn!(peer = addr, error = %e, "cluster peer unreachable")
            }
            _ => {}
        }
        result
    }
}

/// openraft's view of one peer: calls go through the shared `Peers`.
pub struct RaftPeer {
    peers: Arc<Peers>,
    target: NodeId,
    addr: String,
}

/// Creates a `RaftPeer` for each node openraft replicates to.
#[derive(Clone)]
pub struct Network {
    pub peers: Arc<Peers>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = RaftPeer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> RaftPeer {
        RaftPeer { peers: self.peers.clone(), target, addr: node.addr.clone() }
    }
}

impl RaftPeer {
    async fn rpc<E: std::error::Error>(
        &self,
        req: PeerRequest,
        option: &RPCOption,
    ) -> Result<PeerResponse, RPCError<NodeId, BasicNode, E>> {
        match self.peers.call(&self.addr, req, option.hard_ttl()).await {
            Ok(PeerResponse::Refused(why)) => Err(RPCError::Network(NetworkError::new(&std::io::Error::other(
                format!("node {} refused: {why}", self.target),
            )))),
            Ok(res) => Ok(res),
            Err(e @ CallError::Unreachable { .. }) => Err(RPCError::Unreachable(Unreachable::new(&e))),
            Err(e) => Err(RPCError::Network(NetworkError::new(&e))),
        }
    }

    fn unexpected<E: std::error::Error>(&self, res: PeerResponse) -> RPCError<NodeId, BasicNode, E> {
        RPCError::Network(NetworkError::new(&std::io::Error::other(format!(
            "node {} answered {res:?} to a raft request",
            self.target
        ))))
    }
}

impl RaftNetwork<TypeConfig> for RaftPeer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.rpc::<RaftError<NodeId>>(PeerRequest::AppendEntries(rpc), &option).await? {
            PeerResponse::AppendEntries(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(self.unexpected(other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>>
    {
        match self.rpc::<RaftError<NodeId, InstallSnapshotError>>(PeerRequest::InstallSnapshot(rpc), &option).await? {
            PeerResponse::InstallSnapshot(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(self.unexpected(other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.rpc::<RaftError<NodeId>>(PeerRequest::Vote(rpc), &option).await? {
            PeerResponse::Vote(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(self.unexpected(other)),
        }
    }
}
