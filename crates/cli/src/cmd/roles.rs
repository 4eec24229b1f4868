//! `virtguard roles`: the ClusterRoles and bindings virt-operator creates for a KubeVirt version,
//! rendered under a `roleAggregationStrategy` and feature gates, as YAML for `kubectl apply`.

use anyhow::{bail, Result};
use virtguard_catalog::{
    files, opt_out_gate_enabled, resolve_version, Component, Rendering, Selection,
};

use crate::args::{Global, Output, RolesArgs, Strategy};
use crate::input::unknown_gate_notes;

/// KubeVirt's admission message for Manual without the gate (virt-operator's update webhook).
pub const MANUAL_WITHOUT_GATE: &str =
    "RoleAggregationStrategy cannot be set to Manual without enabling the OptOutRoleAggregation feature gate";

/// Marks catalog objects the operator manifest installs (not virt-operator); left out here.
const OPERATOR_MANIFEST: &str = "virtguard.io/installed-by: operator-manifest";

const UPGRADE_MIGRATE_ROLE: &str = r#"# Temporary ClusterRole from KubeVirt's "Hardening VMIM" guidance (v1.5 limited migrations to
# cluster admins and the new kubevirt.io:migrate role). Apply it BEFORE upgrading to v1.5 or later
# so namespace admins keep creating VirtualMachineInstanceMigrations through the upgrade; the
# upgrade does not touch it. Then bind kubevirt.io:migrate to the users who should migrate, and
# DELETE this role:  kubectl delete clusterrole kubevirt.io:upgrademigrate
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: kubevirt.io:upgrademigrate
  labels:
    rbac.authorization.k8s.io/aggregate-to-admin: "true"
rules:
- apiGroups:
  - subresources.kubevirt.io
  resources:
  - virtualmachines/migrate
  verbs:
  - update
- apiGroups:
  - kubevirt.io
  resources:
  - virtualmachineinstancemigrations
  verbs:
  - get
  - delete
  - create
  - update
  - patch
  - list
  - watch
  - deletecollection
"#;

pub fn run(g: &Global, a: &RolesArgs) -> Result<u8> {
    let version = resolve_version(Component::KubeVirt, &a.kubevirt_version)?;
    let text = if a.temporary_migrate_role {
        UPGRADE_MIGRATE_ROLE.to_string()
    } else {
        let manual = match a.strategy {
            Strategy::AggregateToDefault => false,
            Strategy::Manual => {
                match opt_out_gate_enabled(version, &a.feature_gates, &a.disabled_feature_gates) {
                    None => bail!(
                        "KubeVirt {version} does not support spec.configuration.roleAggregationStrategy (it was added in v1.8.0)"
                    ),
                    Some(false) => bail!("{MANUAL_WITHOUT_GATE}"),
                    Some(true) => true,
                }
            }
        };
        let rendering = Rendering {
            namespace: a.namespace.clone(),
            manual_aggregation: manual,
            feature_gates: a.feature_gates.clone(),
            disabled_feature_gates: a.disabled_feature_gates.clone(),
            virt_template_disabled: false,
        };
        if !g.quiet {
            for n in unknown_gate_notes(version, &a.feature_gates, &a.disabled_feature_gates) {
                eprintln!("warning: {n}");
            }
        }
        let sel = Selection {
            component: Component::KubeVirt,
            version,
        };
        let mut out = String::new();
        for f in files(&sel, &rendering) {
            let text = if f.name.ends_with("/user-roles.yaml") {
                without_operator_manifest_roles(&f.text)
            } else if a.components
                && (f.name.ends_with("/components.yaml") || f.name.ends_with("/virt-template.yaml"))
            {
                f.text
            } else if f.name.ends_with("/virt-template.yaml") {
                // Without --components: only virt-template's roles for users (they aggregate
                // into admin/edit/view), not its service accounts' RBAC.
                aggregating_documents(&f.text)
            } else {
                continue;
            };
            if !out.is_empty() {
                out.push_str("---\n");
            }
            out.push_str(&text);
        }
        out
    };
    match g.output {
        Some(Output::Json) => {
            let items: Vec<serde_json::Value> = serde_yaml_ng::Deserializer::from_str(&text)
                .filter_map(|d| serde::Deserialize::deserialize(d).ok())
                .filter(|v: &serde_json::Value| !v.is_null())
                .collect();
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        _ => print!("{text}"),
    }
    Ok(0)
}

/// Drops the documents the operator manifest (not virt-operator) installs.
fn without_operator_manifest_roles(text: &str) -> String {
    let mut out = String::new();
    for doc in text.split("\n---\n") {
        if doc.contains(OPERATOR_MANIFEST) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\n---\n");
        }
        out.push_str(doc);
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// The documents of a YAML stream that carry an `aggregate-to-*` label (roles meant for users).
fn aggregating_documents(text: &str) -> String {
    let mut out = String::new();
    for doc in text.split("\n---\n") {
        if doc.contains("rbac.authorization.k8s.io/aggregate-to-") {
            if !out.is_empty() {
                out.push_str("---\n");
            }
            out.push_str(doc.trim_start_matches("---\n"));
            out.push('\n');
        }
    }
    out
}
