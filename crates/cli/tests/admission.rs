//! `virtguard serve --admission` end to end with curl over mTLS: AdmissionReviews of the real
//! decoder's shape in, verdicts out (a VM denied in a tenant namespace, allowed elsewhere);
//! anonymous and non-POST callers refused; malformed bodies a 400 Status while the server keeps
//! serving; the configuration reloaded on change (a broken file keeps the last good one); the
//! state (namespace labels) reloaded when the snapshot changes. Skipped without curl.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const CONFIG: &str = "apiVersion: virtguard.io/v1alpha1
kind: AdmissionConfig
checks:
- id: VG301
  action: Deny
  namespaceSelector: {matchLabels: {tenant: \"true\"}}
migrations:
  maxInFlightPerNamespace: 1
";

fn review(ns: &str, name: &str) -> String {
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": format!("uid-{ns}-{name}"), "kind": {"group": "kubevirt.io", "version": "v1", "kind": "VirtualMachine"},
        "resource": {"group": "kubevirt.io", "version": "v1", "resource": "virtualmachines"},
        "namespace": ns, "name": name, "operation": "CREATE",
        "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
        "object": {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": name, "namespace": ns},
            "spec": {"template": {"spec": {"domain": {"devices": {"gpus": [{"name": "g", "deviceName": "nvidia.com/A100"}]}}}}}},
        "dryRun": false}})
    .to_string()
}

