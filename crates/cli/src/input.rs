//! Loading what the commands evaluate: the snapshot (with `--defaults`) and the discovery table
//! extended by the snapshot's CRDs. Warnings go to stderr, errors carry file and line.

use anyhow::{bail, Context, Result};
use std::sync::Arc;
use virtguard_catalog::{ApiResource, Discovery};
use virtguard_rbac::Policy;

use serde_json::Value;
use virtguard_catalog::{
    feature_gates, files, newest_kubevirt, opt_out_gate_enabled, resolve_version, unknown_gates,
    Component, Defaults, Rendering, Selection, CDI_VERSIONS,
};
use virtguard_live::Scope;
use virtguard_snapshot::{from_texts, load, Format, Input, LoadOptions, Problem, Snapshot};

use crate::args::Global;

/// The loaded inputs of a command.
pub struct Loaded {
    pub policy: Policy,
    pub discovery: Discovery,
    /// The Cedar policies of `--policies` and the snapshot's Policy objects, when any.
    pub cedar: Option<virtguard_policy::PolicySet>,
}

impl Loaded {
    /// The authorizer chain: `system:masters`, the Cedar policies, RBAC.
    pub fn chain(&self) -> virtguard_policy::Chain<'_> {
        virtguard_policy::Chain::new(&self.policy, self.cedar.as_ref())
    }
}

/// Whether an object is a `cedar.k8s.aws` Policy (any version: a wrong one is reported).
pub fn is_policy_object(o: &virtguard_snapshot::Object) -> bool {
    o.kind == virtguard_policy::POLICY_KIND && o.api_version.starts_with("cedar.k8s.aws/")
}

/// The Cedar policy set of `paths` (files or directories) and of the Policy objects among
/// `objects`; `None` when there is none. Invalid policies are an error (one line each, naming
/// file:line:column and the policy); so is a set that would lock the control plane out, unless
/// `allow_lockout`.
pub fn policy_set<'o>(
    paths: &[String],
    objects: impl IntoIterator<Item = &'o virtguard_snapshot::Object>,
    allow_lockout: bool,
) -> Result<Option<virtguard_policy::PolicySet>> {
    let mut sources =
        virtguard_policy::source::load_paths(paths).context("cannot read --policies")?;
    sources.extend(policy_object_sources(objects)?);
    compile_policies(&sources, allow_lockout)
}

/// The `(name, text)` sources of the Policy objects among `objects`.
pub fn policy_object_sources<'o>(
    objects: impl IntoIterator<Item = &'o virtguard_snapshot::Object>,
) -> Result<Vec<(String, String)>> {
    let mut sources = Vec::new();
    for o in objects {
        if !is_policy_object(o) {
            continue;
        }
        let Some(value) = o.value() else {
            bail!("{}: a Policy object that was not read as one", o.source);
        };
        let (name, text) = virtguard_policy::policy_object_source(value)
            .map_err(|e| anyhow::anyhow!("{}: {e}", o.source))?;
        sources.push((name, text));
    }
    Ok(sources)
}

/// Compiles policy sources (`None` when there is none), refusing a set that would lock the
/// control plane out unless `allow_lockout`.
pub fn compile_policies(
    sources: &[(String, String)],
    allow_lockout: bool,
) -> Result<Option<virtguard_policy::PolicySet>> {
    if sources.is_empty() {
        return Ok(None);
    }
    let set = virtguard_policy::PolicySet::from_sources(sources)?;
    let lockout = set.lockout();
    if !lockout.is_empty() && !allow_lockout {
        let lines: Vec<String> = lockout
            .iter()
            .map(|l| {
                format!(
                    "{} would deny {}: {}",
                    l.policy,
                    l.identity,
                    l.requests.join(", ")
                )
            })
            .collect();
        bail!(
            "refusing a policy set that locks the cluster out (pass --allow-lockout to accept it):\n{}",
            lines.join("\n")
        );
    }
    Ok(Some(set))
}

/// Warnings printed before the rest are summarised in one line.
const MAX_WARNINGS: usize = 20;

/// What the snapshot says about its KubeVirt installation.
pub struct Install {
    /// The version and where it was found.
    pub version: Option<(String, String)>,
    /// The install namespace (the KubeVirt CR's).
    pub namespace: String,
    /// `roleAggregationStrategy: Manual`.
    pub manual: bool,
    /// `developerConfiguration.featureGates`.
    pub enabled: Vec<String>,
    /// `developerConfiguration.disabledFeatureGates`.
    pub disabled: Vec<String>,
    /// `virtTemplateDeployment.enabled: false`.
    pub virt_template_disabled: bool,
}

