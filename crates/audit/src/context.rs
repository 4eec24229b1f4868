//! What the checks look at: the snapshot's own objects, the RBAC policy (snapshot + defaults),
//! the defaults themselves (to tell vendor bindings from the cluster's own), the KubeVirt
//! install and node facts.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde_json::Value;
use virtguard_rbac::{Binding, BindingKind, Policy, Role, SubjectKind};
use virtguard_snapshot::{Object, Typed};

use crate::finding::{Finding, ObjectRef};
use crate::nodes::NodeFacts;
use crate::rbac::Creators;
use crate::value::strings_at;
use crate::{finding, Selection};

/// An object left out of the snapshot with `--skip-invalid`.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// File and line.
    pub location: ObjectRef,
    /// The loader's message.
    pub message: String,
}

/// An authorizer kube-apiserver asks before RBAC (the Cedar policies of `--policies`): it may
/// deny what RBAC grants, or allow more. RBAC findings consult it.
pub trait PreAuthorizer: Sync {
    /// Whether every member of `subject` (a ServiceAccount's namespace filled in) is denied
    /// `verb` on `group` `resource[/subresource]` in `namespace` (empty: cluster-wide).
    fn denies(
        &self,
        subject: &virtguard_rbac::Subject,
        namespace: &str,
        verb: &str,
        group: &str,
        resource: &str,
    ) -> bool;

    /// The subjects it allows `verb` on `group` `resource[/subresource]` in `namespace`, each
    /// with the allowing policy described (`policy <id> (<source>)`).
    fn permits(
        &self,
        namespace: &str,
        verb: &str,
        group: &str,
        resource: &str,
    ) -> Vec<(virtguard_rbac::Subject, String)>;
}

/// The input of every check.
pub struct Context<'a> {
    /// The snapshot's own objects (not the defaults).
    pub objects: &'a [Object],
    /// The RBAC policy the cluster evaluates: snapshot plus defaults, aggregated.
    pub policy: &'a Policy,
    /// The default objects (`--defaults`): bindings identical to these are not findings, and
    /// component roles are compared with these.
    pub defaults: &'a [Object],
    /// The KubeVirt release the defaults were rendered for (`v1.9.0`), if any.
    pub version: Option<&'a str>,
    /// Node facts (`virtguard node-check -o json`).
    pub nodes: &'a [NodeFacts],
    /// Objects skipped as invalid.
    pub skipped: &'a [Skipped],
    /// The instant certificates are judged at (`None`: certificate checks are skipped).
    pub now: Option<time::OffsetDateTime>,
    /// The authorizer before RBAC, if any (Cedar policies).
    pub pre: Option<&'a dyn PreAuthorizer>,
    /// Per policy binding: one of the defaults, unchanged.
    vendor: Vec<bool>,
    /// Per policy binding, per subject: the subject is a cluster admin.
    admin_subject: Vec<Vec<bool>>,
    by_kind: HashMap<&'a str, Vec<&'a Object>>,
    /// Who may create VMs, computed once on first use (workload findings name them).
    vm_creators: OnceLock<Creators>,
}

impl<'a> Context<'a> {
    /// Prepares the context: indexes objects by kind, finds vendor bindings and cluster admins.
    pub fn new(
        objects: &'a [Object],
        policy: &'a Policy,
        defaults: &'a [Object],
        version: Option<&'a str>,
        nodes: &'a [NodeFacts],
        skipped: &'a [Skipped],
    ) -> Self {
        let default_bindings: Vec<Binding> =
            defaults.iter().filter_map(Object::as_binding).collect();
        let by_key: HashMap<(BindingKind, &str, &str), &Binding> = default_bindings
            .iter()
            .map(|b| ((b.kind, b.namespace.as_str(), b.name.as_str()), b))
            .collect();
        let vendor: Vec<bool> = policy
            .bindings()
            .iter()
            .map(|b| {
                b.origin
                    .as_deref()
                    .is_some_and(|o| o.starts_with("catalog:"))
                    || by_key
                        .get(&(b.kind, b.namespace.as_str(), b.name.as_str()))
                        .is_some_and(|d| d.role_ref == b.role_ref && d.subjects == b.subjects)
            })
            .collect();
        // Cluster admins: subjects of ClusterRoleBindings to a role granting everything,
        // as (kind, namespace, name) borrowed from the policy.
        let subject_key = |b: &'a Binding, s: &'a virtguard_rbac::Subject| {
            let ns = if s.kind == SubjectKind::ServiceAccount && s.namespace.is_empty() {
                b.namespace.as_str()
            } else {
                s.namespace.as_str()
            };
            (s.kind, ns, s.name.as_str())
        };
        let mut admins: HashSet<(SubjectKind, &str, &str)> = HashSet::new();
        for (bi, b) in policy.bindings().iter().enumerate() {
            if b.kind == BindingKind::ClusterRoleBinding
                && policy.binding_role(bi).is_ok_and(is_superuser_role)
            {
                admins.extend(b.subjects.iter().map(|s| subject_key(b, s)));
            }
        }
        let admin_subject = policy
            .bindings()
            .iter()
            .map(|b| {
                b.subjects
                    .iter()
                    .map(|s| admins.contains(&subject_key(b, s)))
                    .collect()
            })
            .collect();
        let mut by_kind: HashMap<&str, Vec<&Object>> = HashMap::new();
        for o in objects {
            by_kind.entry(o.kind.as_str()).or_default().push(o);
        }
        Context {
            objects,
            policy,
            defaults,
            version,
            nodes,
            skipped,
            now: None,
            pre: None,
            vendor,
            admin_subject,
            by_kind,
            vm_creators: OnceLock::new(),
        }
    }

