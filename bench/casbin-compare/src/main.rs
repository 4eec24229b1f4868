//! Side-by-side benchmark: virtguard's RBAC decisions against the `casbin` crate's
//! RBAC-with-domains model, on the same policy and the same SubjectAccessReviews.
//!
//! Usage: `casbin-compare SNAPSHOT_DIR REVIEWS.jsonl [N] [--casbin-max M] [--casbin-secs S]
//! [--model exact|classic] [--probes K]`
//!
//! * virtguard answers N requests (default 200000; the reviews file is cycled if shorter).
//! * casbin answers the same requests, in the same order, until it has done N, or M
//!   (`--casbin-max`), or its time budget of S seconds (`--casbin-secs`, default 60) runs out:
//!   casbin scans every policy line per `enforce`, so at scale 20 it cannot do 200000 in minutes.
//! * Agreement is measured on the requests both answered.
//!
//! The casbin model (see `MODEL`): one domain per namespace, `*` for ClusterRoleBindings;
//! `p, role, domain, apigroup, resource, resourcename, verb` expanded from every bound (aggregated)
//! role; `g, subject, role, domain` from every binding subject. A request is allowed when the user
//! or any of its groups is allowed (enforce is called per subject, stopping at the first allow).

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::time::{Duration, Instant};

use casbin::function_map::OperatorFunction;
use casbin::prelude::*;
use casbin::rhai::Dynamic;
use casbin::Adapter;
use serde_json::Value;
use virtguard_rbac::{
    Attributes, BindingKind, Policy, ResourceAttributes, Role, RoleKind, SubjectKind, User,
};

/// RBAC with domains. Field order in the matcher is chosen for casbin's sake: the cheap, most
/// selective string comparisons first, the role-manager lookups (`g`) last, since casbin
/// evaluates the matcher once per policy line.
const MODEL: &str = r#"
[request_definition]
r = sub, dom, grp, res, nm, act

[policy_definition]
p = sub, dom, grp, res, nm, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = k8sResourceMatch(r.res, p.res) && (p.grp == "*" || p.grp == r.grp) && (p.act == "*" || p.act == r.act) && (p.nm == "" || p.nm == r.nm) && (p.dom == "*" || p.dom == r.dom) && (g(r.sub, p.sub, r.dom) || g(r.sub, p.sub, "*"))
"#;

/// The "classic" casbin RBAC-with-domains model, built-in functions only: no resource-name field
/// (rules restricted to resourceNames are left out, so casbin under-grants rather than over-grants)
/// and `keyMatch` for resources (right for `*` and plain names, wrong for `*/subresource`, which it
/// reads as "every resource").
const MODEL_CLASSIC: &str = r#"
[request_definition]
r = sub, dom, grp, res, act

[policy_definition]
p = sub, dom, grp, res, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = keyMatch(r.res, p.res) && (p.grp == "*" || p.grp == r.grp) && (p.act == "*" || p.act == r.act) && (p.dom == "*" || p.dom == r.dom) && (g(r.sub, p.sub, r.dom) || g(r.sub, p.sub, "*"))
"#;

/// Which casbin model to compare with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// `MODEL`: resource names and Kubernetes' resource matching (custom function).
    Exact,
    /// `MODEL_CLASSIC`: built-in functions only.
    Classic,
}

/// Kubernetes' `ResourceMatches`, which no built-in casbin function expresses: `*` matches every
/// (sub)resource, otherwise the combined `resource/subresource` must be equal, or the rule says
/// `*/subresource` and the request has that subresource. (`keyMatch("pods/log", "*/log")` is a
/// prefix match on the empty string, i.e. matches everything; `keyMatch2` and `globMatch` would
/// let `*` cross the `/` or need regexes per call.)
fn k8s_resource_match(requested: Dynamic, rule: Dynamic) -> Dynamic {
    let (Ok(req), Ok(rule)) = (
        requested.into_immutable_string(),
        rule.into_immutable_string(),
    ) else {
        return false.into();
    };
    let m = rule == "*"
        || rule == req
        || match (rule.strip_prefix("*/"), req.split_once('/')) {
            (Some(rsub), Some((_, qsub))) => !qsub.is_empty() && rsub == qsub,
            _ => false,
        };
    m.into()
}

