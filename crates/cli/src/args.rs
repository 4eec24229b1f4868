//! Command-line flags, following kubectl's conventions (`-f`, `-n`, `-A`, `--as`, `--as-group`,
//! `-o json|yaml`).

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Who can do what to your VMs: KubeVirt's RBAC, offline and exact.
#[derive(Debug, Parser)]
#[command(name = "virtguard", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Manifests to read: a file, a directory (recursive: .yaml, .yml, .json) or `-` for stdin.
    /// Repeatable. `kubectl get -o yaml` dumps and `kind: List` work as they are.
    #[arg(short = 'f', long = "filename", global = true, value_name = "PATH")]
    pub filename: Vec<String>,

    /// Read a live cluster through this kubeconfig (as kubectl). Without -f and without this flag,
    /// `$KUBECONFIG`, then `~/.kube/config`, then the pod's service account are used. With -f
    /// too, the files' objects win over the cluster's.
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<String>,

    /// The kubeconfig context to read (default: its current context); implies a live read.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,

    /// Built-in roles added before evaluation (objects in the snapshot win): `auto` (Kubernetes'
    /// bootstrap roles, KubeVirt's for the version the snapshot shows, CDI's), `none`, or a list
    /// such as `kubernetes,kubevirt@v1.5,cdi@v1.66.0`.
    #[arg(long, global = true, default_value = "auto", value_name = "DEFAULTS")]
    pub defaults: String,

    /// Report invalid objects as warnings and leave them out instead of failing.
    #[arg(long, global = true)]
    pub skip_invalid: bool,

    /// Cedar policies evaluated before RBAC, as `serve --authorize` does in kube-apiserver's
    /// chain (a `forbid` denies, a `permit` allows, otherwise RBAC decides): a `.cedar` file or a
    /// directory of them; repeatable. `cedar.k8s.aws/v1alpha1` Policy objects in the snapshot
    /// or cluster take part too.
    #[arg(long = "policies", global = true, value_name = "PATH")]
    pub policies: Vec<String>,

    /// Accept a policy set that forbids system:masters, the control plane or the webhook's own
    /// identity what they need (refused by default: it would lock the cluster out).
    #[arg(long = "allow-lockout", global = true)]
    pub allow_lockout: bool,

    /// Output format.
    #[arg(short = 'o', long = "output", global = true, value_enum)]
    pub output: Option<Output>,

    /// Print nothing (no answer, no warnings); only the exit code answers.
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,

    /// No colour in output (audit colours its table on a terminal; `NO_COLOR` works too).
    #[arg(long, global = true)]
    pub no_color: bool,
}