    /// The snapshot's objects of a kind.
    pub fn of_kind(&self, kind: &str) -> &[&'a Object] {
        self.by_kind.get(kind).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether the policy's binding `bi` is one of the defaults, unchanged (vendor: not a
    /// finding).
    pub fn is_vendor_index(&self, bi: usize) -> bool {
        self.vendor.get(bi).copied().unwrap_or(false)
    }

    /// Whether subject `si` of the policy's binding `bi` is a cluster admin.
    pub fn is_admin_subject(&self, bi: usize, si: usize) -> bool {
        self.admin_subject
            .get(bi)
            .and_then(|v| v.get(si))
            .copied()
            .unwrap_or(false)
    }

    /// Who (beyond defaults and cluster admins) may create VMs: cluster-wide and per namespace.
    pub(crate) fn vm_creators(&self) -> &Creators {
        self.vm_creators
            .get_or_init(|| crate::rbac::vm_creators(self))
    }

    /// The KubeVirt CR (the first; the loader's caller rejects two).
    pub fn kubevirt(&self) -> Option<&'a Object> {
        self.of_kind("KubeVirt")
            .iter()
            .find(|o| o.api_version.starts_with("kubevirt.io/"))
            .copied()
    }

    /// KubeVirt's install namespace: the KubeVirt CR's, else `kubevirt`.
    pub fn install_namespace(&self) -> &str {
        self.kubevirt()
            .map(|o| o.namespace.as_str())
            .filter(|n| !n.is_empty())
            .unwrap_or("kubevirt")
    }

    /// The KubeVirt CR's feature gates: (enabled, disabled).
    pub fn gates(&self) -> (Vec<String>, Vec<String>) {
        match self.kubevirt().and_then(Object::value) {
            Some(v) => (
                strings_at(v, "/spec/configuration/developerConfiguration/featureGates"),
                strings_at(
                    v,
                    "/spec/configuration/developerConfiguration/disabledFeatureGates",
                ),
            ),
            None => (Vec::new(), Vec::new()),
        }
    }

    /// Namespaces that run VMs (VirtualMachines, VMIs or virt-launcher pods).
    pub fn vm_namespaces(&self) -> Vec<String> {
        let mut out: Vec<String> = ["VirtualMachine", "VirtualMachineInstance"]
            .iter()
            .flat_map(|k| self.of_kind(k))
            .map(|o| o.namespace.clone())
            .chain(
                self.of_kind("Pod")
                    .iter()
                    .filter(|o| o.name.starts_with("virt-launcher-"))
                    .map(|o| o.namespace.clone()),
            )
            .filter(|n| !n.is_empty())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// A namespace's labels (typed Namespace objects of the snapshot).
    pub fn namespace_labels(
        &self,
        name: &str,
    ) -> Option<std::collections::BTreeMap<String, String>> {
        self.of_kind("Namespace")
            .iter()
            .find_map(|o| match &o.typed {
                Typed::Namespace(ns) if o.name == name => {
                    Some(ns.metadata.labels.clone().unwrap_or_default())
                }
                _ => None,
            })
    }

    /// The dynamic content of an object (`Value::Null` for typed kinds).
    pub fn value(o: &Object) -> &Value {
        static NULL: Value = Value::Null;
        o.value().unwrap_or(&NULL)
    }
}

/// A role with a rule granting every verb on every resource of every group.
pub fn is_superuser_role(role: &Role) -> bool {
    role.rules.iter().any(|r| {
        r.verbs.iter().any(|v| v == "*")
            && r.api_groups.iter().any(|g| g == "*")
            && r.resources.iter().any(|x| x == "*")
            && r.resource_names.is_empty()
    })
}

/// VG001: every object the loader skipped.
pub(crate) fn skipped_findings(ctx: &Context<'_>, _: &Selection, out: &mut Vec<Finding>) {
    for s in ctx.skipped {
        let mut f = finding("VG001", format!("skipped: {}", s.message));
        f.objects.push(s.location.clone());
        f.evidence = s.message.clone();
        out.push(f);
    }
}
