//! Splitting input into documents and documents into objects.
//!
//! YAML streams are split at document markers (`---` at column 0, which YAML forbids inside any
//! scalar) so documents parse in parallel and each knows its line. JSON input may hold one value
//! or several concatenated ones. `List` and `*List` kinds are expanded into their items.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::Problem;
use crate::object::Object;
use crate::source::Source;
use crate::strict::Strict;

/// How a text is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (a multi-document stream; JSON is accepted too).
    Yaml,
    /// JSON (one value or a stream of concatenated values).
    Json,
}

impl Format {
    /// `.json` files are JSON; everything else is read as YAML.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Yaml,
        }
    }

    /// The format of text with no file name (stdin): JSON when it is a well-formed JSON value or
    /// stream (`kubectl get -o json`, concatenated objects), YAML otherwise.
    pub fn sniff(text: &str) -> Self {
        let t = text.trim_start_matches('\u{feff}').trim_start();
        if !(t.starts_with('{') || t.starts_with('[')) {
            return Format::Yaml;
        }
        let all_json = serde_json::Deserializer::from_str(t)
            .into_iter::<serde::de::IgnoredAny>()
            .all(|r| r.is_ok());
        if all_json {
            Format::Json
        } else {
            Format::Yaml
        }
    }

    /// Whether a directory walk picks up this file (`.yaml`, `.yml`, `.json`).
    pub fn is_manifest(path: &Path) -> bool {
        matches!(
            path.extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("yaml" | "yml" | "json")
        )
    }
}

/// One YAML document (or a whole JSON text) to parse.
pub(crate) struct Chunk<'a> {
    file: Arc<str>,
    text: &'a str,
    line: usize,
    document: usize,
}

/// One unit of parallel parsing: a YAML document, or one JSON value (a top-level object or one
/// item of a JSON `List`), or a problem found while splitting.
pub(crate) enum Unit<'a> {
    /// A YAML document.
    Yaml(Chunk<'a>),
    /// One JSON value, its text borrowed from the input.
    Json {
        text: &'a str,
        source: Source,
        /// For an item of a typed list (`ClusterRoleList`): the kind and apiVersion its items
        /// may leave off.
        defaults: Option<(Arc<str>, Arc<str>)>,
        /// Whether splitting proved the whole input valid JSON. Items split by
        /// [`fast_list_units`] are not: a problem in one sends the input back to [`units`]
        /// with `fast` off, so every message is the checked splitter's.
        checked: bool,
    },
    /// The input could not be split (invalid JSON at the top level).
    Failed(Problem),
}

/// Splits a text into units parsed independently (in parallel by the loader). With `fast`, a
/// JSON `List` is split by a structural scan (see [`fast_list_units`]) instead of the checking
/// parse.
pub(crate) fn units(file: Arc<str>, text: &str, format: Format, fast: bool) -> Vec<Unit<'_>> {
    match format {
        Format::Yaml => split_yaml(file, text).into_iter().map(Unit::Yaml).collect(),
        Format::Json => {
            let text = text.strip_prefix('\u{feff}').unwrap_or(text);
            fast.then(|| fast_list_units(&file, text))
                .flatten()
                .unwrap_or_else(|| json_units(file, text))
        }
    }
}

/// JSON whitespace.
pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Index of the first non-whitespace byte at or after `i`.
pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).copied().is_some_and(is_ws) {
        i += 1;
    }
    i
}

/// Index just past the string whose opening quote is at `i - 1`.
pub(crate) fn skip_string(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let j = i + memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[j] == b'"' {
            return Some(j + 1);
        }
        i = j + 2;
    }
}

/// Index just past the JSON value starting at `i`, found from its structure alone (strings and
/// nesting; the value itself is not checked).
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => skip_string(b, i + 1),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = i;
            loop {
                match *b.get(i)? {
                    b'"' => {
                        i = skip_string(b, i + 1)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let n = b[i..]
                .iter()
                .position(|&c| matches!(c, b',' | b'}' | b']') || is_ws(c))
                .unwrap_or(b.len() - i);
            (n > 0).then_some(i + n)
        }
    }
}

