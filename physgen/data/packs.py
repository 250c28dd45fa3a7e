"""Compact training packs: the data in a few files small enough to carry to a lent GPU machine.

- A **frame pack** (`frames.npz`) holds a sample of frames for tokenizer training: JPEG at quality
  95 without chroma subsampling (about 40 dB, far above what the VAE reaches, and a tenth of the raw
  size), with object masks as packed bits. Frames come from the demos (with segmentation) and the
  corpus, half each, as `physgen.model.tokenizer.load_frames` samples them.
- A **token pack** (`tokens.safetensors` + `tokens.json`) holds, for every episode with actions
  (expert demos and the corpus's scripted episodes, the probe's included), the tokens of the frames
  that training windows read (control steps t with t % frame_stride == 0) and all actions. Tokens
  are stored as 8 bits per value with a per-dimension offset and step (over +-5 std): the rounding
  error is under 1 % of a token's spread, far below the world model's own error and the context
  noise it is trained with, and it halves the pack against fp16. The pack records the tokenizer
  that made it, weights and config (physgen.data.latents.tokenizer_id).

`physgen.data.dataset.TokenPackWindows` reads a token pack.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np

from physgen.errors import InputError

JPEG_QUALITY = 95
TOKENS_FILE = "tokens.safetensors"
TOKENS_META = "tokens.json"
FRAMES_FILE = "frames.npz"
FRAMES_VAL_FILE = "frames_val.npz"


# ----------------------------------------------------------------- frames (tokenizer training)
def encode_jpeg(frame: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    return buffer.getvalue()


def decode_jpeg(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def write_frame_pack(frames: np.ndarray, masks: np.ndarray, path: str | os.PathLike) -> int:
    """frames (N, H, W, 3) uint8, masks (N, H, W) bool -> one npz; returns its size in bytes."""
    blobs = [encode_jpeg(f) for f in frames]
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, jpeg=np.frombuffer(b"".join(blobs), np.uint8), offsets=offsets,
                        masks=np.packbits(masks, axis=-1), shape=np.array(frames.shape, np.int64))
    return path.stat().st_size


def read_frame_pack(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(frames (N, H, W, 3) uint8, masks (N, H, W) bool) from write_frame_pack's file."""
    if not Path(path).exists():
        raise InputError(f"no frame pack at {path}; make one with `physgen pack --frames`")
    with np.load(path, allow_pickle=False) as data:
        raw, offsets, shape = data["jpeg"].tobytes(), data["offsets"], tuple(data["shape"])
        masks = np.unpackbits(data["masks"], axis=-1, count=shape[2]).astype(bool)
    frames = np.stack([decode_jpeg(raw[offsets[i] : offsets[i + 1]]) for i in range(shape[0])])
    return frames, masks


# ----------------------------------------------------------------- tokens (world-model training)
def write_token_pack(episodes: list, tokens: dict, actions: dict, out_dir: str | os.PathLike, frame_stride: int, tokenizer_key: str) -> int:
    """Write the pack of `episodes` (physgen.data.dataset.Episode with actions).

    tokens[(path, key)] is (ceil((T + 1) / frame_stride), K, D): the frames at control steps
    0, s, 2s, ...; actions[(path, key)] is (T, 7). Returns the size in bytes."""
    import torch
    from safetensors.torch import save_file

    scenes = sorted({e.scene for e in episodes})
    table = []
    frame_offset = action_offset = 0
    for ep in episodes:
        table.append([frame_offset, ep.num_frames, action_offset, ep.seed, scenes.index(ep.scene), int(ep.imitate)])
        frame_offset += len(tokens[(ep.path, ep.key)])
        action_offset += len(actions[(ep.path, ep.key)])
    all_tokens = np.concatenate([tokens[(e.path, e.key)] for e in episodes]).astype(np.float32)  # (N, K, D)
    all_actions = np.concatenate([actions[(e.path, e.key)] for e in episodes]).astype(np.float32)  # (M, 7)
    quantized, offset, step = quantize(all_tokens)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file({"tokens_u8": torch.from_numpy(quantized), "token_offset": torch.from_numpy(offset), "token_step": torch.from_numpy(step),
               "actions": torch.from_numpy(all_actions), "episodes": torch.tensor(table, dtype=torch.int64)}, out / TOKENS_FILE)
    meta = {"frame_stride": frame_stride, "scenes": scenes, "tokenizer": tokenizer_key,
            "num_tokens": int(all_tokens.shape[1]), "token_dim": int(all_tokens.shape[2]), "episodes": len(episodes)}
    (out / TOKENS_META).write_text(json.dumps(meta, indent=2))
    return sum((out / f).stat().st_size for f in (TOKENS_FILE, TOKENS_META))


