//! The served state: the snapshot's objects by resource, each serialized to JSON once per
//! reload, the RBAC policy that guards them and the resources discovery announces; and the
//! [`Store`] that swaps states on reload, numbering them (`resourceVersion`) and keeping the
//! ADDED/MODIFIED/DELETED differences watchers are sent.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use virtguard_catalog::Discovery;
use virtguard_rbac::Policy;
use virtguard_snapshot::Object;

/// What a (re)load produced: the objects (defaults merged), their policy and the discovery
/// table (extended by the snapshot's CRDs).
#[derive(Debug)]
pub struct Loaded {
    /// Every object to serve.
    pub objects: Vec<Object>,
    /// The RBAC policy of those objects.
    pub policy: Policy,
    /// The discovery table.
    pub discovery: Discovery,
}

/// One resource the facade announces and serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// API group.
    pub group: String,
    /// Versions served, preferred first.
    pub versions: Vec<String>,
    /// Plural resource.
    pub resource: String,
    /// Singular name.
    pub singular: String,
    /// Kind (empty for KubeVirt's kind-less virtual resources).
    pub kind: String,
    /// Namespaced.
    pub namespaced: bool,
    /// Short names.
    pub short_names: Vec<String>,
    /// Verbs announced.
    pub verbs: Vec<String>,
    /// Subresources served in the resource's own group.
    pub subresources: Vec<String>,
    /// Subresources served in another group (KubeVirt's `subresources.kubevirt.io`).
    pub api_subresources: Option<(String, Vec<String>)>,
    /// Categories (`all`: what `kubectl get all` lists).
    pub categories: Vec<String>,
    /// Table columns after NAME (a CRD's `additionalPrinterColumns`); empty: AGE.
    pub columns: Vec<crate::columns::PrinterColumn>,
}

/// Resources in the `all` category: Kubernetes' registries (`Categories()`) and KubeVirt's CRDs
/// (`pkg/virt-operator/resource/generate/components/crds.go`). A CRD in the snapshot says its
/// own.
const CATEGORY_ALL: &[(&str, &str)] = &[
    ("", "pods"),
    ("", "replicationcontrollers"),
    ("", "services"),
    ("apps", "daemonsets"),
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
    ("autoscaling", "horizontalpodautoscalers"),
    ("batch", "cronjobs"),
    ("batch", "jobs"),
    ("kubevirt.io", "virtualmachineinstances"),
    ("kubevirt.io", "virtualmachines"),
    ("kubevirt.io", "virtualmachineinstancepresets"),
    ("kubevirt.io", "virtualmachineinstancereplicasets"),
    ("kubevirt.io", "virtualmachineinstancemigrations"),
    ("kubevirt.io", "kubevirts"),
    ("pool.kubevirt.io", "virtualmachinepools"),
    ("snapshot.kubevirt.io", "virtualmachinesnapshots"),
    ("snapshot.kubevirt.io", "virtualmachinesnapshotcontents"),
    ("snapshot.kubevirt.io", "virtualmachinerestores"),
    ("export.kubevirt.io", "virtualmachineexports"),
    ("backup.kubevirt.io", "virtualmachinebackups"),
    ("backup.kubevirt.io", "virtualmachinebackuptrackers"),
    ("instancetype.kubevirt.io", "virtualmachineinstancetypes"),
    ("instancetype.kubevirt.io", "virtualmachinepreferences"),
    ("clone.kubevirt.io", "virtualmachineclones"),
];

fn builtin_categories(group: &str, resource: &str) -> Vec<String> {
    if CATEGORY_ALL.contains(&(group, resource)) {
        vec!["all".to_string()]
    } else {
        Vec::new()
    }
}

/// `spec.names.categories` of the snapshot's CRDs, by (group, plural).
fn crd_categories(objects: &[Object]) -> HashMap<(String, String), Vec<String>> {
    let mut out = HashMap::new();
    for o in objects
        .iter()
        .filter(|o| o.kind == "CustomResourceDefinition")
    {
        let Some(v) = o.value() else { continue };
        let text = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let cats: Vec<String> = v
            .pointer("/spec/names/categories")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        out.insert((text("/spec/group"), text("/spec/names/plural")), cats);
    }
    out
}

impl Served {
    /// Whether the facade lists and gets its objects (reviews are create-only).
    pub fn readable(&self) -> bool {
        self.verbs.iter().any(|v| v == "list")
    }
}

