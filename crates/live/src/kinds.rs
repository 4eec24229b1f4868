//! The kinds virtguard reads from a live cluster, and which command needs which.
//!
//! Each entry names the API group and plural resource (what discovery and the LIST path use), the
//! kind (what List items lack and must be given back), whether a cluster may lack it without a
//! word (KubeVirt's, OpenShift's and Multus' kinds are optional; RBAC's are not), and any narrowing
//! of the LIST (label or field selector, install namespace only) so large kinds are not read whole
//! when the checks need a few objects.

/// How much of a cluster a command reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// RBAC and what `--defaults auto` looks at (the KubeVirt CR, virt-operator's Deployment) and
    /// the CRDs that extend the discovery table: `can-i`, `who-can`, `access-review`, `matrix`.
    Rbac,
    /// Everything the posture audit reads: VMs and their relatives, networks, namespaces, SCCs,
    /// secrets' metadata and the install namespace's config maps.
    Audit,
    /// What the admission webhook's verdicts read: namespaces (labels), the KubeVirt CR and
    /// migrations (in flight) — what `deploy/rbac.yaml` grants.
    Admission,
}

/// The kinds [`Scope::Admission`] reads.
const ADMISSION_KINDS: &[&str] = &["Namespace", "KubeVirt", "VirtualMachineInstanceMigration"];

/// Which namespaces a kind is listed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Where {
    /// Every namespace (or cluster-scoped).
    All,
    /// Only KubeVirt's install namespace (the KubeVirt CR's, else `kubevirt`).
    InstallNamespace,
}

/// One kind to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// API group (`""` for the core group).
    pub group: &'static str,
    /// Plural resource name.
    pub resource: &'static str,
    /// The kind, set on each List item (the API server leaves it out of items).
    pub kind: &'static str,
    /// A cluster may lack it (no warning when discovery does not list it).
    pub optional: bool,
    /// The smallest scope whose commands read it.
    pub scope: Scope,
    /// Label selector narrowing the LIST.
    pub label_selector: Option<&'static str>,
    /// Field selector narrowing the LIST.
    pub field_selector: Option<&'static str>,
    /// Namespaces listed.
    pub within: Where,
}

const fn kind(group: &'static str, resource: &'static str, kind: &'static str) -> Kind {
    Kind {
        group,
        resource,
        kind,
        optional: true,
        scope: Scope::Audit,
        label_selector: None,
        field_selector: None,
        within: Where::All,
    }
}

const fn rbac(k: Kind) -> Kind {
    Kind {
        scope: Scope::Rbac,
        ..k
    }
}

const fn required(k: Kind) -> Kind {
    Kind {
        optional: false,
        ..k
    }
}

/// Every kind virtguard reads, in the order their objects are given to the snapshot.
pub const KINDS: &[Kind] = &[
    required(rbac(kind(
        "rbac.authorization.k8s.io",
        "clusterroles",
        "ClusterRole",
    ))),
    required(rbac(kind(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "ClusterRoleBinding",
    ))),
    required(rbac(kind("rbac.authorization.k8s.io", "roles", "Role"))),
    required(rbac(kind(
        "rbac.authorization.k8s.io",
        "rolebindings",
        "RoleBinding",
    ))),
    rbac(kind("kubevirt.io", "kubevirts", "KubeVirt")),
    // The version fallback of `--defaults auto`: virt-operator's image tag.
    Kind {
        field_selector: Some("metadata.name=virt-operator"),
        ..rbac(kind("apps", "deployments", "Deployment"))
    },
    rbac(kind(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "CustomResourceDefinition",
    )),
    // cedar-access-control-for-k8s' policies: the deny chain every query evaluates.
    rbac(kind("cedar.k8s.aws", "policies", "Policy")),
    required(kind("", "namespaces", "Namespace")),
    required(kind("", "serviceaccounts", "ServiceAccount")),
    kind("kubevirt.io", "virtualmachines", "VirtualMachine"),
    kind(
        "kubevirt.io",
        "virtualmachineinstancemigrations",
        "VirtualMachineInstanceMigration",
    ),
    kind(
        "kubevirt.io",
        "virtualmachineinstances",
        "VirtualMachineInstance",
    ),
    kind(
        "kubevirt.io",
        "virtualmachineinstancereplicasets",
        "VirtualMachineInstanceReplicaSet",
    ),
    kind(
        "pool.kubevirt.io",
        "virtualmachinepools",
        "VirtualMachinePool",
    ),
    kind("template.openshift.io", "templates", "Template"),
    kind(
        "k8s.cni.cncf.io",
        "network-attachment-definitions",
        "NetworkAttachmentDefinition",
    ),
    kind(
        "k8s.cni.cncf.io",
        "multi-networkpolicies",
        "MultiNetworkPolicy",
    ),
    kind("sriovnetwork.openshift.io", "sriovnetworks", "SriovNetwork"),
    kind(
        "security.openshift.io",
        "securitycontextconstraints",
        "SecurityContextConstraints",
    ),
    // virt-launcher pods show which namespaces run VMs; KubeVirt labels them `kubevirt.io:
    // virt-launcher`.
    Kind {
        label_selector: Some("kubevirt.io=virt-launcher"),
        ..required(kind("", "pods", "Pod"))
    },
    // KubeVirt's certificate secrets and CA bundles live in its install namespace.
    Kind {
        within: Where::InstallNamespace,
        ..required(kind("", "secrets", "Secret"))
    },
    Kind {
        within: Where::InstallNamespace,
        ..required(kind("", "configmaps", "ConfigMap"))
    },
];

impl Kind {
    /// `resource.group` (`resource` for the core group), as kubectl names a type.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    /// Whether a command reading `scope` needs this kind.
    pub fn needed_for(&self, scope: Scope) -> bool {
        match scope {
            Scope::Rbac => self.scope == Scope::Rbac,
            Scope::Audit => true,
            Scope::Admission => ADMISSION_KINDS.contains(&self.kind),
        }
    }
}

/// The kinds a command reading `scope` lists.
pub fn kinds_for(scope: Scope) -> Vec<Kind> {
    KINDS
        .iter()
        .filter(|k| k.needed_for(scope))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rbac_scope_reads_rbac_and_version_sources_only() {
        let names: Vec<_> = kinds_for(Scope::Rbac).iter().map(|k| k.kind).collect();
        assert_eq!(
            names,
            [
                "ClusterRole",
                "ClusterRoleBinding",
                "Role",
                "RoleBinding",
                "KubeVirt",
                "Deployment",
                "CustomResourceDefinition",
                "Policy"
            ]
        );
        assert!(kinds_for(Scope::Audit).len() > names.len());
        let admission: Vec<_> = kinds_for(Scope::Admission).iter().map(|k| k.kind).collect();
        assert_eq!(
            admission,
            ["KubeVirt", "Namespace", "VirtualMachineInstanceMigration"]
        );
    }

    #[test]
    fn qualified_names_follow_kubectl() {
        assert_eq!(
            KINDS[0].qualified(),
            "clusterroles.rbac.authorization.k8s.io"
        );
        let ns = KINDS
            .iter()
            .find(|k| k.kind == "Namespace")
            .map(Kind::qualified);
        assert_eq!(ns.as_deref(), Some("namespaces"));
    }
}
