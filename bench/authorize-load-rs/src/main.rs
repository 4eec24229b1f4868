//! Load generator for `virtguard serve --authorize`: the Rust counterpart of
//! `bench/authorize-load.py load`, so the measuring client costs little CPU next to the server
//! (the Python client needs about as much CPU per review as the server it measures, which on a
//! small machine caps and distorts the figures).
//!
//! ```text
//! bench/authorize-load.py gen-policies DIR 100
//! virtguard serve --authorize --policies DIR --pki-dir PKI --listen 127.0.0.1:8443
//! virtguard kubeconfig --pki-dir PKI --server https://127.0.0.1:8443 --user kube-apiserver > kc
//! cargo build --release --manifest-path bench/authorize-load-rs/Cargo.toml
//! bench/authorize-load-rs/target/release/authorize-load kc 127.0.0.1 8443 [--rate 5000]
//!     [--seconds 10] [--count N] [--connections 4] [--threads T] [--reload DIR]
//! ```
//!
//! It sends the same requests as the Python script: its 64 SubjectAccessReviews byte for byte
//! (same KubeVirt resources, verbs, groups and namespaces, drawn with a port of Python's
//! `random.Random(11)`), cycled, as plain HTTP/1.1 keep-alive
//! `POST /authorize` over mTLS (rustls, ring) with TCP_NODELAY. The client certificate and key
//! come from the kubeconfig's first user, the CA from its first cluster; the server certificate
//! is verified against that CA and against HOST (an IP address is checked against the IP SANs;
//! `--insecure-skip-name` keeps the chain check and skips only the name check).
//!
//! `--rate 0` (the default) is max-throughput mode: each connection sends its next review as soon
//! as the previous answer is read; latency is from the request written to the answer read.
//! `--rate R` spreads R reviews/s over the connections on a fixed schedule (connection k sends
//! at t0 + k/R + n·C/R). Coordinated-omission safe: a request sent late (its due time passed
//! while the previous answer was awaited) has its latency counted from its DUE time, not from
//! when it was actually written; a request sent on time is measured from when it was written
//! (so the sleep's wake-up jitter is not counted). The Python script measures late requests
//! from when they were sent, so under overload this tool reports higher, truer latencies; in rate
//! mode it also prints the percentiles from the actual send, to compare with the Python figures.
//!
//! `--threads T` (default: one per connection) spreads the connections over T OS threads. A
//! thread with several connections drives them in lockstep in max-throughput mode (writes one
//! review on each, then reads each answer) and in rate mode sends each connection's review at
//! its due time, one review in flight per thread (so a sibling's answer can make a send late:
//! keep one thread per connection for rate runs). On a 2-core machine shared with the server,
//! `--threads 2` reaches a higher max throughput than 4 threads (fewer wake-ups).
//!
//! Output: the same two lines as the Python script, then the client's own CPU time
//! (getrusage RUSAGE_SELF) per review (and, in rate mode, the late sends and the percentiles
//! from the actual send). Exits 1 if any error (non-200 answer, connection failure: a failed
//! connection is reopened and the run goes on) or if it cannot start (kubeconfig, first
//! connection and TLS handshake, reported once).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use clap::Parser;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use serde_yaml_ng::Value;

const KUBEVIRT: &[(&str, &str, &str)] = &[
    ("kubevirt.io", "virtualmachines", ""),
    ("kubevirt.io", "virtualmachineinstances", ""),
    ("kubevirt.io", "virtualmachineinstancemigrations", ""),
    ("kubevirt.io", "kubevirts", ""),
    ("subresources.kubevirt.io", "virtualmachineinstances", "vnc"),
    (
        "subresources.kubevirt.io",
        "virtualmachineinstances",
        "console",
    ),
    (
        "subresources.kubevirt.io",
        "virtualmachineinstances",
        "portforward",
    ),
    ("subresources.kubevirt.io", "virtualmachines", "start"),
    ("subresources.kubevirt.io", "virtualmachines", "stop"),
    ("subresources.kubevirt.io", "virtualmachines", "migrate"),
    ("cdi.kubevirt.io", "datavolumes", ""),
    ("snapshot.kubevirt.io", "virtualmachinesnapshots", ""),
    ("", "pods", ""),
    ("", "secrets", ""),
    ("apps", "deployments", ""),
];
const VERBS: &[&str] = &[
    "get", "list", "watch", "create", "update", "patch", "delete",
];

