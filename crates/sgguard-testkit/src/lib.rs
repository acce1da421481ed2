//! Test support shared by sgguard's crates (a dev-dependency only): a local implementation
//! of the Lambda Runtime API, access to the local AWS emulator started by the test script,
//! security groups and rules on its EC2, CloudTrail records built from what EC2 returned,
//! and the port conformance suites.

pub mod aws;
pub mod cloudtrail;
pub mod conformance;
pub mod ec2;
pub mod fault_proxy;
pub mod runtime_api;
