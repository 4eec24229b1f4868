//! Certificate lifetimes from the KubeVirt CR's `spec.certificateRotateStrategy.selfSigned`:
//! precedence of deprecated and current fields, defaults, and the validation the operator's
//! webhook applies on UPDATE (messages verbatim).

use serde::{Deserialize, Serialize};
use time::Duration;

use crate::components::{CaKind, CertKind, SecretTemplate};
use crate::duration::GoDuration;

/// Default CA lifetime: 168h (7 days).
pub const DEFAULT_CA_DURATION: Duration = Duration::hours(168);

/// Default lifetime of every component (leaf) certificate: 24h.
pub const DEFAULT_CERT_DURATION: Duration = Duration::hours(24);

/// `spec.certificateRotateStrategy` of the KubeVirt CR.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateRotateStrategy {
    /// `selfSigned`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_signed: Option<SelfSignConfiguration>,
}

/// `duration` / `renewBefore` of one certificate class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertConfig {
    /// Lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<GoDuration>,
    /// How long before expiry the certificate is replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_before: Option<GoDuration>,
}

/// `spec.certificateRotateStrategy.selfSigned`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelfSignConfiguration {
    /// CA settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<CertConfig>,
    /// Settings of every leaf certificate, client and server alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<CertConfig>,
    /// Deprecated; same as `ca.duration` and takes priority over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_rotate_interval: Option<GoDuration>,
    /// Deprecated; same as `server.duration` and takes priority over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_rotate_interval: Option<GoDuration>,
    /// Deprecated; same as `ca.renewBefore` and takes priority over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_overlap_interval: Option<GoDuration>,
}

/// 0.2 × `d`, computed as KubeVirt does (float multiply of nanoseconds, then truncation).
pub fn default_renew_before(d: Duration) -> Duration {
    let nanos = d.whole_nanoseconds() as f64 * 0.2;
    Duration::nanoseconds(nanos as i64)
}

/// The effective lifetimes virt-operator uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// CA lifetime (also the export and backup CAs').
    #[serde(with = "go_duration")]
    pub ca_duration: Duration,
    /// CA renewBefore, also the `kubevirt-ca` bundle overlap.
    #[serde(with = "go_duration")]
    pub ca_renew_before: Duration,
    /// Leaf lifetime.
    #[serde(with = "go_duration")]
    pub cert_duration: Duration,
    /// Leaf renewBefore (also the export/backup CA renewBefore and bundle overlap).
    #[serde(with = "go_duration")]
    pub cert_renew_before: Duration,
}

mod go_duration {
    use serde::Serializer;
    use time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&crate::duration::format_go_duration(*d))
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::from_config(None)
    }
}

impl Schedule {
    /// Effective values, by precedence:
    /// CA duration `caRotateInterval` > `ca.duration` > 168h;
    /// CA renewBefore `caOverlapInterval` > `ca.renewBefore` > 0.2 × CA duration;
    /// leaf duration `certRotateInterval` > `server.duration` > 24h;
    /// leaf renewBefore `server.renewBefore` > 0.2 × leaf duration.
    pub fn from_config(config: Option<&SelfSignConfiguration>) -> Self {
        let empty = SelfSignConfiguration::default();
        let c = config.unwrap_or(&empty);
        let ca = c.ca.as_ref();
        let server = c.server.as_ref();
        let ca_duration = c
            .ca_rotate_interval
            .or_else(|| ca.and_then(|x| x.duration))
            .map_or(DEFAULT_CA_DURATION, |d| d.0);
        let ca_renew_before = c
            .ca_overlap_interval
            .or_else(|| ca.and_then(|x| x.renew_before))
            .map_or_else(|| default_renew_before(ca_duration), |d| d.0);
        let cert_duration = c
            .cert_rotate_interval
            .or_else(|| server.and_then(|x| x.duration))
            .map_or(DEFAULT_CERT_DURATION, |d| d.0);
        let cert_renew_before = server
            .and_then(|x| x.renew_before)
            .map_or_else(|| default_renew_before(cert_duration), |d| d.0);
        Schedule {
            ca_duration,
            ca_renew_before,
            cert_duration,
            cert_renew_before,
        }
    }

