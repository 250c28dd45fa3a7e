"""physgen-small v1 on one lent GPU, in one call (DEVELOPERS.md: at most 8 minutes).

Runs in parallel on the same token pack and seed:
- `v1`: the shipped configuration, trained for the whole time budget (batch `--batch-size`);
- the ablation rows, each one change from v1, all with the same optimiser steps (`--ablation-steps`)
  and batch (`--ablation-batch`), `v1_short` being v1 itself at that budget.
- the tokenizer's decoder fine-tuned on the frame pack (the encoder, hence the tokens, unchanged),
  when --frames is given.
Then scores every model with physgen.evaluate.pack_open_loop on the pack's val episodes (the same
episodes and sampling seed for all; classifier-free guidance is an inference-time row on v1_short,
and v1 is also scored with guidance and with fewer sampling steps, to pick its shipped defaults),
and writes to $OUT (8 files at most): ablation.json (with v1's loss curve), v1 as fp16 safetensors
shards (< 16 MiB each) and the fine-tuned tokenizer in fp16.

Smoke test on the CPU: `python scripts/gpu_train_v1.py --minutes 0.5 --ablation-steps 5 --out /tmp/gpu_smoke`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

V1 = {"token_dim": 32, "num_frame_tokens": 64, "dim": 256, "depth": 8, "heads": 4, "frame_head_type": "joint",
      "frame_head_width": 192, "frame_head_depth": 3, "scheduler": "flow", "frame_target": "residual", "context_noise": 0.3,
      "sample_steps": 10}
ABLATIONS = {  # name: the one change from v1
    "v1_short": {},
    "token_head": {"frame_head_type": "token", "frame_head_width": 256, "frame_head_depth": 4},  # the paper's head (session 3's v1)
    "epsilon": {"scheduler": "ddim"},
    "absolute": {"frame_target": "absolute"},
    "no_context_noise": {"context_noise": 0.0},
}
V1_INFERENCE = {"cfg_1.5": {"cfg_scale": 1.5}, "steps_5": {"sample_steps": 5}}  # inference-time rows on v1


def train_command(args, name: str, model: dict, steps: int, minutes: float, batch: int, lr: float, workers: int) -> list[str]:
    return [sys.executable, "-m", "physgen.cli", "train", "--stage", "actions", "--token-pack", args.pack,
            "--out", str(Path(args.runs) / name), "--max-steps", str(steps), "--minutes", str(minutes),
            "--batch-size", str(batch), "--lr", str(lr), "--cosine", "--workers", str(workers),
            "--val-every", "500", "--seed", str(args.seed), "--model", json.dumps(model)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pack", default="pack/tokens")
    parser.add_argument("--tokenizer", default="pack/tokenizer")
    parser.add_argument("--runs", default="/tmp/runs")
    parser.add_argument("--out", default=os.environ.get("OUT", "/tmp/gpu_out"))
    parser.add_argument("--minutes", type=float, default=6.0, help="time budget of the v1 run")
    parser.add_argument("--ablation-steps", type=int, default=800)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=7e-4)
    parser.add_argument("--ablation-batch", type=int, default=32)
    parser.add_argument("--ablation-lr", type=float, default=5e-4)
    parser.add_argument("--workers", type=int, default=4, help="loader workers of the v1 run (ablation runs: 2)")
    parser.add_argument("--skip-ablations", action="store_true")
    parser.add_argument("--rows", nargs="+", choices=list(ABLATIONS), help="only these ablation rows, without v1 (a repeat with another --seed)")
    parser.add_argument("--seed", type=int, default=0, help="training seed of every run (the scoring seed stays 0)")
    parser.add_argument("--eval-episodes", type=int, default=64, help="val episodes of the pack scored per model")
    parser.add_argument("--frames", default=None, help="a `physgen pack --frames` folder: fine-tune the decoder on it")
    args = parser.parse_args()
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONUNBUFFERED": "1"}

    jobs = {} if args.rows else {"v1": train_command(args, "v1", V1, 1_000_000, args.minutes, args.batch_size, args.lr, args.workers)}
    if not args.skip_ablations:
        for name, change in ABLATIONS.items():
            if args.rows and name not in args.rows:
                continue
            jobs[name] = train_command(args, name, {**V1, **change}, args.ablation_steps, args.minutes, args.ablation_batch,
                                       args.ablation_lr, min(args.workers, 2))
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

    from physgen.evaluate import pack_open_loop
    from physgen.model import PhysGen
    from physgen.tokenizer import FrameTokenizer

    # The shipped weights first: whatever happens to the scoring, they come back.
    report = {}
    if (Path(args.runs) / "v1" / "model" / "config.json").exists():
        PhysGen.from_pretrained(Path(args.runs) / "v1" / "model").half().save_pretrained(out / "v1", max_shard_size="12MB")
    decoder = Path(args.runs) / "decoder" / "last"
    if (decoder / "metrics.json").exists():
        report["decoder"] = json.loads((decoder / "metrics.json").read_text())
        tuned = FrameTokenizer.from_pretrained(decoder)
        tuned.vae.half()
        tuned.save_pretrained(out / "tokenizer")
    if (Path(args.runs) / "v1" / "loss.csv").exists():
        report["v1_loss_csv"] = (Path(args.runs) / "v1" / "loss.csv").read_text().splitlines()[::20]
    (out / "ablation.json").write_text(json.dumps(report, indent=2))

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = FrameTokenizer.from_pretrained(args.tokenizer).float().to(device)
    for name in jobs:
        folder = Path(args.runs) / name
        if name == "decoder" or not (folder / "metrics.json").exists():
            continue
        try:
            model = PhysGen.from_pretrained(folder / "model").to(device).eval()
            metrics = json.loads((folder / "metrics.json").read_text())
            row = {"change": ABLATIONS.get(name, "the shipped configuration"), "steps": metrics["step"], "seconds": metrics["seconds"],
                   "val_loss": metrics["val"], "params": metrics["params"],
                   **pack_open_loop(model, tokenizer, args.pack, max_episodes=args.eval_episodes)}
            report[name] = row
            print(name, json.dumps({k: v for k, v in row.items() if "by_step" not in k}), flush=True)
            extra = {"v1_short": {"cfg_2": {"cfg_scale": 2.0}}, "v1": {f"v1_{k}": v for k, v in V1_INFERENCE.items()}}.get(name, {})
            for row_name, change in extra.items():
                trained = dict(model.config)
                model.register_to_config(**change)
                report[row_name] = {"change": change, "steps": metrics["step"],
                                    **pack_open_loop(model, tokenizer, args.pack, max_episodes=args.eval_episodes)}
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
