//! The certificates virt-operator manages: one entry per KubeVirt secret with its common-name
//! template, DNS SAN template and usages, resolved against an install namespace.

use std::fmt;

use serde::{Serialize, Serializer};

/// The namespace KubeVirt is installed into unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "kubevirt";

/// Label `app.kubernetes.io/managed-by` value on every managed secret and ConfigMap.
pub const MANAGED_BY: &str = "virt-operator";

/// Annotation carrying the configured lifetime as a Go duration string.
pub const DURATION_ANNOTATION: &str = "kubevirt.io/duration";

/// Secret data key of the PEM certificate.
pub const CERT_KEY: &str = "tls.crt";

/// Secret data key of the PEM private key.
pub const PRIVATE_KEY_KEY: &str = "tls.key";

/// ConfigMap data key of a CA bundle.
pub const CA_BUNDLE_KEY: &str = "ca-bundle";

/// ConfigMap used as an inbox of external CAs to trust (emptied after each merge).
pub const EXTERNAL_CA_CONFIG_MAP: &str = "kubevirt-external-ca";

/// X.509 key usage bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyUsage {
    /// digitalSignature
    DigitalSignature,
    /// nonRepudiation / contentCommitment
    ContentCommitment,
    /// keyEncipherment
    KeyEncipherment,
    /// dataEncipherment
    DataEncipherment,
    /// keyAgreement
    KeyAgreement,
    /// keyCertSign
    CertSign,
    /// cRLSign
    CrlSign,
    /// encipherOnly
    EncipherOnly,
    /// decipherOnly
    DecipherOnly,
}

/// X.509 extended key usage.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExtKeyUsage {
    /// TLS server authentication (1.3.6.1.5.5.7.3.1).
    ServerAuth,
    /// TLS client authentication (1.3.6.1.5.5.7.3.2).
    ClientAuth,
    /// anyExtendedKeyUsage (2.5.29.37.0).
    Any,
    /// Any other purpose, by dotted OID.
    Other(String),
}

impl fmt::Display for ExtKeyUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtKeyUsage::ServerAuth => f.write_str("server_auth"),
            ExtKeyUsage::ClientAuth => f.write_str("client_auth"),
            ExtKeyUsage::Any => f.write_str("any"),
            ExtKeyUsage::Other(oid) => f.write_str(oid),
        }
    }
}

impl Serialize for ExtKeyUsage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What a managed certificate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertKind {
    /// A self-signed CA.
    Ca,
    /// A serving certificate (serverAuth).
    Server,
    /// A client certificate (clientAuth).
    Client,
}

/// The three self-signed CAs virt-operator keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaKind {
    /// `kubevirt-ca`: signs every component certificate.
    KubeVirt,
    /// `kubevirt-export-ca`: signs VM-export server certificates.
    Export,
    /// `kubevirt-backup-ca`: signs backup certificates.
    Backup,
}

impl CaKind {
    /// All CA kinds, in the order virt-operator reconciles them.
    pub const ALL: [CaKind; 3] = [CaKind::KubeVirt, CaKind::Export, CaKind::Backup];

    /// The secret holding this CA's certificate and key.
    pub fn secret_name(self) -> &'static str {
        match self {
            CaKind::KubeVirt => "kubevirt-ca",
            CaKind::Export => "kubevirt-export-ca",
            CaKind::Backup => "kubevirt-backup-ca",
        }
    }

    /// The ConfigMap publishing this CA's bundle (same name as the secret).
    pub fn config_map_name(self) -> &'static str {
        self.secret_name()
    }

    /// The part of the CN before `@<unix seconds>`.
    pub fn cn_prefix(self) -> &'static str {
        match self {
            CaKind::KubeVirt => "kubevirt.io",
            CaKind::Export => "export.kubevirt.io",
            CaKind::Backup => "backup.kubevirt.io",
        }
    }

    /// The CN of a CA created at `unix_seconds`: `<prefix>@<unix seconds>`.
    pub fn common_name(self, unix_seconds: i64) -> String {
        format!("{}@{unix_seconds}", self.cn_prefix())
    }

    /// True when `cn` has this CA's shape, `<prefix>@<digits>`.
    pub fn matches_common_name(self, cn: &str) -> bool {
        cn.strip_prefix(self.cn_prefix())
            .and_then(|rest| rest.strip_prefix('@'))
            .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
    }
}

