//! Loading what the commands evaluate: the snapshot (with `--defaults`) and the discovery table
//! extended by the snapshot's CRDs. Warnings go to stderr, errors carry file and line.

use anyhow::{bail, Context, Result};
use virtguard_catalog::{ApiResource, Discovery};
use virtguard_rbac::Policy;
use virtguard_snapshot::{load, Input, LoadOptions};

use crate::args::Global;

/// The loaded inputs of a command.
pub struct Loaded {
    pub policy: Policy,
    pub discovery: Discovery,
}

/// Warnings printed before the rest are summarised in one line.
const MAX_WARNINGS: usize = 20;

/// Checks `--defaults` and says on stderr what it means today.
fn check_defaults(defaults: &str, quiet: bool) -> Result<()> {
    match defaults {
        "none" => Ok(()),
        "auto" => {
            if !quiet {
                eprintln!(
                "note: --defaults auto: the role catalog is not built in yet, so only the snapshot's own roles and bindings are evaluated (as --defaults none)"
                );
            }
            Ok(())
        }
        other => bail!(
            "--defaults {other}: role catalogs (kubernetes, kubevirt@V, cdi@V) are not built in yet; use --defaults none and include the roles in the snapshot"
        ),
    }
}

/// Loads the snapshot named by `-f`, builds the policy and discovery table. The result lives as
/// long as the process: freeing a large policy object by object at exit would only cost time.
pub fn load_all(g: &Global) -> Result<&'static Loaded> {
    check_defaults(&g.defaults, g.quiet)?;
    if g.filename.is_empty() {
        bail!("no snapshot given: pass -f PATH (a manifest file, a directory, or - for stdin)");
    }
    let timing = std::env::var_os("VIRTGUARD_TIMING").is_some();
    let t0 = std::time::Instant::now();
    let inputs: Vec<Input> = g.filename.iter().map(|f| Input::parse(f)).collect();
    let snapshot = load(
        &inputs,
        &LoadOptions {
            skip_invalid: g.skip_invalid,
        },
    )
    .context("cannot load the snapshot")?;
    let quiet = g.quiet;
    let mut shown = 0usize;
    let mut say = |line: String| {
        if !quiet {
            if shown < MAX_WARNINGS {
                eprintln!("{line}");
            }
            shown += 1;
        }
    };
    for w in &snapshot.warnings {
        say(format!("warning: {w}"));
    }
    if timing {
        eprintln!(
            "timing: load {:?} ({} objects)",
            t0.elapsed(),
            snapshot.objects.len()
        );
    }
    let snapshot = &*Box::leak(Box::new(snapshot));
    let t1 = std::time::Instant::now();
    let (roles, bindings) = (snapshot.roles(), snapshot.bindings());
    if timing {
        eprintln!("timing: convert {:?}", t1.elapsed());
    }
    let policy = virtguard_rbac::Policy::new(roles, bindings);
    if timing {
        eprintln!("timing: policy {:?}", t1.elapsed());
    }
    for w in policy.warnings() {
        say(match &w.origin {
            Some(o) => format!("warning: {o}: {}: {}", w.object, w.message),
            None => format!("warning: {}: {}", w.object, w.message),
        });
    }
    if shown > MAX_WARNINGS {
        eprintln!(
            "warning: … and {} more warnings like these (not shown)",
            shown - MAX_WARNINGS
        );
    }
    let mut discovery = Discovery::builtin()?;
    let mut crds = Vec::new();
    for o in snapshot.of_kind("CustomResourceDefinition") {
        if let Some(v) = o.value() {
            match ApiResource::from_crd(v) {
                Ok(r) => crds.push(r),
                Err(e) if !quiet => eprintln!("warning: {}: {e}", o.source),
                Err(_) => {}
            }
        }
    }
    discovery.extend(crds);
    Ok(Box::leak(Box::new(Loaded { policy, discovery })))
}
