//! Facts about Kubernetes, KubeVirt and CDI APIs, kept as data embedded at build time.
//!
//! Today: the discovery table that turns what a user types (`vmi`, `VirtualMachine`,
//! `dv`, `deployments.apps`) into the API group, plural resource and scope RBAC evaluates —
//! including KubeVirt's subresources, which virt-api serves and RBAC checks in
//! `subresources.kubevirt.io`; and the role catalogs per version (Kubernetes' bootstrap policy,
//! KubeVirt v1.4.0 … v1.9.0, CDI) that `--defaults` adds to a snapshot.

mod discovery;
mod gates;
mod roles;

pub use discovery::{ApiResource, ApiSubresources, Discovery, DiscoveryError, Resolution};
pub use gates::{
    feature_gates, gate_enabled, persistent_reservation_enabled, unknown_gates, FeatureGate,
    GateState,
};
pub use roles::{
    files, newest_kubevirt, opt_out_gate_enabled, resolve_version, CatalogFile, Component,
    Defaults, DefaultsError, Rendering, Selection, CDI_VERSIONS, KUBEVIRT_VERSIONS,
};
