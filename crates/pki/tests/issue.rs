//! Issuing every managed certificate and checking it against the reference table.

mod common;

use common::{ca_at, T0};
use time::Duration;
use virtguard_pki::{
    inspect_pem, issue_ca, problems, CaKind, CertKind, CheckContext, ExtKeyUsage, KeyAlgorithm,
    KeyUsage, Schedule, SecretInput, SECRETS,
};

#[test]
fn every_secret_issues_healthy_in_a_custom_namespace() {
    let ns = "virt-system";
    let schedule = Schedule::default();
    let (ca_cert, ca) = ca_at(T0, 168);
    let now = T0 + Duration::hours(3);
    for t in SECRETS {
        let issued = match t.ca_kind() {
            Some(kind) => issue_ca(kind, now, schedule.duration_for(t)).unwrap(),
            None => ca
                .issue(&t.resolve(ns), now, schedule.duration_for(t))
                .unwrap(),
        };
        let s = issued.certificate.summary();
        assert_eq!(
            s.key_algorithm,
            KeyAlgorithm::EcdsaP256,
            "{}",
            t.secret_name
        );
        assert_eq!(s.is_ca, t.kind == CertKind::Ca);
        match t.kind {
            CertKind::Ca => {
                assert_eq!(s.not_before, now);
                assert_eq!(s.not_after, now + Duration::hours(168));
                assert!(s.key_usages.contains(&KeyUsage::CertSign));
            }
            CertKind::Server | CertKind::Client => {
                // NotBefore is the CA's NotBefore, not the issuing instant.
                assert_eq!(s.not_before, T0, "{}", t.secret_name);
                assert_eq!(s.not_after, now + Duration::hours(24));
                assert_eq!(
                    s.key_usages,
                    [KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment]
                );
                let eku = if t.kind == CertKind::Server {
                    ExtKeyUsage::ServerAuth
                } else {
                    ExtKeyUsage::ClientAuth
                };
                assert_eq!(s.ext_key_usages, [eku]);
                assert_eq!(s.dns_names, t.dns_names(ns));
            }
        }
        let bundle = if t.kind == CertKind::Ca {
            issued.cert_pem.clone()
        } else {
            ca_cert.cert_pem.clone()
        };
        let annotation = virtguard_pki::format_go_duration(schedule.duration_for(t));
        let ctx = CheckContext {
            namespace: ns,
            schedule,
            ca_bundle_pem: Some(&bundle),
            current_ca_pem: None,
            now,
        };
        let secret = SecretInput {
            name: t.secret_name,
            cert_pem: &issued.cert_pem,
            key_pem: Some(&issued.key_pem),
            duration_annotation: Some(&annotation),
        };
        assert_eq!(problems(&secret, &ctx), [], "{}", t.secret_name);
        // The same certificate is wrong for the default namespace (pod-DNS CNs and SANs differ).
        if t.san_service.is_some() {
            let ctx = CheckContext {
                namespace: "kubevirt",
                ..ctx
            };
            assert!(!problems(&secret, &ctx).is_empty(), "{}", t.secret_name);
        }
    }
}

#[test]
fn expected_common_names() {
    let (_, ca) = ca_at(T0, 168);
    let cn = |name: &str| {
        let t = virtguard_pki::secret_template(name).unwrap();
        let issued = ca
            .issue(&t.resolve("kubevirt"), T0, Duration::hours(1))
            .unwrap();
        issued.certificate.common_name().unwrap().to_string()
    };
    assert_eq!(
        cn("kubevirt-operator-certs"),
        "kubevirt-operator-webhook.kubevirt.pod.cluster.local"
    );
    assert_eq!(
        cn("kubevirt-exportproxy-certs"),
        "virt-exportproxy.kubevirt.pod.cluster.local"
    );
    assert_eq!(
        cn("kubevirt-virt-handler-vsock-client-certs"),
        "kubevirt.io:system:client:vsock"
    );
    assert_eq!(
        cn("kubevirt-synchronization-controller-server-certs"),
        "kubevirt.io:system:node:virt-synchronization-controller"
    );
    assert_eq!(
        cn("kubevirt-virt-template-controller-metrics-certs"),
        "virt-template-controller-manager-metrics-service.kubevirt.pod.cluster.local"
    );
    for (kind, prefix) in [
        (CaKind::KubeVirt, "kubevirt.io@"),
        (CaKind::Export, "export.kubevirt.io@"),
        (CaKind::Backup, "backup.kubevirt.io@"),
    ] {
        let c = issue_ca(kind, T0, Duration::hours(1)).unwrap();
        assert_eq!(
            c.certificate.common_name().unwrap(),
            format!("{prefix}{}", T0.unix_timestamp())
        );
    }
}

#[test]
fn inspection_summary_json() {
    let (ca_cert, ca) = ca_at(T0, 168);
    let t = virtguard_pki::secret_template("kubevirt-virt-handler-server-certs").unwrap();
    let issued = ca
        .issue(&t.resolve("kubevirt"), T0, Duration::hours(24))
        .unwrap();
    let i = inspect_pem(&issued.cert_pem, Some(&issued.key_pem)).unwrap();
    let v = serde_json::to_value(&i).unwrap();
    assert_eq!(
        v["certificate"]["commonName"],
        "kubevirt.io:system:node:virt-handler"
    );
    assert_eq!(
        v["certificate"]["issuerCommonName"],
        ca_cert.certificate.common_name().unwrap()
    );
    assert_eq!(
        v["certificate"]["extKeyUsages"],
        serde_json::json!(["server_auth"])
    );
    assert_eq!(
        v["certificate"]["keyUsages"],
        serde_json::json!(["digital_signature", "key_encipherment"])
    );
    assert_eq!(v["certificate"]["notBefore"], "2024-05-01T00:00:00Z");
    assert_eq!(v["certificate"]["notAfter"], "2024-05-02T00:00:00Z");
    assert_eq!(
        v["certificate"]["keyAlgorithm"],
        serde_json::json!({"type": "ecdsa_p256"})
    );
    assert_eq!(v["certificate"]["isCa"], false);
    assert_eq!(
        v["key"],
        serde_json::json!({"format": "pkcs8", "algorithm": {"type": "ecdsa_p256"}})
    );
    assert_eq!(v["keyMatchesCertificate"], true);
    let fp = v["certificate"]["sha256Fingerprint"].as_str().unwrap();
    assert_eq!(fp.len(), 64);
    assert_eq!(fp, issued.certificate.summary().sha256_fingerprint);
    assert!(!fp.contains(':'));
}
