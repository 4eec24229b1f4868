//! kube-apiserver's authorizer chain as virtguard models it: the privileged group
//! (`system:masters`), then the Cedar webhook, then RBAC. The first authorizer with an opinion
//! decides: a matching `forbid` denies, a matching `permit` allows, otherwise RBAC (which only
//! grants) decides. Every offline query and `serve --authorize` go through [`Chain::decide`].

use virtguard_rbac::{Attributes, Decision as RbacDecision, Policy};

use crate::policy_set::{Decision, Evaluation, PolicyRef, PolicySet};
use crate::request::{Request, ResourceAttributes};

/// Which authorizer of the chain decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecidedBy {
    /// kube-apiserver's privileged-group authorizer (`system:masters`): allowed.
    Privileged,
    /// A Cedar `forbid`: denied.
    Forbid(PolicyRef),
    /// A Cedar `permit`: allowed.
    Permit(PolicyRef),
    /// RBAC: allowed when it grants, otherwise no authorizer allowed it.
    Rbac,
}

/// The chain's answer to one request.
#[derive(Debug, Clone)]
pub struct ChainDecision {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// Whether an authorizer denied it outright (a Cedar `forbid`), as opposed to nobody
    /// allowing it.
    pub denied: bool,
    /// Who decided.
    pub by: DecidedBy,
    /// The Cedar evaluation, when policies were asked (not for `system:masters`).
    pub cedar: Option<Evaluation>,
    /// What RBAC alone says: always computed with `explain`, otherwise only when RBAC decides.
    pub rbac: Option<RbacDecision>,
}

impl ChainDecision {
    /// The reason kube-apiserver would report: the deciding policy, or RBAC's reason.
    pub fn reason(&self, rbac: &Policy) -> String {
        match &self.by {
            DecidedBy::Privileged => String::new(),
            DecidedBy::Forbid(p) => format!("denied by Cedar {p}"),
            DecidedBy::Permit(p) => format!("allowed by Cedar {p}"),
            DecidedBy::Rbac => self
                .rbac
                .as_ref()
                .map(|d| d.reason(rbac))
                .unwrap_or_default(),
        }
    }

    /// Cedar evaluation errors (policies skipped), empty when Cedar was not asked.
    pub fn cedar_errors(&self) -> &[String] {
        self.cedar.as_ref().map_or(&[], |e| e.errors.as_slice())
    }
}

/// The SubjectAccessReview spec of an RBAC request, for Cedar.
pub fn request_of(attrs: &Attributes<'_>) -> Request {
    let mut req = Request {
        user: attrs.user.name.clone(),
        groups: attrs.user.groups.clone(),
        ..Request::default()
    };
    match &attrs.request {
        virtguard_rbac::Request::Resource(r) => {
            req.resource_attributes = Some(ResourceAttributes {
                namespace: r.namespace.to_owned(),
                verb: attrs.verb.to_owned(),
                group: r.api_group.to_owned(),
                version: String::new(),
                resource: r.resource.to_owned(),
                subresource: r.subresource.to_owned(),
                name: r.name.to_owned(),
                field_selector: None,
                label_selector: None,
            })
        }
        virtguard_rbac::Request::NonResource(n) => {
            req.non_resource_attributes = Some(crate::request::NonResourceAttributes {
                path: n.path.to_owned(),
                verb: attrs.verb.to_owned(),
            })
        }
    }
    req
}

/// The authorizer chain over a policy set (optional) and an RBAC policy.
#[derive(Clone, Copy)]
pub struct Chain<'a> {
    /// The RBAC policy (the last authorizer).
    pub rbac: &'a Policy,
    /// The Cedar policies; `None` or empty: the chain is privileged group then RBAC.
    pub cedar: Option<&'a PolicySet>,
}

impl<'a> Chain<'a> {
    /// A chain of RBAC behind `cedar` (skipped when it holds no policy).
    pub fn new(rbac: &'a Policy, cedar: Option<&'a PolicySet>) -> Self {
        Chain {
            rbac,
            cedar: cedar.filter(|c| !c.is_empty()),
        }
    }

    /// Whether Cedar policies take part.
    pub fn has_policies(&self) -> bool {
        self.cedar.is_some()
    }

