//! The network edge of the API facade (`virtguard serve --api`): TLS where a client
//! certificate is optional, and — when present — must chain to the client CA with the
//! clientAuth usage (else 401, as kube-apiserver's x509 authenticator answers); CN and O become
//! the user and groups, no certificate means `system:anonymous`. Requests are answered by
//! [`virtguard_apiserver::handle`]; watches are streamed from the store, which is reloaded when
//! the snapshot files change (a load that fails keeps the previous state in force).
//!
//! Unlike [`crate::Server`] (KubeVirt's mandatory mTLS rule), nothing here requires a KubeVirt
//! client CN. The serving certificate, key and client CA are checked periodically; new valid
//! files serve new connections, broken ones are refused and logged.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};
use time::OffsetDateTime;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};
use virtguard_apiserver::{
    handle, ApiError, ApiRequest, Handled, Loaded, Reply, Store, UserInfo, WatchPlan,
    MAX_BODY_BYTES,
};
use virtguard_pki::{subject_identity, verify_chain, Certificate, RequiredUsage};

use crate::config::MinTls;
use crate::error::ServerError;
use crate::material::{parse_client_ca, parse_serving};

/// How the facade listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Address to listen on (port 0 picks one).
    pub listen: SocketAddr,
    /// Directory with `tls.crt` and `tls.key`.
    pub tls_dir: PathBuf,
    /// PEM bundle of the CAs that sign client certificates.
    pub client_ca: PathBuf,
    /// Lowest TLS version offered.
    pub min_tls: MinTls,
    /// Cipher suites by name (as [`crate::ServerConfig::cipher_suites`]); `None` for rustls'.
    pub cipher_suites: Option<Vec<String>>,
    /// How long a TLS handshake may take.
    pub handshake_timeout: Duration,
    /// How long in-flight requests (and watches) may run after shutdown is requested.
    pub drain_timeout: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
    /// How often a watch that asked for bookmarks gets one even without changes.
    pub bookmark_interval: Duration,
    /// How often the certificate files are checked for a new version.
    pub cert_check_interval: Duration,
}

impl ApiConfig {
    /// Defaults: TLS 1.2 minimum, 10 s handshakes, 5 s drain, 10,000 connections, a bookmark
    /// a minute.
    pub fn new(
        listen: SocketAddr,
        tls_dir: impl Into<PathBuf>,
        client_ca: impl Into<PathBuf>,
    ) -> Self {
        ApiConfig {
            listen,
            tls_dir: tls_dir.into(),
            client_ca: client_ca.into(),
            min_tls: MinTls::Tls12,
            cipher_suites: None,
            handshake_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(5),
            max_connections: 10_000,
            bookmark_interval: Duration::from_secs(60),
            cert_check_interval: Duration::from_secs(60),
        }
    }
}

/// Answers a webhook's POST body for an authenticated caller (the authorization and admission
/// webhooks kube-apiserver calls).
pub type WebhookHandler = Arc<dyn Fn(&UserInfo, &[u8]) -> Reply + Send + Sync>;

/// Renders the Prometheus text exposition served on `GET /metrics`.
pub type MetricsHandler = Arc<dyn Fn() -> String + Send + Sync>;

/// What the listener serves besides health: the Kubernetes API over the snapshot, webhooks, or
/// both on one listener.
#[derive(Clone)]
pub struct Services {
    /// Serve the read-only Kubernetes API (`serve --api`).
    pub api: bool,
    /// `POST` paths answered by handlers (`/validate`, `/authorize`).
    pub webhooks: Vec<(String, WebhookHandler)>,
    /// `GET /metrics` (Prometheus text) for any caller that passed the TLS handshake, as the
    /// plain server's; `None`: not served.
    pub metrics: Option<MetricsHandler>,
}

