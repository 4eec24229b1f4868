//! virt-operator's reconcile of the certificate secrets and CA bundles, as data: issuing a whole
//! PKI ([`issue_all`]), and deciding at an instant what to regenerate and how each bundle
//! changes ([`plan_rotation`]). Nothing is read or written here: the caller passes what is
//! stored ([`Stored`]) and writes the [`Rotation`] ([`crate::store`] does both for a directory).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use thiserror::Error;
use time::OffsetDateTime;

use crate::bundle::{initial_ca_bundle, merge_ca_bundle};
use crate::cert::{parse_certificates, Certificate};
use crate::components::{CaKind, CertKind, SecretTemplate, CERT_KEY, SECRETS};
use crate::deadline::{
    rotation_deadline, secret_decision, DeadlineRule, ExistingSecret, RegenerateReason,
    RotationDeadline, SecretDecision,
};
use crate::duration::format_go_duration;
use crate::error::PkiError;
use crate::issue::{issue_ca, CertificateAuthority, IssuedCert};
use crate::schedule::Schedule;

/// Why a reconcile cannot be done.
#[derive(Debug, Error)]
pub enum ReconcileError {
    /// A certificate could not be issued.
    #[error("issuing {secret}")]
    Issue {
        /// The secret.
        secret: &'static str,
        /// Why.
        source: PkiError,
    },
    /// A kept CA cannot sign (e.g. an RSA CA: KubeVirt's are ECDSA P-256).
    #[error("{location}: cannot sign with this CA")]
    CannotSign {
        /// Where the CA secret is.
        location: String,
        /// Why.
        source: PkiError,
    },
    /// A kept CA certificate cannot be read.
    #[error("{location}")]
    BadCa {
        /// Where the CA certificate is.
        location: String,
        /// Why.
        source: PkiError,
    },
}

/// A whole PKI as `certs init` issues it.
#[derive(Debug)]
pub struct Issued {
    /// Every secret of [`SECRETS`] (the optional ones included), CAs first.
    pub secrets: Vec<(&'static SecretTemplate, IssuedCert)>,
    /// The initial `ca-bundle` of each CA's ConfigMap.
    pub bundles: Vec<(CaKind, String)>,
}

/// Issues the three CAs and every component certificate of namespace `namespace` at `now`.
pub fn issue_all(
    namespace: &str,
    schedule: &Schedule,
    now: OffsetDateTime,
) -> Result<Issued, ReconcileError> {
    let mut secrets = Vec::new();
    let mut bundles = Vec::new();
    let mut authorities = HashMap::new();
    for t in SECRETS.iter() {
        let issuing = |source| ReconcileError::Issue {
            secret: t.secret_name,
            source,
        };
        let cert = match (t.ca_kind(), t.signer()) {
            (Some(kind), _) => {
                let ca = issue_ca(kind, now, schedule.duration_for(t)).map_err(issuing)?;
                let bundle =
                    initial_ca_bundle(&ca.certificate, "", schedule.bundle_overlap_for(kind), now);
                bundles.push((kind, bundle.to_pem()));
                authorities.insert(
                    kind,
                    CertificateAuthority::from_issued(&ca).map_err(issuing)?,
                );
                ca
            }
            (None, signer) => {
                let signer = signer.and_then(|k| authorities.get(&k)).ok_or_else(|| {
                    issuing(PkiError::Generation("no signing CA issued first".into()))
                })?;
                signer
                    .issue(&t.resolve(namespace), now, schedule.duration_for(t))
                    .map_err(issuing)?
            }
        };
        secrets.push((t, cert));
    }
    Ok(Issued { secrets, bundles })
}

/// One secret as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSecret {
    /// Where it is, for messages.
    pub location: String,
    /// `tls.crt` (empty when absent).
    pub cert_pem: String,
    /// `tls.key` (empty when absent).
    pub key_pem: String,
}

/// One stored PEM text (a bundle, or the external-CA inbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredText {
    /// Where it is, for messages.
    pub location: String,
    /// The text; `None` when absent.
    pub text: Option<String>,
}

