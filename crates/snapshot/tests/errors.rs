//! Every input the loader must reject gives a clear error naming the file, the line of the
//! object's first line and (when it is known) the object; the exact texts are asserted, so a
//! change of wording is a deliberate change of this file. Also: what must load (typed lists,
//! empty documents, identical duplicates), `skip_invalid`, the directory walk and non-UTF-8 files.

use std::path::Path;
use std::sync::Arc;

use virtguard_snapshot::{
    from_texts, load, Format, Input, LoadError, LoadOptions, Problem, Snapshot, Typed,
};

/// Loads in-memory files (format from the name, as `load` picks it).
fn load_texts(files: &[(&str, &str)], opts: &LoadOptions) -> Result<Snapshot, LoadError> {
    from_texts(
        files
            .iter()
            .map(|(name, text)| {
                (
                    Arc::from(*name),
                    text.to_string(),
                    Format::from_path(Path::new(name)),
                )
            })
            .collect(),
        opts,
    )
}

/// The problems of a load that must fail, as displayed.
fn problems(files: &[(&str, &str)]) -> Vec<String> {
    match load_texts(files, &LoadOptions::default()) {
        Ok(s) => panic!(
            "expected the load to fail, got {} objects and warnings {:?}",
            s.objects.len(),
            s.warnings
        ),
        Err(LoadError::Invalid(ps)) => ps.iter().map(Problem::to_string).collect(),
        Err(e) => panic!("expected invalid objects, got {e}"),
    }
}

/// The one problem of a load that must fail.
fn problem(files: &[(&str, &str)]) -> Problem {
    match load_texts(files, &LoadOptions::default()) {
        Err(LoadError::Invalid(mut ps)) if ps.len() == 1 => ps.remove(0),
        Err(e) => panic!("expected exactly one problem, got {e}"),
        Ok(s) => panic!("expected the load to fail, got {} objects", s.objects.len()),
    }
}

fn ok(files: &[(&str, &str)]) -> Snapshot {
    load_texts(files, &LoadOptions::default()).unwrap_or_else(|e| panic!("load failed:\n{e}"))
}

const GOOD_CONFIGMAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n";

// ---------------------------------------------------------------------------------------------
// Syntax
// ---------------------------------------------------------------------------------------------

#[test]
fn invalid_yaml_names_file_and_line() {
    // The error is in the second document, on line 9 of the file.
    let text = format!(
        "{GOOD_CONFIGMAP}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken: here\n"
    );
    assert_eq!(
        problems(&[("cm.yaml", &text)]),
        ["cm.yaml:9: invalid YAML: mapping values are not allowed in this context"]
    );
    // An unclosed flow sequence: reported where the parser gives up (end of input).
    assert_eq!(
        problems(&[("flow.yaml", "apiVersion: v1\nkind: [\n")]),
        ["flow.yaml:3: invalid YAML: did not find expected node content"]
    );
    // A tab used for indentation.
    let p = problem(&[(
        "tab.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n",
    )]);
    assert_eq!(p.location, "tab.yaml:4");
    assert_eq!(p.object, None);
    assert_eq!(
        p.message,
        "invalid YAML: found character that cannot start any token"
    );
    // An alias to an anchor that does not exist.
    assert_eq!(
        problems(&[(
            "alias.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: *nowhere\n"
        )]),
        ["alias.yaml:4: invalid YAML: unknown anchor"]
    );
}

#[test]
fn invalid_yaml_does_not_hide_other_documents() {
    // A broken document fails, the others are still read (and their problems reported too).
    let text = "apiVersion: v1\nkind: [\n---\nkind: ConfigMap\nmetadata:\n  name: x\n";
    assert_eq!(
        problems(&[("two.yaml", text)]),
        [
            "two.yaml:3: invalid YAML: did not find expected node content",
            "two.yaml:4: ConfigMap x: missing `apiVersion`",
        ]
    );
}

