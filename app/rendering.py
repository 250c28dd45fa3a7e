"""Image helpers for the page (no model math)."""

from __future__ import annotations

import numpy as np

DISPLAY_SIZE = 512


def upscale(frame: np.ndarray, size: int = DISPLAY_SIZE) -> np.ndarray:
    """Nearest-neighbour upscale of an (H, W, 3) frame: gr.Image never upscales small images."""
    factor = max(1, size // max(frame.shape[:2]))
    return np.ascontiguousarray(frame.repeat(factor, axis=0).repeat(factor, axis=1))


def blank(size: int = DISPLAY_SIZE) -> np.ndarray:
    return np.full((size, size, 3), 235, dtype=np.uint8)
