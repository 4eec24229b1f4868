//! The PKI directory: the one module of this crate that reads and writes files. Everything else
//! here is pure; this module turns a directory into the data [`crate::reconcile`] and
//! [`crate::review`] work on, and writes their results back.
//!
//! Layout (what [`PkiDir::write_issued`] writes and the rest reads):
//! * `DIR/<secret>/tls.crt`, `DIR/<secret>/tls.key` (mode 0600) for each secret, published the
//!   way kubelet publishes a Secret volume: the pair is written into a new sibling directory
//!   `DIR/<secret>/..<timestamp>/`, then the symlink `DIR/<secret>/..data` is swapped to it in
//!   one `rename`, and `tls.crt` / `tls.key` are links through `..data`. A reader that resolves
//!   `..data` once (e.g. opens `realpath tls.crt` and the `tls.key` next to it) never sees a new
//!   certificate with an old key; the previous generation is kept until the next write for
//!   readers that resolved it just before the swap.
//! * `DIR/<ca>/ca-bundle` for the three CA ConfigMaps (named like their secrets) and
//!   `DIR/kubevirt-external-ca/ca-bundle` (the external-CA inbox), each replaced atomically
//!   (temporary file, fsync, rename).
//! * `DIR/virtguard-pki.json` ([`PkiState`]): the namespace, the rotation settings and each
//!   secret's `kubevirt.io/duration` annotation.
//!
//! A rotation ([`PkiDir::rotate`]) publishes in KubeVirt's order — CA secrets, then the CA
//! bundles, then the component certificates — and every file is on disk (fsync) before the next
//! step starts, so a peer is never handed a certificate whose CA is not yet in the bundle it
//! reads.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::OffsetDateTime;

use crate::components::{
    CaKind, CA_BUNDLE_KEY, CERT_KEY, DEFAULT_NAMESPACE, EXTERNAL_CA_CONFIG_MAP, PRIVATE_KEY_KEY,
    SECRETS,
};
use crate::duration::format_go_duration;
use crate::reconcile::{
    plan_rotation, Issued, ReconcileError, Rotation, RotationRequest, Stored, StoredSecret,
    StoredText,
};
use crate::review::{Gathered, GatheredBundle, GatheredSecret};
use crate::schedule::{Schedule, SelfSignConfiguration};

/// Name of the state file in a PKI directory.
pub const STATE_FILE: &str = "virtguard-pki.json";

/// The symlink each secret directory's `tls.crt` and `tls.key` go through.
pub const DATA_LINK: &str = "..data";

/// What the directory records next to the certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PkiState {
    /// Install namespace.
    pub namespace: String,
    /// Rotation settings, as the KubeVirt CR's `certificateRotateStrategy.selfSigned`.
    pub self_signed: SelfSignConfiguration,
    /// Per secret: the metadata that is not in its files.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretState>,
}

/// The metadata of one secret that is not in its files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretState {
    /// The `kubevirt.io/duration` annotation virt-operator would have set.
    pub duration: String,
}

/// Why the directory cannot be read or written.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A file-system operation failed.
    #[error("{}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The directory does not exist.
    #[error("{}: no such directory", path.display())]
    NoSuchDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// The path exists but is not a directory.
    #[error("{}: not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The directory holds files and may not be overwritten.
    #[error("{}: directory is not empty", path.display())]
    NotEmpty {
        /// The directory.
        path: PathBuf,
    },
    /// The directory has no state file.
    #[error("{}: not found; this directory was not written by `virtguard certs init`", path.display())]
    NoState {
        /// The state file.
        path: PathBuf,
    },
    /// The state file cannot be read.
    #[error("{}: not a virtguard PKI state file", path.display())]
    BadState {
        /// The state file.
        path: PathBuf,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// The directory holds no certificate secret.
    #[error("{}: no certificate secrets (expected sub-directories with {CERT_KEY} and {PRIVATE_KEY_KEY})", path.display())]
    NoSecrets {
        /// The directory.
        path: PathBuf,
    },
    /// The reconcile refused.
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a file as text (invalid UTF-8 replaced, so that garbage fails as bad PEM); `None` when
/// it does not exist.
pub fn read_text(path: &Path) -> Result<Option<String>, StoreError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

/// Flushes a directory's entries (a rename in it) to disk.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Creates `path` (which must not exist) with `contents` and permissions `mode`, on disk.
fn create_file(path: &Path, contents: &str, mode: u32) -> Result<(), StoreError> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    let mut f = opts.open(path).map_err(io(path))?;
    f.write_all(contents.as_bytes()).map_err(io(path))?;
    #[cfg(unix)]
    {
        // The umask may have narrowed `mode`.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io(path))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    f.sync_all().map_err(io(path))
}

fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(io(path)(e)),
        _ => Ok(()),
    }
}