/// Everything a rotation reads.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Install namespace.
    pub namespace: String,
    /// The secrets present, by name.
    pub secrets: HashMap<String, StoredSecret>,
    /// Each CA's bundle.
    pub bundles: HashMap<CaKind, StoredText>,
    /// The `kubevirt-external-ca` inbox.
    pub external: StoredText,
    /// Each secret's `kubevirt.io/duration` annotation.
    pub annotations: BTreeMap<String, String>,
}

/// What a rotation is asked to do.
#[derive(Debug, Clone)]
pub struct RotationRequest {
    /// The rotation settings in force.
    pub schedule: Schedule,
    /// The instant.
    pub now: OffsetDateTime,
    /// Secrets to regenerate whatever their state (as deleting them in the cluster would).
    pub force: Vec<String>,
    /// Regenerate `kubevirt-ca` (every component certificate follows).
    pub force_ca: bool,
}

impl RotationRequest {
    /// The flag that forces `name`, if any.
    fn forced(&self, name: &str) -> Option<&'static str> {
        if self.force.iter().any(|f| f == name) {
            Some("--force")
        } else if self.force_ca && name == CaKind::KubeVirt.secret_name() {
            Some("--force-ca")
        } else {
            None
        }
    }
}

/// Why a secret was regenerated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// virt-operator's own decision.
    Operator(RegenerateReason),
    /// Forced, by the named flag.
    Forced(&'static str),
}

fn rule_text(d: &RotationDeadline) -> &'static str {
    match d.rule {
        DeadlineRule::NotVerifiedByCa => "does not verify against the current CA",
        DeadlineRule::RenewBefore => "NotAfter - renewBefore",
        DeadlineRule::CaExpiresFirst => "the CA expires first",
    }
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Forced(flag) => write!(f, "forced ({flag})"),
            Why::Operator(RegenerateReason::Missing) => f.write_str("missing"),
            Why::Operator(RegenerateReason::Unloadable { error }) => {
                write!(f, "cannot be loaded: {error}")
            }
            Why::Operator(RegenerateReason::DurationChanged { found, desired }) => write!(
                f,
                "kubevirt.io/duration {} differs from {desired}",
                found.as_deref().unwrap_or("(none)")
            ),
            Why::Operator(RegenerateReason::DeadlinePassed { deadline }) => {
                if deadline.rule == DeadlineRule::NotVerifiedByCa {
                    f.write_str("does not verify against the current CA")
                } else {
                    write!(
                        f,
                        "rotation deadline {} passed ({})",
                        crate::verify::rfc3339(&deadline.at),
                        rule_text(deadline)
                    )
                }
            }
        }
    }
}

/// One regenerated secret.
#[derive(Debug)]
pub struct Change {
    /// The secret.
    pub secret: &'static str,
    /// CA, server or client.
    pub kind: CertKind,
    /// Why it was regenerated.
    pub why: Why,
    /// NotAfter of the certificate it replaces, when that one could be read.
    pub old_not_after: Option<OffsetDateTime>,
    /// The new certificate and key.
    pub issued: IssuedCert,
}

/// Something due later: a secret's rotation deadline, or a bundle's pruning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upcoming {
    /// What (a secret name, or a ConfigMap sentence).
    pub what: String,
    /// When.
    pub at: OffsetDateTime,
}

/// What happens to one CA bundle.
#[derive(Debug, Clone)]
pub struct BundleChange {
    /// The CA.
    pub kind: CaKind,
    /// Its ConfigMap.
    pub config_map: &'static str,
    /// The certificates stored before (empty when unreadable or absent).
    pub before: Vec<Certificate>,
    /// The certificates after the merge, current CA first.
    pub after: Vec<Certificate>,
    /// The new `ca-bundle` text.
    pub pem: String,
    /// Whether the text differs from the stored one (only then is it written).
    pub changed: bool,
    /// When superseded CAs leave the bundle, if it holds more than one.
    pub prune_after: Option<OffsetDateTime>,
}

