//! Checks of VM features that reach the host (VG307–VG311): `hostDisk` volumes, hook sidecars,
//! LUN disks with SCSI persistent reservation, downward metrics, and devices passed through by
//! DRA resource claims. Each feature works only while a KubeVirt feature gate (or setting) is on:
//! a finding has its check's severity when the cluster turns the feature on, one step lower when
//! it does not (KubeVirt rejects or ignores the request, but someone asked for host access).

use serde_json::Value;
use virtguard_catalog::{
    feature_gates, gate_enabled, newest_kubevirt, persistent_reservation_enabled, GateState,
};
use virtguard_snapshot::Object;

use crate::context::Context;
use crate::finding::{Finding, Severity};
use crate::value::{array_at, bool_at, str_at};
use crate::vmspec::VmiSpec;
use crate::workloads::{creators_note, located};
use crate::{finding, Selection};

/// The annotation that lists hook sidecars (KubeVirt `hooks.HookSidecarListAnnotationName`).
const HOOK_SIDECARS: &str = "hooks.kubevirt.io/hookSidecars";

/// Whether the cluster turns a feature on, and the words that say how we know.
struct Gate {
    on: bool,
    why: String,
}

impl Gate {
    /// Gate `name` by KubeVirt's rule for the detected release ([`gate_enabled`]); without a
    /// KubeVirt CR in the snapshot, the release's default.
    fn of(ctx: &Context<'_>, name: &str) -> Gate {
        let version: &str = ctx.version.unwrap_or(newest_kubevirt());
        let (enabled, disabled) = ctx.gates();
        let on = gate_enabled(version, name, &enabled, &disabled);
        let why = if ctx.kubevirt().is_none() {
            format!(
                "gate {name} taken as {} (KubeVirt {version}'s default: no KubeVirt CR in the snapshot)",
                on_off(on)
            )
        } else if on && enabled.iter().any(|g| g == name) {
            format!("gate {name} is on (the KubeVirt CR lists it)")
        } else if on {
            format!("gate {name} is on by default in KubeVirt {version}")
        } else if disabled.iter().any(|g| g == name) {
            format!("gate {name} is off (the KubeVirt CR disables it)")
        } else {
            format!("gate {name} is off in KubeVirt {version}")
        };
        Gate { on, why }
    }

    /// SCSI persistent reservation: where its gate is GA (v1.9) KubeVirt's own rule
    /// ([`persistent_reservation_enabled`]: the CR's setting, else the gate listed), not the GA
    /// gate's "always on".
    fn persistent_reservation(ctx: &Context<'_>) -> Gate {
        let name = "PersistentReservation";
        let version: &str = ctx.version.unwrap_or(newest_kubevirt());
        let ga = feature_gates(version)
            .iter()
            .any(|g| g.name == name && g.state == GateState::GA);
        if !ga {
            return Gate::of(ctx, name);
        }
        let (enabled, disabled) = ctx.gates();
        let configured = ctx.kubevirt().and_then(|cr| {
            bool_at(
                Context::value(cr),
                "/spec/configuration/persistentReservationConfiguration/enabled",
            )
        });
        let on = persistent_reservation_enabled(version, configured, &enabled, &disabled);
        let why = match configured {
            Some(c) => format!(
                "persistent reservation is {} (the KubeVirt CR sets spec.configuration.persistentReservationConfiguration.enabled: {c})",
                on_off(on)
            ),
            None if on => {
                "persistent reservation is on (the KubeVirt CR lists gate PersistentReservation)"
                    .to_string()
            }
            None if ctx.kubevirt().is_none() => format!(
                "persistent reservation taken as off (KubeVirt {version}'s default: no KubeVirt CR in the snapshot)"
            ),
            None => format!(
                "persistent reservation is off in KubeVirt {version} (the KubeVirt CR neither sets spec.configuration.persistentReservationConfiguration.enabled nor lists gate PersistentReservation)"
            ),
        };
        Gate { on, why }
    }

    /// The check's severity when the feature is on; one step lower when it is off.
    fn severity(&self, on: Severity) -> Severity {
        if self.on {
            return on;
        }
        match on {
            Severity::Critical => Severity::High,
            Severity::High => Severity::Medium,
            Severity::Medium => Severity::Low,
            Severity::Low | Severity::Info => Severity::Info,
        }
    }

