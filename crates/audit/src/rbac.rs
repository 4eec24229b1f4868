//! RBAC checks, binding-exact through the policy: for each binding that is not a default, the
//! rules of the role it grants (after aggregation) are matched against the permissions a check
//! cares about. A RoleBinding's findings are scoped to its namespace; a ClusterRoleBinding's are
//! cluster-wide. Cluster admins (bound cluster-wide to a role granting everything) are not
//! reported, unless they are broad groups.

use std::collections::{BTreeMap, HashMap, HashSet};

use virtguard_rbac::{
    api_group_matches, resource_matches, verb_matches, Binding, BindingKind, PolicyRule, Role,
    RoleKind, Subject, SubjectKind, ALL_AUTHENTICATED, ALL_UNAUTHENTICATED, ANONYMOUS,
};

use crate::context::{is_superuser_role, Context, PreAuthorizer};
use crate::finding::{Finding, ObjectRef, Severity, SubjectRef};
use crate::{finding, Selection};

/// A permission a check looks for: verbs (any of), group, `resource[/subresource]`.
struct Probe {
    verbs: &'static [&'static str],
    group: &'static str,
    resource: &'static str,
}

/// A probe: any of `verbs` on `group` `resource[/subresource]`.
const fn probe(
    verbs: &'static [&'static str],
    group: &'static str,
    resource: &'static str,
) -> Probe {
    Probe {
        verbs,
        group,
        resource,
    }
}

const WRITE: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];

/// Whether the rule grants one of the probe's verbs on the probe's resource (whatever the
/// names it is limited to), and which verbs.
fn rule_grants(rule: &PolicyRule, p: &Probe) -> Vec<&'static str> {
    let sub = p.resource.split_once('/').map(|(_, s)| s).unwrap_or("");
    // These predicates read only the rule's groups and resources.
    if !api_group_matches(rule, p.group) || !resource_matches(rule, p.resource, sub) {
        return Vec::new();
    }
    p.verbs
        .iter()
        .copied()
        .filter(|v| verb_matches(rule, v))
        .collect()
}

/// Whether a subject is a broad group (everyone, every unauthenticated caller, all service
/// accounts) or the anonymous user.
fn broad(s: &Subject) -> bool {
    match s.kind {
        SubjectKind::Group => {
            s.name == ALL_AUTHENTICATED
                || s.name == ALL_UNAUTHENTICATED
                || s.name == "system:serviceaccounts"
        }
        SubjectKind::User => s.name == ANONYMOUS,
        SubjectKind::ServiceAccount => false,
    }
}

fn subject_ref(s: &Subject, binding_ns: &str) -> SubjectRef {
    SubjectRef {
        kind: s.kind.as_str().to_string(),
        name: s.name.clone(),
        namespace: match s.kind {
            SubjectKind::ServiceAccount if s.namespace.is_empty() => binding_ns.to_string(),
            SubjectKind::ServiceAccount => s.namespace.clone(),
            _ => String::new(),
        },
    }
}

/// `ClusterRoleBinding name` or `RoleBinding namespace/name`.
fn binding_name(b: &Binding) -> String {
    if b.namespace.is_empty() {
        format!("{} {}", b.kind.as_str(), b.name)
    } else {
        format!("{} {}/{}", b.kind.as_str(), b.namespace, b.name)
    }
}

/// The binding as a finding object, with its file and line.
pub(crate) fn binding_ref(b: &Binding) -> ObjectRef {
    origin_ref(b.kind.as_str(), &b.namespace, &b.name, b.origin.as_deref())
}

fn role_ref(r: &Role) -> ObjectRef {
    origin_ref(r.kind.as_str(), &r.namespace, &r.name, r.origin.as_deref())
}

fn origin_ref(kind: &str, namespace: &str, name: &str, origin: Option<&str>) -> ObjectRef {
    let (file, line) = virtguard_snapshot::Source::split_location(origin.unwrap_or_default());
    ObjectRef {
        kind: kind.to_string(),
        name: name.to_string(),
        namespace: namespace.to_string(),
        file: file.to_string(),
        line,
    }
}

