//! The discovery table: resource names, singular names, kinds and short names → group + scope.

use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

/// The embedded table (`data/discovery.yaml`).
const TABLE: &str = include_str!("../data/discovery.yaml");

/// Subresources served by an aggregated API in another group (KubeVirt's virt-api).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiSubresources {
    /// The group RBAC checks them in, e.g. `subresources.kubevirt.io`.
    pub group: String,
    /// Subresource names, e.g. `vnc`, `vnc/screenshot`.
    pub names: Vec<String>,
}

/// One API resource.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiResource {
    /// API group (`""` for core).
    pub group: String,
    /// Preferred version.
    #[serde(default)]
    pub version: String,
    /// Plural resource name.
    pub resource: String,
    /// Singular name.
    #[serde(default)]
    pub singular: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
    /// Short names (`vmi`, `dv`).
    #[serde(default)]
    pub short_names: Vec<String>,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Subresources authorized in the resource's own group.
    #[serde(default)]
    pub subresources: Vec<String>,
    /// Subresources authorized in another group.
    #[serde(default)]
    pub api_subresources: Option<ApiSubresources>,
}

#[derive(Deserialize)]
struct Table {
    resources: Vec<ApiResource>,
}

/// A table that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The embedded table is malformed (a build defect; tests catch it).
    #[error("discovery table: {0}")]
    Table(String),
    /// A CustomResourceDefinition lacks what discovery needs.
    #[error("CustomResourceDefinition {name}: {message}")]
    Crd {
        /// CRD name.
        name: String,
        /// What is missing.
        message: String,
    },
}

/// Resource names a user may type, resolved in kubectl's priority order.
#[derive(Debug, Clone)]
pub struct Discovery {
    resources: Vec<ApiResource>,
}

/// What a `TYPE[.GROUP]` (and optional subresource) means to RBAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The API group RBAC checks.
    pub group: String,
    /// The plural resource.
    pub resource: String,
    /// The subresource (as given).
    pub subresource: String,
    /// Scope, when the resource is known.
    pub namespaced: Option<bool>,
    /// Whether the table (or a CRD of the snapshot) knows the resource.
    pub known: bool,
    /// Explanations (e.g. why the group is `subresources.kubevirt.io`).
    pub notes: Vec<String>,
    /// Warnings (an unknown resource type or subresource, taken as given).
    pub warnings: Vec<String>,
}

static BUILTIN: OnceLock<Result<Vec<ApiResource>, String>> = OnceLock::new();

impl Discovery {
    /// The embedded table of Kubernetes, KubeVirt, CDI and common add-on resources.
    pub fn builtin() -> Result<Self, DiscoveryError> {
        let r = BUILTIN.get_or_init(|| {
            serde_yaml_ng::from_str::<Table>(TABLE)
                .map(|t| t.resources)
                .map_err(|e| e.to_string())
        });
        match r {
            Ok(v) => Ok(Discovery {
                resources: v.clone(),
            }),
            Err(e) => Err(DiscoveryError::Table(e.clone())),
        }
    }

    /// Every resource, in priority order.
    pub fn resources(&self) -> &[ApiResource] {
        &self.resources
    }

    /// Adds resources (from the snapshot's CRDs) after the built-in ones; a CRD for a
    /// (group, resource) the table already has replaces that entry.
    pub fn extend(&mut self, extra: Vec<ApiResource>) {
        for r in extra {
            match self
                .resources
                .iter_mut()
                .find(|e| e.group == r.group && e.resource == r.resource)
            {
                Some(e) => {
                    let api = e.api_subresources.take();
                    *e = ApiResource {
                        api_subresources: r.api_subresources.clone().or(api),
                        ..r
                    };
                }
                None => self.resources.push(r),
            }
        }
    }

    /// Finds the entry for a (group, plural resource) pair, also when the group is the one its
    /// subresources are served in.
    pub fn find(&self, group: &str, resource: &str) -> Option<&ApiResource> {
        self.resources
            .iter()
            .find(|e| e.group == group && e.resource == resource)
            .or_else(|| {
                self.resources.iter().find(|e| {
                    e.resource == resource
                        && e.api_subresources
                            .as_ref()
                            .is_some_and(|a| a.group == group)
                })
            })
    }

