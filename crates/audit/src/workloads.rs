//! Checks of VirtualMachine and VirtualMachineInstance specs (and VMs inside OpenShift
//! Templates): passthrough devices, memory overhead, shareable disks, errorPolicy, nested
//! virtualization, and bridge/SR-IOV interfaces on networks without MAC spoof checking.

use serde_json::Value;
use virtguard_snapshot::Object;

use crate::context::Context;
use crate::finding::{Finding, Severity};
use crate::network::spoof_checked;
use crate::value::{array_at, bool_at, object_ref, str_at};
use crate::{finding, Selection};

/// A VM spec to check: the object, the pointer to its `domain`, its `networks`, and a label.
struct Spec<'a> {
    object: &'a Object,
    domain: &'a Value,
    networks: &'a [Value],
    base: String,
    namespace: String,
}

fn specs<'a>(ctx: &Context<'a>) -> Vec<Spec<'a>> {
    let mut out = Vec::new();
    for o in ctx.of_kind("VirtualMachine") {
        let v = Context::value(o);
        if let Some(d) = v.pointer("/spec/template/spec/domain") {
            out.push(Spec {
                object: o,
                domain: d,
                networks: array_at(v, "/spec/template/spec/networks"),
                base: "spec.template.spec.domain".into(),
                namespace: o.namespace.clone(),
            });
        }
    }
    for o in ctx.of_kind("VirtualMachineInstance") {
        let v = Context::value(o);
        // A VMI started by a VM in the snapshot repeats the VM's spec: judge the VM once.
        let owned = array_at(v, "/metadata/ownerReferences").iter().any(|r| {
            r.get("kind").and_then(Value::as_str) == Some("VirtualMachine")
                && r.get("name").and_then(Value::as_str).is_some_and(|n| {
                    ctx.of_kind("VirtualMachine")
                        .iter()
                        .any(|vm| vm.name == n && vm.namespace == o.namespace)
                })
        });
        if owned {
            continue;
        }
        if let Some(d) = v.pointer("/spec/domain") {
            out.push(Spec {
                object: o,
                domain: d,
                networks: array_at(v, "/spec/networks"),
                base: "spec.domain".into(),
                namespace: o.namespace.clone(),
            });
        }
    }
    for o in ctx.of_kind("Template") {
        let v = Context::value(o);
        for (i, obj) in array_at(v, "/objects").iter().enumerate() {
            if obj.get("kind").and_then(Value::as_str) != Some("VirtualMachine") {
                continue;
            }
            if let Some(d) = obj.pointer("/spec/template/spec/domain") {
                out.push(Spec {
                    object: o,
                    domain: d,
                    networks: obj
                        .pointer("/spec/template/spec/networks")
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or(&[]),
                    base: format!("objects[{i}].spec.template.spec.domain"),
                    namespace: o.namespace.clone(),
                });
            }
        }
    }
    out
}

/// "a, b, c and N more": the sorted, distinct names, at most `max`.
fn some_names(mut names: Vec<String>, max: usize) -> String {
    names.sort();
    names.dedup();
    let more = names.len().saturating_sub(max);
    names.truncate(max);
    let mut s = names.join(", ");
    if more > 0 {
        s.push_str(&format!(" and {more} more"));
    }
    if s.is_empty() {
        s.push_str("cluster admins only");
    }
    s
}

