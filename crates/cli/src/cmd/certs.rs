//! `virtguard certs`: KubeVirt's PKI offline, as virt-operator manages it. The front end only:
//! flags, calls into `virtguard_pki` (issuing and rotation planning in [`virtguard_pki::reconcile`],
//! the checks of `inspect` in [`virtguard_pki::review`], the directory in
//! [`virtguard_pki::store`]), rendering and exit codes.
//!
//! * `init` issues the three CAs (`kubevirt-ca`, `kubevirt-export-ca`, `kubevirt-backup-ca`)
//!   and every component certificate into a directory (one sub-directory per secret, holding
//!   `tls.crt` / `tls.key`, plus `ca-bundle` for the CA ConfigMaps), or prints them as Secret
//!   and ConfigMap manifests.
//! * `rotate` applies virt-operator's reconcile to such a directory at an instant: regenerate
//!   what is missing, unloadable, re-configured, past its rotation deadline or forced, and merge
//!   the CA bundles (overlap window, external-CA inbox).
//! * `inspect` reports every secret of a directory or a snapshot (`-f`): identity, validity,
//!   next rotation, chain check against the bundle, and what is wrong (exit 1).
//! * `verify` is the mTLS peer check KubeVirt's components apply to each other.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use virtguard_pki::components::{CA_BUNDLE_KEY, EXTERNAL_CA_CONFIG_MAP};
use virtguard_pki::reconcile::Why;
use virtguard_pki::review::{Finding, Issue};
use virtguard_pki::secret::{config_map_manifest, gather_objects, secret_manifest, KubeObject};
use virtguard_pki::store::{read_text, PkiDir, StoreError};
use virtguard_pki::{
    format_go_duration, issue_all, parse_certificates, parse_go_duration, review, secret_template,
    verify_peer, CertKind, CertSummary, Certificate, DurationOverrides, GoDuration, KeyAlgorithm,
    PeerPolicy, PeerRole, PrivateKey, RotationRequest, Schedule, SelfSignConfiguration,
    DEFAULT_NAMESPACE, SECRETS,
};

use crate::args::{Global, Output};

/// `virtguard certs` flags.
#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    /// The certs sub-command.
    #[command(subcommand)]
    pub command: CertsCommand,
}

/// The `certs` sub-commands.
#[derive(Debug, clap::Subcommand)]
pub enum CertsCommand {
    /// Issue the KubeVirt, export and backup CAs and every component certificate (into --dir,
    /// or as Secret and ConfigMap manifests with -o yaml|json).
    #[command(after_help = INIT_EXAMPLES)]
    Init(InitArgs),
    /// Do what virt-operator's reconcile does to the certificates in --dir at an instant:
    /// regenerate what is due, missing, re-configured or forced, and merge the CA bundles.
    #[command(after_help = ROTATE_EXAMPLES)]
    Rotate(RotateArgs),
    /// Report every certificate secret of --dir or of a snapshot (-f): identity, validity,
    /// next rotation, chain check against the CA bundle, and problems.
    #[command(after_help = INSPECT_EXAMPLES)]
    Inspect(InspectArgs),
    /// The mTLS peer identity check between KubeVirt components: chain to the CA bundle with
    /// the right usage, and the CN of an allowed component type.
    #[command(after_help = VERIFY_EXAMPLES)]
    Verify(VerifyArgs),
}

/// Lifetimes of the CAs and of the component certificates (Go durations).
#[derive(Debug, clap::Args)]
pub struct DurationArgs {
    /// CA lifetime (`ca.duration`); init default 168h, rotate default: as initialised.
    #[arg(long = "ca-duration", value_name = "DURATION")]
    pub ca_duration: Option<String>,
    /// CA renewBefore, also the kubevirt-ca bundle overlap (default 0.2 × CA lifetime).
    #[arg(long = "ca-renew-before", value_name = "DURATION")]
    pub ca_renew_before: Option<String>,
    /// Component certificate lifetime (`server.duration`); init default 24h.
    #[arg(long = "cert-duration", value_name = "DURATION")]
    pub cert_duration: Option<String>,
    /// Component certificate renewBefore (default 0.2 × certificate lifetime).
    #[arg(long = "cert-renew-before", value_name = "DURATION")]
    pub cert_renew_before: Option<String>,
}

