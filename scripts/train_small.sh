#!/usr/bin/env bash
# The recipe of checkpoints/physgen-small v1.1 (v1, then v1 trained on with play episodes). Every step resumes or is skipped once its output
# exists, so the script can be re-run across sessions. The model card records what the shipped
# weights actually got (the GPU steps ran on a lent H100 (tokenizer) and H200 (world model) through the device tool, see DEVELOPERS.md;
# on a machine with a GPU they run as they are, and on the CPU they run too, only slowly).
set -euo pipefail
cd "$(dirname "$0")/.."
PG=.venv/bin/physgen
export HF_HUB_OFFLINE=1

scripts/make_data_v1.sh                                                   # demos (200 Push, 200 Pick, 50 Stack) + held-out demos
$PG videos --scenes PermanenceProbe-v1 --num 160 --out data/videos        # the probe, with its scripted actions
[ -f pack/frames/frames.npz ] || $PG pack --frames 3200 --out pack/frames # frames for the tokenizer (JPEG 4:4:4 q95)
# Tokenizer v2 (session 3), then its decoder alone fine-tuned (the tokens stay the same):
[ -f runs/tokenizer_v2/last/metrics.json ] || $PG train-tokenizer --frames-pack pack/frames --out runs/tokenizer_v2 --minutes 2.6 --batch-size 64
[ -f runs/tokenizer_v2_dec/last/metrics.json ] || $PG train-tokenizer --frames-pack pack/frames --init runs/tokenizer_v2/last \
    --decoder-only --out runs/tokenizer_v2_dec --minutes 5.8 --batch-size 64 --lr 3e-4 --restart
[ -f pack/tokens_v1/tokens.json ] || $PG pack --tokens --tokenizer runs/tokenizer_v2_dec/last --frame-stride 8 --out pack/tokens_v1
# The world model (6 min) and the ablation rows (800 steps each) in parallel, then the rows again
# with training seed 1:
.venv/bin/python scripts/gpu_train_v1.py --experiment v1 --pack pack/tokens_v1 --tokenizer runs/tokenizer_v2_dec/last --minutes 6 \
    --ablation-steps 800 --ablation-batch 32 --runs runs/gpu --out runs/gpu_out
.venv/bin/python scripts/gpu_train_v1.py --experiment v1 --pack pack/tokens_v1 --tokenizer runs/tokenizer_v2_dec/last --minutes 3.2 \
    --ablation-steps 800 --ablation-batch 32 --seed 1 --rows v1_short token_head epsilon absolute no_context_noise \
    --runs runs/gpu_seed1 --out runs/gpu_out_seed1
$PG export --model runs/gpu_out/v1 --tokenizer runs/tokenizer_v2_dec/last --sample-steps 5 --out runs/v1
scripts/bench_compare.sh runs/v0.2 runs/v1 runs/bench
# v1.1 (session 5, a lent H100): play episodes (random drive chunks, 150 per task), the pack with them,
# v1 trained on for 5 min beside its demos-only control and three rows from scratch, then 3.7 min more
# of v1_1 alone; shipped with action guidance 1.5 and 5 sampling steps.
scripts/make_play_v1.sh 150
[ -f pack/tokens_v1_1/tokens.json ] || $PG pack --tokens --tokenizer runs/tokenizer_v2_dec/last --frame-stride 8 --out pack/tokens_v1_1
.venv/bin/python scripts/gpu_train_v1.py --experiment play --pack pack/tokens_v1_1 --tokenizer runs/v1/tokenizer --init runs/v1 \
    --minutes 5 --runs runs/gpu_play --out runs/gpu_play_out
.venv/bin/python scripts/gpu_train_v1.py --experiment play --rows v1_1 --pack pack/tokens_v1_1 --tokenizer runs/v1/tokenizer \
    --init runs/gpu_play/v1_1/model --minutes 3.7 --runs runs/gpu_play2 --out runs/gpu_play2_out
$PG export --model runs/gpu_play2_out/v1_1 --tokenizer runs/v1/tokenizer --sample-steps 5 --cfg-scale 1.5 --out runs/v1_1
mkdir -p runs/bench_v1_1
for ckpt in runs/v1 runs/v1_1; do   # the two benches ran side by side, one thread each
  OMP_NUM_THREADS=1 .venv/bin/python -m physgen.bench --json --checkpoint "$ckpt" --policy-seeds 10 > "runs/bench_v1_1/$(basename "$ckpt").json" &
done
wait
# Session 9: the same weights, exported with 3 sampling steps and guidance only at t/T >= 0.5 (model card, "Speed").
$PG export --model runs/v1_1 --tokenizer runs/v1_1/tokenizer --sample-steps 3 --cfg-scale 1.5 --cfg-interval 0.5 1 --out runs/v1_1
# Session 10: the policy's Action-DiT retrained alone on cached backbone features, in units of the demos'
# action std (model card, "Policy head"); 30 min on one CPU thread. The frame path is unchanged.
$PG train-action-head --checkpoint runs/v1_1 --pack pack/tokens_v1_1 --minutes 30 --out runs/action_head
$PG export --model runs/action_head/model --tokenizer runs/v1_1/tokenizer --out runs/v1_1
# Session 12: the policy's chunks sampled from zero noise (action temperature 0; model card, "PhysGen as the policy").
$PG export --model runs/v1_1 --tokenizer runs/v1_1/tokenizer --action-temperature 0 --out runs/v1_1
# Session 11 (not shipped, model card "Heads trained longer"): both heads trained on cached features
# (--features keeps them on disk for later runs); neither lowered its held-out loss.
#   $PG train-action-head --checkpoint runs/v1_1 --minutes 70 --cosine --features runs/head_features --out runs/action_head11
#   $PG train-frame-head --checkpoint runs/v1_1 --minutes 60 --cosine --features runs/head_features --out runs/frame_head11
