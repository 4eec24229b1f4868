//! Label selectors (`metav1.LabelSelector`) as used by ClusterRole aggregation.

use std::collections::BTreeMap;

/// A label selector: every `matchLabels` pair and every requirement must hold. An empty selector
/// matches every object (`LabelSelectorAsSelector` gives `Everything`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    /// Exact key/value pairs.
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    pub match_expressions: Vec<Requirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// Label key.
    pub key: String,
    /// Operator.
    pub operator: RequirementOperator,
    /// Values for `In` / `NotIn`.
    pub values: Vec<String>,
}

/// `matchExpressions` operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequirementOperator {
    /// The label exists and has one of the values.
    In,
    /// The label is absent or has none of the values.
    NotIn,
    /// The label exists.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl RequirementOperator {
    /// Parses the operator as Kubernetes spells it.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "In" => Some(Self::In),
            "NotIn" => Some(Self::NotIn),
            "Exists" => Some(Self::Exists),
            "DoesNotExist" => Some(Self::DoesNotExist),
            _ => None,
        }
    }
}

impl LabelSelector {
    /// Whether the labels satisfy the selector.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }
}

impl Requirement {
    /// Whether the labels satisfy this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            RequirementOperator::In => value.is_some_and(|v| self.values.contains(v)),
            RequirementOperator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            RequirementOperator::Exists => value.is_some(),
            RequirementOperator::DoesNotExist => value.is_none(),
        }
    }
}
