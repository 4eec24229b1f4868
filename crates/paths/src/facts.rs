//! What the escalation edges need to know of a cluster besides its RBAC: the service accounts of
//! each namespace, legacy token secrets, namespaces' Pod Security levels, OpenShift's
//! SecurityContextConstraints (which govern pods when present), privileged pods, and the KubeVirt
//! CR's host-reaching gates. Read from snapshot objects; pure.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use virtguard_snapshot::{Object, Typed};

/// A pod that runs with node-level power (privileged, host PID/IPC/network, a hostPath volume).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerfulPod {
    /// Namespace.
    pub namespace: String,
    /// Name (for a controller's pods, the controller's name with `-*`).
    pub name: String,
    /// Why it reaches the node.
    pub why: String,
}

/// An OpenShift SecurityContextConstraints object (`security.openshift.io`), as SCC admission
/// reads it: what it lets a pod do on its node, and whom it names directly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scc {
    /// Name (the `resourceNames` of an RBAC `use` rule).
    pub name: String,
    /// The node-reaching powers it allows, e.g. `allowPrivilegedContainer`, `hostPath volumes`;
    /// empty when a pod it admits cannot reach its node.
    pub powers: Vec<&'static str>,
    /// Users named in its `users` field (a service account as `system:serviceaccount:NS:NAME`).
    pub users: Vec<String>,
    /// Groups named in its `groups` field.
    pub groups: Vec<String>,
}

impl Scc {
    /// The SCC of an object's JSON (its fields are top-level, not under `spec`).
    pub fn from_value(name: &str, v: &Value) -> Scc {
        let flag = |f: &str| v.get(f).and_then(Value::as_bool) == Some(true);
        let mut powers = Vec::new();
        for (field, power) in [
            ("allowPrivilegedContainer", "allowPrivilegedContainer"),
            ("allowHostPID", "allowHostPID"),
            ("allowHostIPC", "allowHostIPC"),
            ("allowHostNetwork", "allowHostNetwork"),
            ("allowHostDirVolumePlugin", "allowHostDirVolumePlugin"),
        ] {
            if flag(field) {
                powers.push(power);
            }
        }
        let strings = |f: &str| -> Vec<String> {
            v.get(f)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        };
        let volumes = strings("volumes");
        if volumes.iter().any(|x| x == "*") {
            powers.push("volumes: *");
        } else if volumes.iter().any(|x| x == "hostPath") {
            powers.push("volumes: hostPath");
        }
        Scc {
            name: name.to_owned(),
            powers,
            users: strings("users"),
            groups: strings("groups"),
        }
    }

    /// Whether a pod it admits may reach its node (privileged, host namespaces, hostPath).
    pub fn reaches_node(&self) -> bool {
        !self.powers.is_empty()
    }

    /// The entry of its `users` or `groups` field that names `user` (by name or one of
    /// `groups`), if any: SCC admission lets such a user use it without an RBAC `use` grant.
    pub fn names<'a>(&'a self, user: &str, groups: &[String]) -> Option<(&'static str, &'a str)> {
        if let Some(u) = self.users.iter().find(|u| *u == user) {
            return Some(("users", u.as_str()));
        }
        self.groups
            .iter()
            .find(|g| groups.contains(g))
            .map(|g| ("groups", g.as_str()))
    }
}

/// A pod, or a controller's pods: who they run as and whether they reach the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Namespace.
    pub namespace: String,
    /// `Pod`, or the controller's kind (`Deployment`, `DaemonSet`, …).
    pub kind: String,
    /// The pod's or the controller's name.
    pub name: String,
    /// The service account the pods run as (`default` when the spec names none).
    pub service_account: String,
    /// Whether its token is mounted (`automountServiceAccountToken`, the pod's over the
    /// service account's; mounted unless one says `false`).
    pub token: bool,
    /// Why its pods reach the node, if they do.
    pub power: Option<String>,
}

impl Workload {
    /// The pods' name for an RBAC request: the pod's own, or none for a controller's pods
    /// (their names are generated).
    pub fn pod_name(&self) -> &str {
        if self.kind == "Pod" {
            &self.name
        } else {
            ""
        }
    }

    /// `pod NS/NAME` or `Deployment NS/NAME's pods`.
    pub fn describe(&self) -> String {
        if self.kind == "Pod" {
            format!("pod {}/{}", self.namespace, self.name)
        } else {
            format!("{} {}/{}'s pods", self.kind, self.namespace, self.name)
        }
    }
}

/// The pod controllers' kinds with their (API group, resource).
pub const CONTROLLERS: &[(&str, &str, &str)] = &[
    ("Deployment", "apps", "deployments"),
    ("DaemonSet", "apps", "daemonsets"),
    ("StatefulSet", "apps", "statefulsets"),
    ("ReplicaSet", "apps", "replicasets"),
    ("Job", "batch", "jobs"),
    ("CronJob", "batch", "cronjobs"),
];

