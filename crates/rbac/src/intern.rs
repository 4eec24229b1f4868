//! String interning: every verb, group, resource, name and subject in a policy becomes a `Sym`,
//! so the hot path compares integers. Request strings are looked up, never inserted.

use rustc_hash::FxHashMap;

/// An interned string.
pub(crate) type Sym = u32;

/// Marks "no subresource" in resource keys.
pub(crate) const NONE: Sym = u32::MAX;
/// Marks a `*` API group in an index entry.
pub(crate) const ANY: Sym = u32::MAX - 1;

/// Append-only string table.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    ids: FxHashMap<Box<str>, Sym>,
}

impl Interner {
    /// The symbol for `s`, adding it if new.
    pub(crate) fn intern(&mut self, s: &str) -> Sym {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.ids.len() as Sym;
        self.ids.insert(s.into(), id);
        id
    }

    /// The symbol for `s` if any rule or binding mentions it.
    #[inline]
    pub(crate) fn get(&self, s: &str) -> Option<Sym> {
        self.ids.get(s).copied()
    }
}
