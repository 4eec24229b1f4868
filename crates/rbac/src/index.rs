//! The decision index.
//!
//! Each role referenced by a binding is compiled once: its rules, interned, merged per
//! (resource key, API group) into one entry holding the verbs it allows and, for each verb, the
//! first rule that allows it (for the reason). Each (scope, subject) then holds, per resource
//! key, references to the compiled entries of the roles bound to it, in binding order: a list of
//! one reference points at the role's own entries (the usual case, shared by every subject of
//! the role), a longer list gets its entries merged. A decision is a handful of hash lookups and
//! a short scan, whatever the size of the roles behind it; presence filters answer most
//! lookups of keys that have nothing without touching the large tables.
//!
//! Scope is the cluster (ClusterRoleBindings) or one namespace (RoleBindings). A subject is a user
//! name or a group name; ServiceAccount subjects are indexed under the user name they stand for.

use std::sync::Arc;

use hashbrown::HashTable;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::decision::Grant;
use crate::intern::{Interner, Sym, ANY, NONE};
use crate::rule::{PolicyRule, WILDCARD};

/// Cluster scope (ClusterRoleBindings); namespaces are `sym + 1`.
pub(crate) const CLUSTER: Sym = 0;
/// User key kind.
pub(crate) const USER: u8 = 0;
/// Group key kind.
pub(crate) const GROUP: u8 = 1;
/// (scope, kind, name).
pub(crate) type SubjectKey = (Sym, u8, Sym);

const NO_RULE: u32 = u32::MAX;

/// Verbs interned first, so their symbols fit the 64-bit verb mask.
pub(crate) const COMMON_VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "use",
    "bind",
    "escalate",
    "impersonate",
    "approve",
    "sign",
    "proxy",
    "attest",
];

#[inline]
pub(crate) fn res_key(resource: Sym, sub: Sym) -> u64 {
    ((resource as u64) << 32) | sub as u64
}

/// Where one resource string of a rule points.
#[derive(Clone, Copy)]
enum ResTarget {
    Key(u64),
    StarSub(Sym),
    Any,
}

/// A rule with its strings interned (shared by every role that holds the same rule).
struct CompiledRule {
    verbs: Vec<Sym>,
    any_verb: bool,
    groups: Vec<Sym>,
    resources: Vec<ResTarget>,
    names: Option<Box<[Sym]>>,
    urls: Vec<(Box<str>, bool)>,
}

/// A rule with its strings looked up by `sym` (`None` when one is not found). Every string the
/// compiled rule holds is passed to `sym`, so it also lists the strings a rule needs.
fn build_rule<'r>(
    rule: &'r PolicyRule,
    sym: &mut dyn FnMut(&'r str) -> Option<Sym>,
) -> Option<CompiledRule> {
    let mut groups = Vec::with_capacity(rule.api_groups.len());
    if rule.api_groups.iter().any(|g| g == WILDCARD) {
        groups.push(ANY);
    } else {
        for g in &rule.api_groups {
            groups.push(sym(g)?);
        }
    }
    let mut resources = Vec::with_capacity(rule.resources.len());
    for res in &rule.resources {
        if res == WILDCARD {
            resources.push(ResTarget::Any);
        } else if let Some(sub) = res.strip_prefix("*/") {
            if !sub.is_empty() {
                resources.push(ResTarget::StarSub(sym(sub)?));
            }
        } else {
            resources.push(ResTarget::Key(match res.split_once('/') {
                Some((r, s)) => res_key(sym(r)?, sym(s)?),
                None => res_key(sym(res)?, NONE),
            }));
        }
    }
    let names = if rule.resource_names.is_empty() {
        None
    } else {
        let mut names = Vec::with_capacity(rule.resource_names.len());
        for n in &rule.resource_names {
            names.push(sym(n)?);
        }
        Some(names.into_boxed_slice())
    };
    let mut verbs = Vec::with_capacity(rule.verbs.len());
    for v in &rule.verbs {
        verbs.push(sym(v)?);
    }
    Some(CompiledRule {
        any_verb: rule.verbs.iter().any(|v| v == WILDCARD),
        verbs,
        groups,
        resources,
        names,
        urls: rule
            .non_resource_urls
            .iter()
            .map(|u| {
                if u.ends_with('*') {
                    (u.trim_end_matches('*').into(), true)
                } else {
                    (u.as_str().into(), false)
                }
            })
            .collect(),
    })
}

