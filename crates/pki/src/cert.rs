//! An owned, parsed X.509 certificate with the fields the rest of the crate needs, and CA-bundle
//! parsing.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::error::PkiError;
use crate::inspect::{public_key_of, summarize, CertSummary};
use crate::key::{KeyAlgorithm, PrivateKey};
use crate::pem::{encode_pem, pem_blocks};

/// The most certificates a KubeVirt CA bundle keeps.
pub const MAX_BUNDLE_SIZE: usize = 50;

/// A parsed certificate; compares by DER.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    sha256: [u8; 32],
    summary: CertSummary,
    subject_raw: Vec<u8>,
    issuer_raw: Vec<u8>,
    public: Vec<u8>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("common_name", &self.summary.common_name)
            .field("not_before", &self.summary.not_before)
            .field("not_after", &self.summary.not_after)
            .field("sha256", &self.summary.sha256_fingerprint)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

impl Certificate {
    /// Parses one DER certificate; trailing bytes are an error.
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        let (rest, x509) =
            X509Certificate::from_der(der).map_err(|e| PkiError::BadCertificate(e.to_string()))?;
        if !rest.is_empty() {
            return Err(PkiError::BadCertificate(format!(
                "{} trailing bytes after certificate",
                rest.len()
            )));
        }
        let sha256: [u8; 32] = Sha256::digest(der).into();
        let summary = summarize(&x509, &sha256)?;
        let (_, public) = public_key_of(&x509);
        Ok(Certificate {
            der: der.to_vec(),
            sha256,
            summary,
            subject_raw: x509.subject().as_raw().to_vec(),
            issuer_raw: x509.issuer().as_raw().to_vec(),
            public,
        })
    }

    /// Parses the first PEM block of `text`, which must be a `CERTIFICATE`.
    pub fn from_pem(text: &str) -> Result<Self, PkiError> {
        let blocks = pem_blocks(text)?;
        let first = blocks.first().ok_or(PkiError::NoPem {
            expected: "CERTIFICATE",
        })?;
        if first.label != "CERTIFICATE" {
            return Err(PkiError::UnexpectedPemLabel {
                found: first.label.clone(),
                expected: "CERTIFICATE",
            });
        }
        Self::from_der(&first.der)
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The PEM encoding (`\n` line endings).
    pub fn to_pem(&self) -> String {
        encode_pem("CERTIFICATE", &self.der)
    }

    /// SHA-256 of the DER.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }

    /// The inspection summary.
    pub fn summary(&self) -> &CertSummary {
        &self.summary
    }

    /// Subject CN, if any.
    pub fn common_name(&self) -> Option<&str> {
        self.summary.common_name.as_deref()
    }

    /// Start of validity.
    pub fn not_before(&self) -> OffsetDateTime {
        self.summary.not_before
    }

    /// End of validity.
    pub fn not_after(&self) -> OffsetDateTime {
        self.summary.not_after
    }

    /// basicConstraints CA:true.
    pub fn is_ca(&self) -> bool {
        self.summary.is_ca
    }

    /// The public-key algorithm.
    pub fn key_algorithm(&self) -> &KeyAlgorithm {
        &self.summary.key_algorithm
    }

    /// Valid at `now`: `not_before <= now <= not_after`.
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        self.not_before() <= now && now <= self.not_after()
    }

    /// Whether `key` is this certificate's private key (same algorithm and public key).
    pub fn matches_key(&self, key: &PrivateKey) -> bool {
        key.algorithm() == self.key_algorithm()
            && key.public_material() == Some(self.public.as_slice())
    }

    /// Whether `issuer`'s subject is this certificate's issuer and `issuer`'s key verifies this
    /// certificate's signature. Validity periods are not considered.
    pub fn is_signed_by(&self, issuer: &Certificate) -> bool {
        if self.issuer_raw != issuer.subject_raw {
            return false;
        }
        let (Ok((_, me)), Ok((_, them))) = (
            X509Certificate::from_der(&self.der),
            X509Certificate::from_der(&issuer.der),
        ) else {
            return false;
        };
        me.verify_signature(Some(them.public_key())).is_ok()
    }
}

/// Parses a PEM bundle: every block must be a `CERTIFICATE`. Empty text gives an empty list;
/// a truncated or garbled bundle is an error.
pub fn parse_certificates(text: &str) -> Result<Vec<Certificate>, PkiError> {
    pem_blocks(text)?
        .into_iter()
        .map(|block| {
            if block.label == "CERTIFICATE" {
                Certificate::from_der(&block.der)
            } else {
                Err(PkiError::UnexpectedPemLabel {
                    found: block.label,
                    expected: "CERTIFICATE",
                })
            }
        })
        .collect()
}

/// Concatenated PEM of `certs`.
pub fn to_pem_bundle<'a>(certs: impl IntoIterator<Item = &'a Certificate>) -> String {
    certs.into_iter().map(Certificate::to_pem).collect()
}