pub(crate) fn run(ctx: &Context<'_>, sel: &Selection, out: &mut Vec<Finding>) {
    let mut creators: Option<crate::rbac::Creators> = None;
    for s in specs(ctx) {
        let what = s.object.describe();
        let at = |mut f: Finding, evidence: String| {
            f.namespace = s.namespace.clone();
            f.objects.push(object_ref(s.object));
            f.evidence = evidence;
            f
        };
        if sel.wants("VG301") {
            for list in ["gpus", "hostDevices"] {
                for (i, d) in array_at(s.domain, &format!("/devices/{list}"))
                    .iter()
                    .enumerate()
                {
                    let dev = d
                        .get("deviceName")
                        .or_else(|| d.get("claimName"))
                        .and_then(Value::as_str)
                        .unwrap_or("?");
                    let mut f = finding(
                        "VG301",
                        format!("{what} passes through {list} device {dev}"),
                    );
                    if !s.namespace.is_empty() {
                        f.message.push_str(&format!(
                            " (VMs in {} can be created by: {})",
                            s.namespace,
                            {
                                let (cluster, by_ns) =
                                    creators.get_or_insert_with(|| crate::rbac::vm_creators(ctx));
                                let mut names = cluster.clone();
                                names.extend(by_ns.get(&s.namespace).cloned().unwrap_or_default());
                                some_names(names, 5)
                            }
                        ));
                    }
                    out.push(at(
                        f,
                        format!("{}.devices.{list}[{i}].deviceName = {dev}", s.base),
                    ));
                }
            }
        }
        if sel.wants("VG302")
            && bool_at(s.domain, "/resources/overcommitGuestOverhead") == Some(true)
        {
            out.push(at(
                finding(
                    "VG302",
                    format!("{what} does not reserve its memory overhead"),
                ),
                format!("{}.resources.overcommitGuestOverhead = true", s.base),
            ));
        }
        for (i, d) in array_at(s.domain, "/devices/disks").iter().enumerate() {
            let disk = d.get("name").and_then(Value::as_str).unwrap_or("?");
            if sel.wants("VG303") && bool_at(d, "/shareable") == Some(true) {
                out.push(at(
                    finding("VG303", format!("{what}: disk {disk} is shareable")),
                    format!("{}.devices.disks[{i}].shareable = true", s.base),
                ));
            }
            if sel.wants("VG304") && str_at(d, "/errorPolicy") == Some("ignore") {
                out.push(at(
                    finding("VG304", format!("{what}: disk {disk} ignores I/O errors")),
                    format!("{}.devices.disks[{i}].errorPolicy = ignore", s.base),
                ));
            }
        }
        if sel.wants("VG305") {
            for (i, feat) in array_at(s.domain, "/cpu/features").iter().enumerate() {
                let name = feat.get("name").and_then(Value::as_str).unwrap_or("");
                let policy = feat
                    .get("policy")
                    .and_then(Value::as_str)
                    .unwrap_or("require");
                if matches!(name, "vmx" | "svm")
                    && matches!(policy, "require" | "force" | "optional")
                {
                    out.push(at(
                        finding(
                            "VG305",
                            format!("{what} requests CPU feature {name} (nested virtualization)"),
                        ),
                        format!(
                            "{}.cpu.features[{i}] = {{name: {name}, policy: {policy}}}",
                            s.base
                        ),
                    ));
                }
            }
            if str_at(s.domain, "/cpu/model") == Some("host-passthrough") {
                let mut f = finding(
                    "VG305",
                    format!("{what} uses CPU model host-passthrough (exposes vmx/svm where the node allows nesting)"),
                );
                f.severity = Severity::Low;
                out.push(at(f, format!("{}.cpu.model = host-passthrough", s.base)));
            }
        }
        if sel.wants("VG306") {
            for (i, iface) in array_at(s.domain, "/devices/interfaces").iter().enumerate() {
                let binding = if iface.get("bridge").is_some() {
                    "bridge"
                } else if iface.get("sriov").is_some() {
                    "sriov"
                } else {
                    continue;
                };
                let name = iface.get("name").and_then(Value::as_str).unwrap_or("");
                let Some(net) = s
                    .networks
                    .iter()
                    .find(|n| n.get("name").and_then(Value::as_str) == Some(name))
                else {
                    continue;
                };
                let Some(nad_name) = str_at(net, "/multus/networkName") else {
                    continue; // the pod network: no secondary L2 segment
                };
                let (nad_ns, nad) = match nad_name.split_once('/') {
                    Some((ns, n)) => (ns.to_string(), n),
                    None => (s.namespace.clone(), nad_name),
                };
                let Some(checked) = spoof_checked(ctx, &nad_ns, nad) else {
                    continue; // the network is not in the snapshot: cannot tell
                };
                if !checked.0 {
                    let f = finding(
                        "VG306",
                        format!(
                            "{what}: {binding} interface {name} is on network {nad_ns}/{nad}, which does not check MAC spoofing"
                        ),
                    );
                    let mut f = at(
                        f,
                        format!(
                            "{}.devices.interfaces[{i}] {binding} → networks[].multus.networkName = {nad_name}",
                            s.base
                        ),
                    );
                    f.objects.push(checked.1);
                    out.push(f);
                }
            }
        }
    }
}