    fn matching<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s ApiResource> + 's {
        self.resources.iter().filter(move |e| {
            e.resource.eq_ignore_ascii_case(name)
                || (!e.singular.is_empty() && e.singular.eq_ignore_ascii_case(name))
                || (!e.kind.is_empty() && e.kind.eq_ignore_ascii_case(name))
                || e.short_names.iter().any(|s| s.eq_ignore_ascii_case(name))
        })
    }

    /// Resolves `TYPE[.GROUP]` (as kubectl accepts: plural, singular, kind or short name, with an
    /// optional `.group` or `.version.group`) and a subresource. An unknown type is taken as
    /// given, with a note, exactly as kubectl does.
    pub fn resolve(&self, type_arg: &str, subresource: &str) -> Resolution {
        let (name, group) = match type_arg.split_once('.') {
            Some((n, g)) => (n, Some(g)),
            None => (type_arg, None),
        };
        let found: Option<(&ApiResource, &str)> = match group {
            None => self.matching(name).next().map(|e| (e, e.group.as_str())),
            Some(g) => {
                let version_stripped = g
                    .split_once('.')
                    .filter(|(v, _)| looks_like_version(v))
                    .map(|(_, rest)| rest);
                let candidates = [Some(g), version_stripped];
                candidates.into_iter().flatten().find_map(|g| {
                    self.matching(name).find_map(|e| {
                        let own = e.group == g;
                        let api = e.api_subresources.as_ref().is_some_and(|a| a.group == g);
                        (own || api).then_some((e, g))
                    })
                })
            }
        };
        let mut notes = Vec::new();
        let mut warnings = Vec::new();
        let Some((entry, typed_group)) = found else {
            let g = group.unwrap_or("");
            warnings.push(match group {
                Some(g) => format!(
                    "the discovery table does not know resource type \"{name}\" in group \"{g}\"; using it as given"
                ),
                None => format!(
                    "the discovery table does not know resource type \"{name}\"; using it as given (core group)"
                ),
            });
            return Resolution {
                group: g.to_string(),
                resource: name.to_string(),
                subresource: subresource.to_string(),
                namespaced: None,
                known: false,
                notes,
                warnings,
            };
        };
        let mut rgroup = typed_group.to_string();
        if !subresource.is_empty() {
            let own = entry.subresources.iter().any(|s| s == subresource);
            match &entry.api_subresources {
                Some(api) if !own => {
                    if rgroup != api.group {
                        notes.push(format!(
                            "{}/{} is served by the aggregated API {} (KubeVirt's virt-api); RBAC checks it in group \"{}\", not \"{}\"",
                            entry.resource, subresource, api.group, api.group, rgroup
                        ));
                        rgroup = api.group.clone();
                    }
                    if !api.names.iter().any(|s| s == subresource) {
                        warnings.push(format!(
                            "unknown subresource \"{subresource}\" of {}; checked as given",
                            entry.resource
                        ));
                    }
                }
                _ if !own => warnings.push(format!(
                    "unknown subresource \"{subresource}\" of {}; checked as given",
                    entry.resource
                )),
                _ => {}
            }
        }
        Resolution {
            group: rgroup,
            resource: entry.resource.clone(),
            subresource: subresource.to_string(),
            namespaced: Some(entry.namespaced),
            known: true,
            notes,
            warnings,
        }
    }
}

fn looks_like_version(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let tail = &rest[digits..];
    tail.is_empty()
        || ["alpha", "beta"].iter().any(|p| {
            tail.strip_prefix(p)
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        })
}

impl ApiResource {
    /// The discovery entry a CustomResourceDefinition (`apiextensions.k8s.io/v1`) defines.
    pub fn from_crd(crd: &Value) -> Result<Self, DiscoveryError> {
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let err = |m: &str| DiscoveryError::Crd {
            name: name.clone(),
            message: m.to_string(),
        };
        let s = |p: &str| crd.pointer(p).and_then(Value::as_str).map(str::to_string);
        let group = s("/spec/group").ok_or_else(|| err("spec.group is required"))?;
        let plural = s("/spec/names/plural").ok_or_else(|| err("spec.names.plural is required"))?;
        let scope = s("/spec/scope").ok_or_else(|| err("spec.scope is required"))?;
        let namespaced = match scope.as_str() {
            "Namespaced" => true,
            "Cluster" => false,
            _ => return Err(err("spec.scope must be Namespaced or Cluster")),
        };
        let versions = crd.pointer("/spec/versions").and_then(Value::as_array);
        let version = versions
            .and_then(|v| {
                v.iter()
                    .find(|x| x.get("storage").and_then(Value::as_bool) == Some(true))
                    .or(v.first())
            })
            .and_then(|x| x.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut subresources = Vec::new();
        for v in versions.into_iter().flatten() {
            if let Some(Value::Object(sr)) = v.get("subresources") {
                for k in sr.keys() {
                    if !subresources.contains(k) {
                        subresources.push(k.clone());
                    }
                }
            }
        }
        Ok(ApiResource {
            group,
            version,
            singular: s("/spec/names/singular").unwrap_or_default(),
            kind: s("/spec/names/kind").unwrap_or_default(),
            short_names: crd
                .pointer("/spec/names/shortNames")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            resource: plural,
            namespaced,
            subresources,
            api_subresources: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses_and_has_no_duplicates() {
        let d = Discovery::builtin().expect("embedded table parses");
        let mut seen = std::collections::HashSet::new();
        for r in d.resources() {
            assert!(
                seen.insert((&r.group, &r.resource)),
                "duplicate {}/{}",
                r.group,
                r.resource
            );
        }
    }

    #[test]
    fn versions() {
        assert!(looks_like_version("v1"));
        assert!(looks_like_version("v1beta1"));
        assert!(looks_like_version("v2alpha3"));
        assert!(!looks_like_version("vm"));
        assert!(!looks_like_version("v1beta"));
        assert!(!looks_like_version("kubevirt"));
    }
}
