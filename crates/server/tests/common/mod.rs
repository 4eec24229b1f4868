//! Shared helpers for the integration tests: a throw-away KubeVirt PKI on disk, a server on a
//! loopback port, and a Rust mTLS client (tokio-rustls + hyper) that reports the certificate
//! it was served.
#![allow(dead_code)]

pub mod rotation_clients;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use time::OffsetDateTime;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use virtguard_pki::{
    issue_ca, secret_template, CaKind, Certificate, CertificateAuthority, IssuedCert,
    DEFAULT_NAMESPACE,
};
use virtguard_server::{Server, ServerConfig, ServerHandle};

/// The host name in the virt-handler server certificate's SANs.
pub const HOST: &str = "virt-handler.kubevirt.svc";
/// virt-handler's server certificate (SANs `virt-handler.kubevirt.svc`, ...).
pub const SERVER_SECRET: &str = "kubevirt-virt-handler-server-certs";
/// CN `kubevirt.io:system:client:virt-handler`.
pub const HANDLER_CLIENT: &str = "kubevirt-virt-handler-certs";
/// CN `kubevirt.io:system:client:migration`.
pub const MIGRATION_CLIENT: &str = "kubevirt-virt-handler-migration-client-certs";
/// CN `kubevirt.io:system:client:vsock` (not an allowed type).
pub const VSOCK_CLIENT: &str = "kubevirt-virt-handler-vsock-client-certs";

/// A CA with its PEM and signer.
pub struct Ca {
    pub issued: IssuedCert,
    pub ca: CertificateAuthority,
}

impl Ca {
    /// A fresh `kubevirt-ca`, valid from one hour ago for a day (`offset_s` shifts it so two
    /// CAs get different names).
    pub fn new(offset_s: i64) -> Ca {
        let at = OffsetDateTime::now_utc() - time::Duration::hours(1)
            + time::Duration::seconds(offset_s);
        let issued = issue_ca(CaKind::KubeVirt, at, time::Duration::hours(24)).unwrap();
        let ca = CertificateAuthority::from_issued(&issued).unwrap();
        Ca { issued, ca }
    }

    /// The certificate of secret `name`, issued now, valid for a day.
    pub fn leaf(&self, name: &str) -> IssuedCert {
        self.leaf_at(name, OffsetDateTime::now_utc(), 24)
    }

    /// The certificate of secret `name` issued at `at` for `hours`.
    pub fn leaf_at(&self, name: &str, at: OffsetDateTime, hours: i64) -> IssuedCert {
        let spec = secret_template(name).unwrap().resolve(DEFAULT_NAMESPACE);
        self.ca
            .issue(&spec, at, time::Duration::hours(hours))
            .unwrap()
    }

    pub fn pem(&self) -> &str {
        &self.issued.cert_pem
    }
}

/// Writes `content` to `path` atomically (temp file + rename), as a secret volume update does.
pub fn write_atomic(path: &Path, content: &str) {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Files on disk for one server.
pub struct Files {
    pub dir: tempfile::TempDir,
    pub tls_dir: PathBuf,
    pub ca_bundle: PathBuf,
}

impl Files {
    pub fn new(serving: &IssuedCert, bundle_pem: &str) -> Files {
        let dir = tempfile::tempdir().unwrap();
        let tls_dir = dir.path().join("tls");
        let ca_dir = dir.path().join("ca");
        std::fs::create_dir_all(&tls_dir).unwrap();
        std::fs::create_dir_all(&ca_dir).unwrap();
        let ca_bundle = ca_dir.join("ca-bundle");
        let f = Files {
            dir,
            tls_dir,
            ca_bundle,
        };
        f.set_serving(serving);
        write_atomic(&f.ca_bundle, bundle_pem);
        f
    }

    /// Replaces `tls.key` then `tls.crt`.
    pub fn set_serving(&self, c: &IssuedCert) {
        self.set_serving_raw(&c.cert_pem, &c.key_pem);
    }

    pub fn set_serving_raw(&self, cert_pem: &str, key_pem: &str) {
        write_atomic(&self.tls_dir.join("tls.key"), key_pem);
        write_atomic(&self.tls_dir.join("tls.crt"), cert_pem);
    }

    pub fn set_bundle(&self, pem: &str) {
        write_atomic(&self.ca_bundle, pem);
    }

    /// Writes a client's cert and key for curl/openssl; returns (cert path, key path).
    pub fn client_files(&self, name: &str, c: &IssuedCert) -> (PathBuf, PathBuf) {
        let crt = self.dir.path().join(format!("{name}.crt"));
        let key = self.dir.path().join(format!("{name}.key"));
        std::fs::write(&crt, &c.cert_pem).unwrap();
        std::fs::write(&key, &c.key_pem).unwrap();
        (crt, key)
    }

    /// Writes a PEM file in the temp dir and returns its path.
    pub fn file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn config(&self, types: &[&str]) -> ServerConfig {
        let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), &self.tls_dir);
        cfg.client_ca = Some(self.ca_bundle.clone());
        cfg.client_cn_types = types.iter().map(|s| s.to_string()).collect();
        cfg.reload_interval = Duration::from_secs(1);
        cfg.drain_timeout = Duration::from_secs(5);
        cfg
    }
}

