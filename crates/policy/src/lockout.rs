//! Lockout guard: finds `forbid` policies that would deny the identities a cluster cannot run
//! without (cluster admins in `system:masters`, the control plane, nodes, the authorization
//! webhook itself), by deciding representative requests each of them needs.
//! The probed requests are listed by [`probes`] and documented in `docs/cedar-mapping.md`.

use crate::policy_set::{Decision, PolicyRef, PolicySet};
use crate::request::{Request, ResourceAttributes};

/// The identity of the authorization webhook of cedar-access-control-for-k8s
/// (`internal/server/options/options.go`).
pub const CEDAR_WEBHOOK_USER: &str = "system:authorizer:cedar-authorizer";

/// What the guard protects besides the fixed control-plane identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// Users the authorization webhook runs as; they must keep reading policies and RBAC.
    pub webhook_users: Vec<String>,
}

impl Default for Guard {
    fn default() -> Self {
        Guard {
            webhook_users: vec![CEDAR_WEBHOOK_USER.to_owned()],
        }
    }
}

/// One request a protected identity needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The identity, e.g. `system:kube-scheduler` or `group system:masters`.
    pub identity: String,
    /// The request it must not be denied.
    pub request: Request,
}

/// A policy that denies a protected identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockout {
    /// The forbidding policy.
    pub policy: PolicyRef,
    /// The identity it locks out.
    pub identity: String,
    /// The probed requests it denies, described as `verb resource[/sub] [name] [in ns] [(group)]`.
    pub requests: Vec<String>,
}

/// `(verbs, api group, resource, subresource, namespace, name)`.
type Row = (
    &'static [&'static str],
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const ALL: &[&str] = &[
    "get", "list", "watch", "create", "update", "patch", "delete",
];
const READ: &[&str] = &["get", "list", "watch"];
const LEASE: &[&str] = &["get", "create", "update"];
const CREATE: &[&str] = &["create"];
const RBAC: &str = "rbac.authorization.k8s.io";
const COORD: &str = "coordination.k8s.io";

const MASTERS: &[Row] = &[
    (ALL, "", "pods", "", "default", ""),
    (ALL, "", "namespaces", "", "", ""),
    (ALL, "", "nodes", "", "", ""),
    (ALL, "", "secrets", "", "kube-system", ""),
    (ALL, RBAC, "clusterroles", "", "", ""),
    (ALL, RBAC, "clusterrolebindings", "", "", ""),
    (ALL, "cedar.k8s.aws", "policies", "", "", ""),
];

const CONTROLLER_MANAGER: &[Row] = &[
    (
        LEASE,
        COORD,
        "leases",
        "",
        "kube-system",
        "kube-controller-manager",
    ),
    (READ, "", "pods", "", "", ""),
    (&["create", "delete"], "", "pods", "", "default", ""),
    (READ, "", "nodes", "", "", ""),
    (READ, "", "secrets", "", "", ""),
    (READ, "", "serviceaccounts", "", "", ""),
    (
        CREATE,
        "",
        "serviceaccounts",
        "token",
        "kube-system",
        "generic-garbage-collector",
    ),
    (READ, "apps", "replicasets", "", "", ""),
    (CREATE, "events.k8s.io", "events", "", "kube-system", ""),
    (CREATE, "authentication.k8s.io", "tokenreviews", "", "", ""),
    (
        CREATE,
        "authorization.k8s.io",
        "subjectaccessreviews",
        "",
        "",
        "",
    ),
];

const SCHEDULER: &[Row] = &[
    (LEASE, COORD, "leases", "", "kube-system", "kube-scheduler"),
    (READ, "", "pods", "", "", ""),
    (READ, "", "nodes", "", "", ""),
    (CREATE, "", "pods", "binding", "default", "probe-pod"),
    (
        &["patch", "update"],
        "",
        "pods",
        "status",
        "default",
        "probe-pod",
    ),
    (CREATE, "events.k8s.io", "events", "", "default", ""),
];

const APISERVER: &[Row] = &[
    (ALL, "", "namespaces", "", "", ""),
    (ALL, "", "services", "", "default", "kubernetes"),
    (
        ALL,
        "discovery.k8s.io",
        "endpointslices",
        "",
        "default",
        "kubernetes",
    ),
    (ALL, COORD, "leases", "", "kube-system", ""),
    (READ, "", "pods", "", "", ""),
    (ALL, "scheduling.k8s.io", "priorityclasses", "", "", ""),
];

const NODE: &[Row] = &[
    (&["get", "list", "watch", "create"], "", "nodes", "", "", ""),
    (
        &["get", "patch", "update"],
        "",
        "nodes",
        "",
        "",
        "lockout-probe",
    ),
    (
        &["patch", "update"],
        "",
        "nodes",
        "status",
        "",
        "lockout-probe",
    ),
    (
        LEASE,
        COORD,
        "leases",
        "",
        "kube-node-lease",
        "lockout-probe",
    ),
    (READ, "", "pods", "", "", ""),
    (
        &["get", "patch"],
        "",
        "pods",
        "status",
        "default",
        "probe-pod",
    ),
    (&["get"], "", "configmaps", "", "default", "probe-config"),
    (&["get"], "", "secrets", "", "default", "probe-secret"),
    (CREATE, "", "serviceaccounts", "token", "default", "default"),
    (CREATE, "", "events", "", "default", ""),
    (
        CREATE,
        "certificates.k8s.io",
        "certificatesigningrequests",
        "",
        "",
        "",
    ),
    (CREATE, "authentication.k8s.io", "tokenreviews", "", "", ""),
    (
        CREATE,
        "authorization.k8s.io",
        "subjectaccessreviews",
        "",
        "",
        "",
    ),
];

