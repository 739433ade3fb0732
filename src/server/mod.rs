//! Network side: listeners, one task per connection, and dispatch of requests to handlers.

pub mod apis;
pub mod connection;
pub mod dispatch;
pub mod listener;

pub use listener::Server;
