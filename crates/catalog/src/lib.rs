//! Facts about Kubernetes, KubeVirt and CDI APIs, kept as data embedded at build time.
//!
//! Today: the discovery table that turns what a user types (`vmi`, `VirtualMachine`,
//! `dv`, `deployments.apps`) into the API group, plural resource and scope RBAC evaluates —
//! including KubeVirt's subresources, which virt-api serves and RBAC checks in
//! `subresources.kubevirt.io`. Role catalogs per version come next.

mod discovery;

pub use discovery::{ApiResource, ApiSubresources, Discovery, DiscoveryError, Resolution};
