//! SARIF output: required structure, rules, results, locations and suppressions.

mod common;

use std::collections::BTreeSet;

use common::Fixture;
use serde_json::Value;
use virtguard_report::sarif;

fn results(log: &Value) -> &Vec<Value> {
    log["runs"][0]["results"].as_array().expect("results array")
}

fn result_with<'a>(log: &'a Value, needle: &str) -> &'a Value {
    results(log)
        .iter()
        .find(|r| {
            r["message"]["text"]
                .as_str()
                .is_some_and(|t| t.contains(needle))
        })
        .unwrap_or_else(|| panic!("no result with message containing {needle:?}"))
}

#[test]
fn top_level_and_driver() {
    let fx = Fixture::standard();
    let log = sarif(&fx.report());
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(
        log["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    let runs = log["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "virtguard");
    assert_eq!(driver["version"], "0.1.0");
    assert_eq!(
        driver["informationUri"],
        "https://github.com/virtguard/virtguard"
    );
    // Serializes to text and back unchanged.
    let text = serde_json::to_string_pretty(&log).expect("serializes");
    let back: Value = serde_json::from_str(&text).expect("parses");
    assert_eq!(back, log);
}

#[test]
fn one_rule_per_check_with_metadata() {
    let fx = Fixture::standard();
    let log = sarif(&fx.report());
    let rules = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules");
    let ids: Vec<&str> = rules
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        ["VG101", "VG102", "VG103", "VG105", "VG204", "VG301", "VG701", "VG702"]
    );
    let vg102 = &rules[1];
    let info = virtguard_audit::check("VG102").expect("VG102");
    assert_eq!(
        vg102["name"],
        "VMConsoleVNCOrPortForwardAccessGrantedBroadly"
    );
    assert_eq!(vg102["shortDescription"]["text"], info.title);
    assert_eq!(vg102["fullDescription"]["text"], info.rationale);
    assert_eq!(vg102["help"]["text"], info.remediation);
    assert!(vg102["help"]["markdown"]
        .as_str()
        .expect("markdown")
        .contains(info.remediation));
    assert_eq!(vg102["defaultConfiguration"]["level"], "warning");
    assert_eq!(vg102["properties"]["security-severity"], "5.0");
    let tags = vg102["properties"]["tags"].as_array().expect("tags");
    assert!(tags.iter().any(|t| t == "rbac"), "{tags:?}");
    // High → error, 7.0; Low → note, 3.0.
    assert_eq!(rules[3]["defaultConfiguration"]["level"], "error");
    assert_eq!(rules[3]["properties"]["security-severity"], "7.0");
    assert_eq!(rules[4]["defaultConfiguration"]["level"], "note");
    assert_eq!(rules[4]["properties"]["security-severity"], "3.0");
}

#[test]
fn results_reference_rules_and_levels_follow_finding_severity() {
    let fx = Fixture::standard();
    let log = sarif(&fx.report());
    let rules = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules");
    let res = results(&log);
    assert_eq!(res.len(), 7, "six findings and one suppressed");
    for r in res {
        let idx = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[idx]["id"], r["ruleId"]);
        assert!(["error", "warning", "note"].contains(&r["level"].as_str().expect("level")));
        assert!(!r["message"]["text"].as_str().expect("text").is_empty());
        for loc in r["locations"].as_array().expect("locations") {
            assert!(
                loc.get("physicalLocation").is_some() || loc.get("logicalLocations").is_some(),
                "empty location in {r}"
            );
        }
    }
    // VG105 defaults to high but this finding was raised to critical: level error.
    let crit = result_with(&log, "can patch kubevirts");
    assert_eq!(crit["ruleId"], "VG105");
    assert_eq!(crit["level"], "error");
    assert!(crit["message"]["text"]
        .as_str()
        .expect("text")
        .contains("ClusterRole kv-writer → verbs=[patch]"));
    // VG301 defaults to medium, raised to high for the GPU.
    assert_eq!(result_with(&log, "gpu-vm")["level"], "error");
    assert_eq!(result_with(&log, "hostdev-vm")["level"], "warning");
    assert_eq!(result_with(&log, "worker-1")["level"], "note");
    assert_eq!(result_with(&log, "overcommit")["level"], "note");
}

