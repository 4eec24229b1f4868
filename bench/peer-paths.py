#!/usr/bin/env python3
"""Helpers of bench/peer-paths.sh: `virtguard paths` next to KubiScan and rbac-police.

  peer-paths.py normalize DUMP.json OUT.json               # see normalize()
  peer-paths.py rbac-police --data DIR --lib DIR          # JSON of rbac-police's violations
  peer-paths.py compare --virtguard F --kubiscan F --rbac-police F [--title T]   # Markdown tables

rbac-police (github.com/PaloAltoNetworks/rbac-police) is written in Go and has no Go here, so its
two steps are run this way:
- collect: its own `utils/get_cluster_data.sh` lists the seven kinds with kubectl (against
  `virtguard serve --api`); the files are turned into its collect schema (docs/collect.md) by
  `collect()` below, which follows pkg/collect/rbac_db.go (buildRbacDb, as `collect -a`: every
  service account, not only those of pods; a snapshot has few pods);
- eval: its Rego policies (lib/*.rego, with lib/utils/{wrapper,builtins}.rego), unchanged but for
  one syntactic rewrite, evaluated by regopy (PyPI, the rego-cpp interpreter) with the config
  pkg/eval/eval.go gives them (every violation type: service accounts, nodes, combined, users,
  groups). rego-cpp rejects a rule with several bodies written `head { a } { b }` ("only one body
  for dynamic keys"), which OPA reads as `head { a }` and `head { b }`; `desugar()` writes it so.
"""
import argparse
import glob
import json
import os
import re
import sys


def load_list(path):
    with open(path) as f:
        return json.load(f).get("items") or []


# --- rbac-police collect (pkg/collect/rbac_db.go, buildRbacDb) ---------------------------------


def sa_referenced(subjects, sa_full, rb_ns):
    # isSAReferencedBySubjects, including its early `return false` for a non-SA group.
    for s in subjects or []:
        if s.get("kind") == "ServiceAccount":
            ns = s.get("namespace") or rb_ns
            if sa_full == f"{ns}:{s.get('name')}":
                return True
        elif s.get("kind") == "Group":
            name = s.get("name", "")
            if name == "system:authenticated":
                return True
            if not name.startswith("system:serviceaccounts"):
                return False
            if name == "system:serviceaccounts":
                return True
            if name == "system:serviceaccounts:" + sa_full.split(":")[0]:
                return True
    return False


def node_referenced(subjects, node, node_groups=("system:nodes",)):
    for s in subjects or []:
        if s.get("kind") == "User" and s.get("name") == "system:node:" + node:
            return True
        if s.get("kind") == "Group" and (s.get("name") == "system:authenticated" or s.get("name") in node_groups):
            return True
    return False