/// Machine-readable output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable text (the default).
    #[value(alias = "table")]
    Text,
    /// JSON, in the schemas documented in the README.
    Json,
    /// The same as YAML.
    Yaml,
    /// SARIF 2.1.0 (audit only).
    Sarif,
    /// JUnit XML (audit only).
    Junit,
    /// One self-contained HTML page (audit, matrix, and paths with its graph view).
    Html,
    /// A Graphviz graph (paths only): `virtguard paths -o dot | dot -Tsvg > paths.svg`.
    Dot,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check whether a user may perform an action (like `kubectl auth can-i`).
    #[command(after_help = CAN_I_EXAMPLES)]
    CanI(CanIArgs),
    /// List every subject that may perform an action, and through which bindings.
    #[command(after_help = WHO_CAN_EXAMPLES)]
    WhoCan(WhoCanArgs),
    /// Answer SubjectAccessReviews in bulk: JSON lines or a YAML stream in, one JSON line out each.
    #[command(after_help = ACCESS_REVIEW_EXAMPLES)]
    AccessReview(AccessReviewArgs),
    /// Print the ClusterRoles and bindings virt-operator creates for a KubeVirt version, as YAML
    /// ready for `kubectl apply`.
    #[command(after_help = ROLES_EXAMPLES)]
    Roles(RolesArgs),
    /// Who gains and who loses which access between two KubeVirt versions, two aggregation
    /// strategies, or two snapshots.
    #[command(after_help = DIFF_EXAMPLES)]
    Diff(DiffArgs),
    /// Access matrix: subjects (or roles) × KubeVirt/CDI resources × verbs.
    #[command(after_help = MATRIX_EXAMPLES)]
    Matrix(MatrixArgs),
    /// Posture audit: KubeVirt's hardening settings and binding-exact RBAC risks.
    #[command(after_help = AUDIT_EXAMPLES)]
    Audit(AuditArgs),
    /// KubeVirt's PKI: issue, rotate, inspect and verify the CA and component certificates.
    Certs(crate::cmd::certs::CertsArgs),
    /// Serve HTTPS (health, readiness, metrics) with KubeVirt's mTLS rule and live certificate
    /// reload; with --api, a read-only Kubernetes API over the snapshot for kubectl.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Print a kubeconfig for `serve --api --pki-dir DIR`: a client certificate (CN = user,
    /// O = groups) signed by DIR's CA, and the CA.
    #[command(after_help = KUBECONFIG_EXAMPLES)]
    Kubeconfig(KubeconfigArgs),
    /// Read a cluster (or manifests) and write what was read as YAML, one List per namespace and
    /// kind: a snapshot every command reads with -f. Secrets keep only metadata, type and public
    /// certificates.
    #[command(after_help = SNAPSHOT_EXAMPLES)]
    Snapshot(SnapshotArgs),
    /// Print the ValidatingWebhookConfiguration (and the serving certificate Secret) that puts
    /// `serve --admission` in kube-apiserver's admission chain, for `kubectl apply -f -`.
    #[command(after_help = WEBHOOK_CONFIG_EXAMPLES)]
    WebhookConfig(WebhookConfigArgs),
    /// Print (or write) what puts `serve --authorize` in kube-apiserver's authorizer chain: the
    /// webhook kubeconfig (the --pki-dir CA, and a client certificate for kube-apiserver issued
    /// from it) and an `apiserver.config.k8s.io/v1` AuthorizationConfiguration (Node, the Cedar
    /// webhook, RBAC) for kube-apiserver's --authorization-config.
    #[command(after_help = AUTHZ_CONFIG_EXAMPLES)]
    AuthzConfig(AuthzConfigArgs),
    /// Privilege-escalation paths: who can become cluster-admin, root on a node, or run code in
    /// virt-launcher, step by step (each step an RBAC decision and a documented mechanism).
    #[command(after_help = PATHS_EXAMPLES)]
    Paths(PathsArgs),
    /// This node's KVM nesting and CPU vulnerability status (feed the JSON to audit --node-facts).
    #[command(after_help = NODE_CHECK_EXAMPLES)]
    NodeCheck(NodeCheckArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  source <(virtguard completion bash)\n  virtguard completion zsh > \"${fpath[1]}/_virtguard\"\n  virtguard completion fish > ~/.config/fish/completions/virtguard.fish"
    )]
    Completion(CompletionArgs),
}

/// What to check: `VERB TYPE[.GROUP][/NAME] [NAME]` or `VERB /url`.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// The verb: get, list, watch, create, update, patch, delete, deletecollection, use, bind, …
    pub verb: Option<String>,
    /// `TYPE[.GROUP][/NAME]` (plural, singular, kind or short name: `vmi`, `virtualmachines`,
    /// `deployments.apps`), or a non-resource URL starting with `/`.
    pub target: Option<String>,
    /// The object name (alternative to `TYPE/NAME`).
    pub name: Option<String>,
    /// Subresource, e.g. `vnc`, `console`, `start`, `log`.
    #[arg(long)]
    pub subresource: Option<String>,
    /// Namespace of the request (default: `default`; ignored for cluster-scoped resources).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Ask across all namespaces.
    #[arg(short = 'A', long = "all-namespaces")]
    pub all_namespaces: bool,
}

#[derive(Debug, Args)]
pub struct CanIArgs {
    #[command(flatten)]
    pub request: RequestArgs,
    /// The user to ask for (impersonation adds `system:authenticated`, and a service account's
    /// groups, as kube-apiserver does).
    #[arg(long = "as", value_name = "USER")]
    pub as_user: Option<String>,
    /// A group of the user; repeatable.
    #[arg(long = "as-group", value_name = "GROUP")]
    pub as_group: Vec<String>,
    /// Print every grant (binding → role → rule, with sources) or why nothing matched.
    #[arg(long)]
    pub explain: bool,
    /// List everything the user may do in the namespace (like `kubectl auth can-i --list`).
    #[arg(long)]
    pub list: bool,
    /// With --list: leave out the header line.
    #[arg(long)]
    pub no_headers: bool,
}

