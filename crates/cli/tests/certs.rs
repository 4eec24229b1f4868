//! `virtguard certs` end to end: init, inspect, rotate (renewal, forced CA rotation, bundle
//! overlap), manifests, the mTLS peer check, and bad input (exit codes, files named, no panic).
//! Certificates issued by virtguard are cross-checked with the real `openssl verify` when
//! OpenSSL is installed.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Every instant in these tests is relative to this one (inside the RSA fixtures' validity).
const T0_UNIX: i64 = 1_893_456_000; // 2030-01-01T00:00:00Z

const CAS: [&str; 3] = ["kubevirt-ca", "kubevirt-export-ca", "kubevirt-backup-ca"];

/// The component secrets and whether each is a client (`true`) or server certificate, as in
/// the KubeVirt facts (§4.1).
const LEAVES: [(&str, bool); 14] = [
    ("kubevirt-operator-certs", false),
    ("kubevirt-virt-api-certs", false),
    ("kubevirt-controller-certs", false),
    ("kubevirt-exportproxy-certs", false),
    ("kubevirt-virt-handler-server-certs", false),
    ("kubevirt-virt-handler-certs", true),
    ("kubevirt-virt-handler-migration-client-certs", true),
    ("kubevirt-virt-handler-vsock-client-certs", true),
    ("kubevirt-virt-handler-monitoring-client-certs", true),
    ("kubevirt-synchronization-controller-certs", true),
    ("kubevirt-synchronization-controller-server-certs", false),
    ("kubevirt-virt-template-api-certs", false),
    ("kubevirt-virt-template-webhook-certs", false),
    ("kubevirt-virt-template-controller-metrics-certs", false),
];

/// `T0 + hours` as RFC 3339.
fn at(hours: i64) -> String {
    OffsetDateTime::from_unix_timestamp(T0_UNIX + hours * 3600)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/certs")
        .join(name)
}

fn vg() -> Command {
    Command::cargo_bin("virtguard").expect("binary")
}

/// Runs virtguard; returns (exit code, stdout, stderr) and checks it did not panic.
fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (i32, String, String) {
    let out = vg().args(args).output().expect("run virtguard");
    let stdout = String::from_utf8(out.stdout).expect("utf8 stdout");
    let stderr = String::from_utf8(out.stderr).expect("utf8 stderr");
    assert!(!stderr.contains("panicked"), "virtguard panicked: {stderr}");
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

/// A fresh `certs init` at T0 in a temporary directory; returns (guard, DIR).
fn init_at_t0() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let (code, _, err) = run(&[
        "certs",
        "init",
        "--dir",
        dir.to_str().unwrap(),
        "--now",
        &at(0),
    ]);
    assert_eq!(code, 0, "{err}");
    (tmp, dir)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn pem_count(text: &str) -> usize {
    text.matches("-----BEGIN CERTIFICATE-----").count()
}

fn openssl_available() -> bool {
    let ok = StdCommand::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("note: openssl not found; skipping the OpenSSL cross-check");
    }
    ok
}

/// `openssl verify -CAfile bundle -purpose purpose -attime T0+hours cert`.
fn openssl_verify(bundle: &Path, cert: &Path, purpose: &str, hours: i64) -> bool {
    let out = StdCommand::new("openssl")
        .args(["verify", "-CAfile", s(bundle), "-purpose", purpose])
        .args(["-attime", &(T0_UNIX + hours * 3600).to_string()])
        .arg(s(cert))
        .output()
        .expect("openssl");
    out.status.success()
}

/// The subject CN as OpenSSL reads it.
fn openssl_cn(cert: &Path) -> String {
    let out = StdCommand::new("openssl")
        .args(["x509", "-noout", "-subject", "-nameopt", "multiline", "-in"])
        .arg(cert)
        .output()
        .expect("openssl");
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("commonName")
                .map(|r| r.trim_start_matches([' ', '=']).trim().to_string())
        })
        .unwrap_or_default()
}