/// Reads the KubeVirt CR (and virt-operator Deployment) of a snapshot.
pub fn install(snapshot: &Snapshot) -> Result<Install> {
    let mut out = Install {
        version: None,
        namespace: String::new(),
        manual: false,
        enabled: Vec::new(),
        disabled: Vec::new(),
        virt_template_disabled: false,
    };
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    let crs: Vec<_> = snapshot
        .objects
        .iter()
        .filter(|o| o.kind == "KubeVirt" && o.api_version.starts_with("kubevirt.io/"))
        .collect();
    if crs.len() > 1 {
        bail!(
            "the snapshot has {} KubeVirt CRs ({}); a cluster has one (KubeVirt rejects a second: \"Kubevirt is already created\")",
            crs.len(),
            crs.iter()
                .map(|o| format!("{} at {}", o.describe(), o.source))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(cr) = crs.first() {
        if let Some(strategy) = cr
            .value()
            .and_then(|v| v.pointer("/spec/configuration/roleAggregationStrategy"))
        {
            match strategy.as_str() {
                Some("AggregateToDefault" | "Manual") => {}
                _ => bail!(
                    "{}: {}: spec.configuration.roleAggregationStrategy: Unsupported value: {strategy}: supported values: \"AggregateToDefault\", \"Manual\"",
                    cr.source,
                    cr.describe()
                ),
            }
        }
        if let Some(v) = cr.value() {
            out.namespace = cr.namespace.clone();
            if let Some(ver) = v
                .pointer("/status/observedKubeVirtVersion")
                .and_then(Value::as_str)
            {
                out.version = Some((
                    ver.to_string(),
                    format!(
                        "KubeVirt {}/{} status.observedKubeVirtVersion",
                        cr.namespace, cr.name
                    ),
                ));
            }
            out.manual = v
                .pointer("/spec/configuration/roleAggregationStrategy")
                .and_then(Value::as_str)
                == Some("Manual");
            out.enabled =
                strings(v.pointer("/spec/configuration/developerConfiguration/featureGates"));
            out.disabled = strings(
                v.pointer("/spec/configuration/developerConfiguration/disabledFeatureGates"),
            );
            out.virt_template_disabled = v
                .pointer("/spec/configuration/virtTemplateDeployment/enabled")
                .and_then(Value::as_bool)
                == Some(false);
        }
    }
    if out.version.is_none() {
        for o in snapshot
            .objects
            .iter()
            .filter(|o| o.kind == "Deployment" && o.name == "virt-operator")
        {
            let image = o
                .value()
                .and_then(|v| v.pointer("/spec/template/spec/containers/0/image"))
                .and_then(Value::as_str);
            if let Some(tag) = image.and_then(|i| i.rsplit_once(':')).map(|(_, t)| t) {
                out.version = Some((
                    tag.to_string(),
                    format!("Deployment {}/virt-operator image tag", o.namespace),
                ));
                if out.namespace.is_empty() {
                    out.namespace = o.namespace.clone();
                }
                break;
            }
        }
    }
    Ok(out)
}

/// Adds the built-in roles `--defaults` asks for to the snapshot, and says on stderr what was
/// chosen and why.
fn apply_defaults(spec: &str, snapshot: &mut Snapshot, quiet: bool) -> Result<()> {
    if let Some(d) = defaults_for(spec, snapshot)? {
        let note = d.note.clone();
        let added = snapshot.add_defaults(d.catalog);
        announce(&note, added, quiet);
    }
    Ok(())
}

/// The built-in objects `--defaults` selects for a snapshot (not merged), with the KubeVirt
/// release they were rendered for.
pub struct ChosenDefaults {
    /// The catalog objects.
    pub catalog: Snapshot,
    /// What was chosen and why, for [`announce`].
    pub note: DefaultsNote,
    /// The KubeVirt release, when KubeVirt's roles are among them.
    pub kubevirt: Option<&'static str>,
}

/// What `--defaults` chose and why (said on stderr once the defaults are merged).
#[derive(Debug, Clone)]
pub struct DefaultsNote {
    spec: String,
    names: Vec<String>,
    reasons: Vec<String>,
}

/// Says on stderr which defaults were added (`added`: how many objects the snapshot lacked).
pub fn announce(note: &DefaultsNote, added: usize, quiet: bool) {
    if !quiet {
        eprintln!(
            "note: --defaults {}: {} added {added} built-in objects (objects in the snapshot win){}",
            note.spec,
            note.names.join(","),
            note.reasons
                .iter()
                .map(|n| format!("; {n}"))
                .collect::<String>()
        );
    }
}

/// Picks and renders the defaults for a snapshot; `None` for `--defaults none`.
pub fn defaults_for(spec: &str, snapshot: &Snapshot) -> Result<Option<ChosenDefaults>> {
    let defaults = Defaults::parse(spec)?;
    if defaults == Defaults::None {
        return Ok(None);
    }
    let inst = install(snapshot)?;
    let mut why = String::new();
    let selections = match defaults {
        Defaults::None => return Ok(None),
        Defaults::List(l) => l,
        Defaults::Auto => {
            let kv = match &inst.version {
                Some((v, source)) => match resolve_version(Component::KubeVirt, v) {
                    Ok(c) => {
                        why = format!("KubeVirt {c} (from {source}: {v})");
                        c
                    }
                    Err(_) => {
                        let c = newest_kubevirt();
                        why = format!("KubeVirt {c}, the newest in the catalog ({source} says {v}, which the catalog does not hold)");
                        c
                    }
                },
                None => {
                    let c = newest_kubevirt();
                    why = format!("KubeVirt {c}, the newest in the catalog (no KubeVirt CR version or virt-operator image in the snapshot)");
                    c
                }
            };
            vec![
                Selection {
                    component: Component::Kubernetes,
                    version: "",
                },
                Selection {
                    component: Component::KubeVirt,
                    version: kv,
                },
                Selection {
                    component: Component::Cdi,
                    version: CDI_VERSIONS[CDI_VERSIONS.len() - 1],
                },
            ]
        }
    };
    let mut notes = Vec::new();
    let catalog = catalog_snapshot(&selections, &inst, None, &mut notes)?;
    let kubevirt = selections
        .iter()
        .find(|s| s.component == Component::KubeVirt)
        .map(|s| s.version);
    let names: Vec<String> = selections
        .iter()
        .map(|s| {
            if s.version.is_empty() {
                s.component.to_string()
            } else {
                format!("{}@{}", s.component, s.version)
            }
        })
        .collect();
    let reasons: Vec<String> = (!why.is_empty())
        .then_some(why)
        .into_iter()
        .chain(notes)
        .collect();
    let note = DefaultsNote {
        spec: spec.to_string(),
        names,
        reasons,
    };
    Ok(Some(ChosenDefaults {
        catalog,
        note,
        kubevirt,
    }))
}

/// Notes naming the feature gates in the lists that KubeVirt `version` does not know (it ignores
/// them), with the names it does know.
pub fn unknown_gate_notes(version: &str, enabled: &[String], disabled: &[String]) -> Vec<String> {
    let listed: Vec<String> = enabled.iter().chain(disabled).cloned().collect();
    let unknown = unknown_gates(version, &listed);
    if unknown.is_empty() {
        return Vec::new();
    }
    let known: Vec<String> = feature_gates(version).into_iter().map(|g| g.name).collect();
    vec![format!(
        "unknown feature gate{} {} for KubeVirt {version} (KubeVirt ignores {}); known gates: {}",
        if unknown.len() == 1 { "" } else { "s" },
        unknown
            .iter()
            .map(|u| format!("\"{u}\""))
            .collect::<Vec<_>>()
            .join(", "),
        if unknown.len() == 1 { "it" } else { "them" },
        known.join(", ")
    )]
}

/// The catalog objects of the selections, rendered for the installation the snapshot shows;
/// `manual` overrides the CR's strategy (for strategy diffs). What was decided goes to `notes`.
pub fn catalog_snapshot(
    selections: &[Selection],
    inst: &Install,
    manual: Option<bool>,
    notes: &mut Vec<String>,
) -> Result<Snapshot> {
    let mut texts = Vec::new();
    for sel in selections {
        let mut rendering = Rendering {
            namespace: if sel.component == Component::KubeVirt {
                inst.namespace.clone()
            } else {
                String::new()
            },
            manual_aggregation: false,
            feature_gates: inst.enabled.clone(),
            disabled_feature_gates: inst.disabled.clone(),
            virt_template_disabled: inst.virt_template_disabled,
        };
        if sel.component == Component::KubeVirt {
            notes.extend(unknown_gate_notes(
                sel.version,
                &inst.enabled,
                &inst.disabled,
            ));
        }
        let want_manual = manual.unwrap_or(inst.manual);
        if sel.component == Component::KubeVirt && want_manual {
            if manual.is_some() {
                if opt_out_gate_enabled(sel.version, &[], &[]).is_none() {
                    bail!(
                        "KubeVirt {} does not support spec.configuration.roleAggregationStrategy (it was added in v1.8.0)",
                        sel.version
                    );
                }
                rendering.manual_aggregation = true;
            } else {
                match opt_out_gate_enabled(sel.version, &inst.enabled, &inst.disabled) {
                    Some(true) => {
                        rendering.manual_aggregation = true;
                        notes.push("roleAggregationStrategy Manual: KubeVirt's aggregate-to-* labels rendered \"false\"".to_string());
                    }
                    Some(false) => notes.push("roleAggregationStrategy: Manual is set but the OptOutRoleAggregation feature gate is off (KubeVirt's admission would reject it); rendered as AggregateToDefault".to_string()),
                    None => notes.push(format!("roleAggregationStrategy: Manual is set but KubeVirt {} has no such field; rendered as AggregateToDefault", sel.version)),
                }
            }
        }
        for f in files(sel, &rendering) {
            texts.push((Arc::<str>::from(f.name.as_str()), f.text, Format::Yaml));
        }
    }
    from_texts(texts, &LoadOptions::default())
        .context("the built-in role catalog does not load (a defect)")
}

/// Loads the snapshot at `paths`, printing its warnings (at most [`MAX_WARNINGS`]).
pub fn load_snapshot(g: &Global, paths: &[String]) -> Result<Snapshot> {
    let inputs: Vec<Input> = paths.iter().map(|f| Input::parse(f)).collect();
    let snapshot = load(
        &inputs,
        &LoadOptions {
            skip_invalid: g.skip_invalid,
        },
    )
    .with_context(|| format!("cannot load the snapshot {}", paths.join(", ")))?;
    print_warnings(g, &snapshot);
    Ok(snapshot)
}

/// Prints a snapshot's warnings on stderr (at most [`MAX_WARNINGS`]) unless `--quiet`.
pub fn print_warnings(g: &Global, snapshot: &Snapshot) {
    if !g.quiet {
        for w in snapshot.warnings.iter().take(MAX_WARNINGS) {
            eprintln!("warning: {w}");
        }
        if snapshot.warnings.len() > MAX_WARNINGS {
            eprintln!(
                "warning: … and {} more warnings like these (not shown)",
                snapshot.warnings.len() - MAX_WARNINGS
            );
        }
    }
}

/// Whether a command reads a live cluster: `--kubeconfig` or `--context` given, or no `-f`
/// (then `$KUBECONFIG`, `~/.kube/config` or the pod's service account, as kubectl).
pub fn wants_live(g: &Global) -> bool {
    g.kubeconfig.is_some() || g.context.is_some() || g.filename.is_empty()
}

/// What a command evaluates, with the names of its inputs (files as given, `cluster <context>`).
pub struct Gathered {
    /// The objects; warnings not yet printed.
    pub snapshot: Snapshot,
    /// `-f` paths and `cluster <context>`, for reports.
    pub inputs: Vec<String>,
}

/// The snapshot of `-f` files and, when `live`, the cluster's objects of `scope` under them
/// (objects in the files win, as they win over `--defaults`).
pub fn gather(g: &Global, scope: Scope, live: bool, include_secret_data: bool) -> Result<Gathered> {
    let files = if g.filename.is_empty() {
        None
    } else {
        let inputs: Vec<Input> = g.filename.iter().map(|f| Input::parse(f)).collect();
        Some(
            load(
                &inputs,
                &LoadOptions {
                    skip_invalid: g.skip_invalid,
                },
            )
            .context("cannot load the snapshot")?,
        )
    };
    let mut inputs = g.filename.clone();
    if !live {
        return Ok(Gathered {
            snapshot: files.unwrap_or_default(),
            inputs,
        });
    }
    let (mut snapshot, context) = read_live(g, scope, include_secret_data)?;
    inputs.push(format!("cluster {context}"));
    if let Some(f) = files {
        snapshot.warnings.extend(f.warnings.iter().cloned());
        snapshot.overlay(f);
    }
    Ok(Gathered { snapshot, inputs })
}

/// The snapshot of what was read from cluster `context`: one JSON List per kind through the
/// loader's JSON path, each object's source `cluster <context>: Kind/namespace/name`, the read's
/// warnings (403s, missing kinds) as the snapshot's.
pub fn snapshot_of_read(
    read: virtguard_live::Read,
    context: &str,
    skip_invalid: bool,
) -> Result<Snapshot> {
    let texts = read
        .lists
        .into_iter()
        .map(|l| {
            (
                Arc::<str>::from(format!("cluster {context}: {}", l.kind.qualified())),
                l.document,
                Format::Json,
            )
        })
        .collect();
    let mut snapshot = from_texts(texts, &LoadOptions { skip_invalid })
        .with_context(|| format!("cannot load what cluster {context} returned"))?;
    snapshot.label_live(context);
    snapshot
        .warnings
        .extend(read.warnings.into_iter().map(|w| Problem {
            location: format!("cluster {context}"),
            object: None,
            message: w,
        }));
    Ok(snapshot)
}

/// The `--kubeconfig`/`--context` of a command, as kube-rs takes them.
pub fn live_target(g: &Global) -> virtguard_live::Target {
    virtguard_live::Target {
        kubeconfig: g.kubeconfig.as_ref().map(std::path::PathBuf::from),
        context: g.context.clone(),
    }
}

/// Reads the kinds of `scope` from the cluster `--kubeconfig`/`--context` name; its objects'
/// sources read `cluster <context>: Kind/namespace/name`. Returns the context's name too.
pub fn read_live(
    g: &Global,
    scope: Scope,
    include_secret_data: bool,
) -> Result<(Snapshot, String)> {
    let target = live_target(g);
    let opts = virtguard_live::Options {
        scope,
        include_secret_data,
        ..virtguard_live::Options::default()
    };
    let progress = crate::render::ListProgress::new(g.quiet);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (read, context) = runtime.block_on(async {
        let cluster = virtguard_live::connect(&target).await?;
        let read = cluster.read(&opts, &progress).await?;
        Ok::<_, virtguard_live::LiveError>((read, cluster.context.clone()))
    })?;
    progress.finish();
    let snapshot = snapshot_of_read(read, &context, g.skip_invalid)?;
    Ok((snapshot, context))
}

/// The policy of a snapshot with `--defaults` applied (for commands that compare policies).
pub fn policy_of(g: &Global, mut snapshot: Snapshot) -> Result<Policy> {
    apply_defaults(&g.defaults, &mut snapshot, g.quiet)?;
    let (roles, bindings, _) = snapshot.into_rbac();
    Ok(Policy::new(roles, bindings))
}

/// Loads the snapshot named by `-f`, builds the policy and discovery table. The result lives as
/// long as the process: freeing a large policy object by object at exit would only cost time.
pub fn load_all(g: &Global) -> Result<&'static Loaded> {
    Defaults::parse(&g.defaults)?;
    let mut timer = crate::timing::Timer::from_env();
    let mut snapshot = gather(g, Scope::Rbac, wants_live(g), false)?.snapshot;
    let quiet = g.quiet;
    let mut shown = 0usize;
    let mut say = |line: String| {
        if !quiet {
            if shown < MAX_WARNINGS {
                eprintln!("{line}");
            }
            shown += 1;
        }
    };
    for w in &snapshot.warnings {
        say(format!("warning: {w}"));
    }
    timer.mark(&format!("load ({} objects)", snapshot.objects.len()));
    apply_defaults(&g.defaults, &mut snapshot, g.quiet)?;
    timer.mark("defaults");
    let cedar = policy_set(&g.policies, &snapshot.objects, g.allow_lockout)?;
    let mut crds = Vec::new();
    for o in snapshot.of_kind("CustomResourceDefinition") {
        if let Some(v) = o.value() {
            match ApiResource::from_crd(v) {
                Ok(r) => crds.push(r),
                Err(e) if !quiet => eprintln!("warning: {}: {e}", o.source),
                Err(_) => {}
            }
        }
    }
    // The objects are not needed past this point: the RBAC ones are taken apart into roles and
    // bindings (their strings moved, not copied), the others freed on another thread while the
    // policy is built, which lowers the peak and keeps the freeing off the critical path.
    let (roles, bindings, rest) = snapshot.into_rbac();
    std::thread::spawn(move || drop(rest));
    timer.mark("convert");
    let policy = virtguard_rbac::Policy::new(roles, bindings);
    timer.mark("policy");
    // Every command that loads this way queries the index: build it now, before the queries'
    // own allocations (decisions run ~25 % faster with the index laid out first).
    policy.build_index();
    timer.mark("index");
    for w in policy.warnings() {
        say(match &w.origin {
            Some(o) => format!("warning: {o}: {}: {}", w.object, w.message),
            None => format!("warning: {}: {}", w.object, w.message),
        });
    }
    if shown > MAX_WARNINGS {
        eprintln!(
            "warning: … and {} more warnings like these (not shown)",
            shown - MAX_WARNINGS
        );
    }
    let mut discovery = Discovery::builtin()?;
    discovery.extend(crds);
    Ok(Box::leak(Box::new(Loaded {
        policy,
        discovery,
        cedar,
    })))
}

/// What `serve --api` reads, kept for reloads.
#[derive(Debug, Clone)]
pub struct ApiSource {
    /// `-f` paths.
    pub filename: Vec<String>,
    /// `--defaults`.
    pub defaults: String,
    /// `--skip-invalid`.
    pub skip_invalid: bool,
    /// The live cluster's objects, read at start and again every resync (reloads lay the files
    /// over the latest read).
    pub live: Option<Arc<std::sync::RwLock<Arc<Snapshot>>>>,
    /// Without `-f` or a cluster, serve an empty snapshot instead of refusing to start
    /// (`serve --authorize` alone: the policy files decide).
    pub allow_empty: bool,
}

/// Loads the snapshot for the API facade: its objects with `--defaults` merged (the built-in
/// roles are objects of a real cluster too), their policy and the discovery table extended by
/// the snapshot's CRDs. `quiet` silences warnings and notes (reloads).
pub fn load_for_api(src: &ApiSource, quiet: bool) -> Result<virtguard_apiserver::Loaded> {
    if src.filename.is_empty() && src.live.is_none() {
        if src.allow_empty {
            return Ok(virtguard_apiserver::Loaded {
                objects: Vec::new(),
                policy: Policy::new(Vec::new(), Vec::new()),
                discovery: Discovery::builtin()?,
            });
        }
        bail!("no snapshot given: pass -f PATH (a manifest file, a directory, or - for stdin) or --kubeconfig");
    }
    let inputs: Vec<Input> = src.filename.iter().map(|f| Input::parse(f)).collect();
    let files = load(
        &inputs,
        &LoadOptions {
            skip_invalid: src.skip_invalid,
        },
    )
    .context("cannot load the snapshot")?;
    let mut snapshot = match &src.live {
        Some(live) => {
            let latest = match live.read() {
                Ok(g) => g.clone(),
                Err(p) => p.into_inner().clone(),
            };
            let mut s = Snapshot::clone(&latest);
            s.warnings.clear();
            s.warnings.extend(files.warnings.iter().cloned());
            s.overlay(files);
            s
        }
        None => files,
    };
    if !quiet {
        for w in snapshot.warnings.iter().take(MAX_WARNINGS) {
            eprintln!("warning: {w}");
        }
    }
    apply_defaults(&src.defaults, &mut snapshot, quiet)?;
    let mut crds = Vec::new();
    for o in snapshot.of_kind("CustomResourceDefinition") {
        if let Some(r) = o.value().and_then(|v| ApiResource::from_crd(v).ok()) {
            crds.push(r);
        }
    }
    let policy = Policy::new(snapshot.roles(), snapshot.bindings());
    let mut discovery = Discovery::builtin()?;
    discovery.extend(crds);
    Ok(virtguard_apiserver::Loaded {
        objects: snapshot.objects,
        policy,
        discovery,
    })
}

/// Whether a Cedar `forbid` of `set` denies the request (system:masters is never asked): the
/// edges the escalation-path search prunes, in `paths` and `audit --paths`.
pub fn cedar_denies(
    set: &virtguard_policy::PolicySet,
    attrs: &virtguard_rbac::Attributes<'_>,
) -> bool {
    !attrs.user.is_privileged()
        && matches!(
            set.decide(&virtguard_policy::request_of(attrs)).decision,
            virtguard_policy::Decision::Deny { .. }
        )
}
