//! Shared helpers for the integration tests: fixed instants and issuing CAs and leaves.
#![allow(dead_code)]

use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use virtguard_pki::{
    issue_ca, secret_template, CaKind, CertificateAuthority, IssuedCert, DEFAULT_NAMESPACE,
};

/// A fixed instant all tests start from.
pub const T0: OffsetDateTime = datetime!(2024-05-01 00:00:00 UTC);

/// A `kubevirt-ca` created at `at`, valid for `hours`.
pub fn ca_at(at: OffsetDateTime, hours: i64) -> (IssuedCert, CertificateAuthority) {
    let issued = issue_ca(CaKind::KubeVirt, at, Duration::hours(hours)).unwrap();
    let ca = CertificateAuthority::from_issued(&issued).unwrap();
    (issued, ca)
}

/// The certificate of secret `name` issued by `ca` at `at` for `hours`, in namespace `kubevirt`.
pub fn leaf(ca: &CertificateAuthority, name: &str, at: OffsetDateTime, hours: i64) -> IssuedCert {
    let spec = secret_template(name).unwrap().resolve(DEFAULT_NAMESPACE);
    ca.issue(&spec, at, Duration::hours(hours)).unwrap()
}

/// Reads a fixture from `tests/data`.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap()
}
