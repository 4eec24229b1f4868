//! Legacy discovery documents (`/api`, `/api/v1`, `/apis`, `/apis/GROUP`, `/apis/GROUP/VERSION`)
//! built from the served resources: the discovery table plus every kind of the snapshot, with
//! KubeVirt's `subresources.kubevirt.io` subresources listed as `resource/subresource`.
//!
//! Aggregated discovery (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`, asked for through the
//! Accept header) lists the same resources in one document per `/api` and `/apis`; subresources
//! sit under their parent, and a parent that is not itself served in the group (KubeVirt's
//! `subresources.kubevirt.io`) is listed without `responseKind`, as kube-apiserver converts an
//! aggregated API's list — client-go then keeps only its subresources, exactly what the legacy
//! documents give. A client that does not ask gets the legacy documents as plain JSON, which
//! client-go also accepts (`client-go/discovery/aggregated_discovery.go`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIGroupList, APIResource, APIResourceList, APIVersions, GroupVersionForDiscovery,
};
use serde_json::{json, Value};

use crate::store::{Served, State};

/// KubeVirt subresources read with `get` (the others are `update`s): virt-api's routes.
const GET_SUBRESOURCES: &[&str] = &[
    "console",
    "vnc",
    "vnc/screenshot",
    "portforward",
    "guestosinfo",
    "filesystemlist",
    "userlist",
    "usbredir",
    "vsock",
    "objectgraph",
    "sev/fetchcertchain",
    "sev/querylaunchmeasurement",
    "expand-spec",
];

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// `/api`: the core group's versions.
pub fn api_versions() -> APIVersions {
    APIVersions {
        server_address_by_client_cidrs: Vec::new(),
        versions: vec!["v1".to_string()],
    }
}

fn groups(state: &State) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for s in &state.resources {
        if s.group.is_empty() {
            continue;
        }
        let idx = match out.iter().position(|(g, _)| *g == s.group) {
            Some(i) => i,
            None => {
                out.push((s.group.clone(), Vec::new()));
                out.len() - 1
            }
        };
        for v in &s.versions {
            if !out[idx].1.contains(v) {
                out[idx].1.push(v.clone());
            }
        }
    }
    out
}

fn api_group(name: &str, versions: &[String]) -> APIGroup {
    let gvs: Vec<GroupVersionForDiscovery> = versions
        .iter()
        .map(|v| GroupVersionForDiscovery {
            group_version: group_version(name, v),
            version: v.clone(),
        })
        .collect();
    APIGroup {
        name: name.to_string(),
        preferred_version: gvs.first().cloned(),
        server_address_by_client_cidrs: None,
        versions: gvs,
    }
}

/// `/apis`: every group with its versions, preferred first.
pub fn api_group_list(state: &State) -> APIGroupList {
    APIGroupList {
        groups: groups(state)
            .iter()
            .map(|(g, vs)| api_group(g, vs))
            .collect(),
    }
}

/// `/apis/GROUP`.
pub fn api_group_of(state: &State, group: &str) -> Option<APIGroup> {
    groups(state)
        .iter()
        .find(|(g, _)| g == group)
        .map(|(g, vs)| api_group(g, vs))
}

fn entry(s: &Served, name: String, verbs: Vec<String>) -> APIResource {
    APIResource {
        categories: None,
        group: None,
        kind: s.kind.clone(),
        name,
        namespaced: s.namespaced,
        short_names: None,
        singular_name: String::new(),
        storage_version_hash: None,
        verbs,
        version: None,
    }
}

/// `/api/v1` or `/apis/GROUP/VERSION`: the resources of one group version; `None` when the
/// group version is not served.
pub fn api_resource_list(state: &State, group: &str, version: &str) -> Option<APIResourceList> {
    let mut resources = Vec::new();
    let mut found = false;
    for s in &state.resources {
        if s.group == group && s.versions.iter().any(|v| v == version) {
            found = true;
            resources.push(APIResource {
                categories: (!s.categories.is_empty()).then(|| s.categories.clone()),
                short_names: (!s.short_names.is_empty()).then(|| s.short_names.clone()),
                singular_name: s.singular.clone(),
                ..entry(s, s.resource.clone(), s.verbs.clone())
            });
            for sub in &s.subresources {
                resources.push(entry(
                    s,
                    format!("{}/{sub}", s.resource),
                    vec!["get".to_string()],
                ));
            }
        }
        if let Some((g, names)) = &s.api_subresources {
            if g == group {
                for sub in names {
                    let verb = if GET_SUBRESOURCES.contains(&sub.as_str()) {
                        "get"
                    } else {
                        "update"
                    };
                    resources.push(entry(
                        s,
                        format!("{}/{sub}", s.resource),
                        vec![verb.to_string()],
                    ));
                }
            }
        }
    }
    found.then(|| APIResourceList {
        group_version: group_version(group, version),
        resources,
    })
}

