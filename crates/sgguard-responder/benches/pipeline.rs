//! The whole offline pipeline per event: classify, normalize, decide, record in SQLite.
//! This is what bounds `sgguard replay` throughput on a backfill.
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark whose setup fails is a broken benchmark"
)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use sgguard_core::Policy;
use sgguard_core::testing::Authorize;
use sgguard_local::SqliteStore;
use sgguard_responder::ReportOnlyRemediator;
use sgguard_responder::{Responder, StaticAllowlist};

/// A one-rule AuthorizeSecurityGroupIngress: tcp 22 from the world.
fn event(n: usize) -> Value {
    Authorize::new(&format!("bench-{n}"), "sg-0a1b2c3d4e5f60718")
        .tcp(&format!("sgr-{n:017x}"), 22, "0.0.0.0/0")
        .build()
}

fn pipeline(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("bench.db")).unwrap();
    let responder = Responder::new(
        &store,
        StaticAllowlist::default(),
        ReportOnlyRemediator,
        Policy::default(),
    );
    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Elements(1));
    let mut n = 0;
    group.bench_function("new event into an on-disk store", |b| {
        b.iter_batched(
            || {
                n += 1;
                event(n)
            },
            |record| runtime.block_on(responder.handle(&record, None)).unwrap(),
            BatchSize::SmallInput,
        );
    });
    let seen = event(0);
    runtime.block_on(responder.handle(&seen, None)).unwrap();
    group.bench_function("duplicate delivery", |b| {
        b.iter(|| runtime.block_on(responder.handle(&seen, None)).unwrap());
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
