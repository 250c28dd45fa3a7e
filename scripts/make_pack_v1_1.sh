#!/usr/bin/env bash
# The v1.1 token pack on a fresh machine, for scripts/gpu_train_v1.py (resumable; session 13 made the data in 2.4 h of the
# 2 cores, beside other jobs): the demos, the probe corpus, the play episodes, then the pack (1060
# episodes), tokenized by the shipped tokenizer. Its encoder is v1's (only the decoder was tuned
# since), so these are v1.1's tokens.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/make_data_v1.sh
.venv/bin/physgen videos --scenes PermanenceProbe-v1 --num 160 --out data/videos   # the probe, with its scripted actions
scripts/make_play_v1.sh 150
[ -f pack/tokens_v1_1/tokens.json ] || .venv/bin/physgen pack --tokens --tokenizer checkpoints/physgen-small/tokenizer \
  --frame-stride 8 --out pack/tokens_v1_1
