//! Reading and checking the files the server depends on: the serving certificate chain and
//! key (read as one consistent pair), and the client-CA bundle (also looked at again, on
//! demand, by the client-certificate verifier: [`BundleFile`]). Anything unusable is refused
//! with a reason, so the caller can keep serving the previous material.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tracing::debug;
use virtguard_pki::{parse_certificates, Certificate, PrivateKey};

use crate::error::ServerError;

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

/// Reads `tls.crt` and `tls.key` as one pair with `read`: the certificate is read again after
/// the key, and the pair read again when it changed in between. A writer that swaps both at
/// once (a `..data` symlink, as kubelet and `virtguard certs rotate` do) is thus never seen
/// half-way: a new certificate with the old key.
pub(crate) fn read_pair(
    mut read: impl FnMut(&Path) -> Result<Vec<u8>, ServerError>,
    cert: &Path,
    key: &Path,
) -> Result<(Vec<u8>, Vec<u8>), ServerError> {
    const ATTEMPTS: usize = 5;
    let mut c = read(cert)?;
    let mut k = read(key)?;
    for _ in 0..ATTEMPTS {
        let again = read(cert)?;
        if again == c {
            break;
        }
        c = again;
        k = read(key)?;
    }
    Ok((c, k))
}

/// What identifies a version of a file without reading it: size, modification time and inode
/// (a rename-into-place changes the inode even within one timestamp tick).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

fn stamp(path: &Path) -> Option<FileStamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    Some(FileStamp {
        len: m.len(),
        modified: m.modified().ok(),
        inode,
    })
}

/// The client-CA bundle file, for the verifier to look at again when a client's issuer is
/// unknown. A CA rotation publishes the new bundle before any certificate it signs, but the
/// reload loop installs it only after the settle time; a client already presenting a
/// certificate of the new CA must not be rejected meanwhile. Looking costs a `stat`; the file
/// is read only when it changed since it was last read. A newer bundle found this way also
/// wakes the reload loop, which installs it for every connection.
#[derive(Debug)]
pub(crate) struct BundleFile {
    path: PathBuf,
    /// The file as last read: its stamp, and the bundle if it was usable.
    last: Mutex<Option<(FileStamp, Option<Arc<ClientCa>>)>>,
    reload: Arc<Notify>,
}

impl BundleFile {
    /// The bundle file at `path`; `reload` wakes the reload loop.
    pub fn new(path: PathBuf, reload: Arc<Notify>) -> Self {
        BundleFile {
            path,
            last: Mutex::new(None),
            reload,
        }
    }

    /// The bundle on disk now, if it is usable and differs from `held` (raw bytes).
    pub fn newer_than(&self, held: &[u8]) -> Option<Arc<ClientCa>> {
        let now_stamp = stamp(&self.path)?;
        let mut last = match self.last.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let bundle = match &*last {
            Some((s, bundle)) if *s == now_stamp => bundle.clone(),
            _ => {
                let bundle = std::fs::read(&self.path)
                    .ok()
                    .and_then(|raw| parse_client_ca(raw, OffsetDateTime::now_utc()).ok())
                    .map(Arc::new);
                *last = Some((now_stamp, bundle.clone()));
                bundle
            }
        };
        drop(last);
        let bundle = bundle.filter(|b| b.raw != held)?;
        debug!(file = %self.path.display(), "client CA bundle changed on disk; using it before the reload");
        self.reload.notify_one();
        Some(bundle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// A fake file system whose pair is swapped right after the first certificate read.
    #[test]
    fn a_pair_swapped_between_reads_is_read_again() {
        let files = RefCell::new(HashMap::from([
            ("tls.crt", b"cert-1".to_vec()),
            ("tls.key", b"key-1".to_vec()),
        ]));
        let reads = RefCell::new(0);
        let read = |p: &Path| -> Result<Vec<u8>, ServerError> {
            let name = p.to_str().unwrap_or_default();
            let content = files.borrow()[name].clone();
            *reads.borrow_mut() += 1;
            if *reads.borrow() == 1 {
                // The writer swaps the pair just after the certificate was read.
                files.borrow_mut().insert("tls.crt", b"cert-2".to_vec());
                files.borrow_mut().insert("tls.key", b"key-2".to_vec());
            }
            Ok(content)
        };
        let (c, k) = read_pair(read, Path::new("tls.crt"), Path::new("tls.key")).unwrap();
        assert_eq!(
            (c.as_slice(), k.as_slice()),
            (&b"cert-2"[..], &b"key-2"[..])
        );
    }

    #[test]
    fn the_bundle_file_is_read_again_only_when_it_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca-bundle");
        let now = OffsetDateTime::now_utc();
        let ca = |offset: i64| {
            virtguard_pki::issue_ca(
                virtguard_pki::CaKind::KubeVirt,
                now - time::Duration::hours(1) + time::Duration::seconds(offset),
                time::Duration::hours(24),
            )
            .unwrap()
            .cert_pem
        };
        let (a, b) = (ca(0), ca(1));
        std::fs::write(&path, &a).unwrap();
        let notify = Arc::new(Notify::new());
        let file = BundleFile::new(path.clone(), notify);
        assert!(file.newer_than(a.as_bytes()).is_none(), "same content");
        let tmp = dir.path().join("tmp");
        std::fs::write(&tmp, format!("{b}{a}")).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let newer = file.newer_than(a.as_bytes()).expect("the new bundle");
        assert_eq!(newer.certs.len(), 2);
        // A broken file is no news.
        std::fs::write(&tmp, "garbage").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert!(file.newer_than(a.as_bytes()).is_none());
    }
}
