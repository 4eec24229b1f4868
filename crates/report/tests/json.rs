//! The JSON report and its summary.

mod common;

use common::Fixture;
use serde_json::json;
use virtguard_report::{summary, to_json};

#[test]
fn summary_counts() {
    let fx = Fixture::standard();
    let s = summary(&fx.report());
    assert_eq!(s["total"], 6);
    assert_eq!(
        s["bySeverity"],
        json!({"critical": 1, "high": 1, "medium": 2, "low": 1, "info": 1})
    );
    assert_eq!(
        s["byCategory"],
        json!({"rbac": 2, "kubevirt-config": 1, "workloads": 2, "nodes": 1})
    );
    assert_eq!(s["suppressed"], 1);
}

#[test]
fn clean_summary_lists_all_severities() {
    let fx = Fixture::clean();
    let s = summary(&fx.report());
    assert_eq!(s["total"], 0);
    assert_eq!(
        s["bySeverity"],
        json!({"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0})
    );
    assert_eq!(s["byCategory"], json!({"rbac": 0, "nodes": 0}));
    assert_eq!(s["suppressed"], 0);
}

#[test]
fn json_report_shape() {
    let fx = Fixture::standard();
    let v = to_json(&fx.report());
    let findings = v["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 6);
    assert_eq!(findings[0]["id"], "VG105");
    assert_eq!(findings[0]["severity"], "critical");
    assert_eq!(findings[0]["category"], "rbac");
    assert_eq!(findings[0]["objects"][0]["file"], "manifests/rbac.yaml");
    assert_eq!(findings[0]["objects"][0]["line"], 12);
    let sup = v["suppressed"].as_array().expect("suppressed");
    assert_eq!(sup.len(), 1);
    assert_eq!(sup[0]["finding"]["id"], "VG101");
    assert_eq!(sup[0]["reason"], "accepted by <ops> & \"platform\" team");
    assert_eq!(sup[0]["expires"], "2030-01-01");
    assert_eq!(v["summary"], summary(&fx.report()));
}
