//! `virtguard serve`: the HTTPS server (health, readiness, metrics; the webhooks mount here
//! next) with KubeVirt's mTLS peer identity rule and certificates reloaded without restart;
//! with `--api`, the read-only Kubernetes API over the snapshot (`virtguard_server::api`);
//! with `--admission` and `--authorize`, kube-apiserver's webhooks on the same listener.
//! Stops gracefully on SIGTERM or Ctrl-C, draining requests in flight.

use std::time::Duration;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use virtguard_admission::{AdmissionConfig, Admitter, State};
use virtguard_server::api::{ApiConfig, ApiServer, Loader, Reload, Services, WebhookHandler};
use virtguard_server::{MinTls, Server, ServerConfig};

use crate::args::{Global, ServeArgs};
use crate::cmd::authorize::{Authz, AuthzMetrics};
use crate::input::{load_for_api, ApiSource};

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested: draining connections");
}

pub fn run(g: &Global, a: &ServeArgs) -> Result<u8> {
    let level = if g.quiet { "warn" } else { "info" };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VIRTGUARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal (logs to a file or journald stay plain text).
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && !g.no_color
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .try_init();
    let listen = a
        .listen
        .parse()
        .with_context(|| format!("--listen {:?}: not HOST:PORT", a.listen))?;
    if a.api || a.admission || a.authorize {
        return run_api(g, a, listen);
    }
    if a.pki_dir.is_some() {
        bail!("--pki-dir is for --api, --admission and --authorize (KubeVirt's mTLS rule needs --tls-dir and --client-ca)");
    }
    let Some(tls_dir) = &a.tls_dir else {
        bail!("--tls-dir is required (or --api with --pki-dir)");
    };
    let mut cfg = ServerConfig::new(listen, tls_dir);
    cfg.client_ca = a.client_ca.as_ref().map(Into::into);
    cfg.client_cn_types = a.client_cn_types.clone();
    if let Some(v) = &a.min_tls_version {
        cfg.min_tls = MinTls::parse(v).with_context(|| {
            format!("--min-tls-version {v:?}: use 1.2 or 1.3 (or VersionTLS12, VersionTLS13)")
        })?;
    }
    if !a.cipher_suites.is_empty() {
        cfg.cipher_suites = Some(a.cipher_suites.clone());
    }
    cfg.reload_interval = Duration::from_secs(a.reload_interval.max(1));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let server = Server::bind(cfg).await.context("cannot start the server")?;
        let addr = server.local_addr();
        tracing::info!("virtguard serving on https://{addr}");
        if a.print_address {
            println!("{addr}");
        }
        server
            .run(axum::Router::new(), shutdown_signal())
            .await
            .context("server failed")
    })?;
    Ok(0)
}

