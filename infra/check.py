#!/usr/bin/env python3
"""Offline checks of infra/template.yaml (run with the project venv's python).

1. The template parses (CloudFormation short-form tags included).
2. cfn-lint passes on the raw SAM template, the SAM translator turns it into plain
   CloudFormation offline, and cfn-lint passes on that too (errors fail, warnings print).
3. The function is wired as the Lambda expects (environment, own role ARN, DLQ, retries)
   and its role grants every AWS call the Lambda makes.
4. The template's EventBridge pattern equals infra/eventbridge-pattern.json.
5. Against a local AWS (moto) at $SGGUARD_TEST_AWS_ENDPOINT: a rule with the pattern and
   an SQS target receives exactly the events it should. Skipped with a notice when the
   variable is unset, except under CI (env CI set), where that is a failure.

The last line printed is `N passed, M failed`; the exit code is non-zero on any failure.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "template.yaml"
PATTERN = HERE / "eventbridge-pattern.json"
LINT_REGIONS = ["us-east-1", "eu-west-1"]

# Every environment variable the Lambda reads (crates/sgguard-lambda/src/config.rs).
LAMBDA_ENV = {
    "SGGUARD_AUDIT_TABLE",
    "SGGUARD_ALLOWLIST_TABLE",
    "SGGUARD_MODE",
    "SGGUARD_MIN_RISK",
    "SGGUARD_REVERT_EGRESS",
    "SGGUARD_ALLOWLIST_CACHE_SECS",
    "SGGUARD_RETENTION_DAYS",
    "SGGUARD_SELF_ARNS",
}

# Every AWS call the Lambda makes, as IAM actions (crates/sgguard-aws/src/{audit,allowlist,ec2}.rs;
# TransactWriteItems is authorized per item as PutItem / UpdateItem).
LAMBDA_ACTIONS = {
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "ec2:DescribeSecurityGroupRules",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupEgress",
    "ec2:ModifySecurityGroupRules",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "sqs:SendMessage",
}

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


def plain(value: Any) -> Any:
    """cfn-lint's decoded nodes as plain dicts, lists and strings."""
    return json.loads(json.dumps(value))


# ------------------------------------------------------------------ loading

state: dict[str, Any] = {}


def load_template() -> str:
    from cfnlint.decode import decode_str

    template, errors = decode_str(TEMPLATE.read_text(encoding="utf-8"))
    assert not errors, "; ".join(str(e) for e in errors)
    assert isinstance(template, dict), "the template is not a mapping"
    state["template"] = plain(template)
    resources = state["template"].get("Resources", {})
    return f"{len(resources)} resources"


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

    sam = copy.deepcopy(state["template"])
    # `sam deploy` uploads the local CodeUri and puts its S3 location here; do the same.
    for resource in sam.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            code = resource.get("Properties", {}).get("CodeUri")
            assert isinstance(code, str) and not code.startswith("s3://"), f"CodeUri should be the local build dir, is {code!r}"
            resource["Properties"]["CodeUri"] = "s3://sgguard-check-bucket/sgguard-lambda.zip"
    cfn = transform(sam, {}, NoManagedPolicies())
    assert "Transform" not in cfn, "the translated template still has a Transform"
    state["cfn"] = cfn
    types = sorted({r["Type"] for r in cfn["Resources"].values()})
    return ", ".join(types)


# ---------------------------------------------------------------- structure


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template.get("Resources", {}).items() if v.get("Type") == kind}


