"""Frame tokenizer: a small diffusers AutoencoderKL trained here on studio-camera frames.

A 128 px frame becomes an 8 x 16 x 16 continuous latent (stride 8); 2 x 2 patches of it are the
frame's K_O = 64 tokens of dimension 32 (v0.2: 4 channels, 4 x 4 patches, 16 tokens of 64). No vector quantisation: tokens stay continuous and the
world model's per-token diffusion head generates them.
Its training lives in physgen.train.tokenizer.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from physgen import IMAGE_SIZE
from physgen.errors import InputError
from physgen.model.precision import autocast

FAST_DECODER_FOLDER = "fast_decoder"  # subfolder of a tokenizer folder


@dataclass(frozen=True)
class TokenizerConfig:
    image_size: int = IMAGE_SIZE  # the studio camera's frames
    block_out_channels: tuple[int, ...] = (32, 64, 128, 128)  # 4 levels: stride 8
    layers_per_block: int = 1
    # v2: 8 channels (v0.2 had 4 and erased the probe's cube) and 2x2 patches: the 16x16 latent
    # becomes 64 tokens of 8*2*2 = 32 dims (16 tokens of 64 dims with patch 4, as in v0.2).
    latent_channels: int = 8
    patch: int = 2

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

    def __init__(self, config: TokenizerConfig, vae=None, fast_decoder=None):
        super().__init__()
        from diffusers import AutoencoderKL

        self.config = config
        # Optional physgen.model.fast_decoder.FastDecoder; decode() uses it when present.
        self.fast_decoder = fast_decoder
        # What decode computes in: "fp32", or "bf16" where the CPU has it natively (physgen.model.precision;
        # load_checkpoint resolves it). Encoding stays fp32; training has its own switch.
        self.precision = "fp32"
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
        if self.fast_decoder is not None:
            self.fast_decoder.save_pretrained(path / FAST_DECODER_FOLDER)
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
        fast = None
        if (path / FAST_DECODER_FOLDER / "config.json").exists():
            from physgen.model.fast_decoder import FastDecoder

            fast = FastDecoder.from_pretrained(path / FAST_DECODER_FOLDER, use_safetensors=True)
        return cls(TokenizerConfig(**cfg), vae, fast).eval()

    @property
    def has_fast_decoder(self) -> bool:
        return self.fast_decoder is not None

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
    def decode(self, latents: torch.Tensor, fast: bool | None = None) -> torch.Tensor:
        """(B, C, h, w) latents -> (B, 3, H, W) uint8. fast=True decodes with the fast decoder, False
        with the vae's; None (the default) with the fast one when the tokenizer has one."""
        x = self.decode_float(latents / self.scale, self.has_fast_decoder if fast is None else fast)
        return x.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)

    def decode_float(self, z: torch.Tensor, fast: bool = False) -> torch.Tensor:
        """VAE-space latents (B, C, h, w) (latents / scale) -> (B, 3, H, W) float images in about [-1, 1]."""
        z = z.contiguous(memory_format=torch.channels_last)
        if fast and self.fast_decoder is None:
            raise InputError("this tokenizer has no fast decoder; decode with fast=False or train one "
                             "(`physgen train-tokenizer --fast-decoder`)")
        with autocast(self.precision, z.device):
            x = self.fast_decoder(z) if fast else self.vae.decode(z).sample
        return x.float()

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