/// Verbs allowed for one (resource key, group) of a role, with the first rule per verb.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    group: Sym,
    mask: u64,
    any_verb: u32,
    /// The rule of every verb in `first` when it is one rule (most entries: one rule lists
    /// the verbs), so a decision need not read `first`; else `NO_RULE`.
    uniform: u32,
    first: Vec<(Sym, u32)>,
    names: Option<Box<[Sym]>>,
}

impl Entry {
    fn new(group: Sym, names: Option<Box<[Sym]>>) -> Self {
        Entry {
            group,
            mask: 0,
            any_verb: NO_RULE,
            uniform: NO_RULE,
            first: Vec::new(),
            names,
        }
    }

    fn add(&mut self, rule: &CompiledRule, idx: u32) {
        if rule.any_verb && self.any_verb == NO_RULE {
            self.any_verb = idx;
        }
        for &v in &rule.verbs {
            if v < 64 {
                self.mask |= 1 << v;
            }
            if !self.first.iter().any(|(x, _)| *x == v) {
                self.first.push((v, idx));
            }
        }
        self.uniform = uniform(&self.first).unwrap_or(NO_RULE);
    }

    /// The first rule of this entry that allows the verb.
    #[inline]
    fn rule_for(&self, verb: Option<Sym>) -> Option<u32> {
        let mut best = (self.any_verb != NO_RULE).then_some(self.any_verb);
        if let Some(v) = verb {
            let r = if v < 64 {
                match self.mask & (1 << v) != 0 {
                    false => None,
                    true if self.uniform != NO_RULE => Some(self.uniform),
                    true => self.first.iter().find(|(x, _)| *x == v).map(|&(_, r)| r),
                }
            } else {
                self.first.iter().find(|(x, _)| *x == v).map(|&(_, r)| r)
            };
            if let Some(r) = r {
                best = Some(best.map_or(r, |b| b.min(r)));
            }
        }
        best
    }
}

/// The one value every pair of `first` holds, if there is one.
fn uniform<T: Copy + PartialEq>(first: &[(Sym, T)]) -> Option<T> {
    let (_, r) = *first.first()?;
    first.iter().all(|&(_, x)| x == r).then_some(r)
}

/// Entries of every role a subject holds for one resource key, merged: per API group, the
/// first grant (in visiting order) for each verb.
#[derive(Debug, Clone)]
struct MergedEntry {
    /// The object name the entry is restricted to, or `NONE` for every name.
    name: Sym,
    group: Sym,
    mask: u64,
    any_verb: Option<Grant>,
    /// The grant of every verb in `first` when it is one grant (see [`Entry::uniform`]).
    uniform: Option<Grant>,
    first: Vec<(Sym, Grant)>,
}

impl MergedEntry {
    #[inline]
    fn grant_for(&self, verb: Option<Sym>) -> Option<Grant> {
        let mut best = self.any_verb;
        if let Some(v) = verb {
            let g = if v < 64 {
                match self.mask & (1 << v) != 0 {
                    false => None,
                    true if self.uniform.is_some() => self.uniform,
                    true => self.first.iter().find(|(x, _)| *x == v).map(|&(_, g)| g),
                }
            } else {
                self.first.iter().find(|(x, _)| *x == v).map(|&(_, g)| g)
            };
            if let Some(g) = g {
                best = Some(best.map_or(g, |b| b.min(g)));
            }
        }
        best
    }
}

#[derive(Debug, Clone)]
pub(crate) struct UrlEntry {
    /// Exact URL, or the prefix before trailing `*`s.
    url: Box<str>,
    prefix: bool,
    any_verb: bool,
    verbs: Box<[Sym]>,
    rule: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct Range {
    start: u32,
    len: u32,
}

/// A role's entries, compiled but not yet placed in the entry arenas.
pub(crate) struct RoleEntries {
    by_resource: Vec<(u64, Vec<Entry>)>,
    star_sub: Vec<(Sym, Vec<Entry>)>,
    any_resource: Vec<Entry>,
    urls: Vec<UrlEntry>,
}

/// A role compiled into ranges of the entry arenas.
#[derive(Debug, Default, Clone)]
pub(crate) struct CompiledRole {
    by_resource: FxHashMap<u64, Range>,
    star_sub: FxHashMap<Sym, Range>,
    any_resource: Range,
    urls: Range,
}

/// A binding subject's reference to one range of a role's entries.
#[derive(Debug, Clone, Copy)]
struct Ref {
    binding: u32,
    subject: u32,
    range: Range,
}

/// What a (scope, subject) holds: which kinds of lists exist, and missing roles.
#[derive(Debug, Default)]
pub(crate) struct SubjectIndex {
    has_star_sub: bool,
    has_any_resource: bool,

