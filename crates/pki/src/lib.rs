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
//! * [`reconcile`]: virt-operator's reconcile as data — a whole PKI issued, or what a rotation
//!   regenerates and how the bundles change.
//! * [`review`]: a set of secrets and bundles checked as `certs inspect` reports them.
//! * [`secret`]: Secrets and ConfigMaps as Kubernetes objects — the manifests, and the one
//!   reader of their data.
//! * [`store`]: the PKI directory (`certs init --dir`) — the only module that touches files.
//!
//! Apart from [`store`], nothing here reads files, the network or the clock: every
//! time-dependent function takes `now`.

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
pub mod reconcile;
pub mod review;
pub mod schedule;
pub mod secret;
pub mod store;
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
pub use reconcile::{issue_all, plan_rotation, Issued, Rotation, RotationRequest, Why};
pub use review::{review, Gathered, Review};
pub use schedule::{
    validate, CertConfig, CertificateRotateStrategy, DurationOverrides, InvalidSettings, Schedule,
    SelfSignConfiguration, ValidationCause,
};
pub use store::{PkiDir, StoreError};
pub use verify::{verify_chain, ChainError, RequiredUsage};
