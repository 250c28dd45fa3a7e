"""Frame tokenizer: a small diffusers AutoencoderKL trained here on studio-camera frames.

A 128 px frame becomes a 4 x 16 x 16 continuous latent (stride 8); 4 x 4 patches of it are the
frame's K_O = 16 tokens of dimension 64. No vector quantisation: tokens stay continuous and the
world model's per-token diffusion head generates them.

Training weights the L1 loss toward object pixels (segmentation ids of task objects, from the
demos), because a VAE trained on plain pixel loss erases a 6-pixel cube (CALIBRATION notes). It
reports PSNR on whole held-out frames and on their object pixels.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from physgen.errors import InputError
from physgen.metrics import psnr
from physgen.scenes import CAMERA_NAME, FIRST_OBJECT_SEGMENTATION_ID


@dataclass(frozen=True)
class TokenizerConfig:
    image_size: int = 128
    block_out_channels: tuple[int, ...] = (32, 64, 64, 128)  # 4 levels: stride 8
    layers_per_block: int = 1
    latent_channels: int = 4
    patch: int = 4  # latent patch per token: 16x16 latent -> 16 tokens of 4*4*4 = 64 dims

    def __post_init__(self):
        stride = 2 ** (len(self.block_out_channels) - 1)
        if self.image_size % (stride * self.patch):
            raise InputError(f"image_size {self.image_size} must be a multiple of stride*patch = {stride * self.patch}")

    @property
    def latent_size(self) -> int:
        return self.image_size // 2 ** (len(self.block_out_channels) - 1)

    @property
    def num_tokens(self) -> int:
        return (self.latent_size // self.patch) ** 2

    @property
    def token_dim(self) -> int:
        return self.latent_channels * self.patch**2


class FrameTokenizer(torch.nn.Module):
    """uint8 frames <-> normalised latents <-> tokens. The VAE is frozen once trained."""

    def __init__(self, config: TokenizerConfig, vae=None):
        super().__init__()
        from diffusers import AutoencoderKL

        self.config = config
        self.vae = vae or AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * len(config.block_out_channels),
            up_block_types=("UpDecoderBlock2D",) * len(config.block_out_channels),
            block_out_channels=tuple(config.block_out_channels),
            layers_per_block=config.layers_per_block,
            latent_channels=config.latent_channels,
            norm_num_groups=16,
            sample_size=config.image_size,
            scaling_factor=1.0,
        )

    # ------------------------------------------------------------- persistence
    def save_pretrained(self, path: str | os.PathLike) -> None:
        path = Path(path)
        self.vae.save_pretrained(path)
        cfg = asdict(self.config)
        (path / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2))

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> FrameTokenizer:
        from diffusers import AutoencoderKL

        path = Path(path)
        cfg_path = path / "tokenizer_config.json"
        if not cfg_path.exists():
            raise InputError(f"{path} is not a frame tokenizer folder (no tokenizer_config.json)")
        cfg = json.loads(cfg_path.read_text())
        cfg["block_out_channels"] = tuple(cfg["block_out_channels"])
        vae = AutoencoderKL.from_pretrained(path, use_safetensors=True)
        return cls(TokenizerConfig(**cfg), vae).eval()

    # ------------------------------------------------------------- conversions
    @property
    def scale(self) -> float:
        return float(self.vae.config.scaling_factor)

    @torch.no_grad()
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) uint8 -> (B, C, h, w) latents with unit-ish variance (posterior mean)."""
        x = frames.float().div(127.5).sub(1)  # (B, 3, H, W) in [-1, 1]
        return self.vae.encode(x).latent_dist.mean * self.scale

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) latents -> (B, 3, H, W) uint8."""
        x = self.vae.decode(latents / self.scale).sample
        return x.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)

    def to_tokens(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, K, D): 4x4 patches in raster order."""
        p = self.config.patch
        b, c, h, w = latents.shape
        x = latents.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)  # (B, h/p, w/p, C, p, p)
        return x.reshape(b, (h // p) * (w // p), c * p * p)

    def from_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, K, D) -> (B, C, h, w)."""
        p, c = self.config.patch, self.config.latent_channels
        b, k, _ = tokens.shape
        side = int(math.isqrt(k))
        x = tokens.reshape(b, side, side, c, p, p).permute(0, 3, 1, 4, 2, 5)  # (B, C, side, p, side, p)
        return x.reshape(b, c, side * p, side * p)


# ----------------------------------------------------------------- training data
def load_frames(demos_root, videos_root, max_frames: int, seed: int = 0, split: str = "train"):
    """Sample frames (N, H, W, 3) uint8 and object masks (N, H, W) bool from demos and the corpus.

    Half come from demos (with segmentation) and half from the corpus (no masks), when both
    exist. split picks episodes by seed as physgen.dataset does.
    """
    import h5py

    from physgen.dataset import find_demo_episodes, find_video_episodes, split_of_seed

    rng = np.random.default_rng(seed)
    demo_eps = [e for e in find_demo_episodes(demos_root) if split_of_seed(e.seed) == split] if demos_root else []
    video_eps = [e for e in find_video_episodes(videos_root) if split_of_seed(e.seed) == split] if videos_root else []
    if not demo_eps and not video_eps:
        raise InputError(f"no {split} frames under {demos_root} / {videos_root}; run `physgen demos` / `physgen videos`")
    sources = [s for s in (demo_eps, video_eps) if s]
    frames, masks = [], []
    per_source = max_frames // len(sources)
    for eps in sources:
        per_episode = max(1, per_source // len(eps))
        for ep in eps:
            with h5py.File(ep.path, "r") as f:
                group = f[ep.key] if ep.key else f
                idx = np.sort(rng.choice(ep.num_frames, size=min(per_episode, ep.num_frames), replace=False))
                if ep.key:
                    frames.append(group[f"obs/sensor_data/{CAMERA_NAME}/rgb"][idx])
                    seg = group[f"obs/sensor_data/{CAMERA_NAME}/segmentation"][idx][..., 0]
                    masks.append(seg >= FIRST_OBJECT_SEGMENTATION_ID)
                else:
                    frames.append(group["frames"][idx])
                    masks.append(np.zeros(frames[-1].shape[:3], bool))
    return np.concatenate(frames)[:max_frames], np.concatenate(masks)[:max_frames]


@dataclass
class TokenizerTrainConfig:
    minutes: float = 25.0  # wall-clock budget of this run (a resumed run gets a fresh budget)
    max_steps: int = 100_000
    batch_size: int = 8
    # Whole frames by default: GroupNorm statistics of small crops differ from whole frames, and a
    # crop-trained VAE shifts colours on whole frames (seen at 64 px crops).
    crop: int = 128
    lr: float = 1e-3
    object_weight: float = 20.0  # extra L1 weight on object pixels
    kl_weight: float = 1e-6
    max_frames: int = 12_000
    eval_every: int = 300
    seed: int = 0


def train_tokenizer(demos_root, videos_root, out_dir, config: TokenizerTrainConfig | None = None, resume: bool = True, log=print) -> dict:
    """Train the VAE; checkpoints to out_dir (resumable); returns the final metrics."""
    from tqdm import tqdm

    cfg = config or TokenizerTrainConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    frames, masks = load_frames(demos_root, videos_root, cfg.max_frames, cfg.seed, "train")
    val_frames, val_masks = load_frames(demos_root, videos_root, 96, cfg.seed + 1, "val")
    log(f"tokenizer: {len(frames)} train frames ({masks.any(axis=(1, 2)).sum()} with object masks), {len(val_frames)} val frames")

    state_path = out / "train_state.pt"
    if resume and state_path.exists():
        tokenizer = FrameTokenizer.from_pretrained(out / "last").train()
        state = torch.load(state_path, weights_only=True)
    else:
        tokenizer, state = FrameTokenizer(TokenizerConfig()).train(), None
    opt = torch.optim.AdamW(tokenizer.vae.parameters(), lr=cfg.lr, weight_decay=0.0)
    step, elapsed = 0, 0.0
    if state:
        opt.load_state_dict(state["optimizer"])
        step, elapsed = state["step"], state["elapsed"]
    rng = np.random.default_rng(cfg.seed + step)
    csv_path = out / "loss.csv"
    new_csv = not csv_path.exists() or not state
    csv_file = open(csv_path, "w" if new_csv else "a", newline="")
    writer = csv.writer(csv_file)
    if new_csv:
        writer.writerow(["step", "seconds", "loss", "l1", "kl", "val_psnr", "val_object_psnr"])
    metrics: dict = {}
    start = time.perf_counter() - elapsed  # seconds of training over all runs
    run_start = time.perf_counter()
    bar = tqdm(total=cfg.max_steps, initial=step, desc="tokenizer", unit="it")
    size = frames.shape[1]
    while step < cfg.max_steps and (time.perf_counter() - run_start) < cfg.minutes * 60:
        idx = rng.integers(len(frames), size=cfg.batch_size)
        y0, x0 = rng.integers(0, size - cfg.crop + 1, size=2)
        crop = np.s_[:, y0 : y0 + cfg.crop, x0 : x0 + cfg.crop]
        x = torch.from_numpy(frames[idx][crop]).permute(0, 3, 1, 2).float().div(127.5).sub(1)  # (B, 3, c, c)
        weight = 1 + cfg.object_weight * torch.from_numpy(masks[idx][crop]).float()[:, None]  # (B, 1, c, c)
        posterior = tokenizer.vae.encode(x).latent_dist
        recon = tokenizer.vae.decode(posterior.sample()).sample
        l1 = (weight * (recon - x).abs()).mean() / weight.mean()
        kl = posterior.kl().mean()
        loss = l1 + F.mse_loss(recon, x) + cfg.kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        bar.update(1)
        row = [step, round(time.perf_counter() - start, 1), loss.item(), l1.item(), kl.item(), "", ""]
        if step % cfg.eval_every == 0:
            metrics = evaluate_tokenizer(tokenizer, val_frames, val_masks)
            row[5:] = [round(metrics["psnr"], 2), round(metrics["object_psnr"], 2)]
            bar.set_postfix(psnr=row[5], obj=row[6])
            _save(tokenizer, opt, step, time.perf_counter() - start, out, frames)
            tokenizer.train()
        writer.writerow(row)
    bar.close()
    csv_file.close()
    _save(tokenizer, opt, step, time.perf_counter() - start, out, frames)
    metrics = evaluate_tokenizer(tokenizer, val_frames, val_masks)
    metrics.update(step=step, seconds=round(time.perf_counter() - start, 1), scale=tokenizer.scale)
    (out / "last" / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


@torch.no_grad()
def evaluate_tokenizer(tokenizer: FrameTokenizer, frames: np.ndarray, masks: np.ndarray) -> dict:
    tokenizer.eval()
    x = torch.from_numpy(frames).permute(0, 3, 1, 2)  # (N, 3, H, W) uint8
    recon = torch.cat([tokenizer.decode(tokenizer.encode(b)) for b in x.split(32)])
    recon = recon.permute(0, 2, 3, 1).numpy()  # (N, H, W, 3)
    return {"psnr": psnr(recon, frames), "object_psnr": psnr(recon, frames, masks), "val_frames": len(frames)}


def _save(tokenizer: FrameTokenizer, opt, step: int, elapsed: float, out: Path, frames: np.ndarray) -> None:
    # The scale makes latents unit-variance for the world model; it is re-estimated at each save.
    with torch.no_grad():
        sample = torch.from_numpy(frames[:: max(1, len(frames) // 256)][:256]).permute(0, 3, 1, 2)
        tokenizer.vae.register_to_config(scaling_factor=1.0)
        std = torch.cat([tokenizer.encode(b) for b in sample.split(32)]).std()
        tokenizer.vae.register_to_config(scaling_factor=float(1.0 / std))
    tmp = out / "last.tmp"
    tokenizer.save_pretrained(tmp)
    if (out / "last").exists():
        import shutil

        shutil.rmtree(out / "last")
    os.replace(tmp, out / "last")
    torch.save({"optimizer": opt.state_dict(), "step": step, "elapsed": elapsed}, out / "train_state.pt")