/// How a secret's subject CN is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CnTemplate {
    /// `<prefix>@<unix seconds>` of a CA.
    Ca(CaKind),
    /// `<service>.<ns>.pod.cluster.local`.
    PodDns(&'static str),
    /// `kubevirt.io:system:client:<type>`.
    Client(&'static str),
    /// `kubevirt.io:system:node:<type>`.
    Node(&'static str),
}

impl CnTemplate {
    /// The CN in namespace `ns`; `None` for a CA, whose CN depends on its creation time.
    pub fn render(self, ns: &str) -> Option<String> {
        match self {
            CnTemplate::Ca(_) => None,
            CnTemplate::PodDns(svc) => Some(format!("{svc}.{ns}.pod.cluster.local")),
            CnTemplate::Client(ty) => Some(client_common_name(ty)),
            CnTemplate::Node(ty) => Some(node_common_name(ty)),
        }
    }
}

/// `kubevirt.io:system:client:<type>`.
pub fn client_common_name(component_type: &str) -> String {
    format!("kubevirt.io:system:client:{component_type}")
}

/// `kubevirt.io:system:node:<type>`.
pub fn node_common_name(component_type: &str) -> String {
    format!("kubevirt.io:system:node:{component_type}")
}

/// One managed secret, independent of the install namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretTemplate {
    /// The secret's name.
    pub secret_name: &'static str,
    /// CA, server or client.
    pub kind: CertKind,
    /// How the CN is built.
    pub cn: CnTemplate,
    /// Service whose DNS names (`<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc`,
    /// `<svc>.<ns>.svc.cluster.local`) are the SANs; `None` for no SANs.
    pub san_service: Option<&'static str>,
    /// True for the virt-template certificates, only present when virt-template is deployed.
    pub optional: bool,
}

const fn server(
    secret_name: &'static str,
    cn: CnTemplate,
    svc: &'static str,
    optional: bool,
) -> SecretTemplate {
    SecretTemplate {
        secret_name,
        kind: CertKind::Server,
        cn,
        san_service: Some(svc),
        optional,
    }
}

const fn client(secret_name: &'static str, ty: &'static str) -> SecretTemplate {
    SecretTemplate {
        secret_name,
        kind: CertKind::Client,
        cn: CnTemplate::Client(ty),
        san_service: None,
        optional: false,
    }
}

const fn ca(kind: CaKind, secret_name: &'static str) -> SecretTemplate {
    SecretTemplate {
        secret_name,
        kind: CertKind::Ca,
        cn: CnTemplate::Ca(kind),
        san_service: None,
        optional: false,
    }
}

/// Every secret virt-operator manages, CAs first.
pub const SECRETS: &[SecretTemplate] = &[
    ca(CaKind::KubeVirt, "kubevirt-ca"),
    ca(CaKind::Export, "kubevirt-export-ca"),
    ca(CaKind::Backup, "kubevirt-backup-ca"),
    server(
        "kubevirt-operator-certs",
        CnTemplate::PodDns("kubevirt-operator-webhook"),
        "kubevirt-operator-webhook",
        false,
    ),
    server(
        "kubevirt-virt-api-certs",
        CnTemplate::PodDns("virt-api"),
        "virt-api",
        false,
    ),
    server(
        "kubevirt-controller-certs",
        CnTemplate::PodDns("virt-controller"),
        "virt-controller",
        false,
    ),
    server(
        "kubevirt-exportproxy-certs",
        CnTemplate::PodDns("virt-exportproxy"),
        "virt-exportproxy",
        false,
    ),
    server(
        "kubevirt-virt-handler-server-certs",
        CnTemplate::Node("virt-handler"),
        "virt-handler",
        false,
    ),
    client("kubevirt-virt-handler-certs", "virt-handler"),
    client("kubevirt-virt-handler-migration-client-certs", "migration"),
    client("kubevirt-virt-handler-vsock-client-certs", "vsock"),
    client(
        "kubevirt-virt-handler-monitoring-client-certs",
        "monitoring",
    ),
    client(
        "kubevirt-synchronization-controller-certs",
        "virt-synchronization-controller",
    ),
    server(
        "kubevirt-synchronization-controller-server-certs",
        CnTemplate::Node("virt-synchronization-controller"),
        "virt-synchronization-controller",
        false,
    ),
    server(
        "kubevirt-virt-template-api-certs",
        CnTemplate::PodDns("virt-template-api-service"),
        "virt-template-api-service",
        true,
    ),
    server(
        "kubevirt-virt-template-webhook-certs",
        CnTemplate::PodDns("virt-template-webhook-service"),
        "virt-template-webhook-service",
        true,
    ),
    server(
        "kubevirt-virt-template-controller-metrics-certs",
        CnTemplate::PodDns("virt-template-controller-manager-metrics-service"),
        "virt-template-controller-manager-metrics-service",
        true,
    ),
];

/// The template of the managed secret called `name`, if any.
pub fn secret_template(name: &str) -> Option<&'static SecretTemplate> {
    SECRETS.iter().find(|t| t.secret_name == name)
}