#[test]
fn invalid_json_names_file_and_line() {
    assert_eq!(
        problems(&[(
            "bad.json",
            "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \n}\n"
        )]),
        ["bad.json:4: invalid JSON: expected value"]
    );
    // In a stream of JSON values, the second one is truncated.
    let text = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\"}}\n\n{\"apiVersion\":\n";
    assert_eq!(
        problems(&[("stream.json", text)]),
        ["stream.json:4: invalid JSON: EOF while parsing a value"]
    );
    // YAML is not JSON: a `.json` file is parsed as JSON only.
    assert_eq!(
        problems(&[("yaml.json", GOOD_CONFIGMAP)]),
        ["yaml.json:1: invalid JSON: expected value"]
    );
}

#[test]
fn arrays_and_scalars_are_not_objects() {
    let array_msg = "a JSON/YAML array is not a Kubernetes object (wrap the objects in `kind: List` with `items:`)";
    assert_eq!(
        problems(&[(
            "arr.json",
            "\n[{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\"}]"
        )]),
        [format!("arr.json:2: {array_msg}")]
    );
    let text = format!("{GOOD_CONFIGMAP}---\n# a sequence\n- apiVersion: v1\n  kind: ConfigMap\n");
    assert_eq!(
        problems(&[("seq.yaml", &text)]),
        [format!("seq.yaml:7: {array_msg}")]
    );
    assert_eq!(
        problems(&[("scalar.yaml", "just words\n")]),
        ["scalar.yaml:1: expected a Kubernetes object (a mapping with apiVersion and kind), got a string"]
    );
    assert_eq!(
        problems(&[("num.json", "42")]),
        ["num.json:1: expected a Kubernetes object (a mapping with apiVersion and kind), got a number"]
    );
}

// ---------------------------------------------------------------------------------------------
// Object identity
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_kind() {
    // Line 6: past the marker, the comment and the blank line, at the object's first line.
    let text = format!(
        "{GOOD_CONFIGMAP}---\n# no kind\n\napiVersion: v1\nmetadata:\n  name: x\n  namespace: ns\n"
    );
    let p = problem(&[("nokind.yaml", &text)]);
    assert_eq!(p.location, "nokind.yaml:8");
    assert_eq!(p.object.as_deref(), Some("object ns/x"));
    assert_eq!(p.to_string(), "nokind.yaml:8: object ns/x: missing `kind`");
    // A kind that is not a string says so.
    assert_eq!(
        problems(&[(
            "kindnum.yaml",
            "apiVersion: v1\nkind: 5\nmetadata:\n  name: a\n"
        )]),
        ["kindnum.yaml:1: object a: `kind` must be a string, got a number"]
    );
}

#[test]
fn missing_api_version() {
    assert_eq!(
        problems(&[("noapi.yaml", "kind: ConfigMap\nmetadata:\n  name: x\n")]),
        ["noapi.yaml:1: ConfigMap x: missing `apiVersion`"]
    );
    assert_eq!(
        problems(&[(
            "noapi.json",
            "{\"kind\": \"Role\", \"metadata\": {\"name\": \"r\", \"namespace\": \"ns\"}}"
        )]),
        ["noapi.json:1: Role ns/r: missing `apiVersion`"]
    );
}

#[test]
fn missing_name() {
    assert_eq!(
        problems(&[(
            "noname.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {}\n"
        )]),
        ["noname.yaml:1: ClusterRole: metadata.name is required"]
    );
    assert_eq!(
        problems(&[("nometa.yaml", "apiVersion: v1\nkind: ConfigMap\n")]),
        ["nometa.yaml:1: ConfigMap: metadata.name is required"]
    );
    // A typed kind may not use generateName; any other kind may.
    assert_eq!(
        problems(&[(
            "gen.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  generateName: r-\n  namespace: ns\n"
        )]),
        ["gen.yaml:1: Role: metadata.name is required"]
    );
    let s = ok(&[(
        "gen.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: cm-\n  namespace: ns\n",
    )]);
    assert_eq!(s.objects[0].describe(), "ConfigMap ns/cm-*");
}

