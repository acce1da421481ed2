//! The embedded store's integration tests, one binary: the port contracts, queries and the
//! store's own schema and allowlist.
//! (`#[cfg(test)]` on each module lets the tests unwrap: see `clippy.toml`.)

#[cfg(test)]
mod audit_queries;
#[cfg(test)]
mod conformance;
#[cfg(test)]
mod store;
