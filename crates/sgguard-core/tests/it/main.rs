//! The core's integration tests, one binary: every CloudTrail shape normalized, the risk
//! table and the decision, properties, a time-bounded fuzz of the whole pipeline, the
//! project's examples and the published corpus.
//! (`#[cfg(test)]` on each module lets the tests unwrap: see `clippy.toml`.)

#[cfg(test)]
mod corpus;
#[cfg(test)]
mod examples;
#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod normalize;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod risk;