#[test]
fn physical_and_logical_locations() {
    let fx = Fixture::standard();
    let log = sarif(&fx.report());

    let crit = result_with(&log, "can patch kubevirts");
    let locs = crit["locations"].as_array().expect("locations");
    assert_eq!(locs.len(), 2, "one per object");
    let phys = &locs[0]["physicalLocation"];
    assert_eq!(phys["artifactLocation"]["uri"], "manifests/rbac.yaml");
    assert_eq!(phys["artifactLocation"]["uriBaseId"], "%SRCROOT%");
    assert_eq!(phys["region"]["startLine"], 12);
    assert_eq!(locs[1]["physicalLocation"]["region"]["startLine"], 3);
    assert_eq!(
        locs[0]["logicalLocations"][0]["fullyQualifiedName"],
        "ClusterRoleBinding everyone-kv"
    );

    let abs = &result_with(&log, "console for")["locations"][0]["physicalLocation"];
    assert_eq!(abs["artifactLocation"]["uri"], "file:///abs/dir/rb.yaml");
    assert!(abs["artifactLocation"].get("uriBaseId").is_none());
    assert_eq!(abs["region"]["startLine"], 7);

    let spaced = &result_with(&log, "gpu-vm")["locations"][0]["physicalLocation"];
    assert_eq!(spaced["artifactLocation"]["uri"], "vms/gpu%20vm.yaml");

    // Line unknown: no region.
    let noline = &result_with(&log, "hostdev-vm")["locations"][0]["physicalLocation"];
    assert_eq!(noline["artifactLocation"]["uri"], "vms/hostdev.yaml");
    assert!(noline.get("region").is_none());

    // A node has no file, a catalog default no real file: logical locations only.
    for needle in ["worker-1", "overcommit"] {
        let loc = &result_with(&log, needle)["locations"][0];
        assert!(loc.get("physicalLocation").is_none(), "{needle}: {loc}");
        assert!(loc["logicalLocations"][0]["fullyQualifiedName"].is_string());
    }
    assert_eq!(
        result_with(&log, "worker-1")["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "Node worker-1"
    );
}

#[test]
fn suppressed_findings_carry_external_suppressions() {
    let fx = Fixture::standard();
    let log = sarif(&fx.report());
    let sup = result_with(&log, "admins in tenant-c can migrate");
    assert_eq!(sup["ruleId"], "VG101");
    let s = sup["suppressions"].as_array().expect("suppressions");
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["kind"], "external");
    assert_eq!(
        s[0]["justification"],
        "accepted by <ops> & \"platform\" team"
    );
    // Every other result states it is not suppressed.
    let unsuppressed = results(&log)
        .iter()
        .filter(|r| r["suppressions"].as_array().is_some_and(Vec::is_empty))
        .count();
    assert_eq!(unsuppressed, 6);
}

#[test]
fn fingerprints_are_stable_and_distinct() {
    let fx = Fixture::standard();
    let log = sarif(&fx.report());
    let prints: Vec<String> = results(&log)
        .iter()
        .map(|r| {
            r["partialFingerprints"]["virtguard/v1"]
                .as_str()
                .expect("fingerprint")
                .to_string()
        })
        .collect();
    assert!(prints
        .iter()
        .all(|p| p.len() == 16 && p.chars().all(|c| c.is_ascii_hexdigit())));
    assert_eq!(prints.iter().collect::<BTreeSet<_>>().len(), prints.len());
    assert_eq!(sarif(&fx.report()), log, "deterministic");

    // Moving the object within its file keeps the fingerprint; a new message changes it.
    let mut moved = Fixture::standard();
    moved.findings[0].objects[0].line = 99;
    let moved_log = sarif(&moved.report());
    assert_eq!(
        results(&moved_log)[0]["partialFingerprints"],
        results(&log)[0]["partialFingerprints"]
    );
    let mut changed = Fixture::standard();
    changed.findings[0].message.push('!');
    let changed_log = sarif(&changed.report());
    assert_ne!(
        results(&changed_log)[0]["partialFingerprints"],
        results(&log)[0]["partialFingerprints"]
    );
}

#[test]
fn finding_of_a_check_that_did_not_run_still_gets_a_rule() {
    let mut fx = Fixture::standard();
    fx.checks.retain(|c| c.id != "VG701");
    let log = sarif(&fx.report());
    let r = result_with(&log, "worker-1");
    let idx = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
    assert_eq!(
        log["runs"][0]["tool"]["driver"]["rules"][idx]["id"],
        "VG701"
    );
}

#[test]
fn clean_run() {
    let fx = Fixture::clean();
    let log = sarif(&fx.report());
    assert!(results(&log).is_empty());
    assert_eq!(
        log["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .expect("rules")
            .len(),
        2
    );
    assert!(log["runs"][0]["results"].is_array());
}

#[test]
fn snapshot() {
    let fx = Fixture::standard();
    insta::assert_json_snapshot!(sarif(&fx.report()));
}