    /// Decides `attrs`. With `explain`, RBAC's answer is computed in full (every grant) even
    /// when another authorizer decided, so that callers can show what RBAC alone would say.
    pub fn decide(&self, attrs: &Attributes<'_>, explain: bool) -> ChainDecision {
        let rbac_of = |p: &Policy| {
            if explain {
                p.explain(attrs)
            } else {
                p.decide(attrs)
            }
        };
        if attrs.user.is_privileged() {
            return ChainDecision {
                allowed: true,
                denied: false,
                by: DecidedBy::Privileged,
                cedar: None,
                rbac: explain.then(|| rbac_of(self.rbac)),
            };
        }
        let cedar = self.cedar.map(|set| set.decide(&request_of(attrs)));
        let (allowed, denied, by) = match cedar.as_ref().map(|e| &e.decision) {
            Some(Decision::Deny { policy }) => (false, true, DecidedBy::Forbid(policy.clone())),
            Some(Decision::Allow { policy }) => (true, false, DecidedBy::Permit(policy.clone())),
            _ => (false, false, DecidedBy::Rbac),
        };
        if by != DecidedBy::Rbac {
            return ChainDecision {
                allowed,
                denied,
                by,
                cedar,
                rbac: explain.then(|| rbac_of(self.rbac)),
            };
        }
        let rbac = rbac_of(self.rbac);
        ChainDecision {
            allowed: rbac.allowed,
            denied: false,
            by: DecidedBy::Rbac,
            cedar,
            rbac: Some(rbac),
        }
    }

    /// Whether the chain allows `attrs` (no explanation).
    pub fn allows(&self, attrs: &Attributes<'_>) -> bool {
        if attrs.user.is_privileged() {
            return true;
        }
        if let Some(set) = self.cedar {
            match set.decide(&request_of(attrs)).decision {
                Decision::Deny { .. } => return false,
                Decision::Allow { .. } => return true,
                Decision::NoOpinion => {}
            }
        }
        self.rbac.allows(attrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use virtguard_rbac::{Binding, PolicyRule, Role, Subject, SubjectKind, User};

    fn rbac() -> Policy {
        let role = Role::cluster(
            "vm-user",
            vec![PolicyRule::resource(
                &["get"],
                &["subresources.kubevirt.io"],
                &["virtualmachineinstances/vnc"],
            )],
        );
        let binding = Binding::cluster(
            "devs",
            "vm-user",
            vec![Subject::new(SubjectKind::Group, "developers", "")],
        );
        Policy::new(vec![role], vec![binding])
    }

    fn vnc(user: &User) -> Attributes<'_> {
        Attributes::resource(
            user,
            "get",
            virtguard_rbac::ResourceAttributes {
                namespace: "prod",
                api_group: "subresources.kubevirt.io",
                resource: "virtualmachineinstances",
                subresource: "vnc",
                name: "vm1",
            },
        )
    }

    const FORBID: &str = r#"@id("vnc-sre-only")
forbid (principal, action, resource is k8s::Resource)
when { resource has subresource && resource.subresource == "vnc" && resource has namespace && resource.namespace == "prod" }
unless { principal in k8s::Group::"sre" };
@id("sre-vnc")
permit (principal in k8s::Group::"sre", action == k8s::Action::"get", resource is k8s::Resource)
when { resource has subresource && resource.subresource == "vnc" };"#;

    #[test]
    fn forbid_then_permit_then_rbac() {
        let policy = rbac();
        let set = PolicySet::from_sources(&[("p.cedar".into(), FORBID.into())]).expect("valid");
        let chain = Chain::new(&policy, Some(&set));
        let rbac_only = Chain::new(&policy, None);

        let dev = User::new("dora", vec!["developers".into()]);
        assert!(rbac_only.allows(&vnc(&dev)));
        let d = chain.decide(&vnc(&dev), true);
        assert!(!d.allowed && d.denied);
        assert!(matches!(&d.by, DecidedBy::Forbid(p) if p.id == "vnc-sre-only"));
        assert!(
            d.rbac.as_ref().is_some_and(|r| r.allowed),
            "explain keeps RBAC's view"
        );
        assert!(d.reason(&policy).contains("vnc-sre-only (p.cedar:1)"));
        assert!(!chain.allows(&vnc(&dev)));

        // Not in RBAC at all, but permitted by Cedar.
        let sre = User::new("sam", vec!["sre".into()]);
        assert!(!rbac_only.allows(&vnc(&sre)));
        let d = chain.decide(&vnc(&sre), false);
        assert!(d.allowed && matches!(&d.by, DecidedBy::Permit(p) if p.id == "sre-vnc"));
        assert!(d.rbac.is_none());

        // system:masters is never asked about.
        let root = User::new("root", vec!["system:masters".into(), "developers".into()]);
        let d = chain.decide(&vnc(&root), false);
        assert!(d.allowed && d.by == DecidedBy::Privileged && d.cedar.is_none());

        // Nothing matches: RBAC decides, and says no.
        let other = User::new("eve", vec![]);
        let d = chain.decide(&Attributes::non_resource(&other, "get", "/healthz"), false);
        assert!(!d.allowed && !d.denied && d.by == DecidedBy::Rbac);
    }

    #[test]
    fn maps_non_resource_requests() {
        let u = User::new("u", vec!["g".into()]);
        let req = request_of(&Attributes::non_resource(&u, "get", "/healthz"));
        assert_eq!(req, Request::non_resource("u", &["g"], "get", "/healthz"));
    }
}
