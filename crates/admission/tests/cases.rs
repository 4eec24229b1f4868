//! Every case of `tests/data/admission/*.yaml`: a configuration, the cluster state (objects), and
//! reviews in order (the migration budget is stateful), each with the expected verdict, code,
//! message, field causes, warnings and audit annotations. Reviews go through the real decoder
//! (`parse_review`) and the response encoder.

use std::path::Path;

use serde_json::{json, Value};
use virtguard_admission::{parse_review, response, AdmissionConfig, Admitter, State};

fn review_json(i: usize, r: &Value) -> Value {
    let s = |k: &str, d: &str| r.get(k).and_then(Value::as_str).unwrap_or(d).to_string();
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": format!("uid-{i}"),
            "kind": {"group": s("group", "kubevirt.io"), "version": s("version", "v1"), "kind": s("kind", "")},
            "namespace": s("namespace", ""), "name": s("name", ""), "operation": s("operation", ""),
            "userInfo": {"username": s("user", "admin"), "groups": r.get("groups").cloned().unwrap_or(json!([]))},
            "object": r.get("object").cloned().unwrap_or(Value::Null),
            "oldObject": r.get("oldObject").cloned().unwrap_or(Value::Null),
            "dryRun": r.get("dryRun").cloned().unwrap_or(json!(false)),
        }
    })
}

fn run_file(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).expect("read case file");
    let doc: Value = serde_yaml_ng::from_str(&text).expect("case file is YAML");
    let name = path.display().to_string();
    let config_text = serde_yaml_ng::to_string(&doc["config"]).expect("config");
    let config = AdmissionConfig::parse(&name, &config_text).expect("config is valid");
    let state_doc = json!({"apiVersion": "v1", "kind": "List", "items": doc["state"].clone()});
    let snap = virtguard_snapshot::from_texts(
        vec![(
            name.as_str().into(),
            state_doc.to_string(),
            virtguard_snapshot::Format::Json,
        )],
        &Default::default(),
    )
    .expect("state loads");
    let admitter = Admitter::new(config, State::from_objects(&snap.objects));
    let reviews = doc["reviews"].as_array().expect("reviews");
    for (i, case) in reviews.iter().enumerate() {
        let what = format!("{name}: {}", case["name"].as_str().unwrap_or("?"));
        let body = review_json(i, &case["request"]).to_string();
        let req = parse_review(body.as_bytes()).unwrap_or_else(|e| panic!("{what}: {e}"));
        let verdict = admitter.review(&req);
        let out = response(&req.uid, &verdict);
        let resp = &out["response"];
        assert_eq!(resp["uid"], format!("uid-{i}"), "{what}");
        assert_eq!(resp["allowed"], case["allowed"], "{what}: {resp}");
        if let Some(code) = case.get("code") {
            assert_eq!(&resp["status"]["code"], code, "{what}: {resp}");
        }
        if let Some(m) = case.get("message") {
            assert_eq!(&resp["status"]["message"], m, "{what}");
        }
        if let Some(m) = case.get("messageContains").and_then(Value::as_str) {
            let got = resp["status"]["message"].as_str().unwrap_or("");
            assert!(got.contains(m), "{what}: {got}");
        }
        if let Some(causes) = case.get("causes").and_then(Value::as_array) {
            let got = resp["status"]["details"]["causes"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert_eq!(got.len(), causes.len(), "{what}: {resp}");
            for (g, want) in got.iter().zip(causes) {
                assert_eq!(g["type"], want["type"], "{what}");
                assert_eq!(g["field"], want["field"], "{what}");
            }
        }
        let warnings = resp.get("warnings").cloned().unwrap_or(json!([]));
        assert_eq!(
            warnings,
            case.get("warnings").cloned().unwrap_or(json!([])),
            "{what}"
        );
        let ann = resp.get("auditAnnotations").cloned().unwrap_or(json!({}));
        assert_eq!(
            ann,
            case.get("auditAnnotations").cloned().unwrap_or(json!({})),
            "{what}"
        );
        if case["allowed"] == true {
            assert!(resp.get("status").is_none(), "{what}");
        }
    }
    reviews.len()
}

#[test]
fn every_case_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/admission");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("case dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let n: usize = files.iter().map(|f| run_file(f)).sum();
    assert!(
        files.len() >= 4 && n >= 30,
        "{} files, {n} reviews",
        files.len()
    );
}
