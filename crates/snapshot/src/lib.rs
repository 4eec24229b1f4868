//! Reads a cluster's objects from manifests: files, directories (recursive), `-` for stdin,
//! multi-document YAML, JSON, `kind: List` and `*List` dumps as `kubectl get -o yaml` prints them.
//!
//! Every object keeps its source (file, document, line, list item) so errors and findings can
//! point at it. RBAC kinds, ServiceAccounts and Namespaces are typed with `k8s-openapi` and
//! validated as kube-apiserver would; every other kind is kept as a dynamic JSON object. Bad input
//! is never skipped silently: each problem names its place and object, and the load fails unless
//! the caller asked to skip invalid objects (then each skipped object is still reported).

mod convert;
mod error;
mod object;
mod parse;
mod source;
mod strict;
mod text;

pub use convert::{into_rbac, to_binding, to_role, Rbac};
pub use error::{LoadError, Problem};
pub use object::{group_of, Object, ObjectKey, Typed};
pub use parse::{parse_text, Format};
pub use source::Source;
pub use text::{Text, TextError};

use std::collections::HashMap;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use virtguard_rbac::{Binding, Policy, Role};

/// Options for [`load`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Report invalid objects as warnings and leave them out, instead of failing the load.
    pub skip_invalid: bool,
}

/// The objects of a cluster, with where each came from.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Every object, in input order (files in the order given, directories sorted by path).
    pub objects: Vec<Object>,
    /// Problems that did not fail the load, each naming its object: objects kube-apiserver would
    /// reject but that are kept and evaluated as written, and (with `skip_invalid`) objects left out.
    pub warnings: Vec<Problem>,
}

/// Where to read manifests from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file or a directory (read recursively for `.yaml`, `.yml` and `.json`).
    Path(PathBuf),
    /// Standard input.
    Stdin,
}

impl Input {
    /// `-` is stdin; anything else a path.
    pub fn parse(s: &str) -> Self {
        if s == "-" {
            Input::Stdin
        } else {
            Input::Path(PathBuf::from(s))
        }
    }
}

/// The most directory levels [`load`] descends, so a symlink loop cannot hang it.
const MAX_DEPTH: usize = 64;

/// Reads every input, parses documents in parallel, types and validates the objects, and rejects
/// conflicting duplicates. Fails with every problem found (not just the first).
pub fn load(inputs: &[Input], opts: &LoadOptions) -> Result<Snapshot, LoadError> {
    let mut texts: Vec<(Arc<str>, Text, Format)> = Vec::new();
    for input in inputs {
        match input {
            Input::Stdin => {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| LoadError::Io {
                        path: "<stdin>".into(),
                        message: e.to_string(),
                    })?;
                let format = Format::sniff(&s);
                texts.push(("<stdin>".into(), s.into(), format));
            }
            Input::Path(p) => {
                let mut files = Vec::new();
                collect_files(p, 0, true, &mut files)?;
                for f in files {
                    let text = read_file(&f)?;
                    let format = Format::from_path(&f);
                    texts.push((f.display().to_string().into(), text, format));
                }
            }
        }
    }
    from_texts(texts, opts)
}

/// Builds a snapshot from in-memory texts: (name used in messages, content, format).
pub fn from_texts<T: AsRef<str> + Sync>(
    texts: Vec<(Arc<str>, T, Format)>,
    opts: &LoadOptions,
) -> Result<Snapshot, LoadError> {
    load_texts(texts, opts, true)
}

