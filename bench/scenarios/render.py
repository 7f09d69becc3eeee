"""Antialiased rendering of the physics scenarios at any resolution, frame rate and length.

The unit square of the scene maps onto the whole frame (an ``(H, W)`` frame with H != W
stretches it, like a resized video). Frame ``k`` shows the scene at time
``start_time + k / fps`` (point samples in time, no motion blur), so a render at 8 fps is a
subsample of one at 24 fps of the same parameters, and a 32x32 render is (up to antialiasing) a
downscale of a 256x256 one. Shapes are antialiased with a one-pixel linear coverage ramp on the
signed distance to their edge.
"""

from __future__ import annotations

import numpy as np

from vidbench.scenarios.catalogue import find_scenario
from vidbench.scenarios.dynamics import trajectory
from vidbench.scenarios.raster import blend, disc, frame_hw, texture


def static_layer(params: dict, size: int | tuple[int, int]) -> np.ndarray:
    """Background, texture and fixed scenery (floor, ramp) as float32 (H, W, 3) in [0, 255]."""
    h, w = frame_hw(size)
    img = np.empty((h, w, 3), dtype=np.float32)
    img[:] = np.asarray(params.get("background", (0, 0, 0)), dtype=np.float32)
    amp = float(params.get("texture", 0.0) or 0.0)
    if amp > 0:
        img += texture(h, w, amp, int(params.get("texture_seed", 0)))[..., None]
    scenario = find_scenario(params.get("scenario"))
    if scenario is not None:
        yy = np.arange(h, dtype=np.float64)[:, None] + 0.5
        xx = np.arange(w, dtype=np.float64)[None, :] + 0.5
        cov = scenario.scenery(params, xx, yy, h, w)
        if cov is not None:
            blend(img, cov, params.get("floor_color", (140, 140, 140)))
    return img


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
    h, w = frame_hw(size)
    x, y = np.atleast_2d(x), np.atleast_2d(y)
    num_frames = x.shape[1]
    base = static_layer(params, (h, w))
    objs = params["objects"]
    out = np.empty((num_frames, h, w, 3), dtype=np.uint8)
    scenario = find_scenario(params.get("scenario"))
    for k in range(num_frames):
        img = base.copy()
        if scenario is not None:
            scenario.draw_props(img, params, x[:, k], y[:, k],
                                None if present is None else present[:, k])
        for i, ob in enumerate(objs[:x.shape[0]]):
            if present is not None and not present[i, k]:
                continue
            r = float(ob["radius"]) if radius is None else float(radius[i, k])
            disc(img, x[i, k] * w, y[i, k] * h, r * w, r * h, ob["color"])
        np.clip(img, 0, 255, out=img)
        out[k] = np.rint(img).astype(np.uint8)
    return out


def coverage(params: dict, times: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Per-object coverage maps (N, T, H, W) float32 in [0, 1] at ``times`` (seconds): the
    antialiased disc of each object as the renderer draws it (occlusion ignored)."""
    h, w = frame_hw(size)
    times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    traj = trajectory(params, times)
    objs = params["objects"]
    out = np.zeros((len(objs), len(times), h, w, 1), dtype=np.float32)
    for i, ob in enumerate(objs):
        r = float(ob["radius"])
        for k in range(len(times)):
            disc(out[i, k], traj["x"][i, k] * w, traj["y"][i, k] * h, r * w, r * h, (1.0,))
    return out[..., 0]
