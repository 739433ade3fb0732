//! Binds the configured listeners and accepts connections, each served by its own task.
//! `max.connections` bounds them all (further clients wait in the backlog, as Kafka's acceptor
//! waits), `max.connections.per.ip` each address (further ones are closed when accepted).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::config::{Config, ConnectionLimits};
use crate::protocol::frame::{FrameLimits, QueuedBytes};

/// Open connections per client address.
#[derive(Default)]
struct PerIp(DashMap<IpAddr, usize>);

/// One connection's place in `PerIp`, given back when the connection ends.
struct IpSlot {
    counts: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    /// Takes a slot for `ip` if it has fewer than `max` connections.
    fn take(counts: &Arc<PerIp>, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let mut n = counts.0.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot { counts: counts.clone(), ip })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        self.counts.0.remove_if_mut(&self.ip, |_, n| {
            *n -= 1;
            *n == 0
        });
    }
}

fn frame_limits(l: &ConnectionLimits) -> FrameLimits {
    FrameLimits {
        request_bytes_max: l.request_bytes_max,
        idle: Duration::from_millis(l.idle_ms_max),
        read_timeout: Duration::from_millis(l.request_read_timeout_ms),
        queued: l.queued_request_bytes_max.map(QueuedBytes::new),
    }
}

pub struct Server {
    /// Each bound socket, and whether it is a controller listener of a cluster.
    listeners: Vec<(TcpListener, bool)>,
    frames: Arc<FrameLimits>,
    limits: ConnectionLimits,
}

impl Server {
    /// Binds every address of every listener. An empty host binds `[::]` (IPv6 only) and
    /// `0.0.0.0`, so both localhost resolutions reach the broker.
    pub async fn bind(config: &Config) -> std::io::Result<Server> {
        let mut listeners = Vec::new();
        for l in &config.listeners {
            let controller = !config.quorum.serves_clients(l);
            let mut port = l.port;
            for addr in l.bind_addrs() {
                // With port 0, bind the later addresses to the port the first one got.
                let addr = SocketAddr::new(addr.ip(), port);
                let socket = match addr {
                    SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
                    SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
                };
                socket.set_reuseaddr(true)?;
                if addr.is_ipv6() {
                    let s2 = socket2::SockRef::from(&socket);
                    s2.set_only_v6(true)?;
                }
                socket.bind(addr)?;
                let listener = socket.listen(1024)?;
                port = listener.local_addr()?.port();
                listeners.push((listener, controller));
            }
        }
        let frames = Arc::new(frame_limits(&config.limits));
        Ok(Server { listeners, frames, limits: config.limits.clone() })
    }

    /// The queued.max.request.bytes budget the connections share, if there is one.
    pub fn request_budget(&self) -> Option<QueuedBytes> {
        self.frames.queued.clone()
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().filter_map(|(l, _)| l.local_addr().ok()).collect()
    }

    /// Accepts connections until `shutdown` turns true.
    pub async fn serve(self, serving: super::connection::Serving, mut shutdown: watch::Receiver<bool>) {
        let limits = self.limits;
        let limit = Arc::new(Semaphore::new(limits.connections_max));
        let frames = self.frames.clone();
        let per_ip = Arc::new(PerIp::default());
        let overrides = Arc::new(limits.per_ip_overrides());
        let mut tasks = Vec::new();
        for (listener, controller) in self.listeners {
            let serving = serving.clone();
            let limit = limit.clone();
            let (frames, per_ip, overrides) = (frames.clone(), per_ip.clone(), overrides.clone());
            let ip_max_default = limits.connections_per_ip_max;
            let mut shutdown = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let permit = tokio::select! {
                        p = limit.clone().acquire_owned() => p.expect("semaphore never closed"),
                        _ = shutdown.changed() => return,
                    };
                    let (stream, peer) = tokio::select! {
                        r = listener.accept() => match r {
                            Ok(x) => x,
                            Err(e) => {
                                tracing::warn!(error = %e, "accept failed");
                                continue;
                            }
                        },
                        _ = shutdown.changed() => return,
                    };
                    let ip_max = overrides.get(&peer.ip()).copied().unwrap_or(ip_max_default);
                    let Some(slot) = PerIp::take(&per_ip, peer.ip(), ip_max) else {
                        tracing::info!(%peer, max = ip_max, "rejected connection: the address has max.connections.per.ip");
                        continue;
                    };
                    let serving = serving.clone();
                    let frames = frames.clone();
                    let shutdown = shutdown.clone();
                    tokio::spawn(async move {
                        super::connection::accept(serving, controller, stream, peer, frames, shutdown).await;
                        drop((permit, slot));
                    });
                }
            }));
        }
        let _ = shutdown.changed().await;
        for t in tasks {
            let _ = t.await;
        }
    }
}
