//! The pipeline end to end without sockets: each test names the kube-apiserver behaviour it
//! covers.

use super::*;
use crate::store::tests::loaded;
use crate::store::Store;
use http::{HeaderName, HeaderValue};
use serde_json::Value;

const CLUSTER: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: vm-viewer}
rules:
- apiGroups: [kubevirt.io]
  resources: [virtualmachines]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: basic}
rules:
- nonResourceURLs: ["/api", "/api/*", "/apis", "/apis/*"]
  verbs: [get]
- apiGroups: [authorization.k8s.io]
  resources: [selfsubjectaccessreviews, selfsubjectrulesreviews]
  verbs: [create]
- apiGroups: [authentication.k8s.io]
  resources: [selfsubjectreviews]
  verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: basic-for-all}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: basic}
subjects:
- {kind: Group, name: system:authenticated, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-views, namespace: prod}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: vm-viewer}
subjects:
- {kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: impersonator}
rules:
- apiGroups: [""]
  resources: [users]
  verbs: [impersonate]
  resourceNames: [alice]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ops-impersonates}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: impersonator}
subjects:
- {kind: User, name: ops, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: db, namespace: prod, labels: {app: db}, creationTimestamp: "2026-01-01T00:00:00Z"}
spec: {running: true}
---
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: web, namespace: prod, labels: {app: web}}
spec: {running: true}
---
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: other, namespace: dev}
spec: {running: false}
"#;

fn store() -> Store {
    Store::new(loaded(CLUSTER))
}

fn now() -> OffsetDateTime {
    time::macros::datetime!(2026-01-02 00:00:00 UTC)
}

struct Call<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: Vec<u8>,
}

fn get(path: &str) -> Call<'_> {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    Call {
        method: "GET",
        path,
        query,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

impl<'a> Call<'a> {
    fn header(mut self, k: &'a str, v: &'a str) -> Self {
        self.headers.push((k, v));
        self
    }