    has_urls: bool,
    /// Bindings applying to this subject whose role is missing.
    pub(crate) missing: Vec<usize>,
}

/// Bits of the subject presence filter (128 KiB).
const FILTER_BITS: usize = 1 << 20;

/// Bits of the list presence filter (1 MiB): most (scope, subject, resource) keys a decision
/// asks for have no list, and the filter answers that without touching the large list table.
const LIST_FILTER_BITS: usize = 1 << 23;

/// Shards of the list table: built in parallel, one hash per lookup chooses the filter bit, the
/// shard and the slot.
const LIST_SHARDS: usize = 16;

#[inline]
fn list_hash(key: &ListKey) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(key)
}

#[inline]
fn list_filter_bit(h: u64) -> usize {
    (h as usize) & (LIST_FILTER_BITS - 1)
}

/// The shard of a list hash: bits the table's slot index (low bits) and tag (top bits) do not use.
#[inline]
fn list_shard(h: u64) -> usize {
    ((h >> 32) as usize) & (LIST_SHARDS - 1)
}

fn filter_bit(key: &SubjectKey) -> usize {
    use std::hash::BuildHasher;
    (rustc_hash::FxBuildHasher.hash_one(key) as usize) & (FILTER_BITS - 1)
}

/// Which list of a subject a reference belongs to.
const TAG_RES: u8 = 0;
const TAG_STAR_SUB: u8 = 1;
const TAG_ANY: u8 = 2;
const TAG_URLS: u8 = 3;

/// One list of a subject: a single reference, answered from the role's own entries (most lists
/// are one binding of a role to a subject, and merging them would copy every role entry once
/// per subject), or (start, len) ranges in `refs` and in `merged`.
#[derive(Debug, Clone, Copy)]
enum List {
    One(Ref),
    Many {
        refs: (u32, u32),
        merged: (u32, u32),
    },
}

/// (scope, subject kind, subject name, list tag, resource key or subresource).
type ListKey = (Sym, u8, Sym, u8, u64);

/// A reference gathered while building, with its list key and the key's hash.
type Pending = (u64, ListKey, Ref);

/// One shard of the lists: its table, and the arenas its lists' ranges point into. Shards are
/// built in parallel, each from its own references.
#[derive(Default)]
struct Shard {
    /// Per list: one reference, or a range of `refs` and a range of `merged`.
    table: HashTable<(ListKey, List)>,
    refs: Vec<Ref>,
    merged: Vec<MergedEntry>,
}

/// A request with its strings looked up.
pub(crate) struct CompiledRequest<'a> {
    pub(crate) verb: Option<Sym>,
    pub(crate) kind: CompiledKind<'a>,
}

pub(crate) enum CompiledKind<'a> {
    Resource {
        group: Option<Sym>,
        /// (resource, subresource) key of the combined resource; `None` when a part is unknown.
        key: Option<u64>,
        /// The requested subresource field, for `*/sub` rules.
        sub: Option<Sym>,
        name: Option<Sym>,
        has_name: bool,
    },
    NonResource {
        path: &'a str,
    },
}