/// One request, parsed once, in the forms both engines need.
struct Req {
    user: User,
    verb: String,
    namespace: String,
    group: String,
    resource: String,
    subresource: String,
    name: String,
    /// `resource/subresource` (or `resource`), as RBAC compares it.
    combined: String,
    /// Non-resource path, when the review is a non-resource one.
    path: Option<String>,
    /// casbin subjects: `u:NAME` then `g:GROUP`…
    subjects: Vec<String>,
}

fn parse_review(line: &str) -> Option<Req> {
    let v: Value = serde_json::from_str(line).ok()?;
    let spec = v.get("spec")?;
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let user = s(spec, "user");
    let groups: Vec<String> = spec
        .get("groups")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|g| g.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut subjects = vec![format!("u:{user}")];
    subjects.extend(groups.iter().map(|g| format!("g:{g}")));
    if let Some(ra) = spec.get("resourceAttributes") {
        let resource = s(ra, "resource");
        let subresource = s(ra, "subresource");
        let combined = if subresource.is_empty() {
            resource.clone()
        } else {
            format!("{resource}/{subresource}")
        };
        Some(Req {
            user: User::new(user, groups),
            verb: s(ra, "verb"),
            namespace: s(ra, "namespace"),
            group: s(ra, "group"),
            resource,
            subresource,
            name: s(ra, "name"),
            combined,
            path: None,
            subjects,
        })
    } else {
        let na = spec.get("nonResourceAttributes")?;
        Some(Req {
            user: User::new(user, groups),
            verb: s(na, "verb"),
            namespace: String::new(),
            group: String::new(),
            resource: String::new(),
            subresource: String::new(),
            name: String::new(),
            combined: String::new(),
            path: Some(s(na, "path")),
            subjects,
        })
    }
}

fn vg_decide(policy: &Policy, r: &Req) -> bool {
    let attrs = match &r.path {
        Some(p) => Attributes::non_resource(&r.user, &r.verb, p),
        None => Attributes::resource(
            &r.user,
            &r.verb,
            ResourceAttributes {
                namespace: &r.namespace,
                api_group: &r.group,
                resource: &r.resource,
                subresource: &r.subresource,
                name: &r.name,
            },
        ),
    };
    policy.decide(&attrs).allowed
}

fn casbin_decide(e: &Enforcer, variant: Variant, r: &Req, calls: &mut u64) -> bool {
    if r.path.is_some() {
        // Non-resource rules are not exported to casbin (see `export`).
        return false;
    }
    for sub in &r.subjects {
        *calls += 1;
        let ok = if variant == Variant::Classic {
            e.enforce((
                sub.as_str(),
                r.namespace.as_str(),
                r.group.as_str(),
                r.combined.as_str(),
                r.verb.as_str(),
            ))
        } else {
            e.enforce((
                sub.as_str(),
                r.namespace.as_str(),
                r.group.as_str(),
                r.combined.as_str(),
                r.name.as_str(),
                r.verb.as_str(),
            ))
        }
        .expect("casbin enforce");
        if ok {
            return true;
        }
    }
    false
}

/// What the export to casbin left out or changed.
#[derive(Default, Debug)]
struct ExportStats {
    roles_exported: usize,
    p_candidates: usize,
    p_lines: usize,
    g_lines: usize,
    non_resource_rules_skipped: usize,
    rules_with_names: usize,
    star_subresource_rules: usize,
    bindings_to_missing_roles: usize,
    sa_subjects_without_namespace: usize,
}

fn role_id(kind: RoleKind, ns: &str, name: &str) -> String {
    match kind {
        RoleKind::ClusterRole => format!("clusterrole:{name}"),
        RoleKind::Role => format!("role:{ns}/{name}"),
    }
}