    fn run(&self, store: &Store, who: &UserInfo) -> Handled {
        let mut h = HeaderMap::new();
        for (k, v) in &self.headers {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let req = ApiRequest {
            method: self.method,
            path: self.path,
            query: self.query,
            headers: &h,
            body: &self.body,
        };
        handle(store, who, &req, now())
    }

    fn reply(&self, store: &Store, who: &UserInfo) -> Reply {
        match self.run(store, who) {
            Handled::Reply(r) => r,
            Handled::Watch(_) => panic!("unexpected watch"),
        }
    }
}

fn user(name: &str) -> UserInfo {
    UserInfo::from_certificate(name, &[])
}

fn root() -> UserInfo {
    UserInfo::from_certificate("root", &["system:masters".into()])
}

fn json(r: &Reply) -> Value {
    r.body_json().expect("JSON body")
}

#[test]
fn health_and_version_are_served_to_anyone() {
    let s = store();
    for p in ["/healthz", "/livez", "/readyz", "/readyz/ping"] {
        let r = get(p).reply(&s, &UserInfo::anonymous());
        assert_eq!((r.code, r.body.as_slice()), (200, &b"ok"[..]), "{p}");
    }
    let r = get("/version").reply(&s, &UserInfo::anonymous());
    assert_eq!(json(&r)["major"], "1");
}

#[test]
fn discovery_is_authorized_like_any_path() {
    let s = store();
    let r = get("/apis").reply(&s, &UserInfo::anonymous());
    assert_eq!(r.code, 403);
    assert_eq!(
        json(&r)["message"],
        "forbidden: User \"system:anonymous\" cannot get path \"/apis\""
    );
    let r = get("/apis").reply(&s, &user("alice"));
    assert_eq!(r.code, 200);
    assert_eq!(json(&r)["kind"], "APIGroupList");
    let r = get("/apis/kubevirt.io/v1").reply(&s, &user("alice"));
    assert_eq!(json(&r)["groupVersion"], "kubevirt.io/v1");
    assert_eq!(get("/api").reply(&s, &root()).code, 200);
    assert_eq!(get("/apis/kubevirt.io").reply(&s, &root()).code, 200);
    assert_eq!(get("/apis/nope.io/v1").reply(&s, &root()).code, 404);
}

#[test]
fn aggregated_discovery_when_asked_legacy_otherwise() {
    let s = store();
    let r = get("/apis")
        .header(
            "Accept",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
        )
        .reply(&s, &root());
    assert_eq!(r.content_type, crate::discovery::AGGREGATED_V2);
    assert_eq!(json(&r)["kind"], "APIGroupDiscoveryList");
    let r = get("/api")
        .header("Accept", "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
        .reply(&s, &root());
    assert_eq!(
        r.content_type, "application/json",
        "only v2 is served aggregated"
    );
    assert_eq!(json(&r)["kind"], "APIVersions");
    let r = get("/apis")
        .header("Accept", "application/json")
        .reply(&s, &root());
    assert_eq!(json(&r)["kind"], "APIGroupList");
}

#[test]
fn list_is_authorized_and_forbidden_in_kube_apiserver_words() {
    let s = store();
    let r = get("/apis/kubevirt.io/v1/namespaces/prod/virtualmachines").reply(&s, &user("alice"));
    assert_eq!(r.code, 200);
    let v = json(&r);
    assert_eq!(v["kind"], "VirtualMachineList");
    assert_eq!(v["metadata"]["resourceVersion"], "1");
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    let r = get("/apis/kubevirt.io/v1/namespaces/dev/virtualmachines").reply(&s, &user("alice"));
    assert_eq!(r.code, 403);
    assert_eq!(
        json(&r)["message"],
        "virtualmachines.kubevirt.io is forbidden: User \"alice\" cannot list resource \"virtualmachines\" in API group \"kubevirt.io\" in the namespace \"dev\""
    );
    let r = get("/apis/kubevirt.io/v1/virtualmachines").reply(&s, &user("alice"));
    assert!(json(&r)["message"]
        .as_str()
        .unwrap()
        .ends_with("at the cluster scope"));
    let r = get("/apis/kubevirt.io/v1/virtualmachines").reply(&s, &root());
    assert_eq!(json(&r)["items"].as_array().unwrap().len(), 3);
}

#[test]
fn get_selectors_and_tables() {
    let s = store();
    let r =
        get("/apis/kubevirt.io/v1/namespaces/prod/virtualmachines/db").reply(&s, &user("alice"));
    assert_eq!(json(&r)["metadata"]["name"], "db");
    let r =
        get("/apis/kubevirt.io/v1/namespaces/prod/virtualmachines/nope").reply(&s, &user("alice"));
    assert_eq!(r.code, 404);
    assert_eq!(
        json(&r)["message"],
        "virtualmachines.kubevirt.io \"nope\" not found"
    );
    let r = get("/apis/kubevirt.io/v1/namespaces/prod/virtualmachines?labelSelector=app%3Dweb")
        .reply(&s, &user("alice"));
    assert_eq!(json(&r)["items"][0]["metadata"]["name"], "web");
    let r = get("/apis/kubevirt.io/v1/virtualmachines?fieldSelector=metadata.namespace%3Ddev")
        .reply(&s, &root());
    assert_eq!(json(&r)["items"][0]["metadata"]["name"], "other");
    let r = get("/apis/kubevirt.io/v1/virtualmachines?fieldSelector=spec.running%3Dtrue")
        .reply(&s, &root());
    assert_eq!(r.code, 400);
    let r = get("/apis/kubevirt.io/v1/virtualmachines?labelSelector=app+in+(").reply(&s, &root());
    assert_eq!(
        (r.code, json(&r)["reason"].as_str()),
        (400, Some("BadRequest"))
    );
    let r = get("/apis/kubevirt.io/v1/namespaces/prod/virtualmachines")
        .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")
        .reply(&s, &user("alice"));
    let t = json(&r);
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["rows"][0]["cells"], serde_json::json!(["db", "24h"]));
    let r = get("/apis/kubevirt.io/v1/namespaces/prod/virtualmachines?limit=1")
        .reply(&s, &user("alice"));
    let v = json(&r);
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    assert!(v["metadata"]["continue"].is_string());
}

#[test]
fn a_name_field_selector_is_authorized_by_resource_name() {
    let yaml = format!("{CLUSTER}---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: one-vm}}\nrules:\n- apiGroups: [kubevirt.io]\n  resources: [virtualmachines]\n  resourceNames: [db]\n  verbs: [list]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: carol-one}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: one-vm}}\nsubjects:\n- {{kind: User, name: carol}}\n");
    let s = Store::new(loaded(&yaml));
    let r = get(
        "/apis/kubevirt.io/v1/namespaces/prod/virtualmachines?fieldSelector=metadata.name%3Ddb",
    )
    .reply(&s, &user("carol"));
    assert_eq!(r.code, 200, "{:?}", json(&r));
    assert_eq!(json(&r)["items"].as_array().unwrap().len(), 1);
    let r = get("/apis/kubevirt.io/v1/namespaces/prod/virtualmachines").reply(&s, &user("carol"));
    assert_eq!(r.code, 403);
}

#[test]
fn unknown_paths_writes_and_sizes() {
    let s = store();
    assert_eq!(
        get("/apis/example.com/v1/widgets").reply(&s, &root()).code,
        404
    );
    assert_eq!(get("/nonsense").reply(&s, &root()).code, 404);
    let r = get("/nonsense").reply(&s, &UserInfo::anonymous());
    assert_eq!(
        r.code, 403,
        "unknown paths are authorized first, as kube-apiserver does"
    );
    let mut post = get("/apis/kubevirt.io/v1/namespaces/prod/virtualmachines");
    post.method = "POST";
    post.body = b"{}".to_vec();
    let r = post.reply(&s, &root());
    assert_eq!(
        (r.code, json(&r)["reason"].as_str()),
        (405, Some("MethodNotAllowed"))
    );
    let mut del = get("/apis/kubevirt.io/v1/namespaces/prod/virtualmachines/db");
    del.method = "DELETE";
    assert_eq!(del.reply(&s, &user("alice")).code, 403);
    let mut big = get("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews");
    big.method = "POST";
    big.body = vec![b' '; MAX_BODY_BYTES + 1];
    let r = big.reply(&s, &root());
    assert_eq!(
        (r.code, json(&r)["reason"].as_str()),
        (413, Some("RequestEntityTooLarge"))
    );
    assert_eq!(
        get("/api/v1/namespaces/prod/nodes").reply(&s, &root()).code,
        404
    );
    let r = get("/apis/kubevirt.io/v1/namespaces/prod/virtualmachines/db/start").reply(&s, &root());
    assert_eq!(r.code, 405);
}

fn post<'a>(path: &'a str, body: &str) -> Call<'a> {
    Call {
        method: "POST",
        path,
        query: "",
        headers: vec![("Content-Type", "application/json")],
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn reviews_through_the_pipeline() {
    let s = store();
    let ssar = post(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        r#"{"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1","spec":{"resourceAttributes":{"namespace":"prod","verb":"list","group":"kubevirt.io","resource":"virtualmachines"}}}"#,
    );
    assert_eq!(ssar.reply(&s, &UserInfo::anonymous()).code, 403);
    let r = ssar
        .clone_as("Impersonate-User", "alice")
        .reply(&s, &root());
    assert_eq!(r.code, 201);
    assert_eq!(json(&r)["status"]["allowed"], true);
    let bad = post(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        "{nope",
    );
    let r = bad.reply(&s, &root());
    assert_eq!((r.code, json(&r)["kind"].as_str()), (400, Some("Status")));
    let mut yaml = post(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        "spec: {}",
    );
    yaml.headers = vec![("Content-Type", "application/yaml")];
    assert_eq!(yaml.reply(&s, &root()).code, 415);
    let mut proto = post(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        "not protobuf",
    );
    proto.headers = vec![("Content-Type", "application/vnd.kubernetes.protobuf")];
    assert_eq!(proto.reply(&s, &root()).code, 400);
    let whoami = post(
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        r#"{"kind":"SelfSubjectReview","apiVersion":"authentication.k8s.io/v1"}"#,
    );
    let r = whoami
        .clone_as("Impersonate-User", "alice")
        .reply(&s, &root());
    assert_eq!(json(&r)["status"]["userInfo"]["username"], "alice");
    assert_eq!(
        json(&r)["status"]["userInfo"]["groups"],
        serde_json::json!(["system:authenticated"])
    );
    let lsar = post(
        "/apis/authorization.k8s.io/v1/namespaces/prod/localsubjectaccessreviews",
        r#"{"spec":{"user":"alice","resourceAttributes":{"namespace":"prod","verb":"get","group":"kubevirt.io","resource":"virtualmachines"}}}"#,
    );
    assert_eq!(json(&lsar.reply(&s, &root()))["status"]["allowed"], true);
}

impl<'a> Call<'a> {
    fn clone_as(&self, k: &'a str, v: &'a str) -> Call<'a> {
        let mut headers = self.headers.clone();
        headers.push((k, v));
        Call {
            method: self.method,
            path: self.path,
            query: self.query,
            headers,
            body: self.body.clone(),
        }
    }
}

