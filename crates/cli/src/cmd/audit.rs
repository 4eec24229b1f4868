//! `virtguard audit`: loads the snapshot, adds the defaults, runs the posture checks, applies
//! suppressions and renders the report (table, JSON/YAML, SARIF, JUnit, HTML).

use std::io::IsTerminal;

use anyhow::{bail, Context as _, Result};
use virtguard_audit::{
    apply_suppressions, run, Context, NodeFacts, ObjectRef, Selection, Severity, Skipped,
    Suppression, CHECKS,
};
use virtguard_report::AuditReport;
use virtguard_snapshot::Snapshot;

use crate::args::{AuditArgs, Global, Output};
use crate::input::{announce, defaults_for, gather, install, print_warnings};

/// Exit code when a finding at or above `--fail-on` remains.
pub const EXIT_FINDINGS: u8 = 3;

fn list_checks(g: &Global) -> Result<u8> {
    match g.output {
        Some(o @ (Output::Json | Output::Yaml)) => {
            let v = serde_json::json!({ "checks": CHECKS });
            crate::render::print_structured(&v, o == Output::Yaml)?;
        }
        _ => {
            let mut rows = vec![vec![
                "ID".to_string(),
                "SEVERITY".to_string(),
                "CATEGORY".to_string(),
                "TITLE".to_string(),
            ]];
            for c in CHECKS {
                rows.push(vec![
                    c.id.to_string(),
                    c.severity.to_string(),
                    c.category.as_str().to_string(),
                    c.title.to_string(),
                ]);
            }
            print!("{}", crate::render::table(&rows));
        }
    }
    Ok(0)
}

/// Objects the loader left out (`--skip-invalid`), from its warnings.
fn skipped(snapshot: &Snapshot) -> Vec<Skipped> {
    snapshot
        .warnings
        .iter()
        .filter(|p| p.message.ends_with("(left out)"))
        .map(|p| {
            let (file, line) = virtguard_snapshot::Source::split_location(&p.location);
            let (kind, rest) = p
                .object
                .as_deref()
                .and_then(|o| o.split_once(' '))
                .unwrap_or(("object", ""));
            let (namespace, name) = rest.split_once('/').unwrap_or(("", rest));
            Skipped {
                location: ObjectRef {
                    kind: kind.to_string(),
                    name: name.to_string(),
                    namespace: namespace.to_string(),
                    file: file.to_string(),
                    line,
                },
                message: p.message.clone(),
            }
        })
        .collect()
}

/// Reads `node-check -o json` files (a file, or every `.json` in a directory).
fn node_facts(paths: &[String]) -> Result<Vec<NodeFacts>> {
    let mut files = Vec::new();
    for p in paths {
        let path = std::path::Path::new(p);
        if path.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(path)
                .with_context(|| format!("--node-facts {p}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|e| e.extension().is_some_and(|x| x == "json"))
                .collect();
            entries.sort();
            files.extend(entries);
        } else {
            files.push(path.to_path_buf());
        }
    }
    let mut out = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("--node-facts {}", f.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("--node-facts {}: not JSON", f.display()))?;
        let facts = v.get("facts").cloned().unwrap_or(v);
        let n: NodeFacts = serde_json::from_value(facts).with_context(|| {
            format!(
                "--node-facts {}: not the output of `virtguard node-check -o json`",
                f.display()
            )
        })?;
        out.push(n);
    }
    Ok(out)
}

