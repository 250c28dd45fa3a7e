"""Training the frame tokenizer (physgen.model.tokenizer): frames, the weighted loss, and the loop.

Training weights the L1 loss toward object pixels (segmentation ids of task objects, from the
demos) and edges, because a VAE trained on plain pixel loss erases a 6-pixel cube (CALIBRATION
notes). It reports PSNR on whole held-out frames and on their object pixels. Frames come from the
demos and the corpus (`load_frames`) or from a frame pack (physgen.data.packs) on a machine without them.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from physgen import IMAGE_SIZE
from physgen.errors import InputError
from physgen.eval.metrics import psnr
from physgen.eval.permanence import PROBE_SCENE, cube_pixels
from physgen.model.fast_decoder import FAST_DECODER_CHANNELS, FastDecoder
from physgen.model.precision import autocast, cpu_has_native_bf16
from physgen.model.tokenizer import FrameTokenizer, TokenizerConfig
from physgen.sim.camera import CAMERA_NAME
from physgen.sim.scenes import FIRST_OBJECT_SEGMENTATION_ID


# ----------------------------------------------------------------- training data
def load_frames(demos_root, videos_root, max_frames: int, seed: int = 0, split: str = "train"):
    """Sample frames (N, H, W, 3) uint8 and object masks (N, H, W) bool from demos and the corpus.

    Half come from demos (with segmentation) and half from the corpus (no masks), when both
    exist. split picks episodes by seed as physgen.data.dataset does.
    """
    from physgen.data.dataset import split_of_seed
    from physgen.data.episodes import find_demo_episodes, find_video_episodes

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
            idx = np.sort(rng.choice(ep.num_frames, size=min(per_episode, ep.num_frames), replace=False))
            episode_frames, episode_masks = read_frames(ep, idx)
            frames.append(episode_frames)
            masks.append(episode_masks)
    return np.concatenate(frames)[:max_frames], np.concatenate(masks)[:max_frames]


def read_frames(episode, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frames (N, H, W, 3) uint8 and object masks (N, H, W) bool at sorted steps `index` of an episode."""
    import h5py

    with h5py.File(episode.path, "r") as f:
        group = f[episode.key] if episode.key else f
        if episode.key:
            frames = group[f"obs/sensor_data/{CAMERA_NAME}/rgb"][index]
            return frames, group[f"obs/sensor_data/{CAMERA_NAME}/segmentation"][index][..., 0] >= FIRST_OBJECT_SEGMENTATION_ID
        frames = group["frames"][index]
    # The corpus has no segmentation; the probe's red cube is found by its hue
    # (the rule matches segmentation exactly on real frames, tests/test_permanence.py).
    return frames, cube_pixels(frames) if episode.scene == PROBE_SCENE else np.zeros(frames.shape[:3], bool)