#[test]
fn impersonation_is_checked_then_applied() {
    let s = store();
    let path = "/apis/kubevirt.io/v1/namespaces/prod/virtualmachines";
    let r = get(path)
        .header("Impersonate-User", "alice")
        .reply(&s, &user("ops"));
    assert_eq!(r.code, 200);
    let r = get(path)
        .header("Impersonate-User", "bob")
        .reply(&s, &user("ops"));
    assert_eq!(r.code, 403);
    assert_eq!(
        json(&r)["message"],
        "users \"bob\" is forbidden: User \"ops\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
    );
    let r = get(path)
        .header("Impersonate-User", "alice")
        .reply(&s, &user("alice"));
    assert_eq!(
        r.code, 403,
        "alice may not impersonate herself without the permission"
    );
}

#[test]
fn watches_start_from_the_state_or_the_version_asked() {
    let mut s = store();
    let path =
        "/apis/kubevirt.io/v1/namespaces/prod/virtualmachines?watch=1&allowWatchBookmarks=true";
    let Handled::Watch(plan) = get(path).run(&s, &user("alice")) else {
        panic!("expected a watch");
    };
    assert_eq!(plan.initial.len(), 2);
    assert!(plan.bookmarks);
    assert_eq!(plan.since, 1);
    let (kind, obj) = crate::watch::parse_line(&plan.initial[0]).unwrap();
    assert_eq!(
        (kind.as_str(), obj["metadata"]["name"].as_str()),
        ("ADDED", Some("db"))
    );
    let changed = CLUSTER.replace(
        "name: web, namespace: prod, labels: {app: web}",
        "name: web, namespace: prod, labels: {app: web2}",
    );
    s.reload(loaded(&changed));
    let Handled::Watch(plan) =
        get("/apis/kubevirt.io/v1/namespaces/prod/virtualmachines?watch=1&resourceVersion=1")
            .run(&s, &user("alice"))
    else {
        panic!("expected a watch");
    };
    assert_eq!(plan.initial.len(), 1);
    let (kind, obj) = crate::watch::parse_line(&plan.initial[0]).unwrap();
    assert_eq!(
        (kind.as_str(), obj["metadata"]["resourceVersion"].as_str()),
        ("MODIFIED", Some("2"))
    );
    // The label change moves `web` out of `app=web` and into `app=web2`.
    let Handled::Watch(sel) = get("/apis/kubevirt.io/v1/namespaces/prod/virtualmachines?watch=1&resourceVersion=1&labelSelector=app%3Dweb").run(&s, &user("alice")) else {
        panic!("expected a watch");
    };
    let (kind, _) = crate::watch::parse_line(&sel.initial[0]).unwrap();
    assert_eq!(kind, "DELETED");
    let Handled::Watch(sel) = get("/apis/kubevirt.io/v1/namespaces/prod/virtualmachines?watch=1&resourceVersion=1&labelSelector=app%3Dweb2").run(&s, &user("alice")) else {
        panic!("expected a watch");
    };
    let (kind, _) = crate::watch::parse_line(&sel.initial[0]).unwrap();
    assert_eq!(kind, "ADDED");
    let b = plan.bookmark(2, false);
    let (kind, obj) = crate::watch::parse_line(&b).unwrap();
    assert_eq!(
        (kind.as_str(), obj["kind"].as_str()),
        ("BOOKMARK", Some("VirtualMachine"))
    );
    // Alternate contents: a reload that changes nothing keeps the version.
    for i in 0..70 {
        s.reload(loaded(if i % 2 == 0 { CLUSTER } else { &changed }));
    }
    let Handled::Watch(plan) =
        get("/apis/kubevirt.io/v1/namespaces/prod/virtualmachines?watch=1&resourceVersion=1")
            .run(&s, &user("alice"))
    else {
        panic!("expected a watch");
    };
    assert!(plan.finished);
    let (kind, obj) = crate::watch::parse_line(&plan.initial[0]).unwrap();
    assert_eq!((kind.as_str(), obj["code"].as_i64()), ("ERROR", Some(410)));
    let Handled::Watch(plan) = get("/apis/kubevirt.io/v1/watch/namespaces/prod/virtualmachines/db")
        .run(&s, &user("alice"))
    else {
        panic!("expected a watch");
    };
    assert_eq!(plan.initial.len(), 1, "a watch of one named object");
    let r = get("/apis/kubevirt.io/v1/namespaces/prod/virtualmachines?watch=1")
        .reply_or_watch(&s, &user("bob"));
    assert_eq!(r, Some(403));
}