#[derive(Debug, Args)]
pub struct WhoCanArgs {
    #[command(flatten)]
    pub request: RequestArgs,
}

#[derive(Debug, Args)]
pub struct AccessReviewArgs {
    /// File of SubjectAccessReviews (JSON lines, JSON stream or YAML stream); `-` or absent: stdin.
    #[arg(long, value_name = "FILE")]
    pub requests: Option<String>,
}

/// `roleAggregationStrategy` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Strategy {
    /// The default: KubeVirt's roles carry `aggregate-to-*: "true"`.
    #[value(name = "AggregateToDefault")]
    AggregateToDefault,
    /// Opt out: the labels are set to `"false"` (needs the OptOutRoleAggregation gate).
    #[value(name = "Manual")]
    Manual,
}

#[derive(Debug, Args)]
pub struct RolesArgs {
    /// KubeVirt version: `v1.5` (newest v1.5.x in the catalog) or `v1.5.0`.
    #[arg(long = "kubevirt-version", value_name = "VERSION")]
    pub kubevirt_version: String,
    /// `spec.configuration.roleAggregationStrategy`.
    #[arg(long, value_enum, default_value = "AggregateToDefault")]
    pub strategy: Strategy,
    /// `developerConfiguration.featureGates` (comma-separated or repeated).
    #[arg(long = "feature-gates", value_delimiter = ',', value_name = "GATE")]
    pub feature_gates: Vec<String>,
    /// `developerConfiguration.disabledFeatureGates` (comma-separated or repeated).
    #[arg(
        long = "disabled-feature-gates",
        value_delimiter = ',',
        value_name = "GATE"
    )]
    pub disabled_feature_gates: Vec<String>,
    /// Also print the component service accounts' roles and bindings (virt-api, virt-controller,
    /// virt-handler, export proxy, synchronization controller).
    #[arg(long)]
    pub components: bool,
    /// The namespace KubeVirt is installed in.
    #[arg(short = 'n', long, default_value = "kubevirt")]
    pub namespace: String,
    /// Print only the temporary `kubevirt.io:upgrademigrate` ClusterRole that keeps migrations
    /// working for namespace admins across the upgrade to v1.5 (KubeVirt's VMIM hardening blog).
    #[arg(long)]
    pub temporary_migrate_role: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The before side: `kubevirt@VERSION` or `strategy=AggregateToDefault|Manual`.
    #[arg(long, value_name = "SPEC")]
    pub from: Option<String>,
    /// The after side, of the same kind as --from.
    #[arg(long, value_name = "SPEC")]
    pub to: Option<String>,
    /// The before snapshot (with --to-snapshot: compare two snapshots).
    #[arg(long = "from-snapshot", value_name = "PATH")]
    pub from_snapshot: Option<String>,
    /// The after snapshot.
    #[arg(long = "to-snapshot", value_name = "PATH")]
    pub to_snapshot: Option<String>,
    /// Exit 1 when anything is lost (for CI gates).
    #[arg(long = "exit-code")]
    pub exit_code: bool,
}

