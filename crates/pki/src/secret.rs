//! KubeVirt's certificate Secrets and CA-bundle ConfigMaps as Kubernetes objects: the manifests
//! virt-operator creates ([`secret_manifest`], [`config_map_manifest`]), and the one reader of
//! their data ([`secret_data`], [`config_map_bundle`]) used by every caller — `certs inspect -f`
//! through [`gather_objects`], and the audit's certificate check.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::components::{
    secret_template, CaKind, CA_BUNDLE_KEY, CERT_KEY, DEFAULT_NAMESPACE, DURATION_ANNOTATION,
    MANAGED_BY, PRIVATE_KEY_KEY,
};
use crate::issue::IssuedCert;
use crate::review::{Gathered, GatheredBundle, GatheredSecret};
use crate::schedule::{CertificateRotateStrategy, Schedule};

/// A Secret or ConfigMap as virt-operator creates it (`apiVersion`, `kind`, `metadata`,
/// `type`, `data`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always `v1`.
    pub api_version: &'static str,
    /// `Secret` or `ConfigMap`.
    pub kind: &'static str,
    /// Name, namespace, labels and annotations.
    pub metadata: ManifestMeta,
    /// `kubernetes.io/tls` for a Secret; none for a ConfigMap.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<&'static str>,
    /// The data: base64 `tls.crt`/`tls.key` for a Secret, the PEM `ca-bundle` for a ConfigMap.
    pub data: BTreeMap<&'static str, String>,
}

/// The metadata of a [`Manifest`].
#[derive(Debug, Clone, Serialize)]
pub struct ManifestMeta {
    /// Object name.
    pub name: String,
    /// Install namespace.
    pub namespace: String,
    /// virt-operator's labels.
    pub labels: BTreeMap<&'static str, &'static str>,
    /// `kubevirt.io/duration` on Secrets.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<&'static str, String>,
}

fn operator_labels() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("app.kubernetes.io/component", "kubevirt"),
        ("app.kubernetes.io/managed-by", MANAGED_BY),
    ])
}

/// The `kubernetes.io/tls` Secret `name` holding `issued`, annotated with its lifetime.
pub fn secret_manifest(
    name: &str,
    namespace: &str,
    duration: &str,
    issued: &IssuedCert,
) -> Manifest {
    Manifest {
        api_version: "v1",
        kind: "Secret",
        metadata: ManifestMeta {
            name: name.to_string(),
            namespace: namespace.to_string(),
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

/// The ConfigMap `name` publishing `bundle` (PEM) under `ca-bundle`.
pub fn config_map_manifest(name: &str, namespace: &str, bundle: &str) -> Manifest {
    Manifest {
        api_version: "v1",
        kind: "ConfigMap",
        metadata: ManifestMeta {
            name: name.to_string(),
            namespace: namespace.to_string(),
            labels: operator_labels(),
            annotations: BTreeMap::new(),
        },
        type_: None,
        data: BTreeMap::from([(CA_BUNDLE_KEY, bundle.to_string())]),
    }
}

/// Standard base64 with padding (Kubernetes Secret `data`).
fn b64_encode(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decodes standard base64 as Kubernetes writes it (whitespace and line breaks ignored).
fn b64_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(compact)
}

/// Why a Secret's data key cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SecretDataError {
    /// `data.<key>` holds something other than a string.
    #[error("data.{key} is not a string")]
    NotAString {
        /// The data key.
        key: String,
    },
    /// `data.<key>` is not base64.
    #[error("data.{key}: invalid base64: {reason}")]
    BadBase64 {
        /// The data key.
        key: String,
        /// The decoder's message.
        reason: String,
    },
}

/// The bytes under `key` of a Secret object: `data.<key>` (base64, line breaks ignored), else
/// `stringData.<key>`; `None` when neither is there.
pub fn secret_data(secret: &Value, key: &str) -> Result<Option<Vec<u8>>, SecretDataError> {
    if let Some(encoded) = secret.get("data").and_then(|d| d.get(key)) {
        let text = encoded
            .as_str()
            .ok_or_else(|| SecretDataError::NotAString {
                key: key.to_string(),
            })?;
        return b64_decode(text)
            .map(Some)
            .map_err(|e| SecretDataError::BadBase64 {
                key: key.to_string(),
                reason: e.to_string(),
            });
    }
    Ok(str_at(secret, &["stringData", key]).map(|s| s.as_bytes().to_vec()))
}

/// Annotation naming the data keys of a Secret that [`withhold_private_data`] dropped
/// (comma-separated), so checks can tell a withheld key from a missing one.
pub const WITHHELD_ANNOTATION: &str = "virtguard.io/withheld-data";

/// Annotations that may copy a Secret's data (kubectl's last-applied configuration).
const DATA_COPIES: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration"];

/// Keeps what of a Secret is public — metadata, type, and data entries that hold only PEM
/// certificates (`tls.crt`, `ca.crt`) — and drops the rest: private keys, tokens, passwords,
/// `stringData`, and kubectl's last-applied copy. The dropped keys are listed in
/// [`WITHHELD_ANNOTATION`]. Read live, virtguard never keeps a secret it does not need.
pub fn withhold_private_data(secret: &mut Value) {
    let Some(obj) = secret.as_object_mut() else {
        return;
    };
    let mut withheld: Vec<String> = Vec::new();
    if let Some(Value::Object(data)) = obj.get_mut("data") {
        data.retain(|k, v| {
            let public = v
                .as_str()
                .and_then(|t| b64_decode(t).ok())
                .is_some_and(|b| only_certificates(&b));
            if !public {
                withheld.push(k.clone());
            }
            public
        });
    } else if obj.contains_key("data") {
        obj.remove("data");
        withheld.push("data".into());
    }
    if let Some(Value::Object(sd)) = obj.remove("stringData") {
        withheld.extend(sd.keys().cloned());
    }
    let Some(meta) = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()))
        .as_object_mut()
    else {
        return;
    };
    if let Some(Value::Object(ann)) = meta.get_mut("annotations") {
        for a in DATA_COPIES {
            ann.remove(*a);
        }
    }
    if withheld.is_empty() {
        return;
    }
    withheld.sort();
    withheld.dedup();
    let ann = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(ann) = ann.as_object_mut() {
        ann.insert(
            WITHHELD_ANNOTATION.into(),
            Value::String(withheld.join(",")),
        );
    }
}

