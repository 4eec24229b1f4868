//! `virtguard diff`: who gains and who loses which access between two KubeVirt versions, two
//! `roleAggregationStrategy` values, or two snapshots.

use anyhow::{bail, Result};
use serde_json::json;
use std::collections::HashSet;
use virtguard_catalog::{newest_kubevirt, resolve_version, Component, Selection, CDI_VERSIONS};

use virtguard_rbac::{diff_roles, diff_subjects, Binding, Change, Policy, Role};

use crate::args::{DiffArgs, Global, Output};
use crate::input::{catalog_snapshot, install, load_snapshot, policy_of, Install};
use crate::render::print_structured;

/// One side of a version or strategy diff.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Side {
    KubeVirt(&'static str),
    Strategy { manual: bool },
}

fn parse_side(s: &str) -> Result<Side> {
    if let Some(v) = s.strip_prefix("kubevirt@") {
        return Ok(Side::KubeVirt(resolve_version(Component::KubeVirt, v)?));
    }
    match s.strip_prefix("strategy=") {
        Some("AggregateToDefault") => Ok(Side::Strategy { manual: false }),
        Some("Manual") => Ok(Side::Strategy { manual: true }),
        Some(other) => bail!(
            "unsupported value \"{other}\" for strategy: supported values: \"AggregateToDefault\", \"Manual\""
        ),
        None => bail!("`{s}`: expected kubevirt@VERSION or strategy=AggregateToDefault|Manual"),
    }
}

/// Kubernetes' and CDI's roles, the same on both sides.
fn base() -> Vec<Selection> {
    vec![
        Selection {
            component: Component::Kubernetes,
            version: "",
        },
        Selection {
            component: Component::Cdi,
            version: CDI_VERSIONS[CDI_VERSIONS.len() - 1],
        },
    ]
}

/// A snapshot's RBAC, converted once and shared by both sides.
struct Base {
    roles: Vec<Role>,
    bindings: Vec<Binding>,
}

/// `over` put over `under` by identity `key`: items of `under` with the key of one of `over` are
/// replaced (`replace`), or kept in preference to `over`'s (`!replace`).
fn merge_by<T: Clone, K: Eq + std::hash::Hash>(
    under: &[T],
    over: &[T],
    key: impl Fn(&T) -> K,
    replace: bool,
) -> Vec<T> {
    let over_keys: HashSet<K> = over.iter().map(&key).collect();
    let under_keys: HashSet<K> = under.iter().map(&key).collect();
    under
        .iter()
        .filter(|x| !replace || !over_keys.contains(&key(x)))
        .chain(
            over.iter()
                .filter(|x| replace || !under_keys.contains(&key(x))),
        )
        .cloned()
        .collect()
}

/// `over`'s roles and bindings put over `under`'s (see [`merge_by`]).
fn merge(under: &Base, over: (Vec<Role>, Vec<Binding>), replace: bool) -> Base {
    let role_key = |r: &Role| (r.kind, r.namespace.clone(), r.name.clone());
    let binding_key = |b: &Binding| (b.kind, b.namespace.clone(), b.name.clone());
    Base {
        roles: merge_by(&under.roles, &over.0, role_key, replace),
        bindings: merge_by(&under.bindings, &over.1, binding_key, replace),
    }
}

/// The policy of one side: the snapshot's RBAC (if any) with KubeVirt's roles for that side put
/// over the snapshot's own (virt-operator rewrites them), and the other defaults under it.
fn side_policy(
    g: &Global,
    snapshot: Option<&Base>,
    inst: &Install,
    side: Side,
    default_version: &'static str,
) -> Result<Policy> {
    let (version, manual) = match side {
        Side::KubeVirt(v) => (v, None),
        Side::Strategy { manual } => (default_version, Some(manual)),
    };
    let mut notes = Vec::new();
    let kubevirt = catalog_snapshot(
        &[Selection {
            component: Component::KubeVirt,
            version,
        }],
        inst,
        manual,
        &mut notes,
    )?;
    let empty = Base {
        roles: Vec::new(),
        bindings: Vec::new(),
    };
    let mut s = merge(
        snapshot.unwrap_or(&empty),
        (kubevirt.roles(), kubevirt.bindings()),
        true,
    );
    if snapshot.is_none() || g.defaults != "none" {
        let others = catalog_snapshot(&base(), inst, None, &mut notes)?;
        s = merge(&s, (others.roles(), others.bindings()), false);
    }
    Ok(Policy::new(s.roles, s.bindings))
}

fn describe(side: &Side) -> String {
    match side {
        Side::KubeVirt(v) => format!("kubevirt@{v}"),
        Side::Strategy { manual: true } => "strategy=Manual".to_string(),
        Side::Strategy { manual: false } => "strategy=AggregateToDefault".to_string(),
    }
}

