//! Real clients that keep calling a server while its certificates rotate: `curl` and
//! `openssl s_client`, one process — one new TLS connection — per request, each reading the
//! client certificate, its key and the CA bundle from disk every time. Shared by the server's
//! CA-rotation test and the CLI's `serve` test (included there with `#[path]`), so both count
//! failures the same way. Loopback only.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The client program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `curl --cert … --key … --cacert …`.
    Curl,
    /// `openssl s_client -cert … -key … -CAfile … -verify_return_error`, sending a GET.
    Openssl,
}

/// How the client finds its certificate and key in a secret directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pair {
    /// Resolves the `..data` link once and reads `tls.crt` and `tls.key` of that generation
    /// (what the kubelet-style layout is for): never a new certificate with an old key.
    Resolved,
    /// Opens `DIR/tls.crt` and `DIR/tls.key` by name: when a swap falls between the two opens
    /// (a fraction of a millisecond), the program itself refuses the mismatched pair before
    /// sending anything (curl exit 58) — no writer can prevent that with a fresh key.
    ByName,
}

/// What one client loop saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Requests answered `200 ok`.
    pub ok: usize,
    /// Requests that failed (TLS or HTTP), with what the client said.
    pub failed: Vec<String>,
    /// `Pair::ByName` only: runs where the client could not load its own key pair (curl exit
    /// 58) because it read the two files across a swap; no request was sent.
    pub local_pair_mismatch: usize,
}

/// Where a client loop connects and what it reads.
#[derive(Debug, Clone)]
pub struct Target {
    /// Server port on 127.0.0.1.
    pub port: u16,
    /// The DNS name in the server certificate's SANs.
    pub host: String,
    /// The client's secret directory (`…/kubevirt-virt-handler-certs`).
    pub secret_dir: PathBuf,
    /// The CA bundle to verify the server with (`…/kubevirt-ca/ca-bundle`).
    pub bundle: PathBuf,
}

fn key_pair(dir: &Path, pair: Pair) -> (PathBuf, PathBuf) {
    let base = match pair {
        Pair::Resolved => match std::fs::read_link(dir.join("..data")) {
            Ok(generation) => dir.join(generation),
            Err(_) => dir.to_path_buf(),
        },
        Pair::ByName => dir.to_path_buf(),
    };
    (base.join("tls.crt"), base.join("tls.key"))
}

/// `curl` for `https://<host>:<port><path>` on 127.0.0.1, trusting `bundle`, presenting
/// `identity` (certificate, key) if any; stdout ends with `\n<HTTP code>`.
pub fn curl_command(
    host: &str,
    port: u16,
    path: &str,
    bundle: &Path,
    identity: Option<(&Path, &Path)>,
) -> Command {
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
    .arg(bundle);
    if let Some((crt, key)) = identity {
        c.arg("--cert").arg(crt).arg("--key").arg(key);
    }
    c.arg(format!("https://{host}:{port}{path}"));
    c
}

/// One request; `Ok(())` on `200 ok`, else what went wrong, with the exit code.
fn request(tool: Tool, t: &Target, pair: Pair) -> Result<(), (Option<i32>, String)> {
    let (crt, key) = key_pair(&t.secret_dir, pair);
    let out = match tool {
        Tool::Curl => {
            curl_command(&t.host, t.port, "/healthz", &t.bundle, Some((&crt, &key))).output()
        }
        Tool::Openssl => Command::new("openssl")
            .args(["s_client", "-quiet", "-verify_return_error", "-connect"])
            .arg(format!("127.0.0.1:{}", t.port))
            .args([
                "-servername",
                &t.host,
                "-verify_hostname",
                &t.host,
                "-CAfile",
            ])
            .arg(&t.bundle)
            .arg("-cert")
            .arg(&crt)
            .arg("-key")
            .arg(&key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                if let Some(mut stdin) = child.stdin.take() {
                    let _ = write!(
                        stdin,
                        "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                        t.host
                    );
                }
                child.wait_with_output()
            }),
    };
    let out = out.map_err(|e| (None, format!("cannot run {tool:?}: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ok = match tool {
        Tool::Curl => stdout.ends_with("\n200") && stdout.starts_with("ok"),
        Tool::Openssl => stdout.starts_with("HTTP/1.1 200") && stdout.ends_with("ok"),
    };
    if ok {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
    Err((
        out.status.code(),
        format!(
            "{tool:?} exit {:?}: {} | {}",
            out.status.code(),
            last.unwrap_or("").trim(),
            stdout.trim()
        ),
    ))
}

/// Runs `tool` in a loop on its own thread until `stop` is set and at least `min_requests`
/// were made, or until `deadline`.
pub fn spawn(
    tool: Tool,
    pair: Pair,
    target: Target,
    min_requests: usize,
    stop: Arc<AtomicBool>,
    deadline: Instant,
) -> JoinHandle<Tally> {
    std::thread::spawn(move || {
        let mut tally = Tally::default();
        let done = |t: &Tally| t.ok + t.failed.len() + t.local_pair_mismatch;
        while Instant::now() < deadline
            && (!stop.load(Ordering::Relaxed) || done(&tally) < min_requests)
        {
            match request(tool, &target, pair) {
                Ok(()) => tally.ok += 1,
                Err((Some(58), _)) if tool == Tool::Curl && pair == Pair::ByName => {
                    tally.local_pair_mismatch += 1
                }
                Err((_, e)) => tally.failed.push(e),
            }
        }
        tally
    })
}

/// Waits for each client loop, prints what it saw, checks that every `Pair::Resolved` loop
/// made at least `min_ok` requests, and returns every failure.
pub fn collect(clients: Vec<(Tool, Pair, JoinHandle<Tally>)>, min_ok: usize) -> Vec<String> {
    let mut failures = Vec::new();
    for (tool, pair, handle) in clients {
        let tally = handle.join().expect("client loop");
        println!(
            "ROTATION {tool:?} {pair:?}: ok={} failed={} local_pair_mismatch={}",
            tally.ok,
            tally.failed.len(),
            tally.local_pair_mismatch
        );
        if pair == Pair::Resolved {
            assert!(tally.ok >= min_ok, "{tool:?}: only {} requests", tally.ok);
        }
        failures.extend(tally.failed.into_iter().map(|f| format!("{pair:?} {f}")));
    }
    failures
}

/// Starts the three client loops of the rotation tests against `target`: `curl` and `openssl`
/// reading the resolved generation (at least `min_requests` and `min_requests / 2` requests),
/// and `curl` opening the files by name.
pub fn spawn_all(
    target: &Target,
    min_requests: usize,
    stop: &Arc<AtomicBool>,
    deadline: Instant,
) -> Vec<(Tool, Pair, JoinHandle<Tally>)> {
    [
        (Tool::Curl, Pair::Resolved, min_requests),
        (Tool::Openssl, Pair::Resolved, min_requests / 2),
        (Tool::Curl, Pair::ByName, 0),
    ]
    .into_iter()
    .map(|(tool, pair, min)| {
        let handle = spawn(tool, pair, target.clone(), min, stop.clone(), deadline);
        (tool, pair, handle)
    })
    .collect()
}

/// Sleeps in small steps until `f` is true or `within` passes.
pub fn wait_for(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}
