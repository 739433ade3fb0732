//! The limits on what one client connection may cost (`ConnectionLimits`).

use super::{ConfigError, invalid, parse_num};

/// The limits on what one client connection may cost, each under Kafka's property name where
/// Kafka has one. A client over a limit gets Kafka's answer: its connection closed with a log
/// line, or its requests read later; never an unbounded allocation.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// `socket.request.max.bytes`: the largest request frame; a larger one closes the connection.
    pub request_bytes_max: i32,
    /// `max.connections`: connections served at once; further ones wait in the accept backlog.
    pub connections_max: usize,
    /// `max.connections.per.ip`: connections from one address; more are closed when accepted.
    pub connections_per_ip_max: usize,
    /// `max.connections.per.ip.overrides`: per-address exceptions, by IP or host name.
    pub connections_per_ip_overrides: Vec<(String, usize)>,
    /// `connections.max.idle.ms`: a connection with no request and no response for this long is closed.
    pub idle_ms_max: u64,
    /// `queued.max.request.bytes`: request bytes read but not answered, over every connection;
    /// `None` for Kafka's -1 (no limit). Above it, connections wait before reading a frame.
    pub queued_request_bytes_max: Option<usize>,
    /// `gregor.request.read.timeout.ms` (Kafka has no such limit): a frame must arrive whole this
    /// long after its first byte, so a client trickling bytes cannot hold memory and a slot forever.
    pub request_read_timeout_ms: u64,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            request_bytes_max: 104_857_600,
            connections_max: 10_000,
            connections_per_ip_max: i32::MAX as usize,
            connections_per_ip_overrides: Vec::new(),
            idle_ms_max: 600_000,
            queued_request_bytes_max: Some(512 << 20),
            request_read_timeout_ms: 60_000,
        }
    }
}

impl ConnectionLimits {
    pub const KEYS: &[&str] = &[
        "socket.request.max.bytes",
        "max.connections",
        "max.connections.per.ip",
        "max.connections.per.ip.overrides",
        "connections.max.idle.ms",
        "queued.max.request.bytes",
        "gregor.request.read.timeout.ms",
    ];

    pub(super) fn set(&mut self, key: &str, v: &str) -> Result<(), ConfigError> {
        let count = |min| parse_num(key, v, min, i32::MAX as i64).map(|n| n as usize);
        match key {
            "socket.request.max.bytes" => self.request_bytes_max = count(1)? as i32,
            "max.connections" => self.connections_max = count(1)?.min(1 << 24),
            "max.connections.per.ip" => self.connections_per_ip_max = count(0)?,
            "max.connections.per.ip.overrides" => self.connections_per_ip_overrides = parse_overrides(key, v)?,
            "connections.max.idle.ms" => self.idle_ms_max = count(1)? as u64,
            "queued.max.request.bytes" => {
                let n = parse_num(key, v, -1, i64::MAX)?;
                if n == 0 {
                    return Err(invalid(key, v, "must be -1 (no limit) or positive"));
                }
                self.queued_request_bytes_max = (n > 0).then_some(n as usize);
            }
            "gregor.request.read.timeout.ms" => self.request_read_timeout_ms = count(1)? as u64,
            _ => unreachable!("{key} is in KEYS"),
        }
        Ok(())
    }

    /// The overrides by address, host names resolved once (when the listeners start, not per
    /// accepted connection: resolving blocks).
    pub fn per_ip_overrides(&self) -> std::collections::HashMap<std::net::IpAddr, usize> {
        use std::net::ToSocketAddrs;
        let mut out = std::collections::HashMap::new();
        for (host, n) in &self.connections_per_ip_overrides {
            match host.parse::<std::net::IpAddr>() {
                Ok(ip) => {
                    out.insert(ip, *n);
                }
                Err(_) => match (host.as_str(), 0).to_socket_addrs() {
                    Ok(addrs) => out.extend(addrs.map(|a| (a.ip(), *n))),
                    Err(e) => {
                        tracing::warn!(host = %host, error = %e, "max.connections.per.ip.overrides: cannot resolve")
                    }
                },
            }
        }
        out
    }
}

/// `host:count,host:count`, as Kafka's max.connections.per.ip.overrides.
fn parse_overrides(key: &str, v: &str) -> Result<Vec<(String, usize)>, ConfigError> {
    let mut out = Vec::new();
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (host, n) = item.rsplit_once(':').ok_or_else(|| invalid(key, v, "expected host:count"))?;
        let n = parse_num(key, n, 0, i32::MAX as i64)? as usize;
        out.push((host.trim().trim_start_matches('[').trim_end_matches(']').to_string(), n));
    }
    Ok(out)
}
