//! Rotation under load: 20 concurrent mTLS clients (tokio-rustls + hyper) send at least
//! `VIRTGUARD_LOAD_REQUESTS` (default 20,000) requests per phase over loopback, first without
//! and then while the test rotates the serving leaf and the CA (old and new CA both in the
//! client-CA bundle and the clients' trust store during the overlap). No request may fail, and
//! every connection opened after a rotation took effect must present the new certificate (or
//! a later one). Requests/s and p50/p99 latency of both phases are printed.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use common::*;

const CLIENTS: usize = 20;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What one client saw.
#[derive(Default)]
struct ClientLog {
    latencies_us: Vec<u32>,
    failures: Vec<String>,
    /// (connect start, SHA-256 of the served leaf).
    connections: Vec<(Instant, [u8; 32])>,
}

struct Load {
    addr: std::net::SocketAddr,
    config: Arc<RwLock<Arc<rustls::ClientConfig>>>,
    per_conn: usize,
}

async fn client(
    load: Arc<Load>,
    remaining: Arc<AtomicUsize>,
    keep_going: Arc<AtomicBool>,
) -> ClientLog {
    let mut log = ClientLog::default();
    let take = || {
        remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
            || keep_going.load(Ordering::Relaxed)
    };
    let mut more = take();
    while more {
        let cfg = match load.config.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        let start = Instant::now();
        let mut conn = match connect(load.addr, cfg).await {
            Ok(c) => c,
            Err(e) => {
                log.failures.push(format!("connect: {e}"));
                more = take();
                continue;
            }
        };
        log.connections.push((start, *conn.served.sha256()));
        for _ in 0..load.per_conn {
            let t = Instant::now();
            match conn.get("/healthz").await {
                Ok((200, body)) if body == "ok" => {
                    log.latencies_us
                        .push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                }
                Ok((code, body)) => log.failures.push(format!("{code} {body}")),
                Err(e) => log.failures.push(format!("request: {e}")),
            }
            more = take();
            if !more {
                break;
            }
        }
    }
    log
}

struct PhaseResult {
    logs: Vec<ClientLog>,
    elapsed: Duration,
}

async fn phase(load: &Arc<Load>, total: usize, keep_going: Arc<AtomicBool>) -> PhaseResult {
    let remaining = Arc::new(AtomicUsize::new(total));
    let start = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(client(load.clone(), remaining.clone(), keep_going.clone())))
        .collect();
    let mut logs = Vec::new();
    for t in tasks {
        logs.push(t.await.unwrap());
    }
    PhaseResult {
        logs,
        elapsed: start.elapsed(),
    }
}

