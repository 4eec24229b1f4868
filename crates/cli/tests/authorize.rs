//! `virtguard serve --authorize` end to end with curl over mTLS: SubjectAccessReviews (v1 and
//! v1beta1) in, Cedar decisions out (forbid → denied with the policy, permit → allowed, nothing
//! → no opinion, a policy that errors → evaluationError); refused callers and bodies; the
//! policies reloaded on change (a broken file keeps the last good set and is counted in
//! /metrics, a deleted file drops its policies); no snapshot needed; combined with --api.
//! `virtguard authz-config`: the AuthorizationConfiguration and the webhook kubeconfig.
//! Policy files are in `tests/data/authorize/`. Skipped without curl.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use serde_json::{json, Value};

fn data() -> PathBuf {
    repo().join("tests/data/authorize")
}

fn sar(version: &str, spec: Value) -> String {
    json!({"apiVersion": format!("authorization.k8s.io/{version}"), "kind": "SubjectAccessReview", "spec": spec})
        .to_string()
}

fn vnc(user: &str, groups: &[&str], ns: &str) -> String {
    sar(
        "v1",
        json!({"user": user, "groups": groups, "resourceAttributes": {
            "verb": "get", "group": "subresources.kubevirt.io", "version": "v1",
            "resource": "virtualmachineinstances", "subresource": "vnc", "namespace": ns, "name": "vm1"}}),
    )
}

fn vmi(user: &str, groups: &[&str], verb: &str) -> String {
    sar(
        "v1",
        json!({"user": user, "groups": groups, "resourceAttributes": {
            "verb": verb, "group": "kubevirt.io", "version": "v1",
            "resource": "virtualmachineinstances", "namespace": "prod", "name": "vm1"}}),
    )
}

type Client = (PathBuf, PathBuf);

/// Posts a body to /authorize; returns (HTTP code, parsed JSON or Null).
fn post(s: &Server, ca: &Path, client: Option<&Client>, body: &str) -> (u16, Value) {
    let (code, text) = curl(
        s,
        ca,
        client,
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
        ],
        "/authorize",
    );
    (code, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn metrics(s: &Server, ca: &Path, client: &Client) -> String {
    let (code, text) = curl(s, ca, Some(client), &[], "/metrics");
    assert_eq!(code, 200, "{text}");
    text
}

/// Polls until `f` holds (reloads are debounced), at most 15 s.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(15) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn policies_dir(dir: &Path) -> PathBuf {
    let p = dir.join("policies");
    copy_dir(&data().join("policies"), &p);
    p
}

fn client_of(pki: &Path, s: &Server, dir: &Path) -> Client {
    let kc = dir.join("apiserver.kubeconfig");
    kubeconfig(pki, s, "kube-apiserver", &[], &[], &kc);
    decode_kubeconfig(&kc, dir, "apiserver")
}

fn start_authorize(dir: &Path, policies: &Path, pki: &Path, extra: &[&std::ffi::OsStr]) -> Server {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "--authorize".as_ref(),
        "--policies".as_ref(),
        policies.as_os_str(),
        "--pki-dir".as_ref(),
        pki.as_os_str(),
    ];
    args.extend_from_slice(extra);
    start_serve(dir, &args)
}