    /// Effective values from the whole `certificateRotateStrategy`.
    pub fn from_strategy(strategy: &CertificateRotateStrategy) -> Self {
        Self::from_config(strategy.self_signed.as_ref())
    }

    /// renewBefore of a CA: the CA value for `kubevirt-ca`; the leaf value for the export and
    /// backup CAs (KubeVirt's quirk).
    pub fn ca_renew_before_for(&self, kind: CaKind) -> Duration {
        match kind {
            CaKind::KubeVirt => self.ca_renew_before,
            CaKind::Export | CaKind::Backup => self.cert_renew_before,
        }
    }

    /// Bundle overlap window of a CA's ConfigMap (same as its renewBefore).
    pub fn bundle_overlap_for(&self, kind: CaKind) -> Duration {
        self.ca_renew_before_for(kind)
    }

    /// Lifetime of the certificate in `secret`.
    pub fn duration_for(&self, secret: &SecretTemplate) -> Duration {
        match secret.kind {
            CertKind::Ca => self.ca_duration,
            CertKind::Server | CertKind::Client => self.cert_duration,
        }
    }

    /// renewBefore of the certificate in `secret`.
    pub fn renew_before_for(&self, secret: &SecretTemplate) -> Duration {
        match secret.ca_kind() {
            Some(kind) => self.ca_renew_before_for(kind),
            None => self.cert_renew_before,
        }
    }
}

/// Kind of a validation cause, as Kubernetes names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CauseType {
    /// `FieldValueNotSupported`.
    FieldValueNotSupported,
    /// `FieldValueInvalid`.
    FieldValueInvalid,
}

/// One reason the webhook rejects the settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationCause {
    /// Cause type.
    #[serde(rename = "type")]
    pub cause_type: CauseType,
    /// Message, verbatim from KubeVirt.
    pub message: String,
}

/// Message when deprecated and current fields are mixed.
pub const MSG_DEPRECATED_MIXED: &str = "caRotateInterval, certRotateInterval and caOverlapInterval are deprecated and conflict with CertConfig defined rotation parameters";
/// Message when the CA renewBefore exceeds the CA duration.
pub const MSG_CA_RENEW_BEFORE: &str = "CA RenewBefore cannot exceed Duration (spec.certificateRotationStrategy.selfSigned.ca.duration < spec.certificateRotationStrategy.selfSigned.ca.renewBefore)";
/// Message when the leaf renewBefore exceeds the leaf duration.
pub const MSG_CERT_RENEW_BEFORE: &str = "Cert RenewBefore cannot exceed Duration (spec.certificateRotationStrategy.selfSigned.server.duration < spec.certificateRotationStrategy.selfSigned.server.renewBefore)";
/// Message when the leaf duration exceeds the CA duration.
pub const MSG_CERT_EXCEEDS_CA: &str = "Certificate duration cannot exceed CA (spec.certificateRotationStrategy.selfSigned.server.duration > spec.certificateRotationStrategy.selfSigned.ca.duration)";

