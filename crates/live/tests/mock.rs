//! The live reader against a loopback API server that answers with recorded kube-apiserver
//! responses (`tests/data/recorded/`, sources in its README): discovery, paged lists with
//! `continue`, an expired token (410), a 403 on one kind, 429 and 5xx retries, and bad
//! kubeconfigs and unreachable servers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use virtguard_live::{connect, LiveError, Options, Scope, Target};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/recorded");

fn recorded(name: &str) -> String {
    std::fs::read_to_string(format!("{DATA}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// What the mock answers: (status, body, Retry-After) for a path and query, given how many times
/// that path was asked before.
type Answer = (u16, String, Option<u64>);
type Script = dyn Fn(&str, &str, usize) -> Option<Answer> + Send + Sync;

struct Mock {
    script: Box<Script>,
    asked: Mutex<HashMap<String, usize>>,
    log: Mutex<Vec<String>>,
}

async fn handle(State(m): State<Arc<Mock>>, uri: Uri) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let n = {
        let mut asked = m.asked.lock().expect("lock");
        let e = asked.entry(path.clone()).or_default();
        *e += 1;
        *e - 1
    };
    m.log.lock().expect("lock").push(format!("{path}?{query}"));
    let answer = (m.script)(&path, &query, n).or_else(|| default_answer(&path));
    match answer {
        Some((code, body, retry)) => {
            let mut r = (
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                body,
            )
                .into_response();
            if let Some(s) = retry {
                r.headers_mut()
                    .insert("retry-after", s.to_string().parse().expect("header"));
            }
            r
        }
        None => (StatusCode::NOT_FOUND, recorded("notfound-group.txt")).into_response(),
    }
}

/// Discovery from the recordings; every list empty.
fn default_answer(path: &str) -> Option<Answer> {
    let ok = |name: &str| Some((200, recorded(name), None));
    match path {
        "/api" => ok("api.json"),
        "/api/v1" => ok("api-v1.json"),
        "/apis" => ok("apis.json"),
        "/apis/rbac.authorization.k8s.io/v1" => ok("apis-rbac-v1.json"),
        "/apis/kubevirt.io/v1" => ok("apis-kubevirt-v1.json"),
        "/apis/apps/v1" => ok("apis-apps-v1.json"),
        p if p.matches('/').count() >= 3 && !p.ends_with("/v1") => Some((
            200,
            r#"{"kind":"List","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}"#
                .into(),
            None,
        )),
        _ => None,
    }
}

struct Server {
    mock: Arc<Mock>,
    kubeconfig: tempfile::NamedTempFile,
}

async fn serve(
    script: impl Fn(&str, &str, usize) -> Option<Answer> + Send + Sync + 'static,
) -> Server {
    let mock = Arc::new(Mock {
        script: Box::new(script),
        asked: Mutex::default(),
        log: Mutex::default(),
    });
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let kubeconfig = write_kubeconfig(&format!("http://{addr}"));
    Server { mock, kubeconfig }
}

fn write_kubeconfig(server: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().expect("tempfile");
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: mock\nclusters:\n- name: mock\n  cluster:\n    server: {server}\ncontexts:\n- name: mock\n  context:\n    cluster: mock\n    user: mock\nusers:\n- name: mock\n  user:\n    token: t0ken\n"
    );
    std::fs::write(f.path(), text).expect("write kubeconfig");
    f
}

fn target(s: &Server) -> Target {
    Target {
        kubeconfig: Some(s.kubeconfig.path().to_path_buf()),
        context: None,
    }
}

fn quick() -> Options {
    Options {
        max_backoff: Duration::from_millis(5),
        ..Options::default()
    }
}

/// Reads the mock with the quick options.
async fn read_all(s: &Server) -> virtguard_live::Read {
    connect(&target(s))
        .await
        .expect("connect")
        .read(&quick(), &())
        .await
        .expect("read")
}

/// The list of one kind.
fn listed<'r>(read: &'r virtguard_live::Read, kind: &str) -> &'r virtguard_live::Listed {
    read.lists
        .iter()
        .find(|l| l.kind.kind == kind)
        .unwrap_or_else(|| panic!("{kind} not listed"))
}

const CRB: &str = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";

/// Both pages of the recorded ClusterRoleBinding list: the first without a token, the second
/// for the first page's token.
fn crb_pages(path: &str, query: &str) -> Option<Answer> {
    (path == CRB).then(|| {
        if query.contains("continue=") {
            (200, recorded("clusterrolebindings-page2.json"), None)
        } else {
            (200, recorded("clusterrolebindings-page1.json"), None)
        }
    })
}

