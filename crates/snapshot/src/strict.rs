//! A JSON value that refuses duplicate keys while it is parsed.
//!
//! `serde_json::Value` keeps the last of two equal keys, so `subjects:` written twice would lose
//! the first list without a word; kubectl's strict field validation rejects such a manifest.
//! This wrapper builds the same `Value` and fails on the first duplicate, naming it. For input
//! parsed straight into typed structs, [`NoDupes`] and [`Head`] make the same check without
//! building anything.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A `Value` parsed with duplicate keys rejected.
pub(crate) struct Strict(pub(crate) Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid YAML or JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(Strict(x)) = seq.next_element()? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if m.contains_key(&k) {
                return Err(de::Error::custom(format!(
                    "duplicate key \"{k}\" (the second would silently replace the first)"
                )));
            }
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}

/// A key borrowed from the input where it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Keys seen in one mapping: a short list, a hash set once a mapping is large (so a hostile
/// mapping with a million keys costs linear time, not quadratic; the set's hasher is seeded per
/// process, so keys cannot be crafted to collide).
#[derive(Default)]
struct Seen<'de> {
    few: Vec<Cow<'de, str>>,
    many: Option<std::collections::HashSet<Cow<'de, str>>>,
}

impl<'de> Seen<'de> {
    /// Records a key; `false` when it was already there.
    fn insert(&mut self, k: Cow<'de, str>) -> bool {
        if let Some(set) = &mut self.many {
            return set.insert(k);
        }
        if self.few.contains(&k) {
            return false;
        }
        self.few.push(k);
        if self.few.len() > 32 {
            self.many = Some(self.few.drain(..).collect());
        }
        true
    }
}

fn duplicate<E: de::Error>(k: &str) -> E {
    de::Error::custom(format!(
        "duplicate key \"{k}\" (the second would silently replace the first)"
    ))
}

/// Walks a value and fails on a duplicate key, building nothing (for input that is then parsed
/// straight into a typed struct, whose own deserializer would keep the last duplicate).
pub(crate) struct NoDupes;

impl<'de> Deserialize<'de> for NoDupes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDupesVisitor)
    }
}

struct NoDupesVisitor;

impl<'de> Visitor<'de> for NoDupesVisitor {
    type Value = NoDupes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<NoDupes, E> {
        Ok(NoDupes)
    }
    fn visit_i64<E>(self, _: i64) -> Result<NoDupes, E> {
        Ok(NoDupes)
    }
    fn visit_u64<E>(self, _: u64) -> Result<NoDupes, E> {
        Ok(NoDupes)
    }
    fn visit_f64<E>(self, _: f64) -> Result<NoDupes, E> {
        Ok(NoDupes)
    }
    fn visit_str<E>(self, _: &str) -> Result<NoDupes, E> {
        Ok(NoDupes)
    }
    fn visit_unit<E>(self) -> Result<NoDupes, E> {
        Ok(NoDupes)
    }
    fn visit_none<E>(self) -> Result<NoDupes, E> {
        Ok(NoDupes)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NoDupes, D::Error> {
        NoDupes::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NoDupes, A::Error> {
        while seq.next_element::<NoDupes>()?.is_some() {}
        Ok(NoDupes)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoDupes, A::Error> {
        let mut seen = Seen::default();
        while let Some(Key(k)) = map.next_key()? {
            map.next_value::<NoDupes>()?;
            if !seen.insert(k.clone()) {
                return Err(duplicate(&k));
            }
        }
        Ok(NoDupes)
    }
}

/// A top-level object's `kind` and `apiVersion` (when they are strings), after a walk of the
/// whole object that fails on any duplicate key. The walk stops early (with an error) as soon
/// as both are known and are not one of [`crate::object::TYPED_JSON`]: such an object takes the
/// general path, which does the same checks while it builds the value.
pub(crate) struct Head<'de> {
    pub(crate) kind: Option<Cow<'de, str>>,
    pub(crate) api_version: Option<Cow<'de, str>>,
}

impl<'de> Deserialize<'de> for Head<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Head<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Head<'de>, A::Error> {
                let mut head = Head {
                    kind: None,
                    api_version: None,
                };
                let mut seen = Seen::default();
                while let Some(Key(k)) = map.next_key()? {
                    match &*k {
                        "kind" => head.kind = map.next_value::<MaybeStr<'de>>()?.0,
                        "apiVersion" => head.api_version = map.next_value::<MaybeStr<'de>>()?.0,
                        _ => {
                            map.next_value::<NoDupes>()?;
                        }
                    }
                    if !seen.insert(k.clone()) {
                        return Err(duplicate(&k));
                    }
                    if let (Some(a), Some(k)) = (&head.api_version, &head.kind) {
                        if !crate::object::TYPED_JSON.contains(&(a.as_ref(), k.as_ref())) {
                            return Err(de::Error::custom(
                                "not a kind parsed straight into a type",
                            ));
                        }
                    }
                }
                Ok(head)
            }
        }
        d.deserialize_map(V)
    }
}

