//! The mTLS peer identity check: accepted peers and each kind of rejection, with exact texts.

mod common;

use common::{ca_at, leaf, T0};
use time::Duration;
use virtguard_pki::{
    to_pem_bundle, verify_peer, verify_peer_pem, ChainError, Connection, ExtKeyUsage, PeerError,
    PeerPolicy, PeerRole,
};

const HANDLER_CLIENT: &str = "kubevirt-virt-handler-certs";
const HANDLER_SERVER: &str = "kubevirt-virt-handler-server-certs";

#[test]
fn accepts_a_good_client_and_server() {
    let (ca_cert, ca) = ca_at(T0, 168);
    let now = T0 + Duration::hours(1);
    let client = leaf(&ca, HANDLER_CLIENT, now, 24);
    let bundle = vec![ca_cert.certificate.clone()];
    let id = verify_peer(
        &[client.certificate.der()],
        &bundle,
        &Connection::VirtApiToHandler.server_side(),
        now,
    )
    .unwrap();
    assert_eq!(id.common_name, "kubevirt.io:system:client:virt-handler");
    assert_eq!(id.component_type.as_deref(), Some("virt-handler"));
    assert_eq!(
        id.issuer_common_name.as_deref(),
        ca_cert.certificate.common_name()
    );

    let server = leaf(&ca, HANDLER_SERVER, now, 24);
    let policy = Connection::VirtApiToHandler.client_side().unwrap();
    let id = verify_peer_pem(&server.cert_pem, &ca_cert.cert_pem, &policy, now).unwrap();
    assert_eq!(id.common_name, "kubevirt.io:system:node:virt-handler");
}

#[test]
fn migration_accepts_both_types() {
    let (ca_cert, ca) = ca_at(T0, 168);
    let bundle = [ca_cert.certificate];
    let policy = Connection::HandlerMigration.server_side();
    for (secret, ty) in [
        ("kubevirt-virt-handler-migration-client-certs", "migration"),
        (HANDLER_CLIENT, "virt-handler"),
    ] {
        let c = leaf(&ca, secret, T0, 24);
        let id = verify_peer(&[c.certificate.der()], &bundle, &policy, T0).unwrap();
        assert_eq!(id.component_type.as_deref(), Some(ty));
    }
    let vsock = leaf(&ca, "kubevirt-virt-handler-vsock-client-certs", T0, 24);
    assert_eq!(
        verify_peer(&[vsock.certificate.der()], &bundle, &policy, T0)
            .unwrap_err()
            .to_string(),
        "common name is invalid, got kubevirt.io:system:client:vsock"
    );
}

#[test]
fn rejects_a_client_from_another_ca() {
    let (_, ca) = ca_at(T0, 168);
    let (other_cert, _) = ca_at(T0 + Duration::seconds(1), 168);
    let client = leaf(&ca, HANDLER_CLIENT, T0, 24);
    let err = verify_peer(
        &[client.certificate.der()],
        &[other_cert.certificate],
        &PeerPolicy::client(&["virt-handler"]),
        T0,
    )
    .unwrap_err();
    assert_eq!(err, PeerError::Chain(ChainError::UnknownIssuer));
    assert_eq!(err.to_string(), "certificate signed by unknown authority");
    // A CA with the same name (created in the same second) but another key: same.
    let (twin, _) = ca_at(T0, 168);
    let err = verify_peer(
        &[client.certificate.der()],
        &[twin.certificate],
        &PeerPolicy::client(&["virt-handler"]),
        T0,
    )
    .unwrap_err();
    assert_eq!(err, PeerError::Chain(ChainError::UnknownIssuer));
    // Empty bundle: same.
    let err = verify_peer(
        &[client.certificate.der()],
        &[],
        &PeerPolicy::client(&["virt-handler"]),
        T0,
    )
    .unwrap_err();
    assert_eq!(err, PeerError::Chain(ChainError::UnknownIssuer));
}

