//! The VirtualMachineInstance specs an object carries, with the field paths to them: a VMI's own
//! spec, the template of a VirtualMachine or a VirtualMachineInstanceReplicaSet, the VM template
//! of a VirtualMachinePool, and those of the objects inside an OpenShift Template. The workload
//! checks judge these specs, so every kind is judged alike and findings name the exact path.

use serde_json::Value;
use virtguard_snapshot::Object;

use crate::context::Context;
use crate::value::array_at;

/// Kinds whose objects carry VMI specs (`Template`: OpenShift Templates holding such objects).
pub(crate) const VM_KINDS: &[&str] = &[
    "VirtualMachine",
    "VirtualMachineInstance",
    "VirtualMachinePool",
    "VirtualMachineInstanceReplicaSet",
    "Template",
];

/// One VMI spec inside an object.
pub(crate) struct VmiSpec<'a> {
    /// The spec (`domain`, `volumes`, `networks`, `resourceClaims`, …).
    pub spec: &'a Value,
    /// The metadata the VMI will carry (its annotations); `Null` when absent.
    pub metadata: &'a Value,
    /// Dotted path of `spec` in the object (`spec.template.spec`).
    pub path: String,
    /// Dotted path of `metadata` in the object (`spec.template.metadata`).
    pub meta_path: String,
}

impl<'a> VmiSpec<'a> {
    /// The spec's `domain` (`Null` when absent).
    pub fn domain(&self) -> &'a Value {
        self.spec.get("domain").unwrap_or(&Value::Null)
    }

    /// The dotted path of a field below the spec (`domain.devices.disks[0]`).
    pub fn at(&self, field: &str) -> String {
        format!("{}.{field}", self.path)
    }

    /// The dotted path of a field below the VMI metadata (`annotations`).
    pub fn meta_at(&self, field: &str) -> String {
        format!("{}.{field}", self.meta_path)
    }
}

/// Where a kind keeps its VMI spec and metadata, as JSON pointers and dotted paths.
fn layout(kind: &str) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        "VirtualMachineInstance" => ("", ""),
        "VirtualMachine" | "VirtualMachineInstanceReplicaSet" => {
            ("/spec/template", "spec.template")
        }
        "VirtualMachinePool" => (
            "/spec/virtualMachineTemplate/spec/template",
            "spec.virtualMachineTemplate.spec.template",
        ),
        _ => return None,
    })
}

/// The VMI spec a (non-Template) object of `kind` carries, its paths prefixed by `prefix`.
fn own_spec<'a>(kind: &str, v: &'a Value, prefix: &str) -> Option<VmiSpec<'a>> {
    let (ptr, dotted) = layout(kind)?;
    let spec = v
        .pointer(&format!("{ptr}/spec"))
        .filter(|s| s.is_object())?;
    let metadata = v
        .pointer(&format!("{ptr}/metadata"))
        .unwrap_or(&Value::Null);
    let join = |leaf: &str| match (prefix.is_empty(), dotted.is_empty()) {
        (true, true) => leaf.to_string(),
        (true, false) => format!("{dotted}.{leaf}"),
        (false, true) => format!("{prefix}.{leaf}"),
        (false, false) => format!("{prefix}.{dotted}.{leaf}"),
    };
    Some(VmiSpec {
        spec,
        metadata,
        path: join("spec"),
        meta_path: join("metadata"),
    })
}

/// The VMI specs of one object of `kind` (its content `v`): one for a VM, VMI, pool or replica
/// set, one per such object in a Template's `objects`, none for other kinds.
pub(crate) fn vmi_specs<'a>(kind: &str, v: &'a Value) -> Vec<VmiSpec<'a>> {
    if kind != "Template" {
        return own_spec(kind, v, "").into_iter().collect();
    }
    array_at(v, "/objects")
        .iter()
        .enumerate()
        .filter_map(|(i, obj)| {
            let kind = obj.get("kind").and_then(Value::as_str)?;
            own_spec(kind, obj, &format!("objects[{i}]"))
        })
        .collect()
}

/// Whether an object was created by another object of the snapshot that carries the same spec
/// (a VMI by its VirtualMachine or VirtualMachineInstanceReplicaSet, a VM by its
/// VirtualMachinePool): the owner is judged, once.
pub(crate) fn owned_in_snapshot(ctx: &Context<'_>, o: &Object) -> bool {
    let owners: &[&str] = match o.kind.as_str() {
        "VirtualMachineInstance" => &["VirtualMachine", "VirtualMachineInstanceReplicaSet"],
        "VirtualMachine" => &["VirtualMachinePool"],
        _ => return false,
    };
    array_at(Context::value(o), "/metadata/ownerReferences")
        .iter()
        .any(|r| {
            let kind = r.get("kind").and_then(Value::as_str).unwrap_or("");
            let name = r.get("name").and_then(Value::as_str).unwrap_or("");
            owners.contains(&kind)
                && ctx
                    .of_kind(kind)
                    .iter()
                    .any(|x| x.name == name && x.namespace == o.namespace)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(kind: &str, v: &Value) -> Vec<(String, String)> {
        vmi_specs(kind, v)
            .into_iter()
            .map(|s| (s.path, s.meta_path))
            .collect()
    }

    #[test]
    fn every_kind_has_its_paths() {
        let vmi = json!({"metadata": {"name": "a"}, "spec": {"domain": {}}});
        let tmpl = json!({"spec": {"template": {"metadata": {}, "spec": {"domain": {}}}}});
        let pool = json!({"spec": {"virtualMachineTemplate": {"spec": tmpl["spec"].clone()}}});
        let p = |a: &str, b: &str| vec![(a.to_string(), b.to_string())];
        assert_eq!(paths("VirtualMachineInstance", &vmi), p("spec", "metadata"));
        assert_eq!(
            paths("VirtualMachine", &tmpl),
            p("spec.template.spec", "spec.template.metadata")
        );
        assert_eq!(
            paths("VirtualMachineInstanceReplicaSet", &tmpl),
            p("spec.template.spec", "spec.template.metadata")
        );
        assert_eq!(
            paths("VirtualMachinePool", &pool),
            p(
                "spec.virtualMachineTemplate.spec.template.spec",
                "spec.virtualMachineTemplate.spec.template.metadata"
            )
        );
        let mut vm = tmpl.clone();
        vm["kind"] = json!("VirtualMachine");
        let mut inner_vmi = vmi.clone();
        inner_vmi["kind"] = json!("VirtualMachineInstance");
        let t = json!({"objects": [{"kind": "Service"}, vm, inner_vmi, {"kind": "Template", "objects": []}]});
        assert_eq!(
            paths("Template", &t),
            vec![
                (
                    "objects[1].spec.template.spec".to_string(),
                    "objects[1].spec.template.metadata".to_string()
                ),
                (
                    "objects[2].spec".to_string(),
                    "objects[2].metadata".to_string()
                ),
            ]
        );
    }

    #[test]
    fn odd_shapes_carry_no_spec() {
        assert!(paths("VirtualMachine", &json!({"spec": {"template": "x"}})).is_empty());
        assert!(paths("VirtualMachineInstance", &json!({"spec": []})).is_empty());
        assert!(paths("Template", &json!({"objects": {"a": 1}})).is_empty());
        assert!(paths("Pod", &json!({"spec": {}})).is_empty());
    }
}