def collect(data):
    pods = load_list(os.path.join(data, "pods.json"))
    nodes = load_list(os.path.join(data, "nodes.json"))
    sas = load_list(os.path.join(data, "serviceaccounts.json"))
    roles = load_list(os.path.join(data, "roles.json"))
    croles = load_list(os.path.join(data, "clusterroles.json"))
    rbs = load_list(os.path.join(data, "rolebindings.json"))
    crbs = load_list(os.path.join(data, "clusterrolebindings.json"))
    db = {"serviceAccounts": [], "nodes": [], "users": [], "groups": [], "roles": []}
    for n in nodes:
        db["nodes"].append({"name": n["metadata"]["name"], "roles": [], "serviceAccounts": []})
    for sa in sas:
        name, ns = sa["metadata"]["name"], sa["metadata"].get("namespace", "")
        entry = {"name": name, "namespace": ns, "roles": []}
        by_node = {}
        for p in pods:
            if p.get("spec", {}).get("serviceAccountName") == name and p["metadata"].get("namespace") == ns:
                node = p.get("spec", {}).get("nodeName", "")
                if node not in by_node:
                    for n in db["nodes"]:
                        if n["name"] == node:
                            n["serviceAccounts"].append(f"{ns}:{name}")
                by_node.setdefault(node, []).append(p["metadata"]["name"])
        if by_node:
            entry["nodes"] = [{"name": k, "pods": v} for k, v in by_node.items()]
        db["serviceAccounts"].append(entry)  # collect -a

    def add_role(role):
        if not any(r["name"] == role["name"] and r.get("namespace") == role.get("namespace") for r in db["roles"]):
            db["roles"].append(role)

    def add_named(kind, name, ref):
        for e in db[kind]:
            if e["name"] == name:
                e["roles"].append(ref)
                return
        db[kind].append({"name": name, "roles": [ref]})

    def bind(b, ns):
        ref_kind, ref_name = b["roleRef"]["kind"], b["roleRef"]["name"]
        if ref_kind == "ClusterRole":
            found = next((r for r in croles if r["metadata"]["name"] == ref_name), None)
            role = found and {"name": ref_name, "rules": found.get("rules") or []}
        else:
            found = next((r for r in roles if r["metadata"]["name"] == ref_name and r["metadata"].get("namespace") == ns), None)
            role = found and {"name": ref_name, "namespace": ns, "rules": found.get("rules") or []}
        if not role:
            return  # binded role doesn't exist
        ref = {"name": role["name"]}
        if ns:
            if role.get("namespace"):
                ref["namespace"] = role["namespace"]
            ref["effectiveNamespace"] = ns
        relevant = False
        subjects = b.get("subjects") or []
        for sa in db["serviceAccounts"]:
            if sa_referenced(subjects, f"{sa['namespace']}:{sa['name']}", ns):
                sa["roles"].append(ref)
                relevant = True
        for n in db["nodes"]:
            if node_referenced(subjects, n["name"]):
                n["roles"].append(ref)
                relevant = True
        for s in subjects:
            if s.get("kind") == "User":
                relevant = True
                add_named("users", s["name"], ref)
            elif s.get("kind") == "Group" and s.get("name") != "system:masters":
                relevant = True
                add_named("groups", s["name"], ref)
        if relevant:
            add_role(role)

    for rb in rbs:
        bind(rb, rb["metadata"].get("namespace", ""))
    for crb in crbs:
        bind(crb, "")
    return {"metadata": {"cluster": "", "platform": "", "version": {}, "features": []}, **db}


# --- rbac-police eval (pkg/eval/eval.go) with regopy ------------------------------------------


def desugar(src):
    """`head { a } { b }` (several bodies, one head) as `head { a }` `head { b }`."""
    out, head = [], None
    for line in src.split("\n"):
        if re.match(r"^\}\s*\{\s*$", line) and head:
            out += ["}", head + " {"]
            continue
        m = re.match(r"^(\S.*\S)\s*\{\s*$", line)
        if m and not line.startswith("}"):
            head = m.group(1)
        out.append(line)
    return "\n".join(out)


def bindings(output, var):
    """The values `var` takes in a regopy query's results (one result is printed as an object,
    several as a list; none as `undefined`)."""
    text = str(output).strip()
    if not text.startswith(("{", "[")):
        return []
    parsed = json.loads(text)
    return [r["bindings"][var] for r in (parsed if isinstance(parsed, list) else [parsed]) if var in r.get("bindings", {})]


def chunks(collected, size=5):
    """The input cut into inputs of `size` identities with only the roles they refer to. rego-cpp
    takes time in (identities × roles of the input) and fails on gen-cluster scale 1 in one piece;
    every policy judges an identity by its own roles (pb.effectiveRoles), so the violations are
    the same, as long as no policy looks across identities: the `combined` ones do (a node with
    the service accounts of its pods), so an input with nodes is not cut."""
    if collected["nodes"]:
        yield collected
        return
    ids = [(k, e) for k in ("serviceAccounts", "users", "groups") for e in collected[k]]
    by_key = {}
    for r in collected["roles"]:
        by_key.setdefault((r["name"], r.get("namespace")), r)
    for i in range(0, len(ids), size):
        part = {**collected, "serviceAccounts": [], "users": [], "groups": [], "roles": []}
        seen = set()
        for kind, e in ids[i : i + size]:
            part[kind].append(e)
            for ref in e["roles"]:
                key = (ref["name"], ref.get("namespace"))
                if key in by_key and key not in seen:
                    seen.add(key)
                    part["roles"].append(by_key[key])
        yield part


