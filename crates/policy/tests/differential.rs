//! Differential check of the Cedar mapping against an independent Cedar implementation.
//!
//! A seeded generator builds a few thousand SubjectAccessReview specs (users, service
//! accounts, nodes, groups, extra, verbs, KubeVirt and core resources, subresources,
//! selectors, non-resource URLs, impersonation). virtguard decides each with
//! [`PolicySet::decide`] on the policies of [`policies`]; the Cedar request it evaluated
//! ([`cedar_request_json`]) and the same policies go to `@cedar-policy/cedar-wasm` under Node
//! (`tests/differential/cedar-wasm.js`). Per request, the raw Cedar decisions (Allow iff a
//! permit matched and no forbid did), the determining policy ids and the erroring policy ids
//! must agree.
//!
//! Setup: `npm install --prefix DIR @cedar-policy/cedar-wasm@4.13.0`, then
//! `VIRTGUARD_CEDAR_WASM=DIR/node_modules cargo test -p virtguard-policy --test differential`.
//! `VIRTGUARD_SKIP_DIFFERENTIAL=1` skips the check. `VIRTGUARD_DIFFERENTIAL_SEED` and
//! `VIRTGUARD_DIFFERENTIAL_REQUESTS` change the generator's seed and request count.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use virtguard_policy::{
    cedar_request_json, Decision, NonResourceAttributes, PolicySet, Request, ResourceAttributes,
    SelectorAttributes, SelectorRequirement,
};

const INSTALL: &str = "the differential test needs @cedar-policy/cedar-wasm under Node: \
    `npm install --prefix /tmp/virtguard-ci-cedar @cedar-policy/cedar-wasm@4.13.0` and \
    `export VIRTGUARD_CEDAR_WASM=/tmp/virtguard-ci-cedar/node_modules` (.ci/run does this); \
    set VIRTGUARD_SKIP_DIFFERENTIAL=1 to skip it";

