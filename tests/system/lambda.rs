//! End to end: the real `sgguard-lambda` binary, driven through a local Lambda Runtime API,
//! against the local AWS emulator (EC2 and DynamoDB) over the real SDK.

use crate::support::{ACCOUNT, Function, REGION, outcome, world};
use aws_sdk_ec2::types::{Filter, IpPermission, Ipv6Range, PrefixListId, UserIdGroupPair};
use serde_json::json;
use sgguard_responder::AuditLog;
use sgguard_testkit::aws;
use sgguard_testkit::cloudtrail::{self, Caller};
use sgguard_testkit::ec2::{ids, rule_id_of, tcp, v4};
use sgguard_testkit::runtime_api::Invocation;

#[tokio::test]
async fn enforce_reverts_exactly_the_unapproved_rules_the_event_added() {
    let Some(w) = world("enforce_reverts_exactly_the_unapproved_rules_the_event_added").await
    else {
        return;
    };
    let web = w.vpc.group("web").await;
    let peer = w.vpc.group("peer").await;
    let prefix_list = w
        .vpc
        .ec2
        .create_managed_prefix_list()
        .prefix_list_name(aws::unique("pl"))
        .max_entries(5)
        .address_family("IPv4")
        .send()
        .await
        .unwrap()
        .prefix_list
        .unwrap()
        .prefix_list_id
        .unwrap();

    // Existed before the event: an identical-looking world-open SSH rule in another group,
    // and an unrelated rule in the same group. Neither may be touched.
    let other = w.vpc.group("other").await;
    let pre_existing_other = w
        .vpc
        .authorize(&other, vec![tcp(22).ip_ranges(v4("0.0.0.0/0")).build()])
        .await;
    let pre_existing_web = w
        .vpc
        .authorize(&web, vec![tcp(80).ip_ranges(v4("10.0.0.0/8")).build()])
        .await;

    // One call: world-open SSH over IPv4 and IPv6 beside the approved office range.
    // (The emulator returns only the last permission's rules for a multi-permission call,
    // so each permission gets its own call here; AWS returns them all.)
    let caller = Caller::role(ACCOUNT, "Admin", "mallory");
    let ssh = vec![
        tcp(22)
            .ip_ranges(v4("0.0.0.0/0"))
            .ip_ranges(v4("203.0.113.0/24"))
            .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
            .build(),
    ];
    let (created, record) = w
        .vpc
        .authorize_as("e2e-authorize-1", &caller, ACCOUNT, REGION, &web, ssh)
        .await;
    assert_eq!(created.len(), 3, "EC2 created one rule per source");
    let https = vec![
        tcp(443)
            .prefix_list_ids(PrefixListId::builder().prefix_list_id(&prefix_list).build())
            .build(),
    ];
    let (created_pl, record_pl) = w
        .vpc
        .authorize_as("e2e-authorize-pl", &caller, ACCOUNT, REGION, &web, https)
        .await;
    let postgres = vec![
        tcp(5432)
            .user_id_group_pairs(UserIdGroupPair::builder().group_id(&peer).build())
            .build(),
    ];
    let (created_sg, record_sg) = w
        .vpc
        .authorize_as("e2e-authorize-sg", &caller, ACCOUNT, REGION, &web, postgres)
        .await;
    let all_traffic = vec![
        IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(v4("0.0.0.0/0"))
            .build(),
    ];
    let (created_all, record_all) = w
        .vpc
        .authorize_as(
            "e2e-authorize-all",
            &caller,
            ACCOUNT,
            REGION,
            &web,
            all_traffic,
        )
        .await;

    let function = Function::start(&w.endpoint, &w.tables, "enforce").await;
    let report = function.invoke(&record).await;
    assert_eq!(outcome(&report), "reverted", "{report:#}");
    for low in [&record_pl, &record_sg] {
        let report = function.invoke(low).await;
        assert_eq!(
            outcome(&report),
            "flagged",
            "low risk is flagged, not reverted: {report:#}"
        );
    }
    let report_all = function.invoke(&record_all).await;
    assert_eq!(outcome(&report_all), "reverted", "{report_all:#}");

    // Unapproved risky rules are gone; approved, low-risk and pre-existing rules stay.
    let world_v4 = rule_id_of(&created, |r| r.cidr_ipv4() == Some("0.0.0.0/0"));
    let world_v6 = rule_id_of(&created, |r| r.cidr_ipv6() == Some("::/0"));
    let office = rule_id_of(&created, |r| r.cidr_ipv4() == Some("203.0.113.0/24"));
    let via_prefix_list = ids(&created_pl)[0].clone();
    let via_group = ids(&created_sg)[0].clone();
    let remaining = ids(&w.vpc.ingress_rules(&web).await);
    for gone in [&world_v4, &world_v6, &ids(&created_all)[0]] {
        assert!(
            !remaining.contains(gone),
            "{gone} should be reverted; left: {remaining:?}"
        );
    }
    for kept in [
        &office,
        &via_prefix_list,
        &via_group,
        &ids(&pre_existing_web)[0],
    ] {
        assert!(
            remaining.contains(kept),
            "{kept} should stay; left: {remaining:?}"
        );
    }
    assert_eq!(
        ids(&w.vpc.ingress_rules(&other).await),
        ids(&pre_existing_other),
        "another group's identical rule stays"
    );

    // The audit record carries the evidence.
    let stored = w
        .audit
        .event("e2e-authorize-1")
        .await
        .unwrap()
        .expect("event recorded");
    assert_eq!(stored.outcome.as_str(), "reverted");
    let office_change = stored
        .changes
        .iter()
        .find(|c| c.rule_id.as_deref() == Some(office.as_str()))
        .unwrap();
    assert_eq!(office_change.approved_by.as_deref(), Some("office-ssh"));
    let world_change = stored
        .changes
        .iter()
        .find(|c| c.rule_id.as_deref() == Some(world_v6.as_str()))
        .unwrap();
    assert_eq!(world_change.action.as_str(), "reverted");
    assert!(
        world_change
            .risk_reasons
            .iter()
            .any(|r| r.contains("world-open IPv6")),
        "{:?}",
        world_change.risk_reasons
    );
    assert!(
        world_change
            .remediation
            .as_deref()
            .unwrap_or_default()
            .contains("confirmed absent"),
        "{:?}",
        world_change.remediation
    );

    // A duplicate delivery changes nothing.
    let before = ids(&w.vpc.ingress_rules(&web).await);
    let duplicate = function.invoke(&record).await;
    assert_eq!(outcome(&duplicate), "duplicate");
    assert_eq!(ids(&w.vpc.ingress_rules(&web).await), before);
}

