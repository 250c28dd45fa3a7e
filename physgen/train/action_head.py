"""`physgen train-action-head`: retrain the policy's Action-DiT alone, on cached backbone features.

The policy (physgen.model.policy) imagines the next frame, then the Action-DiT reads the backbone's
outputs for that frame and diffuses the chunk that leads into it (implicit IK). With everything but
the head frozen, those outputs are a fixed function of each training window. They are computed
once, the way rollouts compute them (context noise off), and kept in memory, so the head trains at
many times the steps per second of full training on the same CPU. The frames the model imagines do
not change: only the policy does.

By default the head learns actions in units of the demonstrations' std (`action_scale`): expert
deltas span about a tenth of [-1, 1], and in raw units they are buried under the unit diffusion
noise (session 7). The figure to watch is `ik_error`: from the real next frame of held-out windows,
the mean absolute xyz error of the first proposed chunk against the executed one, next to what
repeating the previous chunk (`ik_error_previous_chunk`) or a zero chunk would score.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from physgen.errors import InputError

XYZ = slice(0, 3)  # the translation part of a pd_ee_delta_pose action


@dataclass
class ActionHeadTrainConfig:
    minutes: float = 20.0
    max_steps: int = 100_000
    batch_size: int = 32  # windows per step (each gives up to history - 1 L-MTP blocks)
    lr: float = 3e-4
    scale_actions: bool = True  # set action_scale to the pack's demonstration std (physgen.data.packs.action_scale)
    eval_every: int = 500
    val_windows: int = 256
    seed: int = 0

    def __post_init__(self):
        for name in ("minutes", "max_steps", "batch_size", "lr", "eval_every", "val_windows"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be > 0; got {getattr(self, name)}")


@dataclass
class WindowFeatures:
    """The frozen backbone's frame outputs for demonstration windows, and the windows' actions."""

    h_frame: torch.Tensor  # (N, H, K, d) float16
    actions: torch.Tensor  # (N, H + lmtp - 1, L, 7) float32, actions[:, n] leading into frame n
    action_valid: torch.Tensor  # (N, H + lmtp - 1) bool

    def __len__(self) -> int:
        return len(self.h_frame)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.h_frame[index].float(), self.actions[index], self.action_valid[index]


@torch.no_grad()
def window_features(model, windows, batch_size: int = 32, progress: bool = True) -> WindowFeatures:
    """Backbone frame outputs of every window of `windows` (a TokenPackWindows of demonstrations)."""
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    model.eval()
    h_frames, actions, valid = [], [], []
    for batch in tqdm(DataLoader(windows, batch_size=batch_size), desc="backbone features", unit="batch", disable=not progress):
        frames, acts, act_valid = batch["frames"], batch["actions"], batch["action_valid"]
        b, h = frames.shape[:2]
        boa_steps = model.boa_steps(b, h, batch["boa"], act_valid)
        h_frame, _ = model.window_outputs(frames, None, acts, boa_steps)  # (B, H, K, d), context noise off
        h_frames.append(h_frame.half())
        actions.append(acts)
        valid.append(act_valid & batch["imitate"][:, None])
    if not h_frames:
        raise InputError("no demonstration windows to train the action head on")
    return WindowFeatures(torch.cat(h_frames), torch.cat(actions), torch.cat(valid))


@torch.no_grad()
def ik_errors(model, features: WindowFeatures, seed: int = 0) -> dict:
    """Implicit IK on windows: from the last step's frame outputs (the real frame reached), the first
    chunk of the sampled block against the chunk that led there, mean |xyz| error; with the
    baselines of repeating the chunk before it and of a zero chunk."""
    h_frame, actions, valid = features.batch(torch.arange(len(features)))
    last = h_frame.shape[1] - 1
    keep = valid[:, last] & valid[:, last - 1]
    if not keep.any():
        raise InputError("no held-out window has a whole last chunk to score the action head on")
    true = actions[keep, last]  # (M, L, 7)
    proposed = model.sample_actions(h_frame[keep, last], None, generator=torch.Generator().manual_seed(seed))[:, 0]
    return {
        "ik_error": (proposed - true)[..., XYZ].abs().mean().item(),
        "ik_error_previous_chunk": (actions[keep, last - 1] - true)[..., XYZ].abs().mean().item(),
        "ik_error_zero_chunk": true[..., XYZ].abs().mean().item(),
        "ik_windows": int(keep.sum()),
    }


def train_action_head(model, pack: str, out_dir, config: ActionHeadTrainConfig | None = None, log=print) -> dict:
    """Train `model`'s Action-DiT (and its lookahead embedding) alone on the demonstration windows of
    a token pack (physgen pack --tokens); the model is written to `out_dir`/model. Returns the metrics."""
    from physgen.data.dataset import TokenPackWindows, WindowConfig
    from physgen.data.packs import action_scale

    cfg = config or ActionHeadTrainConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    mcfg = model.config
    if cfg.scale_actions:
        model.register_to_config(action_scale=action_scale(pack))
    windows = WindowConfig(history=mcfg.history, chunk=mcfg.chunk, lookahead=mcfg.lmtp, start_stride=1)
    train = window_features(model, TokenPackWindows(pack, windows, "train", "demos"))
    val_all = window_features(model, TokenPackWindows(pack, windows, "val", "demos"))
    pick = torch.randperm(len(val_all), generator=torch.Generator().manual_seed(cfg.seed))[: cfg.val_windows]
    val = WindowFeatures(val_all.h_frame[pick], val_all.actions[pick], val_all.action_valid[pick])  # stays fp16
    log(f"action head: {len(train)} train windows, {len(val)} val windows; action_scale {model.config.action_scale}")

    model.requires_grad_(False)
    params = [*model.action_head.parameters(), *model.lookahead_in.parameters(), model.lookahead_pos]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)

    def evaluate() -> dict:
        model.eval()
        torch.manual_seed(cfg.seed)  # the same diffusion noise for every evaluation
        with torch.no_grad():
            loss = model.action_loss(*val.batch(torch.arange(len(val)))).item()
        return {"val_loss": loss, **ik_errors(model, val, cfg.seed)}

    metrics = {"step": 0, **evaluate()}
    log(json.dumps(metrics))
    rows = [metrics]
    rng = torch.Generator().manual_seed(cfg.seed)
    start, step = time.perf_counter(), 0
    while step < cfg.max_steps and time.perf_counter() - start < cfg.minutes * 60:
        model.train()
        loss = model.action_loss(*train.batch(torch.randint(len(train), (cfg.batch_size,), generator=rng)))
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
    with open(out / "loss.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=sorted({k for row in rows for k in row}))
        writer.writeheader()
        writer.writerows(rows)
    model.save_pretrained(out / "model")
    result = {**rows[-1], "before": rows[0], "config": asdict(cfg), "pack": str(pack)}
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    return result