/// `verbs=[…] apiGroups=[…] resources=[…] resourceNames=[…]`.
pub(crate) fn describe_rule(r: &PolicyRule) -> String {
    let mut s = format!(
        "verbs=[{}] apiGroups=[{}] resources=[{}]",
        r.verbs.join(","),
        r.api_groups
            .iter()
            .map(|g| if g.is_empty() { "\"\"" } else { g })
            .collect::<Vec<_>>()
            .join(","),
        r.resources.join(",")
    );
    if !r.resource_names.is_empty() {
        s.push_str(&format!(" resourceNames=[{}]", r.resource_names.join(",")));
    }
    if !r.non_resource_urls.is_empty() {
        s.push_str(&format!(
            " nonResourceURLs=[{}]",
            r.non_resource_urls.join(",")
        ));
    }
    s
}

/// One binding granting something a check looks for.
struct Hit<'p> {
    binding: &'p Binding,
    role: &'p Role,
    rule: &'p PolicyRule,
    verbs: Vec<&'static str>,
    subjects: Vec<&'p Subject>,
}

impl Hit<'_> {
    fn scope(&self) -> &str {
        match self.binding.kind {
            BindingKind::ClusterRoleBinding => "",
            BindingKind::RoleBinding => &self.binding.namespace,
        }
    }

    fn where_(&self) -> String {
        match self.scope() {
            "" => "cluster-wide".to_string(),
            ns => format!("in namespace {ns}"),
        }
    }

    fn evidence(&self) -> String {
        let agg = if self.role.aggregation.is_some() {
            " (aggregated)"
        } else {
            ""
        };
        format!(
            "{} → {} {}{} → rule {}",
            binding_name(self.binding),
            self.role.kind.as_str(),
            self.role.name,
            agg,
            describe_rule(self.rule)
        )
    }

    fn finding(&self, id: &'static str, what: &str, severity: Severity) -> Finding {
        let names = self
            .subjects
            .iter()
            .map(|s| subject_ref(s, &self.binding.namespace).describe())
            .collect::<Vec<_>>()
            .join(", ");
        let mut f = finding(
            id,
            format!(
                "{names} can {} {what} {}",
                self.verbs.join("/"),
                self.where_()
            ),
        );
        f.severity = severity;
        f.namespace = self.scope().to_string();
        f.objects.push(binding_ref(self.binding));
        f.objects.push(role_ref(self.role));
        f.subjects = self
            .subjects
            .iter()
            .map(|s| subject_ref(s, &self.binding.namespace))
            .collect();
        f.evidence = self.evidence();
        f
    }
}

/// The first rule of a role granting a probe, and the verbs it grants.
type RuleHit<'p> = (&'p PolicyRule, Vec<&'static str>, usize);

/// Every non-default binding whose role grants a probe, with the subjects that are not cluster
/// admins (broad groups always count). One hit per (binding, first matching rule). The rule
/// scan is done once per role and binding kind: many bindings grant the same role.
fn hits<'p>(ctx: &'p Context<'_>, probes: &[Probe]) -> Vec<Hit<'p>> {
    let policy = ctx.policy;
    let mut memo: HashMap<(usize, bool), Option<RuleHit<'p>>> = HashMap::new();
    let mut out = Vec::new();
    for (bi, b) in policy.bindings().iter().enumerate() {
        if ctx.is_vendor_index(bi) {
            continue;
        }
        let Ok(role) = policy.binding_role(bi) else {
            continue;
        };
        let subjects: Vec<&Subject> = b
            .subjects
            .iter()
            .enumerate()
            .filter(|(si, s)| broad(s) || !ctx.is_admin_subject(bi, *si))
            .map(|(_, s)| s)
            .collect();
        if subjects.is_empty() {
            continue;
        }
        let rb = b.kind == BindingKind::RoleBinding;
        let key = (role as *const Role as usize, rb);
        let found = memo.entry(key).or_insert_with(|| {
            // The first rule granting a probe, and every verb the role grants on that probe.
            let (rule, pi) = role.rules.iter().find_map(|rule| {
                probes
                    .iter()
                    .position(|p| {
                        // A RoleBinding cannot grant cluster-scoped resources.
                        !(rb && cluster_scoped(p) || rule_grants(rule, p).is_empty())
                    })
                    .map(|p| (rule, p))
            })?;
            let probe = &probes[pi];
            let verbs: Vec<&'static str> = probe
                .verbs
                .iter()
                .copied()
                .filter(|v| role.rules.iter().any(|r| rule_grants(r, probe).contains(v)))
                .collect();
            Some((rule.as_ref(), verbs, pi))
        });
        if let Some((rule, verbs, pi)) = found.as_ref().map(|(r, v, p)| (*r, v, *p)) {
            let (subjects, verbs) = match ctx.pre {
                Some(pre) => after_pre(pre, b, &probes[pi], subjects, verbs),
                None => (subjects, verbs.clone()),
            };
            if subjects.is_empty() || verbs.is_empty() {
                continue;
            }
            out.push(Hit {
                binding: b,
                role,
                rule,
                verbs,
                subjects,
            });
        }
    }
    out
}

