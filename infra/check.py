#!/usr/bin/env python3
"""Offline checks of the templates in infra/ (run with the project venv's python).

1. The three templates parse (CloudFormation short-form tags included).
2. cfn-lint passes on the raw SAM template; the SAM translator turns it into plain
   CloudFormation offline, and cfn-lint passes on that too; cfn-lint passes on
   forwarder.yaml and member-role.yaml (errors fail, warnings print).
3. checkov over infra/ reports no failed check, and every skipped check carries its
   justification in the template. checkov lives in its own venv (its pins clash with the
   translator's): $SGGUARD_CHECKOV or .venv-checkov/bin/checkov.
4. Against a local AWS (moto) at $SGGUARD_TEST_AWS_ENDPOINT, on fresh event buses with
   SQS targets: the central rule receives every call of the family and nothing else;
   the forwarder's rule carries a member bus's events to the central bus; the outcome
   rule passes on exactly the notable Lambda results and those judged without a usable
   allowlist. On fresh queues with the template's redrive policy: a message the function
   keeps failing stays on the retry queue for exactly maxReceiveCount receives, then
   moves to the dead-letter queue unchanged, and moved back it is retried afresh.
5. The translated template deploys on moto's CloudFormation with its defaults and with
   every option on, and the conditions resolve as documented: the role gets the EC2
   write actions only in enforce mode (egress only with RevertEgress), sts:AssumeRole
   only with a member role; the function's environment holds the mode, its own role ARN
   and the extra self ARNs; the retry queue redrives to the dead-letter queue and feeds
   the function (event source mapping reporting batch item failures); the alarm topic
   is created only without AlarmTopicArn; forwarded events have their own bus.
   member-role.yaml deploys with CentralMode audit (no EC2 write action) and enforce
   (all of them, egress only with RevertEgress); forwarder.yaml deploys with and without
   its own alarm topic. (moto skips the resource types it does not model, such as
   alarms and event-invoke configs; the Rust test and cfn-lint cover those.)

Steps 3 and 4 are skipped with a notice when their tool or endpoint is missing, except
under CI (env CI set), where that is a failure. What the templates must contain to agree
with the code (tables, environment, IAM, patterns, alarms on the function's metrics) is
checked by the Rust tests in tests/system/infra.rs: the code is the source of truth.

The last line printed is `N passed, M failed`; the exit code is non-zero on any failure.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import subprocess
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TEMPLATES = {
    "template.yaml": HERE / "template.yaml",
    "forwarder.yaml": HERE / "forwarder.yaml",
    "member-role.yaml": HERE / "member-role.yaml",
}
PATTERN = HERE / "eventbridge-pattern.json"
# Every outcome the function reports (sgguard_core::Outcome::ALL, in its order; the Rust
# test `check_py_knows_every_outcome` in tests/system/infra.rs keeps the two equal).
ALL_OUTCOMES = ["skipped_failed_call", "skipped_unrelated", "duplicate", "own_action", "invalid", "incomplete", "recorded", "approved", "flagged", "would_revert", "pending", "superseded", "restored", "reverted", "revert_failed"]
LINT_REGIONS = ["us-east-1", "eu-west-1"]
IN_CI = bool(os.environ.get("CI"))

results: list[tuple[str, bool]] = []


def check(name: str, fn: Callable[[], str | None]) -> bool:
    """Runs one check item; an exception or AssertionError fails it."""
    try:
        detail = fn()
    except Exception as err:  # noqa: BLE001 - every failure is reported the same way
        message = str(err) or type(err).__name__
        if not isinstance(err, AssertionError):
            message = "".join(traceback.format_exception_only(type(err), err)).strip()
        print(f"FAIL {name}: {message}")
        results.append((name, False))
        return False
    print(f"ok   {name}" + (f" ({detail})" if detail else ""))
    results.append((name, True))
    return True


def fail(message: str) -> None:
    raise AssertionError(message)


def skip_or_fail(name: str, why: str) -> None:
    """A missing tool or endpoint: a notice locally, a failure under CI."""
    if IN_CI:
        check(name, lambda: fail(f"{why}, and CI is set"))
    else:
        print(f"skip {name}: {why}")


def plain(value: Any) -> Any:
    """cfn-lint's decoded nodes as plain dicts, lists and strings."""
    return json.loads(json.dumps(value))


# ------------------------------------------------------------------ loading

state: dict[str, Any] = {}


