//! What a check reports: a [`Finding`] names the check, its severity, the exact objects and
//! subjects, the evidence (binding → role → rule, or field path and value) and the fix.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How bad a finding is; ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; no action needed.
    Info,
    /// Hardening opportunity.
    Low,
    /// A weakness an attacker could use with other access.
    Medium,
    /// A direct path to data or to other tenants.
    High,
    /// A direct path to the cluster.
    Critical,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    /// The lower-case name (`high`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses a name (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Severity::ALL
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The area a check belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Who may do what (bindings through the policy).
    Rbac,
    /// The KubeVirt CR's settings.
    KubevirtConfig,
    /// VMI specs: VirtualMachines, VMIs, pools, replica sets and VMs in Templates.
    Workloads,
    /// Secondary networks.
    Network,
    /// Pod security admission and SCCs.
    PodSecurity,
    /// Component service-account roles against the release.
    Components,
    /// Node kernel facts.
    Nodes,
    /// Certificates and TLS.
    Certificates,
    /// The input itself (skipped objects, suppressions).
    Input,
}

impl Category {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Rbac => "rbac",
            Category::KubevirtConfig => "kubevirt-config",
            Category::Workloads => "workloads",
            Category::Network => "network",
            Category::PodSecurity => "pod-security",
            Category::Components => "components",
            Category::Nodes => "nodes",
            Category::Certificates => "certificates",
            Category::Input => "input",
        }
    }
}

/// A Kubernetes object a finding is about, with where it is in the input.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace, absent for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Input file (or `catalog:…` for a built-in default), if known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file: String,
    /// 1-based line in `file`; 0 when unknown.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub line: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl ObjectRef {
    /// `Kind namespace/name` or `Kind name`.
    pub fn describe(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }

    /// `file:line`, or empty.
    pub fn location(&self) -> String {
        match (self.file.is_empty(), self.line) {
            (true, _) => String::new(),
            (false, 0) => self.file.clone(),
            (false, l) => format!("{}:{l}", self.file),
        }
    }
}

/// A subject a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SubjectRef {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// A ServiceAccount's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

impl SubjectRef {
    /// `Group system:authenticated`, `ServiceAccount ns/name`.
    pub fn describe(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check (`VG101`).
    pub id: &'static str,
    /// Severity (a check may raise or lower its default for one finding).
    pub severity: Severity,
    /// The check's title.
    pub title: &'static str,
    /// The check's category.
    pub category: Category,
    /// One line: what is wrong here.
    pub message: String,
    /// The namespace the finding applies to; empty for cluster-wide.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The objects involved (the one to change first).
    pub objects: Vec<ObjectRef>,
    /// The subjects involved.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<SubjectRef>,
    /// Why: binding → role → rule, or field path = value.
    pub evidence: String,
    /// What to do, concretely.
    pub remediation: String,
    /// Where the recommendation comes from.
    pub references: Vec<&'static str>,
}

impl Finding {
    /// A stable key for sorting and de-duplication.
    pub fn sort_key(&self) -> (std::cmp::Reverse<Severity>, &str, &str, &[ObjectRef], &str) {
        (
            std::cmp::Reverse(self.severity),
            self.id,
            self.namespace.as_str(),
            &self.objects,
            self.message.as_str(),
        )
    }
}
