//! A review of a set of KubeVirt certificate secrets and CA bundles, as `certs inspect` reports
//! them: per secret its certificate and key, next rotation, chain check against its bundle and
//! problems (each with the place it is about), plus the secrets virt-operator would create that
//! are missing. The secrets come from a PKI directory ([`crate::store`]) or from Kubernetes
//! objects ([`crate::secret::gather_objects`]).

use std::collections::{HashMap, HashSet};
use std::fmt;

use time::OffsetDateTime;

use crate::cert::{parse_certificates, Certificate};
use crate::components::{
    secret_template, CaKind, CertKind, SecretTemplate, CA_BUNDLE_KEY, SECRETS,
};
use crate::deadline::{rotation_deadline, RotationDeadline};
use crate::key::PrivateKey;
use crate::problems::{problems, CheckContext, KeyHolder, Problem, SecretInput};
use crate::schedule::Schedule;
use crate::verify::{verify_chain, RequiredUsage};

/// One certificate secret as read, with the places its parts come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatheredSecret {
    /// The secret's name.
    pub name: String,
    /// Where the secret is (a directory, or an object), for messages.
    pub location: String,
    /// Where its `tls.crt` is.
    pub cert_location: String,
    /// Where its `tls.key` is.
    pub key_location: String,
    /// `tls.crt` (empty when absent).
    pub cert_pem: String,
    /// `tls.key` (empty when absent).
    pub key_pem: String,
    /// `kubevirt.io/duration`, when known.
    pub duration_annotation: Option<String>,
}

/// One CA bundle as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatheredBundle {
    /// Where the bundle is, for messages.
    pub location: String,
    /// The PEM text.
    pub pem: String,
}

/// Everything a review reads.
#[derive(Debug, Clone)]
pub struct Gathered {
    /// The certificate secrets found.
    pub secrets: Vec<GatheredSecret>,
    /// The CA bundles found, by ConfigMap name.
    pub bundles: HashMap<String, GatheredBundle>,
    /// The install namespace.
    pub namespace: String,
    /// The rotation settings in force.
    pub schedule: Schedule,
}

/// What a reported problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issue {
    /// A problem of the secret's certificate, key or bundle.
    Secret(Problem),
    /// A CA secret whose bundle ConfigMap is not there.
    BundleMissing {
        /// The ConfigMap.
        config_map: &'static str,
    },
    /// A secret virt-operator always creates is not there.
    MissingSecret {
        /// The secret.
        secret: &'static str,
    },
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Issue::Secret(p) => p.fmt(f),
            Issue::BundleMissing { config_map } => {
                write!(
                    f,
                    "ConfigMap {config_map} with its {CA_BUNDLE_KEY} not found"
                )
            }
            Issue::MissingSecret { secret } => {
                write!(
                    f,
                    "secret {secret} not found (virt-operator would create it)"
                )
            }
        }
    }
}

/// One reported problem and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The secret it is about.
    pub secret: String,
    /// The file or object it is about (the secret's name when there is nothing better).
    pub location: String,
    /// The problem.
    pub issue: Issue,
}

/// The chain check of a secret's certificate against its CA bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleCheck {
    /// The ConfigMap trusting this certificate.
    pub config_map: &'static str,
    /// Whether that ConfigMap was found.
    pub present: bool,
    /// `None` when the certificate or the bundle cannot be read; else the CN of the anchor, or
    /// why the chain does not verify.
    pub chain: Option<Result<String, String>>,
}

/// The review of one secret.
#[derive(Debug, Clone)]
pub struct SecretReview {
    /// The secret's name.
    pub name: String,
    /// virt-operator's template for it, when it is one of its secrets.
    pub template: Option<&'static SecretTemplate>,
    /// Whether the secret was found (missing ones are reported with one problem).
    pub present: bool,
    /// Where it is (empty when missing).
    pub location: String,
    /// Its certificate, when readable.
    pub certificate: Option<Certificate>,
    /// Its private key, when readable.
    pub key: Option<PrivateKey>,
    /// `kubevirt.io/duration`, when known.
    pub duration_annotation: Option<String>,
    /// When virt-operator will rotate it (when the certificate is readable).
    pub next_rotation: Option<RotationDeadline>,
    /// The chain check against its bundle (`None` when missing).
    pub bundle: Option<BundleCheck>,
    /// Its problems.
    pub problems: Vec<Finding>,
}

