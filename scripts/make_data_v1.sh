#!/usr/bin/env bash
# The data of physgen-small v1, resumable: expert demos of the three tasks made in rounds (so a
# partial run still covers every task; 200 PushCube, 200 PickCube, 50 StackCube in the end), probe and push episodes with actions, and held-out demos.
set -euo pipefail
cd "$(dirname "$0")/.."
PG=.venv/bin/physgen
for n in 50 100; do
  for scene in PushCube-v1 PickCube-v1 StackCube-v1; do
    $PG demos --scene "$scene" --num "$n" --out data/demos
  done
done
# Session 4 added 100 more PushCube and PickCube demos (StackCube stayed at 50: its round was cut for time).
for scene in PushCube-v1 PickCube-v1; do
  $PG demos --scene "$scene" --num 200 --out data/demos
done
$PG demos --eval --scene PickCube-v1 PushCube-v1 StackCube-v1 --num 10 --shard-size 10 --out data/eval_demos
