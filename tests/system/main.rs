//! System tests: what crosses crates, run as a user meets it. The real `sgguard-lambda`
//! binary behind a local Lambda Runtime API and the `sgguard` CLI, both against the local
//! AWS emulator (`scripts/test` starts it and builds the binaries), and the deployment
//! templates held to the code. (`#[cfg(test)]` on each module lets the tests unwrap: see
//! `clippy.toml`.)

#[cfg(test)]
mod infra;
#[cfg(test)]
mod lambda;
#[cfg(test)]
mod load;
#[cfg(test)]
mod member_accounts;
#[cfg(test)]
mod respond;
#[cfg(test)]
mod retry_queue;
#[cfg(test)]
mod settings;
#[cfg(test)]
mod support;
