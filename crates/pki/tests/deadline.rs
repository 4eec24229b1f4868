//! The rotation deadline rule and the regenerate-or-keep decision, at chosen instants.

mod common;

use common::{ca_at, leaf, T0};
use time::Duration;
use virtguard_pki::{
    rotation_deadline, secret_decision, DeadlineRule, ExistingSecret, RegenerateReason,
    SecretDecision,
};

const API: &str = "kubevirt-virt-api-certs";

#[test]
fn renew_before_rule() {
    let (_, ca) = ca_at(T0, 168);
    let now = T0 + Duration::hours(10);
    let cert = leaf(&ca, API, now, 24).certificate;
    let d = rotation_deadline(
        &cert,
        Some(ca.certificate()),
        Duration::hours(4),
        Some(Duration::hours(33)),
        now,
    );
    assert_eq!(d.rule, DeadlineRule::RenewBefore);
    assert_eq!(d.at, T0 + Duration::hours(10 + 24 - 4));
    assert!(!d.is_due(now));
    assert!(!d.is_due(d.at - Duration::seconds(1)));
    assert!(d.is_due(d.at));
    assert_eq!(d.requeue_after(now), Duration::hours(20));
    assert_eq!(d.requeue_after(d.at + Duration::hours(1)), Duration::ZERO);
    // Without a CA the same rule applies.
    let d = rotation_deadline(&cert, None, Duration::hours(4), None, now);
    assert_eq!(
        (d.at, d.rule),
        (T0 + Duration::hours(30), DeadlineRule::RenewBefore)
    );
}

#[test]
fn leaf_signed_by_an_old_ca_rotates_now() {
    let (_, old) = ca_at(T0, 168);
    let (_, new) = ca_at(T0 + Duration::hours(50), 168);
    let cert = leaf(&old, API, T0 + Duration::hours(40), 24).certificate;
    let now = T0 + Duration::hours(51);
    let d = rotation_deadline(
        &cert,
        Some(new.certificate()),
        Duration::hours(4),
        Some(Duration::hours(33)),
        now,
    );
    assert_eq!((d.at, d.rule), (now, DeadlineRule::NotVerifiedByCa));
    assert!(d.is_due(now));
    // Against the CA that signed it the normal rule applies.
    let d = rotation_deadline(
        &cert,
        Some(old.certificate()),
        Duration::hours(4),
        Some(Duration::hours(33)),
        now,
    );
    assert_eq!(
        (d.at, d.rule),
        (T0 + Duration::hours(60), DeadlineRule::RenewBefore)
    );
}

#[test]
fn expired_leaf_does_not_verify_so_rotates_now() {
    let (_, ca) = ca_at(T0, 168);
    let cert = leaf(&ca, API, T0, 24).certificate;
    let now = T0 + Duration::hours(25);
    let d = rotation_deadline(&cert, Some(ca.certificate()), Duration::hours(4), None, now);
    assert_eq!((d.at, d.rule), (now, DeadlineRule::NotVerifiedByCa));
}

#[test]
fn ca_expiring_first() {
    // CA valid 48h; leaf issued at +40h for 24h ends at +64h, after the CA (+48h).
    let (_, ca) = ca_at(T0, 48);
    let now = T0 + Duration::hours(40);
    let cert = leaf(&ca, API, now, 24).certificate;
    assert!(ca.certificate().not_after() < cert.not_after());
    let d = rotation_deadline(
        &cert,
        Some(ca.certificate()),
        Duration::hours(4),
        Some(Duration::hours(10)),
        now,
    );
    assert_eq!(
        (d.at, d.rule),
        (T0 + Duration::hours(48 - 5), DeadlineRule::CaExpiresFirst)
    );
    // Odd renewBefore: half of 3h is 1h30m.
    let d = rotation_deadline(
        &cert,
        Some(ca.certificate()),
        Duration::hours(4),
        Some(Duration::hours(3)),
        now,
    );
    assert_eq!(d.at, T0 + Duration::minutes(48 * 60 - 90));
    // Without a CA renewBefore: the CA's NotAfter.
    let d = rotation_deadline(&cert, Some(ca.certificate()), Duration::hours(4), None, now);
    assert_eq!(
        (d.at, d.rule),
        (T0 + Duration::hours(48), DeadlineRule::CaExpiresFirst)
    );
    // A CA outliving the leaf does not change the rule.
    let early = leaf(&ca, API, T0, 24).certificate;
    let d = rotation_deadline(
        &early,
        Some(ca.certificate()),
        Duration::hours(4),
        Some(Duration::hours(10)),
        T0,
    );
    assert_eq!(d.rule, DeadlineRule::RenewBefore);
}