fn b64_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("bad base64 {c}"),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[test]
fn init_writes_every_secret_and_openssl_verifies_each_leaf() {
    let (_tmp, dir) = init_at_t0();
    for ca in CAS {
        let crt = read(&dir.join(ca).join("tls.crt"));
        assert_eq!(pem_count(&crt), 1, "{ca}");
        assert!(read(&dir.join(ca).join("tls.key")).contains("PRIVATE KEY"));
        // The ConfigMap bundle of each CA holds exactly that CA.
        assert_eq!(read(&dir.join(ca).join("ca-bundle")), crt, "{ca}");
    }
    assert_eq!(read(&dir.join("kubevirt-external-ca/ca-bundle")), "");
    let state: serde_json::Value =
        serde_json::from_str(&read(&dir.join("virtguard-pki.json"))).unwrap();
    assert_eq!(state["namespace"], "kubevirt");
    assert_eq!(state["secrets"]["kubevirt-ca"]["duration"], "168h0m0s");
    assert_eq!(
        state["secrets"]["kubevirt-virt-api-certs"]["duration"],
        "24h0m0s"
    );
    for (name, _) in LEAVES {
        let key = dir.join(name).join("tls.key");
        assert!(dir.join(name).join("tls.crt").is_file(), "{name}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name}");
        }
    }
    let subdirs = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count();
    assert_eq!(subdirs, 3 + 14 + 1);

    if !openssl_available() {
        return;
    }
    let bundle = dir.join("kubevirt-ca/ca-bundle");
    for (name, client) in LEAVES {
        let crt = dir.join(name).join("tls.crt");
        let (right, wrong) = if client {
            ("sslclient", "sslserver")
        } else {
            ("sslserver", "sslclient")
        };
        assert!(openssl_verify(&bundle, &crt, right, 1), "{name} {right}");
        assert!(!openssl_verify(&bundle, &crt, wrong, 1), "{name} {wrong}");
        // Not valid before its CA, not valid after 24h.
        assert!(!openssl_verify(&bundle, &crt, right, 25), "{name} expired");
        // Not signed by the export CA.
        assert!(!openssl_verify(
            &dir.join("kubevirt-export-ca/ca-bundle"),
            &crt,
            right,
            1
        ));
    }
    assert_eq!(
        openssl_cn(&dir.join("kubevirt-virt-handler-certs/tls.crt")),
        "kubevirt.io:system:client:virt-handler"
    );
    assert_eq!(
        openssl_cn(&dir.join("kubevirt-virt-api-certs/tls.crt")),
        "virt-api.kubevirt.pod.cluster.local"
    );
    assert_eq!(
        openssl_cn(&dir.join("kubevirt-ca/tls.crt")),
        format!("kubevirt.io@{T0_UNIX}")
    );
}

