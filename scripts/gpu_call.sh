#!/usr/bin/env bash
# What a lent GPU runs, in one call of the device tool (DEVELOPERS.md: at most 8 minutes):
#   run(command="bash scripts/gpu_call.sh drift pack/tokens_v1_2.tar.xz 6",
#       carry=[".whl", "pack/tokens_v1_2.tar.xz"], timeout_s=540)
# Prepare on the CPU first:
#   - the wheel diffusers lacks there: `pip download diffusers==<the venv's> --no-deps -d .whl`;
#   - the pack, compressed: `XZ_OPT="-6 -T1" tar cJf pack/tokens_v1_2.tar.xz -C pack tokens_v1_2`
#     (tracked files + .whl + the tar.xz must stay under 64 MiB);
#   - the CPU smoke test, in a clean clone with the two carried paths copied in and the venv first on PATH:
#     `OUT=/tmp/out bash scripts/gpu_call.sh drift pack/tokens_v1_2.tar.xz 0.5 --batch-size 8 --workers 1 --eval-episodes 4`.
# The weights come back under $OUT in shards of < 16 MiB; finish on the CPU (`physgen export`, then the bench).
set -euo pipefail
experiment=${1:?usage: gpu_call.sh EXPERIMENT PACK.tar.xz [MINUTES]}
tarball=${2:?usage: gpu_call.sh EXPERIMENT PACK.tar.xz [MINUTES]}
minutes=${3:-6}
shift $(( $# < 3 ? $# : 3 ))  # anything after MINUTES goes to gpu_train_v1.py (the CPU smoke test: --batch-size 8 --workers 1)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
mkdir -p pack && tar xJf "$tarball" -C pack
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 scripts/gpu_train_v1.py --experiment "$experiment" --pack "pack/$(basename "$tarball" .tar.xz)" \
    --minutes "$minutes" --out "${OUT:?the device tool sets OUT}" "$@"