/// Something worth telling the user about what was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file or secret it is about.
    pub location: String,
    /// What.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// The outcome of a reconcile: what to write and what to report.
///
/// Writers must publish in this order so that no peer is ever handed a certificate it cannot
/// verify: the CA secrets, then every changed bundle (which holds the new CA next to the old
/// ones), then the emptied inbox, and only then the component certificates
/// ([`Rotation::leaf_changes`]).
#[derive(Debug)]
pub struct Rotation {
    /// The instant.
    pub now: OffsetDateTime,
    /// Install namespace.
    pub namespace: String,
    /// The settings in force.
    pub schedule: Schedule,
    /// The regenerated secrets, CAs first, in virt-operator's order.
    pub changes: Vec<Change>,
    /// Every CA bundle, in virt-operator's order.
    pub bundles: Vec<BundleChange>,
    /// Whether the external-CA inbox must be (re)written empty.
    pub clear_external: bool,
    /// Deadlines to come, soonest first.
    pub upcoming: Vec<Upcoming>,
    /// Things to tell the user.
    pub warnings: Vec<Warning>,
    /// Each secret's `kubevirt.io/duration` annotation after the rotation.
    pub annotations: BTreeMap<String, String>,
}

impl Rotation {
    /// The regenerated CA secrets.
    pub fn ca_changes(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.kind == CertKind::Ca)
    }

    /// The regenerated component certificates (publish after the bundles).
    pub fn leaf_changes(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.kind != CertKind::Ca)
    }
}

/// A current CA: its certificate, and its signer once loaded.
struct CurrentCa {
    cert: Certificate,
    cert_pem: String,
    key_pem: String,
    location: String,
    authority: Option<CertificateAuthority>,
}

impl CurrentCa {
    fn authority(&mut self) -> Result<&CertificateAuthority, ReconcileError> {
        let ca =
            match self.authority.take() {
                Some(ca) => ca,
                None => CertificateAuthority::from_pem(&self.cert_pem, &self.key_pem).map_err(
                    |source| ReconcileError::CannotSign {
                        location: self.location.clone(),
                        source,
                    },
                )?,
            };
        Ok(self.authority.insert(ca))
    }
}

/// The outcome of the operator's decision, or of a forcing flag.
enum Outcome {
    Keep(RotationDeadline),
    Regenerate(Why),
}

/// The rotation being built.
struct Plan<'a> {
    stored: &'a Stored,
    req: &'a RotationRequest,
    changes: Vec<Change>,
    upcoming: Vec<Upcoming>,
    warnings: Vec<Warning>,
    annotations: BTreeMap<String, String>,
}

