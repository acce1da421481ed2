//! The library half of the Lambda: typed configuration and the event handler, so both are
//! tested without a runtime.

mod config;
pub mod handler;

pub use config::{Config, ConfigError, ENV_VARS, sdk_timeouts};
pub use handler::HandlerError;