#[test]
fn authorize_webhook_over_mtls_without_a_snapshot() {
    if !have("curl", "--version") {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let policies = policies_dir(tmp.path());
    let pki = tmp.path().join("pki");
    // No -f, no --kubeconfig: the policy files decide alone.
    let s = start_authorize(tmp.path(), &policies, &pki, &[]);
    let client = client_of(&pki, &s, tmp.path());
    let ca = pki.join("ca.crt");

    // forbid → denied, naming the policy and where it is.
    let (code, v) = post(
        &s,
        &ca,
        Some(&client),
        &vnc("dora", &["developers"], "prod"),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["apiVersion"], "authorization.k8s.io/v1");
    assert_eq!(v["kind"], "SubjectAccessReview");
    assert_eq!(v["status"]["allowed"], false, "{v}");
    assert_eq!(v["status"]["denied"], true, "{v}");
    let reason = v["status"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("vnc-sre-only ("), "{reason}");
    assert!(reason.contains("vnc.cedar:2)"), "{reason}");

    // permit → allowed.
    let (_, v) = post(&s, &ca, Some(&client), &vmi("sam", &["sre"], "get"));
    assert_eq!(v["status"]["allowed"], true, "{v}");
    assert!(v["status"].get("denied").is_none(), "{v}");
    assert!(v["status"]["reason"]
        .as_str()
        .is_some_and(|r| r.contains("sre-read-vmis")));

    // No policy matches → no opinion (RBAC decides next in kube-apiserver).
    let (_, v) = post(&s, &ca, Some(&client), &vnc("dora", &["developers"], "dev"));
    assert_eq!(v["status"], json!({"allowed": false}), "{v}");
    // system:masters: no opinion unless a policy matches (kube-apiserver allows them first).
    let (_, v) = post(
        &s,
        &ca,
        Some(&client),
        &vmi("root", &["system:masters"], "delete"),
    );
    assert_eq!(v["status"], json!({"allowed": false}), "{v}");

    // v1beta1 names the groups `group`.
    let beta = sar(
        "v1beta1",
        json!({"user": "sam", "group": ["sre"], "resourceAttributes": {
            "verb": "list", "group": "kubevirt.io", "resource": "virtualmachineinstances"}}),
    );
    let (_, v) = post(&s, &ca, Some(&client), &beta);
    assert_eq!(v["apiVersion"], "authorization.k8s.io/v1beta1", "{v}");
    assert_eq!(v["status"]["allowed"], true, "{v}");

    // A policy that errors is skipped and reported.
    let probe = sar(
        "v1",
        json!({"user": "vic", "resourceAttributes": {"verb": "get", "version": "v1", "resource": "overflow-probes"}}),
    );
    let (_, v) = post(&s, &ca, Some(&client), &probe);
    assert_eq!(v["status"]["allowed"], false, "{v}");
    let err = v["status"]["evaluationError"].as_str().unwrap_or_default();
    assert!(err.contains("overflowing-forbid"), "{v}");

    // Refused bodies: a 400 Status, and the server keeps serving.
    for body in [
        "{not json",
        "[]",
        r#"{"apiVersion":"authorization.k8s.io/v1","kind":"AdmissionReview","spec":{}}"#,
        r#"{"apiVersion":"authorization.k8s.io/v2","kind":"SubjectAccessReview","spec":{}}"#,
        r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"groups":7}}"#,
    ] {
        let (code, text) = curl(
            &s,
            &ca,
            Some(&client),
            &["-X", "POST", "--data-binary", body],
            "/authorize",
        );
        assert_eq!(code, 400, "{body}: {text}");
        assert_eq!(status(&text), ("BadRequest".to_string(), 400), "{body}");
    }
    // A huge body: 413, not an out-of-memory.
    let huge = tmp.path().join("huge.json");
    std::fs::write(&huge, vec![b' '; 8 * 1024 * 1024]).expect("write");
    let (code, _) = curl(
        &s,
        &ca,
        Some(&client),
        &[
            "-X",
            "POST",
            "--data-binary",
            &format!("@{}", huge.display()),
        ],
        "/authorize",
    );
    assert_eq!(code, 413);
    // GET → 405; no client certificate → 401.
    let (code, _) = curl(&s, &ca, Some(&client), &[], "/authorize");
    assert_eq!(code, 405);
    let (code, _) = post(&s, &ca, None, &vnc("dora", &[], "prod"));
    assert_eq!(code, 401);
    // A client certificate of another CA: refused (the listener, as kube-apiserver, completes
    // the handshake and answers 401 naming nothing; a failed handshake would do as well).
    let other = tmp.path().join("other-pki");
    let kc = tmp.path().join("other.kubeconfig");
    kubeconfig(&other, &s, "kube-apiserver", &[], &[], &kc);
    let foreign = decode_kubeconfig(&kc, tmp.path(), "foreign");
    let (code, v) = post(&s, &ca, Some(&foreign), &vnc("dora", &[], "prod"));
    assert!(
        code == 401 || code == 0,
        "a foreign client certificate: {code} {v}"
    );
    assert!(v.get("status").is_none_or(|s| !s.is_object()), "{v}");
    let (_, v) = post(
        &s,
        &ca,
        Some(&client),
        &vnc("dora", &["developers"], "prod"),
    );
    assert_eq!(v["status"]["denied"], true, "still serving: {v}");

    // Metrics on the same listener.
    let m = metrics(&s, &ca, &client);
    assert!(
        m.contains(
            "virtguard_authorize_decisions_total{decision=\"deny\",policy=\"vnc-sre-only\"} 2\n"
        ),
        "{m}"
    );
    assert!(
        m.contains(
            "virtguard_authorize_decisions_total{decision=\"allow\",policy=\"sre-read-vmis\"} 2\n"
        ),
        "{m}"
    );
    assert!(
        m.contains("virtguard_authorize_duration_seconds_count 7\n"),
        "{m}"
    );
    assert!(
        m.contains("virtguard_policy_evaluation_errors_total 1\n"),
        "{m}"
    );
}

