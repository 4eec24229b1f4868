//! Role catalogs as embedded data: Kubernetes' bootstrap policy, KubeVirt's roles per release and
//! CDI's roles, and the `--defaults` specification that picks among them.
//!
//! The files are YAML kept in `data/` (each with a header naming repository, commit and path);
//! this module only selects and renders them. Parsing is the snapshot loader's job.

use std::fmt;

/// One embedded manifest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogFile {
    /// Name used in messages and sources, e.g. `catalog:kubevirt@v1.9.0/user-roles.yaml`.
    pub name: String,
    /// The YAML text (possibly rendered: namespace, aggregation labels).
    pub text: String,
}

/// A component of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// Kubernetes' bootstrap RBAC policy.
    Kubernetes,
    /// KubeVirt's user and component roles.
    KubeVirt,
    /// CDI's user and component roles.
    Cdi,
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Component::Kubernetes => "kubernetes",
            Component::KubeVirt => "kubevirt",
            Component::Cdi => "cdi",
        })
    }
}

/// A `--defaults` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefaultsError {
    /// An unknown component name.
    #[error(
        "--defaults: unknown component \"{0}\" (known: kubernetes, kubevirt@VERSION, cdi@VERSION)"
    )]
    UnknownComponent(String),
    /// A version the catalog does not hold.
    #[error(
        "--defaults: {component} has no version \"{version}\" in the catalog (known: {known})"
    )]
    UnknownVersion {
        /// The component.
        component: Component,
        /// The version asked for.
        version: String,
        /// The versions the catalog has.
        known: String,
    },
    /// A component that needs a version was given without one.
    #[error("--defaults: {0} needs a version, e.g. {0}@{1}")]
    MissingVersion(Component, &'static str),
}

/// KubeVirt releases in the catalog, oldest first.
pub const KUBEVIRT_VERSIONS: &[&str] =
    &["v1.4.0", "v1.5.0", "v1.6.0", "v1.7.0", "v1.8.0", "v1.9.0"];
/// CDI releases in the catalog.
pub const CDI_VERSIONS: &[&str] = &["v1.66.0"];

macro_rules! kv {
    ($v:literal) => {
        [
            (
                "user-roles.yaml",
                include_str!(concat!("../data/kubevirt/", $v, "/user-roles.yaml")),
            ),
            (
                "components.yaml",
                include_str!(concat!("../data/kubevirt/", $v, "/components.yaml")),
            ),
            (
                "operator.yaml",
                include_str!(concat!("../data/kubevirt/", $v, "/operator.yaml")),
            ),
        ]
    };
}

fn kubevirt_files(version: &str) -> [(&'static str, &'static str); 3] {
    match version {
        "v1.4.0" => kv!("v1.4.0"),
        "v1.5.0" => kv!("v1.5.0"),
        "v1.6.0" => kv!("v1.6.0"),
        "v1.7.0" => kv!("v1.7.0"),
        "v1.8.0" => kv!("v1.8.0"),
        _ => kv!("v1.9.0"),
    }
}

/// virt-template's RBAC (installed by virt-operator with the `Template` gate, v1.8.0 on).
fn virt_template_file(version: &str) -> Option<&'static str> {
    match version {
        "v1.8.0" => Some(include_str!("../data/kubevirt/v1.8.0/virt-template.yaml")),
        "v1.9.0" => Some(include_str!("../data/kubevirt/v1.9.0/virt-template.yaml")),
        _ => None,
    }
}

const KUBERNETES_FILES: [(&str, &str); 4] = [
    (
        "cluster-roles.yaml",
        include_str!("../data/kubernetes/cluster-roles.yaml"),
    ),
    (
        "cluster-role-bindings.yaml",
        include_str!("../data/kubernetes/cluster-role-bindings.yaml"),
    ),
    (
        "namespace-roles.yaml",
        include_str!("../data/kubernetes/namespace-roles.yaml"),
    ),
    (
        "namespace-role-bindings.yaml",
        include_str!("../data/kubernetes/namespace-role-bindings.yaml"),
    ),
];

const CDI_FILES: [(&str, &str); 2] = [
    (
        "user-roles.yaml",
        include_str!("../data/cdi/v1.66.0/user-roles.yaml"),
    ),
    (
        "components.yaml",
        include_str!("../data/cdi/v1.66.0/components.yaml"),
    ),
];

