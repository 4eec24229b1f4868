//! Hot reload of the serving certificate and the client-CA bundle. The current TLS
//! configuration is an immutable snapshot behind a lock; a reload builds a new snapshot and
//! swaps it in, so new connections use the new files while established ones keep theirs. A
//! file-system watcher triggers a check on any change in the watched directories, and a
//! periodic check catches whatever the watcher misses. Refused files are logged and counted
//! once per distinct content, and the previous material keeps serving. The serving certificate
//! and key are read as one pair ([`read_pair`]), so a swapped pair is picked up whole.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;
use tokio::sync::{watch, Mutex, Notify};
use tracing::{debug, info, warn};
use virtguard_pki::Certificate;

use crate::config::{MinTls, ServerConfig};
use crate::error::ServerError;
use crate::material::{parse_client_ca, parse_serving, read_pair, BundleFile, ClientCa, Serving};
use crate::metrics::{CertKind, Metrics};
use crate::verifier::PeerVerifier;

/// How long file-system events are left to settle before the files are read (a `tls.crt`
/// and `tls.key` pair is usually written as two steps).
const DEBOUNCE: Duration = Duration::from_millis(100);

/// What one reload check did to one file (or file pair).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadStatus {
    /// Not configured (no client CA).
    NotConfigured,
    /// The content is the one already loaded (or already refused).
    Unchanged,
    /// New content was loaded; new connections use it.
    Reloaded,
    /// New content was refused; the previous material keeps serving.
    Refused(String),
}

/// The outcome of a reload check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// The serving certificate and key.
    pub serving: ReloadStatus,
    /// The client-CA bundle.
    pub client_ca: ReloadStatus,
}

/// Always presents one certificate.
#[derive(Debug)]
struct FixedCert(Arc<CertifiedKey>);

impl ResolvesServerCert for FixedCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// The material in force and the rustls configuration built from it.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// The rustls configuration for new connections.
    pub tls: Arc<rustls::ServerConfig>,
    /// The serving certificate.
    pub serving: Arc<Serving>,
    /// The client-CA bundle, when client authentication is on.
    pub client_ca: Option<Arc<ClientCa>>,
}

/// Contents refused before, so a broken file is logged and counted once.
#[derive(Debug, Default)]
struct Refused {
    serving: Option<(Vec<u8>, Vec<u8>)>,
    client_ca: Option<Vec<u8>>,
}

/// Owns the current snapshot and reloads it from disk.
#[derive(Debug)]
pub(crate) struct Reloader {
    cert_path: PathBuf,
    key_path: PathBuf,
    client_ca_path: Option<PathBuf>,
    client_cn_types: Vec<String>,
    min_tls: MinTls,
    provider: Arc<CryptoProvider>,
    metrics: Arc<Metrics>,
    current: RwLock<Arc<Snapshot>>,
    refused: Mutex<Refused>,
    /// The client-CA bundle file as the verifier looks at it again.
    bundle_file: Option<Arc<BundleFile>>,
}

async fn read(path: &Path) -> Result<Vec<u8>, ServerError> {
    tokio::fs::read(path)
        .await
        .map_err(|source| ServerError::Read {
            path: path.to_path_buf(),
            source,
        })
}

