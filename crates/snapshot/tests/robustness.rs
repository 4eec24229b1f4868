//! The loader never panics, never overflows its stack and never explodes on hostile input, and
//! every error it gives names a place.
//!
//! * a fuzz-style loop over generated and garbled inputs (random bytes, truncated and mutated
//!   real manifests from `examples/cluster`, random YAML structures, random JSON), each loaded as
//!   YAML and as JSON: no panic; every problem and warning located at `file:line` within the
//!   text. `VIRTGUARD_FUZZ_ITERS` sets the number of inputs (default 10,000),
//!   `VIRTGUARD_FUZZ_SEED` the seed;
//! * deeply nested YAML and JSON (100,000 levels of `[` / `{`, deep block mappings and
//!   sequences): an error naming the file, no stack overflow;
//! * a YAML "billion laughs" alias bomb: an error or bounded work, quickly;
//! * random valid RBAC objects (proptest), written as YAML or JSON with awkward strings, load
//!   and convert back to exactly the roles and bindings they were made from;
//! * a large input: 100 MB of valid ClusterRoles (`VIRTGUARD_LARGE_MB` changes the size).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use virtguard_snapshot::{from_texts, Format, LoadError, LoadOptions, Problem, Snapshot};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// xorshift64*: deterministic, seedable, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run(
    name: &str,
    text: String,
    format: Format,
    opts: &LoadOptions,
) -> Result<Snapshot, LoadError> {
    from_texts(vec![(Arc::from(name), text, format)], opts)
}

/// Checks that a problem is located at `name:LINE` (optionally `(items[N])`) with
/// 1 <= LINE <= lines + 1, and that its message is not empty.
fn check_located(p: &Problem, name: &str, lines: usize) -> Result<(), String> {
    let rest = p
        .location
        .strip_prefix(name)
        .and_then(|r| r.strip_prefix(':'))
        .ok_or_else(|| format!("location {:?} does not name {name}", p.location))?;
    let line_part = rest.split(' ').next().unwrap_or("");
    let line: usize = line_part
        .parse()
        .map_err(|_| format!("location {:?} has no line", p.location))?;
    if line == 0 || line > lines + 1 {
        return Err(format!(
            "location {:?} is outside the text ({lines} lines)",
            p.location
        ));
    }
    let after = &rest[line_part.len()..];
    if !(after.is_empty() || (after.starts_with(" (items[") && after.ends_with("])"))) {
        return Err(format!("odd location {:?}", p.location));
    }
    if p.message.trim().is_empty() {
        return Err(format!("empty message at {}", p.location));
    }
    Ok(())
}

/// Loads `text` as YAML and as JSON, strictly and with `skip_invalid`; fails (with the input
/// saved for replay) on a panic or an unlocated problem.
fn check_input(text: &str, what: &str) {
    // libyaml counts CR, NEL, LS and PS as line breaks too; the bound counts all of them.
    let lines = 1 + text
        .chars()
        .filter(|c| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}'))
        .count();
    for format in [Format::Yaml, Format::Json] {
        let name = match format {
            Format::Yaml => "fuzz.yaml",
            Format::Json => "fuzz.json",
        };
        for skip_invalid in [false, true] {
            let opts = LoadOptions { skip_invalid };
            let result = catch_unwind(AssertUnwindSafe(|| {
                run(name, text.to_string(), format, &opts)
            }));
            let verdict = match result {
                Err(_) => Err("panicked".to_string()),
                Ok(Ok(s)) => s
                    .warnings
                    .iter()
                    .try_for_each(|p| check_located(p, name, lines))
                    .and_then(|()| {
                        s.objects.iter().try_for_each(|o| {
                            let src = o.source.to_string();
                            (src.starts_with(name) && o.source.line >= 1 && o.source.line <= lines)
                                .then_some(())
                                .ok_or_else(|| format!("object source {src} outside the text"))
                        })
                    }),
                Ok(Err(LoadError::Invalid(ps))) if skip_invalid => {
                    Err(format!("skip_invalid still failed: {ps:?}"))
                }
                Ok(Err(LoadError::Invalid(ps))) => {
                    if ps.is_empty() {
                        Err("failed without a problem".to_string())
                    } else {
                        ps.iter().try_for_each(|p| check_located(p, name, lines))
                    }
                }
                Ok(Err(e @ LoadError::Io { .. })) => Err(format!("I/O error from memory: {e}")),
            };
            if let Err(why) = verdict {
                let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
                let saved = dir.join(format!("fuzz-failure-{}.txt", std::process::id()));
                let _ = std::fs::write(&saved, text);
                panic!(
                    "{what} as {format:?} (skip_invalid: {skip_invalid}): {why}; input saved to {}",
                    saved.display()
                );
            }
        }
    }
}

