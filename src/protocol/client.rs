//! Requests from this broker to another over Kafka's wire protocol: what brokers of a cluster
//! send each other where Kafka's own inter-broker APIs fit (a follower's Fetch from its leader,
//! WriteTxnMarkers from a transaction coordinator to the leaders of the transaction's
//! partitions).

use std::time::Duration;

use bytes::{Buf, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest response accepted from another broker.
const RESPONSE_BYTES_MAX: usize = 100 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{addr}: {source}")]
    Io { addr: String, source: std::io::Error },
    #[error("{addr} did not answer within {after:?}")]
    TimedOut { addr: String, after: Duration },
    #[error("{addr} answered with a response that does not decode: {reason}")]
    Malformed { addr: String, reason: String },
}

/// Sends `req` at `version` to the broker at `addr` on a new connection and returns its answer.
pub async fn call<R: Request>(
    addr: &str,
    client_id: &str,
    req: &R,
    version: i16,
    timeout: Duration,
) -> Result<R::Response, ClientError> {
    let started = tokio::time::Instant::now();
    let mut conn = Connection::open(addr, client_id, timeout).await?;
    conn.call(req, version, timeout.saturating_sub(started.elapsed())).await
}

/// A connection to another broker that carries one request at a time.
pub struct Connection {
    stream: TcpStream,
    addr: String,
    client_id: String,
    correlation_id: i32,
}

impl Connection {
    pub async fn open(addr: &str, client_id: &str, timeout: Duration) -> Result<Connection, ClientError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::TimedOut { addr: addr.to_string(), after: timeout })?
            .map_err(|source| ClientError::Io { addr: addr.to_string(), source })?;
        let _ = stream.set_nodelay(true);
        Ok(Connection { stream, addr: addr.to_string(), client_id: client_id.to_string(), correlation_id: 0 })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `req` at `version` and waits at most `timeout` for the answer. After an error the
    /// connection is in an unknown state: drop it.
    pub async fn call<R: Request>(
        &mut self,
        req: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, ClientError> {
        let addr = self.addr.clone();
        let io = |source| ClientError::Io { addr: addr.clone(), source };
        let malformed = |reason: String| ClientError::Malformed { addr: addr.clone(), reason };
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let mut header = RequestHeader::default();
        header.request_api_key = R::KEY;
        header.request_api_version = version;
        header.correlation_id = self.correlation_id;
        header.client_id = Some(StrBytes::from_string(self.client_id.clone()));
        let mut body = BytesMut::new();
        header.encode(&mut body, R::header_version(version)).map_err(|e| malformed(e.to_string()))?;
        req.encode(&mut body, version).map_err(|e| malformed(e.to_string()))?;
        let stream = &mut self.stream;
        let exchange = async {
            stream.write_all(&(body.len() as u32).to_be_bytes()).await.map_err(io)?;
            stream.write_all(&body).await.map_err(io)?;
            let mut len = [0u8; 4];
            stream.read_exact(&mut len).await.map_err(io)?;
            let len = u32::from_be_bytes(len) as usize;
            if len > RESPONSE_BYTES_MAX {
                return Err(malformed(format!("a response of {len} bytes")));
            }
            let mut frame = vec![0u8; len];
            stream.read_exact(&mut frame).await.map_err(io)?;
            Ok(frame)
        };
        let frame = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| ClientError::TimedOut { addr: addr.clone(), after: timeout })??;
        let mut buf = bytes::Bytes::from(frame);
        let rh = ResponseHeader::decode(&mut buf, R::Response::header_version(version))
            .map_err(|e| malformed(e.to_string()))?;
        if rh.correlation_id != self.correlation_id {
            return Err(malformed(format!("correlation id {} instead of {}", rh.correlation_id, self.correlation_id)));
        }
        let resp = R::Response::decode(&mut buf, version).map_err(|e| malformed(e.to_string()))?;
        if buf.has_remaining() {
            return Err(malformed(format!("{} bytes after the response", buf.remaining())));
        }
        Ok(resp)
    }
}
