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

pub fn have_kubectl() -> bool {
    have("kubectl", "version")
        || Command::new("kubectl")
            .args(["version", "--client"])
            .output()
            .is_ok_and(|o| o.status.success())
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