/// Validates the settings as the operator webhook does on KubeVirt UPDATE. Mixing deprecated
/// (`caRotateInterval`, `certRotateInterval`, `caOverlapInterval`) and current (`ca`, `server`)
/// fields is reported alone (assumption: the duration checks are not run then); otherwise the
/// effective values are checked: CA duration ≥ CA renewBefore, leaf duration ≥ leaf
/// renewBefore, leaf duration ≤ CA duration. An empty result means valid.
pub fn validate(config: &SelfSignConfiguration) -> Vec<ValidationCause> {
    let deprecated = config.ca_rotate_interval.is_some()
        || config.cert_rotate_interval.is_some()
        || config.ca_overlap_interval.is_some();
    let current = config.ca.is_some() || config.server.is_some();
    if deprecated && current {
        return vec![ValidationCause {
            cause_type: CauseType::FieldValueNotSupported,
            message: MSG_DEPRECATED_MIXED.to_string(),
        }];
    }
    let s = Schedule::from_config(Some(config));
    let mut causes = Vec::new();
    let mut invalid = |bad: bool, message: &str| {
        if bad {
            causes.push(ValidationCause {
                cause_type: CauseType::FieldValueInvalid,
                message: message.to_string(),
            });
        }
    };
    invalid(s.ca_duration < s.ca_renew_before, MSG_CA_RENEW_BEFORE);
    invalid(s.cert_duration < s.cert_renew_before, MSG_CERT_RENEW_BEFORE);
    invalid(s.cert_duration > s.ca_duration, MSG_CERT_EXCEEDS_CA);
    causes
}

/// Lifetimes given explicitly (e.g. on a command line), to apply over stored settings with
/// [`SelfSignConfiguration::with_overrides`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DurationOverrides {
    /// CA lifetime (`ca.duration`).
    pub ca_duration: Option<GoDuration>,
    /// CA renewBefore (also the `kubevirt-ca` bundle overlap).
    pub ca_renew_before: Option<GoDuration>,
    /// Component certificate lifetime (`server.duration`).
    pub cert_duration: Option<GoDuration>,
    /// Component certificate renewBefore.
    pub cert_renew_before: Option<GoDuration>,
}

/// Settings the operator webhook would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid durations: {}", .0.iter().map(|c| c.message.as_str()).collect::<Vec<_>>().join("; "))]
pub struct InvalidSettings(pub Vec<ValidationCause>);

impl SelfSignConfiguration {
    /// These settings with `o` applied, in the current (`ca` / `server`) fields, checked as the
    /// operator webhook would. The effective durations are kept unless overridden; an explicit
    /// renewBefore is kept unless overridden, while a defaulted one follows the (possibly new)
    /// duration.
    pub fn with_overrides(
        &self,
        o: &DurationOverrides,
    ) -> Result<SelfSignConfiguration, InvalidSettings> {
        let effective = Schedule::from_config(Some(self));
        let ca_renew_before = o.ca_renew_before.or(self
            .ca_overlap_interval
            .or_else(|| self.ca.as_ref().and_then(|c| c.renew_before)));
        let cert_renew_before = o
            .cert_renew_before
            .or(self.server.as_ref().and_then(|c| c.renew_before));
        let config = SelfSignConfiguration {
            ca: Some(CertConfig {
                duration: Some(o.ca_duration.unwrap_or(GoDuration(effective.ca_duration))),
                renew_before: ca_renew_before,
            }),
            server: Some(CertConfig {
                duration: Some(
                    o.cert_duration
                        .unwrap_or(GoDuration(effective.cert_duration)),
                ),
                renew_before: cert_renew_before,
            }),
            ..SelfSignConfiguration::default()
        };
        let causes = validate(&config);
        if causes.is_empty() {
            Ok(config)
        } else {
            Err(InvalidSettings(causes))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let s = Schedule::default();
        assert_eq!(s.ca_duration, Duration::hours(168));
        assert_eq!(s.ca_renew_before, Duration::minutes(33 * 60 + 36));
        assert_eq!(s.cert_duration, Duration::hours(24));
        assert_eq!(s.cert_renew_before, Duration::minutes(4 * 60 + 48));
        assert_eq!(
            s.ca_renew_before_for(CaKind::Export),
            Duration::minutes(288)
        );
        assert_eq!(s.bundle_overlap_for(CaKind::KubeVirt), s.ca_renew_before);
    }

    #[test]
    fn default_renew_before_truncates_like_go() {
        assert_eq!(
            default_renew_before(Duration::nanoseconds(7)),
            Duration::nanoseconds(1)
        );
        assert_eq!(
            default_renew_before(Duration::hours(48)),
            Duration::minutes(48 * 12)
        );
    }
}
