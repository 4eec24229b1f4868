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
use std::rc::Rc;

use rustc_hash::FxHashMap;

use serde::Serialize;
use virtguard_rbac::{
    api_group_matches, resource_matches, verb_matches, Attributes, BindingKind, Grant, Policy,
    ResourceAttributes, SubjectKind, User,
};

pub use facts::{Facts, PowerfulPod};

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
const REF_EXEC: &str = "exec, attach or an ephemeral container in a privileged or host-namespace pod is code on its node";
const REF_KUBEVIRT_CR: &str = "virt-operator applies spec.customizeComponents patches to its own privileged virt-handler DaemonSet and enables the CR's feature gates (KubeVirt: customize components)";
const REF_HOSTDISK: &str =
    "with the HostDisk gate a VM's hostDisk volume is a file or directory on the node's filesystem";
const REF_SIDECAR: &str = "with the Sidecar gate a VM's hook sidecar annotation runs a container of the user's choosing in virt-launcher";
const REF_NODES_PROXY: &str = "nodes/proxy reaches the kubelet API, which runs commands in any pod of the node (https://kubernetes.io/docs/concepts/security/rbac-good-practices/#access-to-proxy-subresource-of-nodes)";
const REF_WEBHOOK: &str = "a mutating webhook configuration sees and rewrites every object, secrets and pods included (https://kubernetes.io/docs/concepts/security/rbac-good-practices/#control-admission-webhooks)";
const REF_CSR: &str = "approving certificate signing requests for kube-apiserver-client lets one issue a system:masters client certificate (https://kubernetes.io/docs/concepts/security/rbac-good-practices/#csrs-and-certificate-issuing)";
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
];

