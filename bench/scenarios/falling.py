"""``free_fall`` and ``projectile``: ballistic flight under gravity ``g`` (down = +y).

- ``free_fall``: ``x = x0``, ``y = y0 + g t^2 / 2`` (from rest); optional ``held``: a list
  of ``[x, y]`` places of objects 1.. that stay put (the language items' "drop the red one").
- ``projectile``: ``x = x0 + vx t``, ``y = y0 + vy0 t + g t^2 / 2`` (``vy0 < 0``: upward).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

import vidbench.scenarios.base as base
from vidbench.scenarios.base import Checks, Sampler, Scenario, Track


class FreeFall(Scenario):
    name = "free_fall"
    ranges = {
        "radius": ((0.07, 0.12), ((0.05, 0.06), (0.13, 0.16))),
        "g": ((0.18, 0.28), ((0.08, 0.13), (0.32, 0.38))),
    }
    required = ("x0", "y0", "vx0", "vy0", "g")
    corruptions: ClassVar[tuple[str, ...]] = ("anti_gravity", "linear_fall")

    def sample(self, s: Sampler) -> dict[str, Any]:
        rng, r = s.rng, s.radius
        g = s.draw("g")
        x0 = float(rng.uniform(0.25, 0.75))
        y0 = r + 0.03 + float(rng.uniform(0, max(0.0, 0.12 - r)))
        return {"objects": [base.make_object("ball", s.colours[0], r)], "x0": x0, "y0": y0,
                "vx0": 0.0, "vy0": 0.0, "g": g}

    def objects_needed(self, params: dict) -> int:
        held = params.get("held")
        if held is None:
            return self.n_objects
        if not isinstance(held, list) or not all(
                isinstance(h, list) and len(h) == 2 for h in held):
            raise ValueError("'held' (free_fall only) must be a list of [x, y] places")
        return 1 + len(held)

    def motion(self, p: dict, t: np.ndarray) -> dict[str, Any]:
        held = p.get("held") or []  # free fall of object 0 while objects 1.. stay put
        o = base.empty_state(t, 1 + len(held))
        for i, (hx, hy) in enumerate(held, start=1):
            o["x"][i], o["y"][i] = float(hx), float(hy)
        g = float(p["g"])
        o["x"][0] = p["x0"] + p["vx0"] * t
        o["vx"][0] = p["vx0"]
        o["y"][0] = p["y0"] + p["vy0"] * t + 0.5 * g * t ** 2
        o["vy"][0] = p["vy0"] + g * t
        return o

    def prompt_en(self, params: dict) -> str:
        return (f"A {base.colour_name(params, 0)} ball falls from rest against a "
                f"{base.background_name(params)} background.")

    def prompt_zh(self, params: dict) -> str:
        c1, bg = base.colour_name(params, 0, "zh"), base.background_name(params, "zh")
        return f"一个{c1}小球在{bg}背景前由静止开始自由落体"

    def check(self, track: Track, out: Checks) -> None:
        """g from a parabola fit (exp(-rel err / 0.2)), constant vx, downward acceleration;
        then the scenario's own path checks (:meth:`check_path`)."""
        p, tt, xx, yy, span = track.params, track.tt, track.xx, track.yy, track.span
        g = float(p["g"])
        cy = base.fit_poly(tt, yy, 2)
        g_est = 2 * cy[0]
        out.law["g"] = base.score(abs(g_est - g) / g, 0.2)
        cx = base.fit_poly(tt, xx, 2)
        out.law["constant_vx"] = base.score(abs(2 * cx[0]) * span / (abs(cx[1]) + 0.05), 0.15)
        out.invariant["downward_acceleration"] = 1.0 if g_est > 0.1 * g else base.FLOOR
        out.raw.update(g_est=g_est, g_true=g)
        self.check_path(track, cy, g_est, out)

    def check_path(self, track: Track, cy: np.ndarray, g_est: float, out: Checks) -> None:
        """Vertical path and a start from rest (|y'(0)| small against the speed reached)."""
        xx, yy, span = track.xx, track.yy, track.span
        drop = max(float(np.ptp(yy)), track.r0)
        out.invariant["vertical_path"] = base.score(float(np.ptp(xx)) / drop, 0.1)
        out.invariant["from_rest"] = base.score(abs(cy[1]) / (abs(g_est) * max(span, 1e-3) + 1e-6),
                                           0.15)

    def reverse_gravity(self, params: dict) -> None:
        params["g"] = -float(params["g"])
        params["y0"] = 1.0 - float(params["y0"])  # start low so the rise stays in view


