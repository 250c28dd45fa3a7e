#!/usr/bin/env bash
# The recipe of checkpoints/physgen-small. Every step resumes where it stopped, so the script can
# be re-run across sessions; the model card (checkpoints/physgen-small/README.md) records which
# budgets and data sizes the shipped weights actually got.
set -euo pipefail
cd "$(dirname "$0")/.."
PG=.venv/bin/physgen
TOKENIZER_MIN=${TOKENIZER_MIN:-40}
STAGE1_MIN=${STAGE1_MIN:-25}
STAGE2_MIN=${STAGE2_MIN:-30}

$PG demos --scene PickCube-v1 PushCube-v1 StackCube-v1 --num 200 --out data/demos
$PG videos --num 900 --out data/videos
$PG demos --eval --scene PickCube-v1 PushCube-v1 StackCube-v1 --num 4 --shard-size 4 --out data/eval_demos
$PG train-tokenizer --minutes "$TOKENIZER_MIN" --out runs/tokenizer
$PG train --stage video --out runs/stage1 --minutes "$STAGE1_MIN"
$PG train --stage actions --init runs/stage1/model --out runs/stage2 --minutes "$STAGE2_MIN"
$PG export --model runs/stage2/model --out checkpoints/physgen-small
.venv/bin/python -m physgen.bench --json
