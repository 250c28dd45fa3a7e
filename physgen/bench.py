"""Benchmarks: `python -m physgen.bench --json` prints one JSON object.

Every speed figure comes with its baseline measured in the same run:
- fps_kv / fps_nokv: predicted frames per second of a 16-step rollout at batch 1 (backbone +
  frame head, given actions), with and without the KV cache; kv_speedup is their ratio.
  fps_kv_decoded adds the decode of every frame (what the app shows), with the tokenizer's fast
  decoder when it has one (`decoder` says which); fps_kv_decoded_vae is then the vae's decoder,
  the baseline, and every fidelity figure below is of the frames the fast decoder shows.
- train_steps_per_s: optimiser steps per second at batch 8, windows of 8 steps.
- psnr_first / psnr_16 / ssim_16 (and changed-pixel / object-pixel PSNR): the first chunk and the
  mean over 16 chunks of open-loop prediction against the simulator on held-out seeds >= 10000
  with the expert actions (`--episodes` per task, made with a progress bar if missing);
  *_copy_last is copying the first frame and *_vae the tokenizer's reconstruction ceiling, also
  per chunk (psnr_by_step_*).
- presence_after_* / wall_min: the permanence probe over `--probe-seeds` held-out seeds: mean
  presence of the cube after it reappears (PhysGen open loop as `model`, PhysGen one chunk ahead
  of the real frames as `one_step`, tokenizer ceiling, ground truth) and the
  fraction of the wall PhysGen keeps in its worst frame.
- play_*: the same open loop (8 chunks) on `--play-seeds` held-out seeds per task, driven by random
  play chunks (physgen.data.play) instead of expert actions: does the model follow commands it cannot
  guess? play_psnr_changed against play_psnr_changed_copy_last is the figure to watch.
- policy_success_rate (and per task): PhysGen as the policy in closed loop with the simulator, on
  `--policy-seeds` held-out seeds per task, at most 16 chunks per episode.
- precision: what the frame decode computed in (`--precision`; auto = bf16 on a CPU with AMX, else
  fp32); in bf16, fps_kv_decoded_fp32 is the same rollout decoded in fp32, the baseline.
The app's timings (click to first predicted frame, cold start) live with the app: `python -m app.bench`.
Without a trained checkpoint the speed figures use a randomly initialised model of the default
size and the fidelity figures are null (the JSON says so).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from physgen import EVAL_SEED_START
from physgen.model.checkpoint import DEFAULT_CHECKPOINT
from physgen.model.precision import PRECISIONS
from physgen.sim.scenes import TARGET_TASKS

PLAY_HORIZON = 8  # chunks of the play open loop


def rollout_fps(model, tokenizer, steps: int, use_cache: bool, decode: bool, repeats: int = 2, fast: bool | None = None) -> float:
    from physgen.model.rollout import Rollout

    cfg = model.config
    g = torch.Generator().manual_seed(0)
    first = torch.randn(1, cfg.num_frame_tokens, cfg.token_dim, generator=g)
    actions = torch.rand(steps, 1, cfg.chunk, cfg.action_dim, generator=g) * 2 - 1
    best = float("inf")
    for _ in range(repeats + 1):  # the first run warms up
        rollout = Rollout(model, use_cache=use_cache)
        rollout.start(first)
        start = time.perf_counter()
        for i in range(steps):
            tokens = rollout.predict_frame(actions[i], generator=g)
            rollout.observe(tokens, actions[i])
            if decode:
                tokenizer.decode(tokenizer.from_tokens(tokens), fast)
        best = min(best, time.perf_counter() - start)
    return steps / best


def train_speed(model, steps: int = 4, batch: int = 8, window: int = 8) -> float:
    """Training steps per second, measured on a copy: the optimizer steps must not change the
    weights that the rest of the bench evaluates (they did before session 10)."""
    import copy

    model = copy.deepcopy(model)
    cfg = model.config
    g = torch.Generator().manual_seed(0)
    data = dict(
        frame_tokens=torch.randn(batch, window, cfg.num_frame_tokens, cfg.token_dim, generator=g),
        frame_valid=torch.ones(batch, window, dtype=torch.bool),
        actions=torch.rand(batch, window + cfg.lmtp, cfg.chunk, cfg.action_dim, generator=g) * 2 - 1,
        action_valid=torch.ones(batch, window + cfg.lmtp, dtype=torch.bool),
        boa=torch.zeros(batch, dtype=torch.bool),
    )
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    model.loss(**data)["total"].backward()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        model.loss(**data)["total"].backward()
        opt.step()
    return steps / (time.perf_counter() - start)


def run(checkpoint: str | None, eval_root: str, episodes: int, horizon: int, skip_eval: bool, sample_steps: int | None,
        policy_seeds: int = 0, probe_seeds: int = 0, scenes=TARGET_TASKS, play_seeds: int = 0, precision: str = "auto") -> dict:
    from physgen.model.checkpoint import load_checkpoint
    from physgen.model.precision import resolve_precision
    from physgen.model.tokenizer import FrameTokenizer, TokenizerConfig
    from physgen.model.world_model import PhysGen

    result: dict = {"device": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads()}
    if checkpoint and (Path(checkpoint).exists() or checkpoint != str(DEFAULT_CHECKPOINT)):
        model, tokenizer = load_checkpoint(checkpoint, precision=precision)  # a hub id or a missing folder raises clearly
        result["checkpoint"] = str(checkpoint)
    else:
        torch.manual_seed(0)
        model, tokenizer = PhysGen().eval(), FrameTokenizer(TokenizerConfig()).eval()
        tokenizer.precision = resolve_precision(precision)
        result["checkpoint"] = None
        result["note"] = "no trained checkpoint: speed measured on a randomly initialised default-size model; fidelity not measured"
    if sample_steps:
        model.register_to_config(sample_steps=sample_steps)
    cfg = model.config
    result.update(precision=tokenizer.precision, params=sum(p.numel() for p in model.parameters()), history=cfg.history, chunk=cfg.chunk,
                  frame_tokens=cfg.num_frame_tokens, sample_steps=cfg.sample_steps,
                  cfg_scale=cfg.cfg_scale, cfg_interval=list(cfg.cfg_interval), image_size=tokenizer.config.image_size)
    with torch.no_grad():
        result["fps_kv"] = round(rollout_fps(model, tokenizer, horizon, True, False), 2)
        result["fps_nokv"] = round(rollout_fps(model, tokenizer, horizon, False, False), 2)
        result["kv_speedup"] = round(result["fps_kv"] / result["fps_nokv"], 2)
        result["fps_kv_decoded"] = round(rollout_fps(model, tokenizer, horizon, True, True), 2)
        result["decoder"] = "fast" if tokenizer.has_fast_decoder else "vae"
        if tokenizer.has_fast_decoder:
            result["fps_kv_decoded_vae"] = round(rollout_fps(model, tokenizer, horizon, True, True, fast=False), 2)
        if tokenizer.precision != "fp32":  # the same-run baseline: the same rollouts decoded in fp32
            tokenizer.precision = "fp32"
            result["fps_kv_decoded_fp32"] = round(rollout_fps(model, tokenizer, horizon, True, True), 2)
            tokenizer.precision = result["precision"]
    result["train_steps_per_s"] = round(train_speed(model), 3)
    result.update(psnr_16=None, psnr_copy_last=None, ssim_16=None)
    if result["checkpoint"] and not skip_eval:
        from physgen.eval.open_loop import ensure_held_out_demos, open_loop
        from physgen.model.world_env import WorldModelEnv
        from physgen.sim.simulator import Simulator

        ensure_held_out_demos(eval_root, scenes, per_scene=episodes)
        simulator = Simulator()
        summary = open_loop(WorldModelEnv(model, tokenizer, sample_steps=sample_steps), simulator, eval_root, scenes,
                            episodes_per_scene=episodes, horizon=horizon)
        result.update(
            psnr_first=summary["psnr_first_model"], psnr_first_copy_last=summary["psnr_first_copy_last"], psnr_first_vae=summary["psnr_first_vae"],
            psnr_16=summary["psnr_model"], psnr_copy_last=summary["psnr_copy_last"], psnr_vae=summary["psnr_vae"],
            ssim_16=summary["ssim_model"], ssim_copy_last=summary["ssim_copy_last"],
            psnr_changed_16=summary["psnr_changed_model"], psnr_changed_copy_last=summary["psnr_changed_copy_last"],
            psnr_object_16=summary["psnr_object_model"], psnr_object_copy_last=summary["psnr_object_copy_last"],
            psnr_object_vae=summary["psnr_object_vae"],
            psnr_by_step=summary["psnr_by_step_model"], psnr_by_step_copy_last=summary["psnr_by_step_copy_last"],
            psnr_by_step_vae=summary["psnr_by_step_vae"],
            eval_episodes=summary["episodes"], eval_scenes=summary["scenes"],
        )
        if play_seeds:
            play = open_loop(WorldModelEnv(model, tokenizer, sample_steps=sample_steps), simulator, eval_root, scenes,
                             episodes_per_scene=play_seeds, horizon=PLAY_HORIZON, actions="play")
            for key in ("psnr_first", "psnr", "psnr_changed", "psnr_object"):
                result[f"play_{key}"], result[f"play_{key}_copy_last"] = play[f"{key}_model"], play[f"{key}_copy_last"]
            result["play_episodes"] = play["episodes"]
        if probe_seeds:
            from physgen.eval.open_loop import permanence

            probe_env = WorldModelEnv(model, tokenizer, sample_steps=sample_steps)
            probe = permanence(probe_env, simulator, range(EVAL_SEED_START, EVAL_SEED_START + probe_seeds))
            result.update(probe)
        if policy_seeds:
            from physgen.eval.open_loop import closed_loop

            policy = closed_loop(WorldModelEnv(model, tokenizer, sample_steps=sample_steps), simulator, scenes,
                                 seeds=range(EVAL_SEED_START, EVAL_SEED_START + policy_seeds))
            result.update({f"policy_{k}": v for k, v in policy.items() if k != "seeds"})
            result["policy_episodes_per_task"] = policy_seeds
        simulator.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m physgen.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="folder or hub id")
    parser.add_argument("--eval-root", default="data/eval_demos")
    parser.add_argument("--episodes", type=int, default=10, help="held-out episodes per task (made if missing)")
    parser.add_argument("--horizon", type=int, default=16)
    parser.add_argument("--sample-steps", type=int, default=None)
    parser.add_argument("--skip-eval", action="store_true")
    parser.add_argument("--policy-seeds", type=int, default=20, help="held-out seeds per task for PhysGen as the policy (0 = skip)")
    parser.add_argument("--play-seeds", type=int, default=10, help="held-out seeds per task driven by play chunks (0 = skip)")
    parser.add_argument("--probe-seeds", type=int, default=10, help="held-out seeds of the permanence probe (0 = skip)")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="what the frame decode computes in: auto = bf16 on a CPU with AMX, fp32 elsewhere")
    args = parser.parse_args(argv)
    result = run(args.checkpoint, args.eval_root, args.episodes, args.horizon, args.skip_eval, args.sample_steps, args.policy_seeds, args.probe_seeds,
                 play_seeds=args.play_seeds, precision=args.precision)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
