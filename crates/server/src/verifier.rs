//! The client-certificate check run during the TLS handshake: KubeVirt's peer identity rule
//! from `virtguard_pki::verify_peer` (chain to the client-CA bundle, clientAuth usage, CN
//! `kubevirt.io:system:client:<type>` of an allowed type), and the mapping of its errors and
//! other handshake failures to metric reasons. A client whose issuer is unknown is checked
//! again against the bundle file when that changed on disk since this verifier was built (a
//! CA rotation publishes the bundle before the certificates the new CA signs; see
//! [`BundleFile`]).

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, OtherError, RootCertStore,
    SignatureScheme,
};
use rustls_pki_types::{CertificateDer, UnixTime};
use time::OffsetDateTime;
use virtguard_pki::{verify_peer, ChainError, PeerError, PeerPolicy};

use crate::material::{BundleFile, ClientCa};

/// Verifies client certificates with [`verify_peer`].
#[derive(Debug)]
pub(crate) struct PeerVerifier {
    bundle: Arc<ClientCa>,
    file: Arc<BundleFile>,
    policy: PeerPolicy,
    hints: Vec<DistinguishedName>,
    algs: WebPkiSupportedAlgorithms,
}

impl PeerVerifier {
    /// A verifier for `bundle`, read from `file`. With no `allowed_types` any certificate
    /// chaining to the bundle with the clientAuth usage is accepted (intermediates the client
    /// presents are used).
    pub fn new(
        bundle: Arc<ClientCa>,
        file: Arc<BundleFile>,
        allowed_types: &[String],
        algs: WebPkiSupportedAlgorithms,
    ) -> Self {
        let policy = if allowed_types.is_empty() {
            PeerPolicy::client::<&str>(&[]).externally_managed()
        } else {
            PeerPolicy::client(allowed_types)
        };
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(
            bundle
                .certs
                .iter()
                .map(|c| CertificateDer::from(c.der().to_vec())),
        );
        PeerVerifier {
            bundle,
            file,
            policy,
            hints: roots.subjects(),
            algs,
        }
    }
}

