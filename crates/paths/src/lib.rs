//! Privilege-escalation paths (`virtguard paths`): from every subject of the policy to
//! **cluster-admin**, **node** (root on a node) and **virt-launcher** (code next to QEMU), each
//! step an RBAC decision of the engine plus a documented Kubernetes or KubeVirt mechanism.
//!
//! Identities are users, groups (a member of them) and service accounts; a step either gains an
//! identity (a service account's token, an impersonated user) or reaches a target. The search is
//! breadth-first, so each (subject, target) path is a shortest one. Pure: the policy and the
//! cluster facts in, paths out.

pub mod facts;

use std::collections::{BTreeMap, VecDeque};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use serde::Serialize;
use virtguard_rbac::{
    api_group_matches, resource_matches, verb_matches, Attributes, BindingKind, Grant, Policy,
    ResourceAttributes, SubjectKind, User,
};

pub use facts::{Facts, PowerfulPod, Scc};

/// Where a path ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// Every verb on every resource cluster-wide, or a way to get it at once.
    ClusterAdmin,
    /// Code execution as root on a node.
    Node,
    /// Code inside virt-launcher, next to QEMU.
    VirtLauncher,
}

impl Target {
    /// `cluster-admin`, `node`, `virt-launcher`.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::ClusterAdmin => "cluster-admin",
            Target::Node => "node",
            Target::VirtLauncher => "virt-launcher",
        }
    }
}

/// Who holds rights: a user, a member of a group, or a service account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Identity {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: &'static str,
    /// Name.
    pub name: String,
    /// A service account's namespace.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

impl Identity {
    /// A user.
    pub fn user(name: &str) -> Self {
        Identity {
            kind: "User",
            name: name.into(),
            namespace: String::new(),
        }
    }
    /// A member of a group.
    pub fn group(name: &str) -> Self {
        Identity {
            kind: "Group",
            name: name.into(),
            namespace: String::new(),
        }
    }
    /// A service account.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Identity {
            kind: "ServiceAccount",
            name: name.into(),
            namespace: namespace.into(),
        }
    }

    /// The user kube-apiserver authenticates for this identity (its groups added as it adds
    /// them; a group's member is a user of that group).
    pub fn as_user(&self) -> User {
        match self.kind {
            "ServiceAccount" => User::impersonated(
                &format!("system:serviceaccount:{}:{}", self.namespace, self.name),
                &[],
            ),
            "Group" => User::impersonated(
                &format!("<member of {}>", self.name),
                std::slice::from_ref(&self.name),
            ),
            _ => User::impersonated(&self.name, &[]),
        }
    }

    /// `User alice`, `Group sre`, `ServiceAccount ns/name`.
    pub fn describe(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// What a step gains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Gain {
    /// Another identity's rights.
    Identity(Identity),
    /// A target.
    Target(Target),
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What the actor does, e.g. `create pods in namespace ci`.
    pub action: String,
    /// The namespace of the action, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The grants that allow it (the engine's decision; first grant of each request).
    #[serde(skip)]
    pub grants: Vec<Grant>,
    /// What it gains.
    pub gains: Gain,
    /// Why that works: the mechanism, with a reference.
    pub reference: &'static str,
}

/// A path from a subject to a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Path {
    /// The starting subject.
    pub subject: Identity,
    /// Where it ends.
    pub target: Target,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// Search options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only paths from this subject.
    pub from: Option<Identity>,
    /// Targets wanted.
    pub to: Vec<Target>,
    /// Longest path searched.
    pub max_steps: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            from: None,
            to: vec![Target::ClusterAdmin, Target::Node, Target::VirtLauncher],
            max_steps: 5,
        }
    }
}

/// The answer: paths, and the subjects that already are cluster-admin (listed once, not as
/// paths).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Answer {
    /// Subjects with every right already.
    pub admins: Vec<Identity>,
    /// One shortest path per (subject, target).
    pub paths: Vec<Path>,
}

const REF_POD_SA: &str = "a pod runs with any service account of its namespace and gets its token mounted (https://kubernetes.io/docs/concepts/security/rbac-good-practices/#workload-creation)";
const REF_TOKEN: &str =
    "serviceaccounts/token issues a token for that service account (TokenRequest API)";
const REF_SECRET: &str = "a legacy kubernetes.io/service-account-token Secret holds a long-lived token of its service account";
const REF_BIND: &str = "bind on a role lets one create a binding to it without holding its rights (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#restrictions-on-role-binding-creation-or-update)";
const REF_ESCALATE: &str = "escalate lets one write rules one does not hold into a role (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#restrictions-on-role-creation-or-update)";
const REF_IMPERSONATE: &str = "impersonate lets one act as that user, group or service account (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#user-impersonation)";
const REF_PRIVILEGED_POD: &str = "a namespace without Pod Security baseline/restricted admits privileged, hostPID and hostPath pods: root on the node (https://kubernetes.io/docs/concepts/security/pod-security-standards/)";
const REF_SCC: &str = "on OpenShift, SCC admission admits a privileged, host-namespace or hostPath pod when an SCC allowing it may be used by the user creating the pod (pods created directly) or by the pod's service account: RBAC verb use on securitycontextconstraints.security.openshift.io with the SCC's name in the pod's namespace, or the SCC's users/groups naming them; Pod Security labels still apply (https://docs.openshift.com/container-platform/4.11/authentication/managing-security-context-constraints.html)";
const REF_EXEC: &str = "exec, attach or an ephemeral container in a privileged or host-namespace pod is code on its node";
const REF_KUBEVIRT_CR: &str = "virt-operator applies spec.customizeComponents patches to its own privileged virt-handler DaemonSet and enables the CR's feature gates (KubeVirt: customize components)";
const REF_HOSTDISK: &str =
    "with the HostDisk gate a VM's hostDisk volume is a file or directory on the node's filesystem";
