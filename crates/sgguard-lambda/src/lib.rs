//! The library half of the Lambda: typed configuration and the event handler, so both are
//! tested without a runtime.

pub mod batch;
mod config;
pub mod handler;
pub mod metrics;

pub use config::{Config, env_vars, sdk_timeouts};
pub use handler::HandlerError;
