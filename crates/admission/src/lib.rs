//! Admission verdicts for a ValidatingAdmissionWebhook (`serve --admission`), pure: an
//! AdmissionReview and the cluster's state in, a verdict out.
//!
//! - The KubeVirt CR: KubeVirt's own validations (see [`kubevirt`]).
//! - VirtualMachines, VMIs, pools and VMI replica sets: every configured audit check that judges
//!   one object runs on the incoming object through the audit's own function
//!   ([`virtguard_audit::workload_findings`]: one code path for `audit` and admission), acting
//!   as Deny, Warn or Audit per namespace selector and exempt subjects.
//! - VirtualMachineInstanceMigrations: at most N not in a final phase per namespace (and per user),
//!   the abuse KubeVirt's v1.5 migrate split guards against. Migrations admitted here count until
//!   the state shows them, so a burst cannot slip past a state that lags.
//! - DELETE and CONNECT are never blocked; dry runs are judged the same and never recorded.

pub mod config;
pub mod kubevirt;
pub mod review;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use virtguard_audit::{Context, Selection};
use virtguard_rbac::Policy;
use virtguard_snapshot::{Format, Object};

pub use config::{Action, AdmissionConfig, CheckRule, ConfigError, ExemptSubject, MigrationLimits};
pub use review::{parse_review, response, AdmissionRequest, ReviewError, Verdict};

/// Kinds whose objects carry VMI specs, with their API groups.
const WORKLOAD_KINDS: &[(&str, &str)] = &[
    ("kubevirt.io", "VirtualMachine"),
    ("kubevirt.io", "VirtualMachineInstance"),
    ("kubevirt.io", "VirtualMachineInstanceReplicaSet"),
    ("pool.kubevirt.io", "VirtualMachinePool"),
];

/// Migration phases after which a migration no longer counts as in flight.
const FINAL_PHASES: &[&str] = &["Succeeded", "Failed"];

/// How long a migration admitted here counts while the state does not show it (it may have been
/// refused by another admission step).
const ADMITTED_TTL: Duration = Duration::from_secs(600);

/// One migration the state shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `status.phase` (empty when not set yet).
    pub phase: String,
}

/// What the verdicts read of the cluster: the KubeVirt CR, namespace labels, migrations.
#[derive(Debug, Default)]
pub struct State {
    kubevirt: Vec<Object>,
    namespaces: HashMap<String, BTreeMap<String, String>>,
    migrations: Vec<Migration>,
    version: Option<String>,
}

impl State {
    /// The state of a snapshot's objects.
    pub fn from_objects(objects: &[Object]) -> State {
        let mut s = State::default();
        for o in objects {
            match (
                o.kind.as_str(),
                o.api_version.split('/').next().unwrap_or(""),
            ) {
                ("KubeVirt", "kubevirt.io") => s.kubevirt.push(o.clone()),
                ("Namespace", "v1") => {
                    let labels = o
                        .to_json()
                        .and_then(|v| v.pointer("/metadata/labels").cloned())
                        .and_then(|l| serde_json::from_value(l).ok())
                        .unwrap_or_default();
                    s.namespaces.insert(o.name.clone(), labels);
                }
                ("VirtualMachineInstanceMigration", "kubevirt.io") => {
                    s.migrations.push(Migration {
                        namespace: o.namespace.clone(),
                        name: o.name.clone(),
                        phase: o
                            .value()
                            .and_then(|v| v.pointer("/status/phase"))
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                    })
                }
                _ => {}
            }
        }
        s.version = s
            .kubevirt
            .iter()
            .find_map(|o| {
                o.value()?
                    .pointer("/status/observedKubeVirtVersion")?
                    .as_str()
            })
            .map(String::from);
        s
    }

    fn in_flight<'s>(&'s self, namespace: &'s str) -> impl Iterator<Item = &'s Migration> + 's {
        self.migrations
            .iter()
            .filter(move |m| m.namespace == namespace && !FINAL_PHASES.contains(&m.phase.as_str()))
    }
}

/// A migration admitted here, not yet shown by the state.
#[derive(Debug, Clone)]
struct Admitted {
    namespace: String,
    name: String,
    user: String,
    at: Instant,
}