/// The cluster facts the edges read.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Every namespace named by an object of the snapshot.
    pub namespaces: BTreeSet<String>,
    /// Service accounts per namespace (`default` always, as the controller creates it).
    pub service_accounts: BTreeMap<String, BTreeSet<String>>,
    /// Legacy token secrets: (namespace, secret, service account).
    pub token_secrets: Vec<(String, String, String)>,
    /// `pod-security.kubernetes.io/enforce` per namespace (absent: the cluster default,
    /// `privileged` unless configured otherwise).
    pub pod_security: BTreeMap<String, String>,
    /// SecurityContextConstraints are present: pods are admitted by SCCs, not by namespace labels.
    pub openshift: bool,
    /// The SecurityContextConstraints, by name.
    pub sccs: Vec<Scc>,
    /// Pods (and pod templates of controllers) that reach the node.
    pub powerful_pods: Vec<PowerfulPod>,
    /// Every pod and pod controller, with the service account its pods run as.
    pub workloads: Vec<Workload>,
    /// The KubeVirt CR: (namespace, name).
    pub kubevirt: Option<(String, String)>,
    /// Gates of the KubeVirt CR's `featureGates` that reach the host or virt-launcher.
    pub gates: BTreeSet<String>,
}

fn s<'v>(v: &'v Value, p: &str) -> Option<&'v str> {
    v.pointer(p).and_then(Value::as_str)
}

/// Why a pod spec reaches the node, if it does.
fn pod_power(spec: &Value) -> Option<String> {
    let mut why = Vec::new();
    for f in ["hostPID", "hostIPC", "hostNetwork"] {
        if spec.get(f).and_then(Value::as_bool) == Some(true) {
            why.push(format!("{f}: true"));
        }
    }
    for list in ["containers", "initContainers"] {
        for c in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if c.pointer("/securityContext/privileged")
                .and_then(Value::as_bool)
                == Some(true)
            {
                why.push(format!(
                    "container {} is privileged",
                    c.get("name").and_then(Value::as_str).unwrap_or("?")
                ));
            }
        }
    }
    for v in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(p) = s(v, "/hostPath/path") {
            why.push(format!("hostPath {p}"));
        }
    }
    (!why.is_empty()).then(|| why.join(", "))
}

