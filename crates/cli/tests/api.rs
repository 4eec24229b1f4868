//! `virtguard serve --api` end to end with the real `kubectl` and `curl`, on a copy of
//! `examples/cluster`: identities from `virtguard kubeconfig`, impersonation, `auth can-i`
//! (compared with the engine on the literal request kube-apiserver builds), `auth can-i --list`
//! (compared with `virtguard can-i --list`), `auth whoami`, `get` (and Forbidden), a watch that
//! sees a file edit, and bad input (400, 413, 404, 405, expired and foreign certificates → 401).
//! Loopback only, every client bounded by a timeout; skipped with a note when kubectl or curl is
//! not installed.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
use common::*;

/// Runs kubectl with a kubeconfig; returns (exit code, stdout, stderr).
fn kubectl(kc: &Path, cache: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(KUBECTL.with(|k| k.borrow().clone()))
        .arg("--kubeconfig")
        .arg(kc)
        .arg("--cache-dir")
        .arg(cache)
        .arg("--request-timeout=20s")
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("kubectl");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The engine's answer to a SubjectAccessReview, as `virtguard access-review` gives it.
fn engine_allows(snapshot: &Path, user: &str, groups: &[&str], attrs: serde_json::Value) -> bool {
    let review = serde_json::json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": groups, "resourceAttributes": attrs},
    });
    let mut child = Command::new(bin())
        .args(["access-review", "-q", "-f"])
        .arg(snapshot)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(review.to_string().as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("access-review JSON");
    v["status"]["allowed"] == true
}

#[test]
fn kubectl_against_a_snapshot() {
    let clients = kubectls();
    if clients.is_empty() {
        eprintln!("skipped: kubectl is not installed (CI installs it; see .ci/run)");
        return;
    }
    // Every kubectl version found (the machine's and CI's second one), each on a fresh server.
    for (path, version) in clients {
        eprintln!("kubectl {version} ({})", path.display());
        KUBECTL.with(|k| *k.borrow_mut() = path.clone());
        kubectl_checks();
    }
}

thread_local! {
    /// The kubectl binary the checks of this thread run.
    static KUBECTL: std::cell::RefCell<PathBuf> = std::cell::RefCell::new(PathBuf::from("kubectl"));
}

