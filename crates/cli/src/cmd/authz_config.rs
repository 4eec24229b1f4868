//! `virtguard authz-config`: what puts `serve --authorize` in kube-apiserver's authorizer chain.
//!
//! Two files: the webhook kubeconfig kube-apiserver dials the webhook with (the cluster is the
//! server URL and the `--pki-dir` CA; the user is a client certificate for kube-apiserver issued
//! from that CA, which the webhook's listener requires), and an `apiserver.config.k8s.io/v1`
//! `AuthorizationConfiguration` for `--authorization-config` with the authorizers `Node`, the
//! Cedar webhook, `RBAC`, in that order. The webhook's matchConditions keep `system:masters`,
//! kube-system's service accounts and nodes out of it, so a broken policy set or an outage never
//! locks the control plane out.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use virtguard_pki::{parse_go_duration, LeafSpec};

use crate::args::{AuthzConfigArgs, Global};
use crate::cmd::kubeconfig::{b64, ensure_ca};

/// The webhook kubeconfig's file name.
pub const KUBECONFIG_FILE: &str = "authz-webhook.kubeconfig";
/// The AuthorizationConfiguration's file name.
pub const CONFIG_FILE: &str = "authorization-config.yaml";
/// Where kube-apiserver reads the kubeconfig from when neither --kubeconfig-path nor
/// --output-directory says.
const DEFAULT_KUBECONFIG_PATH: &str = "/etc/kubernetes/virtguard/authz-webhook.kubeconfig";
/// The user name (CN) of kube-apiserver's client certificate.
const APISERVER_USER: &str = "kube-apiserver";
/// The webhook authorizer's name in the chain.
const AUTHORIZER_NAME: &str = "virtguard.cedar";

/// The CEL matchConditions: every one must hold for the webhook to be asked.
pub const MATCH_CONDITIONS: [&str; 3] = [
    "!('system:masters' in request.groups)",
    "!request.user.startsWith('system:serviceaccount:kube-system:')",
    "!('system:nodes' in request.groups)",
];

/// The comment heading the AuthorizationConfiguration: the failure policy trade-off.
const HEADER: &str = "\
# virtguard authz-config: kube-apiserver --authorization-config=<this file>
# Authorizers in order: Node, the Cedar webhook (serve --authorize), RBAC. The first with an
# opinion decides: a Cedar forbid denies, a permit allows, otherwise RBAC decides.
# failurePolicy NoOpinion (fail open): when the webhook is down, slow or errors, RBAC alone
#   decides, so forbid policies are not enforced meanwhile, but the cluster keeps working.
# failurePolicy Deny (fail closed): forbids always hold, but an outage denies every request
#   the webhook is asked about. Either way the matchConditions keep system:masters,
#   kube-system service accounts and nodes away from the webhook, so the control plane runs
#   and an administrator can repair it.
";

/// A Go duration flag, positive and at most `max` when given.
fn duration(flag: &str, value: &str, max: Option<Duration>) -> Result<Duration> {
    let d = parse_go_duration(value)
        .with_context(|| format!("{flag} {value:?}: not a duration such as 3s, 5m or 1h"))?;
    if d <= Duration::ZERO {
        bail!("{flag} {value:?}: must be positive");
    }
    if let Some(max) = max {
        if d > max {
            bail!("{flag} {value:?}: at most {}s", max.whole_seconds());
        }
    }
    Ok(d)
}

/// The webhook URL: `server` with `/authorize` appended when it names no path.
fn webhook_url(server: &str) -> Result<String> {
    let Some(rest) = server.strip_prefix("https://") else {
        bail!("--server {server:?}: the webhook only speaks HTTPS (https://HOST:PORT)");
    };
    if rest.is_empty() || rest.starts_with('/') {
        bail!("--server {server:?}: no host");
    }
    Ok(match rest.find('/') {
        None => format!("{server}{}", crate::cmd::authorize::PATH),
        Some(_) => server.to_string(),
    })
}