/// Whether data `key` of a Secret was dropped by [`withhold_private_data`].
pub fn is_withheld(secret: &Value, key: &str) -> bool {
    str_at(secret, &["metadata", "annotations", WITHHELD_ANNOTATION])
        .is_some_and(|list| list.split(',').any(|k| k == key))
}

/// Whether `bytes` are one or more PEM certificates and nothing else of PEM.
fn only_certificates(bytes: &[u8]) -> bool {
    let Ok(blocks) = pem::parse_many(bytes) else {
        return false;
    };
    let begins = bytes.windows(11).filter(|w| w == b"-----BEGIN ").count();
    !blocks.is_empty() && begins == blocks.len() && blocks.iter().all(|b| b.tag() == "CERTIFICATE")
}

/// `data.ca-bundle` of a CA-bundle ConfigMap object.
pub fn config_map_bundle(config_map: &Value) -> Option<&str> {
    str_at(config_map, &["data", CA_BUNDLE_KEY])
}

/// The `kubevirt.io/duration` annotation of an object.
pub fn duration_annotation(object: &Value) -> Option<&str> {
    str_at(object, &["metadata", "annotations", DURATION_ANNOTATION])
}

fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// A Kubernetes object as [`gather_objects`] reads it (implemented by the caller over its own
/// object type, e.g. a snapshot's).
pub trait KubeObject {
    /// `kind`.
    fn kind(&self) -> &str;
    /// `metadata.name`.
    fn name(&self) -> &str;
    /// `metadata.namespace` (empty when cluster-scoped).
    fn namespace(&self) -> &str;
    /// The object as JSON, when it has one.
    fn value(&self) -> Option<&Value>;
    /// Where the object is, for messages (e.g. `kv.yaml:3: Secret kubevirt/kubevirt-ca`).
    fn location(&self) -> String;
}

/// Why the objects cannot be gathered.
#[derive(Debug, Error)]
pub enum GatherError {
    /// A Secret's `tls.crt` or `tls.key` cannot be read.
    #[error("{location}")]
    SecretData {
        /// The object.
        location: String,
        /// What is wrong.
        source: SecretDataError,
    },
    /// The KubeVirt CR's `spec.certificateRotateStrategy` is not KubeVirt's shape.
    #[error("{location}: spec.certificateRotateStrategy")]
    RotateStrategy {
        /// The KubeVirt CR.
        location: String,
        /// The decoding error.
        source: serde_json::Error,
    },
}

/// Whether `o` is a certificate Secret virt-operator manages: one of its names, or labelled
/// `managed-by: virt-operator` with a `tls.crt`.
fn is_managed_secret(o: &dyn KubeObject) -> bool {
    o.kind() == "Secret"
        && o.value().is_some_and(|v| {
            secret_template(o.name()).is_some()
                || str_at(v, &["metadata", "labels", "app.kubernetes.io/managed-by"])
                    == Some(MANAGED_BY)
                    && v.get("data").and_then(|d| d.get(CERT_KEY)).is_some()
        })
}

