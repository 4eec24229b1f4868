//! Checks of the VMI specs that VirtualMachines, VirtualMachineInstances, VirtualMachinePools,
//! VirtualMachineInstanceReplicaSets and OpenShift Templates carry (VG301–VG306: passthrough
//! devices, memory overhead, shareable disks, errorPolicy, nested virtualization, bridge/SR-IOV
//! interfaces on networks without MAC spoof checking), and the entry point that judges one such
//! object with every workload check (these and [`crate::host`]'s): one function for the audit
//! of a snapshot and for a single incoming object.

use serde_json::Value;
use virtguard_snapshot::Object;

use crate::context::Context;
use crate::finding::{Finding, Severity};
use crate::network::spoof_checked;
use crate::value::{array_at, bool_at, object_ref, str_at};
use crate::vmspec::{owned_in_snapshot, vmi_specs, VmiSpec, VM_KINDS};
use crate::{finding, Selection};

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

/// " (VMs in ns can be created by: …)": who could have written a VM there, for findings whose
/// remedy is to restrict who may.
pub(crate) fn creators_note(ctx: &Context<'_>, namespace: &str) -> String {
    if namespace.is_empty() {
        return String::new();
    }
    let (cluster, by_ns) = ctx.vm_creators();
    let mut names = cluster.clone();
    names.extend(by_ns.get(namespace).cloned().unwrap_or_default());
    format!(
        " (VMs in {namespace} can be created by: {})",
        some_names(names, 5)
    )
}

/// A finding about object `o`, located at it, with its evidence.
pub(crate) fn located(o: &Object, mut f: Finding, evidence: String) -> Finding {
    f.namespace = o.namespace.clone();
    f.objects.push(object_ref(o));
    f.evidence = evidence;
    f
}

/// Every selected workload check (VG301–VG311) on one object: each VMI spec it carries is
/// judged. Empty for objects that carry none. The audit calls it for each VM-bearing object of
/// the snapshot; an admission caller can call it for the one object under review.
pub fn workload_findings(ctx: &Context<'_>, o: &Object, sel: &Selection) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in vmi_specs(&o.kind, Context::value(o)) {
        spec_findings(ctx, o, &s, sel, &mut out);
        crate::host::spec_findings(ctx, o, &s, sel, &mut out);
    }
    out
}

/// VG301–VG311 over the snapshot: every object that carries a VMI spec, except those created by
/// another object of the snapshot (a VM's VMI, a pool's VMs, a replica set's VMIs: the owner is
/// judged once).
pub(crate) fn run(ctx: &Context<'_>, sel: &Selection, out: &mut Vec<Finding>) {
    for kind in VM_KINDS {
        for o in ctx.of_kind(kind) {
            if !owned_in_snapshot(ctx, o) {
                out.extend(workload_findings(ctx, o, sel));
            }
        }
    }
}

/// VG301–VG306 on one VMI spec of object `o`.
fn spec_findings(
    ctx: &Context<'_>,
    o: &Object,
    s: &VmiSpec<'_>,
    sel: &Selection,
    out: &mut Vec<Finding>,
) {
    let what = o.describe();
    let domain = s.domain();
    let base = s.at("domain");
    if sel.wants("VG301") {
        for list in ["gpus", "hostDevices"] {
            for (i, d) in array_at(domain, &format!("/devices/{list}"))
                .iter()
                .enumerate()
            {
                let device = str_at(d, "/deviceName").filter(|n| !n.is_empty());
                if device.is_none() && str_at(d, "/claimName").is_some() {
                    continue; // allocated through DRA: VG311
                }
                let dev = device.unwrap_or("?");
                let mut f = finding(
                    "VG301",
                    format!("{what} passes through {list} device {dev}"),
                );
                f.message.push_str(&creators_note(ctx, &o.namespace));
                out.push(located(
                    o,
                    f,
                    format!("{base}.devices.{list}[{i}].deviceName = {dev}"),
                ));
            }
        }
    }
    if sel.wants("VG302") && bool_at(domain, "/resources/overcommitGuestOverhead") == Some(true) {
        out.push(located(
            o,
            finding(
                "VG302",
                format!("{what} does not reserve its memory overhead"),
            ),
            format!("{base}.resources.overcommitGuestOverhead = true"),
        ));
    }
    for (i, d) in array_at(domain, "/devices/disks").iter().enumerate() {
        let disk = d.get("name").and_then(Value::as_str).unwrap_or("?");
        if sel.wants("VG303") && bool_at(d, "/shareable") == Some(true) {
            out.push(located(
                o,
                finding("VG303", format!("{what}: disk {disk} is shareable")),
                format!("{base}.devices.disks[{i}].shareable = true"),
            ));
        }
        if sel.wants("VG304") && str_at(d, "/errorPolicy") == Some("ignore") {
            out.push(located(
                o,
                finding("VG304", format!("{what}: disk {disk} ignores I/O errors")),
                format!("{base}.devices.disks[{i}].errorPolicy = ignore"),
            ));
        }
    }
    if sel.wants("VG305") {
        for (i, feat) in array_at(domain, "/cpu/features").iter().enumerate() {
            let name = feat.get("name").and_then(Value::as_str).unwrap_or("");
            let policy = feat
                .get("policy")
                .and_then(Value::as_str)
                .unwrap_or("require");
            if matches!(name, "vmx" | "svm") && matches!(policy, "require" | "force" | "optional") {
                out.push(located(
                    o,
                    finding(
                        "VG305",
                        format!("{what} requests CPU feature {name} (nested virtualization)"),
                    ),
                    format!("{base}.cpu.features[{i}] = {{name: {name}, policy: {policy}}}"),
                ));
            }
        }
        if str_at(domain, "/cpu/model") == Some("host-passthrough") {
            let mut f = finding(
                "VG305",
                format!("{what} uses CPU model host-passthrough (exposes vmx/svm where the node allows nesting)"),
            );
            f.severity = Severity::Low;
            out.push(located(
                o,
                f,
                format!("{base}.cpu.model = host-passthrough"),
            ));
        }
    }
    if sel.wants("VG306") {
        interfaces_without_spoof_check(ctx, o, s, out);
    }
}

