"""physgen-small v1 and v1.1 on one lent GPU, in one call (DEVELOPERS.md: at most 8 minutes).

Runs in parallel on the same token pack and seed, one experiment per call:
- `--experiment v1` (session 4): `v1`, the shipped configuration trained for the whole time budget
  (batch `--batch-size`), and the ablation rows, each one change from v1, all with the same
  optimiser steps (`--ablation-steps`) and batch (`--ablation-batch`), `v1_short` being v1 itself
  at that budget; optionally the tokenizer's decoder fine-tuned on a frame pack (`--frames`).
- `--experiment play` (session 5, a pack with play episodes): `v1_1`, the shipped v1 trained on
  for the whole budget on demos + play, and its control `v1_more`, the same on demos alone; and the
  rows `no_play` / `play` / `play_no_context_noise` from scratch at the ablation budget.
- `--experiment policy` (prepared in session 7, not run yet), three runs from the shipped v1.1
  for the whole budget on demos + play, one change each against the control:
  `v1_2_control` (trained on as v1.1 was), `v1_2` (`action_scale`: the Action-DiT diffuses actions
  in units of the demonstrations' std, measured on the pack) and `v1_2_play_rule` (play windows
  never drop their action, `action_cond_dropout_play` 0, so the action-free imagination the policy
  plans with is learned from demonstrations alone). Rows are also scored with no chunk given
  (`imagine_*`: the policy's imagination on the val demos). Policy success needs the simulator:
  bench the returned weights on the CPU (`python -m physgen.bench --policy-seeds 20`).
- `--experiment drift` (prepared in session 8): `v1_2_self_forced`, v1.1 trained on for the whole
  budget with self forcing (`--self-forcing 0.5`: half the windows are fed the model's own
  open-loop frames, physgen.model.self_forcing), beside its teacher-forced control. Session 8's CPU
  run of the same pair is in the model card.
Then scores every model with physgen.eval.open_loop.pack_open_loop on the pack's val episodes (the same
episodes and sampling seed for all): the demonstrations, and, where the pack has play, the play
episodes with their recorded chunks and with another episode's (the gap is action following).
Writes to $OUT: ablation.json, the main model as fp16 safetensors shards (< 16 MiB each) and a
fine-tuned tokenizer in fp16 if any.

Smoke test on the CPU: `python scripts/gpu_train_v1.py --minutes 0.5 --ablation-steps 5 --batch-size 8 --workers 1 --out /tmp/gpu_smoke`
(at the GPU's batch 128 with 4 loader workers each, both runs of `policy` were killed (-9) here in session 7).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

V1 = {"token_dim": 32, "num_frame_tokens": 64, "dim": 256, "depth": 8, "heads": 4, "frame_head_type": "joint",
      "frame_head_width": 192, "frame_head_depth": 3, "scheduler": "flow", "frame_target": "residual", "context_noise": 0.3,
      "sample_steps": 10}
SHIPPED = "checkpoints/physgen-small"


@dataclass(frozen=True)
class Run:
    change: dict = field(default_factory=dict)  # model kwargs changed from V1 (a new model), or from the init's config
    init: str | None = None  # start from this checkpoint instead of a new V1 model
    pack_episodes: str = "all"
    full_budget: bool = False  # trained for --minutes at --batch-size; else --ablation-steps at --ablation-batch
    note: str = ""
    train_args: tuple[str, ...] = ()  # extra `physgen train` arguments (training choices that are not model kwargs)


EXPERIMENTS = {
    "v1": {
        "v1": Run(full_budget=True, note="the shipped configuration"),
        "v1_short": Run(),
        "token_head": Run({"frame_head_type": "token", "frame_head_width": 256, "frame_head_depth": 4}, note="the paper's head"),
        "epsilon": Run({"scheduler": "ddim"}),
        "absolute": Run({"frame_target": "absolute"}),
        "no_context_noise": Run({"context_noise": 0.0}),
    },
    "play": {
        "v1_1": Run(init=SHIPPED, full_budget=True, note="v1 trained on, demos + play"),
        "v1_more": Run(init=SHIPPED, pack_episodes="demos", full_budget=True, note="v1 trained on, demos only (the control)"),
        "no_play": Run(pack_episodes="demos"),
        "play": Run(),
        "play_no_context_noise": Run({"context_noise": 0.0}),
    },
    "policy": {
        "v1_2": Run({"action_scale": "pack"}, init=SHIPPED, full_budget=True, note="v1.1 trained on; actions diffused in demo-std units"),
        "v1_2_control": Run(init=SHIPPED, full_budget=True, note="v1.1 trained on, as v1.1 was (the control)"),
        "v1_2_play_rule": Run({"action_cond_dropout_play": 0.0}, init=SHIPPED, full_budget=True, note="v1.1 trained on; play never drops its action"),
    },
    "drift": {
        "v1_2_self_forced": Run(init=SHIPPED, full_budget=True, train_args=("--self-forcing", "0.5"),
                                note="v1.1 trained on; half the windows fed its own open-loop frames"),
        "v1_2_teacher_forced": Run(init=SHIPPED, full_budget=True, note="v1.1 trained on, as v1.1 was (the control)"),
    },
}
MAIN_RUN = {"v1": "v1", "play": "v1_1", "policy": "v1_2", "drift": "v1_2_self_forced"}  # the candidate whose weights come back
INFERENCE = {"cfg_1.5": {"cfg_scale": 1.5}, "cfg_2.5": {"cfg_scale": 2.5}, "steps_5": {"sample_steps": 5}}  # inference-time rows on the main run


def train_command(args, name: str, run: Run) -> list[str]:
    steps, batch, lr, workers = ((1_000_000, args.batch_size, args.init_lr if run.init else args.lr, args.workers) if run.full_budget
                                 else (args.ablation_steps, args.ablation_batch, args.ablation_lr, min(args.workers, 2)))
    command = [sys.executable, "-m", "physgen.cli", "train", "--stage", "actions", "--token-pack", args.pack,
               "--pack-episodes", run.pack_episodes, "--out", str(Path(args.runs) / name), "--max-steps", str(steps),
               "--minutes", str(args.minutes), "--batch-size", str(batch), "--lr", str(lr), "--cosine", "--workers", str(workers),
               "--val-every", "500", "--seed", str(args.seed), *run.train_args]
    change = dict(run.change)
    if change.get("action_scale") == "pack":  # measured on the pack this call trains on
        from physgen.data.packs import action_scale

        change["action_scale"] = action_scale(args.pack)
    if run.init:
        return command + ["--init", args.init or run.init] + (["--model", json.dumps(change)] if change else [])
    return command + ["--model", json.dumps({**V1, **change})]


def score(model, tokenizer, pack: str, episodes: int) -> dict:
    """pack_open_loop on the demonstrations and, where the pack has them, the play episodes."""
    from physgen.eval.open_loop import pack_open_loop

    row = pack_open_loop(model, tokenizer, pack, max_episodes=episodes)
    imagined = pack_open_loop(model, tokenizer, pack, max_episodes=episodes, action_source="none")
    row.update({f"imagine_{k}": imagined[k] for k in ("psnr_first", "psnr_mean")})
    try:
        for source in ("recorded", "other_episode"):
            play = pack_open_loop(model, tokenizer, pack, max_episodes=episodes, action_source=source, episodes="play")
            row.update({f"play_{source}_{k}": play[k] for k in ("episodes", "psnr_first", "psnr_mean", "psnr_first_copy", "psnr_mean_copy")})
    except Exception as exc:  # a pack without play episodes
        row["play"] = f"not scored: {exc}"
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiment", choices=list(EXPERIMENTS), default="play")
    parser.add_argument("--pack", default="pack/tokens")
    parser.add_argument("--tokenizer", default=f"{SHIPPED}/tokenizer", help="for scoring (and --frames)")
    parser.add_argument("--runs", default="/tmp/runs")
    parser.add_argument("--out", default=os.environ.get("OUT", "/tmp/gpu_out"))
    parser.add_argument("--minutes", type=float, default=6.0, help="time budget of the full-budget runs")
    parser.add_argument("--ablation-steps", type=int, default=800)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=7e-4)
    parser.add_argument("--init-lr", type=float, default=3e-4, help="full-budget runs that start from a checkpoint")
    parser.add_argument("--init", default=None, help="start the runs that start from a checkpoint from this one instead")
    parser.add_argument("--ablation-batch", type=int, default=32)
    parser.add_argument("--ablation-lr", type=float, default=5e-4)
    parser.add_argument("--workers", type=int, default=4, help="loader workers of the full-budget runs (ablation runs: 2)")
    parser.add_argument("--rows", nargs="+", help="only these runs of the experiment (e.g. a repeat with another --seed)")
    parser.add_argument("--seed", type=int, default=0, help="training seed of every run (the scoring seed stays 0)")
    parser.add_argument("--eval-episodes", type=int, default=64, help="val episodes of the pack scored per model and set")
    parser.add_argument("--frames", default=None, help="a `physgen pack --frames` folder: fine-tune the decoder on it")
    args = parser.parse_args()
    runs = {name: run for name, run in EXPERIMENTS[args.experiment].items() if not args.rows or name in args.rows}
    if args.rows and len(runs) != len(args.rows):
        parser.error(f"--rows must name runs of {args.experiment}: {', '.join(EXPERIMENTS[args.experiment])}")
    main_run = MAIN_RUN[args.experiment]
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONUNBUFFERED": "1"}

    jobs = {name: train_command(args, name, run) for name, run in runs.items()}
    if args.frames:
        jobs["decoder"] = [sys.executable, "-m", "physgen.cli", "train-tokenizer", "--frames-pack", args.frames, "--init", args.tokenizer,
                           "--decoder-only", "--out", str(Path(args.runs) / "decoder"), "--minutes", str(args.minutes),
                           "--batch-size", "64", "--lr", "3e-4", "--restart"]
    start = time.perf_counter()
    procs = {name: subprocess.Popen(cmd, env=env, stdout=open(Path(args.runs) / f"{name}.log", "w"), stderr=subprocess.STDOUT)
             for name, cmd in jobs.items()}
    codes = {name: p.wait() for name, p in procs.items()}
    print(f"trained in {time.perf_counter() - start:.0f} s: {codes}", flush=True)
    for name, code in codes.items():
        if code:
            print(f"--- {name} failed:\n" + (Path(args.runs) / f"{name}.log").read_text()[-3000:], flush=True)

    import torch

    from physgen.model.tokenizer import FrameTokenizer
    from physgen.model.world_model import PhysGen

    # The candidate's weights first: whatever happens to the scoring, they come back.
    report = {"experiment": args.experiment}
    main_dir = Path(args.runs) / main_run
    if (main_dir / "model" / "config.json").exists():
        PhysGen.from_pretrained(main_dir / "model").half().save_pretrained(out / main_run, max_shard_size="12MB")
    decoder = Path(args.runs) / "decoder" / "last"
    if (decoder / "metrics.json").exists():
        report["decoder"] = json.loads((decoder / "metrics.json").read_text())
        tuned = FrameTokenizer.from_pretrained(decoder)
        tuned.vae.half()
        tuned.save_pretrained(out / "tokenizer")
    if (main_dir / "loss.csv").exists():
        report[f"{main_run}_loss_csv"] = (main_dir / "loss.csv").read_text().splitlines()[::20]
    (out / "ablation.json").write_text(json.dumps(report, indent=2))

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = FrameTokenizer.from_pretrained(args.tokenizer).float().to(device)
    rows = ({"shipped": None} if args.experiment != "v1" else {}) | runs
    for name, run in rows.items():
        folder = Path(args.runs) / name
        if run is not None and not (folder / "metrics.json").exists():
            continue
        try:
            model = PhysGen.from_pretrained(SHIPPED if run is None else folder / "model").to(device).eval()
            metrics = json.loads((folder / "metrics.json").read_text()) if run else {}
            row = {"change": run.change if run else "the shipped checkpoint, as it is", "init": (args.init or run.init) if run and run.init else None,
                   "pack_episodes": run.pack_episodes if run else None, "note": run.note if run else "",
                   **{k: metrics.get(k) for k in ("step", "seconds", "val", "params")},
                   **score(model, tokenizer, args.pack, args.eval_episodes)}
            report[name] = row
            print(name, json.dumps({k: v for k, v in row.items() if "by_step" not in k}), flush=True)
            for row_name, change in ({f"{name}_{k}": v for k, v in INFERENCE.items()} if name == main_run else {}).items():
                trained = dict(model.config)
                model.register_to_config(**change)
                report[row_name] = {"change": change, **score(model, tokenizer, args.pack, args.eval_episodes)}
                model.register_to_config(**{k: trained[k] for k in change})
                print(row_name, json.dumps({k: v for k, v in report[row_name].items() if "by_step" not in k}), flush=True)
        except Exception as exc:  # one broken row must not cost the others
            report[name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(name, "failed:", exc, flush=True)
        (out / "ablation.json").write_text(json.dumps(report, indent=2))
    print(f"done in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