/// The certificate Secrets and CA-bundle ConfigMaps of the install namespace among `objects`,
/// with the rotation settings of the KubeVirt CR. The namespace is `namespace`, else the KubeVirt
/// CR's, else that of the first managed Secret, else `kubevirt`.
pub fn gather_objects<O: KubeObject>(
    objects: &[O],
    namespace: Option<&str>,
) -> Result<Gathered, GatherError> {
    let kubevirt = objects.iter().find(|o| o.kind() == "KubeVirt");
    let namespace = namespace
        .map(str::to_string)
        .or_else(|| kubevirt.map(|o| o.namespace().to_string()))
        .or_else(|| {
            objects
                .iter()
                .find(|o| is_managed_secret(*o))
                .map(|o| o.namespace().to_string())
        })
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    let strategy = kubevirt.and_then(|o| {
        let spec = o.value()?.get("spec")?;
        Some((o, spec.get("certificateRotateStrategy")?))
    });
    let schedule =
        match strategy {
            Some((o, c)) => {
                let strategy: CertificateRotateStrategy = serde_json::from_value(c.clone())
                    .map_err(|source| GatherError::RotateStrategy {
                        location: o.location(),
                        source,
                    })?;
                Schedule::from_strategy(&strategy)
            }
            None => Schedule::default(),
        };
    let mut secrets = Vec::new();
    let mut bundles = HashMap::new();
    for o in objects.iter().filter(|o| o.namespace() == namespace) {
        let Some(v) = o.value() else { continue };
        if is_managed_secret(o) {
            let location = o.location();
            let text = |key: &str| {
                secret_data(v, key)
                    .map(|b| b.map(|b| String::from_utf8_lossy(&b).into_owned()))
                    .map_err(|source| GatherError::SecretData {
                        location: location.clone(),
                        source,
                    })
            };
            let cert = text(CERT_KEY)?;
            let key = text(PRIVATE_KEY_KEY)?;
            secrets.push(GatheredSecret {
                name: o.name().to_string(),
                cert_location: format!("{location} data.{CERT_KEY}"),
                key_location: format!("{location} data.{PRIVATE_KEY_KEY}"),
                cert_pem: cert.unwrap_or_default(),
                key_pem: key.unwrap_or_default(),
                duration_annotation: duration_annotation(v).map(str::to_string),
                location,
            });
        } else if o.kind() == "ConfigMap"
            && CaKind::ALL.iter().any(|k| k.config_map_name() == o.name())
        {
            bundles.insert(
                o.name().to_string(),
                GatheredBundle {
                    location: format!("{} data.{CA_BUNDLE_KEY}", o.location()),
                    pem: config_map_bundle(v).unwrap_or("").to_string(),
                },
            );
        }
    }
    Ok(Gathered {
        secrets,
        bundles,
        namespace,
        schedule,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_data_is_withheld_and_public_certificates_kept() {
        let cert = include_str!("../tests/data/ec.crt");
        let key = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n";
        let mut s = serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": "x", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"tls.key\":\"...\"}}"}},
            "data": {
                "tls.crt": b64_encode(cert.as_bytes()),
                "ca.crt": b64_encode(format!("{cert}{cert}").as_bytes()),
                "tls.key": b64_encode(key.as_bytes()),
                "both": b64_encode(format!("{cert}{key}").as_bytes()),
                "password": b64_encode(b"hunter2"),
                "notbase64": "%%%",
            },
            "stringData": {"token": "abc"}
        });
        withhold_private_data(&mut s);
        let data = s["data"].as_object().unwrap();
        let mut kept: Vec<&str> = data.keys().map(String::as_str).collect();
        kept.sort();
        assert_eq!(kept, ["ca.crt", "tls.crt"]);
        assert!(s.get("stringData").is_none());
        assert_eq!(
            s["metadata"]["annotations"],
            serde_json::json!({WITHHELD_ANNOTATION: "both,notbase64,password,tls.key,token"})
        );
        assert!(is_withheld(&s, "tls.key"));
        assert!(!is_withheld(&s, "tls.crt"));
        assert_eq!(secret_data(&s, "tls.key").unwrap(), None);
        // Nothing withheld: no annotation.
        let mut public = serde_json::json!({"metadata": {"name": "y"}, "type": "Opaque"});
        withhold_private_data(&mut public);
        assert_eq!(
            public,
            serde_json::json!({"metadata": {"name": "y"}, "type": "Opaque"})
        );
    }

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
    fn secret_data_reads_data_then_string_data() {
        let v = serde_json::json!({
            "data": {"tls.crt": "Zm9v\nYmFy", "bad": "%%%", "num": 1},
            "stringData": {"tls.key": "plain", "tls.crt": "ignored"},
        });
        assert_eq!(
            secret_data(&v, "tls.crt").unwrap(),
            Some(b"foobar".to_vec())
        );
        assert_eq!(secret_data(&v, "tls.key").unwrap(), Some(b"plain".to_vec()));
        assert_eq!(secret_data(&v, "other").unwrap(), None);
        let bad = secret_data(&v, "bad").unwrap_err().to_string();
        assert!(bad.starts_with("data.bad: invalid base64"), "{bad}");
        assert_eq!(
            secret_data(&v, "num").unwrap_err().to_string(),
            "data.num is not a string"
        );
    }
}
