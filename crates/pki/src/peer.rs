//! The mTLS peer identity check between KubeVirt components: the peer's certificate must chain
//! to the `kubevirt-ca` bundle with the right extended key usage, and (unless externally
//! managed) carry the CN `kubevirt.io:system:<client|node>:<type>` of an allowed type.

use serde::Serialize;
use thiserror::Error;
use time::OffsetDateTime;

use crate::cert::{parse_certificates, Certificate};
use crate::components::{client_common_name, node_common_name, ExtKeyUsage};
use crate::error::PkiError;
use crate::verify::{verify_chain, ChainError, RequiredUsage};

/// What the peer being checked is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerRole {
    /// A client, checked by a server: needs clientAuth and CN `kubevirt.io:system:client:<type>`.
    Client,
    /// A server, checked by a client: needs serverAuth and CN `kubevirt.io:system:node:<type>`.
    Server,
}

impl PeerRole {
    /// What `leaf` is: from its CN (`kubevirt.io:system:client:…` or `…:node:…`), else from
    /// its extended key usage when it has exactly one of clientAuth and serverAuth.
    pub fn of(leaf: &Certificate) -> Option<PeerRole> {
        let cn = leaf.common_name().unwrap_or_default();
        if cn.starts_with("kubevirt.io:system:client:") {
            return Some(PeerRole::Client);
        }
        if cn.starts_with("kubevirt.io:system:node:") {
            return Some(PeerRole::Server);
        }
        let eku = &leaf.summary().ext_key_usages;
        match (
            eku.contains(&ExtKeyUsage::ClientAuth),
            eku.contains(&ExtKeyUsage::ServerAuth),
        ) {
            (true, false) => Some(PeerRole::Client),
            (false, true) => Some(PeerRole::Server),
            _ => None,
        }
    }

    /// Every component type KubeVirt accepts for this role in any of its connections, in
    /// [`Connection::ALL`] order.
    pub fn accepted_types(self) -> Vec<String> {
        let mut types: Vec<String> = Vec::new();
        for c in Connection::ALL {
            let policy = match self {
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
}

/// How to check a peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerPolicy {
    /// What the peer is.
    pub peer_role: PeerRole,
    /// Component types accepted in the CN.
    pub allowed_types: Vec<String>,
    /// `--externally-managed`: skip the CN check and use the intermediates the peer presents.
    pub externally_managed: bool,
}

impl PeerPolicy {
    /// A server checking its clients.
    pub fn client<S: AsRef<str>>(allowed_types: &[S]) -> Self {
        Self::new(PeerRole::Client, allowed_types)
    }

    /// A client checking its server.
    pub fn server<S: AsRef<str>>(allowed_types: &[S]) -> Self {
        Self::new(PeerRole::Server, allowed_types)
    }

    fn new<S: AsRef<str>>(peer_role: PeerRole, allowed_types: &[S]) -> Self {
        PeerPolicy {
            peer_role,
            allowed_types: allowed_types
                .iter()
                .map(|s| s.as_ref().to_string())
                .collect(),
            externally_managed: false,
        }
    }

    /// The same policy with `--externally-managed` set.
    pub fn externally_managed(mut self) -> Self {
        self.externally_managed = true;
        self
    }

    /// The extended key usage the peer must have.
    pub fn required_usage(&self) -> ExtKeyUsage {
        match self.peer_role {
            PeerRole::Client => ExtKeyUsage::ClientAuth,
            PeerRole::Server => ExtKeyUsage::ServerAuth,
        }
    }

    /// The accepted CNs.
    pub fn accepted_common_names(&self) -> Vec<String> {
        self.allowed_types
            .iter()
            .map(|t| match self.peer_role {
                PeerRole::Client => client_common_name(t),
                PeerRole::Server => node_common_name(t),
            })
            .collect()
    }
}

/// KubeVirt's mTLS connections and the checks each side applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// virt-api → virt-handler console/VNC server.
    VirtApiToHandler,
    /// virt-handler → virt-handler migration proxy (default `--migration-cn-types`).
    HandlerMigration,
    /// vmstats server on virt-handler (server side only).
    VmStats,
    /// sync-controller ↔ sync-controller.
    SyncController,
}

impl Connection {
    /// Every connection.
    pub const ALL: [Connection; 4] = [
        Connection::VirtApiToHandler,
        Connection::HandlerMigration,
        Connection::VmStats,
        Connection::SyncController,
    ];