/// A server running on a tokio task.
pub struct Running {
    pub handle: ServerHandle,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<Result<(), virtguard_server::ServerError>>,
}

impl Running {
    pub async fn start(cfg: ServerConfig, router: axum::Router) -> Running {
        let server = Server::bind(cfg).await.unwrap();
        let handle = server.handle();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(router, async move {
            let _ = rx.await;
        }));
        Running {
            handle,
            stop: Some(tx),
            task,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("server did not stop")
            .unwrap()
            .unwrap();
    }
}

/// Polls `f` until it is true or `within` passes.
pub async fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A rustls client configuration trusting `roots` and presenting `identity`, if any.
pub fn client_config(roots: &[&str], identity: Option<&IssuedCert>) -> Arc<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for pem in roots {
        for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            store.add(c.unwrap()).unwrap();
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(store);
    let cfg = match identity {
        Some(id) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(id.cert_pem.as_bytes())
                    .collect::<Result<_, _>>()
                    .unwrap();
            let key = PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(cfg)
}

/// An HTTP/1.1 connection over mTLS, and the leaf certificate the server presented.
pub struct Conn {
    pub sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    pub served: Certificate,
}

/// Connects and completes the TLS handshake.
pub async fn connect(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
) -> Result<Conn, Box<dyn std::error::Error + Send + Sync>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let tls = TlsConnector::from(cfg)
        .connect(ServerName::try_from(HOST)?, tcp)
        .await?;
    let served = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("no server certificate")?;
    let served = Certificate::from_der(served.as_ref())?;
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Conn { sender, served })
}

impl Conn {
    /// GET `path`; returns the status and body.
    pub async fn get(
        &mut self,
        path: &str,
    ) -> Result<(u16, String), Box<dyn std::error::Error + Send + Sync>> {
        self.sender.ready().await?;
        let req = hyper::Request::get(path)
            .header("host", HOST)
            .body(Empty::<Bytes>::new())?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// One request on a fresh connection.
pub async fn get_once(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    path: &str,
) -> Result<(u16, String, Certificate), Box<dyn std::error::Error + Send + Sync>> {
    let mut c = connect(addr, cfg).await?;
    let (code, body) = c.get(path).await?;
    Ok((code, body, c.served))
}

/// Runs a command (curl, openssl) and returns its output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("command runs")
}

/// `curl` against the server with the given client identity (paths) or none.
pub fn curl(port: u16, path: &str, cafile: &Path, identity: Option<(&Path, &Path)>) -> Output {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .arg("--cacert")
        .arg(cafile)
        .arg("--resolve")
        .arg(format!("{HOST}:{port}:127.0.0.1"));
    if let Some((crt, key)) = identity {
        cmd.arg("--cert").arg(crt).arg("--key").arg(key);
    }
    cmd.arg(format!("https://{HOST}:{port}{path}"));
    run(&mut cmd)
}

/// The certificate `openssl s_client` is served (first PEM block of `-showcerts`).
pub fn openssl_served_cert(port: u16, cafile: &Path, identity: Option<(&Path, &Path)>) -> Output {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-showcerts", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-servername", HOST, "-verify_return_error", "-CAfile"])
        .arg(cafile);
    if let Some((crt, key)) = identity {
        cmd.arg("-cert").arg(crt).arg("-key").arg(key);
    }
    cmd.stdin(std::process::Stdio::null());
    run(&mut cmd)
}

/// The first certificate in `text` (PEM).
pub fn first_pem_cert(text: &str) -> Option<Certificate> {
    let start = text.find("-----BEGIN CERTIFICATE-----")?;
    let end_marker = "-----END CERTIFICATE-----";
    let end = text[start..].find(end_marker)? + start + end_marker.len();
    Certificate::from_pem(&text[start..end]).ok()
}