fn examples() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/cluster");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no examples in {}", dir.display());
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const TOKENS: &[&str] = &[
    "---",
    "...",
    "- ",
    ": ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "&a ",
    "*a",
    "!!str ",
    "!!binary ",
    "!tag ",
    "? ",
    "|",
    ">",
    "#",
    "'",
    "\"",
    "\\",
    "\n",
    "\n  ",
    "\t",
    " ",
    "%YAML 1.2\n",
    "<<: ",
    "~",
    "null",
    "true",
    "1e999",
    "-0",
    "0x1F",
    ".nan",
    "kind",
    "List",
    "items",
    "apiVersion",
    "v1",
    "rbac.authorization.k8s.io/v1",
    "ClusterRole",
    "Role",
    "RoleBinding",
    "ClusterRoleBinding",
    "metadata",
    "name",
    "namespace",
    "rules",
    "verbs",
    "subjects",
    "roleRef",
    "ServiceAccount",
    "aggregationRule",
    "clusterRoleSelectors",
    "matchLabels",
    "\u{feff}",
    "\u{0}",
    "é",
    "\r\n",
];

/// A random string of YAML/JSON-ish tokens.
fn token_soup(rng: &mut Rng) -> String {
    let n = rng.below(80);
    (0..n).map(|_| *rng.pick(TOKENS)).collect()
}

/// Random bytes, made into text (the loader takes text; non-UTF-8 files are refused earlier).
fn random_bytes(rng: &mut Rng) -> String {
    let n = rng.below(400);
    let bytes: Vec<u8> = (0..n)
        .map(|_| {
            if rng.chance(3) {
                *rng.pick(b"-:{}[]\n #&*!|>'\"\\,?")
            } else {
                rng.next() as u8
            }
        })
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

const KINDS: &[&str] = &[
    "ClusterRole",
    "Role",
    "RoleBinding",
    "ClusterRoleBinding",
    "ServiceAccount",
    "Namespace",
    "List",
    "ClusterRoleList",
    "RoleBindingList",
    "ConfigMap",
    "VirtualMachine",
    "",
];
const API_VERSIONS: &[&str] = &[
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "v1",
    "kubevirt.io/v1",
    "",
];
const KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "generateName",
    "labels",
    "rules",
    "verbs",
    "apiGroups",
    "resources",
    "resourceNames",
    "nonResourceURLs",
    "subjects",
    "roleRef",
    "apiGroup",
    "items",
    "aggregationRule",
    "clusterRoleSelectors",
    "matchLabels",
    "matchExpressions",
    "operator",
    "key",
    "values",
    "x",
];

/// A random JSON value shaped like (bits of) Kubernetes objects.
fn random_value(rng: &mut Rng, depth: usize) -> serde_json::Value {
    use serde_json::Value;
    let leaf = depth >= 5 || rng.chance(3);
    match rng.below(if leaf { 6 } else { 9 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(2)),
        2 => Value::from(rng.next() as i64 >> rng.below(64)),
        3 => Value::from(rng.next() as f64 / 7.0),
        4 => Value::String(rng.pick(KINDS).to_string()),
        5 => Value::String(
            rng.pick(&["get", "*", "", "pods", "a", "kube-system", "/healthz"])
                .to_string(),
        ),
        6 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.below(6) {
                m.insert(rng.pick(KEYS).to_string(), random_value(rng, depth + 1));
            }
            Value::Object(m)
        }
    }
}

