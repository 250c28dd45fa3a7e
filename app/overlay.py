"""Markers drawn over the (upscaled) simulator image for clicked targets."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

MARKER = (255, 220, 0)


def draw_targets(image: np.ndarray, pixels: list[np.ndarray], scale: float) -> np.ndarray:
    """Crosshairs at the clicked pixels (model-resolution coordinates), numbered, joined by a path."""
    if not pixels:
        return image
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    points = [((p[0] + 0.5) * scale, (p[1] + 0.5) * scale) for p in pixels]
    if len(points) > 1:
        draw.line(points, fill=MARKER, width=2)
    r = max(4, scale * 2)
    for i, (x, y) in enumerate(points, start=1):
        draw.ellipse([x - r, y - r, x + r, y + r], outline=MARKER, width=3)
        draw.line([x - 2 * r, y, x + 2 * r, y], fill=MARKER, width=1)
        draw.line([x, y - 2 * r, x, y + 2 * r], fill=MARKER, width=1)
        draw.text((x + r + 2, y - r - 10), str(i), fill=MARKER)
    return np.asarray(canvas)