def load(name: str) -> Callable[[], str]:
    def run() -> str:
        from cfnlint.decode import decode_str

        template, errors = decode_str(TEMPLATES[name].read_text(encoding="utf-8"))
        assert not errors, "; ".join(str(e) for e in errors)
        assert isinstance(template, dict), "the template is not a mapping"
        state[name] = plain(template)
        return f"{len(state[name].get('Resources', {}))} resources"

    return run


def load_pattern() -> str:
    state["pattern"] = json.loads(PATTERN.read_text(encoding="utf-8"))
    return f"{len(state['pattern']['detail']['eventName'])} event names"


# --------------------------------------------------------------------- lint


# Warnings that are real mistakes: W3037 is an IAM action that does not exist.
FAILING_WARNINGS = {"W3037"}


def lint(text: str, where: str) -> str:
    """cfn-lint on a template text; errors (and FAILING_WARNINGS) fail, the rest print."""
    from cfnlint.api import lint as cfn_lint

    matches = cfn_lint(text, regions=LINT_REGIONS)
    failing = [m for m in matches if m.rule.id.startswith("E") or m.rule.id in FAILING_WARNINGS]
    describe = lambda m: f"{m.rule.id} {m.message} ({where} line {m.linenumber})"  # noqa: E731
    for m in matches:
        if m not in failing:
            print(f"     note: {describe(m)}")
    assert not failing, "; ".join(describe(m) for m in failing)
    return f"{len(matches)} warnings/notes" if matches else "clean"


def translate() -> str:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        """The template attaches no managed policies: nothing to look up in IAM."""

        def load(self) -> dict[str, str]:
            return {}

    sam = copy.deepcopy(state["template.yaml"])
    # `sam deploy` uploads the local CodeUri and puts its S3 location here; do the same.
    for resource in sam.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            code = resource.get("Properties", {}).get("CodeUri")
            assert isinstance(code, str) and not code.startswith("s3://"), f"CodeUri should be the local build, is {code!r}"
            resource["Properties"]["CodeUri"] = "s3://sgguard-check-bucket/sgguard-lambda.zip"
    cfn = transform(sam, {}, NoManagedPolicies())
    assert "Transform" not in cfn, "the translated template still has a Transform"
    state["cfn"] = cfn
    types = sorted({r["Type"] for r in cfn["Resources"].values()})
    return ", ".join(types)


# ------------------------------------------------------------------ checkov


def checkov_binary() -> str | None:
    configured = os.environ.get("SGGUARD_CHECKOV", "").strip()
    if configured:
        return configured
    local = ROOT / ".venv-checkov" / "bin" / "checkov"
    return str(local) if local.exists() else None


