//! CA-bundle merge: chosen rotation scenarios and property tests.

mod common;

use std::collections::HashSet;
use std::sync::OnceLock;

use common::{ca_at, T0};
use proptest::prelude::*;
use time::{Duration, OffsetDateTime};
use virtguard_pki::{
    initial_ca_bundle, issue_ca, merge_ca_bundle, to_pem_bundle, CaKind, Certificate,
    MAX_BUNDLE_SIZE,
};

fn ca(at: OffsetDateTime, hours: i64) -> Certificate {
    ca_at(at, hours).0.certificate
}

fn pem(certs: &[&Certificate]) -> String {
    to_pem_bundle(certs.iter().copied())
}

const OVERLAP: Duration = Duration::hours(33);
const POOL_SIZE: usize = 120;

#[test]
fn superseded_ca_kept_for_the_overlap_then_dropped() {
    let a = ca(T0, 168);
    let b = ca(T0 + Duration::hours(100), 168);
    let existing = pem(&[&a]);
    let at = |h: i64| b.not_before() + Duration::hours(h);

    let m = merge_ca_bundle(&b, &existing, "", OVERLAP, at(1));
    assert_eq!(m.certificates, [b.clone(), a.clone()]);
    assert_eq!(m.requeue_after, Some(OVERLAP));
    assert!(!m.existing_reset);

    // Exactly at the overlap the old CA is still kept; one second later it is gone.
    let m = merge_ca_bundle(&b, &existing, "", OVERLAP, b.not_before() + OVERLAP);
    assert_eq!(m.certificates.len(), 2);
    let m = merge_ca_bundle(
        &b,
        &existing,
        "",
        OVERLAP,
        b.not_before() + OVERLAP + Duration::seconds(1),
    );
    assert_eq!(m.certificates, vec![b.clone()]);
    assert_eq!(m.requeue_after, None);

    // The next reconcile sees the current CA in the stored bundle: it is not duplicated.
    let stored = merge_ca_bundle(&b, &existing, "", OVERLAP, at(1)).to_pem();
    let m = merge_ca_bundle(&b, &stored, "", OVERLAP, at(2));
    assert_eq!(m.certificates, [b.clone(), a.clone()]);
    let m = merge_ca_bundle(&b, &stored, "", OVERLAP, at(34));
    assert_eq!(m.certificates, [b]);
}

#[test]
fn each_entry_is_measured_against_its_successor() {
    let a = ca(T0, 500);
    let b = ca(T0 + Duration::hours(100), 500);
    let c = ca(T0 + Duration::hours(130), 500);
    // Stored order does not matter: the list is sorted newest first.
    let existing = pem(&[&a, &b]);
    // C is 1h old (keeps B), B is 31h old (keeps A).
    let m = merge_ca_bundle(&c, &existing, "", OVERLAP, T0 + Duration::hours(131));
    assert_eq!(m.certificates, [c.clone(), b.clone(), a.clone()]);
    // C is 1h old (keeps B) but B is 34h old: A goes.
    let c2 = ca(T0 + Duration::hours(133), 500);
    let m = merge_ca_bundle(&c2, &existing, "", OVERLAP, T0 + Duration::hours(134));
    assert_eq!(m.certificates, [c2, b]);
}

#[test]
fn expired_cas_are_dropped() {
    let old = ca(T0, 10);
    let b = ca(T0 + Duration::hours(5), 168);
    let now = T0 + Duration::hours(11);
    let m = merge_ca_bundle(&b, &pem(&[&old]), "", OVERLAP, now);
    assert_eq!(m.certificates, [b]);
}

#[test]
fn stored_bundle_is_cut_to_fifty_newest() {
    let current = ca(T0 + Duration::hours(100), 168);
    let olds: Vec<Certificate> = (0..60)
        .map(|i| ca(T0 + Duration::minutes(i), 1000))
        .collect();
    let refs: Vec<&Certificate> = olds.iter().collect();
    let m = merge_ca_bundle(
        &current,
        &pem(&refs),
        "",
        Duration::hours(1000),
        T0 + Duration::hours(101),
    );
    assert_eq!(m.certificates.len(), MAX_BUNDLE_SIZE);
    assert_eq!(m.certificates[0], current);
    // Newest first: minute 59 down to minute 11 (49 of them after the current CA).
    assert_eq!(m.certificates[1], olds[59]);
    assert_eq!(m.certificates[49], olds[11]);
    // Step 1 keeps 50 stored CAs; with the current one that is 51, so one is cut.
    assert_eq!(m.dropped_over_limit, 1);
}

#[test]
fn unparseable_stored_bundle_is_reset() {
    let b = ca(T0, 168);
    let m = merge_ca_bundle(&b, "-----BEGIN CERTIFICATE-----\nAAAA", "", OVERLAP, T0);
    assert!(m.existing_reset);
    assert_eq!(m.certificates, vec![b.clone()]);
    let m = merge_ca_bundle(&b, "not pem at all", "", OVERLAP, T0);
    assert!(!m.existing_reset, "text without PEM is an empty bundle");
    assert_eq!(m.certificates, [b]);
}

