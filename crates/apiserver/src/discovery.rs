//! Legacy discovery documents (`/api`, `/api/v1`, `/apis`, `/apis/GROUP`, `/apis/GROUP/VERSION`)
//! built from the served resources: the discovery table plus every kind of the snapshot, with
//! KubeVirt's `subresources.kubevirt.io` subresources listed as `resource/subresource`.
//!
//! Aggregated discovery (`as=APIGroupDiscoveryList`) is answered with the legacy documents and a
//! plain `application/json` content type, which makes client-go fall back to them
//! (`client-go/discovery/aggregated_discovery.go`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIGroupList, APIResource, APIResourceList, APIVersions, GroupVersionForDiscovery,
};

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
}
