"""``uniform_motion``: one ball gliding in a straight line at constant speed,
``p(t) = p0 + v0 t``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import vidbench.scenarios.base as base
from vidbench.scenarios.base import Checks, Sampler, Scenario, Track


def line_residual(x: np.ndarray, y: np.ndarray) -> float:
    """RMS distance of the points to their best-fit line (0 for fewer than 3 points)."""
    pts = np.stack([x - x.mean(), y - y.mean()], 1)
    if len(pts) < 3:
        return 0.0
    sv = np.linalg.svd(pts, compute_uv=False)
    return float(sv[-1] / math.sqrt(len(pts)))


class UniformMotion(Scenario):
    name = "uniform_motion"
    ranges = {
        "radius": ((0.07, 0.12), ((0.05, 0.06), (0.13, 0.16))),
        "speed": ((0.10, 0.30), ((0.02, 0.06), (0.34, 0.42))),
    }
    required = ("x0", "y0", "vx0", "vy0")

    def sample(self, s: Sampler) -> dict[str, Any]:
        rng, r, d, direction = s.rng, s.radius, s.duration, s.direction
        v = s.draw("speed")
        angle = math.radians(float(rng.uniform(-12.0, 12.0)))
        vx, vy = direction * v * math.cos(angle), v * math.sin(angle)
        y0 = float(rng.uniform(0.3, 0.7))
        travel = abs(vx) * d
        slack = max(0.0, 1.0 - 2 * r - 0.04 - travel)
        x_left = r + 0.02 + float(rng.uniform(0, slack))
        x0 = x_left if direction > 0 else 1.0 - x_left
        y0 = float(np.clip(y0, r + 0.02 + max(0, -vy * d), 1 - r - 0.02 - max(0, vy * d)))
        return {"objects": [base.make_object("ball", s.colours[0], r)], "x0": x0, "y0": y0,
                "vx0": vx, "vy0": vy}

    def motion(self, p: dict, t: np.ndarray) -> dict[str, Any]:
        o = base.empty_state(t, 1)
        o["x"][0] = p["x0"] + p["vx0"] * t
        o["y"][0] = p["y0"] + p["vy0"] * t
        o["vx"][0], o["vy"][0] = p["vx0"], p["vy0"]
        return o

    def prompt_en(self, params: dict) -> str:
        side = "right" if params["vx0"] > 0 else "left"
        return (f"A {base.colour_name(params, 0)} ball glides to the {side} at constant speed "
                f"across a {base.background_name(params)} background.")

    def prompt_zh(self, params: dict) -> str:
        side = "右" if params["vx0"] > 0 else "左"
        c1, bg = base.colour_name(params, 0, "zh"), base.background_name(params, "zh")
        return f"一个{c1}小球在{bg}背景上匀速向{side}滑行"

    def check(self, track: Track, out: Checks) -> None:
        """Velocity change over the clip / (speed + 0.1) (tau 0.2); straight path."""
        tt, xx, yy, span = track.tt, track.xx, track.yy, track.span
        cx, cy = base.fit_poly(tt, xx, 2), base.fit_poly(tt, yy, 2)
        acc = math.hypot(2 * cx[0], 2 * cy[0])
        speed = math.hypot(cx[1], cy[1])
        out.law["constant_velocity"] = base.score(acc * span / (speed + 0.1), 0.2)
        out.invariant["straight_path"] = base.score(line_residual(xx, yy) / track.r0, 0.15)
        out.raw.update(acceleration=acc, speed=speed)
