//! Splitting input into documents and documents into objects.
//!
//! YAML streams are split at document markers (`---` at column 0, which YAML forbids inside any
//! scalar) so documents parse in parallel and each knows its line. JSON input may hold one value
//! or several concatenated ones. `List` and `*List` kinds are expanded into their items.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
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

/// One document (or a whole JSON text) to parse.
pub(crate) struct Chunk<'a> {
    file: Arc<str>,
    text: &'a str,
    line: usize,
    document: usize,
    format: Format,
}

/// Splits a text into documents.
pub(crate) fn split(file: Arc<str>, text: &str, format: Format) -> Vec<Chunk<'_>> {
    // A byte-order mark (as some editors write it) is not content.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if format == Format::Json {
        return vec![Chunk {
            file,
            text,
            line: 1,
            document: 1,
            format,
        }];
    }
    let mut chunks = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    for (line_no, line) in (1usize..).zip(text.split_inclusive('\n')) {
        let marker = is_marker(line.trim_end_matches(['\n', '\r']));
        if marker && offset > start {
            push_chunk(&file, &text[start..offset], start_line, format, &mut chunks);
            start = offset;
            start_line = line_no;
        } else if marker {
            start_line = line_no;
        }
        offset += line.len();
    }
    push_chunk(&file, &text[start..], start_line, format, &mut chunks);
    chunks
}

fn push_chunk<'a>(
    file: &Arc<str>,
    t: &'a str,
    line: usize,
    format: Format,
    chunks: &mut Vec<Chunk<'a>>,
) {
    if has_content(t) {
        let document = chunks.len() + 1;
        chunks.push(Chunk {
            file: file.clone(),
            text: t,
            line,
            document,
            format,
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
    split(file.into(), text, format)
        .iter()
        .flat_map(parse_chunk)
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
    match chunk.format {
        Format::Yaml => {
            if let Some(line) = too_deep_flow(chunk.text) {
                out.push(Err(Problem::at(
                    &source(chunk.line + line),
                    None,
                    format!(
                        "invalid YAML: flow collections nested deeper than {MAX_FLOW_DEPTH} levels"
                    ),
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
        }
        Format::Json => {
            let mut stream = serde_json::Deserializer::from_str(chunk.text).into_iter::<Strict>();
            let mut counted = 0usize;
            let mut line = 1usize;
            loop {
                let before = stream.byte_offset();
                let next = stream.next();
                let Some(next) = next else { break };
                // Line where this value starts: after the previous one, past white space.
                let rest = &chunk.text[before..];
                let skipped = rest.len() - rest.trim_start().len();
                let begin = before + skipped;
                line += chunk.text[counted..begin].matches('\n').count();
                counted = begin;
                match next {
                    Ok(Strict(v)) => objects_from_value(v, source(line), &mut out),
                    Err(e) => {
                        out.push(Err(Problem::at(
                            &source(e.line().max(1)),
                            None,
                            format!("invalid JSON: {}", strip_location(&e.to_string())),
                        )));
                        break;
                    }
                }
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
        let item = match item {
            Value::Object(mut m) if !item_kind.is_empty() => {
                // A typed list (`ClusterRoleList`) may leave kind and apiVersion off its items.
                m.entry("kind")
                    .or_insert_with(|| Value::String(item_kind.clone()));
                if !list_api.is_empty() {
                    m.entry("apiVersion")
                        .or_insert_with(|| Value::String(list_api.clone()));
                }
                Value::Object(m)
            }
            other => other,
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