// ---------------------------------------------------------------------------------------------
// RBAC validation
// ---------------------------------------------------------------------------------------------

const RB_HEAD: &str =
    "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: rb\n  namespace: ns\n";
const CRB_HEAD: &str =
    "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: crb\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: view\n";

#[test]
fn role_binding_without_role_ref() {
    let text = format!("{GOOD_CONFIGMAP}---\n{RB_HEAD}subjects:\n- kind: User\n  name: alice\n");
    assert_eq!(
        problems(&[("rb.yaml", &text)]),
        ["rb.yaml:6: RoleBinding ns/rb: roleRef: Required value"]
    );
}

#[test]
fn role_binding_with_unknown_role_ref_kind() {
    let text = format!(
        "{RB_HEAD}roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Roles\n  name: r\n"
    );
    assert_eq!(
        problems(&[("rb.yaml", &text)]),
        ["rb.yaml:1: RoleBinding ns/rb: roleRef.kind must be Role or ClusterRole, got \"Roles\""]
    );
    // The wrong case is wrong too (Kubernetes compares exactly).
    let text = format!(
        "{RB_HEAD}roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: clusterrole\n  name: r\n"
    );
    assert_eq!(
        problems(&[("rb.yaml", &text)]),
        ["rb.yaml:1: RoleBinding ns/rb: roleRef.kind must be Role or ClusterRole, got \"clusterrole\""]
    );
}

#[test]
fn subject_of_unknown_kind() {
    let text =
        format!("{CRB_HEAD}subjects:\n- kind: User\n  name: bob\n- kind: Users\n  name: alice\n");
    assert_eq!(
        problems(&[("crb.yaml", &text)]),
        ["crb.yaml:1: ClusterRoleBinding crb: subjects[1].kind: Unsupported value: \"Users\": supported values: \"ServiceAccount\", \"User\", \"Group\""]
    );
}

#[test]
fn subject_without_name() {
    let text = format!("{CRB_HEAD}subjects:\n- kind: Group\n");
    assert_eq!(
        problems(&[("crb.yaml", &text)]),
        ["crb.yaml:1: ClusterRoleBinding crb: subjects[0].name: Required value"]
    );
    let text = format!("{CRB_HEAD}subjects:\n- kind: User\n  name: \"\"\n- kind: Userz\n");
    assert_eq!(
        problems(&[("crb.yaml", &text)]),
        ["crb.yaml:1: ClusterRoleBinding crb: subjects[0].name: Required value; subjects[1].name: Required value; subjects[1].kind: Unsupported value: \"Userz\": supported values: \"ServiceAccount\", \"User\", \"Group\""]
    );
}

#[test]
fn namespaced_kinds_without_namespace() {
    assert_eq!(
        problems(&[(
            "role.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r\nrules: []\n"
        )]),
        ["role.yaml:1: Role r: metadata.namespace is required for a Role"]
    );
    assert_eq!(
        problems(&[(
            "rb.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: rb\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: view\n"
        )]),
        ["rb.yaml:1: RoleBinding rb: metadata.namespace is required for a RoleBinding"]
    );
    assert_eq!(
        problems(&[(
            "sa.yaml",
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa\n"
        )]),
        ["sa.yaml:1: ServiceAccount sa: metadata.namespace is required for a ServiceAccount"]
    );
}

#[test]
fn wrong_field_types_name_the_object() {
    assert_eq!(
        problems(&[(
            "cr.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: a\nrules: 5\n"
        )]),
        ["cr.yaml:1: ClusterRole a: invalid ClusterRole: invalid type: integer `5`, expected a sequence"]
    );
}