/// `virtguard certs init` flags.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Directory to write (one sub-directory per secret and CA ConfigMap). Not needed with
    /// -o yaml|json, which print manifests instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The namespace KubeVirt is installed in (used in CNs and SANs).
    #[arg(short = 'n', long, default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
    #[command(flatten)]
    pub durations: DurationArgs,
    /// Write into a non-empty --dir, replacing the files virtguard writes.
    #[arg(long)]
    pub force: bool,
    /// Issue at this instant instead of now.
    #[arg(long, value_name = "RFC3339", hide = true)]
    pub now: Option<String>,
}

/// `virtguard certs rotate` flags.
#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// Directory written by `certs init`.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Reconcile at this instant instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// Regenerate this secret whatever its state (as deleting it in the cluster would);
    /// repeatable.
    #[arg(long = "force", value_name = "SECRET")]
    pub force: Vec<String>,
    /// Regenerate kubevirt-ca (every component certificate follows, the old CA stays in the
    /// bundle for the overlap window).
    #[arg(long = "force-ca")]
    pub force_ca: bool,
    #[command(flatten)]
    pub durations: DurationArgs,
}

/// `virtguard certs inspect` flags.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Directory written by `certs init` (else the Secrets and ConfigMaps of -f are read).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Check at this instant instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// The namespace KubeVirt is installed in (default: from --dir's state file, the KubeVirt
    /// CR or the secrets of -f, else kubevirt).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
}

/// Which side of a connection the checked certificate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PeerUsage {
    /// A client certificate, checked by a listening component (clientAuth, `…:client:<type>`).
    Client,
    /// A server certificate, checked by a connecting component (serverAuth, `…:node:<type>`).
    Server,
}

/// `virtguard certs verify` flags.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// PEM CA bundle to trust (the `kubevirt-ca` ConfigMap's `ca-bundle`).
    #[arg(long = "ca-bundle", value_name = "FILE")]
    pub ca_bundle: PathBuf,
    /// PEM certificate the peer presents (leaf first).
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,
    /// PEM private key of the peer: checked to be ECDSA P-256 and to belong to --cert.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// What the peer is (default: from its CN, else from its extended key usage).
    #[arg(long, value_enum)]
    pub usage: Option<PeerUsage>,
    /// Accepted component type in the CN, e.g. virt-handler, migration, monitoring;
    /// repeatable (default: every type KubeVirt accepts for that usage).
    #[arg(long = "cn-type", value_name = "TYPE")]
    pub cn_type: Vec<String>,
    /// Check at this instant instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
}

const INIT_EXAMPLES: &str = "Examples:
  virtguard certs init --dir pki/
  virtguard certs init --dir pki/ -n openshift-cnv --ca-duration 48h --cert-duration 24h
  virtguard certs init -o yaml | kubectl apply -f -

Exit status: 0 issued, 2 usage or input error (e.g. a non-empty --dir without --force).";

const ROTATE_EXAMPLES: &str = "Examples:
  virtguard certs rotate --dir pki/
  virtguard certs rotate --dir pki/ --now 2025-01-02T03:00:00Z -o json
  virtguard certs rotate --dir pki/ --force-ca        # new CA; old one kept for the overlap
  virtguard certs rotate --dir pki/ --force kubevirt-virt-handler-certs

Exit status: 0 reconciled, 2 usage or input error.";

const INSPECT_EXAMPLES: &str = "Examples:
  virtguard certs inspect --dir pki/
  kubectl get secrets,configmaps -n kubevirt -o yaml > kv.yaml
  virtguard certs inspect -f kv.yaml -o json

Exit status: 0 no problem, 1 problems found, 2 usage or input error.";

const VERIFY_EXAMPLES: &str = "Examples:
  virtguard certs verify --ca-bundle pki/kubevirt-ca/ca-bundle \\
    --cert pki/kubevirt-virt-handler-certs/tls.crt --usage client --cn-type virt-handler
  virtguard certs verify --ca-bundle pki/kubevirt-ca/ca-bundle \\
    --cert pki/kubevirt-virt-handler-server-certs/tls.crt --usage server

Exit status: 0 accepted, 1 rejected (the reason KubeVirt gives is printed), 2 usage or input error.";