/// Turns virtguard's (aggregated) policy into casbin `p` and `g` lines. Each bound role is
/// exported once (its id is unique, so only lines within one role can repeat).
fn export(policy: &Policy, variant: Variant) -> (Vec<Vec<String>>, Vec<Vec<String>>, ExportStats) {
    let mut st = ExportStats::default();
    let mut p: Vec<Vec<String>> = Vec::new();
    let mut g: HashSet<(String, usize, usize)> = HashSet::new();
    let mut g_lines: Vec<Vec<String>> = Vec::new();
    // Role index -> exported id index; domain strings interned by index too.
    let mut exported: HashMap<*const Role, usize> = HashMap::new();
    let mut rids: Vec<String> = Vec::new();
    let mut domains: HashMap<String, usize> = HashMap::new();
    let mut domain_names: Vec<String> = Vec::new();
    let mut role_lines: HashSet<[&str; 5]> = HashSet::new();
    for (bi, b) in policy.bindings().iter().enumerate() {
        let role = match policy.binding_role(bi) {
            Ok(r) => r,
            Err(_) => {
                st.bindings_to_missing_roles += 1;
                continue;
            }
        };
        let ri = match exported.get(&(role as *const Role)) {
            Some(&i) => i,
            None => {
                let rid = role_id(role.kind, &role.namespace, &role.name);
                let i = rids.len();
                exported.insert(role as *const Role, i);
                rids.push(rid.clone());
                st.roles_exported += 1;
                let pdom = match role.kind {
                    RoleKind::ClusterRole => "*",
                    RoleKind::Role => role.namespace.as_str(),
                };
                role_lines.clear();
                for rule in &role.rules {
                    if rule.resources.is_empty() {
                        if !rule.non_resource_urls.is_empty() {
                            st.non_resource_rules_skipped += 1;
                        }
                        continue;
                    }
                    if !rule.resource_names.is_empty() {
                        st.rules_with_names += 1;
                        if variant == Variant::Classic {
                            continue;
                        }
                    }
                    if rule.resources.iter().any(|r| r.starts_with("*/")) {
                        st.star_subresource_rules += 1;
                    }
                    let names: &[String] = if rule.resource_names.is_empty() {
                        std::slice::from_ref(&EMPTY)
                    } else {
                        &rule.resource_names
                    };
                    for grp in &rule.api_groups {
                        for res in &rule.resources {
                            for nm in names {
                                for verb in &rule.verbs {
                                    st.p_candidates += 1;
                                    if role_lines.insert([pdom, grp, res, nm, verb]) {
                                        let mut line = vec![
                                            rid.clone(),
                                            pdom.to_string(),
                                            grp.clone(),
                                            res.clone(),
                                        ];
                                        if variant == Variant::Exact {
                                            line.push(nm.clone());
                                        }
                                        line.push(verb.clone());
                                        p.push(line);
                                    }
                                }
                            }
                        }
                    }
                }
                i
            }
        };
        let domain = match b.kind {
            BindingKind::ClusterRoleBinding => "*",
            BindingKind::RoleBinding => b.namespace.as_str(),
        };
        let di = match domains.get(domain) {
            Some(&d) => d,
            None => {
                domains.insert(domain.to_string(), domain_names.len());
                domain_names.push(domain.to_string());
                domain_names.len() - 1
            }
        };
        for s in &b.subjects {
            let sub = match s.kind {
                SubjectKind::User => format!("u:{}", s.name),
                SubjectKind::Group => format!("g:{}", s.name),
                SubjectKind::ServiceAccount => match s.service_account_username(&b.namespace) {
                    Some(u) => format!("u:{u}"),
                    None => {
                        st.sa_subjects_without_namespace += 1;
                        continue;
                    }
                },
            };
            if g.insert((sub.clone(), ri, di)) {
                g_lines.push(vec![sub, rids[ri].clone(), domain_names[di].clone()]);
            }
        }
    }
    st.p_lines = p.len();
    st.g_lines = g_lines.len();
    (p, g_lines, st)
}

static EMPTY: String = String::new();

