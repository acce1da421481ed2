//! The AWS adapters' integration tests against the local emulator, one binary: the port
//! contracts, queries, allowlist imports, faults injected around and under the adapters, and
//! the requests each outcome costs.
//! (`#[cfg(test)]` on each module lets the tests unwrap: see `clippy.toml`.)

#[cfg(test)]
mod allowlist_import;
#[cfg(test)]
mod audit_queries;
#[cfg(test)]
mod conformance;
#[cfg(test)]
mod error_chains;
#[cfg(test)]
mod faults;
#[cfg(test)]
mod request_costs;