/// Replaces `path` with `contents` (permissions `mode`) atomically: a temporary file in the same
/// directory, fsync, rename, fsync of the directory. Readers see the old or the new content.
pub fn write_file(path: &Path, contents: &str, mode: u32) -> Result<(), StoreError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(parent).map_err(io(parent))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{name}.tmp"));
    remove_if_present(&tmp)?;
    create_file(&tmp, contents, mode)?;
    fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(parent)
}

/// A fresh generation directory in `dir`, named after the current time like kubelet's
/// (`..2026_01_02_03_04_05.123456789`); returns its name.
fn new_generation(dir: &Path) -> Result<String, StoreError> {
    let t = OffsetDateTime::now_utc();
    let base = format!(
        "..{:04}_{:02}_{:02}_{:02}_{:02}_{:02}.{:09}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond()
    );
    for n in 0u32.. {
        let name = if n == 0 {
            base.clone()
        } else {
            format!("{base}_{n}")
        };
        let path = dir.join(&name);
        match fs::create_dir(&path) {
            Ok(()) => return Ok(name),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io(&path)(e)),
        }
    }
    Err(io(dir)(std::io::Error::other("no free generation name")))
}

/// Publishes a certificate and its key in `dir` as one atomic swap (see the module comment).
#[cfg(unix)]
fn write_pair(dir: &Path, cert_pem: &str, key_pem: &str) -> Result<(), StoreError> {
    use std::os::unix::fs::symlink;

    fs::create_dir_all(dir).map_err(io(dir))?;
    let data = dir.join(DATA_LINK);
    let previous = fs::read_link(&data).ok();
    let generation = new_generation(dir)?;
    let gen_dir = dir.join(&generation);
    create_file(&gen_dir.join(CERT_KEY), cert_pem, 0o644)?;
    create_file(&gen_dir.join(PRIVATE_KEY_KEY), key_pem, 0o600)?;
    sync_dir(&gen_dir)?;

    let tmp = dir.join(format!("{DATA_LINK}_tmp"));
    remove_if_present(&tmp)?;
    symlink(&generation, &tmp).map_err(io(&tmp))?;
    fs::rename(&tmp, &data).map_err(io(&data))?;
    // The visible names go through `..data` (a plain file from an older layout, or one a user
    // put there, is replaced by the link).
    for name in [CERT_KEY, PRIVATE_KEY_KEY] {
        let target = Path::new(DATA_LINK).join(name);
        let path = dir.join(name);
        if fs::read_link(&path).ok().as_deref() == Some(target.as_path()) {
            continue;
        }
        let tmp = dir.join(format!(".{name}.link-tmp"));
        remove_if_present(&tmp)?;
        symlink(&target, &tmp).map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
    }
    sync_dir(dir)?;

    // Older generations go; the one just replaced stays for readers that resolved it before
    // the swap.
    let keep = |name: &str| name == generation || previous.as_deref() == Some(Path::new(name));
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && name.starts_with("..") && !keep(&name) {
            let path = entry.path();
            fs::remove_dir_all(&path).map_err(io(&path))?;
        }
    }
    Ok(())
}

/// Without symlinks: each file replaced atomically, the key first.
#[cfg(not(unix))]
fn write_pair(dir: &Path, cert_pem: &str, key_pem: &str) -> Result<(), StoreError> {
    write_file(&dir.join(PRIVATE_KEY_KEY), key_pem, 0o600)?;
    write_file(&dir.join(CERT_KEY), cert_pem, 0o644)
}

/// A PKI directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiDir {
    root: PathBuf,
}

