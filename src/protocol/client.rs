//! Requests from this broker to another over Kafka's wire protocol: what brokers of a cluster
//! send each other where Kafka's own inter-broker APIs fit (WriteTxnMarkers from a transaction
//! coordinator to the leaders of the transaction's partitions).

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
    let io = |source| ClientError::Io { addr: addr.to_string(), source };
    let malformed = |reason: String| ClientError::Malformed { addr: addr.to_string(), reason };
    let mut header = RequestHeader::default();
    header.request_api_key = R::KEY;
    header.request_api_version = version;
    header.correlation_id = 1;
    header.client_id = Some(StrBytes::from_string(client_id.to_string()));
    let mut body = BytesMut::new();
    header.encode(&mut body, R::header_version(version)).map_err(|e| malformed(e.to_string()))?;
    req.encode(&mut body, version).map_err(|e| malformed(e.to_string()))?;
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.map_err(io)?;
        let _ = stream.set_nodelay(true);
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
        .map_err(|_| ClientError::TimedOut { addr: addr.to_string(), after: timeout })??;
    let mut buf = bytes::Bytes::from(frame);
    let rh =
        ResponseHeader::decode(&mut buf, R::Response::header_version(version)).map_err(|e| malformed(e.to_string()))?;
    if rh.correlation_id != 1 {
        return Err(malformed(format!("correlation id {} instead of 1", rh.correlation_id)));
    }
    let resp = R::Response::decode(&mut buf, version).map_err(|e| malformed(e.to_string()))?;
    if buf.has_remaining() {
        return Err(malformed(format!("{} bytes after the response", buf.remaining())));
    }
    Ok(resp)
}
