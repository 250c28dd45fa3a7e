"""Pairs of (the world model's predicted latent, the real frame) for fine-tuning the decoder.

The decoder was trained on the encoder's latents of real frames, but in the studio it decodes the
world model's predictions, which lie off that manifold (a little blurred, a little noisy). Issue 8
names the lever: fine-tune the decoder on the dynamics model's own predicted latents. For each
training episode (held-out seeds are never read) a pair is made for every chunk boundary twice:
- one step with real context (the rollout observes the real frame after each prediction);
- open loop from the first frame for `open_loop` chunks (the rollout observes its own prediction).
The target is the real frame the simulator rendered at that boundary, with its object mask.
Only the decoder learns from them (physgen.train.tokenizer, decoder_only): the encoder, and so the
tokens the world model reads and writes, stay as they are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from physgen import EVAL_SEED_START
from physgen.errors import InputError

ONE_STEP, OPEN_LOOP = 0, 1  # DecoderPairs.kind


@dataclass
class DecoderPairs:
    latents: np.ndarray  # (N, C, h, w) float16, the predicted latents (the decoder's input)
    frames: np.ndarray  # (N, H, W, 3) uint8, the real frames at the same boundaries
    masks: np.ndarray  # (N, H, W) bool, object pixels (all False where the episode has none)
    kind: np.ndarray  # (N,) int8: ONE_STEP or OPEN_LOOP
    horizon: np.ndarray  # (N,) int16: chunks since the last real frame the model saw

    def __post_init__(self):
        n = len(self.latents)
        if not (len(self.frames) == len(self.masks) == len(self.kind) == len(self.horizon) == n):
            raise InputError("decoder pairs: latents, frames, masks, kind and horizon must have the same length")

    def __len__(self) -> int:
        return len(self.latents)

    def save(self, path: str | os.PathLike) -> int:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, latents=self.latents, frames=self.frames, masks=np.packbits(self.masks, axis=-1), kind=self.kind,
                 horizon=self.horizon, width=np.int64(self.frames.shape[2]))
        os.replace(tmp, path)
        return path.stat().st_size

    @classmethod
    def load(cls, path: str | os.PathLike) -> DecoderPairs:
        if not Path(path).exists():
            raise InputError(f"no decoder pairs at {path}; make them with `physgen decoder-pairs`")
        with np.load(path, allow_pickle=False) as f:
            masks = np.unpackbits(f["masks"], axis=-1, count=int(f["width"])).astype(bool)
            return cls(f["latents"], f["frames"], masks, f["kind"], f["horizon"])

    @classmethod
    def concat(cls, parts: list[DecoderPairs]) -> DecoderPairs:
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in ("latents", "frames", "masks", "kind", "horizon")))


@torch.no_grad()
def episode_pairs(model, tokenizer, frames: np.ndarray, masks: np.ndarray, actions: np.ndarray, open_loop: int = 8,
                  seed: int = 0) -> DecoderPairs:
    """Pairs of one episode: frames (T + 1, H, W, 3) uint8 and masks (T + 1, H, W) at its chunk
    boundaries, actions (T * L, 7) the chunks between them."""
    from physgen.model.rollout import Rollout

    chunk = model.config.chunk
    steps = min(len(frames) - 1, len(actions) // chunk)
    if steps < 1:
        raise InputError(f"an episode needs at least one chunk of {chunk} actions and two frames")
    device = next(model.parameters()).device
    real = tokenizer.to_tokens(tokenizer.encode(torch.from_numpy(frames[: steps + 1]).permute(0, 3, 1, 2).to(device)))  # (S+1, K, D)
    acts = torch.from_numpy(np.ascontiguousarray(actions[: steps * chunk], dtype=np.float32)).view(steps, 1, chunk, -1).to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    predicted, kind, horizon, index = [], [], [], []
    for mode in (ONE_STEP, OPEN_LOOP):
        rollout = Rollout(model)
        rollout.start(real[:1])
        for n in range(steps if mode == ONE_STEP else min(open_loop, steps)):
            tokens = rollout.predict_frame(acts[n], generator=generator)  # (1, K, D)
            rollout.observe(real[n + 1 : n + 2] if mode == ONE_STEP else tokens, acts[n])
            if mode == OPEN_LOOP and n == 0:
                continue  # the first open-loop chunk is the first one-step pair
            predicted.append(tokens)
            kind.append(mode)
            horizon.append(1 if mode == ONE_STEP else n + 1)
            index.append(n + 1)
    latents = tokenizer.from_tokens(torch.cat(predicted)).cpu().numpy().astype(np.float16)  # (N, C, h, w)
    index = np.array(index)
    return DecoderPairs(latents, frames[index], masks[index], np.array(kind, np.int8), np.array(horizon, np.int16))


def read_boundaries(episode, chunk: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames (S, H, W, 3) uint8, object masks (S, H, W) bool, actions (T, 7)) at an episode's chunk
    boundaries (every chunk-th control step), read from its h5 file."""
    import h5py

    from physgen.train.tokenizer import read_frames

    if episode.seed >= EVAL_SEED_START:
        raise InputError(f"seed {episode.seed} is held out for evaluation (>= {EVAL_SEED_START}); decoder pairs use training episodes")
    with h5py.File(episode.path, "r") as f:
        group = f[episode.key] if episode.key else f
        actions = group["actions"][:]
    index = np.arange(0, episode.num_frames, chunk)
    frames, masks = read_frames(episode, index)
    return frames, masks, actions


def make_pairs(model, tokenizer, episodes, open_loop: int = 8, progress: bool = True) -> DecoderPairs:
    from tqdm import tqdm

    parts = []
    for ep in tqdm(episodes, desc="decoder pairs", unit="episode", disable=not progress):
        frames, masks, actions = read_boundaries(ep, model.config.chunk)
        parts.append(episode_pairs(model, tokenizer, frames, masks, actions, open_loop, seed=ep.seed))
    if not parts:
        raise InputError("no episodes to make decoder pairs from")
    return DecoderPairs.concat(parts)