/// Kinds that are only ever created (reviews, token requests): announced with `create`.
const CREATE_ONLY: &[&str] = &[
    "selfsubjectaccessreviews",
    "subjectaccessreviews",
    "localsubjectaccessreviews",
    "selfsubjectrulesreviews",
    "selfsubjectreviews",
    "tokenreviews",
    "bindings",
];

fn read_verbs() -> Vec<String> {
    ["get", "list", "watch"].map(String::from).to_vec()
}

/// kubectl's `UnsafeGuessKindToResource`: `VirtualMachine` → `virtualmachines`.
pub fn guess_resource(kind: &str) -> String {
    let singular = kind.to_ascii_lowercase();
    if let Some(stem) = singular.strip_suffix('y') {
        format!("{stem}ies")
    } else if singular.ends_with('s') {
        format!("{singular}es")
    } else if singular.is_empty() {
        singular
    } else {
        format!("{singular}s")
    }
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

/// One stored object.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredObject {
    /// `apiVersion` as written.
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// `metadata.creationTimestamp`, when set.
    pub created: Option<String>,
    /// The reload in which it last changed.
    pub resource_version: u64,
    /// SHA-256 of the object as read (without `resourceVersion`): reloads compare it to tell
    /// changed objects from unchanged ones.
    pub digest: [u8; 32],
    /// The object as served (JSON, with `metadata.resourceVersion`). The only copy of the
    /// content: tables and field selectors parse what they need from it, so a large snapshot is
    /// held once, compactly.
    pub json: Arc<[u8]>,
}

/// `content` as JSON with `metadata.resourceVersion` set to `rv`.
fn serialize_with(mut content: Value, rv: u64) -> Vec<u8> {
    if let Some(meta) = content.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
    serde_json::to_vec(&content).unwrap_or_default()
}

/// The digest of an object's content as serialized.
fn digest_of(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

impl StoredObject {
    /// Stores `content` (serialized as `bytes`, without `resourceVersion`) as of reload
    /// `resource_version`.
    fn new(content: Value, bytes: &[u8], resource_version: u64) -> Option<StoredObject> {
        let meta = content.get("metadata")?;
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
        let labels = meta
            .get("labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Some(StoredObject {
            api_version: text(content.get("apiVersion")),
            kind: text(content.get("kind")),
            namespace: text(meta.get("namespace")),
            name: text(meta.get("name")),
            labels,
            created: meta
                .get("creationTimestamp")
                .and_then(Value::as_str)
                .map(str::to_string),
            resource_version,
            digest: digest_of(bytes),
            json: Arc::from(serialize_with(content, resource_version)),
        })
    }

    /// A copy as of reload `rv` (a DELETED event carries the deletion's version).
    fn at(&self, rv: u64) -> StoredObject {
        StoredObject {
            resource_version: rv,
            json: Arc::from(serialize_with(self.value(), rv)),
            ..self.clone()
        }
    }

    /// The `metadata` of the served object (with its `resourceVersion`), parsed from the JSON
    /// without building the rest.
    pub fn metadata(&self) -> Value {
        #[derive(serde::Deserialize)]
        struct Meta {
            #[serde(default)]
            metadata: Value,
        }
        serde_json::from_slice::<Meta>(&self.json)
            .map(|m| m.metadata)
            .unwrap_or(Value::Null)
    }

    /// The served object as a JSON value.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }
}

/// Objects of one resource, by (namespace, name).
pub type Objects = BTreeMap<(String, String), Arc<StoredObject>>;

/// Everything one reload serves.
#[derive(Debug)]
pub struct State {
    /// This state's number (`resourceVersion` of lists).
    pub resource_version: u64,
    /// The policy.
    pub policy: Policy,
    /// Resources announced by discovery, in discovery order.
    pub resources: Vec<Served>,
    objects: HashMap<(String, String), Objects>,
}

/// The kind of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// A new object.
    Added,
    /// A changed object.
    Modified,
    /// A removed object.
    Deleted,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change between two reloads.
#[derive(Debug, Clone)]
pub struct Event {
    /// What happened.
    pub kind: EventType,
    /// The resource's group.
    pub group: String,
    /// The resource.
    pub resource: String,
    /// The object (for DELETED: its last state, at the deleting reload's version).
    pub object: Arc<StoredObject>,
    /// For MODIFIED: the object before (a watch whose selector it leaves or enters sees a
    /// DELETED or ADDED, as kube-apiserver's watch cache sends).
    pub previous: Option<Arc<StoredObject>>,
}