fn namespaces(labelled: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: tenant-a, labels: {{tenant: \"{labelled}\"}}}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: lab}}\n"
    )
}

/// Posts a body; returns (HTTP code, parsed JSON).
fn post(
    s: &Server,
    ca: &Path,
    client: Option<&(std::path::PathBuf, std::path::PathBuf)>,
    body: &str,
) -> (u16, Value) {
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
        "/validate",
    );
    (code, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn allowed(v: &Value) -> bool {
    v["response"]["allowed"] == true
}

/// Polls until `f` holds (reloads are debounced), at most 10 s.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn admission_webhook_over_mtls() {
    if !have("curl", "--version") {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let snap = tmp.path().join("state");
    std::fs::create_dir_all(&snap).expect("mkdir");
    std::fs::write(snap.join("ns.yaml"), namespaces("true")).expect("write");
    let config = tmp.path().join("admission.yaml");
    std::fs::write(&config, CONFIG).expect("write config");
    let pki = tmp.path().join("pki");
    let s = start_serve(
        tmp.path(),
        &[
            "--admission".as_ref(),
            "--admission-config".as_ref(),
            config.as_os_str(),
            "-f".as_ref(),
            snap.as_os_str(),
            "--pki-dir".as_ref(),
            pki.as_os_str(),
            "--defaults".as_ref(),
            "none".as_ref(),
        ],
    );
    let kc = tmp.path().join("apiserver.kubeconfig");
    kubeconfig(&pki, &s, "kube-apiserver", &[], &[], &kc);
    let client = decode_kubeconfig(&kc, tmp.path(), "apiserver");
    let ca = pki.join("ca.crt");

    let (code, v) = post(&s, &ca, Some(&client), &review("tenant-a", "vm1"));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["kind"], "AdmissionReview");
    assert_eq!(v["response"]["uid"], "uid-tenant-a-vm1");
    assert!(!allowed(&v), "{v}");
    assert_eq!(v["response"]["status"]["code"], 403);
    assert_eq!(
        v["response"]["status"]["message"],
        "VG301 GPU or host device passed through: spec.template.spec.domain.devices.gpus[0].deviceName = nvidia.com/A100"
    );
    let (_, v) = post(&s, &ca, Some(&client), &review("lab", "vm1"));
    assert!(allowed(&v), "{v}");

    // Refused callers and bodies; the server keeps serving.
    let (code, body) = curl(
        &s,
        &ca,
        None,
        &["-X", "POST", "--data-binary", &review("lab", "x")],
        "/validate",
    );
    assert_eq!(code, 401, "{body}");
    let (code, body) = curl(&s, &ca, Some(&client), &[], "/validate");
    assert_eq!(code, 405, "{body}");
    for bad in [
        "{",
        "[]",
        r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"kind":{"kind":"VirtualMachine"},"operation":"CREATE"}}"#,
        r#"{"apiVersion":"v1","kind":"Pod"}"#,
    ] {
        let (code, body) = curl(
            &s,
            &ca,
            Some(&client),
            &["-X", "POST", "--data-binary", bad],
            "/validate",
        );
        assert_eq!(code, 400, "{bad}: {body}");
        assert_eq!(status(&body), ("BadRequest".to_string(), 400), "{bad}");
    }
    // A 1 MiB object is judged like any other.
    let mut big: Value = serde_json::from_str(&review("tenant-a", "big")).expect("json");
    big["request"]["object"]["metadata"]["annotations"] = json!({"pad": "x".repeat(1 << 20)});
    let big_file = tmp.path().join("big.json");
    std::fs::write(&big_file, big.to_string()).expect("write");
    let at = format!("@{}", big_file.display());
    let (code, body) = curl(
        &s,
        &ca,
        Some(&client),
        &["-X", "POST", "--data-binary", &at],
        "/validate",
    );
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("\"allowed\":false"),
        "{}",
        &body[..body.len().min(300)]
    );
    // Without --api, the Kubernetes API is not served.
    let (code, _) = curl(&s, &ca, Some(&client), &[], "/api/v1/namespaces");
    assert_eq!(code, 404);
    let (code, _) = curl(&s, &ca, None, &[], "/healthz");
    assert_eq!(code, 200);

    // The state follows the snapshot: tenant-a loses its label, the VM is allowed.
    std::fs::write(snap.join("ns.yaml"), namespaces("false")).expect("write");
    assert!(
        eventually(|| allowed(&post(&s, &ca, Some(&client), &review("tenant-a", "vm2")).1)),
        "{}",
        s.log()
    );
    std::fs::write(snap.join("ns.yaml"), namespaces("true")).expect("write");
    assert!(
        eventually(|| !allowed(&post(&s, &ca, Some(&client), &review("tenant-a", "vm3")).1)),
        "{}",
        s.log()
    );

    // The configuration reloads: Warn instead of Deny.
    std::fs::write(&config, CONFIG.replace("action: Deny", "action: Warn")).expect("write");
    let warned = |v: &Value| {
        allowed(v)
            && v["response"]["warnings"][0]
                .as_str()
                .is_some_and(|w| w.starts_with("VG301 GPU or host device passed through: "))
    };
    assert!(
        eventually(|| warned(&post(&s, &ca, Some(&client), &review("tenant-a", "vm4")).1)),
        "{}",
        s.log()
    );
    // A broken file keeps the last good configuration in force.
    std::fs::write(&config, "apiVersion: virtguard.io/v1alpha1\nkind: AdmissionConfig\nchecks:\n- id: VG999\n  action: Deny\n").expect("write");
    assert!(
        eventually(|| s.log().contains("admission configuration refused")),
        "{}",
        s.log()
    );
    assert!(s.log().contains("VG999"), "{}", s.log());
    let (_, v) = post(&s, &ca, Some(&client), &review("tenant-a", "vm5"));
    assert!(warned(&v), "{v}");
}

#[test]
fn a_bad_admission_config_is_an_input_error_naming_its_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("bad.yaml");
    std::fs::write(&config, "apiVersion: virtguard.io/v1alpha1\nkind: AdmissionConfig\nchecks:\n- id: VG101\n  action: Deny\n").expect("write");
    let o = std::process::Command::new(bin())
        .args([
            "serve",
            "--admission",
            "--listen",
            "127.0.0.1:0",
            "--defaults",
            "none",
            "-f",
            "examples/cluster",
            "--admission-config",
        ])
        .arg(&config)
        .arg("--pki-dir")
        .arg(tmp.path().join("pki"))
        .current_dir(repo())
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("{}:4: check VG101", config.display())),
        "{err}"
    );
    assert!(err.contains("cannot run at admission"), "{err}");
}

