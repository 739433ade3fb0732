//! One client connection: frames in, responses out, one request at a time in arrival order
//! (Kafka mutes a connection while it handles a request, and clients rely on the ordering).

use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::broker::Broker;
use crate::cluster::PeerGate;
use crate::protocol::frame::{FrameError, FrameLimits, read_frame};

/// A connection's read buffer: a frame's size and header and small requests arrive in one read;
/// the rest of a larger frame is read into the frame itself.
const READ_BUFFER_BYTES: usize = 2 * 1024;
/// A connection's write buffer: only the pages an answer touches are resident, and answers
/// larger than it are written directly.
const WRITE_BUFFER_BYTES: usize = 8 * 1024;

/// What accepted connections are served by: the broker once it has started (a Kafka client that
/// connects before waits for it), and in a cluster the metadata group's peer gate, on the
/// controller listener and, on a broker-only node, on the client listeners.
#[derive(Clone)]
pub struct Serving {
    pub broker: watch::Receiver<Option<Arc<Broker>>>,
    pub peers: Option<PeerGate>,
    /// Whether peers connect to the client listeners (a broker-only node).
    pub peers_on_clients: bool,
}

/// Serves an accepted connection: a cluster peer's through the peer gate, a Kafka client's
/// once the broker has started (on a controller listener, `controller`: only the controller's
/// APIs).
pub async fn accept(
    serving: Serving,
    controller: bool,
    stream: TcpStream,
    peer: SocketAddr,
    limits: Arc<FrameLimits>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    if let Some(gate) = serving.peers.as_ref().filter(|_| controller || serving.peers_on_clients) {
        if opens_as_peer(&stream, limits.read_timeout).await {
            gate.serve(stream, peer, shutdown).await;
            return;
        }
    }
    let mut ready = serving.broker;
    let broker = tokio::select! {
        b = ready.wait_for(Option::is_some) => match b {
            Ok(b) => b.clone(),
            Err(_) => return,
        },
        _ = shutdown.changed() => return,
    };
    if let Some(broker) = broker {
        serve(broker, controller, stream, peer, limits, shutdown).await;
    }
}

async fn serve(
    broker: Arc<Broker>,
    controller: bool,
    stream: TcpStream,
    peer: SocketAddr,
    limits: Arc<FrameLimits>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (r, w) = stream.into_split();
    // Small buffers: an idle connection costs what they hold. With 64 KiB each, 10,000 idle
    // connections cost 440 MB (scripts/pressure).
    let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, r);
    let mut writer = BufWriter::with_capacity(WRITE_BUFFER_BYTES, w);
    loop {
        let frame = tokio::select! {
            f = read_frame(&mut reader, &limits) => f,
            _ = shutdown.changed() => return,
        };
        let frame = match frame {
            Ok(Some(f)) => f,
            Ok(None) => return,
            Err(FrameError::Io(e)) => {
                tracing::debug!(%peer, error = %e, "connection closed");
                return;
            }
            Err(e @ (FrameError::Idle { .. } | FrameError::Slow { .. })) => {
                tracing::info!(%peer, error = %e, "closing connection");
                return;
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection: bad frame");
                return;
            }
        };
        // The frame's share of queued.max.request.bytes is given back once it is handled.
        let handled = super::dispatch::handle(&broker, frame.bytes.clone(), peer, controller).await;
        drop(frame);
        let response = match handled {
            Ok(Some(r)) => r,
            Ok(None) => continue, // acks=0 produce: no response
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection: bad request");
                return;
            }
        };
        // A client that stops reading holds one response, not a growing queue: the next request
        // is read only after this one is written, and the write gives up after the idle limit.
        match tokio::time::timeout(limits.idle, write_response(&mut writer, &response)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "connection closed while writing");
                return;
            }
            Err(_) => {
                tracing::info!(%peer, idle_ms = limits.idle.as_millis() as u64, "closing connection: the client reads no responses");
                return;
            }
        }
    }
}

/// Whether a connection opens with the first bytes of `cluster::peer::MAGIC` (the metadata
/// leader replicating to a broker-only node) rather than a Kafka request's size: as a size
/// they would be over a gigabyte. Looks without reading; waits at most `timeout` for 4 bytes.
async fn opens_as_peer(stream: &TcpStream, timeout: std::time::Duration) -> bool {
    let prefix = &crate::cluster::peer::MAGIC[..4];
    let look = async {
        let mut buf = [0u8; 4];
        loop {
            let n = stream.peek(&mut buf).await.unwrap_or(0);
            if n == 0 || buf[..n] != prefix[..n] {
                return false;
            }
            if n == buf.len() {
                return true;
            }
            // Part of the prefix has arrived: the rest is a segment away.
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(timeout, look).await.unwrap_or(false)
}

/// Writes one answer: its size and body in one vectored write, so that an answer larger than the
/// write buffer does not go out as a 4-byte segment and then the body.
async fn write_response<W: tokio::io::AsyncWrite + Unpin>(w: &mut W, body: &[u8]) -> std::io::Result<()> {
    let size = (body.len() as u32).to_be_bytes();
    let mut parts = [IoSlice::new(&size), IoSlice::new(body)];
    let mut left = &mut parts[..];
    while !left.is_empty() {
        let n = w.write_vectored(left).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut left, n);
    }
    w.flush().await
}