def quantize(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, K, D) float -> (uint8 codes, offset (D,), step (D,)) over mean +- 5 std per dimension."""
    flat = tokens.reshape(-1, tokens.shape[-1])
    mean, std = flat.mean(0), flat.std(0) + 1e-6
    offset, step = (mean - 5 * std).astype(np.float32), (10 * std / 255).astype(np.float32)
    codes = np.clip(np.round((tokens - offset) / step), 0, 255).astype(np.uint8)
    return codes, offset, step


def dequantize(codes: np.ndarray, offset: np.ndarray, step: np.ndarray) -> np.ndarray:
    return codes.astype(np.float32) * step + offset


def read_token_pack(folder: str | os.PathLike) -> tuple[dict, dict]:
    """(arrays {"tokens", "actions", "episodes"} as numpy, metadata) of a token pack."""
    from safetensors.numpy import load_file

    folder = Path(folder)
    if not (folder / TOKENS_FILE).exists() or not (folder / TOKENS_META).exists():
        raise InputError(f"{folder} is not a token pack (needs {TOKENS_FILE} and {TOKENS_META}); make one with `physgen pack --tokens`")
    return load_file(folder / TOKENS_FILE), json.loads((folder / TOKENS_META).read_text())


def action_scale(folder: str | os.PathLike, floor: float = 0.01) -> list[float]:
    """Per-dimension std of a token pack's demonstration actions (play excluded), at least `floor`:
    the world model's action_scale."""
    arrays, _ = read_token_pack(folder)
    table = arrays["episodes"]  # (E, 6): frame offset, frames (T + 1), action offset, seed, scene, imitate
    rows = [row for row in table.tolist() if len(row) < 6 or row[5]]
    if not rows:
        raise InputError(f"{folder} holds no demonstrations to measure the action scale on")
    demos = np.concatenate([arrays["actions"][row[2] : row[2] + row[1] - 1] for row in rows])  # (N, 7)
    return [round(max(float(v), floor), 4) for v in demos.std(axis=0)]


def episodes_with_actions(demos_root, videos_root, play_root=None) -> tuple[list, dict]:
    """Training episodes that have actions: the demos, corpus videos that stored them, and play
    episodes (stored like the corpus; Episode.imitate is False for them).
    Returns (episodes, {(path, key): actions (T, 7)}); held-out seeds are never included."""
    import h5py

    from physgen import EVAL_SEED_START
    from physgen.data.episodes import find_demo_episodes, find_video_episodes

    episodes, actions = [], {}
    demos = find_demo_episodes(demos_root) if demos_root and Path(demos_root).exists() else []
    videos = [ep for root in (videos_root, play_root) if root and Path(root).exists() for ep in find_video_episodes(root)]
    for ep in demos + videos:
        if ep.seed >= EVAL_SEED_START:
            continue
        with h5py.File(ep.path, "r") as f:
            group = f[ep.key] if ep.key else f
            if "actions" not in group:
                continue
            actions[(ep.path, ep.key)] = group["actions"][:]
        episodes.append(ep)
    if not episodes:
        raise InputError(f"no episodes with actions under {demos_root} / {videos_root}; run `physgen demos` first")
    return episodes, actions


def build_token_pack(tokenizer_dir, demos_root, videos_root, out_dir, frame_stride: int = 8, cache_dir="data/latents",
                     play_root=None) -> dict:
    """Encode the frames at every frame_stride-th control step of every episode with actions
    (through the latent cache, so a re-run encodes only new episodes) and write a token pack."""
    from physgen.data.latents import episode_tokens, tokenizer_id
    from physgen.model.tokenizer import FrameTokenizer

    if frame_stride < 1:
        raise InputError(f"frame_stride must be >= 1; got {frame_stride}")
    tokenizer = FrameTokenizer.from_pretrained(tokenizer_dir)
    episodes, actions = episodes_with_actions(demos_root, videos_root, play_root)
    tokens = episode_tokens(episodes, tokenizer, tokenizer_dir, cache_dir, frame_stride=frame_stride)
    size = write_token_pack(episodes, tokens, actions, out_dir, frame_stride, tokenizer_id(tokenizer_dir))
    return {"episodes": len(episodes), "play": sum(not e.imitate for e in episodes), "frames": sum(len(t) for t in tokens.values()), "bytes": size,
            "scenes": sorted({e.scene for e in episodes})}
