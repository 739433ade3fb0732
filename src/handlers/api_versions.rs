//! ApiVersions: the supported ranges, straight from the table dispatch routes by
//! (`server::apis::SUPPORTED`).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use kafka_protocol::messages::ApiKey;

use super::RequestContext;

pub const VERSIONS: (i16, i16) = (0, 4);

/// One API: the versions advertised and the versions actually served.
#[derive(Debug, Clone, Copy)]
pub struct ApiSupport {
    pub key: ApiKey,
    /// Lowest version advertised. Below `served.0` only for Produce (Kafka 4 advertises v0).
    pub advertised_min: i16,
    pub served: (i16, i16),
}

fn api_keys(supported: &[ApiSupport]) -> Vec<ApiVersion> {
    supported
        .iter()
        .map(|s| {
            let mut v = ApiVersion::default();
            v.api_key = s.key as i16;
            v.min_version = s.advertised_min;
            v.max_version = s.served.1;
            v
        })
        .collect()
}

/// Kafka's rule for ClientSoftwareName and ClientSoftwareVersion (v3+).
fn valid_software_field(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: &u8| c.is_ascii_alphanumeric();
    !b.is_empty()
        && edge(&b[0])
        && edge(&b[b.len() - 1])
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
}

pub fn handle(ctx: &RequestContext, req: ApiVersionsRequest, supported: &[ApiSupport]) -> ApiVersionsResponse {
    let mut r = ApiVersionsResponse::default();
    if ctx.version >= 3
        && !(valid_software_field(&req.client_software_name) && valid_software_field(&req.client_software_version))
    {
        // As Kafka: a malformed client name or version gets INVALID_REQUEST and no ranges.
        r.error_code = ResponseError::InvalidRequest.code();
        return r;
    }
    r.api_keys = api_keys(supported);
    r.finalized_features_epoch = -1;
    r
}

/// The v0 answer to a version this broker does not know: UNSUPPORTED_VERSION and the ranges.
pub fn unsupported_version(supported: &[ApiSupport]) -> ApiVersionsResponse {
    let mut r = ApiVersionsResponse::default();
    r.error_code = ResponseError::UnsupportedVersion.code();
    r.api_keys = api_keys(supported);
    r
}
