//! What is wrong with a KubeVirt certificate secret: validity, rotation, identity (CN, SANs,
//! usages) for its secret name, key type and pairing, and its place in the CA bundle.

use std::fmt;

use serde::Serialize;
use time::OffsetDateTime;

use crate::cert::{parse_certificates, Certificate, MAX_BUNDLE_SIZE};
use crate::components::{secret_template, CertKind, ExtKeyUsage, SecretTemplate};
use crate::deadline::{rotation_deadline, RotationDeadline};
use crate::duration::format_go_duration;
use crate::key::{KeyAlgorithm, PrivateKey};
use crate::schedule::Schedule;
use crate::verify::rfc3339;

/// One secret's data, as read from the cluster.
#[derive(Debug, Clone, Copy)]
pub struct SecretInput<'a> {
    /// The secret's name (selects the expected CN, SANs and usages).
    pub name: &'a str,
    /// `tls.crt`.
    pub cert_pem: &'a str,
    /// `tls.key`; `None` when it was withheld (a live read keeps private keys out): the key
    /// checks (readable, type, matches the certificate) are skipped, the certificate's are not.
    pub key_pem: Option<&'a str>,
    /// `kubevirt.io/duration`, when known; compared with the schedule's duration.
    pub duration_annotation: Option<&'a str>,
}

/// What the secret is checked against.
#[derive(Debug, Clone, Copy)]
pub struct CheckContext<'a> {
    /// Install namespace.
    pub namespace: &'a str,
    /// Effective rotation settings.
    pub schedule: Schedule,
    /// The `ca-bundle` of the CA ConfigMap trusting this certificate, when known.
    pub ca_bundle_pem: Option<&'a str>,
    /// The current signing CA's certificate (its secret's `tls.crt`), when known; a leaf not
    /// verifying against it is due for rotation immediately.
    pub current_ca_pem: Option<&'a str>,
    /// The instant to check at.
    pub now: OffsetDateTime,
}

/// Which half of the secret a key-type problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyHolder {
    /// `tls.crt`'s public key.
    Certificate,
    /// `tls.key`.
    Key,
}

