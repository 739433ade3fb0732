//! Wire-level pieces below the handlers: framing and its limits, the incremental fetch
//! sessions' bookkeeping (KIP-227), and requests to other brokers.

pub mod client;
pub mod fetch_session;
pub mod frame;
