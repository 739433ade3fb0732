//! Wire-level pieces below the handlers: framing and its limits, and the incremental fetch
//! sessions' bookkeeping (KIP-227).

pub mod fetch_session;
pub mod frame;
