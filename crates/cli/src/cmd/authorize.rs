//! `serve --authorize`: kube-apiserver's authorization webhook on `POST /authorize`, answered by
//! the Cedar policies alone (kube-apiserver runs RBAC after it), the policy set kept current
//! (files re-read on change, Policy objects of the snapshot or cluster on each reload; a broken
//! set is logged with its file:line and the last good one stays in force), and the Prometheus
//! metrics of decisions, latency and reloads.
//!
//! `system:masters`: kube-apiserver's privileged-group authorizer allows them before any
//! webhook is asked, and `authz-config`'s matchConditions keep them out too; if asked anyway the
//! webhook answers like for anyone else (no opinion unless a policy matches).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use virtguard_policy::{Decision, Evaluation, PolicySet};
use virtguard_server::api::WebhookHandler;

use crate::input::{compile_policies, policy_object_sources};

/// The webhook's path.
pub const PATH: &str = "/authorize";

/// Upper bounds (seconds) of the evaluation latency histogram.
const BUCKETS: [f64; 12] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1, 1.0,
];

/// Counters of the webhook, rendered in the Prometheus text format.
#[derive(Debug, Default)]
pub struct AuthzMetrics {
    /// (decision, policy id) → count; policy `""` for no opinion.
    decisions: Mutex<BTreeMap<(&'static str, String), u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    evaluation_errors: AtomicU64,
    /// Refused `--admission-config` reloads (counted by `serve --admission`).
    pub admission_config_reload_failures: AtomicU64,
}

/// Escapes a label value (backslash, double quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl AuthzMetrics {
    /// Records one evaluation and how long it took.
    pub fn observe(&self, eval: &Evaluation, took: Duration) {
        let (decision, policy) = match &eval.decision {
            Decision::Allow { policy } => ("allow", policy.id.as_str()),
            Decision::Deny { policy } => ("deny", policy.id.as_str()),
            Decision::NoOpinion => ("no_opinion", ""),
        };
        if let Ok(mut d) = self.decisions.lock() {
            match d.get_mut(&(decision, policy.to_owned())) {
                Some(n) => *n += 1,
                None => {
                    d.insert((decision, policy.to_owned()), 1);
                }
            }
        }
        let secs = took.as_secs_f64();
        for (b, bound) in self.buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        if !eval.errors.is_empty() {
            self.evaluation_errors
                .fetch_add(eval.errors.len() as u64, Ordering::Relaxed);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP virtguard_authorize_decisions_total Authorization webhook decisions, by decision and deciding policy.\n");
        out.push_str("# TYPE virtguard_authorize_decisions_total counter\n");
        if let Ok(d) = self.decisions.lock() {
            for ((decision, policy), n) in d.iter() {
                let _ = writeln!(
                    out,
                    "virtguard_authorize_decisions_total{{decision=\"{decision}\",policy=\"{}\"}} {n}",
                    escape(policy)
                );
            }
        }
        out.push_str("# HELP virtguard_authorize_duration_seconds Time to evaluate the Cedar policies on one SubjectAccessReview.\n");
        out.push_str("# TYPE virtguard_authorize_duration_seconds histogram\n");
        for (b, bound) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "virtguard_authorize_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                b.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "virtguard_authorize_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "virtguard_authorize_duration_seconds_sum {}",
            self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9
        );
        let _ = writeln!(out, "virtguard_authorize_duration_seconds_count {count}");
        for (name, help, v) in [
            (
                "virtguard_policy_reloads_total",
                "Policy set reloads put in force.",
                &self.reloads,
            ),
            (
                "virtguard_policy_reload_failures_total",
                "Policy set reloads refused (invalid policy, unreadable file, lockout); the last good set stays in force.",
                &self.reload_failures,
            ),
            (
                "virtguard_policy_evaluation_errors_total",
                "Policies that errored during evaluation and were skipped.",
                &self.evaluation_errors,
            ),
            (
                "virtguard_admission_config_reload_failures_total",
                "--admission-config reloads refused; the last good configuration stays in force.",
                &self.admission_config_reload_failures,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        }
        out
    }
}

/// The policy set in force and how to read it again.
#[derive(Debug)]
pub struct Authz {
    set: RwLock<Option<Arc<PolicySet>>>,
    paths: Vec<String>,
    allow_lockout: bool,
    /// The sources of the last reload attempt (in force or refused): unchanged sources are not
    /// compiled again.
    last: Mutex<Vec<(String, String)>>,
    /// The Policy objects' sources last read from the snapshot or cluster.
    objects: Mutex<Vec<(String, String)>>,
    /// The webhook's metrics.
    pub metrics: Arc<AuthzMetrics>,
}

/// Reads `paths` for a reload: a directory's `*.cedar` files, a file as given; a file that no
/// longer exists is left out (its policies are dropped).
fn read_paths(paths: &[String]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for p in paths {
        let path = std::path::Path::new(p);
        if path.is_dir() {
            out.extend(virtguard_policy::source::load_dir(path)?);
        } else if path.exists() {
            out.push(virtguard_policy::source::load_file(path)?);
        } else {
            tracing::info!(path = %p, "policy file gone: its policies are dropped");
        }
    }
    Ok(out)
}

impl Authz {
    /// Loads the policies of `paths` and the Policy objects among `objects`; any problem is an
    /// error (the server does not start on a broken set). Decisions and reloads are counted in
    /// `metrics`.
    pub fn load<'o>(
        paths: &[String],
        objects: impl IntoIterator<Item = &'o virtguard_snapshot::Object>,
        allow_lockout: bool,
        metrics: Arc<AuthzMetrics>,
    ) -> Result<Authz> {
        let mut sources =
            virtguard_policy::source::load_paths(paths).context("cannot read --policies")?;
        let object_sources = policy_object_sources(objects)?;
        sources.extend(object_sources.iter().cloned());
        let set = compile_policies(&sources, allow_lockout)?;
        match &set {
            Some(s) => tracing::info!(policies = s.len(), "Cedar policies loaded"),
            None => tracing::warn!(
                "no Cedar policy loaded: every review is answered with no opinion until one appears"
            ),
        }
        Ok(Authz {
            set: RwLock::new(set.map(Arc::new)),
            paths: paths.to_vec(),
            allow_lockout,
            last: Mutex::new(sources),
            objects: Mutex::new(object_sources),
            metrics,
        })
    }