/// One problem with a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all_fields = "camelCase")]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    /// The secret name is not one virt-operator manages; identity checks were skipped.
    UnknownSecret {
        /// The name.
        name: String,
    },
    /// `tls.crt` cannot be read.
    CertificateUnreadable {
        /// Why.
        error: String,
    },
    /// `tls.key` cannot be read.
    KeyUnreadable {
        /// Why.
        error: String,
    },
    /// The CA bundle cannot be read.
    BundleUnreadable {
        /// Why.
        error: String,
    },
    /// Past NotAfter.
    Expired {
        /// End of validity.
        #[serde(with = "time::serde::rfc3339")]
        not_after: OffsetDateTime,
    },
    /// Before NotBefore.
    NotYetValid {
        /// Start of validity.
        #[serde(with = "time::serde::rfc3339")]
        not_before: OffsetDateTime,
    },
    /// Past its rotation deadline (renewal point) but not yet expired.
    RotationDue {
        /// The deadline and the rule that set it.
        deadline: RotationDeadline,
    },
    /// The CN is not the one KubeVirt gives this secret.
    WrongCommonName {
        /// Expected CN (for CAs, the pattern).
        expected: String,
        /// CN found.
        found: Option<String>,
    },
    /// The SAN DNS names differ from KubeVirt's.
    WrongDnsNames {
        /// Expected names.
        expected: Vec<String>,
        /// Names found.
        found: Vec<String>,
    },
    /// The extended key usages differ from KubeVirt's.
    WrongExtKeyUsage {
        /// Expected usages.
        expected: Vec<ExtKeyUsage>,
        /// Usages found.
        found: Vec<ExtKeyUsage>,
    },
    /// A CA secret whose certificate is not a CA, or a leaf secret whose certificate is.
    WrongCaFlag {
        /// Whether a CA was expected.
        expected_ca: bool,
    },
    /// The key is not ECDSA P-256.
    WrongKeyType {
        /// Certificate or key.
        holder: KeyHolder,
        /// The algorithm found.
        found: KeyAlgorithm,
    },
    /// `tls.key` does not belong to `tls.crt`.
    KeyMismatch,
    /// The CA bundle does not contain this CA, or the CA that signed this certificate.
    CaMissingFromBundle {
        /// CN of the certificate's issuer.
        issuer: Option<String>,
    },
    /// The CA bundle holds more than 50 certificates.
    BundleTooLarge {
        /// Number of certificates.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The `kubevirt.io/duration` annotation differs from the configured duration, so the
    /// operator will regenerate the secret.
    DurationAnnotationMismatch {
        /// Annotation found.
        found: String,
        /// Desired value.
        desired: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::UnknownSecret { name } => write!(
                f,
                "secret {name} is not managed by virt-operator; identity checks skipped"
            ),
            Problem::CertificateUnreadable { error } => {
                write!(f, "tls.crt cannot be read: {error}")
            }
            Problem::KeyUnreadable { error } => write!(f, "tls.key cannot be read: {error}"),
            Problem::BundleUnreadable { error } => write!(f, "CA bundle cannot be read: {error}"),
            Problem::Expired { not_after } => {
                write!(f, "certificate expired at {}", rfc3339(not_after))
            }
            Problem::NotYetValid { not_before } => {
                write!(f, "certificate is not valid before {}", rfc3339(not_before))
            }
            Problem::RotationDue { deadline } => write!(
                f,
                "certificate is past its rotation deadline {} ({:?})",
                rfc3339(&deadline.at),
                deadline.rule
            ),
            Problem::WrongCommonName { expected, found } => write!(
                f,
                "common name is {}, expected {expected}",
                found.as_deref().unwrap_or("(none)")
            ),
            Problem::WrongDnsNames { expected, found } => {
                write!(f, "DNS names are {found:?}, expected {expected:?}")
            }
            Problem::WrongExtKeyUsage { expected, found } => write!(
                f,
                "extended key usages are {found:?}, expected {expected:?}"
            ),
            Problem::WrongCaFlag { expected_ca: true } => f.write_str("certificate is not a CA"),
            Problem::WrongCaFlag { expected_ca: false } => {
                f.write_str("certificate is a CA, expected a leaf")
            }
            Problem::WrongKeyType { holder, found } => write!(
                f,
                "{} key is {found}, expected ECDSA P-256",
                match holder {
                    KeyHolder::Certificate => "certificate",
                    KeyHolder::Key => "private",
                }
            ),
            Problem::KeyMismatch => f.write_str("private key does not match the certificate"),
            Problem::CaMissingFromBundle { issuer } => write!(
                f,
                "CA {} is missing from the CA bundle",
                issuer.as_deref().unwrap_or("(unnamed)")
            ),
            Problem::BundleTooLarge { count, max } => {
                write!(f, "CA bundle holds {count} certificates (more than {max})")
            }
            Problem::DurationAnnotationMismatch { found, desired } => {
                write!(f, "kubevirt.io/duration is {found}, configured {desired}")
            }
        }
    }
}

fn identity_problems(
    cert: &Certificate,
    template: &SecretTemplate,
    ns: &str,
    out: &mut Vec<Problem>,
) {
    let s = cert.summary();
    let expect_ca = template.kind == CertKind::Ca;
    if s.is_ca != expect_ca {
        out.push(Problem::WrongCaFlag {
            expected_ca: expect_ca,
        });
    }
    match (template.ca_kind(), template.cn.render(ns)) {
        (Some(kind), _) => {
            if !s
                .common_name
                .as_deref()
                .is_some_and(|cn| kind.matches_common_name(cn))
            {
                out.push(Problem::WrongCommonName {
                    expected: format!("{}@<unix seconds>", kind.cn_prefix()),
                    found: s.common_name.clone(),
                });
            }
        }
        (None, Some(expected)) => {
            if s.common_name.as_deref() != Some(expected.as_str()) {
                out.push(Problem::WrongCommonName {
                    expected,
                    found: s.common_name.clone(),
                });
            }
        }
        (None, None) => {}
    }
    let mut expected = template.dns_names(ns);
    let mut found = s.dns_names.clone();
    expected.sort();
    found.sort();
    if expected != found {
        out.push(Problem::WrongDnsNames { expected, found });
    }
    let mut expected = template.ext_key_usages();
    let mut found = s.ext_key_usages.clone();
    expected.sort();
    found.sort();
    if expected != found {
        out.push(Problem::WrongExtKeyUsage { expected, found });
    }
}