/// What is left of a hit after the authorizer before RBAC: the subjects and verbs it does not
/// deny to every member (judged in the binding's namespace, cluster-wide for a
/// ClusterRoleBinding).
fn after_pre<'p>(
    pre: &dyn PreAuthorizer,
    b: &'p Binding,
    p: &Probe,
    subjects: Vec<&'p Subject>,
    verbs: &[&'static str],
) -> (Vec<&'p Subject>, Vec<&'static str>) {
    let ns = match b.kind {
        BindingKind::ClusterRoleBinding => "",
        BindingKind::RoleBinding => b.namespace.as_str(),
    };
    let mut kept_verbs: Vec<&'static str> = Vec::new();
    let mut kept = Vec::new();
    for s in subjects {
        let mut resolved = s.clone();
        if resolved.kind == SubjectKind::ServiceAccount && resolved.namespace.is_empty() {
            resolved.namespace = b.namespace.clone();
        }
        let allowed: Vec<&'static str> = verbs
            .iter()
            .copied()
            .filter(|v| !pre.denies(&resolved, ns, v, p.group, p.resource))
            .collect();
        if !allowed.is_empty() {
            kept.push(s);
            for v in allowed {
                if !kept_verbs.contains(&v) {
                    kept_verbs.push(v);
                }
            }
        }
    }
    kept_verbs.sort_by_key(|v| verbs.iter().position(|x| x == v));
    (kept, kept_verbs)
}

/// The permissions the RBAC checks look for, for VG111 (a Cedar `permit` granting one).
const RISKY: &[(&str, &str, &str, &str)] = &[
    (
        "VG101",
        "create",
        "kubevirt.io",
        "virtualmachineinstancemigrations",
    ),
    (
        "VG101",
        "update",
        "subresources.kubevirt.io",
        "virtualmachines/migrate",
    ),
    (
        "VG102",
        "get",
        "subresources.kubevirt.io",
        "virtualmachineinstances/console",
    ),
    (
        "VG102",
        "get",
        "subresources.kubevirt.io",
        "virtualmachineinstances/vnc",
    ),
    (
        "VG102",
        "get",
        "subresources.kubevirt.io",
        "virtualmachineinstances/portforward",
    ),
    ("VG103", "create", "", "pods/exec"),
    (
        "VG104",
        "create",
        "instancetype.kubevirt.io",
        "virtualmachineclusterinstancetypes",
    ),
    ("VG105", "update", "kubevirt.io", "kubevirts"),
    ("VG105", "patch", "kubevirt.io", "kubevirts"),
    ("VG105", "update", "apps", "daemonsets"),
    ("VG106", "create", "cdi.kubevirt.io", "datavolumes/source"),
    ("VG107", "bind", "rbac.authorization.k8s.io", "clusterroles"),
    (
        "VG107",
        "escalate",
        "rbac.authorization.k8s.io",
        "clusterroles",
    ),
    ("VG107", "impersonate", "", "users"),
    ("VG107", "impersonate", "", "groups"),
    ("VG107", "impersonate", "", "serviceaccounts"),
    ("VG107", "create", "", "pods"),
    ("VG107", "get", "", "secrets"),
];

