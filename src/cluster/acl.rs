//! ACL bindings (KIP-140) as the metadata image keeps them, and the filters that select them.
//!
//! Codes are Kafka's wire codes. The matching rules are Kafka's `AclBindingFilter`: a filter's
//! ANY matches every value, a null name/principal/host matches every one, and a MATCH pattern type
//! selects the bindings that would apply to the named resource (the literal name, the `*`
//! wildcard and every prefix of the name).

use serde::{Deserialize, Serialize};

pub mod resource {
    pub const ANY: i8 = 1;
    pub const TOPIC: i8 = 2;
    pub const GROUP: i8 = 3;
    pub const CLUSTER: i8 = 4;
    pub const TRANSACTIONAL_ID: i8 = 5;
    pub const DELEGATION_TOKEN: i8 = 6;
    pub const USER: i8 = 7;
}

pub mod pattern {
    pub const ANY: i8 = 1;
    pub const MATCH: i8 = 2;
    pub const LITERAL: i8 = 3;
    pub const PREFIXED: i8 = 4;
}

pub mod operation {
    pub const ANY: i8 = 1;
    /// ALL (2) through TWO_PHASE_COMMIT (15).
    pub const CONCRETE: std::ops::RangeInclusive<i8> = 2..=15;
}

pub mod permission {
    pub const ANY: i8 = 1;
    pub const DENY: i8 = 2;
    pub const ALLOW: i8 = 3;
}

/// The resource name a wildcard LITERAL binding uses.
pub const WILDCARD: &str = "*";
/// The only name a CLUSTER resource may have.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// One ACL: who may (or may not) do what, from where, on which resources.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclBinding {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission: i8,
}

impl AclBinding {
    /// Kafka's checks on an ACL to be created; the error is INVALID_REQUEST's message.
    pub fn validate(&self) -> Result<(), String> {
        if self.resource_type == resource::CLUSTER && self.resource_name != CLUSTER_NAME {
            return Err(format!("The only valid name for the CLUSTER resource is {CLUSTER_NAME}"));
        }
        if self.resource_name.is_empty() {
            return Err("Invalid empty resource name".into());
        }
        if !(resource::TOPIC..=resource::USER).contains(&self.resource_type) {
            return Err(format!("Invalid resourceType {}", self.resource_type));
        }
        if self.pattern_type != pattern::LITERAL && self.pattern_type != pattern::PREFIXED {
            return Err(format!("Invalid patternType {}", self.pattern_type));
        }
        if !operation::CONCRETE.contains(&self.operation) {
            return Err(format!("Invalid operation {}", self.operation));
        }
        if self.permission != permission::ALLOW && self.permission != permission::DENY {
            return Err(format!("Invalid permissionType {}", self.permission));
        }
        if !self.principal.contains(':') {
            return Err(format!(
                "Could not parse principal from `{}` (no colon is present separating the principal type from the \
                 principal name)",
                self.principal
            ));
        }
        Ok(())
    }
}

/// Selects bindings: DescribeAcls' filter and each of DeleteAcls' filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: i8,
    pub resource_name: Option<String>,
    pub pattern_type: i8,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: i8,
    pub permission: i8,
}

impl AclFilter {
    /// A filter with an element Kafka cannot name (UNKNOWN or out of range) is refused.
    pub fn validate(&self) -> Result<(), String> {
        if !(resource::ANY..=resource::USER).contains(&self.resource_type)
            || !(pattern::ANY..=pattern::PREFIXED).contains(&self.pattern_type)
        {
            return Err("Unknown patternFilter.".into());
        }
        if !(operation::ANY..=*operation::CONCRETE.end()).contains(&self.operation)
            || !(permission::ANY..=permission::ALLOW).contains(&self.permission)
        {
            return Err("Unknown entryFilter.".into());
        }
        Ok(())
    }

    pub fn matches(&self, b: &AclBinding) -> bool {
        self.matches_resource(b) && self.matches_entry(b)
    }

