//! `problems(...)` for secrets: a healthy secret has none; each defect is reported.

mod common;

use common::{ca_at, fixture, leaf, T0};
use time::Duration;
use virtguard_pki::{
    issue_ca, problems, to_pem_bundle, CaKind, CheckContext, DeadlineRule, ExtKeyUsage,
    KeyAlgorithm, KeyHolder, Problem, Schedule, SecretInput,
};

const API: &str = "kubevirt-virt-api-certs";

fn ctx<'a>(bundle: Option<&'a str>, now: time::OffsetDateTime) -> CheckContext<'a> {
    CheckContext {
        namespace: "kubevirt",
        schedule: Schedule::default(),
        ca_bundle_pem: bundle,
        current_ca_pem: None,
        now,
    }
}

fn input<'a>(name: &'a str, cert: &'a str, key: &'a str) -> SecretInput<'a> {
    SecretInput {
        name,
        cert_pem: cert,
        key_pem: Some(key),
        duration_annotation: None,
    }
}

#[test]
fn healthy_leaf_and_ca_have_no_problems() {
    let (ca_cert, ca) = ca_at(T0, 168);
    let now = T0 + Duration::hours(1);
    let l = leaf(&ca, API, now, 24);
    let bundle = ca_cert.cert_pem.clone();
    let mut secret = input(API, &l.cert_pem, &l.key_pem);
    secret.duration_annotation = Some("24h0m0s");
    assert_eq!(problems(&secret, &ctx(Some(&bundle), now)), []);
    let ca_secret = input("kubevirt-ca", &ca_cert.cert_pem, &ca_cert.key_pem);
    assert_eq!(problems(&ca_secret, &ctx(Some(&bundle), now)), []);
    let export = issue_ca(CaKind::Export, T0, Duration::hours(168)).unwrap();
    let export_secret = input("kubevirt-export-ca", &export.cert_pem, &export.key_pem);
    assert_eq!(
        problems(&export_secret, &ctx(Some(&export.cert_pem), now)),
        []
    );
}