/// The review of one CA bundle.
#[derive(Debug, Clone)]
pub struct BundleReview {
    /// The ConfigMap.
    pub config_map: String,
    /// Where it is.
    pub location: String,
    /// Its certificates, or `None` when it cannot be read.
    pub certificates: Option<Vec<Certificate>>,
}

/// The review of a whole [`Gathered`] set.
#[derive(Debug, Clone)]
pub struct Review {
    /// Found secrets in virt-operator's order (unknown ones after, by name), then the missing
    /// ones.
    pub secrets: Vec<SecretReview>,
    /// The bundles, by ConfigMap name.
    pub bundles: Vec<BundleReview>,
}

impl Review {
    /// Every problem, secret by secret.
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.secrets.iter().flat_map(|s| s.problems.iter())
    }

    /// How many secrets were found.
    pub fn present(&self) -> usize {
        self.secrets.iter().filter(|s| s.present).count()
    }
}

/// Where a problem is, to name it in messages.
fn problem_location<'a>(
    p: &Problem,
    s: &'a GatheredSecret,
    bundle: Option<&'a GatheredBundle>,
) -> &'a str {
    match p {
        Problem::KeyUnreadable { .. }
        | Problem::KeyMismatch
        | Problem::WrongKeyType {
            holder: KeyHolder::Key,
            ..
        } => &s.key_location,
        Problem::BundleUnreadable { .. }
        | Problem::BundleTooLarge { .. }
        | Problem::CaMissingFromBundle { .. } => bundle.map_or(&s.location, |b| &b.location),
        Problem::UnknownSecret { .. } => &s.location,
        _ => &s.cert_location,
    }
}

fn template_index(name: &str) -> usize {
    SECRETS
        .iter()
        .position(|t| t.secret_name == name)
        .unwrap_or(SECRETS.len())
}

fn ca_kind_of(name: &str) -> Option<CaKind> {
    CaKind::ALL.into_iter().find(|k| k.secret_name() == name)
}

fn cn_of(c: &Certificate) -> String {
    c.common_name().unwrap_or("(no CN)").to_string()
}