/// The policies: `(id, text)`, each text one policy annotated with its `@id`.
fn policies() -> Vec<(String, String)> {
    let bodies = [
        (
            "user-alice-reads",
            r#"permit (principal == k8s::User::"alice", action in [k8s::Action::"get", k8s::Action::"list", k8s::Action::"watch"], resource is k8s::Resource);"#,
        ),
        (
            "user-dora-core-pods",
            r#"permit (principal is k8s::User, action, resource is k8s::Resource) when { principal.name == "dora" && resource.resource == "pods" && resource.apiGroup == "" };"#,
        ),
        (
            "developers-read-kubevirt",
            r#"permit (principal in k8s::Group::"developers", action in [k8s::Action::"get", k8s::Action::"list", k8s::Action::"watch"], resource is k8s::Resource) when { resource.apiGroup == "kubevirt.io" };"#,
        ),
        (
            "sre-everything",
            r#"permit (principal in k8s::Group::"sre", action, resource);"#,
        ),
        (
            "kubevirt-console-sre-only-in-prod",
            r#"forbid (principal, action, resource is k8s::Resource) when { resource.apiGroup == "subresources.kubevirt.io" && resource.resource == "virtualmachineinstances" && resource has subresource && ["vnc", "console"].contains(resource.subresource) && resource has namespace && resource.namespace == "prod" } unless { principal in k8s::Group::"sre" };"#,
        ),
        (
            "developers-vmi-subresources",
            r#"permit (principal in k8s::Group::"developers", action == k8s::Action::"get", resource is k8s::Resource) when { resource.apiGroup == "subresources.kubevirt.io" && resource.resource == "virtualmachineinstances" };"#,
        ),
        (
            "no-migrations-in-prod",
            r#"forbid (principal, action in [k8s::Action::"create", k8s::Action::"update", k8s::Action::"patch", k8s::Action::"delete"], resource is k8s::Resource) when { resource.apiGroup == "kubevirt.io" && resource.resource == "virtualmachineinstancemigrations" && resource has namespace && resource.namespace == "prod" } unless { principal in k8s::Group::"sre" };"#,
        ),
        (
            "tenant-sa-own-secrets",
            r#"permit (principal is k8s::ServiceAccount, action in [k8s::Action::"get", k8s::Action::"list", k8s::Action::"watch"], resource is k8s::Resource) when { resource.resource == "secrets" && resource.apiGroup == "" && resource has namespace && resource.namespace == principal.namespace && principal.namespace like "tenant-*" };"#,
        ),
        (
            "sa-kube-system-only-from-kube-system",
            r#"forbid (principal is k8s::ServiceAccount, action, resource is k8s::Resource) when { resource has namespace && resource.namespace == "kube-system" && principal.namespace != "kube-system" };"#,
        ),
        (
            "node-own-object",
            r#"permit (principal is k8s::Node, action in [k8s::Action::"get", k8s::Action::"patch", k8s::Action::"update"], resource is k8s::Resource) when { resource.resource == "nodes" && resource has name && resource.name == principal.name };"#,
        ),
        (
            "nodes-group-no-secret-lists",
            r#"forbid (principal in k8s::Group::"system:nodes", action in [k8s::Action::"list", k8s::Action::"watch"], resource is k8s::Resource) when { resource.resource == "secrets" };"#,
        ),
        (
            "node-lists-own-pods",
            r#"permit (principal is k8s::Node, action in [k8s::Action::"list", k8s::Action::"watch"], resource is k8s::Resource) when { resource.resource == "pods" && resource has fieldSelector && resource.fieldSelector.contains({"field": "spec.nodeName", "operator": "=", "value": principal.name}) };"#,
        ),
        (
            "own-objects-by-label",
            r#"permit (principal is k8s::User, action in [k8s::Action::"list", k8s::Action::"watch"], resource is k8s::Resource) when { resource has labelSelector && resource.labelSelector.containsAny([{"key": "owner", "operator": "in", "values": [principal.name]}, {"key": "owner", "operator": "notin", "values": ["nobody"]}]) };"#,
        ),
        (
            "no-lists-excluding-audited",
            r#"forbid (principal, action == k8s::Action::"list", resource is k8s::Resource) when { resource has labelSelector && resource.labelSelector.contains({"key": "audited", "operator": "notin", "values": ["true"]}) };"#,
        ),
        (
            "no-field-negation-on-names",
            r#"forbid (principal, action, resource is k8s::Resource) when { resource has fieldSelector && resource.fieldSelector.containsAny([{"field": "metadata.name", "operator": "!=", "value": "x"}, {"field": "metadata.name", "operator": "!=", "value": "pod1"}]) };"#,
        ),
        (
            "healthz-for-all",
            r#"permit (principal, action == k8s::Action::"get", resource == k8s::NonResourceURL::"/healthz");"#,
        ),
        (
            "no-metrics-writes",
            r#"forbid (principal, action in [k8s::Action::"post", k8s::Action::"put", k8s::Action::"delete"], resource is k8s::NonResourceURL) when { resource.path like "/metrics*" };"#,
        ),
        (
            "discovery-for-authenticated",
            r#"permit (principal in k8s::Group::"system:authenticated", action in [k8s::Action::"get", k8s::Action::"head"], resource is k8s::NonResourceURL) when { resource.path == "/api" || resource.path like "/apis/*" };"#,
        ),
        (
            "sa-impersonates-own-namespace",
            r#"permit (principal is k8s::ServiceAccount, action == k8s::Action::"impersonate", resource is k8s::ServiceAccount) when { resource.namespace == principal.namespace && resource.name != principal.name };"#,
        ),
        (
            "developers-impersonate-test-users",
            r#"permit (principal in k8s::Group::"developers", action == k8s::Action::"impersonate", resource is k8s::User) when { resource.name like "test-*" };"#,
        ),
        (
            "no-impersonating-masters",
            r#"forbid (principal, action == k8s::Action::"impersonate", resource == k8s::Group::"system:masters");"#,
        ),
        (
            "sam-impersonates-workers",
            r#"permit (principal is k8s::User, action == k8s::Action::"impersonate", resource is k8s::Node) when { principal.name == "sam" && resource.name like "worker*" };"#,
        ),
        (
            "bob-impersonates-uid-7",
            r#"permit (principal is k8s::User, action == k8s::Action::"impersonate", resource == k8s::PrincipalUID::"uid-7") when { principal.name == "bob" };"#,
        ),
        (
            "impersonate-view-scopes",
            r#"permit (principal, action == k8s::Action::"impersonate", resource is k8s::Extra) when { resource.key == "scopes" && resource has value && resource.value like "view*" };"#,
        ),
        (
            "no-impersonating-bare-extra-keys",
            r#"forbid (principal, action == k8s::Action::"impersonate", resource is k8s::Extra) unless { resource has value };"#,
        ),
        (
            "read-only-scope",
            r#"forbid (principal is k8s::User, action in [k8s::Action::"create", k8s::Action::"update", k8s::Action::"patch", k8s::Action::"delete", k8s::Action::"deletecollection"], resource is k8s::Resource) when { principal has extra && principal.extra.contains({"key": "scopes", "values": ["read-only"]}) };"#,
        ),
        (
            "blue-team-configmaps",
            r#"permit (principal, action == k8s::Action::"get", resource is k8s::Resource) when { resource.resource == "configmaps" && ((principal is k8s::User && principal has extra && principal.extra.containsAny([{"key": "team", "values": ["blue"]}, {"key": "team", "values": ["blue", "admin"]}])) || (principal is k8s::ServiceAccount && principal has extra)) };"#,
        ),
        (
            "widgets-any-verb",
            r#"permit (principal, action, resource is k8s::Resource) when { resource.resource == "widgets" && resource.apiGroup == "example.com" };"#,
        ),
        (
            "status-only-controller",
            r#"forbid (principal is k8s::User, action in [k8s::Action::"update", k8s::Action::"patch"], resource is k8s::Resource) when { resource has subresource && resource.subresource == "status" && principal.name != "controller" };"#,
        ),
        (
            "no-rbac-escalation",
            r#"forbid (principal, action in [k8s::Action::"escalate", k8s::Action::"bind"], resource is k8s::Resource) when { resource.apiGroup == "rbac.authorization.k8s.io" } unless { principal in k8s::Group::"system:masters" };"#,
        ),
        (
            "list-namespaces-cluster-wide",
            r#"permit (principal in k8s::Group::"system:authenticated", action == k8s::Action::"list", resource is k8s::Resource) when { resource.resource == "namespaces" && !(resource has namespace) && !(resource has name) };"#,
        ),
        (
            "exact-resource-id",
            r#"permit (principal, action == k8s::Action::"get", resource == k8s::Resource::"/apis/kubevirt.io/v1/namespaces/prod/virtualmachines/vm1");"#,
        ),
        (
            "uid-42-non-resource",
            r#"permit (principal == k8s::User::"uid-42", action, resource is k8s::NonResourceURL);"#,
        ),
        (
            "developers-scale-outside-prod",
            r#"permit (principal in k8s::Group::"developers", action in [k8s::Action::"get", k8s::Action::"update", k8s::Action::"patch"], resource is k8s::Resource) when { resource.apiGroup == "apps" && resource has subresource && resource.subresource == "scale" && resource has namespace && ["staging", "tenant-a"].contains(resource.namespace) };"#,
        ),
        (
            "overflow-on-name",
            r#"forbid (principal, action, resource is k8s::Resource) when { resource has name && resource.name == "overflow" && 9223372036854775807 + 1 > 0 };"#,
        ),
        (
            "node-named-like-user",
            r#"permit (principal is k8s::Node, action == k8s::Action::"get", resource is k8s::NonResourceURL) when { principal.name == resource.path || principal in k8s::Group::"system:nodes" };"#,
        ),
    ];
    bodies
        .iter()
        .map(|(id, body)| ((*id).to_owned(), format!("@id(\"{id}\")\n{body}\n")))
        .collect()
}

