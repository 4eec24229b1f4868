//! When virt-operator replaces a secret: the rotation deadline of a certificate, and the
//! regenerate-or-keep decision for an existing secret.

use serde::Serialize;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

use crate::cert::Certificate;
use crate::duration::{format_go_duration, parse_go_duration};
use crate::key::PrivateKey;
use crate::verify::{verify_chain, RequiredUsage};

/// Which rule set a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineRule {
    /// The certificate does not verify against the current CA: rotate now.
    NotVerifiedByCa,
    /// `NotAfter − renewBefore`.
    RenewBefore,
    /// The CA expires before the certificate: `CA NotAfter − ½ CA renewBefore`
    /// (or CA NotAfter when no CA renewBefore is known).
    CaExpiresFirst,
}

/// A rotation deadline and the rule that set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationDeadline {
    /// The instant at which the secret must be regenerated.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Why.
    pub rule: DeadlineRule,
}

impl RotationDeadline {
    /// True once `now` has reached the deadline.
    pub fn is_due(&self, now: OffsetDateTime) -> bool {
        now >= self.at
    }

    /// How long until the deadline (zero when due): the operator re-queues after this.
    pub fn requeue_after(&self, now: OffsetDateTime) -> Duration {
        (self.at - now).max(Duration::ZERO)
    }
}

/// `at − d`, saturating at the limits of `OffsetDateTime`.
fn minus(at: OffsetDateTime, d: Duration) -> OffsetDateTime {
    at.checked_sub(d).unwrap_or_else(|| {
        if d.is_positive() {
            PrimitiveDateTime::MIN.assume_utc()
        } else {
            PrimitiveDateTime::MAX.assume_utc()
        }
    })
}

/// Rotation deadline of `cert`:
/// 1. `ca` given and `cert` does not verify against it at `now` → `now`;
/// 2. otherwise `cert.NotAfter − renew_before`;
/// 3. but if `ca` expires before `cert`: `ca.NotAfter − ½ ca_renew_before`, or `ca.NotAfter`
///    when `ca_renew_before` is `None`.
///
/// CA secrets are checked with `ca = None` and their own renewBefore.
pub fn rotation_deadline(
    cert: &Certificate,
    ca: Option<&Certificate>,
    renew_before: Duration,
    ca_renew_before: Option<Duration>,
    now: OffsetDateTime,
) -> RotationDeadline {
    if let Some(ca) = ca {
        if verify_chain(cert, &[], std::slice::from_ref(ca), RequiredUsage::Any, now).is_err() {
            return RotationDeadline {
                at: now,
                rule: DeadlineRule::NotVerifiedByCa,
            };
        }
        if ca.not_after() < cert.not_after() {
            let at = match ca_renew_before {
                Some(rb) => minus(ca.not_after(), rb / 2),
                None => ca.not_after(),
            };
            return RotationDeadline {
                at,
                rule: DeadlineRule::CaExpiresFirst,
            };
        }
    }
    RotationDeadline {
        at: minus(cert.not_after(), renew_before),
        rule: DeadlineRule::RenewBefore,
    }
}

/// An existing secret's data and duration annotation.
#[derive(Debug, Clone, Copy)]
pub struct ExistingSecret<'a> {
    /// `tls.crt`.
    pub cert_pem: &'a str,
    /// `tls.key`.
    pub key_pem: &'a str,
    /// `kubevirt.io/duration`, if set.
    pub duration_annotation: Option<&'a str>,
}

/// Why a secret must be (re)generated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all_fields = "camelCase")]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum RegenerateReason {
    /// The secret does not exist.
    Missing,
    /// Its certificate or key cannot be loaded (blank, garbage, or not a pair).
    Unloadable {
        /// What failed.
        error: String,
    },
    /// Its `kubevirt.io/duration` annotation differs from the desired duration.
    DurationChanged {
        /// The annotation found.
        found: Option<String>,
        /// The desired Go duration string.
        desired: String,
    },
    /// Its rotation deadline has passed.
    DeadlinePassed {
        /// The deadline.
        deadline: RotationDeadline,
    },
}

/// The operator's decision for one secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all_fields = "camelCase")]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum SecretDecision {
    /// Keep it until the deadline.
    Keep {
        /// When it will be rotated.
        deadline: RotationDeadline,
    },
    /// Generate a new certificate and key now.
    Regenerate {
        /// Why.
        #[serde(flatten)]
        reason: RegenerateReason,
    },
}

/// Decides whether virt-operator regenerates a secret, checking in order: missing, unloadable,
/// duration annotation differs from `desired_duration`, deadline passed.
pub fn secret_decision(
    existing: Option<&ExistingSecret<'_>>,
    desired_duration: Duration,
    ca: Option<&Certificate>,
    renew_before: Duration,
    ca_renew_before: Option<Duration>,
    now: OffsetDateTime,
) -> SecretDecision {
    let regenerate = |reason| SecretDecision::Regenerate { reason };
    let Some(secret) = existing else {
        return regenerate(RegenerateReason::Missing);
    };
    let loaded = Certificate::from_pem(secret.cert_pem).and_then(|cert| {
        let key = PrivateKey::from_pem(secret.key_pem)?;
        if cert.matches_key(&key) {
            Ok(cert)
        } else {
            Err(crate::error::PkiError::KeyMismatch)
        }
    });
    let cert = match loaded {
        Ok(cert) => cert,
        Err(e) => {
            return regenerate(RegenerateReason::Unloadable {
                error: e.to_string(),
            })
        }
    };
    let desired = format_go_duration(desired_duration);
    if secret.duration_annotation != Some(desired.as_str()) {
        return regenerate(RegenerateReason::DurationChanged {
            found: secret.duration_annotation.map(str::to_string),
            desired,
        });
    }
    let deadline = rotation_deadline(&cert, ca, renew_before, ca_renew_before, now);
    if deadline.is_due(now) {
        regenerate(RegenerateReason::DeadlinePassed { deadline })
    } else {
        SecretDecision::Keep { deadline }
    }
}

/// Whether an annotation value denotes the same duration (e.g. `24h` vs `24h0m0s`). KubeVirt
/// compares the strings; this helper is for reports that want to tell a real change apart.
pub fn same_duration(annotation: &str, desired: Duration) -> bool {
    parse_go_duration(annotation).is_ok_and(|d| d == desired)
}