/// The items of a text that is exactly one JSON `List` object (whitespace around it), found by
/// a structural scan instead of a checking parse: the splitter of large `kubectl get -o json`
/// dumps, where a checking parse of the whole text (serial) cost as much as parsing the items
/// (in parallel). What the scan does not check, the items' own parses and the checks here do:
/// every top-level key is read as a JSON string (and must not repeat), every top-level value
/// but `items` is parsed, the separators are JSON's. Anything else (a stream, a non-list, a
/// typed list, duplicate keys, an odd `items`) returns `None`: the checking splitter then runs.
fn fast_list_units<'a>(file: &Arc<str>, text: &'a str) -> Option<Vec<Unit<'a>>> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    let mut keys: Vec<String> = Vec::new();
    let mut kind: Option<String> = None;
    let mut items: Option<Vec<(usize, usize)>> = None;
    if b.get(i) == Some(&b'}') {
        return None;
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = skip_string(b, i + 1)?;
        let key: String = serde_json::from_str(text.get(i..key_end)?).ok()?;
        if keys.contains(&key) {
            return None;
        }
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        if key == "items" {
            if b.get(i) != Some(&b'[') {
                return None;
            }
            let mut spans = Vec::new();
            i = skip_ws(b, i + 1);
            if b.get(i) == Some(&b']') {
                i += 1;
            } else {
                loop {
                    let end = skip_value(b, i)?;
                    spans.push((i, end));
                    i = skip_ws(b, end);
                    match b.get(i)? {
                        b',' => i = skip_ws(b, i + 1),
                        b']' => {
                            i += 1;
                            break;
                        }
                        _ => return None,
                    }
                }
            }
            items = Some(spans);
        } else {
            let end = skip_value(b, i)?;
            let value = text.get(i..end)?;
            if key == "kind" {
                kind = Some(serde_json::from_str::<String>(value).ok()?);
            } else {
                serde_json::from_str::<serde::de::IgnoredAny>(value).ok()?;
            }
            i = end;
        }
        keys.push(key);
        i = skip_ws(b, i);
        match b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b'}' => break,
            _ => return None,
        }
    }
    if skip_ws(b, i + 1) != b.len() || kind.as_deref() != Some("List") {
        return None;
    }
    let mut lines = LineCounter {
        text: b,
        counted: 0,
        line: 1,
    };
    let document = Source {
        file: file.clone(),
        document: 1,
        line: lines.line_at(skip_ws(b, 0)),
        item: None,
    };
    Some(
        items?
            .into_iter()
            .enumerate()
            .map(|(n, (start, end))| Unit::Json {
                text: &text[start..end],
                source: Source {
                    line: lines.line_at(start),
                    item: Some(n),
                    ..document.clone()
                },
                defaults: None,
                checked: false,
            })
            .collect(),
    )
}

/// Lines counted up to a byte offset, incrementally (offsets must not decrease).
struct LineCounter<'a> {
    text: &'a [u8],
    counted: usize,
    line: usize,
}

impl LineCounter<'_> {
    fn line_at(&mut self, offset: usize) -> usize {
        let offset = offset.clamp(self.counted, self.text.len());
        self.line += memchr::memchr_iter(b'\n', &self.text[self.counted..offset]).count();
        self.counted = offset;
        self.line
    }
}

/// Byte offset of a borrowed slice within the text it was borrowed from.
fn offset_in(text: &str, part: &str) -> usize {
    (part.as_ptr() as usize).saturating_sub(text.as_ptr() as usize)
}

