//! Wire-level tests: an in-process broker on a free port, raw requests built with kafka-protocol.
//! One file per API, plus malformed input and the min/max version sweep.

mod common;

mod acls;
mod admin;
mod api_versions;
mod cluster;
mod cluster_loss;
mod cluster_moves;
mod cluster_roles;
mod coverage;
mod differential;
mod fetch;
mod groups;
mod hostile;
mod limits;
mod list_offsets;
mod malformed;
mod metadata;
mod produce;
mod topics;
mod txn;