/// splitmix64: small, seeded, reproducible everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn subset(&mut self, items: &[&str], percent: u64) -> Vec<String> {
        items
            .iter()
            .filter(|_| self.chance(percent))
            .map(|s| (*s).to_owned())
            .collect()
    }
}

const NAMESPACES: &[&str] = &[
    "default",
    "prod",
    "staging",
    "tenant-a",
    "tenant-b",
    "kube-system",
];

fn user(rng: &mut Rng) -> String {
    match rng.below(10) {
        0..=3 => rng
            .pick(&[
                "alice",
                "bob",
                "dora",
                "sam",
                "controller",
                "test-user",
                "Alice",
                "uid-42",
            ])
            .to_owned(),
        4..=6 => format!(
            "system:serviceaccount:{}:{}",
            rng.pick(NAMESPACES),
            rng.pick(&["runner", "default", "builder"])
        ),
        7..=8 => format!(
            "system:node:{}",
            rng.pick(&["worker1", "worker2", "master", "/healthz"])
        ),
        _ => rng
            .pick(&[
                "system:serviceaccount:tenant-a",
                "system:serviceaccount:tenant-a:runner:x",
                "system:node:worker1:x",
                "system:kube-scheduler",
                "",
            ])
            .to_owned(),
    }
}

fn selector(rng: &mut Rng, keys: &[&str], values: &[&str]) -> SelectorAttributes {
    let n = 1 + rng.below(3);
    let requirements = (0..n)
        .map(|_| SelectorRequirement {
            key: rng.pick(keys).to_owned(),
            operator: rng
                .pick(&["In", "In", "NotIn", "Exists", "DoesNotExist", "in", "Gt"])
                .to_owned(),
            values: (0..rng.below(3))
                .map(|_| rng.pick(values).to_owned())
                .collect(),
        })
        .collect();
    SelectorAttributes {
        raw_selector: if rng.chance(10) {
            "owner=alice".to_owned()
        } else {
            String::new()
        },
        requirements,
    }
}