#[test]
fn policies_reload_while_serving() {
    if !have("curl", "--version") {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let policies = policies_dir(tmp.path());
    // One more policy given as a file of its own (watched through its directory).
    let extra_dir = tmp.path().join("extra");
    std::fs::create_dir_all(&extra_dir).expect("mkdir");
    let extra = extra_dir.join("exec.cedar");
    let pki = tmp.path().join("pki");
    std::fs::write(&extra, "// nothing yet\n").expect("write");
    let s = start_authorize(
        tmp.path(),
        &policies,
        &pki,
        &["--policies".as_ref(), extra.as_os_str()],
    );
    let client = client_of(&pki, &s, tmp.path());
    let ca = pki.join("ca.crt");
    let denied = |body: &str| post(&s, &ca, Some(&client), body).1["status"]["denied"] == true;
    let delete = vmi("dora", &["developers"], "delete");
    assert!(!denied(&delete));

    // A new valid file is in force for the next requests.
    std::fs::copy(data().join("exec.cedar"), &extra).expect("copy");
    assert!(eventually(|| denied(&delete)), "{}", s.log());
    let m = metrics(&s, &ca, &client);
    assert!(m.contains("virtguard_policy_reloads_total 1\n"), "{m}");

    // A broken file: the last good set stays, the error names file:line and is counted.
    std::fs::copy(data().join("broken.cedar"), policies.join("broken.cedar")).expect("copy");
    assert!(
        eventually(
            || metrics(&s, &ca, &client).contains("virtguard_policy_reload_failures_total 1\n")
        ),
        "{}",
        s.log()
    );
    assert!(s.log().contains("broken.cedar:3:"), "{}", s.log());
    // A log written to a file is plain text: no terminal colour codes around the fields.
    assert!(!s.log().contains('\u{1b}'), "{}", s.log());
    assert!(denied(&delete));
    assert!(denied(&vnc("dora", &["developers"], "prod")));

    // Fixed (removed), and the single file deleted: its policy is dropped.
    std::fs::remove_file(policies.join("broken.cedar")).expect("rm");
    std::fs::remove_file(&extra).expect("rm");
    assert!(eventually(|| !denied(&delete)), "{}", s.log());
    assert!(denied(&vnc("dora", &["developers"], "prod")));
}

#[test]
fn authorize_with_api_and_policy_objects_of_the_snapshot() {
    if !have("curl", "--version") {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let policies = policies_dir(tmp.path());
    let snap = tmp.path().join("snap");
    std::fs::create_dir_all(&snap).expect("mkdir");
    std::fs::copy(data().join("policy-object.yaml"), snap.join("policy.yaml")).expect("copy");
    let pki = tmp.path().join("pki");
    let s = start_authorize(
        tmp.path(),
        &policies,
        &pki,
        &[
            "--api".as_ref(),
            "-f".as_ref(),
            snap.as_os_str(),
            "--defaults".as_ref(),
            "none".as_ref(),
        ],
    );
    let client = client_of(&pki, &s, tmp.path());
    let ca = pki.join("ca.crt");
    let console = sar(
        "v1",
        json!({"user": "dora", "resourceAttributes": {"verb": "get", "group": "subresources.kubevirt.io",
            "resource": "virtualmachineinstances", "subresource": "console", "namespace": "dev", "name": "vm1"}}),
    );
    let (_, v) = post(&s, &ca, Some(&client), &console);
    assert_eq!(v["status"]["denied"], true, "{v}");
    assert!(
        v["status"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no-console (Policy/no-console")),
        "{v}"
    );
    let (_, v) = post(&s, &ca, Some(&client), &vnc("dora", &[], "prod"));
    assert_eq!(v["status"]["denied"], true, "{v}");
    // The API facade on the same listener.
    let (code, body) = curl(&s, &ca, Some(&client), &[], "/version");
    assert_eq!(code, 200, "{body}");

    // The Policy object removed from the snapshot: its policy is dropped.
    std::fs::remove_file(snap.join("policy.yaml")).expect("rm");
    assert!(
        eventually(|| post(&s, &ca, Some(&client), &console).1["status"]["denied"] != true),
        "{}",
        s.log()
    );
}

#[test]
fn a_broken_policy_set_stops_the_start_naming_its_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = Command::new(bin())
        .args([
            "serve",
            "--authorize",
            "--listen",
            "127.0.0.1:0",
            "--pki-dir",
        ])
        .arg(tmp.path().join("pki"))
        .arg("--policies")
        .arg(data().join("broken.cedar"))
        .output()
        .expect("run");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("broken.cedar:3:"), "{err}");
}

#[test]
fn authz_config_prints_the_authorizer_chain_and_the_webhook_kubeconfig() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = tmp.path().join("pki");
    let out = tmp.path().join("out");
    let o = Command::new(bin())
        .args(["authz-config", "--pki-dir"])
        .arg(&pki)
        .args([
            "--server",
            "https://10.0.0.5:8443",
            "--failure-policy",
            "Deny",
            "--timeout",
            "2s",
        ])
        .arg("--output-directory")
        .arg(&out)
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let config_text =
        std::fs::read_to_string(out.join("authorization-config.yaml")).expect("config");
    assert!(
        config_text.contains("# failurePolicy NoOpinion (fail open)"),
        "{config_text}"
    );
    let config: Value = serde_yaml_ng::from_str(&config_text).expect("YAML");
    assert_eq!(config["apiVersion"], "apiserver.config.k8s.io/v1");
    assert_eq!(config["kind"], "AuthorizationConfiguration");
    let authorizers = config["authorizers"].as_array().expect("authorizers");
    let types: Vec<&str> = authorizers
        .iter()
        .filter_map(|a| a["type"].as_str())
        .collect();
    assert_eq!(types, ["Node", "Webhook", "RBAC"]);
    let w = &authorizers[1]["webhook"];
    assert_eq!(authorizers[1]["name"], "virtguard.cedar");
    assert_eq!(w["failurePolicy"], "Deny");
    assert_eq!(w["timeout"], "2s");
    assert_eq!(w["authorizedTTL"], "5m");
    assert_eq!(w["unauthorizedTTL"], "30s");
    assert_eq!(w["subjectAccessReviewVersion"], "v1");
    assert_eq!(w["matchConditionSubjectAccessReviewVersion"], "v1");
    assert_eq!(w["connectionInfo"]["type"], "KubeConfigFile");
    let kc_path = PathBuf::from(
        w["connectionInfo"]["kubeConfigFile"]
            .as_str()
            .expect("path"),
    );
    assert!(kc_path.is_absolute() && kc_path.ends_with("authz-webhook.kubeconfig"));
    assert!(kc_path.exists());
    let conditions: Vec<&str> = w["matchConditions"]
        .as_array()
        .expect("matchConditions")
        .iter()
        .filter_map(|c| c["expression"].as_str())
        .collect();
    assert!(conditions.contains(&"!('system:masters' in request.groups)"));
    assert!(conditions.contains(&"!request.user.startsWith('system:serviceaccount:kube-system:')"));
    assert!(conditions.contains(&"!('system:nodes' in request.groups)"));

    // The kubeconfig: the pki CA and a client certificate it signed.
    let kc: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&kc_path).expect("kubeconfig"))
            .expect("YAML");
    let b64 = |v: &Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("string"))
            .expect("base64")
    };
    let cluster = &kc["clusters"][0]["cluster"];
    assert_eq!(cluster["server"], "https://10.0.0.5:8443/authorize");
    let ca_pem = b64(&cluster["certificate-authority-data"]);
    assert_eq!(ca_pem, std::fs::read(pki.join("ca.crt")).expect("ca"));
    let crt = tmp.path().join("apiserver.crt");
    std::fs::write(
        &crt,
        b64(&kc["users"][0]["user"]["client-certificate-data"]),
    )
    .expect("write");
    if have("openssl", "version") {
        let v = Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(pki.join("ca.crt"))
            .arg(&crt)
            .output()
            .expect("openssl");
        assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    }

    // Without --output-directory: both on stdout, default failure policy NoOpinion.
    let o = Command::new(bin())
        .args(["authz-config", "--pki-dir"])
        .arg(&pki)
        .args(["--server", "https://127.0.0.1:8443"])
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let docs: Vec<Value> = text
        .split("\n---\n")
        .map(|d| serde_yaml_ng::from_str(d.trim_start_matches("---\n")).expect("YAML doc"))
        .collect();
    assert_eq!(docs.len(), 2, "{text}");
    assert_eq!(docs[0]["kind"], "Config");
    assert_eq!(
        docs[1]["authorizers"][1]["webhook"]["failurePolicy"],
        "NoOpinion"
    );
}