#[test]
fn ca_secret_deadline_uses_its_own_renew_before() {
    let (issued, _) = ca_at(T0, 168);
    let d = rotation_deadline(&issued.certificate, None, Duration::minutes(2016), None, T0);
    assert_eq!(
        (d.at, d.rule),
        (
            T0 + Duration::hours(168) - Duration::minutes(2016),
            DeadlineRule::RenewBefore
        )
    );
}

#[test]
fn decision_order_and_outcomes() {
    let (_, ca) = ca_at(T0, 168);
    let now = T0 + Duration::hours(1);
    let issued = leaf(&ca, API, now, 24);
    let rb = Duration::hours(4);
    let decide = |secret: Option<&ExistingSecret<'_>>, at| {
        secret_decision(
            secret,
            Duration::hours(24),
            Some(ca.certificate()),
            rb,
            Some(Duration::hours(33)),
            at,
        )
    };
    assert_eq!(
        decide(None, now),
        SecretDecision::Regenerate {
            reason: RegenerateReason::Missing
        }
    );

    let blank = ExistingSecret {
        cert_pem: "",
        key_pem: "",
        duration_annotation: Some("24h0m0s"),
    };
    assert!(matches!(
        decide(Some(&blank), now),
        SecretDecision::Regenerate {
            reason: RegenerateReason::Unloadable { .. }
        }
    ));

    let other = leaf(&ca, API, now, 24);
    let mismatched = ExistingSecret {
        cert_pem: &issued.cert_pem,
        key_pem: &other.key_pem,
        duration_annotation: Some("24h0m0s"),
    };
    match decide(Some(&mismatched), now) {
        SecretDecision::Regenerate {
            reason: RegenerateReason::Unloadable { error },
        } => {
            assert_eq!(
                error,
                "private key does not match the certificate's public key"
            );
        }
        other => panic!("{other:?}"),
    }

    let wrong_dur = ExistingSecret {
        cert_pem: &issued.cert_pem,
        key_pem: &issued.key_pem,
        duration_annotation: Some("24h"),
    };
    assert_eq!(
        decide(Some(&wrong_dur), now),
        SecretDecision::Regenerate {
            reason: RegenerateReason::DurationChanged {
                found: Some("24h".into()),
                desired: "24h0m0s".into()
            }
        }
    );

    let good = ExistingSecret {
        cert_pem: &issued.cert_pem,
        key_pem: &issued.key_pem,
        duration_annotation: Some("24h0m0s"),
    };
    match decide(Some(&good), now) {
        SecretDecision::Keep { deadline } => assert_eq!(deadline.at, now + Duration::hours(20)),
        other => panic!("{other:?}"),
    }
    match decide(Some(&good), now + Duration::hours(20)) {
        SecretDecision::Regenerate {
            reason: RegenerateReason::DeadlinePassed { deadline },
        } => {
            assert_eq!(deadline.rule, DeadlineRule::RenewBefore);
        }
        other => panic!("{other:?}"),
    }
    let json = serde_json::to_value(decide(None, now)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"decision": "regenerate", "reason": "missing"})
    );
}

#[test]
fn extreme_renew_before_saturates_instead_of_panicking() {
    let (_, ca) = ca_at(T0, 168);
    let cert = leaf(&ca, API, T0, 24).certificate;
    let d = rotation_deadline(
        &cert,
        Some(ca.certificate()),
        Duration::MAX,
        Some(Duration::MAX),
        T0,
    );
    assert_eq!(d.rule, DeadlineRule::RenewBefore);
    assert!(d.is_due(T0));
    let d = rotation_deadline(&cert, None, Duration::MIN, None, T0);
    assert!(!d.is_due(T0));
}