impl Plan<'_> {
    /// The operator's decision for one secret, unless forced.
    fn decide(
        &self,
        t: &SecretTemplate,
        existing: Option<&StoredSecret>,
        ca: Option<&Certificate>,
    ) -> Outcome {
        if let Some(flag) = self.req.forced(t.secret_name) {
            return Outcome::Regenerate(Why::Forced(flag));
        }
        let schedule = &self.req.schedule;
        let ex = existing.map(|s| ExistingSecret {
            cert_pem: &s.cert_pem,
            key_pem: &s.key_pem,
            duration_annotation: self
                .stored
                .annotations
                .get(t.secret_name)
                .map(String::as_str),
        });
        let ca_renew_before = t.signer().map(|k| schedule.ca_renew_before_for(k));
        match secret_decision(
            ex.as_ref(),
            schedule.duration_for(t),
            ca,
            schedule.renew_before_for(t),
            ca_renew_before,
            self.req.now,
        ) {
            SecretDecision::Keep { deadline } => Outcome::Keep(deadline),
            SecretDecision::Regenerate { reason } => Outcome::Regenerate(Why::Operator(reason)),
        }
    }

    /// Records a regenerated secret: its annotation, the change and its next deadline.
    fn regenerated(
        &mut self,
        t: &'static SecretTemplate,
        issued: IssuedCert,
        why: Why,
        existing: Option<&StoredSecret>,
        ca: Option<&Certificate>,
    ) {
        if let (Why::Operator(RegenerateReason::Unloadable { error }), Some(s)) = (&why, existing) {
            self.warnings.push(Warning {
                location: s.location.clone(),
                message: format!(
                    "certificate or key cannot be loaded ({error}); regenerated as virt-operator does"
                ),
            });
        }
        let schedule = &self.req.schedule;
        self.annotations.insert(
            t.secret_name.to_string(),
            format_go_duration(schedule.duration_for(t)),
        );
        let deadline = rotation_deadline(
            &issued.certificate,
            ca,
            schedule.renew_before_for(t),
            t.signer().map(|k| schedule.ca_renew_before_for(k)),
            self.req.now,
        );
        self.upcoming.push(Upcoming {
            what: t.secret_name.to_string(),
            at: deadline.at,
        });
        self.changes.push(Change {
            secret: t.secret_name,
            kind: t.kind,
            why,
            old_not_after: existing
                .and_then(|s| Certificate::from_pem(&s.cert_pem).ok())
                .map(|c| c.not_after()),
            issued,
        });
    }
}