/// VG111: a risky permission (one the RBAC checks look for) that the authorizer before RBAC
/// allows, asked cluster-wide, in KubeVirt's namespace and in each namespace running VMs.
fn pre_permits(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(pre) = ctx.pre else {
        return;
    };
    let mut namespaces = vec![String::new(), ctx.install_namespace().to_string()];
    namespaces.extend(ctx.vm_namespaces());
    namespaces.dedup();
    let mut seen: HashSet<(String, String, String, &str, &str)> = HashSet::new();
    for ns in &namespaces {
        for &(check, verb, group, resource) in RISKY {
            for (subject, policy) in pre.permits(ns, verb, group, resource) {
                let who = subject_ref(&subject, &subject.namespace);
                let name = who.describe();
                // Allowed cluster-wide: not repeated per namespace.
                if seen.contains(&(name.clone(), policy.clone(), String::new(), verb, resource))
                    || !seen.insert((name.clone(), policy.clone(), ns.clone(), verb, resource))
                {
                    continue;
                }
                let what = if group.is_empty() {
                    resource.to_string()
                } else {
                    format!("{resource} ({group})")
                };
                let where_ = if ns.is_empty() {
                    "cluster-wide".to_string()
                } else {
                    format!("in namespace {ns}")
                };
                let mut f = finding(
                    "VG111",
                    format!("{name} can {verb} {what} {where_}: allowed by Cedar {policy}, whatever RBAC says (what {check} looks for)"),
                );
                f.namespace = ns.clone();
                f.subjects.push(who);
                f.evidence = format!("Cedar {policy} permits {verb} {what} {where_}");
                out.push(f);
            }
        }
    }
}

/// Resources a RoleBinding cannot grant (cluster-scoped, or impersonation of users/groups).
fn cluster_scoped(p: &Probe) -> bool {
    matches!(
        (p.group, p.resource),
        (
            "instancetype.kubevirt.io",
            "virtualmachineclusterinstancetypes" | "virtualmachineclusterpreferences"
        ) | ("migrations.kubevirt.io", "migrationpolicies")
            | ("cdi.kubevirt.io", "cdis")
            | ("rbac.authorization.k8s.io", "clusterroles")
            | ("", "users" | "groups")
    )
}

fn what(probes: &[Probe], hit: &Hit<'_>) -> String {
    let rb = hit.binding.kind == BindingKind::RoleBinding;
    probes
        .iter()
        .find(|p| !(rb && cluster_scoped(p) || rule_grants(hit.rule, p).is_empty()))
        .map(|p| {
            if p.group.is_empty() {
                p.resource.to_string()
            } else {
                let (r, s) = match p.resource.split_once('/') {
                    Some((r, s)) => (r, format!("/{s}")),
                    None => (p.resource, String::new()),
                };
                format!("{r}.{}{s}", p.group)
            }
        })
        .unwrap_or_default()
}

/// Subjects granted cluster-wide, and per namespace.
pub(crate) type Creators = (Vec<String>, HashMap<String, Vec<String>>);

/// Who (beyond defaults and cluster admins) may create VirtualMachines: the subjects granted it
/// cluster-wide, and per namespace those granted it there. One pass over the bindings.
pub(crate) fn vm_creators(ctx: &Context<'_>) -> Creators {
    let probes = [probe(&["create"], "kubevirt.io", "virtualmachines")];
    let mut cluster = Vec::new();
    let mut by_ns: HashMap<String, Vec<String>> = HashMap::new();
    for h in hits(ctx, &probes) {
        let names = h
            .subjects
            .iter()
            .map(|s| subject_ref(s, &h.binding.namespace).describe());
        match h.scope() {
            "" => cluster.extend(names),
            ns => by_ns.entry(ns.to_string()).or_default().extend(names),
        }
    }
    (cluster, by_ns)
}