    /// "; <why>" and, when off, what that means for the object.
    fn suffix(&self, when_off: &str) -> String {
        if self.on {
            format!("; {}", self.why)
        } else {
            format!("; {}: {when_off}", self.why)
        }
    }
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

const REJECTED: &str = "KubeVirt's admission rejects it until the feature is on";

/// A finding of `id` with its severity set by the gate.
fn gated(id: &'static str, gate: &Gate, message: String) -> Finding {
    let mut f = finding(id, message);
    f.severity = gate.severity(f.severity);
    f
}

/// The `name` of a volume, disk or device, for messages.
fn name_of(v: &Value) -> &str {
    v.get("name").and_then(Value::as_str).unwrap_or("?")
}

/// VG307–VG311 on one VMI spec of object `o`.
pub(crate) fn spec_findings(
    ctx: &Context<'_>,
    o: &Object,
    s: &VmiSpec<'_>,
    sel: &Selection,
    out: &mut Vec<Finding>,
) {
    if sel.wants("VG307") {
        host_disks(ctx, o, s, out);
    }
    if sel.wants("VG308") {
        hook_sidecars(ctx, o, s, out);
    }
    if sel.wants("VG309") {
        reservations(ctx, o, s, out);
    }
    if sel.wants("VG310") {
        downward_metrics(ctx, o, s, out);
    }
    if sel.wants("VG311") {
        dra_devices(ctx, o, s, out);
    }
}

/// VG307: `volumes[].hostDisk`, a file on the node's filesystem.
fn host_disks(ctx: &Context<'_>, o: &Object, s: &VmiSpec<'_>, out: &mut Vec<Finding>) {
    let mut gate = None;
    for (i, v) in array_at(s.spec, "/volumes").iter().enumerate() {
        let Some(hd) = v.get("hostDisk").filter(|h| !h.is_null()) else {
            continue;
        };
        let gate = gate.get_or_insert_with(|| Gate::of(ctx, "HostDisk"));
        let path = str_at(hd, "/path").unwrap_or("?");
        let kind = str_at(hd, "/type").unwrap_or("?");
        let created = if kind == "DiskOrCreate" {
            ", created if absent"
        } else {
            ""
        };
        let at = s.at(&format!("volumes[{i}].hostDisk"));
        let f = gated(
            "VG307",
            gate,
            format!(
                "{}: volume {} is the node's file {path} ({at}.path, type {kind}{created}); its directory is mounted into virt-launcher{}",
                o.describe(),
                name_of(v),
                gate.suffix(REJECTED)
            ),
        );
        out.push(located(o, f, format!("{at} = {hd}")));
    }
}

/// One hook sidecar, for messages: its image, or the ConfigMap/PVC script KubeVirt's
/// sidecar-shim runs.
fn describe_sidecar(h: &Value) -> String {
    let named = |k: &str| {
        h.get(k).map(|c| {
            let name = str_at(c, "/name").unwrap_or("?");
            match str_at(c, "/key") {
                Some(key) => format!("{k} {name} key {key}"),
                None => format!("{k} {name}"),
            }
        })
    };
    match (
        str_at(h, "/image"),
        named("configMap").or_else(|| named("pvc")),
    ) {
        (Some(image), Some(script)) => format!("image {image} with {script}"),
        (Some(image), None) => format!("image {image}"),
        (None, Some(script)) => format!("{script} (KubeVirt's sidecar-shim image)"),
        (None, None) => "KubeVirt's sidecar-shim image".to_string(),
    }
}

/// VG308: the hook sidecar annotation on the VMI's metadata.
fn hook_sidecars(ctx: &Context<'_>, o: &Object, s: &VmiSpec<'_>, out: &mut Vec<Finding>) {
    let Some(raw) = s
        .metadata
        .get("annotations")
        .and_then(|a| a.get(HOOK_SIDECARS))
        .and_then(Value::as_str)
        .filter(|r| !r.trim().is_empty())
    else {
        return;
    };
    let sidecars = match serde_json::from_str::<Value>(raw) {
        Ok(Value::Array(list)) if list.is_empty() => return,
        Ok(Value::Array(list)) => format!(
            "{} hook sidecar(s): {}",
            list.len(),
            list.iter()
                .map(describe_sidecar)
                .collect::<Vec<_>>()
                .join("; ")
        ),
        Ok(other) => {
            format!("hook sidecars KubeVirt cannot read (a list is expected, got {other})")
        }
        Err(e) => format!("hook sidecars KubeVirt cannot read ({e})"),
    };
    let gate = Gate::of(ctx, "Sidecar");
    let at = format!("{}[{HOOK_SIDECARS}]", s.meta_at("annotations"));
    let f = gated(
        "VG308",
        &gate,
        format!(
            "{}: {at} adds containers of the VM owner's choosing to virt-launcher, next to QEMU: {sidecars}{}",
            o.describe(),
            gate.suffix(REJECTED)
        ),
    );
    out.push(located(o, f, format!("{at} = {raw}")));
}

/// VG309: LUN disks with `reservation: true`.
fn reservations(ctx: &Context<'_>, o: &Object, s: &VmiSpec<'_>, out: &mut Vec<Finding>) {
    let mut gate = None;
    for (i, d) in array_at(s.domain(), "/devices/disks").iter().enumerate() {
        if bool_at(d, "/lun/reservation") != Some(true) {
            continue;
        }
        let gate = gate.get_or_insert_with(|| Gate::persistent_reservation(ctx));
        let at = s.at(&format!("domain.devices.disks[{i}].lun.reservation"));
        let f = gated(
            "VG309",
            gate,
            format!(
                "{}: LUN disk {} issues SCSI persistent reservations through the node's privileged pr-helper ({at}){}",
                o.describe(),
                name_of(d),
                gate.suffix(REJECTED)
            ),
        );
        out.push(located(o, f, format!("{at} = true")));
    }
}

/// VG310: `downwardMetrics` volumes and the `downwardMetrics` device.
fn downward_metrics(ctx: &Context<'_>, o: &Object, s: &VmiSpec<'_>, out: &mut Vec<Finding>) {
    let present = |v: Option<&'_ Value>| v.filter(|m| !m.is_null()).cloned();
    let mut fields: Vec<(String, String, Value)> = array_at(s.spec, "/volumes")
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            present(v.get("downwardMetrics")).map(|m| {
                (
                    format!("volume {}", name_of(v)),
                    s.at(&format!("volumes[{i}].downwardMetrics")),
                    m,
                )
            })
        })
        .collect();
    if let Some(m) = present(s.domain().pointer("/devices/downwardMetrics")) {
        fields.push((
            "the downwardMetrics virtio-serial device".to_string(),
            s.at("domain.devices.downwardMetrics"),
            m,
        ));
    }
    if fields.is_empty() {
        return;
    }
    let gate = Gate::of(ctx, "DownwardMetrics");
    for (what, at, value) in fields {
        let f = gated(
            "VG310",
            &gate,
            format!(
                "{}: {what} exposes the node's metrics to the guest ({at}){}",
                o.describe(),
                gate.suffix(REJECTED)
            ),
        );
        out.push(located(o, f, format!("{at} = {value}")));
    }
}