#[test]
fn live_state_follows_the_cluster() {
    if !have("curl", "--version") {
        eprintln!("skipped: curl is not installed");
        return;
    }
    // The "cluster": serve --api over a directory whose edits it follows.
    let tmp = tempfile::tempdir().expect("tempdir");
    let snap = tmp.path().join("cluster");
    std::fs::create_dir_all(&snap).expect("mkdir");
    std::fs::write(snap.join("ns.yaml"), namespaces("true")).expect("write");
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
    // The webhook reads it live and follows it with watches.
    let config = tmp.path().join("admission.yaml");
    std::fs::write(&config, CONFIG).expect("write config");
    let pki = tmp.path().join("pki");
    let hook_dir = tmp.path().join("hook");
    std::fs::create_dir_all(&hook_dir).expect("mkdir");
    let s = start_serve(
        &hook_dir,
        &[
            "--admission".as_ref(),
            "--admission-config".as_ref(),
            config.as_os_str(),
            "--kubeconfig".as_ref(),
            admin.as_os_str(),
            "--pki-dir".as_ref(),
            pki.as_os_str(),
            "--defaults".as_ref(),
            "none".as_ref(),
        ],
    );
    let kc = tmp.path().join("apiserver.kubeconfig");
    kubeconfig(&pki, &s, "kube-apiserver", &[], &[], &kc);
    let client = decode_kubeconfig(&kc, tmp.path(), "apiserver");
    let ca = pki.join("ca.crt");
    let (_, v) = post(&s, &ca, Some(&client), &review("tenant-a", "vm1"));
    assert!(!allowed(&v), "{v}");
    // The namespace is relabelled in the cluster: the next reviews see it.
    std::fs::write(snap.join("ns.yaml"), namespaces("false")).expect("write");
    assert!(
        eventually(|| allowed(&post(&s, &ca, Some(&client), &review("tenant-a", "vm2")).1)),
        "{}\n{}",
        s.log(),
        cluster.log()
    );
    // A migration appears in the cluster: the namespace's budget of one is used.
    let mig = |phase: &str| {
        format!("apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceMigration\nmetadata: {{name: m1, namespace: prod}}\nspec: {{vmiName: a}}\nstatus: {{phase: {phase}}}\n")
    };
    std::fs::write(snap.join("mig.yaml"), mig("Running")).expect("write");
    let migration = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "m", "kind": {"group": "kubevirt.io", "version": "v1", "kind": "VirtualMachineInstanceMigration"},
        "namespace": "prod", "name": "m2", "operation": "CREATE", "userInfo": {"username": "carol"}, "dryRun": true,
        "object": {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration", "metadata": {"name": "m2"}, "spec": {"vmiName": "b"}}}})
    .to_string();
    assert!(
        eventually(|| {
            let (_, v) = post(&s, &ca, Some(&client), &migration);
            v["response"]["status"]["message"].as_str().is_some_and(|m| m.contains("namespace prod has 1 migrations in flight (maxInFlightPerNamespace: 1): m1"))
        }),
        "{}",
        s.log()
    );
    // It succeeds: the budget is free again.
    std::fs::write(snap.join("mig.yaml"), mig("Succeeded")).expect("write");
    assert!(
        eventually(|| allowed(&post(&s, &ca, Some(&client), &migration).1)),
        "{}",
        s.log()
    );
}

#[test]
fn webhook_config_registers_exactly_what_the_config_needs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = tmp.path().join("pki");
    let config = tmp.path().join("admission.yaml");
    std::fs::write(&config, CONFIG).expect("write");
    let run = |extra: &[&std::ffi::OsStr]| {
        let o = std::process::Command::new(bin())
            .args([
                "webhook-config",
                "--service-name",
                "virtguard",
                "--service-namespace",
                "virtguard-system",
                "--pki-dir",
            ])
            .arg(&pki)
            .args(extra)
            .output()
            .expect("run");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let docs: Vec<Value> =
            serde_yaml_ng::Deserializer::from_str(&String::from_utf8_lossy(&o.stdout))
                .map(|d| serde::Deserialize::deserialize(d).expect("YAML document"))
                .collect();
        docs
    };
    let docs = run(&["--admission-config".as_ref(), config.as_os_str()]);
    assert_eq!(docs.len(), 2);
    let (secret, vwc) = (&docs[0], &docs[1]);
    assert_eq!(secret["kind"], "Secret");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    assert_eq!(vwc["kind"], "ValidatingWebhookConfiguration");
    let hooks = vwc["webhooks"].as_array().expect("webhooks");
    let names: Vec<&str> = hooks.iter().filter_map(|h| h["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "kubevirt-cr.virtguard.io",
            "workloads.virtguard.io",
            "migrations.virtguard.io"
        ]
    );
    let ca = std::fs::read_to_string(pki.join("ca.crt")).expect("CA created");
    let b64 = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
    for h in hooks {
        assert_eq!(h["clientConfig"]["caBundle"], b64(&ca));
        assert_eq!(
            h["clientConfig"]["service"],
            json!({"name": "virtguard", "namespace": "virtguard-system", "path": "/validate", "port": 443})
        );
        assert_eq!(h["sideEffects"], "None");
        assert_eq!(h["admissionReviewVersions"], json!(["v1"]));
        assert_eq!(
            h["namespaceSelector"]["matchExpressions"][0]["values"],
            json!(["kube-system", "virtguard-system"])
        );
        assert!(h["matchConditions"][0]["expression"]
            .as_str()
            .is_some_and(|e| e.contains("system:serviceaccount:kubevirt:kubevirt-")));
    }
    assert_eq!(hooks[0]["failurePolicy"], "Fail");
    assert_eq!(hooks[0]["rules"][0]["resources"], json!(["kubevirts"]));
    assert_eq!(hooks[1]["failurePolicy"], "Ignore");
    assert_eq!(
        hooks[2]["rules"][0],
        json!({"apiGroups": ["kubevirt.io"], "apiVersions": ["*"], "resources": ["virtualmachineinstancemigrations"], "operations": ["CREATE"], "scope": "Namespaced"})
    );
    // The serving certificate names the Service and chains to the caBundle's CA.
    let crt = tmp.path().join("tls.crt");
    let pem = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        secret["data"]["tls.crt"].as_str().expect("tls.crt"),
    )
    .expect("base64");
    std::fs::write(&crt, pem).expect("write");
    if have("openssl", "version") {
        let o = std::process::Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(pki.join("ca.crt"))
            .arg(&crt)
            .output()
            .expect("openssl");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
        let o = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
            .arg(&crt)
            .output()
            .expect("openssl");
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("DNS:virtguard.virtguard-system.svc"),
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
    // Without a configuration only the KubeVirt CR is judged; the same CA is reused.
    let docs = run(&[]);
    assert_eq!(docs[1]["webhooks"].as_array().map(Vec::len), Some(1));
    assert_eq!(docs[1]["webhooks"][0]["clientConfig"]["caBundle"], b64(&ca));
}

