//! JSON dumps (`kubectl get … -o json`, one `List`): items are split without building the whole
//! list, located at their own line, parsed in parallel, and RBAC kinds go straight into their
//! typed structs. Whatever path an object takes, it must load exactly as the general path loads
//! it, and every problem the general path reports must still be reported.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use virtguard_snapshot::{from_texts, Format, LoadError, LoadOptions, Problem, Snapshot, Typed};

fn load(name: &str, text: &str) -> Result<Snapshot, LoadError> {
    from_texts(
        vec![(
            Arc::from(name),
            text.to_string(),
            Format::from_path(Path::new(name)),
        )],
        &LoadOptions::default(),
    )
}

fn problems(name: &str, text: &str) -> Vec<String> {
    match load(name, text) {
        Ok(s) => panic!("expected the load to fail, got {} objects", s.objects.len()),
        Err(LoadError::Invalid(ps)) => ps.iter().map(Problem::to_string).collect(),
        Err(e) => panic!("expected invalid objects, got {e}"),
    }
}

/// A `List` of the given items, pretty-printed with four spaces as kubectl prints it.
fn kubectl_list(items: Vec<Value>) -> String {
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}});
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(&list, &mut ser).unwrap();
    String::from_utf8(out).unwrap()
}

/// The documents of a YAML file of the example cluster, as JSON values.
fn example_documents(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/cluster")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .filter_map(|d| <Option<Value> as serde::Deserialize>::deserialize(d).unwrap())
        .collect()
}

#[test]
fn a_json_dump_loads_exactly_as_the_same_yaml() {
    for file in [
        "kubernetes-roles.yaml",
        "kubevirt-roles.yaml",
        "tenants.yaml",
        "platform.yaml",
        "workloads.yaml",
    ] {
        let docs = example_documents(file);
        let yaml_text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../examples/cluster")
                .join(file),
        )
        .unwrap();
        let from_yaml = load(file, &yaml_text).unwrap();
        let from_json = load("dump.json", &kubectl_list(docs)).unwrap();
        assert_eq!(from_yaml.objects.len(), from_json.objects.len(), "{file}");
        for (y, j) in from_yaml.objects.iter().zip(&from_json.objects) {
            assert_eq!(
                (&y.api_version, &y.kind, &y.namespace, &y.name),
                (&j.api_version, &j.kind, &j.namespace, &j.name),
                "{file}"
            );
            assert_eq!(y.typed, j.typed, "{file}: {}", y.describe());
            assert_eq!(y.warnings, j.warnings, "{file}: {}", y.describe());
        }
        let rbac = from_json
            .objects
            .iter()
            .filter(|o| !matches!(o.typed, Typed::Dynamic(_)))
            .count();
        assert!(
            rbac > 0 || file == "workloads.yaml",
            "{file}: no typed objects"
        );
    }
}

#[test]
fn list_items_are_located_at_their_own_line() {
    let items = vec![
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "x"}}),
        serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "b", "namespace": "x"}}),
    ];
    let text = kubectl_list(items);
    // An item's `{` is two lines above its kind (`{`, `"apiVersion"`, `"kind"`).
    let line_of = |kind: &str| 1 + text.lines().position(|l| l.contains(kind)).unwrap() - 2;
    let (first, line) = (line_of("\"ConfigMap\""), line_of("\"RoleBinding\""));
    assert!(first > 1 && line > first + 5);
    assert_eq!(
        problems("dump.json", &text),
        [format!(
            "dump.json:{line} (items[1]): RoleBinding x/b: roleRef: Required value"
        )]
    );
    let ok = load("dump.json", &text.replace("RoleBinding", "ConfigMap")).unwrap();
    let sources: Vec<String> = ok.objects.iter().map(|o| o.source.to_string()).collect();
    assert_eq!(
        sources,
        [
            format!("dump.json:{first} (items[0])"),
            format!("dump.json:{line} (items[1])")
        ]
    );
}

#[test]
fn duplicate_keys_in_typed_items_are_still_refused() {
    // Straight into a typed struct, the second `rules` would silently replace the first.
    let role = r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"r"},"rules":[{"verbs":["*"],"apiGroups":["*"],"resources":["*"]}],"rules":[]}"#;
    let text = format!("{{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[\n{role}\n]}}");
    assert_eq!(
        problems("d.json", &text),
        ["d.json:2 (items[0]): invalid JSON: duplicate key \"rules\" (the second would silently replace the first)"]
    );
    // Nested, in the labels aggregation selects on.
    let nested = r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"r","labels":{"a":"1","a":"2"}}}"#;
    assert_eq!(
        problems("n.json", nested),
        ["n.json:1: invalid JSON: duplicate key \"a\" (the second would silently replace the first)"]
    );
}