def checkov(binary: str) -> str:
    """checkov over infra/, offline (--skip-download): no failed check, every skip justified."""
    run = subprocess.run(
        [binary, "-d", str(HERE), "--framework", "cloudformation", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    assert run.stdout.strip(), f"checkov printed nothing (exit {run.returncode}): {run.stderr.strip()[-500:]}"
    report = json.loads(run.stdout)
    reports = report if isinstance(report, list) else [report]
    failed, skipped, passed = [], [], 0
    for r in reports:
        failed += r["results"]["failed_checks"]
        skipped += r["results"]["skipped_checks"]
        passed += r["summary"]["passed"]
        assert r["summary"]["parsing_errors"] == 0, f"checkov could not parse: {r['results']['parsing_errors']}"
    files = {Path(c["file_path"]).name for c in failed + skipped}
    for c in failed:
        print(f"     failed: {c['check_id']} {c['resource']} {c['check_name']} ({Path(c['file_path']).name})")
    unjustified = [
        f"{c['check_id']} {c['resource']}"
        for c in skipped
        if not (c.get("check_result", {}).get("suppress_comment") or "").strip()
        or c["check_result"]["suppress_comment"] == "No comment provided"
    ]
    assert not failed, f"{len(failed)} failed checks"
    assert not unjustified, f"skipped without a justification: {unjustified}"
    assert passed > 0, "checkov passed no check at all: did it read the templates?"
    for c in skipped:
        print(f"     skipped: {c['check_id']} {c['resource']}: {c['check_result']['suppress_comment'].strip()[:90]}")
    return f"{passed} passed, {len(skipped)} skipped with a reason, 0 failed ({', '.join(sorted(files)) or 'no skips'})"


# --------------------------------------------------------------------- moto


def record(event_name: str, event_id: str, error_code: str | None = None, source: str = "ec2.amazonaws.com") -> dict[str, Any]:
    detail: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/check", "accountId": "111122223333"},
        "eventTime": "2026-11-26T10:00:00Z",
        "eventSource": source,
        "eventName": event_name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "sgguard-check",
        "requestParameters": {"groupId": "sg-0123456789abcdef0"},
        "responseElements": {"_return": True},
        "eventID": event_id,
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333",
    }
    if error_code:
        detail["errorCode"] = error_code
        detail["errorMessage"] = "the specified rule already exists"
        detail["responseElements"] = None
    return detail


def cloudtrail_entry(detail: dict[str, Any], bus: str, source: str = "aws.ec2") -> dict[str, Any]:
    return {"Source": source, "DetailType": "AWS API Call via CloudTrail", "Detail": json.dumps(detail), "EventBusName": bus}


def outcome_entry(outcome: str, event_id: str, bus: str, allowlist_error: str | None = None) -> dict[str, Any]:
    """What Lambda's OnSuccess destination puts on an event bus for one invocation."""
    detail = {
        "version": "1.0",
        "timestamp": "2026-11-26T10:00:01.000Z",
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": "arn:aws:lambda:us-east-1:111122223333:function:sgguard:$LATEST",
            "condition": "Success",
            "approximateInvokeCount": 1,
        },
        "requestPayload": {"detail": record("AuthorizeSecurityGroupIngress", event_id)},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "responsePayload": {"event_id": event_id, "outcome": outcome, "reason": "check", "changes": []},
    }
    if allowlist_error:
        detail["responsePayload"]["allowlist_error"] = allowlist_error
    return {
        "Source": "lambda",
        "DetailType": "Lambda Function Invocation Result - Success",
        "Detail": json.dumps(detail),
        "EventBusName": bus,
    }


def resource_pattern(template: str, logical_id: str) -> Any:
    pattern = state[template]["Resources"][logical_id]["Properties"]["EventPattern"]
    return json.loads(pattern) if isinstance(pattern, str) else pattern


class Moto:
    """Fresh buses, rules and queues on the emulator; everything is removed afterwards."""

    def __init__(self, endpoint: str) -> None:
        import boto3

        session = boto3.session.Session(
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
            region_name="us-east-1",
        )
        self.events = session.client("events", endpoint_url=endpoint)
        self.sqs = session.client("sqs", endpoint_url=endpoint)
        self.suffix = uuid.uuid4().hex[:10]
        self.cleanups: list[Callable[[], Any]] = []

    def bus(self, name: str) -> str:
        bus = f"sgguard-check-{name}-{self.suffix}"
        arn = self.events.create_event_bus(Name=bus)["EventBusArn"]
        self.cleanups.append(lambda: self.events.delete_event_bus(Name=bus))
        return arn

    def queue(self, name: str) -> tuple[str, str]:
        url = self.sqs.create_queue(QueueName=f"sgguard-check-{name}-{self.suffix}")["QueueUrl"]
        self.cleanups.append(lambda: self.sqs.delete_queue(QueueUrl=url))
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    def rule(self, name: str, bus_arn: str, pattern: Any, target_arn: str) -> None:
        bus = bus_arn.rsplit("/", 1)[1]
        rule = f"sgguard-check-{name}-{self.suffix}"
        self.events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern), State="ENABLED")
        self.events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "target", "Arn": target_arn}])
        self.cleanups.append(lambda: self.events.delete_rule(Name=rule, EventBusName=bus))
        self.cleanups.append(lambda: self.events.remove_targets(Rule=rule, EventBusName=bus, Ids=["target"]))

    def put(self, entries: list[dict[str, Any]]) -> None:
        for start in range(0, len(entries), 10):  # PutEvents takes at most 10 entries
            answer = self.events.put_events(Entries=entries[start : start + 10])
            assert answer.get("FailedEntryCount", 0) == 0, f"put_events failed: {answer.get('Entries')}"

    def drain(self, url: str, key: Callable[[dict[str, Any]], str], expected: int) -> dict[str, int]:
        """Counts the messages on a queue by key, until `expected` arrived and it is quiet."""
        received: dict[str, int] = {}
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            for message in messages:
                k = key(json.loads(message["Body"]))
                received[k] = received.get(k, 0) + 1
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if not messages and sum(received.values()) >= expected:
                break
        return received

    def close(self) -> None:
        for cleanup in reversed(self.cleanups):
            try:
                cleanup()
            except Exception:  # noqa: BLE001 - best effort
                pass