pub(crate) fn run(ctx: &Context<'_>, sel: &Selection, out: &mut Vec<Finding>) {
    if sel.wants("VG101") {
        migrations(ctx, out);
    }
    if sel.wants("VG102") {
        guest_access(ctx, out);
    }
    if sel.wants("VG103") {
        exec(ctx, out);
    }
    if sel.wants("VG104") {
        instancetypes(ctx, out);
    }
    if sel.wants("VG105") {
        control_plane(ctx, out);
    }
    if sel.wants("VG106") {
        clone_source(ctx, out);
    }
    if sel.wants("VG107") {
        escalation(ctx, out);
    }
    if sel.wants("VG108") {
        superuser_to_broad(ctx, out);
    }
    if sel.wants("VG109") || sel.wants("VG110") {
        dangling(ctx, out);
    }
    if sel.wants("VG111") {
        pre_permits(ctx, out);
    }
}

fn any_broad(h: &Hit<'_>) -> bool {
    h.subjects.iter().any(|s| broad(s))
}

/// VG101: creating migrations or migration policies beyond `kubevirt.io:migrate`.
fn migrations(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let probes = [
        probe(
            &["create"],
            "kubevirt.io",
            "virtualmachineinstancemigrations",
        ),
        probe(
            &["update"],
            "subresources.kubevirt.io",
            "virtualmachines/migrate",
        ),
        Probe {
            verbs: &["create", "update", "patch"],
            group: "migrations.kubevirt.io",
            resource: "migrationpolicies",
        },
    ];
    for h in hits(ctx, &probes) {
        let intended = h.role.kind == RoleKind::ClusterRole
            && h.role.name == "kubevirt.io:migrate"
            && !any_broad(&h);
        if intended {
            continue;
        }
        let sev = if any_broad(&h) {
            Severity::High
        } else {
            Severity::Medium
        };
        let mut f = h.finding("VG101", &what(&probes, &h), sev);
        f.remediation = format!(
            "Remove this grant ({} → {} {}); bind ClusterRole kubevirt.io:migrate to the operators who must migrate VMs, e.g. kubectl create clusterrolebinding vm-migrators --clusterrole=kubevirt.io:migrate --group=<operators>",
            binding_name(h.binding),
            h.role.kind.as_str(),
            h.role.name
        );
        out.push(f);
    }
}

/// VG102: console/VNC/screenshot/port-forward/USB redirection to broad groups or cluster-wide.
fn guest_access(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    const SUB: &str = "subresources.kubevirt.io";
    let probes = [
        probe(&["get"], SUB, "virtualmachineinstances/console"),
        probe(&["get"], SUB, "virtualmachineinstances/vnc"),
        probe(&["get"], SUB, "virtualmachineinstances/vnc/screenshot"),
        probe(&["get"], SUB, "virtualmachineinstances/portforward"),
        probe(&["get"], SUB, "virtualmachineinstances/usbredir"),
        probe(&["get"], SUB, "virtualmachineinstances/vsock"),
        probe(&["get"], SUB, "virtualmachines/portforward"),
    ];
    for h in hits(ctx, &probes) {
        let cluster = h.binding.kind == BindingKind::ClusterRoleBinding;
        if !any_broad(&h) && !cluster {
            continue;
        }
        let sev = if any_broad(&h) {
            Severity::High
        } else {
            Severity::Medium
        };
        let mut f = h.finding("VG102", &what(&probes, &h), sev);
        f.remediation = format!(
            "Replace {} by RoleBindings in the namespaces whose VMs these subjects operate, to named users or groups.",
            binding_name(h.binding)
        );
        out.push(f);
    }
}