pub fn run(g: &Global, a: &DiffArgs) -> Result<u8> {
    let (from_label, to_label, changes) = match (&a.from_snapshot, &a.to_snapshot, &a.from, &a.to) {
        (Some(fa), Some(fb), None, None) => {
            let (pa, pb) = rayon::join(
                || load_snapshot(g, std::slice::from_ref(fa)).and_then(|s| policy_of(g, s)),
                || load_snapshot(g, std::slice::from_ref(fb)).and_then(|s| policy_of(g, s)),
            );
            let (pa, pb) = (pa?, pb?);
            let changes = diff_subjects(&pa, &pb);
            std::mem::forget((pa, pb));
            (fa.clone(), fb.clone(), changes)
        }
        (None, None, Some(f), Some(t)) => {
            let (from, to) = (parse_side(f)?, parse_side(t)?);
            if std::mem::discriminant(&from) != std::mem::discriminant(&to) {
                bail!("--from and --to must both be kubevirt@VERSION or both strategy=…");
            }
            let timing = std::env::var_os("VIRTGUARD_TIMING").is_some();
            let t0 = std::time::Instant::now();
            let snapshot = if g.filename.is_empty() {
                None
            } else {
                Some(load_snapshot(g, &g.filename)?)
            };
            let inst = snapshot.as_ref().map(install).transpose()?.unwrap_or(Install {
                version: None,
                namespace: String::new(),
                manual: false,
                enabled: Vec::new(),
                disabled: Vec::new(),
                virt_template_disabled: false,
            });
            let default_version = match &inst.version {
                Some((v, _)) => resolve_version(Component::KubeVirt, v).unwrap_or_else(|_| newest_kubevirt()),
                None => newest_kubevirt(),
            };
            // The snapshot's RBAC is converted once; its objects are freed off the critical path.
            let base = snapshot.map(|s| {
                let b = Base {
                    roles: s.roles(),
                    bindings: s.bindings(),
                };
                std::thread::spawn(move || drop(s));
                b
            });
            // The two sides are independent: build them on both cores.
            let (pa, pb) = rayon::join(
                || side_policy(g, base.as_ref(), &inst, from, default_version),
                || side_policy(g, base.as_ref(), &inst, to, default_version),
            );
            let (pa, pb) = (pa?, pb?);
            if timing {
                eprintln!("timing: diff: load + policies {:?}", t0.elapsed());
            }
            let changes = if base.is_some() {
                diff_subjects(&pa, &pb)
            } else {
                diff_roles(&pa, &pb, |n| {
                    matches!(n, "admin" | "edit" | "view")
                        || n.starts_with("kubevirt.io:")
                        || n.starts_with("instancetype.kubevirt.io:")
                })
            };
            if timing {
                eprintln!("timing: diff: total {:?}", t0.elapsed());
            }
            // Process-lifetime data: freeing it object by object at exit would only cost time.
            std::mem::forget((pa, pb, base));
            (describe(&from), describe(&to), changes)
        }
        _ => bail!("give --from and --to (kubevirt@VERSION or strategy=…), or --from-snapshot and --to-snapshot"),
    };
    let lost_any = changes.iter().any(|c| !c.lost.is_empty());
    if !g.quiet {
        match g.output {
            Some(o @ (Output::Json | Output::Yaml)) => {
                let v = json!({
                    "from": from_label,
                    "to": to_label,
                    "changes": changes.iter().map(change_json).collect::<Vec<_>>(),
                });
                print_structured(&v, o == Output::Yaml)?;
            }
            _ => print!("{}", text(&from_label, &to_label, &changes)),
        }
    }
    Ok(if a.exit_code && lost_any { 1 } else { 0 })
}

fn change_json(c: &Change) -> serde_json::Value {
    json!({
        "subject": c.subject,
        "namespace": c.namespace,
        "gained": c.gained.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "lost": c.lost.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
    })
}

fn text(from: &str, to: &str, changes: &[Change]) -> String {
    if changes.is_empty() {
        return format!("No access changes from {from} to {to}.\n");
    }
    let mut s = format!("Access changes from {from} to {to} (- lost, + gained):\n");
    for c in changes {
        let who = if c.subject.namespace.is_empty() {
            format!("{} {}", c.subject.kind, c.subject.name)
        } else {
            format!(
                "{} {}/{}",
                c.subject.kind, c.subject.namespace, c.subject.name
            )
        };
        let scope = if c.namespace.is_empty() {
            if c.subject.kind == "ClusterRole" {
                String::new()
            } else {
                " (cluster-wide)".to_string()
            }
        } else {
            format!(" in namespace {}", c.namespace)
        };
        s.push_str(&format!(
            "\n{who}{scope}: {} lost, {} gained\n",
            c.lost.len(),
            c.gained.len()
        ));
        for p in &c.lost {
            s.push_str(&format!("  - {p}\n"));
        }
        for p in &c.gained {
            s.push_str(&format!("  + {p}\n"));
        }
    }
    s
}