#[test]
fn expired_not_yet_valid_and_rotation_due() {
    let (ca_cert, ca) = ca_at(T0, 168);
    let l = leaf(&ca, API, T0, 24);
    let secret = input(API, &l.cert_pem, &l.key_pem);
    let bundle = Some(ca_cert.cert_pem.as_str());
    let after = T0 + Duration::hours(25);
    assert_eq!(
        problems(&secret, &ctx(bundle, after)),
        [Problem::Expired {
            not_after: T0 + Duration::hours(24)
        }]
    );
    let before = T0 - Duration::hours(1);
    assert_eq!(
        problems(&secret, &ctx(bundle, before)),
        [Problem::NotYetValid { not_before: T0 }]
    );
    // Renewal point: NotAfter − 4h48m.
    let due = T0 + Duration::hours(24) - Duration::minutes(288);
    assert_eq!(
        problems(&secret, &ctx(bundle, due - Duration::seconds(1))),
        []
    );
    match problems(&secret, &ctx(bundle, due)).as_slice() {
        [Problem::RotationDue { deadline }] => {
            assert_eq!(deadline.at, due);
            assert_eq!(deadline.rule, DeadlineRule::RenewBefore);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn leaf_of_a_superseded_ca_is_due_now() {
    let (old_cert, old) = ca_at(T0, 168);
    let (new_cert, _) = ca_at(T0 + Duration::hours(5), 168);
    let l = leaf(&old, API, T0, 24);
    let bundle = to_pem_bundle([&new_cert.certificate, &old_cert.certificate]);
    let now = T0 + Duration::hours(6);
    let mut c = ctx(Some(&bundle), now);
    assert_eq!(
        problems(&input(API, &l.cert_pem, &l.key_pem), &c),
        [],
        "without the current CA, the bundle issuer is used"
    );
    c.current_ca_pem = Some(&new_cert.cert_pem);
    match problems(&input(API, &l.cert_pem, &l.key_pem), &c).as_slice() {
        [Problem::RotationDue { deadline }] => assert_eq!(
            (deadline.at, deadline.rule),
            (now, DeadlineRule::NotVerifiedByCa)
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn identity_problems() {
    let (ca_cert, ca) = ca_at(T0, 168);
    let bundle = Some(ca_cert.cert_pem.as_str());
    // The controller's certificate stored under virt-api's secret name.
    let l = leaf(&ca, "kubevirt-controller-certs", T0, 24);
    let found = problems(&input(API, &l.cert_pem, &l.key_pem), &ctx(bundle, T0));
    assert_eq!(
        found,
        [
            Problem::WrongCommonName {
                expected: "virt-api.kubevirt.pod.cluster.local".into(),
                found: Some("virt-controller.kubevirt.pod.cluster.local".into()),
            },
            Problem::WrongDnsNames {
                expected: vec![
                    "virt-api".into(),
                    "virt-api.kubevirt".into(),
                    "virt-api.kubevirt.svc".into(),
                    "virt-api.kubevirt.svc.cluster.local".into()
                ],
                found: vec![
                    "virt-controller".into(),
                    "virt-controller.kubevirt".into(),
                    "virt-controller.kubevirt.svc".into(),
                    "virt-controller.kubevirt.svc.cluster.local".into()
                ],
            },
        ]
    );
    assert_eq!(found[0].to_string(), "common name is virt-controller.kubevirt.pod.cluster.local, expected virt-api.kubevirt.pod.cluster.local");
    // A client certificate where a server certificate belongs.
    let client = leaf(&ca, "kubevirt-virt-handler-certs", T0, 24);
    let found = problems(
        &input(
            "kubevirt-virt-handler-server-certs",
            &client.cert_pem,
            &client.key_pem,
        ),
        &ctx(bundle, T0),
    );
    assert!(
        found.contains(&Problem::WrongExtKeyUsage {
            expected: vec![ExtKeyUsage::ServerAuth],
            found: vec![ExtKeyUsage::ClientAuth]
        }),
        "{found:?}"
    );
    assert!(found.contains(&Problem::WrongCommonName {
        expected: "kubevirt.io:system:node:virt-handler".into(),
        found: Some("kubevirt.io:system:client:virt-handler".into())
    }));
    // A leaf stored as the CA; a CA of the wrong kind.
    let found = problems(
        &input("kubevirt-ca", &l.cert_pem, &l.key_pem),
        &ctx(None, T0),
    );
    assert!(found.contains(&Problem::WrongCaFlag { expected_ca: true }));
    assert!(found.contains(&Problem::WrongCommonName {
        expected: "kubevirt.io@<unix seconds>".into(),
        found: Some("virt-controller.kubevirt.pod.cluster.local".into())
    }));
    let backup = issue_ca(CaKind::Backup, T0, Duration::hours(168)).unwrap();
    let found = problems(
        &input("kubevirt-ca", &backup.cert_pem, &backup.key_pem),
        &ctx(None, T0),
    );
    assert_eq!(
        found,
        [Problem::WrongCommonName {
            expected: "kubevirt.io@<unix seconds>".into(),
            found: backup.certificate.common_name().map(str::to_string)
        }]
    );
}

#[test]
fn key_problems() {
    let (ca_cert, ca) = ca_at(T0, 168);
    let a = leaf(&ca, API, T0, 24);
    let b = leaf(&ca, API, T0, 24);
    let bundle = Some(ca_cert.cert_pem.as_str());
    // A withheld key (a live read keeps private keys out) is not a key problem: only the
    // certificate is checked.
    let withheld = SecretInput {
        key_pem: None,
        ..input(API, &a.cert_pem, &b.key_pem)
    };
    assert_eq!(problems(&withheld, &ctx(bundle, T0)), []);
    let expired_withheld = SecretInput {
        key_pem: None,
        ..input(API, &a.cert_pem, "")
    };
    assert!(matches!(
        problems(&expired_withheld, &ctx(bundle, T0 + Duration::hours(48)))[..],
        [Problem::Expired { .. }, ..]
    ));
    assert_eq!(
        problems(&input(API, &a.cert_pem, &b.key_pem), &ctx(bundle, T0)),
        [Problem::KeyMismatch]
    );
    let found = problems(&input(API, &a.cert_pem, "garbage"), &ctx(bundle, T0));
    assert!(
        matches!(found.as_slice(), [Problem::KeyUnreadable { .. }]),
        "{found:?}"
    );
    // An RSA pair (openssl fixture) under virt-api's name.
    let (crt, key) = (fixture("rsa.crt"), fixture("rsa.key"));
    let rsa_now = virtguard_pki::Certificate::from_pem(&crt)
        .unwrap()
        .not_before();
    let found = problems(&input(API, &crt, &key), &ctx(bundle, rsa_now));
    assert_eq!(
        found,
        [
            Problem::WrongKeyType {
                holder: KeyHolder::Certificate,
                found: KeyAlgorithm::Rsa { bits: 2048 }
            },
            Problem::WrongKeyType {
                holder: KeyHolder::Key,
                found: KeyAlgorithm::Rsa { bits: 2048 }
            },
            // `openssl req -x509` marks its certificate CA:TRUE.
            Problem::WrongCaFlag { expected_ca: false },
            Problem::CaMissingFromBundle {
                issuer: Some("virt-api.kubevirt.pod.cluster.local".into())
            },
        ]
    );
    assert_eq!(
        found[0].to_string(),
        "certificate key is RSA 2048, expected ECDSA P-256"
    );
}

#[test]
fn bundle_problems() {
    let (ca_cert, ca) = ca_at(T0, 168);
    let (other, _) = ca_at(T0 + Duration::seconds(1), 168);
    let l = leaf(&ca, API, T0, 24);
    let found = problems(
        &input(API, &l.cert_pem, &l.key_pem),
        &ctx(Some(&other.cert_pem), T0),
    );
    assert_eq!(
        found,
        [Problem::CaMissingFromBundle {
            issuer: ca_cert.certificate.common_name().map(str::to_string)
        }]
    );
    let found = problems(
        &input("kubevirt-ca", &ca_cert.cert_pem, &ca_cert.key_pem),
        &ctx(Some(&other.cert_pem), T0),
    );
    assert!(matches!(
        found.as_slice(),
        [Problem::CaMissingFromBundle { .. }]
    ));

    let many: Vec<_> = (0..51)
        .map(|i| ca_at(T0 + Duration::seconds(i + 2), 168).0.certificate)
        .collect();
    let big = to_pem_bundle(std::iter::once(&ca_cert.certificate).chain(many.iter()));
    assert_eq!(
        problems(&input(API, &l.cert_pem, &l.key_pem), &ctx(Some(&big), T0)),
        [Problem::BundleTooLarge { count: 52, max: 50 }]
    );

    let truncated = &ca_cert.cert_pem[..ca_cert.cert_pem.len() - 40];
    let found = problems(
        &input(API, &l.cert_pem, &l.key_pem),
        &ctx(Some(truncated), T0),
    );
    assert!(
        matches!(found.as_slice(), [Problem::BundleUnreadable { .. }]),
        "{found:?}"
    );
}

#[test]
fn unknown_secret_unreadable_cert_and_annotation() {
    let (ca_cert, ca) = ca_at(T0, 168);
    let l = leaf(&ca, API, T0, 24);
    let found = problems(
        &input("my-secret", &l.cert_pem, &l.key_pem),
        &ctx(Some(&ca_cert.cert_pem), T0),
    );
    assert_eq!(
        found,
        [Problem::UnknownSecret {
            name: "my-secret".into()
        }]
    );
    let found = problems(&input(API, "", ""), &ctx(None, T0));
    assert!(
        matches!(
            found.as_slice(),
            [
                Problem::CertificateUnreadable { .. },
                Problem::KeyUnreadable { .. }
            ]
        ),
        "{found:?}"
    );
    let mut s = input(API, &l.cert_pem, &l.key_pem);
    s.duration_annotation = Some("48h0m0s");
    assert_eq!(
        problems(&s, &ctx(None, T0)),
        [Problem::DurationAnnotationMismatch {
            found: "48h0m0s".into(),
            desired: "24h0m0s".into()
        }]
    );
}

#[test]
fn problems_serialize_to_json() {
    let v = serde_json::to_value(Problem::Expired { not_after: T0 }).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"problem": "expired", "notAfter": "2024-05-01T00:00:00Z"})
    );
    let v = serde_json::to_value(Problem::WrongKeyType {
        holder: KeyHolder::Key,
        found: KeyAlgorithm::Rsa { bits: 2048 },
    })
    .unwrap();
    assert_eq!(
        v,
        serde_json::json!({"problem": "wrong_key_type", "holder": "key", "found": {"type": "rsa", "bits": 2048}})
    );
    assert_eq!(
        serde_json::to_value(Problem::KeyMismatch).unwrap(),
        serde_json::json!({"problem": "key_mismatch"})
    );
}