/// VG103: exec/attach/port-forward into pods where virt-* or virt-launcher pods run.
fn exec(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let install = ctx.install_namespace().to_string();
    let mut namespaces: HashSet<String> = ctx.vm_namespaces().into_iter().collect();
    namespaces.insert(install.clone());
    let probes = [
        Probe {
            verbs: &["create", "get"],
            group: "",
            resource: "pods/exec",
        },
        Probe {
            verbs: &["create", "get"],
            group: "",
            resource: "pods/attach",
        },
        Probe {
            verbs: &["create", "get"],
            group: "",
            resource: "pods/portforward",
        },
    ];
    for h in hits(ctx, &probes) {
        let scope = h.scope().to_string();
        let affected: Vec<&String> = if scope.is_empty() {
            let mut v: Vec<&String> = namespaces.iter().collect();
            v.sort();
            v
        } else {
            match namespaces.get(&scope) {
                Some(n) => vec![n],
                None => continue,
            }
        };
        // The namespace's own admins (built-in admin bound there) are its approved operators,
        // except in KubeVirt's namespace.
        if !scope.is_empty()
            && scope != install
            && h.role.kind == RoleKind::ClusterRole
            && h.role.name == "admin"
            && !any_broad(&h)
        {
            continue;
        }
        let in_install = scope.is_empty() || scope == install;
        let sev = if any_broad(&h) || in_install {
            Severity::High
        } else {
            Severity::Medium
        };
        let mut f = h.finding("VG103", &what(&probes, &h), sev);
        let shown: Vec<&str> = affected.iter().take(5).map(|s| s.as_str()).collect();
        let more = affected.len().saturating_sub(shown.len());
        f.message.push_str(&format!(
            " (virt pods run in {}{})",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more namespaces")
            } else {
                String::new()
            }
        ));
        f.remediation = format!(
            "Remove pods/exec, pods/attach and pods/portforward from {} {} or bind it only to approved administrators.",
            h.role.kind.as_str(),
            h.role.name
        );
        out.push(f);
    }
}

/// VG104: writing cluster instance types and preferences (or the namespaced kinds cluster-wide).
fn instancetypes(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    const G: &str = "instancetype.kubevirt.io";
    let probes = [
        probe(WRITE, G, "virtualmachineclusterinstancetypes"),
        probe(WRITE, G, "virtualmachineclusterpreferences"),
    ];
    for h in hits(ctx, &probes) {
        let sev = if any_broad(&h) {
            Severity::Critical
        } else {
            Severity::High
        };
        out.push(h.finding("VG104", &what(&probes, &h), sev));
    }
    let namespaced = [
        probe(WRITE, G, "virtualmachineinstancetypes"),
        probe(WRITE, G, "virtualmachinepreferences"),
    ];
    for h in hits(ctx, &namespaced) {
        if h.binding.kind != BindingKind::ClusterRoleBinding && !any_broad(&h) {
            continue;
        }
        out.push(h.finding("VG104", &what(&namespaced, &h), Severity::Medium));
    }
}

/// VG105: writing KubeVirt/CDI/HCO CRs, or deployments/daemonsets/secrets in KubeVirt's namespace.
fn control_plane(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let crs = [
        probe(WRITE, "kubevirt.io", "kubevirts"),
        probe(WRITE, "cdi.kubevirt.io", "cdis"),
        probe(WRITE, "hco.kubevirt.io", "hyperconvergeds"),
    ];
    let install = ctx.install_namespace().to_string();
    for h in hits(ctx, &crs) {
        // KubeVirt's and HCO's CRs live in the install namespace (CDI's is cluster-scoped).
        if !(h.scope().is_empty() || h.scope() == install) {
            continue;
        }
        let sev = if any_broad(&h) {
            Severity::Critical
        } else {
            Severity::High
        };
        out.push(h.finding("VG105", &what(&crs, &h), sev));
    }
    let ns_objects = [
        probe(WRITE, "apps", "deployments"),
        probe(WRITE, "apps", "daemonsets"),
        probe(WRITE, "", "secrets"),
    ];
    for h in hits(ctx, &ns_objects) {
        if !(h.scope().is_empty() || h.scope() == install) {
            continue;
        }
        let sev = if any_broad(&h) {
            Severity::Critical
        } else {
            Severity::High
        };
        let mut f = h.finding("VG105", &what(&ns_objects, &h), sev);
        f.message
            .push_str(&format!(" (KubeVirt's namespace {install})"));
        out.push(f);
    }
}

