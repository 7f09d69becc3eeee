"""Antialiased rendering of the physics scenarios at any resolution, frame rate and length.

The unit square of the scene maps onto the whole frame (an ``(H, W)`` frame with H != W
stretches it, like a resized video). Frame ``k`` shows the scene at time
``start_time + k / fps`` (point samples in time, no motion blur), so a render at 8 fps is a
subsample of one at 24 fps of the same parameters, and a 32x32 render is (up to antialiasing) a
downscale of a 256x256 one. Shapes are antialiased with a one-pixel linear coverage ramp on the
signed distance to their edge.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from vidbench.scenarios.dynamics import incline_geometry, trajectory


def _hw(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        h, w = (int(v) for v in size)
    if h < 1 or w < 1:
        raise ValueError(f"render size must be positive, got {size!r}")
    return h, w


def _texture(h: int, w: int, amplitude: float, seed: int) -> np.ndarray:
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


def _blend(img: np.ndarray, cov: np.ndarray, color: Any) -> None:
    c = np.asarray(color, dtype=np.float32)
    a = cov[..., None].astype(np.float32)
    img *= 1.0 - a
    img += a * c


def static_layer(params: dict, size: int | tuple[int, int]) -> np.ndarray:
    """Background, texture and fixed scenery (floor, ramp) as float32 (H, W, 3) in [0, 255]."""
    h, w = _hw(size)
    img = np.empty((h, w, 3), dtype=np.float32)
    img[:] = np.asarray(params.get("background", (0, 0, 0)), dtype=np.float32)
    amp = float(params.get("texture", 0.0) or 0.0)
    if amp > 0:
        img += _texture(h, w, amp, int(params.get("texture_seed", 0)))[..., None]
    yy = np.arange(h, dtype=np.float64)[:, None] + 0.5
    xx = np.arange(w, dtype=np.float64)[None, :] + 0.5
    scen = params.get("scenario")
    if scen in ("bounce", "incline"):
        floor = np.clip(yy - float(params["floor_y"]) * h + 0.5, 0, 1) * np.ones((1, w))
        cov = floor
        if scen == "incline":
            g = incline_geometry(params)
            ax, ay, bx, by = g["xa"] * w, g["ya"] * h, g["xb"] * w, g["yb"] * h
            dx, dy = bx - ax, by - ay
            norm = math.hypot(dx, dy)
            # signed distance to the slope line, positive below it (inside the ramp)
            d = ((xx - ax) * dy - (yy - ay) * dx) / norm * -1.0
            inside = np.minimum(np.clip(d + 0.5, 0, 1), np.clip(xx - ax + 0.5, 0, 1))
            cov = np.maximum(floor, inside)
            if params.get("mirror"):
                cov = cov[:, ::-1]
        _blend(img, cov, params.get("floor_color", (140, 140, 140)))
    return img


def _disc(img: np.ndarray, cx: float, cy: float, rx: float, ry: float, color: Any) -> None:
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
    _blend(img[y0:y1, x0:x1], cov, color)


def _segment(img: np.ndarray, ax: float, ay: float, bx: float, by: float, half: float,
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
    _blend(img[y0:y1, x0:x1], cov, color)


def render(params: dict, num_frames: int, size: int | tuple[int, int], fps: float, *,
           start_time: float = 0.0, times: np.ndarray | None = None) -> np.ndarray:
    """Render ``num_frames`` frames of the scene ``params`` as (T, H, W, 3) uint8.

    ``size``: an int (square) or ``(H, W)``; ``fps``: frames per second; frame ``k`` shows
    time ``start_time + k / fps``, or ``times[k]`` when explicit ``times`` (seconds) are given
    (then ``num_frames`` and ``fps`` are ignored). Deterministic: the same arguments give the
    same bytes.
    """
    if times is None:
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        if not fps or fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        times = float(start_time) + np.arange(num_frames) / float(fps)
    times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    traj = trajectory(params, times)
    return draw(params, traj["x"], traj["y"], size)


def draw(params: dict, x: np.ndarray, y: np.ndarray, size: int | tuple[int, int], *,
         radius: np.ndarray | None = None, present: np.ndarray | None = None) -> np.ndarray:
    """Draw the scene's static layer and its objects at given states: ``x``, ``y`` (N, T)
    normalised centres, optional ``radius`` (N, T) (default: each object's radius) and
    ``present`` (N, T) bool. Returns (T, H, W, 3) uint8. :func:`render` is
    ``draw(params, *trajectory(params, times)[x, y], size)``; corruptions and tests draw
    states that break the laws."""
    h, w = _hw(size)
    x, y = np.atleast_2d(x), np.atleast_2d(y)
    num_frames = x.shape[1]
    base = static_layer(params, (h, w))
    objs = params["objects"]
    out = np.empty((num_frames, h, w, 3), dtype=np.uint8)
    pend = params.get("scenario") == "pendulum"
    for k in range(num_frames):
        img = base.copy()
        if pend and (present is None or present[0, k]):
            px, py = params["pivot"]
            half = 0.5 * float(params.get("rod_width", 0.012)) * min(h, w)
            _segment(img, px * w, py * h, x[0, k] * w, y[0, k] * h,
                     max(half, 0.35), params.get("rod_color", (175, 175, 175)))
        if pend:
            _disc(img, params["pivot"][0] * w, params["pivot"][1] * h, 0.015 * w, 0.015 * h,
                  params.get("rod_color", (175, 175, 175)))
        for i, ob in enumerate(objs[:x.shape[0]]):
            if present is not None and not present[i, k]:
                continue
            r = float(ob["radius"]) if radius is None else float(radius[i, k])
            _disc(img, x[i, k] * w, y[i, k] * h, r * w, r * h, ob["color"])
        np.clip(img, 0, 255, out=img)
        out[k] = np.rint(img).astype(np.uint8)
    return out


def coverage(params: dict, times: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Per-object coverage maps (N, T, H, W) float32 in [0, 1] at ``times`` (seconds): the
    antialiased disc of each object as the renderer draws it (occlusion ignored)."""
    h, w = _hw(size)
    times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    traj = trajectory(params, times)
    objs = params["objects"]
    out = np.zeros((len(objs), len(times), h, w, 1), dtype=np.float32)
    for i, ob in enumerate(objs):
        r = float(ob["radius"])
        for k in range(len(times)):
            _disc(out[i, k], traj["x"][i, k] * w, traj["y"][i, k] * h, r * w, r * h, (1.0,))
    return out[..., 0]
