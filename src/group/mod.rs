//! Classic consumer groups and committed offsets. `state` is the pure group state machine,
//! `coordinator` drives it (waiting members, timers, persistence), `records` is the layout of
//! `__consumer_offsets`, where offsets and group metadata are kept and replayed from.

pub mod configs;
pub mod consumer;
pub mod consumer_protocol;
pub mod coordinator;
pub mod records;
pub mod state;

mod error;
pub use error::GroupError;

pub use coordinator::{Coordinator, GroupDescription, GroupLog, MemberDescription};
pub use state::{GroupConfig, GroupState, JoinOutcome, JoinRequest, SyncOutcome};

/// The internal topic holding committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
