//! The catalog against its sources: virt-operator's own RBAC per release must equal the rendered
//! manifest kept in `../shared/reference/kubevirt/<tag>/operator-rbac.yaml` (documents compared
//! as YAML values, in order), and every data file names the repository and tag it came from.

use std::path::PathBuf;

use virtguard_catalog::{files, Component, Rendering, Selection, KUBEVIRT_VERSIONS};

fn docs(text: &str) -> Vec<serde_json::Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).expect("YAML"))
        .filter(|v: &serde_json::Value| !v.is_null())
        .collect()
}

fn reference(version: &str) -> Option<String> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/kubevirt")
        .join(version)
        .join("operator-rbac.yaml");
    std::fs::read_to_string(p).ok()
}

#[test]
fn operator_rbac_equals_the_release_manifest() {
    let mut compared = 0;
    for v in KUBEVIRT_VERSIONS {
        let Some(want) = reference(v) else {
            continue;
        };
        let sel = Selection {
            component: Component::KubeVirt,
            version: v,
        };
        let got = files(&sel, &Rendering::default())
            .into_iter()
            .find(|f| f.name.ends_with("/operator.yaml"))
            .expect("operator.yaml");
        assert_eq!(docs(&got.text), docs(&want), "{v}: operator.yaml differs");
        compared += 1;
    }
    // ../shared is beside the checkout (also in CI): the comparison must really run.
    assert_eq!(
        compared,
        KUBEVIRT_VERSIONS.len(),
        "reference manifests missing"
    );
}

#[test]
fn every_file_names_its_source() {
    for v in KUBEVIRT_VERSIONS {
        let sel = Selection {
            component: Component::KubeVirt,
            version: v,
        };
        for f in files(&sel, &Rendering::default()) {
            let first = f.text.lines().next().unwrap_or_default();
            assert!(
                first.starts_with(&format!("# Source: kubevirt/kubevirt@{v} (")),
                "{}: {first}",
                f.name
            );
        }
    }
}
