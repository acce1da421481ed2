//! How long the pure engine takes: normalize + decide for a typical event and a large one,
//! and splitting + classifying a CloudTrail log file where most records are unrelated.

#![expect(
    clippy::unwrap_used,
    reason = "a benchmark whose setup fails is a broken benchmark"
)]

use std::hint::black_box;

use chrono::{DateTime, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use sgguard_core::allowlist::from_toml;
use sgguard_core::event::RecordClass;
use sgguard_core::{Allowlist, Context, Policy, classify_record, decide, input, normalize};

const ALLOWLIST: &str = r#"
[[allow]]
id = "office-ssh"
owner = "netops@example.com"
reason = "NET-123 office SSH"
expires = "2030-01-31T00:00:00Z"
protocol = "tcp"
ports = "22"
cidrs = ["203.0.113.0/24", "2001:db8::/32"]

[[allow]]
id = "terraform-public-https"
owner = "platform@example.com"
reason = "PLAT-77 public load balancers managed by Terraform"
protocol = "tcp"
ports = "443"
groups = ["sg-0fedcba9876543210"]
principals = ["arn:aws:iam::*:role/terraform-*"]

[[allow]]
id = "vpn-prefix-list-https"
owner = "netops@example.com"
reason = "NET-140 corporate VPN"
protocol = "tcp"
ports = "443"
prefix_lists = ["pl-0a1b2c3d4e5f60718"]
"#;

fn identity() -> Value {
    json!({
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLE:dave",
        "arn": "arn:aws:sts::111122223333:assumed-role/NetworkAdmin/dave",
        "accountId": "111122223333",
        "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE",
                              "arn": "arn:aws:iam::111122223333:role/NetworkAdmin",
                              "accountId": "111122223333", "userName": "NetworkAdmin"},
            "webIdFederationData": {},
            "attributes": {"creationDate": "2026-11-20T13:20:19Z", "mfaAuthenticated": "true"}
        }
    })
}

fn head(event_name: &str, event_id: usize) -> Value {
    json!({
        "eventVersion": "1.11",
        "userIdentity": identity(),
        "eventTime": "2026-11-20T13:41:03Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": event_name,
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.61",
        "userAgent": "aws-cli/2.22.35 md/awscrt#0.23.8 ua/2.0 os/linux#6.8.0-49-generic",
        "requestID": format!("95814675-5260-4ba9-9362-{event_id:012}"),
        "eventID": format!("dde5a881-1aaf-4366-8999-{event_id:012}"),
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": "ec2.eu-west-1.amazonaws.com"}
    })
}

/// An AuthorizeSecurityGroupIngress with `permissions` × `sources` rules, in the modern
/// form with its `securityGroupRuleSet`.
fn authorize(permissions: usize, sources: usize, event_id: usize) -> Value {
    let mut record = head("AuthorizeSecurityGroupIngress", event_id);
    let mut items = Vec::new();
    let mut rule_set = Vec::new();
    for p in 0..permissions {
        let port = [22, 443, 3389, 5432, 8080][p % 5] + p / 5;
        let cidrs: Vec<String> = (0..sources)
            .map(|s| {
                if p == 0 && s == 0 {
                    "0.0.0.0/0".into()
                } else {
                    format!("198.51.{}.{}/32", p % 256, s % 256)
                }
            })
            .collect();
        items.push(json!({
            "ipProtocol": "tcp", "fromPort": port, "toPort": port,
            "groups": {}, "ipv6Ranges": {}, "prefixListIds": {},
            "ipRanges": {"items": cidrs.iter().map(|c| json!({"cidrIp": c, "description": "bench"})).collect::<Vec<_>>()}
        }));
        for (s, cidr) in cidrs.iter().enumerate() {
            rule_set.push(json!({
                "groupOwnerId": "111122223333", "groupId": "sg-0a1b2c3d4e5f60718",
                "securityGroupRuleId": format!("sgr-{:017x}", p * 1000 + s),
                "isEgress": false, "ipProtocol": "tcp", "fromPort": port, "toPort": port,
                "cidrIpv4": cidr, "description": "bench"
            }));
        }
    }
    record["requestParameters"] =
        json!({"groupId": "sg-0a1b2c3d4e5f60718", "ipPermissions": {"items": items}});
    record["responseElements"] = json!({
        "requestId": "95814675-5260-4ba9-9362-3b53b93e295f", "_return": true,
        "securityGroupRuleSet": {"items": rule_set}
    });
    record
}