#[test]
fn suspicious_but_valid_objects_load_with_warnings() {
    // kube-apiserver would reject these; RBAC evaluates them as written, so they load and each
    // is named in a warning.
    let text = format!("{CRB_HEAD}subjects:\n- kind: ServiceAccount\n  name: builder\n");
    let s = ok(&[("crb.yaml", &text)]);
    assert_eq!(s.objects.len(), 1);
    let w: Vec<String> = s.warnings.iter().map(Problem::to_string).collect();
    assert_eq!(
        w,
        ["crb.yaml:1: ClusterRoleBinding crb: subjects[0].namespace: Required value (a ServiceAccount without namespace in a ClusterRoleBinding matches nobody)"]
    );
}

// ---------------------------------------------------------------------------------------------
// Duplicates
// ---------------------------------------------------------------------------------------------

const ROLE_GET: &str = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: r\nrules:\n- verbs: [get]\n  apiGroups: ['']\n  resources: [pods]\n";
const ROLE_LIST: &str = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: r\nrules:\n- verbs: [list]\n  apiGroups: ['']\n  resources: [pods]\n";

#[test]
fn duplicate_with_different_content_names_both_places() {
    let second = format!("# the other one\n{GOOD_CONFIGMAP}---\n{ROLE_LIST}");
    assert_eq!(
        problems(&[("a.yaml", ROLE_GET), ("b.yaml", &second)]),
        ["b.yaml:7: ClusterRole r: duplicate object with different content (first defined at a.yaml:1)"]
    );
    // Within one file too; the version of apiVersion does not matter to identity.
    let both = format!("{ROLE_GET}---\n{}", ROLE_LIST.replace("/v1", "/v1beta1"));
    assert_eq!(
        problems(&[("dup.yaml", &both)]),
        ["dup.yaml:10: ClusterRole r: duplicate object with different content (first defined at dup.yaml:1)"]
    );
}

#[test]
fn identical_duplicates_load_once() {
    let s = ok(&[("a.yaml", ROLE_GET), ("b.yaml", ROLE_GET)]);
    assert_eq!(s.objects.len(), 1);
    assert_eq!(s.objects[0].source.to_string(), "a.yaml:1");
    assert!(s.warnings.is_empty());
    // Same name, different kind or namespace: different objects.
    let s = ok(&[
        ("a.yaml", ROLE_GET),
        (
            "b.yaml",
            &ROLE_LIST
                .replace("kind: ClusterRole", "kind: Role")
                .replace("name: r", "name: r\n  namespace: ns"),
        ),
    ]);
    assert_eq!(s.objects.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Lists
// ---------------------------------------------------------------------------------------------

#[test]
fn list_items_load_and_problems_name_the_item() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n- kind: ConfigMap\n  metadata:\n    name: b\n- 3\n- apiVersion: v1\n  kind: List\n  items: []\n";
    let doc = format!("{GOOD_CONFIGMAP}---\n{text}");
    assert_eq!(
        problems(&[("list.yaml", &doc)]),
        [
            "list.yaml:6 (items[1]): ConfigMap b: missing `apiVersion`",
            "list.yaml:6 (items[2]): expected a Kubernetes object (a mapping with apiVersion and kind), got a number",
            "list.yaml:6 (items[3]): a List inside a List is not supported",
        ]
    );
    let good = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n- apiVersion: rbac.authorization.k8s.io/v1\n  kind: ClusterRole\n  metadata:\n    name: c\n";
    let s = ok(&[("list.yaml", good)]);
    let got: Vec<(String, String)> = s
        .objects
        .iter()
        .map(|o| (o.describe(), o.source.to_string()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "ConfigMap a".to_string(),
                "list.yaml:1 (items[0])".to_string()
            ),
            (
                "ClusterRole c".to_string(),
                "list.yaml:1 (items[1])".to_string()
            ),
        ]
    );
    assert_eq!(
        problems(&[("items.yaml", "apiVersion: v1\nkind: List\nitems: 3\n")]),
        ["items.yaml:1: List: items must be a list, got a number"]
    );
    // An empty or absent `items` is an empty list.
    let s = ok(&[(
        "empty.yaml",
        "apiVersion: v1\nkind: List\nitems: []\n---\napiVersion: v1\nkind: List\n",
    )]);
    assert!(s.objects.is_empty());
}

