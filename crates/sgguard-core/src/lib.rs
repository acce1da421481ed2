//! The pure decision engine of sgguard.
//!
//! Data flows one way: CloudTrail JSON ([`input`]) → a normalized [`ChangeSet`]
//! ([`event`]) → per-rule [`Risk`] ([`risk`]) and [`Approval`] ([`allowlist`]) →
//! a [`Decision`] with its evidence ([`decide`]). Nothing here performs I/O, touches
//! the clock or awaits: callers pass `now` and every input explicitly, so the whole
//! engine is testable with plain data.

pub mod allowlist;
pub mod decide;
mod error;
pub mod event;
pub mod input;
pub mod model;
pub mod risk;
pub mod time;

pub use allowlist::{AllowEntry, Allowlist, Approval};
pub use decide::{ChangeDecision, Decision, Mode, Policy, decide};
pub use error::{AllowlistProblem, Error};
pub use event::{ChangeSet, EventMeta, Identity, classify_record, normalize};
pub use model::{
    Action, ChangeKind, Direction, Outcome, PortRange, Protocol, RuleChange, RuleContent, Source,
    SourceKind,
};
pub use risk::{Risk, RiskLevel, RiskTable};
