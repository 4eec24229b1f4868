//! The HTTPS server behind `virtguard serve`.
//!
//! * TLS with rustls (ring), TLS 1.2 or 1.3 minimum, optional cipher-suite list.
//! * Optional mTLS: when a client-CA bundle is configured, every client must present a
//!   certificate passing KubeVirt's peer identity check ([`virtguard_pki::verify_peer`]);
//!   rejections are logged and counted by reason.
//! * `/healthz`, `/readyz`, `/metrics` (Prometheus text), plus any caller routes
//!   ([`serve_with`]).
//! * Hot reload of `tls.crt`/`tls.key` and of the client-CA bundle (file watch plus periodic
//!   check), for new connections only; broken files are refused and the old ones keep serving.
//! * Graceful shutdown: stop accepting, drain in-flight requests within a bound, return.
//!
//! ```no_run
//! # async fn run() -> Result<(), virtguard_server::ServerError> {
//! use virtguard_server::{Server, ServerConfig};
//! let cfg = ServerConfig::new("127.0.0.1:8443".parse().unwrap(), "/etc/virtguard/tls");
//! let server = Server::bind(cfg).await?;
//! println!("listening on {}", server.local_addr());
//! server.run(axum::Router::new(), async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

#![warn(missing_docs)]

pub mod api;
mod config;
mod error;
mod http;
mod material;
mod metrics;
mod reload;
mod verifier;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;
use tracing::{debug, info, warn};
use virtguard_pki::Certificate;

pub use config::{MinTls, ServerConfig, CERT_FILE, KEY_FILE};
pub use error::ServerError;
pub use http::UNMATCHED_PATH;
pub use metrics::{CertKind, Metrics};
pub use reload::{ReloadReport, ReloadStatus};
pub use verifier::HANDSHAKE_FAILURE_REASONS;

use reload::Reloader;

/// How long a request header may take to arrive on an HTTP/1 connection.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The client certificate of a connection, inserted as a request extension so mounted
/// handlers can see who is calling (absent without client authentication).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// Subject CN of the client's leaf certificate ("" if none).
    pub common_name: String,
    /// SHA-256 fingerprint of the leaf, lowercase hex.
    pub sha256_fingerprint: String,
}

/// State shared by the accept loop, connections, handlers and handles.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) reloader: Arc<Reloader>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) shutting_down: AtomicBool,
    pub(crate) reload_trigger: Arc<Notify>,
    pub(crate) watching: bool,
}

/// A cheap, cloneable view of a running (or bound) server.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl ServerHandle {
    /// The address the server listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Re-reads the certificate files now (as the watcher would) and reports what changed.
    pub async fn reload_now(&self) -> ReloadReport {
        self.shared.reloader.check().await
    }

    /// Asks the reload loop for a check soon (debounced), as a file event would.
    pub fn trigger_reload(&self) {
        self.shared.reload_trigger.notify_one();
    }

    /// Whether the file-system watcher is running (if not, only the periodic check reloads).
    pub fn file_watch_active(&self) -> bool {
        self.shared.watching
    }

    /// The leaf certificate new connections are served.
    pub fn serving_certificate(&self) -> Certificate {
        self.shared.reloader.current().serving.leaf.clone()
    }

    /// The client-CA bundle new connections are checked against.
    pub fn client_ca(&self) -> Option<Vec<Certificate>> {
        self.shared
            .reloader
            .current()
            .client_ca
            .as_ref()
            .map(|c| c.certs.as_ref().clone())
    }
}

/// A server with its certificates loaded and its socket bound, not yet accepting.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    handle: ServerHandle,
    cfg: ServerConfig,
    watcher: Option<notify::RecommendedWatcher>,
}