#[test]
fn policy_objects_of_the_cluster_are_followed() {
    if !have("curl", "--version") {
        eprintln!("skipped: curl is not installed");
        return;
    }
    // The "cluster": serve --api over a directory whose edits it follows.
    let tmp = tempfile::tempdir().expect("tempdir");
    let snap = tmp.path().join("cluster");
    std::fs::create_dir_all(&snap).expect("mkdir");
    std::fs::copy(data().join("policy-crd.yaml"), snap.join("crd.yaml")).expect("copy");
    std::fs::copy(data().join("policy-object.yaml"), snap.join("policy.yaml")).expect("copy");
    let cluster_pki = tmp.path().join("cluster-pki");
    let cluster = start(tmp.path(), &snap, &cluster_pki);
    let admin = tmp.path().join("admin.kubeconfig");
    kubeconfig(
        &cluster_pki,
        &cluster,
        "virtguard",
        &["system:masters"],
        &[],
        &admin,
    );
    let pki = tmp.path().join("pki");
    let hook_dir = tmp.path().join("hook");
    std::fs::create_dir_all(&hook_dir).expect("mkdir");
    let policies = policies_dir(tmp.path());
    let s = start_authorize(
        &hook_dir,
        &policies,
        &pki,
        &[
            "--kubeconfig".as_ref(),
            admin.as_os_str(),
            "--defaults".as_ref(),
            "none".as_ref(),
        ],
    );
    let client = client_of(&pki, &s, tmp.path());
    let ca = pki.join("ca.crt");
    let console = sar(
        "v1",
        json!({"user": "dora", "resourceAttributes": {"verb": "get", "group": "subresources.kubevirt.io",
            "resource": "virtualmachineinstances", "subresource": "console", "namespace": "dev", "name": "vm1"}}),
    );
    let denied = |body: &str| post(&s, &ca, Some(&client), body).1["status"]["denied"] == true;
    assert!(denied(&console), "{}", s.log());
    assert!(denied(&vnc("dora", &[], "prod")));
    // The Policy object is deleted in the cluster: its policy is dropped.
    std::fs::remove_file(snap.join("policy.yaml")).expect("rm");
    assert!(
        eventually(|| !denied(&console)),
        "{}\n{}",
        s.log(),
        cluster.log()
    );
    assert!(
        denied(&vnc("dora", &[], "prod")),
        "the files' policies stay"
    );
}

