//! Helpers shared by the tests that start `virtguard serve --api` and talk to it: the binary, the
//! repository root, a server on a loopback port, and kubeconfigs from its PKI directory.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;

pub fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("virtguard")
}

pub fn have(tool: &str, arg: &str) -> bool {
    Command::new(tool)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The kubectl clients to test with, one per version: `kubectl` on PATH and each binary named in
/// `VIRTGUARD_EXTRA_KUBECTL` (paths separated by `:`; `.ci/run` installs a second version there).
pub fn kubectls() -> Vec<(PathBuf, String)> {
    let mut candidates = vec![PathBuf::from("kubectl")];
    if let Some(extra) = std::env::var_os("VIRTGUARD_EXTRA_KUBECTL") {
        candidates.extend(std::env::split_paths(&extra).filter(|p| !p.as_os_str().is_empty()));
    }
    let mut out: Vec<(PathBuf, String)> = Vec::new();
    for c in candidates {
        let Ok(o) = Command::new(&c).args(["version", "--client"]).output() else {
            continue;
        };
        if !o.status.success() {
            continue;
        }
        let version = String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("Client Version: ")
            .to_string();
        if !out.iter().any(|(_, v)| *v == version) {
            out.push((c, version));
        }
    }
    out
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

pub struct Server {
    pub child: Child,
    pub addr: String,
    pub log: PathBuf,
}

impl Server {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(dir: &Path, snapshot: &Path, pki: &Path) -> Server {
    start_serve(
        dir,
        &[
            "--api".as_ref(),
            "-f".as_ref(),
            snapshot.as_os_str(),
            "--pki-dir".as_ref(),
            pki.as_os_str(),
        ],
    )
}

/// Starts `virtguard serve --listen 127.0.0.1:0 --print-address ARGS…` and waits for its address.
pub fn start_serve(dir: &Path, args: &[&std::ffi::OsStr]) -> Server {
    let log = dir.join(format!("serve-{}.log", std::process::id()));
    let mut child = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--print-address"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn serve --api");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
    let addr = line.trim().to_string();
    let s = Server { child, addr, log };
    assert!(!s.addr.is_empty(), "serve --api did not start: {}", s.log());
    s
}

pub fn kubeconfig(
    pki: &Path,
    server: &Server,
    user: &str,
    groups: &[&str],
    extra: &[&str],
    out: &Path,
) {
    let mut c = Command::new(bin());
    c.args(["kubeconfig", "--pki-dir"]).arg(pki).args([
        "--server",
        &format!("https://{}", server.addr),
        "--user",
        user,
    ]);
    for g in groups {
        c.args(["--group", g]);
    }
    c.args(extra);
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "kubeconfig: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::write(out, &o.stdout).unwrap();
}

/// The client certificate and key of a kubeconfig, written as files for curl.
pub fn decode_kubeconfig(kc: &Path, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let v: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(kc).unwrap()).unwrap();
    let user = &v["users"][0]["user"];
    let b64 = |k: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(user[k].as_str().unwrap())
            .unwrap()
    };
    let (crt, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&crt, b64("client-certificate-data")).unwrap();
    std::fs::write(&key, b64("client-key-data")).unwrap();
    (crt, key)
}

pub fn curl(
    server: &Server,
    ca: &Path,
    client: Option<&(PathBuf, PathBuf)>,
    args: &[&str],
    path: &str,
) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args([
        "-sS",
        "--max-time",
        "20",
        "-w",
        "\n%{http_code}",
        "--cacert",
    ])
    .arg(ca);
    if let Some((crt, key)) = client {
        c.arg("--cert").arg(crt).arg("--key").arg(key);
    }
    c.args(args).arg(format!("https://{}{path}", server.addr));
    let o = c.output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

pub fn status(body: &str) -> (String, i64) {
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not a Status ({e}): {body}"));
    assert_eq!(v["kind"], "Status", "{body}");
    (
        v["reason"].as_str().unwrap_or_default().to_string(),
        v["code"].as_i64().unwrap_or(0),
    )
}
