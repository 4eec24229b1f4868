//! `virtguard certs`: KubeVirt's PKI offline, as virt-operator manages it.
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
//!
//! Directory layout (what `init` writes and the other commands read):
//! `DIR/<secret>/tls.crt`, `DIR/<secret>/tls.key` (mode 0600), `DIR/<ca>/ca-bundle` for the
//! three CA ConfigMaps (named like their secrets), `DIR/kubevirt-external-ca/ca-bundle` (the
//! external-CA inbox, emptied by `rotate`), and `DIR/virtguard-pki.json`: the namespace, the
//! rotation settings (as the KubeVirt CR's `certificateRotateStrategy.selfSigned`) and each
//! secret's `kubevirt.io/duration` annotation.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use virtguard_pki::components::{
    CA_BUNDLE_KEY, CERT_KEY, DURATION_ANNOTATION, EXTERNAL_CA_CONFIG_MAP, MANAGED_BY,
    PRIVATE_KEY_KEY,
};
use virtguard_pki::{
    format_go_duration, initial_ca_bundle, issue_ca, merge_ca_bundle, parse_certificates,
    parse_go_duration, problems, rotation_deadline, secret_decision, secret_template, validate,
    verify_chain, verify_peer, CaKind, CertConfig, CertKind, CertSummary, Certificate,
    CertificateAuthority, CertificateRotateStrategy, CheckContext, Connection, ExistingSecret,
    GoDuration, IssuedCert, KeyAlgorithm, KeyHolder, PeerPolicy, PeerRole, PrivateKey, Problem,
    RegenerateReason, RequiredUsage, RotationDeadline, Schedule, SecretDecision, SecretInput,
    SecretTemplate, SelfSignConfiguration, DEFAULT_NAMESPACE, SECRETS,
};

use crate::args::{Global, Output};

/// Name of the state file `init` writes into the directory.
pub const STATE_FILE: &str = "virtguard-pki.json";

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
// Shared helpers

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

/// Builds the `selfSigned` settings from the flags over `base`, and checks them as the
/// operator webhook would.
fn settings(a: &DurationArgs, base: &SelfSignConfiguration) -> Result<SelfSignConfiguration> {
    let effective = Schedule::from_config(Some(base));
    let opt = |flag: &str, v: &Option<String>| v.as_deref().map(|s| duration_flag(flag, s));
    let ca_duration = opt("ca-duration", &a.ca_duration)
        .transpose()?
        .unwrap_or(GoDuration(effective.ca_duration));
    let cert_duration = opt("cert-duration", &a.cert_duration)
        .transpose()?
        .unwrap_or(GoDuration(effective.cert_duration));
    // An explicit renewBefore is kept unless the flag replaces it; a defaulted one follows the
    // (possibly new) duration.
    let base_ca_rb = base
        .ca_overlap_interval
        .or_else(|| base.ca.as_ref().and_then(|c| c.renew_before));
    let base_cert_rb = base.server.as_ref().and_then(|c| c.renew_before);
    let ca_renew_before = opt("ca-renew-before", &a.ca_renew_before)
        .transpose()?
        .or(base_ca_rb);
    let cert_renew_before = opt("cert-renew-before", &a.cert_renew_before)
        .transpose()?
        .or(base_cert_rb);
    let config = SelfSignConfiguration {
        ca: Some(CertConfig {
            duration: Some(ca_duration),
            renew_before: ca_renew_before,
        }),
        server: Some(CertConfig {
            duration: Some(cert_duration),
            renew_before: cert_renew_before,
        }),
        ..SelfSignConfiguration::default()
    };
    let causes = validate(&config);
    if !causes.is_empty() {
        let msgs: Vec<String> = causes.into_iter().map(|c| c.message).collect();
        bail!("invalid durations: {}", msgs.join("; "));
    }
    Ok(config)
}

/// What `init` records next to the certificates.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    /// Install namespace.
    namespace: String,
    /// Rotation settings, as the KubeVirt CR's `certificateRotateStrategy.selfSigned`.
    self_signed: SelfSignConfiguration,
    /// Per secret: its `kubevirt.io/duration` annotation.
    #[serde(default)]
    secrets: BTreeMap<String, SecretState>,
}

/// The metadata of one secret that is not in its files.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SecretState {
    /// The `kubevirt.io/duration` annotation virt-operator would have set.
    duration: String,
}

fn state_path(dir: &Path) -> PathBuf {
    dir.join(STATE_FILE)
}

fn read_state(dir: &Path) -> Result<Option<State>> {
    let path = state_path(dir);
    let Some(text) = read_text(&path)? else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .with_context(|| format!("{}: not a virtguard PKI state file", path.display()))
}

/// Reads a file as text (invalid UTF-8 replaced, so that garbage fails as bad PEM); `None`
/// when it does not exist.
fn read_text(path: &Path) -> Result<Option<String>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("{}", path.display())),
    }
}

/// Reads a file that must exist.
fn read_required(path: &Path) -> Result<String> {
    read_text(path)?.ok_or_else(|| anyhow!("{}: no such file", path.display()))
}

/// Writes `contents` to `path` through a temporary file and a rename (consumers watching the
/// directory never see a half-written file), with permissions `mode`.
pub(crate) fn write_file(path: &Path, contents: &str, mode: u32) -> Result<()> {
    let parent = path
        .parent()
        .ok_or_else(|| anyhow!("{}: no parent directory", path.display()))?;
    fs::create_dir_all(parent).with_context(|| format!("{}", parent.display()))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{file_name}.tmp"));
    let _ = fs::remove_file(&tmp);
    {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut f = opts
            .open(&tmp)
            .with_context(|| format!("{}", tmp.display()))?;
        std::io::Write::write_all(&mut f, contents.as_bytes())
            .with_context(|| format!("{}", tmp.display()))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))
            .with_context(|| format!("{}", tmp.display()))?;
    }
    fs::rename(&tmp, path).with_context(|| format!("{}", path.display()))
}

