"""A disk cache of frame tokens: every frame of every episode encoded once by a given tokenizer.

Training reads (T, K, D) float16 tokens instead of decoding h5 images and running the VAE encoder
each step. The cache lives under `<cache_dir>/<tokenizer id>/`, the id being a hash of the
tokenizer's weights and configs (the VAE's and the patching's), so neither retraining the tokenizer
nor changing how its latents are cut into tokens ever mixes stale tokens in.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from physgen.data.episodes import Episode
from physgen.sim.camera import CAMERA_NAME


def tokenizer_id(tokenizer_dir: str | os.PathLike) -> str:
    folder = Path(tokenizer_dir)
    digest = hashlib.sha1()
    for path in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.json")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def episode_tokens(episodes: list[Episode], tokenizer, tokenizer_dir, cache_dir="data/latents", batch: int = 64, progress: bool = True,
                   frame_stride: int = 1) -> dict:
    """{(path, key): (ceil(T / frame_stride), K, D) float16} for the episodes: the tokens of every
    frame_stride-th frame, encoding those not cached yet."""
    import h5py
    from tqdm import tqdm

    folder = Path(cache_dir) / tokenizer_id(tokenizer_dir)
    if frame_stride > 1:
        folder = folder / f"stride{frame_stride}"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    todo = []
    for ep in episodes:
        name = hashlib.sha1(f"{os.path.abspath(ep.path)}::{ep.key}".encode()).hexdigest()[:16] + ".npy"
        if (folder / name).exists():
            out[(ep.path, ep.key)] = np.load(folder / name)
        else:
            todo.append((ep, folder / name))
    for ep, path in tqdm(todo, desc="encoding frames", unit="episode", disable=not progress or not todo):
        with h5py.File(ep.path, "r") as f:
            frames = f[ep.key][f"obs/sensor_data/{CAMERA_NAME}/rgb"][::frame_stride] if ep.key else f["frames"][::frame_stride]
        x = torch.from_numpy(frames).permute(0, 3, 1, 2)  # (T, 3, H, W) uint8
        with torch.no_grad():
            tokens = torch.cat([tokenizer.to_tokens(tokenizer.encode(b)) for b in x.split(batch)])  # (T, K, D)
        array = tokens.numpy().astype(np.float16)
        tmp = path.with_name(path.name + ".tmp.npy")
        np.save(tmp, array)
        os.replace(tmp, path)
        out[(ep.path, ep.key)] = array
    return out
