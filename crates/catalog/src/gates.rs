//! KubeVirt's feature gates per release, as data (`data/kubevirt/<tag>/feature-gates.yaml`,
//! transcribed from `pkg/virt-config/featuregate/` at each tag), and KubeVirt's rule for whether
//! a gate is on given the KubeVirt CR's `featureGates` and `disabledFeatureGates` lists.
//!
//! The rule changed with the releases (see `data/kubevirt/FEATURE-GATES.md`): up to v1.8 a gate
//! that is not GA is on only when listed; from v1.9 a Beta gate is on unless disabled, and the
//! precedence is GA > `featureGates` > `disabledFeatureGates` > the Beta default.

use serde::Deserialize;

use crate::roles::semver;

/// The maturity of a feature gate at one release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum GateState {
    /// Off unless listed.
    Alpha,
    /// Off unless listed up to v1.8; on unless disabled from v1.9.
    Beta,
    /// Always on.
    GA,
    /// Off unless listed; KubeVirt warns.
    Deprecated,
    /// Listing it has no effect.
    Discontinued,
    /// Known name without a registered state (v1.4.0 has no Alpha/Beta registry): off unless listed.
    Unknown,
}

/// One feature gate of a release.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FeatureGate {
    /// The name users write in `developerConfiguration.featureGates`.
    pub name: String,
    /// Its state at the release.
    pub state: GateState,
}

#[derive(Deserialize)]
struct GateFile {
    gates: Vec<FeatureGate>,
}

fn gate_text(version: &str) -> Option<&'static str> {
    Some(match version {
        "v1.4.0" => include_str!("../data/kubevirt/v1.4.0/feature-gates.yaml"),
        "v1.5.0" => include_str!("../data/kubevirt/v1.5.0/feature-gates.yaml"),
        "v1.6.0" => include_str!("../data/kubevirt/v1.6.0/feature-gates.yaml"),
        "v1.7.0" => include_str!("../data/kubevirt/v1.7.0/feature-gates.yaml"),
        "v1.8.0" => include_str!("../data/kubevirt/v1.8.0/feature-gates.yaml"),
        "v1.9.0" => include_str!("../data/kubevirt/v1.9.0/feature-gates.yaml"),
        _ => return None,
    })
}

/// The feature gates KubeVirt knows at a catalog version (`v1.9.0`), in declaration order;
/// empty for a version the catalog does not hold.
pub fn feature_gates(version: &str) -> Vec<FeatureGate> {
    gate_text(version)
        .and_then(|t| serde_yaml_ng::from_str::<GateFile>(t).ok())
        .map(|f| f.gates)
        .unwrap_or_default()
}

/// The gate names in `listed` that KubeVirt `version` does not know (it ignores them).
pub fn unknown_gates<'a>(version: &str, listed: &'a [String]) -> Vec<&'a str> {
    let known = feature_gates(version);
    listed
        .iter()
        .filter(|g| !known.iter().any(|k| &k.name == *g))
        .map(String::as_str)
        .collect()
}

/// Whether gate `name` is on at `version` with the CR's `enabled` and `disabled` lists, by
/// KubeVirt's rule at that release. An unknown name is never on.
pub fn gate_enabled(version: &str, name: &str, enabled: &[String], disabled: &[String]) -> bool {
    let Some(gate) = feature_gates(version).into_iter().find(|g| g.name == name) else {
        return false;
    };
    let listed = enabled.iter().any(|g| g == name);
    match gate.state {
        GateState::GA => true,
        GateState::Discontinued => false,
        GateState::Beta if beta_on_by_default(version) => {
            listed || !disabled.iter().any(|g| g == name)
        }
        _ => listed,
    }
}

