"""Image metrics shared by the tokenizer report, the open-loop evaluation and the app."""

from __future__ import annotations

import numpy as np

CHANGE_THRESHOLD = 12  # intensity difference (0-255) that counts as a changed pixel


def psnr(pred: np.ndarray, real: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB of uint8 images (..., H, W, 3); mask (..., H, W) restricts the pixels (NaN if empty)."""
    err = ((np.asarray(pred, np.float64) - np.asarray(real, np.float64)) ** 2).mean(axis=-1)  # (..., H, W)
    if mask is not None:
        if not mask.any():
            return float("nan")
        err = err[mask]
    return float(10 * np.log10(255.0**2 / max(err.mean(), 1e-10)))


def ssim(pred: np.ndarray, real: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(pred, real, channel_axis=2, data_range=255))


def frame_metrics(pred: np.ndarray, real: np.ndarray, first: np.ndarray, objects: np.ndarray | None) -> dict:
    """Whole-frame PSNR/SSIM, PSNR on pixels that changed since `first`, and on object pixels."""
    changed = np.abs(real.astype(int) - first.astype(int)).max(axis=-1) > CHANGE_THRESHOLD
    return {"psnr": psnr(pred, real), "ssim": ssim(pred, real), "psnr_changed": psnr(pred, real, changed),
            "psnr_object": psnr(pred, real, objects) if objects is not None else float("nan")}
