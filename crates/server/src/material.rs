//! Reading and checking the files the server depends on: the serving certificate chain and
//! key, and the client-CA bundle. Anything unusable is refused with a reason, so the caller can
//! keep serving the previous material.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;
use virtguard_pki::{parse_certificates, Certificate, PrivateKey};

/// A usable serving certificate: the rustls signing material plus the parsed leaf.
#[derive(Debug)]
pub(crate) struct Serving {
    /// Chain and signing key for rustls.
    pub certified: Arc<CertifiedKey>,
    /// The leaf certificate.
    pub leaf: Certificate,
    /// The raw `tls.crt` bytes (change detection).
    pub cert_raw: Vec<u8>,
    /// The raw `tls.key` bytes (change detection).
    pub key_raw: Vec<u8>,
}

/// A usable client-CA bundle.
#[derive(Debug)]
pub(crate) struct ClientCa {
    /// The CA certificates.
    pub certs: Arc<Vec<Certificate>>,
    /// The raw file bytes (change detection).
    pub raw: Vec<u8>,
}

impl ClientCa {
    /// The latest NotAfter in the bundle: after it no client can authenticate.
    pub fn not_after(&self) -> Option<OffsetDateTime> {
        self.certs.iter().map(Certificate::not_after).max()
    }
}

fn validity(leaf: &Certificate, now: OffsetDateTime) -> Result<(), String> {
    if now < leaf.not_before() {
        return Err(format!(
            "certificate is not yet valid (NotBefore {}, now {})",
            leaf.not_before(),
            now
        ));
    }
    if now > leaf.not_after() {
        return Err(format!(
            "certificate has expired (NotAfter {}, now {})",
            leaf.not_after(),
            now
        ));
    }
    Ok(())
}

/// Checks `tls.crt` / `tls.key` contents: a parseable PEM chain (leaf first), a private key
/// rustls can sign with that belongs to the leaf, and a leaf valid at `now`.
pub(crate) fn parse_serving(
    cert_raw: Vec<u8>,
    key_raw: Vec<u8>,
    provider: &CryptoProvider,
    now: OffsetDateTime,
) -> Result<Serving, String> {
    let cert_text =
        std::str::from_utf8(&cert_raw).map_err(|_| "certificate file is not text".to_string())?;
    let chain = parse_certificates(cert_text).map_err(|e| format!("certificate: {e}"))?;
    let leaf = chain
        .first()
        .cloned()
        .ok_or_else(|| "certificate file holds no certificate".to_string())?;
    validity(&leaf, now)?;
    let key_der =
        PrivateKeyDer::from_pem_slice(&key_raw).map_err(|e| format!("private key: {e:?}"))?;
    let signer = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| format!("private key: {e}"))?;
    let der_chain: Vec<CertificateDer<'static>> = chain
        .iter()
        .map(|c| CertificateDer::from(c.der().to_vec()))
        .collect();
    let certified = CertifiedKey::new(der_chain, signer);
    match certified.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            // rustls cannot tell for this key type: fall back to comparing the public halves.
            let text = std::str::from_utf8(&key_raw).unwrap_or_default();
            if let Ok(key) = PrivateKey::from_pem(text) {
                if !leaf.matches_key(&key) {
                    return Err("private key does not match the certificate".into());
                }
            }
        }
        Err(_) => return Err("private key does not match the certificate".into()),
    }
    Ok(Serving {
        certified: Arc::new(certified),
        leaf,
        cert_raw,
        key_raw,
    })
}

/// Checks a client-CA bundle: a parseable, non-empty PEM bundle of which at least one
/// certificate is valid at `now`.
pub(crate) fn parse_client_ca(raw: Vec<u8>, now: OffsetDateTime) -> Result<ClientCa, String> {
    let text = std::str::from_utf8(&raw).map_err(|_| "CA bundle is not text".to_string())?;
    let certs = parse_certificates(text).map_err(|e| format!("CA bundle: {e}"))?;
    if certs.is_empty() {
        return Err("CA bundle holds no certificate".into());
    }
    if !certs.iter().any(|c| c.is_valid_at(now)) {
        return Err("no certificate in the CA bundle is valid now".into());
    }
    Ok(ClientCa {
        certs: Arc::new(certs),
        raw,
    })
}
