//! The command line's integration tests, one binary: every command called with typed
//! arguments and as a process.
//! (`#[cfg(test)]` on each module lets the tests unwrap: see `clippy.toml`.)

#[cfg(test)]
mod allow;
#[cfg(test)]
mod allow_cli;
#[cfg(test)]
mod audit;
#[cfg(test)]
mod audit_cli;
#[cfg(test)]
mod cli;
#[cfg(test)]
mod replay;
#[cfg(test)]
mod report;