#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// Namespace of the namespaced columns (default: `default`).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// One row for this user (impersonated as with can-i).
    #[arg(long = "as", value_name = "USER", conflicts_with_all = ["subjects", "roles"])]
    pub as_user: Option<String>,
    /// Groups of the --as user; repeatable.
    #[arg(long = "as-group", value_name = "GROUP", requires = "as_user")]
    pub as_group: Vec<String>,
    /// `all`: one row per subject of any binding in scope (the default).
    #[arg(long, value_name = "all")]
    pub subjects: Option<String>,
    /// One row per role, evaluated by its own rules (after aggregation), e.g.
    /// `admin,edit,view,kubevirt.io:migrate`.
    #[arg(long, value_delimiter = ',', value_name = "ROLE")]
    pub roles: Vec<String>,
    /// With --roles: evaluate each role as bound by a ClusterRoleBinding (cluster-scoped columns
    /// count); by default as bound by a RoleBinding in the namespace (they do not).
    #[arg(long = "cluster-wide", requires = "roles")]
    pub cluster_wide: bool,
    /// Matrix output format (text, json, csv, html); -o json/yaml also work.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Exit 3 when a finding at or above this severity remains (critical, high, medium, low, info).
    #[arg(long = "fail-on", value_name = "SEVERITY")]
    pub fail_on: Option<String>,
    /// YAML list of accepted findings: {id, object or subject, reason, expires: YYYY-MM-DD}.
    #[arg(long, value_name = "FILE")]
    pub suppress: Option<String>,
    /// Run only these checks (comma-separated ids).
    #[arg(long, value_delimiter = ',', value_name = "ID")]
    pub only: Vec<String>,
    /// Skip these checks (comma-separated ids).
    #[arg(long, value_delimiter = ',', value_name = "ID")]
    pub skip: Vec<String>,
    /// Write the report to this file instead of stdout.
    #[arg(long = "output-file", value_name = "FILE")]
    pub output_file: Option<String>,
    /// Print the table of checks and exit.
    #[arg(long = "list-checks")]
    pub list_checks: bool,
    /// Also report escalation paths (VG121 cluster-admin, VG122 node, VG123 virt-launcher): every
    /// subject that is not cluster-admin with a path, as `virtguard paths` finds it. Off by
    /// default: on large clusters the search costs more than every other check together.
    #[arg(long)]
    pub paths: bool,
    /// Read live: also read the private keys of KubeVirt's certificate Secrets, so VG801 checks
    /// that each key matches its certificate (default: keys are withheld, certificates checked).
    #[arg(long = "include-secret-data")]
    pub include_secret_data: bool,
    /// `virtguard node-check -o json` outputs: files or directories of them.
    #[arg(long = "node-facts", value_name = "PATH")]
    pub node_facts: Vec<String>,
    /// The date suppressions expire against (default: today, UTC).
    #[arg(long, value_name = "YYYY-MM-DD", hide = true)]
    pub today: Option<String>,
    /// The instant certificates are judged at (RFC 3339; default: now).
    #[arg(long, value_name = "RFC3339", hide = true)]
    pub now: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory holding the serving certificate `tls.crt` and key `tls.key` (reloaded when they
    /// change).
    #[arg(
        long = "tls-dir",
        value_name = "DIR",
        required_unless_present = "pki_dir"
    )]
    pub tls_dir: Option<String>,
    /// Serve a read-only Kubernetes API over the snapshot (`-f`): discovery, get/list/watch,
    /// the authorization reviews, impersonation, every request authorized by the snapshot's RBAC.
    /// Needs --pki-dir, or --tls-dir with --client-ca.
    #[arg(long)]
    pub api: bool,
    /// A CA and serving certificate for the API, created in DIR on first use (ECDSA P-256, for the
    /// listen address, localhost and 127.0.0.1) and reused; `virtguard kubeconfig --pki-dir DIR`
    /// issues client certificates from it.
    #[arg(long = "pki-dir", value_name = "DIR", conflicts_with_all = ["tls_dir", "client_ca"])]
    pub pki_dir: Option<String>,
    /// Answer kube-apiserver's ValidatingAdmissionWebhook reviews on `POST /validate`: the
    /// KubeVirt CR's own validations, the audit's VM checks and migration limits as configured by
    /// --admission-config; the state (namespace labels, migrations, the KubeVirt CR) is the
    /// snapshot's (-f, reloaded on change) or the cluster's (--kubeconfig). Combinable with --api.
    #[arg(long)]
    pub admission: bool,
    /// Answer kube-apiserver's authorization webhook on `POST /authorize` with the Cedar policies
    /// of --policies (files and directories, watched and reloaded) and the `cedar.k8s.aws` Policy
    /// objects of the snapshot (-f) or cluster (--kubeconfig / --context): a `forbid` denies, a
    /// `permit` allows, otherwise no opinion (kube-apiserver's RBAC decides next). Works without
    /// any snapshot: then the policy files decide alone. Serves /metrics on the same listener.
    /// Combinable with --api and --admission.
    #[arg(long)]
    pub authorize: bool,
    /// The `virtguard.io/v1alpha1` `AdmissionConfig` (checks and their actions, migration limits);
    /// reloaded when it changes (a broken new file keeps the last good one in force).
    #[arg(long = "admission-config", value_name = "FILE", requires = "admission")]
    pub admission_config: Option<String>,
    /// Address to listen on (`:0` picks a free port; see --print-address).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8443")]
    pub listen: String,
    /// Require client certificates chaining to this PEM bundle (reloaded when it changes).
    #[arg(long = "client-ca", value_name = "BUNDLE")]
    pub client_ca: Option<String>,
    /// Allowed client identities: CN `kubevirt.io:system:client:<type>` for these types
    /// (comma-separated); empty: any client certificate from the bundle.
    #[arg(
        long = "client-cn-types",
        value_delimiter = ',',
        value_name = "TYPE",
        requires = "client_ca"
    )]
    pub client_cn_types: Vec<String>,
    /// Minimum TLS version (1.2 or 1.3, also KubeVirt's VersionTLS12 / VersionTLS13).
    #[arg(long = "min-tls-version", value_name = "VERSION")]
    pub min_tls_version: Option<String>,
    /// Allowed cipher suites (IANA or Go names, comma-separated) as KubeVirt's tlsConfiguration.
    #[arg(long = "cipher-suites", value_delimiter = ',', value_name = "SUITE")]
    pub cipher_suites: Vec<String>,
    /// Seconds between the periodic certificate checks (besides the file watch).
    #[arg(long = "reload-interval", value_name = "SECONDS", default_value_t = 60)]
    pub reload_interval: u64,
    /// Print the bound address on stdout once listening.
    #[arg(long = "print-address")]
    pub print_address: bool,
}