fn groups() -> Vec<String> {
    (0..12)
        .map(|i| format!("team-{i}"))
        .chain(["sre", "vm-admins", "developers", "auditors"].map(String::from))
        .collect()
}

fn namespaces() -> Vec<String> {
    (0..20)
        .map(|i| format!("tenant-{i}"))
        .chain(["prod", "staging", "dev"].map(String::from))
        .collect()
}

#[derive(Parser, Debug)]
#[command(
    name = "authorize-load",
    about = "Load generator for `virtguard serve --authorize` (SubjectAccessReviews over mTLS keep-alive connections)"
)]
struct Args {
    /// Kubeconfig with the client certificate/key (first user) and the CA (first cluster).
    kubeconfig: PathBuf,
    host: String,
    port: u16,
    /// Reviews/s in total; 0: max throughput.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Upper bound on the duration.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Upper bound on the reviews sent (0: none).
    #[arg(long, default_value_t = 0)]
    count: u64,
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// OS threads driving the connections (default: one per connection).
    #[arg(long)]
    threads: Option<usize>,
    /// Rewrite DIR/zz-reload.cedar every second.
    #[arg(long, value_name = "DIR")]
    reload: Option<PathBuf>,
    /// Verify the server's chain against the CA but not its name (HOST).
    #[arg(long)]
    insecure_skip_name: bool,
}

/// Python's `random.Random(seed)` (MT19937 seeded by `init_by_array`, `_randbelow` by rejection
/// on `getrandbits`), for the draws the review generator makes: the same 64 reviews as the
/// Python script, byte for byte.
struct PyRandom {
    mt: Box<[u32; 624]>,
    i: usize,
}