/// A random object: a plausible skeleton (kind, apiVersion, metadata) with random fields.
fn random_object(rng: &mut Rng) -> serde_json::Value {
    let mut v = serde_json::json!({
        "apiVersion": rng.pick(API_VERSIONS),
        "kind": rng.pick(KINDS),
        "metadata": {"name": rng.pick(&["a", "b", ""]), "namespace": rng.pick(&["", "ns"])},
    });
    let m = v.as_object_mut().unwrap();
    for _ in 0..rng.below(4) {
        m.insert(rng.pick(KEYS).to_string(), random_value(rng, 1));
    }
    if rng.chance(4) {
        m.remove(*rng.pick(&["apiVersion", "kind", "metadata"]));
    }
    v
}

/// Several random objects as a YAML stream or a JSON text.
fn random_structured(rng: &mut Rng) -> String {
    let n = 1 + rng.below(4);
    let values: Vec<serde_json::Value> = (0..n)
        .map(|_| {
            if rng.chance(5) {
                random_value(rng, 0)
            } else {
                random_object(rng)
            }
        })
        .collect();
    if rng.chance(2) {
        values
            .iter()
            .map(|v| serde_yaml_ng::to_string(v).unwrap())
            .collect::<Vec<_>>()
            .join(if rng.chance(2) {
                "---\n"
            } else {
                "\n---\n# c\n"
            })
    } else {
        values
            .iter()
            .map(|v| {
                if rng.chance(2) {
                    serde_json::to_string_pretty(v).unwrap()
                } else {
                    v.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A real manifest, truncated at a random place, with a few random edits.
fn mutated_example(rng: &mut Rng, examples: &[String]) -> String {
    let src = rng.pick(examples);
    let mut chars: Vec<char> = src.chars().collect();
    // A window of the file, so most inputs are small.
    let start = if rng.chance(2) {
        0
    } else {
        rng.below(chars.len())
    };
    let len = rng.below(4000).min(chars.len() - start);
    chars = chars[start..start + len].to_vec();
    for _ in 0..rng.below(6) {
        if chars.is_empty() {
            break;
        }
        let at = rng.below(chars.len());
        match rng.below(6) {
            0 => {
                chars.remove(at);
            }
            1 => chars.insert(
                at,
                *rng.pick(&[
                    '\n', ' ', ':', '-', '[', '{', '"', '\'', '\t', '&', '*', '!',
                ]),
            ),
            2 => chars[at] = *rng.pick(&['x', ' ', ':', '\n', '#']),
            3 => {
                // Duplicate a line (duplicate keys, repeated list items).
                let line_start = chars[..at]
                    .iter()
                    .rposition(|c| *c == '\n')
                    .map_or(0, |i| i + 1);
                let line_end = chars[at..]
                    .iter()
                    .position(|c| *c == '\n')
                    .map_or(chars.len(), |i| at + i + 1);
                let line: Vec<char> = chars[line_start..line_end].to_vec();
                chars.splice(line_end..line_end, line);
            }
            4 => {
                // Change an indentation.
                let line_start = chars[..at]
                    .iter()
                    .rposition(|c| *c == '\n')
                    .map_or(0, |i| i + 1);
                chars.insert(line_start, ' ');
            }
            _ => chars.insert(at, *rng.pick(&['\u{feff}', '\u{0}', 'é', '\r'])),
        }
    }
    chars.into_iter().collect()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// Many generated and garbled inputs, each as YAML and as JSON, strict and skipping: no panic,
/// every problem located in the text, no I/O error from memory.
#[test]
fn fuzz_never_panics_and_every_error_is_located() {
    let iterations = env_usize("VIRTGUARD_FUZZ_ITERS", 10_000);
    let seed = env_usize("VIRTGUARD_FUZZ_SEED", 0x5EED) as u64;
    let examples = examples();
    let mut rng = Rng(seed | 1);
    let started = Instant::now();
    let mut kinds = [0usize; 5];
    for i in 0..iterations {
        let k = i % 5;
        kinds[k] += 1;
        let text = match k {
            0 => random_bytes(&mut rng),
            1 => token_soup(&mut rng),
            2 => random_structured(&mut rng),
            // Real manifests weigh double: they reach the deepest code.
            _ => mutated_example(&mut rng, &examples),
        };
        check_input(&text, &format!("input {i} (seed {seed})"));
    }
    // The unmodified examples load.
    for e in &examples {
        run("ex.yaml", e.clone(), Format::Yaml, &LoadOptions::default()).unwrap();
    }
    eprintln!(
        "{iterations} inputs (bytes {}, tokens {}, structured {}, mutated examples {}) in {:?}",
        kinds[0],
        kinds[1],
        kinds[2],
        kinds[3] + kinds[4],
        started.elapsed()
    );
}

/// Every prefix of a real manifest (cut at every line, and at a few hundred byte offsets) loads
/// or fails with located problems.
#[test]
fn every_truncation_of_a_manifest_is_handled() {
    let examples = examples();
    let text = examples
        .iter()
        .find(|e| e.contains("kind: RoleBinding"))
        .unwrap_or(&examples[0]);
    let text = &text[..text.len().min(8000)];
    let mut cuts: Vec<usize> = text.match_indices('\n').map(|(i, _)| i).collect();
    let mut rng = Rng(7);
    for _ in 0..300 {
        let mut at = rng.below(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        cuts.push(at);
    }
    for at in cuts {
        check_input(&text[..at], &format!("prefix of {at} bytes"));
    }
}

fn expect_located_error(name: &str, text: String, format: Format, limit: Duration) -> Vec<Problem> {
    let started = Instant::now();
    let r = run(name, text, format, &LoadOptions::default());
    let took = started.elapsed();
    assert!(took < limit, "{name}: took {took:?}");
    match r {
        Err(LoadError::Invalid(ps)) => {
            assert!(!ps.is_empty());
            for p in &ps {
                assert!(
                    p.location.starts_with(&format!("{name}:")),
                    "{name}: problem not located: {p}"
                );
            }
            ps
        }
        Err(e) => panic!("{name}: unexpected error {e}"),
        Ok(s) => panic!("{name}: loaded {} objects", s.objects.len()),
    }
}

/// 100,000 levels of `[` or `{` (closed or not), in YAML and JSON, at the top or inside an
/// object: an error naming the file (the parsers' recursion limits), not a stack overflow.
#[test]
fn deep_flow_nesting_is_an_error_not_a_crash() {
    const DEPTH: usize = 100_000;
    // In YAML, flow nesting where a key is possible (below a mapping key, or `{"a":` chains)
    // is quadratic (see `deep_keyed_flow_nesting_is_fast`): 10,000 levels there.
    const YAML_KEYED_DEPTH: usize = 10_000;
    let limit = Duration::from_secs(10);
    let object = |inner: &str| {
        format!("{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"x\"}},\"data\":{inner}}}")
    };
    let block_object = |inner: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: {inner}\n")
    };
    for (open, close) in [("[", "]"), ("{", "}"), ("{\"a\":", "}")] {
        for (name, format) in [("deep.yaml", Format::Yaml), ("deep.json", Format::Json)] {
            let keyed = format == Format::Yaml;
            let top_depth = if keyed && open.len() > 1 {
                YAML_KEYED_DEPTH
            } else {
                DEPTH
            };
            let inner_depth = if keyed { YAML_KEYED_DEPTH } else { DEPTH };
            let mut texts = vec![
                open.repeat(top_depth),
                format!("{}{}", open.repeat(top_depth), close.repeat(top_depth)),
                object(&format!(
                    "{}{}",
                    open.repeat(inner_depth),
                    close.repeat(inner_depth)
                )),
                object(&open.repeat(inner_depth)),
            ];
            if format == Format::Yaml {
                texts.push(block_object(&format!(
                    "{}{}",
                    open.repeat(inner_depth),
                    close.repeat(inner_depth)
                )));
            }
            for text in texts {
                let ps = expect_located_error(name, text, format, limit);
                assert_eq!(ps.len(), 1, "{ps:?}");
            }
        }
    }
    // Below a block mapping key the error is at the key's line.
    let ps = expect_located_error(
        "deep.yaml",
        block_object(&"[".repeat(YAML_KEYED_DEPTH)),
        Format::Yaml,
        limit,
    );
    assert_eq!(
        ps[0].to_string(),
        "deep.yaml:5: invalid YAML: flow collections nested deeper than 128 levels"
    );
    // The errors say what happened.
    let deep = "[".repeat(DEPTH) + &"]".repeat(DEPTH);
    let ps = expect_located_error("deep.yaml", deep.clone(), Format::Yaml, limit);
    assert_eq!(
        ps[0].to_string(),
        "deep.yaml:1: invalid YAML: flow collections nested deeper than 128 levels"
    );
    let ps = expect_located_error("deep.json", deep, Format::Json, limit);
    assert_eq!(
        ps[0].to_string(),
        "deep.json:1: invalid JSON: recursion limit exceeded"
    );
    // Nesting at depth 100 (under both parsers' limits of 128) loads.
    let ok = format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"x\"}},\"data\":{}{}}}",
        "[".repeat(100),
        "]".repeat(100)
    );
    for format in [Format::Yaml, Format::Json] {
        let s = run("ok", ok.clone(), format, &LoadOptions::default()).unwrap();
        assert_eq!(s.objects.len(), 1);
    }
}

/// 100,000 levels of `{"a":` fail as fast as 100,000 levels of `[` (well under a second). The
/// YAML parser's work grows with the square of the flow depth (10,000 levels took 0.25 s,
/// 100,000 about 25 s), so the loader refuses nesting over 128 levels before parsing.
#[test]

fn deep_keyed_flow_nesting_is_fast() {
    let text = "{\"a\":".repeat(100_000);
    expect_located_error("deep.yaml", text, Format::Yaml, Duration::from_secs(2));
}

/// Deep block structure: `a:\n  a:\n   a: …` (one more space per level) and `- - - - …`:
/// an error naming the file, not a stack overflow.
#[test]
fn deep_block_nesting_is_an_error_not_a_crash() {
    let limit = Duration::from_secs(20);
    // 3,000 levels of mappings: 4.5 MB of indentation.
    let mut text = String::new();
    for i in 0..3_000 {
        text.push_str(&" ".repeat(i));
        text.push_str("a:\n");
    }
    text.push_str(&" ".repeat(3_000));
    text.push_str("x\n");
    expect_located_error("deep-map.yaml", text, Format::Yaml, limit);
    // 100,000 levels of block sequences on one line.
    let text = "- ".repeat(100_000) + "x\n";
    expect_located_error("deep-seq.yaml", text, Format::Yaml, limit);
    // Nesting within a real object, below the parser limit: loads.
    let mut text = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n");
    for i in 1..100 {
        text.push_str(&" ".repeat(i * 2));
        text.push_str("a:\n");
    }
    text.push_str(&" ".repeat(200));
    text.push_str("b: 1\n");
    let s = run("ok.yaml", text, Format::Yaml, &LoadOptions::default()).unwrap();
    assert_eq!(s.objects.len(), 1);
}

/// The "billion laughs": nine levels of aliases, each repeating the previous ten times
/// (10^9 strings if expanded). An error or bounded work, in well under a few seconds.
#[test]
fn alias_bomb_is_bounded() {
    let mut bomb = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        let refs = vec![format!("*{}", w[0]); 10].join(",");
        bomb.push_str(&format!("  {}: &{} [{}]\n", w[1], w[1], refs));
    }
    let started = Instant::now();
    let r = run(
        "bomb.yaml",
        bomb.clone(),
        Format::Yaml,
        &LoadOptions::default(),
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "alias bomb took {took:?}");
    match r {
        Err(LoadError::Invalid(ps)) => {
            let shown: Vec<String> = ps.iter().map(|p| p.to_string()).collect();
            assert_eq!(
                shown,
                ["bomb.yaml:1: invalid YAML: repetition limit exceeded"]
            );
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(s) => {
            // Bounded work: whatever was kept must be small.
            let size = serde_json::to_string(s.objects[0].value().unwrap())
                .unwrap()
                .len();
            assert!(size < 10_000_000, "alias bomb expanded to {size} bytes");
        }
    }
    // A bomb in a ClusterRole's rules (the typed path) and as a top-level sequence.
    let typed = bomb
        .replace(
            "apiVersion: v1\nkind: ConfigMap",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole",
        )
        .replace(
            "data:\n",
            "rules:\n- verbs: *i\n  apiGroups: ['']\n  resources: [pods]\nx:\n",
        );
    let started = Instant::now();
    let r = run(
        "bomb-role.yaml",
        typed,
        Format::Yaml,
        &LoadOptions::default(),
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    if let Err(LoadError::Invalid(ps)) = r {
        assert!(ps.iter().all(|p| p.location.starts_with("bomb-role.yaml:")));
    }
    // Fewer levels (10^4 strings): loads.
    let small: String = bomb.lines().take(9).collect::<Vec<_>>().join("\n") + "\n";
    let s = run("small.yaml", small, Format::Yaml, &LoadOptions::default()).unwrap();
    assert_eq!(s.objects.len(), 1);
}

/// `n` ClusterRoles of about 500 bytes each, as one YAML stream.
fn cluster_roles(target_bytes: usize) -> (String, usize) {
    let mut out = String::with_capacity(target_bytes + 1024);
    let mut n = 0;
    while out.len() < target_bytes {
        out.push_str(&format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: role-{n}\n  labels:\n    team: t{}\nrules:\n- apiGroups: [\"\"]\n  resources: [\"pods\", \"pods/log\", \"services\"]\n  verbs: [\"get\", \"list\", \"watch\"]\n- apiGroups: [\"kubevirt.io\"]\n  resources: [\"virtualmachines\", \"virtualmachineinstances\"]\n  verbs: [\"get\", \"list\", \"watch\", \"create\", \"delete\"]\n  resourceNames: [\"vm-{n}\"]\n- apiGroups: [\"subresources.kubevirt.io\"]\n  resources: [\"virtualmachineinstances/vnc\", \"virtualmachineinstances/console\"]\n  verbs: [\"get\"]\n",
            n % 10
        ));
        n += 1;
    }
    (out, n)
}

fn load_large(megabytes: usize) {
    let (text, n) = cluster_roles(megabytes << 20);
    let started = Instant::now();
    let s = run("large.yaml", text, Format::Yaml, &LoadOptions::default()).unwrap();
    let loaded = started.elapsed();
    assert_eq!(s.objects.len(), n);
    assert_eq!(s.objects[n - 1].name, format!("role-{}", n - 1));
    // Every object's line is right: the n-th role starts 2 + 18 * n lines in.
    assert_eq!(s.objects[n - 1].source.line, 2 + 18 * (n - 1));
    let policy_started = Instant::now();
    let p = s.policy();
    assert_eq!(p.roles().len(), n);
    eprintln!(
        "{megabytes} MB: {n} ClusterRoles loaded in {loaded:?}, policy in {:?}",
        policy_started.elapsed()
    );
}

/// 100 MB of valid ClusterRoles (about 197,000, generated in memory) load, each at its line,
/// and make a policy. About 6 s and 1.6 GB of memory in a debug build; `VIRTGUARD_LARGE_MB`
/// lowers (or raises) the size.
#[test]
fn large_input_loads() {
    load_large(env_usize("VIRTGUARD_LARGE_MB", 100));
}

// ---------------------------------------------------------------------------------------------
// Round trip of valid RBAC objects
// ---------------------------------------------------------------------------------------------

mod round_trip {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use proptest::prelude::*;
    use serde_json::{json, Value};
    use virtguard_rbac::{
        Binding, BindingKind, LabelSelector, PolicyRule, Requirement, RequirementOperator, Role,
        RoleKind, RoleRef, Subject, SubjectKind,
    };
    use virtguard_snapshot::{from_texts, Format, LoadOptions};

    /// Strings YAML may read as something else unless quoted, and other awkward ones.
    const AWKWARD: &[&str] = &[
        "*",
        "get",
        "pods/log",
        "",
        "yes",
        "no",
        "on",
        "off",
        "true",
        "null",
        "~",
        "1",
        "0x10",
        "1e3",
        ".inf",
        ":",
        "- a",
        "#x",
        "a: b",
        "'q'",
        "\"",
        "é",
        "system:serviceaccount:a:b",
        "/healthz/*",
        "---",
        "...",
        "a\nb",
        " lead",
        "trail ",
        "@x",
        "`x",
        "&x",
        "*x",
        "!x",
        "%x",
    ];
    const NAMES: &[&str] = &[
        "a",
        "b",
        "system:view",
        "kubevirt.io:edit",
        "yes",
        "0",
        "x.y-z",
    ];

    fn s(v: &'static [&'static str]) -> impl Strategy<Value = String> {
        proptest::sample::select(v).prop_map(str::to_string)
    }

    fn strings() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec(s(AWKWARD), 0..3)
    }

    fn rule() -> impl Strategy<Value = PolicyRule> {
        (
            proptest::collection::vec(s(AWKWARD), 1..3),
            strings(),
            strings(),
            strings(),
            strings(),
        )
            .prop_map(
                |(verbs, api_groups, resources, resource_names, non_resource_urls)| PolicyRule {
                    verbs,
                    api_groups,
                    resources,
                    resource_names,
                    non_resource_urls,
                },
            )
    }

    fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
        proptest::collection::btree_map(s(NAMES), s(AWKWARD), 0..3)
    }

    fn selector() -> impl Strategy<Value = LabelSelector> {
        let op = proptest::sample::select(vec![
            RequirementOperator::In,
            RequirementOperator::NotIn,
            RequirementOperator::Exists,
            RequirementOperator::DoesNotExist,
        ]);
        (
            labels(),
            proptest::collection::vec((s(NAMES), op, strings()), 0..2),
        )
            .prop_map(|(match_labels, exprs)| LabelSelector {
                match_labels,
                match_expressions: exprs
                    .into_iter()
                    .map(|(key, operator, values)| Requirement {
                        key,
                        operator,
                        values,
                    })
                    .collect(),
            })
    }

    fn role() -> impl Strategy<Value = Role> {
        (
            any::<bool>(),
            s(NAMES),
            s(NAMES),
            proptest::collection::vec(rule(), 0..3),
            labels(),
            proptest::option::of(proptest::collection::vec(selector(), 0..2)),
        )
            .prop_map(|(cluster, name, ns, rules, labels, aggregation)| {
                let mut r = if cluster {
                    Role::cluster(name, rules)
                } else {
                    Role::namespaced(ns, name, rules)
                };
                r.labels = labels;
                if cluster {
                    r.aggregation = aggregation;
                }
                r
            })
    }

    fn subject() -> impl Strategy<Value = Subject> {
        (
            proptest::sample::select(vec![
                SubjectKind::User,
                SubjectKind::Group,
                SubjectKind::ServiceAccount,
            ]),
            s(NAMES),
            s(&["", "a", "kube-system"]),
        )
            .prop_map(|(kind, name, ns)| {
                let ns = if kind == SubjectKind::ServiceAccount {
                    ns
                } else {
                    String::new()
                };
                Subject::new(kind, name, ns)
            })
    }

    fn binding() -> impl Strategy<Value = Binding> {
        (
            any::<bool>(),
            s(NAMES),
            s(NAMES),
            s(&["Role", "ClusterRole"]),
            s(NAMES),
            proptest::collection::vec(subject(), 0..4),
        )
            .prop_map(|(cluster, name, ns, kind, role, subjects)| Binding {
                kind: if cluster {
                    BindingKind::ClusterRoleBinding
                } else {
                    BindingKind::RoleBinding
                },
                name,
                namespace: if cluster { String::new() } else { ns },
                role_ref: RoleRef { kind, name: role },
                subjects,
                origin: None,
            })
    }

    fn opt_list(v: &[String]) -> Option<Value> {
        (!v.is_empty()).then(|| json!(v))
    }

    fn role_value(r: &Role) -> Value {
        let rules: Vec<Value> = r
            .rules
            .iter()
            .map(|r| {
                let mut m = serde_json::Map::new();
                m.insert("verbs".into(), json!(r.verbs));
                for (k, v) in [
                    ("apiGroups", &r.api_groups),
                    ("resources", &r.resources),
                    ("resourceNames", &r.resource_names),
                    ("nonResourceURLs", &r.non_resource_urls),
                ] {
                    if let Some(v) = opt_list(v) {
                        m.insert(k.into(), v);
                    }
                }
                Value::Object(m)
            })
            .collect();
        let mut metadata = json!({ "name": r.name, "labels": r.labels });
        if r.kind == RoleKind::Role {
            metadata["namespace"] = json!(r.namespace);
        }
        let mut v = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": r.kind.as_str(),
            "metadata": metadata,
            "rules": rules,
        });
        if let Some(sels) = &r.aggregation {
            let sels: Vec<Value> = sels
                .iter()
                .map(|s| {
                    let exprs: Vec<Value> = s
                        .match_expressions
                        .iter()
                        .map(|e| {
                            json!({
                                "key": e.key,
                                "operator": format!("{:?}", e.operator),
                                "values": e.values,
                            })
                        })
                        .collect();
                    json!({ "matchLabels": s.match_labels, "matchExpressions": exprs })
                })
                .collect();
            v["aggregationRule"] = json!({ "clusterRoleSelectors": sels });
        }
        v
    }

    fn binding_value(b: &Binding) -> Value {
        let subjects: Vec<Value> = b
            .subjects
            .iter()
            .map(|s| {
                let mut v = json!({ "kind": s.kind.as_str(), "name": s.name });
                match s.kind {
                    SubjectKind::ServiceAccount => {
                        if !s.namespace.is_empty() {
                            v["namespace"] = json!(s.namespace);
                        }
                    }
                    _ => v["apiGroup"] = json!("rbac.authorization.k8s.io"),
                }
                v
            })
            .collect();
        let mut metadata = json!({ "name": b.name });
        if b.kind == BindingKind::RoleBinding {
            metadata["namespace"] = json!(b.namespace);
        }
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": b.kind.as_str(),
            "metadata": metadata,
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": b.role_ref.kind,
                "name": b.role_ref.name,
            },
            "subjects": subjects,
        })
    }

    fn config() -> ProptestConfig {
        let mut c = ProptestConfig::default();
        if std::env::var_os("PROPTEST_CASES").is_none() {
            c.cases = 256;
        }
        c.failure_persistence = None;
        c
    }

    proptest! {
        #![proptest_config(config())]

        /// Random valid Roles, ClusterRoles (labels, aggregation selectors) and bindings, written
        /// as a YAML stream, a `kind: List`, or a JSON stream, load without problems and convert
        /// back to exactly the roles and bindings they were written from (awkward strings such
        /// as `yes`, `~`, `1e3`, `- a` or `a: b` survive as strings).
        #[test]
        fn rbac_objects_round_trip(
            roles in proptest::collection::vec(role(), 0..5),
            bindings in proptest::collection::vec(binding(), 0..5),
            shape in 0..4u8,
        ) {
            // Unique identities, as a cluster has them.
            let mut seen = std::collections::BTreeSet::new();
            let roles: Vec<Role> = roles
                .into_iter()
                .filter(|r| seen.insert((r.kind, r.namespace.clone(), r.name.clone())))
                .collect();
            let mut seen = std::collections::BTreeSet::new();
            let bindings: Vec<Binding> = bindings
                .into_iter()
                .filter(|b| seen.insert((b.kind, b.namespace.clone(), b.name.clone())))
                .collect();
            let values: Vec<Value> = roles
                .iter()
                .map(role_value)
                .chain(bindings.iter().map(binding_value))
                .collect();
            let (text, format) = match shape {
                0 => (
                    values
                        .iter()
                        .map(|v| serde_yaml_ng::to_string(v).unwrap())
                        .collect::<Vec<_>>()
                        .join("---\n"),
                    Format::Yaml,
                ),
                1 => (
                    serde_yaml_ng::to_string(&json!({"apiVersion": "v1", "kind": "List", "items": values}))
                        .unwrap(),
                    Format::Yaml,
                ),
                2 => (
                    values.iter().map(|v| serde_json::to_string_pretty(v).unwrap()).collect::<Vec<_>>().join("\n"),
                    Format::Json,
                ),
                _ => (
                    // JSON documents in a YAML stream (JSON is YAML).
                    values.iter().map(Value::to_string).collect::<Vec<_>>().join("\n---\n"),
                    Format::Yaml,
                ),
            };
            let snapshot = from_texts(vec![(Arc::from("rt"), text.clone(), format)], &LoadOptions::default());
            let snapshot = match snapshot {
                Ok(s) => s,
                Err(e) => return Err(TestCaseError::fail(format!("{e}\n--- input:\n{text}"))),
            };
            let mut got_roles = snapshot.roles();
            for r in &mut got_roles {
                r.origin = None;
            }
            let mut got_bindings = snapshot.bindings();
            for b in &mut got_bindings {
                b.origin = None;
            }
            prop_assert_eq!(got_roles, roles, "input:\n{}", text);
            prop_assert_eq!(got_bindings, bindings, "input:\n{}", text);
        }
    }
}
