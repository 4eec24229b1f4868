//! Issuing KubeVirt's certificates: self-signed ECDSA P-256 CAs (`<prefix>@<unix seconds>`)
//! and component certificates signed by them, returned as PEM (certificate and PKCS#8 key).

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::cert::Certificate;
use crate::components::{CaKind, CertKind, ComponentCert, ExtKeyUsage, KeyUsage};
use crate::error::PkiError;
use crate::key::{KeyAlgorithm, PrivateKey};

/// A freshly issued certificate and its key, as the secret's `tls.crt` / `tls.key` would hold them.
#[derive(Clone)]
pub struct IssuedCert {
    /// PEM certificate.
    pub cert_pem: String,
    /// PEM PKCS#8 private key.
    pub key_pem: String,
    /// The parsed certificate.
    pub certificate: Certificate,
}

impl std::fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCert")
            .field("certificate", &self.certificate.summary())
            .finish_non_exhaustive()
    }
}

/// A CA that can sign component certificates.
#[derive(Debug)]
pub struct CertificateAuthority {
    certificate: Certificate,
    issuer: Issuer<'static, KeyPair>,
}

fn gen_err(e: rcgen::Error) -> PkiError {
    PkiError::Generation(e.to_string())
}

/// `now` in UTC, truncated to whole seconds (what an X.509 time can hold).
fn whole_seconds(now: OffsetDateTime) -> Result<OffsetDateTime, PkiError> {
    now.checked_to_offset(UtcOffset::UTC)
        .and_then(|utc| utc.replace_nanosecond(0).ok())
        .ok_or_else(|| PkiError::TimeOutOfRange(now.to_string()))
}

fn plus(at: OffsetDateTime, d: Duration) -> Result<OffsetDateTime, PkiError> {
    at.checked_add(d)
        .ok_or_else(|| PkiError::TimeOutOfRange(format!("{at} + {d}")))
}

/// A positive serial below 2^63 derived from the freshly generated (random) key.
fn serial_for(key: &KeyPair) -> SerialNumber {
    let digest = Sha256::digest(key.subject_public_key_info());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    bytes[0] &= 0x7f;
    if bytes.iter().all(|&b| b == 0) {
        bytes[7] = 1;
    }
    SerialNumber::from_slice(&bytes)
}

fn rcgen_key_usage(u: KeyUsage) -> KeyUsagePurpose {
    match u {
        KeyUsage::DigitalSignature => KeyUsagePurpose::DigitalSignature,
        KeyUsage::ContentCommitment => KeyUsagePurpose::ContentCommitment,
        KeyUsage::KeyEncipherment => KeyUsagePurpose::KeyEncipherment,
        KeyUsage::DataEncipherment => KeyUsagePurpose::DataEncipherment,
        KeyUsage::KeyAgreement => KeyUsagePurpose::KeyAgreement,
        KeyUsage::CertSign => KeyUsagePurpose::KeyCertSign,
        KeyUsage::CrlSign => KeyUsagePurpose::CrlSign,
        KeyUsage::EncipherOnly => KeyUsagePurpose::EncipherOnly,
        KeyUsage::DecipherOnly => KeyUsagePurpose::DecipherOnly,
    }
}

fn rcgen_ext_key_usage(u: &ExtKeyUsage) -> Result<ExtendedKeyUsagePurpose, PkiError> {
    Ok(match u {
        ExtKeyUsage::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
        ExtKeyUsage::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
        ExtKeyUsage::Any => ExtendedKeyUsagePurpose::Any,
        ExtKeyUsage::Other(oid) => ExtendedKeyUsagePurpose::Other(
            oid.split('.')
                .map(str::parse::<u64>)
                .collect::<Result<_, _>>()
                .map_err(|_| PkiError::Generation(format!("bad OID {oid:?}")))?,
        ),
    })
}

fn pem_pair(cert: &rcgen::Certificate, key: &KeyPair) -> Result<IssuedCert, PkiError> {
    let certificate = Certificate::from_der(cert.der())?;
    Ok(IssuedCert {
        cert_pem: certificate.to_pem(),
        key_pem: key.serialize_pem(),
        certificate,
    })
}

fn ca_params(
    kind: CaKind,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        kind.common_name(not_before.unix_timestamp()),
    );
    let mut params = CertificateParams::default();
    params.distinguished_name = dn;
    params.not_before = not_before;
    params.not_after = not_after;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    params
}