/// VG311: GPUs and host devices allocated through DRA resource claims.
fn dra_devices(ctx: &Context<'_>, o: &Object, s: &VmiSpec<'_>, out: &mut Vec<Finding>) {
    let claims = array_at(s.spec, "/resourceClaims");
    for (list, gate_name) in [
        ("gpus", "GPUsWithDRA"),
        ("hostDevices", "HostDevicesWithDRA"),
    ] {
        let mut gate = None;
        for (i, d) in array_at(s.domain(), &format!("/devices/{list}"))
            .iter()
            .enumerate()
        {
            // KubeVirt allocates a device through DRA when it has a claim and no deviceName.
            let Some(claim) = str_at(d, "/claimName") else {
                continue;
            };
            if str_at(d, "/deviceName").is_some_and(|n| !n.is_empty()) {
                continue;
            }
            let gate = gate.get_or_insert_with(|| Gate::of(ctx, gate_name));
            let request = str_at(d, "/requestName");
            let source = claims
                .iter()
                .enumerate()
                .find(|(_, c)| str_at(c, "/name") == Some(claim))
                .map(|(j, c)| {
                    let from = match (
                        str_at(c, "/resourceClaimName"),
                        str_at(c, "/resourceClaimTemplateName"),
                    ) {
                        (Some(n), _) => format!("ResourceClaim {n}"),
                        (None, Some(t)) => format!("ResourceClaimTemplate {t}"),
                        (None, None) => "no claim source".to_string(),
                    };
                    format!("{}[{j}]: {from}", s.at("resourceClaims"))
                })
                .unwrap_or_else(|| format!("not in {}", s.at("resourceClaims")));
            let name = name_of(d);
            let at = s.at(&format!("domain.devices.{list}[{i}]"));
            let mut f = gated(
                "VG311",
                gate,
                format!(
                    "{}: {list} device {name} is passed through from DRA claim {claim}{} ({at}.claimName → {source}){}",
                    o.describe(),
                    request.map(|r| format!(" (request {r})")).unwrap_or_default(),
                    gate.suffix("KubeVirt does not allocate the claim until the gate is on")
                ),
            );
            f.message.push_str(&creators_note(ctx, &o.namespace));
            out.push(located(
                o,
                f,
                format!(
                    "{at}.claimName = {claim}{}; {source}",
                    request
                        .map(|r| format!(", requestName = {r}"))
                        .unwrap_or_default()
                ),
            ));
        }
    }
}
