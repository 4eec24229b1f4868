//! kube-apiserver's authorizer chain as virtguard models it: the privileged group
//! (`system:masters`), then the Cedar webhook, then RBAC. The first authorizer with an opinion
//! decides: a matching `forbid` denies, a matching `permit` allows, otherwise RBAC (which only
//! grants) decides. Every offline query and `serve --authorize` go through [`Chain::decide`].

use virtguard_rbac::{Attributes, Decision as RbacDecision, Policy, Subject, SubjectKind, User};

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

/// A member standing for a subject when the chain is asked about the subject as a whole
/// (`who-can`, `matrix`): a User with only `system:authenticated`; a ServiceAccount with the
/// groups kube-apiserver gives service accounts; a Group as a nameless member of it (and of
/// `system:authenticated`, unless the group is `system:unauthenticated`).
pub fn representative(subject: &Subject) -> User {
    const AUTHENTICATED: &str = "system:authenticated";
    match subject.kind {
        SubjectKind::User => User::new(subject.name.clone(), vec![AUTHENTICATED.to_owned()]),
        SubjectKind::ServiceAccount => User::new(
            format!(
                "system:serviceaccount:{}:{}",
                subject.namespace, subject.name
            ),
            vec![
                "system:serviceaccounts".to_owned(),
                format!("system:serviceaccounts:{}", subject.namespace),
                AUTHENTICATED.to_owned(),
            ],
        ),
        SubjectKind::Group => {
            let mut groups = vec![subject.name.clone()];
            if subject.name != "system:unauthenticated" && subject.name != AUTHENTICATED {
                groups.push(AUTHENTICATED.to_owned());
            }
            User::new(String::new(), groups)
        }
    }
}

/// What the Cedar policies say of one subject for one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectVerdict {
    /// A `forbid` denies the subject's representative member: the subject is left out.
    pub denied: Option<PolicyRef>,
    /// A `permit` allows it (so it may act even without RBAC).
    pub permitted: Option<PolicyRef>,
    /// Groups named by the policies in which a member would be denied, with the policy:
    /// the subject is listed "unless in" those groups.
    pub denied_when_in: Vec<(String, PolicyRef)>,
    /// When [`denied`](Self::denied): groups named by the policies in which a member would not
    /// be denied (an `unless` exception): the subject is listed "only when in" those groups.
    pub allowed_when_in: Vec<String>,
}

impl SubjectVerdict {
    /// Whether every member is denied (no group the policies name lifts the `forbid`).
    pub fn every_member_denied(&self) -> bool {
        self.denied.is_some() && self.allowed_when_in.is_empty()
    }
}

impl PolicySet {
    /// Groups the policies name (`k8s::Group::"…"`), sorted: the groups whose membership can
    /// change a decision.
    pub fn named_groups(&self) -> Vec<String> {
        named(self.text(), "k8s::Group::\"")
    }

    /// Users the policies name (`k8s::User::"…"`), sorted.
    pub fn named_users(&self) -> Vec<String> {
        named(self.text(), "k8s::User::\"")
    }

    /// Judges `subject` for the request `attrs` (its user is ignored): its representative
    /// member (see [`representative`]), then that member in each of `groups` in turn.
    pub fn judge(
        &self,
        subject: &Subject,
        attrs: &Attributes<'_>,
        groups: &[String],
    ) -> SubjectVerdict {
        let member = representative(subject);
        let mut out = SubjectVerdict::default();
        // A service account's groups are fixed by kube-apiserver: no other group to try.
        let groups = if subject.kind == SubjectKind::ServiceAccount {
            &[]
        } else {
            groups
        };
        if member.is_privileged() {
            // kube-apiserver allows system:masters before the webhook is asked.
            return out;
        }
        let ask = |user: &User| {
            let a = Attributes {
                user,
                verb: attrs.verb,
                request: attrs.request.clone(),
            };
            self.decide(&request_of(&a)).decision
        };
        match ask(&member) {
            Decision::Deny { policy } => {
                out.denied = Some(policy);
                for g in groups {
                    if member.groups.contains(g) {
                        continue;
                    }
                    let mut in_group = member.clone();
                    in_group.groups.push(g.clone());
                    if !matches!(ask(&in_group), Decision::Deny { .. }) {
                        out.allowed_when_in.push(g.clone());
                    }
                }
                return out;
            }
            Decision::Allow { policy } => out.permitted = Some(policy),
            Decision::NoOpinion => {}
        }
        for g in groups {
            if member.groups.contains(g) {
                continue;
            }
            let mut in_group = member.clone();
            in_group.groups.push(g.clone());
            if let Decision::Deny { policy } = ask(&in_group) {
                out.denied_when_in.push((g.clone(), policy));
            }
        }
        out
    }
}

/// The quoted ids after `prefix` in `text`, sorted and unique.
fn named(text: &str, prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .split(prefix)
        .skip(1)
        .filter_map(|rest| {
            let mut id = String::new();
            let mut chars = rest.chars();
            while let Some(c) = chars.next() {
                match c {
                    '"' => return Some(id),
                    '\\' => id.push(chars.next()?),
                    c => id.push(c),
                }
            }
            None
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use virtguard_rbac::{Binding, PolicyRule, Role};

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
    fn judges_subjects_by_a_representative_member() {
        let set = PolicySet::from_sources(&[("p.cedar".into(), FORBID.into())]).expect("valid");
        let nobody = User::default();
        let attrs = vnc(&nobody);
        let groups = set.named_groups();
        assert_eq!(groups, ["sre"]);
        let devs = Subject::new(SubjectKind::Group, "developers", "");
        let v = set.judge(&devs, &attrs, &groups);
        assert!(v.denied.as_ref().is_some_and(|p| p.id == "vnc-sre-only"));
        // Developers who are also in sre are not denied.
        assert_eq!(v.allowed_when_in, ["sre"]);
        assert!(!v.every_member_denied());
        let masters = Subject::new(SubjectKind::Group, "system:masters", "");
        assert_eq!(
            set.judge(&masters, &attrs, &groups),
            SubjectVerdict::default()
        );
        let sre = Subject::new(SubjectKind::Group, "sre", "");
        let v = set.judge(&sre, &attrs, &groups);
        assert!(v.denied.is_none() && v.permitted.as_ref().is_some_and(|p| p.id == "sre-vnc"));
        let sa = Subject::new(SubjectKind::ServiceAccount, "builder", "ci");
        assert_eq!(representative(&sa).name, "system:serviceaccount:ci:builder");
        let v = set.judge(&sa, &attrs, &groups);
        assert!(
            v.every_member_denied(),
            "a service account is in no other group"
        );
    }

    #[test]
    fn maps_non_resource_requests() {
        let u = User::new("u", vec!["g".into()]);
        let req = request_of(&Attributes::non_resource(&u, "get", "/healthz"));
        assert_eq!(req, Request::non_resource("u", &["g"], "get", "/healthz"));
    }
}