const REF_SIDECAR: &str = "with the Sidecar gate a VM's hook sidecar annotation runs a container of the user's choosing in virt-launcher";
const REF_NODES_PROXY: &str = "nodes/proxy reaches the kubelet API, which runs commands in any pod of the node (https://kubernetes.io/docs/concepts/security/rbac-good-practices/#access-to-proxy-subresource-of-nodes)";
const REF_WEBHOOK: &str = "a mutating webhook configuration sees and rewrites every object, secrets and pods included (https://kubernetes.io/docs/concepts/security/rbac-good-practices/#control-admission-webhooks)";
const REF_CSR: &str = "approving certificate signing requests for kube-apiserver-client lets one issue a system:masters client certificate (https://kubernetes.io/docs/concepts/security/rbac-good-practices/#csrs-and-certificate-issuing)";
const REF_EXEC_TOKEN: &str = "exec or attach into a pod runs commands in it, which read its service account's token from /var/run/secrets/kubernetes.io/serviceaccount/token (https://kubernetes.io/docs/concepts/security/rbac-good-practices/#workload-creation)";
const REF_POD_PATCH: &str = "a running pod's container images can be changed (patch/update pods): the new image runs with the pod's service account and its privileges (https://kubernetes.io/docs/concepts/workloads/pods/#pod-update-and-replacement)";
const REF_CONTROLLER_PATCH: &str = "updating a controller's pod template (its image) rolls out pods of the attacker's image with the template's service account and privileges (https://kubernetes.io/docs/concepts/security/rbac-good-practices/#workload-creation)";
const REF_TOKEN_SECRET: &str = "creating a Secret of type kubernetes.io/service-account-token annotated with a service account's name makes the token controller fill it with a token of that account, which one then reads (https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#manually-create-an-api-token-for-a-serviceaccount)";
const REF_ADMIN: &str = "every verb on every resource, cluster-wide";

/// Pod controllers: creating any of them creates pods (the controller acts for the creator).
const POD_CREATORS: &[(&str, &str)] = &[
    ("", "pods"),
    ("apps", "deployments"),
    ("apps", "daemonsets"),
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
];