fn write_secret(dir: &Path, name: &str, issued: &IssuedCert) -> Result<()> {
    let sub = dir.join(name);
    write_file(&sub.join(CERT_KEY), &issued.cert_pem, 0o644)?;
    write_file(&sub.join(PRIVATE_KEY_KEY), &issued.key_pem, 0o600)
}

fn write_state(dir: &Path, state: &State) -> Result<()> {
    let text = serde_json::to_string_pretty(state)?;
    write_file(&state_path(dir), &format!("{text}\n"), 0o644)
}

/// A secret's files in a directory; `None` when neither exists.
struct DirSecret {
    cert_pem: String,
    key_pem: String,
}

fn read_dir_secret(dir: &Path, name: &str) -> Result<Option<DirSecret>> {
    let sub = dir.join(name);
    let cert = read_text(&sub.join(CERT_KEY))?;
    let key = read_text(&sub.join(PRIVATE_KEY_KEY))?;
    if cert.is_none() && key.is_none() {
        return Ok(None);
    }
    Ok(Some(DirSecret {
        cert_pem: cert.unwrap_or_default(),
        key_pem: key.unwrap_or_default(),
    }))
}

fn kind_name(kind: CertKind) -> &'static str {
    match kind {
        CertKind::Ca => "ca",
        CertKind::Server => "server",
        CertKind::Client => "client",
    }
}

fn template(name: &str) -> Result<&'static SecretTemplate> {
    secret_template(name).ok_or_else(|| anyhow!("internal: {name} is not in the secrets table"))
}

fn ca_kind_of(name: &str) -> Option<CaKind> {
    CaKind::ALL.into_iter().find(|k| k.secret_name() == name)
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

/// Standard base64 with padding (Kubernetes Secret `data`).
fn b64_encode(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decodes standard base64 as Kubernetes writes it (whitespace and line breaks ignored).
fn b64_decode(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| format!("invalid base64: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Manifests

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    api_version: &'static str,
    kind: &'static str,
    metadata: Meta,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    type_: Option<&'static str>,
    data: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
struct Meta {
    name: String,
    namespace: String,
    labels: BTreeMap<&'static str, &'static str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<&'static str, String>,
}

fn operator_labels() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("app.kubernetes.io/component", "kubevirt"),
        ("app.kubernetes.io/managed-by", MANAGED_BY),
    ])
}

fn secret_manifest(name: &str, ns: &str, duration: &str, issued: &IssuedCert) -> Manifest {
    Manifest {
        api_version: "v1",
        kind: "Secret",
        metadata: Meta {
            name: name.to_string(),
            namespace: ns.to_string(),
            labels: operator_labels(),
            annotations: BTreeMap::from([(DURATION_ANNOTATION, duration.to_string())]),
        },
        type_: Some("kubernetes.io/tls"),
        data: BTreeMap::from([
            (CERT_KEY, b64_encode(issued.cert_pem.as_bytes())),
            (PRIVATE_KEY_KEY, b64_encode(issued.key_pem.as_bytes())),
        ]),
    }
}

fn config_map_manifest(name: &str, ns: &str, bundle: &str) -> Manifest {
    Manifest {
        api_version: "v1",
        kind: "ConfigMap",
        metadata: Meta {
            name: name.to_string(),
            namespace: ns.to_string(),
            labels: operator_labels(),
            annotations: BTreeMap::new(),
        },
        type_: None,
        data: BTreeMap::from([(CA_BUNDLE_KEY, bundle.to_string())]),
    }
}

// ---------------------------------------------------------------------------------------------
// init

/// Everything `init` issues.
struct Issued {
    secrets: Vec<(&'static SecretTemplate, IssuedCert)>,
    bundles: Vec<(CaKind, String)>,
}

fn issue_everything(ns: &str, schedule: &Schedule, now: OffsetDateTime) -> Result<Issued> {
    let mut secrets = Vec::new();
    let mut bundles = Vec::new();
    let mut authorities = HashMap::new();
    for kind in CaKind::ALL {
        let t = template(kind.secret_name())?;
        let ca = issue_ca(kind, now, schedule.duration_for(t))
            .with_context(|| format!("issuing {}", kind.secret_name()))?;
        let bundle = initial_ca_bundle(&ca.certificate, "", schedule.bundle_overlap_for(kind), now);
        bundles.push((kind, bundle.to_pem()));
        authorities.insert(kind, CertificateAuthority::from_issued(&ca)?);
        secrets.push((t, ca));
    }
    for t in SECRETS.iter().filter(|t| t.kind != CertKind::Ca) {
        let signer = t
            .signer()
            .and_then(|k| authorities.get(&k))
            .ok_or_else(|| anyhow!("internal: no signing CA for {}", t.secret_name))?;
        let leaf = signer
            .issue(&t.resolve(ns), now, schedule.duration_for(t))
            .with_context(|| format!("issuing {}", t.secret_name))?;
        secrets.push((t, leaf));
    }
    Ok(Issued { secrets, bundles })
}

fn dir_is_empty(dir: &Path) -> Result<bool> {
    match fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e).with_context(|| format!("{}", dir.display())),
    }
}

