//! String interning: every verb, group, resource, name and subject in a policy becomes a `Sym`,
//! so the hot path compares integers. Request strings are looked up, never inserted.
//!
//! The table keeps short strings inline in its slots: a lookup of a known name (a user, a
//! namespace, a group) then reads one slot instead of a slot and a separately allocated key,
//! which at scale is one cache miss fewer per string of every decision.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

/// An interned string.
pub(crate) type Sym = u32;

/// Marks "no subresource" in resource keys.
pub(crate) const NONE: Sym = u32::MAX;
/// Marks a `*` API group in an index entry.
pub(crate) const ANY: Sym = u32::MAX - 1;

/// Bytes a slot holds inline; longer strings live in `Interner::long`.
const INLINE: usize = 40;

/// One table slot: the string inline (or the index of a long one) and its symbol.
#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u32,
    sym: Sym,
    len: u32,
    bytes: [u8; INLINE],
}

impl Slot {
    #[inline]
    fn text<'a>(&'a self, long: &'a [Box<str>]) -> &'a [u8] {
        let len = self.len as usize;
        if len <= INLINE {
            &self.bytes[..len]
        } else {
            let mut idx = [0u8; 4];
            idx.copy_from_slice(&self.bytes[..4]);
            long.get(u32::from_le_bytes(idx) as usize)
                .map_or(&[][..], |s| s.as_bytes())
        }
    }
}

/// Append-only string table.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    table: HashTable<Slot>,
    long: Vec<Box<str>>,
}

#[inline]
fn hash(s: &str) -> u64 {
    FxBuildHasher.hash_one(s)
}

impl Interner {
    #[inline]
    fn find(&self, h: u64, s: &str) -> Option<&Slot> {
        let len = s.len();
        self.table.find(h, |slot| {
            slot.hash == h as u32
                && slot.len as usize == len
                && slot.text(&self.long) == s.as_bytes()
        })
    }

    /// The symbol for `s`, adding it if new.
    pub(crate) fn intern(&mut self, s: &str) -> Sym {
        let h = hash(s);
        if let Some(slot) = self.find(h, s) {
            return slot.sym;
        }
        let sym = self.table.len() as Sym;
        let mut bytes = [0u8; INLINE];
        if s.len() <= INLINE {
            bytes[..s.len()].copy_from_slice(s.as_bytes());
        } else {
            bytes[..4].copy_from_slice(&(self.long.len() as u32).to_le_bytes());
            self.long.push(s.into());
        }
        let slot = Slot {
            hash: h as u32,
            sym,
            len: s.len() as u32,
            bytes,
        };
        self.table.insert_unique(h, slot, |slot| {
            let text = slot.text(&self.long);
            // The stored text is valid UTF-8: it was copied from a `str`.
            FxBuildHasher.hash_one(std::str::from_utf8(text).unwrap_or_default())
        });
        sym
    }

    /// The symbol for `s` if any rule or binding mentions it.
    #[inline]
    pub(crate) fn get(&self, s: &str) -> Option<Sym> {
        self.find(hash(s), s).map(|slot| slot.sym)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_strings_intern_once_and_are_found() {
        let mut i = Interner::default();
        let long = "system:serviceaccount:a-rather-long-namespace-name:a-long-service-account";
        let names = [
            "",
            "get",
            "pods",
            long,
            &long[..INLINE],
            &long[..INLINE + 1],
        ];
        let syms: Vec<Sym> = names.iter().map(|n| i.intern(n)).collect();
        for (n, s) in names.iter().zip(&syms) {
            assert_eq!(i.intern(n), *s, "{n}");
            assert_eq!(i.get(n), Some(*s), "{n}");
        }
        let mut sorted = syms.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        assert_eq!(i.get("pod"), None);
        assert_eq!(i.get(&long[..INLINE + 2]), None);
        // Growth rehashes every slot, long ones included.
        for n in 0..10_000 {
            i.intern(&format!("{long}-{n}"));
        }
        assert_eq!(i.get(long), Some(syms[3]));
        assert_eq!(i.get(&format!("{long}-9999")), Some(10_000 + 5));
    }
}