impl State {
    /// Builds the state of reload number `rv`. Objects unchanged since `previous` keep their
    /// version and serialized JSON.
    pub fn build(loaded: Loaded, rv: u64, previous: Option<&State>) -> State {
        let Loaded {
            objects,
            policy,
            discovery,
        } = loaded;
        policy.build_index();
        let crd_cats = crd_categories(&objects);
        let crd_cols = crate::columns::crd_columns(&objects);
        let mut resources: Vec<Served> = Vec::new();
        for r in discovery.resources() {
            let create_only = CREATE_ONLY.contains(&r.resource.as_str());
            let kindless = r.kind.is_empty();
            resources.push(Served {
                group: r.group.clone(),
                versions: vec![if r.version.is_empty() {
                    "v1".to_string()
                } else {
                    r.version.clone()
                }],
                resource: r.resource.clone(),
                singular: r.singular.clone(),
                kind: r.kind.clone(),
                namespaced: r.namespaced,
                short_names: r.short_names.clone(),
                verbs: if create_only {
                    vec!["create".to_string()]
                } else if kindless {
                    vec!["get".to_string()]
                } else {
                    read_verbs()
                },
                subresources: r.subresources.clone(),
                api_subresources: r
                    .api_subresources
                    .as_ref()
                    .map(|a| (a.group.clone(), a.names.clone())),
                categories: crd_cats
                    .get(&(r.group.clone(), r.resource.clone()))
                    .cloned()
                    .unwrap_or_else(|| builtin_categories(&r.group, &r.resource)),
                columns: crd_cols
                    .get(&(r.group.clone(), r.resource.clone()))
                    .cloned()
                    .unwrap_or_default(),
            });
        }
        let mut by_key: HashMap<(String, String), Objects> = HashMap::new();
        for o in &objects {
            let (group, version) = split_api_version(&o.api_version);
            let idx = match resources
                .iter()
                .position(|s| s.group == group && s.kind == o.kind && !s.kind.is_empty())
            {
                Some(i) => i,
                None => {
                    resources.push(Served {
                        group: group.to_string(),
                        versions: vec![version.to_string()],
                        resource: guess_resource(&o.kind),
                        singular: o.kind.to_ascii_lowercase(),
                        kind: o.kind.clone(),
                        namespaced: !o.namespace.is_empty(),
                        short_names: Vec::new(),
                        verbs: read_verbs(),
                        subresources: Vec::new(),
                        api_subresources: None,
                        categories: Vec::new(),
                        columns: Vec::new(),
                    });
                    resources.len() - 1
                }
            };
            let served = &mut resources[idx];
            if !served.versions.iter().any(|v| v == version) {
                served.versions.push(version.to_string());
            }
            let key = (served.group.clone(), served.resource.clone());
            let Some(content) = o.to_json() else {
                continue;
            };
            let okey = (o.namespace.clone(), o.name.clone());
            let bytes = serde_json::to_vec(&content).unwrap_or_default();
            let digest = digest_of(&bytes);
            let reused = previous
                .and_then(|p| p.objects.get(&key))
                .and_then(|m| m.get(&okey))
                .filter(|old| old.digest == digest)
                .cloned();
            let stored = match reused {
                Some(old) => old,
                None => match StoredObject::new(content, &bytes, rv) {
                    Some(s) => Arc::new(s),
                    None => continue,
                },
            };
            by_key.entry(key).or_default().insert(okey, stored);
        }
        State {
            resource_version: rv,
            policy,
            resources,
            objects: by_key,
        }
    }

    /// The served resource `resource` of `group` (any version in `versions`).
    pub fn find(&self, group: &str, version: &str, resource: &str) -> Option<&Served> {
        self.resources.iter().find(|s| {
            s.group == group && s.resource == resource && s.versions.iter().any(|v| v == version)
        })
    }

    /// The objects of a resource.
    pub fn objects(&self, group: &str, resource: &str) -> Option<&Objects> {
        self.objects.get(&(group.to_string(), resource.to_string()))
    }

