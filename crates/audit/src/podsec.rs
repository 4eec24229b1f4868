//! Pod security (namespaces running VMs under a weaker Pod Security level, the
//! kubevirt-controller SCC) and component least privilege (component roles in the snapshot
//! against the catalog's for the detected release, rule by rule).

use std::collections::BTreeMap;

use serde_json::Value;
use virtguard_rbac::{
    api_group_matches, non_resource_url_matches, resource_matches, role_permissions, verb_matches,
    Permission, PolicyRule, Role,
};
use virtguard_snapshot::Object;

use crate::context::Context;
use crate::finding::Finding;
use crate::rbac::describe_rule;
use crate::value::{array_at, bool_at, object_ref};
use crate::{finding, Selection};

const ENFORCE: &str = "pod-security.kubernetes.io/enforce";

pub(crate) fn run(ctx: &Context<'_>, sel: &Selection, out: &mut Vec<Finding>) {
    if sel.wants("VG501") {
        pod_security(ctx, out);
    }
    if sel.wants("VG502") {
        scc(ctx, out);
    }
    if sel.wants("VG601") {
        drift(ctx, out);
    }
}

/// VG501: namespaces with VMs whose enforced Pod Security level is not `restricted`.
fn pod_security(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    for ns in ctx.vm_namespaces() {
        let Some(labels) = ctx.namespace_labels(&ns) else {
            continue; // the Namespace object is not in the snapshot
        };
        let level = labels.get(ENFORCE).map(String::as_str);
        if level == Some("restricted") {
            continue;
        }
        let obj = ctx
            .of_kind("Namespace")
            .iter()
            .find(|o| o.name == ns)
            .map(|o| object_ref(o));
        let mut f = finding(
            "VG501",
            format!(
                "namespace {ns} runs VMs with Pod Security enforce={}",
                level.unwrap_or("(unset: the cluster default, usually privileged)")
            ),
        );
        f.namespace = ns.clone();
        f.objects.extend(obj);
        f.evidence = format!(
            "metadata.labels[\"{ENFORCE}\"] = {}",
            level
                .map(|l| format!("\"{l}\""))
                .unwrap_or_else(|| "absent".into())
        );
        f.remediation = format!("kubectl label namespace {ns} {ENFORCE}=restricted --overwrite");
        out.push(f);
    }
}

/// VG502: the kubevirt-controller SCC against the documented settings.
fn scc(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    const ALLOWED: [&str; 2] = ["SYS_NICE", "NET_BIND_SERVICE"];
    for o in ctx
        .of_kind("SecurityContextConstraints")
        .iter()
        .filter(|o| o.name == "kubevirt-controller")
    {
        let v = Context::value(o);
        let mut problems = Vec::new();
        if bool_at(v, "/allowPrivilegedContainer") == Some(true) {
            problems.push("allowPrivilegedContainer = true (documented: false)".to_string());
        }
        for field in ["allowedCapabilities", "defaultAddCapabilities"] {
            for c in array_at(v, &format!("/{field}"))
                .iter()
                .filter_map(Value::as_str)
            {
                if !ALLOWED.contains(&c) {
                    problems.push(format!(
                        "{field} contains {c} (documented: only SYS_NICE, NET_BIND_SERVICE)"
                    ));
                }
            }
        }
        for field in [
            "allowHostNetwork",
            "allowHostPID",
            "allowHostIPC",
            "allowHostPorts",
        ] {
            if bool_at(v, &format!("/{field}")) == Some(true) {
                problems.push(format!("{field} = true (not in the documented SCC)"));
            }
        }
        for p in problems {
            let mut f = finding("VG502", format!("SCC kubevirt-controller: {p}"));
            f.objects.push(object_ref(o));
            f.evidence = p;
            out.push(f);
        }
    }
}

/// Whether the catalog rules grant a permission of the snapshot's role, read literally (a
/// wildcard in the snapshot is only covered by the same wildcard).
fn covered(p: &Permission, rules: &[std::sync::Arc<PolicyRule>]) -> bool {
    rules.iter().any(|r| {
        if !verb_matches(r, &p.verb) {
            return false;
        }
        if !p.url.is_empty() {
            return non_resource_url_matches(r, &p.url);
        }
        let sub = p.resource.split_once('/').map(|(_, s)| s).unwrap_or("");
        api_group_matches(r, &p.group)
            && resource_matches(r, &p.resource, sub)
            && (r.resource_names.is_empty()
                || (!p.names.is_empty() && p.names.iter().all(|n| r.resource_names.contains(n))))
    })
}

/// VG601: rules of component roles beyond what the release defines.
fn drift(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let expected: Vec<(Role, &Object)> = ctx
        .defaults
        .iter()
        .filter(|o| {
            o.source.file.ends_with("/components.yaml") || o.source.file.ends_with("/operator.yaml")
        })
        .filter_map(|o| o.as_role().map(|r| (r, o)))
        .collect();
    for o in ctx.objects {
        let Some(actual) = o.as_role() else { continue };
        let Some((want, _)) = expected.iter().find(|(r, _)| {
            r.kind == actual.kind && r.name == actual.name && r.namespace == actual.namespace
        }) else {
            continue;
        };
        let mut extra: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for (i, rule) in actual.rules.iter().enumerate() {
            let single = Role {
                rules: vec![rule.clone()],
                ..actual.clone()
            };
            for p in role_permissions(&single) {
                if !covered(&p, &want.rules) {
                    extra.entry(i).or_default().push(p.to_string());
                }
            }
        }
        for (i, perms) in extra {
            let rule = &actual.rules[i];
            let mut f = finding(
                "VG601",
                format!(
                    "{} {} has a rule the release ({}) does not define: {}",
                    actual.kind.as_str(),
                    if actual.namespace.is_empty() {
                        actual.name.clone()
                    } else {
                        format!("{}/{}", actual.namespace, actual.name)
                    },
                    ctx.version.unwrap_or("catalog"),
                    describe_rule(rule)
                ),
            );
            f.namespace = actual.namespace.clone();
            f.objects.push(object_ref(o));
            f.evidence = format!(
                "rules[{i}] grants beyond the catalog: {}",
                perms.iter().take(8).cloned().collect::<Vec<_>>().join("; ")
            );
            f.remediation = format!(
                "Remove rules[{i}] from {} {} (virtguard roles --kubevirt-version {} --components shows the release's rules).",
                actual.kind.as_str(),
                actual.name,
                ctx.version.unwrap_or("V")
            );
            out.push(f);
        }
    }
}