impl PkiDir {
    /// The directory at `root` (nothing is checked yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        PkiDir { root: root.into() }
    }

    /// An existing directory.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = PkiDir::new(root);
        if !dir.root.is_dir() {
            return Err(StoreError::NoSuchDirectory { path: dir.root });
        }
        Ok(dir)
    }

    /// A directory to initialise: absent, empty, or (with `overwrite`) any directory.
    pub fn for_init(root: impl Into<PathBuf>, overwrite: bool) -> Result<Self, StoreError> {
        let dir = PkiDir::new(root);
        if dir.root.exists() && !dir.root.is_dir() {
            return Err(StoreError::NotADirectory { path: dir.root });
        }
        if !overwrite {
            let empty = match fs::read_dir(&dir.root) {
                Ok(mut entries) => entries.next().is_none(),
                Err(e) if e.kind() == ErrorKind::NotFound => true,
                Err(e) => return Err(io(&dir.root)(e)),
            };
            if !empty {
                return Err(StoreError::NotEmpty { path: dir.root });
            }
        }
        Ok(dir)
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of secret `name`.
    pub fn secret_dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The `ca-bundle` file of ConfigMap `name`.
    pub fn bundle_path(&self, config_map: &str) -> PathBuf {
        self.root.join(config_map).join(CA_BUNDLE_KEY)
    }

    /// The state file.
    pub fn state_path(&self) -> PathBuf {
        self.root.join(STATE_FILE)
    }

    /// The state file, if there is one.
    pub fn read_state(&self) -> Result<Option<PkiState>, StoreError> {
        let path = self.state_path();
        let Some(text) = read_text(&path)? else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| StoreError::BadState { path, source })
    }

    /// The state file, which must be there.
    pub fn state(&self) -> Result<PkiState, StoreError> {
        self.read_state()?.ok_or_else(|| StoreError::NoState {
            path: self.state_path(),
        })
    }

    fn write_state(&self, state: &PkiState) -> Result<(), StoreError> {
        let path = self.state_path();
        let text = serde_json::to_string_pretty(state).map_err(|source| StoreError::BadState {
            path: path.clone(),
            source,
        })?;
        write_file(&path, &format!("{text}\n"), 0o644)
    }

    /// Publishes secret `name`'s certificate and key as one atomic swap.
    pub fn write_secret(
        &self,
        name: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<(), StoreError> {
        write_pair(&self.secret_dir(name), cert_pem, key_pem)
    }

    /// Reads secret `name`; `None` when neither file exists.
    fn read_secret(&self, name: &str) -> Result<Option<StoredSecret>, StoreError> {
        let dir = self.secret_dir(name);
        let cert = read_text(&dir.join(CERT_KEY))?;
        let key = read_text(&dir.join(PRIVATE_KEY_KEY))?;
        if cert.is_none() && key.is_none() {
            return Ok(None);
        }
        Ok(Some(StoredSecret {
            location: dir.display().to_string(),
            cert_pem: cert.unwrap_or_default(),
            key_pem: key.unwrap_or_default(),
        }))
    }

    fn read_bundle(&self, config_map: &str) -> Result<StoredText, StoreError> {
        let path = self.bundle_path(config_map);
        Ok(StoredText {
            text: read_text(&path)?,
            location: path.display().to_string(),
        })
    }

    /// Writes a freshly issued PKI of namespace `namespace` under settings `config`: every
    /// secret, the CA bundles, the empty external-CA inbox, and the state file.
    pub fn write_issued(
        &self,
        issued: &Issued,
        namespace: &str,
        config: &SelfSignConfiguration,
    ) -> Result<(), StoreError> {
        fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let schedule = Schedule::from_config(Some(config));
        let mut state = PkiState {
            namespace: namespace.to_string(),
            self_signed: config.clone(),
            secrets: BTreeMap::new(),
        };
        for (t, cert) in &issued.secrets {
            self.write_secret(t.secret_name, &cert.cert_pem, &cert.key_pem)?;
            state.secrets.insert(
                t.secret_name.to_string(),
                SecretState {
                    duration: format_go_duration(schedule.duration_for(t)),
                },
            );
        }
        for (kind, pem) in &issued.bundles {
            write_file(&self.bundle_path(kind.config_map_name()), pem, 0o644)?;
        }
        write_file(&self.bundle_path(EXTERNAL_CA_CONFIG_MAP), "", 0o644)?;
        self.write_state(&state)
    }

    /// What a rotation reads: every managed secret present, the bundles and the inbox, with the
    /// namespace and annotations of `state`.
    pub fn stored(&self, state: &PkiState) -> Result<Stored, StoreError> {
        let mut secrets = HashMap::new();
        for t in SECRETS {
            if let Some(s) = self.read_secret(t.secret_name)? {
                secrets.insert(t.secret_name.to_string(), s);
            }
        }
        let mut bundles = HashMap::new();
        for kind in CaKind::ALL {
            bundles.insert(kind, self.read_bundle(kind.config_map_name())?);
        }
        Ok(Stored {
            namespace: state.namespace.clone(),
            secrets,
            bundles,
            external: self.read_bundle(EXTERNAL_CA_CONFIG_MAP)?,
            annotations: state
                .secrets
                .iter()
                .map(|(k, v)| (k.clone(), v.duration.clone()))
                .collect(),
        })
    }

    /// Writes a rotation in the order that keeps every peer able to verify what it is handed:
    /// the CA secrets, the changed bundles, the emptied inbox, the component certificates, and
    /// last the state file (with `state`'s settings and the rotation's annotations).
    pub fn apply(&self, rotation: &Rotation, state: &PkiState) -> Result<(), StoreError> {
        for c in rotation.ca_changes() {
            self.write_secret(c.secret, &c.issued.cert_pem, &c.issued.key_pem)?;
        }
        for b in rotation.bundles.iter().filter(|b| b.changed) {
            write_file(&self.bundle_path(b.config_map), &b.pem, 0o644)?;
        }
        if rotation.clear_external {
            write_file(&self.bundle_path(EXTERNAL_CA_CONFIG_MAP), "", 0o644)?;
        }
        for c in rotation.leaf_changes() {
            self.write_secret(c.secret, &c.issued.cert_pem, &c.issued.key_pem)?;
        }
        let mut state = state.clone();
        state.secrets = rotation
            .annotations
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    SecretState {
                        duration: v.clone(),
                    },
                )
            })
            .collect();
        self.write_state(&state)
    }

    /// virt-operator's reconcile of this directory ([`plan_rotation`]), written with
    /// [`PkiDir::apply`]. `state` is the directory's state with the settings to apply (its
    /// `self_signed` should be what `req.schedule` was computed from).
    pub fn rotate(&self, state: &PkiState, req: &RotationRequest) -> Result<Rotation, StoreError> {
        let stored = self.stored(state)?;
        let rotation = plan_rotation(&stored, req)?;
        self.apply(&rotation, state)?;
        Ok(rotation)
    }

    /// Every certificate secret (a sub-directory with `tls.crt` or `tls.key`) and CA bundle of
    /// the directory, for a review; the namespace is `namespace`, else the state file's, else
    /// `kubevirt`.
    pub fn gather(&self, namespace: Option<&str>) -> Result<Gathered, StoreError> {
        if !self.root.is_dir() {
            return Err(StoreError::NoSuchDirectory {
                path: self.root.clone(),
            });
        }
        let state = self.read_state()?;
        let namespace = namespace
            .map(str::to_string)
            .or_else(|| state.as_ref().map(|s| s.namespace.clone()))
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
        let schedule = state
            .as_ref()
            .map(|s| Schedule::from_config(Some(&s.self_signed)))
            .unwrap_or_default();
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(io(&self.root))? {
            let entry = entry.map_err(io(&self.root))?;
            if entry.path().is_dir() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        let mut secrets = Vec::new();
        let mut bundles = HashMap::new();
        for name in names {
            let sub = self.secret_dir(&name);
            let (crt_path, key_path) = (sub.join(CERT_KEY), sub.join(PRIVATE_KEY_KEY));
            let cert = read_text(&crt_path)?;
            let key = read_text(&key_path)?;
            if cert.is_some() || key.is_some() {
                secrets.push(GatheredSecret {
                    duration_annotation: state
                        .as_ref()
                        .and_then(|s| s.secrets.get(&name))
                        .map(|s| s.duration.clone()),
                    name: name.clone(),
                    location: sub.display().to_string(),
                    cert_location: crt_path.display().to_string(),
                    key_location: key_path.display().to_string(),
                    cert_pem: cert.unwrap_or_default(),
                    key_pem: key.unwrap_or_default(),
                });
            }
            let bundle_path = sub.join(CA_BUNDLE_KEY);
            if name != EXTERNAL_CA_CONFIG_MAP {
                if let Some(pem) = read_text(&bundle_path)? {
                    bundles.insert(
                        name,
                        GatheredBundle {
                            location: bundle_path.display().to_string(),
                            pem,
                        },
                    );
                }
            }
        }
        if secrets.is_empty() {
            return Err(StoreError::NoSecrets {
                path: self.root.clone(),
            });
        }
        Ok(Gathered {
            secrets,
            bundles,
            namespace,
            schedule,
        })
    }
}