impl Default for Services {
    fn default() -> Self {
        Services {
            api: true,
            webhooks: Vec::new(),
            metrics: None,
        }
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("api", &self.api)
            .field(
                "webhooks",
                &self.webhooks.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .field("metrics", &self.metrics.is_some())
            .finish()
    }
}

/// Accepts any client certificate during the handshake (its chain is checked per request, so
/// a bad certificate gets a 401 `Status` instead of a TLS alert) and none at all.
#[derive(Debug)]
struct OptionalClientCert {
    hints: Vec<DistinguishedName>,
    algs: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for OptionalClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// Always presents the one serving certificate.
#[derive(Debug)]
struct FixedCert(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for FixedCert {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// Who a connection's client certificate says it is.
#[derive(Debug, Clone)]
enum Presented {
    None,
    Chain(Vec<Certificate>),
    Malformed(String),
}

/// A connection's client certificate and its last successful verification, so that requests on
/// a keep-alive connection do not verify the same chain again (a signature check each).
#[derive(Debug)]
struct Peer {
    presented: Presented,
    verified: std::sync::Mutex<Option<Verified>>,
}

/// A chain verified against a CA bundle: good while that bundle is in force and every
/// certificate of the chain and the bundle is still within its validity.
#[derive(Debug)]
struct Verified {
    ca: Arc<Vec<Certificate>>,
    at: OffsetDateTime,
    until: OffsetDateTime,
    user: UserInfo,
}

impl Peer {
    fn new(presented: Presented) -> Self {
        Peer {
            presented,
            verified: std::sync::Mutex::new(None),
        }
    }

    /// [`authenticate`], reusing the last verification of this connection's chain when the CA
    /// bundle is the same one and `now` is within the validity of every certificate involved.
    fn authenticate(
        &self,
        ca: &Arc<Vec<Certificate>>,
        now: OffsetDateTime,
    ) -> Result<UserInfo, String> {
        let Presented::Chain(chain) = &self.presented else {
            return authenticate(&self.presented, ca, now);
        };
        if let Ok(v) = self.verified.lock() {
            if let Some(v) = v.as_ref() {
                if Arc::ptr_eq(&v.ca, ca) && v.at <= now && now <= v.until {
                    return Ok(v.user.clone());
                }
            }
        }
        let user = authenticate(&self.presented, ca, now)?;
        let until = chain
            .iter()
            .chain(ca.iter())
            .map(Certificate::not_after)
            .min()
            .unwrap_or(now);
        if let Ok(mut v) = self.verified.lock() {
            *v = Some(Verified {
                ca: ca.clone(),
                at: now,
                until,
                user: user.clone(),
            });
        }
        Ok(user)
    }
}

/// The identity of a request: verifies the presented chain against the client CA now.
fn authenticate(
    presented: &Presented,
    ca: &[Certificate],
    now: OffsetDateTime,
) -> Result<UserInfo, String> {
    match presented {
        Presented::None => Ok(UserInfo::anonymous()),
        Presented::Malformed(e) => Err(format!("client certificate cannot be parsed: {e}")),
        Presented::Chain(chain) => {
            let (leaf, inter) = chain
                .split_first()
                .ok_or_else(|| "empty client certificate chain".to_string())?;
            verify_chain(leaf, inter, ca, RequiredUsage::ClientAuth, now)
                .map_err(|e| format!("x509: {e}"))?;
            let (cn, orgs) = subject_identity(leaf).map_err(|e| e.to_string())?;
            Ok(UserInfo::from_certificate(&cn, &orgs))
        }
    }
}

/// State shared by connections and the reloader.
struct Shared {
    services: Services,
    store: RwLock<Store>,
    version: watch::Sender<u64>,
    tls: RwLock<Arc<TlsMaterial>>,
    bookmark_interval: Duration,
}

/// The certificates in force and the rustls configuration built from them.
struct TlsMaterial {
    config: Arc<rustls::ServerConfig>,
    ca: Arc<Vec<Certificate>>,
    cert_raw: Vec<u8>,
    key_raw: Vec<u8>,
    ca_raw: Vec<u8>,
}

/// What one certificate check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertReload {
    /// The files are the ones in force (or were refused before).
    Unchanged,
    /// New files were loaded; new connections use them.
    Reloaded,
    /// New files were refused; the previous ones keep serving.
    Refused(String),
}

/// Where the certificate files are and how to build a TLS configuration from them.
struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
    min_tls: MinTls,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl TlsFiles {
    fn new(cfg: &ApiConfig) -> Result<TlsFiles, ServerError> {
        let mut suites = crate::ServerConfig::new(cfg.listen, &cfg.tls_dir);
        suites.cipher_suites = cfg.cipher_suites.clone();
        Ok(TlsFiles {
            cert: cfg.tls_dir.join(crate::CERT_FILE),
            key: cfg.tls_dir.join(crate::KEY_FILE),
            ca: cfg.client_ca.clone(),
            min_tls: cfg.min_tls,
            provider: suites.provider()?,
        })
    }

    /// Reads and checks the files; `Err` names the file and the reason.
    async fn load(&self) -> Result<TlsMaterial, ServerError> {
        let now = OffsetDateTime::now_utc();
        let (cert_raw, key_raw, ca_raw) = (
            read(&self.cert).await?,
            read(&self.key).await?,
            read(&self.ca).await?,
        );
        let serving = parse_serving(cert_raw.clone(), key_raw.clone(), &self.provider, now)
            .map_err(|reason| ServerError::Refused {
                path: self.cert.clone(),
                reason,
            })?;
        let ca = parse_client_ca(ca_raw.clone(), now).map_err(|reason| ServerError::Refused {
            path: self.ca.clone(),
            reason,
        })?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(
            ca.certs
                .iter()
                .map(|c| CertificateDer::from(c.der().to_vec())),
        );
        let verifier = OptionalClientCert {
            hints: roots.subjects(),
            algs: self.provider.signature_verification_algorithms,
        };
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(self.min_tls.versions())?
            .with_client_cert_verifier(Arc::new(verifier))
            .with_cert_resolver(Arc::new(FixedCert(serving.certified.clone())));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsMaterial {
            config: Arc::new(config),
            ca: ca.certs.clone(),
            cert_raw,
            key_raw,
            ca_raw,
        })
    }
}

impl Shared {
    fn tls(&self) -> Arc<TlsMaterial> {
        match self.tls.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn read<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        match self.store.read() {
            Ok(g) => f(&g),
            Err(p) => f(&p.into_inner()),
        }
    }
}

/// A handle to reload the served snapshot from outside.
#[derive(Clone)]
pub struct ApiHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ApiHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiHandle").finish_non_exhaustive()
    }
}

