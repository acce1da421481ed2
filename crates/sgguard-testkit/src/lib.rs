//! Test support shared by sgguard's crates (a dev-dependency only): a local implementation
//! of the Lambda Runtime API, access to the local AWS emulator started by the test script,
//! security groups and rules on its EC2, CloudTrail records built from what EC2 returned,
//! and the port conformance suites with the macros that make them tests of a store.

pub mod aws;
pub mod cloudtrail;
pub mod conformance;
pub mod ec2;
pub mod fault_proxy;
pub mod runtime_api;

/// The runtime of the tests the conformance macros expand into, so that a store's tests need
/// no `tokio` dependency of their own.
pub use tokio;
