//! Checks of the KubeVirt CR's settings: aggregation strategy vs gate, permitted host devices,
//! KSM, memory overcommit, certificate rotation, TLS minimum version, feature gates.

use serde_json::Value;
use virtguard_catalog::{
    feature_gates, gate_enabled, opt_out_gate_enabled, unknown_gates, GateState,
};

use crate::context::Context;
use crate::finding::{Finding, Severity};
use crate::value::{array_at, object_ref, str_at};
use crate::{finding, Selection};

/// KubeVirt's admission message for Manual without the gate.
pub const MANUAL_WITHOUT_GATE: &str =
    "RoleAggregationStrategy cannot be set to Manual without enabling the OptOutRoleAggregation feature gate";

/// Feature gates that widen host access or what tenants may do, each with why.
pub const RISKY_GATES: &[(&str, Severity, &str)] = &[
    ("HostDisk", Severity::High, "VMs may use files and directories on the node's filesystem as disks"),
    ("Root", Severity::High, "virt-launcher runs QEMU as root instead of the unprivileged qemu user"),
    ("Sidecar", Severity::High, "users may run hook sidecar containers of their choosing next to QEMU in virt-launcher"),
    ("HostDevices", Severity::Medium, "PCI, mediated and USB devices of the node may be passed through to guests"),
    ("DockerSELinuxMCSWorkaround", Severity::High, "relaxes SELinux MCS separation between virt-launcher pods"),
    ("DownwardMetrics", Severity::Low, "guests can read host metrics (information about the node and its other tenants)"),
    ("ClusterProfiler", Severity::Medium, "exposes profiling endpoints of KubeVirt's components"),
    ("PersistentReservation", Severity::Medium, "deploys a privileged pr-helper on nodes and lets guests issue SCSI reservations on shared LUNs"),
    ("ExperimentalVirtiofsSupport", Severity::Low, "virtiofsd shares host-backed filesystems with guests"),
];

/// Problems of `spec.certificateRotateStrategy`: unparsable, rejected by KubeVirt's validation
/// (its messages verbatim), or lifetimes longer than KubeVirt's defaults.
fn rotation_problems(strategy: &Value) -> Vec<(String, String)> {
    use virtguard_pki::duration::format_go_duration;
    use virtguard_pki::schedule::{
        validate, CertificateRotateStrategy, Schedule, DEFAULT_CA_DURATION, DEFAULT_CERT_DURATION,
    };
    let parsed: CertificateRotateStrategy = match serde_json::from_value(strategy.clone()) {
        Ok(p) => p,
        Err(e) => {
            return vec![(
                format!("certificateRotateStrategy cannot be read: {e}"),
                format!("spec.certificateRotateStrategy = {strategy}"),
            )]
        }
    };
    let Some(cfg) = parsed.self_signed.as_ref() else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = validate(cfg)
        .into_iter()
        .map(|c| {
            (
                format!("KubeVirt rejects these settings: {}", c.message),
                format!(
                    "spec.certificateRotateStrategy.selfSigned = {}",
                    strategy["selfSigned"]
                ),
            )
        })
        .collect();
    let s = Schedule::from_config(Some(cfg));
    if s.ca_duration > DEFAULT_CA_DURATION {
        out.push((
            format!(
                "the CA lives {} (KubeVirt's default: {})",
                format_go_duration(s.ca_duration),
                format_go_duration(DEFAULT_CA_DURATION)
            ),
            format!(
                "effective CA duration {}",
                format_go_duration(s.ca_duration)
            ),
        ));
    }
    if s.cert_duration > DEFAULT_CERT_DURATION {
        out.push((
            format!(
                "component certificates live {} (KubeVirt's default: {})",
                format_go_duration(s.cert_duration),
                format_go_duration(DEFAULT_CERT_DURATION)
            ),
            format!(
                "effective certificate duration {}",
                format_go_duration(s.cert_duration)
            ),
        ));
    }
    out
}

