#!/usr/bin/env bash
# The paper's ablations at small scale, after scripts/train_session2.sh: stage 2 from the same
# stage-1 model with the same data and optimiser steps as runs/compare/full, changing one thing:
#   lmtp1    - one chunk predicted per step (no L-MTP)
#   discrete - binned actions with a classifier instead of the continuous diffusion head
# ("no video pretraining" is runs/compare/scratch; "no KV cache" is fps_nokv in every bench.)
# Resumable: each step is skipped once its output exists.
set -euo pipefail
cd "$(dirname "$0")/.."
PG=.venv/bin/physgen
COMPARE_STEPS=${COMPARE_STEPS:-800}
while pgrep -f "train_session2.sh" > /dev/null; do sleep 30; done
for variant in lmtp1 discrete; do
  out=runs/compare/$variant
  case $variant in
    lmtp1) override='{"lmtp": 1}';;
    discrete) override='{"action_tokens": "discrete"}';;
  esac
  if [ ! -f "$out/export/config.json" ]; then
    $PG train --stage actions --out "$out" --minutes 40 --max-steps "$COMPARE_STEPS" --val-every 150 --init runs/stage1/model --model "$override"
    $PG export --model "$out/model" --out "$out/export"
  fi
  [ -s "$out/bench.json" ] || .venv/bin/python -m physgen.bench --json --checkpoint "$out/export" > "$out/bench.json"
done
echo done
