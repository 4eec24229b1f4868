//! mTLS with real clients (curl, openssl): a KubeVirt client is accepted; no certificate,
//! another CA, a server-usage certificate, a wrong CN and an expired certificate are each
//! rejected and counted by reason in `/metrics`.

mod common;

use std::time::Duration;

use common::*;
use time::OffsetDateTime;
use virtguard_server::{MinTls, ServerConfig};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Body and status code from `curl -w '\n%{http_code}'`.
fn body_code(o: &std::process::Output) -> (String, String) {
    let out = stdout(o);
    match out.rsplit_once('\n') {
        Some((b, c)) => (b.to_string(), c.trim().to_string()),
        None => (String::new(), out.trim().to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepts_kubevirt_clients_and_rejects_the_rest_with_reasons() {
    let ca = Ca::new(0);
    let other = Ca::new(1);
    let files = Files::new(&ca.leaf(SERVER_SECRET), ca.pem());
    let server = Running::start(
        files.config(&["virt-handler", "migration"]),
        axum::Router::new(),
    )
    .await;
    let port = server.port();
    let cafile = files.file("ca.pem", ca.pem());

    // Good clients: both allowed types, via curl; openssl verifies the served chain.
    let handler = ca.leaf(HANDLER_CLIENT);
    let (hc, hk) = files.client_files("handler", &handler);
    let out = curl(port, "/healthz", &cafile, Some((&hc, &hk)));
    assert_eq!(
        body_code(&out),
        ("ok".into(), "200".into()),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let migration = ca.leaf(MIGRATION_CLIENT);
    let (mc, mk) = files.client_files("migration", &migration);
    assert_eq!(
        body_code(&curl(port, "/readyz", &cafile, Some((&mc, &mk)))),
        ("ok".into(), "200".into())
    );
    let out = openssl_served_cert(port, &cafile, Some((&hc, &hk)));
    let text = stdout(&out);
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    let served = first_pem_cert(&text).expect("served certificate");
    let served_file = files.file("served.pem", &served.to_pem());
    let verify = run(std::process::Command::new("openssl")
        .args(["verify", "-purpose", "sslserver", "-CAfile"])
        .arg(&cafile)
        .arg(&served_file));
    assert!(verify.status.success(), "{}", stdout(&verify));

    // Rejections, each with its reason.
    let server_as_client = ca.leaf(SERVER_SECRET);
    let (sc, sk) = files.client_files("server-as-client", &server_as_client);
    let foreign = other.leaf(HANDLER_CLIENT);
    let (fc, fk) = files.client_files("foreign", &foreign);
    let vsock = ca.leaf(VSOCK_CLIENT);
    let (vc, vk) = files.client_files("vsock", &vsock);
    let expired = ca.leaf_at(
        HANDLER_CLIENT,
        OffsetDateTime::now_utc() - time::Duration::minutes(50),
        0,
    );
    let (ec, ek) = files.client_files("expired", &expired);
    let cases: [(&str, Option<(&std::path::Path, &std::path::Path)>); 5] = [
        ("no_certificate", None),
        ("unknown_issuer", Some((&fc, &fk))),
        ("wrong_usage", Some((&sc, &sk))),
        ("bad_common_name", Some((&vc, &vk))),
        ("expired", Some((&ec, &ek))),
    ];
    for (reason, identity) in cases {
        let before = server.handle.metrics().handshake_failures(reason);
        let out = curl(port, "/healthz", &cafile, identity);
        let (body, code) = body_code(&out);
        assert!(
            !out.status.success() && body != "ok",
            "{reason}: curl succeeded: {code}"
        );
        assert_ne!(code, "200", "{reason}");
        let h = server.handle.clone();
        assert!(
            eventually(Duration::from_secs(3), || h
                .metrics()
                .handshake_failures(reason)
                == before + 1)
            .await,
            "{reason} not counted: {}",
            h.metrics().render()
        );
    }

    // The same with openssl s_client for the foreign CA.
    let before = server.handle.metrics().handshake_failures("unknown_issuer");
    let out = openssl_served_cert(port, &cafile, Some((&fc, &fk)));
    let _ = out;
    let h = server.handle.clone();
    assert!(
        eventually(Duration::from_secs(3), || h
            .metrics()
            .handshake_failures("unknown_issuer")
            > before)
        .await
    );

    // Every reason is visible in /metrics, together with requests, expiry and reloads.
    let (metrics, code) = body_code(&curl(port, "/metrics", &cafile, Some((&hc, &hk))));
    assert_eq!(code, "200");
    for reason in [
        "no_certificate",
        "wrong_usage",
        "bad_common_name",
        "expired",
    ] {
        let line = format!("virtguard_tls_handshake_failures_total{{reason=\"{reason}\"}} 1");
        assert!(metrics.contains(&line), "{line} missing in\n{metrics}");
    }
    assert!(metrics.contains("virtguard_tls_handshake_failures_total{reason=\"unknown_issuer\"} 2"));
    assert!(metrics.contains("virtguard_http_requests_total{path=\"/healthz\",code=\"200\"} 1"));
    assert!(metrics.contains("virtguard_http_requests_total{path=\"/readyz\",code=\"200\"} 1"));
    let serving_expiry = format!(
        "virtguard_certificate_expiry_seconds{{kind=\"serving\"}} {}",
        server
            .handle
            .serving_certificate()
            .not_after()
            .unix_timestamp()
    );
    assert!(metrics.contains(&serving_expiry), "{metrics}");
    let ca_expiry = format!(
        "virtguard_certificate_expiry_seconds{{kind=\"client_ca\"}} {}",
        ca.issued.certificate.not_after().unix_timestamp()
    );
    assert!(metrics.contains(&ca_expiry), "{metrics}");
    assert!(metrics.contains("virtguard_certificate_reloads_total{result=\"ok\"} 0"));

    // An unknown route is counted under a bounded label.
    let (_, code) = body_code(&curl(port, "/nope", &cafile, Some((&hc, &hk))));
    assert_eq!(code, "404");
    assert_eq!(server.handle.metrics().requests("unmatched", 404), 1);

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_type_list_accepts_any_client_of_the_ca() {
    let ca = Ca::new(0);
    let files = Files::new(&ca.leaf(SERVER_SECRET), ca.pem());
    let server = Running::start(files.config(&[]), axum::Router::new()).await;
    let cafile = files.file("ca.pem", ca.pem());
    let vsock = ca.leaf(VSOCK_CLIENT);
    let (vc, vk) = files.client_files("vsock", &vsock);
    assert_eq!(
        body_code(&curl(server.port(), "/healthz", &cafile, Some((&vc, &vk)))),
        ("ok".into(), "200".into())
    );
    // Usage is still checked.
    let s = ca.leaf(SERVER_SECRET);
    let (sc, sk) = files.client_files("srv", &s);
    assert_ne!(
        body_code(&curl(server.port(), "/healthz", &cafile, Some((&sc, &sk)))).1,
        "200"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_client_ca_no_client_certificate_is_needed() {
    let ca = Ca::new(0);
    let files = Files::new(&ca.leaf(SERVER_SECRET), ca.pem());
    let cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), &files.tls_dir);
    let server = Running::start(cfg, axum::Router::new()).await;
    let cafile = files.file("ca.pem", ca.pem());
    assert_eq!(
        body_code(&curl(server.port(), "/healthz", &cafile, None)),
        ("ok".into(), "200".into())
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_version_and_cipher_suite_settings_apply() {
    let ca = Ca::new(0);
    let files = Files::new(&ca.leaf(SERVER_SECRET), ca.pem());
    let cafile = files.file("ca.pem", ca.pem());
    let handler = ca.leaf(HANDLER_CLIENT);
    let (hc, hk) = files.client_files("handler", &handler);
    let s_client = |port: u16, extra: &[&str]| {
        let mut cmd = std::process::Command::new("openssl");
        cmd.args(["s_client", "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-servername", HOST, "-CAfile"])
            .arg(&cafile)
            .arg("-cert")
            .arg(&hc)
            .arg("-key")
            .arg(&hk)
            .args(extra)
            .stdin(std::process::Stdio::null());
        let out = run(&mut cmd);
        stdout(&out)
    };

    // Default: TLS 1.3 preferred, TLS 1.2 allowed.
    let server = Running::start(files.config(&["virt-handler"]), axum::Router::new()).await;
    assert!(s_client(server.port(), &[]).contains("New, TLSv1.3, Cipher is"));
    assert!(s_client(server.port(), &["-tls1_2"]).contains("New, TLSv1.2, Cipher is"));
    server.shutdown().await;

    // Minimum 1.3: a TLS 1.2-only client fails.
    let mut cfg = files.config(&["virt-handler"]);
    cfg.min_tls = MinTls::Tls13;
    let server = Running::start(cfg, axum::Router::new()).await;
    let out = s_client(server.port(), &["-tls1_2"]);
    assert!(out.contains("Cipher is (NONE)"), "{out}");
    let h = server.handle.clone();
    assert!(
        eventually(Duration::from_secs(3), || h
            .metrics()
            .handshake_failures("protocol")
            == 1)
        .await
    );
    server.shutdown().await;

    // One TLS 1.2 suite by its IANA name: others are refused for TLS 1.2.
    let mut cfg = files.config(&["virt-handler"]);
    cfg.cipher_suites = Some(vec!["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into()]);
    let server = Running::start(cfg, axum::Router::new()).await;
    let ok = s_client(
        server.port(),
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"],
    );
    assert!(
        ok.contains("New, TLSv1.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256"),
        "{ok}"
    );
    let refused = s_client(
        server.port(),
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"],
    );
    assert!(refused.contains("Cipher is (NONE)"), "{refused}");
    server.shutdown().await;

    // An unknown suite is a configuration error.
    let mut cfg = files.config(&["virt-handler"]);
    cfg.cipher_suites = Some(vec!["TLS_RSA_WITH_RC4_128_SHA".into()]);
    assert!(virtguard_server::Server::bind(cfg).await.is_err());
}