/// VG106: `datavolumes/source` (cross-namespace clone) to broad groups or cluster-wide.
fn clone_source(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let probes = [probe(&["create"], "cdi.kubevirt.io", "datavolumes/source")];
    for h in hits(ctx, &probes) {
        let cluster = h.binding.kind == BindingKind::ClusterRoleBinding;
        if !any_broad(&h) && !cluster {
            continue;
        }
        let sev = if any_broad(&h) {
            Severity::High
        } else {
            Severity::Medium
        };
        out.push(h.finding("VG106", &what(&probes, &h), sev));
    }
}

/// VG107: bind/escalate, impersonate, wildcards on KubeVirt's groups, pods/secrets in KubeVirt's
/// namespace.
fn escalation(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    const RBAC: &str = "rbac.authorization.k8s.io";
    let rbac = [
        Probe {
            verbs: &["bind", "escalate"],
            group: RBAC,
            resource: "clusterroles",
        },
        Probe {
            verbs: &["bind", "escalate"],
            group: RBAC,
            resource: "roles",
        },
    ];
    for h in hits(ctx, &rbac) {
        out.push(h.finding("VG107", &what(&rbac, &h), Severity::High));
    }
    let imp = [
        probe(&["impersonate"], "", "users"),
        probe(&["impersonate"], "", "groups"),
        probe(&["impersonate"], "", "serviceaccounts"),
    ];
    for h in hits(ctx, &imp) {
        // A RoleBinding can only grant impersonating its namespace's service accounts, which
        // is part of Kubernetes' edit role.
        if h.binding.kind == BindingKind::RoleBinding && !any_broad(&h) {
            continue;
        }
        out.push(h.finding("VG107", &what(&imp, &h), Severity::High));
    }
    let install = ctx.install_namespace().to_string();
    let ns = [
        probe(&["create"], "", "pods"),
        Probe {
            verbs: &["get", "list", "watch"],
            group: "",
            resource: "secrets",
        },
    ];
    for h in hits(ctx, &ns) {
        if !(h.scope().is_empty() || h.scope() == install) {
            continue;
        }
        let mut f = h.finding("VG107", &what(&ns, &h), Severity::High);
        f.message.push_str(&format!(
            " (KubeVirt's namespace {install}: its service-account tokens are cluster-wide credentials)"
        ));
        out.push(f);
    }
    // Wildcards on KubeVirt's groups.
    let mut seen: HashSet<String> = HashSet::new();
    for (bi, b) in ctx.policy.bindings().iter().enumerate() {
        if ctx.is_vendor_index(bi) {
            continue;
        }
        let Ok(role) = ctx.policy.binding_role(bi) else {
            continue;
        };
        if is_superuser_role(role) && b.kind == BindingKind::ClusterRoleBinding {
            continue; // cluster admins (or VG108 for broad groups)
        }
        let subjects: Vec<&Subject> = b
            .subjects
            .iter()
            .enumerate()
            .filter(|(si, s)| broad(s) || !ctx.is_admin_subject(bi, *si))
            .map(|(_, s)| s)
            .collect();
        if subjects.is_empty() {
            continue;
        }
        for rule in &role.rules {
            let kv = rule
                .api_groups
                .iter()
                .any(|g| g == "*" || g == "kubevirt.io" || g == "subresources.kubevirt.io");
            let wild =
                rule.verbs.iter().any(|v| v == "*") || rule.resources.iter().any(|r| r == "*");
            if kv && wild && seen.insert(binding_name(b)) {
                let h = Hit {
                    binding: b,
                    role,
                    rule,
                    verbs: vec!["*"],
                    subjects: subjects.clone(),
                };
                let mut f = h.finding("VG107", "wildcard on KubeVirt's API groups", Severity::High);
                f.message = format!(
                    "{} holds a wildcard rule on KubeVirt's API groups {}",
                    subjects
                        .iter()
                        .map(|s| subject_ref(s, &b.namespace).describe())
                        .collect::<Vec<_>>()
                        .join(", "),
                    h.where_()
                );
                f.remediation = format!(
                    "List the verbs and resources {} {} needs instead of `*`.",
                    role.kind.as_str(),
                    role.name
                );
                out.push(f);
            }
        }
    }
}