#[test]
fn finds_the_issuer_anywhere_in_the_bundle() {
    let (old_cert, old) = ca_at(T0, 168);
    let (new_cert, _) = ca_at(T0 + Duration::hours(2), 168);
    let client = leaf(&old, HANDLER_CLIENT, T0, 24);
    let now = T0 + Duration::hours(3);
    let bundle = [new_cert.certificate, old_cert.certificate.clone()];
    let id = verify_peer(
        &[client.certificate.der()],
        &bundle,
        &PeerPolicy::client(&["virt-handler"]),
        now,
    )
    .unwrap();
    assert_eq!(
        id.issuer_common_name.as_deref(),
        old_cert.certificate.common_name()
    );
}

#[test]
fn rejects_a_server_certificate_used_as_client() {
    let (ca_cert, ca) = ca_at(T0, 168);
    let server = leaf(&ca, HANDLER_SERVER, T0, 24);
    let err = verify_peer(
        &[server.certificate.der()],
        std::slice::from_ref(&ca_cert.certificate),
        &PeerPolicy::client(&["virt-handler"]),
        T0,
    )
    .unwrap_err();
    assert_eq!(
        err,
        PeerError::Chain(ChainError::WrongUsage {
            required: ExtKeyUsage::ClientAuth,
            present: vec![ExtKeyUsage::ServerAuth]
        })
    );
    assert_eq!(
        err.to_string(),
        "certificate specifies an incompatible key usage: requires client_auth, has [server_auth]"
    );
    // And the reverse: a client certificate presented by a server.
    let client = leaf(&ca, HANDLER_CLIENT, T0, 24);
    let err = verify_peer(
        &[client.certificate.der()],
        &[ca_cert.certificate],
        &PeerPolicy::server(&["virt-handler"]),
        T0,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            PeerError::Chain(ChainError::WrongUsage {
                required: ExtKeyUsage::ServerAuth,
                ..
            })
        ),
        "{err}"
    );
}

#[test]
fn rejects_a_wrong_common_name_with_exact_text() {
    let (ca_cert, ca) = ca_at(T0, 168);
    let bundle = [ca_cert.certificate];
    // A valid client of another type.
    let monitoring = leaf(&ca, "kubevirt-virt-handler-monitoring-client-certs", T0, 24);
    let err = verify_peer(
        &[monitoring.certificate.der()],
        &bundle,
        &Connection::VirtApiToHandler.server_side(),
        T0,
    )
    .unwrap_err();
    assert_eq!(
        err,
        PeerError::InvalidCommonName("kubevirt.io:system:client:monitoring".into())
    );
    assert_eq!(
        err.to_string(),
        "common name is invalid, got kubevirt.io:system:client:monitoring"
    );
    // A node CN where a client CN is expected.
    let server = leaf(&ca, HANDLER_SERVER, T0, 24);
    let err = verify_peer(
        &[server.certificate.der()],
        &bundle,
        &PeerPolicy::server(&["virt-synchronization-controller"]),
        T0,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "common name is invalid, got kubevirt.io:system:node:virt-handler"
    );
    // A pod-DNS server CN is never a component identity.
    let api = leaf(&ca, "kubevirt-virt-api-certs", T0, 24);
    let err = verify_peer(
        &[api.certificate.der()],
        &bundle,
        &PeerPolicy::server(&["virt-api"]),
        T0,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "common name is invalid, got virt-api.kubevirt.pod.cluster.local"
    );
    // Externally managed: no CN check.
    let id = verify_peer(
        &[api.certificate.der()],
        &bundle,
        &PeerPolicy::server(&["virt-api"]).externally_managed(),
        T0,
    )
    .unwrap();
    assert_eq!(id.component_type, None);
}