/// An authorizer before RBAC that may deny a request (the Cedar policies of `--policies`):
/// `true` prunes the edge the request would enable.
pub type Deny<'a> = &'a (dyn Fn(&Attributes<'_>) -> bool + Sync);

struct Search<'a> {
    policy: &'a Policy,
    facts: &'a Facts,
    deny: Option<Deny<'a>>,
    /// The bindings naming each subject: `(true, group)`, or `(false, user name)` for users
    /// and service accounts (`system:serviceaccount:NS:NAME`), in binding order.
    by_subject: FxHashMap<(bool, String), Vec<usize>>,
    /// Per namespace of the facts: the identities of its service accounts (built once, cloned
    /// into the steps that gain them).
    service_accounts: FxHashMap<&'a str, Vec<Identity>>,
    /// On OpenShift, per namespace, the first of its service accounts (by name) that may use a
    /// node-reaching SCC there: a pod created in it may run as that account, privileged.
    sa_scc: FxHashMap<String, (String, SccUse)>,
}

/// Why an identity may use an SCC: an RBAC `use` grant (the engine's decision) or the SCC's
/// `users`/`groups` field naming it.
#[derive(Debug, Clone)]
struct SccUse {
    /// Index of the SCC in [`Facts::sccs`].
    scc: usize,
    /// The `use` grant; empty when the SCC's field names the identity.
    grants: Vec<Grant>,
    /// The field (`users`, `groups`) and its entry that names the identity, when not RBAC.
    field: Option<(&'static str, String)>,
}

impl SccUse {
    /// `SCC NAME (powers; use granted to WHO by RBAC)` or `… WHO is in its groups: G`.
    fn describe(&self, facts: &Facts, who: &str) -> String {
        let Some(scc) = facts.sccs.get(self.scc) else {
            return String::new();
        };
        let how = match &self.field {
            Some((field, entry)) => format!("{who} is in its {field}: {entry}"),
            None => format!("use granted to {who} by RBAC"),
        };
        format!("SCC {} ({}; {how})", scc.name, scc.powers.join(", "))
    }
}

/// [`Search::by_subject`]: a binding applies to a user exactly when one of its subjects' keys
/// is the user's name or one of its groups (`appliesToUser`).
fn index_subjects(policy: &Policy) -> FxHashMap<(bool, String), Vec<usize>> {
    let mut out: FxHashMap<(bool, String), Vec<usize>> = FxHashMap::default();
    for (i, b) in policy.bindings().iter().enumerate() {
        for subj in &b.subjects {
            let key = match subj.kind {
                SubjectKind::User => (false, subj.name.clone()),
                SubjectKind::Group => (true, subj.name.clone()),
                SubjectKind::ServiceAccount => match subj.service_account_username(&b.namespace) {
                    Some(u) => (false, u),
                    None => continue,
                },
            };
            let v = out.entry(key).or_default();
            if v.last() != Some(&i) {
                v.push(i);
            }
        }
    }
    out
}

/// The namespaced requests the per-namespace edges ask: `(verb, group, resource, subresource)`.
const NAMESPACED_EDGES: &[(&str, &str, &str, &str)] = &[
    ("create", "", "pods", ""),
    ("create", "apps", "deployments", ""),
    ("create", "apps", "daemonsets", ""),
    ("create", "apps", "replicasets", ""),
    ("create", "apps", "statefulsets", ""),
    ("create", "batch", "jobs", ""),
    ("create", "batch", "cronjobs", ""),
    ("create", "", "serviceaccounts", "token"),
    ("impersonate", "", "serviceaccounts", ""),
    ("create", "kubevirt.io", "virtualmachines", ""),
    ("get", "", "secrets", ""),
    ("list", "", "secrets", ""),
    ("create", "", "secrets", ""),
    ("create", "", "pods", "exec"),
    ("get", "", "pods", "exec"),
    ("create", "", "pods", "attach"),
    ("patch", "", "pods", ""),
    ("update", "", "pods", ""),
    ("patch", "apps", "deployments", ""),
    ("update", "apps", "deployments", ""),
    ("patch", "apps", "daemonsets", ""),
    ("update", "apps", "daemonsets", ""),
    ("patch", "apps", "statefulsets", ""),
    ("update", "apps", "statefulsets", ""),
    ("patch", "apps", "replicasets", ""),
    ("update", "apps", "replicasets", ""),
    ("patch", "batch", "jobs", ""),
    ("update", "batch", "jobs", ""),
    ("patch", "batch", "cronjobs", ""),
    ("update", "batch", "cronjobs", ""),
];

// Memo slots of the per-namespace requests in [`Search::steps`] (after POD_CREATORS' indices).
const SLOT_TOKEN: usize = POD_CREATORS.len();
const SLOT_IMPERSONATE: usize = SLOT_TOKEN + 1;
const SLOT_VM: usize = SLOT_TOKEN + 2;
const SLOT_SECRET_GET: usize = SLOT_TOKEN + 3;
const SLOT_SECRET_LIST: usize = SLOT_TOKEN + 4;
const SLOT_SCC_USE: usize = SLOT_TOKEN + 5;
const SLOT_SECRET_CREATE: usize = SLOT_TOKEN + 6;
const SLOTS: usize = SLOT_SECRET_CREATE + 1;

/// The SCC `use` request's (group, resource, subresource).
const SCC_RESOURCE: (&str, &str, &str) =
    ("security.openshift.io", "securitycontextconstraints", "");

impl Search<'_> {
    /// The namespaces whose per-namespace edges need asking for `u`: those with a RoleBinding
    /// that applies to it (`local`), or all (`all`) when a ClusterRoleBinding of it has a rule
    /// that could grant one of [`NAMESPACED_EDGES`] (whatever its resourceNames). In any other
    /// namespace only ClusterRoleBindings apply to `u`, and none of them grants an edge, so
    /// skipping it changes no answer; it saves asking every namespace for every identity.
    fn namespaces_to_ask(&self, u: &User) -> (bool, rustc_hash::FxHashSet<&str>) {
        let mut applying: Vec<usize> = std::iter::once((false, u.name.clone()))
            .chain(u.groups.iter().map(|g| (true, g.clone())))
            .filter_map(|k| self.by_subject.get(&k))
            .flatten()
            .copied()
            .collect();
        applying.sort_unstable();
        applying.dedup();
        let bindings = self.policy.bindings();
        let relevant = applying
            .iter()
            .filter(|&&b| bindings[b].kind == BindingKind::ClusterRoleBinding)
            .filter_map(|&b| self.policy.binding_role(b).ok())
            .flat_map(|role| &role.rules)
            .any(|rule| {
                NAMESPACED_EDGES.iter().any(|(verb, group, resource, sub)| {
                    let combined = if sub.is_empty() {
                        (*resource).to_string()
                    } else {
                        format!("{resource}/{sub}")
                    };
                    verb_matches(rule, verb)
                        && api_group_matches(rule, group)
                        && resource_matches(rule, &combined, sub)
                })
            });
        let local = applying
            .iter()
            .map(|&b| &bindings[b])
            .filter(|b| b.kind == BindingKind::RoleBinding)
            .map(|b| b.namespace.as_str())
            .collect();
        (relevant, local)
    }

    /// The first grant allowing the request, if allowed.
    fn can(
        &self,
        user: &User,
        verb: &str,
        (group, resource, sub): (&str, &str, &str),
        ns: &str,
        name: &str,
    ) -> Option<Vec<Grant>> {
        let attrs = Attributes::resource(
            user,
            verb,
            ResourceAttributes {
                namespace: ns,
                api_group: group,
                resource,
                subresource: sub,
                name,
            },
        );
        if self.deny.is_some_and(|deny| deny(&attrs)) {
            return None;
        }
        let d = self.policy.decide(&attrs);
        d.allowed.then(|| d.grants.into_iter().take(1).collect())
    }

    /// The first node-reaching SCC (by name) that `u` may use: RBAC `use` (asked through `can`,
    /// in the pod's namespace) first, then the SCC's `users`/`groups` fields.
    fn scc_use(&self, u: &User, can: &dyn Fn(&str) -> Option<Vec<Grant>>) -> Option<SccUse> {
        self.facts
            .sccs
            .iter()
            .enumerate()
            .filter(|(_, scc)| scc.reaches_node())
            .find_map(|(i, scc)| {
                if let Some(grants) = can(&scc.name) {
                    return Some(SccUse {
                        scc: i,
                        grants,
                        field: None,
                    });
                }
                scc.names(&u.name, &u.groups).map(|(field, entry)| SccUse {
                    scc: i,
                    grants: Vec::new(),
                    field: Some((field, entry.to_owned())),
                })
            })
    }

    /// [`Search::sa_scc`]: per namespace whose pods Pod Security lets be privileged, its first
    /// service account that may use a node-reaching SCC there.
    fn service_account_sccs(&self) -> FxHashMap<String, (String, SccUse)> {
        let mut out = FxHashMap::default();
        if !self.facts.openshift || self.facts.node_sccs().next().is_none() {
            return out;
        }
        for (ns, sas) in &self.facts.service_accounts {
            if !self.facts.pod_security_allows_privileged(ns) {
                continue;
            }
            for sa in sas {
                let u = Identity::service_account(ns, sa).as_user();
                let found = self.scc_use(&u, &|name| self.can(&u, "use", SCC_RESOURCE, ns, name));
                if let Some(found) = found {
                    out.insert(ns.clone(), (sa.clone(), found));
                    break;
                }
            }
        }
        out
    }

    fn is_admin(&self, user: &User) -> bool {
        user.is_privileged() || self.can(user, "*", ("*", "*", ""), "", "").is_some()
    }

    /// The first `limit` steps out of an identity, in a fixed order; without `describe` the
    /// steps carry no action, namespace or grants (the search only needs what they gain).
    fn steps(
        &self,
        id: &Identity,
        to: &[Target],
        describe: &dyn Fn(usize) -> bool,
        limit: usize,
    ) -> Vec<Step> {
        let mut out = Vec::new();
        self.steps_into(id, to, describe, limit, &mut out);
        out
    }

    /// [`Search::steps`] appended to `out` (a buffer reused across identities).
    fn steps_into(
        &self,
        id: &Identity,
        to: &[Target],
        describe: &dyn Fn(usize) -> bool,
        limit: usize,
        out: &mut Vec<Step>,
    ) {
        let u = id.as_user();
        let base = out.len();
        // The text is only formatted when wanted; past `limit` steps nothing more is asked.
        macro_rules! step {
            ($action:expr, $ns:expr, $grants:expr, $gains:expr, $reference:expr $(,)?) => {{
                if out.len() - base >= limit {
                    return;
                }
                Step {
                    action: if describe(out.len() - base) {
                        $action
                    } else {
                        String::new()
                    },
                    namespace: if describe(out.len() - base) {
                        $ns.to_string()
                    } else {
                        String::new()
                    },
                    // Only the described steps' grants are read (the search needs none).
                    grants: if describe(out.len() - base) {
                        $grants
                    } else {
                        Vec::new()
                    },
                    gains: $gains,
                    reference: $reference,
                }
            }};
        }
        // Cluster-wide targets first: shortest paths prefer them.
        if to.contains(&Target::ClusterAdmin) {
            if let Some(g) = self.can(&u, "impersonate", ("", "groups", ""), "", "system:masters") {
                out.push(step!(
                    "impersonate group system:masters".into(),
                    "",
                    g,
                    Gain::Target(Target::ClusterAdmin),
                    REF_IMPERSONATE,
                ));
            }
            if let (Some(g1), Some(g2)) = (
                self.can(
                    &u,
                    "bind",
                    ("rbac.authorization.k8s.io", "clusterroles", ""),
                    "",
                    "cluster-admin",
                ),
                self.can(
                    &u,
                    "create",
                    ("rbac.authorization.k8s.io", "clusterrolebindings", ""),
                    "",
                    "",
                ),
            ) {
                out.push(step!(
                    "bind ClusterRole cluster-admin with a new ClusterRoleBinding".into(),
                    "",
                    [g1, g2].concat(),
                    Gain::Target(Target::ClusterAdmin),
                    REF_BIND,
                ));
            }
            if let (Some(g1), Some(g2), Some(g3)) = (
                self.can(
                    &u,
                    "escalate",
                    ("rbac.authorization.k8s.io", "clusterroles", ""),
                    "",
                    "",
                ),
                self.can(
                    &u,
                    "create",
                    ("rbac.authorization.k8s.io", "clusterroles", ""),
                    "",
                    "",
                ),
                self.can(
                    &u,
                    "create",
                    ("rbac.authorization.k8s.io", "clusterrolebindings", ""),
                    "",
                    "",
                ),
            ) {
                let bind = self.can(
                    &u,
                    "bind",
                    ("rbac.authorization.k8s.io", "clusterroles", ""),
                    "",
                    "",
                );
                if let Some(g4) = bind {
                    out.push(step!(
                        "create a ClusterRole with every right (escalate) and bind it to oneself"
                            .into(),
                        "",
                        [g1, g2, g3, g4].concat(),
                        Gain::Target(Target::ClusterAdmin),
                        REF_ESCALATE,
                    ));
                }
            }
            // escalate + update of a ClusterRole already bound to oneself cluster-wide: write
            // every right into it (no bind needed, the binding exists).
            let mine = std::iter::once((false, u.name.clone()))
                .chain(u.groups.iter().map(|g| (true, g.clone())))
                .filter_map(|k| self.by_subject.get(&k))
                .flatten()
                .copied();
            let mut seen = std::collections::BTreeSet::new();
            for b in mine {
                let Some(binding) = self.policy.bindings().get(b) else {
                    continue;
                };
                if binding.kind != BindingKind::ClusterRoleBinding
                    || binding.role_ref.kind != "ClusterRole"
                    || !seen.insert(binding.role_ref.name.as_str())
                {
                    continue;
                }
                let role = binding.role_ref.name.as_str();
                let rbac = ("rbac.authorization.k8s.io", "clusterroles", "");
                let Some(g1) = self.can(&u, "escalate", rbac, "", role) else {
                    continue;
                };
                if let Some((verb, g2)) = ["update", "patch"]
                    .iter()
                    .find_map(|v| self.can(&u, v, rbac, "", role).map(|g| (v, g)))
                {
                    out.push(step!(
                        format!(
                            "{verb} ClusterRole {role} (bound to oneself by ClusterRoleBinding {}) with every right (escalate)",
                            binding.name
                        ),
                        "",
                        [g1, g2].concat(),
                        Gain::Target(Target::ClusterAdmin),
                        REF_ESCALATE,
                    ));
                    break;
                }
            }
            if let Some(g) = self.can(
                &u,
                "create",
                (
                    "admissionregistration.k8s.io",
                    "mutatingwebhookconfigurations",
                    "",
                ),
                "",
                "",
            ) {
                out.push(step!(
                    "create mutatingwebhookconfigurations".into(),
                    "",
                    g,
                    Gain::Target(Target::ClusterAdmin),
                    REF_WEBHOOK,
                ));
            }
            if let (Some(g1), Some(g2), Some(g3)) = (
                self.can(
                    &u,
                    "create",
                    ("certificates.k8s.io", "certificatesigningrequests", ""),
                    "",
                    "",
                ),
                self.can(
                    &u,
                    "update",
                    (
                        "certificates.k8s.io",
                        "certificatesigningrequests",
                        "approval",
                    ),
                    "",
                    "",
                ),
                self.can(
                    &u,
                    "approve",
                    ("certificates.k8s.io", "signers", ""),
                    "",
                    "kubernetes.io/kube-apiserver-client",
                ),
            ) {
                out.push(step!(
                    "create and approve a CSR for a system:masters client certificate".into(),
                    "",
                    [g1, g2, g3].concat(),
                    Gain::Target(Target::ClusterAdmin),
                    REF_CSR,
                ));
            }
        }
        if to.contains(&Target::Node) {
            for verb in ["get", "create"] {
                if let Some(g) = self.can(&u, verb, ("", "nodes", "proxy"), "", "") {
                    out.push(step!(
                        format!("{verb} nodes/proxy"),
                        "",
                        g,
                        Gain::Target(Target::Node),
                        REF_NODES_PROXY,
                    ));
                    break;
                }
            }
            if let Some((ns, name)) = &self.facts.kubevirt {
                for verb in ["update", "patch"] {
                    if let Some(g) = self.can(&u, verb, ("kubevirt.io", "kubevirts", ""), ns, name)
                    {
                        out.push(step!(
                            format!("{verb} KubeVirt {ns}/{name} (spec.customizeComponents)"),
                            ns,
                            g,
                            Gain::Target(Target::Node),
                            REF_KUBEVIRT_CR,
                        ));
                        break;
                    }
                }
            }
            for p in &self.facts.powerful_pods {
                let name = if p.name.ends_with("-*") {
                    ""
                } else {
                    p.name.as_str()
                };
                let tries = [
                    ("create", "exec"),
                    ("get", "exec"),
                    ("create", "attach"),
                    ("patch", "ephemeralcontainers"),
                    ("update", "ephemeralcontainers"),
                ];
                if let Some((verb, sub, g)) = tries.iter().find_map(|(v, s)| {
                    self.can(&u, v, ("", "pods", s), &p.namespace, name)
                        .map(|g| (v, s, g))
                }) {
                    out.push(step!(
                        format!(
                            "{verb} pods/{sub} on {}/{} ({})",
                            p.namespace, p.name, p.why
                        ),
                        &p.namespace,
                        g,
                        Gain::Target(Target::Node),
                        REF_EXEC,
                    ));
                }
            }
        }
        let (all, local) = self.namespaces_to_ask(&u);
        let ask = |ns: &str| all || local.contains(ns);
        // Code in an existing pod runs as its service account (and with its privileges): exec
        // or attach into it, change its image, or change its controller's pod template.
        for w in &self.facts.workloads {
            if !ask(&w.namespace) {
                continue;
            }
            let ns = w.namespace.as_str();
            let sa = Identity::service_account(ns, &w.service_account);
            let gains_sa = w.token && &sa != id;
            let node = w.power.is_some() && to.contains(&Target::Node);
            if gains_sa {
                let tries = [("create", "exec"), ("get", "exec"), ("create", "attach")];
                if let Some((verb, sub, g)) = tries.iter().find_map(|(v, s)| {
                    self.can(&u, v, ("", "pods", s), ns, w.pod_name())
                        .map(|g| (v, s, g))
                }) {
                    out.push(step!(
                        format!(
                            "{verb} pods/{sub} on {} and read the token of service account {}",
                            w.describe(),
                            w.service_account
                        ),
                        ns,
                        g,
                        Gain::Identity(sa.clone()),
                        REF_EXEC_TOKEN,
                    ));
                }
            }
            if !gains_sa && !node {
                continue;
            }
            let patch = ["patch", "update"].iter().find_map(|v| {
                self.can(&u, v, ("", "pods", ""), ns, w.pod_name())
                    .map(|g| {
                        (
                            format!("{v} the image of {}", w.describe()),
                            g,
                            REF_POD_PATCH,
                        )
                    })
            });
            let patch = patch.or_else(|| {
                let (_, group, resource) =
                    facts::CONTROLLERS.iter().find(|(k, _, _)| *k == w.kind)?;
                ["patch", "update"].iter().find_map(|v| {
                    self.can(&u, v, (group, resource, ""), ns, &w.name)
                        .map(|g| {
                            (
                                format!("{v} {} {ns}/{}: its pod template's image", w.kind, w.name),
                                g,
                                REF_CONTROLLER_PATCH,
                            )
                        })
                })
            });
            let Some((action, g, reference)) = patch else {
                continue;
            };
            if node {
                out.push(step!(
                    format!("{action} ({})", w.power.as_deref().unwrap_or_default()),
                    ns,
                    g.clone(),
                    Gain::Target(Target::Node),
                    reference,
                ));
            }
            if gains_sa {
                out.push(step!(
                    format!(
                        "{action}, which runs as service account {}",
                        w.service_account
                    ),
                    ns,
                    g,
                    Gain::Identity(sa),
                    reference,
                ));
            }
        }
        // In a namespace where no RoleBinding applies to `u`, RBAC decides from its
        // ClusterRoleBindings alone, the same in every such namespace: those answers are asked
        // once (not when an authorizer before RBAC, which may look at the namespace, is set).
        // One memo per call site below (`slot`): POD_CREATORS by index, then the others.
        let memo: std::cell::RefCell<Vec<FxHashMap<String, Option<Vec<Grant>>>>> =
            std::cell::RefCell::new(vec![FxHashMap::default(); SLOTS]);
        // (Requests without a name, the most asked, by slot alone.)
        let unnamed: std::cell::RefCell<Vec<Option<Option<Vec<Grant>>>>> =
            std::cell::RefCell::new(vec![None; SLOTS]);
        let can_in = |slot: usize,
                      verb: &str,
                      what: (&str, &str, &str),
                      ns: &str,
                      name: &str|
         -> Option<Vec<Grant>> {
            if self.deny.is_some() || local.contains(ns) {
                return self.can(&u, verb, what, ns, name);
            }
            if name.is_empty() {
                if let Some(Some(known)) = unnamed.borrow().get(slot) {
                    return known.clone();
                }
                let answer = self.can(&u, verb, what, ns, name);
                if let Some(m) = unnamed.borrow_mut().get_mut(slot) {
                    *m = Some(answer.clone());
                }
                return answer;
            }
            if let Some(known) = memo.borrow().get(slot).and_then(|m| m.get(name)) {
                return known.clone();
            }
            let answer = self.can(&u, verb, what, ns, name);
            if let Some(m) = memo.borrow_mut().get_mut(slot) {
                m.insert(name.to_owned(), answer.clone());
            }
            answer
        };
        for ns in &self.facts.namespaces {
            if !ask(ns) {
                continue;
            }
            let creator = POD_CREATORS.iter().enumerate().find_map(|(i, (grp, res))| {
                can_in(i, "create", (grp, res, ""), ns, "").map(|g| (*grp, *res, g))
            });
            if let Some((grp, res, g)) = &creator {
                let what = if grp.is_empty() {
                    res.to_string()
                } else {
                    format!("{res}.{grp}")
                };
                if to.contains(&Target::Node) && self.facts.privileged_pods_allowed(ns) {
                    out.push(step!(format!("create {what} with a privileged pod in namespace {ns} (Pod Security: {})", self.facts.pod_security.get(ns).map(String::as_str).unwrap_or("unset")), ns, g.clone(), Gain::Target(Target::Node), REF_PRIVILEGED_POD));
                } else if to.contains(&Target::Node)
                    && self.facts.openshift
                    && self.facts.pod_security_allows_privileged(ns)
                {
                    // SCC admission: the creator's own SCCs count for pods it creates itself
                    // (a controller creates the pods of the others), the pod's service
                    // account's always.
                    let own = (grp.is_empty() && *res == "pods")
                        .then(|| {
                            self.scc_use(&u, &|name| {
                                can_in(SLOT_SCC_USE, "use", SCC_RESOURCE, ns, name)
                            })
                        })
                        .flatten();
                    if let Some(own) = own {
                        out.push(step!(
                            format!(
                                "create {what} with a privileged pod in namespace {ns} under {}",
                                own.describe(self.facts, "the creator")
                            ),
                            ns,
                            [g.clone(), own.grants].concat(),
                            Gain::Target(Target::Node),
                            REF_SCC,
                        ));
                    } else if let Some((sa, by_sa)) = self.sa_scc.get(ns.as_str()) {
                        out.push(step!(
                            format!(
                                "create {what} with a privileged pod in namespace {ns} running as service account {sa} under {}",
                                by_sa.describe(
                                    self.facts,
                                    &Identity::service_account(ns, sa).describe()
                                )
                            ),
                            ns,
                            [g.clone(), by_sa.grants.clone()].concat(),
                            Gain::Target(Target::Node),
                            REF_SCC,
                        ));
                    }
                }
                for target in self.service_accounts.get(ns.as_str()).into_iter().flatten() {
                    if target != id {
                        let sa = &target.name;
                        out.push(step!(
                            format!(
                                "create {what} in namespace {ns} running as service account {sa}"
                            ),
                            ns,
                            g.clone(),
                            Gain::Identity(target.clone()),
                            REF_POD_SA,
                        ));
                    }
                }
            }
            // A token Secret one creates for an account (and may then read) gets its token.
            let token_secret = can_in(SLOT_SECRET_CREATE, "create", ("", "secrets", ""), ns, "")
                .and_then(|g1| {
                    can_in(SLOT_SECRET_GET, "get", ("", "secrets", ""), ns, "")
                        .or_else(|| can_in(SLOT_SECRET_LIST, "list", ("", "secrets", ""), ns, ""))
                        .map(|g2| [g1, g2].concat())
                });
            for target in self.service_accounts.get(ns.as_str()).into_iter().flatten() {
                if target == id {
                    continue;
                }
                let sa = &target.name;
                if let Some(g) = &token_secret {
                    out.push(step!(
                        format!("create a kubernetes.io/service-account-token Secret for {ns}/{sa} and read it"),
                        ns,
                        g.clone(),
                        Gain::Identity(target.clone()),
                        REF_TOKEN_SECRET,
                    ));
                }
                if let Some(g) = can_in(
                    SLOT_TOKEN,
                    "create",
                    ("", "serviceaccounts", "token"),
                    ns,
                    sa,
                ) {
                    out.push(step!(
                        format!("create serviceaccounts/token for {ns}/{sa}"),
                        ns,
                        g,
                        Gain::Identity(target.clone()),
                        REF_TOKEN,
                    ));
                }
                if let Some(g) = can_in(
                    SLOT_IMPERSONATE,
                    "impersonate",
                    ("", "serviceaccounts", ""),
                    ns,
                    sa,
                ) {
                    out.push(step!(
                        format!("impersonate service account {ns}/{sa}"),
                        ns,
                        g,
                        Gain::Identity(target.clone()),
                        REF_IMPERSONATE,
                    ));
                }
            }
            if self.facts.gates.contains("HostDisk") && to.contains(&Target::Node) {
                if let Some(g) = can_in(
                    SLOT_VM,
                    "create",
                    ("kubevirt.io", "virtualmachines", ""),
                    ns,
                    "",
                ) {
                    out.push(step!(format!("create a VirtualMachine with a hostDisk volume in namespace {ns} (HostDisk gate on)"), ns, g, Gain::Target(Target::Node), REF_HOSTDISK));
                }
            }
            if self.facts.gates.contains("Sidecar") && to.contains(&Target::VirtLauncher) {
                if let Some(g) = can_in(
                    SLOT_VM,
                    "create",
                    ("kubevirt.io", "virtualmachines", ""),
                    ns,
                    "",
                ) {
                    out.push(step!(format!("create a VirtualMachine with a hook sidecar in namespace {ns} (Sidecar gate on)"), ns, g, Gain::Target(Target::VirtLauncher), REF_SIDECAR));
                }
            }
        }
        for (ns, secret, sa) in &self.facts.token_secrets {
            let target = Identity::service_account(ns, sa);
            if &target == id || !ask(ns) {
                continue;
            }
            if let Some(g) = can_in(SLOT_SECRET_GET, "get", ("", "secrets", ""), ns, secret)
                .or_else(|| can_in(SLOT_SECRET_LIST, "list", ("", "secrets", ""), ns, ""))
            {
                out.push(step!(
                    format!("read Secret {ns}/{secret} (a token of {sa})"),
                    ns,
                    g,
                    Gain::Identity(target),
                    REF_SECRET,
                ));
            }
        }
    }
}

/// Every subject a binding names, and every service account of the facts.
fn subjects(policy: &Policy, facts: &Facts) -> Vec<Identity> {
    let mut out = std::collections::BTreeSet::new();
    for b in policy.bindings() {
        for s in &b.subjects {
            out.insert(match s.kind {
                SubjectKind::User => Identity::user(&s.name),
                SubjectKind::Group => Identity::group(&s.name),
                SubjectKind::ServiceAccount => {
                    let ns = if s.namespace.is_empty() {
                        &b.namespace
                    } else {
                        &s.namespace
                    };
                    Identity::service_account(ns, &s.name)
                }
            });
        }
    }
    for (ns, sas) in &facts.service_accounts {
        for sa in sas {
            out.insert(Identity::service_account(ns, sa));
        }
    }
    out.into_iter().collect()
}

/// The identity graph explored from every start: numbered identities, the edges of each one
/// expanded (computed once, shared by every start), and which ones are cluster-admin. Only the
/// edges are kept: the steps (with their descriptions and grants) of the few identities on a
/// reported path are computed again when the path is written, which keeps the graph small.
struct Graph {
    ids: Vec<Identity>,
    /// Per identity, per step (in step order): what it gains; `None` when the identity was not
    /// expanded (too far from every start).
    edges: Vec<Option<Vec<Edge>>>,
    admin: Vec<bool>,
}

/// What a step gains, by number.
#[derive(Clone, Copy)]
enum Edge {
    Identity(u32),
    Target(Target),
}

const UNREACHED: usize = usize::MAX;

/// A placeholder in an edge list for an identity numbered after the parallel part.
const NEW: u32 = u32::MAX;

thread_local! {
    /// The steps buffer of one exploring thread, reused from identity to identity.
    static STEPS: std::cell::RefCell<Vec<Step>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Graph {
    /// Breadth-first from all starts at once: an identity is expanded when some start reaches it
    /// in fewer than `max_steps` steps, so every path of at most `max_steps` steps from any start
    /// lies in the graph.
    fn explore(search: &Search<'_>, starts: &[Identity], opts: &Options) -> Graph {
        let mut g = Graph {
            ids: Vec::new(),
            edges: Vec::new(),
            admin: Vec::new(),
        };
        let mut numbers: FxHashMap<Identity, u32> = FxHashMap::default();
        let mut depth: Vec<usize> = Vec::new();
        let want_admin = opts.to.contains(&Target::ClusterAdmin);
        let mut queue = VecDeque::new();
        let intern = |id: &Identity,
                      g: &mut Graph,
                      depth: &mut Vec<usize>,
                      numbers: &mut FxHashMap<Identity, u32>|
         -> (u32, bool) {
            if let Some(&n) = numbers.get(id) {
                return (n, false);
            }
            let n = g.ids.len() as u32;
            numbers.insert(id.clone(), n);
            g.ids.push(id.clone());
            g.edges.push(None);
            g.admin.push(want_admin && search.is_admin(&id.as_user()));
            depth.push(UNREACHED);
            (n, true)
        };
        for s in starts {
            let (n, _) = intern(s, &mut g, &mut depth, &mut numbers);
            if depth[n as usize] == UNREACHED {
                depth[n as usize] = 0;
                queue.push_back(n);
            }
        }
        // The steps of a chunk of the queue are computed in parallel (pure); the identities
        // they gain are then numbered in queue order, exactly as one at a time.
        while !queue.is_empty() {
            let chunk: Vec<u32> = (0..queue.len().min(256))
                .filter_map(|_| queue.pop_front())
                .collect();
            // Identities numbered before the chunk are looked up in parallel too (most gains
            // are), so only new ones are left to number in order: an edge to one of those is
            // `NEW` in the list, and the identity is in the second list with its position.
            let known = &numbers;
            type Expanded = (Vec<Edge>, Vec<(usize, Identity)>);
            let expanded: Vec<Option<Expanded>> = chunk
                .par_iter()
                .map(|&n| {
                    if depth[n as usize] >= opts.max_steps {
                        return None;
                    }
                    STEPS.with_borrow_mut(|buf| {
                        buf.clear();
                        search.steps_into(
                            &g.ids[n as usize],
                            &opts.to,
                            &|_| false,
                            usize::MAX,
                            buf,
                        );
                        let mut edges = Vec::with_capacity(buf.len());
                        let mut new = Vec::new();
                        for s in buf.drain(..) {
                            edges.push(match s.gains {
                                Gain::Identity(id) => match known.get(&id) {
                                    Some(&m) => Edge::Identity(m),
                                    None => {
                                        new.push((edges.len(), id));
                                        Edge::Identity(NEW)
                                    }
                                },
                                Gain::Target(t) => Edge::Target(t),
                            });
                        }
                        Some((edges, new))
                    })
                })
                .collect();
            for (&n, found) in chunk.iter().zip(expanded) {
                let Some((mut edges, new)) = found else {
                    continue;
                };
                for (at, id) in new {
                    let (m, _) = intern(&id, &mut g, &mut depth, &mut numbers);
                    if let Some(e) = edges.get_mut(at) {
                        *e = Edge::Identity(m);
                    }
                }
                let d = depth[n as usize];
                for e in &edges {
                    if let Edge::Identity(m) = *e {
                        if depth[m as usize] == UNREACHED {
                            depth[m as usize] = d + 1;
                            queue.push_back(m);
                        }
                    }
                }
                g.edges[n as usize] = Some(edges);
            }
        }
        g
    }

    /// Per identity, the fewest steps to `target` (`UNREACHED` if none): a step that gains it
    /// counts one; for cluster-admin an identity that is cluster-admin counts zero (the path
    /// ends with "act as", which is not a step of the search). Breadth-first backwards.
    fn distances(&self, target: Target, max_steps: usize) -> Vec<usize> {
        let n = self.ids.len();
        let mut dist = vec![UNREACHED; n];
        let mut preds: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut levels: Vec<Vec<u32>> = vec![Vec::new(); max_steps + 1];
        if target == Target::ClusterAdmin {
            for (u, &admin) in self.admin.iter().enumerate() {
                if admin {
                    dist[u] = 0;
                    levels[0].push(u as u32);
                }
            }
        }
        for (u, edges) in self.edges.iter().enumerate() {
            let Some(edges) = edges else { continue };
            for e in edges {
                match *e {
                    Edge::Identity(m) => preds[m as usize].push(u as u32),
                    Edge::Target(t) => {
                        if t == target && dist[u] == UNREACHED && max_steps >= 1 {
                            dist[u] = 1;
                            levels[1].push(u as u32);
                        }
                    }
                }
            }
        }
        for d in 0..max_steps {
            let level = std::mem::take(&mut levels[d]);
            for v in level {
                for &u in &preds[v as usize] {
                    if dist[u as usize] == UNREACHED {
                        dist[u as usize] = d + 1;
                        levels[d + 1].push(u);
                    }
                }
            }
        }
        dist
    }
}

/// Finds the shortest path from each subject to each wanted target.
/// Finds the shortest path from each subject to each wanted target.
pub fn find_paths(policy: &Policy, facts: &Facts, opts: &Options) -> Answer {
    find_paths_with(policy, facts, opts, None)
}

/// [`find_paths`] behind an authorizer that may deny requests: an edge whose request it
/// denies is not taken (a Cedar `forbid` in kube-apiserver's chain). Edges are still only
/// what RBAC grants: what such an authorizer allows beyond RBAC is not searched.
pub fn find_paths_with(
    policy: &Policy,
    facts: &Facts,
    opts: &Options,
    deny: Option<Deny<'_>>,
) -> Answer {
    let mut search = Search {
        policy,
        facts,
        deny,
        by_subject: index_subjects(policy),
        service_accounts: facts
            .service_accounts
            .iter()
            .map(|(ns, sas)| {
                let ids = sas.iter().map(|sa| Identity::service_account(ns, sa));
                (ns.as_str(), ids.collect())
            })
            .collect(),
        sa_scc: FxHashMap::default(),
    };
    search.sa_scc = search.service_account_sccs();
    let starts = match &opts.from {
        Some(id) => vec![id.clone()],
        None => subjects(policy, facts),
    };
    let mut answer = Answer::default();
    // The graph is explored once for all starts; per target, the distance of every identity to
    // it is found backwards; a start's path is then walked forwards, taking at each identity its
    // first step (in step order) that stays on a shortest path. That is the lexicographically
    // first shortest path, the one a breadth-first search from the start finds.
    let is_admin: Vec<bool> = starts
        .iter()
        .map(|s| search.is_admin(&s.as_user()))
        .collect();
    let searched: Vec<Identity> = starts
        .iter()
        .zip(&is_admin)
        .filter(|(_, &admin)| !admin)
        .map(|(s, _)| s.clone())
        .collect();
    let graph = Graph::explore(&search, &searched, opts);
    let dist: Vec<(Target, Vec<usize>)> = opts
        .to
        .iter()
        .map(|&t| (t, graph.distances(t, opts.max_steps)))
        .collect();
    let number: FxHashMap<&Identity, usize> = graph
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id, i))
        .collect();
    // Per start, the choices (identity, step index, next identity) of each target's walk, on
    // the edges alone.
    type Walk = Vec<(usize, usize, Option<usize>)>;
    type Walks = Vec<(Target, Walk)>;
    let walks_of = |first: usize| -> Walks {
        let mut walks: Walks = Vec::new();
        for (target, dist) in &dist {
            if dist[first] == UNREACHED || dist[first] > opts.max_steps || dist[first] == 0 {
                continue;
            }
            let mut walk = Vec::with_capacity(dist[first]);
            let mut at = first;
            let mut complete = false;
            'walk: loop {
                let left = dist[at];
                let Some(edges) = graph.edges[at].as_ref() else {
                    break;
                };
                for (k, e) in edges.iter().enumerate() {
                    let (done, next) = match *e {
                        Edge::Target(t) => (left == 1 && t == *target, None),
                        Edge::Identity(m) => {
                            let m = m as usize;
                            (
                                false,
                                (dist[m] != UNREACHED && dist[m] + 1 == left).then_some(m),
                            )
                        }
                    };
                    if !done && next.is_none() {
                        continue;
                    }
                    walk.push((at, k, next));
                    match next {
                        Some(m) if dist[m] != 0 => {
                            at = m;
                            continue 'walk;
                        }
                        _ => {
                            complete = true;
                            break 'walk;
                        }
                    }
                }
                break;
            }
            if complete {
                walks.push((*target, walk));
            }
        }
        walks
    };
    let plan: Vec<(Identity, Option<(usize, Walks)>)> = starts
        .into_iter()
        .zip(is_admin)
        .map(|(start, admin)| match number.get(&start) {
            Some(&n) if !admin => (start, Some((n, walks_of(n)))),
            _ => (start, None),
        })
        .collect();
    // The steps taken inside paths (not from the start), described once each (an identity
    // inside many paths is described once, with only its steps that paths take); each start's
    // own steps are described per start, only those chosen (it may have thousands).
    let mut inner: FxHashMap<usize, Vec<usize>> = FxHashMap::default();
    for (first, ws) in plan.iter().filter_map(|(_, p)| p.as_ref()) {
        for (at, k, _) in ws.iter().flat_map(|(_, w)| w.iter()) {
            if at != first {
                inner.entry(*at).or_default().push(*k);
            }
        }
    }
    let rendered: FxHashMap<(usize, usize), Step> = inner
        .into_par_iter()
        .flat_map_iter(|(at, mut ks)| {
            ks.sort_unstable();
            ks.dedup();
            let limit = ks.last().map_or(0, |k| k + 1);
            let steps = search.steps(
                &graph.ids[at],
                &opts.to,
                &|k| ks.binary_search(&k).is_ok(),
                limit,
            );
            ks.into_iter()
                .filter_map(|k| steps.get(k).map(|s| ((at, k), s.clone())))
                .collect::<Vec<_>>()
        })
        .collect();
    let results: Vec<(Identity, Option<Vec<Path>>)> = plan
        .into_par_iter()
        .map(|(start, p)| {
            let Some((first, walks)) = p else {
                return (start, None);
            };
            let wanted: Vec<usize> = walks
                .iter()
                .flat_map(|(_, w)| w.iter().filter(|(n, _, _)| *n == first).map(|(_, k, _)| *k))
                .collect();
            // Only the steps up to the last one taken are computed again.
            let own = wanted.iter().max().map(|&last| {
                search.steps(
                    &graph.ids[first],
                    &opts.to,
                    &|k| wanted.contains(&k),
                    last + 1,
                )
            });
            let mut found: BTreeMap<Target, Vec<Step>> = BTreeMap::new();
            for (target, walk) in walks {
                let mut path = Vec::with_capacity(walk.len() + 1);
                let last = walk.len().saturating_sub(1);
                for (i, (at, k, next)) in walk.into_iter().enumerate() {
                    let step = if at == first {
                        own.as_deref().and_then(|o| o.get(k))
                    } else {
                        rendered.get(&(at, k))
                    };
                    let Some(step) = step else {
                        break;
                    };
                    path.push(step.clone());
                    // A walk to cluster-admin that ends on an identity ends on a cluster-admin one.
                    if let (true, Some(m)) = (i == last && target == Target::ClusterAdmin, next) {
                        path.push(Step {
                            action: format!("act as {}", graph.ids[m].describe()),
                            namespace: String::new(),
                            grants: Vec::new(),
                            gains: Gain::Target(Target::ClusterAdmin),
                            reference: REF_ADMIN,
                        });
                    }
                }
                if path.last().is_some_and(|s| s.gains == Gain::Target(target)) {
                    found.insert(target, path);
                }
            }
            let mut paths = Vec::new();
            for (target, steps) in found {
                // A path whose first step a group grants is the group's path: reported once, for
                // the group, not again for each member.
                let via_group = steps
                    .first()
                    .and_then(|s| s.grants.first())
                    .is_some_and(|g| {
                        policy
                            .bindings()
                            .get(g.binding)
                            .and_then(|b| b.subjects.get(g.subject))
                            .is_some_and(|subj| {
                                subj.kind == SubjectKind::Group
                                    && !(start.kind == "Group" && start.name == subj.name)
                            })
                    });
                if via_group && opts.from.is_none() {
                    continue;
                }
                paths.push(Path {
                    subject: start.clone(),
                    target,
                    steps,
                });
            }
            (start, Some(paths))
        })
        .collect();
    for (start, paths) in results {
        match paths {
            None => answer.admins.push(start),
            Some(p) => answer.paths.extend(p),
        }
    }
    answer
}