    /// The changes from `old` to `self`.
    fn diff(&self, old: &State) -> Vec<Event> {
        let mut events = Vec::new();
        let empty = Objects::new();
        for ((group, resource), now) in &self.objects {
            let before = old
                .objects
                .get(&(group.clone(), resource.clone()))
                .unwrap_or(&empty);
            for (k, o) in now {
                let (kind, previous) = match before.get(k) {
                    None => (EventType::Added, None),
                    Some(b) if b.digest != o.digest => (EventType::Modified, Some(b.clone())),
                    Some(_) => continue,
                };
                events.push(Event {
                    kind,
                    group: group.clone(),
                    resource: resource.clone(),
                    object: o.clone(),
                    previous,
                });
            }
        }
        for ((group, resource), before) in &old.objects {
            let now = self
                .objects
                .get(&(group.clone(), resource.clone()))
                .unwrap_or(&empty);
            for (k, o) in before {
                if !now.contains_key(k) {
                    events.push(Event {
                        kind: EventType::Deleted,
                        group: group.clone(),
                        resource: resource.clone(),
                        object: Arc::new(o.at(self.resource_version)),
                        previous: None,
                    });
                }
            }
        }
        events
    }
}

/// The changes of one reload.
pub type Batch = Arc<Vec<Event>>;

/// How many reloads of changes are kept for watchers resuming from an older version.
const HISTORY: usize = 64;

/// A `resourceVersion` older than the changes kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooOld {
    /// The oldest version a watch may start from.
    pub oldest: u64,
}

/// A reload built by [`Store::prepare`], ready for [`Store::install`].
#[derive(Debug)]
pub struct Prepared {
    base: u64,
    state: State,
    events: Vec<Event>,
}

/// The current state and the changes of recent reloads.
#[derive(Debug)]
pub struct Store {
    current: Arc<State>,
    history: VecDeque<(u64, Batch)>,
}

impl Store {
    /// The first state (version 1).
    pub fn new(loaded: Loaded) -> Store {
        Store {
            current: Arc::new(State::build(loaded, 1, None)),
            history: VecDeque::new(),
        }
    }

    /// The state in force.
    pub fn current(&self) -> Arc<State> {
        self.current.clone()
    }

    /// Installs a reload as the next version and records its changes; returns how many
    /// objects changed.
    pub fn reload(&mut self, loaded: Loaded) -> usize {
        let next = self.prepare(loaded);
        self.install(next)
    }

    /// Builds the next version from a reload without changing the store (the expensive part,
    /// which needs only shared access: readers keep being served meanwhile).
    pub fn prepare(&self, loaded: Loaded) -> Prepared {
        let rv = self.current.resource_version + 1;
        let state = State::build(loaded, rv, Some(&self.current));
        let events = state.diff(&self.current);
        Prepared {
            base: self.current.resource_version,
            state,
            events,
        }
    }

    /// Installs a prepared version; returns how many objects changed. A version prepared on
    /// a state that is no longer current is diffed again against the current one.
    pub fn install(&mut self, mut next: Prepared) -> usize {
        if next.base != self.current.resource_version {
            next.state.resource_version = self.current.resource_version + 1;
            next.events = next.state.diff(&self.current);
        }
        // A reload that changed nothing keeps the version in force: continue tokens and
        // watches of the current version stay valid.
        if next.events.is_empty() {
            return 0;
        }
        let rv = next.state.resource_version;
        let n = next.events.len();
        self.history.push_back((rv, Arc::new(next.events)));
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
        self.current = Arc::new(next.state);
        n
    }