#[test]
fn typed_list_items_need_no_kind_or_api_version() {
    let text = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleList\nmetadata: {}\nitems:\n- metadata:\n    name: a\n  rules:\n  - verbs: [get]\n    apiGroups: ['']\n    resources: [pods]\n- metadata:\n    name: b\n";
    let s = ok(&[("crl.yaml", text)]);
    let got: Vec<(&str, &str, &str)> = s
        .objects
        .iter()
        .map(|o| (o.kind.as_str(), o.api_version.as_str(), o.name.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("ClusterRole", "rbac.authorization.k8s.io/v1", "a"),
            ("ClusterRole", "rbac.authorization.k8s.io/v1", "b"),
        ]
    );
    assert!(matches!(s.objects[0].typed, Typed::ClusterRole(_)));
    assert_eq!(s.roles()[0].rules.len(), 1);
    // A typed list item that is invalid names its item.
    let bad = "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleList\nitems:\n- metadata:\n    name: a\n";
    assert_eq!(
        problems(&[("rl.yaml", bad)]),
        ["rl.yaml:1 (items[0]): Role a: metadata.namespace is required for a Role"]
    );
}

// ---------------------------------------------------------------------------------------------
// Options and documents
// ---------------------------------------------------------------------------------------------

#[test]
fn all_problems_are_reported_not_just_the_first() {
    let text = format!(
        "kind: ConfigMap\nmetadata:\n  name: a\n---\n{GOOD_CONFIGMAP}---\napiVersion: v1\nkind: ConfigMap\n"
    );
    let err = load_texts(&[("many.yaml", &text)], &LoadOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "many.yaml:1: ConfigMap a: missing `apiVersion`\nmany.yaml:10: ConfigMap: metadata.name is required"
    );
}

#[test]
fn skip_invalid_leaves_bad_objects_out_and_reports_them() {
    let text = format!(
        "{GOOD_CONFIGMAP}---\n{RB_HEAD}roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Roles\n  name: r\n---\n{ROLE_GET}"
    );
    let json = "[1]";
    let opts = LoadOptions { skip_invalid: true };
    let s = load_texts(&[("mixed.yaml", &text), ("arr.json", json)], &opts).unwrap();
    let names: Vec<String> = s.objects.iter().map(|o| o.describe()).collect();
    assert_eq!(names, ["ConfigMap ok", "ClusterRole r"]);
    let w: Vec<String> = s.warnings.iter().map(Problem::to_string).collect();
    assert_eq!(
        w,
        [
            "mixed.yaml:6: RoleBinding ns/rb: roleRef.kind must be Role or ClusterRole, got \"Roles\" (left out)",
            "arr.json:1: a JSON/YAML array is not a Kubernetes object (wrap the objects in `kind: List` with `items:`) (left out)",
        ]
    );
    // Without the option the same input fails.
    assert!(load_texts(&[("mixed.yaml", &text)], &LoadOptions::default()).is_err());
    // Conflicting duplicates are left out too: the first definition wins.
    let s = load_texts(&[("a.yaml", ROLE_GET), ("b.yaml", ROLE_LIST)], &opts).unwrap();
    assert_eq!(s.objects.len(), 1);
    assert_eq!(s.objects[0].source.to_string(), "a.yaml:1");
    assert_eq!(
        s.warnings[0].to_string(),
        "b.yaml:1: ClusterRole r: duplicate object with different content (first defined at a.yaml:1) (left out)"
    );
}