def delivered(name: str, received: dict[str, int], cases: dict[str, bool]) -> None:
    """One check: each case arrived exactly once or never, and nothing else arrived."""

    def verdict() -> str:
        wrong = [
            f"{k}: {received.get(k, 0)}x, expected {'1' if want else '0'}"
            for k, want in cases.items()
            if received.get(k, 0) != (1 if want else 0)
        ]
        unknown = sorted(set(received) - set(cases))
        assert not wrong and not unknown, "; ".join(wrong + [f"unexpected {unknown}"] if unknown else wrong)
        arrived = sum(1 for want in cases.values() if want)
        return f"{arrived} of {len(cases)} arrived, as they should"

    check(name, verdict)


def central_rule_cases() -> tuple[dict[str, bool], Callable[[str], list[dict[str, Any]]]]:
    """Events for the central pattern: event id -> whether it should arrive, and the
    PutEvents entries that send them to a given bus."""
    cases: dict[str, bool] = {}
    details: list[tuple[dict[str, Any], str]] = []
    for name in state["pattern"]["detail"]["eventName"]:
        cases[name] = True
        details.append((record(name, name), "aws.ec2"))
    others = [
        ("AuthorizeSecurityGroupIngress with errorCode", record("AuthorizeSecurityGroupIngress", "", "Client.InvalidPermission.Duplicate")),
        ("RunInstances (another EC2 call)", record("RunInstances", "")),
        ("PutBucketPolicy (another service)", record("PutBucketPolicy", "", source="s3.amazonaws.com")),
    ]
    for label, detail in others:
        detail["eventID"] = label
        cases[label] = False
        source = "aws.s3" if detail["eventSource"].startswith("s3") else "aws.ec2"
        details.append((detail, source))
    return cases, lambda bus: [cloudtrail_entry(d, bus, src) for d, src in details]


def moto_checks(endpoint: str) -> None:
    moto = Moto(endpoint)
    by_event_id = lambda body: body.get("detail", {}).get("eventID", "?")  # noqa: E731
    try:
        # The central rule: the whole family arrives, nothing else does.
        cases, entries = central_rule_cases()
        central: dict[str, Any] = {}

        def central_setup() -> str:
            central["bus"] = moto.bus("central")
            central["url"], queue_arn = moto.queue("central")
            moto.rule("central", central["bus"], state["pattern"], queue_arn)
            moto.put(entries(central["bus"].rsplit("/", 1)[1]))
            central["received"] = moto.drain(central["url"], by_event_id, sum(cases.values()))
            return f"{len(cases)} events put"

        if check("moto: central rule with an SQS target, put_events", central_setup):
            delivered("moto: the central rule receives the whole family, no failed call, no other call", central["received"], cases)

        # The forwarder: a member bus's rule sends to the central bus, whose rule matches.
        chain: dict[str, Any] = {}

        def forwarder_setup() -> str:
            member = moto.bus("member")
            hub = moto.bus("hub")
            chain["url"], queue_arn = moto.queue("hub")
            moto.rule("forward", member, resource_pattern("forwarder.yaml", "ForwardRule"), hub)
            moto.rule("hub", hub, state["pattern"], queue_arn)
            moto.put(entries(member.rsplit("/", 1)[1]))
            chain["received"] = moto.drain(chain["url"], by_event_id, sum(cases.values()))
            return "member bus -> central bus -> queue"

        if check("moto: forwarder rule to a central bus", forwarder_setup):
            delivered("moto: forwarded events reach the central rule exactly once, and only those", chain["received"], cases)

        # The outcome rule: only notable results, and any judged without a usable
        # allowlist, are passed on.
        alternatives = resource_pattern("template.yaml", "NotableOutcomeRule")["detail"]["responsePayload"]["$or"]
        notable = next(a["outcome"] for a in alternatives if "outcome" in a)
        assert set(notable) <= set(ALL_OUTCOMES), f"unknown outcomes in the rule: {set(notable) - set(ALL_OUTCOMES)}"
        outcome_cases = {o: o in notable for o in ALL_OUTCOMES}
        outcome_cases.update({f"{o}+allowlist_error": True for o in ("approved", "flagged")})
        outcomes: dict[str, Any] = {}

        def outcome_key(body: dict[str, Any]) -> str:
            payload = body["detail"]["responsePayload"]
            return payload["outcome"] + ("+allowlist_error" if "allowlist_error" in payload else "")

        def outcome_setup() -> str:
            bus = moto.bus("outcomes")
            outcomes["url"], queue_arn = moto.queue("outcomes")
            moto.rule("outcomes", bus, resource_pattern("template.yaml", "NotableOutcomeRule"), queue_arn)
            name = bus.rsplit("/", 1)[1]
            entries = []
            for case in outcome_cases:
                outcome, _, error = case.partition("+")
                entries.append(outcome_entry(outcome, f"event-{case}", name, "item bad-entry: unknown attribute" if error else None))
            moto.put(entries)
            outcomes["received"] = moto.drain(outcomes["url"], outcome_key, sum(outcome_cases.values()))
            return f"{len(outcome_cases)} invocation results put"

        if check("moto: outcome rule with an SQS target, put_events", outcome_setup):
            delivered(
                "moto: the outcome rule passes on exactly the notable outcomes and allowlist errors",
                outcomes["received"],
                outcome_cases,
            )

        check("moto: the retry queue redrives to the dead-letter queue after maxReceiveCount, and back", lambda: redrive(moto))
    finally:
        moto.close()


