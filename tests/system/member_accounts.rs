//! The multi-account layout end to end: the real binary in the central account receives an
//! event of a member account and reverts it through the member role, assumed with the
//! emulator's STS (moto attributes requests made with assumed-role credentials to the
//! role's account, so the member account's EC2 is a separate world).

use crate::support::{ACCOUNT, Function, REGION, outcome, world};
use sgguard_responder::AuditLog;
use sgguard_testkit::aws;
use sgguard_testkit::cloudtrail::{self, Caller};
use sgguard_testkit::ec2::{Vpc, ids, tcp, v4};

const MEMBER: &str = "222233334444";
const MEMBER_ROLE: &str = "sgguard-member";

/// A world-open SSH rule added in the member account, and the CloudTrail record of it.
async fn open_ssh_in_member(
    endpoint: &str,
    event_id: &str,
) -> (Vpc, String, String, serde_json::Value) {
    let ec2 = aws::ec2_in_account(endpoint, MEMBER, MEMBER_ROLE).await;
    let vpc = Vpc::create(ec2, "sgguard member account").await;
    let group = vpc.group("member-web").await;
    let ssh = vec![tcp(22).ip_ranges(v4("0.0.0.0/0")).build()];
    let caller = Caller::role(MEMBER, "Admin", "mallory");
    let (created, record) = vpc
        .authorize_as(event_id, &caller, MEMBER, REGION, &group, ssh)
        .await;
    let rule = ids(&created)[0].clone();
    (vpc, group, rule, record)
}

#[tokio::test]
async fn a_member_account_event_is_reverted_through_the_member_role() {
    let Some(w) = world("a_member_account_event_is_reverted_through_the_member_role").await else {
        return;
    };
    let event_id = aws::unique("member-authorize");
    let (member, group, rule, record) = open_ssh_in_member(&w.endpoint, &event_id).await;
    assert!(
        w.vpc
            .ec2
            .describe_security_groups()
            .group_ids(&group)
            .send()
            .await
            .is_err(),
        "the member's group must not exist in the central account, or this proves nothing"
    );

    let function = Function::start_with(
        &w.endpoint,
        &w.tables,
        "enforce",
        &[("SGGUARD_MEMBER_ROLE_NAME", MEMBER_ROLE)],
    )
    .await;
    let report = function.invoke(&record).await;
    assert_eq!(outcome(&report), "reverted", "{report:#}");
    assert!(
        !ids(&member.ingress_rules(&group).await).contains(&rule),
        "the rule is gone from the member account"
    );
    let stored = w
        .audit
        .event(&event_id)
        .await
        .unwrap()
        .expect("recorded centrally");
    assert_eq!(stored.account.as_deref(), Some(MEMBER));
    let remediation = stored.changes[0].remediation.clone().unwrap_or_default();
    assert!(remediation.contains("confirmed absent"), "{remediation}");

    // The revert itself shows up in the member account's CloudTrail as the member role's
    // session; forwarded back, it is the responder's own action, never acted on.
    let member_session = Caller::role(MEMBER, MEMBER_ROLE, sgguard_aws::MEMBER_SESSION_NAME);
    let own = cloudtrail::revoke_by_ids(
        cloudtrail::Call {
            event_id: &aws::unique("member-own"),
            account: MEMBER,
            region: REGION,
            caller: &member_session,
        },
        &group,
        std::slice::from_ref(&rule),
    );
    let report = function.invoke(&own).await;
    assert_eq!(outcome(&report), "own_action", "{report:#}");
    // The same session adding a rule is not something the responder does: judged (and,
    // world-open, reverted) like anyone's call.
    let (added, borrowed) = member
        .authorize_as(
            &aws::unique("member-borrowed"),
            &member_session,
            MEMBER,
            REGION,
            &group,
            vec![tcp(3389).ip_ranges(v4("0.0.0.0/0")).build()],
        )
        .await;
    let report = function.invoke(&borrowed).await;
    assert_eq!(outcome(&report), "reverted", "{report:#}");
    assert!(
        !ids(&member.ingress_rules(&group).await).contains(&ids(&added)[0]),
        "the borrowed identity's rule is reverted"
    );
}

#[tokio::test]
async fn without_a_member_role_another_accounts_event_is_recorded_not_reverted() {
    let Some(w) =
        world("without_a_member_role_another_accounts_event_is_recorded_not_reverted").await
    else {
        return;
    };
    let event_id = aws::unique("member-no-role");
    let (member, group, rule, record) = open_ssh_in_member(&w.endpoint, &event_id).await;

    let function = Function::start(&w.endpoint, &w.tables, "enforce").await;
    let report = function.invoke(&record).await;
    assert_eq!(outcome(&report), "revert_failed", "{report:#}");
    let remediation = report["changes"][0]["remediation"]
        .as_str()
        .unwrap_or_default();
    assert!(
        remediation.contains(MEMBER)
            && remediation.contains(ACCOUNT)
            && remediation.contains("SGGUARD_MEMBER_ROLE_NAME"),
        "the failure says which accounts and what to set: {remediation}"
    );
    assert!(
        ids(&member.ingress_rules(&group).await).contains(&rule),
        "nothing is touched in an account the function cannot reach"
    );
    let stored = w.audit.event(&event_id).await.unwrap().expect("recorded");
    assert_eq!(stored.outcome.as_str(), "revert_failed");
}