impl ApiHandle {
    /// Installs a newly loaded snapshot; watchers get the differences. Returns the number of
    /// changed objects.
    /// Blocking: call it off the async threads for large snapshots.
    pub fn reload(&self, loaded: Loaded) -> usize {
        let next = self.shared.read(|s| s.prepare(loaded));
        let (n, rv) = {
            let mut g = match self.shared.store.write() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let n = g.install(next);
            (n, g.current().resource_version)
        };
        if n > 0 {
            let _ = self.shared.version.send(rv);
        }
        n
    }

    /// The resourceVersion in force.
    pub fn resource_version(&self) -> u64 {
        self.shared.read(|s| s.current().resource_version)
    }
}

/// Re-reads the certificate files on demand (tests, signals) and from the periodic check.
#[derive(Clone)]
pub struct CertHandle {
    files: Arc<TlsFiles>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CertHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertHandle").finish_non_exhaustive()
    }
}

impl CertHandle {
    /// Checks the serving certificate, key and client CA; new valid files are used for new
    /// connections (established ones keep theirs), refused ones leave the old in force.
    pub async fn check(&self) -> CertReload {
        let old = self.shared.tls();
        if same_content(&self.files.cert, &old.cert_raw).await
            && same_content(&self.files.key, &old.key_raw).await
            && same_content(&self.files.ca, &old.ca_raw).await
        {
            return CertReload::Unchanged;
        }
        match self.files.load().await {
            Ok(m) => {
                let m = Arc::new(m);
                match self.shared.tls.write() {
                    Ok(mut g) => *g = m,
                    Err(p) => *p.into_inner() = m,
                }
                info!("API facade certificates reloaded");
                CertReload::Reloaded
            }
            Err(e) => {
                warn!(error = %e, "new certificate files refused; the previous ones keep serving");
                CertReload::Refused(e.to_string())
            }
        }
    }
}

/// Whether the file still holds `raw` (an unreadable file counts as changed).
async fn same_content(path: &std::path::Path, raw: &[u8]) -> bool {
    tokio::fs::read(path)
        .await
        .map(|b| b == raw)
        .unwrap_or(false)
}

async fn cert_loop(handle: CertHandle, interval: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut last_refused: Option<String> = None;
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tick.tick() => {
                // A broken file is logged once per reason, not every interval.
                match handle.check().await {
                    CertReload::Refused(r) if last_refused.as_ref() == Some(&r) => {}
                    CertReload::Refused(r) => last_refused = Some(r),
                    _ => last_refused = None,
                }
            }
        }
    }
}

/// Produces a fresh [`Loaded`] from the snapshot files (run off the async threads).
pub type Loader = Arc<dyn Fn() -> Result<Loaded, String> + Send + Sync>;