/// `(group, resource, subresources, namespaced)`.
const RESOURCES: &[(&str, &str, &[&str], bool)] = &[
    ("", "pods", &["status", "log", "exec"], true),
    ("", "secrets", &[], true),
    ("", "configmaps", &[], true),
    ("", "nodes", &["status"], false),
    ("", "namespaces", &["status"], false),
    ("apps", "deployments", &["scale", "status"], true),
    ("kubevirt.io", "virtualmachines", &["status"], true),
    ("kubevirt.io", "virtualmachineinstances", &[], true),
    ("kubevirt.io", "virtualmachineinstancemigrations", &[], true),
    (
        "subresources.kubevirt.io",
        "virtualmachineinstances",
        &["vnc", "console", "portforward", "guestosinfo"],
        true,
    ),
    (
        "subresources.kubevirt.io",
        "virtualmachines",
        &["start", "stop", "migrate"],
        true,
    ),
    ("rbac.authorization.k8s.io", "clusterroles", &[], false),
    ("rbac.authorization.k8s.io", "rolebindings", &[], true),
    ("example.com", "widgets", &[], true),
];

const RESOURCE_VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "use",
    "bind",
    "escalate",
    "approve",
    "sign",
    "attest",
    "frobnicate",
];

fn resource_attributes(rng: &mut Rng) -> ResourceAttributes {
    let (group, resource, subresources, namespaced) = RESOURCES[rng.below(RESOURCES.len())];
    let namespace = if (namespaced && rng.chance(80)) || rng.chance(5) {
        rng.pick(NAMESPACES).to_owned()
    } else {
        String::new()
    };
    let name = if rng.chance(55) {
        rng.pick(&[
            "vm1", "pod1", "worker1", "worker2", "overflow", "alice", "db", "x",
        ])
        .to_owned()
    } else {
        String::new()
    };
    let subresource = if !subresources.is_empty() && rng.chance(60) {
        rng.pick(subresources).to_owned()
    } else {
        String::new()
    };
    let label_selector = rng.chance(25).then(|| {
        selector(
            rng,
            &["owner", "audited", "tier"],
            &["alice", "dora", "nobody", "true", "false"],
        )
    });
    let field_selector = rng.chance(20).then(|| {
        selector(
            rng,
            &["spec.nodeName", "metadata.name"],
            &["worker1", "worker2", "x", "pod1"],
        )
    });
    ResourceAttributes {
        namespace,
        verb: rng.pick(RESOURCE_VERBS).to_owned(),
        group: group.to_owned(),
        version: rng.pick(&["v1", "v1", "v1beta1"]).to_owned(),
        resource: resource.to_owned(),
        subresource,
        name,
        field_selector,
        label_selector,
    }
}

fn impersonation(rng: &mut Rng) -> ResourceAttributes {
    let resource = rng.pick(&[
        "users",
        "groups",
        "serviceaccounts",
        "uids",
        "userextras",
        "pods",
    ]);
    let names: &[&str] = match resource {
        "users" => &[
            "test-a",
            "alice",
            "system:node:worker1",
            "system:node:worker2:x",
            "system:node:master",
            "prod-admin",
            "",
        ],
        "groups" => &["system:masters", "developers", "sre"],
        "serviceaccounts" => &["runner", "default", "builder"],
        "uids" => &["uid-7", "uid-42", "alice"],
        "userextras" => &["view-only", "viewer", "admin", ""],
        _ => &["pod1", ""],
    };
    let subresource = match resource {
        "userextras" => rng.pick(&["scopes", "team", ""]).to_owned(),
        _ if rng.chance(5) => "status".to_owned(),
        _ => String::new(),
    };
    let namespace = if resource == "serviceaccounts" || rng.chance(20) {
        rng.pick(NAMESPACES).to_owned()
    } else {
        String::new()
    };
    ResourceAttributes {
        namespace,
        verb: "impersonate".to_owned(),
        group: if matches!(resource, "uids" | "userextras") {
            "authentication.k8s.io".to_owned()
        } else {
            String::new()
        },
        version: "v1".to_owned(),
        resource: resource.to_owned(),
        subresource,
        name: rng.pick(names).to_owned(),
        ..Default::default()
    }
}