/// Runs `virtguard certs`.
pub fn run(g: &Global, a: &CertsArgs) -> Result<u8> {
    if !g.filename.is_empty() && !matches!(a.command, CertsCommand::Inspect(_)) {
        bail!("-f is only read by `certs inspect`");
    }
    match &a.command {
        CertsCommand::Init(a) => init(g, a),
        CertsCommand::Rotate(a) => rotate(g, a),
        CertsCommand::Inspect(a) => inspect(g, a),
        CertsCommand::Verify(a) => verify(g, a),
    }
}

// ---------------------------------------------------------------------------------------------
// Flags and rendering shared by the sub-commands

/// RFC 3339 text of an instant.
fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// `--now`, or the current time; whole seconds.
fn parse_now(s: Option<&str>) -> Result<OffsetDateTime> {
    let t = match s {
        None => OffsetDateTime::now_utc(),
        Some(s) => OffsetDateTime::parse(s, &Rfc3339).map_err(|e| {
            anyhow!("--now {s:?} is not an RFC 3339 time such as 2025-01-02T03:04:05Z ({e})")
        })?,
    };
    Ok(t.replace_nanosecond(0).unwrap_or(t))
}

/// A positive Go duration flag.
fn duration_flag(flag: &str, s: &str) -> Result<GoDuration> {
    let d = parse_go_duration(s).map_err(|e| anyhow!("--{flag}: {e}"))?;
    if d <= Duration::ZERO {
        bail!("--{flag} {s}: must be positive");
    }
    Ok(GoDuration(d))
}

/// The `selfSigned` settings: `base` with the duration flags applied, checked as the operator
/// webhook would.
fn settings(a: &DurationArgs, base: &SelfSignConfiguration) -> Result<SelfSignConfiguration> {
    let opt =
        |flag: &str, v: &Option<String>| v.as_deref().map(|s| duration_flag(flag, s)).transpose();
    let overrides = DurationOverrides {
        ca_duration: opt("ca-duration", &a.ca_duration)?,
        ca_renew_before: opt("ca-renew-before", &a.ca_renew_before)?,
        cert_duration: opt("cert-duration", &a.cert_duration)?,
        cert_renew_before: opt("cert-renew-before", &a.cert_renew_before)?,
    };
    Ok(base.with_overrides(&overrides)?)
}

fn kind_name(kind: CertKind) -> &'static str {
    match kind {
        CertKind::Ca => "ca",
        CertKind::Server => "server",
        CertKind::Client => "client",
    }
}

/// The effective rotation settings as Go duration strings.
fn schedule_json(s: &Schedule) -> Value {
    json!({
        "caDuration": format_go_duration(s.ca_duration),
        "caRenewBefore": format_go_duration(s.ca_renew_before),
        "certDuration": format_go_duration(s.cert_duration),
        "certRenewBefore": format_go_duration(s.cert_renew_before),
    })
}

fn print_json_or_yaml(v: &Value, output: Option<Output>) -> Result<()> {
    crate::render::print_structured(v, output == Some(Output::Yaml))
}

fn is_structured(output: Option<Output>) -> bool {
    matches!(output, Some(Output::Json | Output::Yaml))
}

fn cert_brief(c: &Certificate) -> Value {
    let s = c.summary();
    json!({
        "commonName": s.common_name,
        "notBefore": ts(s.not_before),
        "notAfter": ts(s.not_after),
        "sha256": s.sha256_fingerprint,
    })
}

fn cn_of(c: &Certificate) -> String {
    c.common_name().unwrap_or("(no CN)").to_string()
}

// ---------------------------------------------------------------------------------------------
// init