/// The four DNS names of a service: `<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc`,
/// `<svc>.<ns>.svc.cluster.local`.
pub fn service_dns_names(svc: &str, ns: &str) -> Vec<String> {
    vec![
        svc.to_string(),
        format!("{svc}.{ns}"),
        format!("{svc}.{ns}.svc"),
        format!("{svc}.{ns}.svc.cluster.local"),
    ]
}

impl SecretTemplate {
    /// The CA this secret is: `Some` only for CA secrets.
    pub fn ca_kind(&self) -> Option<CaKind> {
        match self.cn {
            CnTemplate::Ca(kind) => Some(kind),
            _ => None,
        }
    }

    /// The CA that signs this secret's certificate (`kubevirt-ca` for every leaf); `None` for CAs.
    pub fn signer(&self) -> Option<CaKind> {
        match self.kind {
            CertKind::Ca => None,
            CertKind::Server | CertKind::Client => Some(CaKind::KubeVirt),
        }
    }

    /// Key usage bits: CertSign+DigitalSignature+KeyEncipherment for a CA,
    /// KeyEncipherment+DigitalSignature for a leaf.
    pub fn key_usages(&self) -> Vec<KeyUsage> {
        match self.kind {
            CertKind::Ca => vec![
                KeyUsage::DigitalSignature,
                KeyUsage::KeyEncipherment,
                KeyUsage::CertSign,
            ],
            CertKind::Server | CertKind::Client => {
                vec![KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment]
            }
        }
    }

    /// Extended key usages: serverAuth for servers, clientAuth for clients, none for CAs.
    pub fn ext_key_usages(&self) -> Vec<ExtKeyUsage> {
        match self.kind {
            CertKind::Ca => Vec::new(),
            CertKind::Server => vec![ExtKeyUsage::ServerAuth],
            CertKind::Client => vec![ExtKeyUsage::ClientAuth],
        }
    }

    /// The SAN DNS names in namespace `ns`.
    pub fn dns_names(&self, ns: &str) -> Vec<String> {
        self.san_service
            .map(|svc| service_dns_names(svc, ns))
            .unwrap_or_default()
    }