impl Facts {
    /// The facts of a snapshot's objects.
    pub fn from_objects(objects: &[Object]) -> Facts {
        let mut f = Facts::default();
        // (namespace, kind, name, pod spec) of every pod and controller, resolved below.
        let mut workloads: Vec<(String, &'static str, String, &Value)> = Vec::new();
        let mut no_automount: BTreeSet<(String, String)> = BTreeSet::new();
        for o in objects {
            if !o.namespace.is_empty() {
                f.namespaces.insert(o.namespace.clone());
            }
            match (o.kind.as_str(), &o.typed) {
                ("Namespace", Typed::Namespace(ns)) => {
                    f.namespaces.insert(o.name.clone());
                    if let Some(level) = ns
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get("pod-security.kubernetes.io/enforce"))
                    {
                        f.pod_security.insert(o.name.clone(), level.clone());
                    }
                }
                ("ServiceAccount", typed) => {
                    let automount = match typed {
                        Typed::ServiceAccount(sa) => sa.automount_service_account_token,
                        Typed::Dynamic(v) => v
                            .get("automountServiceAccountToken")
                            .and_then(Value::as_bool),
                        _ => None,
                    };
                    if automount == Some(false) {
                        no_automount.insert((o.namespace.clone(), o.name.clone()));
                    }
                    f.service_accounts
                        .entry(o.namespace.clone())
                        .or_default()
                        .insert(o.name.clone());
                }
                ("Secret", Typed::Dynamic(v))
                    if s(v, "/type") == Some("kubernetes.io/service-account-token") =>
                {
                    if let Some(sa) = s(
                        v,
                        "/metadata/annotations/kubernetes.io~1service-account.name",
                    ) {
                        f.token_secrets
                            .push((o.namespace.clone(), o.name.clone(), sa.to_string()));
                    }
                }
                ("SecurityContextConstraints", typed) => {
                    f.openshift = true;
                    if let Typed::Dynamic(v) = typed {
                        f.sccs.push(Scc::from_value(&o.name, v));
                    }
                }
                ("KubeVirt", Typed::Dynamic(v)) if o.api_version.starts_with("kubevirt.io/") => {
                    f.kubevirt = Some((o.namespace.clone(), o.name.clone()));
                    for g in v
                        .pointer("/spec/configuration/developerConfiguration/featureGates")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                    {
                        f.gates.insert(g.to_string());
                    }
                }
                ("Pod", Typed::Dynamic(v)) => {
                    if let Some(spec) = v.get("spec") {
                        workloads.push((o.namespace.clone(), "Pod", o.name.clone(), spec));
                    }
                }
                (
                    kind @ ("DaemonSet" | "Deployment" | "StatefulSet" | "ReplicaSet" | "Job"
                    | "CronJob"),
                    Typed::Dynamic(v),
                ) => {
                    let template = if kind == "CronJob" {
                        "/spec/jobTemplate/spec/template/spec"
                    } else {
                        "/spec/template/spec"
                    };
                    if let Some(spec) = v.pointer(template) {
                        let kind = CONTROLLERS
                            .iter()
                            .find(|(k, _, _)| *k == kind)
                            .map_or("Deployment", |(k, _, _)| *k);
                        workloads.push((o.namespace.clone(), kind, o.name.clone(), spec));
                    }
                }
                _ => {}
            }
        }
        for (namespace, kind, name, spec) in workloads {
            let service_account = spec
                .get("serviceAccountName")
                .or_else(|| spec.get("serviceAccount"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or("default")
                .to_string();
            let token = match spec
                .get("automountServiceAccountToken")
                .and_then(Value::as_bool)
            {
                Some(t) => t,
                None => !no_automount.contains(&(namespace.clone(), service_account.clone())),
            };
            let power = pod_power(spec);
            // Exec into these reaches the node (a CronJob's pods come and go: not among them).
            if let (Some(why), false) = (&power, kind == "CronJob") {
                f.powerful_pods.push(if kind == "Pod" {
                    PowerfulPod {
                        namespace: namespace.clone(),
                        name: name.clone(),
                        why: why.clone(),
                    }
                } else {
                    PowerfulPod {
                        namespace: namespace.clone(),
                        name: format!("{name}-*"),
                        why: format!("{kind} {name}: {why}"),
                    }
                });
            }
            f.workloads.push(Workload {
                power,
                namespace,
                kind: kind.to_string(),
                name,
                service_account,
                token,
            });
        }
        // virt-operator runs KubeVirt's components in the KubeVirt CR's namespace, each as its
        // own service account (virt-handler privileged, with hostPID); a snapshot without their
        // objects still has them (kubevirt/kubevirt pkg/virt-operator/resource/generate/
        // components: serviceaccountnames.go, daemonsets.go, deployments.go).
        if let Some((ns, _)) = &f.kubevirt {
            for (kind, name, sa, power) in [
                ("Deployment", "virt-operator", "kubevirt-operator", None),
                ("Deployment", "virt-api", "kubevirt-apiserver", None),
                ("Deployment", "virt-controller", "kubevirt-controller", None),
                (
                    "DaemonSet",
                    "virt-handler",
                    "kubevirt-handler",
                    Some("KubeVirt's virt-handler DaemonSet: privileged, hostPID"),
                ),
            ] {
                if !f
                    .workloads
                    .iter()
                    .any(|w| &w.namespace == ns && w.name == name)
                {
                    f.workloads.push(Workload {
                        namespace: ns.clone(),
                        kind: kind.into(),
                        name: name.into(),
                        service_account: sa.into(),
                        token: true,
                        power: power.map(String::from),
                    });
                }
                f.service_accounts
                    .entry(ns.clone())
                    .or_default()
                    .insert(sa.to_string());
            }
            // Exec into virt-handler's pods reaches the node whether the snapshot has them or not.
            if !f
                .powerful_pods
                .iter()
                .any(|p| &p.namespace == ns && p.name.starts_with("virt-handler"))
            {
                f.powerful_pods.push(PowerfulPod {
                    namespace: ns.clone(),
                    name: "virt-handler-*".into(),
                    why: "KubeVirt's virt-handler DaemonSet: privileged, hostPID".into(),
                });
            }
            f.namespaces.insert(ns.clone());
        }
        f.sccs.sort_by(|a, b| a.name.cmp(&b.name));
        f.sccs.dedup_by(|a, b| a.name == b.name);
        for ns in f.namespaces.clone() {
            f.service_accounts
                .entry(ns)
                .or_default()
                .insert("default".to_string());
        }
        f
    }

    /// Whether Pod Security admission lets privileged pods into `namespace` (its enforce label
    /// is `privileged` or unset). On OpenShift SCC admission must admit them too: see
    /// [`Facts::privileged_pods_allowed`].
    pub fn pod_security_allows_privileged(&self, namespace: &str) -> bool {
        !matches!(
            self.pod_security.get(namespace).map(String::as_str),
            Some("baseline" | "restricted")
        )
    }

    /// Whether pods created in `namespace` may be privileged whoever creates them (Pod Security
    /// `privileged` or unset, and no SCCs: with SCCs it depends on who may use which one).
    pub fn privileged_pods_allowed(&self, namespace: &str) -> bool {
        !self.openshift && self.pod_security_allows_privileged(namespace)
    }

    /// The SCCs whose pods may reach their node, by name.
    pub fn node_sccs(&self) -> impl Iterator<Item = &Scc> {
        self.sccs.iter().filter(|s| s.reaches_node())
    }
}