def check_function() -> str:
    template = state["template"]
    functions = resources_of(template, "AWS::Serverless::Function")
    assert len(functions) == 1, f"expected one function, found {sorted(functions)}"
    props = next(iter(functions.values()))["Properties"]
    assert props.get("Runtime") == "provided.al2023", props.get("Runtime")
    assert props.get("Handler") == "bootstrap", props.get("Handler")
    assert props.get("MemorySize") == 256 and props.get("Timeout") == 60
    assert props.get("LoggingConfig", {}).get("LogFormat") == "JSON"
    env = props.get("Environment", {}).get("Variables", {})
    assert set(env) == LAMBDA_ENV, f"environment differs: missing {sorted(LAMBDA_ENV - set(env))}, extra {sorted(set(env) - LAMBDA_ENV)}"
    roles = resources_of(template, "AWS::IAM::Role")
    self_arn = env["SGGUARD_SELF_ARNS"]
    getatt = self_arn.get("Fn::GetAtt") if isinstance(self_arn, dict) else None
    if isinstance(getatt, str):
        getatt = getatt.split(".", 1)
    assert getatt and getatt[0] in roles and getatt[1] == "Arn", f"SGGUARD_SELF_ARNS must be !GetAtt <role>.Arn, is {self_arn}"
    role = props.get("Role", {}).get("Fn::GetAtt")
    if isinstance(role, str):
        role = role.split(".", 1)
    assert role == getatt, f"the function's Role ({role}) is not the role in SGGUARD_SELF_ARNS ({getatt})"
    retention = env["SGGUARD_RETENTION_DAYS"]
    assert isinstance(retention, dict) and "Fn::If" in retention and "" in retention["Fn::If"], "SGGUARD_RETENTION_DAYS must be empty when RetentionDays is 0"
    dlq = props.get("DeadLetterQueue", {})
    assert dlq.get("Type") == "SQS", f"DeadLetterQueue: {dlq}"
    assert props.get("EventInvokeConfig", {}).get("MaximumRetryAttempts") == 2
    return f"role {getatt[0]}"


def check_iam() -> str:
    """The role (in enforce mode, where every statement is present) grants every call."""
    roles = resources_of(state["template"], "AWS::IAM::Role")
    granted: set[str] = set()
    for role in roles.values():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                if isinstance(statement, dict) and "Fn::If" in statement:
                    statement = statement["Fn::If"][1]
                if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
                    continue
                actions = statement["Action"]
                granted.update([actions] if isinstance(actions, str) else actions)
    assert not any("*" in a for a in granted), f"wildcard actions: {sorted(a for a in granted if '*' in a)}"
    missing = LAMBDA_ACTIONS - granted
    extra = granted - LAMBDA_ACTIONS
    assert not missing, f"the role lacks {sorted(missing)}"
    assert not extra, f"the role grants more than the Lambda uses: {sorted(extra)}"
    return f"{len(granted)} actions"


def template_pattern() -> Any:
    rules = resources_of(state["template"], "AWS::Events::Rule")
    patterns = [r["Properties"]["EventPattern"] for r in rules.values()]
    # A pattern given as the function's EventBridgeRule event counts too.
    for fn in resources_of(state["template"], "AWS::Serverless::Function").values():
        for event in fn["Properties"].get("Events", {}).values():
            if event.get("Type") == "EventBridgeRule":
                patterns.append(event["Properties"]["Pattern"])
    assert len(patterns) == 1, f"expected one event pattern, found {len(patterns)}"
    pattern = patterns[0]
    return json.loads(pattern) if isinstance(pattern, str) else pattern


def check_pattern() -> str:
    ours = template_pattern()
    assert ours == state["pattern"], f"template pattern {json.dumps(ours)} != eventbridge-pattern.json {json.dumps(state['pattern'])}"
    assert state["pattern"]["detail"].get("errorCode") == [{"exists": False}], "failed calls must be filtered"
    return "identical"


# --------------------------------------------------------------------- moto


