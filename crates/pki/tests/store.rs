//! The PKI directory as readers see it while it is rewritten: each key pair is published as
//! one swap of a `..data` link (a reader resolving it once never gets a new certificate with
//! an old key), and a rotation publishes the CA bundle before any certificate the new CA
//! signs (a leaf read from disk always verifies against the bundle read after it).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use time::OffsetDateTime;
use virtguard_pki::store::DATA_LINK;
use virtguard_pki::verify::{verify_chain, RequiredUsage};
use virtguard_pki::{
    issue_all, parse_certificates, Certificate, PkiDir, RotationRequest, Schedule,
    SelfSignConfiguration,
};

const HANDLER: &str = "kubevirt-virt-handler-certs";

/// Reads the pair of `dir` the way the layout is meant to be read: `..data` resolved once
/// (without it, the files by name).
fn read_resolved(dir: &Path) -> Option<(String, String)> {
    let generation = match std::fs::read_link(dir.join(DATA_LINK)) {
        Ok(generation) => dir.join(generation),
        Err(_) => dir.to_path_buf(),
    };
    let crt = std::fs::read_to_string(generation.join("tls.crt")).ok()?;
    let key = std::fs::read_to_string(generation.join("tls.key")).ok()?;
    Some((crt, key))
}

#[test]
fn a_pair_is_published_as_one_swap_and_old_generations_go() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = PkiDir::new(tmp.path());
    let dir = pki.secret_dir(HANDLER);
    let generations = || {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    pki.write_secret(HANDLER, "cert-1", "key-1").unwrap();
    let first = std::fs::read_link(dir.join(DATA_LINK)).unwrap();
    for name in ["tls.crt", "tls.key"] {
        assert_eq!(
            std::fs::read_link(dir.join(name)).unwrap(),
            Path::new(DATA_LINK).join(name)
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("tls.crt")).unwrap(),
        "cert-1"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("tls.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    pki.write_secret(HANDLER, "cert-2", "key-2").unwrap();
    assert_eq!(
        generations().len(),
        2,
        "the replaced generation is kept once"
    );
    assert!(generations().contains(&first.to_string_lossy().into_owned()));
    pki.write_secret(HANDLER, "cert-3", "key-3").unwrap();
    assert_eq!(generations().len(), 2);
    assert!(!generations().contains(&first.to_string_lossy().into_owned()));
    assert_eq!(
        read_resolved(&dir),
        Some(("cert-3".to_string(), "key-3".to_string()))
    );
    // A plain file left by an older layout (or a user) is turned back into the link.
    std::fs::remove_file(dir.join("tls.crt")).unwrap();
    std::fs::write(dir.join("tls.crt"), "stray").unwrap();
    pki.write_secret(HANDLER, "cert-4", "key-4").unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("tls.crt")).unwrap(),
        "cert-4"
    );
    assert!(std::fs::symlink_metadata(dir.join("tls.crt"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn a_reader_never_sees_a_certificate_with_another_generations_key() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = PkiDir::new(tmp.path());
    pki.write_secret(HANDLER, "cert-0", "key-0").unwrap();
    let dir = pki.secret_dir(HANDLER);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (dir, stop) = (dir.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut reads, mut mixed) = (0usize, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                if let Some((crt, key)) = read_resolved(&dir) {
                    reads += 1;
                    if crt.strip_prefix("cert-") != key.strip_prefix("key-") {
                        mixed.push((crt, key));
                    }
                }
            }
            (reads, mixed)
        })
    };
    for i in 1..=200 {
        pki.write_secret(HANDLER, &format!("cert-{i}"), &format!("key-{i}"))
            .unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let (reads, mixed) = reader.join().unwrap();
    assert!(reads > 0);
    assert!(
        mixed.is_empty(),
        "{} mixed pairs, e.g. {:?}",
        mixed.len(),
        mixed.first()
    );
}

/// While `--force-ca` rotations run, a reader takes the handler's certificate, then the
/// `kubevirt-ca` bundle: the certificate always chains to the bundle read after it.
#[test]
fn a_leaf_on_disk_always_verifies_against_the_bundle_published_before_it() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = PkiDir::new(tmp.path().join("pki"));
    let config = SelfSignConfiguration::default();
    let schedule = Schedule::from_config(Some(&config));
    let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - time::Duration::hours(1);
    pki.write_issued(
        &issue_all("kubevirt", &schedule, t0).unwrap(),
        "kubevirt",
        &config,
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (pki, stop) = (pki.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut checks, mut failures) = (0usize, Vec::new());
            let now = t0 + time::Duration::hours(2);
            while !stop.load(Ordering::Relaxed) {
                let Some((crt, _)) = read_resolved(&pki.secret_dir(HANDLER)) else {
                    continue;
                };
                let Ok(bundle) = std::fs::read_to_string(pki.bundle_path("kubevirt-ca")) else {
                    continue;
                };
                let leaf = Certificate::from_pem(&crt).unwrap();
                let roots = parse_certificates(&bundle).unwrap();
                checks += 1;
                if let Err(e) = verify_chain(&leaf, &[], &roots, RequiredUsage::ClientAuth, now) {
                    failures.push(e.to_string());
                }
            }
            (checks, failures)
        })
    };
    let state = pki.state().unwrap();
    for i in 1..=4 {
        // Distinct CA names (`kubevirt.io@<unix seconds>`): one CA per simulated second.
        let request = RotationRequest {
            schedule,
            now: t0 + time::Duration::seconds(i),
            force: Vec::new(),
            force_ca: true,
        };
        let rotation = pki.rotate(&state, &request).unwrap();
        assert_eq!(rotation.changes.len(), 15);
    }
    stop.store(true, Ordering::Relaxed);
    let (checks, failures) = reader.join().unwrap();
    assert!(checks > 0);
    assert!(
        failures.is_empty(),
        "{} of {checks} checks failed, e.g. {:?}",
        failures.len(),
        failures.first()
    );
}