fn non_resource(rng: &mut Rng) -> NonResourceAttributes {
    NonResourceAttributes {
        path: rng
            .pick(&[
                "/healthz",
                "/metrics",
                "/metrics/slis",
                "/api",
                "/apis",
                "/apis/kubevirt.io",
                "/logs/x",
                "",
            ])
            .to_owned(),
        verb: rng
            .pick(&[
                "get", "get", "post", "put", "delete", "head", "options", "patch", "list",
            ])
            .to_owned(),
    }
}

/// Requests aimed at the narrower policies, so that each of them decides some requests:
/// `(user or "" for a random one, verb, group, resource, namespace, name, subresource)`.
const AIMED: &[(&str, &str, &str, &str, &str, &str, &str)] = &[
    (
        "system:serviceaccount:tenant-a:runner",
        "get",
        "",
        "secrets",
        "tenant-a",
        "db",
        "",
    ),
    (
        "system:serviceaccount:tenant-b:runner",
        "list",
        "",
        "secrets",
        "tenant-a",
        "",
        "",
    ),
    ("", "list", "", "namespaces", "", "", ""),
    (
        "",
        "get",
        "kubevirt.io",
        "virtualmachines",
        "prod",
        "vm1",
        "",
    ),
    ("", "get", "", "configmaps", "tenant-a", "db", ""),
    ("", "list", "", "secrets", "default", "", ""),
    ("system:node:worker1", "list", "", "pods", "", "", ""),
    ("system:node:worker2", "get", "", "nodes", "", "worker2", ""),
    (
        "system:node:worker1",
        "patch",
        "",
        "nodes",
        "",
        "worker1",
        "status",
    ),
    (
        "sam",
        "impersonate",
        "",
        "users",
        "",
        "system:node:worker1",
        "",
    ),
    (
        "sam",
        "impersonate",
        "",
        "users",
        "",
        "system:node:master",
        "",
    ),
    (
        "",
        "create",
        "kubevirt.io",
        "virtualmachineinstancemigrations",
        "prod",
        "",
        "",
    ),
    (
        "",
        "get",
        "subresources.kubevirt.io",
        "virtualmachineinstances",
        "prod",
        "vm1",
        "vnc",
    ),
    (
        "",
        "get",
        "subresources.kubevirt.io",
        "virtualmachineinstances",
        "prod",
        "vm1",
        "console",
    ),
    (
        "",
        "update",
        "apps",
        "deployments",
        "staging",
        "web",
        "scale",
    ),
    ("alice", "list", "", "configmaps", "default", "", ""),
];

fn aimed(rng: &mut Rng, req: &mut Request) {
    let (user, verb, group, resource, namespace, name, subresource) = AIMED[rng.below(AIMED.len())];
    if !user.is_empty() {
        req.user = user.to_owned();
        if rng.chance(50) {
            req.uid.clear();
        }
    }
    let label_selector = match (resource, verb) {
        ("secrets", _) => Some(SelectorRequirement {
            key: "audited".to_owned(),
            operator: rng.pick(&["NotIn", "In"]).to_owned(),
            values: vec![rng.pick(&["true", "false"]).to_owned()],
        }),
        ("configmaps", "list") => Some(SelectorRequirement {
            key: "owner".to_owned(),
            operator: rng.pick(&["NotIn", "In"]).to_owned(),
            values: vec![rng.pick(&["alice", "nobody"]).to_owned()],
        }),
        _ => None,
    }
    .map(|r| SelectorAttributes {
        raw_selector: String::new(),
        requirements: vec![r],
    });
    let field_selector = (resource == "pods").then(|| SelectorAttributes {
        raw_selector: String::new(),
        requirements: vec![SelectorRequirement {
            key: "spec.nodeName".to_owned(),
            operator: "In".to_owned(),
            values: vec![rng.pick(&["worker1", "worker2"]).to_owned()],
        }],
    });
    if resource == "configmaps" && rng.chance(50) {
        req.extra.insert(
            rng.pick(&["team", "Team"]).to_owned(),
            vec!["blue".to_owned()],
        );
    }
    req.non_resource_attributes = None;
    req.resource_attributes = Some(ResourceAttributes {
        namespace: namespace.to_owned(),
        verb: verb.to_owned(),
        group: group.to_owned(),
        version: "v1".to_owned(),
        resource: resource.to_owned(),
        subresource: subresource.to_owned(),
        name: name.to_owned(),
        field_selector,
        label_selector,
    });
}