/// Reviews every secret of `gathered` at `now`: the checks of [`problems`], a CA secret
/// without its bundle, the chain check and next rotation, and the secrets virt-operator always
/// creates that are missing.
pub fn review(gathered: &Gathered, now: OffsetDateTime) -> Review {
    let mut found: Vec<&GatheredSecret> = gathered.secrets.iter().collect();
    found.sort_by(|x, y| {
        (template_index(&x.name), &x.name).cmp(&(template_index(&y.name), &y.name))
    });
    let ns = gathered.namespace.as_str();
    let schedule = gathered.schedule;
    // The certificate of each CA secret that can be read.
    let ca_certs: HashMap<CaKind, (&str, Certificate)> = found
        .iter()
        .filter_map(|s| {
            let kind = ca_kind_of(&s.name)?;
            let cert = Certificate::from_pem(&s.cert_pem).ok()?;
            Some((kind, (s.cert_pem.as_str(), cert)))
        })
        .collect();
    let parsed_bundles: HashMap<&str, Vec<Certificate>> = gathered
        .bundles
        .iter()
        .filter_map(|(k, b)| Some((k.as_str(), parse_certificates(&b.pem).ok()?)))
        .collect();

    let mut secrets = Vec::new();
    for s in &found {
        let t = secret_template(&s.name);
        let cert = Certificate::from_pem(&s.cert_pem).ok();
        let is_ca = t.map_or(cert.as_ref().is_some_and(Certificate::is_ca), |t| {
            t.kind == CertKind::Ca
        });
        let bundle_kind = t
            .and_then(|t| t.ca_kind().or_else(|| t.signer()))
            .unwrap_or(CaKind::KubeVirt);
        let cm = bundle_kind.config_map_name();
        let bundle = gathered.bundles.get(cm);
        let bundle_certs = parsed_bundles.get(cm);
        let signer = if is_ca {
            None
        } else {
            ca_certs.get(&t.and_then(|t| t.signer()).unwrap_or(CaKind::KubeVirt))
        };
        let ctx = CheckContext {
            namespace: ns,
            schedule,
            ca_bundle_pem: bundle.map(|b| b.pem.as_str()),
            current_ca_pem: signer.map(|(pem, _)| *pem),
            now,
        };
        let input = SecretInput {
            name: &s.name,
            cert_pem: &s.cert_pem,
            key_pem: Some(&s.key_pem),
            duration_annotation: s.duration_annotation.as_deref(),
        };
        let mut mine: Vec<Finding> = problems(&input, &ctx)
            .into_iter()
            .map(|p| Finding {
                secret: s.name.clone(),
                location: problem_location(&p, s, bundle).to_string(),
                issue: Issue::Secret(p),
            })
            .collect();
        if is_ca && bundle.is_none() {
            mine.push(Finding {
                secret: s.name.clone(),
                location: s.location.clone(),
                issue: Issue::BundleMissing { config_map: cm },
            });
        }

        // Next rotation and the chain check, when the certificate can be read.
        let (renew_before, ca_renew_before) = match t {
            Some(t) => (
                schedule.renew_before_for(t),
                t.signer().map(|k| schedule.ca_renew_before_for(k)),
            ),
            None if is_ca => (schedule.ca_renew_before, None),
            None => (schedule.cert_renew_before, Some(schedule.ca_renew_before)),
        };
        let next_rotation = cert.as_ref().map(|c| {
            let ca = signer.map(|(_, ca)| ca).or_else(|| {
                bundle_certs
                    .and_then(|b| b.iter().find(|ca| c.is_signed_by(ca)))
                    .filter(|_| !is_ca)
            });
            rotation_deadline(c, ca, renew_before, ca_renew_before, now)
        });
        let chain = cert.as_ref().zip(bundle_certs).map(|(c, b)| {
            if is_ca {
                if b.iter().any(|x| x.sha256() == c.sha256()) {
                    Ok(cn_of(c))
                } else {
                    Err("the CA is not in its bundle".to_string())
                }
            } else {
                verify_chain(c, &[], b, RequiredUsage::Any, now)
                    .map(cn_of)
                    .map_err(|e| e.to_string())
            }
        });
        secrets.push(SecretReview {
            name: s.name.clone(),
            template: t,
            present: true,
            location: s.location.clone(),
            certificate: cert,
            key: PrivateKey::from_pem(&s.key_pem).ok(),
            duration_annotation: s.duration_annotation.clone(),
            next_rotation,
            bundle: Some(BundleCheck {
                config_map: cm,
                present: bundle.is_some(),
                chain,
            }),
            problems: mine,
        });
    }

    // Secrets virt-operator always creates that are not there.
    let present: HashSet<&str> = found.iter().map(|s| s.name.as_str()).collect();
    for t in SECRETS
        .iter()
        .filter(|t| !t.optional && !present.contains(t.secret_name))
    {
        secrets.push(SecretReview {
            name: t.secret_name.to_string(),
            template: Some(t),
            present: false,
            location: String::new(),
            certificate: None,
            key: None,
            duration_annotation: None,
            next_rotation: None,
            bundle: None,
            problems: vec![Finding {
                secret: t.secret_name.to_string(),
                location: t.secret_name.to_string(),
                issue: Issue::MissingSecret {
                    secret: t.secret_name,
                },
            }],
        });
    }

    let mut names: Vec<&String> = gathered.bundles.keys().collect();
    names.sort();
    let bundles = names
        .into_iter()
        .filter_map(|name| {
            let b = gathered.bundles.get(name)?;
            Some(BundleReview {
                config_map: name.clone(),
                location: b.location.clone(),
                certificates: parsed_bundles.get(name.as_str()).cloned(),
            })
        })
        .collect();
    Review { secrets, bundles }
}