async fn build_enforcer(variant: Variant, p: Vec<Vec<String>>, g: Vec<Vec<String>>) -> Enforcer {
    let mut a = MemoryAdapter::default();
    Adapter::add_policies(&mut a, "p", "p", p)
        .await
        .expect("add p");
    Adapter::add_policies(&mut a, "g", "g", g)
        .await
        .expect("add g");
    let m = DefaultModel::from_str(match variant {
        Variant::Exact => MODEL,
        Variant::Classic => MODEL_CLASSIC,
    })
    .await
    .expect("model");
    let mut e = Enforcer::new(m, a).await.expect("enforcer");
    e.add_function(
        "k8sResourceMatch",
        OperatorFunction::Arg2(k8s_resource_match),
    );
    e
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut pos = Vec::new();
    let mut casbin_max: Option<usize> = None;
    let mut casbin_secs: f64 = 60.0;
    let mut variant = Variant::Exact;
    let mut probes: usize = 0;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--casbin-max" => {
                i += 1;
                casbin_max = Some(args[i].parse().expect("--casbin-max N"));
            }
            "--casbin-secs" => {
                i += 1;
                casbin_secs = args[i].parse().expect("--casbin-secs S");
            }
            "--probes" => {
                i += 1;
                probes = args[i].parse().expect("--probes K");
            }
            "--model" => {
                i += 1;
                variant = match args[i].as_str() {
                    "exact" => Variant::Exact,
                    "classic" => Variant::Classic,
                    m => panic!("--model exact|classic, not {m}"),
                };
            }
            a => pos.push(a.to_string()),
        }
        i += 1;
    }
    if pos.len() < 2 {
        eprintln!(
            "usage: casbin-compare SNAPSHOT_DIR REVIEWS.jsonl [N] [--casbin-max M] [--casbin-secs S] [--model exact|classic] [--probes K]"
        );
        std::process::exit(2);
    }
    let n: usize = pos.get(2).map(|s| s.parse().expect("N")).unwrap_or(200_000);

    // --- load ---
    let t = Instant::now();
    let snapshot = virtguard_snapshot::load(
        &[virtguard_snapshot::Input::Path(pos[0].clone().into())],
        &Default::default(),
    )
    .unwrap_or_else(|e| panic!("loading {}: {e}", pos[0]));
    let t_load = t.elapsed();
    let t = Instant::now();
    let roles = snapshot.roles();
    let bindings = snapshot.bindings();
    let t_convert = t.elapsed();
    let (n_roles, n_bindings) = (roles.len(), bindings.len());
    let t = Instant::now();
    let policy = Policy::new(roles, bindings);
    let t_vg_build = t.elapsed();
    println!(
        "snapshot: {} objects, {n_roles} roles, {n_bindings} bindings; load {:.2}s (parallel parse), to RBAC types {:.3}s",
        snapshot.objects.len(),
        secs(t_load),
        secs(t_convert)
    );
    println!(
        "virtguard build (Policy::new: aggregate + index): {:.3}s",
        secs(t_vg_build)
    );

    let t = Instant::now();
    let (p, g, st) = export(&policy, variant);
    let t_export = t.elapsed();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio");
    let t = Instant::now();
    let enforcer = rt.block_on(build_enforcer(variant, p, g));
    let t_casbin_build = t.elapsed();
    println!("casbin model: {variant:?}");
    println!(
        "casbin export (policy -> p/g lines): {:.3}s; {st:?}",
        secs(t_export)
    );
    println!(
        "casbin build (Enforcer::new: model + load policy + role links): {:.3}s",
        secs(t_casbin_build)
    );

    // --- requests ---
    let f = std::fs::File::open(&pos[1]).unwrap_or_else(|e| panic!("{}: {e}", pos[1]));
    let mut reqs: Vec<Req> = Vec::new();
    let mut bad = 0usize;
    for line in std::io::BufReader::new(f).lines() {
        let line = line.expect("read reviews");
        if reqs.len() >= n {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        match parse_review(&line) {
            Some(r) => reqs.push(r),
            None => bad += 1,
        }
    }
    assert!(!reqs.is_empty(), "no reviews in {}", pos[1]);
    println!(
        "reviews: {} parsed ({} unparsable), N = {n}",
        reqs.len(),
        bad
    );
    let at = |i: usize| &reqs[i % reqs.len()];

    // --- virtguard: 3 passes over the same N requests, the median pass reported ---
    let mut vg = Vec::with_capacity(n);
    let mut passes = Vec::new();
    for pass in 0..3 {
        let mut out = Vec::with_capacity(n);
        let t = Instant::now();
        for i in 0..n {
            out.push(vg_decide(&policy, at(i)));
        }
        passes.push(t.elapsed());
        if pass == 0 {
            vg = out;
        } else {
            assert_eq!(vg, out, "virtguard is deterministic");
        }
    }
    let mut sorted = passes.clone();
    sorted.sort();
    let t_vg = sorted[1];
    let vg_allowed = vg.iter().filter(|&&a| a).count();
    let vg_rate = n as f64 / secs(t_vg);
    println!(
        "virtguard decide: {n} requests in {:.3}s (median of 3 passes: {}) = {:.0} decisions/s ({vg_allowed} allowed){}",
        secs(t_vg),
        passes.iter().map(|d| format!("{:.3}s", secs(*d))).collect::<Vec<_>>().join(", "),
        vg_rate,
        if n > reqs.len() { " [reviews file cycled]" } else { "" }
    );

    // --- casbin ---
    let cmax = casbin_max.unwrap_or(n).min(n);
    let budget = Duration::from_secs_f64(casbin_secs);
    let mut cb = Vec::with_capacity(cmax);
    let mut calls = 0u64;
    let t = Instant::now();
    for i in 0..cmax {
        cb.push(casbin_decide(&enforcer, variant, at(i), &mut calls));
        if t.elapsed() >= budget {
            break;
        }
    }
    let t_cb = t.elapsed();
    let done = cb.len();
    let cb_allowed = cb.iter().filter(|&&a| a).count();
    let cb_rate = done as f64 / secs(t_cb);
    println!(
        "casbin enforce: {done} requests ({calls} enforce calls over user + groups) in {:.3}s = {:.1} decisions/s, {:.1} enforce/s ({cb_allowed} allowed){}",
        secs(t_cb),
        cb_rate,
        calls as f64 / secs(t_cb),
        if done < n { " [stopped early: budget or --casbin-max]" } else { "" }
    );

    // --- agreement on the requests both answered ---
    let mut disagree = Vec::new();
    for i in 0..done {
        if vg[i] != cb[i] {
            disagree.push(i);
        }
    }
    println!(
        "agreement: {}/{done} = {:.4}% ({} disagreements: {} allowed only by virtguard, {} only by casbin)",
        done - disagree.len(),
        100.0 * (done - disagree.len()) as f64 / done.max(1) as f64,
        disagree.len(),
        disagree.iter().filter(|&&i| vg[i]).count(),
        disagree.iter().filter(|&&i| cb[i]).count(),
    );
    for &i in disagree.iter().take(10) {
        let r = at(i);
        println!(
            "  disagree #{i}: user={} groups={:?} verb={} ns={} group={} resource={} name={} path={:?} virtguard={} casbin={}",
            r.user.name, r.user.groups, r.verb, r.namespace, r.group, r.combined, r.name, r.path, vg[i], cb[i]
        );
    }
    println!(
        "ratio virtguard/casbin (decisions/s): {:.0}x",
        vg_rate / cb_rate
    );

    // --- targeted probes: requests aimed at the rules the classic model simplifies ---
    if probes > 0 {
        let ps = make_probes(&policy, probes);
        let mut calls = 0u64;
        let mut d = Vec::new();
        let mut vg_allowed = 0;
        for (i, (why, r)) in ps.iter().enumerate() {
            let a = vg_decide(&policy, r);
            let b = casbin_decide(&enforcer, variant, r, &mut calls);
            vg_allowed += a as usize;
            if a != b {
                d.push((i, *why, a, b));
            }
        }
        println!(
            "probes ({variant:?}): {} requests aimed at resourceNames / `*/subresource` rules ({vg_allowed} allowed by virtguard): {} agree, {} disagree",
            ps.len(),
            ps.len() - d.len(),
            d.len()
        );
        let mut by_kind: std::collections::BTreeMap<(&str, bool), usize> = Default::default();
        for (_, why, a, _) in &d {
            *by_kind.entry((why, *a)).or_default() += 1;
        }
        for ((why, a), c) in by_kind {
            println!("  {c} x {why}: virtguard={a} casbin={}", !a);
        }
        for (i, _, a, b) in d.iter().take(5) {
            let r = &ps[*i].1;
            println!(
                "  e.g. user={} groups={:?} verb={} ns={} group={} resource={} name={:?}: virtguard={a} casbin={b}",
                r.user.name, r.user.groups, r.verb, r.namespace, r.group, r.combined, r.name
            );
        }
    }
}

