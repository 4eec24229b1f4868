//! The table of checks: every check's id, title, default severity, category, rationale,
//! remediation and references, in one place (`virtguard audit --list-checks` prints it).

use serde::Serialize;

use crate::finding::{Category, Severity};

/// What a check is and why it exists.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CheckInfo {
    /// Stable id (`VG101`).
    pub id: &'static str,
    /// Short title.
    pub title: &'static str,
    /// Default severity (findings may be raised, e.g. for broad groups).
    pub severity: Severity,
    /// Area.
    pub category: Category,
    /// Why it matters, with the source of the recommendation.
    pub rationale: &'static str,
    /// How to fix it in general (findings carry the concrete change).
    pub remediation: &'static str,
    /// Sources.
    pub references: &'static [&'static str],
}

const SELF_ASSESSMENT: &str =
    "KubeVirt self-assessment (CNCF TAG-Security), section \"Security relevant\"";
const AUTHZ: &str = "KubeVirt user guide: Authorization (default roles, aggregation)";
const VMIM_BLOG: &str = "KubeVirt blog: VirtualMachineInstanceMigrations RBAC hardening (v1.5)";
const OKD: &str = "OKD Virtualization: security policies";
const FUNDAMENTALS: &str = "KubeVirt Security Fundamentals";
const LAUNCHER: &str =
    "KubeVirt self-assessment (CNCF TAG-Security), section \"Critical: Unprivileged virt-launcher\"";
const PASSTHROUGH: &str = "KubeVirt self-assessment (CNCF TAG-Security), section \"Restrict pass through of GPUs and Host devices to a Virtual Machine\"";
const TRUST_BOUNDARY: &str =
    "KubeVirt Security Fundamentals: trusted vs untrusted components (virt-launcher is untrusted)";
const DISKS: &str =
    "KubeVirt user guide: Filesystems, Disks and Volumes (hostDisk; lun persistent reservation)";
const HOOKS: &str = "KubeVirt user guide: Hook Sidecar Container";
const DOWNWARD: &str = "KubeVirt user guide: Downward metrics";
const K8S_DRA: &str = "Kubernetes: Dynamic Resource Allocation";
const K8S_RBAC_GOOD: &str =
    "Kubernetes: RBAC good practices (privilege escalation risks: bind, escalate, impersonate)";
const K8S_WEBHOOK_AUTHZ: &str =
    "Kubernetes: Webhook mode and structured authorization configuration (authorizer chain)";
const CEDAR_K8S: &str = "cedar-access-control-for-k8s: authorization policies";
const K8S_ESCALATION: &str =
    "Kubernetes: RBAC good practices (workload creation, persistent volume creation, node proxy, CSR)";

/// Checks that run only when asked (`audit --paths`, or named in `--only`): they search the
/// whole identity graph, which costs more than the other checks together on large clusters.
pub const OPT_IN: &[&str] = &["VG121", "VG122", "VG123"];

macro_rules! check {
    ($id:literal, $sev:ident, $cat:ident, $title:literal, $why:expr, $fix:expr, [$($r:expr),*]) => {
        CheckInfo {
            id: $id,
            title: $title,
            severity: Severity::$sev,
            category: Category::$cat,
            rationale: $why,
            remediation: $fix,
            references: &[$($r),*],
        }
    };
}

