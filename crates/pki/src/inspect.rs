//! Certificate inspection: a serialisable summary of what a certificate says, and the
//! combined view of a certificate with its private key.

use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use crate::cert::Certificate;
use crate::components::{ExtKeyUsage, KeyUsage};
use crate::error::PkiError;
use crate::key::{bit_len, strip_leading_zeros, KeyAlgorithm, KeySummary, PrivateKey};

/// What a certificate says, for display or JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertSummary {
    /// Subject distinguished name, as text.
    pub subject: String,
    /// Subject common name, if any.
    pub common_name: Option<String>,
    /// Issuer distinguished name, as text.
    pub issuer: String,
    /// Issuer common name, if any.
    pub issuer_common_name: Option<String>,
    /// Serial number, colon-separated hex.
    pub serial: String,
    /// SAN DNS names.
    pub dns_names: Vec<String>,
    /// SAN IP addresses.
    pub ip_addresses: Vec<String>,
    /// Key usage bits (empty when the extension is absent).
    pub key_usages: Vec<KeyUsage>,
    /// Extended key usages (empty when the extension is absent).
    pub ext_key_usages: Vec<ExtKeyUsage>,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Public-key algorithm.
    pub key_algorithm: KeyAlgorithm,
    /// SHA-256 of the DER, lowercase hex.
    pub sha256_fingerprint: String,
    /// basicConstraints CA:true.
    pub is_ca: bool,
    /// Subject equals issuer (self-issued, normally self-signed).
    pub self_issued: bool,
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bad(e: impl std::fmt::Display) -> PkiError {
    PkiError::BadCertificate(e.to_string())
}

/// The public key's algorithm and public material (EC point, or RSA modulus without leading
/// zeros) of a parsed certificate.
pub(crate) fn public_key_of(x509: &X509Certificate<'_>) -> (KeyAlgorithm, Vec<u8>) {
    let spki = x509.public_key();
    let alg = spki.algorithm.algorithm.as_bytes();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .filter(|p| p.tag().0 == 6)
        .map(|p| p.data);
    let (rsa_bits, material) = match spki.parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
            let modulus = strip_leading_zeros(rsa.modulus);
            (bit_len(modulus), modulus.to_vec())
        }
        _ => (0, spki.subject_public_key.data.to_vec()),
    };
    (KeyAlgorithm::from_oids(alg, curve, rsa_bits), material)
}

/// Builds the summary of a parsed certificate whose DER has SHA-256 `fingerprint`.
pub(crate) fn summarize(
    x509: &X509Certificate<'_>,
    fingerprint: &[u8],
) -> Result<CertSummary, PkiError> {
    let cn = |name: &x509_parser::x509::X509Name<'_>| {
        name.iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_string)
    };
    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    if let Some(san) = x509.subject_alternative_name().map_err(bad)? {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns_names.push((*d).to_string()),
                GeneralName::IPAddress(ip) => ip_addresses.push(ip_text(ip)),
                _ => {}
            }
        }
    }
    let mut key_usages = Vec::new();
    if let Some(ku) = x509.key_usage().map_err(bad)? {
        let ku = ku.value;
        for (set, usage) in [
            (ku.digital_signature(), KeyUsage::DigitalSignature),
            (ku.non_repudiation(), KeyUsage::ContentCommitment),
            (ku.key_encipherment(), KeyUsage::KeyEncipherment),
            (ku.data_encipherment(), KeyUsage::DataEncipherment),
            (ku.key_agreement(), KeyUsage::KeyAgreement),
            (ku.key_cert_sign(), KeyUsage::CertSign),
            (ku.crl_sign(), KeyUsage::CrlSign),
            (ku.encipher_only(), KeyUsage::EncipherOnly),
            (ku.decipher_only(), KeyUsage::DecipherOnly),
        ] {
            if set {
                key_usages.push(usage);
            }
        }
    }
    let mut ext_key_usages = Vec::new();
    if let Some(eku) = x509.extended_key_usage().map_err(bad)? {
        let eku = eku.value;
        for (set, oid) in [
            (eku.code_signing, "1.3.6.1.5.5.7.3.3"),
            (eku.email_protection, "1.3.6.1.5.5.7.3.4"),
            (eku.time_stamping, "1.3.6.1.5.5.7.3.8"),
            (eku.ocsp_signing, "1.3.6.1.5.5.7.3.9"),
        ] {
            if set {
                ext_key_usages.push(ExtKeyUsage::Other(oid.to_string()));
            }
        }
        if eku.server_auth {
            ext_key_usages.insert(0, ExtKeyUsage::ServerAuth);
        }
        if eku.client_auth {
            let at = usize::from(eku.server_auth);
            ext_key_usages.insert(at, ExtKeyUsage::ClientAuth);
        }
        if eku.any {
            ext_key_usages.push(ExtKeyUsage::Any);
        }
        ext_key_usages.extend(
            eku.other
                .iter()
                .map(|o| ExtKeyUsage::Other(o.to_id_string())),
        );
    }
    let (key_algorithm, _) = public_key_of(x509);
    let validity = x509.validity();
    Ok(CertSummary {
        subject: x509.subject().to_string(),
        common_name: cn(x509.subject()),
        issuer: x509.issuer().to_string(),
        issuer_common_name: cn(x509.issuer()),
        serial: x509.raw_serial_as_string(),
        dns_names,
        ip_addresses,
        key_usages,
        ext_key_usages,
        not_before: validity.not_before.to_datetime(),
        not_after: validity.not_after.to_datetime(),
        key_algorithm,
        sha256_fingerprint: hex(fingerprint),
        is_ca: x509.is_ca(),
        self_issued: x509.subject().as_raw() == x509.issuer().as_raw(),
    })
}

fn ip_text(bytes: &[u8]) -> String {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        std::net::Ipv4Addr::from(v4).to_string()
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        std::net::Ipv6Addr::from(v6).to_string()
    } else {
        hex(bytes)
    }
}

/// A certificate with, optionally, its private key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    /// The certificate.
    pub certificate: CertSummary,
    /// The key, when one was given.
    pub key: Option<KeySummary>,
    /// Whether the key belongs to the certificate, when a key was given.
    pub key_matches_certificate: Option<bool>,
}

/// Inspects a PEM certificate (the first `CERTIFICATE` block) and an optional PEM key.
pub fn inspect_pem(cert_pem: &str, key_pem: Option<&str>) -> Result<Inspection, PkiError> {
    let cert = Certificate::from_pem(cert_pem)?;
    let key = key_pem.map(PrivateKey::from_pem).transpose()?;
    Ok(Inspection {
        certificate: cert.summary().clone(),
        key_matches_certificate: key.as_ref().map(|k| cert.matches_key(k)),
        key: key.map(|k| k.summary()),
    })
}
