#!/usr/bin/env bash
# The L-MTP ablation, after scripts/train_session2.sh: stage 2 from the same stage-1 model with the
# same data and step budget as runs/compare/full, but lmtp=1 (one chunk predicted per step). Resumable.
set -euo pipefail
cd "$(dirname "$0")/.."
PG=.venv/bin/physgen
COMPARE_STEPS=${COMPARE_STEPS:-800}  # equal optimiser steps (wall time varies with machine load)
while pgrep -f "train_session2.sh" > /dev/null; do sleep 30; done
out=runs/compare/lmtp1
if [ ! -f "$out/export/config.json" ]; then
  $PG train --stage actions --out "$out" --minutes 40 --max-steps "$COMPARE_STEPS" --val-every 150 --init runs/stage1/model --model '{"lmtp": 1}'
  $PG export --model "$out/model" --out "$out/export"
fi
[ -s "$out/bench.json" ] || .venv/bin/python -m physgen.bench --json --checkpoint "$out/export" > "$out/bench.json"
echo done
