"""`physgen train-action-head`: retrain the policy's Action-DiT alone, on cached backbone features.

The policy (physgen.model.policy) imagines the next frame, then the Action-DiT reads the backbone's
outputs for that frame and diffuses the chunk that leads into it (implicit IK). With everything but
the head frozen, those outputs are a fixed function of each training window. They are computed
once, the way rollouts compute them (context noise off), and cached on disk
(physgen.train.window_features), so the head trains at many times the steps per second of full
training on the same CPU. The frames the model imagines do
not change: only the policy does.

By default the head learns actions in units of the demonstrations' std (`action_scale`): expert
deltas span about a tenth of [-1, 1], and in raw units they are buried under the unit diffusion
noise (session 7). The figure to watch is `ik_error`: from the real next frame of held-out windows,
the mean absolute xyz error of the first proposed chunk against the executed one, next to what
repeating the previous chunk (`ik_error_previous_chunk`) or a zero chunk would score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from physgen.errors import InputError
from physgen.train.window_features import HeadTrainConfig, WindowFeatures, cached_window_features, train_on_features

XYZ = slice(0, 3)  # the translation part of a pd_ee_delta_pose action


@dataclass
class ActionHeadTrainConfig(HeadTrainConfig):
    scale_actions: bool = True  # set action_scale to the pack's demonstration std (physgen.data.packs.action_scale)


def demo_batch(features: WindowFeatures, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The action loss's inputs for windows `index`: frame outputs, actions, and which chunks teach."""
    return features.h_frame[index].float(), features.actions[index], features.action_valid[index] & features.imitate[index, None]


@torch.no_grad()
def ik_errors(model, features: WindowFeatures, seed: int = 0) -> dict:
    """Implicit IK on windows: from the last step's frame outputs (the real frame reached), the first
    chunk of the sampled block against the chunk that led there, mean |xyz| error; with the
    baselines of repeating the chunk before it and of a zero chunk."""
    h_frame, actions, valid = demo_batch(features, torch.arange(len(features)))
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


def train_action_head(model, pack: str, out_dir, config: ActionHeadTrainConfig | None = None, log=print,
                      features_dir=None) -> dict:
    """Train `model`'s Action-DiT (and its lookahead embedding) alone on the demonstration windows of
    a token pack (physgen pack --tokens); the model is written to `out_dir`/model. The backbone
    features are cached under `features_dir` (default `out_dir`/features). Returns the metrics."""
    from physgen.data.dataset import TokenPackWindows, WindowConfig
    from physgen.data.packs import action_scale

    cfg = config or ActionHeadTrainConfig()
    out = Path(out_dir)
    torch.manual_seed(cfg.seed)
    mcfg = model.config
    if cfg.scale_actions:
        model.register_to_config(action_scale=action_scale(pack))
    windows = WindowConfig(history=mcfg.history, chunk=mcfg.chunk, lookahead=mcfg.lmtp, start_stride=1)
    features_dir = Path(features_dir) if features_dir is not None else out / "features"
    train = cached_window_features(model, pack, TokenPackWindows(pack, windows, "train", "demos"), features_dir, "train-demos")
    val_all = cached_window_features(model, pack, TokenPackWindows(pack, windows, "val", "demos"), features_dir, "val-demos")
    pick = torch.randperm(len(val_all), generator=torch.Generator().manual_seed(cfg.seed))[: cfg.val_windows]
    val = val_all.subset(pick)  # stays fp16
    log(f"action head: {len(train)} train windows, {len(val)} val windows; action_scale {model.config.action_scale}")

    params = [*model.action_head.parameters(), *model.lookahead_in.parameters(), model.lookahead_pos]

    def evaluate() -> dict:
        model.eval()
        torch.manual_seed(cfg.seed)  # the same diffusion noise for every evaluation
        with torch.no_grad():
            loss = model.action_loss(*demo_batch(val, torch.arange(len(val)))).item()
        return {"val_loss": loss, **ik_errors(model, val, cfg.seed)}

    def train_loss(index: torch.Tensor) -> torch.Tensor:
        return model.action_loss(*demo_batch(train, index))

    return train_on_features(model, params, train_loss, len(train), evaluate, cfg, out, log, record={"pack": str(pack)})