/// The content type of an aggregated discovery document.
pub const AGGREGATED_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

fn subresource_verb(sub: &str) -> &'static str {
    if GET_SUBRESOURCES.contains(&sub) {
        "get"
    } else {
        "update"
    }
}

fn scope(namespaced: bool) -> &'static str {
    if namespaced {
        "Namespaced"
    } else {
        "Cluster"
    }
}

/// The resources of one group version in the aggregated form.
fn aggregated_resources(state: &State, group: &str, version: &str) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for s in &state.resources {
        if s.group == group && s.versions.iter().any(|v| v == version) {
            let kind = json!({"group": group, "version": version, "kind": s.kind});
            let mut r = json!({
                "resource": s.resource,
                "responseKind": kind,
                "scope": scope(s.namespaced),
                "singularResource": s.singular,
                "verbs": s.verbs,
            });
            if !s.short_names.is_empty() {
                r["shortNames"] = json!(s.short_names);
            }
            if !s.categories.is_empty() {
                r["categories"] = json!(s.categories);
            }
            if !s.subresources.is_empty() {
                r["subresources"] = s
                    .subresources
                    .iter()
                    .map(|sub| json!({"subresource": sub, "responseKind": kind, "verbs": ["get"]}))
                    .collect();
            }
            out.push(r);
        }
        if let Some((g, names)) = &s.api_subresources {
            if g == group {
                let kind = json!({"group": group, "version": version, "kind": s.kind});
                out.push(json!({
                    "resource": s.resource,
                    "scope": scope(s.namespaced),
                    "singularResource": s.singular,
                    "verbs": [],
                    "subresources": names.iter().map(|sub| json!({
                        "subresource": sub, "responseKind": kind, "verbs": [subresource_verb(sub)],
                    })).collect::<Vec<_>>(),
                }));
            }
        }
    }
    out
}