/// [`Head`] by a byte scan: `None` unless the text is an object whose every key (at any depth) is
/// free of escapes and unique in its object (at most 32 per object), and whose top-level `kind`
/// and `apiVersion`, where present, are strings free of escapes. When it answers, the answer is
/// the walk's; otherwise the walk decides. The scan checks structure only: the typed parse that
/// follows checks the rest of the syntax.
pub(crate) fn fast_head(text: &str) -> Option<Head<'_>> {
    use crate::parse::{skip_string, skip_ws};
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let mut head = Head {
        kind: None,
        api_version: None,
    };
    // Open containers: whether an object, and where its keys start in `keys`.
    let mut open: Vec<(bool, usize)> = Vec::new();
    let mut keys: Vec<&[u8]> = Vec::new();
    while i < b.len() {
        match b[i] {
            b'{' => open.push((true, keys.len())),
            b'[' => open.push((false, keys.len())),
            b'}' | b']' => {
                let (_, from) = open.pop()?;
                keys.truncate(from);
                if open.is_empty() {
                    return (skip_ws(b, i + 1) == b.len()).then_some(head);
                }
            }
            b'"' => {
                let end = skip_string(b, i + 1)?;
                let s = &b[i + 1..end - 1];
                let after = skip_ws(b, end);
                let &(in_object, from) = open.last()?;
                if in_object && b.get(after) == Some(&b':') {
                    if s.contains(&b'\\') || keys.len() - from >= 32 || keys[from..].contains(&s) {
                        return None;
                    }
                    keys.push(s);
                    if open.len() == 1 && (s == b"kind" || s == b"apiVersion") {
                        let v = skip_ws(b, after + 1);
                        if b.get(v) != Some(&b'"') {
                            return None;
                        }
                        let v_end = skip_string(b, v + 1)?;
                        let value = text.get(v + 1..v_end - 1)?;
                        if value.contains('\\') {
                            return None;
                        }
                        let slot = if s == b"kind" {
                            &mut head.kind
                        } else {
                            &mut head.api_version
                        };
                        *slot = Some(Cow::Borrowed(value));
                        i = v_end;
                        continue;
                    }
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// A string value, or `None` for any other value (which is still checked for duplicate keys).
struct MaybeStr<'de>(Option<Cow<'de, str>>);

impl<'de> Deserialize<'de> for MaybeStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaybeStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<MaybeStr<'de>, E> {
                Ok(MaybeStr(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<MaybeStr<'de>, E> {
                Ok(MaybeStr(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_bool<E>(self, _: bool) -> Result<MaybeStr<'de>, E> {
                Ok(MaybeStr(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<MaybeStr<'de>, E> {
                Ok(MaybeStr(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<MaybeStr<'de>, E> {
                Ok(MaybeStr(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<MaybeStr<'de>, E> {
                Ok(MaybeStr(None))
            }
            fn visit_unit<E>(self) -> Result<MaybeStr<'de>, E> {
                Ok(MaybeStr(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<MaybeStr<'de>, A::Error> {
                NoDupesVisitor.visit_seq(seq).map(|_| MaybeStr(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MaybeStr<'de>, A::Error> {
                NoDupesVisitor.visit_map(map).map(|_| MaybeStr(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(text: &str) -> Option<(Option<String>, Option<String>)> {
        serde_json::from_str::<Head<'_>>(text)
            .ok()
            .map(|h| (h.kind.map(Into::into), h.api_version.map(Into::into)))
    }

    /// The scan's answer agrees with the walk's: the same head, or (the walk stopping early at
    /// a kind that is not parsed straight into a type) a head of such a kind.
    fn agrees(text: &str, h: Head<'_>) {
        let got: (Option<String>, Option<String>) =
            (h.kind.map(Into::into), h.api_version.map(Into::into));
        match walk(text) {
            Some(w) => assert_eq!(w, got, "{text}"),
            None => {
                let typed = matches!(&got, (Some(k), Some(a))
                    if crate::object::TYPED_JSON.contains(&(a.as_str(), k.as_str())));
                assert!(!typed, "the walk refused what the scan passed: {text}");
            }
        }
    }

    #[test]
    fn the_scan_answers_only_as_the_walk_would() {
        let item = r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "b", "namespace": "a", "labels": {"x": "1", "y": "2"}}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}, "subjects": [{"kind": "User", "name": "u"}, {"kind": "Group", "name": "g\"q"}]}"#;
        let h = fast_head(item).expect("a plain item is scanned");
        assert_eq!(h.kind.as_deref(), Some("RoleBinding"));
        // Variants: duplicate keys at every depth (the walk refuses them), keys and kinds with
        // escapes, many keys, odd kinds, damaged text. Whenever the scan answers for valid JSON,
        // the walk answers the same.
        let many: String = (0..40).map(|i| format!("\"k{i}\": {i}, ")).collect();
        let variants = [
            item.to_string(),
            item.replace(
                "\"namespace\": \"a\"",
                "\"namespace\": \"a\", \"name\": \"c\"",
            ),
            item.replace("\"y\": \"2\"", "\"y\": \"2\", \"x\": \"3\""),
            item.replace(
                "{\"kind\": \"User\", \"name\": \"u\"}",
                "{\"kind\": \"User\", \"name\": \"u\", \"kind\": \"Group\"}",
            ),
            item.replace(
                "\"kind\": \"RoleBinding\"",
                "\"kind\": \"RoleBinding\", \"kind\": \"Role\"",
            ),
            item.replace(
                "\"kind\": \"RoleBinding\"",
                "\"ki\\u006ed\": \"RoleBinding\"",
            ),
            item.replace(
                "\"kind\": \"RoleBinding\"",
                "\"kind\": \"Role\\u0042inding\"",
            ),
            item.replace("\"kind\": \"RoleBinding\"", "\"kind\": 7"),
            item.replace("\"metadata\": {", &format!("\"metadata\": {{{many}")),
            item.replace("\"x\": \"1\"", "\"x\\\"\": \"1\", \"x\\\"\": \"2\""),
            format!("[{item}]"),
            format!("{item} x"),
        ];
        let mut answered = 0;
        for v in &variants {
            let valid = serde_json::from_str::<serde::de::IgnoredAny>(v).is_ok();
            if let (Some(h), true) = (fast_head(v), valid) {
                agrees(v, h);
                answered += 1;
            }
        }
        assert_eq!(answered, 1, "only the plain item is answered by the scan");
        // Every prefix and every one-byte deletion of the item: the scan never answers
        // differently from the walk on valid JSON.
        for i in 0..item.len() {
            for t in [
                item[..i].to_string(),
                format!("{}{}", &item[..i], &item[i + 1..]),
            ] {
                if serde_json::from_str::<serde::de::IgnoredAny>(&t).is_ok() {
                    if let Some(h) = fast_head(&t) {
                        agrees(&t, h);
                    }
                }
            }
        }
    }
}