def eval_policies(collected, lib):
    import regopy

    config = {"config": {k: True for k in ("evalSaViolations", "evalNodeViolations", "evalCombinedViolations", "evalUserViolations", "evalGroupViolations")}}
    parts = [json.dumps(p) for p in chunks(collected)]
    results = []
    for path in sorted(glob.glob(os.path.join(lib, "*.rego"))):
        name = os.path.basename(path)[:-5]
        src = open(path).read()
        wrapped = not re.search(r"(?m)^\s*main\s*\[\s*\{.*\}\s*\].*$", src)  # policyNeedsWrapping
        modules = [path, os.path.join(lib, "utils", "builtins.rego")]
        if wrapped:
            modules.append(os.path.join(lib, "utils", "wrapper.rego"))
        pkg = "data.wrapper.main" if wrapped else "data.policy.main"
        viol, severity, error = {}, None, None
        for part in parts:
            interp = regopy.Interpreter()
            for m in modules:
                interp.add_module(os.path.basename(m), desugar(open(m).read()))
            # The sets as arrays: regopy prints a partial set rule as an object keyed by its members.
            interp.add_module("peer.rego", f"package peer\nmain := [v | {pkg}[v]]\nseverity := [d.severity | data.policy.describe[d]]\n")
            interp.add_data_json(json.dumps(config))
            interp.set_input_term(part)
            main = interp.query("x := data.peer.main")
            if not main.ok():
                error = str(main)
                break
            for v in (bindings(main, "x") or [[]])[0]:
                for kind, items in v["violations"].items():
                    viol.setdefault(kind, []).extend(items)
            if viol and severity is None:
                # (only the severity: regopy's JSON output breaks on some descriptions' quoting)
                severity = ((bindings(interp.query("x := data.peer.severity"), "x") or [[]])[0] or [None])[0]
        if error:
            results.append({"policy": name, "error": error})
        elif viol:
            results.append({"policy": name, "severity": severity, "violations": viol})
    return results


# --- comparison -------------------------------------------------------------------------------


def vg_key(subject):
    kind, name, ns = subject["kind"], subject["name"], subject.get("namespace")
    return f"ServiceAccount {ns}/{name}" if kind == "ServiceAccount" else f"{kind} {name}"


def compare(args):
    vg = json.load(open(args.virtguard))
    rows = {}

    def row(key):
        return rows.setdefault(key, {"vg": set(), "ks": set(), "rp": set()})

    for p in vg.get("paths", []):
        row(vg_key(p["subject"]))["vg"].add(f"{p['target']} ({len(p['steps'])})")
    for a in vg.get("admins", []) or vg.get("clusterAdmins", []) or []:
        row(vg_key(a))["vg"].add("is cluster-admin")
    ks = json.load(open(args.kubiscan)) if args.kubiscan else []
    for table in ks:
        for header, items in table.items():
            if "Risky Users" in header:
                for it in items:
                    kind, ns, name = it["Kind"], it["Namespace"], it["Name"]
                    key = f"ServiceAccount {ns}/{name}" if kind == "ServiceAccount" else f"{kind} {name}"
                    row(key)["ks"].add(it["Priority"].strip())
    rp = json.load(open(args.rbac_police)) if args.rbac_police else []
    for pol in rp:
        for kind, items in pol.get("violations", {}).items():
            for it in items:
                if kind == "serviceAccounts":
                    key = f"ServiceAccount {it['namespace']}/{it['name']}"
                elif kind == "users":
                    key = f"User {it}"
                elif kind == "groups":
                    key = f"Group {it}"
                else:
                    continue  # nodes / combined: no node in a snapshot without Node objects
                row(key)["rp"].add(pol["policy"])
    print(f"| Subject | virtguard paths (target, steps) | KubiScan -rs (priority) | rbac-police (policies violated) |")
    print("|---|---|---|---|")
    for key in sorted(rows):
        r = rows[key]
        print(f"| {key} | {', '.join(sorted(r['vg'])) or '—'} | {', '.join(sorted(r['ks'])) or '—'} | {', '.join(sorted(r['rp'])) or '—'} |")
    n = lambda c: sum(1 for r in rows.values() if r[c])
    print(f"\nsubjects reported: virtguard {n('vg')}, KubiScan {n('ks')}, rbac-police {n('rp')}")


# --- edges the peers know and virtguard paths has not --------------------------------------------


