//! The API facade's PKI directory and `virtguard kubeconfig`.
//!
//! `serve --api --pki-dir DIR` keeps a CA (`ca.crt`, `ca.key`: ECDSA P-256, 10 years) and a
//! serving certificate (`tls.crt`, `tls.key`: the listen address, `localhost`, `127.0.0.1`,
//! one year) in DIR, created on first use and reused while valid. `kubeconfig` issues a client
//! certificate from the same CA (CN = user, O = groups — what kube-apiserver's x509
//! authenticator reads) and prints a kubeconfig that embeds it and the CA.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use virtguard_pki::{
    issue_ca, parse_go_duration, CaKind, Certificate, CertificateAuthority, LeafSpec,
};

use crate::args::{Global, KubeconfigArgs};
use virtguard_pki::store::write_file;

/// CA file names in the PKI directory.
pub const CA_CERT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";
const CA_DURATION: Duration = Duration::days(3650);
const SERVING_DURATION: Duration = Duration::days(365);

/// The CA of `dir`, created when the directory holds none.
pub fn ensure_ca(dir: &Path, now: OffsetDateTime, quiet: bool) -> Result<CertificateAuthority> {
    let (cert_path, key_path) = (dir.join(CA_CERT), dir.join(CA_KEY));
    if cert_path.exists() || key_path.exists() {
        let cert = fs::read_to_string(&cert_path)
            .with_context(|| format!("cannot read {}", cert_path.display()))?;
        let key = fs::read_to_string(&key_path)
            .with_context(|| format!("cannot read {}", key_path.display()))?;
        let ca = CertificateAuthority::from_pem(&cert, &key).with_context(|| {
            format!(
                "{} / {}: not a usable CA (remove both to start a new one)",
                cert_path.display(),
                key_path.display()
            )
        })?;
        if !ca.certificate().is_valid_at(now) {
            bail!(
                "{}: the CA is not valid now (valid until {}); remove {} and {} to start a new one",
                cert_path.display(),
                ca.certificate().not_after(),
                CA_CERT,
                CA_KEY
            );
        }
        return Ok(ca);
    }
    let issued = issue_ca(CaKind::KubeVirt, now, CA_DURATION).context("cannot create the CA")?;
    write_file(&key_path, &issued.key_pem, 0o600)?;
    write_file(&cert_path, &issued.cert_pem, 0o644)?;
    if !quiet {
        eprintln!("note: created a CA in {}", dir.display());
    }
    CertificateAuthority::from_issued(&issued).context("the new CA does not load (a defect)")
}

/// What the serving certificate must name for `listen`.
fn serving_names(listen: SocketAddr) -> (Vec<String>, Vec<IpAddr>) {
    let dns = vec!["localhost".to_string()];
    let mut ips: Vec<IpAddr> = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    if !listen.ip().is_unspecified() && !ips.contains(&listen.ip()) {
        ips.push(listen.ip());
    }
    (dns, ips)
}

/// Whether the serving certificate in `dir` can be reused: signed by `ca`, valid for at least
/// another day, naming every address wanted.
fn reusable(
    dir: &Path,
    ca: &CertificateAuthority,
    listen: SocketAddr,
    now: OffsetDateTime,
) -> bool {
    let Ok(text) = fs::read_to_string(dir.join(virtguard_server::CERT_FILE)) else {
        return false;
    };
    if !dir.join(virtguard_server::KEY_FILE).exists() {
        return false;
    }
    let Ok(cert) = Certificate::from_pem(&text) else {
        return false;
    };
    let (dns, ips) = serving_names(listen);
    let s = cert.summary();
    cert.is_signed_by(ca.certificate())
        && cert.is_valid_at(now)
        && cert.is_valid_at(now + Duration::days(1))
        && dns.iter().all(|d| s.dns_names.contains(d))
        && ips
            .iter()
            .all(|ip| s.ip_addresses.contains(&ip.to_string()))
}

/// Prepares `dir` for `serve --api`: returns (TLS directory, client CA bundle).
pub fn ensure_pki_dir(dir: &str, listen: SocketAddr, quiet: bool) -> Result<(PathBuf, PathBuf)> {
    let dir = PathBuf::from(dir);
    let now = OffsetDateTime::now_utc();
    let ca = ensure_ca(&dir, now, quiet)?;
    if !reusable(&dir, &ca, listen, now) {
        let (dns, ips) = serving_names(listen);
        let issued = ca
            .issue_leaf(
                &LeafSpec::server("virtguard-api", &dns, &ips),
                now,
                SERVING_DURATION,
            )
            .context("cannot issue the serving certificate")?;
        write_file(
            &dir.join(virtguard_server::KEY_FILE),
            &issued.key_pem,
            0o600,
        )?;
        write_file(
            &dir.join(virtguard_server::CERT_FILE),
            &issued.cert_pem,
            0o644,
        )?;
        if !quiet {
            eprintln!(
                "note: issued a serving certificate in {} for {}",
                dir.display(),
                dns.iter()
                    .cloned()
                    .chain(ips.iter().map(IpAddr::to_string))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let ca_path = dir.join(CA_CERT);
    Ok((dir, ca_path))
}

/// Base64 of a text (kubeconfig and manifest data fields).
pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// `virtguard kubeconfig`.
pub fn run(g: &Global, a: &KubeconfigArgs) -> Result<u8> {
    if a.user.is_empty() {
        bail!("--user must not be empty");
    }
    if !a.server.starts_with("https://") {
        bail!(
            "--server {:?}: the API facade only speaks HTTPS (https://HOST:PORT)",
            a.server
        );
    }
    let expiration = parse_go_duration(&a.expiration).with_context(|| {
        format!(
            "--expiration {:?}: not a duration such as 24h or 90m",
            a.expiration
        )
    })?;
    if expiration <= Duration::ZERO {
        bail!("--expiration {:?}: must be positive", a.expiration);
    }
    let now = OffsetDateTime::now_utc();
    let ca = ensure_ca(Path::new(&a.pki_dir), now, g.quiet)?;
    let issued = ca
        .issue_leaf(&LeafSpec::client(&a.user, &a.groups), now, expiration)
        .context("cannot issue the client certificate")?;
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "virtguard", "cluster": {
            "server": a.server,
            "certificate-authority-data": b64(&ca.certificate().to_pem()),
        }}],
        "users": [{"name": a.user, "user": {
            "client-certificate-data": b64(&issued.cert_pem),
            "client-key-data": b64(&issued.key_pem),
        }}],
        "contexts": [{"name": "virtguard", "context": {"cluster": "virtguard", "user": a.user}}],
        "current-context": "virtguard",
        "preferences": {},
    });
    print!("{}", serde_yaml_ng::to_string(&config)?);
    Ok(0)
}