fn names(doc: &str) -> Vec<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(doc).expect("List JSON");
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap_or("").to_string(),
                i["metadata"]["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn pages_follow_continue_tokens_and_items_get_kinds() {
    let s = serve(|p, q, _| crb_pages(p, q)).await;
    let cluster = connect(&target(&s)).await.expect("connect");
    assert_eq!(cluster.context, "mock");
    let read = cluster.read(&quick(), &()).await.expect("read");
    assert!(!read.partial, "{:?}", read.warnings);
    assert!(read.warnings.is_empty(), "{:?}", read.warnings);
    let crb = listed(&read, "ClusterRoleBinding");
    assert_eq!(crb.items, 3);
    assert_eq!(crb.api_version, "rbac.authorization.k8s.io/v1");
    assert_eq!(
        names(&crb.document),
        [
            ("ClusterRoleBinding".into(), "cluster-admin".into()),
            ("ClusterRoleBinding".into(), "kubevirt.io:default".into()),
            ("ClusterRoleBinding".into(), "system:basic-user".into())
        ]
    );
    let log = s.mock.log.lock().expect("lock").clone();
    let pages: Vec<_> = log.iter().filter(|l| l.starts_with(CRB)).collect();
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert!(pages[0].contains("limit=500") && !pages[0].contains("continue"));
    assert!(pages[1].contains("continue=eyJ2Ijoi"), "{}", pages[1]);
    // The virt-operator Deployment is asked for by name only.
    assert!(log
        .iter()
        .any(|l| l.starts_with("/apis/apps/v1/deployments?")
            && l.contains("fieldSelector=metadata.name%3Dvirt-operator")));
    // What was read loads as a snapshot (the JSON fast path), objects typed.
    let texts = read
        .lists
        .iter()
        .map(|l| {
            (
                Arc::<str>::from(l.kind.qualified()),
                l.document.clone(),
                virtguard_snapshot::Format::Json,
            )
        })
        .collect();
    let snap = virtguard_snapshot::from_texts(texts, &Default::default()).expect("loads");
    assert_eq!(snap.bindings().len(), 3);
}