#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    /// The directory `serve --api --pki-dir` uses (its CA signs the client certificate; it is
    /// created when missing).
    #[arg(long = "pki-dir", value_name = "DIR")]
    pub pki_dir: String,
    /// The server URL, e.g. https://127.0.0.1:8443.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// The user name (the certificate's CN).
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// A group (the certificate's O); repeatable.
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// How long the client certificate is valid (Go duration: 24h, 90m, 8760h).
    #[arg(long, value_name = "DURATION", default_value = "8760h")]
    pub expiration: String,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Write one file per namespace and kind under DIR (`DIR/<namespace>/<Kind>.yaml`,
    /// cluster-scoped objects in `DIR/_cluster/`) instead of one List on stdout.
    #[arg(long = "output-directory", value_name = "DIR")]
    pub output_directory: Option<String>,
    /// Keep Secrets' private data (default: metadata, type and public certificates only; keys,
    /// tokens and passwords are withheld and named in the `virtguard.io/withheld-data`
    /// annotation).
    #[arg(long = "include-secret-data")]
    pub include_secret_data: bool,
}

#[derive(Debug, Args)]
pub struct WebhookConfigArgs {
    /// The PKI directory (CA created on first use); the serving certificate for the Service is
    /// issued from its CA and printed as a Secret, the CA becomes the webhooks' caBundle.
    #[arg(long = "pki-dir", value_name = "DIR")]
    pub pki_dir: String,
    /// The Service in front of `serve --admission`.
    #[arg(long = "service-name", value_name = "NAME")]
    pub service_name: String,
    /// The Service's namespace (excluded from the webhooks, with kube-system).
    #[arg(long = "service-namespace", value_name = "NAMESPACE")]
    pub service_namespace: String,
    /// The Service port.
    #[arg(long, default_value_t = 443)]
    pub port: u16,
    /// The AdmissionConfig: webhooks are registered only for the kinds it acts on (the KubeVirt
    /// CR always).
    #[arg(long = "admission-config", value_name = "FILE")]
    pub admission_config: Option<String>,
    /// KubeVirt's install namespace: its service accounts are never judged (matchConditions).
    #[arg(
        long = "kubevirt-namespace",
        value_name = "NAMESPACE",
        default_value = "kubevirt"
    )]
    pub kubevirt_namespace: String,
    /// failurePolicy of the workload and migration webhooks (the KubeVirt CR's is Fail).
    #[arg(long = "failure-policy", value_name = "POLICY", default_value = "Ignore", value_parser = ["Ignore", "Fail"])]
    pub failure_policy: String,
    /// timeoutSeconds of every webhook (1–30).
    #[arg(long = "timeout-seconds", default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=30))]
    pub timeout_seconds: u8,
}

