"""The loaded PhysGen checkpoint, shared read-only by all sessions.

Weights are not user state: every session gets its own WorldModelEnv (and so its own KV caches)
around the same model. The checkpoint is `checkpoints/physgen-small` unless PHYSGEN_CHECKPOINT
names another folder or hub id. PHYSGEN_PRECISION (auto, fp32 or bf16; physgen.model.precision)
chooses what the frame decode computes in: auto is bf16 on a CPU with AMX, fp32 elsewhere.
"""

from __future__ import annotations

import functools
import os

from physgen.errors import InputError
from physgen.model.checkpoint import DEFAULT_CHECKPOINT


def checkpoint_name() -> str:
    return os.environ.get("PHYSGEN_CHECKPOINT", str(DEFAULT_CHECKPOINT))


def device() -> str:
    """A GPU when the host has one (hosted hardware), else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def precision() -> str:
    return os.environ.get("PHYSGEN_PRECISION", "auto")


@functools.lru_cache(maxsize=2)
def _load(name: str, precision: str):
    from physgen.model.checkpoint import load_checkpoint

    return load_checkpoint(name, device=device(), precision=precision)


def shared_model():
    """(model, tokenizer, None), or (None, None, reason) when no checkpoint can be loaded."""
    try:
        model, tokenizer = _load(checkpoint_name(), precision())
    except InputError as exc:
        return None, None, str(exc)
    return model, tokenizer, None
