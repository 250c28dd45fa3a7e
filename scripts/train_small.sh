#!/usr/bin/env bash
# The recipe of checkpoints/physgen-small v1. Every step resumes or is skipped once its output
# exists, so the script can be re-run across sessions. The model card records what the shipped
# weights actually got (the GPU steps ran on a lent H100 through the device tool, see DEVELOPERS.md;
# on a machine with a GPU they run as they are, and on the CPU they run too, only slowly).
set -euo pipefail
cd "$(dirname "$0")/.."
PG=.venv/bin/physgen
export HF_HUB_OFFLINE=1

scripts/make_data_v1.sh                                                   # demos (100 per task) + held-out demos
$PG videos --scenes PermanenceProbe-v1 --num 160 --out data/videos        # the probe, with its scripted actions
[ -f pack/frames/frames.npz ] || $PG pack --frames 3200 --out pack/frames # frames for the tokenizer (JPEG 4:4:4 q95)
[ -f runs/tokenizer_v2/last/metrics.json ] || $PG train-tokenizer --frames-pack pack/frames --out runs/tokenizer_v2 --minutes 2.6 --batch-size 64
[ -f pack/tokens/tokens.json ] || $PG pack --tokens --tokenizer runs/tokenizer_v2/last --frame-stride 4 --out pack/tokens
# The world model (and, with --frames, the decoder fine-tuned on the same tokens), then the
# ablation rows when --skip-ablations is left out:
.venv/bin/python scripts/gpu_train_v1.py --pack pack/tokens --tokenizer runs/tokenizer_v2/last --frames pack/frames \
    --minutes 2.3 --skip-ablations --runs runs/gpu --out runs/gpu_out
$PG export --model runs/gpu_out/v1 --tokenizer runs/gpu_out/tokenizer --out runs/v1
scripts/bench_compare.sh runs/v0.2 runs/v1 runs/bench