impl PyRandom {
    fn new(seed: u32) -> PyRandom {
        const N: usize = 624;
        let mut mt = Box::new([0u32; N]);
        mt[0] = 19_650_218;
        for i in 1..N {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        // init_by_array with the key [seed] (a non-negative int below 2^32).
        let (mut i, key) = (1usize, [seed]);
        let mut j = 0usize;
        for _ in 0..N.max(key.len()) {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        PyRandom { mt, i: N }
    }

    fn next_u32(&mut self) -> u32 {
        const N: usize = 624;
        const M: usize = 397;
        if self.i >= N {
            for k in 0..N {
                let y = (self.mt[k] & 0x8000_0000) | (self.mt[(k + 1) % N] & 0x7fff_ffff);
                let mag = if y & 1 == 1 { 0x9908_b0df } else { 0 };
                self.mt[k] = self.mt[(k + M) % N] ^ (y >> 1) ^ mag;
            }
            self.i = 0;
        }
        let mut y = self.mt[self.i];
        self.i += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `_randbelow(n)` for 0 < n < 2^32.
    fn below(&mut self, n: usize) -> usize {
        let k = usize::BITS - n.leading_zeros(); // n.bit_length()
        loop {
            let r = (self.next_u32() >> (32 - k)) as usize; // getrandbits(k)
            if r < n {
                return r;
            }
        }
    }

    fn choice<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// `randint(a, b)`.
    fn randint(&mut self, a: usize, b: usize) -> usize {
        a + self.below(b - a + 1)
    }

    /// `sample(xs, k)` for a small population (Python's pool branch, len(xs) <= 21).
    fn sample<T: Clone>(&mut self, xs: &[T], k: usize) -> Vec<T> {
        let n = xs.len();
        let mut pool = xs.to_vec();
        (0..k.min(n))
            .map(|i| {
                let j = self.below(n - i);
                let picked = pool[j].clone();
                pool[j] = pool[n - i - 1].clone();
                picked
            })
            .collect()
    }
}

/// A JSON string literal.
fn js(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The 64 review bodies of the Python script's `reviews()`, byte for byte: same draws, key order
/// and `json.dumps` separators (`", "`, `": "`).
fn reviews(n: usize, seed: u32) -> Vec<Vec<u8>> {
    let (groups, namespaces) = (groups(), namespaces());
    let mut rnd = PyRandom::new(seed);
    (0..n)
        .map(|i| {
            let &(group, resource, sub) = rnd.choice(KUBEVIRT);
            let verb = *rnd.choice(VERBS);
            let namespace = rnd.choice(&namespaces).clone();
            let mut attrs = format!(
                "{{\"verb\": {}, \"group\": {}, \"version\": \"v1\", \"resource\": {}, \
                 \"namespace\": {}, \"name\": {}",
                js(verb),
                js(group),
                js(resource),
                js(&namespace),
                js(&format!("vm-{i}"))
            );
            if !sub.is_empty() {
                attrs += &format!(", \"subresource\": {}", js(sub));
            }
            attrs.push('}');
            let k = rnd.randint(1, 3);
            let mut gs = rnd.sample(&groups, k);
            gs.push("system:authenticated".into());
            let gs: Vec<String> = gs.iter().map(|g| js(g)).collect();
            format!(
                "{{\"apiVersion\": \"authorization.k8s.io/v1\", \"kind\": \"SubjectAccessReview\", \
                 \"spec\": {{\"user\": {}, \"uid\": {}, \"groups\": [{}], \"resourceAttributes\": {attrs}}}}}",
                js(&format!("user-{i}")),
                js(&format!("uid-{i}")),
                gs.join(", ")
            )
            .into_bytes()
        })
        .collect()
}

fn request_bytes(host: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST /authorize HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Accept: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn kc_data(v: &Value, list: &str, item: &str, field: &str) -> Result<Vec<u8>> {
    let s = v
        .get(list)
        .and_then(|l| l.get(0))
        .and_then(|e| e.get(item))
        .and_then(|e| e.get(field))
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("kubeconfig: no {list}[0].{item}.{field}"))?;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .with_context(|| format!("kubeconfig: {list}[0].{item}.{field} is not base64"))
}

/// Chain verification against the CA, without the name check (`--insecure-skip-name`).
#[derive(Debug)]
struct SkipName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for SkipName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        // The webpki verifier checks the chain before the name.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

fn tls_config(kubeconfig: &Path, skip_name: bool) -> Result<Arc<ClientConfig>> {
    let text = std::fs::read_to_string(kubeconfig)
        .with_context(|| format!("reading {}", kubeconfig.display()))?;
    let kc: Value = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("parsing {}", kubeconfig.display()))?;
    let crt = kc_data(&kc, "users", "user", "client-certificate-data")?;
    let key = kc_data(&kc, "users", "user", "client-key-data")?;
    let ca = kc_data(&kc, "clusters", "cluster", "certificate-authority-data")?;
    let certs = CertificateDer::pem_slice_iter(&crt)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("kubeconfig: client certificate: {e}"))?;
    if certs.is_empty() {
        bail!("kubeconfig: no client certificate in client-certificate-data");
    }
    let key =
        PrivateKeyDer::from_pem_slice(&key).map_err(|e| anyhow!("kubeconfig: client key: {e}"))?;
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&ca) {
        let c = c.map_err(|e| anyhow!("kubeconfig: CA certificate: {e}"))?;
        roots.add(c).context("kubeconfig: CA certificate")?;
    }
    if roots.is_empty() {
        bail!("kubeconfig: no CA certificate in certificate-authority-data");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let config = if skip_name {
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .context("server certificate verifier")?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SkipName(inner)))
            .with_client_auth_cert(certs, key)
    } else {
        builder
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
    }
    .context("client certificate and key")?;
    Ok(Arc::new(config))
}

struct Target {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    host: String,
    port: u16,
}

#[derive(Clone, Copy, Debug)]
enum Decision {
    Allowed,
    Denied,
    NoOpinion,
}

struct Conn {
    tls: StreamOwned<ClientConnection, TcpStream>,
    answers: Answers,
}