#[tokio::test]
async fn a_widening_modification_is_restored_to_the_accepted_content() {
    let Some(w) = world("a_widening_modification_is_restored_to_the_accepted_content").await else {
        return;
    };
    let db = w.vpc.group("db").await;
    let narrow = vec![tcp(5432).ip_ranges(v4("10.0.0.0/16")).build()];
    let created = w.vpc.authorize(&db, narrow.clone()).await;
    let rule = created[0].security_group_rule_id().unwrap().to_owned();
    let caller = Caller::user(ACCOUNT, "dba");
    let function = Function::start(&w.endpoint, &w.tables, "enforce").await;
    let first = function
        .invoke(&cloudtrail::authorize(
            cloudtrail::Call {
                event_id: "e2e-narrow",
                account: ACCOUNT,
                region: REGION,
                caller: &caller,
            },
            false,
            &db,
            &narrow,
            &created,
        ))
        .await;
    assert_eq!(
        outcome(&first),
        "flagged",
        "a private range is low risk: recorded and flagged, not reverted"
    );

    // Widen the same rule in place to the whole internet.
    let wide = aws_sdk_ec2::types::SecurityGroupRuleRequest::builder()
        .ip_protocol("tcp")
        .from_port(5432)
        .to_port(5432)
        .cidr_ipv4("0.0.0.0/0")
        .build();
    w.vpc.modify_rule(&db, &rule, wide).await;
    let content =
        json!({"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "CidrIpv4": "0.0.0.0/0"});
    let report = function
        .invoke(&cloudtrail::modify(
            cloudtrail::Call {
                event_id: "e2e-widen",
                account: ACCOUNT,
                region: REGION,
                caller: &caller,
            },
            &db,
            &rule,
            content,
        ))
        .await;
    assert_eq!(outcome(&report), "restored", "{report:#}");
    let now = w.vpc.ingress_rules(&db).await;
    let restored = now
        .iter()
        .find(|r| r.security_group_rule_id() == Some(rule.as_str()))
        .expect("the rule still exists");
    assert_eq!(restored.cidr_ipv4(), Some("10.0.0.0/16"));
    let history = w.audit.rule_history(&rule).await.unwrap();
    assert_eq!(
        history.len(),
        2,
        "creation and modification are the rule's history"
    );
}

#[tokio::test]
async fn audit_mode_and_own_actions_change_nothing() {
    let Some(w) = world("audit_mode_and_own_actions_change_nothing").await else {
        return;
    };
    let web = w.vpc.group("web").await;
    let open = vec![tcp(3389).ip_ranges(v4("0.0.0.0/0")).build()];
    let created = w.vpc.authorize(&web, open.clone()).await;
    let audit_fn = Function::start(&w.endpoint, &w.tables, "audit").await;
    let report = audit_fn
        .invoke(&cloudtrail::authorize(
            cloudtrail::Call {
                event_id: "e2e-audit",
                account: ACCOUNT,
                region: REGION,
                caller: &Caller::user(ACCOUNT, "eve"),
            },
            false,
            &web,
            &open,
            &created,
        ))
        .await;
    assert_eq!(outcome(&report), "would_revert");
    assert_eq!(
        ids(&w.vpc.ingress_rules(&web).await),
        ids(&created),
        "audit mode reverts nothing"
    );
    drop(audit_fn);

    let enforce_fn = Function::start(&w.endpoint, &w.tables, "enforce").await;
    let ours = Caller::role(ACCOUNT, "sgguard-responder", "sgguard");
    let own = enforce_fn
        .invoke(&cloudtrail::revoke_by_ids(
            cloudtrail::Call {
                event_id: "e2e-own",
                account: ACCOUNT,
                region: REGION,
                caller: &ours,
            },
            &web,
            &ids(&created),
        ))
        .await;
    assert_eq!(outcome(&own), "own_action", "{own:#}");
    assert_eq!(
        ids(&w.vpc.ingress_rules(&web).await),
        ids(&created),
        "the responder never acts on its own calls"
    );

    let mut failed = cloudtrail::authorize(
        cloudtrail::Call {
            event_id: "e2e-failed",
            account: ACCOUNT,
            region: REGION,
            caller: &Caller::user(ACCOUNT, "eve"),
        },
        false,
        &web,
        &open,
        &created,
    );
    failed["errorCode"] = json!("Client.UnauthorizedOperation");
    let skipped = enforce_fn.invoke(&failed).await;
    assert_eq!(outcome(&skipped), "skipped_failed_call");
    assert!(
        w.audit.event("e2e-failed").await.unwrap().is_none(),
        "failed calls are not recorded"
    );
    assert_eq!(ids(&w.vpc.ingress_rules(&web).await), ids(&created));
}

#[tokio::test]
async fn a_malformed_event_is_kept_and_not_retried() {
    let Some(w) = world("a_malformed_event_is_kept_and_not_retried").await else {
        return;
    };
    let function = Function::start(&w.endpoint, &w.tables, "enforce").await;
    let mut record = cloudtrail::record(
        cloudtrail::Call {
            event_id: "e2e-bad",
            account: ACCOUNT,
            region: REGION,
            caller: &Caller::user(ACCOUNT, "x"),
        },
        "AuthorizeSecurityGroupIngress",
        json!({"groupId": "sg-1", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "not-a-cidr"}]}}]}}),
        json!({"_return": true}),
    );
    record["eventID"] = json!("e2e-bad");
    let report = function.invoke(&record).await;
    assert_eq!(outcome(&report), "invalid");
    assert!(
        report["reason"].as_str().unwrap().contains("cidrIp"),
        "{report:#}"
    );
}