/// How the served snapshot is kept current.
#[derive(Clone)]
pub struct Reload {
    /// Files and directories to watch (directories recursively).
    pub paths: Vec<PathBuf>,
    /// Reads them again.
    pub loader: Loader,
    /// When the served snapshot started being read: a file changed after it (before the
    /// watch began) triggers a reload at start.
    pub read_at: std::time::SystemTime,
}

impl std::fmt::Debug for Reload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reload")
            .field("paths", &self.paths)
            .field("read_at", &self.read_at)
            .finish_non_exhaustive()
    }
}

/// The newest modification time under `path` (directories walked to a bounded depth).
fn newest_mtime(path: &std::path::Path, depth: usize) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    let mut newest = meta.modified().ok();
    if meta.is_dir() && depth < 64 {
        for entry in std::fs::read_dir(path).ok()?.flatten() {
            if let Some(t) = newest_mtime(&entry.path(), depth + 1) {
                newest = Some(newest.map_or(t, |n| n.max(t)));
            }
        }
    }
    newest
}

/// The facade with certificates loaded and its socket bound.
pub struct ApiServer {
    listener: TcpListener,
    addr: SocketAddr,
    files: Arc<TlsFiles>,
    shared: Arc<Shared>,
    cfg: ApiConfig,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

async fn read(path: &std::path::Path) -> Result<Vec<u8>, ServerError> {
    tokio::fs::read(path)
        .await
        .map_err(|source| ServerError::Read {
            path: path.to_path_buf(),
            source,
        })
}

impl ApiServer {
    /// Loads the serving certificate and client CA (any problem is an error) and binds, serving
    /// the Kubernetes API.
    pub async fn bind(cfg: ApiConfig, initial: Loaded) -> Result<ApiServer, ServerError> {
        Self::bind_with(cfg, initial, Services::default()).await
    }