fn report(name: &str, r: &PhaseResult) -> (usize, usize) {
    let mut lat: Vec<u32> = r
        .logs
        .iter()
        .flat_map(|l| l.latencies_us.iter().copied())
        .collect();
    lat.sort_unstable();
    let n = lat.len();
    let pct = |p: f64| {
        if n == 0 {
            0.0
        } else {
            let idx = ((n as f64 * p).ceil() as usize).clamp(1, n) - 1;
            f64::from(lat[idx]) / 1000.0
        }
    };
    let conns: usize = r.logs.iter().map(|l| l.connections.len()).sum();
    let failures: usize = r.logs.iter().map(|l| l.failures.len()).sum();
    println!(
        "LOAD {name}: clients={CLIENTS} requests={n} connections={conns} failures={failures} elapsed={:.2}s rps={:.0} p50={:.2}ms p99={:.2}ms max={:.2}ms",
        r.elapsed.as_secs_f64(),
        n as f64 / r.elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        pct(1.0),
    );
    (n, failures)
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_under_load_loses_no_request() {
    let total = env_usize("VIRTGUARD_LOAD_REQUESTS", 20_000);
    let per_conn = env_usize("VIRTGUARD_LOAD_REQUESTS_PER_CONN", 50).max(1);

    // Four CAs, issued up front; the clients trust all of them (pre-distributed overlap).
    let cas: Vec<Ca> = (0..4).map(|i| Ca::new(i as i64)).collect();
    let leaf0 = cas[0].leaf(SERVER_SECRET);
    let files = Files::new(&leaf0, cas[0].pem());
    let mut cfg = files.config(&["virt-handler", "migration"]);
    cfg.reload_interval = Duration::from_secs(1);
    let server = Running::start(cfg, axum::Router::new()).await;
    let h = server.handle.clone();

    let roots: Vec<&str> = cas.iter().map(Ca::pem).collect();
    let config = Arc::new(RwLock::new(client_config(
        &roots,
        Some(&cas[0].leaf(HANDLER_CLIENT)),
    )));
    let load = Arc::new(Load {
        addr: server.addr(),
        config: config.clone(),
        per_conn,
    });

    // Phase 1: no rotation.
    let baseline = phase(&load, total, Arc::new(AtomicBool::new(false))).await;
    let (n1, f1) = report("baseline", &baseline);

    // Phase 2: rotate while loaded; clients keep going until the rotations are done.
    // Everything is issued up front: leaf, leaf, CA, leaf, CA, leaf, CA, leaf.
    struct Step {
        bundle: Option<(String, virtguard_pki::Certificate)>,
        serving: virtguard_pki::IssuedCert,
        client: Option<virtguard_pki::IssuedCert>,
    }
    let mut plan = Vec::new();
    let mut k = 0usize;
    for kind in ["leaf", "leaf", "ca", "leaf", "ca", "leaf", "ca", "leaf"] {
        if kind == "ca" {
            k += 1;
            plan.push(Step {
                bundle: Some((
                    format!("{}{}", cas[k - 1].pem(), cas[k].pem()),
                    cas[k].issued.certificate.clone(),
                )),
                serving: cas[k].leaf(SERVER_SECRET),
                client: Some(cas[k].leaf(HANDLER_CLIENT)),
            });
        } else {
            plan.push(Step {
                bundle: None,
                serving: cas[k].leaf(SERVER_SECRET),
                client: None,
            });
        }
    }
    let ca_rotations = k;
    let keep_going = Arc::new(AtomicBool::new(true));
    let rotation = {
        let keep_going = keep_going.clone();
        let config = config.clone();
        let h = h.clone();
        let tls_dir = files.tls_dir.clone();
        let bundle_path = files.ca_bundle.clone();
        let roots: Vec<String> = roots.iter().map(|s| s.to_string()).collect();
        let first = *leaf0.certificate.sha256();
        tokio::spawn(async move {
            // (instant from which new connections get it, SHA-256 of the leaf)
            let mut switches = vec![(Instant::now(), first)];
            let mut reload_waits = Vec::new();
            tokio::time::sleep(Duration::from_millis(200)).await;
            for step in plan {
                let t = Instant::now();
                if let Some((bundle, new_ca)) = &step.bundle {
                    write_atomic(&bundle_path, bundle);
                    let h2 = h.clone();
                    assert!(
                        eventually(Duration::from_secs(10), || h2
                            .client_ca()
                            .is_some_and(|b| b.contains(new_ca)))
                        .await,
                        "bundle not reloaded"
                    );
                }
                write_atomic(&tls_dir.join("tls.key"), &step.serving.key_pem);
                write_atomic(&tls_dir.join("tls.crt"), &step.serving.cert_pem);
                let h2 = h.clone();
                let want = step.serving.certificate.clone();
                assert!(
                    eventually(Duration::from_secs(10), || h2.serving_certificate() == want).await,
                    "serving certificate not reloaded"
                );
                switches.push((Instant::now(), *want.sha256()));
                reload_waits.push(t.elapsed());
                if let Some(client) = &step.client {
                    let refs: Vec<&str> = roots.iter().map(String::as_str).collect();
                    let new = client_config(&refs, Some(client));
                    match config.write() {
                        Ok(mut g) => *g = new,
                        Err(p) => *p.into_inner() = new,
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            keep_going.store(false, Ordering::Relaxed);
            (switches, reload_waits)
        })
    };
    let rotated = phase(&load, total, keep_going).await;
    let (switches, reload_waits) = rotation.await.unwrap();
    let (n2, f2) = report("rotation", &rotated);
    let mut waits: Vec<f64> = reload_waits
        .iter()
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    waits.sort_by(f64::total_cmp);
    println!(
        "LOAD rotations: leaf={} ca={} (each CA rotation also rotates the leaf); file write -> new cert in force: median {:.0}ms max {:.0}ms; reloads ok={} error={}",
        switches.len() - 1,
        ca_rotations,
        waits.get(waits.len() / 2).copied().unwrap_or(0.0),
        waits.last().copied().unwrap_or(0.0),
        h.metrics().reloads(true),
        h.metrics().reloads(false),
    );

    // Zero failed requests, in both phases.
    for (name, r) in [("baseline", &baseline), ("rotation", &rotated)] {
        let first: Vec<&String> = r
            .logs
            .iter()
            .flat_map(|l| l.failures.iter())
            .take(5)
            .collect();
        assert!(first.is_empty(), "{name}: failures, e.g. {first:?}");
    }
    assert_eq!((f1, f2), (0, 0));
    assert!(n1 >= total && n2 >= total, "{n1} {n2} < {total}");

    // Every connection opened after a rotation took effect presents that certificate or a
    // later one.
    let index: HashMap<[u8; 32], usize> = switches
        .iter()
        .enumerate()
        .map(|(i, (_, fp))| (*fp, i))
        .collect();
    let mut per_generation = vec![0usize; switches.len()];
    for log in &rotated.logs {
        for (start, fp) in &log.connections {
            let served = *index.get(fp).expect("served a certificate of the plan");
            let in_force = switches.iter().rposition(|(t, _)| t <= start).unwrap_or(0);
            assert!(
                served >= in_force,
                "connection at {start:?} got generation {served}, {in_force} was in force"
            );
            per_generation[served] += 1;
        }
    }
    println!("LOAD connections per certificate generation: {per_generation:?}");
    assert!(
        per_generation[1..].iter().all(|&n| n > 0),
        "every rotated certificate was served: {per_generation:?}"
    );
    assert_eq!(h.metrics().handshake_failures("unknown_issuer"), 0);
    server.shutdown().await;
}