#[test]
fn typed_json_lists_and_older_versions_load_as_before() {
    // A typed list may leave kind and apiVersion off its items.
    let text = r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBindingList","items":[{"metadata":{"name":"b"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"view"},"subjects":[{"kind":"User","name":"u"}]}]}"#;
    let s = load("l.json", text).unwrap();
    assert!(matches!(s.objects[0].typed, Typed::ClusterRoleBinding(_)));
    assert_eq!(s.bindings()[0].subjects.len(), 1);
    // v1beta1 has the v1 shape; it takes the general path and loads.
    let beta = r#"{"apiVersion":"rbac.authorization.k8s.io/v1beta1","kind":"ClusterRole","metadata":{"name":"old"},"rules":[{"verbs":["get"],"apiGroups":[""],"resources":["pods"]}]}"#;
    let s = load("b.json", beta).unwrap();
    assert_eq!(
        s.objects[0].api_version,
        "rbac.authorization.k8s.io/v1beta1"
    );
    assert_eq!(s.roles()[0].rules.len(), 1);
    // A Role without namespace is refused with the general path's words.
    let role =
        r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"r"}}"#;
    assert_eq!(
        problems("r.json", role),
        ["r.json:1: Role r: metadata.namespace is required for a Role"]
    );
}

#[test]
fn a_mapping_with_very_many_keys_loads_in_linear_time() {
    // Duplicate detection must not compare every key with every other: 200,000 keys would take
    // minutes that way.
    let n = 200_000;
    let labels: Vec<String> = (0..n).map(|i| format!("\"k{i}\":\"v\"")).collect();
    let role = format!(
        r#"{{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{{"name":"r","labels":{{{}}}}}}}"#,
        labels.join(",")
    );
    let s = load("big.json", &role).unwrap();
    assert_eq!(s.roles()[0].labels.len(), n);
    let dup = role.replacen("\"k1\":", "\"k0\":", 1);
    assert_eq!(
        problems("big.json", &dup),
        ["big.json:1: invalid JSON: duplicate key \"k0\" (the second would silently replace the first)"]
    );
}

/// Each variant of `tests/data/snapshot/rbac-variants.json` (valid, odd and invalid RBAC
/// objects, ServiceAccounts and Namespaces) loads from a JSON List item exactly as from YAML
/// (which always takes the general path): the same object and warnings, or the same problems.
#[test]
fn typed_json_items_match_the_general_path_case_by_case() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/snapshot/rbac-variants.json");
    let variants: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(variants.len() >= 20);
    let opts = LoadOptions { skip_invalid: true };
    let load_with = |name: &str, text: String| {
        from_texts(
            vec![(Arc::from(name), text, Format::from_path(Path::new(name)))],
            &opts,
        )
        .unwrap()
    };
    // Problems without their location (the two inputs have different lines).
    let strip = |w: &Problem| (w.object.clone(), w.message.clone());
    for v in variants {
        let yaml = load_with("v.yaml", serde_yaml_ng::to_string(&v).unwrap());
        let json = load_with("v.json", kubectl_list(vec![v.clone()]));
        assert_eq!(yaml.objects.len(), json.objects.len(), "{v}");
        for (y, j) in yaml.objects.iter().zip(&json.objects) {
            assert_eq!(y.typed, j.typed, "{v}");
            assert_eq!(
                (&y.api_version, &y.kind, &y.namespace, &y.name, &y.warnings),
                (&j.api_version, &j.kind, &j.namespace, &j.name, &j.warnings),
                "{v}"
            );
        }
        let yw: Vec<_> = yaml.warnings.iter().map(strip).collect();
        let jw: Vec<_> = json.warnings.iter().map(strip).collect();
        assert_eq!(yw, jw, "{v}");
    }
}

/// Taking a snapshot apart (`into_rbac`, which moves strings) gives exactly the roles and
/// bindings that converting it in place gives, in the same order, and every other object back.
#[test]
fn taking_a_snapshot_apart_converts_as_copying_does() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cluster");
    let snapshot = virtguard_snapshot::load(
        &[virtguard_snapshot::Input::Path(dir)],
        &LoadOptions::default(),
    )
    .unwrap();
    let (roles, bindings) = (snapshot.roles(), snapshot.bindings());
    assert!(
        roles.iter().any(|r| r.aggregation.is_some()),
        "aggregated roles covered"
    );
    assert!(bindings.iter().any(|b| !b.subjects.is_empty()));
    let others: Vec<String> = snapshot
        .objects
        .iter()
        .filter(|o| o.as_role().is_none() && o.as_binding().is_none())
        .map(|o| o.describe())
        .collect();
    assert!(!others.is_empty());
    let (r2, b2, rest) = snapshot.into_rbac();
    assert_eq!(roles, r2);
    assert_eq!(bindings, b2);
    assert_eq!(
        others,
        rest.iter().map(|o| o.describe()).collect::<Vec<_>>()
    );
}
