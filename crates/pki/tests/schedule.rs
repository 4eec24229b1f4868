//! Rotation settings: precedence, defaults, Go durations in the CR, validation messages.

use time::Duration;
use virtguard_pki::schedule::{
    default_renew_before, CauseType, MSG_CA_RENEW_BEFORE, MSG_CERT_EXCEEDS_CA,
    MSG_CERT_RENEW_BEFORE, MSG_DEPRECATED_MIXED,
};
use virtguard_pki::{
    secret_template, validate, CaKind, CertConfig, CertificateRotateStrategy, GoDuration, Schedule,
    SelfSignConfiguration,
};

fn h(n: i64) -> Option<GoDuration> {
    Some(GoDuration::hours(n))
}

fn cfg(json: &str) -> SelfSignConfiguration {
    serde_json::from_str(json).unwrap()
}

#[test]
fn defaults_when_unset() {
    let s = Schedule::from_config(None);
    assert_eq!(s.ca_duration, Duration::hours(168));
    assert_eq!(s.ca_renew_before, Duration::minutes(2016)); // 33h36m
    assert_eq!(s.cert_duration, Duration::hours(24));
    assert_eq!(s.cert_renew_before, Duration::minutes(288)); // 4h48m
    assert_eq!(
        Schedule::from_config(Some(&SelfSignConfiguration::default())),
        s
    );
    assert_eq!(
        serde_json::to_value(s).unwrap(),
        serde_json::json!({"caDuration": "168h0m0s", "caRenewBefore": "33h36m0s",
            "certDuration": "24h0m0s", "certRenewBefore": "4h48m0s"})
    );
}

#[test]
fn renew_before_defaults_follow_the_effective_duration() {
    let s = Schedule::from_config(Some(&cfg(
        r#"{"ca": {"duration": "48h"}, "server": {"duration": "10h"}}"#,
    )));
    assert_eq!(s.ca_duration, Duration::hours(48));
    assert_eq!(s.ca_renew_before, Duration::minutes(48 * 12));
    assert_eq!(s.cert_duration, Duration::hours(10));
    assert_eq!(s.cert_renew_before, Duration::hours(2));
    // Deprecated interval drives the default too.
    let s = Schedule::from_config(Some(&cfg(
        r#"{"caRotateInterval": "100h", "certRotateInterval": "5h"}"#,
    )));
    assert_eq!(s.ca_renew_before, Duration::hours(20));
    assert_eq!(s.cert_renew_before, Duration::hours(1));
    assert_eq!(default_renew_before(Duration::hours(5)), Duration::hours(1));
}

#[test]
fn deprecated_fields_take_priority() {
    let c = SelfSignConfiguration {
        ca: Some(CertConfig {
            duration: h(48),
            renew_before: h(24),
        }),
        server: Some(CertConfig {
            duration: h(24),
            renew_before: h(12),
        }),
        ca_rotate_interval: h(100),
        cert_rotate_interval: h(30),
        ca_overlap_interval: h(7),
    };
    let s = Schedule::from_config(Some(&c));
    assert_eq!(s.ca_duration, Duration::hours(100));
    assert_eq!(s.ca_renew_before, Duration::hours(7));
    assert_eq!(s.cert_duration, Duration::hours(30));
    // No deprecated field for the leaf renewBefore: server.renewBefore still wins.
    assert_eq!(s.cert_renew_before, Duration::hours(12));
}

#[test]
fn current_fields_beat_defaults() {
    let s = Schedule::from_config(Some(&cfg(
        r#"{"ca": {"duration": "48h", "renewBefore": "24h"}, "server": {"duration": "24h0m0s", "renewBefore": "12h"}}"#,
    )));
    assert_eq!(
        (
            s.ca_duration,
            s.ca_renew_before,
            s.cert_duration,
            s.cert_renew_before
        ),
        (
            Duration::hours(48),
            Duration::hours(24),
            Duration::hours(24),
            Duration::hours(12)
        )
    );
}