#[derive(Debug, Args)]
pub struct AuthzConfigArgs {
    /// The PKI directory of `serve --authorize --pki-dir` (CA created on first use): its CA is the
    /// webhook's certificate authority and issues kube-apiserver's client certificate.
    #[arg(long = "pki-dir", value_name = "DIR")]
    pub pki_dir: String,
    /// The webhook's URL as kube-apiserver reaches it, e.g. https://127.0.0.1:8443 (`/authorize`
    /// is appended when the URL has no path).
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// What kube-apiserver does when the webhook cannot be reached or errors: `NoOpinion`
    /// (fail open: RBAC alone decides, so `forbid` policies are not enforced during an outage)
    /// or `Deny` (fail closed: every request the webhook is asked about is denied during an
    /// outage — only safe with matchConditions that keep the control plane out).
    #[arg(long = "failure-policy", value_name = "POLICY", default_value = "NoOpinion", value_parser = ["NoOpinion", "Deny"])]
    pub failure_policy: String,
    /// How long kube-apiserver waits for an answer (Go duration, at most 30s).
    #[arg(long, value_name = "DURATION", default_value = "3s")]
    pub timeout: String,
    /// How long kube-apiserver caches an "allowed" answer (Go duration).
    #[arg(long = "authorized-ttl", value_name = "DURATION", default_value = "5m")]
    pub authorized_ttl: String,
    /// How long kube-apiserver caches a "not allowed" answer (Go duration).
    #[arg(
        long = "unauthorized-ttl",
        value_name = "DURATION",
        default_value = "30s"
    )]
    pub unauthorized_ttl: String,
    /// The path kube-apiserver reads the webhook kubeconfig from (written into the
    /// AuthorizationConfiguration); default: `authz-webhook.kubeconfig` in --output-directory,
    /// or `/etc/kubernetes/virtguard/authz-webhook.kubeconfig`.
    #[arg(long = "kubeconfig-path", value_name = "PATH")]
    pub kubeconfig_path: Option<String>,
    /// How long kube-apiserver's client certificate is valid (Go duration).
    #[arg(long, value_name = "DURATION", default_value = "8760h")]
    pub expiration: String,
    /// Write `authz-webhook.kubeconfig` and `authorization-config.yaml` into DIR (created when
    /// missing) instead of printing both on stdout.
    #[arg(long = "output-directory", value_name = "DIR")]
    pub output_directory: Option<String>,
}

#[derive(Debug, Args)]
pub struct PathsArgs {
    /// Only paths from this subject: `User:NAME`, `Group:NAME` or `ServiceAccount:NS:NAME`
    /// (or `system:serviceaccount:NS:NAME`).
    #[arg(long, value_name = "SUBJECT")]
    pub from: Option<String>,
    /// Target: cluster-admin, node, virt-launcher or all.
    #[arg(long, default_value = "all", value_parser = ["cluster-admin", "node", "virt-launcher", "all"])]
    pub to: String,
    /// Longest path searched.
    #[arg(long = "max-steps", default_value_t = 5)]
    pub max_steps: usize,
}

#[derive(Debug, Args)]
pub struct NodeCheckArgs {
    /// Root of the sysfs tree to read (for tests and containers that mount the host's /sys).
    #[arg(long = "sysfs-root", value_name = "DIR", default_value = "/sys")]
    pub sysfs_root: String,
    /// Node name to report (default: this host's name).
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

const AUDIT_EXAMPLES: &str = "Examples:
  virtguard audit -f examples/cluster
  virtguard audit -f snapshot/ --fail-on high                 # CI gate: exit 3 on high or critical
  virtguard audit -f snapshot/ -o sarif --output-file virtguard.sarif
  virtguard audit -f snapshot/ -o html --output-file audit.html
  virtguard audit -f snapshot/ --suppress accepted.yaml --skip VG204
  virtguard audit --list-checks

Exit status: 0 audited (findings below --fail-on), 2 usage or input error, 3 a finding at or
above --fail-on.";

const SERVE_EXAMPLES: &str = "Examples:
  virtguard certs init --dir pki/
  virtguard serve --tls-dir pki/virt-api-certs --listen 0.0.0.0:8443
  virtguard serve --tls-dir pki/virt-api-certs --client-ca pki/kubevirt-ca/ca-bundle \\
      --client-cn-types virt-handler,migration --min-tls-version 1.3
  curl --cacert pki/kubevirt-ca/ca-bundle --cert client.crt --key client.key https://127.0.0.1:8443/metrics