fn request(rng: &mut Rng) -> Request {
    let mut req = random_request(rng);
    if rng.chance(15) {
        aimed(rng, &mut req);
    }
    req
}

fn random_request(rng: &mut Rng) -> Request {
    let user = user(rng);
    let uid = match rng.below(10) {
        0..=5 => String::new(),
        6 => "uid-42".to_owned(),
        7 => "alice".to_owned(),
        8 => user.clone(),
        _ => format!("u-{}", rng.below(1000)),
    };
    let groups = rng.subset(
        &[
            "developers",
            "sre",
            "system:authenticated",
            "system:authenticated",
            "system:masters",
            "system:nodes",
            "tenant-a",
            "Developers",
        ],
        20,
    );
    let mut extra = BTreeMap::new();
    if rng.chance(25) {
        for _ in 0..1 + rng.below(2) {
            let key = rng.pick(&["scopes", "Scopes", "SCOPES", "team"]).to_owned();
            let values = rng.subset(&["read-only", "view", "blue", "admin"], 40);
            extra.insert(key, values);
        }
    }
    let (resource_attributes, non_resource_attributes) = match rng.below(20) {
        0..=11 => (Some(resource_attributes(rng)), None),
        12..=14 => (Some(impersonation(rng)), None),
        15..=18 => (None, Some(non_resource(rng))),
        _ => {
            if rng.chance(50) {
                (Some(resource_attributes(rng)), Some(non_resource(rng)))
            } else {
                (None, None)
            }
        }
    };
    Request {
        user,
        groups,
        uid,
        extra,
        resource_attributes,
        non_resource_attributes,
    }
}

/// Cedar's view of one request: raw decision, determining and erroring policy ids.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    allow: bool,
    reason: BTreeSet<String>,
    errors: BTreeSet<String>,
}

fn ours(set: &PolicySet, req: &Request) -> (Outcome, Decision) {
    let eval = set.decide(req);
    let errors = eval
        .errors
        .iter()
        .map(|e| {
            // `source:line: policy <id>: message`
            e.split_once(": policy ")
                .and_then(|(_, rest)| rest.split_once(": "))
                .map_or_else(|| format!("unparsed error {e}"), |(id, _)| id.to_owned())
        })
        .collect();
    (
        Outcome {
            allow: matches!(eval.decision, Decision::Allow { .. }),
            reason: eval.matched.iter().map(|p| p.id.clone()).collect(),
            errors,
        },
        eval.decision,
    )
}

