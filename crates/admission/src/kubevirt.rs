//! The KubeVirt CR's own admission verdicts, as virt-operator's webhooks give them (messages and
//! fields verbatim, `../shared/reference/kubevirt-facts.md` §3.2, §4.2, §5): one KubeVirt CR per
//! cluster, `roleAggregationStrategy: Manual` only with the OptOutRoleAggregation gate enabled
//! under the release's gate rules, no gate both enabled and disabled, and the certificate
//! rotation rules. KubeVirt checks the settings on UPDATE only (its CREATE webhook exists only once
//! the operator runs); virtguard checks them on CREATE too, so a cluster enforces them before.

use serde_json::Value;
use virtguard_audit::{strings_at, MANUAL_WITHOUT_GATE};
use virtguard_catalog::{newest_kubevirt, opt_out_gate_enabled, resolve_version, Component};
use virtguard_pki::schedule::{validate, CauseType, CertificateRotateStrategy};

use crate::review::{AdmissionRequest, Cause, Verdict};

/// KubeVirt's create admitter's message for a second CR.
pub const ALREADY_CREATED: &str = "Kubevirt is already created";

/// The verdict on a KubeVirt CR. `existing`: the KubeVirt CRs the cluster has (namespace,
/// name); `operator_version`: the installed release when known.
pub fn verdict(
    req: &AdmissionRequest,
    existing: &[(String, String)],
    operator_version: Option<&str>,
) -> Verdict {
    if req.operation == "CREATE"
        && existing
            .iter()
            .any(|(ns, name)| !(ns == &req.namespace && name == &req.name))
    {
        // webhookutils.ToAdmissionResponseError: the message, code 422, no reason.
        return Verdict {
            allowed: false,
            code: 422,
            message: ALREADY_CREATED.into(),
            ..Verdict::default()
        };
    }
    let Some(obj) = req.object.as_ref() else {
        return Verdict::allow();
    };
    let mut causes = Vec::new();
    let mut verdict = Verdict::allow();
    let config = obj.pointer("/spec/configuration");
    let enabled = strings_at(
        obj,
        "/spec/configuration/developerConfiguration/featureGates",
    );
    let disabled = strings_at(
        obj,
        "/spec/configuration/developerConfiguration/disabledFeatureGates",
    );
    for g in &enabled {
        if disabled.contains(g) {
            causes.push(Cause {
                cause_type: "Forbidden".into(),
                field: "spec.configuration.developerConfiguration.featureGates".into(),
                message: format!(
                    "feature gate \"{g}\" exists on both \"FeatureGates\" and \"DisabledFeatureGates\""
                ),
            });
        }
    }
    if config
        .and_then(|c| c.get("roleAggregationStrategy"))
        .and_then(Value::as_str)
        == Some("Manual")
    {
        let observed = obj
            .pointer("/status/observedKubeVirtVersion")
            .and_then(Value::as_str)
            .or(operator_version);
        let release = observed
            .and_then(|v| resolve_version(Component::KubeVirt, v).ok())
            .unwrap_or_else(newest_kubevirt);
        match opt_out_gate_enabled(release, &enabled, &disabled) {
            Some(true) => {}
            Some(false) => causes.push(Cause {
                cause_type: "FieldValueInvalid".into(),
                field: "spec.configuration.roleAggregationStrategy".into(),
                message: MANUAL_WITHOUT_GATE.into(),
            }),
            None => verdict.warn(&format!(
                "KubeVirt {release} has no roleAggregationStrategy: the API server drops the field"
            )),
        }
    }
    if let Some(strategy) = obj.pointer("/spec/certificateRotateStrategy") {
        match serde_json::from_value::<CertificateRotateStrategy>(strategy.clone()) {
            Ok(s) => {
                if let Some(cfg) = s.self_signed.as_ref() {
                    for c in validate(cfg) {
                        causes.push(Cause {
                            cause_type: match c.cause_type {
                                CauseType::FieldValueInvalid => "FieldValueInvalid",
                                CauseType::FieldValueNotSupported => "FieldValueNotSupported",
                            }
                            .into(),
                            field: "spec.certificateRotateStrategy.selfSigned".into(),
                            message: c.message,
                        });
                    }
                }
            }
            Err(e) => causes.push(Cause {
                cause_type: "FieldValueInvalid".into(),
                field: "spec.certificateRotateStrategy".into(),
                message: format!("cannot be read: {e}"),
            }),
        }
    }
    if causes.is_empty() {
        return verdict;
    }
    let mut denied = Verdict::invalid(causes);
    denied.warnings = verdict.warnings;
    denied
}