/// Issues a self-signed CA as virt-operator does: ECDSA P-256, CN `<prefix>@<unix seconds of
/// now>`, NotBefore = `now`, NotAfter = `now + duration`, CA:true, key usage
/// CertSign+DigitalSignature+KeyEncipherment. `now` is truncated to whole seconds.
pub fn issue_ca(
    kind: CaKind,
    now: OffsetDateTime,
    duration: Duration,
) -> Result<IssuedCert, PkiError> {
    let not_before = whole_seconds(now)?;
    let not_after = plus(not_before, duration)?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(gen_err)?;
    let mut params = ca_params(kind, not_before, not_after);
    params.serial_number = Some(serial_for(&key));
    let cert = params.self_signed(&key).map_err(gen_err)?;
    pem_pair(&cert, &key)
}

impl CertificateAuthority {
    /// Loads a CA from its secret's PEM certificate and key. The certificate must be a CA, the
    /// key ECDSA P-256 (PKCS#8 or SEC1) and belong to the certificate.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let certificate = Certificate::from_pem(cert_pem)?;
        if !certificate.is_ca() {
            return Err(PkiError::NotACa);
        }
        if certificate.key_algorithm() != &KeyAlgorithm::EcdsaP256 {
            return Err(PkiError::WrongKeyType(
                certificate.key_algorithm().to_string(),
            ));
        }
        let key = PrivateKey::from_pem(key_pem)?;
        let signer = key.to_signing_key()?;
        // ring checked the embedded public key against the private scalar when building `signer`.
        if !certificate.matches_key(&key) || key.public_material() != Some(signer.public_key_raw())
        {
            return Err(PkiError::KeyMismatch);
        }
        let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(certificate.der()), signer)
            .map_err(gen_err)?;
        Ok(CertificateAuthority {
            certificate,
            issuer,
        })
    }

    /// Loads a CA just issued by [`issue_ca`].
    pub fn from_issued(issued: &IssuedCert) -> Result<Self, PkiError> {
        Self::from_pem(&issued.cert_pem, &issued.key_pem)
    }

    /// The CA certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// Issues a component certificate as virt-operator does: fresh ECDSA P-256 key, random
    /// serial below 2^63, the component's CN, DNS SANs and extended key usage, key usage
    /// KeyEncipherment+DigitalSignature, NotBefore = the CA's NotBefore, NotAfter = `now +
    /// duration` (`now` truncated to whole seconds).
    pub fn issue(
        &self,
        component: &ComponentCert,
        now: OffsetDateTime,
        duration: Duration,
    ) -> Result<IssuedCert, PkiError> {
        if component.kind == CertKind::Ca {
            return Err(PkiError::Generation(format!(
                "{} is a CA; use issue_ca",
                component.secret_name
            )));
        }
        let cn = component.common_name.clone().ok_or_else(|| {
            PkiError::Generation(format!("{} has no common name", component.secret_name))
        })?;
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(gen_err)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.not_before = self.certificate.not_before();
        params.not_after = plus(whole_seconds(now)?, duration)?;
        params.serial_number = Some(serial_for(&key));
        params.subject_alt_names = component
            .dns_names
            .iter()
            .map(|d| {
                d.clone()
                    .try_into()
                    .map(SanType::DnsName)
                    .map_err(|e: rcgen::Error| PkiError::Generation(format!("SAN {d:?}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        params.key_usages = component
            .key_usages
            .iter()
            .copied()
            .map(rcgen_key_usage)
            .collect();
        params.extended_key_usages = component
            .ext_key_usages
            .iter()
            .map(rcgen_ext_key_usage)
            .collect::<Result<_, _>>()?;
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer).map_err(gen_err)?;
        pem_pair(&cert, &key)
    }

    /// Issues a certificate for an identity outside KubeVirt's component table (the API
    /// facade's serving certificate, kubectl client certificates): fresh ECDSA P-256 key, CN and
    /// O (Kubernetes reads them as user and groups), DNS and IP SANs, KeyEncipherment +
    /// DigitalSignature with the given extended usages, NotBefore = `now`, NotAfter = `now +
    /// duration` (whole seconds).
    pub fn issue_leaf(
        &self,
        spec: &crate::leaf::LeafSpec,
        now: OffsetDateTime,
        duration: Duration,
    ) -> Result<IssuedCert, PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(gen_err)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, spec.common_name.clone());
        params.distinguished_name = dn;
        params.not_before = whole_seconds(now)?;
        params.not_after = plus(params.not_before, duration)?;
        params.serial_number = Some(serial_for(&key));
        let mut sans = Vec::new();
        for d in &spec.dns_names {
            sans.push(
                d.clone()
                    .try_into()
                    .map(SanType::DnsName)
                    .map_err(|e: rcgen::Error| PkiError::Generation(format!("SAN {d:?}: {e}")))?,
            );
        }
        sans.extend(spec.ip_addresses.iter().map(|ip| SanType::IpAddress(*ip)));
        params.subject_alt_names = sans;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = spec
            .ext_key_usages
            .iter()
            .map(rcgen_ext_key_usage)
            .collect::<Result<_, _>>()?;
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer).map_err(gen_err)?;
        if spec.organizations.is_empty() {
            return pem_pair(&cert, &key);
        }
        // rcgen keeps one value per attribute type; Kubernetes reads every O as a group, so the
        // subject is rewritten with all of them and the certificate signed again.
        let subject = crate::leaf::subject_der(&spec.common_name, &spec.organizations);
        let der = crate::leaf::with_subject(cert.der(), &subject, |tbs| {
            rcgen::SigningKey::sign(self.issuer.key(), tbs).map_err(gen_err)
        })?;
        let certificate = Certificate::from_der(&der)?;
        Ok(IssuedCert {
            cert_pem: certificate.to_pem(),
            key_pem: key.serialize_pem(),
            certificate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::secret_template;
    use time::macros::datetime;

    #[test]
    fn ca_fields() {
        let now = datetime!(2024-05-01 12:00:00.75 UTC);
        let ca = issue_ca(CaKind::KubeVirt, now, Duration::hours(168)).unwrap();
        let s = ca.certificate.summary();
        assert_eq!(s.common_name.as_deref(), Some("kubevirt.io@1714564800"));
        assert_eq!(s.not_before, datetime!(2024-05-01 12:00:00 UTC));
        assert_eq!(s.not_after, datetime!(2024-05-08 12:00:00 UTC));
        assert!(s.is_ca && s.self_issued);
        assert_eq!(s.key_algorithm, KeyAlgorithm::EcdsaP256);
        assert_eq!(
            s.key_usages,
            [
                KeyUsage::DigitalSignature,
                KeyUsage::KeyEncipherment,
                KeyUsage::CertSign
            ]
        );
        assert!(ca.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    }

    #[test]
    fn leaf_fields() {
        let t0 = datetime!(2024-05-01 00:00:00 UTC);
        let ca = CertificateAuthority::from_issued(
            &issue_ca(CaKind::KubeVirt, t0, Duration::hours(168)).unwrap(),
        )
        .unwrap();
        let now = t0 + Duration::hours(30);
        let spec = secret_template("kubevirt-controller-certs")
            .unwrap()
            .resolve("kubevirt");
        let leaf = ca.issue(&spec, now, Duration::hours(24)).unwrap();
        let s = leaf.certificate.summary();
        assert_eq!(
            s.common_name.as_deref(),
            Some("virt-controller.kubevirt.pod.cluster.local")
        );
        assert_eq!(
            s.issuer_common_name.as_deref(),
            Some("kubevirt.io@1714521600")
        );
        assert_eq!(s.not_before, t0);
        assert_eq!(s.not_after, now + Duration::hours(24));
        assert_eq!(s.dns_names, spec.dns_names);
        assert_eq!(s.ext_key_usages, [ExtKeyUsage::ServerAuth]);
        assert_eq!(
            s.key_usages,
            [KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment]
        );
        assert!(!s.is_ca);
        assert!(leaf.certificate.is_signed_by(ca.certificate()));
        let serial = s.serial.replace(':', "");
        assert!(serial.len() <= 16, "{serial}");
        assert!(u64::from_str_radix(&serial, 16).unwrap() < 1u64 << 63);
    }

    #[test]
    fn ca_secret_cannot_be_issued_as_leaf() {
        let t0 = datetime!(2024-05-01 00:00:00 UTC);
        let ca = CertificateAuthority::from_issued(
            &issue_ca(CaKind::KubeVirt, t0, Duration::hours(1)).unwrap(),
        )
        .unwrap();
        let spec = secret_template("kubevirt-ca").unwrap().resolve("kubevirt");
        assert!(matches!(
            ca.issue(&spec, t0, Duration::hours(1)),
            Err(PkiError::Generation(_))
        ));
    }

    #[test]
    fn loading_a_ca_checks_key_and_kind() {
        let t0 = datetime!(2024-05-01 00:00:00 UTC);
        let a = issue_ca(CaKind::KubeVirt, t0, Duration::hours(1)).unwrap();
        let b = issue_ca(CaKind::KubeVirt, t0, Duration::hours(1)).unwrap();
        assert_eq!(
            CertificateAuthority::from_pem(&a.cert_pem, &b.key_pem).unwrap_err(),
            PkiError::KeyMismatch
        );
        let ca = CertificateAuthority::from_issued(&a).unwrap();
        let spec = secret_template("kubevirt-virt-handler-certs")
            .unwrap()
            .resolve("kubevirt");
        let leaf = ca.issue(&spec, t0, Duration::hours(1)).unwrap();
        assert_eq!(
            CertificateAuthority::from_pem(&leaf.cert_pem, &leaf.key_pem).unwrap_err(),
            PkiError::NotACa
        );
    }
}