  virtguard serve --api -f snapshot/ --pki-dir api-pki/ --listen 127.0.0.1:8443
  virtguard kubeconfig --pki-dir api-pki/ --server https://127.0.0.1:8443 --user admin --group system:masters > kubeconfig
  KUBECONFIG=kubeconfig kubectl auth can-i --list --as alice -n prod

Endpoints: /healthz, /readyz, /metrics (Prometheus). SIGTERM drains requests in flight.
With --api: the Kubernetes API over the snapshot (/api, /apis, get/list/watch, reviews,
/version, /healthz, /livez, /readyz); the snapshot files are re-read when they change.
With --authorize: kube-apiserver's authorization webhook on POST /authorize (Cedar policies
only; RBAC runs after it in kube-apiserver) and /metrics; the policies are re-read when they
change (a broken file keeps the last good set). See `virtguard authz-config`:
  virtguard serve --authorize --policies policies/ --pki-dir authz-pki/";

const KUBECONFIG_EXAMPLES: &str = "Examples:
  virtguard kubeconfig --pki-dir api-pki/ --server https://127.0.0.1:8443 --user alice --group vm-admins > alice.kubeconfig
  virtguard kubeconfig --pki-dir api-pki/ --server https://127.0.0.1:8443 --user admin --group system:masters --expiration 24h";

const SNAPSHOT_EXAMPLES: &str = "Examples:
  # The current context's cluster, one YAML List per namespace and kind
  virtguard snapshot --output-directory snap/
  virtguard snapshot --kubeconfig ~/.kube/prod --context admin@prod --output-directory snap/
  # Then offline, as often as needed
  virtguard audit -f snap/
  virtguard who-can create vmim -A -f snap/

Secrets are written with metadata, type and public certificates only (private keys, tokens and
passwords are withheld), unless --include-secret-data.";

const AUTHZ_CONFIG_EXAMPLES: &str = "Examples:
  virtguard serve --authorize --policies policies/ --pki-dir authz-pki/ --listen 0.0.0.0:8443
  virtguard authz-config --pki-dir authz-pki/ --server https://10.0.0.5:8443 \\
    --output-directory /etc/kubernetes/virtguard/
  # then start kube-apiserver with
  #   --authorization-config=/etc/kubernetes/virtguard/authorization-config.yaml

Failure policy: NoOpinion (default) fails open — when virtguard is down or slow, RBAC alone
decides, so Cedar `forbid` policies are not enforced meanwhile but the cluster keeps working.
Deny fails closed — forbids always hold, but an outage denies every request the webhook is
asked about; the matchConditions keep system:masters, kube-system service accounts and nodes
out of the webhook either way, so the control plane and an administrator can still repair it.";

const WEBHOOK_CONFIG_EXAMPLES: &str = "Examples:
  virtguard webhook-config --pki-dir pki/ --service-name virtguard --service-namespace virtguard-system \\
    --admission-config admission.yaml | kubectl apply -f -
  # kube-apiserver authenticates to the webhook with a client certificate of the same CA:
  virtguard kubeconfig --pki-dir pki/ --server https://virtguard.virtguard-system.svc:443 --user kube-apiserver

The KubeVirt CR's webhook fails closed (failurePolicy Fail: its checks are KubeVirt's own); the
workload and migration webhooks fail open by default (--failure-policy Ignore), so an outage of
virtguard never stops VMs from being created.";

const PATHS_EXAMPLES: &str = "Examples:
  virtguard paths -f examples/cluster
  virtguard paths -f examples/cluster --to node -o json
  virtguard paths -f examples/cluster --from ServiceAccount:ci:vm-builder
  virtguard paths -f examples/cluster -o html > paths.html   # graph view, self-contained

Exit status: 0 no path, 1 paths found, 2 usage or input error.";

const NODE_CHECK_EXAMPLES: &str = "Examples:
  virtguard node-check
  virtguard node-check -o json > facts/$(hostname).json   # on each node
  virtguard audit -f snapshot/ --node-facts facts/

Exit status: 0 no finding, 1 findings, 2 the sysfs tree cannot be read.";

