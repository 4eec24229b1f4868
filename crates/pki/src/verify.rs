//! Chain verification of a certificate against trusted CA certificates at a given instant
//! (rustls-webpki), with a typed, precise error.

use rustls_pki_types::{CertificateDer, UnixTime};
use serde::Serialize;
use thiserror::Error;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use webpki::{
    anchor_from_trusted_cert, EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter,
};

use crate::cert::Certificate;
use crate::components::ExtKeyUsage;

/// The extended key usage a chain must allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequiredUsage {
    /// Any purpose (as for the rotation-deadline check).
    Any,
    /// TLS client authentication.
    ClientAuth,
    /// TLS server authentication.
    ServerAuth,
}

impl RequiredUsage {
    fn as_ext(self) -> ExtKeyUsage {
        match self {
            RequiredUsage::Any => ExtKeyUsage::Any,
            RequiredUsage::ClientAuth => ExtKeyUsage::ClientAuth,
            RequiredUsage::ServerAuth => ExtKeyUsage::ServerAuth,
        }
    }
}

/// RFC 3339 text of an instant (falls back to the default format if it cannot be formatted).
pub(crate) fn rfc3339(t: &OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn list(usages: &[ExtKeyUsage]) -> String {
    usages
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a certificate does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[serde(rename_all_fields = "camelCase")]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChainError {
    /// Past its NotAfter.
    #[error("certificate has expired: valid until {}, now {}", rfc3339(.not_after), rfc3339(.now))]
    Expired {
        /// End of validity.
        #[serde(with = "time::serde::rfc3339")]
        not_after: OffsetDateTime,
        /// The instant checked.
        #[serde(with = "time::serde::rfc3339")]
        now: OffsetDateTime,
    },
    /// Before its NotBefore.
    #[error("certificate is not yet valid: valid from {}, now {}", rfc3339(.not_before), rfc3339(.now))]
    NotYetValid {
        /// Start of validity.
        #[serde(with = "time::serde::rfc3339")]
        not_before: OffsetDateTime,
        /// The instant checked.
        #[serde(with = "time::serde::rfc3339")]
        now: OffsetDateTime,
    },
    /// No trusted CA signed it.
    #[error("certificate signed by unknown authority")]
    UnknownIssuer,
    /// The trusted CA that signed it is outside its own validity period.
    #[error("issuing CA {ca} is not valid now: valid {} to {}, now {}", rfc3339(.not_before), rfc3339(.not_after), rfc3339(.now))]
    CaNotValid {
        /// The CA's common name.
        ca: String,
        /// CA start of validity.
        #[serde(with = "time::serde::rfc3339")]
        not_before: OffsetDateTime,
        /// CA end of validity.
        #[serde(with = "time::serde::rfc3339")]
        not_after: OffsetDateTime,
        /// The instant checked.
        #[serde(with = "time::serde::rfc3339")]
        now: OffsetDateTime,
    },
    /// Its extended key usage does not allow the required purpose.
    #[error("certificate specifies an incompatible key usage: requires {required}, has [{}]", list(.present))]
    WrongUsage {
        /// The purpose required.
        required: ExtKeyUsage,
        /// The purposes the certificate lists.
        present: Vec<ExtKeyUsage>,
    },
    /// Any other rejection (malformed, CA used as end entity, unsupported algorithm, ...).
    #[error("certificate rejected: {0}")]
    Invalid(String),
}

/// Accepts every extended key usage (Go's `ExtKeyUsageAny` in verify options).
struct AnyUsage;

impl ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        for id in iter {
            id?;
        }
        Ok(())
    }
}

/// Errors that only mean "this anchor is not the issuer"; the next anchor may still be.
fn is_issuer_mismatch(e: &webpki::Error) -> bool {
    use webpki::Error as E;
    matches!(
        e,
        E::UnknownIssuer
            | E::InvalidSignatureForPublicKey
            | E::UnsupportedSignatureAlgorithmContext(_)
            | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
            | E::SignatureAlgorithmMismatch
    )
}

fn map_error(
    e: webpki::Error,
    leaf: &Certificate,
    usage: RequiredUsage,
    now: OffsetDateTime,
) -> ChainError {
    use webpki::Error as E;
    match e {
        E::CertExpired { .. } => ChainError::Expired {
            not_after: leaf.not_after(),
            now,
        },
        E::CertNotValidYet { .. } => ChainError::NotYetValid {
            not_before: leaf.not_before(),
            now,
        },
        E::RequiredEkuNotFoundContext(_) => ChainError::WrongUsage {
            required: usage.as_ext(),
            present: leaf.summary().ext_key_usages.clone(),
        },
        e if is_issuer_mismatch(&e) => ChainError::UnknownIssuer,
        other => ChainError::Invalid(format!("{other:?}")),
    }
}

/// Verifies `leaf` (with optional `intermediates`) against `roots` at `now`, requiring
/// `usage`. Like Go's verifier, the root itself must be valid at `now`. Returns the root
/// that anchors the chain.
pub fn verify_chain<'r>(
    leaf: &Certificate,
    intermediates: &[Certificate],
    roots: &'r [Certificate],
    usage: RequiredUsage,
    now: OffsetDateTime,
) -> Result<&'r Certificate, ChainError> {
    let secs = u64::try_from(now.unix_timestamp())
        .map_err(|_| ChainError::Invalid("instant before 1970".into()))?;
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs));
    let leaf_der = CertificateDer::from(leaf.der());
    let ee = EndEntityCert::try_from(&leaf_der).map_err(|e| map_error(e, leaf, usage, now))?;
    let inter: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(c.der()))
        .collect();
    let mut invalid_root = None;
    for root in roots {
        let root_der = CertificateDer::from(root.der());
        let Ok(anchor) = anchor_from_trusted_cert(&root_der) else {
            continue;
        };
        let anchors = [anchor];
        let result = match usage {
            RequiredUsage::Any => ee.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &anchors,
                &inter,
                time,
                AnyUsage,
                None,
                None,
            ),
            RequiredUsage::ClientAuth => ee.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &anchors,
                &inter,
                time,
                webpki::KeyUsage::client_auth(),
                None,
                None,
            ),
            RequiredUsage::ServerAuth => ee.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &anchors,
                &inter,
                time,
                webpki::KeyUsage::server_auth(),
                None,
                None,
            ),
        };
        match result {
            Ok(_) if root.is_valid_at(now) => return Ok(root),
            Ok(_) => invalid_root = Some(root),
            Err(e) if is_issuer_mismatch(&e) => {}
            Err(e) => return Err(map_error(e, leaf, usage, now)),
        }
    }
    Err(match invalid_root {
        Some(root) => ChainError::CaNotValid {
            ca: root.common_name().unwrap_or_default().to_string(),
            not_before: root.not_before(),
            not_after: root.not_after(),
            now,
        },
        None => ChainError::UnknownIssuer,
    })
}