/// Everything wrong with `secret` at `ctx.now`. An empty list means the secret is healthy.
pub fn problems(secret: &SecretInput<'_>, ctx: &CheckContext<'_>) -> Vec<Problem> {
    let mut out = Vec::new();
    let template = secret_template(secret.name);
    if template.is_none() {
        out.push(Problem::UnknownSecret {
            name: secret.name.to_string(),
        });
    }

    let bundle = ctx
        .ca_bundle_pem
        .and_then(|text| match parse_certificates(text) {
            Ok(certs) => Some(certs),
            Err(e) => {
                out.push(Problem::BundleUnreadable {
                    error: e.to_string(),
                });
                None
            }
        });
    if let Some(b) = bundle.as_ref().filter(|b| b.len() > MAX_BUNDLE_SIZE) {
        out.push(Problem::BundleTooLarge {
            count: b.len(),
            max: MAX_BUNDLE_SIZE,
        });
    }

    let cert = Certificate::from_pem(secret.cert_pem);
    let key = secret.key_pem.map(PrivateKey::from_pem);
    let cert = match cert {
        Ok(c) => c,
        Err(e) => {
            out.push(Problem::CertificateUnreadable {
                error: e.to_string(),
            });
            if let Some(Err(e)) = key {
                out.push(Problem::KeyUnreadable {
                    error: e.to_string(),
                });
            }
            return out;
        }
    };
    if cert.key_algorithm() != &KeyAlgorithm::EcdsaP256 {
        out.push(Problem::WrongKeyType {
            holder: KeyHolder::Certificate,
            found: cert.key_algorithm().clone(),
        });
    }
    match key {
        None => {}
        Some(Err(e)) => out.push(Problem::KeyUnreadable {
            error: e.to_string(),
        }),
        Some(Ok(key)) => {
            if key.algorithm() != &KeyAlgorithm::EcdsaP256 {
                out.push(Problem::WrongKeyType {
                    holder: KeyHolder::Key,
                    found: key.algorithm().clone(),
                });
            }
            if !cert.matches_key(&key) {
                out.push(Problem::KeyMismatch);
            }
        }
    }

    let now = ctx.now;
    let in_validity = if now < cert.not_before() {
        out.push(Problem::NotYetValid {
            not_before: cert.not_before(),
        });
        false
    } else if now > cert.not_after() {
        out.push(Problem::Expired {
            not_after: cert.not_after(),
        });
        false
    } else {
        true
    };

    if let Some(t) = template {
        identity_problems(&cert, t, ctx.namespace, &mut out);
        if let Some(found) = secret.duration_annotation {
            let desired = format_go_duration(ctx.schedule.duration_for(t));
            if found != desired {
                out.push(Problem::DurationAnnotationMismatch {
                    found: found.to_string(),
                    desired,
                });
            }
        }
    }

    let is_ca = template.map_or(cert.is_ca(), |t| t.kind == CertKind::Ca);
    let issuer_in_bundle = bundle.as_ref().map(|b| {
        if is_ca {
            b.iter().find(|c| c.sha256() == cert.sha256())
        } else {
            b.iter().find(|c| cert.is_signed_by(c))
        }
    });
    if let Some(None) = issuer_in_bundle {
        out.push(Problem::CaMissingFromBundle {
            issuer: cert.summary().issuer_common_name.clone(),
        });
    }

    if in_validity {
        let current_ca = if is_ca {
            None
        } else {
            match ctx.current_ca_pem.map(Certificate::from_pem) {
                Some(Ok(ca)) => Some(ca),
                Some(Err(e)) => {
                    out.push(Problem::CertificateUnreadable {
                        error: format!("current CA: {e}"),
                    });
                    None
                }
                None => issuer_in_bundle.flatten().cloned(),
            }
        };
        let (renew_before, ca_renew_before) = match template {
            Some(t) => (
                ctx.schedule.renew_before_for(t),
                t.signer().map(|k| ctx.schedule.ca_renew_before_for(k)),
            ),
            None if is_ca => (ctx.schedule.ca_renew_before, None),
            None => (
                ctx.schedule.cert_renew_before,
                Some(ctx.schedule.ca_renew_before),
            ),
        };
        let deadline = rotation_deadline(
            &cert,
            current_ca.as_ref(),
            renew_before,
            ca_renew_before,
            now,
        );
        if deadline.is_due(now) {
            out.push(Problem::RotationDue { deadline });
        }
    }
    out
}