    /// The set in force (`None`: no policy).
    pub fn current(&self) -> Option<Arc<PolicySet>> {
        match self.set.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Reads the policies again: the files, and the Policy objects of `objects` (`None`: those
    /// last read). A valid new set is in force for the next request; a broken one is logged
    /// (file:line) and counted, and the last good set stays.
    pub fn reload<'o>(
        &self,
        objects: Option<impl IntoIterator<Item = &'o virtguard_snapshot::Object>>,
    ) {
        let attempt = || -> Result<Option<Vec<(String, String)>>> {
            let mut sources = read_paths(&self.paths)?;
            let object_sources = match objects {
                Some(o) => {
                    let s = policy_object_sources(o)?;
                    if let Ok(mut last) = self.objects.lock() {
                        last.clone_from(&s);
                    }
                    s
                }
                None => self.objects.lock().map(|o| o.clone()).unwrap_or_default(),
            };
            sources.extend(object_sources);
            let Ok(mut last) = self.last.lock() else {
                return Ok(None);
            };
            if *last == sources {
                return Ok(None);
            }
            last.clone_from(&sources);
            Ok(Some(sources))
        };
        let result = attempt().and_then(|sources| match sources {
            None => Ok(None),
            Some(sources) => compile_policies(&sources, self.allow_lockout).map(Some),
        });
        match result {
            Ok(None) => {}
            Ok(Some(set)) => {
                let n = set.as_ref().map_or(0, PolicySet::len);
                if let Ok(mut s) = self.set.write() {
                    *s = set.map(Arc::new);
                }
                self.metrics.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(policies = n, "Cedar policies reloaded");
            }
            Err(e) => {
                self.metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    error = %format!("{e:#}"),
                    "Cedar policy reload refused; the last good set stays in force"
                );
            }
        }
    }

    /// Decides a request with the set in force.
    pub fn decide(&self, req: &virtguard_policy::Request) -> Evaluation {
        match self.current() {
            Some(set) => set.decide(req),
            None => Evaluation {
                decision: Decision::NoOpinion,
                matched: Vec::new(),
                errors: Vec::new(),
            },
        }
    }
}

/// `POST /authorize`: a SubjectAccessReview in, the same apiVersion and kind with its `status`
/// out; a body that is not one is a 400 Status.
pub fn handler(authz: Arc<Authz>) -> WebhookHandler {
    Arc::new(move |caller, body| {
        let review = match virtguard_policy::parse_review(body) {
            Ok(r) => r,
            Err(e) => {
                return virtguard_apiserver::ApiError::bad_request(format!(
                    "not a SubjectAccessReview: {e}"
                ))
                .reply()
            }
        };
        let start = Instant::now();
        let eval = authz.decide(&review.request);
        authz.metrics.observe(&eval, start.elapsed());
        if !eval.errors.is_empty() {
            tracing::debug!(caller = %caller.name, errors = ?eval.errors, "policies errored");
        }
        virtguard_apiserver::Reply::json(
            200,
            &virtguard_policy::review_response(&review.api_version, &eval),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_every_family() {
        let m = AuthzMetrics::default();
        let eval = Evaluation {
            decision: Decision::NoOpinion,
            matched: Vec::new(),
            errors: vec!["x".into()],
        };
        m.observe(&eval, Duration::from_micros(30));
        let text = m.render();
        assert!(text.contains(
            "virtguard_authorize_decisions_total{decision=\"no_opinion\",policy=\"\"} 1\n"
        ));
        assert!(text.contains("virtguard_authorize_duration_seconds_bucket{le=\"0.00005\"} 1\n"));
        assert!(text.contains("virtguard_authorize_duration_seconds_bucket{le=\"0.000025\"} 0\n"));
        assert!(text.contains("virtguard_authorize_duration_seconds_count 1\n"));
        assert!(text.contains("virtguard_policy_evaluation_errors_total 1\n"));
        assert!(text.contains("virtguard_policy_reload_failures_total 0\n"));
    }
}