#[test]
fn empty_documents_are_skipped() {
    let text = format!(
        "---\n---\n# only a comment\n---\n\n---\n{GOOD_CONFIGMAP}---\n\n...\n---\n---\n{}",
        GOOD_CONFIGMAP.replace("name: ok", "name: second")
    );
    let s = ok(&[("empty.yaml", &text)]);
    let got: Vec<(String, String, usize)> = s
        .objects
        .iter()
        .map(|o| (o.describe(), o.source.to_string(), o.source.document))
        .collect();
    assert_eq!(
        got,
        [
            ("ConfigMap ok".to_string(), "empty.yaml:7".to_string(), 1),
            (
                "ConfigMap second".to_string(),
                "empty.yaml:16".to_string(),
                2
            ),
        ]
    );
    // Entirely empty inputs are fine.
    for t in ["", "\n", "---\n", "# nothing\n", "---\n...\n"] {
        assert!(ok(&[("e.yaml", t)]).objects.is_empty(), "{t:?}");
    }
    assert!(ok(&[("e.json", "")]).objects.is_empty());
    assert!(ok(&[("e.json", " \n\n ")]).objects.is_empty());
}

#[test]
fn line_numbers_point_at_each_objects_first_line() {
    // CRLF line ends, comments before objects, a document end marker.
    let text = "# header\r\n\r\napiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: a\r\n...\r\n---\r\n# about b\r\napiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: b\r\n---\r\nkind: X\r\n";
    let s = load_texts(&[("crlf.yaml", text)], &LoadOptions { skip_invalid: true }).unwrap();
    let got: Vec<String> = s.objects.iter().map(|o| o.source.to_string()).collect();
    assert_eq!(got, ["crlf.yaml:3", "crlf.yaml:10"]);
    assert_eq!(
        s.warnings[0].to_string(),
        "crlf.yaml:15: X: missing `apiVersion` (left out)"
    );
    // JSON streams: each value at the line where it starts.
    let json = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\"}}\n\n  {\n \"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"b\"}} {\"kind\": \"X\"}\n";
    let s = load_texts(&[("s.json", json)], &LoadOptions { skip_invalid: true }).unwrap();
    let got: Vec<String> = s.objects.iter().map(|o| o.source.to_string()).collect();
    assert_eq!(got, ["s.json:1", "s.json:3"]);
    assert_eq!(
        s.warnings[0].to_string(),
        "s.json:4: X: missing `apiVersion` (left out)"
    );
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

#[test]
fn directory_walk_picks_manifests_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let cm = |name: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n");
    let cm_json = |name: &str| {
        format!(
            "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"{name}\"}}}}"
        )
    };
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::write(root.join("b.yaml"), cm("b-yaml")).unwrap();
    std::fs::write(root.join("a.yml"), cm("a-yml")).unwrap();
    std::fs::write(root.join("c.json"), cm_json("c-json")).unwrap();
    std::fs::write(root.join("D.YAML"), cm("d-upper")).unwrap();
    std::fs::write(root.join("sub/deeper/e.yaml"), cm("e-deep")).unwrap();
    // Not manifests: never read (even when broken).
    std::fs::write(root.join("README.md"), "# not: [yaml").unwrap();
    std::fs::write(root.join("notes.txt"), cm("txt")).unwrap();
    std::fs::write(root.join("yaml"), cm("no-ext")).unwrap();
    std::fs::write(root.join("x.yaml.bak"), cm("bak")).unwrap();
    std::fs::write(root.join("sub/kustomization.yaml.orig"), "[").unwrap();
    let s = load(&[Input::Path(root.to_path_buf())], &LoadOptions::default()).unwrap();
    let got: Vec<(String, String)> = s
        .objects
        .iter()
        .map(|o| {
            let file = o.source.file.to_string();
            let rel = Path::new(&file)
                .strip_prefix(root)
                .unwrap()
                .display()
                .to_string();
            (o.name.clone(), rel)
        })
        .collect();
    // Sorted by path (byte order: upper case first).
    assert_eq!(
        got,
        [
            ("d-upper".to_string(), "D.YAML".to_string()),
            ("a-yml".to_string(), "a.yml".to_string()),
            ("b-yaml".to_string(), "b.yaml".to_string()),
            ("c-json".to_string(), "c.json".to_string()),
            ("e-deep".to_string(), "sub/deeper/e.yaml".to_string()),
        ]
    );
    // A file named explicitly is read whatever its extension (as YAML).
    let s = load(
        &[Input::Path(root.join("notes.txt"))],
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(s.objects[0].name, "txt");
    // Errors in a walked file name the file's path.
    std::fs::write(root.join("sub/bad.json"), "{").unwrap();
    let err = load(&[Input::Path(root.to_path_buf())], &LoadOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: invalid JSON: EOF while parsing an object",
            root.join("sub/bad.json").display().to_string() + ":1"
        )
    );
}

