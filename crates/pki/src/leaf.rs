//! Certificates for identities outside KubeVirt's component table — the API facade's serving
//! certificate and kubectl's client certificates — and reading a client certificate's identity
//! the way kube-apiserver's x509 authenticator does (CN = user, each O = a group).

use std::net::IpAddr;

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::cert::Certificate;
use crate::components::ExtKeyUsage;
use crate::error::PkiError;

/// What [`crate::CertificateAuthority::issue_leaf`] puts in a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeafSpec {
    /// Subject CN (Kubernetes: the user name).
    pub common_name: String,
    /// Subject O values (Kubernetes: the groups).
    pub organizations: Vec<String>,
    /// DNS SANs.
    pub dns_names: Vec<String>,
    /// IP SANs.
    pub ip_addresses: Vec<IpAddr>,
    /// Extended key usages (serverAuth, clientAuth).
    pub ext_key_usages: Vec<ExtKeyUsage>,
}

impl LeafSpec {
    /// A client certificate for `user` in `groups`.
    pub fn client(user: &str, groups: &[String]) -> Self {
        LeafSpec {
            common_name: user.to_string(),
            organizations: groups.to_vec(),
            ext_key_usages: vec![ExtKeyUsage::ClientAuth],
            ..LeafSpec::default()
        }
    }

    /// A serving certificate for these host names and addresses.
    pub fn server(common_name: &str, dns_names: &[String], ip_addresses: &[IpAddr]) -> Self {
        LeafSpec {
            common_name: common_name.to_string(),
            dns_names: dns_names.to_vec(),
            ip_addresses: ip_addresses.to_vec(),
            ext_key_usages: vec![ExtKeyUsage::ServerAuth],
            ..LeafSpec::default()
        }
    }
}

/// The subject's CN and every O value, in order (kube-apiserver's x509 `CommonNameUserConversion`).
pub fn subject_identity(cert: &Certificate) -> Result<(String, Vec<String>), PkiError> {
    let (_, x509) = X509Certificate::from_der(cert.der())
        .map_err(|e| PkiError::BadCertificate(e.to_string()))?;
    let subject = x509.subject();
    let cn = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or_default()
        .to_string();
    let orgs = subject
        .iter_organization()
        .filter_map(|a| a.as_str().ok())
        .map(str::to_string)
        .collect();
    Ok((cn, orgs))
}

/// A DER length.
fn der_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// One DER TLV.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    der_len(content.len(), &mut out);
    out.extend_from_slice(content);
    out
}

/// One RDN: `SET { SEQUENCE { OID 2.5.4.<attr>, UTF8String value } }`.
fn rdn(attr: u8, value: &str) -> Vec<u8> {
    let mut atv = tlv(0x06, &[0x55, 0x04, attr]);
    atv.extend(tlv(0x0c, value.as_bytes()));
    tlv(0x31, &tlv(0x30, &atv))
}

/// The DER subject `O=…, O=…, CN=…` (one RDN per value, as `openssl -subj /O=a/O=b/CN=c`).
pub(crate) fn subject_der(common_name: &str, organizations: &[String]) -> Vec<u8> {
    let mut rdns = Vec::new();
    for o in organizations {
        rdns.extend(rdn(0x0a, o));
    }
    rdns.extend(rdn(0x03, common_name));
    tlv(0x30, &rdns)
}

/// Reads one TLV at the start of `der`: (tag, header length, content length).
fn read_tlv(der: &[u8]) -> Result<(u8, usize, usize), PkiError> {
    let bad = || PkiError::Generation("malformed DER while rewriting the subject".into());
    let tag = *der.first().ok_or_else(bad)?;
    let first = *der.get(1).ok_or_else(bad)?;
    if first < 0x80 {
        return Ok((tag, 2, usize::from(first)));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return Err(bad());
    }
    let mut len = 0usize;
    for i in 0..n {
        len = (len << 8) | usize::from(*der.get(2 + i).ok_or_else(bad)?);
    }
    if der.len() < 2 + n + len {
        return Err(bad());
    }
    Ok((tag, 2 + n, len))
}