#[test]
fn authorize_alone_needs_policies() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let o = Command::new(bin())
        .args([
            "serve",
            "--authorize",
            "--listen",
            "127.0.0.1:0",
            "--pki-dir",
        ])
        .arg(tmp.path().join("pki"))
        .output()
        .expect("run");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--authorize alone needs policies"), "{err}");
}

/// The offline chain cases (`tests/data/policy/chain/cases.yaml`) through the webhook: where
/// `access-review --policies` says Cedar decided, the webhook gives the same answer naming the
/// same policy; where RBAC decided, the webhook has no opinion (system:masters cases are
/// skipped: kube-apiserver never asks a webhook about them).
#[test]
fn the_chain_cases_agree_offline_and_through_the_webhook() {
    if !have("curl", "--version") {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let chain = repo().join("tests/data/policy/chain");
    let text = std::fs::read_to_string(chain.join("cases.yaml")).expect("cases.yaml");
    let cases: Vec<Value> = serde_yaml_ng::from_str(&text).expect("cases.yaml parses");
    assert!(cases.len() >= 10);

    let tmp = tempfile::tempdir().expect("tempdir");
    let mut stream = String::new();
    let bodies: Vec<String> = cases
        .iter()
        .map(|c| sar("v1", c["review"].clone()))
        .collect();
    for b in &bodies {
        stream.push_str(b);
        stream.push('\n');
    }
    let reviews = tmp.path().join("reviews.jsonl");
    std::fs::write(&reviews, stream).expect("write reviews");
    let out = Command::new(bin())
        .current_dir(repo())
        .args([
            "-q",
            "access-review",
            "-f",
            "examples/cluster",
            "--policies",
        ])
        .arg(&chain)
        .arg("--requests")
        .arg(&reviews)
        .output()
        .expect("run access-review");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let offline: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(offline.len(), cases.len());

    let pki = tmp.path().join("pki");
    let s = start_authorize(tmp.path(), &chain, &pki, &[]);
    let client = client_of(&pki, &s, tmp.path());
    let ca = pki.join("ca.crt");
    let mut by_cedar = 0;
    for ((case, body), off) in cases.iter().zip(&bodies).zip(&offline) {
        if case["expect"]["decidedBy"] == "system:masters" {
            continue; // kube-apiserver allows system:masters before any webhook is asked
        }
        let (code, v) = post(&s, &ca, Some(&client), body);
        let what = format!("{}: offline {} webhook {v}", case["name"], off["status"]);
        assert_eq!(code, 200, "{what}");
        let off = &off["status"];
        let reason = off["reason"].as_str().unwrap_or_default();
        match reason.split_once("Cedar policy ") {
            Some((_, rest)) => {
                by_cedar += 1;
                let policy = rest.split(" (").next().unwrap_or_default();
                assert_eq!(v["status"]["allowed"], off["allowed"], "{what}");
                assert_eq!(
                    v["status"]["denied"].as_bool().unwrap_or(false),
                    off["denied"].as_bool().unwrap_or(false),
                    "{what}"
                );
                let theirs = v["status"]["reason"].as_str().unwrap_or_default();
                assert!(theirs.contains(&format!("{policy} (")), "{what}");
            }
            None => assert_eq!(v["status"], json!({"allowed": false}), "{what}"),
        }
    }
    assert!(by_cedar >= 4, "{by_cedar} cases decided by Cedar");
}