/// VG108: a role granting everything bound cluster-wide to a broad group.
fn superuser_to_broad(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    for (bi, b) in ctx.policy.bindings().iter().enumerate() {
        if ctx.is_vendor_index(bi) {
            continue;
        }
        let Ok(role) = ctx.policy.binding_role(bi) else {
            continue;
        };
        if !is_superuser_role(role) {
            continue;
        }
        let wide: Vec<&Subject> = b.subjects.iter().filter(|s| broad(s)).collect();
        if wide.is_empty() {
            continue;
        }
        let rule = role
            .rules
            .iter()
            .find(|r| r.verbs.iter().any(|v| v == "*"))
            .map(|r| r.as_ref());
        let Some(rule) = rule else { continue };
        let h = Hit {
            binding: b,
            role,
            rule,
            verbs: vec!["*"],
            subjects: wide,
        };
        let sev = if b.kind == BindingKind::ClusterRoleBinding {
            Severity::Critical
        } else {
            Severity::High
        };
        let mut f = h.finding("VG108", "every resource", sev);
        f.remediation = format!(
            "kubectl delete {} {}{}",
            b.kind.as_str().to_lowercase(),
            b.name,
            if b.namespace.is_empty() {
                String::new()
            } else {
                format!(" -n {}", b.namespace)
            }
        );
        out.push(f);
    }
}

/// VG109 / VG110: bindings to missing roles; ServiceAccount subjects that do not exist.
fn dangling(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    // Namespaces whose ServiceAccounts the snapshot lists.
    let mut sas: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for o in ctx.of_kind("ServiceAccount") {
        sas.entry(o.namespace.clone())
            .or_default()
            .insert(o.name.clone());
    }
    // The defaults' ServiceAccounts exist too, but only namespaces whose ServiceAccounts the
    // snapshot itself lists are judged.
    for o in ctx.defaults.iter().filter(|o| o.kind == "ServiceAccount") {
        if let Some(set) = sas.get_mut(&o.namespace) {
            set.insert(o.name.clone());
        }
    }
    for (bi, b) in ctx.policy.bindings().iter().enumerate() {
        if ctx.is_vendor_index(bi) {
            continue;
        }
        if let Err(e) = ctx.policy.binding_role(bi) {
            let mut f = finding("VG109", format!("{} grants nothing: {e}", binding_name(b)));
            f.namespace = b.namespace.clone();
            f.objects.push(binding_ref(b));
            f.subjects = b
                .subjects
                .iter()
                .map(|s| subject_ref(s, &b.namespace))
                .collect();
            f.evidence = format!("roleRef: {} {}", b.role_ref.kind, b.role_ref.name);
            f.remediation = format!(
                "kubectl delete {} {}{}  (or create {} {})",
                b.kind.as_str().to_lowercase(),
                b.name,
                if b.namespace.is_empty() {
                    String::new()
                } else {
                    format!(" -n {}", b.namespace)
                },
                b.role_ref.kind,
                b.role_ref.name
            );
            out.push(f);
        }
        for s in &b.subjects {
            if s.kind != SubjectKind::ServiceAccount {
                continue;
            }
            let r = subject_ref(s, &b.namespace);
            let Some(known) = sas.get(&r.namespace) else {
                continue; // the snapshot does not list that namespace's service accounts
            };
            if known.contains(&r.name) {
                continue;
            }
            let mut f = finding(
                "VG110",
                format!(
                    "{} names ServiceAccount {}/{}, which does not exist",
                    binding_name(b),
                    r.namespace,
                    r.name
                ),
            );
            f.namespace = b.namespace.clone();
            f.objects.push(binding_ref(b));
            f.evidence = format!(
                "subjects[] ServiceAccount {}/{}; ServiceAccounts in {}: {}",
                r.namespace,
                r.name,
                r.namespace,
                {
                    let mut v: Vec<&String> = known.iter().collect();
                    v.sort();
                    v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                }
            );
            f.subjects.push(r);
            out.push(f);
        }
    }
}
