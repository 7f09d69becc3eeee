"""Antialiased drawing primitives of the scenario renderer (pixels, float32 frames in
[0, 255]): discs, thick segments, blending, a resolution-independent texture. Shapes get a
one-pixel linear coverage ramp on the signed distance to their edge."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def frame_hw(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        h, w = (int(v) for v in size)
    if h < 1 or w < 1:
        raise ValueError(f"render size must be positive, got {size!r}")
    return h, w


def texture(h: int, w: int, amplitude: float, seed: int) -> np.ndarray:
    """A smooth pattern in [-amplitude, amplitude], a function of normalised coordinates
    (so the same at every resolution): a sum of seeded plane waves, 2-7 cycles per frame."""
    rng = np.random.default_rng([int(seed), 7919])
    yy = (np.arange(h)[:, None] + 0.5) / h
    xx = (np.arange(w)[None, :] + 0.5) / w
    acc = np.zeros((h, w))
    n = 6
    for _ in range(n):
        f = rng.uniform(2.0, 7.0)
        th = rng.uniform(0, 2 * math.pi)
        ph = rng.uniform(0, 2 * math.pi)
        acc += np.sin(2 * math.pi * f * (xx * math.cos(th) + yy * math.sin(th)) + ph)
    return (amplitude / math.sqrt(n / 2.0) * acc).astype(np.float32)


def blend(img: np.ndarray, cov: np.ndarray, color: Any) -> None:
    c = np.asarray(color, dtype=np.float32)
    a = cov[..., None].astype(np.float32)
    img *= 1.0 - a
    img += a * c


def disc(img: np.ndarray, cx: float, cy: float, rx: float, ry: float, color: Any) -> None:
    """Antialiased ellipse (a disc when rx == ry), centre and radii in pixels."""
    h, w = img.shape[:2]
    y0, y1 = max(0, int(math.floor(cy - ry - 1))), min(h, int(math.ceil(cy + ry + 2)))
    x0, x1 = max(0, int(math.floor(cx - rx - 1))), min(w, int(math.ceil(cx + rx + 2)))
    if y0 >= y1 or x0 >= x1 or rx <= 0 or ry <= 0:
        return
    yy = np.arange(y0, y1, dtype=np.float64)[:, None] + 0.5
    xx = np.arange(x0, x1, dtype=np.float64)[None, :] + 0.5
    rho = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
    cov = np.clip((1.0 - rho) * min(rx, ry) + 0.5, 0.0, 1.0)
    blend(img[y0:y1, x0:x1], cov, color)


def segment(img: np.ndarray, ax: float, ay: float, bx: float, by: float, half: float,
            color: Any) -> None:
    """Antialiased thick line segment (pixels)."""
    h, w = img.shape[:2]
    pad = half + 2
    y0, y1 = max(0, int(math.floor(min(ay, by) - pad))), min(h, int(math.ceil(max(ay, by) + pad)))
    x0, x1 = max(0, int(math.floor(min(ax, bx) - pad))), min(w, int(math.ceil(max(ax, bx) + pad)))
    if y0 >= y1 or x0 >= x1:
        return
    yy = np.arange(y0, y1, dtype=np.float64)[:, None] + 0.5
    xx = np.arange(x0, x1, dtype=np.float64)[None, :] + 0.5
    dx, dy = bx - ax, by - ay
    ll = dx * dx + dy * dy
    s = np.clip(((xx - ax) * dx + (yy - ay) * dy) / ll, 0, 1) if ll > 0 else 0.0
    dist = np.hypot(xx - (ax + s * dx), yy - (ay + s * dy))
    cov = np.clip(half - dist + 0.5, 0, 1)
    blend(img[y0:y1, x0:x1], cov, color)