const WEBHOOK: &[Row] = &[
    (READ, "cedar.k8s.aws", "policies", "", "", ""),
    (READ, RBAC, "roles", "", "", ""),
    (READ, RBAC, "rolebindings", "", "", ""),
    (READ, RBAC, "clusterroles", "", "", ""),
    (READ, RBAC, "clusterrolebindings", "", "", ""),
];

fn expand(identity: &str, user: &str, groups: &[&str], rows: &[Row], out: &mut Vec<Probe>) {
    for &(verbs, group, resource, subresource, namespace, name) in rows {
        for verb in verbs {
            out.push(Probe {
                identity: identity.to_owned(),
                request: Request::resource(
                    user,
                    groups,
                    ResourceAttributes {
                        namespace: namespace.to_owned(),
                        verb: (*verb).to_owned(),
                        group: group.to_owned(),
                        version: "v1".to_owned(),
                        resource: resource.to_owned(),
                        subresource: subresource.to_owned(),
                        name: name.to_owned(),
                        ..ResourceAttributes::default()
                    },
                ),
            });
        }
    }
}

/// Every probed request, in a fixed order.
pub fn probes(guard: &Guard) -> Vec<Probe> {
    let mut out = Vec::new();
    let authn = "system:authenticated";
    let masters = "group system:masters";
    expand(
        masters,
        "lockout-probe:admin",
        &["system:masters", authn],
        MASTERS,
        &mut out,
    );
    for path in ["/healthz", "/livez", "/readyz", "/api", "/apis", "/version"] {
        out.push(Probe {
            identity: masters.to_owned(),
            request: Request::non_resource(
                "lockout-probe:admin",
                &["system:masters", authn],
                "get",
                path,
            ),
        });
    }
    let cm = "system:kube-controller-manager";
    expand(cm, cm, &[authn], CONTROLLER_MANAGER, &mut out);
    let sched = "system:kube-scheduler";
    expand(sched, sched, &[authn], SCHEDULER, &mut out);
    // The loopback identity of kube-apiserver is user system:apiserver in system:masters.
    let api = "system:apiserver";
    expand(api, api, &["system:masters", authn], APISERVER, &mut out);
    let node_user = "system:node:lockout-probe";
    expand(
        "nodes (system:node:*)",
        node_user,
        &["system:nodes", authn],
        NODE,
        &mut out,
    );
    for user in &guard.webhook_users {
        expand(
            &format!("webhook {user}"),
            user,
            &[authn],
            WEBHOOK,
            &mut out,
        );
    }
    out
}

/// `verb resource[/sub] [name] [in ns] [(group)]` or `verb path`.
pub fn describe(req: &Request) -> String {
    if let Some(n) = &req.non_resource_attributes {
        return format!("{} {}", n.verb, n.path);
    }
    let Some(r) = &req.resource_attributes else {
        return String::new();
    };
    let mut s = format!("{} {}", r.verb, r.resource);
    if !r.subresource.is_empty() {
        s = format!("{s}/{}", r.subresource);
    }
    if !r.name.is_empty() {
        s = format!("{s} {}", r.name);
    }
    if !r.namespace.is_empty() {
        s = format!("{s} in {}", r.namespace);
    }
    if !r.group.is_empty() {
        s = format!("{s} ({})", r.group);
    }
    s
}

impl PolicySet {
    /// [`PolicySet::lockout_with`] with the default [`Guard`] (the project's webhook user).
    pub fn lockout(&self) -> Vec<Lockout> {
        self.lockout_with(&Guard::default())
    }

    /// Each `forbid` policy that denies a probed request of a protected identity, with the
    /// requests it denies; ordered by policy load order, then identity.
    pub fn lockout_with(&self, guard: &Guard) -> Vec<Lockout> {
        let mut found: Vec<(usize, Lockout)> = Vec::new();
        let order = |p: &PolicyRef| {
            self.policies()
                .iter()
                .position(|e| &e.policy == p)
                .unwrap_or(usize::MAX)
        };
        for probe in probes(guard) {
            let eval = self.decide(&probe.request);
            if !matches!(eval.decision, Decision::Deny { .. }) {
                continue;
            }
            let what = describe(&probe.request);
            for policy in eval.matched {
                match found
                    .iter_mut()
                    .find(|(_, l)| l.policy == policy && l.identity == probe.identity)
                {
                    Some((_, l)) => l.requests.push(what.clone()),
                    None => found.push((
                        order(&policy),
                        Lockout {
                            policy,
                            identity: probe.identity.clone(),
                            requests: vec![what.clone()],
                        },
                    )),
                }
            }
        }
        // Stable: identities keep probe order within a policy.
        found.sort_by_key(|(i, _)| *i);
        found.into_iter().map(|(_, l)| l).collect()
    }
}