impl Search<'_> {
    /// The namespaces whose per-namespace edges need asking for `u`: those with a RoleBinding
    /// that applies to it, or all (`None`) when a ClusterRoleBinding of it has a rule that
    /// could grant one of [`NAMESPACED_EDGES`] (whatever its resourceNames). In any other
    /// namespace only ClusterRoleBindings apply to `u`, and none of them grants an edge, so
    /// skipping it changes no answer; it saves asking every namespace for every identity.
    fn namespaces_to_ask(&self, u: &User) -> Option<std::collections::HashSet<&str>> {
        let cluster = self.policy.rules_for(u, "");
        let relevant = cluster.rules.iter().any(|r| {
            NAMESPACED_EDGES.iter().any(|(verb, group, resource, sub)| {
                let combined = if sub.is_empty() {
                    (*resource).to_string()
                } else {
                    format!("{resource}/{sub}")
                };
                verb_matches(r.rule, verb)
                    && api_group_matches(r.rule, group)
                    && resource_matches(r.rule, &combined, sub)
            })
        });
        if relevant {
            return None;
        }
        Some(
            self.policy
                .bindings()
                .iter()
                .filter(|b| b.kind == BindingKind::RoleBinding && b.applies_to(u).is_some())
                .map(|b| b.namespace.as_str())
                .collect(),
        )
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

    fn is_admin(&self, user: &User) -> bool {
        user.is_privileged() || self.can(user, "*", ("*", "*", ""), "", "").is_some()
    }

    /// Every step out of an identity.
    fn steps(&self, id: &Identity, to: &[Target]) -> Vec<Step> {
        let u = id.as_user();
        let mut out = Vec::new();
        let step =
            |action: String, ns: &str, grants: Vec<Grant>, gains: Gain, reference: &'static str| {
                Step {
                    action,
                    namespace: ns.to_string(),
                    grants,
                    gains,
                    reference,
                }
            };
        // Cluster-wide targets first: shortest paths prefer them.
        if to.contains(&Target::ClusterAdmin) {
            if let Some(g) = self.can(&u, "impersonate", ("", "groups", ""), "", "system:masters") {
                out.push(step(
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
                out.push(step(
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
                    out.push(step(
                        "create a ClusterRole with every right (escalate) and bind it to oneself"
                            .into(),
                        "",
                        [g1, g2, g3, g4].concat(),
                        Gain::Target(Target::ClusterAdmin),
                        REF_ESCALATE,
                    ));
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
                out.push(step(
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
                out.push(step(
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
                    out.push(step(
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
                        out.push(step(
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
                    out.push(step(
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
        let asked = self.namespaces_to_ask(&u);
        let ask = |ns: &str| asked.as_ref().is_none_or(|a| a.contains(ns));
        for ns in &self.facts.namespaces {
            if !ask(ns) {
                continue;
            }
            let creator = POD_CREATORS.iter().find_map(|(grp, res)| {
                self.can(&u, "create", (grp, res, ""), ns, "")
                    .map(|g| (*grp, *res, g))
            });
            if let Some((grp, res, g)) = &creator {
                let what = if grp.is_empty() {
                    res.to_string()
                } else {
                    format!("{res}.{grp}")
                };
                if to.contains(&Target::Node) && self.facts.privileged_pods_allowed(ns) {
                    out.push(step(format!("create {what} with a privileged pod in namespace {ns} (Pod Security: {})", self.facts.pod_security.get(ns).map(String::as_str).unwrap_or("unset")), ns, g.clone(), Gain::Target(Target::Node), REF_PRIVILEGED_POD));
                }
                for sa in self.facts.service_accounts.get(ns).into_iter().flatten() {
                    let target = Identity::service_account(ns, sa);
                    if &target != id {
                        out.push(step(
                            format!(
                                "create {what} in namespace {ns} running as service account {sa}"
                            ),
                            ns,
                            g.clone(),
                            Gain::Identity(target),
                            REF_POD_SA,
                        ));
                    }
                }
            }
            for sa in self.facts.service_accounts.get(ns).into_iter().flatten() {
                let target = Identity::service_account(ns, sa);
                if &target == id {
                    continue;
                }
                if let Some(g) = self.can(&u, "create", ("", "serviceaccounts", "token"), ns, sa) {
                    out.push(step(
                        format!("create serviceaccounts/token for {ns}/{sa}"),
                        ns,
                        g,
                        Gain::Identity(target.clone()),
                        REF_TOKEN,
                    ));
                }
                if let Some(g) = self.can(&u, "impersonate", ("", "serviceaccounts", ""), ns, sa) {
                    out.push(step(
                        format!("impersonate service account {ns}/{sa}"),
                        ns,
                        g,
                        Gain::Identity(target),
                        REF_IMPERSONATE,
                    ));
                }
            }
            if self.facts.gates.contains("HostDisk") && to.contains(&Target::Node) {
                if let Some(g) =
                    self.can(&u, "create", ("kubevirt.io", "virtualmachines", ""), ns, "")
                {
                    out.push(step(format!("create a VirtualMachine with a hostDisk volume in namespace {ns} (HostDisk gate on)"), ns, g, Gain::Target(Target::Node), REF_HOSTDISK));
                }
            }
            if self.facts.gates.contains("Sidecar") && to.contains(&Target::VirtLauncher) {
                if let Some(g) =
                    self.can(&u, "create", ("kubevirt.io", "virtualmachines", ""), ns, "")
                {
                    out.push(step(format!("create a VirtualMachine with a hook sidecar in namespace {ns} (Sidecar gate on)"), ns, g, Gain::Target(Target::VirtLauncher), REF_SIDECAR));
                }
            }
        }
        for (ns, secret, sa) in &self.facts.token_secrets {
            let target = Identity::service_account(ns, sa);
            if &target == id || !ask(ns) {
                continue;
            }
            if let Some(g) = self
                .can(&u, "get", ("", "secrets", ""), ns, secret)
                .or_else(|| self.can(&u, "list", ("", "secrets", ""), ns, ""))
            {
                out.push(step(
                    format!("read Secret {ns}/{secret} (a token of {sa})"),
                    ns,
                    g,
                    Gain::Identity(target),
                    REF_SECRET,
                ));
            }
        }
        out
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

/// A node of the breadth-first search: the step that reached it (an index into an identity's
/// shared step list) and the node it was taken from.
struct Node {
    parent: Option<usize>,
    step: Option<(Rc<StepsOf>, usize)>,
    depth: usize,
}

/// An identity's steps, and per step the number of the identity it gains (`u32::MAX` for a
/// target).
struct StepsOf {
    steps: Vec<Step>,
    next: Vec<u32>,
}

/// The steps from the start to node `at`.
fn path_of(nodes: &[Node], mut at: usize) -> Vec<Step> {
    let mut out = Vec::new();
    while let Some(n) = nodes.get(at) {
        if let Some((steps, k)) = &n.step {
            if let Some(s) = steps.steps.get(*k) {
                out.push(s.clone());
            }
        }
        match n.parent {
            Some(p) => at = p,
            None => break,
        }
    }
    out.reverse();
    out
}

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
    let search = Search {
        policy,
        facts,
        deny,
    };
    let starts = match &opts.from {
        Some(id) => vec![id.clone()],
        None => subjects(policy, facts),
    };
    let mut answer = Answer::default();
    // Identities are numbered as met; each one's steps (and the numbers of the identities they
    // gain) are computed once and shared; a path in the search is a chain of parent links
    // into them, materialised only when it reaches a target.
    let mut ids: FxHashMap<Identity, u32> = FxHashMap::default();
    let mut step_cache: Vec<Option<Rc<StepsOf>>> = Vec::new();
    let mut admin_cache: Vec<Option<bool>> = Vec::new();
    let mut seen: Vec<usize> = Vec::new();
    let intern = |id: &Identity, ids: &mut FxHashMap<Identity, u32>| -> u32 {
        if let Some(&n) = ids.get(id) {
            return n;
        }
        let n = ids.len() as u32;
        ids.insert(id.clone(), n);
        n
    };
    for (round, start) in starts.into_iter().enumerate() {
        let round = round + 1;
        if search.is_admin(&start.as_user()) {
            answer.admins.push(start);
            continue;
        }
        // Breadth-first over identities; the first time a target is reached is a shortest path.
        let mut found: BTreeMap<Target, Vec<Step>> = BTreeMap::new();
        let first = intern(&start, &mut ids) as usize;
        let grow = |v: &mut Vec<usize>, n: usize| {
            if v.len() <= n {
                v.resize(n + 1, 0);
            }
        };
        grow(&mut seen, first);
        seen[first] = round;
        let mut nodes: Vec<Node> = vec![Node {
            parent: None,
            step: None,
            depth: 0,
        }];
        let mut queue = VecDeque::from([(start.clone(), first, 0usize)]);
        while let Some((id, num, at)) = queue.pop_front() {
            let depth = nodes[at].depth;
            if depth >= opts.max_steps || found.len() == opts.to.len() {
                continue;
            }
            if step_cache.len() <= num {
                step_cache.resize(num + 1, None);
            }
            let steps = match &step_cache[num] {
                Some(s) => s.clone(),
                None => {
                    let steps = search.steps(&id, &opts.to);
                    let next = steps
                        .iter()
                        .map(|s| match &s.gains {
                            Gain::Identity(n) => intern(n, &mut ids),
                            Gain::Target(_) => u32::MAX,
                        })
                        .collect();
                    let made = Rc::new(StepsOf { steps, next });
                    step_cache[num] = Some(made.clone());
                    made
                }
            };
            for (k, s) in steps.steps.iter().enumerate() {
                match &s.gains {
                    Gain::Target(t) => {
                        if opts.to.contains(t) && !found.contains_key(t) {
                            let mut p = path_of(&nodes, at);
                            p.push(s.clone());
                            found.insert(*t, p);
                        }
                    }
                    Gain::Identity(next) => {
                        let n = steps.next[k] as usize;
                        grow(&mut seen, n);
                        if seen[n] == round {
                            continue;
                        }
                        seen[n] = round;
                        if admin_cache.len() <= n {
                            admin_cache.resize(n + 1, None);
                        }
                        let admin =
                            *admin_cache[n].get_or_insert_with(|| search.is_admin(&next.as_user()));
                        if admin
                            && opts.to.contains(&Target::ClusterAdmin)
                            && !found.contains_key(&Target::ClusterAdmin)
                        {
                            let mut q = path_of(&nodes, at);
                            q.push(s.clone());
                            q.push(Step {
                                action: format!("act as {}", next.describe()),
                                namespace: String::new(),
                                grants: Vec::new(),
                                gains: Gain::Target(Target::ClusterAdmin),
                                reference: REF_ADMIN,
                            });
                            found.insert(Target::ClusterAdmin, q);
                        }
                        nodes.push(Node {
                            parent: Some(at),
                            step: Some((steps.clone(), k)),
                            depth: depth + 1,
                        });
                        queue.push_back((next.clone(), n, nodes.len() - 1));
                    }
                }
            }
        }
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
            answer.paths.push(Path {
                subject: start.clone(),
                target,
                steps,
            });
        }
    }
    answer
}
