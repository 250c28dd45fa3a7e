"""Decode precision: bfloat16 where the CPU multiplies it natively, float32 elsewhere.

CPUs with AMX tiles (Intel Xeon since Sapphire Rapids) run oneDNN's bf16 convolutions on them: on
this project's machine (one thread) the VAE decode of a 128 px frame took 33 ms in bf16 against 80
ms in fp32, and its frames differ from fp32's by 51 dB PSNR (the model card, session 13). Without
AMX, bf16 is emulated and slower than fp32, so "auto" keeps fp32 there.

Only the tokenizer's decode uses it. The world model stays fp32: its matmuls are small, and in bf16
it ran 11-15 % slower on two threads (2 % faster on one), so nothing was gained for a changed rollout.
bf16 runs under torch.autocast: the weights stay fp32, and only the convolutions compute in bf16.
"""

from __future__ import annotations

import contextlib

import torch

from physgen.errors import InputError

PRECISIONS = ("auto", "fp32", "bf16")


def cpu_has_native_bf16() -> bool:
    """True where the CPU has AMX tiles (torch's own probe; False if this torch lacks it)."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(probe is not None and probe())


def resolve_precision(precision: str, device: str | torch.device = "cpu") -> str:
    """"fp32" or "bf16" for `precision` in PRECISIONS; "auto" is bf16 only on a CPU with AMX."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if precision == "auto":
        return "bf16" if torch.device(device).type == "cpu" and cpu_has_native_bf16() else "fp32"
    return precision


def autocast(precision: str, device: str | torch.device):
    """The context a resolved precision ("fp32" or "bf16") computes in on `device`."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
