//! Certificates in the snapshot: KubeVirt's secrets (`kubevirt-ca`, `kubevirt-virt-api-certs`,
//! …, by name in the install namespace) and the CA bundle ConfigMaps, judged by the PKI's
//! rules (expired, past the renewal point, wrong CN/SANs/usage for the secret, wrong key type,
//! key not matching, CA missing from the bundle, bundle over 50) at the audit's instant.

use std::collections::HashMap;

use serde_json::Value;
use virtguard_pki::problems::{problems, CheckContext, Problem, SecretInput};
use virtguard_pki::schedule::{CertificateRotateStrategy, Schedule};
use virtguard_pki::secret::{config_map_bundle, duration_annotation, is_withheld, secret_data};
use virtguard_pki::{secret_template, CaKind, CertKind};

use crate::context::Context;
use crate::finding::{Finding, Severity};
use crate::value::object_ref;
use crate::{finding, Selection};

/// `key` of a Secret as PEM text, through the PKI's Secret reader.
fn decode(v: &Value, key: &str) -> Result<String, String> {
    let bytes = secret_data(v, key)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("data.{key} is missing"))?;
    String::from_utf8(bytes).map_err(|_| format!("data.{key} is not PEM text"))
}

fn severity(p: &Problem) -> Severity {
    match p {
        Problem::Expired { .. }
        | Problem::CertificateUnreadable { .. }
        | Problem::KeyUnreadable { .. }
        | Problem::WrongKeyType { .. } => Severity::High,
        Problem::UnknownSecret { .. } => Severity::Info,
        Problem::RotationDue { .. } => Severity::Medium,
        _ => Severity::Medium,
    }
}

pub(crate) fn run(ctx: &Context<'_>, sel: &Selection, out: &mut Vec<Finding>) {
    if !sel.wants("VG801") {
        return;
    }
    let Some(now) = ctx.now else {
        return;
    };
    let ns = ctx.install_namespace().to_string();
    let secrets: Vec<_> = ctx
        .of_kind("Secret")
        .iter()
        .filter(|o| o.namespace == ns && secret_template(&o.name).is_some())
        .copied()
        .collect();
    if secrets.is_empty() {
        return;
    }
    let bundles: HashMap<&str, &str> = ctx
        .of_kind("ConfigMap")
        .iter()
        .filter(|o| o.namespace == ns)
        .filter_map(|o| Some((o.name.as_str(), config_map_bundle(Context::value(o))?)))
        .collect();
    let schedule = ctx
        .kubevirt()
        .and_then(|cr| Context::value(cr).pointer("/spec/certificateRotateStrategy"))
        .and_then(|s| serde_json::from_value::<CertificateRotateStrategy>(s.clone()).ok())
        .map(|s| Schedule::from_strategy(&s))
        .unwrap_or_default();
    // The current CA certificates, by kind.
    let mut cas: HashMap<CaKind, String> = HashMap::new();
    for o in &secrets {
        if let Some(kind) = secret_template(&o.name).and_then(|t| t.ca_kind()) {
            if let Ok(pem) = decode(Context::value(o), "tls.crt") {
                cas.insert(kind, pem);
            }
        }
    }
    for o in secrets {
        let Some(t) = secret_template(&o.name) else {
            continue;
        };
        let v = Context::value(o);
        // A key withheld by a live read (private data is never read) is not checked.
        let key = if is_withheld(v, "tls.key") {
            Ok(None)
        } else {
            decode(v, "tls.key").map(Some)
        };
        let (cert, key) = match (decode(v, "tls.crt"), key) {
            (Ok(c), Ok(k)) => (c, k),
            (Err(e), _) | (_, Err(e)) => {
                let mut f = finding("VG801", format!("Secret {ns}/{}: {e}", o.name));
                f.severity = Severity::High;
                f.namespace = ns.clone();
                f.objects.push(object_ref(o));
                f.evidence = e;
                out.push(f);
                continue;
            }
        };
        let bundle_kind = t
            .ca_kind()
            .or_else(|| t.signer())
            .unwrap_or(CaKind::KubeVirt);
        let signer = (t.kind != CertKind::Ca)
            .then(|| cas.get(&t.signer().unwrap_or(CaKind::KubeVirt)))
            .flatten();
        let check = CheckContext {
            namespace: &ns,
            schedule,
            ca_bundle_pem: bundles.get(bundle_kind.config_map_name()).copied(),
            current_ca_pem: signer.map(String::as_str),
            now,
        };
        let input = SecretInput {
            name: &o.name,
            cert_pem: &cert,
            key_pem: key.as_deref(),
            duration_annotation: duration_annotation(v),
        };
        for p in problems(&input, &check) {
            let mut f = finding("VG801", format!("Secret {ns}/{}: {p}", o.name));
            f.severity = severity(&p);
            f.namespace = ns.clone();
            f.objects.push(object_ref(o));
            f.evidence = serde_json::to_string(&p).unwrap_or_default();
            f.remediation = format!(
                "Delete the secret to have virt-operator issue a new one (kubectl delete secret -n {ns} {}), or fix the rotation settings.",
                o.name
            );
            out.push(f);
        }
    }
}