/// Whether SCSI persistent reservation (the pr-helper, LUN disks with `reservation: true`) is on
/// at `version`. Where the `PersistentReservation` gate is GA (v1.9) KubeVirt no longer asks the
/// gate: it reads `spec.configuration.persistentReservationConfiguration.enabled` (`configured`)
/// and, when that is unset, whether `featureGates` lists the gate
/// (`virt-config.go` `PersistentReservationEnabled`); before, the gate's rule ([`gate_enabled`]).
pub fn persistent_reservation_enabled(
    version: &str,
    configured: Option<bool>,
    enabled: &[String],
    disabled: &[String],
) -> bool {
    let gate = "PersistentReservation";
    let ga = feature_gates(version)
        .iter()
        .any(|g| g.name == gate && g.state == GateState::GA);
    if ga {
        configured.unwrap_or_else(|| enabled.iter().any(|g| g == gate))
    } else {
        gate_enabled(version, gate, enabled, disabled)
    }
}

/// Beta gates are on by default from v1.9 (`featuregate.IsEnabled`).
fn beta_on_by_default(version: &str) -> bool {
    semver(version).is_some_and(|(major, minor, _)| major > 1 || minor >= 9)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn every_catalog_version_has_its_gates() {
        for v in crate::KUBEVIRT_VERSIONS {
            let g = feature_gates(v);
            assert!(g.len() > 40, "{v}: {}", g.len());
            assert!(g.iter().any(|x| x.name == "HostDevices"), "{v}");
        }
        assert!(feature_gates("v0.1.0").is_empty());
    }

    #[test]
    fn opt_out_gate_follows_the_release() {
        let gate = "OptOutRoleAggregation";
        assert!(
            !gate_enabled("v1.7.0", gate, &s(&[gate]), &[]),
            "unknown in v1.7"
        );
        assert!(!gate_enabled("v1.8.0", gate, &[], &[]), "Alpha: off");
        assert!(gate_enabled("v1.8.0", gate, &s(&[gate]), &[]));
        assert!(
            gate_enabled("v1.9.0", gate, &[], &[]),
            "Beta: on by default"
        );
        assert!(!gate_enabled("v1.9.0", gate, &[], &s(&[gate])));
        assert!(
            gate_enabled("v1.9.0", gate, &s(&[gate]), &s(&[gate])),
            "enabled wins"
        );
    }

    #[test]
    fn beta_in_v1_8_is_off_unless_listed_and_ga_is_always_on() {
        // ExternalNetResourceInjection is Beta in v1.8.0 and v1.9.0.
        let g = "ExternalNetResourceInjection";
        assert!(!gate_enabled("v1.8.0", g, &[], &[]));
        assert!(gate_enabled("v1.9.0", g, &[], &[]));
        let ga = feature_gates("v1.9.0")
            .into_iter()
            .find(|x| x.state == GateState::GA)
            .map(|x| x.name)
            .unwrap_or_default();
        assert!(gate_enabled("v1.9.0", &ga, &[], &s(&[&ga])));
    }

    #[test]
    fn persistent_reservation_follows_the_configuration_once_ga() {
        let g = "PersistentReservation";
        assert!(!persistent_reservation_enabled("v1.8.0", None, &[], &[]));
        assert!(persistent_reservation_enabled(
            "v1.8.0",
            None,
            &s(&[g]),
            &[]
        ));
        assert!(
            !persistent_reservation_enabled("v1.8.0", Some(true), &[], &[]),
            "no such field before v1.9"
        );
        assert!(
            gate_enabled("v1.9.0", g, &[], &[]),
            "GA: the gate rule says on"
        );
        assert!(
            !persistent_reservation_enabled("v1.9.0", None, &[], &[]),
            "but the feature is off"
        );
        assert!(persistent_reservation_enabled(
            "v1.9.0",
            None,
            &s(&[g]),
            &[]
        ));
        assert!(persistent_reservation_enabled(
            "v1.9.0",
            Some(true),
            &[],
            &[]
        ));
        assert!(
            !persistent_reservation_enabled("v1.9.0", Some(false), &s(&[g]), &[]),
            "the configuration wins"
        );
    }

    #[test]
    fn unknown_names_are_reported() {
        let listed = s(&["HostDevices", "NoSuchGate", "hostdevices"]);
        assert_eq!(
            unknown_gates("v1.9.0", &listed),
            vec!["NoSuchGate", "hostdevices"]
        );
    }
}
