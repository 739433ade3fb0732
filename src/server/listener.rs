//! Binds the configured listeners and accepts connections, each served by its own task.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::broker::Broker;

pub struct Server {
    broker: Arc<Broker>,
    listeners: Vec<TcpListener>,
}

impl Server {
    /// Binds every address of every listener. An empty host binds `[::]` (IPv6 only) and
    /// `0.0.0.0`, so both localhost resolutions reach the broker.
    pub async fn bind(broker: Arc<Broker>) -> std::io::Result<Server> {
        let mut listeners = Vec::new();
        for l in &broker.config.listeners {
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
                listeners.push(listener);
            }
        }
        Ok(Server { broker, listeners })
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().filter_map(|l| l.local_addr().ok()).collect()
    }

    /// Accepts connections until `shutdown` turns true.
    pub async fn serve(self, mut shutdown: watch::Receiver<bool>) {
        let limit = Arc::new(Semaphore::new(self.broker.config.connections_max));
        let mut tasks = Vec::new();
        for listener in self.listeners {
            let broker = self.broker.clone();
            let limit = limit.clone();
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
                    let broker = broker.clone();
                    let shutdown = shutdown.clone();
                    tokio::spawn(async move {
                        super::connection::serve(broker, stream, peer, shutdown).await;
                        drop(permit);
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