/// HTTP/1.1 answer parser over a byte stream; keeps the bytes read past one answer.
struct Answers {
    buf: Vec<u8>,
    chunk: Box<[u8]>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Conn {
    /// Connects and completes the TLS handshake (so certificate errors show here).
    fn open(t: &Target) -> Result<Conn> {
        let addr = (t.host.as_str(), t.port)
            .to_socket_addrs()
            .with_context(|| format!("resolving {}", t.host))?
            .next()
            .ok_or_else(|| anyhow!("{} resolves to no address", t.host))?;
        let mut sock = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
        sock.set_nodelay(true)?;
        let mut conn = ClientConnection::new(t.config.clone(), t.name.clone())?;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock).context("TLS handshake")?;
        }
        Ok(Conn {
            tls: StreamOwned::new(conn, sock),
            answers: Answers::new(),
        })
    }

    fn send(&mut self, req: &[u8]) -> Result<()> {
        self.tls.write_all(req)?;
        self.tls.flush()?;
        Ok(())
    }

    fn recv(&mut self) -> Result<(u16, Decision, bool)> {
        self.answers.next(&mut self.tls)
    }
}

impl Answers {
    fn new() -> Answers {
        Answers {
            buf: Vec::with_capacity(1 << 16),
            chunk: vec![0u8; 1 << 16].into_boxed_slice(),
        }
    }

    fn fill(&mut self, src: &mut impl Read) -> Result<()> {
        let n = src.read(&mut self.chunk)?;
        if n == 0 {
            bail!("connection closed by the server");
        }
        self.buf.extend_from_slice(&self.chunk[..n]);
        Ok(())
    }

    /// Reads one answer: (status code, decision, whether the server closes the connection).
    fn next(&mut self, src: &mut impl Read) -> Result<(u16, Decision, bool)> {
        let head_len = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill(src)?;
        };
        let head = std::str::from_utf8(&self.buf[..head_len - 4]).context("response head")?;
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap_or("");
        let code: u16 = status
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| anyhow!("bad status line {status:?}"))?;
        let (mut length, mut close) = (None, false);
        for l in lines {
            let (k, v) = l.split_once(':').unwrap_or((l, ""));
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("content-length") {
                length = Some(
                    v.parse::<usize>()
                        .map_err(|_| anyhow!("bad Content-Length {v:?}"))?,
                );
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                bail!("Transfer-Encoding {v} is not supported (only Content-Length)");
            } else if k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close") {
                close = true;
            }
        }
        let total = head_len + length.unwrap_or(0);
        while self.buf.len() < total {
            self.fill(src)?;
        }
        let body = &self.buf[head_len..total];
        let decision = if find(body, b"\"denied\":true").is_some() {
            Decision::Denied
        } else if find(body, b"\"allowed\":true").is_some() {
            Decision::Allowed
        } else {
            Decision::NoOpinion
        };
        self.buf.drain(..total);
        Ok((code, decision, close))
    }
}

#[derive(Default)]
struct Tally {
    /// Latencies in nanoseconds.
    lat: Vec<u64>,
    /// In rate mode: latencies from the actual send, as the Python script measures them.
    sent_lat: Vec<u64>,
    errors: u64,
    allowed: u64,
    denied: u64,
    no_opinion: u64,
    late: u64,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{e:#}"));
        }
    }
    /// Tallies one answer, its latency from `start` (and from `sent` if given); false if the
    /// connection must be reopened.
    fn answer(
        &mut self,
        start: Instant,
        sent: Option<Instant>,
        answer: Result<(u16, Decision, bool)>,
    ) -> bool {
        match answer {
            Ok((code, d, close)) => {
                let now = Instant::now();
                self.lat.push((now - start).as_nanos() as u64);
                if let Some(sent) = sent {
                    self.sent_lat.push((now - sent).as_nanos() as u64);
                }
                if code != 200 {
                    self.error(format!("HTTP {code}"));
                } else {
                    match d {
                        Decision::Allowed => self.allowed += 1,
                        Decision::Denied => self.denied += 1,
                        Decision::NoOpinion => self.no_opinion += 1,
                    }
                }
                !close
            }
            Err(e) => {
                self.error(e);
                false
            }
        }
    }
}

/// Reopens a failed connection; on failure leaves it closed for the next attempt.
fn reopen(t: &Target, tally: &mut Tally) -> Option<Conn> {
    match Conn::open(t) {
        Ok(c) => Some(c),
        Err(e) => {
            tally.error(e);
            std::thread::sleep(Duration::from_millis(10));
            None
        }
    }
}

