//! KubeVirt's PKI as a pure library.
//!
//! * [`components`]: the secrets virt-operator manages (names, CNs, SANs, usages).
//! * [`issue`]: self-signed ECDSA P-256 CAs and component certificates, as PEM.
//! * [`schedule`]: `spec.certificateRotateStrategy.selfSigned` — effective durations and
//!   renewBefore, and the operator webhook's validation messages.
//! * [`deadline`]: when a secret must be regenerated.
//! * [`bundle`]: the `ca-bundle` merge (overlap window, 50-entry cap, external CAs).
//! * [`peer`]: the mTLS peer identity check between KubeVirt components.
//! * [`inspect`] / [`problems`]: summaries of certificates and keys, and what is wrong with a secret.
//!
//! Nothing here reads files, the network or the clock: every time-dependent function takes
//! `now`.

pub mod cert;
pub mod components;
mod der;
pub mod duration;
pub mod error;
pub mod inspect;
pub mod issue;
pub mod key;
pub mod pem;

pub use cert::{parse_certificates, to_pem_bundle, Certificate, MAX_BUNDLE_SIZE};
pub use components::{
    component_certs, secret_template, CaKind, CertKind, ComponentCert, ExtKeyUsage, KeyUsage,
    SecretTemplate, DEFAULT_NAMESPACE, SECRETS,
};
pub use duration::{format_go_duration, parse_go_duration, DurationError, GoDuration};
pub use error::PkiError;
pub use inspect::{inspect_pem, CertSummary, Inspection};
pub use issue::{issue_ca, CertificateAuthority, IssuedCert};
pub use key::{KeyAlgorithm, KeyFormat, KeySummary, PrivateKey};