impl Server {
    /// Loads the certificate files (any problem is an error here) and binds `cfg.listen`.
    pub async fn bind(cfg: ServerConfig) -> Result<Server, ServerError> {
        let metrics = Arc::new(Metrics::new());
        // Watch first, read second: a change made while loading still triggers a check.
        let trigger = Arc::new(Notify::new());
        let watcher = reload::start_watcher(&reload::watch_dirs(&cfg), trigger.clone());
        let reloader = Arc::new(Reloader::load(&cfg, metrics.clone(), trigger.clone()).await?);
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
        let shared = Arc::new(Shared {
            reloader,
            metrics,
            shutting_down: AtomicBool::new(false),
            reload_trigger: trigger,
            watching: watcher.is_some(),
        });
        Ok(Server {
            listener,
            handle: ServerHandle { shared, addr },
            cfg,
            watcher,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.addr
    }

    /// A handle for metrics, reloads and the bound address.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Serves `router` plus the built-in routes until `shutdown` resolves, then stops
    /// accepting, lets in-flight requests finish within `drain_timeout`, and returns.
    /// Errors on single connections (handshakes, I/O, accept) are logged and never stop it.
    pub async fn run(
        self,
        router: Router,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        let Server {
            listener,
            handle,
            cfg,
            watcher,
        } = self;
        let shared = handle.shared.clone();
        let app = http::app(router, shared.clone());
        let (stop_tx, stop_rx) = watch::channel(false);
        let reload_task = tokio::spawn(reload::watch_loop(
            shared.reloader.clone(),
            cfg.reload_interval,
            shared.reload_trigger.clone(),
            watcher,
            stop_rx.clone(),
        ));
        info!(addr = %handle.addr, mtls = cfg.client_ca.is_some(), "virtguard server listening");

        let mut conns = JoinSet::new();
        let max_connections = cfg.max_connections.max(1);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept(), if conns.len() < max_connections => match accepted {
                    Ok((tcp, peer)) => {
                        conns.spawn(connection(
                            tcp,
                            peer,
                            shared.clone(),
                            app.clone(),
                            cfg.handshake_timeout,
                            stop_rx.clone(),
                        ));
                    }
                    Err(e) => {
                        // EMFILE and friends: back off and keep serving.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }

        info!(
            connections = conns.len(),
            "shutting down: no longer accepting, draining in-flight requests"
        );
        drop(listener);
        shared.shutting_down.store(true, Ordering::Relaxed);
        let _ = stop_tx.send(true);
        let drained = tokio::time::timeout(cfg.drain_timeout, async {
            while conns.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!(
                connections = conns.len(),
                "drain timeout reached; closing remaining connections"
            );
            conns.shutdown().await;
        }
        let _ = reload_task.await;
        info!("virtguard server stopped");
        Ok(())
    }
}

/// Binds and serves the built-in routes until `shutdown` resolves.
pub async fn serve(
    cfg: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    serve_with(Router::new(), cfg, shutdown).await
}

/// Binds and serves `router` plus the built-in routes until `shutdown` resolves.
pub async fn serve_with(
    router: Router,
    cfg: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    Server::bind(cfg).await?.run(router, shutdown).await
}

fn peer_certificate(conn: &rustls::ServerConnection) -> Option<PeerCertificate> {
    let der = conn.peer_certificates()?.first()?;
    let cert = Certificate::from_der(der.as_ref()).ok()?;
    Some(PeerCertificate {
        common_name: cert.common_name().unwrap_or_default().to_string(),
        sha256_fingerprint: cert.summary().sha256_fingerprint.clone(),
    })
}

/// One connection: TLS handshake with the current snapshot, then HTTP/1.1 or HTTP/2 until
/// the client is done or shutdown is requested (then gracefully).
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    app: Router,
    handshake_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let _ = tcp.set_nodelay(true);
    let acceptor = TlsAcceptor::from(shared.reloader.current().tls.clone());
    let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let reason = verifier::classify(&e);
            shared.metrics.record_handshake_failure(reason);
            warn!(%peer, reason, error = %e, "TLS handshake rejected");
            return;
        }
        Err(_) => {
            shared.metrics.record_handshake_failure("timeout");
            warn!(%peer, reason = "timeout", "TLS handshake timed out");
            return;
        }
    };
    shared.metrics.record_handshake_ok();
    let identity = peer_certificate(tls.get_ref().1);
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let mut req = req.map(axum::body::Body::new);
        if let Some(id) = &identity {
            req.extensions_mut().insert(id.clone());
        }
        app.clone().oneshot(req)
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(tls), service);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        _ = reload::stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            if let Err(e) = conn.await {
                debug!(%peer, error = %e, "connection ended with an error during shutdown");
            }
        }
    }
}