#[tokio::test]
async fn a_modified_egress_rule_without_history_is_not_reverted_by_default() {
    let Some(w) = world("a_modified_egress_rule_without_history_is_not_reverted_by_default").await
    else {
        return;
    };
    let app = w.vpc.group("app").await;
    let created = w
        .vpc
        .ec2
        .authorize_security_group_egress()
        .group_id(&app)
        .ip_permissions(tcp(5432).ip_ranges(v4("10.0.0.0/16")).build())
        .send()
        .await
        .unwrap()
        .security_group_rules
        .unwrap_or_default();
    let rule = created[0].security_group_rule_id().unwrap().to_owned();
    let wide = aws_sdk_ec2::types::SecurityGroupRuleRequest::builder()
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .cidr_ipv4("0.0.0.0/0")
        .build();
    w.vpc.modify_rule(&app, &rule, wide).await;
    // The audit log has never seen this rule: the record alone does not say it is egress.
    // No grace period: this test is about direction, not about waiting for history.
    let function = Function::start_with(
        &w.endpoint,
        &w.tables,
        "enforce",
        &[("SGGUARD_HISTORY_GRACE_SECS", "0")],
    )
    .await;
    let content =
        json!({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv4": "0.0.0.0/0"});
    let report = function
        .invoke(&cloudtrail::modify(
            cloudtrail::Call {
                event_id: "e2e-egress-widen",
                account: ACCOUNT,
                region: REGION,
                caller: &Caller::user(ACCOUNT, "ops"),
            },
            &app,
            &rule,
            content,
        ))
        .await;
    assert_eq!(
        outcome(&report),
        "flagged",
        "egress is only flagged without --revert-egress: {report:#}"
    );
    assert_eq!(
        report["changes"][0]["direction"], "egress",
        "the direction was asked of EC2"
    );
    let rules = w
        .vpc
        .ec2
        .describe_security_group_rules()
        .filters(
            Filter::builder()
                .name("security-group-rule-id")
                .values(&rule)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .security_group_rules
        .unwrap_or_default();
    assert_eq!(rules.len(), 1, "the egress rule is left in place");
}

// ---------------------------------------------------------------------------------------
// Verify before acting: what a hostile or unlucky delivery cannot make sgguard do
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_bare_record_or_a_forged_envelope_changes_nothing() {
    let Some(w) = world("a_bare_record_or_a_forged_envelope_changes_nothing").await else {
        return;
    };
    let web = w.vpc.group("web").await;
    let caller = Caller::user(ACCOUNT, "mallory");
    let (created, record) = w
        .vpc
        .authorize_as(
            "e2e-unauthentic",
            &caller,
            ACCOUNT,
            REGION,
            &web,
            vec![tcp(22).ip_ranges(v4("0.0.0.0/0")).build()],
        )
        .await;
    let function = Function::start(&w.endpoint, &w.tables, "enforce").await;
    let mut other_source = cloudtrail::envelope(&record);
    other_source["source"] = json!("custom.attacker");
    let mut other_account = cloudtrail::envelope(&record);
    other_account["account"] = json!("999988887777");
    for (payload, what) in [
        (record.clone(), "bare CloudTrail record"),
        (other_source, "`source` is `custom.attacker`"),
        (other_account, "does not match `detail.recipientAccountId`"),
    ] {
        match function.deliver(payload).await {
            Invocation::Response(report) => {
                assert_eq!(outcome(&report), "invalid", "{report:#}");
                let reason = report["reason"].as_str().unwrap_or_default();
                assert!(
                    reason.contains("not an authentic event") && reason.contains(what),
                    "{reason}"
                );
            }
            other => panic!("an unauthentic payload is handled, not retried: {other:?}"),
        }
    }
    assert_eq!(
        ids(&w.vpc.ingress_rules(&web).await),
        ids(&created),
        "nothing was reverted"
    );
    assert!(
        w.audit.event("e2e-unauthentic").await.unwrap().is_none(),
        "kept as invalid, not as an event"
    );
    // The authentic delivery of the same record is acted on.
    assert_eq!(outcome(&function.invoke(&record).await), "reverted");
}

#[tokio::test]
async fn a_late_authorize_whose_rule_was_modified_since_is_superseded() {
    let Some(w) = world("a_late_authorize_whose_rule_was_modified_since_is_superseded").await
    else {
        return;
    };
    let web = w.vpc.group("web").await;
    let caller = Caller::user(ACCOUNT, "mallory");
    let (created, late) = w
        .vpc
        .authorize_as(
            "e2e-late",
            &caller,
            ACCOUNT,
            REGION,
            &web,
            vec![tcp(22).ip_ranges(v4("0.0.0.0/0")).build()],
        )
        .await;
    let rule = ids(&created)[0].clone();
    // Before the Authorize is delivered, the rule is narrowed to the approved office range.
    let office = aws_sdk_ec2::types::SecurityGroupRuleRequest::builder()
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .cidr_ipv4("203.0.113.0/24")
        .build();
    w.vpc.modify_rule(&web, &rule, office).await;
    let function = Function::start(&w.endpoint, &w.tables, "enforce").await;
    let report = function.invoke(&late).await;
    assert_eq!(outcome(&report), "superseded", "{report:#}");
    assert!(
        report["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("now: tcp 22 from 203.0.113.0/24"),
        "{report:#}"
    );
    let rules = w.vpc.ingress_rules(&web).await;
    assert_eq!(ids(&rules), [rule]);
    assert_eq!(
        rules[0].cidr_ipv4(),
        Some("203.0.113.0/24"),
        "the newer content stays"
    );
}

#[tokio::test]
async fn a_forged_authorize_and_modify_leave_an_existing_rule_untouched() {
    let Some(w) = world("a_forged_authorize_and_modify_leave_an_existing_rule_untouched").await
    else {
        return;
    };
    let private = w.vpc.group("private").await;
    let existing = w
        .vpc
        .authorize(&private, vec![tcp(80).ip_ranges(v4("10.0.0.0/8")).build()])
        .await;
    let rule = ids(&existing)[0].clone();
    let mallory = Caller::user(ACCOUNT, "mallory");
    // "Authorize all traffic from 8.0.0.0/5" naming the existing rule, then "modify" it.
    let mut forged_rule = existing[0].clone();
    forged_rule = aws_sdk_ec2::types::SecurityGroupRule::builder()
        .security_group_rule_id(&rule)
        .group_id(&private)
        .is_egress(false)
        .ip_protocol("-1")
        .from_port(-1)
        .to_port(-1)
        .cidr_ipv4("8.0.0.0/5")
        .set_group_owner_id(forged_rule.group_owner_id().map(str::to_owned))
        .build();
    let forged = cloudtrail::authorize(
        cloudtrail::Call {
            event_id: "e2e-forged-authorize",
            account: ACCOUNT,
            region: REGION,
            caller: &mallory,
        },
        false,
        &private,
        &[IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(v4("8.0.0.0/5"))
            .build()],
        &[forged_rule],
    );
    let forged_modify = cloudtrail::modify(
        cloudtrail::Call {
            event_id: "e2e-forged-modify",
            account: ACCOUNT,
            region: REGION,
            caller: &mallory,
        },
        &private,
        &rule,
        json!({"IpProtocol": "-1", "CidrIpv4": "8.0.0.0/5"}),
    );
    let function = Function::start(&w.endpoint, &w.tables, "enforce").await;
    for record in [&forged, &forged_modify] {
        let report = function.invoke(record).await;
        assert_eq!(outcome(&report), "superseded", "{report:#}");
    }
    let rules = w.vpc.ingress_rules(&private).await;
    assert_eq!(ids(&rules), [rule]);
    assert_eq!(rules[0].ip_protocol(), Some("tcp"));
    assert_eq!(rules[0].cidr_ipv4(), Some("10.0.0.0/8"), "untouched");
}

#[tokio::test]
async fn the_responders_identity_gets_no_pass_but_its_own_restore_does() {
    let Some(w) = world("the_responders_identity_gets_no_pass_but_its_own_restore_does").await
    else {
        return;
    };
    let db = w.vpc.group("db").await;
    let ours = Caller::role(ACCOUNT, "sgguard-responder", "sgguard");
    let function = Function::start(&w.endpoint, &w.tables, "enforce").await;
    // A world-open Authorize made with the responder's identity is reverted like any other.
    let (created, borrowed) = w
        .vpc
        .authorize_as(
            "e2e-borrowed",
            &ours,
            ACCOUNT,
            REGION,
            &db,
            vec![tcp(22).ip_ranges(v4("0.0.0.0/0")).build()],
        )
        .await;
    let report = function.invoke(&borrowed).await;
    assert_eq!(outcome(&report), "reverted", "{report:#}");
    assert!(!ids(&w.vpc.ingress_rules(&db).await).contains(&ids(&created)[0]));

    // The responder restores a widened rule, and its own Modify, delivered back, is its own.
    let dba = Caller::user(ACCOUNT, "dba");
    let (narrow, added) = w
        .vpc
        .authorize_as(
            "e2e-restore-add",
            &dba,
            ACCOUNT,
            REGION,
            &db,
            vec![tcp(5432).ip_ranges(v4("10.0.0.0/16")).build()],
        )
        .await;
    let rule = ids(&narrow)[0].clone();
    assert_eq!(outcome(&function.invoke(&added).await), "flagged");
    let wide = aws_sdk_ec2::types::SecurityGroupRuleRequest::builder()
        .ip_protocol("tcp")
        .from_port(5432)
        .to_port(5432)
        .cidr_ipv4("0.0.0.0/0")
        .build();
    w.vpc.modify_rule(&db, &rule, wide).await;
    let widened = cloudtrail::modify(
        cloudtrail::Call {
            event_id: "e2e-restore-widen",
            account: ACCOUNT,
            region: REGION,
            caller: &dba,
        },
        &db,
        &rule,
        json!({"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "CidrIpv4": "0.0.0.0/0"}),
    );
    assert_eq!(outcome(&function.invoke(&widened).await), "restored");
    let own = cloudtrail::modify(
        cloudtrail::Call {
            event_id: "e2e-restore-own",
            account: ACCOUNT,
            region: REGION,
            caller: &ours,
        },
        &db,
        &rule,
        json!({"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "CidrIpv4": "10.0.0.0/16"}),
    );
    let report = function.invoke(&own).await;
    assert_eq!(outcome(&report), "own_action", "{report:#}");
    let rules = w.vpc.ingress_rules(&db).await;
    assert_eq!(rules[0].cidr_ipv4(), Some("10.0.0.0/16"));
}

/// A customer-managed prefix list on the emulator, holding `entries`.
async fn prefix_list(w: &crate::support::World, entries: &[&str]) -> String {
    let mut request = w
        .vpc
        .ec2
        .create_managed_prefix_list()
        .prefix_list_name(aws::unique("pl"))
        .max_entries(10)
        .address_family("IPv4");
    for cidr in entries {
        request = request.entries(
            aws_sdk_ec2::types::AddPrefixListEntry::builder()
                .cidr(*cidr)
                .build(),
        );
    }
    request
        .send()
        .await
        .unwrap()
        .prefix_list
        .unwrap()
        .prefix_list_id
        .unwrap()
}

#[tokio::test]
async fn ssh_from_a_prefix_list_holding_the_world_is_reverted() {
    let Some(w) = world("ssh_from_a_prefix_list_holding_the_world_is_reverted").await else {
        return;
    };
    let list = prefix_list(&w, &["10.0.0.0/8", "0.0.0.0/0"]).await;
    let web = w.vpc.group("web").await;
    let (created, record) = w
        .vpc
        .authorize_as(
            "e2e-pl-world",
            &Caller::user(ACCOUNT, "mallory"),
            ACCOUNT,
            REGION,
            &web,
            vec![
                tcp(22)
                    .prefix_list_ids(PrefixListId::builder().prefix_list_id(&list).build())
                    .build(),
            ],
        )
        .await;
    let function = Function::start(&w.endpoint, &w.tables, "enforce").await;
    let report = function.invoke(&record).await;
    assert_eq!(outcome(&report), "reverted", "{report:#}");
    assert_eq!(report["changes"][0]["risk"], "critical");
    let reasons = report["changes"][0]["risk_reasons"].to_string();
    assert!(
        reasons.contains(&list) && reasons.contains("0.0.0.0/0"),
        "{reasons}"
    );
    assert!(!ids(&w.vpc.ingress_rules(&web).await).contains(&ids(&created)[0]));
}

#[tokio::test]
async fn a_prefix_list_entry_that_opens_the_world_is_removed_at_its_version() {
    let Some(w) = world("a_prefix_list_entry_that_opens_the_world_is_removed_at_its_version").await
    else {
        return;
    };
    let list = prefix_list(&w, &["10.0.0.0/8"]).await;
    let web = w.vpc.group("web").await;
    w.vpc
        .authorize(
            &web,
            vec![
                tcp(22)
                    .prefix_list_ids(PrefixListId::builder().prefix_list_id(&list).build())
                    .build(),
            ],
        )
        .await;
    // Someone adds 0.0.0.0/0 to the list: every rule that references it opens to the world.
    w.vpc
        .ec2
        .modify_managed_prefix_list()
        .prefix_list_id(&list)
        .current_version(1)
        .add_entries(
            aws_sdk_ec2::types::AddPrefixListEntry::builder()
                .cidr("0.0.0.0/0")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let record = cloudtrail::modify_prefix_list(
        cloudtrail::Call {
            event_id: "e2e-pl-modify",
            account: ACCOUNT,
            region: REGION,
            caller: &Caller::user(ACCOUNT, "mallory"),
        },
        &list,
        1,
        &["0.0.0.0/0"],
    );
    let function = Function::start(&w.endpoint, &w.tables, "enforce").await;
    let report = function.invoke(&record).await;
    assert_eq!(outcome(&report), "reverted", "{report:#}");
    let change = &report["changes"][0];
    assert_eq!(change["kind"], "entry_added");
    assert_eq!(change["source"], "0.0.0.0/0");
    assert_eq!(change["risk"], "critical");
    assert!(
        change["remediation"]
            .as_str()
            .unwrap_or_default()
            .contains("confirmed absent in version 3"),
        "{change:#}"
    );
    let entries = w
        .vpc
        .ec2
        .get_managed_prefix_list_entries()
        .prefix_list_id(&list)
        .send()
        .await
        .unwrap()
        .entries
        .unwrap_or_default();
    let cidrs: Vec<&str> = entries.iter().filter_map(|e| e.cidr()).collect();
    assert_eq!(cidrs, ["10.0.0.0/8"], "only the world entry was removed");
}

#[tokio::test]
async fn concurrent_deliveries_of_one_event_revert_once() {
    let Some(w) = world("concurrent_deliveries_of_one_event_revert_once").await else {
        return;
    };
    let web = w.vpc.group("web").await;
    let (created, record) = w
        .vpc
        .authorize_as(
            "e2e-concurrent",
            &Caller::user(ACCOUNT, "mallory"),
            ACCOUNT,
            REGION,
            &web,
            vec![tcp(3389).ip_ranges(v4("0.0.0.0/0")).build()],
        )
        .await;
    let mut functions = Vec::new();
    for _ in 0..12 {
        functions.push(Function::start(&w.endpoint, &w.tables, "enforce").await);
    }
    let envelope = cloudtrail::envelope(&record);
    let answers = futures_join_all(&functions, &envelope).await;
    let reverted = answers
        .iter()
        .filter(|a| matches!(a, Invocation::Response(r) if outcome(r) == "reverted"))
        .count();
    assert_eq!(reverted, 1, "exactly one delivery reverts: {answers:#?}");
    // Every other delivery was a duplicate, or failed retryably (another worker held the
    // lease); Lambda retries those, and each then finds the event settled.
    for (function, answer) in functions.iter().zip(&answers) {
        match answer {
            Invocation::Response(r) => {
                assert!(["reverted", "duplicate"].contains(&outcome(r)), "{r:#}")
            }
            Invocation::Error { error_type, .. } => {
                assert_eq!(error_type, "Retryable", "{answer:?}");
                let retried = function.invoke(&record).await;
                assert_eq!(outcome(&retried), "duplicate", "{retried:#}");
            }
        }
    }
    assert!(!ids(&w.vpc.ingress_rules(&web).await).contains(&ids(&created)[0]));
    let stored = w.audit.event("e2e-concurrent").await.unwrap().unwrap();
    assert_eq!(stored.outcome.as_str(), "reverted");
}

/// Delivers one payload to every function at once, and waits for every answer.
async fn futures_join_all(functions: &[Function], payload: &serde_json::Value) -> Vec<Invocation> {
    let mut pending: Vec<_> = functions
        .iter()
        .map(|f| Box::pin(f.deliver(payload.clone())))
        .collect();
    let mut answers: Vec<Option<Invocation>> = functions.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (answer, future) in answers.iter_mut().zip(pending.iter_mut()) {
            if answer.is_none()
                && let std::task::Poll::Ready(a) = future.as_mut().poll(cx)
            {
                *answer = Some(a);
            }
        }
        if answers.iter().all(Option::is_some) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    answers.into_iter().flatten().collect()
}
