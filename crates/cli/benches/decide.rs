//! In-process decision throughput on a generated scale-20 cluster (≈ 93,000 objects) with the
//! review stream `gen-cluster` draws from it (allowed and denied mixed).
//!
//! The snapshot comes from `VIRTGUARD_BENCH_SNAPSHOT` (a directory) and the reviews from
//! `VIRTGUARD_BENCH_REVIEWS` (JSON lines); without them the bench generates both under
//! `target/bench-data` with `../shared/tools/gen-cluster`. Run: `cargo bench -p virtguard --bench decide`.

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::Value;
use virtguard_rbac::{Attributes, Policy, ResourceAttributes, User};
use virtguard_snapshot::{load, Input, LoadOptions};

struct Req {
    user: User,
    verb: String,
    ns: String,
    group: String,
    resource: String,
    sub: String,
    name: String,
}

fn data() -> (PathBuf, PathBuf) {
    if let (Ok(s), Ok(r)) = (
        std::env::var("VIRTGUARD_BENCH_SNAPSHOT"),
        std::env::var("VIRTGUARD_BENCH_REVIEWS"),
    ) {
        return (s.into(), r.into());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("target/bench-data");
    let snap = dir.join("scale20");
    let reviews = dir.join("reviews-200k.jsonl");
    if !reviews.exists() {
        let tool = root.join("../shared/tools/gen-cluster");
        let status = Command::new("python3")
            .arg(&tool)
            .args(["--out"])
            .arg(&snap)
            .args(["--scale", "20", "--emit-reviews"])
            .arg(&reviews)
            .args(["--reviews", "200000"])
            .status()
            .expect("run gen-cluster (needs ../shared/tools and python3)");
        assert!(status.success(), "gen-cluster failed");
    }
    (snap, reviews)
}

fn requests(path: &Path) -> Vec<Req> {
    let text = std::fs::read_to_string(path).expect("reviews");
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            let spec = v.get("spec")?;
            let ra = spec.get("resourceAttributes")?;
            let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            Some(Req {
                user: User::new(
                    s(spec, "user"),
                    spec.get("groups")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(String::from)
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
                verb: s(ra, "verb"),
                ns: s(ra, "namespace"),
                group: s(ra, "group"),
                resource: s(ra, "resource"),
                sub: s(ra, "subresource"),
                name: s(ra, "name"),
            })
        })
        .collect()
}

fn attrs(r: &Req) -> Attributes<'_> {
    Attributes::resource(
        &r.user,
        &r.verb,
        ResourceAttributes {
            namespace: &r.ns,
            api_group: &r.group,
            resource: &r.resource,
            subresource: &r.sub,
            name: &r.name,
        },
    )
}

fn bench(c: &mut Criterion) {
    let (snap, reviews) = data();
    let snapshot = load(&[Input::Path(snap)], &LoadOptions::default()).expect("snapshot");
    let policy: Policy = snapshot.policy();
    policy.build_index();
    let reqs = requests(&reviews);
    assert!(!reqs.is_empty());
    let allowed = reqs
        .iter()
        .filter(|r| policy.decide(&attrs(r)).allowed)
        .count();
    eprintln!("{} requests, {allowed} allowed", reqs.len());

    let mut g = c.benchmark_group("decide");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("scale20/one-decision", |b| {
        b.iter(|| {
            let r = &reqs[i % reqs.len()];
            i += 1;
            policy.decide(&attrs(r)).allowed
        })
    });
    g.finish();
    let mut g = c.benchmark_group("who-can");
    let nobody = User::default();
    let probe = Attributes::resource(
        &nobody,
        "create",
        ResourceAttributes {
            api_group: "kubevirt.io",
            resource: "virtualmachineinstancemigrations",
            ..Default::default()
        },
    );
    g.sample_size(20);
    g.bench_function("scale20/all-namespaces", |b| {
        b.iter(|| policy.who_can(&probe, true).len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