/// Splits JSON input (one value or a stream) into units without building a value tree: a
/// `List`'s items become one unit each, located at their own line.
fn json_units(file: Arc<str>, text: &str) -> Vec<Unit<'_>> {
    let mut out = Vec::new();
    let mut lines = LineCounter {
        text: text.as_bytes(),
        counted: 0,
        line: 1,
    };
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
    let mut document = 0usize;
    loop {
        let before = stream.byte_offset();
        let Some(next) = stream.next() else { break };
        document += 1;
        let raw = match next {
            Ok(raw) => raw,
            Err(e) => {
                let src = Source {
                    file: file.clone(),
                    document,
                    line: e.line().max(1),
                    item: None,
                };
                out.push(Unit::Failed(Problem::at(
                    &src,
                    None,
                    format!("invalid JSON: {}", strip_location(&e.to_string())),
                )));
                break;
            }
        };
        let value_text = raw.get();
        let start = offset_in(text, value_text).max(before);
        let source = Source {
            file: file.clone(),
            document,
            line: lines.line_at(start),
            item: None,
        };
        match list_items(value_text) {
            Ok(None) => out.push(Unit::Json {
                text: value_text,
                source,
                defaults: None,
                checked: true,
            }),
            Ok(Some(list)) => {
                for (i, item) in list.items.into_iter().enumerate() {
                    let line = lines.line_at(offset_in(text, item.get()));
                    out.push(Unit::Json {
                        text: item.get(),
                        source: Source {
                            line,
                            item: Some(i),
                            ..source.clone()
                        },
                        defaults: list.defaults.clone(),
                        checked: true,
                    });
                }
            }
            Err((line, message)) => {
                let src = Source {
                    line: source.line + line.saturating_sub(1),
                    ..source
                };
                out.push(Unit::Failed(Problem::at(&src, None, message)));
            }
        }
    }
    out
}

/// The items of a JSON `List` (or `*List` with `items`), borrowed.
struct RawList<'a> {
    items: Vec<&'a RawValue>,
    defaults: Option<(Arc<str>, Arc<str>)>,
}

/// A top-level JSON object's members, borrowed, with duplicate keys refused.
struct TopLevel<'a>(Vec<(std::borrow::Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for TopLevel<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = TopLevel<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut members: Vec<(std::borrow::Cow<'a, str>, &'a RawValue)> = Vec::new();
                while let Some(k) = map.next_key::<std::borrow::Cow<'a, str>>()? {
                    let v: &'a RawValue = map.next_value()?;
                    if members.iter().any(|(x, _)| *x == k) {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate key \"{k}\" (the second would silently replace the first)"
                        )));
                    }
                    members.push((k, v));
                }
                Ok(TopLevel(members))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// When a JSON value is a `List`, its items; `Ok(None)` for anything else (parsed as one unit).
/// Errors are (line within the value, message).
fn list_items(text: &str) -> Result<Option<RawList<'_>>, (usize, String)> {
    if !text.starts_with('{') {
        return Ok(None);
    }
    let top: TopLevel<'_> = serde_json::from_str(text).map_err(|e| {
        (
            e.line(),
            format!("invalid JSON: {}", strip_location(&e.to_string())),
        )
    })?;
    let get = |key: &str| top.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
    let str_of = |key: &str| -> Option<String> {
        get(key).and_then(|v| serde_json::from_str::<String>(v.get()).ok())
    };
    let kind = str_of("kind").unwrap_or_default();
    let items = get("items");
    let is_list = kind == "List" || (kind.ends_with("List") && items.is_some());
    if !is_list {
        return Ok(None);
    }
    let items = match items.map(RawValue::get) {
        None | Some("null") => Vec::new(),
        Some(t) if t.starts_with('[') => {
            serde_json::from_str::<Vec<&RawValue>>(t).map_err(|e| {
                (
                    e.line(),
                    format!("invalid JSON: {}", strip_location(&e.to_string())),
                )
            })?
        }
        Some(t) => {
            let what = match t.as_bytes().first() {
                Some(b'{') => "an object",
                Some(b'"') => "a string",
                Some(b't' | b'f') => "a boolean",
                _ => "a number",
            };
            return Err((1, format!("{kind}: items must be a list, got {what}")));
        }
    };
    let item_kind = kind.strip_suffix("List").unwrap_or("");
    let defaults = (!item_kind.is_empty()).then(|| {
        (
            Arc::from(item_kind),
            Arc::from(str_of("apiVersion").unwrap_or_default()),
        )
    });
    Ok(Some(RawList { items, defaults }))
}

impl Unit<'_> {
    /// Whether a problem in this unit's objects must be worded by the checking splitter (see
    /// [`fast_list_units`]).
    pub(crate) fn unchecked(&self) -> bool {
        matches!(self, Unit::Json { checked: false, .. })
    }
}