/// Compiled roles and their entries.
#[derive(Default)]
pub(crate) struct Index {
    pub(crate) interner: Interner,
    entries: Vec<Entry>,
    urls: Vec<UrlEntry>,
    /// Compiled rules by the address of their shared `Arc` (kept alive by the policy's roles).
    rules: FxHashMap<usize, CompiledRule>,
    pub(crate) subjects: FxHashMap<SubjectKey, SubjectIndex>,
    /// References gathered while building, per chunk of grants and per shard (with the key's
    /// hash); sorted into `lists` by [`Index::finish`].
    pending: Vec<Vec<Vec<Pending>>>,
    /// The lists, in `LIST_SHARDS` shards chosen by the key's hash.
    lists: Vec<Shard>,
    /// A presence filter over `lists` keys (no false negatives).
    list_filter: Vec<u64>,
    /// A presence filter over subject keys (a one-hash Bloom filter small enough to stay in
    /// cache), so keys with no bindings cost no lookup in the large tables.
    filter: Vec<u64>,
    /// The same kind of filter for the keys that have `*/sub` lists, `*` lists, URL lists and
    /// missing roles: a decision consults the subject table only when one says "maybe".
    flag_filters: [Vec<u64>; 4],
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("entries", &self.entries.len())
            .field("subjects", &self.subjects.len())
            .finish()
    }
}

impl Index {
    pub(crate) fn new() -> Self {
        let mut i = Index::default();
        for v in COMMON_VERBS {
            i.interner.intern(v);
        }
        i
    }

