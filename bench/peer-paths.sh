#!/usr/bin/env bash
# `virtguard paths` next to two peers on the same snapshot, each run as a whole process:
#   KubiScan (github.com/cyberark/KubiScan, Python): `KubiScan.py -a` (risky roles, bindings,
#     subjects, pods) against `virtguard serve --api`;
#   rbac-police (github.com/PaloAltoNetworks/rbac-police): its utils/get_cluster_data.sh (kubectl
#     against `serve --api`), its collect step re-done in bench/peer-paths.py (no Go here), its
#     Rego policies evaluated by regopy (see bench/peer-paths.py).
#
#   bench/peer-paths.sh SNAPSHOT_DIR [OUT_DIR]
#
# Environment: VIRTGUARD (default target/release/virtguard), KUBISCAN_SRC and RBAC_POLICE_SRC
# (checkouts; cloned at the commits below when unset), PEER_VENV (a venv to reuse; created with
# kubernetes==11.0.0 PTable==0.9.2 (KubiScan's requirements.txt) and regopy when unset).
# Needs kubectl, git (unless both sources are given), python3 and pip.
#
# The peers read the snapshot through `serve --api`, in three steps (README "paths compared with
# peers" says why): serve SNAPSHOT_DIR, `kubectl get` every listable kind into one List (the
# built-in roles of --defaults included), normalize it (bench/peer-paths.py normalize), serve
# that with --defaults none. `virtguard paths` is run on SNAPSHOT_DIR and on the normalized List;
# the script fails if their paths differ.
set -euo pipefail

snapshot=${1:?usage: bench/peer-paths.sh SNAPSHOT_DIR [OUT_DIR]}
here=$(cd "$(dirname "$0")" && pwd)
vg=${VIRTGUARD:-$here/../target/release/virtguard}
out=${2:-$(mktemp -d "${TMPDIR:-/tmp}/peer-paths.XXXXXX")}
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/peer-paths-work.XXXXXX")
kubiscan_commit=0a10ee10f4a16e4a31f0f7c069c2ad044ea8d6c9    # 2024-12-10
rbac_police_commit=1ec5d029f008e29869572157c9645ce6c21399c8 # 2022-11-15

serve_pid=
cleanup() {
  if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

checkout() { # URL COMMIT DIR
  git clone -q "$1" "$3" && git -C "$3" checkout -q "$2"
}
kubiscan=${KUBISCAN_SRC:-$work/KubiScan}
[ -d "$kubiscan" ] || checkout https://github.com/cyberark/KubiScan "$kubiscan_commit" "$kubiscan"
rbac_police=${RBAC_POLICE_SRC:-$work/rbac-police}
[ -d "$rbac_police" ] || checkout https://github.com/PaloAltoNetworks/rbac-police "$rbac_police_commit" "$rbac_police"
venv=${PEER_VENV:-$work/venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$kubiscan/requirements.txt" regopy
fi
py=$venv/bin/python

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server=https://127.0.0.1:$port
serve() { # ARGS…: serve --api until the next serve
  if [ -n "$serve_pid" ]; then kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true; fi
  "$vg" serve --api --pki-dir "$work/pki" --listen "127.0.0.1:$port" "$@" > "$work/serve.log" 2>&1 &
  serve_pid=$!
  for _ in $(seq 100); do curl -skf "$server/readyz" > /dev/null && return; sleep 0.1; done
  cat "$work/serve.log" >&2; exit 1
}
wall() { # NAME CMD…: run CMD, append "NAME seconds" to $out/times
  local t0 t1
  t0=$(date +%s.%N)
  "${@:2}"
  t1=$(date +%s.%N)
  echo "$1 $(python3 -c "print(round($t1 - $t0, 2))")" >> "$out/times"
}
: > "$out/times"

# virtguard on the snapshot itself (exit 1 = paths found)
wall virtguard-paths sh -c '"$0" paths -f "$1" -o json > "$2" 2> /dev/null || [ $? = 1 ]' "$vg" "$snapshot" "$out/virtguard.json"

# the snapshot as a live API server would show it
serve -f "$snapshot"
"$vg" kubeconfig --pki-dir "$work/pki" --server "$server" --user admin --group system:masters > "$work/admin.kubeconfig"
export KUBECONFIG=$work/admin.kubeconfig
kubectl get "$(kubectl api-resources --verbs=list -o name | paste -sd, -)" -A -o json > "$work/dump.json"
mkdir -p "$work/served"
"$py" "$here/peer-paths.py" normalize "$work/dump.json" "$work/served/snapshot.json"
serve -f "$work/served" --defaults none
"$vg" paths -f "$work/served" --defaults none -o json > "$out/virtguard-served.json" 2> /dev/null || [ $? = 1 ]
"$py" - "$out/virtguard.json" "$out/virtguard-served.json" <<'EOF'
import json, sys
def strip(x):  # file:line sources differ between the snapshot and the List
    if isinstance(x, dict): return {k: strip(v) for k, v in x.items() if not k.endswith("Source")}
    if isinstance(x, list): return [strip(v) for v in x]
    return x
a, b = (strip(json.load(open(f))) for f in sys.argv[1:])
sys.exit(0 if a == b else "virtguard paths differ between the snapshot and the served List")
EOF

# KubiScan: everything it reports (-a), JSON with -j
rm -f "$out/kubiscan.json"
(cd "$kubiscan" && wall kubiscan "$py" KubiScan.py -q -nc -co "$KUBECONFIG" -a -j "$out/kubiscan.json" > "$out/kubiscan.txt")

# rbac-police: its own kubectl dump, then collect (-a) and eval (all violation types)
rbac_police_run() {
  (cd "$work" && bash "$rbac_police/utils/get_cluster_data.sh" > /dev/null)
  "$py" "$here/peer-paths.py" rbac-police --data "$(ls -d "$work"/local_*)" --lib "$rbac_police/lib" > "$out/rbac-police.json"
}
wall rbac-police rbac_police_run

"$py" "$here/peer-paths.py" compare --virtguard "$out/virtguard.json" --kubiscan "$out/kubiscan.json" --rbac-police "$out/rbac-police.json" > "$out/compare.md"
cat "$out/compare.md"
echo
echo "wall times (s), each a whole process on this machine (the peers' include their API calls to serve --api):"
cat "$out/times"
echo "outputs in $out"
