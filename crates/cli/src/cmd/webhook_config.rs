//! `virtguard webhook-config`: the `admissionregistration.k8s.io/v1` ValidatingWebhookConfiguration
//! that sends kube-apiserver's reviews to `serve --admission`, and the Secret holding its serving
//! certificate (issued for the Service's DNS names from the `--pki-dir` CA, which is the
//! webhooks' `caBundle`). One webhook per group of kinds, with rules for exactly the kinds and
//! operations the AdmissionConfig acts on.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};
use virtguard_admission::AdmissionConfig;
use virtguard_pki::LeafSpec;

use crate::args::{Global, WebhookConfigArgs};
use crate::cmd::kubeconfig::{b64, ensure_ca};

/// The serving certificate's lifetime (renew by running the command again).
const SERVING_DURATION: Duration = Duration::days(365);

/// The validating webhook's path on `serve --admission`.
const PATH: &str = "/validate";

pub fn run(g: &Global, a: &WebhookConfigArgs) -> Result<u8> {
    for (flag, v) in [
        ("--service-name", &a.service_name),
        ("--service-namespace", &a.service_namespace),
    ] {
        if v.is_empty()
            || !v
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            bail!("{flag} {v:?}: not a DNS label (lower-case letters, digits and '-')");
        }
    }
    let config = match &a.admission_config {
        None => AdmissionConfig::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--admission-config {path}"))?;
            AdmissionConfig::parse(path, &text)?
        }
    };
    let now = OffsetDateTime::now_utc();
    let ca = ensure_ca(Path::new(&a.pki_dir), now, g.quiet)?;
    let svc = format!("{}.{}.svc", a.service_name, a.service_namespace);
    let dns = vec![
        a.service_name.clone(),
        format!("{}.{}", a.service_name, a.service_namespace),
        svc.clone(),
        format!("{svc}.cluster.local"),
    ];
    let issued = ca
        .issue_leaf(&LeafSpec::server(&svc, &dns, &[]), now, SERVING_DURATION)
        .context("cannot issue the serving certificate")?;
    let ca_pem = ca.certificate().to_pem();
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": format!("{}-tls", a.service_name), "namespace": a.service_namespace,
            "labels": {"app.kubernetes.io/name": "virtguard", "app.kubernetes.io/component": "admission"}},
        "data": {"tls.crt": b64(&issued.cert_pem), "tls.key": b64(&issued.key_pem), "ca.crt": b64(&ca_pem)},
    });
    let vwc = webhook_configuration(a, &config, &b64(&ca_pem));
    let mut out = String::new();
    for doc in [secret, vwc] {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&doc)?);
    }
    print!("{out}");
    Ok(0)
}

/// The ValidatingWebhookConfiguration for `config`.
fn webhook_configuration(
    a: &WebhookConfigArgs,
    config: &AdmissionConfig,
    ca_bundle: &str,
) -> Value {
    let mut webhooks = vec![webhook(
        a,
        "kubevirt-cr.virtguard.io",
        json!([{"apiGroups": ["kubevirt.io"], "apiVersions": ["*"], "resources": ["kubevirts"],
                "operations": ["CREATE", "UPDATE"], "scope": "Namespaced"}]),
        "Fail",
        ca_bundle,
    )];
    if !config.checks.is_empty() {
        webhooks.push(webhook(
            a,
            "workloads.virtguard.io",
            json!([
                {"apiGroups": ["kubevirt.io"], "apiVersions": ["*"],
                 "resources": ["virtualmachines", "virtualmachineinstances", "virtualmachineinstancereplicasets"],
                 "operations": ["CREATE", "UPDATE"], "scope": "Namespaced"},
                {"apiGroups": ["pool.kubevirt.io"], "apiVersions": ["*"], "resources": ["virtualmachinepools"],
                 "operations": ["CREATE", "UPDATE"], "scope": "Namespaced"}
            ]),
            &a.failure_policy,
            ca_bundle,
        ));
    }
    if config.migrations.is_some() {
        webhooks.push(webhook(
            a,
            "migrations.virtguard.io",
            json!([{"apiGroups": ["kubevirt.io"], "apiVersions": ["*"],
                    "resources": ["virtualmachineinstancemigrations"], "operations": ["CREATE"], "scope": "Namespaced"}]),
            &a.failure_policy,
            ca_bundle,
        ));
    }
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "virtguard", "labels": {"app.kubernetes.io/name": "virtguard"}},
        "webhooks": webhooks,
    })
}

fn webhook(
    a: &WebhookConfigArgs,
    name: &str,
    rules: Value,
    failure_policy: &str,
    ca_bundle: &str,
) -> Value {
    json!({
        "name": name,
        "clientConfig": {
            "service": {"name": a.service_name, "namespace": a.service_namespace, "path": PATH, "port": a.port},
            "caBundle": ca_bundle,
        },
        "rules": rules,
        "failurePolicy": failure_policy,
        "matchPolicy": "Equivalent",
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "timeoutSeconds": a.timeout_seconds,
        // Never in the path of the control plane or of virtguard itself.
        "namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
            "values": ["kube-system", a.service_namespace]}]},
        // KubeVirt's own service accounts (virt-operator reconciling its CR, virt-controller
        // creating VMIs from VMs and pools) are never judged.
        "matchConditions": [{"name": "not-kubevirt-components",
            "expression": format!("!request.userInfo.username.startsWith('system:serviceaccount:{}:kubevirt-')", a.kubevirt_namespace)}],
    })
}
