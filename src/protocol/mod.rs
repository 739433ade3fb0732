//! Wire-level pieces shared by the server and handlers: framing limits, the table of supported
//! API versions, and the mapping from domain errors to Kafka error codes.

pub mod errors;
pub mod fetch_session;
pub mod frame;
pub mod versions;
