//! Node kernel facts: whether KVM allows nested virtualization and the CPU vulnerability
//! status the kernel reports. Pure: the caller reads `/sys` (or a fake root) and passes the
//! file contents; `virtguard node-check -o json` output from several nodes feeds the audit.

use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::finding::{Finding, ObjectRef, Severity};
use crate::{finding, Selection};

/// One CPU vulnerability as `/sys/devices/system/cpu/vulnerabilities/<name>` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vulnerability {
    /// File name (`spectre_v2`).
    pub name: String,
    /// The file's content, trimmed (`Mitigation: Retpolines…`, `Not affected`, `Vulnerable`).
    pub status: String,
}

impl Vulnerability {
    /// Whether the kernel reports it handled: `Not affected` or `Mitigation: …`.
    pub fn mitigated(&self) -> bool {
        self.status == "Not affected" || self.status.starts_with("Mitigation")
    }
}

/// What one node reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeFacts {
    /// Node name (hostname).
    pub node: String,
    /// `kvm_intel` or `kvm_amd` and its `nested` parameter (`Y`/`1` = on), when loaded.
    #[serde(default)]
    pub kvm: Vec<(String, String)>,
    /// Every CPU vulnerability file.
    #[serde(default)]
    pub vulnerabilities: Vec<Vulnerability>,
}

impl NodeFacts {
    /// KVM modules with nesting enabled.
    pub fn nested(&self) -> Vec<&str> {
        self.kvm
            .iter()
            .filter(|(_, v)| matches!(v.trim(), "Y" | "y" | "1"))
            .map(|(m, _)| m.as_str())
            .collect()
    }
}

/// Builds a node's facts from file contents: `kvm` as (module, nested parameter) and
/// `vulnerabilities` as (file name, content); sorted by name.
pub fn node_facts(
    node: &str,
    kvm: Vec<(String, String)>,
    vulnerabilities: Vec<(String, String)>,
) -> NodeFacts {
    let mut v: Vec<Vulnerability> = vulnerabilities
        .into_iter()
        .map(|(name, status)| Vulnerability {
            name,
            status: status.trim().to_string(),
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    let mut kvm: Vec<(String, String)> = kvm
        .into_iter()
        .map(|(m, s)| (m, s.trim().to_string()))
        .collect();
    kvm.sort();
    NodeFacts {
        node: node.to_string(),
        kvm,
        vulnerabilities: v,
    }
}

/// Findings for one node (used by `node-check` directly and by the audit for each node).
pub fn node_findings(n: &NodeFacts, sel: &Selection) -> Vec<Finding> {
    let node = ObjectRef {
        kind: "Node".into(),
        name: n.node.clone(),
        namespace: String::new(),
        file: String::new(),
        line: 0,
    };
    let mut out = Vec::new();
    if sel.wants("VG701") {
        for m in n.nested() {
            let mut f = finding(
                "VG701",
                format!("node {}: {m} allows nested virtualization", n.node),
            );
            f.objects.push(node.clone());
            f.evidence = format!("/sys/module/{m}/parameters/nested = Y");
            f.remediation = format!(
                "echo 'options {m} nested=0' > /etc/modprobe.d/kvm-nested.conf, then reload {m} (or reboot the node)"
            );
            out.push(f);
        }
    }
    if sel.wants("VG702") {
        for v in n.vulnerabilities.iter().filter(|v| !v.mitigated()) {
            let mut f = finding(
                "VG702",
                format!(
                    "node {}: CPU vulnerability {}: {}",
                    n.node, v.name, v.status
                ),
            );
            if v.status.starts_with("Unknown") {
                f.severity = Severity::Medium;
            }
            f.objects.push(node.clone());
            f.evidence = format!(
                "/sys/devices/system/cpu/vulnerabilities/{} = {}",
                v.name, v.status
            );
            out.push(f);
        }
    }
    out
}

pub(crate) fn run(ctx: &Context<'_>, sel: &Selection, out: &mut Vec<Finding>) {
    for n in ctx.nodes {
        out.extend(node_findings(n, sel));
    }
}