    /// The changes after version `since`, in order, with the version they lead to.
    pub fn changes_since(&self, since: u64) -> Result<(Vec<Batch>, u64), TooOld> {
        let current = self.current.resource_version;
        if since >= current {
            return Ok((Vec::new(), current));
        }
        let oldest = self
            .history
            .front()
            .map(|(rv, _)| rv - 1)
            .unwrap_or(current);
        if since < oldest {
            return Err(TooOld { oldest });
        }
        let batches = self
            .history
            .iter()
            .filter(|(rv, _)| *rv > since)
            .map(|(_, e)| e.clone())
            .collect();
        Ok((batches, current))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use virtguard_snapshot::{from_texts, Format, LoadOptions};

    pub(crate) fn loaded(yaml: &str) -> Loaded {
        let snap = from_texts(
            vec![("t.yaml".into(), yaml.to_string(), Format::Yaml)],
            &LoadOptions::default(),
        )
        .unwrap();
        let policy = Policy::new(snap.roles(), snap.bindings());
        Loaded {
            objects: snap.objects,
            policy,
            discovery: Discovery::builtin().unwrap(),
        }
    }

    const VM: &str = "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {name: vm1, namespace: prod, labels: {app: db}}\nspec: {running: false}\n";

    #[test]
    fn objects_are_served_under_their_resource() {
        let s = State::build(loaded(VM), 1, None);
        let vms = s.objects("kubevirt.io", "virtualmachines").unwrap();
        let o = vms.get(&("prod".into(), "vm1".into())).unwrap();
        assert_eq!(o.labels.get("app").map(String::as_str), Some("db"));
        assert_eq!(o.value()["metadata"]["resourceVersion"], "1");
        assert!(s.find("kubevirt.io", "v1", "virtualmachines").is_some());
    }

    #[test]
    fn categories_from_kubernetes_kubevirt_and_the_snapshots_crds() {
        let s = State::build(loaded(VM), 1, None);
        assert_eq!(
            s.find("kubevirt.io", "v1", "virtualmachines")
                .unwrap()
                .categories,
            ["all"]
        );
        assert_eq!(
            s.find("apps", "v1", "deployments").unwrap().categories,
            ["all"]
        );
        assert!(s.find("", "v1", "secrets").unwrap().categories.is_empty());
        let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: virtualmachines.kubevirt.io}\nspec:\n  group: kubevirt.io\n  names: {plural: virtualmachines, kind: VirtualMachine, categories: [vms]}\n  scope: Namespaced\n  versions: [{name: v1, served: true, storage: true}]\n";
        let s = State::build(loaded(crd), 1, None);
        assert_eq!(
            s.find("kubevirt.io", "v1", "virtualmachines")
                .unwrap()
                .categories,
            ["vms"]
        );
    }

    #[test]
    fn unknown_kinds_get_a_guessed_resource() {
        let s = State::build(
            loaded("apiVersion: example.com/v1alpha1\nkind: Widget\nmetadata: {name: w, namespace: a}\n"),
            1,
            None,
        );
        let w = s.find("example.com", "v1alpha1", "widgets").unwrap();
        assert!(w.namespaced);
        assert_eq!(guess_resource("Policy"), "policies");
        assert_eq!(guess_resource("Ingress"), "ingresses");
    }

    #[test]
    fn reload_diffs_and_keeps_unchanged_versions() {
        let mut store = Store::new(loaded(VM));
        let two = format!("{VM}---\napiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {{name: vm2, namespace: prod}}\n");
        assert_eq!(store.reload(loaded(&two)), 1);
        let s = store.current();
        let vms = s.objects("kubevirt.io", "virtualmachines").unwrap();
        assert_eq!(vms[&("prod".into(), "vm1".into())].resource_version, 1);
        assert_eq!(vms[&("prod".into(), "vm2".into())].resource_version, 2);
        let changed = VM.replace("running: false", "running: true");
        assert_eq!(store.reload(loaded(&changed)), 2);
        let (batches, rv) = store.changes_since(1).unwrap();
        assert_eq!(rv, 3);
        let kinds: Vec<_> = batches
            .iter()
            .flat_map(|b| b.iter().map(|e| e.kind))
            .collect();
        assert_eq!(kinds.iter().filter(|k| **k == EventType::Added).count(), 1);
        assert!(kinds.contains(&EventType::Modified));
        assert!(kinds.contains(&EventType::Deleted));
        assert_eq!(store.changes_since(3).unwrap().0.len(), 0);
    }

    /// A reload that changes nothing keeps the version: continue tokens and watches of it stay
    /// valid (a file touched, or re-saved as it was, must not expire every paged list).
    #[test]
    fn a_reload_without_changes_keeps_the_version() {
        let mut store = Store::new(loaded(VM));
        assert_eq!(store.reload(loaded(VM)), 0);
        assert_eq!(store.current().resource_version, 1);
        let (batches, rv) = store.changes_since(1).unwrap();
        assert!(batches.is_empty());
        assert_eq!(rv, 1);
    }

    #[test]
    fn old_versions_are_too_old() {
        let mut store = Store::new(loaded(VM));
        let changed = VM.replace("running: false", "running: true");
        for i in 0..(HISTORY + 2) {
            store.reload(loaded(if i % 2 == 0 { &changed } else { VM }));
        }
        assert!(store.changes_since(1).is_err());
        assert!(store
            .changes_since(store.current().resource_version - 1)
            .is_ok());
    }
}