/// Parses one unit into objects, or problems naming their place.
pub(crate) fn parse_unit(unit: &Unit<'_>) -> Vec<Result<Object, Problem>> {
    match unit {
        Unit::Yaml(chunk) => parse_chunk(chunk),
        Unit::Failed(p) => vec![Err(p.clone())],
        Unit::Json {
            text,
            source,
            defaults,
            ..
        } => {
            let d = defaults.as_ref().map(|(k, a)| (&**k, &**a));
            if let Some(r) = Object::from_json_typed(text, source, d) {
                return vec![r];
            }
            let mut out = Vec::new();
            match serde_json::from_str::<Strict>(text) {
                Ok(Strict(v)) => {
                    let v = match defaults {
                        Some((kind, api)) => with_list_defaults(v, kind, api),
                        None => v,
                    };
                    if source.item.is_some()
                        && v.get("kind").and_then(Value::as_str) == Some("List")
                    {
                        out.push(Err(Problem::at(
                            source,
                            None,
                            "a List inside a List is not supported",
                        )));
                    } else {
                        objects_from_value(v, source.clone(), &mut out);
                    }
                }
                Err(e) => {
                    let src = Source {
                        line: source.line + e.line().saturating_sub(1),
                        ..source.clone()
                    };
                    out.push(Err(Problem::at(
                        &src,
                        None,
                        format!("invalid JSON: {}", strip_location(&e.to_string())),
                    )));
                }
            }
            out
        }
    }
}

/// Splits a YAML stream into documents.
fn split_yaml(file: Arc<str>, text: &str) -> Vec<Chunk<'_>> {
    // A byte-order mark (as some editors write it) is not content.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut chunks = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    for (line_no, line) in (1usize..).zip(text.split_inclusive('\n')) {
        let marker = is_marker(line.trim_end_matches(['\n', '\r']));
        if marker && offset > start {
            push_chunk(&file, &text[start..offset], start_line, &mut chunks);
            start = offset;
            start_line = line_no;
        } else if marker {
            start_line = line_no;
        }
        offset += line.len();
    }
    push_chunk(&file, &text[start..], start_line, &mut chunks);
    chunks
}

fn push_chunk<'a>(file: &Arc<str>, t: &'a str, line: usize, chunks: &mut Vec<Chunk<'a>>) {
    if has_content(t) {
        let document = chunks.len() + 1;
        chunks.push(Chunk {
            file: file.clone(),
            text: t,
            line,
            document,
        });
    }
}

/// The deepest `[`/`{` nesting a YAML document may have; the parser rejects deeper input
/// anyway (its recursion limit is 128), but only after work that grows with the square of the
/// depth, so deeper input is refused up front.
const MAX_FLOW_DEPTH: usize = 128;

