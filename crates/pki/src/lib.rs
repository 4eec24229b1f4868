//! KubeVirt's PKI as a pure library.
//!
//! * [`components`]: the secrets virt-operator manages (names, CNs, SANs, usages).
//! * [`issue`]: self-signed ECDSA P-256 CAs and component certificates, as PEM.
//! * [`schedule`]: `spec.certificateRotateStrategy.selfSigned` — effective durations and
//!   renewBefore, and the operator webhook's validation messages.
//! * [`deadline`]: when a secret must be regenerated.
//! * [`bundle`]: the `ca-bundle` merge (overlap window, 50-entry cap, external CAs).
//! * [`peer`]: the mTLS peer identity check between KubeVirt components.
//! * [`inspect`] / [`mod@problems`]: summaries of certificates and keys, and what is wrong with a secret.
//!
//! Nothing here reads files, the network or the clock: every time-dependent function takes
//! `now`.

#![warn(missing_docs)]

pub mod bundle;
pub mod cert;
pub mod components;
pub mod deadline;
pub mod duration;
pub mod error;
pub mod inspect;
pub mod issue;
pub mod key;
pub mod leaf;
pub mod peer;
pub mod pem;
pub mod problems;
pub mod schedule;
pub mod verify;

pub use bundle::{initial_ca_bundle, merge_ca_bundle, BundleReport, MergedBundle};
pub use cert::{parse_certificates, to_pem_bundle, Certificate, MAX_BUNDLE_SIZE};
pub use components::{
    component_certs, secret_template, CaKind, CertKind, ComponentCert, ExtKeyUsage, KeyUsage,
    SecretTemplate, DEFAULT_NAMESPACE, SECRETS,
};
pub use deadline::{
    rotation_deadline, secret_decision, DeadlineRule, ExistingSecret, RegenerateReason,
    RotationDeadline, SecretDecision,
};
pub use duration::{format_go_duration, parse_go_duration, DurationError, GoDuration};
pub use error::PkiError;
pub use inspect::{inspect_pem, CertSummary, Inspection};
pub use issue::{issue_ca, CertificateAuthority, IssuedCert};
pub use key::{KeyAlgorithm, KeyFormat, KeySummary, PrivateKey};
pub use leaf::{subject_identity, LeafSpec};
pub use peer::{
    verify_peer, verify_peer_pem, Connection, PeerError, PeerIdentity, PeerPolicy, PeerRole,
};
pub use problems::{problems, CheckContext, KeyHolder, Problem, SecretInput};
pub use schedule::{
    validate, CertConfig, CertificateRotateStrategy, Schedule, SelfSignConfiguration,
    ValidationCause,
};
pub use verify::{verify_chain, ChainError, RequiredUsage};