fn init(g: &Global, a: &InitArgs) -> Result<u8> {
    let now = parse_now(a.now.as_deref())?;
    if a.namespace.is_empty() {
        bail!("--namespace must not be empty");
    }
    let config = settings(&a.durations, &SelfSignConfiguration::default())?;
    let schedule = Schedule::from_config(Some(&config));
    let dir = match (&a.dir, is_structured(g.output)) {
        (Some(d), false) => Some(PkiDir::for_init(d, a.force).map_err(|e| match e {
            StoreError::NotEmpty { path } => anyhow!(
                "{}: directory is not empty (use --force to overwrite)",
                path.display()
            ),
            e => e.into(),
        })?),
        (None, false) => bail!("--dir is required (or -o yaml|json to print manifests)"),
        (Some(_), true) => {
            bail!("-o yaml|json prints manifests instead of writing --dir; give one of them")
        }
        (None, true) => None,
    };
    let issued = issue_all(&a.namespace, &schedule, now)?;

    let Some(dir) = dir else {
        let mut items = Vec::new();
        for (t, cert) in &issued.secrets {
            let duration = format_go_duration(schedule.duration_for(t));
            items.push(secret_manifest(
                t.secret_name,
                &a.namespace,
                &duration,
                cert,
            ));
        }
        for (kind, pem) in &issued.bundles {
            items.push(config_map_manifest(
                kind.config_map_name(),
                &a.namespace,
                pem,
            ));
        }
        items.push(config_map_manifest(
            EXTERNAL_CA_CONFIG_MAP,
            &a.namespace,
            "",
        ));
        if !g.quiet {
            if g.output == Some(Output::Yaml) {
                let mut out = String::new();
                for item in &items {
                    out.push_str("---\n");
                    out.push_str(&serde_yaml_ng::to_string(item)?);
                }
                print!("{out}");
            } else {
                let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
                println!("{}", serde_json::to_string_pretty(&list)?);
            }
        }
        return Ok(0);
    };

    dir.write_issued(&issued, &a.namespace, &config)?;
    if !g.quiet {
        let mut rows = vec![vec![
            "SECRET".to_string(),
            "KIND".into(),
            "COMMON NAME".into(),
            "NOT AFTER".into(),
        ]];
        for (t, cert) in &issued.secrets {
            let s = cert.certificate.summary();
            rows.push(vec![
                t.secret_name.to_string(),
                kind_name(t.kind).into(),
                s.common_name.clone().unwrap_or_default(),
                ts(s.not_after),
            ]);
        }
        print!("{}", crate::render::table(&rows));
        let root = dir.root().display();
        println!(
            "Issued {} certificates for namespace {} into {root} (CA bundles in {root}/<ca>/{CA_BUNDLE_KEY}); CA lifetime {}, certificate lifetime {}.",
            issued.secrets.len(),
            a.namespace,
            format_go_duration(schedule.ca_duration),
            format_go_duration(schedule.cert_duration),
        );
    }
    Ok(0)
}

// ---------------------------------------------------------------------------------------------
// rotate

fn why_json(why: &Why) -> Value {
    match why {
        Why::Forced(flag) => json!({"reason": "forced", "flag": flag}),
        Why::Operator(r) => serde_json::to_value(r).unwrap_or(Value::Null),
    }
}

