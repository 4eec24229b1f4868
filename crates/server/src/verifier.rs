//! The client-certificate check run during the TLS handshake: KubeVirt's peer identity rule
//! from `virtguard_pki::verify_peer` (chain to the client-CA bundle, clientAuth usage, CN
//! `kubevirt.io:system:client:<type>` of an allowed type), and the mapping of its errors and
//! other handshake failures to metric reasons.

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
use virtguard_pki::{verify_peer, Certificate, ChainError, PeerError, PeerPolicy};

/// Verifies client certificates with [`verify_peer`].
#[derive(Debug)]
pub(crate) struct PeerVerifier {
    bundle: Arc<Vec<Certificate>>,
    policy: PeerPolicy,
    hints: Vec<DistinguishedName>,
    algs: WebPkiSupportedAlgorithms,
}

impl PeerVerifier {
    /// A verifier for `bundle`. With no `allowed_types` any certificate chaining to the bundle
    /// with the clientAuth usage is accepted (intermediates the client presents are used).
    pub fn new(
        bundle: Arc<Vec<Certificate>>,
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
                .iter()
                .map(|c| CertificateDer::from(c.der().to_vec())),
        );
        PeerVerifier {
            bundle,
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
        match verify_peer(&presented, &self.bundle, &self.policy, now) {
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
