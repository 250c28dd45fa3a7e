#!/usr/bin/env bash
# Session-2 model work, resumable (each step is skipped once its output exists):
# 1. v0.2 candidate: stage 2 continued from the v0.1 stage-2 model on all 200 demos per task.
# 2. Equal-step stage-2 comparisons on the same data: full fine-tuning vs LoRA from the same
#    stage-1 model, and no video pretraining (from scratch), each benchmarked on held-out seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
PG=.venv/bin/physgen
FINAL_MIN=${FINAL_MIN:-30}
COMPARE_STEPS=${COMPARE_STEPS:-800}  # equal optimiser steps (wall time varies with machine load)

while pgrep -f "physgen demos" > /dev/null; do sleep 30; done

train_and_bench() {  # out minutes args...
  local out=$1 minutes=$2; shift 2
  if [ ! -f "$out/export/config.json" ]; then
    $PG train --stage actions --out "$out" --minutes "$minutes" --val-every 150 "$@"
    $PG export --model "$out/model" --out "$out/export"
  fi
  [ -s "$out/bench.json" ] || .venv/bin/python -m physgen.bench --json --checkpoint "$out/export" > "$out/bench.json"
}

train_and_bench runs/stage2b "$FINAL_MIN" --init runs/stage2/model
train_and_bench runs/compare/full 40 --max-steps "$COMPARE_STEPS" --init runs/stage1/model --finetune full
train_and_bench runs/compare/lora 40 --max-steps "$COMPARE_STEPS" --init runs/stage1/model --finetune lora
train_and_bench runs/compare/scratch 40 --max-steps "$COMPARE_STEPS" --model '{"sample_steps": 5}'
echo done