    /// The check the listening side applies to clients.
    pub fn server_side(self) -> PeerPolicy {
        match self {
            Connection::VirtApiToHandler => PeerPolicy::client(&["virt-handler"]),
            Connection::HandlerMigration => PeerPolicy::client(&["virt-handler", "migration"]),
            Connection::VmStats => PeerPolicy::client(&["monitoring"]),
            Connection::SyncController => PeerPolicy::client(&["virt-synchronization-controller"]),
        }
    }

    /// The check the connecting side applies to the server, if any.
    pub fn client_side(self) -> Option<PeerPolicy> {
        match self {
            Connection::VirtApiToHandler | Connection::HandlerMigration => {
                Some(PeerPolicy::server(&["virt-handler"]))
            }
            Connection::VmStats => None,
            Connection::SyncController => {
                Some(PeerPolicy::server(&["virt-synchronization-controller"]))
            }
        }
    }
}

/// Why a peer was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PeerError {
    /// The peer presented no certificate.
    #[error("no peer certificate presented")]
    NoCertificate,
    /// The peer's certificate cannot be parsed.
    #[error("peer certificate is malformed: {0}")]
    Malformed(PkiError),
    /// The CA bundle cannot be read.
    #[error("CA bundle cannot be read: {0}")]
    BadBundle(PkiError),
    /// The chain does not verify (expired, not yet valid, unknown issuer, wrong usage, ...).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The CN is not one of the accepted ones.
    #[error("common name is invalid, got {0}")]
    InvalidCommonName(String),
}

/// An accepted peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerIdentity {
    /// The peer's CN ("" if it has none).
    pub common_name: String,
    /// The component type from the CN, when the CN was checked.
    pub component_type: Option<String>,
    /// CN of the bundle CA that anchors the chain.
    pub issuer_common_name: Option<String>,
}

/// Checks a peer's presented chain (DER, leaf first) against the CA `bundle` at `now`.
pub fn verify_peer<D: AsRef<[u8]>>(
    presented: &[D],
    bundle: &[Certificate],
    policy: &PeerPolicy,
    now: OffsetDateTime,
) -> Result<PeerIdentity, PeerError> {
    let (first, rest) = presented.split_first().ok_or(PeerError::NoCertificate)?;
    let leaf = Certificate::from_der(first.as_ref()).map_err(PeerError::Malformed)?;
    let intermediates = if policy.externally_managed {
        rest.iter()
            .map(|d| Certificate::from_der(d.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(PeerError::Malformed)?
    } else {
        Vec::new()
    };
    let usage = match policy.peer_role {
        PeerRole::Client => RequiredUsage::ClientAuth,
        PeerRole::Server => RequiredUsage::ServerAuth,
    };
    let root = verify_chain(&leaf, &intermediates, bundle, usage, now)?;
    let cn = leaf.common_name().unwrap_or_default().to_string();
    let component_type = if policy.externally_managed {
        None
    } else {
        let prefix = match policy.peer_role {
            PeerRole::Client => "kubevirt.io:system:client:",
            PeerRole::Server => "kubevirt.io:system:node:",
        };
        let ty = cn
            .strip_prefix(prefix)
            .filter(|ty| policy.allowed_types.iter().any(|a| a == ty))
            .ok_or_else(|| PeerError::InvalidCommonName(cn.clone()))?;
        Some(ty.to_string())
    };
    Ok(PeerIdentity {
        common_name: cn,
        component_type,
        issuer_common_name: root.common_name().map(str::to_string),
    })
}

/// [`verify_peer`] on PEM text: the presented chain and the `ca-bundle`.
pub fn verify_peer_pem(
    presented_pem: &str,
    bundle_pem: &str,
    policy: &PeerPolicy,
    now: OffsetDateTime,
) -> Result<PeerIdentity, PeerError> {
    let presented = parse_certificates(presented_pem).map_err(PeerError::Malformed)?;
    let bundle = parse_certificates(bundle_pem).map_err(PeerError::BadBundle)?;
    let ders: Vec<&[u8]> = presented.iter().map(Certificate::der).collect();
    verify_peer(&ders, &bundle, policy, now)
}