/// virt-operator's reconcile of `stored` at `req.now`: the CA secrets in its order, the CA
/// bundles (external CAs go into `kubevirt-ca`'s, then the inbox is emptied), then the
/// component certificates — each regenerated when missing, unloadable, re-configured, past its
/// rotation deadline (a leaf that does not verify against the current CA is due at once) or
/// forced. Optional secrets (virt-template's) are only kept up to date once they exist.
pub fn plan_rotation(stored: &Stored, req: &RotationRequest) -> Result<Rotation, ReconcileError> {
    let now = req.now;
    let schedule = req.schedule;
    let ns = stored.namespace.as_str();
    let mut plan = Plan {
        stored,
        req,
        changes: Vec::new(),
        upcoming: Vec::new(),
        warnings: Vec::new(),
        annotations: stored.annotations.clone(),
    };

    // 1. The CA secrets, in virt-operator's order.
    let mut cas: HashMap<CaKind, CurrentCa> = HashMap::new();
    for kind in CaKind::ALL {
        let Some(t) = SECRETS.iter().find(|t| t.ca_kind() == Some(kind)) else {
            continue;
        };
        let existing = stored.secrets.get(t.secret_name);
        let location = existing.map_or_else(|| t.secret_name.to_string(), |s| s.location.clone());
        let current = match (plan.decide(t, existing, None), existing) {
            (Outcome::Keep(deadline), Some(ex)) => {
                let cert = Certificate::from_pem(&ex.cert_pem).map_err(|source| {
                    ReconcileError::BadCa {
                        location: format!("{}/{CERT_KEY}", ex.location),
                        source,
                    }
                })?;
                plan.upcoming.push(Upcoming {
                    what: t.secret_name.to_string(),
                    at: deadline.at,
                });
                CurrentCa {
                    cert,
                    cert_pem: ex.cert_pem.clone(),
                    key_pem: ex.key_pem.clone(),
                    location,
                    authority: None,
                }
            }
            (outcome, _) => {
                let why = match outcome {
                    Outcome::Regenerate(why) => why,
                    Outcome::Keep(_) => Why::Operator(RegenerateReason::Missing),
                };
                let issuing = |source| ReconcileError::Issue {
                    secret: t.secret_name,
                    source,
                };
                let issued = issue_ca(kind, now, schedule.duration_for(t)).map_err(issuing)?;
                let authority = CertificateAuthority::from_issued(&issued).map_err(issuing)?;
                let current = CurrentCa {
                    cert: issued.certificate.clone(),
                    cert_pem: issued.cert_pem.clone(),
                    key_pem: issued.key_pem.clone(),
                    location,
                    authority: Some(authority),
                };
                plan.regenerated(t, issued, why, existing, None);
                current
            }
        };
        cas.insert(kind, current);
    }

    // 2. The CA bundles; external CAs go into kubevirt-ca's, then the inbox is emptied.
    let mut bundles = Vec::new();
    for (kind, current) in CaKind::ALL
        .into_iter()
        .filter_map(|k| Some((k, cas.get(&k)?)))
    {
        let stored_bundle = stored.bundles.get(&kind);
        let location = stored_bundle.map_or_else(
            || kind.config_map_name().to_string(),
            |b| b.location.clone(),
        );
        let text = stored_bundle.and_then(|b| b.text.as_deref());
        let overlap = schedule.bundle_overlap_for(kind);
        let ext = match kind {
            CaKind::KubeVirt => stored.external.text.as_deref().unwrap_or(""),
            CaKind::Export | CaKind::Backup => "",
        };
        let merged = match text {
            None => initial_ca_bundle(&current.cert, ext, overlap, now),
            Some(text) => merge_ca_bundle(&current.cert, text, ext, overlap, now),
        };
        let mut warn = |location: &str, message: String| {
            plan.warnings.push(Warning {
                location: location.to_string(),
                message,
            })
        };
        if merged.existing_reset {
            warn(
                &location,
                "the stored bundle cannot be read; reset to the current CA as virt-operator does"
                    .into(),
            );
        }
        if let Some(e) = &merged.external_error {
            warn(
                &stored.external.location,
                format!("external CAs cannot be read ({e}); none added"),
            );
        }
        if merged.dropped_over_limit > 0 {
            warn(
                &location,
                format!(
                    "{} certificates dropped to keep the bundle at 50",
                    merged.dropped_over_limit
                ),
            );
        }
        let before = text
            .and_then(|t| parse_certificates(t).ok())
            .unwrap_or_default();
        let pem = merged.to_pem();
        let changed = text != Some(pem.as_str());
        let prune_after = (merged.certificates.len() > 1)
            .then(|| current.cert.not_before() + overlap)
            .filter(|at| *at >= now);
        if let Some(at) = prune_after {
            plan.upcoming.push(Upcoming {
                what: format!(
                    "ConfigMap {} (superseded CAs leave the bundle)",
                    kind.config_map_name()
                ),
                at,
            });
        }
        bundles.push(BundleChange {
            kind,
            config_map: kind.config_map_name(),
            before,
            after: merged.certificates,
            pem,
            changed,
            prune_after,
        });
    }
    let clear_external = stored.external.text.as_deref() != Some("");

    // 3. The component certificates.
    for t in SECRETS.iter().filter(|t| t.kind != CertKind::Ca) {
        let existing = stored.secrets.get(t.secret_name);
        if t.optional
            && existing.is_none()
            && !stored.annotations.contains_key(t.secret_name)
            && req.forced(t.secret_name).is_none()
        {
            continue;
        }
        let Some(ca) = t.signer().and_then(|k| cas.get_mut(&k)) else {
            continue;
        };
        match plan.decide(t, existing, Some(&ca.cert)) {
            Outcome::Keep(deadline) => plan.upcoming.push(Upcoming {
                what: t.secret_name.to_string(),
                at: deadline.at,
            }),
            Outcome::Regenerate(why) => {
                let issued = ca
                    .authority()?
                    .issue(&t.resolve(ns), now, schedule.duration_for(t))
                    .map_err(|source| ReconcileError::Issue {
                        secret: t.secret_name,
                        source,
                    })?;
                let ca_cert = ca.cert.clone();
                plan.regenerated(t, issued, why, existing, Some(&ca_cert));
            }
        }
    }

    plan.upcoming.sort_by_key(|u| u.at);
    Ok(Rotation {
        now,
        namespace: stored.namespace.clone(),
        schedule,
        changes: plan.changes,
        bundles,
        clear_external,
        upcoming: plan.upcoming,
        warnings: plan.warnings,
        annotations: plan.annotations,
    })
}