/// Parses `vX.Y.Z` (a leading `v` optional) into numbers.
pub(crate) fn semver(v: &str) -> Option<(u64, u64, u64)> {
    let v = v.strip_prefix('v').unwrap_or(v);
    let v = v.split(['-', '+']).next()?;
    let mut it = v.split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    let patch = it.next().map(|p| p.parse().ok()).unwrap_or(Some(0))?;
    Some((major, minor, patch))
}

/// The catalog version for a requested one: exact, or the newest with the same major.minor
/// (`v1.5` or `v1.5.3` → `v1.5.0`).
pub fn resolve_version(
    component: Component,
    requested: &str,
) -> Result<&'static str, DefaultsError> {
    let known: &[&'static str] = match component {
        Component::KubeVirt => KUBEVIRT_VERSIONS,
        Component::Cdi => CDI_VERSIONS,
        Component::Kubernetes => &[],
    };
    let err = || DefaultsError::UnknownVersion {
        component,
        version: requested.to_string(),
        known: known.join(", "),
    };
    let want = semver(requested).ok_or_else(err)?;
    known
        .iter()
        .rev()
        .find(|k| semver(k).is_some_and(|(a, b, _)| (a, b) == (want.0, want.1)))
        .copied()
        .ok_or_else(err)
}

/// The newest KubeVirt version the catalog holds.
pub fn newest_kubevirt() -> &'static str {
    KUBEVIRT_VERSIONS[KUBEVIRT_VERSIONS.len() - 1]
}

/// One selected component, with the version chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The component.
    pub component: Component,
    /// Its catalog version (empty for Kubernetes, whose policy is not versioned here).
    pub version: &'static str,
}

/// What `--defaults` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Defaults {
    /// Pick from the snapshot (KubeVirt version detected).
    Auto,
    /// Nothing.
    None,
    /// An explicit list.
    List(Vec<Selection>),
}

impl Defaults {
    /// Parses `auto`, `none` or `kubernetes,kubevirt@v1.5.0,cdi@v1.66.0`.
    pub fn parse(s: &str) -> Result<Self, DefaultsError> {
        match s {
            "auto" => return Ok(Defaults::Auto),
            "none" | "" => return Ok(Defaults::None),
            _ => {}
        }
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, version) = match part.split_once('@') {
                Some((n, v)) => (n, Some(v)),
                None => (part, None),
            };
            let sel = match (name, version) {
                ("kubernetes", _) => Selection {
                    component: Component::Kubernetes,
                    version: "",
                },
                ("kubevirt", Some(v)) => Selection {
                    component: Component::KubeVirt,
                    version: resolve_version(Component::KubeVirt, v)?,
                },
                ("kubevirt", None) => {
                    return Err(DefaultsError::MissingVersion(Component::KubeVirt, "v1.9.0"))
                }
                ("cdi", Some(v)) => Selection {
                    component: Component::Cdi,
                    version: resolve_version(Component::Cdi, v)?,
                },
                ("cdi", None) => {
                    return Err(DefaultsError::MissingVersion(Component::Cdi, "v1.66.0"))
                }
                (other, _) => return Err(DefaultsError::UnknownComponent(other.to_string())),
            };
            out.push(sel);
        }
        Ok(Defaults::List(out))
    }
}

/// How virt-operator renders its user roles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendering {
    /// The namespace KubeVirt (and CDI) are installed in; `kubevirt` / `cdi` when empty.
    pub namespace: String,
    /// `roleAggregationStrategy: Manual` in effect: the `aggregate-to-*` labels of the roles
    /// virt-operator manages are `"false"` (it patches them rather than deleting them).
    pub manual_aggregation: bool,
    /// `spec.configuration.virtTemplateDeployment.enabled: false`: virt-operator does not install
    /// virt-template even with the `Template` gate on (v1.8.0 on).
    pub virt_template_disabled: bool,
    /// The KubeVirt CR's `developerConfiguration.featureGates`.
    pub feature_gates: Vec<String>,
    /// The KubeVirt CR's `developerConfiguration.disabledFeatureGates`.
    pub disabled_feature_gates: Vec<String>,
}

/// The rule virt-controller's ClusterRole carries while `ExternalNetResourceInjection` is off
/// (`newControllerClusterRole(includeNADRules)`, v1.8.0 on; unconditional before).
const NAD_RULE: &str =
    "- apiGroups: [k8s.cni.cncf.io]\n  resources: [network-attachment-definitions]\n  verbs: [get]\n";