@dataclass
class TokenizerTrainConfig:
    minutes: float = 25.0  # wall-clock budget of this run (a resumed run gets a fresh budget)
    max_steps: int = 100_000
    batch_size: int = 16
    # Whole frames by default: GroupNorm statistics of small crops differ from whole frames, and a
    # crop-trained VAE shifts colours on whole frames (seen at 64 px crops).
    crop: int = IMAGE_SIZE
    lr: float = 1e-3
    object_weight: float = 20.0  # extra L1 weight on object pixels
    # Extra L1 weight on edges (the target's gradient magnitude, normalised per frame): thin
    # structures (the wall, the gripper fingers, the probe's cube, which has no mask in the corpus)
    # are a few pixels of a frame and otherwise lose to the smooth background.
    edge_weight: float = 4.0
    kl_weight: float = 1e-6
    max_frames: int = 12_000
    eval_every: int = 300
    seed: int = 0
    # Fine-tune only the decoder (GameNGen): the encoder, hence the tokens and their scale, stay
    # exactly as they were, so a world model trained on those tokens keeps working.
    decoder_only: bool = False
    # With decoder pairs (physgen.train.decoder_pairs): the share of each batch that decodes the world
    # model's predicted latents instead of the encoder's latents of real frames.
    pair_fraction: float = 0.5
    # Train the tokenizer's fast decoder (physgen.model.fast_decoder) alone, made from the vae's
    # decoder when it has none yet; everything else stays frozen.
    fast_decoder: bool = False
    fast_decoder_channels: tuple[int, ...] = FAST_DECODER_CHANNELS
    cosine: bool = True  # decay the learning rate to 10 % over the time budget (after 200 warm-up steps)
    # Autocast to bf16 on the CPU as well (a GPU always trains in bf16); None = where the CPU has AMX.
    # There a decoder fine-tune ran 1.8x the steps of fp32 in the same 65 minutes and ended as good
    # or better on every val figure (session 14, model card); without AMX bf16 is emulated and slow.
    cpu_bf16: bool | None = None

    def __post_init__(self):
        for name in ("minutes", "max_steps", "batch_size", "crop", "lr", "max_frames", "eval_every"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be > 0; got {getattr(self, name)}")
        if self.object_weight < 0 or self.edge_weight < 0:
            raise InputError("object_weight and edge_weight must be >= 0")
        if self.fast_decoder and not self.decoder_only:
            raise InputError("fast_decoder trains a decoder alone: use it with decoder_only")
        if not 0 <= self.pair_fraction <= 1:
            raise InputError(f"pair_fraction must be in [0, 1]; got {self.pair_fraction}")


def edge_map(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] -> (B, 1, H, W) gradient magnitude, each frame scaled to max 1."""
    gray = x.mean(1, keepdim=True)
    gx = F.pad(gray[..., :, 1:] - gray[..., :, :-1], (0, 1, 0, 0)).abs()
    gy = F.pad(gray[..., 1:, :] - gray[..., :-1, :], (0, 0, 0, 1)).abs()
    edges = gx + gy
    return edges / edges.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)


def train_tokenizer(frames: np.ndarray, masks: np.ndarray, val_frames: np.ndarray, val_masks: np.ndarray, out_dir,
                    config: TokenizerTrainConfig | None = None, model_config: TokenizerConfig | None = None,
                    resume: bool = True, init=None, log=print, pairs=None, val_pairs=None) -> dict:
    """Train the VAE on frames (N, H, W, 3) uint8 with object masks (N, H, W); checkpoints to
    out_dir (resumable; `init` starts from a trained tokenizer folder); returns the final metrics.
    With decoder pairs (decoder_only), cfg.pair_fraction of each batch decodes the world model's
    predicted latents toward the real frames; val_pairs add pair_psnr to the metrics.
    Uses a GPU when there is one."""
    from tqdm import tqdm

    cfg = config or TokenizerTrainConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    log(f"tokenizer: {len(frames)} train frames ({masks.any(axis=(1, 2)).sum()} with object masks), {len(val_frames)} val frames, on {device}")
    if cfg.cpu_bf16 and device.type == "cpu" and not cpu_has_native_bf16():
        log("tokenizer: bf16 on a CPU without AMX is emulated and likely slower than fp32")

    state_path = out / "train_state.pt"
    if resume and state_path.exists():
        tokenizer = FrameTokenizer.from_pretrained(out / "last").train()
        state = torch.load(state_path, weights_only=True)
    elif init:
        tokenizer, state = FrameTokenizer.from_pretrained(init).float().train(), None
    else:
        tokenizer, state = FrameTokenizer(model_config or TokenizerConfig()).train(), None
    if cfg.fast_decoder and not tokenizer.has_fast_decoder:
        tokenizer.fast_decoder = FastDecoder.from_vae(tokenizer.vae, block_out_channels=tuple(cfg.fast_decoder_channels)).train()
    tokenizer.to(device)
    n_pairs = round(cfg.batch_size * cfg.pair_fraction) if pairs is not None and len(pairs) else 0
    if n_pairs and (not cfg.decoder_only or cfg.crop != frames.shape[1]):
        raise InputError("decoder pairs fine-tune the decoder alone, on whole frames: use decoder_only and no crop")
    if cfg.decoder_only:
        for module in (tokenizer.vae.encoder, tokenizer.vae.quant_conv):
            module.requires_grad_(False)
    if cfg.fast_decoder:
        tokenizer.vae.requires_grad_(False)
    trained = tokenizer.fast_decoder if cfg.fast_decoder else tokenizer.vae
    opt = torch.optim.AdamW([p for p in trained.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=0.0)
    step, elapsed = 0, 0.0
    if state:
        opt.load_state_dict(state["optimizer"])
        step, elapsed = state["step"], state["elapsed"]
    rng = np.random.default_rng(cfg.seed + step)
    frames_t = torch.from_numpy(frames).to(device)  # (N, H, W, 3) uint8: batches are gathered on the device
    masks_t = torch.from_numpy(masks).to(device)
    if n_pairs:
        pair_latents = torch.from_numpy(pairs.latents).to(device)  # (P, C, h, w) float16
        pair_frames, pair_masks = torch.from_numpy(pairs.frames).to(device), torch.from_numpy(pairs.masks).to(device)
    csv_path = out / "loss.csv"
    new_csv = not csv_path.exists() or not state
    csv_file = open(csv_path, "w" if new_csv else "a", newline="")
    writer = csv.writer(csv_file)
    if new_csv:
        writer.writerow(["step", "seconds", "loss", "l1", "kl", "val_psnr", "val_object_psnr", "val_pair_psnr", "val_pair_object_psnr"])
    metrics: dict = {}
    start = time.perf_counter() - elapsed  # seconds of training over all runs
    run_start = time.perf_counter()
    bar = tqdm(total=cfg.max_steps, initial=step, desc="tokenizer", unit="it", mininterval=5)
    size = frames.shape[1]
    cpu_bf16 = cpu_has_native_bf16() if cfg.cpu_bf16 is None else cfg.cpu_bf16
    precision = "bf16" if device.type == "cuda" or cpu_bf16 else "fp32"
    while step < cfg.max_steps and (time.perf_counter() - run_start) < cfg.minutes * 60:
        if cfg.cosine:
            progress = min((time.perf_counter() - run_start) / (cfg.minutes * 60), 1.0)
            for group in opt.param_groups:
                group["lr"] = cfg.lr * min(1.0, (step + 1) / 200) * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))
        idx = torch.from_numpy(rng.integers(len(frames), size=cfg.batch_size - n_pairs)).to(device)
        y0, x0 = rng.integers(0, size - cfg.crop + 1, size=2)
        x = frames_t[idx, y0 : y0 + cfg.crop, x0 : x0 + cfg.crop].permute(0, 3, 1, 2).float().div(127.5).sub(1)  # (B, 3, c, c)
        obj = masks_t[idx, y0 : y0 + cfg.crop, x0 : x0 + cfg.crop].float()[:, None]  # (B, 1, c, c)
        with autocast(precision, device):
            posterior = tokenizer.vae.encode(x).latent_dist
            # Decoder fine-tuning decodes what the world model sees: the posterior mean.
            latent = posterior.mean.detach() if cfg.decoder_only else posterior.sample()
            if n_pairs:  # the world model's predictions of the same kind of frames, toward the real ones
                pick = torch.from_numpy(rng.integers(len(pairs), size=n_pairs)).to(device)
                latent = torch.cat([latent, pair_latents[pick].float() / tokenizer.scale])  # (B, C, h, w)
                x = torch.cat([x, pair_frames[pick].permute(0, 3, 1, 2).float().div(127.5).sub(1)])
                obj = torch.cat([obj, pair_masks[pick].float()[:, None]])
            recon = tokenizer.decode_float(latent, fast=cfg.fast_decoder).float()
        weight = 1 + cfg.object_weight * obj + cfg.edge_weight * edge_map(x)  # (B, 1, c, c)
        l1 = (weight * (recon - x).abs()).mean() / weight.mean()
        kl = posterior.kl().float().mean()
        loss = l1 + F.mse_loss(recon, x) + cfg.kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        bar.update(1)
        row = [step, round(time.perf_counter() - start, 1), loss.item(), l1.item(), kl.item(), "", "", "", ""]
        if step % cfg.eval_every == 0:
            metrics = evaluate_tokenizer(tokenizer, val_frames, val_masks, val_pairs, fast=cfg.fast_decoder)
            row[5:] = [round(metrics[k], 2) if k in metrics else "" for k in ("psnr", "object_psnr", "pair_psnr", "pair_object_psnr")]
            bar.set_postfix(psnr=row[5], obj=row[6])
            _save(tokenizer, opt, step, time.perf_counter() - start, out, frames, rescale=not cfg.decoder_only)
            tokenizer.train()
        writer.writerow(row)
    bar.close()
    csv_file.close()
    _save(tokenizer, opt, step, time.perf_counter() - start, out, frames, rescale=not cfg.decoder_only)
    metrics = evaluate_tokenizer(tokenizer, val_frames, val_masks, val_pairs, fast=cfg.fast_decoder)
    metrics.update(step=step, seconds=round(time.perf_counter() - start, 1), scale=tokenizer.scale, device=device.type)
    (out / "last" / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


@torch.no_grad()
def evaluate_tokenizer(tokenizer: FrameTokenizer, frames: np.ndarray, masks: np.ndarray, pairs=None, fast: bool = False) -> dict:
    """PSNR of the round trip of real frames (whole and object pixels) and, with decoder pairs, of
    decoding the world model's predicted latents against the real frames (pair_*); fast=True scores
    the tokenizer's fast decoder."""
    tokenizer.eval()
    device = next(tokenizer.parameters()).device
    x = torch.from_numpy(frames).permute(0, 3, 1, 2)  # (N, 3, H, W) uint8
    recon = torch.cat([tokenizer.decode(tokenizer.encode(b.to(device)), fast).cpu() for b in x.split(32)])
    recon = recon.permute(0, 2, 3, 1).numpy()  # (N, H, W, 3)
    metrics = {"psnr": psnr(recon, frames), "object_psnr": psnr(recon, frames, masks), "val_frames": len(frames)}
    if pairs is not None and len(pairs):
        latents = torch.from_numpy(pairs.latents)
        decoded = torch.cat([tokenizer.decode(b.float().to(device), fast).cpu() for b in latents.split(32)]).permute(0, 2, 3, 1).numpy()
        metrics.update(pair_psnr=psnr(decoded, pairs.frames), pair_object_psnr=psnr(decoded, pairs.frames, pairs.masks), val_pairs=len(pairs))
    return metrics


def _save(tokenizer: FrameTokenizer, opt, step: int, elapsed: float, out: Path, frames: np.ndarray, rescale: bool = True) -> None:
    # The scale makes latents unit-variance for the world model; it is re-estimated at each save
    # (not when only the decoder trains: the tokens must not change).
    if rescale:
        with torch.no_grad():
            device = next(tokenizer.parameters()).device
            sample = torch.from_numpy(frames[:: max(1, len(frames) // 256)][:256]).permute(0, 3, 1, 2).to(device)
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



