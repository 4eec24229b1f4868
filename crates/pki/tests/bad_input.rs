//! Bad input gives a clear error, never a panic: garbage PEM, truncated bundles, mismatched
//! keys, RSA keys, keys from OpenSSL.

mod common;

use common::{ca_at, fixture, leaf, T0};
use proptest::prelude::*;
use virtguard_pki::{
    inspect_pem, parse_certificates, problems, verify_peer_pem, Certificate, CertificateAuthority,
    CheckContext, KeyAlgorithm, KeyFormat, PeerPolicy, PkiError, PrivateKey, Schedule, SecretInput,
};

#[test]
fn garbage_pem() {
    assert_eq!(
        Certificate::from_pem("hello").unwrap_err(),
        PkiError::NoPem {
            expected: "CERTIFICATE"
        }
    );
    assert_eq!(
        Certificate::from_pem("hello").unwrap_err().to_string(),
        "no PEM block found (expected CERTIFICATE)"
    );
    let bad_b64 = "-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n";
    assert!(matches!(
        Certificate::from_pem(bad_b64),
        Err(PkiError::BadPem(_))
    ));
    let not_der = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let err = Certificate::from_pem(not_der).unwrap_err();
    assert!(matches!(err, PkiError::BadCertificate(_)), "{err}");
    assert!(err.to_string().starts_with("invalid certificate: "));
    let key_as_cert = fixture("ec-sec1.key");
    assert_eq!(
        Certificate::from_pem(&key_as_cert).unwrap_err(),
        PkiError::UnexpectedPemLabel {
            found: "EC PRIVATE KEY".into(),
            expected: "CERTIFICATE"
        }
    );
}

#[test]
fn truncated_bundle() {
    let (a, _) = ca_at(T0, 10);
    let (b, _) = ca_at(T0 + time::Duration::seconds(1), 10);
    let bundle = format!("{}{}", a.cert_pem, b.cert_pem);
    assert_eq!(parse_certificates(&bundle).unwrap().len(), 2);
    // Only the final newline gone: still complete.
    assert_eq!(
        parse_certificates(&bundle[..bundle.len() - 1])
            .unwrap()
            .len(),
        2
    );
    for cut in [bundle.len() - 3, bundle.len() - 30, bundle.len() / 2 + 40] {
        let err = parse_certificates(&bundle[..cut]).unwrap_err();
        assert!(
            matches!(err, PkiError::BadPem(_) | PkiError::BadCertificate(_)),
            "cut {cut}: {err}"
        );
    }
    // A bundle holding a key is rejected too.
    let err = parse_certificates(&format!("{}{}", a.cert_pem, a.key_pem)).unwrap_err();
    assert_eq!(
        err,
        PkiError::UnexpectedPemLabel {
            found: "PRIVATE KEY".into(),
            expected: "CERTIFICATE"
        }
    );
    assert!(parse_certificates("").unwrap().is_empty());
}

#[test]
fn mismatched_key() {
    let (a, ca) = ca_at(T0, 10);
    let (b, _) = ca_at(T0, 10);
    assert_eq!(
        CertificateAuthority::from_pem(&a.cert_pem, &b.key_pem).unwrap_err(),
        PkiError::KeyMismatch
    );
    let l = leaf(&ca, "kubevirt-virt-api-certs", T0, 1);
    let i = inspect_pem(&l.cert_pem, Some(&a.key_pem)).unwrap();
    assert_eq!(i.key_matches_certificate, Some(false));
    let i = inspect_pem(&l.cert_pem, Some(&l.key_pem)).unwrap();
    assert_eq!(i.key_matches_certificate, Some(true));
}

#[test]
fn rsa_key_and_certificate() {
    let key = PrivateKey::from_pem(&fixture("rsa.key")).unwrap();
    assert_eq!(key.algorithm(), &KeyAlgorithm::Rsa { bits: 2048 });
    assert_eq!(key.format(), KeyFormat::Pkcs8);
    let pkcs1 = PrivateKey::from_pem(&fixture("rsa-pkcs1.key")).unwrap();
    assert_eq!(pkcs1.format(), KeyFormat::Pkcs1);
    assert_eq!(pkcs1.algorithm(), &KeyAlgorithm::Rsa { bits: 2048 });
    let err = key.to_signing_key().unwrap_err();
    assert_eq!(
        err.to_string(),
        "wrong key type: expected ECDSA P-256, got RSA 2048"
    );

    let i = inspect_pem(&fixture("rsa.crt"), Some(&fixture("rsa-pkcs1.key"))).unwrap();
    assert_eq!(
        i.certificate.key_algorithm,
        KeyAlgorithm::Rsa { bits: 2048 }
    );
    assert_eq!(i.key_matches_certificate, Some(true));
    assert_eq!(i.certificate.dns_names.len(), 4);

    // An RSA CA cannot sign KubeVirt certificates.
    let err = CertificateAuthority::from_pem(&fixture("rsa.crt"), &fixture("rsa.key")).unwrap_err();
    assert_eq!(err, PkiError::WrongKeyType("RSA 2048".into()));
}