#[test]
fn init_refuses_a_non_empty_dir_unless_forced() {
    let (_tmp, dir) = init_at_t0();
    let before = read(&dir.join("kubevirt-ca/tls.crt"));
    let (code, _, err) = run(&["certs", "init", "--dir", s(&dir), "--now", &at(0)]);
    assert_eq!(code, 2);
    assert!(err.contains("not empty") && err.contains(s(&dir)), "{err}");
    assert_eq!(read(&dir.join("kubevirt-ca/tls.crt")), before);
    let (code, _, err) = run(&[
        "certs",
        "init",
        "--dir",
        s(&dir),
        "--now",
        &at(0),
        "--force",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_ne!(read(&dir.join("kubevirt-ca/tls.crt")), before);
}

#[test]
fn init_rejects_bad_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    for (args, needle) in [
        (vec!["--ca-duration", "3d"], "unknown unit"),
        (vec!["--cert-duration=-1h"], "must be positive"),
        (
            vec!["--ca-duration", "24h", "--cert-duration", "48h"],
            "Certificate duration cannot exceed CA",
        ),
        (vec!["--now", "yesterday"], "RFC 3339"),
    ] {
        let mut all = vec!["certs", "init", "--dir", s(&dir)];
        all.extend(args);
        let (code, _, err) = run(&all);
        assert_eq!(code, 2, "{all:?}");
        assert!(err.contains(needle), "{all:?}: {err}");
    }
    assert!(!dir.exists());
    let (code, _, err) = run(&["certs", "init"]);
    assert_eq!(code, 2);
    assert!(err.contains("--dir"), "{err}");
}

#[test]
fn inspect_fresh_dir_is_clean() {
    let (_tmp, dir) = init_at_t0();
    let (code, out, err) = run(&["certs", "inspect", "--dir", s(&dir), "--now", &at(1)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("No problems: 17 secrets"), "{out}");
    assert!(
        out.contains("kubevirt.io:system:node:virt-handler"),
        "{out}"
    );
    let (code, out, _) = run(&[
        "certs",
        "inspect",
        "--dir",
        s(&dir),
        "--now",
        &at(1),
        "-o",
        "json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["problemCount"], 0);
    let secrets = v["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 17);
    let api = secrets
        .iter()
        .find(|x| x["secret"] == "kubevirt-virt-api-certs")
        .unwrap();
    assert_eq!(api["certificate"]["dnsNames"].as_array().unwrap().len(), 4);
    assert_eq!(api["certificate"]["extKeyUsages"][0], "server_auth");
    assert_eq!(api["bundle"]["verifies"], true);
    // 0.8 × 24h after issue.
    let next = api["nextRotation"]["at"].as_str().unwrap();
    assert_eq!(next, "2030-01-01T19:12:00Z");
}

#[test]
fn inspect_after_the_renewal_point_reports_rotation_due() {
    let (_tmp, dir) = init_at_t0();
    let (code, out, _) = run(&["certs", "inspect", "--dir", s(&dir), "--now", &at(23)]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        out.matches("past its rotation deadline").count(),
        14,
        "{out}"
    );
    assert!(out.contains("kubevirt-virt-api-certs/tls.crt: certificate is past its rotation deadline 2030-01-01T19:12:00Z"), "{out}");
    assert!(!out.contains("kubevirt-ca/tls.crt:"), "{out}");
    // Just before the renewal point nothing is due.
    let (code, _, _) = run(&[
        "certs",
        "inspect",
        "--dir",
        s(&dir),
        "--now",
        "2030-01-01T19:11:59Z",
    ]);
    assert_eq!(code, 0);
    // Long after, everything has expired (the CAs too).
    let (code, out, _) = run(&["certs", "inspect", "--dir", s(&dir), "--now", &at(24 * 8)]);
    assert_eq!(code, 1);
    assert_eq!(out.matches("certificate expired at").count(), 17, "{out}");
}

#[test]
fn rotate_at_the_renewal_point_renews_leaves_only() {
    let (_tmp, dir) = init_at_t0();
    let ca = read(&dir.join("kubevirt-ca/tls.crt"));
    let bundle = read(&dir.join("kubevirt-ca/ca-bundle"));
    let old_leaf = read(&dir.join("kubevirt-virt-api-certs/tls.crt"));
    let old_key = read(&dir.join("kubevirt-virt-api-certs/tls.key"));
    let (code, out, err) = run(&[
        "certs",
        "rotate",
        "--dir",
        s(&dir),
        "--now",
        &at(23),
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let changed: Vec<&str> = v["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["secret"].as_str().unwrap())
        .collect();
    assert_eq!(changed, LEAVES.map(|(n, _)| n));
    let api = &v["changed"][1];
    assert_eq!(api["reason"]["reason"], "deadline_passed");
    assert_eq!(api["oldNotAfter"], at(24));
    assert_eq!(api["newNotAfter"], at(23 + 24));
    assert_eq!(v["bundles"][0]["changed"], false);
    // Next: the renewed leaves at 0.8 × 24h after T0+23h.
    assert_eq!(v["nextRotation"]["at"], "2030-01-02T18:12:00Z");

    assert_eq!(read(&dir.join("kubevirt-ca/tls.crt")), ca);
    assert_eq!(read(&dir.join("kubevirt-ca/ca-bundle")), bundle);
    assert_ne!(read(&dir.join("kubevirt-virt-api-certs/tls.crt")), old_leaf);
    assert_ne!(read(&dir.join("kubevirt-virt-api-certs/tls.key")), old_key);
    let (code, out, _) = run(&["certs", "inspect", "--dir", s(&dir), "--now", &at(23)]);
    assert_eq!(code, 0, "{out}");
    // A second reconcile at the same instant changes nothing.
    let (code, out, _) = run(&["certs", "rotate", "--dir", s(&dir), "--now", &at(23)]);
    assert_eq!(code, 0);
    assert!(out.contains("Nothing to rotate"), "{out}");
    assert!(out.contains("Next rotation: 2030-01-02T18:12:00Z"), "{out}");
    if openssl_available() {
        let crt = dir.join("kubevirt-virt-api-certs/tls.crt");
        assert!(openssl_verify(
            &dir.join("kubevirt-ca/ca-bundle"),
            &crt,
            "sslserver",
            30
        ));
    }
}

#[test]
fn forced_ca_rotation_reissues_everything_and_keeps_the_old_ca_for_the_overlap() {
    let (tmp, dir) = init_at_t0();
    let old_ca = dir.join("kubevirt-ca/tls.crt");
    let old_ca_copy = tmp.path().join("old-ca.pem");
    std::fs::copy(&old_ca, &old_ca_copy).unwrap();
    let export_ca = read(&dir.join("kubevirt-export-ca/tls.crt"));
    let (code, out, err) = run(&[
        "certs",
        "rotate",
        "--dir",
        s(&dir),
        "--now",
        &at(2),
        "--force-ca",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("kubevirt-ca") && out.contains("forced (--force-ca)"),
        "{out}"
    );
    assert_eq!(
        out.matches("does not verify against the current CA")
            .count(),
        14,
        "{out}"
    );
    let new_ca = read(&dir.join("kubevirt-ca/tls.crt"));
    assert_ne!(new_ca, read(&old_ca_copy));
    assert_eq!(read(&dir.join("kubevirt-export-ca/tls.crt")), export_ca);
    let bundle_path = dir.join("kubevirt-ca/ca-bundle");
    let bundle = read(&bundle_path);
    assert_eq!(pem_count(&bundle), 2, "{bundle}");
    assert!(bundle.starts_with(&new_ca), "new CA first");
    assert!(bundle.ends_with(&read(&old_ca_copy)), "old CA kept");

    // Every leaf is re-signed: accepted with the bundle, rejected with the old CA alone.
    let handler = dir.join("kubevirt-virt-handler-certs/tls.crt");
    let (code, out, _) = run(&[
        "certs",
        "verify",
        "--ca-bundle",
        s(&bundle_path),
        "--cert",
        s(&handler),
        "--usage",
        "client",
        "--cn-type",
        "virt-handler",
        "--now",
        &at(3),
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run(&[
        "certs",
        "verify",
        "--ca-bundle",
        s(&old_ca_copy),
        "--cert",
        s(&handler),
        "--usage",
        "client",
        "--now",
        &at(3),
    ]);
    assert_eq!(
        (code, out.as_str()),
        (1, "certificate signed by unknown authority\n")
    );
    if openssl_available() {
        for (name, client) in LEAVES {
            let purpose = if client { "sslclient" } else { "sslserver" };
            let crt = dir.join(name).join("tls.crt");
            assert!(openssl_verify(&bundle_path, &crt, purpose, 3), "{name}");
            assert!(!openssl_verify(&old_ca_copy, &crt, purpose, 3), "{name}");
        }
    }
    let (code, out, _) = run(&["certs", "inspect", "--dir", s(&dir), "--now", &at(3)]);
    assert_eq!(code, 0, "{out}");

    // Within the overlap (CA renewBefore 33h36m) the old CA stays...
    let (code, _, _) = run(&["certs", "rotate", "--dir", s(&dir), "--now", &at(2 + 33)]);
    assert_eq!(code, 0);
    assert_eq!(pem_count(&read(&bundle_path)), 2);
    // ...and after it, it is dropped.
    let (code, out, err) = run(&["certs", "rotate", "--dir", s(&dir), "--now", &at(2 + 34)]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("removed kubevirt.io@{T0_UNIX}")),
        "{out}"
    );
    assert_eq!(read(&bundle_path), new_ca);
}

#[test]
fn rotate_follows_a_duration_change_and_force() {
    let (_tmp, dir) = init_at_t0();
    let (code, out, err) = run(&[
        "certs",
        "rotate",
        "--dir",
        s(&dir),
        "--now",
        &at(1),
        "--cert-duration",
        "48h",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["changed"].as_array().unwrap().len(), 14);
    assert_eq!(v["changed"][0]["reason"]["reason"], "duration_changed");
    assert_eq!(v["changed"][0]["newNotAfter"], at(49));
    assert_eq!(v["schedule"]["certDuration"], "48h0m0s");
    let state: serde_json::Value =
        serde_json::from_str(&read(&dir.join("virtguard-pki.json"))).unwrap();
    assert_eq!(
        state["secrets"]["kubevirt-virt-api-certs"]["duration"],
        "48h0m0s"
    );
    // The new duration sticks.
    let (_, out, _) = run(&["certs", "rotate", "--dir", s(&dir), "--now", &at(2)]);
    assert!(out.contains("Nothing to rotate"), "{out}");

    let (code, out, _) = run(&[
        "certs",
        "rotate",
        "--dir",
        s(&dir),
        "--now",
        &at(2),
        "--force",
        "kubevirt-virt-handler-certs",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("kubevirt-virt-handler-certs") && out.contains("forced (--force)"),
        "{out}"
    );
    assert!(!out.contains("kubevirt-virt-api-certs"), "{out}");

    let (code, _, err) = run(&["certs", "rotate", "--dir", s(&dir), "--force", "nope"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--force nope: not a secret virt-operator manages"),
        "{err}"
    );
}

#[test]
fn rotate_regenerates_blanked_or_deleted_secrets_like_the_operator() {
    let (_tmp, dir) = init_at_t0();
    std::fs::write(dir.join("kubevirt-virt-api-certs/tls.crt"), "garbage").unwrap();
    std::fs::remove_dir_all(dir.join("kubevirt-controller-certs")).unwrap();
    let (code, out, err) = run(&["certs", "rotate", "--dir", s(&dir), "--now", &at(1)]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("kubevirt-virt-api-certs: certificate or key cannot be loaded"),
        "{err}"
    );
    assert!(
        out.contains("kubevirt-controller-certs") && out.contains("missing"),
        "{out}"
    );
    let (code, out, _) = run(&["certs", "inspect", "--dir", s(&dir), "--now", &at(1)]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn rotate_refuses_an_rsa_ca_and_a_foreign_dir() {
    let (_tmp, dir) = init_at_t0();
    std::fs::copy(fixture("rsa-ca.crt"), dir.join("kubevirt-ca/tls.crt")).unwrap();
    std::fs::copy(fixture("rsa-ca.key"), dir.join("kubevirt-ca/tls.key")).unwrap();
    let (code, _, err) = run(&["certs", "rotate", "--dir", s(&dir), "--now", &at(1)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("kubevirt-ca: cannot sign with this CA"),
        "{err}"
    );
    assert!(err.contains("expected ECDSA P-256, got RSA 2048"), "{err}");

    let other = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&["certs", "rotate", "--dir", s(other.path())]);
    assert_eq!(code, 2);
    assert!(err.contains("virtguard-pki.json: not found"), "{err}");
}

#[derive(Deserialize)]
struct Doc {
    kind: String,
    metadata: serde_yaml_ng::Value,
    #[serde(rename = "type")]
    type_: Option<String>,
    data: std::collections::BTreeMap<String, String>,
}

#[test]
fn yaml_output_is_secrets_and_config_maps() {
    let (code, out, err) = run(&["certs", "init", "-o", "yaml", "-n", "kv", "--now", &at(0)]);
    assert_eq!(code, 0, "{err}");
    let docs: Vec<Doc> = serde_yaml_ng::Deserializer::from_str(&out)
        .map(|d| Doc::deserialize(d).unwrap())
        .collect();
    let secrets: Vec<&Doc> = docs.iter().filter(|d| d.kind == "Secret").collect();
    let maps: Vec<&Doc> = docs.iter().filter(|d| d.kind == "ConfigMap").collect();
    assert_eq!(secrets.len(), 17);
    assert_eq!(maps.len(), 4);
    for d in &secrets {
        assert_eq!(d.type_.as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(d.metadata["namespace"], "kv");
        assert_eq!(
            d.metadata["labels"]["app.kubernetes.io/managed-by"],
            "virt-operator"
        );
        let name = d.metadata["name"].as_str().unwrap();
        let want = if CAS.contains(&name) {
            "168h0m0s"
        } else {
            "24h0m0s"
        };
        assert_eq!(d.metadata["annotations"]["kubevirt.io/duration"], want);
        let crt = String::from_utf8(b64_decode(&d.data["tls.crt"])).unwrap();
        let key = String::from_utf8(b64_decode(&d.data["tls.key"])).unwrap();
        assert!(crt.starts_with("-----BEGIN CERTIFICATE-----"), "{name}");
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{name}");
    }
    let api = secrets
        .iter()
        .find(|d| d.metadata["name"] == "kubevirt-virt-api-certs")
        .unwrap();
    assert!(!api.data["tls.crt"].contains('\n'));
    let names: Vec<&str> = maps
        .iter()
        .map(|d| d.metadata["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "kubevirt-ca",
            "kubevirt-export-ca",
            "kubevirt-backup-ca",
            "kubevirt-external-ca"
        ]
    );
    assert_eq!(pem_count(&maps[0].data["ca-bundle"]), 1);
    assert_eq!(maps[3].data["ca-bundle"], "");

    // The manifests read back as a snapshot: healthy now, rotation due at +23h.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("kv.yaml");
    std::fs::write(&file, &out).unwrap();
    let (code, out2, err) = run(&["certs", "inspect", "-f", s(&file), "--now", &at(1)]);
    assert_eq!(code, 0, "{out2}{err}");
    assert!(out2.contains("namespace kv"), "{out2}");
    let (code, out2, _) = run(&["certs", "inspect", "-f", s(&file), "--now", &at(23)]);
    assert_eq!(code, 1);
    assert!(out2.contains("Secret kv/kubevirt-virt-api-certs data.tls.crt: certificate is past its rotation deadline"), "{out2}");

    // -o json is a v1 List of the same objects.
    let (code, out, _) = run(&["certs", "init", "-o", "json", "--now", &at(0)]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "List");
    assert_eq!(v["items"].as_array().unwrap().len(), 21);
}

#[test]
fn inspect_snapshot_uses_the_kubevirt_cr_schedule() {
    let (code, out, _) = run(&[
        "certs",
        "init",
        "-o",
        "yaml",
        "--now",
        &at(0),
        "--cert-duration",
        "48h",
    ]);
    assert_eq!(code, 0);
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("kv.yaml");
    let cr = "---\napiVersion: kubevirt.io/v1\nkind: KubeVirt\nmetadata: {name: kubevirt, namespace: kubevirt}\nspec:\n  certificateRotateStrategy:\n    selfSigned:\n      server: {duration: 48h, renewBefore: 1h}\n";
    std::fs::write(&file, format!("{out}{cr}")).unwrap();
    // With renewBefore 1h the leaves are not due at +40h (they would be with the default 0.2 × 48h).
    let (code, out2, err) = run(&[
        "certs",
        "inspect",
        "-f",
        s(&file),
        "--now",
        &at(40),
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{out2}{err}");
    let v: serde_json::Value = serde_json::from_str(&out2).unwrap();
    assert_eq!(v["schedule"]["certRenewBefore"], "1h0m0s");
    let (code, _, _) = run(&["certs", "inspect", "-f", s(&file), "--now", &at(47)]);
    assert_eq!(code, 1);
}

#[test]
fn verify_accepts_the_handler_client_and_rejects_the_rest() {
    let (_tmp, dir) = init_at_t0();
    let (_tmp2, other) = init_at_t0();
    let bundle = dir.join("kubevirt-ca/ca-bundle");
    let client = dir.join("kubevirt-virt-handler-certs/tls.crt");
    let client_key = dir.join("kubevirt-virt-handler-certs/tls.key");
    let server = dir.join("kubevirt-virt-handler-server-certs/tls.crt");
    let verify = |cert: &Path, extra: &[&str]| {
        let mut args = vec![
            "certs",
            "verify",
            "--ca-bundle",
            s(&bundle),
            "--cert",
            s(cert),
        ];
        args.extend_from_slice(extra);
        let now = at(1);
        args.extend_from_slice(&["--now", &now]);
        run(&args)
    };
    let (code, out, _) = verify(
        &client,
        &[
            "--key",
            s(&client_key),
            "--usage",
            "client",
            "--cn-type",
            "virt-handler",
        ],
    );
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "OK: kubevirt.io:system:client:virt-handler (client virt-handler)\n"
        )
    );
    // Usage from the CN; the migration proxy accepts virt-handler and migration.
    let (code, out, _) = verify(
        &client,
        &["--cn-type", "virt-handler", "--cn-type", "migration"],
    );
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "OK: kubevirt.io:system:client:virt-handler (client virt-handler)\n"
        )
    );
    let (code, out, _) = verify(&server, &["--usage", "server", "--cn-type", "virt-handler"]);
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "OK: kubevirt.io:system:node:virt-handler (server virt-handler)\n"
        )
    );

    let (code, out, _) = verify(&server, &["--usage", "client", "--cn-type", "virt-handler"]);
    assert_eq!(code, 1);
    assert_eq!(out, "certificate specifies an incompatible key usage: requires client_auth, has [server_auth]\n");
    let (code, out, _) = verify(&client, &["--usage", "client", "--cn-type", "monitoring"]);
    assert_eq!(
        (code, out.as_str()),
        (
            1,
            "common name is invalid, got kubevirt.io:system:client:virt-handler\n"
        )
    );
    let foreign = other.join("kubevirt-virt-handler-certs/tls.crt");
    let (code, out, _) = verify(&foreign, &["--usage", "client"]);
    assert_eq!(
        (code, out.as_str()),
        (1, "certificate signed by unknown authority\n")
    );
    let (code, out, _) = run(&[
        "certs",
        "verify",
        "--ca-bundle",
        s(&bundle),
        "--cert",
        s(&client),
        "--now",
        &at(25),
    ]);
    assert_eq!(code, 1);
    assert!(out.starts_with("certificate has expired"), "{out}");
    let (code, out, _) = verify(&client, &["--usage", "client", "-o", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["componentType"], "virt-handler");
    assert_eq!(v["issuer"], format!("kubevirt.io@{T0_UNIX}"));
}

#[test]
fn verify_bad_input_is_exit_2_naming_the_file() {
    let (tmp, dir) = init_at_t0();
    let bundle = dir.join("kubevirt-ca/ca-bundle");
    let client = dir.join("kubevirt-virt-handler-certs/tls.crt");
    let garbage = tmp.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let truncated = tmp.path().join("truncated-bundle.pem");
    let text = read(&bundle);
    std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    let now = at(1);
    let other_key = dir.join("kubevirt-virt-api-certs/tls.key");
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec!["--ca-bundle", s(&bundle), "--cert", s(&garbage)],
            s(&garbage),
            "certificate cannot be read",
        ),
        (
            vec!["--ca-bundle", s(&truncated), "--cert", s(&client)],
            s(&truncated),
            "CA bundle cannot be read",
        ),
        (
            vec!["--ca-bundle", s(&garbage), "--cert", s(&client)],
            s(&garbage),
            "CA bundle cannot be read",
        ),
        (
            vec![
                "--ca-bundle",
                s(&bundle),
                "--cert",
                s(&client),
                "--key",
                s(&other_key),
            ],
            "kubevirt-virt-api-certs/tls.key",
            "private key does not match the certificate",
        ),
    ];
    let rsa_crt = fixture("rsa.crt");
    let rsa_key = fixture("rsa.key");
    let mut cases = cases;
    cases.push((
        vec![
            "--ca-bundle",
            s(&bundle),
            "--cert",
            s(&rsa_crt),
            "--key",
            s(&rsa_key),
        ],
        "rsa.key",
        "wrong key type: expected ECDSA P-256",
    ));
    let missing = tmp.path().join("nope.pem");
    cases.push((
        vec!["--ca-bundle", s(&missing), "--cert", s(&client)],
        "nope.pem",
        "no such file",
    ));
    for (args, file, needle) in cases {
        let mut all = vec!["certs", "verify"];
        all.extend(args);
        all.extend(["--now", now.as_str()]);
        let (code, out, err) = run(&all);
        assert_eq!(code, 2, "{all:?}: {out}{err}");
        assert!(
            err.starts_with("error: ") && err.contains(file) && err.contains(needle),
            "{all:?}: {err}"
        );
    }
}

#[test]
fn inspect_reports_broken_secrets_naming_the_files() {
    let (tmp, dir) = init_at_t0();
    let api = dir.join("kubevirt-virt-api-certs");
    let ctl = dir.join("kubevirt-controller-certs");
    let handler = dir.join("kubevirt-virt-handler-certs");
    let bundle = dir.join("kubevirt-ca/ca-bundle");
    // Garbage certificate, RSA key pair, key of another secret, truncated bundle.
    std::fs::write(handler.join("tls.crt"), "garbage").unwrap();
    std::fs::copy(fixture("rsa.crt"), api.join("tls.crt")).unwrap();
    std::fs::copy(fixture("rsa.key"), api.join("tls.key")).unwrap();
    std::fs::copy(
        dir.join("kubevirt-operator-certs/tls.key"),
        ctl.join("tls.key"),
    )
    .unwrap();
    std::fs::remove_dir_all(dir.join("kubevirt-exportproxy-certs")).unwrap();
    let (code, out, err) = run(&["certs", "inspect", "--dir", s(&dir), "--now", &at(1)]);
    assert_eq!(code, 1, "{err}");
    let line = |path: &Path, msg: &str| format!("{}: {msg}", path.display());
    for want in [
        line(
            &handler.join("tls.crt"),
            "tls.crt cannot be read: no PEM block found",
        ),
        line(
            &api.join("tls.crt"),
            "certificate key is RSA 2048, expected ECDSA P-256",
        ),
        line(
            &api.join("tls.key"),
            "private key is RSA 2048, expected ECDSA P-256",
        ),
        line(
            &bundle,
            "CA virt-api.kubevirt.pod.cluster.local is missing from the CA bundle",
        ),
        line(
            &ctl.join("tls.key"),
            "private key does not match the certificate",
        ),
        "kubevirt-exportproxy-certs: secret kubevirt-exportproxy-certs not found".to_string(),
    ] {
        assert!(out.contains(&want), "missing {want:?} in\n{out}");
    }
    // A truncated bundle is reported against the bundle file for every secret it serves.
    let text = read(&bundle);
    std::fs::write(&bundle, &text[..text.len() - 40]).unwrap();
    let (code, out, _) = run(&[
        "certs",
        "inspect",
        "--dir",
        s(&dir),
        "--now",
        &at(1),
        "-o",
        "json",
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let vsock = v["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["secret"] == "kubevirt-virt-handler-vsock-client-certs")
        .unwrap();
    assert_eq!(vsock["problems"][0]["problem"], "bundle_unreadable");
    assert_eq!(vsock["problems"][0]["location"], s(&bundle));
    drop(tmp);
}

#[test]
fn inspect_input_errors_are_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&["certs", "inspect", "--dir", s(&tmp.path().join("none"))]);
    assert_eq!(code, 2);
    assert!(err.contains("no such directory"), "{err}");
    let (code, _, err) = run(&["certs", "inspect", "--dir", s(tmp.path())]);
    assert_eq!(code, 2);
    assert!(err.contains("no certificate secrets"), "{err}");
    let (code, _, err) = run(&["certs", "inspect"]);
    assert_eq!(code, 2);
    assert!(err.contains("--dir"), "{err}");
    let file = tmp.path().join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Secret\nmetadata: {name: kubevirt-ca, namespace: kubevirt}\ndata:\n  tls.crt: '%%%'\n  tls.key: ''\n",
    )
    .unwrap();
    let (code, _, err) = run(&["certs", "inspect", "-f", s(&file)]);
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.yaml") && err.contains("data.tls.crt: invalid base64"),
        "{err}"
    );
}

#[test]
fn rotate_imports_external_cas_into_the_kubevirt_ca_bundle_once() {
    let (_tmp, dir) = init_at_t0();
    let (_tmp2, other) = init_at_t0();
    let inbox = dir.join("kubevirt-external-ca/ca-bundle");
    std::fs::copy(other.join("kubevirt-ca/tls.crt"), &inbox).unwrap();
    let (code, _, err) = run(&["certs", "rotate", "--dir", s(&dir), "--now", &at(1)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(read(&inbox), "", "the inbox is emptied");
    let bundle = dir.join("kubevirt-ca/ca-bundle");
    assert_eq!(pem_count(&read(&bundle)), 2);
    assert_eq!(
        pem_count(&read(&dir.join("kubevirt-export-ca/ca-bundle"))),
        1
    );
    // The other cluster's virt-handler is now trusted.
    let (code, out, _) = run(&[
        "certs",
        "verify",
        "--ca-bundle",
        s(&bundle),
        "--cert",
        s(&other.join("kubevirt-virt-handler-certs/tls.crt")),
        "--now",
        &at(2),
    ]);
    assert_eq!(code, 0, "{out}");
}