def record(event_name: str, event_id: str, error_code: str | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/check", "accountId": "111122223333"},
        "eventTime": "2026-11-26T10:00:00Z",
        "eventSource": "ec2.amazonaws.com",
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


def moto_checks(endpoint: str) -> None:
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        region_name="us-east-1",
    )
    events = session.client("events", endpoint_url=endpoint)
    sqs = session.client("sqs", endpoint_url=endpoint)
    suffix = uuid.uuid4().hex[:12]
    bus, rule, queue = f"sgguard-check-{suffix}", f"sgguard-check-{suffix}", f"sgguard-check-{suffix}"
    queue_url = None
    cases = {
        f"authorize-{suffix}": ("AuthorizeSecurityGroupIngress", None, True),
        f"authorize-failed-{suffix}": ("AuthorizeSecurityGroupIngress", "Client.InvalidPermission.Duplicate", False),
        f"run-instances-{suffix}": ("RunInstances", None, False),
        f"modify-{suffix}": ("ModifySecurityGroupRules", None, True),
    }
    received: dict[str, int] = {}
    try:
        def setup() -> str:
            nonlocal queue_url
            queue_url = sqs.create_queue(QueueName=queue)["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            events.create_event_bus(Name=bus)
            events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(state["pattern"]), State="ENABLED")
            events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}])
            entries = [
                {
                    "Source": "aws.ec2",
                    "DetailType": "AWS API Call via CloudTrail",
                    "Detail": json.dumps(record(name, event_id, error)),
                    "EventBusName": bus,
                }
                for event_id, (name, error, _) in cases.items()
            ]
            answer = events.put_events(Entries=entries)
            assert answer.get("FailedEntryCount", 0) == 0, f"put_events failed: {answer.get('Entries')}"
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
                for message in messages:
                    body = json.loads(message["Body"])
                    event_id = body.get("detail", {}).get("eventID", "?")
                    received[event_id] = received.get(event_id, 0) + 1
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                if sum(1 for c in cases.values() if c[2]) <= sum(received.values()) and not messages:
                    break
            return f"bus {bus}, {sum(received.values())} delivered"

        if not check("moto: rule, SQS target and put_events", setup):
            for event_id in cases:
                results.append((f"moto: {event_id}", False))
            return
        for event_id, (name, error, expected) in cases.items():
            label = f"{name}{' with errorCode' if error else ''}"

            def verdict(event_id: str = event_id, expected: bool = expected) -> str:
                got = received.get(event_id, 0)
                assert got == (1 if expected else 0), f"delivered {got} time(s), expected {'once' if expected else 'never'}"
                return "delivered" if expected else "filtered out"

            check(f"moto: {label} {'arrives' if expected else 'does not arrive'}", verdict)
        unknown = set(received) - set(cases)
        check("moto: nothing else arrives", lambda: fail(f"unexpected {sorted(unknown)}") if unknown else "none")
    finally:
        for cleanup in (
            lambda: events.remove_targets(Rule=rule, EventBusName=bus, Ids=["queue"]),
            lambda: events.delete_rule(Name=rule, EventBusName=bus),
            lambda: events.delete_event_bus(Name=bus),
            lambda: sqs.delete_queue(QueueUrl=queue_url) if queue_url else None,
        ):
            try:
                cleanup()
            except Exception:  # noqa: BLE001 - best effort
                pass


def main() -> int:
    loaded = check("template.yaml parses", load_template)
    check("eventbridge-pattern.json parses", load_pattern)
    if loaded:
        check("cfn-lint on the SAM template", lambda: lint(TEMPLATE.read_text(encoding="utf-8"), "template.yaml"))
        if check("SAM translator (offline) produces CloudFormation", translate):
            check("cfn-lint on the translated CloudFormation", lambda: lint(json.dumps(state["cfn"], indent=1), "translated JSON"))
        check("function wiring (runtime, env, own role ARN, DLQ, retries)", check_function)
        check("execution role grants exactly the Lambda's calls", check_iam)
        if "pattern" in state:
            check("template pattern equals eventbridge-pattern.json", check_pattern)

    endpoint = os.environ.get("SGGUARD_TEST_AWS_ENDPOINT", "").strip()
    if endpoint and "pattern" in state:
        moto_checks(endpoint)
    elif os.environ.get("CI"):
        check("moto pattern test", lambda: fail("SGGUARD_TEST_AWS_ENDPOINT is not set, and CI is"))
    else:
        print("skip moto pattern test: SGGUARD_TEST_AWS_ENDPOINT is not set")

    passed = sum(1 for _, ok in results if ok)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