struct Plan {
    reqs: Vec<Vec<u8>>,
    /// Seconds between two sends on one connection (0: max throughput).
    period: f64,
    seconds: f64,
    per_conn_count: u64,
    total_conns: usize,
}

fn worker(t: &Target, plan: &Plan, ks: &[usize]) -> Tally {
    let mut tally = Tally::default();
    let mut conns: Vec<(usize, Option<Conn>)> = Vec::new();
    for &k in ks {
        match Conn::open(t) {
            Ok(c) => conns.push((k, Some(c))),
            Err(e) => tally.error(e), // as in the Python script: that connection is given up
        }
    }
    if conns.is_empty() {
        return tally;
    }
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(plan.seconds);
    let nreq = plan.reqs.len();
    if plan.period == 0.0 {
        // Lockstep: one review on each connection, then each answer.
        let mut starts = vec![t0; conns.len()];
        let mut sent = vec![false; conns.len()];
        let mut n = 0u64;
        loop {
            if (plan.per_conn_count > 0 && n >= plan.per_conn_count) || Instant::now() > end {
                break;
            }
            let req = &plan.reqs[n as usize % nreq];
            for (i, (_, c)) in conns.iter_mut().enumerate() {
                if c.is_none() {
                    *c = reopen(t, &mut tally);
                }
                sent[i] = false;
                if let Some(conn) = c {
                    starts[i] = Instant::now();
                    match conn.send(req) {
                        Ok(()) => sent[i] = true,
                        Err(e) => {
                            tally.error(e);
                            *c = None;
                        }
                    }
                }
            }
            for (i, (_, c)) in conns.iter_mut().enumerate() {
                if !sent[i] {
                    continue;
                }
                if let Some(conn) = c {
                    let answer = conn.recv();
                    if !tally.answer(starts[i], None, answer) {
                        *c = reopen(t, &mut tally);
                    }
                }
            }
            n += 1;
        }
    } else {
        // Fixed schedule: connection k sends its n-th review at t0 + k·period/C + n·period.
        let offset =
            |k: usize| Duration::from_secs_f64(k as f64 * plan.period / plan.total_conns as f64);
        let mut next: Vec<(u64, Instant)> =
            conns.iter().map(|(k, _)| (0, t0 + offset(*k))).collect();
        let bases: Vec<Instant> = next.iter().map(|x| x.1).collect();
        loop {
            // The connection due first that still has reviews to send.
            let pick = next
                .iter()
                .enumerate()
                .filter(|(_, (n, due))| {
                    !(plan.per_conn_count > 0 && *n >= plan.per_conn_count) && *due <= end
                })
                .min_by_key(|(_, (_, due))| *due)
                .map(|(i, _)| i);
            let Some(i) = pick else { break };
            let (n, due) = next[i];
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            } else {
                tally.late += 1;
            }
            let c = &mut conns[i].1;
            if c.is_none() {
                *c = reopen(t, &mut tally);
            }
            if let Some(conn) = c {
                let sent = Instant::now();
                // Late: coordinated-omission safe, measured from the due time.
                let start = if due > now { sent } else { due };
                let answer = conn
                    .send(&plan.reqs[n as usize % nreq])
                    .and_then(|()| conn.recv());
                if !tally.answer(start, Some(sent), answer) {
                    *c = reopen(t, &mut tally);
                }
            }
            next[i] = (
                n + 1,
                bases[i] + Duration::from_secs_f64((n + 1) as f64 * plan.period),
            );
        }
    }
    tally
}

fn reloader(dir: PathBuf, stop: mpsc::Receiver<()>) {
    let path = dir.join("zz-reload.cedar");
    let tmp = dir.join("zz-reload.cedar.tmp");
    let mut i = 0u64;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(Duration::from_secs(1)) {
        i += 1;
        let text = format!(
            "// reload {i}\n@id(\"reload-{}\")\nforbid (principal, action == k8s::Action::\"delete\", \
             resource is k8s::Resource) when {{ resource.resource == \"reload-probe-{i}\" }};\n",
            i % 2
        );
        let r = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = r {
            eprintln!("reload: writing {}: {e}", path.display());
        }
    }
}