/// [`from_texts`], with JSON `List`s split by their structure first (`fast`) or always by the
/// checking parse.
fn load_texts<T: AsRef<str> + Sync>(
    texts: Vec<(Arc<str>, T, Format)>,
    opts: &LoadOptions,
    fast: bool,
) -> Result<Snapshot, LoadError> {
    let split = |fast: bool| -> Vec<parse::Unit<'_>> {
        texts
            .iter()
            .flat_map(|(name, text, format)| {
                parse::units(name.clone(), text.as_ref(), *format, fast)
            })
            .collect()
    };
    let units = split(fast);
    let unchecked = units.iter().any(parse::Unit::unchecked);
    let mut parsed: Vec<Result<Object, Problem>> = parse_all(&units);
    drop(units);
    if unchecked && parsed.iter().any(Result::is_err) {
        // A problem in a List split by its structure alone: split again, checking, so every
        // problem is worded (and placed) as the checking splitter words it.
        drop(parsed);
        parsed = parse_all(&split(false));
    }

    // Duplicates, found on borrowed keys: the same object twice is kept once; two different
    // objects under one key are an error naming both places.
    let mut fate: Vec<Fate> = Vec::with_capacity(parsed.len());
    {
        // A seeded hasher: object names come from the input and must not be able to collide.
        // The keys are hashed in parallel, then entered in order.
        use std::hash::BuildHasher;
        let hasher = std::collections::hash_map::RandomState::new();
        fn key(obj: &Object) -> (&str, &str, &str, &str) {
            (
                object::group_of(&obj.api_version),
                obj.kind.as_str(),
                obj.namespace.as_str(),
                obj.name.as_str(),
            )
        }
        let hashes: Vec<u64> = parsed
            .par_iter()
            .map(|r| r.as_ref().map_or(0, |obj| hasher.hash_one(key(obj))))
            .collect();
        let mut seen: hashbrown::HashTable<usize> =
            hashbrown::HashTable::with_capacity(parsed.len());
        for (i, (r, &h)) in parsed.iter().zip(&hashes).enumerate() {
            let Ok(obj) = r else {
                fate.push(Fate::Keep);
                continue;
            };
            let k = key(obj);
            let same_key = |&j: &usize| parsed[j].as_ref().is_ok_and(|o| key(o) == k);
            match seen.find(h, same_key) {
                None => {
                    seen.insert_unique(h, i, |&j| hashes[j]);
                    fate.push(Fate::Keep);
                }
                // Only objects are entered as firsts, so this is always `Ok`.
                Some(&j) => fate.push(match &parsed[j] {
                    Ok(first) if first.same_content(obj) => Fate::Same,
                    Ok(first) => Fate::Conflict(first.source.to_string()),
                    Err(_) => Fate::Keep,
                }),
            }
        }
    }

    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut objects: Vec<Object> = Vec::with_capacity(parsed.len());
    for (r, fate) in parsed.into_iter().zip(fate) {
        match r {
            Err(p) => problems.push(p),
            Ok(obj) => {
                for w in &obj.warnings {
                    warnings.push(Problem::at(&obj.source, Some(obj.describe()), w.clone()));
                }
                match fate {
                    Fate::Keep => objects.push(obj),
                    Fate::Same => {}
                    Fate::Conflict(first) => problems.push(Problem::at(
                        &obj.source,
                        Some(obj.describe()),
                        format!(
                            "duplicate object with different content (first defined at {first})"
                        ),
                    )),
                }
            }
        }
    }
    if !problems.is_empty() && !opts.skip_invalid {
        return Err(LoadError::Invalid(problems));
    }
    warnings.extend(problems.into_iter().map(|mut p| {
        p.message = format!("{} (left out)", p.message);
        p
    }));
    Ok(Snapshot { objects, warnings })
}