/// `/api` (`core`) or `/apis` as an `apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`.
pub fn aggregated(state: &State, core: bool) -> Value {
    let groups: Vec<(String, Vec<String>)> = if core {
        vec![(String::new(), vec!["v1".to_string()])]
    } else {
        groups(state)
    };
    let items: Vec<Value> = groups
        .iter()
        .map(|(g, versions)| {
            let mut meta = json!({"creationTimestamp": null});
            if !g.is_empty() {
                meta["name"] = json!(g);
            }
            json!({
                "metadata": meta,
                "versions": versions.iter().map(|v| json!({
                    "version": v,
                    "resources": aggregated_resources(state, g, v),
                    "freshness": "Current",
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::loaded;

    #[test]
    fn groups_and_resources() {
        let state = State::build(
            loaded("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"),
            1,
            None,
        );
        let list = api_group_list(&state);
        assert!(list.groups.iter().any(|g| g.name == "kubevirt.io"));
        assert!(list.groups.iter().all(|g| !g.name.is_empty()));
        let core = api_resource_list(&state, "", "v1").unwrap();
        let pods = core.resources.iter().find(|r| r.name == "pods").unwrap();
        assert!(pods.namespaced);
        assert_eq!(pods.verbs, ["get", "list", "watch"]);
        assert_eq!(pods.categories.as_deref(), Some(&["all".to_string()][..]));
        assert!(core.resources.iter().any(|r| r.name == "pods/log"));
        let kv = api_resource_list(&state, "kubevirt.io", "v1").unwrap();
        let vmi = kv
            .resources
            .iter()
            .find(|r| r.name == "virtualmachineinstances")
            .unwrap();
        assert_eq!(
            vmi.short_names.as_deref(),
            Some(&["vmi".to_string(), "vmis".to_string()][..])
        );
        let sub = api_resource_list(&state, "subresources.kubevirt.io", "v1").unwrap();
        let vnc = sub
            .resources
            .iter()
            .find(|r| r.name == "virtualmachineinstances/vnc")
            .unwrap();
        assert_eq!(vnc.verbs, ["get"]);
        let start = sub
            .resources
            .iter()
            .find(|r| r.name == "virtualmachines/start")
            .unwrap();
        assert_eq!(start.verbs, ["update"]);
        let authz = api_resource_list(&state, "authorization.k8s.io", "v1").unwrap();
        let ssar = authz
            .resources
            .iter()
            .find(|r| r.name == "selfsubjectaccessreviews")
            .unwrap();
        assert_eq!(ssar.verbs, ["create"]);
        assert!(api_resource_list(&state, "nope.example", "v1").is_none());
        let v = serde_json::to_value(&core).unwrap();
        assert_eq!(v["kind"], "APIResourceList");
        assert_eq!(v["groupVersion"], "v1");
    }

    /// client-go's conversion of an aggregated document back to resource lists
    /// (`convertAPIResource` / `convertAPISubresource`): entries without `responseKind` are
    /// dropped, subresources become `parent/sub`.
    type Entry = (String, String, bool, Vec<String>);

    fn as_legacy(doc: &Value) -> Vec<(String, Vec<Entry>)> {
        let mut out = Vec::new();
        for g in doc["items"].as_array().unwrap() {
            let group = g["metadata"]["name"].as_str().unwrap_or("");
            for v in g["versions"].as_array().unwrap() {
                let version = v["version"].as_str().unwrap();
                let mut list = Vec::new();
                for r in v["resources"].as_array().unwrap() {
                    let name = r["resource"].as_str().unwrap().to_string();
                    let namespaced = r["scope"] == "Namespaced";
                    let strings = |x: &Value| -> Vec<String> {
                        x.as_array()
                            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
                            .unwrap_or_default()
                    };
                    if let Some(k) = r.get("responseKind") {
                        list.push((
                            name.clone(),
                            k["kind"].as_str().unwrap().to_string(),
                            namespaced,
                            strings(&r["verbs"]),
                        ));
                    }
                    for sub in r["subresources"].as_array().into_iter().flatten() {
                        list.push((
                            format!("{name}/{}", sub["subresource"].as_str().unwrap()),
                            sub["responseKind"]["kind"].as_str().unwrap().to_string(),
                            namespaced,
                            strings(&sub["verbs"]),
                        ));
                    }
                }
                list.sort();
                out.push((group_version(group, version), list));
            }
        }
        out
    }

    #[test]
    fn aggregated_equals_legacy_for_client_go() {
        let state = State::build(
            loaded("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: a}\n"),
            1,
            None,
        );
        let mut docs = as_legacy(&aggregated(&state, true));
        docs.extend(as_legacy(&aggregated(&state, false)));
        assert!(docs.len() > 20);
        for (gv, agg) in docs {
            let (group, version) = gv.split_once('/').unwrap_or(("", gv.as_str()));
            let legacy = api_resource_list(&state, group, version).unwrap();
            let mut want: Vec<_> = legacy
                .resources
                .iter()
                .map(|r| {
                    (
                        r.name.clone(),
                        r.kind.clone(),
                        r.namespaced,
                        r.verbs.clone(),
                    )
                })
                .collect();
            want.sort();
            assert_eq!(agg, want, "{gv}");
        }
    }

    #[test]
    fn aggregated_documents() {
        let state = State::build(
            loaded("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"),
            1,
            None,
        );
        let core = aggregated(&state, true);
        assert_eq!(core["kind"], "APIGroupDiscoveryList");
        assert_eq!(core["items"].as_array().unwrap().len(), 1);
        let v1 = &core["items"][0]["versions"][0];
        let pods = v1["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "pods")
            .unwrap();
        assert_eq!(pods["scope"], "Namespaced");
        assert_eq!(pods["responseKind"]["kind"], "Pod");
        assert_eq!(pods["categories"], json!(["all"]));
        assert!(pods["subresources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["subresource"] == "log"));
        let apis = aggregated(&state, false);
        let sub = apis["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"] == "subresources.kubevirt.io")
            .unwrap();
        let vmi = sub["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "virtualmachineinstances")
            .unwrap();
        assert!(
            vmi.get("responseKind").is_none(),
            "a parent not served in the group has no kind"
        );
        let vnc = vmi["subresources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["subresource"] == "vnc")
            .unwrap();
        assert_eq!(vnc["verbs"], json!(["get"]));
        assert!(apis["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["metadata"]["name"] != ""));
    }
}
