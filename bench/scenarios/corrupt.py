"""Graded corruptions of ground-truth scenario renders, for validating physics metrics.

``corrupt(params, name, num_frames, size, fps, seed=0, strength=1.0)`` renders the scene of
``params`` with one defect. Physical violations (the video breaks a law):

- ``teleport``: every object jumps by ``0.25 * strength`` of the frame at the middle frame.
- ``vanish``: the first object is missing for the middle ``max(1, T // 8)`` frames.
- ``grow`` / ``shrink``: the radius scales linearly to ``1 +- 0.6 * strength`` by the end.
- ``jitter``: positions get i.i.d. Gaussian noise of ``0.02 * strength`` frame sides.
- ``anti_gravity``: (falls and throws) gravity points up.
- ``linear_fall``: (free fall) constant speed with the same mean speed as the fall.
- ``energy_gain``: (bounce) restitution ``1 / e`` (> 1): each bounce is higher.
- ``momentum_violation``: (collision) the struck ball leaves at ``1 + 0.8 * strength``
  times its lawful velocity.
- ``time_reversal``: the frames in reverse order (a fall becomes a decelerating rise).

Nuisances (the video still obeys physics; a physics metric should not move much):

- ``flicker``: per-frame global brightness gain in ``1 +- 0.25 * strength``.
- ``slow_motion``: the scene played at half speed (frame k shows scene time 0.5 k / fps).
- ``h264_crf35``: an H.264 round trip at CRF 35 (needs PyAV and decord).
- ``texture``: a grey textured background of amplitude ``30 * strength`` grey levels.
- ``distractor``: an extra object of an unused palette colour (the hue farthest from the
  scene's objects) moving in a straight line across the frame.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vidbench.scenarios.base import PALETTE
from vidbench.scenarios.catalogue import BUILTIN, get_scenario
from vidbench.scenarios.dynamics import trajectory
from vidbench.scenarios.render import draw, render

PHYSICAL = ("teleport", "vanish", "grow", "shrink", "jitter", "anti_gravity", "linear_fall",
            "energy_gain", "momentum_violation", "time_reversal")
NUISANCE = ("flicker", "slow_motion", "h264_crf35", "texture", "distractor")
CORRUPTIONS = PHYSICAL + NUISANCE

#: Corruptions that apply only to the scenarios listing them in their ``corruptions``.
SCENARIO_SPECIFIC = ("anti_gravity", "linear_fall", "energy_gain", "momentum_violation")

#: Built-in scenarios each scenario-specific corruption applies to.
APPLIES: dict[str, tuple[str, ...]] = {
    name: tuple(s for s in BUILTIN if name in get_scenario(s).corruptions)
    for name in SCENARIO_SPECIFIC}


def applies(name: str, scenario: str) -> bool:
    """Whether corruption ``name`` can be applied to ``scenario``."""
    return name not in SCENARIO_SPECIFIC or name in get_scenario(scenario).corruptions


def corrupt(params: dict, name: str, num_frames: int, size: int | tuple[int, int],
            fps: float, *, seed: int = 0, strength: float = 1.0) -> np.ndarray:
    """(T, H, W, 3) uint8 render of ``params`` with corruption ``name`` (module docstring)."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")
    scen = params["scenario"]
    if not applies(name, scen):
        raise ValueError(f"corruption {name!r} does not apply to scenario {scen!r}")
    rng = np.random.default_rng([seed, CORRUPTIONS.index(name)])
    t = np.arange(num_frames) / float(fps)
    tr = trajectory(params, t)
    x, y = tr["x"].copy(), tr["y"].copy()
    n, k = x.shape[0], num_frames
    mid = k // 2
    if name == "teleport":
        dx = 0.25 * strength * (1 if x[0, mid] < 0.5 else -1)
        x[:, mid:] += dx
        return draw(params, x, y, size)
    if name == "vanish":
        present = np.ones((n, k), bool)
        span = max(1, k // 8)
        present[0, mid - span // 2: mid - span // 2 + span] = False
        return draw(params, x, y, size, present=present)
    if name in ("grow", "shrink"):
        r0 = np.array([float(o["radius"]) for o in params["objects"]])[:, None]
        sign = 1.0 if name == "grow" else -1.0
        scale = 1.0 + sign * 0.6 * strength * np.linspace(0, 1, k)[None, :]
        return draw(params, x, y, size, radius=r0 * scale)
    if name == "jitter":
        x = x + rng.normal(0, 0.02 * strength, x.shape)
        y = y + rng.normal(0, 0.02 * strength, y.shape)
        return draw(params, x, y, size)
    if name == "anti_gravity":
        p = copy.deepcopy(params)
        get_scenario(scen).reverse_gravity(p)  # gravity up, the motion kept in view
        return render(p, k, size, fps)
    if name == "linear_fall":
        d = float(params["duration"])
        v = 0.5 * float(params["g"]) * d
        y = float(params["y0"]) + v * t[None, :]
        return draw(params, x, y, size)
    if name == "energy_gain":
        p = copy.deepcopy(params)
        p["restitution"] = 1.0 / float(p["restitution"])
        p["y0"] = float(p["y0"]) + 0.15  # lower start, so the higher bounces stay in view
        return render(p, k, size, fps)
    if name == "momentum_violation":
        ev = [e for e in tr["events"] if e["type"] == "collision"]
        if not ev:
            raise ValueError("the collision happens after the clip ends")
        tc = ev[0]["t"]
        after = t >= tc
        xc = float(trajectory(params, [tc])["x"][1, 0])
        x[1, after] = xc + (1.0 + 0.8 * strength) * (x[1, after] - xc)
        return draw(params, x, y, size)
    if name == "time_reversal":
        return render(params, k, size, fps)[::-1].copy()
    if name == "flicker":
        frames = render(params, k, size, fps).astype(np.float32)
        gain = 1.0 + 0.25 * strength * rng.uniform(-1, 1, k)
        return np.clip(frames * gain[:, None, None, None], 0, 255).round().astype(np.uint8)
    if name == "slow_motion":
        return render(params, k, size, fps / 0.5)
    if name == "h264_crf35":
        from vidbench.video import decode, write_video

        frames = render(params, k, size, fps)
        with tempfile.TemporaryDirectory() as tmp:
            path = write_video(Path(tmp) / "c.mp4", frames, fps, crf=35)
            return decode(path).frames
    if name == "texture":
        p = dict(params, texture=30.0 * strength, texture_seed=int(seed) + 101)
        return render(p, k, size, fps)
    # distractor: an object of an unused colour crossing the frame in a straight line
    used = {o["color_name"] for o in params["objects"]}
    free = [c for c in PALETTE if c not in used]
    hue_far = _farthest_colour(free, [o["color"] for o in params["objects"]])
    p = copy.deepcopy(params)
    p["objects"] = list(p["objects"]) + [{"name": "distractor", "color_name": hue_far,
                                          "color": list(PALETTE[hue_far]), "radius": 0.06,
                                          "mass": 0.0036}]
    y_d = float(rng.uniform(0.2, 0.35)) if np.mean(y) > 0.5 else float(rng.uniform(0.65, 0.8))
    xd = 0.1 + 0.8 * t / max(t[-1], 1e-9)
    x2 = np.vstack([x, xd[None]])
    y2 = np.vstack([y, np.full((1, k), y_d)])
    return draw(p, x2, y2, size)


def _farthest_colour(names: list[str], used_rgb: list[list[int]]) -> str:
    def hue(c: Any) -> float:
        r, g, b = (float(v) for v in c)
        return float(np.arctan2(0.8660254 * (g - b), r - 0.5 * (g + b)))

    used = [hue(c) for c in used_rgb]

    def dist(name: str) -> float:
        h = hue(PALETTE[name])
        return min(abs(np.angle(np.exp(1j * (h - u)))) for u in used)

    return max(names, key=dist)