/// Answers AdmissionReviews with a configuration and the current state.
#[derive(Debug)]
pub struct Admitter {
    config: AdmissionConfig,
    state: Arc<State>,
    admitted: Mutex<Vec<Admitted>>,
    /// Who created which migration (namespace, name) → user, of those admitted here.
    creators: Mutex<HashMap<(String, String), String>>,
}

impl Admitter {
    /// An admitter for a configuration and state.
    pub fn new(config: AdmissionConfig, state: State) -> Admitter {
        Admitter {
            config,
            state: Arc::new(state),
            admitted: Mutex::default(),
            creators: Mutex::default(),
        }
    }

    /// Replaces the configuration (a reload), keeping what was admitted.
    pub fn with_config(&self, config: AdmissionConfig) -> Admitter {
        Admitter {
            config,
            state: self.state.clone(),
            admitted: Mutex::new(self.admitted.lock().map(|a| a.clone()).unwrap_or_default()),
            creators: Mutex::new(self.creators.lock().map(|c| c.clone()).unwrap_or_default()),
        }
    }

    /// Replaces the state (a snapshot reload or a watch event).
    pub fn set_state(&mut self, state: State) {
        self.state = Arc::new(state);
    }

    /// The configuration.
    pub fn config(&self) -> &AdmissionConfig {
        &self.config
    }

    /// The verdict on one request, now.
    pub fn review(&self, req: &AdmissionRequest) -> Verdict {
        self.review_at(req, Instant::now())
    }

    /// The verdict on one request at `now` (for tests of the admitted-migration window).
    pub fn review_at(&self, req: &AdmissionRequest, now: Instant) -> Verdict {
        if matches!(req.operation.as_str(), "DELETE" | "CONNECT") || !req.sub_resource.is_empty() {
            return Verdict::allow();
        }
        match (req.group.as_str(), req.kind.as_str()) {
            ("kubevirt.io", "KubeVirt") => {
                let existing: Vec<(String, String)> = self
                    .state
                    .kubevirt
                    .iter()
                    .map(|o| (o.namespace.clone(), o.name.clone()))
                    .collect();
                kubevirt::verdict(req, &existing, self.state.version.as_deref())
            }
            ("kubevirt.io", "VirtualMachineInstanceMigration") if req.operation == "CREATE" => {
                self.migration(req, now)
            }
            (g, k) if WORKLOAD_KINDS.contains(&(g, k)) => self.workload(req),
            _ => Verdict::allow(),
        }
    }

    /// Whether a check's rule applies to this request (namespace selector, exempt subjects).
    fn applies(&self, rule: &CheckRule, req: &AdmissionRequest) -> bool {
        if let Some(sel) = &rule.namespace_selector {
            let empty = BTreeMap::new();
            let labels = self.state.namespaces.get(&req.namespace).unwrap_or(&empty);
            if !sel.matches(labels) {
                return false;
            }
        }
        !rule.exempt_subjects.iter().any(|s| match s.kind.as_str() {
            "User" => s.name == req.username,
            "Group" => req.groups.contains(&s.name),
            "ServiceAccount" => {
                req.username == format!("system:serviceaccount:{}:{}", s.namespace, s.name)
            }
            _ => false,
        })
    }

