//! DescribeAcls, CreateAcls and DeleteAcls (KIP-140). The bindings live in the metadata image, so
//! they survive restarts and reach every broker. Without `authorizer.class.name` the three answer
//! SECURITY_DISABLED, as Kafka does. The bindings are not enforced yet: requests are not checked
//! against them (authentication, and with it principals other than ANONYMOUS, is a later step).

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{DeleteAclsFilterResult, DeleteAclsMatchingAcl};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, str_bytes};
use crate::broker::Broker;
use crate::cluster::acl::{AclBinding, AclFilter};

/// v0 (literal patterns only) was removed in Kafka 4.
pub const VERSIONS: (i16, i16) = (1, 3);

const NO_AUTHORIZER: &str = "No Authorizer is configured.";

fn enabled(broker: &Broker) -> bool {
    !broker.config.authorizer_class_name.trim().is_empty()
}

fn opt(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(|s| s.to_string())
}

pub fn describe(broker: &Broker, _ctx: &RequestContext, req: DescribeAclsRequest) -> DescribeAclsResponse {
    let mut r = DescribeAclsResponse::default();
    if !enabled(broker) {
        r.error_code = ResponseError::SecurityDisabled.code();
        r.error_message = Some(str_bytes(NO_AUTHORIZER));
        return r;
    }
    let filter = AclFilter {
        resource_type: req.resource_type_filter,
        resource_name: opt(&req.resource_name_filter),
        pattern_type: req.pattern_type_filter,
        principal: opt(&req.principal_filter),
        host: opt(&req.host_filter),
        operation: req.operation,
        permission: req.permission_type,
    };
    if let Err(msg) = filter.validate() {
        r.error_code = ResponseError::InvalidRequest.code();
        r.error_message = Some(str_bytes(msg));
        return r;
    }
    let image = broker.image();
    // One entry per resource pattern, each with the ACLs on it.
    let mut by_resource: BTreeMap<(i8, &str, i8), Vec<AclDescription>> = BTreeMap::new();
    for b in image.acls.iter().filter(|b| filter.matches(b)) {
        let mut d = AclDescription::default();
        d.principal = str_bytes(b.principal.clone());
        d.host = str_bytes(b.host.clone());
        d.operation = b.operation;
        d.permission_type = b.permission;
        by_resource.entry((b.resource_type, b.resource_name.as_str(), b.pattern_type)).or_default().push(d);
    }
    r.resources = by_resource
        .into_iter()
        .map(|((resource_type, name, pattern_type), acls)| {
            let mut res = DescribeAclsResource::default();
            res.resource_type = resource_type;
            res.resource_name = str_bytes(name);
            res.pattern_type = pattern_type;
            res.acls = acls;
            res
        })
        .collect();
    r
}

pub async fn create(broker: &Broker, _ctx: &RequestContext, req: CreateAclsRequest) -> CreateAclsResponse {
    let mut r = CreateAclsResponse::default();
    let result = |code: ResponseError, msg: String| {
        let mut c = AclCreationResult::default();
        c.error_code = code.code();
        c.error_message = Some(str_bytes(msg));
        c
    };
    if !enabled(broker) {
        r.results =
            req.creations.iter().map(|_| result(ResponseError::SecurityDisabled, NO_AUTHORIZER.into())).collect();
        return r;
    }
    let mut checked = Vec::with_capacity(req.creations.len());
    for c in req.creations {
        let b = AclBinding {
            resource_type: c.resource_type,
            resource_name: c.resource_name.to_string(),
            pattern_type: c.resource_pattern_type,
            principal: c.principal.to_string(),
            host: c.host.to_string(),
            operation: c.operation,
            permission: c.permission_type,
        };
        checked.push(b.validate().map(|()| b));
    }
    let valid: Vec<AclBinding> = checked.iter().filter_map(|c| c.as_ref().ok().cloned()).collect();
    let stored = if valid.is_empty() { Ok(()) } else { broker.create_acls(valid).await };
    r.results = checked
        .into_iter()
        .map(|c| match (c, &stored) {
            (Err(msg), _) => result(ResponseError::InvalidRequest, msg),
            (Ok(_), Err(e)) => result(ResponseError::UnknownServerError, format!("ACL not stored: {e}")),
            (Ok(_), Ok(())) => {
                // Kafka leaves the message at its default ("") on success.
                AclCreationResult::default()
            }
        })
        .collect();
    r
}

pub async fn delete(broker: &Broker, _ctx: &RequestContext, req: DeleteAclsRequest) -> DeleteAclsResponse {
    let mut r = DeleteAclsResponse::default();
    let failed = |code: ResponseError, msg: String| {
        let mut f = DeleteAclsFilterResult::default();
        f.error_code = code.code();
        f.error_message = Some(str_bytes(msg));
        f
    };
    if !enabled(broker) {
        r.filter_results =
            req.filters.iter().map(|_| failed(ResponseError::SecurityDisabled, NO_AUTHORIZER.into())).collect();
        return r;
    }
    let image = broker.image();
    let mut doomed = Vec::new();
    let mut selections = Vec::with_capacity(req.filters.len());
    for f in &req.filters {
        let filter = AclFilter {
            resource_type: f.resource_type_filter,
            resource_name: opt(&f.resource_name_filter),
            pattern_type: f.pattern_type_filter,
            principal: opt(&f.principal_filter),
            host: opt(&f.host_filter),
            operation: f.operation,
            permission: f.permission_type,
        };
        selections.push(filter.validate().map(|()| {
            let matched: Vec<AclBinding> = image.acls.iter().filter(|b| filter.matches(b)).cloned().collect();
            doomed.extend(matched.iter().cloned());
            matched
        }));
    }
    let removed = if doomed.is_empty() { Ok(()) } else { broker.delete_acls(doomed).await };
    r.filter_results = selections
        .into_iter()
        .map(|s| match (s, &removed) {
            (Err(msg), _) => failed(ResponseError::InvalidRequest, msg),
            (Ok(_), Err(e)) => failed(ResponseError::UnknownServerError, format!("ACLs not deleted: {e}")),
            (Ok(matched), Ok(())) => {
                let mut out = DeleteAclsFilterResult::default();
                out.matching_acls = matched
                    .into_iter()
                    .map(|b| {
                        let mut m = DeleteAclsMatchingAcl::default();
                        m.resource_type = b.resource_type;
                        m.resource_name = str_bytes(b.resource_name);
                        m.pattern_type = b.pattern_type;
                        m.principal = str_bytes(b.principal);
                        m.host = str_bytes(b.host);
                        m.operation = b.operation;
                        m.permission_type = b.permission;
                        m
                    })
                    .collect();
                out
            }
        })
        .collect();
    r
}