const DIFF_EXAMPLES: &str = "Examples:
  # What each default role gains and loses from v1.4.0 to v1.5.0 (the migrate split)
  virtguard diff --from kubevirt@v1.4.0 --to kubevirt@v1.5.0
  # Who in this cluster loses what on that upgrade (virt-operator rewrites its roles)
  virtguard diff --from kubevirt@v1.4.0 --to kubevirt@v1.5.0 -f examples/cluster
  # Opting out of role aggregation
  virtguard diff --from strategy=AggregateToDefault --to strategy=Manual -f examples/cluster
  # Two snapshots, as a CI gate
  virtguard diff --from-snapshot before/ --to-snapshot after/ --exit-code -o json

Exit status: 0, or 1 with --exit-code when any access is lost; 2 usage or input error.";

const MATRIX_EXAMPLES: &str = "Examples:
  virtguard matrix -n vm-prod -f examples/cluster
  virtguard matrix --roles admin,edit,view,kubevirt.io:migrate -f examples/cluster
  virtguard matrix --as alice -n vm-dev -f examples/cluster
  virtguard matrix -n vm-prod --format html -f examples/cluster > matrix.html
  virtguard matrix -n vm-prod --format csv -f examples/cluster

Cells: g get, l list, w watch, c create, u update, p patch, d delete, D deletecollection; - none.";

const ROLES_EXAMPLES: &str = "Examples:
  virtguard roles --kubevirt-version v1.9 > kubevirt-roles.yaml
  virtguard roles --kubevirt-version v1.9 --strategy Manual          # aggregate-to-* labels \"false\"
  virtguard roles --kubevirt-version v1.8 --strategy Manual --feature-gates OptOutRoleAggregation
  virtguard roles --kubevirt-version v1.5 --components -n openshift-cnv
  virtguard roles --kubevirt-version v1.5 --temporary-migrate-role | kubectl apply -f -
  virtguard roles --kubevirt-version v1.9 | virtguard can-i create vmim --as x -f -

Exit status: 0 printed, 2 usage error (unknown version; Manual without the gate, with KubeVirt's
admission message; a version without the field).";

const CAN_I_EXAMPLES: &str = "Examples:
  # Can alice start VMs in vm-dev?
  virtguard can-i update virtualmachines --subresource start -n vm-dev --as alice -f examples/cluster
  # Can the support group open a VNC console? (checked in subresources.kubevirt.io)
  virtguard can-i get vmi --subresource vnc -n vm-dev --as someone --as-group support -f examples/cluster
  # Why? Every grant with its binding, role, rule and source line
  virtguard can-i create vmim -n vm-prod --as carol --explain -f examples/cluster
  # A service account, a named object, a non-resource URL
  virtguard can-i create virtualmachines -n ci --as system:serviceaccount:ci:vm-builder -f examples/cluster
  virtguard can-i update vm/db-1 -n vm-prod --as dave -f examples/cluster
  virtguard can-i get /healthz --as alice -f examples/cluster
  # Everything alice may do in vm-dev
  virtguard can-i --list -n vm-dev --as alice -f examples/cluster
  # The same against the live cluster of the current kubeconfig context
  virtguard can-i get vmi --subresource vnc -n vm-dev --as alice --context prod

Exit status: 0 yes, 1 no, 2 usage or input error.";

const WHO_CAN_EXAMPLES: &str = "Examples:
  virtguard who-can create virtualmachineinstancemigrations -n vm-prod -f examples/cluster
  virtguard who-can get vmi --subresource vnc -A -f examples/cluster
  virtguard who-can get /metrics -f examples/cluster -o json

Exit status: 0 someone can, 1 nobody can, 2 usage or input error.";

const ACCESS_REVIEW_EXAMPLES: &str = "Examples:
  echo '{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":\"SubjectAccessReview\",\"spec\":{\"user\":\"alice\",\"groups\":[\"system:authenticated\"],\"resourceAttributes\":{\"namespace\":\"vm-dev\",\"verb\":\"update\",\"group\":\"subresources.kubevirt.io\",\"resource\":\"virtualmachines\",\"subresource\":\"start\"}}}' \\
    | virtguard access-review -f examples/cluster
  virtguard access-review -f snapshot/ --requests reviews.jsonl > answers.jsonl

Groups are taken exactly as given (nothing is added, as kube-apiserver evaluates a review).
Exit status: 0 every review answered, 2 an input error (a review that could not be evaluated
gets status.evaluationError on its own line; the others are still answered).";