def invocation_record(event_id: str) -> dict[str, Any]:
    """What Lambda's OnFailure destination sends to the retry queue after the last attempt."""
    return {
        "version": "1.0",
        "timestamp": "2026-11-26T10:03:00.000Z",
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": "arn:aws:lambda:us-east-1:111122223333:function:sgguard:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.ec2",
            "account": "111122223333",
            "time": "2026-11-26T10:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": record("AuthorizeSecurityGroupIngress", event_id),
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "Retryable", "errorMessage": "audit store unavailable"},
    }


def redrive(moto: Moto) -> str:
    """The template's retry queue and dead-letter queue on moto's SQS: a message that fails
    every receive (the function reports it in batchItemFailures, so it is not deleted) is
    received exactly maxReceiveCount times, then moves to the dead-letter queue with its
    body unchanged; moved back (what `aws sqs start-message-move-task` does; moto has no
    move task, so receive, send, delete), it is received afresh."""
    resources = state["template.yaml"]["Resources"]
    policy = resources["RetryQueue"]["Properties"]["RedrivePolicy"]
    assert policy["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}, policy
    max_receives = int(policy["maxReceiveCount"])
    dlq_url, dlq_arn = moto.queue("dead-letters")
    retry_url, _ = moto.queue("retry")
    moto.sqs.set_queue_attributes(
        QueueUrl=retry_url,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives})},
    )
    body = json.dumps(invocation_record("redrive-check"))
    moto.sqs.send_message(QueueUrl=retry_url, MessageBody=body)

    def receive(url: str) -> list[dict[str, Any]]:
        # VisibilityTimeout 0: the failed message is visible again at once (the deployed
        # queue waits 15 minutes between attempts).
        return moto.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["ApproximateReceiveCount"]
        ).get("Messages", [])

    for attempt in range(1, max_receives + 1):
        messages = receive(retry_url)
        assert len(messages) == 1, f"receive {attempt} of {max_receives}: {len(messages)} messages on the retry queue"
        count = int(messages[0]["Attributes"]["ApproximateReceiveCount"])
        assert count == attempt, f"receive {attempt}: ApproximateReceiveCount {count}"
    assert not receive(retry_url), f"the message is still on the retry queue after {max_receives} receives"
    dead = receive(dlq_url)
    assert len(dead) == 1 and dead[0]["Body"] == body, f"the dead-letter queue holds {dead}"
    # Redrive: back to the retry queue, where the function reads it again.
    moto.sqs.send_message(QueueUrl=retry_url, MessageBody=dead[0]["Body"])
    moto.sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=dead[0]["ReceiptHandle"])
    again = receive(retry_url)
    assert len(again) == 1 and again[0]["Body"] == body, f"after the redrive the retry queue holds {again}"
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "1", again[0]["Attributes"]
    moto.sqs.delete_message(QueueUrl=retry_url, ReceiptHandle=again[0]["ReceiptHandle"])
    assert not receive(dlq_url), "the dead-letter queue is not empty after the redrive"
    return f"{max_receives} receives on the retry queue, then the dead-letter queue, then back"


# ------------------------------------------------------------ stack deploys