/// Where v1.9.0's data marks the conditional rule's place (end of `kubevirt-controller`'s rules).
const NAD_PLACE: &str = "---\n# newControllerClusterRoleBinding() (controller.go)\n";

/// Adds or removes the gate-dependent rule of virt-controller's ClusterRole in `components.yaml`.
fn render_nad_rule(version: &str, text: String, r: &Rendering) -> String {
    if semver(version).is_none_or(|(_, minor, _)| minor < 8) {
        return text;
    }
    let include = !crate::gates::gate_enabled(
        version,
        "ExternalNetResourceInjection",
        &r.feature_gates,
        &r.disabled_feature_gates,
    );
    let present = text.contains(NAD_RULE);
    match (include, present) {
        (true, false) => text.replacen(NAD_PLACE, &format!("{NAD_RULE}{NAD_PLACE}"), 1),
        (false, true) => text.replacen(NAD_RULE, "", 1),
        _ => text,
    }
}

/// The manifest files of a selection, rendered.
pub fn files(sel: &Selection, rendering: &Rendering) -> Vec<CatalogFile> {
    let name = |file: &str| match sel.component {
        Component::Kubernetes => format!("catalog:kubernetes/{file}"),
        c => format!("catalog:{c}@{}/{file}", sel.version),
    };
    match sel.component {
        Component::Kubernetes => KUBERNETES_FILES
            .iter()
            .map(|(f, t)| CatalogFile {
                name: name(f),
                text: t.to_string(),
            })
            .collect(),
        Component::Cdi => CDI_FILES
            .iter()
            .map(|(f, t)| CatalogFile {
                name: name(f),
                text: t.to_string(),
            })
            .collect(),
        Component::KubeVirt => kubevirt_files(sel.version)
            .into_iter()
            .chain(
                virt_template_file(sel.version)
                    .filter(|_| {
                        !rendering.virt_template_disabled
                            && crate::gates::gate_enabled(
                                sel.version,
                                "Template",
                                &rendering.feature_gates,
                                &rendering.disabled_feature_gates,
                            )
                    })
                    .map(|t| ("virt-template.yaml", t)),
            )
            .map(|(f, t)| {
                let mut text = t.to_string();
                if !rendering.namespace.is_empty() && rendering.namespace != "kubevirt" {
                    text = text.replace(
                        "namespace: kubevirt\n",
                        &format!("namespace: {}\n", rendering.namespace),
                    );
                }
                if f == "components.yaml" {
                    text = render_nad_rule(sel.version, text, rendering);
                }
                if rendering.manual_aggregation
                    && (f == "user-roles.yaml" || f == "virt-template.yaml")
                {
                    text = manual_labels(&text);
                }
                CatalogFile {
                    name: name(f),
                    text,
                }
            })
            .collect(),
    }
}

/// Sets `rbac.authorization.k8s.io/aggregate-to-*: "true"` to `"false"` on every role of the
/// file except those installed by the operator manifest (not managed by virt-operator).
fn manual_labels(text: &str) -> String {
    text.split_inclusive("\n---")
        .map(|doc| {
            if doc.contains("virtguard.io/installed-by: operator-manifest") {
                doc.to_string()
            } else {
                let mut out = String::with_capacity(doc.len());
                for line in doc.split_inclusive('\n') {
                    let t = line.trim_start();
                    if t.starts_with("rbac.authorization.k8s.io/aggregate-to-")
                        && t.contains("\"true\"")
                    {
                        out.push_str(&line.replacen("\"true\"", "\"false\"", 1));
                    } else {
                        out.push_str(line);
                    }
                }
                out
            }
        })
        .collect()
}