#[test]
fn the_deploy_manifests_build_and_audit_clean() {
    let Some((kubectl, _)) = kubectls().into_iter().next() else {
        eprintln!("skipped: kubectl is not installed");
        return;
    };
    let o = std::process::Command::new(kubectl)
        .args(["kustomize", "deploy"])
        .current_dir(repo())
        .output()
        .expect("kubectl kustomize");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let built = String::from_utf8_lossy(&o.stdout).into_owned();
    for kind in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Service",
        "Deployment",
        "ConfigMap",
    ] {
        assert!(
            built.contains(&format!("kind: {kind}\n")),
            "{kind} missing:\n{built}"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("deploy.yaml");
    std::fs::write(&f, &built).expect("write");
    let o = std::process::Command::new(bin())
        .args(["audit", "-o", "json", "-f"])
        .arg(&f)
        .output()
        .expect("audit");
    let v: Value = serde_json::from_slice(&o.stdout).expect("audit JSON");
    assert_eq!(v["findings"], json!([]), "{v}");
    // The shipped AdmissionConfig is valid.
    let text = std::fs::read_to_string(repo().join("deploy/admission.yaml")).expect("read");
    let c = virtguard_admission_config_ok(&text);
    assert!(c, "deploy/admission.yaml");
}

/// Whether `serve --admission` accepts a configuration (it exits 2 naming the line if not).
fn virtguard_admission_config_ok(text: &str) -> bool {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("c.yaml");
    std::fs::write(&p, text).expect("write");
    let s = start_serve(
        dir.path(),
        &[
            "--admission".as_ref(),
            "--admission-config".as_ref(),
            p.as_os_str(),
            "-f".as_ref(),
            repo().join("examples/cluster").as_os_str(),
            "--pki-dir".as_ref(),
            dir.path().join("pki").as_os_str(),
        ],
    );
    !s.addr.is_empty()
}
