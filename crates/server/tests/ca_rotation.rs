//! Forced CA and leaf rotations drop no request (issue 10 §1): a PKI directory as `certs init`
//! writes it ([`PkiDir`]), a server on virt-handler's server certificate requiring virt-handler
//! clients of the `kubevirt-ca` bundle, and real clients (`curl`, `openssl s_client`) making
//! one new TLS connection per request, each reading its certificate, key and the CA bundle
//! from disk every time — while the directory is rotated as `certs rotate --force-ca` and
//! `--force <leaf>` do. The bundle is published before any leaf the new CA signs, the server
//! re-reads a changed bundle before rejecting an unknown issuer, and each key pair is swapped
//! atomically, so no request may fail.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::rotation_clients::{collect, spawn_all, wait_for, Target};
use common::{Running, HANDLER_CLIENT, HOST, SERVER_SECRET};
use time::OffsetDateTime;
use virtguard_pki::{issue_all, PkiDir, RotationRequest, Schedule, SelfSignConfiguration};
use virtguard_server::ServerConfig;

/// Requests each resolved-pair client makes at least.
const MIN_REQUESTS: usize = 400;

fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(0).unwrap_or(t)
}

/// `certs rotate` on `dir` now: `--force-ca`, or `--force` of each of `force`.
fn rotate(dir: &PkiDir, force_ca: bool, force: &[&str]) {
    let state = dir.state().unwrap();
    let request = RotationRequest {
        schedule: Schedule::from_config(Some(&state.self_signed)),
        now: now(),
        force: force.iter().map(|s| s.to_string()).collect(),
        force_ca,
    };
    let rotation = dir.rotate(&state, &request).unwrap();
    assert!(!rotation.changes.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_ca_and_leaf_rotations_drop_no_request() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = PkiDir::new(tmp.path().join("pki"));
    let config = SelfSignConfiguration::default();
    let issued = issue_all("kubevirt", &Schedule::from_config(Some(&config)), now()).unwrap();
    dir.write_issued(&issued, "kubevirt", &config).unwrap();
    let bundle = dir.bundle_path("kubevirt-ca");

    let mut cfg = ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.secret_dir(SERVER_SECRET),
    );
    cfg.client_ca = Some(bundle.clone());
    cfg.client_cn_types = vec!["virt-handler".to_string()];
    cfg.reload_interval = Duration::from_secs(60); // only file events reload
    let server = Running::start(cfg, axum::Router::new()).await;
    let h = server.handle.clone();

    let target = Target {
        port: server.port(),
        host: HOST.to_string(),
        secret_dir: dir.secret_dir(HANDLER_CLIENT),
        bundle: bundle.clone(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(120);
    let clients = spawn_all(&target, MIN_REQUESTS, &stop, deadline);

    // Two forced CA rotations and two forced rotations of both handler leaves, spaced so that
    // every CA gets its own CN (`kubevirt.io@<unix seconds>`).
    let rotations = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || {
            let leaves = [HANDLER_CLIENT, SERVER_SECRET];
            for (force_ca, force) in [(true, &[][..]), (false, &leaves[..])]
                .into_iter()
                .cycle()
                .take(4)
            {
                std::thread::sleep(Duration::from_millis(1200));
                rotate(&dir, force_ca, force);
            }
            std::thread::sleep(Duration::from_millis(1200));
        })
    };
    rotations.await.unwrap();
    stop.store(true, Ordering::Relaxed);

    let failures = tokio::task::spawn_blocking(move || collect(clients, MIN_REQUESTS / 2))
        .await
        .unwrap();
    assert!(
        failures.is_empty(),
        "{} failed: {:#?}",
        failures.len(),
        failures
    );
    assert_eq!(h.metrics().handshake_failures("unknown_issuer"), 0);

    // The server ends up with the files on disk: the last leaf, the last bundle.
    let on_disk = |p: &std::path::Path| std::fs::read_to_string(p).unwrap();
    let leaf = virtguard_pki::Certificate::from_pem(&on_disk(
        &dir.secret_dir(SERVER_SECRET).join("tls.crt"),
    ))
    .unwrap();
    let bundle_now = virtguard_pki::parse_certificates(&on_disk(&bundle)).unwrap();
    assert_eq!(bundle_now.len(), 3, "new CA first, both older ones kept");
    assert!(wait_for(Duration::from_secs(10), || h
        .serving_certificate()
        == leaf
        && h.client_ca().as_ref() == Some(&bundle_now)));
    server.shutdown().await;
}
