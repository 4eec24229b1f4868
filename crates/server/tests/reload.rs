//! Hot reload: new connections see a replaced certificate (checked with openssl and a rustls
//! client), established connections keep working, broken files are refused and counted while
//! the old certificate keeps serving, the client-CA bundle reloads too, and shutdown drains
//! in-flight requests.

mod common;

use std::time::Duration;

use common::*;
use time::OffsetDateTime;
use virtguard_pki::Certificate;
use virtguard_server::ReloadStatus;

async fn served(
    addr: std::net::SocketAddr,
    cfg: std::sync::Arc<rustls::ClientConfig>,
) -> Certificate {
    get_once(addr, cfg, "/healthz").await.unwrap().2
}

/// Waits until new connections are served `want`.
async fn wait_served(
    addr: std::net::SocketAddr,
    cfg: &std::sync::Arc<rustls::ClientConfig>,
    want: &Certificate,
) -> bool {
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < end {
        if &served(addr, cfg.clone()).await == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_certificate_is_served_to_new_connections_and_broken_files_are_refused() {
    let ca = Ca::new(0);
    let first = ca.leaf(SERVER_SECRET);
    let files = Files::new(&first, ca.pem());
    let mut cfg = files.config(&["virt-handler"]);
    cfg.reload_interval = Duration::from_secs(2); // the watcher is normally much faster
    let server = Running::start(cfg, axum::Router::new()).await;
    let addr = server.addr();
    let client = client_config(&[ca.pem()], Some(&ca.leaf(HANDLER_CLIENT)));
    assert_eq!(served(addr, client.clone()).await, first.certificate);

    // An established connection, kept across the reload.
    let mut kept = connect(addr, client.clone()).await.unwrap();
    assert_eq!(kept.get("/healthz").await.unwrap().0, 200);

    // Replace the files: the watcher picks them up; openssl sees the new certificate.
    let second = ca.leaf(SERVER_SECRET);
    files.set_serving(&second);
    assert!(wait_served(addr, &client, &second.certificate).await);
    assert_eq!(server.handle.metrics().reloads(true), 1);
    let cafile = files.file("ca.pem", ca.pem());
    let out = openssl_served_cert(server.port(), &cafile, None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(first_pem_cert(&text).as_ref(), Some(&second.certificate));
    assert_ne!(
        second.certificate.summary().serial,
        first.certificate.summary().serial
    );

    // The old connection still works and still has the old certificate.
    assert_eq!(kept.get("/healthz").await.unwrap().0, 200);
    assert_eq!(kept.served, first.certificate);

    // Broken replacements: refused, counted, the second certificate keeps serving.
    let h = server.handle.clone();
    let third = ca.leaf(SERVER_SECRET);
    let expired = ca.leaf_at(
        SERVER_SECRET,
        OffsetDateTime::now_utc() - time::Duration::minutes(50),
        0,
    );
    let other_ca = Ca::new(7);
    let cases: Vec<(&str, String, String)> = vec![
        (
            "garbage PEM",
            "-----BEGIN CERTIFICATE-----\nnot base64!\n".into(),
            second.key_pem.clone(),
        ),
        ("empty file", String::new(), second.key_pem.clone()),
        (
            "key of another certificate",
            third.cert_pem.clone(),
            second.key_pem.clone(),
        ),
        (
            "garbage key",
            third.cert_pem.clone(),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into(),
        ),
        ("expired", expired.cert_pem.clone(), expired.key_pem.clone()),
        (
            "a CA certificate with a foreign key",
            other_ca.issued.cert_pem.clone(),
            third.key_pem.clone(),
        ),
    ];
    for (i, (what, cert, key)) in cases.into_iter().enumerate() {
        let before = h.metrics().reloads(false);
        files.set_serving_raw(&cert, &key);
        assert!(
            eventually(Duration::from_secs(5), || h.metrics().reloads(false)
                > before)
            .await,
            "{what}: not refused"
        );
        assert_eq!(
            served(addr, client.clone()).await,
            second.certificate,
            "{what} (case {i})"
        );
        // The same broken content is not re-counted by the periodic check.
        let report = h.reload_now().await;
        assert_eq!(report.serving, ReloadStatus::Unchanged, "{what}");
    }
    assert_eq!(h.metrics().reloads(true), 1);
    let metrics = h.metrics().render();
    assert!(metrics.contains(&format!(
        "virtguard_certificate_expiry_seconds{{kind=\"serving\"}} {}",
        second.certificate.not_after().unix_timestamp()
    )));

    // A good file again is taken.
    files.set_serving(&third);
    assert!(wait_served(addr, &client, &third.certificate).await);
    assert_eq!(h.metrics().reloads(true), 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_check_alone_reloads() {
    let ca = Ca::new(0);
    let first = ca.leaf(SERVER_SECRET);
    let files = Files::new(&first, ca.pem());
    let mut cfg = files.config(&["virt-handler"]);
    cfg.reload_interval = Duration::from_millis(200);
    let server = Running::start(cfg, axum::Router::new()).await;
    let client = client_config(&[ca.pem()], Some(&ca.leaf(HANDLER_CLIENT)));
    // Rewrite in place (no rename): the watcher may or may not see it; the tick does.
    let second = ca.leaf(SERVER_SECRET);
    std::fs::write(files.tls_dir.join("tls.key"), &second.key_pem).unwrap();
    std::fs::write(files.tls_dir.join("tls.crt"), &second.cert_pem).unwrap();
    assert!(wait_served(server.addr(), &client, &second.certificate).await);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ca_bundle_reloads_and_broken_bundles_are_refused() {
    let ca1 = Ca::new(0);
    let ca2 = Ca::new(1);
    let files = Files::new(&ca1.leaf(SERVER_SECRET), ca1.pem());
    let server = Running::start(files.config(&["virt-handler"]), axum::Router::new()).await;
    let addr = server.addr();
    let h = server.handle.clone();
    let by_ca1 = client_config(&[ca1.pem()], Some(&ca1.leaf(HANDLER_CLIENT)));
    let by_ca2 = client_config(&[ca1.pem()], Some(&ca2.leaf(HANDLER_CLIENT)));
    assert!(get_once(addr, by_ca1.clone(), "/healthz").await.is_ok());
    assert!(get_once(addr, by_ca2.clone(), "/healthz").await.is_err());
    assert!(
        eventually(Duration::from_secs(3), || h
            .metrics()
            .handshake_failures("unknown_issuer")
            == 1)
        .await
    );

    // Overlap bundle: both accepted.
    files.set_bundle(&format!("{}{}", ca1.pem(), ca2.pem()));
    assert!(
        eventually(Duration::from_secs(5), || h.client_ca().map(|c| c.len())
            == Some(2))
        .await
    );
    assert_eq!(
        get_once(addr, by_ca2.clone(), "/healthz").await.unwrap().0,
        200
    );
    assert_eq!(
        get_once(addr, by_ca1.clone(), "/healthz").await.unwrap().0,
        200
    );
    let metrics = h.metrics().render();
    assert!(
        metrics.contains(&format!(
            "virtguard_certificate_expiry_seconds{{kind=\"client_ca\"}} {}",
            ca2.issued.certificate.not_after().unix_timestamp()
        )),
        "{metrics}"
    );

    // Broken bundles are refused; both CAs still accepted.
    for broken in [
        "",
        "garbage",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    ] {
        let before = h.metrics().reloads(false);
        files.set_bundle(broken);
        assert!(
            eventually(Duration::from_secs(5), || h.metrics().reloads(false)
                > before)
            .await,
            "{broken:?}"
        );
        assert_eq!(
            get_once(addr, by_ca2.clone(), "/healthz").await.unwrap().0,
            200
        );
    }

    // Drop CA1: its clients are now rejected.
    files.set_bundle(ca2.pem());
    assert!(
        eventually(Duration::from_secs(5), || h.client_ca().map(|c| c.len())
            == Some(1))
        .await
    );
    assert!(get_once(addr, by_ca1, "/healthz").await.is_err());
    assert_eq!(get_once(addr, by_ca2, "/healthz").await.unwrap().0, 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_in_flight_requests() {
    let ca = Ca::new(0);
    let files = Files::new(&ca.leaf(SERVER_SECRET), ca.pem());
    let router = axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_millis(700)).await;
            "done"
        }),
    );
    let mut server = Running::start(files.config(&["virt-handler"]), router).await;
    let addr = server.addr();
    let client = client_config(&[ca.pem()], Some(&ca.leaf(HANDLER_CLIENT)));
    let mut c = connect(addr, client.clone()).await.unwrap();
    let inflight = tokio::spawn(async move { c.get("/slow").await.map_err(|e| e.to_string()) });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let _ = server.stop.take().map(|tx| tx.send(()));
    let (code, body) = inflight.await.unwrap().unwrap();
    assert_eq!((code, body.as_str()), (200, "done"));
    tokio::time::timeout(Duration::from_secs(5), &mut server.task)
        .await
        .expect("run() returns after the drain")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    // No longer accepting.
    assert!(get_once(addr, client, "/healthz").await.is_err());
    assert_eq!(server.handle.metrics().requests("/slow", 200), 1);
}

/// A Kubernetes secret volume: `tls.crt -> ..data/tls.crt`, `..data -> ..<timestamp>`; an
/// update swaps the `..data` symlink atomically.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_volume_symlink_swap_is_picked_up_by_the_watcher() {
    use std::os::unix::fs::symlink;
    let ca = Ca::new(0);
    let first = ca.leaf(SERVER_SECRET);
    let files = Files::new(&first, ca.pem());
    let vol = files.dir.path().join("secret-volume");
    let gen = |name: &str, c: &virtguard_pki::IssuedCert| {
        let d = vol.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("tls.crt"), &c.cert_pem).unwrap();
        std::fs::write(d.join("tls.key"), &c.key_pem).unwrap();
    };
    gen("..2024_01", &first);
    symlink("..2024_01", vol.join("..data")).unwrap();
    symlink("..data/tls.crt", vol.join("tls.crt")).unwrap();
    symlink("..data/tls.key", vol.join("tls.key")).unwrap();
    let mut cfg = files.config(&["virt-handler"]);
    cfg.tls_dir = vol.clone();
    cfg.reload_interval = Duration::from_secs(3600); // only the watcher
    let server = Running::start(cfg, axum::Router::new()).await;
    let client = client_config(&[ca.pem()], Some(&ca.leaf(HANDLER_CLIENT)));
    assert_eq!(
        served(server.addr(), client.clone()).await,
        first.certificate
    );

    let second = ca.leaf(SERVER_SECRET);
    gen("..2024_02", &second);
    symlink("..2024_02", vol.join("..data_tmp")).unwrap();
    std::fs::rename(vol.join("..data_tmp"), vol.join("..data")).unwrap();
    assert!(wait_served(server.addr(), &client, &second.certificate).await);
    assert_eq!(server.handle.metrics().reloads(false), 0);
    server.shutdown().await;
}