def gaps(vg_bin, snapshot, vg_json, extra):
    """Subjects that reach a target through one step virtguard paths does not take (each a
    documented mechanism a peer models), and for which virtguard reports no path to that target:
    - token-secret: create + get secrets in a namespace → any service account there, by creating a
      `kubernetes.io/service-account-token` Secret that names it (the token controller fills it;
      rbac-police issue_token_secrets);
    - patch-pod: patch/update pods in the KubeVirt namespace → a new image in the privileged
      virt-handler pod (node), or in virt-operator's pod (its service account) (KubeHound
      POD_PATCH, rbac-police modify_pods);
    - exec-token: pods/exec in the KubeVirt namespace → the service account of a KubeVirt
      component pod, from its mounted token (KubeHound POD_EXEC + TOKEN_STEAL/IDENTITY_ASSUME);
    - patch-controller: update/patch the virt-handler DaemonSet (node: its pod template is
      privileged and hostPID) or the virt-operator Deployment (a new image with its service
      account) (KubiScan risky-update-daemonsets/-deployments; rbac-police assign_sa in
      kube-system only). virt-operator reconciles both back, after the rollout.
    Who may do what is asked with `virtguard who-can` (the same engine and snapshot)."""
    import subprocess

    vg = json.load(open(vg_json))
    reach = {}  # subject key -> {target: steps}
    for p in vg.get("paths", []):
        reach.setdefault(vg_key(p["subject"]), {})[p["target"]] = len(p["steps"])
    admins = {vg_key(a) for a in vg.get("admins", [])}

    def who(verb, resource, ns, sub=""):
        cmd = [vg_bin, "who-can", verb, resource, "-n", ns, "-f", snapshot, "-o", "json", *extra]
        if sub:
            cmd += ["--subresource", sub]
        out = subprocess.run(cmd, capture_output=True, text=True).stdout
        res = set()
        for sj in json.loads(out).get("subjects", []):
            if sj.get("privileged"):
                continue
            res.add(vg_key(sj))
        return res

    def sa_key(ns, name):
        return f"ServiceAccount {ns}/{name}"

    found = []

    def note(subject, target, how, via_steps):
        if subject in admins or subject == via_steps[0]:
            return
        have = reach.get(subject, {}).get(target)
        total = via_steps[1] + 1
        if have is None:
            found.append({"subject": subject, "target": target, "steps": total, "how": how})

    # token-secret
    sa_targets = {}
    for key, targets in reach.items():
        if key.startswith("ServiceAccount "):
            sa_targets[key] = targets
    namespaces = sorted({k.split(" ", 1)[1].split("/")[0] for k in sa_targets})
    for ns in namespaces:
        creators = who("create", "secrets", ns) & who("get", "secrets", ns)
        for sa, targets in sa_targets.items():
            if not sa.startswith(f"ServiceAccount {ns}/"):
                continue
            for subj in creators:
                for target, n in targets.items():
                    note(subj, target, f"create a service-account-token Secret for {sa[15:]}, read it, then its path", (sa, n))
    # patch-pod and exec-token, in the KubeVirt CR's namespace
    kv_ns = extra_kv_namespace(vg)
    if kv_ns:
        patchers = who("patch", "pods", kv_ns) | who("update", "pods", kv_ns)
        for subj in patchers:
            note(subj, "node", f"patch the image of a virt-handler pod in {kv_ns} (privileged, hostPID)", (None, 0))
            op = sa_key(kv_ns, "kubevirt-operator")
            for target, n in reach.get(op, {}).items():
                note(subj, target, f"patch the image of a virt-operator pod in {kv_ns}, then {op[15:]}'s path", (op, n))
        for subj in who("patch", "daemonsets.apps", kv_ns) | who("update", "daemonsets.apps", kv_ns):
            note(subj, "node", f"patch the virt-handler DaemonSet in {kv_ns} (privileged, hostPID pod template)", (None, 0))
        op = sa_key(kv_ns, "kubevirt-operator")
        for subj in who("patch", "deployments.apps", kv_ns) | who("update", "deployments.apps", kv_ns):
            for target, n in reach.get(op, {}).items():
                note(subj, target, f"patch the virt-operator Deployment in {kv_ns} (a new image), then {op[15:]}'s path", (op, n))
        for subj in who("create", "pods", kv_ns, "exec") | who("get", "pods", kv_ns, "exec"):
            for comp in ("kubevirt-operator", "kubevirt-controller", "kubevirt-apiserver"):
                sa = sa_key(kv_ns, comp)
                for target, n in reach.get(sa, {}).items():
                    note(subj, target, f"exec into a {comp.replace('kubevirt-', 'virt-').replace('apiserver', 'api')} pod in {kv_ns}, take its token, then {comp}'s path", (sa, n))
    best = {}
    for f in found:
        k = (f["subject"], f["target"])
        if k not in best or f["steps"] < best[k]["steps"]:
            best[k] = f
    return sorted(best.values(), key=lambda f: (f["subject"], f["target"]))


