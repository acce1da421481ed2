//! The responder's integration tests, one binary: the whole pipeline of one event against
//! the SQLite store and fakes of EC2. (`#[cfg(test)]` on each module lets the tests unwrap:
//! see `clippy.toml`.)

#[cfg(test)]
mod pipeline;