    /// As [`ApiServer::bind`], serving `services`.
    pub async fn bind_with(
        cfg: ApiConfig,
        initial: Loaded,
        services: Services,
    ) -> Result<ApiServer, ServerError> {
        let files = TlsFiles::new(&cfg)?;
        let material = files.load().await?;
        let listener = TcpListener::bind(cfg.listen)
            .await
            .map_err(|source| ServerError::Bind {
                addr: cfg.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: cfg.listen,
            source,
        })?;
        let store = Store::new(initial);
        let (version, _) = watch::channel(store.current().resource_version);
        Ok(ApiServer {
            listener,
            addr,
            files: Arc::new(files),
            shared: Arc::new(Shared {
                services,
                store: RwLock::new(store),
                version,
                tls: RwLock::new(Arc::new(material)),
                bookmark_interval: cfg.bookmark_interval,
            }),
            cfg,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle for reloads.
    pub fn handle(&self) -> ApiHandle {
        ApiHandle {
            shared: self.shared.clone(),
        }
    }

    /// A handle for certificate checks.
    pub fn cert_handle(&self) -> CertHandle {
        CertHandle {
            files: self.files.clone(),
            shared: self.shared.clone(),
        }
    }

    /// Serves until `shutdown` resolves. With `reload`, a change under any of its paths reloads
    /// the snapshot (debounced); a failed load is logged and the previous state keeps serving.
    pub async fn run(
        self,
        reload: Option<Reload>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        let ApiServer {
            listener,
            addr,
            files,
            shared,
            cfg,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let reloader = reload.map(|r| {
            tokio::spawn(reload_loop(
                ApiHandle {
                    shared: shared.clone(),
                },
                r,
                stop_rx.clone(),
            ))
        });
        let certs = tokio::spawn(cert_loop(
            CertHandle {
                files,
                shared: shared.clone(),
            },
            cfg.cert_check_interval,
            stop_rx.clone(),
        ));
        info!(%addr, "virtguard API facade listening");
        let mut conns = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept(), if conns.len() < cfg.max_connections.max(1) => match accepted {
                    Ok((tcp, peer)) => {
                        conns.spawn(connection(tcp, peer, shared.clone(), cfg.handshake_timeout, stop_rx.clone()));
                    }
                    Err(e) => {
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        drop(listener);
        let _ = stop_tx.send(true);
        let drained = tokio::time::timeout(cfg.drain_timeout, async {
            while conns.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            conns.shutdown().await;
        }
        if let Some(r) = reloader {
            r.abort();
        }
        certs.abort();
        info!("virtguard API facade stopped");
        Ok(())
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Reloads on file events under `paths` (debounced by 200 ms).
async fn reload_loop(handle: ApiHandle, reload: Reload, mut stop: watch::Receiver<bool>) {
    let Reload {
        paths,
        loader,
        read_at,
    } = reload;
    use notify::Watcher as _;
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let kick = tx.clone();
    // Files are watched through their directory, so only events naming one of them count (a
    // file written next to a one-file snapshot must not reload it); a directory counts whole.
    let files: Vec<std::ffi::OsString> = paths
        .iter()
        .filter(|p| p.is_file())
        .filter_map(|p| p.file_name().map(|n| n.to_os_string()))
        .collect();
    let any_dir = paths.iter().any(|p| !p.is_file());
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(ev) = event {
            let ours = any_dir
                || ev.paths.iter().any(|p| {
                    p.file_name()
                        .is_some_and(|n| files.iter().any(|f| f.as_os_str() == n))
                });
            if ours && !matches!(ev.kind, notify::EventKind::Access(_)) {
                let _ = tx.send(());
            }
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            warn!(error = %e, "cannot watch the snapshot files; they will not be reloaded");
            return;
        }
    };
    for p in &paths {
        // A file is watched through its directory: editors replace files by renaming, which
        // ends a watch on the file itself.
        let (target, mode) = match p.parent() {
            Some(dir) if p.is_file() => (
                if dir.as_os_str().is_empty() {
                    std::path::Path::new(".")
                } else {
                    dir
                },
                notify::RecursiveMode::NonRecursive,
            ),
            _ => (p.as_path(), notify::RecursiveMode::Recursive),
        };
        if let Err(e) = watcher.watch(target, mode) {
            warn!(path = %p.display(), error = %e, "cannot watch the snapshot path; it will not be reloaded");
        }
    }
    // Changes made between the first read and the watch starting.
    let scan = paths.clone();
    let changed = tokio::task::spawn_blocking(move || {
        scan.iter()
            .filter_map(|p| newest_mtime(p, 0))
            .any(|t| t > read_at)
    })
    .await
    .unwrap_or(false);
    if changed {
        let _ = kick.send(());
    }
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            got = rx.recv() => {
                if got.is_none() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                while rx.try_recv().is_ok() {}
                let l = loader.clone();
                let h = handle.clone();
                match tokio::task::spawn_blocking(move || l().map(|loaded| h.reload(loaded))).await {
                    Ok(Ok(n)) => {
                        info!(changed = n, resource_version = handle.resource_version(), "snapshot reloaded");
                    }
                    Ok(Err(e)) => warn!(error = %e, "snapshot reload refused; the previous snapshot keeps serving"),
                    Err(e) => warn!(error = %e, "snapshot reload failed"),
                }
            }
        }
    }
}

type ResponseBody = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

/// A body fed by a channel (watch streams).
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

fn response(reply: Reply) -> hyper::Response<ResponseBody> {
    let mut r = hyper::Response::new(Full::new(Bytes::from(reply.body)).boxed_unsync());
    *r.status_mut() =
        hyper::StatusCode::from_u16(reply.code).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = hyper::header::HeaderValue::from_str(reply.content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-cache, private"),
    );
    r
}

/// Streams a watch: the initial lines, then every later reload's changes (and bookmarks),
/// until the timeout, the client leaving, or shutdown.
async fn stream_watch(
    plan: WatchPlan,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Bytes>,
    mut stop: watch::Receiver<bool>,
) {
    let mut plan = plan;
    for l in std::mem::take(&mut plan.initial) {
        if tx.send(Bytes::from(l)).await.is_err() {
            return;
        }
    }
    if plan.finished {
        return;
    }
    let mut versions = shared.version.subscribe();
    let deadline = tokio::time::sleep(plan.timeout);
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(shared.bookmark_interval.max(Duration::from_millis(100)));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = &mut deadline => return,
            _ = stopped(&mut stop) => return,
            _ = tx.closed() => return,
            _ = tick.tick(), if plan.bookmarks => {
                let rv = plan.since;
                if tx.send(Bytes::from(plan.bookmark(rv, false))).await.is_err() {
                    return;
                }
            }
            changed = versions.changed() => {
                if changed.is_err() {
                    return;
                }
                let result = shared.read(|s| s.changes_since(plan.since));
                let lines = match result {
                    Ok((batches, rv)) => {
                        let mut lines = plan.lines_for(&batches);
                        plan.since = rv;
                        if plan.bookmarks {
                            lines.push(plan.bookmark(rv, false));
                        }
                        lines
                    }
                    Err(e) => {
                        let err = virtguard_apiserver::watch::too_old(plan.since, e.oldest);
                        let _ = tx.send(Bytes::from(virtguard_apiserver::watch::error_line(&err))).await;
                        return;
                    }
                };
                for l in lines {
                    if tx.send(Bytes::from(l)).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

async fn serve_request(
    req: hyper::Request<Incoming>,
    peer: Arc<Peer>,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) -> Result<hyper::Response<ResponseBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(e) => return Ok(response(e.reply())),
    };
    let now = OffsetDateTime::now_utc();
    let ca = shared.tls().ca.clone();
    let user = match peer.authenticate(&ca, now) {
        Ok(u) => u,
        Err(reason) => {
            warn!(
                reason,
                path = parts.uri.path(),
                "client certificate rejected: Unauthorized"
            );
            return Ok(response(ApiError::unauthorized().reply()));
        }
    };
    if let Some((_, hook)) = shared
        .services
        .webhooks
        .iter()
        .find(|(p, _)| p == parts.uri.path())
    {
        // kube-apiserver calls webhooks with its client certificate: anonymous callers are
        // refused, and only POST carries a review.
        if user.name == "system:anonymous" {
            warn!(
                path = parts.uri.path(),
                "webhook call without a client certificate: Unauthorized"
            );
            return Ok(response(ApiError::unauthorized().reply()));
        }
        if parts.method != hyper::Method::POST {
            return Ok(response(
                ApiError::method_not_allowed(&parts.method.as_str().to_ascii_lowercase(), "", "")
                    .reply(),
            ));
        }
        let reply = hook(&user, &body);
        debug!(user = %user.name, path = parts.uri.path(), code = reply.code, "webhook");
        return Ok(response(reply));
    }
    if let (Some(render), "/metrics") = (&shared.services.metrics, parts.uri.path()) {
        if parts.method != hyper::Method::GET {
            return Ok(response(
                ApiError::method_not_allowed(&parts.method.as_str().to_ascii_lowercase(), "", "")
                    .reply(),
            ));
        }
        let mut r = hyper::Response::new(Full::new(Bytes::from(render())).boxed_unsync());
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
        );
        return Ok(r);
    }
    if !shared.services.api && !matches!(parts.uri.path(), "/healthz" | "/livez" | "/readyz") {
        return Ok(response(ApiError::no_such_path().reply()));
    }
    let req = ApiRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body: &body,
    };
    let handled = shared.read(|store| handle(store, &user, &req, now));
    debug!(user = %user.name, method = %parts.method, uri = %parts.uri, "request");
    match handled {
        Handled::Reply(r) => Ok(response(r)),
        Handled::Watch(plan) => {
            let (tx, rx) = mpsc::channel::<Bytes>(64);
            tokio::spawn(stream_watch(*plan, shared.clone(), tx, stop));
            let mut r = hyper::Response::new(ChannelBody(rx).boxed_unsync());
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            Ok(r)
        }
    }
}

/// How much of an oversized body is read and discarded before the 413 is sent, so the client
/// sees the answer instead of a reset stream.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// Reads the body up to [`MAX_BODY_BYTES`]; beyond, drains it (within [`DRAIN_LIMIT`] and 10 s)
/// and answers 413.
async fn read_body(mut body: Incoming) -> Result<Bytes, ApiError> {
    let mut buf: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
            if let Some(d) = frame.data_ref() {
                seen = seen.saturating_add(d.len());
                if seen <= MAX_BODY_BYTES {
                    buf.extend_from_slice(d);
                } else if seen > DRAIN_LIMIT {
                    break;
                }
            }
        }
        Ok::<(), ApiError>(())
    };
    match tokio::time::timeout(Duration::from_secs(10), read).await {
        Ok(r) => r?,
        Err(_) if seen > MAX_BODY_BYTES => {}
        Err(_) => return Err(ApiError::bad_request("timed out reading the request body")),
    }
    if seen > MAX_BODY_BYTES {
        return Err(ApiError::too_large(MAX_BODY_BYTES));
    }
    Ok(Bytes::from(buf))
}

fn presented(conn: &rustls::ServerConnection) -> Presented {
    match conn.peer_certificates() {
        None => Presented::None,
        Some([]) => Presented::None,
        Some(certs) => match certs
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()))
            .collect()
        {
            Ok(chain) => Presented::Chain(chain),
            Err(e) => Presented::Malformed(e.to_string()),
        },
    }
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    handshake_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let _ = tcp.set_nodelay(true);
    let acceptor = TlsAcceptor::from(shared.tls().config.clone());
    let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let client = Arc::new(Peer::new(presented(tls.get_ref().1)));
    let stop_for_requests = stop.clone();
    let service = hyper::service::service_fn(move |req| {
        serve_request(
            req,
            client.clone(),
            shared.clone(),
            stop_for_requests.clone(),
        )
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    let conn = builder.serve_connection(TokioIo::new(tls), service);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        _ = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use virtguard_pki::{issue_ca, CaKind, CertificateAuthority, LeafSpec};

    fn ca(now: OffsetDateTime) -> CertificateAuthority {
        CertificateAuthority::from_issued(
            &issue_ca(CaKind::KubeVirt, now, time::Duration::days(1)).unwrap(),
        )
        .unwrap()
    }

    fn empty() -> Loaded {
        Loaded {
            objects: Vec::new(),
            policy: virtguard_rbac::Policy::new(Vec::new(), Vec::new()),
            discovery: virtguard_catalog::Discovery::builtin().unwrap(),
        }
    }

    /// A snapshot with one VirtualMachine: different from [`empty`], so reloading it changes
    /// something (a reload that changes nothing keeps the version).
    fn one_vm() -> Loaded {
        let snap = virtguard_snapshot::from_texts(
            vec![(
                "vm.yaml".into(),
                "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {name: vm1, namespace: prod}\n".to_string(),
                virtguard_snapshot::Format::Yaml,
            )],
            &virtguard_snapshot::LoadOptions::default(),
        )
        .unwrap();
        Loaded {
            objects: snap.objects,
            policy: virtguard_rbac::Policy::new(Vec::new(), Vec::new()),
            discovery: virtguard_catalog::Discovery::builtin().unwrap(),
        }
    }

    /// A directory with a serving certificate (`tls.crt`, `tls.key`) and its CA (`ca.crt`).
    fn serving_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        let ours = ca(now);
        let serving = ours
            .issue_leaf(
                &LeafSpec::server("x", &["localhost".into()], &[]),
                now,
                time::Duration::hours(1),
            )
            .unwrap();
        std::fs::write(dir.path().join("tls.crt"), &serving.cert_pem).unwrap();
        std::fs::write(dir.path().join("tls.key"), &serving.key_pem).unwrap();
        std::fs::write(dir.path().join("ca.crt"), ours.certificate().to_pem()).unwrap();
        dir
    }

    /// Another file in a one-file snapshot's directory does not reload it (nor bump the
    /// version, which would expire every continue token); an edit of the snapshot does, and a
    /// reload that changes nothing keeps the version.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_the_snapshot_files_reload_it() {
        let dir = serving_dir();
        let snap = dir.path().join("snap.yaml");
        std::fs::write(&snap, "# first\n").unwrap();
        let cfg = ApiConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            dir.path(),
            dir.path().join("ca.crt"),
        );
        let server = ApiServer::bind(cfg, empty()).await.unwrap();
        let handle = server.handle();
        let loads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = loads.clone();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let reload = Reload {
            paths: vec![snap.clone()],
            loader: Arc::new(move || {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(one_vm())
            }),
            read_at: std::time::SystemTime::now() + Duration::from_secs(3600),
        };
        let task = tokio::spawn(server.run(Some(reload), async {
            let _ = stop_rx.await;
        }));
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::fs::write(dir.path().join("unrelated.kubeconfig"), "x").unwrap();
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(handle.resource_version(), 1);
        std::fs::write(&snap, "# second\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while handle.resource_version() < 2 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(handle.resource_version(), 2);
        // The same content again: reloaded, nothing changed, the version stays.
        let before = loads.load(std::sync::atomic::Ordering::SeqCst);
        std::fs::write(&snap, "# third\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while loads.load(std::sync::atomic::Ordering::SeqCst) == before
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(loads.load(std::sync::atomic::Ordering::SeqCst) > before);
        assert_eq!(handle.resource_version(), 2);
        let _ = stop_tx.send(());
        task.await.unwrap().unwrap();
    }

    /// A file changed after the first read but before the watch began is reloaded at start.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changes_before_the_watch_are_not_missed() {
        let dir = serving_dir();
        let snap = dir.path().join("snap.yaml");
        std::fs::write(&snap, "# edited after the first read\n").unwrap();
        let cfg = ApiConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            dir.path(),
            dir.path().join("ca.crt"),
        );
        let server = ApiServer::bind(cfg, empty()).await.unwrap();
        let handle = server.handle();
        assert_eq!(handle.resource_version(), 1);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let reload = Reload {
            paths: vec![snap],
            loader: Arc::new(|| Ok(one_vm())),
            read_at: std::time::SystemTime::UNIX_EPOCH,
        };
        let task = tokio::spawn(server.run(Some(reload), async {
            let _ = stop_rx.await;
        }));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while handle.resource_version() < 2 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(handle.resource_version(), 2);
        let _ = stop_tx.send(());
        task.await.unwrap().unwrap();
    }