/// The AuthorizationConfiguration for a webhook kubeconfig at `kubeconfig_path`.
pub fn authorization_configuration(
    a: &AuthzConfigArgs,
    kubeconfig_path: &str,
) -> serde_json::Value {
    let conditions: Vec<serde_json::Value> = MATCH_CONDITIONS
        .iter()
        .map(|e| json!({"expression": e}))
        .collect();
    json!({
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AuthorizationConfiguration",
        "authorizers": [
            {"type": "Node", "name": "node"},
            {"type": "Webhook", "name": AUTHORIZER_NAME, "webhook": {
                "timeout": a.timeout,
                "authorizedTTL": a.authorized_ttl,
                "unauthorizedTTL": a.unauthorized_ttl,
                "subjectAccessReviewVersion": "v1",
                "matchConditionSubjectAccessReviewVersion": "v1",
                "failurePolicy": a.failure_policy,
                "connectionInfo": {"type": "KubeConfigFile", "kubeConfigFile": kubeconfig_path},
                "matchConditions": conditions,
            }},
            {"type": "RBAC", "name": "rbac"},
        ],
    })
}

/// `virtguard authz-config`.
pub fn run(g: &Global, a: &AuthzConfigArgs) -> Result<u8> {
    let url = webhook_url(&a.server)?;
    duration("--timeout", &a.timeout, Some(Duration::seconds(30)))?;
    duration("--authorized-ttl", &a.authorized_ttl, None)?;
    duration("--unauthorized-ttl", &a.unauthorized_ttl, None)?;
    let expiration = duration("--expiration", &a.expiration, None)?;
    let out_dir = a.output_directory.as_ref().map(PathBuf::from);
    let kubeconfig_path = match (&a.kubeconfig_path, &out_dir) {
        (Some(p), _) => p.clone(),
        (None, Some(dir)) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let dir = std::fs::canonicalize(dir)
                .with_context(|| format!("cannot resolve {}", dir.display()))?;
            dir.join(KUBECONFIG_FILE).display().to_string()
        }
        (None, None) => DEFAULT_KUBECONFIG_PATH.to_string(),
    };

    let now = OffsetDateTime::now_utc();
    let ca = ensure_ca(Path::new(&a.pki_dir), now, g.quiet)?;
    let issued = ca
        .issue_leaf(&LeafSpec::client(APISERVER_USER, &[]), now, expiration)
        .context("cannot issue kube-apiserver's client certificate")?;
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "virtguard-authz", "cluster": {
            "server": url,
            "certificate-authority-data": b64(&ca.certificate().to_pem()),
        }}],
        "users": [{"name": APISERVER_USER, "user": {
            "client-certificate-data": b64(&issued.cert_pem),
            "client-key-data": b64(&issued.key_pem),
        }}],
        "contexts": [{"name": "webhook", "context": {"cluster": "virtguard-authz", "user": APISERVER_USER}}],
        "current-context": "webhook",
        "preferences": {},
    });
    let kubeconfig_text = format!(
        "# The webhook kubeconfig of `virtguard serve --authorize` for kube-apiserver: keep it\n# private (it holds a client key), at {kubeconfig_path}.\n{}",
        serde_yaml_ng::to_string(&kubeconfig)?
    );
    let config_text = format!(
        "{HEADER}{}",
        serde_yaml_ng::to_string(&authorization_configuration(a, &kubeconfig_path))?
    );
    match out_dir {
        Some(dir) => {
            let k = dir.join(KUBECONFIG_FILE);
            virtguard_pki::store::write_file(&k, &kubeconfig_text, 0o600)?;
            let c = dir.join(CONFIG_FILE);
            virtguard_pki::store::write_file(&c, &config_text, 0o644)?;
            if !g.quiet {
                eprintln!("wrote {} and {}", k.display(), c.display());
            }
        }
        None => print!("---\n{kubeconfig_text}---\n{config_text}"),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls() {
        assert_eq!(
            webhook_url("https://10.0.0.5:8443").ok().as_deref(),
            Some("https://10.0.0.5:8443/authorize")
        );
        assert_eq!(
            webhook_url("https://h/x").ok().as_deref(),
            Some("https://h/x")
        );
        assert!(webhook_url("http://h").is_err());
        assert!(webhook_url("https://").is_err());
    }
}
