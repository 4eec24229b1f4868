//! Secondary networks: NetworkAttachmentDefinitions (bridge CNI) and SriovNetworks without MAC
//! spoof checking or VLAN isolation, and namespaces whose VMs use secondary networks without a
//! MultiNetworkPolicy.

use serde_json::Value;

use crate::context::Context;
use crate::finding::{Finding, ObjectRef};
use crate::value::{array_at, object_ref, str_at};
use crate::{finding, Selection};

/// The CNI plugins of a NAD's `spec.config` (a single config or a conflist), parsed.
pub(crate) fn nad_config(nad: &Value) -> Result<Vec<Value>, String> {
    let Some(text) = str_at(nad, "/spec/config") else {
        return Ok(Vec::new());
    };
    let cfg: Value =
        serde_json::from_str(text).map_err(|e| format!("spec.config is not JSON: {e}"))?;
    Ok(match cfg.get("plugins").and_then(Value::as_array) {
        Some(p) => p.clone(),
        None => vec![cfg],
    })
}

/// Whether the network `ns/name` checks MAC spoofing, with the object that says so; `None`
/// when the snapshot has neither a NAD nor an SriovNetwork for it.
pub(crate) fn spoof_checked(ctx: &Context<'_>, ns: &str, name: &str) -> Option<(bool, ObjectRef)> {
    if let Some(o) = ctx
        .of_kind("SriovNetwork")
        .iter()
        .find(|o| o.name == name && network_namespace(o) == ns)
    {
        let v = Context::value(o);
        return Some((str_at(v, "/spec/spoofChk") != Some("off"), object_ref(o)));
    }
    let o = ctx
        .of_kind("NetworkAttachmentDefinition")
        .iter()
        .find(|o| o.name == name && o.namespace == ns)?;
    let plugins = nad_config(Context::value(o)).ok()?;
    let bridge: Vec<&Value> = plugins
        .iter()
        .filter(|p| p.get("type").and_then(Value::as_str) == Some("bridge"))
        .collect();
    if bridge.is_empty() {
        return None; // not a bridge network: macspoofchk does not apply
    }
    Some((
        bridge
            .iter()
            .all(|p| p.get("macspoofchk").and_then(Value::as_bool) == Some(true)),
        object_ref(o),
    ))
}

/// The namespace an SriovNetwork's NAD is created in (`spec.networkNamespace`, else its own).
fn network_namespace(o: &virtguard_snapshot::Object) -> &str {
    str_at(Context::value(o), "/spec/networkNamespace")
        .filter(|s| !s.is_empty())
        .unwrap_or(&o.namespace)
}

pub(crate) fn run(ctx: &Context<'_>, sel: &Selection, out: &mut Vec<Finding>) {
    for o in ctx.of_kind("NetworkAttachmentDefinition") {
        let plugins = match nad_config(Context::value(o)) {
            Ok(p) => p,
            Err(e) => {
                if sel.wants("VG401") {
                    let mut f = finding("VG401", format!("{}: cannot check: {e}", o.describe()));
                    f.objects.push(object_ref(o));
                    f.namespace = o.namespace.clone();
                    f.evidence = e;
                    out.push(f);
                }
                continue;
            }
        };
        for (i, p) in plugins.iter().enumerate() {
            if p.get("type").and_then(Value::as_str) != Some("bridge") {
                continue;
            }
            let bridge = p.get("bridge").and_then(Value::as_str).unwrap_or("?");
            let at = |mut f: Finding, evidence: String| {
                f.objects.push(object_ref(o));
                f.namespace = o.namespace.clone();
                f.evidence = evidence;
                f
            };
            if sel.wants("VG401") && p.get("macspoofchk").and_then(Value::as_bool) != Some(true) {
                out.push(at(
                    finding(
                        "VG401",
                        format!("{}: bridge {bridge} without macspoofchk", o.describe()),
                    ),
                    format!(
                        "spec.config plugin[{i}] type=bridge macspoofchk={}",
                        p.get("macspoofchk")
                            .map(Value::to_string)
                            .unwrap_or_else(|| "absent".into())
                    ),
                ));
            }
            let vlan = p.get("vlan").and_then(Value::as_i64).unwrap_or(0);
            let trunk = p.get("vlanTrunk").is_some();
            if sel.wants("VG402") && vlan == 0 && !trunk {
                out.push(at(
                    finding(
                        "VG402",
                        format!("{}: bridge {bridge} without a VLAN", o.describe()),
                    ),
                    format!("spec.config plugin[{i}] type=bridge vlan absent"),
                ));
            }
        }
    }
    for o in ctx.of_kind("SriovNetwork") {
        let v = Context::value(o);
        let at = |mut f: Finding, evidence: String| {
            f.objects.push(object_ref(o));
            f.namespace = network_namespace(o).to_string();
            f.evidence = evidence;
            f
        };
        if sel.wants("VG401") && str_at(v, "/spec/spoofChk") == Some("off") {
            out.push(at(
                finding("VG401", format!("{}: spoofChk is off", o.describe())),
                "spec.spoofChk = off".into(),
            ));
        }
        let vlan = v.pointer("/spec/vlan").and_then(Value::as_i64).unwrap_or(0);
        if sel.wants("VG402") && vlan == 0 {
            out.push(at(
                finding("VG402", format!("{}: no VLAN", o.describe())),
                "spec.vlan absent or 0".into(),
            ));
        }
    }
    if sel.wants("VG403") {
        multi_network_policy(ctx, out);
    }
}

/// VG403: namespaces with VMs on secondary (Multus) networks and no MultiNetworkPolicy.
fn multi_network_policy(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let mut by_ns: std::collections::BTreeMap<String, Vec<ObjectRef>> = Default::default();
    for kind in ["VirtualMachine", "VirtualMachineInstance"] {
        for o in ctx.of_kind(kind) {
            let v = Context::value(o);
            let owned_by_vm = kind == "VirtualMachineInstance"
                && array_at(v, "/metadata/ownerReferences")
                    .iter()
                    .any(|r| r.get("kind").and_then(Value::as_str) == Some("VirtualMachine"));
            if owned_by_vm {
                continue;
            }
            let nets = if kind == "VirtualMachine" {
                array_at(v, "/spec/template/spec/networks")
            } else {
                array_at(v, "/spec/networks")
            };
            let secondary = nets.iter().any(|n| {
                n.get("multus")
                    .is_some_and(|m| m.get("default").and_then(Value::as_bool) != Some(true))
            });
            if secondary && !o.namespace.is_empty() {
                by_ns
                    .entry(o.namespace.clone())
                    .or_default()
                    .push(object_ref(o));
            }
        }
    }
    for (ns, vms) in by_ns {
        let has_policy = ctx
            .of_kind("MultiNetworkPolicy")
            .iter()
            .any(|p| p.namespace == ns);
        if has_policy {
            continue;
        }
        let mut f = finding(
            "VG403",
            format!(
                "namespace {ns}: {} VM(s) on secondary networks and no MultiNetworkPolicy",
                vms.len()
            ),
        );
        f.namespace = ns.clone();
        f.evidence = format!(
            "{}; no MultiNetworkPolicy in {ns}",
            vms.iter()
                .map(ObjectRef::describe)
                .collect::<Vec<_>>()
                .join(", ")
        );
        f.objects = vms;
        out.push(f);
    }
}