fn read_sync(path: &Path) -> Result<Vec<u8>, ServerError> {
    std::fs::read(path).map_err(|source| ServerError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// `tls.crt` and `tls.key` as one consistent pair ([`read_pair`]), off the async workers.
async fn read_serving(cert: &Path, key: &Path) -> Result<(Vec<u8>, Vec<u8>), ServerError> {
    let (cert, key) = (cert.to_path_buf(), key.to_path_buf());
    let cert_for_error = cert.clone();
    tokio::task::spawn_blocking(move || read_pair(read_sync, &cert, &key))
        .await
        .map_err(|e| ServerError::Read {
            path: cert_for_error,
            source: std::io::Error::other(e.to_string()),
        })?
}

fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

fn describe(cert: &Certificate) -> String {
    let s = cert.summary();
    format!(
        "CN={} serial={} sha256={} notAfter={}",
        s.common_name.as_deref().unwrap_or(""),
        s.serial,
        s.sha256_fingerprint,
        s.not_after
    )
}

impl Reloader {
    /// Loads the files for the first time; any problem is fatal here.
    /// `reload` wakes the reload loop (the verifier uses it when it finds a newer bundle).
    pub async fn load(
        cfg: &ServerConfig,
        metrics: Arc<Metrics>,
        reload: Arc<Notify>,
    ) -> Result<Self, ServerError> {
        let provider = cfg.provider()?;
        let now = OffsetDateTime::now_utc();
        let cert_path = cfg.cert_path();
        let key_path = cfg.key_path();
        let (cert_raw, key_raw) = read_serving(&cert_path, &key_path).await?;
        let serving = parse_serving(cert_raw, key_raw, &provider, now).map_err(|reason| {
            ServerError::Refused {
                path: cert_path.clone(),
                reason,
            }
        })?;
        let client_ca = match &cfg.client_ca {
            Some(path) => Some(Arc::new(parse_client_ca(read(path).await?, now).map_err(
                |reason| ServerError::Refused {
                    path: path.clone(),
                    reason,
                },
            )?)),
            None => None,
        };
        let serving = Arc::new(serving);
        let bundle_file = cfg
            .client_ca
            .as_ref()
            .map(|path| Arc::new(BundleFile::new(path.clone(), reload)));
        let tls = build_tls(
            &provider,
            cfg.min_tls,
            &cfg.client_cn_types,
            &serving,
            client_ca.as_ref().zip(bundle_file.as_ref()),
        )?;
        info!(certificate = %describe(&serving.leaf), "serving certificate loaded");
        if let Some(ca) = &client_ca {
            info!(count = ca.certs.len(), "client CA bundle loaded");
        }
        metrics.set_expiry(CertKind::Serving, Some(unix(serving.leaf.not_after())));
        metrics.set_expiry(
            CertKind::ClientCa,
            client_ca.as_ref().and_then(|c| c.not_after()).map(unix),
        );
        Ok(Reloader {
            cert_path,
            key_path,
            client_ca_path: cfg.client_ca.clone(),
            client_cn_types: cfg.client_cn_types.clone(),
            min_tls: cfg.min_tls,
            provider,
            metrics,
            current: RwLock::new(Arc::new(Snapshot {
                tls,
                serving,
                client_ca,
            })),
            refused: Mutex::new(Refused::default()),
            bundle_file,
        })
    }

    /// The snapshot new connections use.
    pub fn current(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn install(&self, snap: Snapshot) {
        let snap = Arc::new(snap);
        match self.current.write() {
            Ok(mut g) => *g = snap,
            Err(poisoned) => *poisoned.into_inner() = snap,
        }
    }

    fn refuse(&self, what: &str, path: &Path, reason: &str) -> ReloadStatus {
        warn!(file = %path.display(), reason, "refusing new {what}; the previous one keeps serving");
        self.metrics.record_reload(false);
        ReloadStatus::Refused(reason.to_string())
    }

    /// Re-reads the files and swaps in a new snapshot when something valid changed.
    pub async fn check(&self) -> ReloadReport {
        let mut refused = self.refused.lock().await;
        let old = self.current();
        let now = OffsetDateTime::now_utc();

        let mut new_serving = None;
        let serving_status = match read_serving(&self.cert_path, &self.key_path).await {
            Ok((c, k)) => {
                if c == old.serving.cert_raw && k == old.serving.key_raw {
                    refused.serving = None;
                    ReloadStatus::Unchanged
                } else if refused
                    .serving
                    .as_ref()
                    .is_some_and(|(rc, rk)| *rc == c && *rk == k)
                {
                    ReloadStatus::Unchanged
                } else {
                    match parse_serving(c.clone(), k.clone(), &self.provider, now) {
                        Ok(s) => {
                            refused.serving = None;
                            new_serving = Some(Arc::new(s));
                            ReloadStatus::Reloaded
                        }
                        Err(reason) => {
                            refused.serving = Some((c, k));
                            self.refuse("serving certificate", &self.cert_path, &reason)
                        }
                    }
                }
            }
            Err(e) => {
                // Counted every time: a missing file is worth repeating.
                let reason = e.to_string();
                self.refuse("serving certificate", &self.cert_path, &reason)
            }
        };

        let mut new_ca = None;
        let ca_status = match &self.client_ca_path {
            None => ReloadStatus::NotConfigured,
            Some(path) => match read(path).await {
                Ok(raw) => {
                    let same = old.client_ca.as_ref().is_some_and(|c| c.raw == raw);
                    if same {
                        refused.client_ca = None;
                        ReloadStatus::Unchanged
                    } else if refused.client_ca.as_ref() == Some(&raw) {
                        ReloadStatus::Unchanged
                    } else {
                        match parse_client_ca(raw.clone(), now) {
                            Ok(ca) => {
                                refused.client_ca = None;
                                new_ca = Some(Arc::new(ca));
                                ReloadStatus::Reloaded
                            }
                            Err(reason) => {
                                refused.client_ca = Some(raw);
                                self.refuse("client CA bundle", path, &reason)
                            }
                        }
                    }
                }
                Err(e) => self.refuse("client CA bundle", path, &e.to_string()),
            },
        };

        if new_serving.is_none() && new_ca.is_none() {
            debug!("certificate files unchanged");
            return ReloadReport {
                serving: serving_status,
                client_ca: ca_status,
            };
        }
        let serving = new_serving.clone().unwrap_or_else(|| old.serving.clone());
        let client_ca = new_ca.clone().or_else(|| old.client_ca.clone());
        match build_tls(
            &self.provider,
            self.min_tls,
            &self.client_cn_types,
            &serving,
            client_ca.as_ref().zip(self.bundle_file.as_ref()),
        ) {
            Ok(tls) => {
                self.install(Snapshot {
                    tls,
                    serving: serving.clone(),
                    client_ca: client_ca.clone(),
                });
                if let Some(s) = &new_serving {
                    info!(certificate = %describe(&s.leaf), "serving certificate reloaded");
                    self.metrics.record_reload(true);
                    self.metrics
                        .set_expiry(CertKind::Serving, Some(unix(s.leaf.not_after())));
                }
                if let Some(ca) = &new_ca {
                    info!(count = ca.certs.len(), "client CA bundle reloaded");
                    self.metrics.record_reload(true);
                    self.metrics
                        .set_expiry(CertKind::ClientCa, ca.not_after().map(unix));
                }
                ReloadReport {
                    serving: serving_status,
                    client_ca: ca_status,
                }
            }
            Err(e) => {
                let reason = e.to_string();
                let s = self.refuse("TLS configuration", &self.cert_path, &reason);
                ReloadReport {
                    serving: if new_serving.is_some() {
                        s.clone()
                    } else {
                        serving_status
                    },
                    client_ca: if new_ca.is_some() { s } else { ca_status },
                }
            }
        }
    }
}

/// Builds the rustls configuration for one snapshot; `client_ca` is the client-CA bundle in
/// force and its file.
pub(crate) fn build_tls(
    provider: &Arc<CryptoProvider>,
    min_tls: MinTls,
    client_cn_types: &[String],
    serving: &Serving,
    client_ca: Option<(&Arc<ClientCa>, &Arc<BundleFile>)>,
) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(min_tls.versions())?;
    let builder = match client_ca {
        Some((ca, file)) => builder.with_client_cert_verifier(Arc::new(PeerVerifier::new(
            ca.clone(),
            file.clone(),
            client_cn_types,
            provider.signature_verification_algorithms,
        ))),
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder.with_cert_resolver(Arc::new(FixedCert(serving.certified.clone())));
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Directories to watch: the TLS directory and the client CA's directory.
pub(crate) fn watch_dirs(cfg: &ServerConfig) -> Vec<PathBuf> {
    let mut dirs = vec![cfg.tls_dir.clone()];
    if let Some(ca) = &cfg.client_ca {
        let dir = match ca.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

/// Resolves once `stop` is true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.is_ok();
}

/// Runs until `stop` turns true: checks on file-system events (debounced) and every
/// `interval`. `watcher` (started before the files were first read, so no change is missed)
/// is kept alive here.
pub(crate) async fn watch_loop(
    reloader: Arc<Reloader>,
    interval: Duration,
    trigger: Arc<Notify>,
    watcher: Option<notify::RecommendedWatcher>,
    mut stop: watch::Receiver<bool>,
) {
    let _watcher = watcher;
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate; the files were just loaded
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = trigger.notified() => {
                tokio::time::sleep(DEBOUNCE).await;
                reloader.check().await;
            }
            _ = tick.tick() => {
                reloader.check().await;
            }
        }
    }
}

/// Watches `dirs` (non-recursively); any event wakes the reload loop. A watcher that cannot
/// start is logged, and the periodic check carries on alone.
pub(crate) fn start_watcher(
    dirs: &[PathBuf],
    trigger: Arc<Notify>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher as _;
    let mut watcher = match notify::recommended_watcher(
        move |event: notify::Result<notify::Event>| {
            match event {
                // Our own reads show up as opens/closes; only a closed write is news.
                Ok(ev)
                    if matches!(
                        ev.kind,
                        notify::EventKind::Access(a)
                            if a != notify::event::AccessKind::Close(notify::event::AccessMode::Write)
                    ) => {}
                Ok(_) => trigger.notify_one(),
                Err(e) => debug!(error = %e, "file watch error"),
            }
        },
    ) {
        Ok(w) => w,
        Err(e) => {
            warn!(error = %e, "cannot start file watcher; relying on the periodic check");
            return None;
        }
    };
    let mut watching = false;
    for dir in dirs {
        match watcher.watch(dir, notify::RecursiveMode::NonRecursive) {
            Ok(()) => watching = true,
            Err(e) => {
                warn!(dir = %dir.display(), error = %e, "cannot watch directory; relying on the periodic check")
            }
        }
    }
    watching.then_some(watcher)
}
