use std::sync::Arc;
use virtguard_snapshot::{from_texts, Format, LoadError, LoadOptions};

fn show(name: &str, text: &str, format: Format) {
    let r = from_texts(
        vec![(Arc::from(name), text.to_string(), format)],
        &LoadOptions::default(),
    );
    match r {
        Ok(s) => println!(
            "== {name}: OK {} objects, warnings {:?}",
            s.objects.len(),
            s.warnings
        ),
        Err(LoadError::Invalid(ps)) => {
            println!("== {name}:");
            for p in ps {
                println!("  {:?}", p);
                println!("  DISPLAY {p}");
            }
        }
        Err(e) => println!("== {name}: {e}"),
    }
}

#[test]
fn scratch() {
    show("dots.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n...\n# c\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n---\nkind: X\n", Format::Yaml);
    show(
        "bom.yaml",
        "\u{feff}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\nkind: X\n",
        Format::Yaml,
    );
    show("bom.json", "\u{feff}{\"apiVersion\": \"v1\"}", Format::Json);
    show(
        "lead.yaml",
        "# header\n\n---\n# doc comment\n\napiVersion: v1\nmetadata:\n  name: a\n",
        Format::Yaml,
    );
    show(
        "crlf.yaml",
        "apiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: a\r\n---\r\nkind: X\r\n",
        Format::Yaml,
    );
    show("json-in-yaml.yaml", "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"a\"}}\n---\n{\"kind\": 1}\n", Format::Yaml);
    show("jsonstream.json", "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\"}}\n{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"b\"}}\n\n\n  {\"kind\": \"X\"}\n", Format::Json);
    show("jsonbad2.json", "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\"}}\n\n{\"apiVersion\":\n", Format::Json);
    show(
        "nested-list.yaml",
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items: []\n- 3\n",
        Format::Yaml,
    );
    show(
        "items-not-list.yaml",
        "apiVersion: v1\nkind: List\nitems: 3\n",
        Format::Yaml,
    );
    show(
        "anchors.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: &n a\ndata:\n  x: *n\n",
        Format::Yaml,
    );
    show(
        "undefined-alias.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: *n\n",
        Format::Yaml,
    );
    show(
        "dupkey.yaml",
        "apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata:\n  name: a\n",
        Format::Yaml,
    );
    show(
        "numkey.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n1: 2\n",
        Format::Yaml,
    );
    show(
        "mergekey.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\nb: &x {c: 1}\nd:\n  <<: *x\n",
        Format::Yaml,
    );
    show(
        "kindnum.yaml",
        "apiVersion: v1\nkind: 5\nmetadata:\n  name: a\n",
        Format::Yaml,
    );
    show("rules-bad.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: a\nrules: 5\n", Format::Yaml);
    show(
        "float.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\nx: .nan\ny: 1e400\n",
        Format::Yaml,
    );
}