#[test]
fn rejects_expired_and_not_yet_valid() {
    let (ca_cert, ca) = ca_at(T0, 168);
    let bundle = [ca_cert.certificate];
    let client = leaf(&ca, HANDLER_CLIENT, T0, 24);
    let policy = PeerPolicy::client(&["virt-handler"]);
    let at_end = T0 + Duration::hours(24);
    assert!(verify_peer(&[client.certificate.der()], &bundle, &policy, at_end).is_ok());
    let later = at_end + Duration::seconds(1);
    let err = verify_peer(&[client.certificate.der()], &bundle, &policy, later).unwrap_err();
    assert_eq!(
        err,
        PeerError::Chain(ChainError::Expired {
            not_after: at_end,
            now: later
        })
    );
    assert_eq!(
        err.to_string(),
        "certificate has expired: valid until 2024-05-02T00:00:00Z, now 2024-05-02T00:00:01Z"
    );
    let before = T0 - Duration::seconds(1);
    let err = verify_peer(&[client.certificate.der()], &bundle, &policy, before).unwrap_err();
    assert_eq!(
        err,
        PeerError::Chain(ChainError::NotYetValid {
            not_before: T0,
            now: before
        })
    );
    assert_eq!(
        err.to_string(),
        "certificate is not yet valid: valid from 2024-05-01T00:00:00Z, now 2024-04-30T23:59:59Z"
    );
}

#[test]
fn rejects_a_chain_to_an_expired_ca() {
    // CA valid 10h, leaf issued at +9h for 24h: the leaf is current but its CA is not.
    let (ca_cert, ca) = ca_at(T0, 10);
    let client = leaf(&ca, HANDLER_CLIENT, T0 + Duration::hours(9), 24);
    let now = T0 + Duration::hours(11);
    let err = verify_peer(
        &[client.certificate.der()],
        std::slice::from_ref(&ca_cert.certificate),
        &PeerPolicy::client(&["virt-handler"]),
        now,
    )
    .unwrap_err();
    assert!(
        matches!(&err, PeerError::Chain(ChainError::CaNotValid { ca, .. }) if Some(ca.as_str()) == ca_cert.certificate.common_name()),
        "{err}"
    );
}

#[test]
fn bad_input_is_an_error() {
    let (ca_cert, _) = ca_at(T0, 168);
    let policy = PeerPolicy::client(&["virt-handler"]);
    let none: [&[u8]; 0] = [];
    assert_eq!(
        verify_peer(&none, &[], &policy, T0).unwrap_err(),
        PeerError::NoCertificate
    );
    assert!(matches!(
        verify_peer(&[b"garbage".as_slice()], &[], &policy, T0),
        Err(PeerError::Malformed(_))
    ));
    // The CA itself presented as a peer.
    let err = verify_peer(
        &[ca_cert.certificate.der()],
        std::slice::from_ref(&ca_cert.certificate),
        &policy,
        T0,
    )
    .unwrap_err();
    assert!(
        matches!(err, PeerError::Chain(ChainError::Invalid(_))),
        "{err}"
    );
    let bundle = to_pem_bundle([&ca_cert.certificate]);
    let truncated = &bundle[..bundle.len() / 2];
    assert!(matches!(
        verify_peer_pem(&bundle, truncated, &policy, T0),
        Err(PeerError::BadBundle(_))
    ));
    assert!(matches!(
        verify_peer_pem(truncated, &bundle, &policy, T0),
        Err(PeerError::Malformed(_))
    ));
}

#[test]
fn connection_table() {
    assert_eq!(Connection::VmStats.client_side(), None);
    assert_eq!(
        Connection::VmStats.server_side().accepted_common_names(),
        ["kubevirt.io:system:client:monitoring"]
    );
    assert_eq!(
        Connection::SyncController
            .client_side()
            .unwrap()
            .accepted_common_names(),
        ["kubevirt.io:system:node:virt-synchronization-controller"]
    );
    assert_eq!(
        Connection::HandlerMigration.server_side().required_usage(),
        ExtKeyUsage::ClientAuth
    );
}

#[test]
fn accepted_types_per_role() {
    assert_eq!(
        PeerRole::Client.accepted_types(),
        [
            "virt-handler",
            "migration",
            "monitoring",
            "virt-synchronization-controller"
        ]
    );
    assert_eq!(
        PeerRole::Server.accepted_types(),
        ["virt-handler", "virt-synchronization-controller"]
    );
}
