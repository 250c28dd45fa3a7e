"""Torch datasets of training windows.

`DemoWindows` reads the converted expert demos (ManiSkill h5 + json) and yields physical steps:
frame O_n is the studio camera frame at control step t0 + n*L, and action chunk A_n is the L
actions that led from O_(n-1) to O_n (A_0 precedes the window; at the start of an episode there is
none and `boa` is set, the model then uses its begin-of-action token). L-MTP needs the chunks after
the window too, so actions run to H + lookahead.

`VideoWindows` reads the action-free corpus and yields frames only.

Steps past the end of an episode repeat the last frame and hold still (zero deltas, last gripper
command), which is what the robot does after success; they are flagged invalid so losses can skip
them. Splits are deterministic by episode seed; seeds >= EVAL_SEED_START never enter a dataset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from physgen import EVAL_SEED_START
from physgen.actions.space import ACTION_DIM, DEFAULT_CHUNK_LEN
from physgen.data.episodes import CONVERTED_SUFFIX, Episode, find_demo_episodes, find_video_episodes
from physgen.data.packs import dequantize, read_token_pack
from physgen.errors import InputError
from physgen.sim.camera import CAMERA_NAME

SPLITS = ("train", "val", "all")


def split_of_seed(seed: int, val_percent: int = 10) -> str:
    """'val' for about val_percent % of seeds (a fixed hash), else 'train'."""
    if seed >= EVAL_SEED_START:
        return "eval"
    return "val" if (seed * 7919 + 13) % 100 < val_percent else "train"


@dataclass(frozen=True)
class WindowConfig:
    history: int = 5  # H: physical steps per window (the paper's 5-step history)
    chunk: int = DEFAULT_CHUNK_LEN  # L: control steps per physical step (actions per chunk)
    lookahead: int = 3  # extra future chunks for L-MTP supervision (1 = none beyond the next)
    start_stride: int = 2  # control steps between window starts
    val_percent: int = 10

    def __post_init__(self):
        for name in ("history", "chunk", "lookahead", "start_stride"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be an integer >= 1; got {value!r}")
        if not 0 <= self.val_percent < 100:
            raise InputError(f"val_percent must be in [0, 100); got {self.val_percent}")


class _H5Windows(Dataset):
    """Shared machinery: an index of (episode, start) and per-process h5 handles."""

    def __init__(self, episodes: list[Episode], config: WindowConfig, split: str, tokens: dict | None = None):
        if split not in SPLITS:
            raise InputError(f"split must be one of {SPLITS}; got {split!r}")
        leaked = [e for e in episodes if e.seed >= EVAL_SEED_START]
        if leaked:
            raise InputError(
                f"{leaked[0].path} holds seed {leaked[0].seed}: seeds >= {EVAL_SEED_START} are reserved "
                "for evaluation and must not be in training data"
            )
        self.config = config
        self.split = split
        self.episodes = [e for e in episodes if split == "all" or split_of_seed(e.seed, config.val_percent) == split]
        self.index = [
            (i, t0)
            for i, ep in enumerate(self.episodes)
            for t0 in range(0, max(ep.num_frames - 1, 1), config.start_stride)
        ]
        self._handles: dict[str, object] = {}
        # Optional frame tokens by (path, key), (T, K, D) arrays from physgen.data.latents: windows then
        # yield "frames" as tokens instead of pixels, and the h5 image data is never read.
        self.tokens = tokens

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self):  # h5py handles cannot cross into DataLoader workers
        state = self.__dict__.copy()
        state["_handles"] = {}
        return state

    def _group(self, ep: Episode):
        import h5py

        handle = self._handles.get(ep.path)
        if handle is None:
            handle = self._handles[ep.path] = h5py.File(ep.path, "r")
        return handle[ep.key] if ep.key else handle

    def _frames(self, group, dataset: str, steps: np.ndarray, num_frames: int, ep: Episode | None = None):
        clamped = np.clip(steps, 0, num_frames - 1)
        if self.tokens is not None:
            tokens = self.tokens[(ep.path, ep.key)][clamped]  # (H, K, D) float16
            return torch.from_numpy(tokens.astype(np.float32)), torch.from_numpy(steps < num_frames)
        unique, inverse = np.unique(clamped, return_inverse=True)
        frames = group[dataset][unique][inverse]  # (H, h, w, 3) uint8
        video = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)  # (H, 3, h, w)
        return video, torch.from_numpy(steps < num_frames)


class DemoWindows(_H5Windows):
    """Windows of (frames, action chunks) from expert demos; see the module docstring."""

    def __init__(self, root: str | os.PathLike, scenes: list[str] | None = None, config: WindowConfig | None = None,
                 split: str = "train", tokens: dict | None = None):
        episodes = find_demo_episodes(root, scenes)
        if not episodes:
            raise InputError(f"no converted demos (*{CONVERTED_SUFFIX}.h5) under {root}; run `physgen demos` first")
        super().__init__(episodes, config or WindowConfig(), split, tokens)

    def __getitem__(self, idx: int) -> dict:
        ep_idx, t0 = self.index[idx]
        ep = self.episodes[ep_idx]
        cfg = self.config
        group = self._group(ep)
        frame_steps = t0 + cfg.chunk * np.arange(cfg.history)
        frames, frame_valid = self._frames(group, f"obs/sensor_data/{CAMERA_NAME}/rgb", frame_steps, ep.num_frames, ep)

        return {
            "frames": frames,  # (H, 3, h, w) uint8, or (H, K, D) tokens
            "frame_valid": frame_valid,  # (H,) bool
            **action_window(group["actions"], ep.num_frames - 1, t0, cfg),
        }


def action_window(all_actions, num_actions: int, t0: int, cfg: WindowConfig) -> dict:
    """The chunks of a window starting at control step t0: actions (H + lookahead, L, 7), with
    actions[n] leading into frame n, their validity, and whether A_0 is the BOA token."""
    n_chunks = cfg.history + cfg.lookahead
    steps = t0 + cfg.chunk * (np.arange(n_chunks)[:, None] - 1) + np.arange(cfg.chunk)[None]  # (H+la, L)
    inside = (steps >= 0) & (steps < num_actions)
    lo, hi = int(np.clip(steps.min(), 0, num_actions)), int(np.clip(steps.max() + 1, 0, num_actions))
    span = all_actions[lo:hi] if hi > lo else np.zeros((0, ACTION_DIM), np.float32)
    actions = np.zeros((n_chunks, cfg.chunk, ACTION_DIM), dtype=np.float32)
    actions[inside] = span[steps[inside] - lo]
    # Outside the episode the robot holds still with its gripper as first (or last) commanded.
    actions[steps < 0, 6] = all_actions[0, 6]
    actions[steps >= num_actions, 6] = all_actions[num_actions - 1, 6]
    return {
        "actions": torch.from_numpy(actions),  # (H + lookahead, L, 7)
        "action_valid": torch.from_numpy(inside.all(axis=1)),  # (H + lookahead,) bool
        "boa": torch.tensor(t0 == 0),  # the window starts an episode: A_0 is the BOA token
    }


EPISODE_SETS = ("all", "demos", "play")


def _imitates(row: list) -> bool:
    return bool(row[5]) if len(row) > 5 else True  # packs made before play data hold demonstrations only


class TokenPackWindows(Dataset):
    """DemoWindows' windows read from a token pack (physgen.data.packs): tokens instead of pixels,
    everything in memory, windows starting every `frame_stride` control steps."""

    def __init__(self, folder: str | os.PathLike, config: WindowConfig | None = None, split: str = "train", episodes: str = "all"):
        """episodes: "all", "demos" (demonstrations, the corpus's scripted pushes included) or "play"."""
        if split not in SPLITS:
            raise InputError(f"split must be one of {SPLITS}; got {split!r}")
        if episodes not in EPISODE_SETS:
            raise InputError(f"episodes must be one of {EPISODE_SETS}; got {episodes!r}")
        arrays, self.meta = read_token_pack(folder)
        self.config = config or WindowConfig()
        stride = self.meta["frame_stride"]
        if self.config.chunk % stride:
            raise InputError(f"the pack keeps every {stride}th frame; the chunk ({self.config.chunk}) must be a multiple of it")
        self.codes, self.offset, self.step = arrays["tokens_u8"], arrays["token_offset"], arrays["token_step"]
        self.actions = arrays["actions"]
        table = arrays["episodes"]  # (E, 6): frame offset, frames (T + 1), action offset, seed, scene, imitate (packs before play have 5)
        if (table[:, 3] >= EVAL_SEED_START).any():
            raise InputError(f"{folder} holds seeds >= {EVAL_SEED_START}, which are reserved for evaluation")
        self.episodes = [row for row in table.tolist()
                         if (split == "all" or split_of_seed(row[3], self.config.val_percent) == split)
                         and (episodes == "all" or _imitates(row) == (episodes == "demos"))]
        start = max(stride, self.config.start_stride // stride * stride)
        self.index = [(i, t0) for i, row in enumerate(self.episodes) for t0 in range(0, max(row[1] - 1, 1), start)]

    def __len__(self) -> int:
        return len(self.index)

    def imitates(self, ep_idx: int) -> bool:
        """Whether episode ep_idx's actions are a demonstration (False for play)."""
        return _imitates(self.episodes[ep_idx])

    def __getitem__(self, idx: int) -> dict:
        ep_idx, t0 = self.index[idx]
        frame_offset, num_frames, action_offset = self.episodes[ep_idx][:3]
        cfg, stride = self.config, self.meta["frame_stride"]
        steps = t0 + cfg.chunk * np.arange(cfg.history)
        stored = (num_frames - 1) // stride  # index of the last stored frame of the episode
        rows = frame_offset + np.minimum(steps // stride, stored)
        actions = self.actions[action_offset : action_offset + num_frames - 1]
        return {
            "frames": torch.from_numpy(dequantize(self.codes[rows], self.offset, self.step)),  # (H, K, D)
            "frame_valid": torch.from_numpy(steps < num_frames),  # (H,) bool
            **action_window(actions, num_frames - 1, t0, cfg),
            "imitate": torch.tensor(self.imitates(ep_idx)),  # the actions are a demonstration for the policy head
        }


class VideoWindows(_H5Windows):
    """Frames-only windows from the action-free corpus (stage-1 video pretraining)."""

    def __init__(self, root: str | os.PathLike, scenes: list[str] | None = None, config: WindowConfig | None = None,
                 split: str = "train", tokens: dict | None = None):
        episodes = find_video_episodes(root, scenes)
        if not episodes:
            raise InputError(f"no corpus videos (*/ep_*.h5) under {root}; run `physgen videos` first")
        super().__init__(episodes, config or WindowConfig(), split, tokens)

    def __getitem__(self, idx: int) -> dict:
        ep_idx, t0 = self.index[idx]
        ep = self.episodes[ep_idx]
        steps = t0 + self.config.chunk * np.arange(self.config.history)
        group = None if self.tokens is not None else self._group(ep)
        frames, valid = self._frames(group, "frames", steps, ep.num_frames, ep)
        return {"frames": frames, "frame_valid": valid}