def extra_kv_namespace(vg):
    """The KubeVirt namespace, from the paths' steps (update KubeVirt NS/NAME, virt-handler pods)."""
    for p in vg.get("paths", []):
        for s in p["steps"]:
            m = re.search(r"on (\S+)/virt-handler-\*|KubeVirt (\S+)/", s.get("action", ""))
            if m:
                return m.group(1) or m.group(2)
    return None


# --- the snapshot as a live API server would show it -------------------------------------------


def normalize(src, dst):
    """A `kubectl get … -o json` List of `serve --api`, as kube-apiserver and kube-controller-manager
    would serve it: every object gets `metadata.creationTimestamp` (KubiScan reads it on every
    ClusterRole and ClusterRoleBinding, and `serve --api` has none to give when the snapshot has
    none), a Role or ClusterRole without `rules` gets `rules: []`, and an aggregated ClusterRole
    gets the rules of the ClusterRoles its selectors match, as the clusterrole-aggregation
    controller writes them (`serve --api` serves a manifest's `rules: []`; virtguard's own engine
    aggregates, the peers read `rules`)."""
    d = json.load(open(src))
    for o in d["items"]:
        o.setdefault("metadata", {}).setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        if o.get("kind") in ("Role", "ClusterRole") and o.get("rules") is None:
            o["rules"] = []
    crs = [o for o in d["items"] if o.get("kind") == "ClusterRole"]

    def selects(sel, cr):
        labels = cr["metadata"].get("labels") or {}
        return all(labels.get(k) == v for k, v in (sel.get("matchLabels") or {}).items())

    changed = True
    while changed:  # aggregated roles of aggregated roles (admin ⊇ edit ⊇ view)
        changed = False
        for cr in crs:
            for sel in (cr.get("aggregationRule") or {}).get("clusterRoleSelectors") or []:
                for other in crs:
                    if other is not cr and selects(sel, other):
                        for r in other.get("rules") or []:
                            if r not in cr["rules"]:
                                cr["rules"].append(r)
                                changed = True
    json.dump(d, open(dst, "w"))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("rbac-police")
    a.add_argument("--data", required=True)
    a.add_argument("--lib", required=True)
    a.add_argument("--collected", help="also write the collect output here")
    g = sub.add_parser("gaps")
    g.add_argument("--virtguard-bin", required=True)
    g.add_argument("--snapshot", required=True)
    g.add_argument("--virtguard", required=True, help="its paths -o json of --snapshot")
    g.add_argument("--defaults-none", action="store_true")
    n = sub.add_parser("normalize")
    n.add_argument("src")
    n.add_argument("dst")
    c = sub.add_parser("compare")
    c.add_argument("--virtguard", required=True)
    c.add_argument("--kubiscan")
    c.add_argument("--rbac-police")
    args = ap.parse_args()
    if args.cmd == "rbac-police":
        collected = collect(args.data)
        if args.collected:
            json.dump(collected, open(args.collected, "w"), indent=1)
        json.dump(eval_policies(collected, args.lib), sys.stdout, indent=1)
        print()
    elif args.cmd == "gaps":
        res = gaps(args.virtguard_bin, args.snapshot, args.virtguard, ["--defaults", "none"] if args.defaults_none else [])
        print("| Subject | Target | Steps | First step virtguard does not take |")
        print("|---|---|---|---|")
        for f in res:
            print(f"| {f['subject']} | {f['target']} | {f['steps']} | {f['how']} |")
        print(f"\n{len(res)} subject/target pairs")
    elif args.cmd == "normalize":
        normalize(args.src, args.dst)
    else:
        compare(args)


if __name__ == "__main__":
    main()
