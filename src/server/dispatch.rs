//! From a frame to a response: header, version check against the one table, decode, the
//! handler, encode. `Err` closes the connection; everything else is answered.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};
use thiserror::Error;
use tracing::Instrument;

use super::apis::{self, route};
use crate::broker::Broker;
use crate::handlers::{self, RequestContext};

#[derive(Debug, Error)]
pub enum DispatchError {
    #[error("request of {0} bytes is too short for a request header")]
    Short(usize),
    #[error("unknown API key {0}")]
    UnknownKey(i16),
    #[error("API {key:?} is not supported")]
    Unsupported { key: ApiKey },
    #[error("{key:?} version {version} is not supported (this broker serves {min} to {max})")]
    Version { key: ApiKey, version: i16, min: i16, max: i16 },
    #[error("cannot decode {key:?} v{version}: {reason}")]
    Decode { key: ApiKey, version: i16, reason: String },
    #[error("cannot encode the {key:?} v{version} response: {reason}")]
    Encode { key: ApiKey, version: i16, reason: String },
}

/// A request frame decoded as the broker reads it: what `handle` routes.
pub enum Decoded {
    Request {
        key: ApiKey,
        version: i16,
        correlation_id: i32,
        header: RequestHeader,
        request: RequestKind,
    },
    /// An ApiVersions request newer than the broker: answered in v0 with the supported ranges.
    NewerApiVersions {
        correlation_id: i32,
    },
}

/// Reads a frame's header, checks its version against the one table and decodes its body. Every
/// count and length inside is the client's word; the decoders never allocate by it alone.
/// On a controller listener (`controller`) only the controller's APIs are known; a request for
/// another closes the connection, as Kafka's controllers do.
pub fn decode(frame: &Bytes, controller: bool) -> Result<Decoded, DispatchError> {
    if frame.len() < 8 {
        return Err(DispatchError::Short(frame.len()));
    }
    let raw_key = (&frame[0..2]).get_i16();
    let version = (&frame[2..4]).get_i16();
    let correlation_id = (&frame[4..8]).get_i32();
    let key = ApiKey::try_from(raw_key).map_err(|_| DispatchError::UnknownKey(raw_key))?;
    let support = apis::lookup(key)
        .filter(|_| !controller || apis::CONTROLLER_APIS.contains(&key))
        .ok_or(DispatchError::Unsupported { key })?;
    let (min, max) = support.served;
    if key == ApiKey::ApiVersions && (version < min || version > max) {
        // A client newer than the broker (KIP-511).
        return Ok(Decoded::NewerApiVersions { correlation_id });
    }
    if version < min || version > max {
        return Err(DispatchError::Version { key, version, min, max });
    }
    let decode_err = |e: anyhow::Error| DispatchError::Decode { key, version, reason: format!("{e:#}") };
    let mut buf = frame.clone();
    let header = RequestHeader::decode(&mut buf, key.request_header_version(version)).map_err(decode_err)?;
    let request = RequestKind::decode(key, &mut buf, version).map_err(decode_err)?;
    Ok(Decoded::Request { key, version, correlation_id, header, request })
}

/// Handles one request frame that came on a client listener, or a controller listener
/// (`controller`); `Ok(None)` means the request gets no response (acks=0).
pub async fn handle(
    broker: &Arc<Broker>,
    frame: Bytes,
    peer: std::net::SocketAddr,
    controller: bool,
) -> Result<Option<BytesMut>, DispatchError> {
    let (key, version, correlation_id, header, request) = match decode(&frame, controller)? {
        Decoded::Request { key, version, correlation_id, header, request } => {
            (key, version, correlation_id, header, request)
        }
        Decoded::NewerApiVersions { correlation_id } => {
            let body = handlers::api_versions::unsupported_version(apis::advertised(controller));
            return encode(ApiKey::ApiVersions, 0, correlation_id, &ResponseKind::ApiVersions(body)).map(Some);
        }
    };
    let ctx = RequestContext {
        version,
        correlation_id,
        client_id: header.client_id.as_ref().map(|c| c.to_string()).unwrap_or_default(),
        client_host: format!("/{}", peer.ip()),
        controller_listener: controller,
    };
    let span = tracing::debug_span!("request", api = ?key, version, correlation_id, client_id = %ctx.client_id);
    let response = if tracing::enabled!(tracing::Level::DEBUG) {
        traced(route(broker, &ctx, key, request).instrument(span), key, correlation_id, &ctx.client_id).await?
    } else {
        route(broker, &ctx, key, request).instrument(span).await?
    };
    match response {
        Some(r) => encode(key, version, correlation_id, &r).map(Some),
        None => Ok(None),
    }
}

/// Requests that take longer are logged at debug level (`RUST_LOG=gregor::server::dispatch=debug`),
/// when they end and, every so often, while they are still pending.
const SLOW_REQUEST: std::time::Duration = std::time::Duration::from_secs(2);

async fn traced<T>(fut: impl std::future::Future<Output = T>, key: ApiKey, correlation_id: i32, client_id: &str) -> T {
    let started = std::time::Instant::now();
    tokio::pin!(fut);
    loop {
        match tokio::time::timeout(SLOW_REQUEST * 5, &mut fut).await {
            Ok(out) => {
                let ms = started.elapsed().as_millis() as u64;
                if started.elapsed() > SLOW_REQUEST {
                    tracing::debug!(api = ?key, correlation_id, client_id, ms, "slow request");
                }
                return out;
            }
            Err(_) => {
                let ms = started.elapsed().as_millis() as u64;
                tracing::debug!(api = ?key, correlation_id, client_id, ms, "request still pending");
            }
        }
    }
}

fn encode(key: ApiKey, version: i16, correlation_id: i32, body: &ResponseKind) -> Result<BytesMut, DispatchError> {
    let err = |e: anyhow::Error| DispatchError::Encode { key, version, reason: format!("{e:#}") };
    // Fetch responses carry megabytes of records: size the buffer once instead of regrowing it.
    let size = match body {
        ResponseKind::Fetch(f) => f.compute_size(version).map_err(err)?,
        _ => 240,
    };
    let mut out = BytesMut::with_capacity(size + 16);
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    header.encode(&mut out, key.response_header_version(version)).map_err(err)?;
    body.encode(&mut out, version).map_err(err)?;
    Ok(out)
}
