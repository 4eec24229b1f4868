//! Policy rules and the predicates that match a request against one rule.
//!
//! One predicate per concept, named as in Kubernetes' `evaluation_helpers.go`: a rule allows a
//! resource request when the verb, the API group, the (sub)resource and the resource name all match;
//! a non-resource request when the verb and the URL match.

use serde::{Deserialize, Serialize};

use crate::attributes::{Attributes, Request};

/// The wildcard that matches every verb, group, resource or URL in a rule.
pub const WILDCARD: &str = "*";

/// One rule of a Role or ClusterRole (`rbac.authorization.k8s.io/v1` `PolicyRule`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    /// Verbs the rule allows; `*` is every verb.
    pub verbs: Vec<String>,
    /// API groups of the resources; `""` is the core group, `*` every group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    /// Resources, `resource/subresource`, `*/subresource` or `*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Object names the rule is restricted to; empty means every name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    /// Non-resource URLs (`/healthz`, `/apis/*`); only meaningful in ClusterRoles.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        rename = "nonResourceURLs"
    )]
    pub non_resource_urls: Vec<String>,
}

/// `VerbMatches`: the rule lists the requested verb or `*`.
pub fn verb_matches(rule: &PolicyRule, requested: &str) -> bool {
    rule.verbs.iter().any(|v| v == WILDCARD || v == requested)
}

/// `APIGroupMatches`: the rule lists the requested group or `*`.
pub fn api_group_matches(rule: &PolicyRule, requested: &str) -> bool {
    rule.api_groups
        .iter()
        .any(|g| g == WILDCARD || g == requested)
}

/// `ResourceMatches`: `*` matches everything (subresources included); otherwise the combined
/// `resource/subresource` must be listed, or `*/subresource` when a subresource was requested.
pub fn resource_matches(rule: &PolicyRule, combined: &str, requested_subresource: &str) -> bool {
    rule.resources.iter().any(|r| {
        r == WILDCARD
            || r == combined
            || (!requested_subresource.is_empty()
                && r.len() == requested_subresource.len() + 2
                && r.starts_with("*/")
                && r.ends_with(requested_subresource))
    })
}

/// `ResourceNameMatches`: a rule without names matches every request; a rule with names matches
/// only a request that names one of them (never a list or create without a name).
pub fn resource_name_matches(rule: &PolicyRule, requested: &str) -> bool {
    rule.resource_names.is_empty()
        || (!requested.is_empty() && rule.resource_names.iter().any(|n| n == requested))
}

/// `NonResourceURLMatches`: `*`, the exact URL, or a prefix ending in `*` (every trailing `*` is
/// trimmed, so `/logs**` is the prefix `/logs`).
pub fn non_resource_url_matches(rule: &PolicyRule, requested: &str) -> bool {
    rule.non_resource_urls.iter().any(|u| {
        u == WILDCARD
            || u == requested
            || (u.ends_with('*') && requested.starts_with(u.trim_end_matches('*')))
    })
}

/// `RuleAllows`: whether this one rule allows the request.
pub fn rule_allows(attrs: &Attributes<'_>, rule: &PolicyRule) -> bool {
    match &attrs.request {
        Request::Resource(r) => {
            let combined = r.combined_resource();
            verb_matches(rule, attrs.verb)
                && api_group_matches(rule, r.api_group)
                && resource_matches(rule, &combined, r.subresource)
                && resource_name_matches(rule, r.name)
        }
        Request::NonResource(n) => {
            verb_matches(rule, attrs.verb) && non_resource_url_matches(rule, n.path)
        }
    }
}

impl PolicyRule {
    /// The rule in one line, as virtguard's outputs write it:
    /// `apiGroups=[""] resources=[pods] verbs=[create]` (`""` for the core group).
    pub fn describe(&self) -> String {
        let list = |v: &[String]| {
            let q: Vec<&str> = v
                .iter()
                .map(|s| if s.is_empty() { "\"\"" } else { s.as_str() })
                .collect();
            format!("[{}]", q.join(", "))
        };
        let mut parts = Vec::new();
        if !self.non_resource_urls.is_empty() {
            parts.push(format!("nonResourceURLs={}", list(&self.non_resource_urls)));
        } else {
            parts.push(format!("apiGroups={}", list(&self.api_groups)));
            parts.push(format!("resources={}", list(&self.resources)));
            if !self.resource_names.is_empty() {
                parts.push(format!("resourceNames={}", list(&self.resource_names)));
            }
        }
        parts.push(format!("verbs={}", list(&self.verbs)));
        parts.join(" ")
    }

    /// A resource rule from string slices (tests and catalogs).
    pub fn resource(verbs: &[&str], api_groups: &[&str], resources: &[&str]) -> Self {
        PolicyRule {
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            api_groups: api_groups.iter().map(|s| s.to_string()).collect(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    /// A non-resource rule from string slices.
    pub fn non_resource(verbs: &[&str], urls: &[&str]) -> Self {
        PolicyRule {
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            non_resource_urls: urls.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    /// The rule restricted to the given names.
    pub fn with_names(mut self, names: &[&str]) -> Self {
        self.resource_names = names.iter().map(|s| s.to_string()).collect();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_subresource_needs_a_requested_subresource() {
        let r = PolicyRule::resource(&["get"], &["apps"], &["*/scale"]);
        assert!(resource_matches(&r, "deployments/scale", "scale"));
        assert!(!resource_matches(&r, "deployments", ""));
        // `resource: deployments/scale` with no subresource field: the combined string matches no
        // `*/` rule, exactly as Kubernetes compares against the requested subresource.
        assert!(!resource_matches(&r, "deployments/scale", ""));
    }

    #[test]
    fn literal_star_after_slash_is_not_a_wildcard() {
        let r = PolicyRule::resource(&["get"], &[""], &["pods/*"]);
        assert!(!resource_matches(&r, "pods/log", "log"));
        assert!(resource_matches(&r, "pods/*", "*"));
    }

    #[test]
    fn names_never_match_nameless_requests() {
        let r = PolicyRule::resource(&["get"], &[""], &["pods"]).with_names(&["a"]);
        assert!(resource_name_matches(&r, "a"));
        assert!(!resource_name_matches(&r, ""));
        assert!(!resource_name_matches(&r, "b"));
    }

    #[test]
    fn url_prefix() {
        let r = PolicyRule::non_resource(&["get"], &["/apis/*"]);
        assert!(non_resource_url_matches(&r, "/apis/"));
        assert!(non_resource_url_matches(&r, "/apis/apps"));
        assert!(!non_resource_url_matches(&r, "/apis"));
        assert!(!non_resource_url_matches(&r, "/api"));
    }
}
