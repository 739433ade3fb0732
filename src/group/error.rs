//! What the group coordinator refuses, in the terms of Kafka's group protocol. The handlers give
//! each its wire code (`handlers::errors`); the group code never sees one.

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum GroupError {
    #[error("the coordinator is not aware of this member")]
    UnknownMemberId,
    #[error("the group is rebalancing, so a rejoin is needed")]
    RebalanceInProgress,
    #[error("the member's protocols are incompatible with the group's, or empty")]
    InconsistentGroupProtocol,
    #[error("another member registered with the same group.instance.id")]
    FencedInstanceId,
    #[error("the coordinator is not available")]
    CoordinatorNotAvailable,
    #[error("this node no longer coordinates it")]
    NotCoordinator,
    #[error("the group generation is not valid")]
    IllegalGeneration,
    #[error("the group has reached its maximum size")]
    GroupMaxSizeReached,
    #[error("the group id does not exist")]
    GroupIdNotFound,
    #[error("the member needs a member id before it joins")]
    MemberIdRequired,
    #[error("the session timeout is outside group.min/max.session.timeout.ms")]
    InvalidSessionTimeout,
    #[error("the member epoch is fenced: the member must give up its partitions and rejoin")]
    FencedMemberEpoch,
    #[error("the member epoch is stale")]
    StaleMemberEpoch,
    #[error("the group is not empty")]
    NonEmptyGroup,
    #[error("the assignor is not supported by the consumer group")]
    UnsupportedAssignor,
    #[error("the instance id is still used by another member")]
    UnreleasedInstanceId,
    #[error("the request is not valid for this group")]
    InvalidRequest,
    #[error("the group is subscribed to the topic")]
    GroupSubscribedToTopic,
}

impl From<crate::log::internal::InternalLogError> for GroupError {
    /// A write to the internal topic that failed: the coordinator moved with the partition's
    /// leadership, or is not available for now (Kafka's mapping of the append's errors).
    fn from(e: crate::log::internal::InternalLogError) -> Self {
        match e {
            crate::log::internal::InternalLogError::NotLeader { .. } => GroupError::NotCoordinator,
            _ => GroupError::CoordinatorNotAvailable,
        }
    }
}
