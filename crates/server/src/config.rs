//! Server configuration: where to listen, where the certificate files are, which clients to
//! accept and which TLS protocol versions and cipher suites to offer.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::SupportedCipherSuite;

use crate::error::ServerError;

/// File name of the serving certificate (chain, leaf first) inside [`ServerConfig::tls_dir`].
pub const CERT_FILE: &str = "tls.crt";

/// File name of the serving private key inside [`ServerConfig::tls_dir`].
pub const KEY_FILE: &str = "tls.key";

/// The lowest TLS protocol version offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MinTls {
    /// TLS 1.2 and 1.3 (1.3 preferred).
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

impl MinTls {
    /// Parses `1.2`, `1.3`, `VersionTLS12`, `VersionTLS13`, `TLS12`, `TLSv1.3`, ... (case
    /// insensitive). TLS 1.0 and 1.1 are not supported.
    pub fn parse(text: &str) -> Result<Self, ServerError> {
        let t = text.trim().to_ascii_lowercase();
        let t = t
            .trim_start_matches("versiontls")
            .trim_start_matches("tlsv")
            .trim_start_matches("tls");
        match t {
            "1.2" | "12" => Ok(MinTls::Tls12),
            "1.3" | "13" => Ok(MinTls::Tls13),
            _ => Err(ServerError::Config(format!(
                "unsupported minimum TLS version {text:?} (use 1.2 or 1.3)"
            ))),
        }
    }

    /// The rustls protocol versions enabled, most preferred first.
    pub(crate) fn versions(self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        static TLS13_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
        match self {
            // TLS 1.3 first: preferred when the client offers it.
            MinTls::Tls12 => rustls::ALL_VERSIONS,
            MinTls::Tls13 => TLS13_ONLY,
        }
    }
}

/// Everything [`crate::Server::bind`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address to listen on (port 0 picks a free port; see [`crate::ServerHandle::local_addr`]).
    pub listen: SocketAddr,
    /// Directory holding `tls.crt` (PEM chain, leaf first) and `tls.key` (PEM private key).
    pub tls_dir: PathBuf,
    /// PEM bundle of CAs that sign client certificates. When set, every client must present a
    /// certificate that passes KubeVirt's peer identity check.
    pub client_ca: Option<PathBuf>,
    /// Component types accepted in the client CN (`kubevirt.io:system:client:<type>`); empty
    /// means any client certificate that chains to the bundle with the clientAuth usage.
    pub client_cn_types: Vec<String>,
    /// Lowest TLS version offered.
    pub min_tls: MinTls,
    /// Cipher suites by name (IANA, Go or rustls spelling); `None` for rustls' defaults.
    /// TLS 1.3 suites are only restricted when at least one TLS 1.3 name is listed (Go ignores
    /// the setting for TLS 1.3).
    pub cipher_suites: Option<Vec<String>>,
    /// How often the certificate files are re-read even without a file-system event.
    pub reload_interval: Duration,
    /// How long in-flight requests may run after shutdown is requested.
    pub drain_timeout: Duration,
    /// How long a TLS handshake may take before the connection is dropped.
    pub handshake_timeout: Duration,
    /// Most connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
}

impl ServerConfig {
    /// A configuration with the defaults: TLS 1.2 minimum, rustls cipher suites, no client
    /// authentication, reload check every 60 s, 30 s drain, 10 s handshake timeout, at most
    /// 10,000 connections.
    pub fn new(listen: SocketAddr, tls_dir: impl Into<PathBuf>) -> Self {
        ServerConfig {
            listen,
            tls_dir: tls_dir.into(),
            client_ca: None,
            client_cn_types: Vec::new(),
            min_tls: MinTls::Tls12,
            cipher_suites: None,
            reload_interval: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 10_000,
        }
    }

    /// Path of the serving certificate.
    pub fn cert_path(&self) -> PathBuf {
        self.tls_dir.join(CERT_FILE)
    }

    /// Path of the serving key.
    pub fn key_path(&self) -> PathBuf {
        self.tls_dir.join(KEY_FILE)
    }

    /// The crypto provider (ring) restricted to the configured cipher suites.
    pub(crate) fn provider(&self) -> Result<Arc<CryptoProvider>, ServerError> {
        let mut provider = rustls::crypto::ring::default_provider();
        if let Some(names) = &self.cipher_suites {
            provider.cipher_suites = select_suites(&provider.cipher_suites, names)?;
        }
        Ok(Arc::new(provider))
    }
}

/// The rustls and IANA/Go names of a suite (`TLS13_AES_128_GCM_SHA256` is IANA
/// `TLS_AES_128_GCM_SHA256`).
fn suite_names(suite: &SupportedCipherSuite) -> Vec<String> {
    let Some(name) = suite.suite().as_str() else {
        return Vec::new();
    };
    let mut names = vec![name.to_string()];
    if let Some(rest) = name.strip_prefix("TLS13_") {
        names.push(format!("TLS_{rest}"));
    }
    names
}

fn is_tls13(suite: &SupportedCipherSuite) -> bool {
    matches!(suite, SupportedCipherSuite::Tls13(_))
}

/// Picks the suites named in `names` from `available`, in the provider's preference order.
fn select_suites(
    available: &[SupportedCipherSuite],
    names: &[String],
) -> Result<Vec<SupportedCipherSuite>, ServerError> {
    let mut wanted = Vec::new();
    for name in names {
        let norm = name.trim().to_ascii_uppercase();
        let found = available
            .iter()
            .find(|s| suite_names(s).contains(&norm))
            .ok_or_else(|| {
                let known: Vec<String> = available.iter().flat_map(suite_names).collect();
                ServerError::Config(format!(
                    "unknown or unsupported cipher suite {name:?} (supported: {})",
                    known.join(", ")
                ))
            })?;
        wanted.push(*found);
    }
    let restrict13 = wanted.iter().any(is_tls13);
    Ok(available
        .iter()
        .filter(|s| (is_tls13(s) && !restrict13) || wanted.iter().any(|w| w.suite() == s.suite()))
        .copied()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_tls_spellings() {
        for t in ["1.2", "VersionTLS12", "TLS12", "tlsv1.2"] {
            assert_eq!(MinTls::parse(t).ok(), Some(MinTls::Tls12), "{t}");
        }
        for t in ["1.3", "VersionTLS13", "TLSv1.3"] {
            assert_eq!(MinTls::parse(t).ok(), Some(MinTls::Tls13), "{t}");
        }
        assert!(MinTls::parse("1.1").is_err());
    }

    #[test]
    fn suites_by_iana_name() {
        let all = rustls::crypto::ring::default_provider().cipher_suites;
        let picked = select_suites(
            &all,
            &["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".to_string()],
        )
        .unwrap();
        // Every TLS 1.3 suite stays, plus the one TLS 1.2 suite named.
        assert_eq!(picked.iter().filter(|s| !is_tls13(s)).count(), 1);
        assert_eq!(
            picked.iter().filter(|s| is_tls13(s)).count(),
            all.iter().filter(|s| is_tls13(s)).count()
        );
        let only13 = select_suites(&all, &["TLS_AES_256_GCM_SHA384".to_string()]).unwrap();
        assert_eq!(only13.len(), 1);
        assert!(select_suites(&all, &["TLS_RSA_WITH_RC4_128_SHA".to_string()]).is_err());
    }
}
