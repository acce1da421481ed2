//! The pure decision engine of sgguard.
//!
//! Data flows one way: CloudTrail JSON ([`input`]) → a normalized [`ChangeSet`]
//! ([`event`]) → per-rule [`Risk`] ([`risk`]) and [`Approval`] ([`allowlist`]) →
//! a [`Decision`] with its evidence ([`decide`]). Before the responder acts, [`verify`]
//! compares what the event says with what EC2 holds now. Nothing here performs I/O, touches
//! the clock or awaits: callers pass `now` and every input explicitly, so the whole
//! engine is testable with plain data.

pub mod allowlist;
pub mod decide;
mod error;
pub mod event;
pub mod input;
pub mod model;
pub mod own;
pub mod prefix_list;
pub mod risk;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod time;
pub mod verify;

pub use allowlist::{AllowEntry, Allowlist, Approval};
pub use decide::{ChangeDecision, Context, Decision, Mode, Policy, decide};
pub use error::{AllowlistProblem, Error};
pub use event::{ChangeSet, EventMeta, Identity, classify_record, normalize};
pub use model::{
    Action, ChangeKind, Direction, Outcome, PortRange, Protocol, RuleChange, RuleContent, Source,
    SourceKind,
};
pub use own::{Intents, MEMBER_SESSION_NAME};
pub use prefix_list::{PrefixList, PrefixLists, Reference};
pub use risk::{Risk, RiskLevel, RiskTable};
pub use verify::{Expectation, ObservedRule, Verdict, verify};
