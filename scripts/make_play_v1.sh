#!/usr/bin/env bash
# Play episodes for physgen-small v1.1: random drive chunks in the three target scenes (resumable).
# Two processes, one per core, each in rounds so that a cut run still covers every scene; StackCube
# is split between them over disjoint seeds. N (default 150) episodes per scene in the end.
set -euo pipefail
cd "$(dirname "$0")/.."
PG=.venv/bin/physgen
N=${1:-150}
worker() {  # scene, its seed start, StackCube's seed start
  for n in $((N / 3)) $((2 * N / 3)) "$N"; do
    $PG play --scene "$1" --num "$n" --out data/play --seed-start "$2"
    $PG play --scene StackCube-v1 --num $((n / 2)) --out data/play --seed-start "$3"
  done
}
worker PushCube-v1 5000 5000 &
worker PickCube-v1 5500 5500 &
wait
