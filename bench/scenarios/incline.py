"""``incline``: rolling without slipping down a ramp of angle ``a``: distance along the
slope ``s = s0 + v0 t + f g sin(a) t^2 / 2`` with ``f = 5/7`` (solid sphere); when the ball
reaches the floor its vertical velocity is absorbed and it rolls on at ``v cos(a)``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import vidbench.scenarios.base as base
from vidbench.scenarios.base import Checks, Sampler, Scenario, Track
from vidbench.scenarios.bounce import floor_coverage


def incline_geometry(p: dict) -> dict[str, float]:
    """Ramp corners (unmirrored frame): top ``(xa, ya)``, foot ``(xb, floor_y)``."""
    a = float(p["angle"])
    xa, xb = (float(v) for v in p["ramp_x"])
    fy = float(p["floor_y"])
    ya = fy - (xb - xa) * math.tan(a)
    return {"xa": xa, "ya": ya, "xb": xb, "yb": fy, "angle": a}


class Incline(Scenario):
    name = "incline"
    ranges = {
        "radius": ((0.06, 0.08), ((0.048, 0.054), (0.09, 0.10))),
        "angle_deg": ((15.0, 30.0), ((6.0, 10.0), (36.0, 45.0))),
        "g": ((0.80, 1.30), ((0.40, 0.60), (1.50, 1.90))),
    }
    required = ("angle", "g", "floor_y", "ramp_x", "s0")

    def sample(self, s: Sampler) -> dict[str, Any]:
        rng, r = s.rng, s.radius
        angle, g = math.radians(s.draw("angle_deg")), s.draw("g")
        floor_y = 0.9
        x_top = 0.04
        # the ramp spans most of the frame width, capped so its top stays inside the frame
        span = min(0.88, (floor_y - 0.12 - r) / math.tan(angle))
        s0 = float(rng.uniform(0.02, 0.06))
        return {"objects": [base.make_object("ball", s.colours[0], r)], "angle": angle, "g": g,
                "floor_y": floor_y, "ramp_x": [x_top, x_top + span], "s0": s0, "v0": 0.0,
                "mirror": s.direction < 0, "rolling_factor": base.ROLLING_FACTOR,
                "floor_color": base.rgb(base.SCENERY_GREY)}

    def motion(self, p: dict, t: np.ndarray) -> dict[str, Any]:
        """Adds ``acceleration`` (along the slope)."""
        o = base.empty_state(t, 1)
        geo = incline_geometry(p)
        a, r = geo["angle"], float(p["objects"][0]["radius"])
        acc = float(p.get("rolling_factor", 5.0 / 7.0)) * float(p["g"]) * math.sin(a)
        s0, v0 = float(p["s0"]), float(p.get("v0", 0.0))
        ca, sa = math.cos(a), math.sin(a)
        # centre = A + s (cos a, sin a) + r (sin a, -cos a); it touches the floor at s_star
        cx0, cy0 = geo["xa"] + r * sa, geo["ya"] - r * ca
        s_star = (geo["yb"] - r - cy0) / sa
        s = s0 + v0 * t + 0.5 * acc * t ** 2
        v = v0 + acc * t
        x, y = cx0 + s * ca, cy0 + s * sa
        vx, vy = v * ca, v * sa
        if s0 < s_star and acc > 0:
            disc = v0 * v0 + 2.0 * acc * (s_star - s0)
            t_star = (-v0 + math.sqrt(disc)) / acc
            v_star = v0 + acc * t_star
            sel = t >= t_star
            x_star = cx0 + s_star * ca
            x[sel] = x_star + v_star * ca * (t[sel] - t_star)
            y[sel] = geo["yb"] - r
            vx[sel], vy[sel] = v_star * ca, 0.0
            o["events"].append({"type": "reach_floor", "object": 0, "t": float(t_star),
                                "speed": float(v_star)})
        if p.get("mirror"):
            x, vx = 1.0 - x, -vx
        o["x"][0], o["y"][0], o["vx"][0], o["vy"][0] = x, y, vx, vy
        o["acceleration"] = acc
        return o

    def scenery(self, params: dict, xx: np.ndarray, yy: np.ndarray, h: int, w: int
                ) -> np.ndarray | None:
        """The floor and the ramp (a triangle under the slope), mirrored with the scene."""
        floor = floor_coverage(params, yy, h, w)
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
        return cov

    def prompt_en(self, params: dict) -> str:
        c1 = base.colour_name(params, 0)
        return f"A {c1} ball rolls down a grey ramp from rest onto the floor."

    def prompt_zh(self, params: dict) -> str:
        return f"一个{base.colour_name(params, 0, 'zh')}小球由静止沿灰色斜面滚下，一直滚到地面上"

    def check(self, track: Track, out: Checks) -> None:
        """Acceleration along the slope while on the ramp (tau 0.2); distance to the ramp
        = r and a start from rest."""
        p, tt, xx, yy, span, r0 = (track.params, track.tt, track.xx, track.yy, track.span,
                                   track.r0)
        geo = incline_geometry(p)
        a_true = float(p.get("rolling_factor", 5 / 7)) * float(p["g"]) * math.sin(geo["angle"])
        ux = 1.0 - xx if p.get("mirror") else xx
        d = np.array([geo["xb"] - geo["xa"], geo["yb"] - geo["ya"]])
        d /= np.linalg.norm(d)
        rel_x, rel_y = ux - geo["xa"], yy - geo["ya"]
        s_along = rel_x * d[0] + rel_y * d[1]
        perp = rel_x * d[1] - rel_y * d[0]  # > 0 above the slope
        t_floor = [e["t"] for e in track.truth["events"] if e["type"] == "reach_floor"]
        on = tt < (min(t_floor) - 0.02 if t_floor else np.inf)
        if on.sum() >= 3:
            cs = base.fit_poly(tt[on], s_along[on], 2)
            a_est = 2 * cs[0]
            out.law["acceleration"] = base.score(abs(a_est - a_true) / a_true, 0.2)
            out.invariant["on_ramp"] = base.score(
                float(np.sqrt(np.mean((perp[on] - r0) ** 2))) / r0, 0.3)
            out.invariant["from_rest"] = base.score(abs(cs[1] - float(p.get("v0", 0.0)))
                                               / (abs(a_est) * max(span, 1e-3) + 1e-6), 0.2)
            out.raw.update(a_est=a_est, a_true=a_true)