/// The 0-based line where flow nesting first exceeds [`MAX_FLOW_DEPTH`], if it does. Quoted
/// strings and comments are skipped; brackets inside block scalars are counted too, which only
/// matters for documents far deeper than any real manifest.
fn too_deep_flow(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut line = 0usize;
    let mut quote: Option<char> = None;
    let mut prev = '\n';
    let mut comment = false;
    for c in text.chars() {
        if c == '\n' {
            line += 1;
            comment = false;
            if quote == Some('\'') {
                // single-quoted scalars may span lines; keep the state
            }
            prev = c;
            continue;
        }
        if comment {
            continue;
        }
        match quote {
            Some(q) => {
                if c == q && !(q == '"' && prev == '\\') {
                    quote = None;
                }
            }
            None => match c {
                '#' if prev.is_whitespace() => comment = true,
                '"' | '\'' => quote = Some(c),
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Some(line);
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        prev = c;
    }
    None
}

/// A YAML document marker: `---` at column 0, alone or followed by white space.
fn is_marker(line: &str) -> bool {
    line == "---" || line.starts_with("--- ") || line.starts_with("---\t")
}

/// The line of a chunk's first content (past markers, blank lines and comments; a marker line
/// that carries content, `--- {…}`, is content).
fn first_content_line(chunk: &Chunk<'_>) -> usize {
    chunk
        .text
        .lines()
        .position(|l| {
            let rest = if is_marker(l) { &l[3..] } else { l };
            let rest = rest.trim();
            !(rest.is_empty() || rest.starts_with('#'))
        })
        .map(|i| chunk.line + i)
        .unwrap_or(chunk.line)
}

/// Whether a YAML document has anything but blank lines, comments and markers.
fn has_content(t: &str) -> bool {
    t.lines().any(|l| {
        let l = l.trim();
        !(l.is_empty() || l.starts_with('#') || l == "---" || l == "...")
    })
}

/// Parses one text in a given format into objects (used for review streams and tests too).
pub fn parse_text(file: &str, text: &str, format: Format) -> Vec<Result<Object, Problem>> {
    units(file.into(), text, format, false)
        .iter()
        .flat_map(parse_unit)
        .collect()
}

/// Parses one chunk into objects, or problems naming their place.
pub(crate) fn parse_chunk(chunk: &Chunk<'_>) -> Vec<Result<Object, Problem>> {
    let mut out = Vec::new();
    let source = |line: usize| Source {
        file: chunk.file.clone(),
        document: chunk.document,
        line,
        item: None,
    };
    if let Some(line) = too_deep_flow(chunk.text) {
        out.push(Err(Problem::at(
            &source(chunk.line + line),
            None,
            format!("invalid YAML: flow collections nested deeper than {MAX_FLOW_DEPTH} levels"),
        )));
        return out;
    }
    for doc in serde_yaml_ng::Deserializer::from_str(chunk.text) {
        match Option::<Strict>::deserialize(doc) {
            Ok(None) => {}
            Ok(Some(Strict(v))) => {
                objects_from_value(v, source(first_content_line(chunk)), &mut out)
            }
            Err(e) => {
                let line = e
                    .location()
                    .map(|l| chunk.line + l.line().saturating_sub(1))
                    .unwrap_or(chunk.line);
                out.push(Err(Problem::at(
                    &source(line),
                    None,
                    format!("invalid YAML: {}", strip_location(&e.to_string())),
                )));
                break;
            }
        }
    }
    out
}

/// serde's messages end in "at line L column C"; the location is already in our prefix.
fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// How a JSON value's type is named in messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A typed list (`ClusterRoleList`) may leave kind and apiVersion off its items: an item object
/// gets the list's where it has none.
fn with_list_defaults(item: Value, kind: &str, api_version: &str) -> Value {
    match item {
        Value::Object(mut m) => {
            m.entry("kind")
                .or_insert_with(|| Value::String(kind.to_string()));
            if !api_version.is_empty() {
                m.entry("apiVersion")
                    .or_insert_with(|| Value::String(api_version.to_string()));
            }
            Value::Object(m)
        }
        other => other,
    }
}

/// Turns one parsed value into objects: one object, or the items of a List.
fn objects_from_value(v: Value, source: Source, out: &mut Vec<Result<Object, Problem>>) {
    let Value::Object(map) = v else {
        let msg = if v.is_array() {
            "a JSON/YAML array is not a Kubernetes object (wrap the objects in `kind: List` with `items:`)".to_string()
        } else {
            format!(
                "expected a Kubernetes object (a mapping with apiVersion and kind), got {}",
                type_name(&v)
            )
        };
        out.push(Err(Problem::at(&source, None, msg)));
        return;
    };
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    let is_list = kind == "List" || (kind.ends_with("List") && map.contains_key("items"));
    if !is_list {
        out.push(Object::from_map(map, source));
        return;
    }
    let item_kind = kind.strip_suffix("List").unwrap_or("").to_string();
    let list_api = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let items = match map.get("items") {
        None | Some(Value::Null) => return,
        Some(Value::Array(items)) => items.clone(),
        Some(other) => {
            out.push(Err(Problem::at(
                &source,
                Some(kind.to_string()),
                format!("items must be a list, got {}", type_name(other)),
            )));
            return;
        }
    };
    for (i, item) in items.into_iter().enumerate() {
        let src = Source {
            item: Some(i),
            ..source.clone()
        };
        let item = if item_kind.is_empty() {
            item
        } else {
            with_list_defaults(item, &item_kind, &list_api)
        };
        if item
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k == "List")
        {
            out.push(Err(Problem::at(
                &src,
                None,
                "a List inside a List is not supported",
            )));
            continue;
        }
        objects_from_value(item, src, out);
    }
}
