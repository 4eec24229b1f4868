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

/// Loads the snapshot named by `-f`, builds the policy and discovery table.
pub fn load_all(g: &Global) -> Result<Loaded> {
    check_defaults(&g.defaults, g.quiet)?;
    if g.filename.is_empty() {
        bail!("no snapshot given: pass -f PATH (a manifest file, a directory, or - for stdin)");
    }
    let inputs: Vec<Input> = g.filename.iter().map(|f| Input::parse(f)).collect();
    let snapshot = load(
        &inputs,
        &LoadOptions {
            skip_invalid: g.skip_invalid,
        },
    )
    .context("cannot load the snapshot")?;
    let quiet = g.quiet;
    for w in snapshot.warnings.iter().filter(|_| !quiet) {
        eprintln!("warning: {w}");
    }
    let policy = snapshot.policy();
    for w in policy.warnings().iter().filter(|_| !quiet) {
        match &w.origin {
            Some(o) => eprintln!("warning: {o}: {}: {}", w.object, w.message),
            None => eprintln!("warning: {}: {}", w.object, w.message),
        }
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
    Ok(Loaded {
        policy,
        discovery,
    })
}
