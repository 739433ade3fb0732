//! Network side: listeners, one task per connection, and dispatch of requests to handlers.

pub mod connection;
pub mod dispatch;
pub mod listener;
pub mod versions;

pub use listener::Server;
