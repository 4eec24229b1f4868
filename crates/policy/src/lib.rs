//! Cedar policies on Kubernetes SubjectAccessReview requests, with the entity model of
//! cedar-access-control-for-k8s (namespace `k8s`), so that policies written for that project
//! run unchanged.
//!
//! Pure: sources in, [`PolicySet`] out, [`PolicySet::decide`] on a [`Request`] (a
//! SubjectAccessReview spec). Only [`source`] reads files. The mapping of requests to Cedar
//! entities is described in `docs/cedar-mapping.md`.

mod entities;
mod error;
mod lockout;
mod object;
mod policy_set;
mod request;
pub mod source;

pub use error::{PolicyError, SourceError};
pub use lockout::{describe, probes, Guard, Lockout, Probe, CEDAR_WEBHOOK_USER};
pub use object::{policy_object_source, POLICY_API_VERSION, POLICY_KIND};
pub use policy_set::{Decision, Evaluation, Kind, PolicyEntry, PolicyRef, PolicySet, SCHEMA};
pub use request::{
    NonResourceAttributes, Request, ResourceAttributes, SelectorAttributes, SelectorRequirement,
};
