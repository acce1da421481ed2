//! Compare, then act. A record's claims alone never justify a revoke or a modify: just
//! before acting, the responder reads the rule by id from EC2, and acts only if the rule is
//! in the event's group and holds exactly the content the event says it has now. This one
//! comparison defeats forged rule ids, stale and late deliveries, and retries that race a
//! newer change. Pure: the responder fetches, this decides.

use crate::model::{Direction, RuleContent};

/// A rule as EC2 holds it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedRule {
    pub rule_id: String,
    pub group_id: String,
    pub direction: Direction,
    pub content: RuleContent,
}

/// What an event says one rule is now, and what acting would make of it.
#[derive(Debug, Clone, Copy)]
pub struct Expectation<'a> {
    pub rule_id: &'a str,
    /// The event's group; `None` when the record named the group only by name.
    pub group_id: Option<&'a str>,
    pub direction: Direction,
    /// The added content (Authorize) or the new content (Modify).
    pub content: &'a RuleContent,
    /// For a restore: the content the responder would set. A rule that already holds it
    /// was restored before (an interrupted attempt); nothing is left to do.
    pub target: Option<&'a RuleContent>,
}

/// Whether to act on one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The rule is exactly what the event says: act.
    Act,
    /// The rule no longer exists: the goal of a revoke holds.
    Gone,
    /// The rule already holds the restore target.
    Done,
    /// The rule is not what the event says; act on nothing. The text says what it is now.
    Superseded(String),
}

/// Compares what the event says with what EC2 holds (`None`: no such rule).
pub fn verify(expected: &Expectation<'_>, observed: Option<&ObservedRule>) -> Verdict {
    let Some(observed) = observed else {
        return Verdict::Gone;
    };
    let rule = expected.rule_id;
    match expected.group_id {
        None => {
            return Verdict::Superseded(format!(
                "the event names no group id, so {rule} cannot be matched to it"
            ));
        }
        Some(group) if group != observed.group_id => {
            return Verdict::Superseded(format!(
                "{rule} belongs to {}, not to {group} as the event says",
                observed.group_id
            ));
        }
        Some(_) => {}
    }
    let known = |d: Direction| d != Direction::Unknown;
    if known(expected.direction)
        && known(observed.direction)
        && expected.direction != observed.direction
    {
        return Verdict::Superseded(format!(
            "{rule} is {}, the event says {}",
            observed.direction, expected.direction
        ));
    }
    if expected
        .target
        .is_some_and(|target| observed.content.same_access(target))
    {
        return Verdict::Done;
    }
    if observed.content.same_access(expected.content) {
        return Verdict::Act;
    }
    Verdict::Superseded(format!(
        "rule changed since this event (now: {}); the later change is judged on its own",
        observed.content
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Protocol, Source};

    fn content(protocol: Protocol, port: Option<i32>, source: &str) -> RuleContent {
        RuleContent {
            protocol,
            from_port: port,
            to_port: port,
            source: Source::parse(source).unwrap_or(Source::PrefixList("pl-x".into())),
            description: None,
        }
    }

    fn observed(group: &str, direction: Direction, c: RuleContent) -> ObservedRule {
        ObservedRule {
            rule_id: "sgr-1".into(),
            group_id: group.into(),
            direction,
            content: c,
        }
    }

    #[test]
    fn acts_only_on_exactly_what_the_event_says() {
        let world_ssh = content(Protocol::Tcp, Some(22), "0.0.0.0/0");
        let office_ssh = content(Protocol::Tcp, Some(22), "10.1.0.0/16");
        let restore = content(Protocol::Tcp, Some(5432), "10.0.0.0/16");
        let expect = |target| Expectation {
            rule_id: "sgr-1",
            group_id: Some("sg-a"),
            direction: Direction::Ingress,
            content: &world_ssh,
            target,
        };
        let described = |c: &str| {
            let mut d = world_ssh.clone();
            d.description = Some(c.into());
            d
        };
        let table: Vec<(Expectation<'_>, Option<ObservedRule>, Verdict)> = vec![
            (expect(None), None, Verdict::Gone),
            (
                expect(None),
                Some(observed("sg-a", Direction::Ingress, world_ssh.clone())),
                Verdict::Act,
            ),
            // the description changes nothing on the wire
            (
                expect(None),
                Some(observed("sg-a", Direction::Ingress, described("x"))),
                Verdict::Act,
            ),
            // host bits: the same network
            (
                expect(None),
                Some(observed(
                    "sg-a",
                    Direction::Ingress,
                    content(Protocol::Tcp, Some(22), "208.236.235.254/0"),
                )),
                Verdict::Act,
            ),
            (
                expect(None),
                Some(observed("sg-a", Direction::Unknown, world_ssh.clone())),
                Verdict::Act,
            ),
            (
                expect(Some(&restore)),
                Some(observed("sg-a", Direction::Ingress, restore.clone())),
                Verdict::Done,
            ),
        ];
        for (expected, observed, verdict) in table {
            assert_eq!(
                verify(&expected, observed.as_ref()),
                verdict,
                "{observed:?}"
            );
        }
        let changed = verify(
            &expect(None),
            Some(&observed("sg-a", Direction::Ingress, office_ssh)),
        );
        assert_eq!(
            changed,
            Verdict::Superseded(
                "rule changed since this event (now: tcp 22 from 10.1.0.0/16); the later change is judged on its own"
                    .into()
            )
        );
        let elsewhere = verify(
            &expect(None),
            Some(&observed("sg-b", Direction::Ingress, world_ssh.clone())),
        );
        assert!(
            matches!(&elsewhere, Verdict::Superseded(why) if why.contains("belongs to sg-b")),
            "{elsewhere:?}"
        );
        let egress = verify(
            &expect(None),
            Some(&observed("sg-a", Direction::Egress, world_ssh.clone())),
        );
        assert!(
            matches!(&egress, Verdict::Superseded(why) if why.contains("is egress")),
            "{egress:?}"
        );
        let other_port = verify(
            &expect(None),
            Some(&observed(
                "sg-a",
                Direction::Ingress,
                content(Protocol::Tcp, Some(2222), "0.0.0.0/0"),
            )),
        );
        assert!(matches!(other_port, Verdict::Superseded(_)));
        let all = verify(
            &expect(None),
            Some(&observed(
                "sg-a",
                Direction::Ingress,
                content(Protocol::All, None, "0.0.0.0/0"),
            )),
        );
        assert!(matches!(all, Verdict::Superseded(_)));
        let nameless = Expectation {
            group_id: None,
            ..expect(None)
        };
        assert!(matches!(
            verify(
                &nameless,
                Some(&observed("sg-a", Direction::Ingress, world_ssh.clone()))
            ),
            Verdict::Superseded(_)
        ));
    }

    #[test]
    fn ports_compare_as_ec2_stores_them() {
        let all_ports = |from, to| RuleContent {
            protocol: Protocol::All,
            from_port: from,
            to_port: to,
            source: Source::parse("0.0.0.0/0").unwrap_or(Source::PrefixList("pl-x".into())),
            description: None,
        };
        assert!(all_ports(None, None).same_access(&all_ports(Some(-1), Some(-1))));
        let icmp = |from, to| RuleContent {
            protocol: Protocol::Icmp,
            from_port: from,
            to_port: to,
            ..all_ports(None, None)
        };
        assert!(icmp(Some(8), None).same_access(&icmp(Some(8), Some(-1))));
        assert!(!icmp(Some(8), Some(0)).same_access(&icmp(Some(0), Some(0))));
    }
}
