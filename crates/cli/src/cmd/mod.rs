//! One module per command; shared request parsing lives here.

pub mod access_review;
pub mod audit;
pub mod authorize;
pub mod authz_config;
pub mod can_i;
pub mod certs;
pub mod completion;
pub mod diff;
pub mod kubeconfig;
pub mod list;
pub mod matrix;
pub mod node_check;
pub mod paths;
pub mod roles;
pub mod serve;
pub mod snapshot;
pub mod webhook_config;
pub mod who_can;

use anyhow::{bail, Result};
use virtguard_catalog::Discovery;
use virtguard_rbac::{Attributes, ResourceAttributes, User};

use crate::args::RequestArgs;

/// A request as the user typed it, resolved through discovery.
#[derive(Debug, Clone)]
pub struct Target {
    pub verb: String,
    pub kind: TargetKind,
    /// Explanations from resolving it (why a group was chosen).
    pub notes: Vec<String>,
    /// Warnings from resolving it (unknown types, ignored flags).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum TargetKind {
    Resource {
        namespace: String,
        group: String,
        resource: String,
        subresource: String,
        name: String,
        /// Scope when known.
        namespaced: Option<bool>,
    },
    NonResource {
        path: String,
    },
}

impl Target {
    /// Parses `VERB TYPE[.GROUP][/NAME] [NAME]` or `VERB /url` with `--subresource`, `-n`, `-A`.
    pub fn parse(a: &RequestArgs, discovery: &Discovery) -> Result<Target> {
        let (Some(verb), Some(target)) = (&a.verb, &a.target) else {
            bail!("you must specify two arguments: VERB TYPE[.GROUP][/NAME] or VERB /url (see --help)");
        };
        if verb.is_empty() {
            bail!("the verb must not be empty");
        }
        if target.starts_with('/') {
            if a.subresource.is_some() {
                bail!("--subresource can not be used with a non-resource URL");
            }
            if a.name.is_some() {
                bail!("a non-resource URL and a resource name can not be given together");
            }
            return Ok(Target {
                verb: verb.clone(),
                kind: TargetKind::NonResource {
                    path: target.clone(),
                },
                notes: Vec::new(),
                warnings: Vec::new(),
            });
        }
        let (type_arg, name) = match target.split_once('/') {
            Some((t, n)) => {
                if a.name.is_some() {
                    bail!("give the name either as TYPE/NAME or as a separate argument, not both");
                }
                if n.is_empty() {
                    bail!("`{target}`: the name after `/` is empty");
                }
                (t, n.to_string())
            }
            None => (target.as_str(), a.name.clone().unwrap_or_default()),
        };
        if type_arg.is_empty() {
            bail!("`{target}`: the resource type is empty");
        }
        let subresource = a.subresource.clone().unwrap_or_default();
        let (group, resource, namespaced, notes, mut warnings) = if type_arg == "*" {
            (
                String::new(),
                "*".to_string(),
                Some(true),
                Vec::new(),
                Vec::new(),
            )
        } else {
            let r = discovery.resolve(&type_arg.to_ascii_lowercase(), &subresource);
            (r.group, r.resource, r.namespaced, r.notes, r.warnings)
        };
        let namespace = if a.all_namespaces {
            String::new()
        } else if namespaced == Some(false) {
            if let Some(ns) = &a.namespace {
                warnings.push(format!(
                    "resource \"{resource}\" is not namespace scoped; -n {ns} is ignored and the request is checked cluster-wide"
                ));
            }
            String::new()
        } else {
            a.namespace.clone().unwrap_or_else(|| "default".to_string())
        };
        Ok(Target {
            verb: verb.clone(),
            kind: TargetKind::Resource {
                namespace,
                group,
                resource,
                subresource,
                name,
                namespaced,
            },
            notes,
            warnings,
        })
    }

    /// The attributes for a user.
    pub fn attributes<'a>(&'a self, user: &'a User) -> Attributes<'a> {
        match &self.kind {
            TargetKind::Resource {
                namespace,
                group,
                resource,
                subresource,
                name,
                ..
            } => Attributes::resource(
                user,
                &self.verb,
                ResourceAttributes {
                    namespace,
                    api_group: group,
                    resource,
                    subresource,
                    name,
                },
            ),
            TargetKind::NonResource { path } => Attributes::non_resource(user, &self.verb, path),
        }
    }

    /// The request as JSON (for `-o json`).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.kind {
            TargetKind::Resource {
                namespace,
                group,
                resource,
                subresource,
                name,
                ..
            } => serde_json::json!({
                "verb": self.verb, "namespace": namespace, "group": group,
                "resource": resource, "subresource": subresource, "name": name,
            }),
            TargetKind::NonResource { path } => {
                serde_json::json!({"verb": self.verb, "path": path})
            }
        }
    }

    /// One line describing the request, e.g. `get virtualmachineinstances/vnc (group
    /// subresources.kubevirt.io) in namespace vm-dev`.
    pub fn describe(&self) -> String {
        match &self.kind {
            TargetKind::NonResource { path } => format!("{} {path}", self.verb),
            TargetKind::Resource {
                namespace,
                group,
                resource,
                subresource,
                name,
                ..
            } => {
                let mut s = format!("{} {resource}", self.verb);
                if !subresource.is_empty() {
                    s.push('/');
                    s.push_str(subresource);
                }
                if !name.is_empty() {
                    s.push_str(&format!(" named \"{name}\""));
                }
                s.push_str(&format!(" (group \"{group}\")"));
                if namespace.is_empty() {
                    s.push_str(" cluster-wide");
                } else {
                    s.push_str(&format!(" in namespace {namespace}"));
                }
                s
            }
        }
    }
}
