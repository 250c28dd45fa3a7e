#!/usr/bin/env bash
# One bench run of two checkpoints on the same held-out seeds, one after the other on the same
# machine: `scripts/bench_compare.sh runs/v0.2 checkpoints/physgen-small runs/bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
baseline=$1 candidate=$2 out=${3:-runs/bench}
mkdir -p "$out"
for ckpt in "$baseline" "$candidate"; do
  name=$(basename "$ckpt")
  .venv/bin/python -m physgen.bench --json --checkpoint "$ckpt" "${@:4}" > "$out/$name.json"
  echo "$name: $(cat "$out/$name.json")"
done
