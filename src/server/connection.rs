//! One client connection: frames in, responses out, one request at a time in arrival order
//! (Kafka mutes a connection while it handles a request, and clients rely on the ordering).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::broker::Broker;
use crate::protocol::frame::{FrameError, FrameLimits, read_frame};

pub async fn serve(
    broker: Arc<Broker>,
    stream: TcpStream,
    peer: SocketAddr,
    limits: Arc<FrameLimits>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, r);
    let mut writer = BufWriter::with_capacity(64 * 1024, w);
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
        let handled = super::dispatch::handle(&broker, frame.bytes.clone(), peer).await;
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

async fn write_response<W: tokio::io::AsyncWrite + Unpin>(w: &mut W, body: &[u8]) -> std::io::Result<()> {
    w.write_all(&(body.len() as u32).to_be_bytes()).await?;
    w.write_all(body).await?;
    w.flush().await
}