#[test]
fn missing_path_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.yaml");
    let err = load(&[Input::Path(path.clone())], &LoadOptions::default()).unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }));
    assert_eq!(
        err.to_string(),
        format!("{}: No such file or directory (os error 2)", path.display())
    );
}

#[test]
fn non_utf8_file_is_rejected_with_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.yaml");
    let mut bytes = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caf".to_vec();
    bytes.push(0xe9); // 'é' in Latin-1
    bytes.extend_from_slice(b"\n");
    std::fs::write(&path, &bytes).unwrap();
    let err = load(&[Input::Path(path.clone())], &LoadOptions::default()).unwrap_err();
    match &err {
        LoadError::Io { path: p, message } => {
            assert_eq!(p, &path.display().to_string());
            assert_eq!(message, "not UTF-8 text (invalid byte at offset 52)");
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "{}: not UTF-8 text (invalid byte at offset 52)",
            path.display()
        )
    );
    // Also in a directory walk, and `skip_invalid` does not skip unreadable files.
    let err = load(
        &[Input::Path(dir.path().to_path_buf())],
        &LoadOptions { skip_invalid: true },
    )
    .unwrap_err();
    assert!(err
        .to_string()
        .ends_with("latin1.yaml: not UTF-8 text (invalid byte at offset 52)"));
}

/// A document marker with a trailing comment (`--- # next`) is a marker, not content: the
/// object's line is its own first line (7 here), not the marker's (5).
#[test]

fn marker_with_comment_is_not_the_objects_line() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n--- # next\n# about b\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n";
    let s = ok(&[("m.yaml", text)]);
    let got: Vec<String> = s.objects.iter().map(|o| o.source.to_string()).collect();
    assert_eq!(got, ["m.yaml:1", "m.yaml:7"]);
}

/// A UTF-8 byte-order mark at the start of a YAML file (as some Windows editors write it) should
/// be ignored, as kubectl (go-yaml) ignores it (it once made the first line a one-key document).
#[test]

fn utf8_bom_is_ignored() {
    let s = ok(&[("bom.yaml", &format!("\u{feff}{GOOD_CONFIGMAP}"))]);
    assert_eq!(s.objects.len(), 1);
    assert_eq!(s.objects[0].source.to_string(), "bom.yaml:1");
}

/// A key written twice would silently lose the first value (kubectl's strict field validation
/// rejects such a manifest): it is an error naming the key, in YAML and in JSON.
#[test]
fn duplicate_keys_are_rejected() {
    let yaml = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: b\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects:\n- {kind: User, name: alice}\nsubjects:\n- {kind: User, name: bob}\n";
    let p = problems(&[("dup.yaml", yaml)]);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("dup.yaml:") && p[0].contains("duplicate key \"subjects\""),
        "{p:?}"
    );
    let json = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","name":"b"}}"#;
    let s = virtguard_snapshot::from_texts(
        vec![(
            "dup.json".into(),
            json.to_string(),
            virtguard_snapshot::Format::Json,
        )],
        &virtguard_snapshot::LoadOptions::default(),
    );
    let e = s.expect_err("duplicate key in JSON").to_string();
    assert!(
        e.starts_with("dup.json:1: invalid JSON: duplicate key \"name\""),
        "{e}"
    );
}
