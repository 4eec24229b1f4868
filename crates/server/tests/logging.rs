//! The operator-facing log lines: a rejected client and a refused certificate file each give
//! one `WARN` line with the reason; RSA serving certificates with PKCS#1 keys are accepted.

mod common;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Collects `LEVEL message key=value ...` lines.
struct Capture(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.target().starts_with("virtguard_server")
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(event.metadata().level().to_string());
        event.record(&mut line);
        if let Ok(mut v) = self.0.lock() {
            v.push(line.0);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn warn_lines(lines: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with(&Level::WARN.to_string()))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_and_refusals_are_logged_with_their_reason() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    tracing::subscriber::set_global_default(Capture(lines.clone())).unwrap();

    let ca = Ca::new(0);
    let files = Files::new(&ca.leaf(SERVER_SECRET), ca.pem());
    let server = Running::start(files.config(&["virt-handler"]), axum::Router::new()).await;
    let vsock = client_config(&[ca.pem()], Some(&ca.leaf(VSOCK_CLIENT)));
    assert!(get_once(server.addr(), vsock, "/healthz").await.is_err());
    let l = lines.clone();
    assert!(
        eventually(Duration::from_secs(3), || warn_lines(&l)
            .iter()
            .any(|w| w.contains("TLS handshake rejected")
                && w.contains("reason=bad_common_name")
                && w.contains("kubevirt.io:system:client:vsock")))
        .await,
        "{:?}",
        warn_lines(&lines)
    );

    files.set_serving_raw("garbage", "garbage");
    let l = lines.clone();
    assert!(
        eventually(Duration::from_secs(5), || warn_lines(&l)
            .iter()
            .any(|w| w.contains("refusing new serving certificate")))
        .await,
        "{:?}",
        warn_lines(&lines)
    );

    // RSA certificate with a PKCS#1 key (made by openssl): accepted and served.
    let dir = tempfile::tempdir().unwrap();
    let (crt, key) = (dir.path().join("rsa.crt"), dir.path().join("rsa.key"));
    let out = run(std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=virt-handler.kubevirt.svc", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&crt));
    assert!(out.status.success());
    let pkcs1 = run(std::process::Command::new("openssl")
        .args(["rsa", "-traditional", "-in"])
        .arg(&key));
    let key_pem = String::from_utf8(pkcs1.stdout).unwrap();
    assert!(key_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let cert_pem = std::fs::read_to_string(&crt).unwrap();
    files.set_serving_raw(&cert_pem, &key_pem);
    let want = virtguard_pki::Certificate::from_pem(&cert_pem).unwrap();
    let h = server.handle.clone();
    assert!(eventually(Duration::from_secs(5), || h.serving_certificate() == want).await);
    let handler = ca.leaf(HANDLER_CLIENT);
    let (hc, hk) = files.client_files("handler", &handler);
    let cafile = files.file("rsa-ca.pem", &cert_pem);
    let served = openssl_served_cert(server.port(), &cafile, Some((&hc, &hk)));
    assert_eq!(
        first_pem_cert(&String::from_utf8_lossy(&served.stdout)).as_ref(),
        Some(&want)
    );
    // ... and an RSA certificate with another key is refused.
    let before = h.metrics().reloads(false);
    files.set_serving_raw(&cert_pem, &ca.leaf(SERVER_SECRET).key_pem);
    assert!(
        eventually(Duration::from_secs(5), || h.metrics().reloads(false)
            > before)
        .await
    );
    assert_eq!(h.serving_certificate(), want);
    server.shutdown().await;
}