/// Parses units in parallel, in order. Units are taken in runs whose results go into buffers
/// sized for one object per unit (a JSON item is one), then joined once: collecting through an
/// unsized parallel iterator grew (and so copied) its buffers again and again.
fn parse_all(units: &[parse::Unit<'_>]) -> Vec<Result<Object, Problem>> {
    let runs: Vec<Vec<Result<Object, Problem>>> = units
        .par_chunks(512)
        .map(|run| {
            let mut out = Vec::with_capacity(run.len());
            for u in run {
                out.extend(parse::parse_unit(u));
            }
            out
        })
        .collect();
    let mut all = Vec::with_capacity(runs.iter().map(Vec::len).sum());
    for r in runs {
        all.extend(r);
    }
    all
}

/// What becomes of a parsed object: kept, dropped as a repeat of an identical object, or
/// reported as conflicting with the first object of its key (defined at the given place).
enum Fate {
    Keep,
    Same,
    Conflict(String),
}

fn read_file(path: &Path) -> Result<Text, LoadError> {
    Text::read(path).map_err(|e| LoadError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

fn collect_files(
    path: &Path,
    depth: usize,
    explicit: bool,
    out: &mut Vec<PathBuf>,
) -> Result<(), LoadError> {
    let io = |e: std::io::Error| LoadError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        if depth >= MAX_DEPTH {
            return Err(LoadError::Io {
                path: path.display().to_string(),
                message: format!(
                    "directories nested deeper than {MAX_DEPTH} levels (a symlink loop?)"
                ),
            });
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(io)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(io)?;
        entries.sort();
        for e in entries {
            collect_files(&e, depth + 1, false, out)?;
        }
    } else if explicit || Format::is_manifest(path) {
        out.push(path.to_path_buf());
    }
    Ok(())
}

impl Snapshot {
    /// Roles and ClusterRoles as RBAC sees them.
    pub fn roles(&self) -> Vec<Role> {
        self.objects
            .par_iter()
            .filter_map(Object::as_role)
            .collect()
    }

    /// RoleBindings and ClusterRoleBindings as RBAC sees them.
    pub fn bindings(&self) -> Vec<Binding> {
        self.objects
            .par_iter()
            .filter_map(Object::as_binding)
            .collect()
    }

    /// The roles and bindings of this snapshot (as [`Snapshot::roles`] and
    /// [`Snapshot::bindings`] give them), and its other objects, taking the snapshot apart
    /// rather than copying it.
    pub fn into_rbac(self) -> (Vec<Role>, Vec<Binding>, Vec<Object>) {
        let parts: Vec<Rbac> = self.objects.into_par_iter().map(into_rbac).collect();
        let (mut roles, mut bindings, mut rest) = (Vec::new(), Vec::new(), Vec::new());
        for p in parts {
            match p {
                Rbac::Role(r) => roles.push(r),
                Rbac::Binding(b) => bindings.push(b),
                Rbac::Other(o) => rest.push(o),
            }
        }
        (roles, bindings, rest)
    }

    /// The RBAC policy of this snapshot alone.
    pub fn policy(&self) -> Policy {
        Policy::new(self.roles(), self.bindings())
    }

    /// Adds the objects of `defaults` that the snapshot does not define itself (same API group,
    /// kind, namespace and name): objects in the snapshot win over built-in defaults. Returns how
    /// many were added.
    pub fn add_defaults(&mut self, defaults: Snapshot) -> usize {
        let present: std::collections::HashSet<ObjectKey> =
            self.objects.iter().map(Object::key).collect();
        let before = self.objects.len();
        self.objects.extend(
            defaults
                .objects
                .into_iter()
                .filter(|o| !present.contains(&o.key())),
        );
        self.objects.len() - before
    }

    /// Puts the objects of `other` over this snapshot's: an object of the same key is replaced,
    /// others are added (an upgrade rewriting the roles an operator manages). Returns how many.
    pub fn overlay(&mut self, other: Snapshot) -> usize {
        let mut index: HashMap<ObjectKey, usize> = self
            .objects
            .iter()
            .enumerate()
            .map(|(i, o)| (o.key(), i))
            .collect();
        let n = other.objects.len();
        for o in other.objects {
            match index.get(&o.key()) {
                Some(&i) => self.objects[i] = o,
                None => {
                    index.insert(o.key(), self.objects.len());
                    self.objects.push(o);
                }
            }
        }
        n
    }

    /// Gives every object the source of an object read live from cluster `context`
    /// (`cluster <context>: Kind/namespace/name`), in place of the place in the text it was
    /// parsed from (one page of a LIST, which names nothing a reader can open).
    pub fn label_live(&mut self, context: &str) {
        for o in &mut self.objects {
            o.source = Source::live(context, &o.kind, &o.namespace, &o.name);
        }
    }

    /// Objects of a kind (`Kind` as written, e.g. `VirtualMachine`).
    pub fn of_kind<'s>(&'s self, kind: &'s str) -> impl Iterator<Item = &'s Object> + 's {
        self.objects.iter().filter(move |o| o.kind == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(text: &str) -> (String, String) {
        let run = |fast| {
            format!(
                "{:?}",
                load_texts(
                    vec![(Arc::from("dump.json"), text, Format::Json)],
                    &LoadOptions::default(),
                    fast
                )
            )
        };
        (run(true), run(false))
    }

    /// A small `kubectl get -o json` dump: every kind of item the fast path meets.
    const DUMP: &str = r#"{
    "apiVersion": "v1",
    "items": [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r", "namespace": "a"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "b", "namespace": "a"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}, "subjects": [{"kind": "User", "name": "alice \"x\" \\ y"}]},
        {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "vm", "namespace": "a"}, "spec": {"running": false, "n": [1, -2.5e3, true, null]}}
    ],
    "kind": "List",
    "metadata": {"resourceVersion": ""}
}
"#;

    #[test]
    fn the_structural_split_loads_exactly_as_the_checking_split() {
        let (fast, checked) = both(DUMP);
        assert!(fast.starts_with("Ok("), "{fast}");
        assert_eq!(fast, checked);
        // The fast path was taken: its units are the items, unchecked.
        let units = parse::units(Arc::from("dump.json"), DUMP, Format::Json, true);
        assert_eq!(units.len(), 3);
        assert!(units.iter().all(parse::Unit::unchecked));
    }

    #[test]
    fn every_damaged_dump_is_reported_as_the_checking_split_reports_it() {
        // Each byte deleted, and each of a few characters inserted at every place: whatever
        // the structural scan makes of it, the result (objects, or every problem with its
        // place) is the checking split's.
        let bytes = DUMP.as_bytes();
        let mut cases = 0;
        for i in 0..=bytes.len() {
            let mut variants: Vec<Vec<u8>> = Vec::new();
            if i < bytes.len() {
                let mut v = bytes.to_vec();
                v.remove(i);
                variants.push(v);
            }
            for c in [b'"', b'{', b'}', b'[', b']', b',', b':', b'\\', b'x', b'1'] {
                let mut v = bytes.to_vec();
                v.insert(i, c);
                variants.push(v);
            }
            variants.push(bytes[..i].to_vec());
            for v in variants {
                let Ok(text) = String::from_utf8(v) else {
                    continue;
                };
                let (fast, checked) = both(&text);
                assert_eq!(fast, checked, "damaged at byte {i}:\n{text}");
                cases += 1;
            }
        }
        assert!(cases > 10 * DUMP.len());
    }

    #[test]
    fn inputs_the_fast_path_leaves_alone_load_as_before() {
        for text in [
            // Duplicate top-level keys, a typed list, a non-list, a stream, items not a list,
            // items null, an empty list, a List inside a List, a byte-order mark, CRLF.
            r#"{"kind": "List", "items": [], "kind": "List"}"#,
            r#"{"kind": "RoleList", "apiVersion": "rbac.authorization.k8s.io/v1", "items": [{"metadata": {"name": "r", "namespace": "a"}}]}"#,
            r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}, "items": [1]}"#,
            "{\"kind\": \"List\", \"items\": []}\n{\"kind\": \"List\", \"items\": []}",
            r#"{"kind": "List", "items": {"a": 1}}"#,
            r#"{"kind": "List", "items": null}"#,
            r#"{"kind": "List", "items": []}"#,
            r#"{"kind": "List", "items": [{"kind": "List", "items": []}]}"#,
            "\u{feff}{\"kind\": \"List\", \"items\": [{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"a\"}}]}",
            "{\r\n\"kind\": \"List\",\r\n\"items\": [\r\n{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"a\"}}\r\n]\r\n}\r\n",
            r#"{"kind": "List", "items": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}, "x": 1}]}"#,
        ] {
            let (fast, checked) = both(text);
            assert_eq!(fast, checked, "{text}");
        }
    }
}