    fn matches_resource(&self, b: &AclBinding) -> bool {
        if self.resource_type != resource::ANY && self.resource_type != b.resource_type {
            return false;
        }
        let exact_type = self.pattern_type == pattern::ANY || self.pattern_type == b.pattern_type;
        if !exact_type && self.pattern_type != pattern::MATCH {
            return false;
        }
        let Some(name) = &self.resource_name else { return true };
        if exact_type {
            return *name == b.resource_name;
        }
        // MATCH: every binding that applies to a resource with this name.
        match b.pattern_type {
            pattern::LITERAL => *name == b.resource_name || b.resource_name == WILDCARD,
            pattern::PREFIXED => name.starts_with(&b.resource_name),
            _ => false,
        }
    }

    fn matches_entry(&self, b: &AclBinding) -> bool {
        self.principal.as_ref().is_none_or(|p| *p == b.principal)
            && self.host.as_ref().is_none_or(|h| *h == b.host)
            && (self.operation == operation::ANY || self.operation == b.operation)
            && (self.permission == permission::ANY || self.permission == b.permission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(rt: i8, name: &str, pt: i8, principal: &str, op: i8, perm: i8) -> AclBinding {
        AclBinding {
            resource_type: rt,
            resource_name: name.into(),
            pattern_type: pt,
            principal: principal.into(),
            host: "*".into(),
            operation: op,
            permission: perm,
        }
    }

    fn any() -> AclFilter {
        AclFilter {
            resource_type: resource::ANY,
            resource_name: None,
            pattern_type: pattern::ANY,
            principal: None,
            host: None,
            operation: operation::ANY,
            permission: permission::ANY,
        }
    }

    #[test]
    fn filters_match_as_kafka_matches() {
        let literal = binding(resource::TOPIC, "orders", pattern::LITERAL, "User:alice", 3, permission::ALLOW);
        let wildcard = binding(resource::TOPIC, "*", pattern::LITERAL, "User:bob", 3, permission::ALLOW);
        let prefixed = binding(resource::TOPIC, "ord", pattern::PREFIXED, "User:bob", 8, permission::DENY);
        let group = binding(resource::GROUP, "orders", pattern::LITERAL, "User:alice", 3, permission::ALLOW);
        let all = [&literal, &wildcard, &prefixed, &group];
        let selected = |f: &AclFilter| all.iter().filter(|b| f.matches(b)).count();

        assert_eq!(selected(&any()), 4);
        let topic_orders = AclFilter { resource_type: resource::TOPIC, resource_name: Some("orders".into()), ..any() };
        assert_eq!(selected(&topic_orders), 1, "ANY pattern type compares names exactly");
        let matching = AclFilter { pattern_type: pattern::MATCH, ..topic_orders.clone() };
        assert_eq!(selected(&matching), 3, "MATCH takes the literal name, the wildcard and the prefix");
        let prefixed_only = AclFilter { pattern_type: pattern::PREFIXED, ..topic_orders.clone() };
        assert_eq!(selected(&prefixed_only), 0, "a PREFIXED filter names the prefix itself");
        let alice_read = AclFilter { principal: Some("User:alice".into()), operation: 3, ..any() };
        assert_eq!(selected(&alice_read), 2);
        let denies = AclFilter { permission: permission::DENY, ..any() };
        assert_eq!(selected(&denies), 1);
        let other_host = AclFilter { host: Some("10.0.0.1".into()), ..any() };
        assert_eq!(selected(&other_host), 0);
    }

    #[test]
    fn new_acls_are_checked_as_kafka_checks_them() {
        let ok = binding(resource::TOPIC, "t", pattern::LITERAL, "User:a", 3, permission::ALLOW);
        assert_eq!(ok.validate(), Ok(()));
        let bad = [
            AclBinding { resource_name: String::new(), ..ok.clone() },
            AclBinding { resource_type: resource::ANY, ..ok.clone() },
            AclBinding { resource_type: resource::CLUSTER, ..ok.clone() },
            AclBinding { pattern_type: pattern::MATCH, ..ok.clone() },
            AclBinding { operation: operation::ANY, ..ok.clone() },
            AclBinding { permission: permission::ANY, ..ok.clone() },
            AclBinding { principal: "alice".into(), ..ok.clone() },
        ];
        for b in bad {
            assert!(b.validate().is_err(), "{b:?}");
        }
        let cluster = AclBinding { resource_type: resource::CLUSTER, resource_name: CLUSTER_NAME.into(), ..ok };
        assert_eq!(cluster.validate(), Ok(()));
        let unknown = AclFilter { operation: 0, ..any() };
        assert!(unknown.validate().is_err());
    }
}