/// A request for one binding subject, on what one rule names.
fn probe(
    sub: &virtguard_rbac::Subject,
    b: &virtguard_rbac::Binding,
    verb: &str,
    group: &str,
    resource: &str,
    subresource: &str,
    name: &str,
) -> Option<Req> {
    let (user, groups) = match sub.kind {
        SubjectKind::User => (sub.name.clone(), vec![]),
        SubjectKind::Group => ("probe-user".to_string(), vec![sub.name.clone()]),
        SubjectKind::ServiceAccount => (sub.service_account_username(&b.namespace)?, vec![]),
    };
    let namespace = if b.namespace.is_empty() {
        "probe-ns".to_string()
    } else {
        b.namespace.clone()
    };
    let mut subjects = vec![format!("u:{user}")];
    subjects.extend(groups.iter().map(|g| format!("g:{g}")));
    let combined = if subresource.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}/{subresource}")
    };
    Some(Req {
        user: User::new(user, groups),
        verb: verb.to_string(),
        namespace,
        group: group.to_string(),
        resource: resource.to_string(),
        subresource: subresource.to_string(),
        name: name.to_string(),
        combined,
        path: None,
        subjects,
    })
}

/// Up to `max` probes, spread over the bindings: for a rule with resourceNames, the named object,
/// another name and no name (list); for a `*/subresource` rule, that subresource of some resource
/// and the resource itself.
fn make_probes(policy: &Policy, max: usize) -> Vec<(&'static str, Req)> {
    let conc = |v: &str, fallback: &str| {
        if v == "*" {
            fallback.to_string()
        } else {
            v.to_string()
        }
    };
    let mut out = Vec::new();
    let bindings = policy.bindings();
    let step = (bindings.len() / max.max(1)).max(1);
    'outer: for bi in (0..bindings.len()).step_by(step).chain(0..bindings.len()) {
        let b = &bindings[bi];
        let Ok(role) = policy.binding_role(bi) else {
            continue;
        };
        let Some(sub) = b.subjects.first() else {
            continue;
        };
        for rule in &role.rules {
            let (Some(v), Some(g), Some(res)) = (
                rule.verbs.first(),
                rule.api_groups.first(),
                rule.resources.first(),
            ) else {
                continue;
            };
            let verb = conc(v, "get");
            let group = conc(g, "probe.example.io");
            if let Some(n) = rule.resource_names.first() {
                let (r, sr) = match res.split_once('/') {
                    Some((r, sr)) => (conc(r, "probes"), sr.to_string()),
                    None => (conc(res, "probes"), String::new()),
                };
                for (why, name) in [
                    ("named object of a resourceNames rule", n.as_str()),
                    ("other object of a resourceNames rule", "probe-other-name"),
                    ("no name (list) on a resourceNames rule", ""),
                ] {
                    if let Some(p) = probe(sub, b, &verb, &group, &r, &sr, name) {
                        out.push((why, p));
                    }
                }
            } else if let Some(sr) = res.strip_prefix("*/") {
                for (why, r, s) in [
                    ("subresource under a `*/sub` rule", "probes", sr),
                    ("resource itself under a `*/sub` rule", "probes", ""),
                ] {
                    if let Some(p) = probe(sub, b, &verb, &group, r, s, "") {
                        out.push((why, p));
                    }
                }
            } else {
                continue;
            }
            if out.len() >= max {
                break 'outer;
            }
            continue 'outer;
        }
    }
    out.truncate(max);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rm(req: &str, rule: &str) -> bool {
        k8s_resource_match(req.into(), rule.into())
            .as_bool()
            .unwrap()
    }

    #[test]
    fn resource_match_follows_kubernetes() {
        assert!(rm("pods", "*"));
        assert!(rm("pods/log", "*"));
        assert!(rm("pods/log", "pods/log"));
        assert!(rm("pods/log", "*/log"));
        assert!(!rm("pods", "*/log"));
        assert!(!rm("pods/exec", "*/log"));
        assert!(!rm("pods/log", "pods"));
        assert!(!rm("pods/log", "pods/*"));
    }

    /// Why the classic model is wrong for `*/subresource`: keyMatch reads it as a prefix match on
    /// the empty string. (Its `pods/*` is right in spirit but not Kubernetes: there `pods/*` is a
    /// literal, matching nothing real.)
    #[test]
    fn key_match_is_not_kubernetes_resource_matching() {
        use casbin::function_map::key_match;
        assert!(key_match("pods", "*/log"));
        assert!(key_match("secrets/exec", "*/log"));
        assert!(key_match("pods/log", "pods/*"));
        assert!(key_match("pods/log", "*"));
        assert!(!key_match("pods/log", "pods"));
    }
}