/// "p50 …  p90 …  p99 …  max …" in ms, as the Python script picks them (`lat[int(f·n)]`).
fn percentiles(lat: &mut [u64]) -> String {
    lat.sort_unstable();
    let q = |f: f64| {
        if lat.is_empty() {
            f64::NAN
        } else {
            let i = ((f * lat.len() as f64) as usize).min(lat.len() - 1);
            lat[i] as f64 / 1e6
        }
    };
    format!(
        "p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
        q(0.50),
        q(0.90),
        q(0.99),
        q(1.0)
    )
}

/// User and system CPU seconds of this process (all threads).
fn cpu_seconds() -> (f64, f64) {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (f64::NAN, f64::NAN);
    }
    let s = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (s(ru.ru_utime), s(ru.ru_stime))
}

fn main() {
    match run() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("authorize-load: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run() -> Result<i32> {
    let args = Args::parse();
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if !(args.rate >= 0.0 && args.rate.is_finite()) {
        bail!("--rate must be a finite number >= 0");
    }
    if !(args.seconds >= 0.0 && args.seconds.is_finite()) {
        bail!("--seconds must be a finite number >= 0");
    }
    let threads = args
        .threads
        .unwrap_or(args.connections)
        .clamp(1, args.connections);
    let config = tls_config(&args.kubeconfig, args.insecure_skip_name)?;
    let name = ServerName::try_from(args.host.clone())
        .map_err(|e| anyhow!("{:?} is not a valid server name: {e}", args.host))?;
    let target = Arc::new(Target {
        config,
        name,
        host: args.host.clone(),
        port: args.port,
    });
    // One connection first, so a certificate/name problem is reported once and clearly.
    Conn::open(&target).with_context(|| {
        format!(
            "connecting to {}:{} (verifying the server certificate against the kubeconfig's CA \
             and the name {:?}; --insecure-skip-name skips the name check only)",
            args.host, args.port, args.host
        )
    })?;
    let plan = Arc::new(Plan {
        reqs: reviews(64, 11)
            .iter()
            .map(|b| request_bytes(&args.host, b))
            .collect(),
        period: if args.rate > 0.0 {
            args.connections as f64 / args.rate
        } else {
            0.0
        },
        seconds: args.seconds,
        per_conn_count: args.count / args.connections as u64,
        total_conns: args.connections,
    });

    let mode = if args.rate > 0.0 {
        format!("{:.0}/s", args.rate)
    } else {
        "max throughput".into()
    };
    let mut line = format!("{mode} for at most {:.0} s", args.seconds);
    if args.count > 0 {
        line += &format!(" or {} reviews", args.count);
    }
    line += &format!(
        " over {} connections in {threads} threads",
        args.connections
    );
    if let Some(d) = &args.reload {
        line += &format!("; rewriting {}/zz-reload.cedar every second", d.display());
    }
    println!("{line}");

    let (stop_tx, stop_rx) = mpsc::channel();
    let reload = args
        .reload
        .clone()
        .map(|d| std::thread::spawn(move || reloader(d, stop_rx)));
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|th| {
            let ks: Vec<usize> = (th..args.connections).step_by(threads).collect();
            let (target, plan) = (target.clone(), plan.clone());
            std::thread::spawn(move || worker(&target, &plan, &ks))
        })
        .collect();
    let mut all = Tally::default();
    for h in handles {
        let t = h.join().map_err(|_| anyhow!("a load thread panicked"))?;
        all.lat.extend_from_slice(&t.lat);
        all.sent_lat.extend_from_slice(&t.sent_lat);
        all.errors += t.errors;
        all.allowed += t.allowed;
        all.denied += t.denied;
        all.no_opinion += t.no_opinion;
        all.late += t.late;
        if all.first_error.is_none() {
            all.first_error = t.first_error;
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu1 = cpu_seconds();
    drop(stop_tx);
    if let Some(h) = reload {
        let _ = h.join();
    }

    let n = all.lat.len();
    println!(
        "{n} reviews in {wall:.2} s = {:.0} reviews/s; errors {}; allowed {}, denied {}, no opinion {}",
        n as f64 / wall,
        all.errors,
        all.allowed,
        all.denied,
        all.no_opinion
    );
    println!("latency ms: {}", percentiles(&mut all.lat));
    let (user, sys) = (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1);
    let mut cpu = format!(
        "client CPU: {user:.2} s user + {sys:.2} s sys = {:.0}% of a core, {:.1} µs per review",
        100.0 * (user + sys) / wall,
        1e6 * (user + sys) / n.max(1) as f64
    );
    if args.rate > 0.0 {
        cpu += &format!(
            "; {} sends late (latency counted from their due time)",
            all.late
        );
    }
    println!("{cpu}");
    if args.rate > 0.0 {
        println!(
            "latency ms from the actual send (the Python script's measure): {}",
            percentiles(&mut all.sent_lat)
        );
    }
    if let Some(e) = &all.first_error {
        eprintln!("first error: {e}");
    }
    Ok(if all.errors > 0 { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reviews_are_64_distinct_valid_subject_access_reviews() {
        let rs = reviews(64, 11);
        let distinct: std::collections::HashSet<_> = rs.iter().collect();
        assert_eq!(distinct.len(), 64);
        for r in &rs {
            let v: serde_json::Value = serde_json::from_slice(r).expect("JSON");
            assert_eq!(v["kind"], "SubjectAccessReview");
            let groups = v["spec"]["groups"].as_array().expect("groups");
            assert!((2..=4).contains(&groups.len()));
            assert!(v["spec"]["resourceAttributes"]["verb"].is_string());
        }
        // Byte for byte the Python script's reviews() (Python 3.11).
        assert_eq!(
            String::from_utf8_lossy(&rs[0]),
            "{\"apiVersion\": \"authorization.k8s.io/v1\", \"kind\": \"SubjectAccessReview\", \
             \"spec\": {\"user\": \"user-0\", \"uid\": \"uid-0\", \"groups\": [\"developers\", \
             \"team-8\", \"system:authenticated\"], \"resourceAttributes\": {\"verb\": \"delete\", \
             \"group\": \"subresources.kubevirt.io\", \"version\": \"v1\", \"resource\": \
             \"virtualmachines\", \"namespace\": \"tenant-17\", \"name\": \"vm-0\", \
             \"subresource\": \"start\"}}}"
        );
    }

    #[test]
    fn py_random_matches_cpython() {
        // random.Random(11).getrandbits(32), three times.
        let mut r = PyRandom::new(11);
        assert_eq!(
            [r.next_u32(), r.next_u32(), r.next_u32()],
            [1942955373, 3718334796, 2404204071]
        );
    }

    /// Hands out at most 7 bytes per read, to split answers anywhere.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(out.len()).min(7);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn answers_are_parsed_with_leftover_bytes_kept() {
        let wire = b"HTTP/1.1 200 OK\r\ncontent-length: 31\r\n\r\n{\"status\":{\"allowed\":true}}    \
                     HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n{\"status\":{\"allowed\":false,\"denied\":true}}\
                     HTTP/1.1 200 OK\r\nContent-Length: 28\r\nConnection: close\r\n\r\n{\"status\":{\"allowed\":false}}\
                     HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        for whole in [true, false] {
            let mut a = Answers::new();
            let mut src: Box<dyn Read> = if whole {
                Box::new(&wire[..])
            } else {
                Box::new(Trickle(wire))
            };
            let r = |x: Result<(u16, Decision, bool)>| {
                let (code, d, close) = x.expect("answer");
                (code, format!("{d:?}"), close)
            };
            assert_eq!(r(a.next(&mut src)), (200, "Allowed".into(), false));
            assert_eq!(r(a.next(&mut src)), (200, "Denied".into(), false));
            assert_eq!(r(a.next(&mut src)), (200, "NoOpinion".into(), true));
            assert_eq!(r(a.next(&mut src)), (403, "NoOpinion".into(), false));
            assert!(a.next(&mut src).is_err(), "end of stream");
        }
    }

    #[test]
    fn bad_answers_are_errors() {
        for wire in [
            &b"HTTP/1.1 abc\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        ] {
            assert!(Answers::new().next(&mut &wire[..]).is_err());
        }
    }
}