fn today() -> String {
    let now = time::OffsetDateTime::now_utc().date();
    format!(
        "{:04}-{:02}-{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    )
}

pub fn run_audit(g: &Global, a: &AuditArgs) -> Result<u8> {
    if a.list_checks {
        return list_checks(g);
    }
    let sel = Selection {
        only: a.only.clone(),
        skip: a.skip.clone(),
        paths: a.paths,
    };
    let unknown = sel.unknown_ids();
    if !unknown.is_empty() {
        bail!(
            "unknown check id(s): {} (see virtguard audit --list-checks)",
            unknown.join(", ")
        );
    }
    let fail_on = match &a.fail_on {
        None => None,
        Some(s) => Some(Severity::parse(s).with_context(|| {
            format!("--fail-on {s:?}: use critical, high, medium, low or info")
        })?),
    };
    let suppressions: Vec<Suppression> = match &a.suppress {
        None => Vec::new(),
        Some(f) => {
            let text = std::fs::read_to_string(f).with_context(|| format!("--suppress {f}"))?;
            serde_yaml_ng::from_str::<Option<Vec<Suppression>>>(&text)
                .with_context(|| format!("--suppress {f}"))?
                .unwrap_or_default()
        }
    };
    let nodes = node_facts(&a.node_facts)?;
    // Node facts alone audit the nodes; otherwise no -f means the live cluster, as kubectl.
    let live = g.kubeconfig.is_some()
        || g.context.is_some()
        || (g.filename.is_empty() && nodes.is_empty());
    let timing = std::env::var_os("VIRTGUARD_TIMING").is_some();
    let t0 = std::time::Instant::now();
    // A spinner on a terminal while the snapshot loads (shown after a moment, cleared after).
    let spinner = (!g.quiet && std::io::stderr().is_terminal()).then(|| {
        // Cleared however the audit ends (an input error drops it early).
        let pb = indicatif::ProgressBar::with_draw_target(
            None,
            indicatif::ProgressDrawTarget::stderr_with_hz(8),
        )
        .with_finish(indicatif::ProgressFinish::AndClear);
        pb.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        pb.set_message(if g.filename.is_empty() {
            "reading the cluster".to_string()
        } else {
            format!("loading {}", g.filename.join(", "))
        });
        pb.enable_steady_tick(std::time::Duration::from_millis(125));
        pb
    });
    let gathered = gather(g, virtguard_live::Scope::Audit, live, a.include_secret_data)?;
    print_warnings(g, &gathered.snapshot);
    let inputs = gathered.inputs;
    let mut snapshot = gathered.snapshot;
    let skipped = skipped(&snapshot);
    install(&snapshot)?; // two KubeVirt CRs or an invalid strategy: input errors
    let chosen = defaults_for(&g.defaults, &snapshot)?;
    let n_user = snapshot.objects.len();
    let (defaults, version) = match chosen {
        Some(c) => {
            let objects = c.catalog.objects.clone();
            let added = snapshot.add_defaults(c.catalog);
            announce(&c.note, added, g.quiet);
            (objects, c.kubevirt)
        }
        None => (Vec::new(), None),
    };
    if timing {
        eprintln!("timing: audit: load {:?}", t0.elapsed());
    }
    let cedar = crate::input::policy_set(&g.policies, &snapshot.objects, g.allow_lockout)?
        .filter(|c| !c.is_empty())
        .map(CedarPre::new);
    let policy = virtguard_rbac::Policy::new(snapshot.roles(), snapshot.bindings());
    // Escalation paths (opt-in) read the whole snapshot's facts, defaults included, as `paths`.
    let path_facts = sel
        .wants_paths()
        .then(|| virtguard_paths::Facts::from_objects(&snapshot.objects));
    // The policy holds the RBAC now: keep only the objects the other checks read (everything
    // but RBAC, and the component roles compared with the release), free the rest off the
    // critical path.
    let components: std::collections::HashSet<(String, String, String)> = defaults
        .iter()
        .filter(|o| matches!(o.kind.as_str(), "Role" | "ClusterRole"))
        .map(|o| (o.kind.clone(), o.namespace.clone(), o.name.clone()))
        .collect();
    let mut kept = Vec::new();
    let mut freed = Vec::new();
    for (i, o) in std::mem::take(&mut snapshot.objects)
        .into_iter()
        .enumerate()
    {
        let rbac = matches!(
            o.kind.as_str(),
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding"
        ) && o.api_version.starts_with("rbac.authorization.k8s.io/");
        let keep = i < n_user
            && (!rbac
                || components.contains(&(o.kind.clone(), o.namespace.clone(), o.name.clone())));
        if keep {
            kept.push(o);
        } else {
            freed.push(o);
        }
    }
    std::thread::spawn(move || drop(freed));
    if timing {
        eprintln!("timing: audit: policy {:?}", t0.elapsed());
    }
    let mut ctx = Context::new(&kept, &policy, &defaults, version, &nodes, &skipped);
    ctx.pre = cedar
        .as_ref()
        .map(|c| c as &dyn virtguard_audit::PreAuthorizer);
    ctx.now = Some(match &a.now {
        Some(t) => time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .with_context(|| format!("--now {t:?}: not an RFC 3339 time"))?,
        None => time::OffsetDateTime::now_utc(),
    });
    if timing {
        eprintln!("timing: audit: context {:?}", t0.elapsed());
    }
    let mut findings = run(&ctx, &sel);
    let path_answer = path_facts.as_ref().map(|facts| {
        let deny = |attrs: &virtguard_rbac::Attributes<'_>| {
            cedar.as_ref().is_some_and(|c| c.denies_request(attrs))
        };
        virtguard_paths::find_paths_with(
            &policy,
            facts,
            &virtguard_paths::Options::default(),
            cedar
                .is_some()
                .then_some(&deny as virtguard_paths::Deny<'_>),
        )
    });
    if let Some(answer) = &path_answer {
        findings.extend(virtguard_audit::path_findings(answer, &ctx, &sel));
        findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        findings.dedup();
    }
    if let Some(pb) = spinner {
        pb.finish_and_clear();
    }
    if timing {
        eprintln!("timing: audit: checks {:?}", t0.elapsed());
    }
    let today = a.today.clone().unwrap_or_else(today);
    let (findings, suppressed) = apply_suppressions(findings, &suppressions, &today)
        .with_context(|| format!("--suppress {}", a.suppress.as_deref().unwrap_or_default()))?;
    let ran: Vec<_> = CHECKS.iter().copied().filter(|c| sel.wants(c.id)).collect();
    let generated = crate::render::now_rfc3339();
    let matrix = (g.output == Some(Output::Html))
        .then(|| crate::cmd::matrix::default_roles_fragment(&policy));
    // The HTML report draws the paths its findings report (after suppressions).
    let reported = path_answer
        .as_ref()
        .filter(|_| g.output == Some(Output::Html))
        .map(|answer| virtguard_audit::reported_paths(answer, &findings));
    let report = AuditReport {
        findings: &findings,
        suppressed: &suppressed,
        checks: &ran,
        tool_version: env!("CARGO_PKG_VERSION"),
        inputs: &inputs,
        kubevirt_version: version,
        generated: &generated,
        matrix_html: matrix.as_deref(),
        paths: reported.as_ref().map(|answer| virtguard_report::PathsView {
            answer,
            policy: &policy,
        }),
    };
    let text = match g.output {
        Some(Output::Json) => {
            let mut s = serde_json::to_string_pretty(&virtguard_report::to_json(&report))?;
            s.push('\n');
            s
        }
        Some(Output::Yaml) => serde_yaml_ng::to_string(&virtguard_report::to_json(&report))?,
        Some(Output::Sarif) => {
            let mut s = serde_json::to_string_pretty(&virtguard_report::sarif(&report))?;
            s.push('\n');
            s
        }
        Some(Output::Junit) => virtguard_report::junit(&report),
        Some(Output::Html) => virtguard_report::html(&report),
        // (-o dot is refused before any command runs: it is only for paths.)
        Some(Output::Text | Output::Dot) | None => {
            let tty = a.output_file.is_none() && std::io::stdout().is_terminal();
            let color = tty && !g.no_color && std::env::var_os("NO_COLOR").is_none();
            let width = if tty { 160 } else { usize::MAX };
            virtguard_report::table(&report, color, width)
        }
    };
    if timing {
        eprintln!("timing: audit: render {:?}", t0.elapsed());
    }
    if !g.quiet {
        match &a.output_file {
            Some(f) => std::fs::write(f, text).with_context(|| format!("--output-file {f}"))?,
            None => print!("{text}"),
        }
    }
    // Process-lifetime data: freeing it object by object at exit would only cost time.
    std::mem::forget(ctx);
    std::mem::forget((policy, kept, defaults));
    let failed = fail_on.is_some_and(|t| findings.iter().any(|f| f.severity >= t));
    Ok(if failed { EXIT_FINDINGS } else { 0 })
}

/// The Cedar policies as the authorizer before RBAC, for the RBAC checks: a grant every member
/// of whose subject a `forbid` denies is not reported, and a `permit` of a risky right is
/// (VG111). Subjects are judged by a representative member (`virtguard_policy::representative`)
/// and the groups the policies name; the permit search asks the users and groups the policies
/// name and the broad groups.
struct CedarPre {
    set: virtguard_policy::PolicySet,
    groups: Vec<String>,
    candidates: Vec<virtguard_rbac::Subject>,
}

impl CedarPre {
    fn new(set: virtguard_policy::PolicySet) -> Self {
        use virtguard_rbac::{Subject, SubjectKind};
        let groups = set.named_groups();
        let mut candidates: Vec<Subject> = groups
            .iter()
            .chain(
                [
                    "system:authenticated",
                    "system:unauthenticated",
                    "system:serviceaccounts",
                ]
                .iter()
                .map(|g| g.to_string())
                .collect::<Vec<_>>()
                .iter(),
            )
            .map(|g| Subject::new(SubjectKind::Group, g.clone(), ""))
            .collect();
        candidates.extend(
            set.named_users()
                .into_iter()
                .map(|u| Subject::new(SubjectKind::User, u, "")),
        );
        candidates.sort();
        candidates.dedup();
        CedarPre {
            set,
            groups,
            candidates,
        }
    }

    fn judge(
        &self,
        subject: &virtguard_rbac::Subject,
        namespace: &str,
        verb: &str,
        group: &str,
        resource: &str,
    ) -> virtguard_policy::SubjectVerdict {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        let nobody = virtguard_rbac::User::default();
        let attrs = virtguard_rbac::Attributes::resource(
            &nobody,
            verb,
            virtguard_rbac::ResourceAttributes {
                namespace,
                api_group: group,
                resource,
                subresource,
                name: "",
            },
        );
        self.set.judge(subject, &attrs, &self.groups)
    }
}

impl CedarPre {
    /// Whether a `forbid` denies the request (system:masters is never asked): the edges of
    /// the escalation-path search it prunes.
    fn denies_request(&self, attrs: &virtguard_rbac::Attributes<'_>) -> bool {
        crate::input::cedar_denies(&self.set, attrs)
    }
}

impl virtguard_audit::PreAuthorizer for CedarPre {
    fn denies(
        &self,
        subject: &virtguard_rbac::Subject,
        namespace: &str,
        verb: &str,
        group: &str,
        resource: &str,
    ) -> bool {
        self.judge(subject, namespace, verb, group, resource)
            .every_member_denied()
    }

    fn permits(
        &self,
        namespace: &str,
        verb: &str,
        group: &str,
        resource: &str,
    ) -> Vec<(virtguard_rbac::Subject, String)> {
        self.candidates
            .iter()
            .filter_map(|c| {
                let v = self.judge(c, namespace, verb, group, resource);
                match (&v.denied, v.permitted) {
                    (None, Some(p)) => Some((c.clone(), p.to_string())),
                    _ => None,
                }
            })
            .collect()
    }
}
