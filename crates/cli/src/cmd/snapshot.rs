//! `virtguard snapshot`: what a live cluster (or manifests) holds, written as YAML that every
//! command reads back with `-f` — one `List` per namespace and kind under `--output-directory`
//! (the flag of `kubectl cluster-info dump`), or one `List` on stdout.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};
use virtguard_live::Scope;

use crate::args::{Global, Output, SnapshotArgs};
use crate::input::{gather, print_warnings, wants_live};

/// Directory of cluster-scoped objects (a namespace name cannot start with `_`).
const CLUSTER_DIR: &str = "_cluster";

pub fn run(g: &Global, a: &SnapshotArgs) -> Result<u8> {
    let gathered = gather(g, Scope::Audit, wants_live(g), a.include_secret_data)?;
    print_warnings(g, &gathered.snapshot);
    // (namespace or _cluster, file stem) → items, in the snapshot's order.
    let mut files: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    for o in &gathered.snapshot.objects {
        let Some(mut v) = o.to_json() else {
            continue;
        };
        if o.kind == "Secret" && !a.include_secret_data {
            // Objects from -f files may carry data too: the rule is the same for them.
            virtguard_pki::secret::withhold_private_data(&mut v);
        }
        let dir = if o.namespace.is_empty() {
            CLUSTER_DIR.to_string()
        } else {
            o.namespace.clone()
        };
        let group = virtguard_snapshot::group_of(&o.api_version);
        let stem = if group.is_empty() {
            o.kind.clone()
        } else {
            format!("{}.{group}", o.kind)
        };
        files.entry((dir, stem)).or_default().push(v);
    }
    let total: usize = files.values().map(Vec::len).sum();
    let Some(out) = &a.output_directory else {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": files.into_values().flatten().collect::<Vec<_>>()});
        let text = match g.output {
            Some(Output::Json) => serde_json::to_string_pretty(&list)? + "\n",
            _ => serde_yaml_ng::to_string(&list)?,
        };
        print!("{text}");
        return Ok(0);
    };
    let root = Path::new(out);
    for ((dir, stem), items) in &files {
        let d = root.join(dir);
        std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
        let path = d.join(format!("{stem}.yaml"));
        let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
        let text = serde_yaml_ng::to_string(&list)
            .with_context(|| format!("cannot write {} as YAML", path.display()))?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if !g.quiet {
        eprintln!(
            "wrote {total} objects from {} to {} files under {out}",
            gathered.inputs.join(", "),
            files.len()
        );
    }
    Ok(0)
}