    /// Compiles rules (each once, however many roles share it): the strings they name are
    /// gathered and interned first (in sorted order), then the rules are compiled in parallel
    /// against the interner.
    pub(crate) fn compile_rules<'r>(&mut self, rules: impl Iterator<Item = &'r Arc<PolicyRule>>) {
        let mut seen: rustc_hash::FxHashSet<usize> = rustc_hash::FxHashSet::default();
        let todo: Vec<&Arc<PolicyRule>> = rules
            .filter(|r| {
                let ptr = Arc::as_ptr(r) as usize;
                !self.rules.contains_key(&ptr) && seen.insert(ptr)
            })
            .collect();
        let words = todo
            .par_iter()
            .fold(rustc_hash::FxHashSet::<&str>::default, |mut set, r| {
                build_rule(r, &mut |w: &'r str| {
                    set.insert(w);
                    Some(0)
                });
                set
            })
            .reduce(rustc_hash::FxHashSet::default, |mut a, b| {
                a.extend(b);
                a
            });
        let mut words: Vec<&str> = words.into_iter().collect();
        words.sort_unstable();
        for w in words {
            self.interner.intern(w);
        }
        let interner = &self.interner;
        let compiled: Vec<Option<CompiledRule>> = todo
            .par_iter()
            .map(|r| build_rule(r, &mut |w| interner.get(w)))
            .collect();
        self.rules.reserve(todo.len());
        for (r, c) in todo.into_iter().zip(compiled) {
            // Every word was interned above; should one not be, intern it now.
            let it = &mut self.interner;
            let c = c.or_else(|| build_rule(r, &mut |w| Some(it.intern(w))));
            if let Some(c) = c {
                self.rules.insert(Arc::as_ptr(r) as usize, c);
            }
        }
    }

    /// Compiles a role's rules (compiled by [`Index::compile_rules`]) into merged entries, not
    /// yet placed in the entry arenas (see [`Index::place_role`]).
    pub(crate) fn compile_role(&self, rules: &[Arc<PolicyRule>]) -> RoleEntries {
        let mut by_resource: FxHashMap<u64, Vec<Entry>> = FxHashMap::default();
        let mut star_sub: FxHashMap<Sym, Vec<Entry>> = FxHashMap::default();
        let mut any_resource: Vec<Entry> = Vec::new();
        let mut urls: Vec<UrlEntry> = Vec::new();
        fn merge(list: &mut Vec<Entry>, group: Sym, rule: &CompiledRule, idx: u32) {
            if rule.names.is_none() {
                if let Some(e) = list
                    .iter_mut()
                    .find(|e| e.group == group && e.names.is_none())
                {
                    e.add(rule, idx);
                    return;
                }
            }
            let mut e = Entry::new(group, rule.names.clone());
            e.add(rule, idx);
            list.push(e);
        }
        for (idx, r) in rules.iter().enumerate() {
            let Some(rule) = self.rules.get(&(Arc::as_ptr(r) as usize)) else {
                continue;
            };
            let idx = idx as u32;
            for &g in &rule.groups {
                for t in &rule.resources {
                    match *t {
                        ResTarget::Key(k) => merge(by_resource.entry(k).or_default(), g, rule, idx),
                        ResTarget::StarSub(s) => {
                            merge(star_sub.entry(s).or_default(), g, rule, idx)
                        }
                        ResTarget::Any => merge(&mut any_resource, g, rule, idx),
                    }
                }
            }
            for (u, prefix) in &rule.urls {
                urls.push(UrlEntry {
                    url: u.clone(),
                    prefix: *prefix,
                    any_verb: rule.any_verb,
                    verbs: rule.verbs.clone().into(),
                    rule: idx,
                });
            }
        }
        RoleEntries {
            by_resource: by_resource.into_iter().collect(),
            star_sub: star_sub.into_iter().collect(),
            any_resource,
            urls,
        }
    }

    /// Places a compiled role's entries in the entry arenas.
    pub(crate) fn place_role(&mut self, role: RoleEntries) -> CompiledRole {
        let mut push = |list: Vec<Entry>| -> Range {
            let start = self.entries.len() as u32;
            let len = list.len() as u32;
            self.entries.extend(list);
            Range { start, len }
        };
        let mut out = CompiledRole {
            by_resource: role
                .by_resource
                .into_iter()
                .map(|(k, l)| (k, push(l)))
                .collect(),
            star_sub: role
                .star_sub
                .into_iter()
                .map(|(k, l)| (k, push(l)))
                .collect(),
            any_resource: push(role.any_resource),
            urls: Range::default(),
        };
        out.urls = Range {
            start: self.urls.len() as u32,
            len: role.urls.len() as u32,
        };
        self.urls.extend(role.urls);
        out
    }

    /// Records which kinds of lists a subject key gains from a compiled role.
    pub(crate) fn note_subject(&mut self, key: SubjectKey, role: &CompiledRole) {
        let idx = self.subjects.entry(key).or_default();
        idx.has_star_sub |= !role.star_sub.is_empty();
        idx.has_any_resource |= role.any_resource.len > 0;
        idx.has_urls |= role.urls.len > 0;
    }

    /// Adds each binding subject's grant of its compiled role: (subject key, binding, subject
    /// index, role). The references are written in parallel; [`Index::finish`] orders them.
    pub(crate) fn bind_all<R: std::ops::Deref<Target = CompiledRole> + Sync>(
        &mut self,
        grants: &[(SubjectKey, usize, usize, R)],
    ) {
        fn refs_of(
            (key, binding, subject, role): (SubjectKey, usize, usize, &CompiledRole),
            out: &mut [Vec<Pending>],
        ) {
            let (scope, kind, name) = key;
            let r = |range: Range| Ref {
                binding: binding as u32,
                subject: subject as u32,
                range,
            };
            let mut push = |key: ListKey, range: Range| {
                let h = list_hash(&key);
                out[list_shard(h)].push((h, key, r(range)));
            };
            for (k, range) in &role.by_resource {
                push((scope, kind, name, TAG_RES, *k), *range);
            }
            for (k, range) in &role.star_sub {
                push((scope, kind, name, TAG_STAR_SUB, *k as u64), *range);
            }
            if role.any_resource.len > 0 {
                push((scope, kind, name, TAG_ANY, 0), role.any_resource);
            }
            if role.urls.len > 0 {
                push((scope, kind, name, TAG_URLS, 0), role.urls);
            }
        }
        let parts: Vec<Vec<Vec<Pending>>> = grants
            .par_chunks(2048)
            .map(|chunk| {
                // About as many references per grant as its role has lists.
                let per: usize = chunk.iter().map(|g| g.3.by_resource.len() + 1).sum();
                let mut out: Vec<Vec<Pending>> = (0..LIST_SHARDS)
                    .map(|_| Vec::with_capacity(per / LIST_SHARDS + 8))
                    .collect();
                for (key, b, s, role) in chunk {
                    refs_of((*key, *b, *s, role), &mut out);
                }
                out
            })
            .collect();
        self.pending.extend(parts);
    }

    /// Sorts the gathered references into per-list ranges (binding order kept within a list)
    /// and merges each resource list's entries, so a decision scans a few merged entries.
    pub(crate) fn finish(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let entries = &self.entries;
        // Each shard in parallel: its references sorted by list (binding order within a list is
        // what makes the first grant the right one), each list's entries merged, its table.
        let shards: Vec<(Shard, Vec<u64>)> = (0..LIST_SHARDS)
            .into_par_iter()
            .map(|shard| {
                let mut items: Vec<Pending> =
                    Vec::with_capacity(pending.iter().map(|c| c[shard].len()).sum());
                for chunk in &pending {
                    items.extend_from_slice(&chunk[shard]);
                }
                items.sort_unstable_by_key(|(_, k, r)| (*k, r.binding, r.subject));
                let refs: Vec<Ref> = items.iter().map(|(_, _, r)| *r).collect();
                let mut bounds: Vec<(u64, ListKey, u32, u32)> = Vec::with_capacity(items.len());
                let mut i = 0;
                while i < items.len() {
                    let (h, key, _) = items[i];
                    let start = i;
                    while i < items.len() && items[i].1 == key {
                        i += 1;
                    }
                    bounds.push((h, key, start as u32, (i - start) as u32));
                }
                drop(items);
                let mut out = Shard {
                    table: HashTable::with_capacity(bounds.len()),
                    refs,
                    merged: Vec::new(),
                };
                let mut hashes = Vec::with_capacity(bounds.len());
                for (h, key, start, len) in bounds {
                    let list = if len == 1 {
                        // A list of one reference is answered from the role's own entries:
                        // most lists are (one binding of a role to a subject), and merging
                        // them would copy every role entry once per subject.
                        List::One(out.refs[start as usize])
                    } else {
                        let m = if key.3 == TAG_URLS {
                            Vec::new()
                        } else {
                            merge(entries, &out.refs[start as usize..(start + len) as usize])
                        };
                        let s = out.merged.len() as u32;
                        let n = m.len() as u32;
                        out.merged.extend(m);
                        List::Many {
                            refs: (start, len),
                            merged: (s, n),
                        }
                    };
                    out.table
                        .insert_unique(h, (key, list), |(k, _)| list_hash(k));
                    hashes.push(h);
                }
                (out, hashes)
            })
            .collect();
        drop(pending);
        let mut list_filter = vec![0u64; LIST_FILTER_BITS / 64];
        for h in shards.iter().flat_map(|(_, hs)| hs) {
            let b = list_filter_bit(*h);
            list_filter[b / 64] |= 1 << (b % 64);
        }
        self.list_filter = list_filter;
        self.lists = shards.into_iter().map(|(s, _)| s).collect();
        let mut filter = vec![0u64; FILTER_BITS / 64];
        let mut flags: [Vec<u64>; 4] = std::array::from_fn(|_| vec![0u64; FILTER_BITS / 64]);
        for (key, idx) in &self.subjects {
            let b = filter_bit(key);
            filter[b / 64] |= 1 << (b % 64);
            let on = [
                idx.has_star_sub,
                idx.has_any_resource,
                idx.has_urls,
                !idx.missing.is_empty(),
            ];
            for (f, on) in flags.iter_mut().zip(on) {
                if on {
                    f[b / 64] |= 1 << (b % 64);
                }
            }
        }
        self.filter = filter;
        self.flag_filters = flags;
    }

    /// The list of a key, with the key's hash.
    #[inline]
    fn find_list(&self, key: &ListKey, h: u64) -> Option<(&List, &Shard)> {
        let shard = self.lists.get(list_shard(h))?;
        shard
            .table
            .find(h, |(k, _)| k == key)
            .map(|(_, l)| (l, shard))
    }

    fn list(&self, key: ListKey) -> &[Ref] {
        match self.find_list(&key, list_hash(&key)) {
            Some((List::One(r), _)) => std::slice::from_ref(r),
            Some((
                &List::Many {
                    refs: (start, len), ..
                },
                shard,
            )) => &shard.refs[start as usize..(start + len) as usize],
            None => &[],
        }
    }

    /// The first grant of a resource list (`TAG_RES`, `TAG_STAR_SUB`, `TAG_ANY`) that allows
    /// the request: from the role's entries when the list holds one reference, else from the
    /// merged entries.
    #[inline]
    fn list_grant(&self, key: ListKey, req: &CompiledRequest<'_>) -> Option<Grant> {
        let h = list_hash(&key);
        let b = list_filter_bit(h);
        if self
            .list_filter
            .get(b / 64)
            .is_some_and(|w| w & (1 << (b % 64)) == 0)
        {
            return None;
        }
        match self.find_list(&key, h)? {
            (List::One(r), _) => self.ref_rule(r, req).map(|rule| Grant {
                binding: r.binding as usize,
                subject: r.subject as usize,
                rule: rule as usize,
            }),
            (
                &List::Many {
                    merged: (ms, ml), ..
                },
                shard,
            ) => self.merged_grant(&shard.merged[ms as usize..(ms + ml) as usize], req),
        }
    }

    /// The first grant among merged entries that allows the request.
    #[inline]
    fn merged_grant(&self, list: &[MergedEntry], req: &CompiledRequest<'_>) -> Option<Grant> {
        let CompiledKind::Resource {
            group,
            name,
            has_name,
            ..
        } = &req.kind
        else {
            return None;
        };
        let mut best: Option<Grant> = None;
        let mut check = |e: &MergedEntry| {
            if e.group == ANY || Some(e.group) == *group {
                if let Some(g) = e.grant_for(req.verb) {
                    best = Some(best.map_or(g, |b| b.min(g)));
                }
            }
        };
        let unrestricted = list.partition_point(|e| e.name == NONE);
        list[..unrestricted].iter().for_each(&mut check);
        if let (true, Some(n)) = (*has_name, name) {
            let named = &list[unrestricted..];
            let from = named.partition_point(|e| e.name < *n);
            named[from..]
                .iter()
                .take_while(|e| e.name == *n)
                .for_each(&mut check);
        }
        best
    }

    #[inline]
    fn flag(&self, which: usize, key: &SubjectKey) -> bool {
        let b = filter_bit(key);
        self.flag_filters[which]
            .get(b / 64)
            .is_none_or(|w| w & (1 << (b % 64)) != 0)
    }

    /// Whether a subject key may have bindings to missing roles (no false negatives).
    #[inline]
    pub(crate) fn may_have_missing(&self, key: &SubjectKey) -> bool {
        self.flag(3, key)
    }

    /// Whether a subject key may have bindings (no false negatives).
    #[inline]
    pub(crate) fn may_have(&self, key: &SubjectKey) -> bool {
        let b = filter_bit(key);
        self.filter
            .get(b / 64)
            .is_none_or(|w| w & (1 << (b % 64)) != 0)
    }

    /// Records a binding whose role is missing for a subject.
    pub(crate) fn bind_missing(&mut self, key: SubjectKey, binding: usize) {
        let idx = self.subjects.entry(key).or_default();
        if idx.missing.last() != Some(&binding) {
            idx.missing.push(binding);
        }
    }

    /// The first rule of a compiled role (by index) that allows the request.
    pub(crate) fn role_rule(&self, role: &CompiledRole, req: &CompiledRequest<'_>) -> Option<u32> {
        let one = |range: Range| Ref {
            binding: 0,
            subject: 0,
            range,
        };
        match &req.kind {
            CompiledKind::Resource { key, sub, .. } => {
                let mut best: Option<u32> = None;
                let mut consider = |r: Option<u32>| {
                    if let Some(r) = r {
                        best = Some(best.map_or(r, |b| b.min(r)));
                    }
                };
                if let Some(range) = key.and_then(|k| role.by_resource.get(&k)) {
                    consider(self.ref_rule(&one(*range), req));
                }
                if let Some(range) = sub.and_then(|s| role.star_sub.get(&s)) {
                    consider(self.ref_rule(&one(*range), req));
                }
                consider(self.ref_rule(&one(role.any_resource), req));
                best
            }
            CompiledKind::NonResource { .. } => self.url_rule(&one(role.urls), req),
        }
    }

    #[inline]
    fn ref_rule(&self, r: &Ref, req: &CompiledRequest<'_>) -> Option<u32> {
        let CompiledKind::Resource {
            group,
            name,
            has_name,
            ..
        } = &req.kind
        else {
            return None;
        };
        let entries = &self.entries[r.range.start as usize..(r.range.start + r.range.len) as usize];
        let mut best: Option<u32> = None;
        for e in entries {
            if !(e.group == ANY || Some(e.group) == *group) {
                continue;
            }
            if let Some(ns) = &e.names {
                if !(*has_name && name.is_some_and(|n| ns.contains(&n))) {
                    continue;
                }
            }
            if let Some(rule) = e.rule_for(req.verb) {
                best = Some(best.map_or(rule, |b| b.min(rule)));
            }
        }
        best
    }

    #[inline]
    fn url_rule(&self, r: &Ref, req: &CompiledRequest<'_>) -> Option<u32> {
        let CompiledKind::NonResource { path } = &req.kind else {
            return None;
        };
        let urls = &self.urls[r.range.start as usize..(r.range.start + r.range.len) as usize];
        urls.iter()
            .find(|u| {
                (u.any_verb || req.verb.is_some_and(|v| u.verbs.contains(&v)))
                    && if u.prefix {
                        path.starts_with(&*u.url)
                    } else {
                        *u.url == **path
                    }
            })
            .map(|u| u.rule)
    }

    /// The smallest grant (binding, subject, rule) among one subject's refs that allows the
    /// request.
    #[inline]
    pub(crate) fn first_grant(&self, key: SubjectKey, req: &CompiledRequest<'_>) -> Option<Grant> {
        let subject_key = key;
        let (scope, kind, name) = key;
        match &req.kind {
            CompiledKind::Resource { key, sub, .. } => {
                let mut best: Option<Grant> = None;
                let mut consider = |g: Option<Grant>| {
                    if let Some(g) = g {
                        if best.is_none_or(|b| g < b) {
                            best = Some(g);
                        }
                    }
                };
                if let Some(k) = key {
                    consider(self.list_grant((scope, kind, name, TAG_RES, *k), req));
                }
                if self.flag(0, &subject_key) {
                    if let Some(s) = sub {
                        consider(
                            self.list_grant((scope, kind, name, TAG_STAR_SUB, *s as u64), req),
                        );
                    }
                }
                if self.flag(1, &subject_key) {
                    consider(self.list_grant((scope, kind, name, TAG_ANY, 0), req));
                }
                best
            }
            CompiledKind::NonResource { .. } => {
                if !self.flag(2, &subject_key) {
                    return None;
                }
                self.list((scope, kind, name, TAG_URLS, 0))
                    .iter()
                    .find_map(|r| {
                        self.url_rule(r, req).map(|rule| Grant {
                            binding: r.binding as usize,
                            subject: r.subject as usize,
                            rule: rule as usize,
                        })
                    })
            }
        }
    }
}

