//! `virtguard node-check`: reads this node's KVM nesting parameter and CPU vulnerability files
//! from sysfs (or a fake root) and prints the findings; `-o json` is what `audit --node-facts`
//! reads.

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use virtguard_audit::{node_facts, node_findings, Selection};

use crate::args::{Global, NodeCheckArgs, Output};

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

pub fn run(g: &Global, a: &NodeCheckArgs) -> Result<u8> {
    let root = Path::new(&a.sysfs_root);
    if !root.is_dir() {
        bail!("--sysfs-root {}: not a directory", root.display());
    }
    let mut kvm = Vec::new();
    for m in ["kvm_intel", "kvm_amd"] {
        let p = root
            .join("module")
            .join(m)
            .join("parameters")
            .join("nested");
        match std::fs::read_to_string(&p) {
            Ok(s) => kvm.push((m.to_string(), s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("{}", p.display())),
        }
    }
    let dir = root.join("devices/system/cpu/vulnerabilities");
    let mut vulns = Vec::new();
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            for e in entries {
                let e = e.with_context(|| format!("{}", dir.display()))?;
                let name = e.file_name().to_string_lossy().to_string();
                let text = std::fs::read_to_string(e.path())
                    .with_context(|| format!("{}", e.path().display()))?;
                vulns.push((name, text));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !g.quiet {
                eprintln!(
                    "warning: {} does not exist: no CPU vulnerability report on this kernel",
                    dir.display()
                );
            }
        }
        Err(e) => return Err(e).with_context(|| format!("{}", dir.display())),
    }
    let node = a.node.clone().unwrap_or_else(hostname);
    let facts = node_facts(&node, kvm, vulns);
    let findings = node_findings(&facts, &Selection::default());
    if !g.quiet {
        match g.output {
            Some(o @ (Output::Json | Output::Yaml)) => {
                let v = serde_json::json!({ "facts": facts, "findings": findings });
                crate::render::print_structured(&v, o == Output::Yaml)?;
            }
            _ => {
                let nested = facts.nested();
                println!(
                    "node {node}: KVM {}; {} CPU vulnerability files, {} not mitigated",
                    if facts.kvm.is_empty() {
                        "module not loaded".to_string()
                    } else if nested.is_empty() {
                        "nested virtualization off".to_string()
                    } else {
                        format!("nested virtualization ON ({})", nested.join(", "))
                    },
                    facts.vulnerabilities.len(),
                    facts
                        .vulnerabilities
                        .iter()
                        .filter(|v| !v.mitigated())
                        .count()
                );
                for f in &findings {
                    println!("  {:<8} {}  {}", f.severity, f.id, f.message);
                }
            }
        }
    }
    Ok(if findings.is_empty() { 0 } else { 1 })
}