    fn write_serving(dir: &std::path::Path, ca: &CertificateAuthority, cn: &str) {
        let now = OffsetDateTime::now_utc();
        let serving = ca
            .issue_leaf(
                &LeafSpec::server(cn, &["localhost".into()], &[]),
                now,
                time::Duration::hours(1),
            )
            .unwrap();
        std::fs::write(dir.join("tls.crt"), &serving.cert_pem).unwrap();
        std::fs::write(dir.join("tls.key"), &serving.key_pem).unwrap();
    }

    #[tokio::test]
    async fn certificates_are_reloaded_and_broken_ones_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ours = ca(OffsetDateTime::now_utc());
        write_serving(dir.path(), &ours, "first");
        std::fs::write(dir.path().join("ca.crt"), ours.certificate().to_pem()).unwrap();
        let cfg = ApiConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            dir.path(),
            dir.path().join("ca.crt"),
        );
        let server = ApiServer::bind(cfg, empty()).await.unwrap();
        let certs = server.cert_handle();
        assert_eq!(certs.check().await, CertReload::Unchanged);
        write_serving(dir.path(), &ours, "second");
        assert_eq!(certs.check().await, CertReload::Reloaded);
        let now_serving = certs.shared.tls().cert_raw.clone();
        assert_eq!(
            now_serving,
            std::fs::read(dir.path().join("tls.crt")).unwrap()
        );
        std::fs::write(dir.path().join("tls.key"), "not a key").unwrap();
        assert!(matches!(certs.check().await, CertReload::Refused(_)));
        assert_eq!(
            certs.shared.tls().cert_raw,
            now_serving,
            "the previous certificate keeps serving"
        );
        let other = ca(OffsetDateTime::now_utc());
        write_serving(dir.path(), &ours, "third");
        std::fs::write(dir.path().join("ca.crt"), other.certificate().to_pem()).unwrap();
        assert_eq!(certs.check().await, CertReload::Reloaded);
        assert_eq!(
            certs.shared.tls().ca.as_slice(),
            [other.certificate().clone()]
        );
    }

    #[test]
    fn identities_from_certificates() {
        let now = OffsetDateTime::now_utc();
        let ours = ca(now);
        let bundle = [ours.certificate().clone()];
        assert_eq!(
            authenticate(&Presented::None, &bundle, now).unwrap(),
            UserInfo::anonymous()
        );
        let alice = ours
            .issue_leaf(
                &LeafSpec::client("alice", &["devs".into(), "ops".into()]),
                now,
                time::Duration::hours(1),
            )
            .unwrap();
        let u = authenticate(
            &Presented::Chain(vec![alice.certificate.clone()]),
            &bundle,
            now,
        )
        .unwrap();
        assert_eq!(u.name, "alice");
        assert_eq!(u.groups, ["devs", "ops", "system:authenticated"]);
        let later = now + time::Duration::hours(2);
        let e =
            authenticate(&Presented::Chain(vec![alice.certificate]), &bundle, later).unwrap_err();
        assert!(e.contains("expired"), "{e}");
        let foreign = ca(now)
            .issue_leaf(
                &LeafSpec::client("mallory", &[]),
                now,
                time::Duration::hours(1),
            )
            .unwrap();
        assert!(authenticate(&Presented::Chain(vec![foreign.certificate]), &bundle, now).is_err());
        let server = ours
            .issue_leaf(
                &LeafSpec::server("x", &["localhost".into()], &[]),
                now,
                time::Duration::hours(1),
            )
            .unwrap();
        assert!(
            authenticate(&Presented::Chain(vec![server.certificate]), &bundle, now).is_err(),
            "a serving certificate is no client certificate"
        );
        assert!(authenticate(&Presented::Malformed("x".into()), &bundle, now).is_err());
        assert!(authenticate(&Presented::Chain(vec![]), &bundle, now).is_err());
    }
}