/// `serve --api`: the Kubernetes API over the snapshot, reloaded when its files change.
fn run_api(g: &Global, a: &ServeArgs, listen: std::net::SocketAddr) -> Result<u8> {
    if !a.client_cn_types.is_empty() {
        bail!("--client-cn-types is KubeVirt's component rule; the API facade takes any client certificate of --client-ca as a Kubernetes identity");
    }
    if a.pki_dir.is_none() && (a.tls_dir.is_none() || a.client_ca.is_none()) {
        bail!("--api, --admission and --authorize need --pki-dir DIR, or --tls-dir DIR with --client-ca FILE (the CA of the client certificates)");
    }
    // The authorization webhook alone needs no snapshot: without -f, --kubeconfig or
    // --context, the policy files decide alone.
    let no_snapshot = a.authorize
        && !a.api
        && !a.admission
        && g.filename.is_empty()
        && g.kubeconfig.is_none()
        && g.context.is_none();
    if no_snapshot && g.policies.is_empty() {
        bail!("--authorize alone needs policies: --policies PATH (files or directories of *.cedar), or -f / --kubeconfig for cedar.k8s.aws Policy objects");
    }
    // A live cluster is read once at start; reloads re-read the files (-f) over it.
    let live = if !no_snapshot && crate::input::wants_live(g) {
        // The webhooks alone read only what they need (the admission webhook: what
        // deploy/rbac.yaml grants; the authorization webhook: RBAC's scope, which lists the
        // cedar.k8s.aws Policy objects); after this first read, watches keep it current.
        let scope = match (a.api, a.admission, a.authorize) {
            (true, _, _) | (false, true, true) => virtguard_live::Scope::Audit,
            (false, true, false) => virtguard_live::Scope::Admission,
            (false, false, _) => virtguard_live::Scope::Rbac,
        };
        let (cluster, _) = crate::input::read_live(g, scope, false)?;
        crate::input::print_warnings(g, &cluster);
        Some((scope, Arc::new(std::sync::RwLock::new(Arc::new(cluster)))))
    } else {
        None
    };
    let (live_scope, live) = match live {
        Some((scope, cell)) => (Some(scope), Some(cell)),
        None => (None, None),
    };
    let (tls_dir, client_ca) = match (&a.pki_dir, &a.tls_dir, &a.client_ca) {
        (Some(dir), _, _) => crate::cmd::kubeconfig::ensure_pki_dir(dir, listen, g.quiet)?,
        (None, Some(tls), Some(ca)) => (PathBuf::from(tls), PathBuf::from(ca)),
        _ => bail!("--api needs --pki-dir DIR, or --tls-dir DIR with --client-ca FILE (the CA of the client certificates)"),
    };
    let source = ApiSource {
        filename: g.filename.clone(),
        defaults: g.defaults.clone(),
        skip_invalid: g.skip_invalid,
        live,
        allow_empty: no_snapshot,
    };
    let read_at = std::time::SystemTime::now();
    let initial = load_for_api(&source, g.quiet)?;
    let admission = match a.admission {
        false => None,
        true => {
            let config = read_admission_config(a.admission_config.as_deref())?;
            let state = State::from_objects(&initial.objects);
            Some(Arc::new(std::sync::RwLock::new(Admitter::new(
                config, state,
            ))))
        }
    };
    let metrics = Arc::new(AuthzMetrics::default());
    let authz = match a.authorize {
        false => None,
        true => Some(Arc::new(Authz::load(
            &g.policies,
            &initial.objects,
            g.allow_lockout,
            metrics.clone(),
        )?)),
    };
    let reload_source = source.clone();
    let source = Arc::new(source);
    let reload_admission = admission.clone();
    let reload_authz = authz.clone();
    let reload_metrics = metrics.clone();
    let config_path = a.admission_config.clone();
    let loader: Loader = Arc::new(move || {
        let loaded = match load_for_api(&reload_source, true) {
            Ok(l) => l,
            Err(e) => {
                // The policy files are read again even when the snapshot is not.
                if let Some(authz) = &reload_authz {
                    authz.reload(None::<&[virtguard_snapshot::Object]>);
                }
                return Err(format!("{e:#}"));
            }
        };
        if let Some(adm) = &reload_admission {
            reload_admitter(
                adm,
                config_path.as_deref(),
                &loaded.objects,
                &reload_metrics,
            );
        }
        if let Some(authz) = &reload_authz {
            authz.reload(Some(&loaded.objects));
        }
        Ok(loaded)
    });
    let mut watch: Vec<PathBuf> = source
        .filename
        .iter()
        .filter(|f| *f != "-")
        .map(PathBuf::from)
        .collect();
    watch.extend(a.admission_config.iter().map(PathBuf::from));
    if a.authorize {
        watch.extend(g.policies.iter().map(PathBuf::from));
    }
    let mut services = Services {
        api: a.api,
        webhooks: Vec::new(),
        metrics: None,
    };
    if let Some(adm) = &admission {
        services
            .webhooks
            .push(("/validate".to_string(), admission_handler(adm.clone())));
    }
    if let Some(authz) = &authz {
        services.webhooks.push((
            crate::cmd::authorize::PATH.to_string(),
            crate::cmd::authorize::handler(authz.clone()),
        ));
    }
    if a.authorize || a.admission {
        let m = metrics.clone();
        services.metrics = Some(Arc::new(move || m.render()));
    }
    let mut cfg = ApiConfig::new(listen, tls_dir, client_ca);
    cfg.cert_check_interval = Duration::from_secs(a.reload_interval.max(1));
    if !a.cipher_suites.is_empty() {
        cfg.cipher_suites = Some(a.cipher_suites.clone());
    }
    if let Some(v) = &a.min_tls_version {
        cfg.min_tls = MinTls::parse(v).with_context(|| {
            format!("--min-tls-version {v:?}: use 1.2 or 1.3 (or VersionTLS12, VersionTLS13)")
        })?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let server = ApiServer::bind_with(cfg, initial, services)
            .await
            .context("cannot start the API server")?;
        let addr = server.local_addr();
        if let (Some(scope), Some(cell)) = (live_scope, source.live.clone()) {
            follow_cluster(g.clone(), scope, cell, loader.clone(), server.handle());
        }
        tracing::info!("virtguard API serving on https://{addr}");
        if a.print_address {
            println!("{addr}");
        }
        server
            .run(
                Some(Reload {
                    paths: watch,
                    loader,
                    read_at,
                }),
                shutdown_signal(),
            )
            .await
            .context("server failed")
    })?;
    Ok(0)
}