/// An unrelated record of the kinds that fill a CloudTrail log file.
fn unrelated(i: usize) -> Value {
    match i % 4 {
        0 => {
            let mut r = head("DescribeInstances", i);
            r["requestParameters"] = json!({"instancesSet": {}, "filterSet": {"items": [
                {"name": "tag:Name", "valueSet": {"items": [{"value": "web-*"}]}}]}});
            r["responseElements"] = Value::Null;
            r["readOnly"] = json!(true);
            r
        }
        1 => {
            let mut r = head("GetObject", i);
            r["eventSource"] = json!("s3.amazonaws.com");
            r["eventCategory"] = json!("Data");
            r["requestParameters"] = json!({"bucketName": "logs-111122223333", "Host": "logs.s3.eu-west-1.amazonaws.com",
                                            "key": format!("AWSLogs/111122223333/{i}.json.gz")});
            r["resources"] =
                json!([{"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::logs/{i}")}]);
            r
        }
        2 => {
            let mut r = head("AssumeRole", i);
            r["eventSource"] = json!("sts.amazonaws.com");
            r["requestParameters"] = json!({"roleArn": "arn:aws:iam::111122223333:role/NetworkAdmin",
                                            "roleSessionName": "dave", "durationSeconds": 3600});
            r["responseElements"] = json!({"credentials": {"accessKeyId": "ASIAEXAMPLE",
                "sessionToken": "x".repeat(400), "expiration": "Nov 20, 2026, 2:41:03 PM"}});
            r
        }
        _ => {
            let mut r = head("RunInstances", i);
            r["requestParameters"] = json!({"instancesSet": {"items": [{"imageId": "ami-0abc", "minCount": 1, "maxCount": 1}]},
                                            "instanceType": "t3.micro", "groupSet": {"items": [{"groupId": "sg-0a1b"}]}});
            r["responseElements"] =
                json!({"instancesSet": {"items": [{"instanceId": format!("i-{i:017x}")}]}});
            r
        }
    }
}

/// A log file of `total` records where one in twenty is a security-group call.
fn log_file(total: usize) -> Value {
    let records: Vec<Value> = (0..total)
        .map(|i| {
            if i % 20 == 0 {
                authorize(1, 1, i)
            } else {
                unrelated(i)
            }
        })
        .collect();
    json!({"Records": records})
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T14:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn bench_decide(c: &mut Criterion) {
    let allowlist = Allowlist::new(from_toml(ALLOWLIST, "bench.toml").unwrap());
    let policy = Policy::default();

    let mut group = c.benchmark_group("normalize_decide");
    for (name, record) in [
        ("single_rule", authorize(1, 1, 1)),
        ("fifty_rules", authorize(10, 5, 2)),
    ] {
        let rules = normalize(&record).unwrap().changes.len();
        assert_eq!(rules, if name == "single_rule" { 1 } else { 50 });
        group.throughput(Throughput::Elements(1));
        group.bench_function(name, |b| {
            b.iter(|| {
                let set = normalize(black_box(&record)).unwrap();
                black_box(decide(&set, &Context::offline(&allowlist, now()), &policy))
            });
        });
        let text = serde_json::to_string(
            &json!({"detail": record, "detail-type": "AWS API Call via CloudTrail"}),
        )
        .unwrap();
        group.bench_function(format!("{name}_from_text"), |b| {
            b.iter(|| {
                let document: Value = serde_json::from_str(black_box(&text)).unwrap();
                let records = input::records(document).unwrap();
                let set = normalize(&records[0]).unwrap();
                black_box(decide(&set, &Context::offline(&allowlist, now()), &policy))
            });
        });
    }
    group.finish();

    let file = log_file(1000);
    let text = serde_json::to_string(&file).unwrap();
    let mut group = c.benchmark_group("log_file_1000_records");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("records_and_classify", |b| {
        b.iter_batched(
            || file.clone(),
            |document| {
                let records = input::records(document).unwrap();
                let calls = records
                    .iter()
                    .filter(|r| matches!(classify_record(r), RecordClass::SecurityGroupCall { .. }))
                    .count();
                assert_eq!(calls, 50);
                records
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("parse_records_classify_and_decide", |b| {
        b.iter(|| {
            let document: Value = serde_json::from_str(black_box(&text)).unwrap();
            let mut outcomes = 0;
            for record in input::records(document).unwrap() {
                if let RecordClass::SecurityGroupCall { .. } = classify_record(&record) {
                    let set = normalize(&record).unwrap();
                    black_box(decide(&set, &Context::offline(&allowlist, now()), &policy));
                    outcomes += 1;
                }
            }
            assert_eq!(outcomes, 50);
        });
    });
    group.finish();
    eprintln!("log file: {} bytes of JSON", text.len());
}

criterion_group!(benches, bench_decide);
criterion_main!(benches);