#[test]
fn export_and_backup_ca_use_the_leaf_renew_before() {
    let s = Schedule::from_config(Some(&cfg(
        r#"{"ca": {"renewBefore": "50h"}, "server": {"renewBefore": "3h"}}"#,
    )));
    assert_eq!(s.ca_renew_before_for(CaKind::KubeVirt), Duration::hours(50));
    assert_eq!(s.ca_renew_before_for(CaKind::Export), Duration::hours(3));
    assert_eq!(s.bundle_overlap_for(CaKind::Backup), Duration::hours(3));
    let export = secret_template("kubevirt-export-ca").unwrap();
    assert_eq!(s.duration_for(export), Duration::hours(168));
    assert_eq!(s.renew_before_for(export), Duration::hours(3));
    let api = secret_template("kubevirt-virt-api-certs").unwrap();
    assert_eq!(s.duration_for(api), Duration::hours(24));
    assert_eq!(s.renew_before_for(api), Duration::hours(3));
}

#[test]
fn strategy_from_cr_json() {
    let st: CertificateRotateStrategy =
        serde_json::from_str(r#"{"selfSigned": {"ca": {"duration": "1h30m"}}}"#).unwrap();
    assert_eq!(
        Schedule::from_strategy(&st).ca_duration,
        Duration::minutes(90)
    );
    let err = serde_json::from_str::<CertificateRotateStrategy>(
        r#"{"selfSigned": {"ca": {"duration": "7d"}}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("time: unknown unit \"d\" in duration \"7d\""),
        "{err}"
    );
}

#[test]
fn validation_messages_verbatim() {
    assert!(validate(&SelfSignConfiguration::default()).is_empty());

    let mixed = validate(&cfg(
        r#"{"caRotateInterval": "48h", "server": {"duration": "24h"}}"#,
    ));
    assert_eq!(mixed.len(), 1);
    assert_eq!(mixed[0].cause_type, CauseType::FieldValueNotSupported);
    assert_eq!(
        mixed[0].message,
        "caRotateInterval, certRotateInterval and caOverlapInterval are deprecated and conflict with CertConfig defined rotation parameters"
    );
    assert_eq!(mixed[0].message, MSG_DEPRECATED_MIXED);

    let ca = validate(&cfg(r#"{"ca": {"duration": "48h", "renewBefore": "49h"}}"#));
    assert_eq!(ca.len(), 1);
    assert_eq!(ca[0].cause_type, CauseType::FieldValueInvalid);
    assert_eq!(
        ca[0].message,
        "CA RenewBefore cannot exceed Duration (spec.certificateRotationStrategy.selfSigned.ca.duration < spec.certificateRotationStrategy.selfSigned.ca.renewBefore)"
    );

    let cert = validate(&cfg(
        r#"{"server": {"duration": "10h", "renewBefore": "11h"}}"#,
    ));
    assert_eq!(
        cert.iter().map(|c| c.message.as_str()).collect::<Vec<_>>(),
        ["Cert RenewBefore cannot exceed Duration (spec.certificateRotationStrategy.selfSigned.server.duration < spec.certificateRotationStrategy.selfSigned.server.renewBefore)"]
    );

    let longer = validate(&cfg(
        r#"{"ca": {"duration": "24h"}, "server": {"duration": "25h"}}"#,
    ));
    assert_eq!(
        longer.iter().map(|c| c.message.as_str()).collect::<Vec<_>>(),
        ["Certificate duration cannot exceed CA (spec.certificateRotationStrategy.selfSigned.server.duration > spec.certificateRotationStrategy.selfSigned.ca.duration)"]
    );

    // Several at once, in order; equal values are allowed.
    let all = validate(&cfg(
        r#"{"ca": {"duration": "10h", "renewBefore": "11h"}, "server": {"duration": "20h", "renewBefore": "21h"}}"#,
    ));
    assert_eq!(
        all.iter().map(|c| c.message.as_str()).collect::<Vec<_>>(),
        [
            MSG_CA_RENEW_BEFORE,
            MSG_CERT_RENEW_BEFORE,
            MSG_CERT_EXCEEDS_CA
        ]
    );
    assert!(validate(&cfg(r#"{"ca": {"duration": "24h", "renewBefore": "24h"}, "server": {"duration": "24h", "renewBefore": "24h"}}"#)).is_empty());
    // Deprecated-only settings are validated on their effective values.
    let dep = validate(&cfg(
        r#"{"caRotateInterval": "10h", "caOverlapInterval": "11h"}"#,
    ));
    assert_eq!(
        dep.iter().map(|c| c.message.as_str()).collect::<Vec<_>>(),
        [MSG_CA_RENEW_BEFORE, MSG_CERT_EXCEEDS_CA]
    );
    assert_eq!(
        serde_json::to_value(&dep[0]).unwrap()["type"],
        "FieldValueInvalid"
    );
}