/// VG306: bridge and SR-IOV interfaces on secondary networks that do not check MAC spoofing.
fn interfaces_without_spoof_check(
    ctx: &Context<'_>,
    o: &Object,
    s: &VmiSpec<'_>,
    out: &mut Vec<Finding>,
) {
    let what = o.describe();
    let base = s.at("domain");
    let networks = array_at(s.spec, "/networks");
    for (i, iface) in array_at(s.domain(), "/devices/interfaces")
        .iter()
        .enumerate()
    {
        let binding = if iface.get("bridge").is_some() {
            "bridge"
        } else if iface.get("sriov").is_some() {
            "sriov"
        } else {
            continue;
        };
        let name = iface.get("name").and_then(Value::as_str).unwrap_or("");
        let Some(net) = networks
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
            None => (o.namespace.clone(), nad_name),
        };
        let Some((checked, nad_ref)) = spoof_checked(ctx, &nad_ns, nad) else {
            continue; // the network is not in the snapshot: cannot tell
        };
        if !checked {
            let f = finding(
                "VG306",
                format!(
                    "{what}: {binding} interface {name} is on network {nad_ns}/{nad}, which does not check MAC spoofing"
                ),
            );
            let mut f = located(
                o,
                f,
                format!(
                    "{base}.devices.interfaces[{i}] {binding} → networks[].multus.networkName = {nad_name}"
                ),
            );
            f.objects.push(nad_ref);
            out.push(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use virtguard_rbac::Policy;
    use virtguard_snapshot::{from_texts, Format, LoadOptions, Object};

    use super::*;

    fn objects(text: &str) -> Vec<Object> {
        from_texts(
            vec![(Arc::from("t.yaml"), text.to_string(), Format::Yaml)],
            &LoadOptions::default(),
        )
        .map(|s| s.objects)
        .unwrap_or_default()
    }

    const POOL: &str = r#"apiVersion: pool.kubevirt.io/v1beta1
kind: VirtualMachinePool
metadata: {name: p, namespace: ns}
spec:
  virtualMachineTemplate:
    spec:
      template:
        metadata:
          annotations:
            hooks.kubevirt.io/hookSidecars: '[{"image": "x"}]'
        spec:
          domain:
            devices:
              disks: [{name: d, shareable: true}]
          volumes:
          - {name: d, hostDisk: {path: /h/d.img, type: Disk}}
---
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: p-0
  namespace: ns
  ownerReferences: [{kind: VirtualMachinePool, name: p}]
spec:
  template:
    spec:
      domain:
        devices:
          disks: [{name: d, shareable: true}]
"#;

    #[test]
    fn one_object_is_judged_alone_as_in_the_snapshot() {
        let objs = objects(POOL);
        assert_eq!(objs.len(), 2);
        let policy = Policy::new(Vec::new(), Vec::new());
        let ctx = Context::new(&objs, &policy, &[], Some("v1.9.0"), &[], &[]);
        let sel = Selection::default();
        let alone: Vec<&str> = workload_findings(&ctx, &objs[0], &sel)
            .iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(alone, ["VG303", "VG307", "VG308"]);
        // The pool's VM, judged alone (as at admission), is judged too …
        let vm: Vec<&str> = workload_findings(&ctx, &objs[1], &sel)
            .iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(vm, ["VG303"]);
        // … but in the snapshot it is its pool's: the audit reports the pool's findings only.
        let mut all = Vec::new();
        run(&ctx, &sel, &mut all);
        assert_eq!(all.len(), 3);
        assert!(all
            .iter()
            .all(|f| f.objects[0].kind == "VirtualMachinePool"));
        let only = Selection {
            only: vec!["VG308".into()],
            skip: Vec::new(),
            paths: false,
        };
        let f = workload_findings(&ctx, &objs[0], &only);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains(
            "spec.virtualMachineTemplate.spec.template.metadata.annotations[hooks.kubevirt.io/hookSidecars]"
        ));
        assert_eq!(
            f[0].severity,
            Severity::Medium,
            "no KubeVirt CR: Sidecar off"
        );
    }
}