fn kubectl_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = tmp.path().join("cluster");
    copy_dir(&repo().join("examples/cluster"), &snap);
    let pki = tmp.path().join("pki");
    let cache = tmp.path().join("kube-cache");
    let server = start(tmp.path(), &snap, &pki);
    let admin = tmp.path().join("admin.kubeconfig");
    let nobody = tmp.path().join("nobody.kubeconfig");
    kubeconfig(&pki, &server, "admin", &["system:masters"], &[], &admin);
    kubeconfig(
        &pki,
        &server,
        "nobody",
        &[],
        &["--expiration", "1h"],
        &nobody,
    );

    // whoami: the certificate's identity, then the impersonated one with the added group.
    let (code, out, err) = kubectl(&admin, &cache, &["auth", "whoami", "-o", "json"]);
    assert_eq!(code, 0, "{err}\n{}", server.log());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"]["userInfo"]["username"], "admin");
    assert_eq!(
        v["status"]["userInfo"]["groups"],
        serde_json::json!(["system:masters", "system:authenticated"])
    );
    let (_, out, _) = kubectl(
        &admin,
        &cache,
        &[
            "auth",
            "whoami",
            "--as",
            "alice",
            "--as-group",
            "vm-admins",
            "-o",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"]["userInfo"]["username"], "alice");
    assert_eq!(
        v["status"]["userInfo"]["groups"],
        serde_json::json!(["vm-admins", "system:authenticated"])
    );
    let (_, out, _) = kubectl(
        &admin,
        &cache,
        &[
            "auth",
            "whoami",
            "--as",
            "system:serviceaccount:vm-dev:builder",
            "-o",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["status"]["userInfo"]["groups"],
        serde_json::json!([
            "system:serviceaccounts",
            "system:serviceaccounts:vm-dev",
            "system:authenticated"
        ])
    );

    // can-i: kubectl's answer equals the engine's on the request kubectl sends (its RESTMapper
    // resolves `vmi` to kubevirt.io; impersonation adds system:authenticated).
    let cases: &[(&[&str], &str, serde_json::Value)] = &[
        (
            &["get", "vmi", "--subresource", "vnc", "-n", "vm-prod"],
            "alice",
            serde_json::json!({"namespace": "vm-prod", "verb": "get", "group": "kubevirt.io", "resource": "virtualmachineinstances", "subresource": "vnc"}),
        ),
        // subresources.kubevirt.io lists only `resource/subresource` entries (as virt-api's
        // discovery does), so kubectl's mapper does not know the type and sends it verbatim as
        // the resource, in the core group (cani.go resourceFor).
        (
            &[
                "get",
                "virtualmachineinstances.subresources.kubevirt.io",
                "--subresource",
                "vnc",
                "-n",
                "vm-prod",
            ],
            "alice",
            serde_json::json!({"namespace": "vm-prod", "verb": "get", "group": "", "resource": "virtualmachineinstances.subresources.kubevirt.io", "subresource": "vnc"}),
        ),
        (
            &[
                "update",
                "virtualmachines",
                "--subresource",
                "start",
                "-n",
                "vm-dev",
            ],
            "alice",
            serde_json::json!({"namespace": "vm-dev", "verb": "update", "group": "kubevirt.io", "resource": "virtualmachines", "subresource": "start"}),
        ),
        (
            &["list", "vms", "-n", "vm-dev"],
            "alice",
            serde_json::json!({"namespace": "vm-dev", "verb": "list", "group": "kubevirt.io", "resource": "virtualmachines"}),
        ),
        (
            &["create", "vmim", "-n", "vm-prod"],
            "carol",
            serde_json::json!({"namespace": "vm-prod", "verb": "create", "group": "kubevirt.io", "resource": "virtualmachineinstancemigrations"}),
        ),
        (
            &["create", "pods/exec", "-n", "kubevirt"],
            "dave",
            serde_json::json!({"namespace": "kubevirt", "verb": "create", "group": "", "resource": "pods", "subresource": "exec"}),
        ),
        (
            &["delete", "secrets", "-n", "vm-prod"],
            "bob",
            serde_json::json!({"namespace": "vm-prod", "verb": "delete", "group": "", "resource": "secrets"}),
        ),
        (
            &["list", "vms", "-n", "vm-dev"],
            "nobody",
            serde_json::json!({"namespace": "vm-dev", "verb": "list", "group": "kubevirt.io", "resource": "virtualmachines"}),
        ),
    ];
    let mut seen = (0, 0);
    for (args, user, attrs) in cases {
        let mut a = vec!["auth", "can-i"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["--as", user]);
        let (code, out, err) = kubectl(&admin, &cache, &a);
        assert!(code == 0 || code == 1, "kubectl {a:?}: {err}");
        let want = engine_allows(&snap, user, &["system:authenticated"], attrs.clone());
        assert_eq!(
            code == 0,
            want,
            "kubectl {a:?} said {out:?} {err}; the engine says {want}"
        );
        assert_eq!(out.trim(), if want { "yes" } else { "no" });
        if want {
            seen.0 += 1;
        } else {
            seen.1 += 1;
        }
    }
    assert!(
        seen.0 > 0 && seen.1 > 0,
        "the cases cover both answers: {seen:?}"
    );

    // can-i --list: kubectl prints what `virtguard can-i --list` prints.
    for (user, ns) in [
        ("alice", "vm-dev"),
        (
            "system:serviceaccount:kubevirt:kubevirt-handler",
            "kubevirt",
        ),
        ("nobody", "vm-prod"),
    ] {
        let (code, kube, err) = kubectl(
            &admin,
            &cache,
            &["auth", "can-i", "--list", "--as", user, "-n", ns],
        );
        assert_eq!(code, 0, "{err}");
        let ours = Command::new(bin())
            .args(["can-i", "--list", "--as", user, "-n", ns, "-f"])
            .arg(&snap)
            .output()
            .unwrap();
        assert_eq!(
            kube,
            String::from_utf8_lossy(&ours.stdout),
            "can-i --list for {user} in {ns}"
        );
        assert!(kube.lines().count() > 3);
    }

    // A SubjectAccessReview created with kubectl: the engine's answer, for a caller allowed
    // to create one.
    let sar = tmp.path().join("sar.json");
    let review = serde_json::json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "alice", "groups": ["system:authenticated"], "resourceAttributes":
            {"namespace": "vm-dev", "verb": "update", "group": "subresources.kubevirt.io", "resource": "virtualmachines", "subresource": "start"}}});
    std::fs::write(&sar, review.to_string()).unwrap();
    let sar_path = sar.to_str().unwrap();
    let (code, out, err) = kubectl(
        &admin,
        &cache,
        &["create", "--validate=false", "-f", sar_path, "-o", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let want = engine_allows(
        &snap,
        "alice",
        &["system:authenticated"],
        review["spec"]["resourceAttributes"].clone(),
    );
    assert_eq!(v["status"]["allowed"], want);
    let (code, _, err) = kubectl(
        &nobody,
        &cache,
        &["create", "--validate=false", "-f", sar_path],
    );
    assert_eq!(code, 1);
    assert!(err.contains("cannot create resource \"subjectaccessreviews\" in API group \"authorization.k8s.io\" at the cluster scope"), "{err}");

    // get: the snapshot's objects, for whoever RBAC lets see them.
    let (code, out, err) = kubectl(&admin, &cache, &["get", "vms", "-A"]);
    assert_eq!(code, 0, "{err}");
    for name in ["db-1", "web-1", "dev-fedora", "lab-router"] {
        assert!(out.contains(name), "{name} in\n{out}");
    }
    assert!(out.starts_with("NAMESPACE"), "{out}");
    let (code, out, err) = kubectl(&admin, &cache, &["get", "all", "-n", "vm-prod"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("virtualmachine.kubevirt.io/db-1"),
        "the all category: {out}"
    );
    let (_, out, _) = kubectl(&admin, &cache, &["get", "clusterroles"]);
    assert!(
        out.contains("kubevirt.io:edit") && out.contains("cluster-admin"),
        "{out}"
    );
    let (code, out, _) = kubectl(&admin, &cache, &["get", "rolebindings", "-A", "-o", "yaml"]);
    assert_eq!(code, 0);
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out).unwrap();
    let items = v["items"].as_sequence().unwrap();
    assert!(
        items.iter().any(
            |i| i["metadata"]["name"] == "alice-edit" && i["metadata"]["namespace"] == "vm-dev"
        ),
        "{out}"
    );
    assert!(items.iter().all(|i| i["kind"] == "RoleBinding"));
    let (code, _, err) = kubectl(&nobody, &cache, &["get", "secrets", "-n", "vm-prod"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Error from server (Forbidden): secrets is forbidden: User \"nobody\" cannot list resource \"secrets\" in API group \"\" in the namespace \"vm-prod\""),
        "{err}"
    );
    let (code, _, err) = kubectl(
        &nobody,
        &cache,
        &["get", "vms", "-n", "vm-prod", "--as", "alice"],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "users \"alice\" is forbidden: User \"nobody\" cannot impersonate resource \"users\""
        ),
        "{err}"
    );

    // watch: a file edit reaches a running `kubectl get -w`.
    let mut watch = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&admin)
        .arg("--cache-dir")
        .arg(&cache)
        .args(["get", "vms", "-n", "vm-dev", "-w", "-o", "name"])
        .env_remove("KUBECONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |want: &str| -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(l) if l.contains(want) => return true,
                _ => {}
            }
        }
        false
    };
    assert!(
        wait_for("lab-router"),
        "the watch starts with the snapshot's objects"
    );
    let platform = snap.join("platform.yaml");
    let text = std::fs::read_to_string(&platform).unwrap();
    assert!(text.contains("\n  name: lab-router\n"));
    std::fs::write(
        &platform,
        text.replace("\n  name: lab-router\n", "\n  name: lab-router-2\n"),
    )
    .unwrap();
    let got = wait_for("lab-router-2");
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(got, "the watch saw the edit; server log:\n{}", server.log());
    let (_, out, _) = kubectl(
        &admin,
        &cache,
        &["get", "vms", "-n", "vm-dev", "-o", "name"],
    );
    assert!(
        out.contains("lab-router-2") && !out.contains("lab-router\n"),
        "{out}"
    );
}