/// `cert` with its subject replaced by `subject` and signed again by `sign` (which gets the
/// new TBSCertificate DER and returns the signature value).
pub(crate) fn with_subject(
    cert: &[u8],
    subject: &[u8],
    sign: impl Fn(&[u8]) -> Result<Vec<u8>, PkiError>,
) -> Result<Vec<u8>, PkiError> {
    let bad = || PkiError::Generation("cannot locate the subject while rewriting it".into());
    let (_, x509) =
        X509Certificate::from_der(cert).map_err(|e| PkiError::BadCertificate(e.to_string()))?;
    let old = x509.tbs_certificate.subject.as_raw();
    let start = (old.as_ptr() as usize).wrapping_sub(cert.as_ptr() as usize);
    let end = start.checked_add(old.len()).ok_or_else(bad)?;
    if cert.get(start..end) != Some(old) {
        return Err(bad());
    }
    let (_, outer_hdr, outer_len) = read_tlv(cert)?;
    let body = cert.get(outer_hdr..outer_hdr + outer_len).ok_or_else(bad)?;
    let (_, tbs_hdr, tbs_len) = read_tlv(body)?;
    let tbs_start = outer_hdr + tbs_hdr;
    let tbs_end = tbs_start + tbs_len;
    if start < tbs_start || end > tbs_end {
        return Err(bad());
    }
    let mut tbs_content = cert.get(tbs_start..start).ok_or_else(bad)?.to_vec();
    tbs_content.extend_from_slice(subject);
    tbs_content.extend_from_slice(cert.get(end..tbs_end).ok_or_else(bad)?);
    let tbs = tlv(0x30, &tbs_content);
    let rest = body.get(tbs_hdr + tbs_len..).ok_or_else(bad)?;
    let (_, alg_hdr, alg_len) = read_tlv(rest)?;
    let alg = rest.get(..alg_hdr + alg_len).ok_or_else(bad)?;
    let mut bits = vec![0u8];
    bits.extend(sign(&tbs)?);
    let mut content = tbs;
    content.extend_from_slice(alg);
    content.extend(tlv(0x03, &bits));
    Ok(tlv(0x30, &content))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::CaKind;
    use crate::issue::{issue_ca, CertificateAuthority};
    use crate::verify::{verify_chain, RequiredUsage};
    use time::macros::datetime;
    use time::Duration;

    #[test]
    fn client_certificates_carry_user_and_groups() {
        let t0 = datetime!(2026-01-01 00:00:00 UTC);
        let ca = CertificateAuthority::from_issued(
            &issue_ca(CaKind::KubeVirt, t0, Duration::days(365)).unwrap(),
        )
        .unwrap();
        let groups = vec![
            "system:masters".to_string(),
            "devs".to_string(),
            "a-much-longer-group-name-".repeat(8),
        ];
        let leaf = ca
            .issue_leaf(&LeafSpec::client("alice", &groups), t0, Duration::hours(1))
            .unwrap();
        let (cn, orgs) = subject_identity(&leaf.certificate).unwrap();
        assert_eq!(cn, "alice");
        assert_eq!(orgs, groups);
        assert!(leaf.certificate.is_signed_by(ca.certificate()));
        let roots = [ca.certificate().clone()];
        assert!(verify_chain(
            &leaf.certificate,
            &[],
            &roots,
            RequiredUsage::ClientAuth,
            t0
        )
        .is_ok());
        assert!(verify_chain(
            &leaf.certificate,
            &[],
            &roots,
            RequiredUsage::ClientAuth,
            t0 + Duration::hours(2)
        )
        .is_err());
        assert!(verify_chain(
            &leaf.certificate,
            &[],
            &roots,
            RequiredUsage::ServerAuth,
            t0
        )
        .is_err());
    }

    #[test]
    fn serving_certificates_carry_ip_sans() {
        let t0 = datetime!(2026-01-01 00:00:00 UTC);
        let ca = CertificateAuthority::from_issued(
            &issue_ca(CaKind::KubeVirt, t0, Duration::days(365)).unwrap(),
        )
        .unwrap();
        let spec = LeafSpec::server(
            "virtguard",
            &["localhost".to_string()],
            &["127.0.0.1".parse().unwrap()],
        );
        let leaf = ca.issue_leaf(&spec, t0, Duration::days(30)).unwrap();
        let s = leaf.certificate.summary();
        assert_eq!(s.dns_names, ["localhost"]);
        assert_eq!(s.ip_addresses, ["127.0.0.1"]);
        assert_eq!(s.ext_key_usages, [ExtKeyUsage::ServerAuth]);
    }
}