#[test]
fn external_cas_valid_and_deduplicated() {
    let current = ca(T0, 168);
    let now = T0 + Duration::hours(1);
    let ext1 = issue_ca(
        CaKind::Export,
        T0 - Duration::hours(1),
        Duration::hours(100),
    )
    .unwrap()
    .certificate;
    let ext2 = ca(T0 - Duration::hours(2), 100);
    let expired = ca(T0 - Duration::hours(10), 5);
    let future = ca(now + Duration::hours(1), 5);
    let external = pem(&[&ext1, &expired, &ext2, &ext1, &future, &current]);
    let m = merge_ca_bundle(&current, "", &external, OVERLAP, now);
    assert_eq!(
        m.certificates,
        [current.clone(), ext1.clone(), ext2.clone()]
    );
    assert_eq!(m.external_error, None);

    // Strictly inside the validity: an external CA starting exactly now is not added.
    let starts_now = ca(now, 5);
    let m = merge_ca_bundle(&current, "", &pem(&[&starts_now]), OVERLAP, now);
    assert_eq!(m.certificates, vec![current.clone()]);

    // An unparseable inbox adds nothing and is reported.
    let m = merge_ca_bundle(
        &current,
        "",
        "-----BEGIN CERTIFICATE-----\nxx\n",
        OVERLAP,
        now,
    );
    assert_eq!(m.certificates, vec![current.clone()]);
    assert!(m.external_error.is_some());

    // Creation: external CAs first, then the current CA.
    let m = initial_ca_bundle(&current, &pem(&[&ext2, &ext1, &ext2]), OVERLAP, now);
    assert_eq!(m.certificates, [ext2, ext1, current.clone()]);
    assert_eq!(
        m.report().fingerprints[2],
        current.summary().sha256_fingerprint
    );
}

/// 120 CAs created once: 60 with staggered start times and lifetimes, and 60 started a
/// minute apart (from T0+100h, living 200h) so that bundles can overflow 50 entries.
fn pool() -> &'static Vec<Certificate> {
    static POOL: OnceLock<Vec<Certificate>> = OnceLock::new();
    POOL.get_or_init(|| {
        let staggered =
            (0..60i64).map(|i| ca(T0 + Duration::hours(i * 7 % 200), 20 + (i * 13 % 150)));
        let dense = (0..60i64).map(|i| ca(T0 + Duration::hours(100) + Duration::minutes(i), 200));
        staggered.chain(dense).collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn merge_properties(
        // A stored bundle is written by the operator and holds no duplicates.
        existing in prop::collection::btree_set(0usize..POOL_SIZE, 0..90),
        external in prop::collection::vec(0usize..POOL_SIZE, 0..60),
        current_pick in 0usize..POOL_SIZE,
        now_h in 0i64..260,
        overlap_h in 0i64..100,
    ) {
        let pool = pool();
        let now = T0 + Duration::hours(now_h);
        let valid: Vec<&Certificate> = pool.iter().filter(|c| c.is_valid_at(now)).collect();
        prop_assume!(!valid.is_empty());
        let current = valid[current_pick % valid.len()];
        let existing: Vec<usize> = existing.into_iter().rev().collect();
        let existing_pem = pem(&existing.iter().map(|&i| &pool[i]).collect::<Vec<_>>());
        let external_pem = pem(&external.iter().map(|&i| &pool[i]).collect::<Vec<_>>());
        let m = merge_ca_bundle(current, &existing_pem, &external_pem, Duration::hours(overlap_h), now);

        prop_assert!(m.certificates.len() <= MAX_BUNDLE_SIZE);
        prop_assert_eq!(&m.certificates[0], current);
        for c in &m.certificates {
            prop_assert!(c.not_after() >= now, "expired CA in bundle");
        }
        let hashes: HashSet<_> = m.certificates.iter().map(|c| *c.sha256()).collect();
        prop_assert_eq!(hashes.len(), m.certificates.len(), "duplicate in bundle");
        // Everything came from the inputs.
        for c in &m.certificates[1..] {
            let from_existing = existing.iter().any(|&i| &pool[i] == c);
            let from_external = external.iter().any(|&i| &pool[i] == c && c.not_before() < now && now < c.not_after());
            prop_assert!(from_existing || from_external);
        }
        // Nothing valid from the inbox is lost unless the cap cut it.
        if m.dropped_over_limit == 0 {
            for &i in &external {
                let c = &pool[i];
                if c.not_before() < now && now < c.not_after() {
                    prop_assert!(hashes.contains(c.sha256()));
                }
            }
        }
        prop_assert_eq!(m.requeue_after.is_some(), m.certificates.len() > 1);
        // The PEM round-trips.
        prop_assert_eq!(virtguard_pki::parse_certificates(&m.to_pem()).unwrap(), m.certificates.clone());
    }

    #[test]
    fn initial_bundle_properties(
        external in prop::collection::vec(0usize..POOL_SIZE, 0..70),
        current_pick in 0usize..POOL_SIZE,
        now_h in 0i64..260,
    ) {
        let pool = pool();
        let now = T0 + Duration::hours(now_h);
        let current = &pool[current_pick];
        let external_pem = pem(&external.iter().map(|&i| &pool[i]).collect::<Vec<_>>());
        let m = initial_ca_bundle(current, &external_pem, OVERLAP, now);
        prop_assert!(m.certificates.len() <= MAX_BUNDLE_SIZE);
        prop_assert_eq!(m.certificates.last(), Some(current));
        let hashes: HashSet<_> = m.certificates.iter().map(|c| *c.sha256()).collect();
        prop_assert_eq!(hashes.len(), m.certificates.len());
        for c in &m.certificates[..m.certificates.len() - 1] {
            prop_assert!(c.not_before() < now && now < c.not_after());
        }
    }
}