fn theirs(v: &Value) -> Result<Outcome, String> {
    if let Some(f) = v.get("failure") {
        return Err(format!("cedar-wasm failed: {f}"));
    }
    let ids = |k: &str| -> BTreeSet<String> {
        v[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(Outcome {
        allow: v["decision"] == "allow",
        reason: ids("reason"),
        errors: ids("errors"),
    })
}

fn scratch() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "virtguard-differential-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

#[test]
fn cedar_wasm_agrees() {
    let modules = match std::env::var("VIRTGUARD_CEDAR_WASM") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ if std::env::var("VIRTGUARD_SKIP_DIFFERENTIAL").as_deref() == Ok("1") => {
            eprintln!("note: differential check SKIPPED (VIRTGUARD_SKIP_DIFFERENTIAL=1)");
            return;
        }
        _ => panic!("VIRTGUARD_CEDAR_WASM is not set: {INSTALL}"),
    };
    let package = modules.join("@cedar-policy/cedar-wasm/nodejs");
    assert!(
        package.is_dir(),
        "VIRTGUARD_CEDAR_WASM={}: no {} there: {INSTALL}",
        modules.display(),
        package.display()
    );

    let seed = env_number("VIRTGUARD_DIFFERENTIAL_SEED", 0x7669_7274_6775_6172);
    let count = env_number("VIRTGUARD_DIFFERENTIAL_REQUESTS", 4000) as usize;
    let policies = policies();
    let text: String = policies.iter().map(|(_, t)| t.as_str()).collect();
    let set = PolicySet::from_sources(&[("differential.cedar".to_owned(), text)])
        .unwrap_or_else(|e| panic!("differential policies do not load:\n{e}"));
    let loaded: Vec<&str> = set
        .policies()
        .iter()
        .map(|p| p.policy.id.as_str())
        .collect();
    let want: Vec<&str> = policies.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(loaded, want);

    let mut rng = Rng(seed);
    let requests: Vec<Request> = (0..count).map(|_| request(&mut rng)).collect();
    let cedar_requests: Vec<Value> = requests
        .iter()
        .map(|r| cedar_request_json(r).unwrap_or_else(|e| panic!("{r:?} does not map: {e}")))
        .collect();
    let input = json!({
        "policies": policies.iter().map(|(id, t)| (id.clone(), Value::String(t.clone()))).collect::<serde_json::Map<_, _>>(),
        "requests": cedar_requests,
    });
    let dir = scratch();
    let input_path = dir.join("input.json");
    let output_path = dir.join("output.json");
    std::fs::write(&input_path, input.to_string()).expect("write input.json");

    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential/cedar-wasm.js");
    let node = std::env::var("VIRTGUARD_NODE").unwrap_or_else(|_| "node".to_owned());
    let run = Command::new(&node)
        .arg(&driver)
        .arg(&modules)
        .arg(&input_path)
        .arg(&output_path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{node}` (Node.js): {e}; {INSTALL}"));
    assert!(
        run.status.success(),
        "{} failed ({}):\n{}{}",
        driver.display(),
        run.status,
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    eprint!("{}", String::from_utf8_lossy(&run.stdout));
    let output: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&output_path).expect("read output.json"))
            .expect("output.json parses");
    assert_eq!(output.len(), requests.len(), "one answer per request");

    let mut disagreements = Vec::new();
    let (mut allow, mut deny, mut no_opinion, mut errored) = (0, 0, 0, 0);
    let mut matched: BTreeMap<&str, usize> = want.iter().map(|id| (*id, 0)).collect();
    for (i, (req, answer)) in requests.iter().zip(&output).enumerate() {
        let (ours, decision) = ours(&set, req);
        match decision {
            Decision::Allow { .. } => allow += 1,
            Decision::Deny { .. } => deny += 1,
            Decision::NoOpinion => no_opinion += 1,
        }
        if !ours.errors.is_empty() {
            errored += 1;
        }
        // A policy is exercised when it determines a decision or errors.
        for id in ours.reason.iter().chain(&ours.errors) {
            if let Some(n) = matched.get_mut(id.as_str()) {
                *n += 1;
            }
        }
        let theirs = theirs(answer);
        if theirs.as_ref() != Ok(&ours) {
            disagreements.push(format!(
                "request {i}: virtguard {ours:?}, cedar-wasm {theirs:?}\n  SAR spec: {}\n  Cedar: {}",
                serde_json::to_string(req).unwrap_or_default(),
                cedar_requests[i]
            ));
        }
    }
    eprintln!(
        "differential: {count} requests (seed {seed:#x}), {} policies: allow {allow}, deny {deny}, \
         no opinion {no_opinion}, with evaluation errors {errored}; {} disagreement(s)",
        policies.len(),
        disagreements.len()
    );
    eprintln!("determining matches per policy: {matched:?}");
    assert!(
        disagreements.is_empty(),
        "{} of {count} requests disagree (input kept in {}):\n{}",
        disagreements.len(),
        dir.display(),
        disagreements
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
    // The generator must exercise every policy and every outcome, or the check proves little.
    let unused: Vec<&&str> = matched
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(id, _)| id)
        .collect();
    assert!(
        unused.is_empty() || count < 1000,
        "policies never determining a decision nor erroring: {unused:?}"
    );
    assert!(
        count < 1000 || (allow > count / 20 && deny > count / 20 && no_opinion > count / 20),
        "unbalanced outcomes: allow {allow}, deny {deny}, no opinion {no_opinion}"
    );
}