pub(crate) fn run(ctx: &Context<'_>, sel: &Selection, out: &mut Vec<Finding>) {
    let Some(cr) = ctx.kubevirt() else {
        return;
    };
    let v = Context::value(cr);
    let version = ctx.version.unwrap_or("");
    let (enabled, disabled) = ctx.gates();
    let at = |mut f: Finding, evidence: String| {
        f.objects.push(object_ref(cr));
        f.namespace = cr.namespace.clone();
        f.evidence = evidence;
        f
    };

    if sel.wants("VG201")
        && str_at(v, "/spec/configuration/roleAggregationStrategy") == Some("Manual")
    {
        let gate = opt_out_gate_enabled(version, &enabled, &disabled);
        let msg = match gate {
            Some(false) => Some(MANUAL_WITHOUT_GATE.to_string()),
            None if !version.is_empty() => Some(format!(
                "KubeVirt {version} has no roleAggregationStrategy (added in v1.8.0); the setting is ignored"
            )),
            _ => None,
        };
        if let Some(msg) = msg {
            let mut f = finding("VG201", msg);
            if gate.is_none() {
                f.severity = Severity::Low; // ignored by that release, not rejected
            }
            out.push(at(
                f,
                "spec.configuration.roleAggregationStrategy = Manual".to_string(),
            ));
        }
    }

    if sel.wants("VG202") {
        for (list, key) in [
            ("pciHostDevices", "pciVendorSelector"),
            ("mediatedDevices", "mdevNameSelector"),
            ("usb", "resourceName"),
        ] {
            let ptr = format!("/spec/configuration/permittedHostDevices/{list}");
            for (i, d) in array_at(v, &ptr).iter().enumerate() {
                let name = d.get("resourceName").and_then(Value::as_str).unwrap_or("?");
                let sel_ = d.get(key).and_then(Value::as_str).unwrap_or("");
                let f = finding(
                    "VG202",
                    format!("host device {name} ({list}) is permitted for passthrough"),
                );
                let evidence = format!(
                    "spec.configuration.permittedHostDevices.{list}[{i}]: resourceName={name}{}",
                    if sel_.is_empty() {
                        String::new()
                    } else {
                        format!(" {key}={sel_}")
                    }
                );
                out.push(at(f, evidence));
            }
        }
    }

    if sel.wants("VG203") {
        if let Some(ksm) = v.pointer("/spec/configuration/ksmConfiguration") {
            if !ksm.is_null() {
                let scope = match ksm.get("nodeLabelSelector") {
                    Some(s) if s.as_object().is_some_and(|m| m.is_empty()) => "every node",
                    Some(_) => "the selected nodes",
                    None => "no node (no nodeLabelSelector)",
                };
                out.push(at(
                    finding("VG203", format!("KSM is enabled on {scope}")),
                    format!("spec.configuration.ksmConfiguration = {ksm}"),
                ));
            }
        }
    }

    if sel.wants("VG204") {
        if let Some(p) = v
            .pointer("/spec/configuration/developerConfiguration/memoryOvercommit")
            .and_then(Value::as_i64)
        {
            if p > 100 {
                out.push(at(
                    finding("VG204", format!("guest memory overcommit is {p} %")),
                    format!("spec.configuration.developerConfiguration.memoryOvercommit = {p}"),
                ));
            }
        }
    }

    if sel.wants("VG205") {
        if let Some(strategy) = v.pointer("/spec/certificateRotateStrategy") {
            for (msg, evidence) in rotation_problems(strategy) {
                out.push(at(finding("VG205", msg), evidence));
            }
        }
    }

    if sel.wants("VG206") {
        if let Some(tls) = str_at(v, "/spec/configuration/tlsConfiguration/minTLSVersion") {
            if matches!(tls, "VersionTLS10" | "VersionTLS11") {
                out.push(at(
                    finding("VG206", format!("components accept {tls}")),
                    format!("spec.configuration.tlsConfiguration.minTLSVersion = {tls}"),
                ));
            }
        }
    }

    if sel.wants("VG207") && !version.is_empty() {
        let states = feature_gates(version);
        for (gate, sev, why) in RISKY_GATES {
            // A GA feature is part of the product (it cannot be switched off by its gate).
            let ga = states
                .iter()
                .any(|g| g.name == *gate && g.state == GateState::GA);
            if !ga && gate_enabled(version, gate, &enabled, &disabled) {
                let listed = enabled.iter().any(|g| g == gate);
                let mut f = finding("VG207", format!("feature gate {gate} is on: {why}"));
                f.severity = *sev;
                out.push(at(
                    f,
                    if listed {
                        format!("spec.configuration.developerConfiguration.featureGates contains {gate}")
                    } else {
                        format!("{gate} is on by default in KubeVirt {version}")
                    },
                ));
            }
        }
        // Hardening gates switched off.
        for gate in ["NodeRestriction", "KubevirtSeccompProfile"] {
            let was_default_on = gate_enabled(version, gate, &[], &[]);
            if was_default_on && !gate_enabled(version, gate, &enabled, &disabled) {
                let mut f = finding(
                    "VG207",
                    format!("hardening feature gate {gate} is disabled"),
                );
                f.severity = Severity::High;
                out.push(at(
                    f,
                    format!(
                        "spec.configuration.developerConfiguration.disabledFeatureGates contains {gate}"
                    ),
                ));
            }
        }
    }

    if sel.wants("VG208") && !version.is_empty() {
        let listed: Vec<String> = enabled.iter().chain(&disabled).cloned().collect();
        for g in unknown_gates(version, &listed) {
            out.push(at(
                finding(
                    "VG208",
                    format!("feature gate \"{g}\" is unknown to KubeVirt {version} and ignored"),
                ),
                format!("spec.configuration.developerConfiguration: {g}"),
            ));
        }
    }
}