fn rotate(g: &Global, a: &RotateArgs) -> Result<u8> {
    let dir = PkiDir::open(&a.dir).map_err(|e| match e {
        StoreError::NoSuchDirectory { path } => anyhow!(
            "{}: no such directory (create it with `virtguard certs init --dir {}`)",
            path.display(),
            path.display()
        ),
        e => e.into(),
    })?;
    let now = parse_now(a.now.as_deref())?;
    let mut state = dir.state()?;
    state.self_signed = settings(&a.durations, &state.self_signed)?;
    for name in &a.force {
        if secret_template(name).is_none() {
            let known: Vec<&str> = SECRETS.iter().map(|t| t.secret_name).collect();
            bail!(
                "--force {name}: not a secret virt-operator manages (one of {})",
                known.join(", ")
            );
        }
    }
    let request = RotationRequest {
        schedule: Schedule::from_config(Some(&state.self_signed)),
        now,
        force: a.force.clone(),
        force_ca: a.force_ca,
    };
    let r = dir.rotate(&state, &request)?;

    if g.quiet {
        return Ok(0);
    }
    if is_structured(g.output) {
        let v = json!({
            "now": ts(now),
            "namespace": r.namespace,
            "schedule": schedule_json(&r.schedule),
            "changed": r.changes.iter().map(|c| json!({
                "secret": c.secret,
                "reason": why_json(&c.why),
                "message": c.why.to_string(),
                "oldNotAfter": c.old_not_after.map(ts),
                "newNotAfter": ts(c.issued.certificate.not_after()),
            })).collect::<Vec<_>>(),
            "bundles": r.bundles.iter().map(|b| json!({
                "configMap": b.config_map,
                "changed": b.changed,
                "before": b.before.iter().map(cert_brief).collect::<Vec<_>>(),
                "after": b.after.iter().map(cert_brief).collect::<Vec<_>>(),
                "pruneAfter": b.prune_after.map(ts),
            })).collect::<Vec<_>>(),
            "upcoming": r.upcoming.iter().map(|u| json!({"what": u.what, "at": ts(u.at)})).collect::<Vec<_>>(),
            "nextRotation": r.upcoming.first().map(|u| json!({"what": u.what, "at": ts(u.at)})),
            "warnings": r.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        });
        print_json_or_yaml(&v, g.output)?;
        return Ok(0);
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    if r.changes.is_empty() {
        println!("Nothing to rotate at {}.", ts(now));
    } else {
        let mut rows = vec![vec![
            "SECRET".to_string(),
            "REASON".into(),
            "OLD NOT AFTER".into(),
            "NEW NOT AFTER".into(),
        ]];
        for c in &r.changes {
            rows.push(vec![
                c.secret.to_string(),
                c.why.to_string(),
                c.old_not_after.map_or_else(|| "-".to_string(), ts),
                ts(c.issued.certificate.not_after()),
            ]);
        }
        print!("{}", crate::render::table(&rows));
    }
    for b in r.bundles.iter().filter(|b| b.changed) {
        let names = |certs: &[Certificate]| certs.iter().map(cn_of).collect::<Vec<_>>().join(", ");
        let before: HashSet<&[u8; 32]> = b.before.iter().map(Certificate::sha256).collect();
        let after: HashSet<&[u8; 32]> = b.after.iter().map(Certificate::sha256).collect();
        let added: Vec<String> = b
            .after
            .iter()
            .filter(|c| !before.contains(c.sha256()))
            .map(cn_of)
            .collect();
        let removed: Vec<String> = b
            .before
            .iter()
            .filter(|c| !after.contains(c.sha256()))
            .map(cn_of)
            .collect();
        let mut line = format!(
            "ConfigMap {}: ca-bundle now {}",
            b.config_map,
            names(&b.after)
        );
        if !added.is_empty() {
            let _ = write!(line, "; added {}", added.join(", "));
        }
        if !removed.is_empty() {
            let _ = write!(line, "; removed {}", removed.join(", "));
        }
        println!("{line}");
    }
    if let Some(u) = r.upcoming.first() {
        println!("Next rotation: {} ({}).", ts(u.at), u.what);
    }
    Ok(0)
}

// ---------------------------------------------------------------------------------------------
// inspect

/// A snapshot object as the PKI's gatherer reads it.
struct SnapshotObject<'a>(&'a virtguard_snapshot::Object);

impl KubeObject for SnapshotObject<'_> {
    fn kind(&self) -> &str {
        &self.0.kind
    }
    fn name(&self) -> &str {
        &self.0.name
    }
    fn namespace(&self) -> &str {
        &self.0.namespace
    }
    fn value(&self) -> Option<&Value> {
        self.0.value()
    }
    fn location(&self) -> String {
        format!("{}: {}", self.0.source, self.0.describe())
    }
}

fn sans_text(s: &CertSummary) -> String {
    match s.dns_names.as_slice() {
        [] => "-".to_string(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} (+{})", rest.len()),
    }
}

