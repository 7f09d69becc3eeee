"""Analytic synthetic clips, rendered as functions of time.

Every renderer computes the scene at ``t = k / fps`` with positions in a 64-pixel reference
frame scaled to the requested size, so the same scene rendered at any fps or resolution is
the same content. They back the ``synthetic-mini`` suite, the ``synthetic`` model (so the
pipeline runs end to end with no trained model) and many tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vidbench.adapters import Adapter, Generated
from vidbench.suite_model import Suite, SuiteItem

REF = 64.0  # the reference frame size positions and velocities are expressed in


def _background(size: int, color: tuple[int, int, int], texture: float, seed: int) -> np.ndarray:
    bg = np.empty((size, size, 3), dtype=np.float32)
    bg[:] = np.asarray(color, dtype=np.float32)
    if texture > 0:
        # A smooth texture defined on the reference grid so it scales with the size.
        rng = np.random.default_rng(seed)
        coarse = rng.uniform(-1, 1, size=(8, 8, 3)).astype(np.float32)
        import cv2

        tex = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
        bg += texture * 60.0 * tex
    return bg


def _disc_alpha(size: int, cx: float, cy: float, r: float) -> np.ndarray:
    """Antialiased disc coverage (1-pixel linear edge), all arguments in pixels."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
    return np.clip(r + 0.5 - d, 0.0, 1.0)


def moving_disc(num_frames: int = 16, size: int = 64, fps: float = 8.0, *,
                velocity: tuple[float, float] = (20.0, 0.0), radius: float = 6.0,
                start: tuple[float, float] | None = None,
                color: tuple[int, int, int] = (230, 40, 40),
                background: tuple[int, int, int] = (20, 20, 20), texture: float = 0.0,
                seed: int = 0, acceleration: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """A disc moving as ``p(t) = start + velocity t + acceleration t^2 / 2`` (reference
    pixels, per second) over a plain or smoothly textured background. Returns (T, H, W, 3)
    uint8 with H = W = ``size``."""
    scale = size / REF
    sx, sy = start if start is not None else (REF / 4, REF / 2)
    bg = _background(size, background, texture, seed)
    col = np.asarray(color, dtype=np.float32)
    out = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    for k in range(num_frames):
        t = k / fps
        cx = (sx + velocity[0] * t + 0.5 * acceleration[0] * t * t) * scale
        cy = (sy + velocity[1] * t + 0.5 * acceleration[1] * t * t) * scale
        a = _disc_alpha(size, cx, cy, radius * scale)[..., None]
        out[k] = np.clip(bg * (1 - a) + col * a, 0, 255).round().astype(np.uint8)
    return out


def static_scene(num_frames: int = 16, size: int = 64, fps: float = 8.0, seed: int = 0
                 ) -> np.ndarray:
    """A still textured scene with two discs: every frame identical."""
    frame = moving_disc(1, size, fps, velocity=(0.0, 0.0), texture=1.0, seed=seed,
                        background=(90, 110, 130))[0]
    return np.repeat(frame[None], num_frames, axis=0)


_COLORS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (50, 80, 230),
           "yellow": (230, 210, 40)}
_DIRECTIONS = {"right": (24.0, 0.0), "left": (-24.0, 0.0), "down": (0.0, 24.0),
               "up": (0.0, -24.0), "still": (0.0, 0.0)}


def synthetic_mini_suite() -> Suite:
    """Eight items: a coloured ball moving in a direction (or still), 16 frames, 64x64, 8 fps.
    The prompt says what is shown, so CLIP-style metrics have something to align."""
    items = []
    for i, (cname, dname) in enumerate([("red", "right"), ("green", "left"), ("blue", "down"),
                                         ("yellow", "up"), ("red", "still"),
                                         ("blue", "right"), ("green", "up"),
                                         ("yellow", "left")]):
        prompt = (f"A {cname} ball rests on a dark background. Static camera." if dname == "still"
                  else f"A {cname} ball moves {dname} across a dark background. Static camera.")
        items.append(SuiteItem(item=f"syn-{i:02d}", prompt=prompt, seed=i, num_frames=16,
                               height=64, width=64, fps=8.0,
                               meta={"synthetic": {"color": cname, "direction": dname}}))
    return Suite("synthetic-mini", "Coloured balls moving in straight lines (smoke test).",
                 items, version="1")


class SyntheticAdapter(Adapter):
    """``--model synthetic``: renders what the prompt of a ``synthetic-mini`` item says
    (the upper bound of that suite). Other items get a ball moving right."""

    scheme = "synthetic"

    def generate_one(self, item: SuiteItem) -> Generated:
        syn: dict[str, Any] = item.meta.get("synthetic", {})
        color = _COLORS.get(syn.get("color", "red"), _COLORS["red"])
        vel = _DIRECTIONS.get(syn.get("direction", "right"), _DIRECTIONS["right"])
        start = (REF / 2 - vel[0] * 0.6, REF / 2 - vel[1] * 0.6)
        size = min(item.height, item.width)
        frames = moving_disc(item.num_frames, size, item.fps, velocity=vel, start=start,
                             color=color, seed=item.seed)
        return Generated(frames=frames, fps=item.fps,
                         params={"num_frames": item.num_frames, "size": size, "fps": item.fps})