fn init(g: &Global, a: &InitArgs) -> Result<u8> {
    let now = parse_now(a.now.as_deref())?;
    if a.namespace.is_empty() {
        bail!("--namespace must not be empty");
    }
    let config = settings(&a.durations, &SelfSignConfiguration::default())?;
    let schedule = Schedule::from_config(Some(&config));
    let structured = is_structured(g.output);
    let dir = match (&a.dir, structured) {
        (Some(d), false) => Some(d.as_path()),
        (None, false) => bail!("--dir is required (or -o yaml|json to print manifests)"),
        (Some(_), true) => {
            bail!("-o yaml|json prints manifests instead of writing --dir; give one of them")
        }
        (None, true) => None,
    };
    if let Some(dir) = dir {
        if dir.exists() && !dir.is_dir() {
            bail!("{}: not a directory", dir.display());
        }
        if !a.force && !dir_is_empty(dir)? {
            bail!(
                "{}: directory is not empty (use --force to overwrite)",
                dir.display()
            );
        }
    }
    let issued = issue_everything(&a.namespace, &schedule, now)?;
    let duration_of = |t: &SecretTemplate| format_go_duration(schedule.duration_for(t));

    let Some(dir) = dir else {
        let mut items = Vec::new();
        for (t, cert) in &issued.secrets {
            items.push(secret_manifest(
                t.secret_name,
                &a.namespace,
                &duration_of(t),
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

    fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    let mut state = State {
        namespace: a.namespace.clone(),
        self_signed: config,
        secrets: BTreeMap::new(),
    };
    for (t, cert) in &issued.secrets {
        write_secret(dir, t.secret_name, cert)?;
        state.secrets.insert(
            t.secret_name.to_string(),
            SecretState {
                duration: duration_of(t),
            },
        );
    }
    for (kind, pem) in &issued.bundles {
        write_file(
            &dir.join(kind.config_map_name()).join(CA_BUNDLE_KEY),
            pem,
            0o644,
        )?;
    }
    write_file(
        &dir.join(EXTERNAL_CA_CONFIG_MAP).join(CA_BUNDLE_KEY),
        "",
        0o644,
    )?;
    write_state(dir, &state)?;

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
        println!(
            "Issued {} certificates for namespace {} into {} (CA bundles in {}/<ca>/{CA_BUNDLE_KEY}); CA lifetime {}, certificate lifetime {}.",
            issued.secrets.len(),
            a.namespace,
            dir.display(),
            dir.display(),
            format_go_duration(schedule.ca_duration),
            format_go_duration(schedule.cert_duration),
        );
    }
    Ok(0)
}

// ---------------------------------------------------------------------------------------------
// rotate

/// Why `rotate` regenerated a secret.
enum Why {
    Operator(RegenerateReason),
    Forced(&'static str),
}

impl Why {
    fn message(&self) -> String {
        match self {
            Why::Forced(flag) => format!("forced ({flag})"),
            Why::Operator(r) => reason_text(r),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Why::Forced(flag) => json!({"reason": "forced", "flag": flag}),
            Why::Operator(r) => serde_json::to_value(r).unwrap_or(Value::Null),
        }
    }
}

fn rule_text(d: &RotationDeadline) -> &'static str {
    match d.rule {
        virtguard_pki::DeadlineRule::NotVerifiedByCa => "does not verify against the current CA",
        virtguard_pki::DeadlineRule::RenewBefore => "NotAfter - renewBefore",
        virtguard_pki::DeadlineRule::CaExpiresFirst => "the CA expires first",
    }
}

fn reason_text(r: &RegenerateReason) -> String {
    match r {
        RegenerateReason::Missing => "missing".into(),
        RegenerateReason::Unloadable { error } => format!("cannot be loaded: {error}"),
        RegenerateReason::DurationChanged { found, desired } => format!(
            "kubevirt.io/duration {} differs from {desired}",
            found.as_deref().unwrap_or("(none)")
        ),
        RegenerateReason::DeadlinePassed { deadline } => {
            if deadline.rule == virtguard_pki::DeadlineRule::NotVerifiedByCa {
                "does not verify against the current CA".into()
            } else {
                format!(
                    "rotation deadline {} passed ({})",
                    ts(deadline.at),
                    rule_text(deadline)
                )
            }
        }
    }
}

/// One regenerated secret.
struct Change {
    secret: &'static str,
    why: Why,
    old_not_after: Option<OffsetDateTime>,
    new_not_after: OffsetDateTime,
}

/// Something due later: a secret's rotation deadline, or a bundle's pruning.
struct Upcoming {
    what: String,
    at: OffsetDateTime,
}

/// What happened to one CA bundle.
struct BundleChange {
    config_map: &'static str,
    before: Vec<Certificate>,
    after: Vec<Certificate>,
    changed: bool,
    prune_after: Option<OffsetDateTime>,
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

/// A current CA: its certificate, and the signer once loaded.
struct CurrentCa {
    cert: Certificate,
    cert_pem: String,
    key_pem: String,
    source: String,
    authority: Option<CertificateAuthority>,
}

impl CurrentCa {
    fn authority(&mut self) -> Result<&CertificateAuthority> {
        if self.authority.is_none() {
            let ca = CertificateAuthority::from_pem(&self.cert_pem, &self.key_pem)
                .with_context(|| format!("{}: cannot sign with this CA", self.source))?;
            self.authority = Some(ca);
        }
        self.authority
            .as_ref()
            .ok_or_else(|| anyhow!("internal: CA not loaded"))
    }
}

fn rotate(g: &Global, a: &RotateArgs) -> Result<u8> {
    let dir = a.dir.as_path();
    if !dir.is_dir() {
        bail!(
            "{}: no such directory (create it with `virtguard certs init --dir {}`)",
            dir.display(),
            dir.display()
        );
    }
    let now = parse_now(a.now.as_deref())?;
    let mut state = read_state(dir)?.ok_or_else(|| {
        anyhow!(
            "{}: not found; this directory was not written by `virtguard certs init`",
            state_path(dir).display()
        )
    })?;
    let config = settings(&a.durations, &state.self_signed)?;
    let schedule = Schedule::from_config(Some(&config));
    state.self_signed = config;
    for name in &a.force {
        if secret_template(name).is_none() {
            let known: Vec<&str> = SECRETS.iter().map(|t| t.secret_name).collect();
            bail!(
                "--force {name}: not a secret virt-operator manages (one of {})",
                known.join(", ")
            );
        }
    }
    let forced = |name: &str| -> Option<&'static str> {
        if a.force.iter().any(|f| f == name) {
            Some("--force")
        } else if a.force_ca && name == CaKind::KubeVirt.secret_name() {
            Some("--force-ca")
        } else {
            None
        }
    };
    let ns = state.namespace.clone();
    let mut changes: Vec<Change> = Vec::new();
    let mut upcoming: Vec<Upcoming> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();

    // The operator's decision for one secret, unless forced.
    let decide = |t: &SecretTemplate,
                  existing: Option<&DirSecret>,
                  annotation: Option<&str>,
                  ca: Option<&Certificate>|
     -> Outcome {
        if let Some(flag) = forced(t.secret_name) {
            return Outcome::Regenerate(Why::Forced(flag));
        }
        let ex = existing.map(|s| ExistingSecret {
            cert_pem: &s.cert_pem,
            key_pem: &s.key_pem,
            duration_annotation: annotation,
        });
        let ca_renew_before = t.signer().map(|k| schedule.ca_renew_before_for(k));
        match secret_decision(
            ex.as_ref(),
            schedule.duration_for(t),
            ca,
            schedule.renew_before_for(t),
            ca_renew_before,
            now,
        ) {
            SecretDecision::Keep { deadline } => Outcome::Keep(deadline),
            SecretDecision::Regenerate { reason } => Outcome::Regenerate(Why::Operator(reason)),
        }
    };
    let renewed = RenewContext {
        dir,
        schedule: &schedule,
        now,
    };

    // 1. The CA secrets, in virt-operator's order.
    let mut cas: HashMap<CaKind, CurrentCa> = HashMap::new();
    for kind in CaKind::ALL {
        let t = template(kind.secret_name())?;
        let source = dir.join(t.secret_name).display().to_string();
        let existing = read_dir_secret(dir, t.secret_name)?;
        let annotation = state.secrets.get(t.secret_name).map(|s| s.duration.clone());
        let current = match decide(t, existing.as_ref(), annotation.as_deref(), None) {
            Outcome::Keep(deadline) => {
                let ex = existing.ok_or_else(|| anyhow!("internal: kept a missing secret"))?;
                let cert = Certificate::from_pem(&ex.cert_pem)
                    .with_context(|| format!("{source}/{CERT_KEY}"))?;
                upcoming.push(Upcoming {
                    what: t.secret_name.to_string(),
                    at: deadline.at,
                });
                CurrentCa {
                    cert,
                    cert_pem: ex.cert_pem,
                    key_pem: ex.key_pem,
                    source,
                    authority: None,
                }
            }
            Outcome::Regenerate(why) => {
                note_unloadable(&why, &source, &mut warnings);
                let issued = issue_ca(kind, now, schedule.duration_for(t))
                    .with_context(|| format!("issuing {}", t.secret_name))?;
                let (change, next) =
                    renewed.apply(&mut state, t, &issued, why, existing.as_ref(), None)?;
                changes.push(change);
                upcoming.push(next);
                let authority = CertificateAuthority::from_issued(&issued)?;
                CurrentCa {
                    cert: issued.certificate,
                    cert_pem: issued.cert_pem,
                    key_pem: issued.key_pem,
                    source,
                    authority: Some(authority),
                }
            }
        };
        cas.insert(kind, current);
    }

    // 2. The CA bundles; external CAs go into kubevirt-ca's, then the inbox is emptied.
    let external_path = dir.join(EXTERNAL_CA_CONFIG_MAP).join(CA_BUNDLE_KEY);
    let external = read_text(&external_path)?;
    let mut bundles: Vec<BundleChange> = Vec::new();
    for kind in CaKind::ALL {
        let current = cas
            .get(&kind)
            .ok_or_else(|| anyhow!("internal: no current {}", kind.secret_name()))?;
        let path = dir.join(kind.config_map_name()).join(CA_BUNDLE_KEY);
        let stored = read_text(&path)?;
        let overlap = schedule.bundle_overlap_for(kind);
        let ext = match kind {
            CaKind::KubeVirt => external.as_deref().unwrap_or(""),
            CaKind::Export | CaKind::Backup => "",
        };
        let merged = match &stored {
            None => initial_ca_bundle(&current.cert, ext, overlap, now),
            Some(text) => merge_ca_bundle(&current.cert, text, ext, overlap, now),
        };
        if merged.existing_reset {
            warnings.push(format!(
                "{}: the stored bundle cannot be read; reset to the current CA as virt-operator does",
                path.display()
            ));
        }
        if let Some(e) = &merged.external_error {
            warnings.push(format!(
                "{}: external CAs cannot be read ({e}); none added",
                external_path.display()
            ));
        }
        if merged.dropped_over_limit > 0 {
            warnings.push(format!(
                "{}: {} certificates dropped to keep the bundle at 50",
                path.display(),
                merged.dropped_over_limit
            ));
        }
        let before = stored
            .as_deref()
            .and_then(|t| parse_certificates(t).ok())
            .unwrap_or_default();
        let pem = merged.to_pem();
        let changed = stored.as_deref() != Some(pem.as_str());
        if changed {
            write_file(&path, &pem, 0o644)?;
        }
        let prune_after = (merged.certificates.len() > 1)
            .then(|| current.cert.not_before() + overlap)
            .filter(|at| *at >= now);
        if let Some(at) = prune_after {
            upcoming.push(Upcoming {
                what: format!(
                    "ConfigMap {} (superseded CAs leave the bundle)",
                    kind.config_map_name()
                ),
                at,
            });
        }
        bundles.push(BundleChange {
            config_map: kind.config_map_name(),
            before,
            after: merged.certificates,
            changed,
            prune_after,
        });
        if kind == CaKind::KubeVirt && external.as_deref() != Some("") {
            write_file(&external_path, "", 0o644)?;
        }
    }

    // 3. The component certificates.
    for t in SECRETS.iter().filter(|t| t.kind != CertKind::Ca) {
        let existing = read_dir_secret(dir, t.secret_name)?;
        if t.optional
            && existing.is_none()
            && !state.secrets.contains_key(t.secret_name)
            && forced(t.secret_name).is_none()
        {
            continue;
        }
        let signer = t
            .signer()
            .ok_or_else(|| anyhow!("internal: no signer for {}", t.secret_name))?;
        let ca = cas
            .get_mut(&signer)
            .ok_or_else(|| anyhow!("internal: no current {}", signer.secret_name()))?;
        let source = dir.join(t.secret_name).display().to_string();
        let annotation = state.secrets.get(t.secret_name).map(|s| s.duration.clone());
        match decide(t, existing.as_ref(), annotation.as_deref(), Some(&ca.cert)) {
            Outcome::Keep(deadline) => upcoming.push(Upcoming {
                what: t.secret_name.to_string(),
                at: deadline.at,
            }),
            Outcome::Regenerate(why) => {
                note_unloadable(&why, &source, &mut warnings);
                let issued = ca
                    .authority()?
                    .issue(&t.resolve(&ns), now, schedule.duration_for(t))
                    .with_context(|| format!("issuing {}", t.secret_name))?;
                let (change, next) = renewed.apply(
                    &mut state,
                    t,
                    &issued,
                    why,
                    existing.as_ref(),
                    Some(&ca.cert),
                )?;
                changes.push(change);
                upcoming.push(next);
            }
        }
    }
    write_state(dir, &state)?;

    upcoming.sort_by_key(|u| u.at);
    if g.quiet {
        return Ok(0);
    }
    if is_structured(g.output) {
        let v = json!({
            "now": ts(now),
            "namespace": ns,
            "schedule": schedule_json(&schedule),
            "changed": changes.iter().map(|c| json!({
                "secret": c.secret,
                "reason": c.why.to_json(),
                "message": c.why.message(),
                "oldNotAfter": c.old_not_after.map(ts),
                "newNotAfter": ts(c.new_not_after),
            })).collect::<Vec<_>>(),
            "bundles": bundles.iter().map(|b| json!({
                "configMap": b.config_map,
                "changed": b.changed,
                "before": b.before.iter().map(cert_brief).collect::<Vec<_>>(),
                "after": b.after.iter().map(cert_brief).collect::<Vec<_>>(),
                "pruneAfter": b.prune_after.map(ts),
            })).collect::<Vec<_>>(),
            "upcoming": upcoming.iter().map(|u| json!({"what": u.what, "at": ts(u.at)})).collect::<Vec<_>>(),
            "nextRotation": upcoming.first().map(|u| json!({"what": u.what, "at": ts(u.at)})),
            "warnings": warnings,
        });
        print_json_or_yaml(&v, g.output)?;
        return Ok(0);
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if changes.is_empty() {
        println!("Nothing to rotate at {}.", ts(now));
    } else {
        let mut rows = vec![vec![
            "SECRET".to_string(),
            "REASON".into(),
            "OLD NOT AFTER".into(),
            "NEW NOT AFTER".into(),
        ]];
        for c in &changes {
            rows.push(vec![
                c.secret.to_string(),
                c.why.message(),
                c.old_not_after.map_or_else(|| "-".to_string(), ts),
                ts(c.new_not_after),
            ]);
        }
        print!("{}", crate::render::table(&rows));
    }
    for b in bundles.iter().filter(|b| b.changed) {
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
    if let Some(u) = upcoming.first() {
        println!("Next rotation: {} ({}).", ts(u.at), u.what);
    }
    Ok(0)
}

/// The outcome of the operator's decision, or of a `--force`.
enum Outcome {
    Keep(RotationDeadline),
    Regenerate(Why),
}

fn note_unloadable(why: &Why, source: &str, warnings: &mut Vec<String>) {
    if let Why::Operator(RegenerateReason::Unloadable { error }) = why {
        warnings.push(format!(
            "{source}: certificate or key cannot be loaded ({error}); regenerated as virt-operator does"
        ));
    }
}

/// What writing a regenerated secret needs.
struct RenewContext<'a> {
    dir: &'a Path,
    schedule: &'a Schedule,
    now: OffsetDateTime,
}

impl RenewContext<'_> {
    /// Writes a regenerated secret, records its annotation, and describes the change.
    fn apply(
        &self,
        state: &mut State,
        t: &'static SecretTemplate,
        issued: &IssuedCert,
        why: Why,
        existing: Option<&DirSecret>,
        ca: Option<&Certificate>,
    ) -> Result<(Change, Upcoming)> {
        write_secret(self.dir, t.secret_name, issued)?;
        let duration = self.schedule.duration_for(t);
        state.secrets.insert(
            t.secret_name.to_string(),
            SecretState {
                duration: format_go_duration(duration),
            },
        );
        let deadline = rotation_deadline(
            &issued.certificate,
            ca,
            self.schedule.renew_before_for(t),
            t.signer().map(|k| self.schedule.ca_renew_before_for(k)),
            self.now,
        );
        Ok((
            Change {
                secret: t.secret_name,
                why,
                old_not_after: existing
                    .and_then(|s| Certificate::from_pem(&s.cert_pem).ok())
                    .map(|c| c.not_after()),
                new_not_after: issued.certificate.not_after(),
            },
            Upcoming {
                what: t.secret_name.to_string(),
                at: deadline.at,
            },
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// inspect

/// One certificate secret to inspect.
struct SecretIn {
    name: String,
    /// Where the secret is (directory or object), for messages.
    source: String,
    /// Where `tls.crt` is.
    cert_loc: String,
    /// Where `tls.key` is.
    key_loc: String,
    cert_pem: String,
    key_pem: String,
    duration_annotation: Option<String>,
}

/// One CA bundle to check against.
struct BundleIn {
    loc: String,
    pem: String,
}

/// Everything `inspect` reads.
struct Gathered {
    secrets: Vec<SecretIn>,
    bundles: HashMap<String, BundleIn>,
    namespace: String,
    schedule: Schedule,
}

fn gather_dir(dir: &Path, ns_flag: Option<&str>) -> Result<Gathered> {
    if !dir.is_dir() {
        bail!("{}: no such directory", dir.display());
    }
    let state = read_state(dir)?;
    let namespace = ns_flag
        .map(str::to_string)
        .or_else(|| state.as_ref().map(|s| s.namespace.clone()))
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    let schedule = state
        .as_ref()
        .map(|s| Schedule::from_config(Some(&s.self_signed)))
        .unwrap_or_default();
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
        let entry = entry.with_context(|| format!("{}", dir.display()))?;
        if entry.path().is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    let mut secrets = Vec::new();
    let mut bundles = HashMap::new();
    for name in names {
        let sub = dir.join(&name);
        let (crt_path, key_path) = (sub.join(CERT_KEY), sub.join(PRIVATE_KEY_KEY));
        let cert = read_text(&crt_path)?;
        let key = read_text(&key_path)?;
        if cert.is_some() || key.is_some() {
            secrets.push(SecretIn {
                duration_annotation: state
                    .as_ref()
                    .and_then(|s| s.secrets.get(&name))
                    .map(|s| s.duration.clone()),
                name: name.clone(),
                source: sub.display().to_string(),
                cert_loc: crt_path.display().to_string(),
                key_loc: key_path.display().to_string(),
                cert_pem: cert.unwrap_or_default(),
                key_pem: key.unwrap_or_default(),
            });
        }
        let bundle_path = sub.join(CA_BUNDLE_KEY);
        if name != EXTERNAL_CA_CONFIG_MAP {
            if let Some(pem) = read_text(&bundle_path)? {
                bundles.insert(
                    name,
                    BundleIn {
                        loc: bundle_path.display().to_string(),
                        pem,
                    },
                );
            }
        }
    }
    if secrets.is_empty() {
        bail!(
            "{}: no certificate secrets (expected sub-directories with {CERT_KEY} and {PRIVATE_KEY_KEY})",
            dir.display()
        );
    }
    Ok(Gathered {
        secrets,
        bundles,
        namespace,
        schedule,
    })
}

fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// A key of a Secret's `data` (base64) or `stringData`.
fn secret_data(v: &Value, key: &str, what: &str) -> Result<Option<String>> {
    if let Some(encoded) = v.get("data").and_then(|d| d.get(key)) {
        let Some(text) = encoded.as_str() else {
            bail!("{what}: data.{key} is not a string");
        };
        let bytes = b64_decode(text).map_err(|e| anyhow!("{what}: data.{key}: {e}"))?;
        return Ok(Some(String::from_utf8_lossy(&bytes).into_owned()));
    }
    Ok(str_at(v, &["stringData", key]).map(str::to_string))
}

fn gather_snapshot(g: &Global, ns_flag: Option<&str>) -> Result<Gathered> {
    if g.filename.is_empty() {
        bail!("give --dir DIR, or -f FILE with the Secrets and ConfigMaps (e.g. `kubectl get secrets,configmaps -n kubevirt -o yaml`)");
    }
    let snapshot = crate::input::load_snapshot(g, &g.filename)?;
    let kubevirt = snapshot.objects.iter().find(|o| o.kind == "KubeVirt");
    let is_managed_secret = |o: &&virtguard_snapshot::Object| {
        o.kind == "Secret"
            && o.value().is_some_and(|v| {
                secret_template(&o.name).is_some()
                    || str_at(v, &["metadata", "labels", "app.kubernetes.io/managed-by"])
                        == Some(MANAGED_BY)
                        && v.get("data").and_then(|d| d.get(CERT_KEY)).is_some()
            })
    };
    let namespace = ns_flag
        .map(str::to_string)
        .or_else(|| kubevirt.map(|o| o.namespace.clone()))
        .or_else(|| {
            snapshot
                .objects
                .iter()
                .find(is_managed_secret)
                .map(|o| o.namespace.clone())
        })
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    let schedule = match kubevirt.and_then(|o| {
        o.value()
            .and_then(|v| v.get("spec"))
            .and_then(|s| s.get("certificateRotateStrategy"))
            .map(|c| (o, c))
    }) {
        Some((o, c)) => {
            let strategy: CertificateRotateStrategy = serde_json::from_value(c.clone())
                .with_context(|| {
                    format!(
                        "{}: {}: spec.certificateRotateStrategy",
                        o.source,
                        o.describe()
                    )
                })?;
            Schedule::from_strategy(&strategy)
        }
        None => Schedule::default(),
    };
    let mut secrets = Vec::new();
    let mut bundles = HashMap::new();
    for o in snapshot.objects.iter().filter(|o| o.namespace == namespace) {
        let Some(v) = o.value() else { continue };
        let what = format!("{}: {}", o.source, o.describe());
        if is_managed_secret(&o) {
            let cert = secret_data(v, CERT_KEY, &what)?;
            let key = secret_data(v, PRIVATE_KEY_KEY, &what)?;
            secrets.push(SecretIn {
                name: o.name.clone(),
                source: what.clone(),
                cert_loc: format!("{what} data.{CERT_KEY}"),
                key_loc: format!("{what} data.{PRIVATE_KEY_KEY}"),
                cert_pem: cert.unwrap_or_default(),
                key_pem: key.unwrap_or_default(),
                duration_annotation: str_at(v, &["metadata", "annotations", DURATION_ANNOTATION])
                    .map(str::to_string),
            });
        } else if o.kind == "ConfigMap" && ca_kind_of(&o.name).is_some() {
            bundles.insert(
                o.name.clone(),
                BundleIn {
                    loc: format!("{what} data.{CA_BUNDLE_KEY}"),
                    pem: str_at(v, &["data", CA_BUNDLE_KEY])
                        .unwrap_or("")
                        .to_string(),
                },
            );
        }
    }
    if secrets.is_empty() {
        bail!(
            "{}: no KubeVirt certificate secrets in namespace {namespace}",
            g.filename.join(", ")
        );
    }
    Ok(Gathered {
        secrets,
        bundles,
        namespace,
        schedule,
    })
}

/// Where a problem is, to name it in messages.
fn problem_location<'a>(p: &Problem, s: &'a SecretIn, bundle: Option<&'a BundleIn>) -> &'a str {
    match p {
        Problem::KeyUnreadable { .. }
        | Problem::KeyMismatch
        | Problem::WrongKeyType {
            holder: KeyHolder::Key,
            ..
        } => &s.key_loc,
        Problem::BundleUnreadable { .. }
        | Problem::BundleTooLarge { .. }
        | Problem::CaMissingFromBundle { .. } => bundle.map_or(&s.source, |b| &b.loc),
        Problem::UnknownSecret { .. } => &s.source,
        _ => &s.cert_loc,
    }
}

/// One reported problem.
struct Found {
    secret: String,
    location: String,
    message: String,
    json: Value,
}

fn found(secret: &str, location: &str, kind: &str, message: String) -> Found {
    Found {
        secret: secret.to_string(),
        location: location.to_string(),
        json: json!({"problem": kind, "message": message, "location": location}),
        message,
    }
}

fn template_index(name: &str) -> usize {
    SECRETS
        .iter()
        .position(|t| t.secret_name == name)
        .unwrap_or(SECRETS.len())
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

fn inspect(g: &Global, a: &InspectArgs) -> Result<u8> {
    let now = parse_now(a.now.as_deref())?;
    let mut gathered = match &a.dir {
        Some(dir) => {
            if !g.filename.is_empty() {
                bail!("give either --dir or -f, not both");
            }
            gather_dir(dir, a.namespace.as_deref())?
        }
        None => gather_snapshot(g, a.namespace.as_deref())?,
    };
    gathered.secrets.sort_by(|x, y| {
        (template_index(&x.name), &x.name).cmp(&(template_index(&y.name), &y.name))
    });
    let ns = gathered.namespace.as_str();
    let schedule = gathered.schedule;
    // The certificate of each CA secret that can be read.
    let ca_certs: HashMap<CaKind, (&str, Certificate)> = gathered
        .secrets
        .iter()
        .filter_map(|s| {
            let kind = ca_kind_of(&s.name)?;
            let cert = Certificate::from_pem(&s.cert_pem).ok()?;
            Some((kind, (s.cert_pem.as_str(), cert)))
        })
        .collect();
    let parsed_bundles: HashMap<&str, Vec<Certificate>> = gathered
        .bundles
        .iter()
        .filter_map(|(k, b)| Some((k.as_str(), parse_certificates(&b.pem).ok()?)))
        .collect();

    let mut rows_json = Vec::new();
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
    let mut all: Vec<Found> = Vec::new();

    for s in &gathered.secrets {
        let t = secret_template(&s.name);
        let cert = Certificate::from_pem(&s.cert_pem).ok();
        let is_ca = t.map_or(cert.as_ref().is_some_and(Certificate::is_ca), |t| {
            t.kind == CertKind::Ca
        });
        let bundle_kind = t
            .and_then(|t| t.ca_kind().or_else(|| t.signer()))
            .unwrap_or(CaKind::KubeVirt);
        let cm = bundle_kind.config_map_name();
        let bundle = gathered.bundles.get(cm);
        let bundle_certs = parsed_bundles.get(cm);
        let signer = if is_ca {
            None
        } else {
            ca_certs.get(&t.and_then(|t| t.signer()).unwrap_or(CaKind::KubeVirt))
        };
        let ctx = CheckContext {
            namespace: ns,
            schedule,
            ca_bundle_pem: bundle.map(|b| b.pem.as_str()),
            current_ca_pem: signer.map(|(pem, _)| *pem),
            now,
        };
        let input = SecretInput {
            name: &s.name,
            cert_pem: &s.cert_pem,
            key_pem: &s.key_pem,
            duration_annotation: s.duration_annotation.as_deref(),
        };
        let mut mine: Vec<Found> = problems(&input, &ctx)
            .into_iter()
            .map(|p| {
                let location = problem_location(&p, s, bundle).to_string();
                let mut json = serde_json::to_value(&p).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut json {
                    m.insert("message".into(), Value::String(p.to_string()));
                    m.insert("location".into(), Value::String(location.clone()));
                }
                Found {
                    secret: s.name.clone(),
                    location,
                    message: p.to_string(),
                    json,
                }
            })
            .collect();
        if is_ca && bundle.is_none() {
            mine.push(found(
                &s.name,
                &s.source,
                "bundle_missing",
                format!("ConfigMap {cm} with its {CA_BUNDLE_KEY} not found"),
            ));
        }

        // Next rotation and the chain check, when the certificate can be read.
        let (renew_before, ca_renew_before) = match t {
            Some(t) => (
                schedule.renew_before_for(t),
                t.signer().map(|k| schedule.ca_renew_before_for(k)),
            ),
            None if is_ca => (schedule.ca_renew_before, None),
            None => (schedule.cert_renew_before, Some(schedule.ca_renew_before)),
        };
        let deadline = cert.as_ref().map(|c| {
            let ca = signer.map(|(_, ca)| ca).or_else(|| {
                bundle_certs
                    .and_then(|b| b.iter().find(|ca| c.is_signed_by(ca)))
                    .filter(|_| !is_ca)
            });
            rotation_deadline(c, ca, renew_before, ca_renew_before, now)
        });
        let chain: Option<Result<String, String>> =
            cert.as_ref().zip(bundle_certs).map(|(c, b)| {
                if is_ca {
                    if b.iter().any(|x| x.sha256() == c.sha256()) {
                        Ok(cn_of(c))
                    } else {
                        Err("the CA is not in its bundle".to_string())
                    }
                } else {
                    verify_chain(c, &[], b, RequiredUsage::Any, now)
                        .map(cn_of)
                        .map_err(|e| e.to_string())
                }
            });
        let key = PrivateKey::from_pem(&s.key_pem).ok();
        rows_json.push(json!({
            "secret": s.name,
            "kind": t.map_or("unknown", |t| kind_name(t.kind)),
            "present": true,
            "source": s.source,
            "certificate": cert.as_ref().map(Certificate::summary),
            "key": key.as_ref().map(PrivateKey::summary),
            "durationAnnotation": s.duration_annotation,
            "nextRotation": deadline,
            "bundle": {
                "configMap": cm,
                "present": bundle.is_some(),
                "verifies": chain.as_ref().map(Result::is_ok),
                "anchor": chain.as_ref().and_then(|c| c.as_ref().ok()),
                "error": chain.as_ref().and_then(|c| c.as_ref().err()),
            },
            "problems": mine.iter().map(|f| f.json.clone()).collect::<Vec<_>>(),
        }));
        let summary = cert.as_ref().map(Certificate::summary);
        rows.push(vec![
            s.name.clone(),
            t.map_or("unknown", |t| kind_name(t.kind)).to_string(),
            summary
                .and_then(|x| x.common_name.clone())
                .unwrap_or_else(|| "-".into()),
            summary.map_or_else(|| "-".into(), sans_text),
            summary.map_or_else(|| "-".into(), usages_text),
            summary.map_or_else(|| "-".into(), |x| ts(x.not_before)),
            summary.map_or_else(|| "-".into(), |x| ts(x.not_after)),
            deadline.map_or_else(|| "-".into(), |d| ts(d.at)),
            match &chain {
                None => "-".into(),
                Some(Ok(_)) => "yes".into(),
                Some(Err(_)) => "no".into(),
            },
            mine.len().to_string(),
        ]);
        all.extend(mine);
    }

    // Secrets virt-operator always creates that are not there.
    let present: HashSet<&str> = gathered.secrets.iter().map(|s| s.name.as_str()).collect();
    for t in SECRETS
        .iter()
        .filter(|t| !t.optional && !present.contains(t.secret_name))
    {
        let f = found(
            t.secret_name,
            t.secret_name,
            "missing_secret",
            format!(
                "secret {} not found (virt-operator would create it)",
                t.secret_name
            ),
        );
        rows_json.push(json!({
            "secret": t.secret_name,
            "kind": kind_name(t.kind),
            "present": false,
            "problems": [f.json.clone()],
        }));
        rows.push(vec![
            t.secret_name.to_string(),
            kind_name(t.kind).into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "1".into(),
        ]);
        all.push(f);
    }

    let code = u8::from(!all.is_empty());
    if g.quiet {
        return Ok(code);
    }
    if is_structured(g.output) {
        let mut bundle_names: Vec<&String> = gathered.bundles.keys().collect();
        bundle_names.sort();
        let v = json!({
            "now": ts(now),
            "namespace": ns,
            "schedule": schedule_json(&schedule),
            "secrets": rows_json,
            "bundles": bundle_names.iter().map(|name| {
                let b = &gathered.bundles[name.as_str()];
                json!({
                    "configMap": name,
                    "location": b.loc,
                    "readable": parsed_bundles.contains_key(name.as_str()),
                    "certificates": parsed_bundles.get(name.as_str())
                        .map(|certs| certs.iter().map(cert_brief).collect::<Vec<_>>()),
                })
            }).collect::<Vec<_>>(),
            "problemCount": all.len(),
        });
        print_json_or_yaml(&v, g.output)?;
        return Ok(code);
    }
    print!("{}", crate::render::table(&rows));
    if all.is_empty() {
        println!(
            "\nNo problems: {} secrets checked in namespace {ns} at {}.",
            gathered.secrets.len(),
            ts(now)
        );
    } else {
        println!("\n{} problem(s):", all.len());
        for f in &all {
            if f.location == f.secret {
                println!("  {}: {}", f.secret, f.message);
            } else {
                println!("  {}: {}", f.location, f.message);
            }
        }
    }
    Ok(code)
}

// ---------------------------------------------------------------------------------------------
// verify

/// Component types KubeVirt accepts for a peer role in any of its connections.
fn default_types(role: PeerRole) -> Vec<String> {
    let mut types: Vec<String> = Vec::new();
    for c in Connection::ALL {
        let policy = match role {
            PeerRole::Client => Some(c.server_side()),
            PeerRole::Server => c.client_side(),
        };
        for t in policy.map(|p| p.allowed_types).unwrap_or_default() {
            if !types.contains(&t) {
                types.push(t);
            }
        }
    }
    types
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
        None if cn.starts_with("kubevirt.io:system:client:") => PeerRole::Client,
        None if cn.starts_with("kubevirt.io:system:node:") => PeerRole::Server,
        None => {
            let eku = &leaf.summary().ext_key_usages;
            let client = eku.contains(&virtguard_pki::ExtKeyUsage::ClientAuth);
            let server = eku.contains(&virtguard_pki::ExtKeyUsage::ServerAuth);
            match (client, server) {
                (true, false) => PeerRole::Client,
                (false, true) => PeerRole::Server,
                _ => bail!(
                    "{cert_path}: cannot tell whether {cn:?} is a client or a server certificate; pass --usage client|server"
                ),
            }
        }
    };
    let types = if a.cn_type.is_empty() {
        default_types(role)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            let enc = b64_encode(data);
            assert_eq!(b64_decode(&enc).unwrap(), data);
        }
        assert_eq!(b64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(b64_encode(b"fo"), "Zm8=");
        assert_eq!(b64_decode("Zm9v\nYmFy").unwrap(), b"foobar");
        assert!(b64_decode("Zm9vY").is_err());
        assert!(b64_decode("Zm9v!").is_err());
        assert!(b64_decode("Zm8=Zm8=").is_err());
    }

    #[test]
    fn default_types_per_role() {
        assert_eq!(
            default_types(PeerRole::Client),
            [
                "virt-handler",
                "migration",
                "monitoring",
                "virt-synchronization-controller"
            ]
        );
        assert_eq!(
            default_types(PeerRole::Server),
            ["virt-handler", "virt-synchronization-controller"]
        );
    }
}