fn usages_text(s: &CertSummary) -> String {
    if s.is_ca {
        return "ca".to_string();
    }
    if s.ext_key_usages.is_empty() {
        return "-".to_string();
    }
    s.ext_key_usages
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A problem as JSON: the problem's own fields, its message and where it is.
fn finding_json(f: &Finding) -> Value {
    let message = f.issue.to_string();
    match &f.issue {
        Issue::Secret(p) => {
            let mut json = serde_json::to_value(p).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut json {
                m.insert("message".into(), Value::String(message));
                m.insert("location".into(), Value::String(f.location.clone()));
            }
            json
        }
        Issue::BundleMissing { .. } => {
            json!({"problem": "bundle_missing", "message": message, "location": f.location})
        }
        Issue::MissingSecret { .. } => {
            json!({"problem": "missing_secret", "message": message, "location": f.location})
        }
    }
}

fn inspect(g: &Global, a: &InspectArgs) -> Result<u8> {
    let now = parse_now(a.now.as_deref())?;
    let gathered = match &a.dir {
        Some(dir) => {
            if !g.filename.is_empty() {
                bail!("give either --dir or -f, not both");
            }
            PkiDir::new(dir).gather(a.namespace.as_deref())?
        }
        None => {
            if g.filename.is_empty() {
                bail!("give --dir DIR, or -f FILE with the Secrets and ConfigMaps (e.g. `kubectl get secrets,configmaps -n kubevirt -o yaml`)");
            }
            let snapshot = crate::input::load_snapshot(g, &g.filename)?;
            let objects: Vec<SnapshotObject> =
                snapshot.objects.iter().map(SnapshotObject).collect();
            let gathered = gather_objects(&objects, a.namespace.as_deref())?;
            if gathered.secrets.is_empty() {
                bail!(
                    "{}: no KubeVirt certificate secrets in namespace {}",
                    g.filename.join(", "),
                    gathered.namespace
                );
            }
            gathered
        }
    };
    let ns = gathered.namespace.as_str();
    let report = review(&gathered, now);
    let problems: Vec<&Finding> = report.problems().collect();
    let code = u8::from(!problems.is_empty());
    if g.quiet {
        return Ok(code);
    }
    let kind_of = |s: &virtguard_pki::review::SecretReview| {
        s.template.map_or("unknown", |t| kind_name(t.kind))
    };

    if is_structured(g.output) {
        let secrets: Vec<Value> = report
            .secrets
            .iter()
            .map(|s| {
                let problems: Vec<Value> = s.problems.iter().map(finding_json).collect();
                let Some(bundle) = s.bundle.as_ref().filter(|_| s.present) else {
                    return json!({
                        "secret": s.name,
                        "kind": kind_of(s),
                        "present": false,
                        "problems": problems,
                    });
                };
                let chain = bundle.chain.as_ref();
                json!({
                    "secret": s.name,
                    "kind": kind_of(s),
                    "present": true,
                    "source": s.location,
                    "certificate": s.certificate.as_ref().map(Certificate::summary),
                    "key": s.key.as_ref().map(PrivateKey::summary),
                    "durationAnnotation": s.duration_annotation,
                    "nextRotation": s.next_rotation,
                    "bundle": {
                        "configMap": bundle.config_map,
                        "present": bundle.present,
                        "verifies": chain.map(Result::is_ok),
                        "anchor": chain.and_then(|c| c.as_ref().ok()),
                        "error": chain.and_then(|c| c.as_ref().err()),
                    },
                    "problems": problems,
                })
            })
            .collect();
        let v = json!({
            "now": ts(now),
            "namespace": ns,
            "schedule": schedule_json(&gathered.schedule),
            "secrets": secrets,
            "bundles": report.bundles.iter().map(|b| json!({
                "configMap": b.config_map,
                "location": b.location,
                "readable": b.certificates.is_some(),
                "certificates": b.certificates.as_ref()
                    .map(|certs| certs.iter().map(cert_brief).collect::<Vec<_>>()),
            })).collect::<Vec<_>>(),
            "problemCount": problems.len(),
        });
        print_json_or_yaml(&v, g.output)?;
        return Ok(code);
    }

    let mut rows = vec![[
        "SECRET",
        "KIND",
        "CN",
        "SANS",
        "USAGES",
        "NOT BEFORE",
        "NOT AFTER",
        "NEXT ROTATION",
        "BUNDLE",
        "PROBLEMS",
    ]
    .map(str::to_string)
    .to_vec()];
    for s in &report.secrets {
        let summary = s.certificate.as_ref().map(Certificate::summary);
        let chain = s.bundle.as_ref().and_then(|b| b.chain.as_ref());
        rows.push(vec![
            s.name.clone(),
            kind_of(s).to_string(),
            summary
                .and_then(|x| x.common_name.clone())
                .unwrap_or_else(|| "-".into()),
            summary.map_or_else(|| "-".into(), sans_text),
            summary.map_or_else(|| "-".into(), usages_text),
            summary.map_or_else(|| "-".into(), |x| ts(x.not_before)),
            summary.map_or_else(|| "-".into(), |x| ts(x.not_after)),
            s.next_rotation.map_or_else(|| "-".into(), |d| ts(d.at)),
            match chain {
                None => "-".into(),
                Some(Ok(_)) => "yes".into(),
                Some(Err(_)) => "no".into(),
            },
            s.problems.len().to_string(),
        ]);
    }
    print!("{}", crate::render::table(&rows));
    if problems.is_empty() {
        println!(
            "\nNo problems: {} secrets checked in namespace {ns} at {}.",
            report.present(),
            ts(now)
        );
    } else {
        println!("\n{} problem(s):", problems.len());
        for f in &problems {
            if f.location == f.secret {
                println!("  {}: {}", f.secret, f.issue);
            } else {
                println!("  {}: {}", f.location, f.issue);
            }
        }
    }
    Ok(code)
}

// ---------------------------------------------------------------------------------------------
// verify

/// Reads a file that must exist.
fn read_required(path: &Path) -> Result<String> {
    read_text(path)?.ok_or_else(|| anyhow!("{}: no such file", path.display()))
}

fn verify(g: &Global, a: &VerifyArgs) -> Result<u8> {
    let now = parse_now(a.now.as_deref())?;
    let bundle_path = a.ca_bundle.display().to_string();
    let cert_path = a.cert.display().to_string();
    let bundle = parse_certificates(&read_required(&a.ca_bundle)?)
        .map_err(|e| anyhow!("{bundle_path}: CA bundle cannot be read: {e}"))?;
    if bundle.is_empty() {
        bail!("{bundle_path}: the CA bundle holds no certificate");
    }
    let presented = parse_certificates(&read_required(&a.cert)?)
        .map_err(|e| anyhow!("{cert_path}: certificate cannot be read: {e}"))?;
    let Some(leaf) = presented.first() else {
        bail!("{cert_path}: no certificate found");
    };
    if let Some(key_path) = &a.key {
        let kp = key_path.display().to_string();
        let key = PrivateKey::from_pem(&read_required(key_path)?)
            .map_err(|e| anyhow!("{kp}: private key cannot be read: {e}"))?;
        if key.algorithm() != &KeyAlgorithm::EcdsaP256 {
            bail!(
                "{kp}: wrong key type: expected ECDSA P-256 (as KubeVirt issues), got {}",
                key.algorithm()
            );
        }
        if !leaf.matches_key(&key) {
            bail!("{kp}: private key does not match the certificate in {cert_path}");
        }
    }
    let cn = leaf.common_name().unwrap_or_default();
    let role = match a.usage {
        Some(PeerUsage::Client) => PeerRole::Client,
        Some(PeerUsage::Server) => PeerRole::Server,
        None => PeerRole::of(leaf).ok_or_else(|| anyhow!(
            "{cert_path}: cannot tell whether {cn:?} is a client or a server certificate; pass --usage client|server"
        ))?,
    };
    let types = if a.cn_type.is_empty() {
        role.accepted_types()
    } else {
        a.cn_type.clone()
    };
    let policy = match role {
        PeerRole::Client => PeerPolicy::client(&types),
        PeerRole::Server => PeerPolicy::server(&types),
    };
    let ders: Vec<&[u8]> = presented.iter().map(Certificate::der).collect();
    let result = verify_peer(&ders, &bundle, &policy, now);
    let role_name = match role {
        PeerRole::Client => "client",
        PeerRole::Server => "server",
    };
    let code = u8::from(result.is_err());
    if g.quiet {
        return Ok(code);
    }
    if is_structured(g.output) {
        let v = match &result {
            Ok(id) => json!({
                "ok": true,
                "role": role_name,
                "acceptedTypes": types,
                "commonName": id.common_name,
                "componentType": id.component_type,
                "issuer": id.issuer_common_name,
            }),
            Err(e) => json!({
                "ok": false,
                "role": role_name,
                "acceptedTypes": types,
                "commonName": cn,
                "error": e.to_string(),
            }),
        };
        print_json_or_yaml(&v, g.output)?;
        return Ok(code);
    }
    match result {
        Ok(id) => println!(
            "OK: {} ({role_name} {})",
            id.common_name,
            id.component_type.as_deref().unwrap_or("-")
        ),
        Err(e) => println!("{e}"),
    }
    Ok(code)
}
