//! Cedar policies on Kubernetes SubjectAccessReview requests, with the entity model of
//! cedar-access-control-for-k8s (namespace `k8s`), so that policies written for that project
//! run unchanged.
//!
//! Pure: sources in, [`PolicySet`] out, [`PolicySet::decide`] on a [`Request`] (a
//! SubjectAccessReview spec). Only [`source`] reads files. The mapping of requests to Cedar
//! entities is described in `docs/cedar-mapping.md`.
//!
//! ```
//! use virtguard_policy::{Decision, PolicySet, Request, ResourceAttributes};
//!
//! let text = r#"
//!     @id("vnc-sre-only")
//!     forbid (principal, action, resource is k8s::Resource)
//!     when { resource has subresource && resource.subresource == "vnc" }
//!     unless { principal in k8s::Group::"sre" };"#;
//! let set = PolicySet::from_sources(&[("vnc.cedar".into(), text.into())])?;
//! let vnc = ResourceAttributes {
//!     verb: "get".into(),
//!     group: "subresources.kubevirt.io".into(),
//!     version: "v1".into(),
//!     resource: "virtualmachineinstances".into(),
//!     subresource: "vnc".into(),
//!     namespace: "prod".into(),
//!     name: "vm1".into(),
//!     ..Default::default()
//! };
//! let eval = set.decide(&Request::resource("dora", &["developers"], vnc.clone()));
//! assert!(matches!(eval.decision, Decision::Deny { ref policy } if policy.id == "vnc-sre-only"));
//! // Not forbidden and not permitted: RBAC decides.
//! let eval = set.decide(&Request::resource("sam", &["sre"], vnc));
//! assert_eq!(eval.decision, Decision::NoOpinion);
//! # Ok::<(), virtguard_policy::PolicyError>(())
//! ```

#![warn(missing_docs)]

mod chain;
mod entities;
mod error;
mod export;
mod lockout;
mod object;
mod policy_set;
mod request;
mod review;
pub mod source;

pub use chain::{representative, request_of, Chain, ChainDecision, DecidedBy, SubjectVerdict};
pub use error::{PolicyError, SourceError};
pub use export::cedar_request_json;
pub use lockout::{describe, probes, Guard, Lockout, Probe, CEDAR_WEBHOOK_USER};
pub use object::{policy_object_source, POLICY_API_VERSION, POLICY_KIND};
pub use policy_set::{Decision, Evaluation, Kind, PolicyEntry, PolicyRef, PolicySet, SCHEMA};
pub use request::{
    NonResourceAttributes, Request, ResourceAttributes, SelectorAttributes, SelectorRequirement,
};
pub use review::{
    parse_review, reason, review_response, Review, ReviewError, REVIEW_GROUP, REVIEW_KIND,
};
