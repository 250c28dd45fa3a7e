"""`physgen train-frame-head`: train the frame head (and the layers that build its condition) alone,
on cached backbone features.

The frame head turns the backbone's outputs for a step into the next frame's tokens. With the
backbone frozen, those outputs are computed once per window (physgen.train.window_features) and the
head trains at many times the steps per second of full training. The backbone, and so the policy's
Action-DiT that reads it, stay as they are. Windows of demonstrations and of play both teach: play
chunks are the drive commands the studio sends.

The figure to watch is `one_step_mse`: on held-out windows, from the real context, the mean squared
error of the sampled next frame's tokens against the real ones (the checkpoint's own sampler:
steps, guidance), next to `one_step_mse_copy` (repeating the previous frame's tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from physgen.errors import InputError
from physgen.train.window_features import HeadTrainConfig, WindowFeatures, cached_window_features, train_on_features

FRAME_HEAD_PREFIXES = ("frame_head.", "cond_frame.", "cond_last_action.", "cond_next_action.", "null_next_action")


@dataclass
class FrameHeadTrainConfig(HeadTrainConfig):
    lr: float = 1e-4  # the head is trained already: fine-tune it gently


def frame_batch(features: WindowFeatures, index: torch.Tensor) -> dict:
    """PhysGen.frame_loss's inputs for windows `index` (the real frames are also the frames fed)."""
    frames = features.frames[index].float()
    return {"h_frame": features.h_frame[index].float(), "h_last_action": features.h_last_action[index].float(), "fed": frames,
            "frame_tokens": frames, "frame_valid": features.frame_valid[index], "actions": features.actions[index],
            "action_valid": features.action_valid[index], "imitate": features.imitate[index]}


@torch.no_grad()
def one_step_errors(model, features: WindowFeatures, seed: int = 0) -> dict:
    """From the real context of each window's second-last step, the sampled next frame's token MSE
    against the real last frame, and that of repeating the second-last frame."""
    last = features.h_frame.shape[1] - 1
    keep = features.frame_valid[:, last] & features.action_valid[:, last]
    if not keep.any():
        raise InputError("no held-out window has a whole last step to score the frame head on")
    f = features.subset(keep)
    h_frame, h_last = f.h_frame[:, last - 1 : last].float(), f.h_last_action[:, last - 1 : last].float()  # (M, 1, K, d), (M, 1, d)
    z = model.frame_condition(h_frame, h_last, f.actions[:, last : last + 1], None)[:, 0]  # (M, K, d)
    z_uncond = model.frame_condition(h_frame, h_last, None, None)[:, 0] if model.config.cfg_scale != 1.0 else None
    previous, real = f.frames[:, last - 1].float(), f.frames[:, last].float()  # (M, K, D)
    predicted = model.sample_frame(z, previous, generator=torch.Generator().manual_seed(seed), z_uncond=z_uncond)
    return {"one_step_mse": (predicted - real).pow(2).mean().item(), "one_step_mse_copy": (previous - real).pow(2).mean().item(),
            "one_step_windows": int(keep.sum())}


def train_frame_head(model, pack: str, out_dir, config: FrameHeadTrainConfig | None = None, log=print, features_dir=None) -> dict:
    """Train `model`'s frame head and condition layers alone on all windows (demonstrations and
    play) of a token pack; the model is written to `out_dir`/model. The backbone features are cached
    under `features_dir` (default `out_dir`/features). Returns the metrics."""
    from physgen.data.dataset import TokenPackWindows, WindowConfig

    cfg = config or FrameHeadTrainConfig()
    out = Path(out_dir)
    torch.manual_seed(cfg.seed)
    mcfg = model.config
    features_dir = Path(features_dir) if features_dir is not None else out / "features"
    windows = WindowConfig(history=mcfg.history, chunk=mcfg.chunk, lookahead=mcfg.lmtp, start_stride=1)

    def features(split: str) -> WindowFeatures:
        parts = []
        for episodes in ("demos", "play"):
            dataset = TokenPackWindows(pack, windows, split, episodes)
            if len(dataset):
                parts.append(cached_window_features(model, pack, dataset, features_dir, f"{split}-{episodes}"))
        if not parts:
            raise InputError(f"{pack} has no {split} windows")
        return WindowFeatures.cat(parts)

    train, val_all = features("train"), features("val")
    val = val_all.subset(torch.randperm(len(val_all), generator=torch.Generator().manual_seed(cfg.seed))[: cfg.val_windows])
    log(f"frame head: {len(train)} train windows ({int(train.imitate.sum())} demonstrations), {len(val)} val windows")

    params = [p for name, p in model.named_parameters() if name.startswith(FRAME_HEAD_PREFIXES)]

    def evaluate() -> dict:
        model.eval()
        torch.manual_seed(cfg.seed)  # the same diffusion noise and condition dropout for every evaluation
        with torch.no_grad():
            loss = model.frame_loss(**frame_batch(val, torch.arange(len(val)))).item()
        return {"val_loss": loss, **one_step_errors(model, val, cfg.seed)}

    def train_loss(index: torch.Tensor) -> torch.Tensor:
        return model.frame_loss(**frame_batch(train, index))

    return train_on_features(model, params, train_loss, len(train), evaluate, cfg, out, log, record={"pack": str(pack)})