# Parameter sets deployed on the emulator, and what the resolved stack must hold.
STACKS: dict[str, dict[str, Any]] = {
    "defaults (audit)": {
        "parameters": {},
        "writes": set(),
        "mode": "audit",
        "member_role": "",
    },
    "enforce with every option": {
        "parameters": {
            "Mode": "enforce",
            "RevertEgress": "true",
            "MemberRoleName": "sgguard-member",
            "OrganizationId": "o-abcdefghij",
            "OutcomeDestinationArn": "arn:aws:events:us-east-1:123456789012:event-bus/ops",
            "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:ops",
            "SelfArns": "arn:aws:iam::123456789012:role/break-glass",
        },
        "writes": {
            "ec2:RevokeSecurityGroupIngress",
            "ec2:ModifySecurityGroupRules",
            "ec2:RevokeSecurityGroupEgress",
            "sts:AssumeRole",
            "events:PutEvents",
        },
        "mode": "enforce",
        "member_role": "sgguard-member",
    },
    "enforce, ingress only": {
        "parameters": {"Mode": "enforce"},
        "writes": {"ec2:RevokeSecurityGroupIngress", "ec2:ModifySecurityGroupRules"},
        "mode": "enforce",
        "member_role": "",
    },
}
# Actions that only some parameter sets may grant.
CONDITIONAL_ACTIONS = set().union(*(case["writes"] for case in STACKS.values()))


def deploy_checks(endpoint: str) -> None:
    import boto3

    kw = dict(
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )
    cf, iam, lam, ddb, s3, sqs, sns, events = (
        boto3.client(n, **kw) for n in ("cloudformation", "iam", "lambda", "dynamodb", "s3", "sqs", "sns", "events")
    )
    suffix = uuid.uuid4().hex[:8]
    bucket = "sgguard-check-bucket"  # the CodeUri translate() put in the template
    try:
        s3.create_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - exists from an earlier run
        pass
    s3.put_object(Bucket=bucket, Key="sgguard-lambda.zip", Body=b"PK\x05\x06" + b"\x00" * 18)  # an empty zip
    template = json.dumps(state["cfn"])
    for index, (label, case) in enumerate(STACKS.items()):
        name = f"sgguard-check-{index}-{suffix}"
        tables = {"AuditTableName": f"check-audit-{index}-{suffix}", "AllowlistTableName": f"check-allow-{index}-{suffix}"}
        parameters = {**case["parameters"], **tables}

        def deployed(name: str = name, parameters: dict[str, str] = parameters, case: dict[str, Any] = case) -> str:
            cf.create_stack(
                StackName=name,
                TemplateBody=template,
                Capabilities=["CAPABILITY_IAM"],
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            )
            stack = cf.describe_stacks(StackName=name)["Stacks"][0]
            assert stack["StackStatus"] == "CREATE_COMPLETE", f"{stack['StackStatus']}: {stack.get('StackStatusReason')}"
            outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
            resources = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in cf.list_stack_resources(StackName=name)["StackResourceSummaries"] if r["LogicalResourceId"]}
            document = iam.get_role_policy(RoleName=resources["FunctionRole"], PolicyName="sgguard")["PolicyDocument"]
            if isinstance(document, str):  # moto returns the document as a Python repr
                document = ast.literal_eval(document)
            granted: set[str] = set()
            for statement in document["Statement"]:
                if statement:  # a !If that resolved to AWS::NoValue
                    actions = statement["Action"]
                    granted.update([actions] if isinstance(actions, str) else actions)
            got = granted & CONDITIONAL_ACTIONS
            assert got == case["writes"], f"conditional actions {sorted(got)}, expected {sorted(case['writes'])}"
            env = lam.get_function_configuration(FunctionName=resources["GuardFunction"])["Environment"]["Variables"]
            assert env["SGGUARD_MODE"] == case["mode"], env
            assert env["SGGUARD_MEMBER_ROLE_NAME"] == case["member_role"], env
            self_arns = env["SGGUARD_SELF_ARNS"].split(",")
            assert self_arns[0] == outputs["RoleArn"], f"SGGUARD_SELF_ARNS {self_arns} does not start with the role {outputs['RoleArn']}"
            extra = case["parameters"].get("SelfArns")
            assert self_arns[1:] == ([extra] if extra else []), self_arns
            assert outputs["AuditTableName"] == tables["AuditTableName"], outputs
            # The retry queue: backoff by visibility timeout, redrive to the dead-letter queue.
            retry = sqs.get_queue_attributes(QueueUrl=outputs["RetryQueueUrl"], AttributeNames=["All"])["Attributes"]
            assert retry["QueueArn"] == outputs["RetryQueueArn"] and retry["QueueArn"].endswith(f":{name}-retry"), retry
            redrive = json.loads(retry["RedrivePolicy"])
            assert redrive["deadLetterTargetArn"] == outputs["DeadLetterQueueArn"], redrive
            assert int(redrive["maxReceiveCount"]) == 8 and int(retry["VisibilityTimeout"]) == 900, retry
            mappings = lam.list_event_source_mappings(FunctionName=resources["GuardFunction"])["EventSourceMappings"]
            assert [m["EventSourceArn"] for m in mappings] == [outputs["RetryQueueArn"]], mappings
            assert mappings[0].get("FunctionResponseTypes") == ["ReportBatchItemFailures"], mappings[0]
            # Alarms notify the given topic, or one the stack creates, encrypted.
            given = case["parameters"].get("AlarmTopicArn")
            if given:
                assert outputs["AlarmTopicArn"] == given and "AlarmTopic" not in resources, outputs
            else:
                assert outputs["AlarmTopicArn"] == resources["AlarmTopic"], outputs
                topic = sns.get_topic_attributes(TopicArn=outputs["AlarmTopicArn"])["Attributes"]
                assert topic.get("KmsMasterKeyId"), f"the alarm topic is not encrypted: {topic}"
            # Forwarded events arrive on the stack's own bus.
            bus = events.describe_event_bus(Name=f"{name}-forwarded")
            assert outputs["CentralEventBusArn"] == bus["Arn"], (outputs["CentralEventBusArn"], bus["Arn"])
            return f"{len(granted)} actions, {len(resources)} resources modelled"

        try:
            check(f"moto CloudFormation: the stack deploys, {label}", deployed)
        finally:
            for cleanup in (
                lambda: cf.delete_stack(StackName=name),
                *(
                    (lambda t=t: (ddb.update_table(TableName=t, DeletionProtectionEnabled=False), ddb.delete_table(TableName=t)))
                    for t in tables.values()
                ),
            ):
                try:
                    cleanup()
                except Exception:  # noqa: BLE001 - best effort
                    pass