impl Call<'_> {
    fn reply_or_watch(&self, store: &Store, who: &UserInfo) -> Option<u16> {
        match self.run(store, who) {
            Handled::Reply(r) => Some(r.code),
            Handled::Watch(_) => None,
        }
    }
}

#[test]
fn table_negotiation() {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::ACCEPT,
        HeaderValue::from_static("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
    );
    assert!(wants_table(&h));
    h.insert(
        http::header::ACCEPT,
        HeaderValue::from_static("application/json"),
    );
    assert!(!wants_table(&h));
    h.insert(
        http::header::ACCEPT,
        HeaderValue::from_static(
            "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json",
        ),
    );
    assert!(!wants_table(&h));
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("api".to_string()),
            Just("apis".to_string()),
            Just("v1".to_string()),
            Just("namespaces".to_string()),
            Just("watch".to_string()),
            Just("kubevirt.io".to_string()),
            Just("virtualmachines".to_string()),
            Just("authorization.k8s.io".to_string()),
            Just("selfsubjectaccessreviews".to_string()),
            Just("prod".to_string()),
            "[a-z%.:/]{0,6}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Any path, query, method, Accept header and body gets a response (a Status on error).
        #[test]
        fn any_request_is_answered(
            segs in proptest::collection::vec(segment(), 0..7),
            query in "[a-zA-Z=&%+()!,.0-9]{0,30}",
            method in prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("DELETE"), Just("PATCH")],
            body in proptest::collection::vec(any::<u8>(), 0..64),
            proto in any::<bool>(),
            impersonate in prop_oneof![Just(""), Just("alice"), Just("system:serviceaccount:a:b"), Just("system:serviceaccount::")],
        ) {
            let s = store();
            let path = format!("/{}", segs.join("/"));
            let mut headers = vec![("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")];
            if proto {
                headers.push(("Content-Type", "application/vnd.kubernetes.protobuf"));
            }
            if !impersonate.is_empty() {
                headers.push(("Impersonate-User", impersonate));
            }
            let mut body = body;
            if proto {
                body.splice(0..0, b"k8s\0".iter().copied());
            }
            let call = Call { method, path: &path, query: &query, headers, body };
            for who in [root(), user("alice"), UserInfo::anonymous()] {
                match call.run(&s, &who) {
                    Handled::Reply(r) => {
                        prop_assert!((200..600).contains(&r.code));
                        if r.code >= 400 {
                            let v = json(&r);
                            prop_assert_eq!(&v["kind"], "Status");
                        }
                    }
                    Handled::Watch(_) => {}
                }
            }
        }
    }
}

#[test]
fn crd_printer_columns_shape_the_table() {
    let crd = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: virtualmachines.kubevirt.io}
spec:
  group: kubevirt.io
  names: {plural: virtualmachines, singular: virtualmachine, kind: VirtualMachine, shortNames: [vm, vms]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    - {name: Status, type: string, description: Human Readable Status, jsonPath: .status.printableStatus}
    - {name: Ready, type: string, jsonPath: ".status.conditions[?(@.type=='Ready')].status"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: root}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: x}
subjects: [{kind: Group, name: system:masters}]
---
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: db, namespace: prod, creationTimestamp: "2026-01-01T00:00:00Z"}
status:
  printableStatus: Running
  conditions: [{type: Ready, status: "True"}]
"#;
    let s = Store::new(loaded(crd));
    let r = get("/apis/kubevirt.io/v1/namespaces/prod/virtualmachines")
        .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .reply(&s, &root());
    let t = json(&r);
    let names: Vec<_> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["Name", "Age", "Status", "Ready"]);
    assert_eq!(
        t["rows"][0]["cells"],
        serde_json::json!(["db", "24h", "Running", "True"])
    );
}