#[tokio::test]
async fn audit_scope_reads_install_namespace_kinds_there() {
    let s = serve(|p, _, _| {
        (p == "/apis/kubevirt.io/v1/kubevirts").then(|| {
            (200, r#"{"kind":"KubeVirtList","apiVersion":"kubevirt.io/v1","metadata":{},"items":[{"metadata":{"name":"kubevirt","namespace":"openshift-cnv"}}]}"#.to_string(), None)
        })
    })
    .await;
    let cluster = connect(&target(&s)).await.expect("connect");
    let read = cluster
        .read(
            &Options {
                scope: Scope::Audit,
                ..quick()
            },
            &(),
        )
        .await
        .expect("read");
    let log = s.mock.log.lock().expect("lock").clone();
    assert!(
        log.iter()
            .any(|l| l.starts_with("/api/v1/namespaces/openshift-cnv/secrets?")),
        "{log:?}"
    );
    assert!(log
        .iter()
        .any(|l| l.starts_with("/api/v1/namespaces/openshift-cnv/configmaps?")));
    assert!(log.iter().any(|l| l.starts_with("/api/v1/pods?")
        && l.contains("labelSelector=kubevirt.io%3Dvirt-launcher")));
    // Optional kinds the recorded server lacks (SCCs, templates, pools) are skipped silently.
    assert!(!log.iter().any(|l| l.contains("securitycontextconstraints")));
    assert!(read.warnings.is_empty(), "{:?}", read.warnings);
    let kv = read
        .lists
        .iter()
        .find(|l| l.kind.kind == "KubeVirt")
        .expect("KubeVirt");
    assert_eq!(
        names(&kv.document),
        [("KubeVirt".into(), "kubevirt".into())]
    );
}

#[tokio::test]
async fn an_expired_continue_token_falls_back_to_one_full_list() {
    let s = serve(|p, q, _| {
        if p != CRB {
            return None;
        }
        if q.contains("continue=") {
            return Some((410, recorded("status-410-expired.json"), None));
        }
        if q.contains("limit=") {
            return crb_pages(p, q);
        }
        // The full list: both pages' items in one.
        let mut all: serde_json::Value =
            serde_json::from_str(&recorded("clusterrolebindings-page1.json")).ok()?;
        let two: serde_json::Value =
            serde_json::from_str(&recorded("clusterrolebindings-page2.json")).ok()?;
        let extra = two["items"].as_array()?.clone();
        all["items"].as_array_mut()?.extend(extra);
        all["metadata"] = serde_json::json!({"resourceVersion": "48300"});
        Some((200, all.to_string(), None))
    })
    .await;
    let read = read_all(&s).await;
    let crb = listed(&read, "ClusterRoleBinding");
    assert_eq!(
        crb.items, 3,
        "items of the expired first page must not be kept twice"
    );
    let log = s.mock.log.lock().expect("lock").clone();
    let last = log.iter().rfind(|l| l.starts_with(CRB)).expect("asked");
    assert!(
        !last.contains("limit=") && !last.contains("continue="),
        "{last}"
    );
}

#[tokio::test]
async fn a_forbidden_kind_is_a_warning_and_the_read_is_partial() {
    let s = serve(|p, _, _| {
        (p == "/apis/rbac.authorization.k8s.io/v1/roles").then(|| {
            let body = recorded("status-403-list-secrets.json")
                .replace(
                    "secrets is forbidden",
                    "roles.rbac.authorization.k8s.io is forbidden",
                )
                .replace(
                    "\\\"secrets\\\" in API group \\\"\\\"",
                    "\\\"roles\\\" in API group \\\"rbac.authorization.k8s.io\\\"",
                );
            (403, body, None)
        })
    })
    .await;
    let read = read_all(&s).await;
    assert!(read.partial);
    assert_eq!(read.warnings.len(), 1, "{:?}", read.warnings);
    let w = &read.warnings[0];
    assert!(
        w.starts_with("cannot list roles.rbac.authorization.k8s.io (403 Forbidden: "),
        "{w}"
    );
    assert!(w.contains("cannot list resource \"roles\""), "{w}");
    assert!(!read.lists.iter().any(|l| l.kind.kind == "Role"));
    assert!(read.lists.iter().any(|l| l.kind.kind == "RoleBinding"));
}

#[tokio::test]
async fn too_many_requests_and_server_errors_are_retried() {
    let s = serve(|p, q, n| {
        if p != CRB {
            return None;
        }
        match n {
            0 => Some((429, recorded("toomanyrequests-apf.txt"), Some(0))),
            1 => Some((429, recorded("status-429.json"), None)),
            2 => Some((503, "{}".into(), None)),
            _ => crb_pages(p, q),
        }
    })
    .await;
    let read = read_all(&s).await;
    let crb = listed(&read, "ClusterRoleBinding");
    assert_eq!(crb.items, 3);
    assert_eq!(s.mock.asked.lock().expect("lock")[CRB], 5);
}

#[tokio::test]
async fn retries_run_out_into_one_clear_error() {
    let s = serve(|p, _, _| {
        (p == CRB).then(|| {
            (
                500,
                r#"{"kind":"Status","message":"etcdserver: request timed out","code":500}"#.into(),
                None,
            )
        })
    })
    .await;
    let err = connect(&target(&s))
        .await
        .expect("connect")
        .read(
            &Options {
                retries: 2,
                ..quick()
            },
            &(),
        )
        .await
        .expect_err("must fail");
    let msg = err.to_string();
    assert!(matches!(err, LiveError::Api { .. }), "{msg}");
    assert!(
        msg.contains("500 Internal Server Error")
            && msg.contains("etcdserver: request timed out")
            && msg.contains("clusterrolebindings"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
    assert_eq!(s.mock.asked.lock().expect("lock")[CRB], 3);
}

#[tokio::test]
async fn an_unreachable_server_is_one_line_naming_it() {
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let kc = write_kubeconfig(&format!("http://127.0.0.1:{port}"));
    let cluster = connect(&Target {
        kubeconfig: Some(kc.path().into()),
        context: None,
    })
    .await
    .expect("config is fine");
    let err = cluster
        .read(&quick(), &())
        .await
        .expect_err("nothing listens");
    let msg = err.to_string();
    assert!(matches!(err, LiveError::Connect { .. }), "{msg}");
    assert!(
        msg.starts_with(&format!(
            "cannot reach the API server http://127.0.0.1:{port}: "
        )),
        "{msg}"
    );
    assert!(msg.to_lowercase().contains("refused"), "{msg}");
}

#[tokio::test]
async fn bad_kubeconfigs_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().expect("dir");
    let cases = [
        ("garbage.yaml", "clusters: [unclosed\n", ""),
        (
            "nocontext.yaml",
            "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n",
            "",
        ),
    ];
    for (name, text, _) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        let err = match connect(&Target {
            kubeconfig: Some(p.clone()),
            context: None,
        })
        .await
        {
            Ok(_) => panic!("{name} accepted"),
            Err(e) => e,
        };
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("kubeconfig {}: ", p.display())),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "{msg}");
    }
    let missing = dir.path().join("missing");
    let err = connect(&Target {
        kubeconfig: Some(missing.clone()),
        context: None,
    })
    .await
    .err()
    .expect("missing file");
    assert!(err.to_string().contains("missing"), "{err}");
    // A context the file does not have.
    let s = serve(|_, _, _| None).await;
    let err = connect(&Target {
        kubeconfig: Some(s.kubeconfig.path().into()),
        context: Some("prod".into()),
    })
    .await
    .err()
    .expect("unknown context");
    assert!(err.to_string().contains("prod"), "{err}");
}