class Projectile(FreeFall):
    name = "projectile"
    ranges = {
        "radius": ((0.065, 0.10), ((0.05, 0.058), (0.11, 0.13))),
        "g": ((0.40, 0.55), ((0.25, 0.33), (0.62, 0.70))),
        "speed": ((0.20, 0.30), ((0.10, 0.15), (0.34, 0.40))),  # horizontal
        "launch_vy": ((0.35, 0.45), ((0.22, 0.28), (0.50, 0.55))),  # upward
    }
    required = ("x0", "y0", "vx0", "vy0", "g")
    corruptions = ("anti_gravity",)

    def sample(self, s: Sampler) -> dict[str, Any]:
        rng, r, d, direction = s.rng, s.radius, s.duration, s.direction
        g, vx, vy = s.draw("g"), s.draw("speed"), s.draw("launch_vy")
        rise = vy * vy / (2 * g)  # apex height above the launch point
        drop = max(0.0, (g * d / 2 - vy) * d)  # how far below the launch point it ends
        lo, hi = r + 0.03 + rise, 0.97 - r - drop
        y0 = float(np.clip(rng.uniform(0.50, 0.70), lo, max(lo, hi)))
        x_left = r + 0.03 + float(rng.uniform(0, max(0.0, 0.94 - 2 * r - vx * d)))
        x0 = x_left if direction > 0 else 1.0 - x_left
        return {"objects": [base.make_object("ball", s.colours[0], r)], "x0": x0, "y0": y0,
                "vx0": direction * vx, "vy0": -vy, "g": g}

    def objects_needed(self, params: dict) -> int:
        return Scenario.objects_needed(self, params)

    def motion(self, p: dict, t: np.ndarray) -> dict[str, Any]:
        o = super().motion(p, t)
        if p["vy0"] < 0:
            t_apex = float(-p["vy0"] / float(p["g"]))
            o["events"].append({"type": "apex", "object": 0, "t": t_apex})
        return o

    def prompt_en(self, params: dict) -> str:
        side = "right" if params["vx0"] > 0 else "left"
        return (f"A {base.colour_name(params, 0)} ball is thrown up and to the {side} and flies "
                "in an arc.")

    def prompt_zh(self, params: dict) -> str:
        side = "右" if params["vx0"] > 0 else "左"
        return f"一个{base.colour_name(params, 0, 'zh')}小球被斜向{side}上方抛出，沿抛物线飞行"

    def check_path(self, track: Track, cy: np.ndarray, g_est: float, out: Checks) -> None:
        """y(x) on the true parabola (rms / r, tau 0.3)."""
        p, xx, yy = track.params, track.xx, track.yy
        g = float(p["g"])
        vx, vy0, x0, y0 = float(p["vx0"]), float(p["vy0"]), float(p["x0"]), float(p["y0"])
        dx = xx - x0
        y_curve = y0 + vy0 / vx * dx + g / (2 * vx * vx) * dx * dx
        rms = float(np.sqrt(np.mean((yy - y_curve) ** 2)))
        out.invariant["parabola_y_of_x"] = base.score(rms / track.r0, 0.3)
        out.raw["parabola_rms"] = rms

    def reverse_gravity(self, params: dict) -> None:
        params["g"] = -float(params["g"])
        params["vy0"] = -float(params["vy0"])  # thrown downwards, curving up
        params["y0"] = 1.0 - float(params["y0"])