/// The rustls error for a rejected peer; keeps the pki error where rustls has no variant.
fn to_rustls(err: PeerError) -> Error {
    match err {
        PeerError::NoCertificate => Error::NoCertificatesPresented,
        PeerError::Malformed(_) => Error::InvalidCertificate(CertificateError::BadEncoding),
        PeerError::Chain(ChainError::Expired { .. }) => {
            Error::InvalidCertificate(CertificateError::Expired)
        }
        PeerError::Chain(ChainError::NotYetValid { .. }) => {
            Error::InvalidCertificate(CertificateError::NotValidYet)
        }
        PeerError::Chain(ChainError::UnknownIssuer) => {
            Error::InvalidCertificate(CertificateError::UnknownIssuer)
        }
        PeerError::Chain(ChainError::WrongUsage { .. }) => {
            Error::InvalidCertificate(CertificateError::InvalidPurpose)
        }
        other => Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(other)))),
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        let now = OffsetDateTime::from_unix_timestamp(secs)
            .map_err(|e| Error::General(format!("clock out of range: {e}")))?;
        let mut presented: Vec<&[u8]> = Vec::with_capacity(1 + intermediates.len());
        presented.push(end_entity.as_ref());
        presented.extend(intermediates.iter().map(|c| c.as_ref()));
        let result = match verify_peer(&presented, &self.bundle.certs, &self.policy, now) {
            // Before rejecting an unknown issuer, look at the bundle file again.
            Err(PeerError::Chain(ChainError::UnknownIssuer)) => {
                match self.file.newer_than(&self.bundle.raw) {
                    Some(newer) => verify_peer(&presented, &newer.certs, &self.policy, now),
                    None => Err(PeerError::Chain(ChainError::UnknownIssuer)),
                }
            }
            other => other,
        };
        match result {
            Ok(_) => Ok(ClientCertVerified::assertion()),
            Err(e) => Err(to_rustls(e)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// Every reason label `virtguard_tls_handshake_failures_total` can carry.
pub const HANDSHAKE_FAILURE_REASONS: &[&str] = &[
    "no_certificate",
    "unknown_issuer",
    "wrong_usage",
    "bad_common_name",
    "expired",
    "not_yet_valid",
    "ca_not_valid",
    "malformed",
    "client_alert",
    "protocol",
    "timeout",
    "io",
    "other",
];

/// The metric reason for a failed TLS accept (the I/O error tokio-rustls returns).
pub(crate) fn classify(err: &std::io::Error) -> &'static str {
    if err.kind() == std::io::ErrorKind::TimedOut {
        return "timeout";
    }
    let Some(tls) = err.get_ref().and_then(|e| e.downcast_ref::<Error>()) else {
        return "io";
    };
    match tls {
        Error::NoCertificatesPresented => "no_certificate",
        Error::InvalidCertificate(ce) => match ce {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => "unknown_issuer",
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => "expired",
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "not_yet_valid"
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                "wrong_usage"
            }
            CertificateError::BadEncoding => "malformed",
            CertificateError::ApplicationVerificationFailure => "bad_common_name",
            CertificateError::Other(OtherError(inner)) => match inner.downcast_ref::<PeerError>() {
                Some(PeerError::InvalidCommonName(_)) => "bad_common_name",
                Some(PeerError::Chain(ChainError::CaNotValid { .. })) => "ca_not_valid",
                _ => "other",
            },
            _ => "other",
        },
        Error::AlertReceived(_) => "client_alert",
        _ => "protocol",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::material::parse_client_ca;
    use tokio::sync::Notify;
    use virtguard_pki::{issue_ca, secret_template, CaKind, CertificateAuthority};

    /// A CA (`offset_s` apart, so two differ) and a virt-handler client certificate it signed.
    fn ca_and_client(offset_s: i64) -> (String, Vec<u8>) {
        let at = OffsetDateTime::now_utc() - time::Duration::hours(1)
            + time::Duration::seconds(offset_s);
        let ca = issue_ca(CaKind::KubeVirt, at, time::Duration::hours(24)).unwrap();
        let signer = CertificateAuthority::from_issued(&ca).unwrap();
        let spec = secret_template("kubevirt-virt-handler-certs")
            .unwrap()
            .resolve("kubevirt");
        let leaf = signer.issue(&spec, at, time::Duration::hours(24)).unwrap();
        (ca.cert_pem, leaf.certificate.der().to_vec())
    }

    fn verify(v: &PeerVerifier, leaf: &[u8]) -> Result<ClientCertVerified, Error> {
        v.verify_client_cert(&CertificateDer::from(leaf), &[], UnixTime::now())
    }

    /// After a CA rotation the bundle on disk holds the new CA before the reload installs it:
    /// a client of the new CA is accepted then, and the reload loop is woken.
    #[test]
    fn an_unknown_issuer_is_checked_against_a_changed_bundle_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca-bundle");
        let (old_ca, old_client) = ca_and_client(0);
        let (new_ca, new_client) = ca_and_client(1);
        let (_, stranger) = ca_and_client(2);
        std::fs::write(&path, &old_ca).unwrap();
        let held = Arc::new(
            parse_client_ca(old_ca.clone().into_bytes(), OffsetDateTime::now_utc()).unwrap(),
        );
        let reload = Arc::new(Notify::new());
        let file = Arc::new(BundleFile::new(path.clone(), reload.clone()));
        let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        let v = PeerVerifier::new(held, file, &["virt-handler".to_string()], algs);

        assert!(verify(&v, &old_client).is_ok());
        // Unchanged file: an unknown issuer stays unknown.
        assert!(matches!(
            verify(&v, &new_client),
            Err(Error::InvalidCertificate(CertificateError::UnknownIssuer))
        ));
        // The rotation publishes the new bundle (new CA first, old kept for the overlap).
        let tmp = dir.path().join("tmp");
        std::fs::write(&tmp, format!("{new_ca}{old_ca}")).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert!(verify(&v, &new_client).is_ok(), "client of the new CA");
        assert!(verify(&v, &old_client).is_ok());
        assert!(matches!(
            verify(&v, &stranger),
            Err(Error::InvalidCertificate(CertificateError::UnknownIssuer))
        ));
        // The reload loop was told.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(1), reload.notified())
                .await
                .expect("reload woken")
        });
    }
}
