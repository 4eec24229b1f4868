//! `virtguard serve` end to end with real clients: certificates from `virtguard certs init`,
//! `curl` with client certificates (KubeVirt's peer identity rule), a certificate rotated on
//! disk while serving, and a graceful stop on SIGTERM. Loopback only; skipped with a note when
//! `curl` is not installed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("virtguard")
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(pki: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--print-address",
            "--tls-dir",
        ])
        .arg(pki.join("kubevirt-virt-api-certs"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("address");
    Server {
        child,
        addr: line.trim().to_string(),
    }
}

/// curl against the server as virt-api's DNS name (its certificate's SAN), with an optional
/// client certificate secret; returns (HTTP code or 0 on TLS failure, body).
fn curl(pki: &Path, addr: &str, path: &str, client: Option<&str>) -> (u16, String) {
    let port = addr.rsplit(':').next().expect("port");
    let host = "virt-api.kubevirt.svc";
    let mut c = Command::new("curl");
    c.args([
        "-sS",
        "--max-time",
        "10",
        "-w",
        "\n%{http_code}",
        "--resolve",
    ])
    .arg(format!("{host}:{port}:127.0.0.1"))
    .arg("--cacert")
    .arg(pki.join("kubevirt-ca/ca-bundle"));
    if let Some(secret) = client {
        c.arg("--cert")
            .arg(pki.join(secret).join("tls.crt"))
            .arg("--key")
            .arg(pki.join(secret).join("tls.key"));
    }
    let out = c
        .arg(format!("https://{host}:{port}{path}"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn init(dir: &Path, extra: &[&str]) {
    let st = Command::new(bin())
        .args(["certs", "init", "--dir"])
        .arg(dir)
        .args(extra)
        .output()
        .expect("init");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
}

#[test]
fn mtls_with_kubevirt_identities_and_graceful_stop() {
    if !have("curl") {
        eprintln!("note: curl not installed; serve test skipped");
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let pki = tmp.path().join("pki");
    let other = tmp.path().join("other");
    init(&pki, &[]);
    init(&other, &[]);
    let ca = pki.join("kubevirt-ca/ca-bundle");
    let srv = start(
        &pki,
        &[
            "--client-ca",
            ca.to_str().expect("p"),
            "--client-cn-types",
            "virt-handler,migration",
        ],
    );
    // Allowed identities.
    let (code, body) = curl(
        &pki,
        &srv.addr,
        "/healthz",
        Some("kubevirt-virt-handler-certs"),
    );
    assert_eq!((code, body.as_str()), (200, "ok"));
    let (code, _) = curl(
        &pki,
        &srv.addr,
        "/readyz",
        Some("kubevirt-virt-handler-migration-client-certs"),
    );
    assert_eq!(code, 200);
    // Rejected: no certificate, a type not allowed, a server certificate as client.
    assert_eq!(curl(&pki, &srv.addr, "/healthz", None).0, 0);
    assert_eq!(
        curl(
            &pki,
            &srv.addr,
            "/healthz",
            Some("kubevirt-virt-handler-vsock-client-certs")
        )
        .0,
        0
    );
    assert_eq!(
        curl(
            &pki,
            &srv.addr,
            "/healthz",
            Some("kubevirt-controller-certs")
        )
        .0,
        0
    );
    // Rejected: a client of another cluster's CA (copied next to our CA bundle for curl).
    let foreign = pki.join("foreign-client");
    std::fs::create_dir_all(&foreign).expect("mkdir");
    for f in ["tls.crt", "tls.key"] {
        std::fs::copy(
            other.join("kubevirt-virt-handler-certs").join(f),
            foreign.join(f),
        )
        .expect("copy");
    }
    assert_eq!(
        curl(&pki, &srv.addr, "/healthz", Some("foreign-client")).0,
        0
    );
    // The reasons are counted.
    let (code, metrics) = curl(
        &pki,
        &srv.addr,
        "/metrics",
        Some("kubevirt-virt-handler-certs"),
    );
    assert_eq!(code, 200);
    for reason in [
        "no_certificate",
        "bad_common_name",
        "wrong_usage",
        "unknown_issuer",
    ] {
        assert!(
            metrics.contains(&format!(
                "virtguard_tls_handshake_failures_total{{reason=\"{reason}\"}}"
            )),
            "{reason} not counted:\n{metrics}"
        );
    }
    assert!(metrics.contains("virtguard_certificate_expiry_seconds"));

    // Rotate virt-api's certificate on disk (forced): new connections get the new serial.
    let serial = |pki: &Path| {
        let out = Command::new(bin())
            .args(["certs", "inspect", "-o", "json", "--dir"])
            .arg(pki)
            .output()
            .expect("inspect");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        v["secrets"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["secret"] == "kubevirt-virt-api-certs"))
            .and_then(|s| s["certificate"]["serial"].as_str())
            .map(str::to_string)
            .unwrap_or_default()
    };
    let before = serial(&pki);
    assert!(!before.is_empty());
    let st = Command::new(bin())
        .args([
            "certs",
            "rotate",
            "--force",
            "kubevirt-virt-api-certs",
            "--dir",
        ])
        .arg(&pki)
        .output()
        .expect("rotate");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert_ne!(before, serial(&pki));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, metrics) = curl(
            &pki,
            &srv.addr,
            "/metrics",
            Some("kubevirt-virt-handler-certs"),
        );
        if metrics.contains("virtguard_certificate_reloads_total{result=\"ok\"}") {
            break;
        }
        assert!(Instant::now() < deadline, "no reload seen:\n{metrics}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        curl(
            &pki,
            &srv.addr,
            "/healthz",
            Some("kubevirt-virt-handler-certs")
        )
        .0,
        200
    );

    // SIGTERM: drains and exits 0.
    let mut srv = srv;
    let pid = srv.child.id();
    let st = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(s) = srv.child.try_wait().expect("wait") {
            break s.code();
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(code, Some(0));
}

#[test]
fn a_broken_tls_dir_is_an_input_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(
        tmp.path().join("tls.crt"),
        "-----BEGIN CERTIFICATE-----\nnot base64\n",
    )
    .expect("w");
    std::fs::write(tmp.path().join("tls.key"), "garbage").expect("w");
    let out = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-dir"])
        .arg(tmp.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tls.crt") || err.contains("tls.key"), "{err}");
}

#[test]
fn bad_listen_and_tls_version_flags_are_usage_errors() {
    let tmp = tempfile::tempdir().expect("tmp");
    let run = |extra: &[&str]| {
        Command::new(bin())
            .args(["serve", "--tls-dir"])
            .arg(tmp.path())
            .args(extra)
            .output()
            .expect("run")
    };
    let out = run(&["--listen", "nonsense"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen \"nonsense\": not HOST:PORT"));
    let out = run(&["--listen", "127.0.0.1:0", "--min-tls-version", "1.0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--min-tls-version \"1.0\": use 1.2 or 1.3")
    );
}