/// The entries of every reference of a list (in binding order) merged per (group, name): the
/// first grant per verb, unrestricted entries first, then one per name sorted by name, so a
/// request scans the unrestricted ones and binary-searches its own name.
fn merge(entries: &[Entry], refs: &[Ref]) -> Vec<MergedEntry> {
    let mut out: Vec<MergedEntry> = Vec::new();
    let mut slots: FxHashMap<(Sym, Sym), usize> = FxHashMap::default();
    for r in refs {
        let grant = |rule: u32| Grant {
            binding: r.binding as usize,
            subject: r.subject as usize,
            rule: rule as usize,
        };
        let role_entries = &entries[r.range.start as usize..(r.range.start + r.range.len) as usize];
        for e in role_entries {
            let any = (e.any_verb != NO_RULE).then(|| grant(e.any_verb));
            let names: &[Sym] = match &e.names {
                None => &[NONE],
                Some(n) => n,
            };
            for &name in names {
                match slots.get(&(e.group, name)) {
                    Some(&p) => {
                        let m = &mut out[p];
                        if m.any_verb.is_none() {
                            m.any_verb = any;
                        }
                        m.mask |= e.mask;
                        for &(v, rule) in &e.first {
                            if !m.first.iter().any(|(x, _)| *x == v) {
                                m.first.push((v, grant(rule)));
                            }
                        }
                    }
                    None => {
                        slots.insert((e.group, name), out.len());
                        out.push(MergedEntry {
                            name,
                            group: e.group,
                            mask: e.mask,
                            any_verb: any,
                            uniform: None,
                            first: e.first.iter().map(|&(v, rule)| (v, grant(rule))).collect(),
                        });
                    }
                }
            }
        }
    }
    for m in &mut out {
        m.uniform = uniform(&m.first);
    }
    out.sort_by_key(|e| (e.name != NONE, e.name));
    out
}