/// curl with an optional client certificate; returns (HTTP code, body).

#[test]
fn bad_input_gets_a_status_and_the_server_keeps_serving() {
    if !have("curl", "--version") {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let snap = repo().join("examples/cluster");
    let pki = tmp.path().join("pki");
    let server = start(tmp.path(), &snap, &pki);
    let ca = pki.join("ca.crt");
    let admin_kc = tmp.path().join("admin.kubeconfig");
    kubeconfig(&pki, &server, "admin", &["system:masters"], &[], &admin_kc);
    let admin = decode_kubeconfig(&admin_kc, tmp.path(), "admin");
    let ssar = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    let json = ["-H", "Content-Type: application/json", "-X", "POST"];

    let (code, body) = curl(
        &server,
        &ca,
        Some(&admin),
        &[&json[..], &["-d", "{not json"]].concat(),
        ssar,
    );
    assert_eq!(
        (code, status(&body)),
        (400, ("BadRequest".to_string(), 400)),
        "{body}"
    );
    let big = tmp.path().join("big.json");
    std::fs::write(&big, vec![b' '; 4 * 1024 * 1024]).unwrap();
    let data = format!("@{}", big.display());
    let (code, body) = curl(
        &server,
        &ca,
        Some(&admin),
        &[&json[..], &["--data-binary", &data]].concat(),
        ssar,
    );
    assert_eq!(
        (code, status(&body).0.as_str()),
        (413, "RequestEntityTooLarge"),
        "{body}"
    );
    let (code, body) = curl(
        &server,
        &ca,
        Some(&admin),
        &[],
        "/apis/example.com/v1/widgets",
    );
    assert_eq!((code, status(&body).0.as_str()), (404, "NotFound"));
    let (code, body) = curl(
        &server,
        &ca,
        Some(&admin),
        &["-X", "DELETE"],
        "/apis/kubevirt.io/v1/namespaces/vm-dev/virtualmachines/dev-fedora",
    );
    assert_eq!((code, status(&body).0.as_str()), (405, "MethodNotAllowed"));
    let (code, body) = curl(
        &server,
        &ca,
        Some(&admin),
        &[],
        "/apis/kubevirt.io/v1/virtualmachines?labelSelector=a+in+(",
    );
    assert_eq!((code, status(&body).0.as_str()), (400, "BadRequest"));
    // Anonymous: authenticated as system:anonymous, then authorized (and refused) like anyone.
    let (code, body) = curl(&server, &ca, None, &[], "/api/v1/namespaces");
    assert_eq!(code, 403);
    assert!(
        body.contains("User \\\"system:anonymous\\\" cannot list resource \\\"namespaces\\\""),
        "{body}"
    );

    // An expired certificate from the right CA, and a certificate from another CA: 401.
    let old_kc = tmp.path().join("old.kubeconfig");
    kubeconfig(
        &pki,
        &server,
        "old",
        &["system:masters"],
        &["--expiration", "1s"],
        &old_kc,
    );
    let foreign_kc = tmp.path().join("foreign.kubeconfig");
    kubeconfig(
        &tmp.path().join("other-pki"),
        &server,
        "mallory",
        &["system:masters"],
        &[],
        &foreign_kc,
    );
    std::thread::sleep(Duration::from_millis(2100));
    for (name, kc, why) in [
        ("old", &old_kc, "certificate has expired"),
        ("foreign", &foreign_kc, "unknown authority"),
    ] {
        let client = decode_kubeconfig(kc, tmp.path(), name);
        let (code, body) = curl(&server, &ca, Some(&client), &[], "/api");
        assert_eq!(
            (code, status(&body).0.as_str()),
            (401, "Unauthorized"),
            "{name}: {body}"
        );
        assert!(
            server.log().contains(why),
            "the server log says why ({why}):\n{}",
            server.log()
        );
    }
    let (code, body) = curl(&server, &ca, Some(&admin), &[], "/readyz");
    assert_eq!((code, body.as_str()), (200, "ok"));
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[test]
fn pki_dir_is_created_once_and_reused() {
    if !have("curl", "--version") {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let snap = repo().join("examples/cluster");
    let pki = tmp.path().join("pki");
    let first = start(tmp.path(), &snap, &pki);
    let ca = std::fs::read(pki.join("ca.crt")).unwrap();
    let serving = std::fs::read(pki.join("tls.crt")).unwrap();
    let kc = tmp.path().join("admin.kubeconfig");
    kubeconfig(&pki, &first, "admin", &["system:masters"], &[], &kc);
    drop(first);
    let second = start(tmp.path(), &snap, &pki);
    assert_eq!(std::fs::read(pki.join("ca.crt")).unwrap(), ca);
    assert_eq!(std::fs::read(pki.join("tls.crt")).unwrap(), serving);
    let client = decode_kubeconfig(&kc, tmp.path(), "admin");
    let (code, body) = curl(
        &second,
        &pki.join("ca.crt"),
        Some(&client),
        &[],
        "/apis/kubevirt.io/v1/namespaces/vm-prod/virtualmachines/db-1",
    );
    assert_eq!(code, 200, "{body}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(pki.join("ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "ca.key is private");
    }
}

#[test]
fn a_broken_edit_keeps_the_last_good_snapshot() {
    if !have("curl", "--version") {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let snap = tmp.path().join("snap");
    std::fs::create_dir_all(&snap).unwrap();
    let vm = |name: &str| {
        format!("apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {{name: {name}, namespace: prod}}\nspec: {{}}\n")
    };
    std::fs::write(snap.join("vms.yaml"), vm("one")).unwrap();
    let pki = tmp.path().join("pki");
    // One file as the snapshot (watched through its directory).
    let server = start(tmp.path(), &snap.join("vms.yaml"), &pki);
    let kc = tmp.path().join("admin.kubeconfig");
    kubeconfig(&pki, &server, "admin", &["system:masters"], &[], &kc);
    let admin = decode_kubeconfig(&kc, tmp.path(), "admin");
    let ca = pki.join("ca.crt");
    let names = || {
        let (code, body) = curl(
            &server,
            &ca,
            Some(&admin),
            &[],
            "/apis/kubevirt.io/v1/namespaces/prod/virtualmachines",
        );
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let wait = |want: &[&str]| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && names() != want {
            std::thread::sleep(Duration::from_millis(100));
        }
        names()
    };
    assert_eq!(names(), ["one"]);
    std::fs::write(snap.join("vms.yaml"), "kind: [unclosed\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && !server.log().contains("snapshot reload refused") {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        server.log().contains("snapshot reload refused"),
        "{}",
        server.log()
    );
    assert_eq!(names(), ["one"], "the last good snapshot keeps serving");
    // Replaced by a rename, as editors save.
    let tmp_file = snap.join(".vms.yaml.tmp");
    std::fs::write(&tmp_file, format!("{}---\n{}", vm("one"), vm("two"))).unwrap();
    std::fs::rename(&tmp_file, snap.join("vms.yaml")).unwrap();
    assert_eq!(wait(&["one", "two"]), ["one", "two"]);
    std::fs::write(&tmp_file, vm("three")).unwrap();
    std::fs::rename(&tmp_file, snap.join("vms.yaml")).unwrap();
    assert_eq!(
        wait(&["three"]),
        ["three"],
        "a second replacement is seen too"
    );
}

#[test]
fn usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    // No kubeconfig anywhere: without -f there is nothing to serve.
    let run = |args: &[&str]| {
        Command::new(bin())
            .args(args)
            .env("HOME", tmp.path())
            .env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .unwrap()
    };
    let pki = tmp.path().join("pki");
    let o = run(&[
        "serve",
        "--api",
        "--listen",
        "127.0.0.1:0",
        "--pki-dir",
        pki.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        !pki.exists(),
        "nothing is created before the flags are checked"
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no cluster to read: pass -f PATH"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run(&["serve", "--api", "--tls-dir", "x", "-f", "examples/cluster"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--client-ca"));
    let o = run(&[
        "kubeconfig",
        "--pki-dir",
        "x",
        "--server",
        "http://127.0.0.1:1",
        "--user",
        "u",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("HTTPS"));
    let dir = tmp.path().join("p");
    let o = Command::new(bin())
        .args([
            "kubeconfig",
            "--server",
            "https://127.0.0.1:1",
            "--user",
            "u",
            "--expiration",
            "soon",
            "--pki-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--expiration \"soon\""));
}
