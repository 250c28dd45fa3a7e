"""The frozen backbone's outputs for every window of a token pack, computed once and kept on disk.

With the backbone frozen, its outputs are a fixed function of each training window, so a head
(the Action-DiT, or the frame head with its condition layers) can train on them at many times the
steps per second of full training. They are computed the way rollouts compute them (context noise
off). The cache file's name hashes all they depend on: the backbone's weights and config, the
pack's files and the window setup, so a moved backbone or another pack never reads stale features.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from physgen.errors import InputError

HEAD_PREFIXES = ("action_head.", "lookahead_", "frame_head.", "cond_", "null_next_action")  # not part of the features
FORMAT = 2  # bump when WindowFeatures' fields change


@dataclass
class WindowFeatures:
    """Backbone outputs of N windows of H steps, and the windows themselves."""

    h_frame: torch.Tensor  # (N, H, K, d) float16, the frame tokens' outputs
    h_last_action: torch.Tensor  # (N, H, d) float16, each step's last action token's output
    frames: torch.Tensor  # (N, H, K, D) float16, the real frame tokens
    frame_valid: torch.Tensor  # (N, H) bool
    actions: torch.Tensor  # (N, H + lmtp - 1, L, 7) float32, actions[:, n] leading into frame n
    action_valid: torch.Tensor  # (N, H + lmtp - 1) bool
    imitate: torch.Tensor  # (N,) bool: the actions are a demonstration (False for play)

    def __len__(self) -> int:
        return len(self.h_frame)

    def subset(self, index: torch.Tensor) -> WindowFeatures:
        return WindowFeatures(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def cat(parts: list[WindowFeatures]) -> WindowFeatures:
        return WindowFeatures(**{f.name: torch.cat([getattr(p, f.name) for p in parts]) for f in fields(WindowFeatures)})


@torch.no_grad()
def window_features(model, windows, batch_size: int = 32, progress: bool = True) -> WindowFeatures:
    """Backbone outputs of every window of `windows` (a TokenPackWindows)."""
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    model.eval()
    parts = []
    for batch in tqdm(DataLoader(windows, batch_size=batch_size), desc="backbone features", unit="batch", disable=not progress):
        frames, acts, act_valid = batch["frames"], batch["actions"], batch["action_valid"]
        b, h = frames.shape[:2]
        h_frame, h_action = model.window_outputs(frames, None, acts, model.boa_steps(b, h, batch["boa"], act_valid))  # context noise off
        parts.append(WindowFeatures(h_frame.half(), h_action[:, :, -1].half(), frames.half(), batch["frame_valid"], acts, act_valid,
                                    batch["imitate"]))
    if not parts:
        raise InputError("the pack has no windows of this kind to compute backbone features for")
    return WindowFeatures.cat(parts)


def backbone_id(model) -> str:
    """A hash of every weight and config entry the features depend on: all but the heads'."""
    digest = hashlib.sha1()
    for name, tensor in sorted(model.state_dict().items()):
        if not name.startswith(HEAD_PREFIXES):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    config = {k: v for k, v in model.config.items() if not k.startswith("_")}
    backbone_keys = ("dim", "depth", "heads", "mlp_ratio", "theta_frame", "theta_action", "history", "chunk", "lmtp",
                     "num_frame_tokens", "token_dim", "action_dim", "context_noise_infer")
    digest.update(json.dumps({k: config.get(k) for k in backbone_keys}, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:12]


def cached_window_features(model, pack, windows, cache_dir, name: str) -> WindowFeatures:
    """window_features of `windows` (read from `pack`), from `cache_dir` when computed before."""
    from safetensors.torch import load_file, save_file

    digest = hashlib.sha1(f"{FORMAT}:{backbone_id(model)}".encode())
    for path in sorted(Path(pack).iterdir()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(json.dumps([asdict(windows.config), name, len(windows)], sort_keys=True).encode())
    path = Path(cache_dir) / f"{name}-{digest.hexdigest()[:16]}.safetensors"
    if path.exists():
        return WindowFeatures(**load_file(path))
    features = window_features(model, windows)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({f.name: getattr(features, f.name).contiguous() for f in fields(features)}, tmp)
    tmp.replace(path)
    return features


@dataclass
class HeadTrainConfig:
    """How a head trains on cached features (physgen train-action-head, train-frame-head)."""

    minutes: float = 20.0
    max_steps: int = 100_000
    batch_size: int = 32  # windows per step
    lr: float = 3e-4
    cosine: bool = False  # decay the learning rate to 0 over the budget
    eval_every: int = 500
    val_windows: int = 256
    seed: int = 0

    def __post_init__(self):
        for name in ("minutes", "max_steps", "batch_size", "lr", "eval_every", "val_windows"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be > 0; got {getattr(self, name)}")


def train_on_features(model, params: list, train_loss, n_train: int, evaluate, cfg: HeadTrainConfig, out: Path, log=print,
                      record: dict | None = None) -> dict:
    """AdamW on `params` alone (the rest of `model` frozen) for cfg's budget. train_loss(index) is
    the loss of training windows `index` (of n_train); evaluate() gives the held-out metrics,
    logged every eval_every steps and written to `out`/loss.csv. The trained model goes to
    `out`/model, and the last metrics, with those from before training, the config and `record`,
    to `out`/metrics.json; they are returned."""
    import csv
    import math
    import time

    model.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    budget_s = cfg.minutes * 60
    rows = [{"step": 0, **evaluate()}]
    log(json.dumps(rows[-1]))
    rng = torch.Generator().manual_seed(cfg.seed)
    start, step = time.perf_counter(), 0
    while step < cfg.max_steps and (elapsed := time.perf_counter() - start) < budget_s:
        if cfg.cosine:  # by time, since the budget is minutes; max_steps may end the run first
            for group in opt.param_groups:
                group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * max(elapsed / budget_s, step / cfg.max_steps)))
        model.train()
        loss = train_loss(torch.randint(n_train, (cfg.batch_size,), generator=rng))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % cfg.eval_every == 0:
            rows.append({"step": step, "seconds": round(time.perf_counter() - start, 1), "train_loss": loss.item(), **evaluate()})
            log(json.dumps(rows[-1]))
    model.eval()
    if rows[-1]["step"] != step:
        rows.append({"step": step, "seconds": round(time.perf_counter() - start, 1), **evaluate()})
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "loss.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=sorted({k for row in rows for k in row}))
        writer.writeheader()
        writer.writerows(rows)
    model.save_pretrained(out / "model")
    result = {**rows[-1], "before": rows[0], "config": asdict(cfg), **(record or {})}
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    return result