# member-role.yaml: the EC2 write actions only when the central stack enforces.
MEMBER_STACKS: dict[str, dict[str, Any]] = {
    "CentralMode audit (default)": {"parameters": {}, "writes": set()},
    "CentralMode audit, RevertEgress true": {"parameters": {"RevertEgress": "true"}, "writes": set()},
    "CentralMode enforce": {
        "parameters": {"CentralMode": "enforce"},
        "writes": {"ec2:RevokeSecurityGroupIngress", "ec2:ModifySecurityGroupRules", "ec2:ModifyManagedPrefixList"},
    },
    "CentralMode enforce, RevertEgress true": {
        "parameters": {"CentralMode": "enforce", "RevertEgress": "true"},
        "writes": {
            "ec2:RevokeSecurityGroupIngress",
            "ec2:ModifySecurityGroupRules",
            "ec2:ModifyManagedPrefixList",
            "ec2:RevokeSecurityGroupEgress",
        },
    },
}
EC2_READS = {"ec2:DescribeSecurityGroupRules", "ec2:DescribeManagedPrefixLists", "ec2:GetManagedPrefixListEntries"}


def member_deploy_checks(endpoint: str) -> None:
    import boto3

    kw = dict(
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )
    cf, iam, sns = (boto3.client(n, **kw) for n in ("cloudformation", "iam", "sns"))
    suffix = uuid.uuid4().hex[:8]
    # As JSON (the decoded template): moto's YAML loader mistakes nested short-form tags.
    text = {name: json.dumps(state[name]) for name in ("member-role.yaml", "forwarder.yaml")}
    for index, (label, case) in enumerate(MEMBER_STACKS.items()):
        name = f"sgguard-check-member-{index}-{suffix}"
        role = f"sgguard-check-member-{index}-{suffix}"
        parameters = {"CentralRoleArn": "arn:aws:iam::123456789012:role/sgguard-FunctionRole-check", "RoleName": role, **case["parameters"]}

        def deployed(name: str = name, role: str = role, parameters: dict[str, str] = parameters, case: dict[str, Any] = case) -> str:
            cf.create_stack(
                StackName=name,
                TemplateBody=text["member-role.yaml"],
                Capabilities=["CAPABILITY_NAMED_IAM"],
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            )
            stack = cf.describe_stacks(StackName=name)["Stacks"][0]
            assert stack["StackStatus"] == "CREATE_COMPLETE", f"{stack['StackStatus']}: {stack.get('StackStatusReason')}"
            document = iam.get_role_policy(RoleName=role, PolicyName="sgguard-remediate")["PolicyDocument"]
            if isinstance(document, str):  # moto returns the document as a Python repr
                document = ast.literal_eval(document)
            granted: set[str] = set()
            for statement in document["Statement"]:
                if statement:  # a !If that resolved to AWS::NoValue
                    actions = statement["Action"]
                    granted.update([actions] if isinstance(actions, str) else actions)
            assert granted - EC2_READS == case["writes"], f"writes {sorted(granted - EC2_READS)}, expected {sorted(case['writes'])}"
            assert EC2_READS <= granted, f"reads missing: {sorted(EC2_READS - granted)}"
            return f"{len(granted)} actions"

        try:
            check(f"moto CloudFormation: member-role.yaml deploys, {label}", deployed)
        finally:
            try:
                cf.delete_stack(StackName=name)
            except Exception:  # noqa: BLE001 - best effort
                pass

    for index, (label, topic) in enumerate({"its own alarm topic": "", "a given alarm topic": "arn:aws:sns:us-east-1:123456789012:ops"}.items()):
        name = f"sgguard-check-forwarder-{index}-{suffix}"
        parameters = {"CentralEventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/sgguard-forwarded"}
        if topic:
            parameters["AlarmTopicArn"] = topic

        def forwarder(name: str = name, parameters: dict[str, str] = parameters, topic: str = topic) -> str:
            cf.create_stack(
                StackName=name,
                TemplateBody=text["forwarder.yaml"],
                Capabilities=["CAPABILITY_IAM"],
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            )
            stack = cf.describe_stacks(StackName=name)["Stacks"][0]
            assert stack["StackStatus"] == "CREATE_COMPLETE", f"{stack['StackStatus']}: {stack.get('StackStatusReason')}"
            outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
            if topic:
                assert outputs["AlarmTopicArn"] == topic, outputs
            else:
                attributes = sns.get_topic_attributes(TopicArn=outputs["AlarmTopicArn"])["Attributes"]
                assert attributes.get("KmsMasterKeyId"), f"the alarm topic is not encrypted: {attributes}"
            return f"alarms notify {outputs['AlarmTopicArn'].rsplit(':', 1)[1]}"

        try:
            check(f"moto CloudFormation: forwarder.yaml deploys with {label}", forwarder)
        finally:
            try:
                cf.delete_stack(StackName=name)
            except Exception:  # noqa: BLE001 - best effort
                pass


