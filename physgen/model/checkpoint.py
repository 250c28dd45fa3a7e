"""Loading a PhysGen checkpoint: a local folder or a hub id, safetensors only.

A checkpoint folder holds the PhysGen model (config.json + diffusion_pytorch_model.safetensors,
written by save_pretrained) and its frame tokenizer in `tokenizer/`.
"""

from __future__ import annotations

import os
from pathlib import Path

from physgen.errors import InputError

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "physgen-small"


def resolve(name_or_path: str | os.PathLike) -> Path:
    """A local folder as is; otherwise a hub id fetched (or found in the cache) by huggingface_hub."""
    path = Path(name_or_path)
    if path.exists():
        return path
    text = str(name_or_path)
    if text.startswith((".", "/", "~")) or text.count("/") != 1:
        raise InputError(f"checkpoint {text!r} is neither an existing folder nor a hub id like 'owner/name'")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        return Path(snapshot_download(text, allow_patterns=["*.json", "*.safetensors", "tokenizer/*"]))
    except LocalEntryNotFoundError:
        raise InputError(
            f"hub checkpoint {text!r} is not in the local cache and the hub cannot be reached (offline, or HF_HUB_OFFLINE=1). "
            f"Download it on a connected machine, or pass a local folder such as {DEFAULT_CHECKPOINT}"
        ) from None
    except RepositoryNotFoundError:
        raise InputError(f"hub checkpoint {text!r} does not exist") from None


def load_checkpoint(name_or_path: str | os.PathLike = DEFAULT_CHECKPOINT, device: str = "cpu", precision: str = "auto"):
    """(PhysGen, FrameTokenizer) in eval mode; clear errors for missing, corrupt or mismatched files.
    `precision` (physgen.model.precision.PRECISIONS) is what the frame decode computes in: "auto" is
    bf16 on a CPU with AMX and fp32 elsewhere."""
    import torch

    from physgen.model.precision import resolve_precision
    from physgen.model.tokenizer import FrameTokenizer
    from physgen.model.world_model import PhysGen

    precision = resolve_precision(precision, device)  # bad values fail before any file is read
    folder = resolve(name_or_path)
    if not (folder / "config.json").exists():
        raise InputError(f"{folder} holds no PhysGen config.json; expected save_pretrained output")
    try:
        model = PhysGen.from_pretrained(folder, use_safetensors=True, low_cpu_mem_usage=False)
        tokenizer = FrameTokenizer.from_pretrained(folder / "tokenizer")
    except InputError:
        raise
    except Exception as exc:  # safetensors/diffusers raise many types for bad files
        raise InputError(f"could not load checkpoint {folder}: {type(exc).__name__}: {exc}") from None
    cfg, tcfg = model.config, tokenizer.config
    if (tcfg.num_tokens, tcfg.token_dim) != (cfg.num_frame_tokens, cfg.token_dim):
        raise InputError(
            f"checkpoint {folder}: tokenizer gives {tcfg.num_tokens} tokens of {tcfg.token_dim} dims but the "
            f"model expects {cfg.num_frame_tokens} of {cfg.token_dim}"
        )
    # Shipped weights are fp16 to stay small; CPU inference runs in fp32. The decoder's convolutions
    # run about a fifth faster in channels-last layout on the CPU (bench: fps_kv_decoded).
    tokenizer.vae.to(memory_format=torch.channels_last)
    if tokenizer.has_fast_decoder:
        tokenizer.fast_decoder.to(memory_format=torch.channels_last)
    tokenizer.precision = precision
    return model.float().to(device).eval(), tokenizer.float().to(device).eval()


# PhysGen config options that choose how a trained model samples, not what it learned: export may set them.
INFERENCE_OPTIONS = ("sample_steps", "cfg_scale", "cfg_interval", "frame_temperature", "action_temperature", "frame_rounds")


def export_checkpoint(model_dir: str | os.PathLike, tokenizer_dir: str | os.PathLike, out_dir: str | os.PathLike, **inference) -> int:
    """Write a shippable checkpoint (fp16 safetensors + configs) to out_dir; returns its size in bytes.
    `inference` sets the shipped sampler (INFERENCE_OPTIONS; None keeps the trained value): choices
    measured after training, validated by PhysGen's config. The tokenizer's fast decoder ships with it."""
    import shutil

    from physgen.model.tokenizer import FrameTokenizer
    from physgen.model.world_model import PhysGen

    unknown = sorted(set(inference) - set(INFERENCE_OPTIONS))
    if unknown:
        raise InputError(f"export sets only the sampler options {', '.join(INFERENCE_OPTIONS)}; got {', '.join(unknown)}")
    # from_pretrained passes the overrides through PhysGen.__init__, whose checks refuse bad values
    # before anything in out_dir is touched.
    model = PhysGen.from_pretrained(model_dir, **{k: v for k, v in inference.items() if v is not None})
    tokenizer = FrameTokenizer.from_pretrained(tokenizer_dir)  # before cleaning out_dir, which may hold it
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("diffusion_pytorch_model.safetensors", "tokenizer"):
        target = out / stale
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    model.half().save_pretrained(out)
    tokenizer.half()
    tokenizer.save_pretrained(out / "tokenizer")
    return sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