/// Whether `OptOutRoleAggregation` is on for a KubeVirt version and gate lists: Alpha in v1.8
/// (on only when enabled), Beta from v1.9 (on unless disabled); the field does not exist before.
pub fn opt_out_gate_enabled(
    version: &str,
    enabled: &[String],
    disabled: &[String],
) -> Option<bool> {
    let (_, minor, _) = semver(version)?;
    (minor >= 8)
        .then(|| crate::gates::gate_enabled(version, "OptOutRoleAggregation", enabled, disabled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_resolve_to_the_newest_patch_of_the_line() {
        assert_eq!(resolve_version(Component::KubeVirt, "v1.5"), Ok("v1.5.0"));
        assert_eq!(resolve_version(Component::KubeVirt, "v1.5.3"), Ok("v1.5.0"));
        assert_eq!(resolve_version(Component::KubeVirt, "1.9.0"), Ok("v1.9.0"));
        let e = resolve_version(Component::KubeVirt, "v1.3.0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "--defaults: kubevirt has no version \"v1.3.0\" in the catalog (known: v1.4.0, v1.5.0, v1.6.0, v1.7.0, v1.8.0, v1.9.0)"
        );
    }

    #[test]
    fn defaults_parse() {
        assert_eq!(Defaults::parse("auto"), Ok(Defaults::Auto));
        assert_eq!(Defaults::parse("none"), Ok(Defaults::None));
        let d = Defaults::parse("kubernetes,kubevirt@v1.5,cdi@v1.66.0").unwrap();
        assert_eq!(
            d,
            Defaults::List(vec![
                Selection {
                    component: Component::Kubernetes,
                    version: ""
                },
                Selection {
                    component: Component::KubeVirt,
                    version: "v1.5.0"
                },
                Selection {
                    component: Component::Cdi,
                    version: "v1.66.0"
                },
            ])
        );
        assert!(matches!(
            Defaults::parse("kubevirt"),
            Err(DefaultsError::MissingVersion(..))
        ));
        assert!(matches!(
            Defaults::parse("openshift"),
            Err(DefaultsError::UnknownComponent(_))
        ));
    }

    #[test]
    fn manual_sets_false_but_not_on_operator_manifest_roles() {
        let f = files(
            &Selection {
                component: Component::KubeVirt,
                version: "v1.9.0",
            },
            &Rendering {
                feature_gates: Vec::new(),
                disabled_feature_gates: Vec::new(),
                virt_template_disabled: false,
                namespace: String::new(),
                manual_aggregation: true,
            },
        );
        let user = &f[0].text;
        assert!(user.contains("rbac.authorization.k8s.io/aggregate-to-admin: \"false\""));
        // kubevirt.io:operator keeps its label (installed by the operator manifest).
        let op = user
            .split("\n---")
            .find(|d| d.contains("name: kubevirt.io:operator"))
            .unwrap();
        assert!(op.contains("aggregate-to-admin: \"true\""), "{op}");
    }

    #[test]
    fn gate_rules_per_version() {
        assert_eq!(opt_out_gate_enabled("v1.7.0", &[], &[]), None);
        assert_eq!(opt_out_gate_enabled("v1.8.0", &[], &[]), Some(false));
        assert_eq!(
            opt_out_gate_enabled("v1.8.0", &["OptOutRoleAggregation".into()], &[]),
            Some(true)
        );
        assert_eq!(opt_out_gate_enabled("v1.9.0", &[], &[]), Some(true));
        assert_eq!(
            opt_out_gate_enabled("v1.9.0", &[], &["OptOutRoleAggregation".into()]),
            Some(false)
        );
    }

    fn controller_has_nad_rule(version: &'static str, enabled: &[&str], disabled: &[&str]) -> bool {
        let r = Rendering {
            feature_gates: enabled.iter().map(|x| x.to_string()).collect(),
            disabled_feature_gates: disabled.iter().map(|x| x.to_string()).collect(),
            ..Rendering::default()
        };
        let sel = Selection {
            component: Component::KubeVirt,
            version,
        };
        let comp = files(&sel, &r)
            .into_iter()
            .find(|f| f.name.ends_with("components.yaml"))
            .map(|f| f.text)
            .unwrap_or_default();
        let n = comp.matches(NAD_RULE).count();
        assert!(n <= 1, "{version}: {n} copies");
        // The rule belongs to virt-controller's ClusterRole, just before its binding.
        if n == 1 && version >= "v1.8.0" {
            assert!(
                comp.contains(&format!("{NAD_RULE}{NAD_PLACE}")),
                "{version}"
            );
        }
        n == 1
    }

    #[test]
    fn nad_rule_follows_external_net_resource_injection() {
        let g = "ExternalNetResourceInjection";
        assert!(
            controller_has_nad_rule("v1.7.0", &[g], &[]),
            "unconditional before v1.8"
        );
        assert!(
            controller_has_nad_rule("v1.8.0", &[], &[]),
            "Beta is off by default in v1.8"
        );
        assert!(!controller_has_nad_rule("v1.8.0", &[g], &[]));
        assert!(
            !controller_has_nad_rule("v1.9.0", &[], &[]),
            "Beta is on by default in v1.9"
        );
        assert!(controller_has_nad_rule("v1.9.0", &[], &[g]));
    }
}