def main() -> int:
    for name in TEMPLATES:
        check(f"{name} parses", load(name))
    check("eventbridge-pattern.json parses", load_pattern)
    if "template.yaml" in state:
        check("cfn-lint on the SAM template", lambda: lint(TEMPLATES["template.yaml"].read_text(encoding="utf-8"), "template.yaml"))
        if check("SAM translator (offline) produces CloudFormation", translate):
            check("cfn-lint on the translated CloudFormation", lambda: lint(json.dumps(state["cfn"], indent=1), "translated JSON"))
    for name in ("forwarder.yaml", "member-role.yaml"):
        if name in state:
            check(f"cfn-lint on {name}", lambda name=name: lint(TEMPLATES[name].read_text(encoding="utf-8"), name))

    binary = checkov_binary()
    if binary:
        check("checkov over infra/", lambda: checkov(binary))
    else:
        skip_or_fail("checkov over infra/", "no checkov ($SGGUARD_CHECKOV or .venv-checkov/bin/checkov)")

    endpoint = os.environ.get("SGGUARD_TEST_AWS_ENDPOINT", "").strip()
    if not all(k in state for k in ("pattern", "template.yaml", "forwarder.yaml")):
        check("moto event-pattern tests", lambda: fail("a template did not load"))
    elif endpoint:
        moto_checks(endpoint)
        if "cfn" in state:
            deploy_checks(endpoint)
        if all(k in state for k in ("member-role.yaml", "forwarder.yaml")):
            member_deploy_checks(endpoint)
    else:
        skip_or_fail("moto event-pattern tests", "SGGUARD_TEST_AWS_ENDPOINT is not set")

    passed = sum(1 for _, ok in results if ok)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