/// Every check, in id order.
pub const CHECKS: &[CheckInfo] = &[
    check!("VG001", Medium, Input, "Invalid object skipped",
        "An object that kube-apiserver would reject was left out with --skip-invalid; the audit did not see it.",
        "Fix the manifest so it loads, then audit again.", []),
    check!("VG002", Low, Input, "Suppression expired",
        "A suppression past its expiry date no longer hides its finding; its acceptance must be reviewed.",
        "Review the finding and renew the suppression with a new expiry, or fix the finding.", []),
    check!("VG101", Medium, Rbac, "Migrations beyond the intended migrators",
        "Since v1.5 KubeVirt grants creating VirtualMachineInstanceMigrations only through kubevirt.io:migrate: migrations move VMs between nodes and can exhaust cluster capacity (a DoS). Namespace admins, broad groups or other roles that can create migrations (directly or through the virtualmachines/migrate subresource) or migration policies undo that hardening.",
        "Grant migrations only by binding kubevirt.io:migrate to the operators who need it; remove the other grants.",
        [SELF_ASSESSMENT, VMIM_BLOG]),
    check!("VG102", Medium, Rbac, "VM console, VNC or port-forward access granted broadly",
        "Console, VNC, screenshot, port-forward, USB redirection and vsock reach into running guests; granted to broad groups or cluster-wide they expose every tenant's VMs.",
        "Grant these subresources by RoleBinding in the namespaces that need them, to named users or groups.",
        [AUTHZ, FUNDAMENTALS]),
    check!("VG103", Medium, Rbac, "Exec into virt-* or virt-launcher pods",
        "Normal use of KubeVirt does not require exec into any virt-* pod; exec into virt-launcher reaches the guest's memory and disks, exec into virt-handler reaches the node.",
        "Grant pods/exec, pods/attach and pods/portforward in KubeVirt's namespaces only to approved administrators.",
        [SELF_ASSESSMENT]),
    check!("VG104", High, Rbac, "Create or modify cluster instance types and preferences",
        "Cluster instance types and preferences shape every tenant's VMs; who may create or change them should be limited.",
        "Restrict create/update/patch/delete on virtualmachineclusterinstancetypes and virtualmachineclusterpreferences (and cluster-wide grants of the namespaced kinds) to cluster administrators.",
        [SELF_ASSESSMENT]),
    check!("VG105", High, Rbac, "Write access to KubeVirt's control plane",
        "Whoever can change the KubeVirt, CDI or HyperConverged CRs, or the deployments, daemonsets and secrets in KubeVirt's namespace, controls every VM and the node-level virt-handler.",
        "Keep write access to these objects to cluster administrators and the operators' own service accounts.",
        [FUNDAMENTALS, OKD]),
    check!("VG106", Medium, Rbac, "Cross-namespace DataVolume cloning granted broadly",
        "Whoever may create datavolumes/source in a namespace can clone its volumes into their own: access to the data of volumes they do not own.",
        "Grant datavolumes/source (cdi.kubevirt.io) only by RoleBinding in namespaces whose data the subject may copy.",
        [SELF_ASSESSMENT]),
    check!("VG107", High, Rbac, "Privilege-escalation primitive held by a non-admin",
        "bind/escalate on roles, impersonate, wildcards on KubeVirt's API groups, and creating pods or reading secrets in KubeVirt's namespace (its service-account tokens) each lead to more access than granted.",
        "Remove the rule from the role, or bind it only to cluster administrators.",
        [K8S_RBAC_GOOD, FUNDAMENTALS]),
    check!("VG108", High, Rbac, "Cluster-admin power granted to a broad group",
        "A ClusterRoleBinding gives every verb on every resource to system:authenticated, system:unauthenticated or all service accounts.",
        "Delete the binding, or bind the role to named administrators.",
        [K8S_RBAC_GOOD]),
    check!("VG109", Low, Rbac, "Binding to a missing role",
        "A binding whose role does not exist grants nothing today, but whoever creates a role of that name later grants it to the binding's subjects.",
        "Delete the binding, or create the role it is meant to grant.",
        [K8S_RBAC_GOOD]),
    check!("VG110", Low, Rbac, "Binding to a ServiceAccount that does not exist",
        "A ServiceAccount named in a binding but absent from its namespace: whoever creates it inherits the access.",
        "Remove the subject from the binding, or create the ServiceAccount deliberately.",
        [K8S_RBAC_GOOD]),
    check!("VG111", High, Rbac, "Risky right allowed by a Cedar permit policy",
        "The authorization webhook runs before RBAC: a Cedar `permit` allows a request whatever RBAC says. A permit that reaches migrations, consoles, exec, KubeVirt's control plane, role binding or escalation, impersonation, or pods and secrets grants what the RBAC checks look for, outside RBAC's review.",
        "Narrow the policy's principal and resource scope (namespaces, named groups), or grant the right through RBAC to the subjects that need it.",
        [K8S_WEBHOOK_AUTHZ, CEDAR_K8S]),
    check!("VG121", Critical, Rbac, "Escalation path to cluster-admin",
        "A subject that is not cluster-admin can become it in a few steps (`virtguard paths`): each step is a right RBAC grants it plus a documented mechanism (a pod running as a powerful service account, a token, bind or escalate, impersonation, webhook configurations, CSR approval).",
        "Break the path at its first step: remove or narrow the binding that grants it, or move the powerful service account out of the namespace the subject can create pods in.",
        [K8S_RBAC_GOOD, K8S_ESCALATION]),
    check!("VG122", High, Rbac, "Escalation path to root on a node",
        "A subject can run code as root on a node in a few steps: a privileged pod where Pod Security allows it, exec into privileged pods such as virt-handler, nodes/proxy, or the KubeVirt CR's customizeComponents and HostDisk gate.",
        "Break the path at its first step: remove or narrow the binding that grants it, enforce Pod Security baseline or restricted on the namespace, or take write access to the KubeVirt CR away.",
        [K8S_RBAC_GOOD, K8S_ESCALATION, SELF_ASSESSMENT]),
    check!("VG123", Medium, Rbac, "Escalation path into virt-launcher",
        "A subject can run code inside virt-launcher, next to QEMU, in a few steps (a VM with a hook sidecar while the Sidecar gate is on).",
        "Turn the Sidecar feature gate off, or keep VM creation to the subjects that need it.",
        [HOOKS, TRUST_BOUNDARY]),
    check!("VG201", High, KubevirtConfig, "roleAggregationStrategy Manual without the OptOutRoleAggregation gate",
        "KubeVirt's admission rejects this combination; a KubeVirt CR that carries it was not admitted as written or was written around the webhook.",
        "Enable the OptOutRoleAggregation feature gate (v1.8: featureGates; v1.9: Beta, on unless disabled) or remove the strategy.",
        [AUTHZ]),
    check!("VG202", Medium, KubevirtConfig, "Host devices permitted for passthrough",
        "Passthrough devices (PCI, mediated, USB) give guests direct hardware access; only approved devices should be listed.",
        "Keep spec.configuration.permittedHostDevices to approved devices; remove entries no VM needs.",
        [SELF_ASSESSMENT]),
    check!("VG203", Medium, KubevirtConfig, "KSM enabled",
        "Kernel same-page merging shares memory between guests: a side channel and a memory-corruption risk.",
        "Remove spec.configuration.ksmConfiguration.",
        [SELF_ASSESSMENT]),
    check!("VG204", Low, KubevirtConfig, "Guest memory overcommit",
        "memoryOvercommit above 100 % lets nodes host more guest memory than they have; a guest that uses it all can crash or stall others.",
        "Set spec.configuration.developerConfiguration.memoryOvercommit to 100 (or remove it).",
        [SELF_ASSESSMENT]),
    check!("VG205", Medium, KubevirtConfig, "Certificate rotation settings weaker than KubeVirt's defaults or invalid",
        "KubeVirt rotates its CA every 7 days and its certificates every 24 hours; longer lifetimes keep a stolen key useful longer, and settings KubeVirt's validation rejects are not applied.",
        "Remove spec.certificateRotateStrategy, or keep ca.duration <= 168h and server.duration <= 24h with renewBefore below duration.",
        [FUNDAMENTALS, OKD]),
    check!("VG206", High, KubevirtConfig, "TLS minimum version below 1.2",
        "KubeVirt's components default to TLS 1.2; older versions have known weaknesses.",
        "Set spec.configuration.tlsConfiguration.minTLSVersion to VersionTLS12 or VersionTLS13.",
        [FUNDAMENTALS]),
    check!("VG207", Medium, KubevirtConfig, "Security-relevant feature gate enabled",
        "Some feature gates open host access or widen what tenants may do (host disks, sidecars, root mode, …).",
        "Remove the gate from developerConfiguration.featureGates unless the feature is needed.",
        [SELF_ASSESSMENT]),
    check!("VG208", Low, KubevirtConfig, "Unknown feature gate",
        "KubeVirt ignores feature gates it does not know: a misspelt gate silently leaves a feature (or a hardening) off.",
        "Correct the gate name or remove it.",
        []),
    check!("VG301", Medium, Workloads, "GPU or host device passed through",
        "A passed-through device gives the guest direct hardware access; a compromised device firmware reaches the host. This check covers devices named by deviceName (device plugins); devices allocated by DRA claims are VG311.",
        "Remove spec.template.spec.domain.devices.gpus / hostDevices unless the workload needs them.",
        [SELF_ASSESSMENT]),
    check!("VG302", Low, Workloads, "Guest memory overhead not reserved",
        "overcommitGuestOverhead: true leaves the launcher's memory overhead out of the pod's request: the node can run out of memory.",
        "Remove overcommitGuestOverhead or set it to false.",
        [SELF_ASSESSMENT]),
    check!("VG303", Medium, Workloads, "Shareable disk",
        "A disk shared between VMs lets one guest read and corrupt another's data.",
        "Remove shareable: true from the disk unless a cluster filesystem needs it.",
        [SELF_ASSESSMENT]),
    check!("VG304", Low, Workloads, "Disk errorPolicy ignore",
        "errorPolicy: ignore hides I/O errors from the guest: silent data corruption.",
        "Remove errorPolicy (the default is stop) or use report.",
        [SELF_ASSESSMENT]),
    check!("VG305", Medium, Workloads, "Nested virtualization requested",
        "A guest that runs its own hypervisor (vmx/svm, host-passthrough) widens the attack surface on the node.",
        "Remove the vmx/svm CPU feature and use a named CPU model instead of host-passthrough.",
        [SELF_ASSESSMENT]),
    check!("VG306", Medium, Workloads, "Bridge or SR-IOV interface without MAC spoof checking",
        "A guest on a bridge or SR-IOV network whose network does not check MAC spoofing can impersonate other hosts on that L2 segment.",
        "Enable macspoofchk in the NetworkAttachmentDefinition (bridge CNI) or spoofChk in the SriovNetwork.",
        [SELF_ASSESSMENT]),
    check!("VG307", High, Workloads, "hostDisk volume: a file on the node's filesystem",
        "A hostDisk volume makes a file on the node (created if absent with type DiskOrCreate) the guest's disk: virt-controller mounts the file's directory into virt-launcher as a hostPath volume, so the untrusted launcher reaches the node's filesystem and the VM's data stays on one node. High when the KubeVirt CR turns the HostDisk gate on (the VM runs as written); medium when the gate is off (KubeVirt's admission rejects the object, but someone asked for host access).",
        "Use a PersistentVolumeClaim or DataVolume instead of hostDisk, and keep the HostDisk gate off.",
        [LAUNCHER, TRUST_BOUNDARY, DISKS]),
    check!("VG308", High, Workloads, "Hook sidecar in virt-launcher",
        "The hooks.kubevirt.io/hookSidecars annotation adds containers of the VM owner's choosing (any image, or a script from a ConfigMap or PVC run by KubeVirt's sidecar-shim) to the virt-launcher pod, next to QEMU, where they rewrite the domain definition before the VM starts: third-party code inside the component KubeVirt keeps minimal. High when the Sidecar gate is on; medium when it is off (KubeVirt's admission rejects the object).",
        "Remove the annotation from the VM's template metadata (or the VMI's metadata); if a hook is needed, build it into an approved image and keep the Sidecar gate off elsewhere.",
        [LAUNCHER, TRUST_BOUNDARY, HOOKS]),
    check!("VG309", Medium, Workloads, "LUN disk with SCSI persistent reservation",
        "A lun disk with reservation: true has QEMU issue SCSI persistent reservations through pr-helper, a privileged component on the node shared by every VM there; the guest can reserve a shared LUN and lock other VMs and nodes out of it. Medium when persistent reservation is on (up to v1.8 the PersistentReservation gate; from v1.9, where the gate is GA, the KubeVirt CR's persistentReservationConfiguration.enabled, else the gate listed in featureGates); low when it is off (KubeVirt's admission rejects the object).",
        "Remove reservation: true from the lun disk unless a clustered filesystem in the guest needs it, and keep persistent reservation off on clusters that do not.",
        [SELF_ASSESSMENT, DISKS]),
    check!("VG310", Low, Workloads, "Downward metrics exposed to the guest",
        "A downwardMetrics volume or device shows the guest metrics of the node it runs on (host CPU and memory figures): information about the node and, indirectly, its other tenants. Low when the DownwardMetrics gate is on; info when it is off (KubeVirt's admission rejects the object).",
        "Remove the downwardMetrics volume and spec.domain.devices.downwardMetrics unless the guest needs them.",
        [TRUST_BOUNDARY, DOWNWARD]),
    check!("VG311", Medium, Workloads, "GPU or host device passed through by a DRA claim",
        "A GPU or host device allocated through a Dynamic Resource Allocation claim (spec.resourceClaims, referenced by gpus[].claimName or hostDevices[].claimName) gives the guest direct hardware access like a device-plugin device (VG301), but KubeVirt's permittedHostDevices list does not apply to it: the DRA driver and the claim's DeviceClass decide. Medium when the GPUsWithDRA / HostDevicesWithDRA gate is on (Beta, on by default from v1.9); low when it is off (KubeVirt does not allocate the claim).",
        "Remove the claim and the device unless the workload needs them; restrict which DeviceClasses and ResourceClaimTemplates tenants may use.",
        [PASSTHROUGH, K8S_DRA]),
    check!("VG401", Medium, Network, "Network without MAC spoof checking",
        "A bridge network without macspoofchk, or an SriovNetwork with spoofChk off, lets guests spoof MAC addresses.",
        "Set \"macspoofchk\": true in the NAD's CNI config (bridge) or spoofChk: \"on\" in the SriovNetwork.",
        [SELF_ASSESSMENT]),
    check!("VG402", Low, Network, "Network without VLAN isolation",
        "Without a dedicated VLAN, secondary networks share a broadcast domain across tenants.",
        "Set \"vlan\" in the NAD's CNI config (bridge) or spec.vlan in the SriovNetwork.",
        [SELF_ASSESSMENT]),
    check!("VG403", Low, Network, "VMs on secondary networks without MultiNetworkPolicy",
        "Secondary networks bypass NetworkPolicy; without a MultiNetworkPolicy their traffic is unrestricted.",
        "Add MultiNetworkPolicy objects for the namespace's secondary networks.",
        [SELF_ASSESSMENT]),
    check!("VG501", Medium, PodSecurity, "VM namespace not enforcing the restricted Pod Security Standard",
        "KubeVirt complies with the restricted Pod Security Standard; a namespace running VMs under a weaker level admits privileged pods next to them.",
        "Label the namespace pod-security.kubernetes.io/enforce=restricted.",
        [SELF_ASSESSMENT, OKD]),
    check!("VG502", High, PodSecurity, "kubevirt-controller SCC deviates from the documented one",
        "OKD documents the kubevirt-controller SCC: not privileged, no host directories, capabilities limited to SYS_NICE and NET_BIND_SERVICE.",
        "Restore the SCC to the documented settings (virt-operator reconciles it).",
        [OKD]),
    check!("VG601", High, Components, "Component role grants more than the release defines",
        "KubeVirt's components run with least privilege; a rule beyond what the release defines for a component's role widens what a compromised component can do.",
        "Restore the role to the release's rules (virt-operator reconciles it) and find who changed it.",
        [FUNDAMENTALS]),
    check!("VG701", Medium, Nodes, "Nested virtualization enabled on a node",
        "The KVM module's nested parameter lets guests run hypervisors.",
        "Set options kvm_intel nested=0 (or kvm_amd) and reload the module.",
        [SELF_ASSESSMENT]),
    check!("VG702", High, Nodes, "CPU vulnerability without mitigation",
        "A node CPU vulnerability reported as Vulnerable can let a guest read other guests' or the host's memory.",
        "Update the kernel and microcode, and do not disable mitigations on the kernel command line.",
        [SELF_ASSESSMENT]),
    check!("VG801", Medium, Certificates, "KubeVirt certificate problem",
        "KubeVirt's components authenticate each other with certificates from its own CA, rotated daily; an expired, mis-issued or unrotated certificate (or a CA missing from the bundle) breaks or weakens that mutual TLS.",
        "Delete the affected secret so that virt-operator issues a new one, and check certificateRotateStrategy.",
        [FUNDAMENTALS, OKD]),
];

/// The check with this id.
pub fn check(id: &str) -> Option<&'static CheckInfo> {
    CHECKS.iter().find(|c| c.id == id)
}