#[test]
fn openssl_sec1_p256_key_works_as_ca_key() {
    let key = PrivateKey::from_pem(&fixture("ec-sec1.key")).unwrap();
    assert_eq!(
        (key.format(), key.algorithm()),
        (KeyFormat::Sec1, &KeyAlgorithm::EcdsaP256)
    );
    // `ec.crt` is CA:TRUE (openssl default), so it can act as a CA and issue a client cert.
    let ca = CertificateAuthority::from_pem(&fixture("ec.crt"), &fixture("ec-sec1.key")).unwrap();
    let now = ca.certificate().not_before();
    let l = leaf(&ca, "kubevirt-virt-handler-certs", now, 24);
    assert!(l.certificate.is_signed_by(ca.certificate()));
    let id = verify_peer_pem(
        &l.cert_pem,
        &fixture("ec.crt"),
        &PeerPolicy::client(&["virt-handler"]),
        now,
    )
    .unwrap();
    assert_eq!(id.common_name, "kubevirt.io:system:client:virt-handler");

    let p384 = PrivateKey::from_pem(&fixture("ec384.key")).unwrap();
    assert_eq!(p384.algorithm(), &KeyAlgorithm::EcdsaP384);
    assert_eq!(
        CertificateAuthority::from_pem(&fixture("ec.crt"), &fixture("ec384.key")).unwrap_err(),
        PkiError::WrongKeyType("ECDSA P-384".into())
    );
}

#[test]
fn corrupted_key_is_an_error() {
    // Flip a byte inside the private scalar of a SEC1 key: the embedded public key no longer
    // matches, which the signer construction detects.
    let text = fixture("ec-sec1.key");
    let key_der = pem_body(&text);
    let mut der = key_der.clone();
    der[10] ^= 0xff;
    let corrupted = virtguard_pki::pem::encode_pem("EC PRIVATE KEY", &der);
    let key = PrivateKey::from_pem(&corrupted).unwrap();
    assert!(matches!(key.to_signing_key(), Err(PkiError::BadKey(_))));
    assert!(matches!(
        CertificateAuthority::from_pem(&fixture("ec.crt"), &corrupted),
        Err(PkiError::BadKey(_))
    ));
}

fn pem_body(text: &str) -> Vec<u8> {
    virtguard_pki::pem::pem_blocks(text).unwrap().remove(0).der
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        let _ = Certificate::from_pem(&text);
        let _ = parse_certificates(&text);
        let _ = PrivateKey::from_pem(&text);
        let _ = inspect_pem(&text, Some(&text));
        let ctx = CheckContext { namespace: "kubevirt", schedule: Schedule::default(), ca_bundle_pem: Some(&text), current_ca_pem: Some(&text), now: T0 };
        let _ = problems(&SecretInput { name: "kubevirt-ca", cert_pem: &text, key_pem: Some(&text), duration_annotation: Some(&text) }, &ctx);
        let _ = virtguard_pki::parse_go_duration(&text);
    }

    #[test]
    fn arbitrary_der_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300), label in prop::sample::select(vec!["CERTIFICATE", "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"])) {
        let text = virtguard_pki::pem::encode_pem(label, &bytes);
        let _ = Certificate::from_pem(&text);
        if let Ok(k) = PrivateKey::from_pem(&text) {
            let _ = k.to_signing_key();
        }
    }

    #[test]
    fn mutated_real_key_never_panics(pos in 0usize..121, byte in any::<u8>()) {
        let mut der = pem_body(&fixture("ec-sec1.key"));
        let at = pos % der.len();
        der[at] = byte;
        let text = virtguard_pki::pem::encode_pem("EC PRIVATE KEY", &der);
        if let Ok(k) = PrivateKey::from_pem(&text) {
            let _ = k.to_signing_key();
            let _ = CertificateAuthority::from_pem(&fixture("ec.crt"), &text);
        }
    }
}