    /// Everything needed to issue or check this certificate in namespace `ns`.
    pub fn resolve(&self, ns: &str) -> ComponentCert {
        ComponentCert {
            secret_name: self.secret_name.to_string(),
            kind: self.kind,
            common_name: self.cn.render(ns),
            dns_names: self.dns_names(ns),
            key_usages: self.key_usages(),
            ext_key_usages: self.ext_key_usages(),
        }
    }
}

/// A managed certificate's expected contents in one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentCert {
    /// The secret's name.
    pub secret_name: String,
    /// CA, server or client.
    pub kind: CertKind,
    /// The subject CN; `None` for a CA (its CN carries its creation time).
    pub common_name: Option<String>,
    /// SAN DNS names.
    pub dns_names: Vec<String>,
    /// Key usage bits.
    pub key_usages: Vec<KeyUsage>,
    /// Extended key usages.
    pub ext_key_usages: Vec<ExtKeyUsage>,
}

/// Every managed certificate resolved for namespace `ns`.
pub fn component_certs(ns: &str) -> Vec<ComponentCert> {
    SECRETS.iter().map(|t| t.resolve(ns)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_every_secret_once() {
        assert_eq!(SECRETS.len(), 17);
        let mut names: Vec<_> = SECRETS.iter().map(|t| t.secret_name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SECRETS.len());
    }

    #[test]
    fn virt_api_in_custom_namespace() {
        let c = secret_template("kubevirt-virt-api-certs")
            .unwrap()
            .resolve("kv");
        assert_eq!(
            c.common_name.as_deref(),
            Some("virt-api.kv.pod.cluster.local")
        );
        assert_eq!(
            c.dns_names,
            [
                "virt-api",
                "virt-api.kv",
                "virt-api.kv.svc",
                "virt-api.kv.svc.cluster.local"
            ]
        );
        assert_eq!(c.ext_key_usages, [ExtKeyUsage::ServerAuth]);
        assert_eq!(
            c.key_usages,
            [KeyUsage::DigitalSignature, KeyUsage::KeyEncipherment]
        );
    }

    #[test]
    fn handler_certs() {
        let server = secret_template("kubevirt-virt-handler-server-certs")
            .unwrap()
            .resolve(DEFAULT_NAMESPACE);
        assert_eq!(
            server.common_name.as_deref(),
            Some("kubevirt.io:system:node:virt-handler")
        );
        assert_eq!(
            server.dns_names[3],
            "virt-handler.kubevirt.svc.cluster.local"
        );
        let client = secret_template("kubevirt-virt-handler-migration-client-certs")
            .unwrap()
            .resolve("x");
        assert_eq!(
            client.common_name.as_deref(),
            Some("kubevirt.io:system:client:migration")
        );
        assert!(client.dns_names.is_empty());
        assert_eq!(client.ext_key_usages, [ExtKeyUsage::ClientAuth]);
        let sync = secret_template("kubevirt-synchronization-controller-certs").unwrap();
        assert_eq!(
            sync.cn.render("x").as_deref(),
            Some("kubevirt.io:system:client:virt-synchronization-controller")
        );
    }

    #[test]
    fn ca_names() {
        assert_eq!(
            CaKind::Export.common_name(1_700_000_000),
            "export.kubevirt.io@1700000000"
        );
        assert!(CaKind::KubeVirt.matches_common_name("kubevirt.io@1"));
        assert!(!CaKind::KubeVirt.matches_common_name("kubevirt.io@"));
        assert!(!CaKind::KubeVirt.matches_common_name("export.kubevirt.io@1"));
        assert!(!CaKind::Backup.matches_common_name("backup.kubevirt.io@1x"));
        let t = secret_template("kubevirt-backup-ca").unwrap();
        assert_eq!(t.ca_kind(), Some(CaKind::Backup));
        assert!(t.ext_key_usages().is_empty());
        assert!(t.key_usages().contains(&KeyUsage::CertSign));
        assert_eq!(t.signer(), None);
        assert_eq!(t.resolve("x").common_name, None);
    }
}
