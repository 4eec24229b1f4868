//! `virtguard.io/v1alpha1` `AdmissionConfig`: which audit checks act at admission and how
//! (Deny, Warn, Audit), where (namespace selector), for whom not (exempt subjects), and the
//! migration limits. Every problem is an error naming the file and line.

use serde::Deserialize;
use virtguard_audit::{Category, CHECKS};
use virtguard_rbac::{LabelSelector, Requirement, RequirementOperator};

/// What a matching finding does to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Action {
    /// Denied (403) with the finding in the message.
    Deny,
    /// Allowed with the finding as a warning.
    Warn,
    /// Allowed; the finding is an audit annotation.
    Audit,
}

/// A subject a check does not apply to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExemptSubject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// The service account's namespace.
    #[serde(default)]
    pub namespace: String,
}

/// One check at admission.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRule {
    /// The audit check id (`VG301`).
    pub id: String,
    /// Its title, from the check table.
    pub title: &'static str,
    /// What a finding does.
    pub action: Action,
    /// Namespaces it applies in (all when `None`).
    pub namespace_selector: Option<LabelSelector>,
    /// Subjects it does not apply to.
    pub exempt_subjects: Vec<ExemptSubject>,
}

/// Migration limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MigrationLimits {
    /// Migrations not in a final phase allowed per namespace.
    #[serde(default)]
    pub max_in_flight_per_namespace: Option<u32>,
    /// Migrations not in a final phase allowed per user (of those this webhook admitted).
    #[serde(default)]
    pub max_in_flight_per_user: Option<u32>,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AdmissionConfig {
    /// Checks by id.
    pub checks: Vec<CheckRule>,
    /// Migration limits, if any.
    pub migrations: Option<MigrationLimits>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    api_version: String,
    kind: String,
    #[serde(default)]
    checks: Vec<RawCheck>,
    #[serde(default)]
    migrations: Option<MigrationLimits>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCheck {
    id: String,
    action: Action,
    #[serde(default)]
    namespace_selector: Option<RawSelector>,
    #[serde(default)]
    exempt_subjects: Vec<ExemptSubject>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSelector {
    #[serde(default)]
    match_labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    match_expressions: Vec<RawRequirement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequirement {
    key: String,
    operator: String,
    #[serde(default)]
    values: Vec<String>,
}

/// A configuration that cannot be used: `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The check ids that judge one object alone, so can run at admission (the workload checks).
pub fn admission_checks() -> impl Iterator<Item = &'static virtguard_audit::CheckInfo> {
    CHECKS.iter().filter(|c| c.category == Category::Workloads)
}

/// The line of the first occurrence of `needle` in `text` (1-based; 0 when absent).
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map_or(0, |i| i + 1)
}

impl AdmissionConfig {
    /// Parses and checks a configuration read from `file`.
    pub fn parse(file: &str, text: &str) -> Result<AdmissionConfig, ConfigError> {
        let err = |line: usize, message: String| ConfigError {
            file: file.to_string(),
            line,
            message,
        };
        let raw: RawConfig = serde_yaml_ng::from_str(text).map_err(|e| {
            let line = e.location().map_or(0, |l| l.line());
            // The parser's message ends with its own "at line N column M": say it once.
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            err(line, msg)
        })?;
        if raw.api_version != "virtguard.io/v1alpha1" || raw.kind != "AdmissionConfig" {
            return Err(err(
                line_of(text, "kind"),
                format!(
                    "expected apiVersion virtguard.io/v1alpha1, kind AdmissionConfig; got {}, {}",
                    raw.api_version, raw.kind
                ),
            ));
        }
        let mut checks = Vec::new();
        for c in raw.checks {
            let line = line_of(text, &c.id);
            let Some(info) = CHECKS.iter().find(|i| i.id == c.id) else {
                return Err(err(
                    line,
                    format!(
                        "unknown check id {:?}; checks that can run at admission: {}",
                        c.id,
                        admission_checks()
                            .map(|c| c.id)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            if info.category != Category::Workloads {
                return Err(err(
                    line,
                    format!(
                        "check {} ({}) judges the cluster, not one object, so cannot run at admission; checks that can: {}",
                        c.id,
                        info.title,
                        admission_checks().map(|c| c.id).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            if checks.iter().any(|r: &CheckRule| r.id == c.id) {
                let second = text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| l.contains(c.id.as_str()))
                    .nth(1)
                    .map_or(line, |(i, _)| i + 1);
                return Err(err(second, format!("check {} is configured twice", c.id)));
            }
            let namespace_selector =
                match c.namespace_selector {
                    None => None,
                    Some(s) => Some(selector(s).map_err(|m| {
                        err(line, format!("check {}: namespaceSelector: {m}", c.id))
                    })?),
                };
            for s in &c.exempt_subjects {
                if !matches!(s.kind.as_str(), "User" | "Group" | "ServiceAccount") {
                    return Err(err(
                        line_of(text, &s.name),
                        format!(
                            "check {}: exemptSubjects: kind {:?} is not User, Group or ServiceAccount",
                            c.id, s.kind
                        ),
                    ));
                }
                if s.kind == "ServiceAccount" && s.namespace.is_empty() {
                    return Err(err(
                        line_of(text, &s.name),
                        format!(
                            "check {}: exemptSubjects: ServiceAccount {} needs a namespace",
                            c.id, s.name
                        ),
                    ));
                }
            }
            checks.push(CheckRule {
                id: c.id,
                title: info.title,
                action: c.action,
                namespace_selector,
                exempt_subjects: c.exempt_subjects,
            });
        }
        if let Some(m) = raw.migrations {
            for (name, v) in [
                ("maxInFlightPerNamespace", m.max_in_flight_per_namespace),
                ("maxInFlightPerUser", m.max_in_flight_per_user),
            ] {
                if v == Some(0) {
                    return Err(err(
                        line_of(text, name),
                        format!("migrations.{name} must be at least 1 (0 would forbid every migration; remove the kubevirt.io:migrate grants instead)"),
                    ));
                }
            }
        }
        Ok(AdmissionConfig {
            checks,
            migrations: raw.migrations,
        })
    }

    /// The rule of a check id.
    pub fn rule(&self, id: &str) -> Option<&CheckRule> {
        self.checks.iter().find(|c| c.id == id)
    }
}

/// A Kubernetes LabelSelector, checked as `metav1.LabelSelectorAsSelector` checks it.
fn selector(s: RawSelector) -> Result<LabelSelector, String> {
    let mut out = LabelSelector {
        match_labels: s.match_labels,
        match_expressions: Vec::new(),
    };
    for r in s.match_expressions {
        let operator = match r.operator.as_str() {
            "In" => RequirementOperator::In,
            "NotIn" => RequirementOperator::NotIn,
            "Exists" => RequirementOperator::Exists,
            "DoesNotExist" => RequirementOperator::DoesNotExist,
            other => {
                return Err(format!(
                    "{other:?} is not a valid label selector operator (In, NotIn, Exists, DoesNotExist)"
                ))
            }
        };
        let needs_values = matches!(
            operator,
            RequirementOperator::In | RequirementOperator::NotIn
        );
        if needs_values && r.values.is_empty() {
            return Err(format!(
                "key {:?}: for 'in', 'notin' operators, values set can't be empty",
                r.key
            ));
        }
        if !needs_values && !r.values.is_empty() {
            return Err(format!(
                "key {:?}: values set must be empty for exists and does not exist",
                r.key
            ));
        }
        out.match_expressions.push(Requirement {
            key: r.key,
            operator,
            values: r.values,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "apiVersion: virtguard.io/v1alpha1
kind: AdmissionConfig
checks:
- id: VG301
  action: Deny
  namespaceSelector: {matchLabels: {tenant: \"true\"}}
  exemptSubjects: [{kind: Group, name: vm-admins}]
- id: VG303
  action: Warn
migrations:
  maxInFlightPerNamespace: 2
  maxInFlightPerUser: 1
";

    #[test]
    fn a_good_config_parses() {
        let c = AdmissionConfig::parse("a.yaml", GOOD).expect("valid");
        assert_eq!(c.checks.len(), 2);
        assert_eq!(c.checks[0].title, "GPU or host device passed through");
        assert_eq!(c.checks[0].action, Action::Deny);
        assert_eq!(
            c.migrations.and_then(|m| m.max_in_flight_per_namespace),
            Some(2)
        );
    }

    #[test]
    fn bad_configs_name_the_line() {
        for (text, line, needle) in [
            (
                GOOD.replace("VG303", "VG999"),
                8,
                "unknown check id \"VG999\"",
            ),
            (GOOD.replace("VG303", "VG101"), 8, "cannot run at admission"),
            (GOOD.replace("VG303", "VG301"), 8, "configured twice"),
            (
                GOOD.replace("action: Warn", "action: Block"),
                9,
                "unknown variant `Block`",
            ),
            (
                GOOD.replace("  maxInFlightPerUser: 1", "  maxInFlightPerUsr: 1"),
                12,
                "unknown field `maxInFlightPerUsr`",
            ),
            (
                GOOD.replace("maxInFlightPerNamespace: 2", "maxInFlightPerNamespace: 0"),
                11,
                "at least 1",
            ),
            (
                GOOD.replace("kind: Group", "kind: Team"),
                7,
                "not User, Group or ServiceAccount",
            ),
            (
                GOOD.replace(
                    "{matchLabels: {tenant: \"true\"}}",
                    "{matchExpressions: [{key: a, operator: Has}]}",
                ),
                4,
                "not a valid label selector operator",
            ),
            (
                GOOD.replace("AdmissionConfig", "AdmissionPolicy"),
                2,
                "expected apiVersion",
            ),
            ("checks: [".to_string(), 2, ""),
        ] {
            let e = AdmissionConfig::parse("a.yaml", &text).expect_err(needle);
            assert_eq!(e.line, line, "{e}");
            assert!(e.message.contains(needle), "{e}");
            assert!(
                e.to_string().starts_with(&format!("a.yaml:{line}: ")),
                "{e}"
            );
        }
    }
}