/// The admission configuration of `--admission-config`, or the default (the KubeVirt CR's own
/// validations only). A bad file is an input error naming its line.
fn read_admission_config(path: Option<&str>) -> Result<AdmissionConfig> {
    let Some(path) = path else {
        return Ok(AdmissionConfig::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--admission-config {path}"))?;
    Ok(AdmissionConfig::parse(path, &text)?)
}

/// After a reload: the admitter sees the new state, and the configuration file again (a broken
/// new file is logged and the last good configuration stays in force).
fn reload_admitter(
    adm: &std::sync::RwLock<Admitter>,
    config_path: Option<&str>,
    objects: &[virtguard_snapshot::Object],
    metrics: &AuthzMetrics,
) {
    let state = State::from_objects(objects);
    let Ok(mut a) = adm.write() else {
        return;
    };
    if let Some(path) = config_path {
        match read_admission_config(Some(path)) {
            Ok(c) if &c != a.config() => {
                *a = a.with_config(c);
                tracing::info!(path, "admission configuration reloaded");
            }
            Ok(_) => {}
            Err(e) => {
                metrics
                    .admission_config_reload_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(error = %format!("{e:#}"), "admission configuration refused; the last good one stays in force")
            }
        }
    }
    a.set_state(state);
}

/// `POST /validate`: an AdmissionReview in, the same kind with the response out; a body that is
/// not one is a 400 Status.
fn admission_handler(adm: Arc<std::sync::RwLock<Admitter>>) -> WebhookHandler {
    Arc::new(move |_user, body| {
        let req = match virtguard_admission::parse_review(body) {
            Ok(r) => r,
            Err(e) => return virtguard_apiserver::ApiError::bad_request(e.0).reply(),
        };
        let verdict = match adm.read() {
            Ok(a) => a.review(&req),
            Err(_) => {
                virtguard_admission::Verdict::forbid("virtguard: admission state unavailable")
            }
        };
        virtguard_apiserver::Reply::json(200, &virtguard_admission::response(&req.uid, &verdict))
    })
}

/// Follows the live cluster (a watch per kind, on a thread and runtime of its own) and reloads
/// what is served — the API's objects, the admission state — after each change. A lost watch is
/// retried with backoff; the last state keeps serving meanwhile.
fn follow_cluster(
    g: Global,
    scope: virtguard_live::Scope,
    cell: Arc<std::sync::RwLock<Arc<virtguard_snapshot::Snapshot>>>,
    loader: Loader,
    handle: virtguard_server::api::ApiHandle,
) {
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the watch runtime; the cluster is not followed");
                return;
            }
        };
        let install_ns = {
            let latest = match cell.read() {
                Ok(c) => c.clone(),
                Err(p) => p.into_inner().clone(),
            };
            crate::input::install(&latest)
                .map(|i| i.namespace)
                .ok()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "kubevirt".to_string())
        };
        let result = runtime.block_on(async move {
            let cluster = virtguard_live::connect(&crate::input::live_target(&g)).await?;
            let context = cluster.context.clone();
            let skip_invalid = g.skip_invalid;
            let on_change = Arc::new(move |read: virtguard_live::Read| {
                match crate::input::snapshot_of_read(read, &context, skip_invalid) {
                    Ok(snapshot) => {
                        if let Ok(mut c) = cell.write() {
                            *c = Arc::new(snapshot);
                        }
                        match loader() {
                            Ok(loaded) => {
                                let changed = handle.reload(loaded);
                                tracing::debug!(changed, "cluster change applied");
                            }
                            Err(e) => tracing::warn!(error = %e, "cluster change refused; the last state keeps serving"),
                        }
                    }
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "cluster change unreadable; the last state keeps serving"),
                }
            });
            let opts = virtguard_live::Options {
                scope,
                ..virtguard_live::Options::default()
            };
            cluster.follow(&opts, &install_ns, on_change).await
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot follow the cluster; the state read at start keeps serving");
        }
    });
}
