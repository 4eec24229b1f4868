//! The `ca-bundle` of the CA ConfigMaps: merging the current CA with the previous bundle
//! (overlap window, newest first, at most 50) and with valid external CAs de-duplicated by
//! SHA-256.

use std::collections::HashSet;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::cert::{parse_certificates, to_pem_bundle, Certificate, MAX_BUNDLE_SIZE};

/// The result of a bundle merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedBundle {
    /// The new bundle, current CA first.
    pub certificates: Vec<Certificate>,
    /// The stored bundle could not be parsed and was reset.
    pub existing_reset: bool,
    /// The external bundle could not be parsed (no external CA was added).
    pub external_error: Option<String>,
    /// Entries cut to keep the bundle at [`MAX_BUNDLE_SIZE`].
    pub dropped_over_limit: usize,
    /// When the bundle holds more than one certificate: re-queue after the overlap so the
    /// superseded CA gets pruned.
    pub requeue_after: Option<Duration>,
}

impl MergedBundle {
    /// The bundle as concatenated PEM (the ConfigMap's `ca-bundle` value).
    pub fn to_pem(&self) -> String {
        to_pem_bundle(&self.certificates)
    }

    /// A short, serialisable description.
    pub fn report(&self) -> BundleReport {
        BundleReport {
            fingerprints: self
                .certificates
                .iter()
                .map(|c| c.summary().sha256_fingerprint.clone())
                .collect(),
            existing_reset: self.existing_reset,
            external_error: self.external_error.clone(),
            dropped_over_limit: self.dropped_over_limit,
        }
    }
}

/// Serialisable outline of a [`MergedBundle`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleReport {
    /// SHA-256 fingerprints of the bundle's certificates, in order.
    pub fingerprints: Vec<String>,
    /// The stored bundle was unparseable and reset.
    pub existing_reset: bool,
    /// Why the external bundle was ignored, if it was.
    pub external_error: Option<String>,
    /// Entries cut to stay within 50.
    pub dropped_over_limit: usize,
}

/// Certificates of an external bundle valid at `now` (strictly `NotBefore < now < NotAfter`),
/// without duplicates (by SHA-256 of DER) and without those whose hash is in `seen`.
/// Unparseable text yields no certificate and the error text.
pub fn valid_external_cas(
    external_pem: &str,
    seen: &mut HashSet<[u8; 32]>,
    now: OffsetDateTime,
) -> (Vec<Certificate>, Option<String>) {
    match parse_certificates(external_pem) {
        Ok(certs) => (
            certs
                .into_iter()
                .filter(|c| c.not_before() < now && now < c.not_after())
                .filter(|c| seen.insert(*c.sha256()))
                .collect(),
            None,
        ),
        Err(e) => (Vec::new(), Some(e.to_string())),
    }
}

fn finish(
    mut certificates: Vec<Certificate>,
    overlap: Duration,
) -> (Vec<Certificate>, usize, Option<Duration>) {
    let dropped = certificates.len().saturating_sub(MAX_BUNDLE_SIZE);
    certificates.truncate(MAX_BUNDLE_SIZE);
    let requeue = (certificates.len() > 1).then_some(overlap);
    (certificates, dropped, requeue)
}

/// Merges the bundle as virt-operator does on each reconcile:
/// 1. parse `existing_pem` (reset to empty if unparseable), drop expired certificates, sort
///    newest NotBefore first, keep at most 50;
/// 2. walk that list, stopping once the certificate that superseded the entry (the current CA
///    for the first entry, else the previous entry) has existed for longer than `overlap`;
///    the current CA itself is skipped;
/// 3. the bundle is the current CA followed by the kept entries;
/// 4. valid external CAs from `external_pem` are appended, de-duplicated by SHA-256 (among
///    themselves and against the entries already in the bundle).
///
/// Stored entries are not de-duplicated (the operator never writes duplicates).
///
/// The result is finally capped at 50 entries (virtguard's guarantee; KubeVirt's own steps can
/// exceed 50 only with 50 live older CAs or many external ones) — see `dropped_over_limit`.
pub fn merge_ca_bundle(
    current_ca: &Certificate,
    existing_pem: &str,
    external_pem: &str,
    overlap: Duration,
    now: OffsetDateTime,
) -> MergedBundle {
    let (mut existing, existing_reset) = match parse_certificates(existing_pem) {
        Ok(certs) => (certs, false),
        Err(_) => (Vec::new(), true),
    };
    existing.retain(|c| c.not_after() >= now);
    existing.sort_by_key(|c| std::cmp::Reverse(c.not_before()));
    existing.truncate(MAX_BUNDLE_SIZE);

    let mut bundle = vec![current_ca.clone()];
    let mut superseder = current_ca;
    for cert in &existing {
        if now - superseder.not_before() > overlap {
            break;
        }
        if cert != current_ca {
            bundle.push(cert.clone());
        }
        superseder = cert;
    }

    let mut seen: HashSet<[u8; 32]> = bundle.iter().map(|c| *c.sha256()).collect();
    let (external, external_error) = valid_external_cas(external_pem, &mut seen, now);
    bundle.extend(external);

    let (certificates, dropped_over_limit, requeue_after) = finish(bundle, overlap);
    MergedBundle {
        certificates,
        existing_reset,
        external_error,
        dropped_over_limit,
        requeue_after,
    }
}

/// The bundle written when the ConfigMap is created: the valid external CAs, then the current
/// CA (capped at 50 like [`merge_ca_bundle`]).
pub fn initial_ca_bundle(
    current_ca: &Certificate,
    external_pem: &str,
    overlap: Duration,
    now: OffsetDateTime,
) -> MergedBundle {
    let mut seen: HashSet<[u8; 32]> = HashSet::from([*current_ca.sha256()]);
    let (mut bundle, external_error) = valid_external_cas(external_pem, &mut seen, now);
    let dropped_over_limit = bundle.len().saturating_sub(MAX_BUNDLE_SIZE - 1);
    bundle.truncate(MAX_BUNDLE_SIZE - 1);
    bundle.push(current_ca.clone());
    let (certificates, _, requeue_after) = finish(bundle, overlap);
    MergedBundle {
        certificates,
        existing_reset: false,
        external_error,
        dropped_over_limit,
        requeue_after,
    }
}