    fn workload(&self, req: &AdmissionRequest) -> Verdict {
        let Some(obj) = &req.object else {
            return Verdict::allow();
        };
        let rules: Vec<&CheckRule> = self
            .config
            .checks
            .iter()
            .filter(|r| self.applies(r, req))
            .collect();
        if rules.is_empty() {
            return Verdict::allow();
        }
        let mut obj = obj.clone();
        // The namespace of a CREATE may be only in the request.
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.entry("namespace")
                .or_insert_with(|| Value::String(req.namespace.clone()));
            if meta.get("name").is_none() && !req.name.is_empty() {
                meta.insert("name".into(), Value::String(req.name.clone()));
            }
        }
        let text = obj.to_string();
        let Some(Ok(object)) = virtguard_snapshot::parse_text("request", &text, Format::Json)
            .into_iter()
            .next()
        else {
            // Malformed objects are kube-apiserver's to reject; not ours to judge.
            return Verdict::allow();
        };
        let selection = Selection {
            only: rules.iter().map(|r| r.id.clone()).collect(),
            skip: Vec::new(),
            paths: false,
        };
        let policy = Policy::new(Vec::new(), Vec::new());
        let version = self.state.version.as_deref();
        let ctx = Context::new(&self.state.kubevirt, &policy, &[], version, &[], &[]);
        let findings = virtguard_audit::workload_findings(&ctx, &object, &selection);
        let mut verdict = Verdict::allow();
        let mut denials = Vec::new();
        for f in &findings {
            let Some(rule) = rules.iter().find(|r| r.id == f.id) else {
                continue;
            };
            let line = format!("{} {}: {}", f.id, f.title, f.evidence);
            match rule.action {
                Action::Deny => denials.push(line),
                Action::Warn => verdict.warn(&line),
                Action::Audit => {
                    let key = format!("virtguard.io/{}", f.id);
                    let entry = verdict.audit_annotations.entry(key).or_default();
                    if !entry.is_empty() {
                        entry.push_str("; ");
                    }
                    entry.push_str(&f.evidence);
                }
            }
        }
        if denials.is_empty() {
            return verdict;
        }
        let mut denied = Verdict::forbid(denials.join("; "));
        denied.warnings = verdict.warnings;
        denied.audit_annotations = verdict.audit_annotations;
        denied
    }

    fn migration(&self, req: &AdmissionRequest, now: Instant) -> Verdict {
        let Some(limits) = self.config.migrations else {
            return Verdict::allow();
        };
        let (Ok(mut admitted), Ok(mut creators)) = (self.admitted.lock(), self.creators.lock())
        else {
            return Verdict::forbid("virtguard: internal state unavailable");
        };
        // Admitted migrations the state now shows are the state's to count.
        admitted.retain(|a| {
            now.duration_since(a.at) < ADMITTED_TTL
                && !self
                    .state
                    .migrations
                    .iter()
                    .any(|m| m.namespace == a.namespace && m.name == a.name)
        });
        let mut in_flight: Vec<(String, Option<String>)> = self
            .state
            .in_flight(&req.namespace)
            .map(|m| {
                let creator = creators
                    .get(&(m.namespace.clone(), m.name.clone()))
                    .cloned();
                (m.name.clone(), creator)
            })
            .collect();
        in_flight.extend(
            admitted
                .iter()
                .filter(|a| a.namespace == req.namespace)
                .map(|a| (a.name.clone(), Some(a.user.clone()))),
        );
        if let Some(max) = limits.max_in_flight_per_namespace {
            if in_flight.len() >= max as usize {
                return Verdict::forbid(format!(
                    "migration limit: namespace {} has {} migrations in flight (maxInFlightPerNamespace: {max}): {}",
                    req.namespace,
                    in_flight.len(),
                    names(in_flight.iter().map(|(n, _)| n.as_str()))
                ));
            }
        }
        if let Some(max) = limits.max_in_flight_per_user {
            // Across namespaces: every migration this user started that is still in flight.
            let mut mine: Vec<String> = self
                .state
                .migrations
                .iter()
                .filter(|m| !FINAL_PHASES.contains(&m.phase.as_str()))
                .filter(|m| {
                    creators.get(&(m.namespace.clone(), m.name.clone())) == Some(&req.username)
                })
                .map(|m| format!("{}/{}", m.namespace, m.name))
                .collect();
            mine.extend(
                admitted
                    .iter()
                    .filter(|a| a.user == req.username)
                    .map(|a| format!("{}/{}", a.namespace, a.name)),
            );
            if mine.len() >= max as usize {
                return Verdict::forbid(format!(
                    "migration limit: user {} has {} migrations in flight (maxInFlightPerUser: {max}): {}",
                    req.username,
                    mine.len(),
                    names(mine.iter().map(String::as_str))
                ));
            }
        }
        if !req.dry_run {
            let name = if req.name.is_empty() {
                req.object
                    .as_ref()
                    .and_then(|o| o.pointer("/metadata/name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            } else {
                req.name.clone()
            };
            creators.insert((req.namespace.clone(), name.clone()), req.username.clone());
            admitted.push(Admitted {
                namespace: req.namespace.clone(),
                name,
                user: req.username.clone(),
                at: now,
            });
        }
        Verdict::allow()
    }
}

/// Names joined, at most ten.
fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = it.collect();
    let mut s = all.iter().take(10).copied().collect::<Vec<_>>().join(", ");
    if all.len() > 10 {
        s.push_str(&format!(" and {} more", all.len() - 10));
    }
    s
}
