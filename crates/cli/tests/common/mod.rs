//! Helpers shared by the tests that start `virtguard serve --api` and talk to it: the binary, the
//! repository root, a server on a loopback port, and kubeconfigs from its PKI directory.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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
    let log = dir.join(format!("serve-{}.log", std::process::id()));
    let mut child = Command::new(bin())
        .args([
            "serve",
            "--api",
            "--listen",
            "127.0.0.1:0",
            "--print-address",
            "-f",
        ])
        .arg(snapshot)
        .arg("--pki-dir")
        .arg(pki)
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
