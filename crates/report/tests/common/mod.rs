//! Hand-built findings shared by the renderer tests.

#![allow(dead_code)]

use virtguard_audit::{
    check, Category, CheckInfo, Finding, ObjectRef, Severity, SubjectRef, Suppressed,
};
use virtguard_report::AuditReport;

/// An object in a file.
pub fn obj(kind: &str, ns: &str, name: &str, file: &str, line: usize) -> ObjectRef {
    ObjectRef {
        kind: kind.into(),
        name: name.into(),
        namespace: ns.into(),
        file: file.into(),
        line,
    }
}

/// A finding of check `id` with the registry's metadata.
pub fn finding(id: &'static str, severity: Severity, message: &str) -> Finding {
    let c = check(id).expect("known check id in test fixture");
    Finding {
        id: c.id,
        severity,
        title: c.title,
        category: c.category,
        message: message.into(),
        namespace: String::new(),
        objects: Vec::new(),
        subjects: Vec::new(),
        evidence: String::new(),
        remediation: c.remediation.into(),
        references: c.references.to_vec(),
    }
}

/// Owns everything an [`AuditReport`] borrows.
pub struct Fixture {
    pub findings: Vec<Finding>,
    pub suppressed: Vec<Suppressed>,
    pub checks: Vec<CheckInfo>,
    pub inputs: Vec<String>,
    pub matrix: Option<String>,
}

impl Fixture {
    /// Six findings (1 critical, 1 high, 2 medium, 1 low, 1 info) over four categories, one
    /// suppressed finding, and eight checks (two of them without findings).
    pub fn standard() -> Self {
        let mut f1 = finding(
            "VG105",
            Severity::Critical,
            "Group system:authenticated can patch kubevirts",
        );
        f1.objects = vec![
            obj(
                "ClusterRoleBinding",
                "",
                "everyone-kv",
                "manifests/rbac.yaml",
                12,
            ),
            obj("ClusterRole", "", "kv-writer", "manifests/rbac.yaml", 3),
        ];
        f1.subjects = vec![SubjectRef {
            kind: "Group".into(),
            name: "system:authenticated".into(),
            namespace: String::new(),
        }];
        f1.evidence = "ClusterRoleBinding everyone-kv → ClusterRole kv-writer → verbs=[patch] resources=[kubevirts]".into();

        let mut f2 = finding(
            "VG102",
            Severity::Medium,
            "console for <script>alert(\"x&y\")</script> granted",
        );
        f2.namespace = "tenant-a".into();
        f2.objects = vec![obj(
            "RoleBinding",
            "tenant-a",
            "console-all",
            "/abs/dir/rb.yaml",
            7,
        )];
        f2.subjects = vec![SubjectRef {
            kind: "ServiceAccount".into(),
            name: "builder".into(),
            namespace: "tenant-a".into(),
        }];
        f2.evidence = "RoleBinding tenant-a/console-all → Role <b>vnc</b> & 'co'".into();

        let mut f3 = finding(
            "VG301",
            Severity::High,
            "VM gpu-vm passes through nvidia.com/A100",
        );
        f3.namespace = "tenant-b".into();
        f3.objects = vec![obj(
            "VirtualMachine",
            "tenant-b",
            "gpu-vm",
            "vms/gpu vm.yaml",
            40,
        )];
        f3.evidence =
            "spec.template.spec.domain.devices.gpus[0].deviceName = nvidia.com/A100".into();

        let mut f4 = finding(
            "VG301",
            Severity::Medium,
            "VM hostdev-vm passes through a USB device",
        );
        f4.namespace = "tenant-b".into();
        f4.objects = vec![obj(
            "VirtualMachine",
            "tenant-b",
            "hostdev-vm",
            "vms/hostdev.yaml",
            0,
        )];

        let mut f5 = finding(
            "VG701",
            Severity::Low,
            "node worker-1 has nested virtualization on",
        );
        f5.objects = vec![obj("Node", "", "worker-1", "", 0)];
        f5.evidence = "/sys/module/kvm_intel/parameters/nested = Y".into();

        let mut f6 = finding("VG204", Severity::Info, "memory overcommit 150%");
        f6.objects = vec![obj(
            "KubeVirt",
            "kubevirt",
            "kubevirt",
            "catalog:kubevirt-1.5",
            0,
        )];

        let mut s1 = finding("VG101", Severity::Medium, "admins in tenant-c can migrate");
        s1.namespace = "tenant-c".into();
        s1.objects = vec![obj(
            "RoleBinding",
            "tenant-c",
            "admins",
            "manifests/rbac.yaml",
            88,
        )];
        let suppressed = vec![Suppressed {
            finding: s1,
            reason: "accepted by <ops> & \"platform\" team".into(),
            expires: Some("2030-01-01".into()),
        }];

        let checks = [
            "VG101", "VG102", "VG103", "VG105", "VG204", "VG301", "VG701", "VG702",
        ]
        .iter()
        .map(|id| *check(id).expect("known check"))
        .collect();
        let mut findings = vec![f1, f2, f3, f4, f5, f6];
        findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        Fixture {
            findings,
            suppressed,
            checks,
            inputs: vec!["manifests/".into(), "/abs/dir/rb.yaml".into()],
            matrix: Some("<table id=\"access-matrix\"><tr><th>subject</th><th>vms/console</th></tr><tr><td>alice</td><td>yes</td></tr></table>".into()),
        }
    }

    /// No findings, nothing suppressed, two checks.
    pub fn clean() -> Self {
        Fixture {
            findings: Vec::new(),
            suppressed: Vec::new(),
            checks: vec![
                *check("VG101").expect("known check"),
                *check("VG701").expect("known check"),
            ],
            inputs: vec!["cluster.yaml".into()],
            matrix: None,
        }
    }

    pub fn report(&self) -> AuditReport<'_> {
        AuditReport {
            findings: &self.findings,
            suppressed: &self.suppressed,
            checks: &self.checks,
            tool_version: "0.1.0",
            inputs: &self.inputs,
            kubevirt_version: Some("v1.5.2"),
            generated: "2025-06-01T12:00:00Z",
            matrix_html: self.matrix.as_deref(),
            paths: None,
        }
    }
}

/// The category of a check id, for assertions.
pub fn category_of(id: &str) -> Category {
    check(id).expect("known check").category
}
