"""``collision``: two balls on one horizontal line, 1-D collision with restitution ``e``
(1 = elastic) and masses ``m ~ r^2``:
``v1' = (m1 v1 + m2 v2 - m2 e (v1 - v2)) / (m1 + m2)``,
``v2' = (m1 v1 + m2 v2 + m1 e (v1 - v2)) / (m1 + m2)``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import vidbench.scenarios.base as base
from vidbench.scenarios.base import Checks, Sampler, Scenario, Track


def collision_velocities(m1: float, m2: float, v1: float, v2: float, e: float
                         ) -> tuple[float, float]:
    """Post-collision velocities of a 1-D collision with restitution ``e``."""
    p = m1 * v1 + m2 * v2
    return (p - m2 * e * (v1 - v2)) / (m1 + m2), (p + m1 * e * (v1 - v2)) / (m1 + m2)


class Collision(Scenario):
    name = "collision"
    ranges = {
        "radius": ((0.06, 0.085), ((0.048, 0.054), (0.095, 0.11))),
        "speed": ((0.15, 0.28), ((0.06, 0.11), (0.32, 0.38))),  # incoming ball
        "target_speed": ((-0.10, 0.05), ((-0.20, -0.14), (0.10, 0.15))),  # right ball
    }
    required = ("x0", "y0", "vx0")
    n_objects = 2
    corruptions = ("momentum_violation",)
    needs_main_track = False

    def sample(self, s: Sampler) -> dict[str, Any]:
        rng, r, d = s.rng, s.radius, s.duration
        r2 = s.draw("radius")
        v1, v2 = s.draw("speed"), s.draw("target_speed")
        m1, m2 = r * r, r2 * r2
        u1 = ((m1 - m2) * v1 + 2 * m2 * v2) / (m1 + m2)
        u2 = ((m2 - m1) * v2 + 2 * m1 * v1) / (m1 + m2)
        best = (math.inf, 0.8, 0.5)
        for _ in range(200):  # a collision time and place that keep both balls in view
            tc = float(rng.uniform(0.5, 1.3))
            m = 0.01
            lo = max(2 * r + v1 * tc, 2 * r - u1 * (d - tc), 2 * r2 - v2 * tc) + m
            hi = min(1 - 2 * r2 - u2 * (d - tc), 1 - 2 * r2 + v2 * tc,
                     1 - 2 * r2 - max(u1, 0.0) * (d - tc)) - m
            if lo <= hi:
                best = (0.0, tc, float(rng.uniform(lo, hi)))  # contact point at tc
                break
            if lo - hi < best[0]:  # otherwise the least-violating place
                best = (lo - hi, tc, 0.5 * (lo + hi))
        _, tc, xc = best
        y0 = float(rng.uniform(0.35, 0.65))
        x1, x2 = xc - r - v1 * tc, xc + r2 - v2 * tc
        if s.direction < 0:  # mirror: the moving ball comes from the right
            x1, x2, v1, v2 = 1.0 - x1, 1.0 - x2, -v1, -v2
        c1, c2 = s.colours
        return {"objects": [base.make_object("ball", c1, r), base.make_object("ball", c2, r2)],
                "x0": [x1, x2], "y0": y0, "vx0": [v1, v2], "restitution": 1.0}

    def motion(self, p: dict, t: np.ndarray) -> dict[str, Any]:
        o = base.empty_state(t, 2)
        (x1, x2), (v1, v2) = p["x0"], p["vx0"]
        r1, r2 = (float(ob["radius"]) for ob in p["objects"])
        m1, m2 = (float(ob.get("mass", float(ob["radius"]) ** 2)) for ob in p["objects"])
        e = float(p.get("restitution", 1.0))
        xs = np.stack([x1 + v1 * t, x2 + v2 * t])
        vs = np.stack([np.full_like(t, v1), np.full_like(t, v2)])
        sep, rel = x2 - x1, v1 - v2  # closing when sep and rel have the same sign
        if sep * rel > 0 and abs(sep) > r1 + r2:
            tc = (abs(sep) - (r1 + r2)) / abs(rel)
            u1, u2 = collision_velocities(m1, m2, v1, v2, e)
            xc1, xc2 = x1 + v1 * tc, x2 + v2 * tc
            sel = t >= tc
            xs[0, sel] = xc1 + u1 * (t[sel] - tc)
            xs[1, sel] = xc2 + u2 * (t[sel] - tc)
            vs[0, sel], vs[1, sel] = u1, u2
            o["events"].append({"type": "collision", "objects": [0, 1], "t": float(tc),
                                "v_before": [float(v1), float(v2)],
                                "v_after": [float(u1), float(u2)]})
        o["x"], o["vx"] = xs, vs
        o["y"][:] = p["y0"]
        return o

    def prompt_en(self, params: dict) -> str:
        return (f"A {base.colour_name(params, 0)} ball slides along a line and collides with a "
                f"{base.colour_name(params, 1)} ball.")

    def prompt_zh(self, params: dict) -> str:
        return (f"一个{base.colour_name(params, 0, 'zh')}小球沿直线滑行，与一个"
                f"{base.colour_name(params, 1, 'zh')}小球发生碰撞")

    def check(self, track: Track, out: Checks) -> None:
        """Post-collision velocities predicted from the measured pre-collision ones (error /
        closing speed, tau 0.15); momentum (tau 0.15) and kinetic energy ratio (tau 0.2);
        velocity changes in units of the closing speed (time-scale invariant)."""
        p, tau, gx, shown = track.params, track.tau, track.gx, track.shown
        law, cons, inv, raw = out.law, out.conservation, out.invariant, out.raw
        ev = [e for e in track.truth["events"] if e["type"] == "collision"]
        both = shown[0] & shown[1] & np.isfinite(gx).all(0)
        if not ev or not (tau.min() < ev[0]["t"] < tau.max()) or both.sum() < 5:
            raw["collision_reason"] = ("no collision inside the observed time with both balls "
                                       "found")
            return
        tt, x1, x2 = tau[both], gx[0][both], gx[1][both]
        grid = np.linspace(tt[1], tt[-2], 121)
        best = None
        for tc in grid:
            h = np.maximum(tt - tc, 0.0)
            A = np.stack([np.ones_like(tt), tt, h], 1)
            s1, r1, *_ = np.linalg.lstsq(A, x1, rcond=None)
            s2, r2, *_ = np.linalg.lstsq(A, x2, rcond=None)
            sse = float(((A @ s1 - x1) ** 2).sum() + ((A @ s2 - x2) ** 2).sum())
            if best is None or sse < best[0]:
                best = (sse, tc, s1, s2)
        assert best is not None
        _, tc, s1, s2 = best
        v1, v2 = float(s1[1]), float(s2[1])
        u1, u2 = v1 + float(s1[2]), v2 + float(s2[2])
        m1, m2 = (float(o.get("mass", float(o["radius"]) ** 2)) for o in p["objects"])
        e = float(p.get("restitution", 1.0))
        w = abs(v1 - v2) + 1e-6
        p1, p2 = collision_velocities(m1, m2, v1, v2, e)
        err = (abs(u1 - p1) + abs(u2 - p2)) / (2 * w)
        law["post_collision_velocities"] = base.score(err, 0.15)
        mom = abs(m1 * u1 + m2 * u2 - m1 * v1 - m2 * v2) / (m1 * abs(v1) + m2 * abs(v2) + 1e-9)
        cons["momentum"] = base.score(mom, 0.15)
        ke0 = m1 * v1 * v1 + m2 * v2 * v2
        ke1 = m1 * u1 * u1 + m2 * u2 * u2
        ke_expected = (m1 * p1 * p1 + m2 * p2 * p2) / max(ke0, 1e-12)
        ke_ratio = ke1 / max(ke0, 1e-12)
        cons["energy"] = base.score(abs(ke_ratio - ke_expected), 0.2)
        # velocity changes in units of the closing speed: time-scale invariant
        e0 = ev[0]
        w_true = e0["v_before"][0] - e0["v_before"][1]
        ratio_true = [(e0["v_after"][i] - e0["v_before"][i]) / w_true for i in (0, 1)]
        ratio_gen = [(u1 - v1) / (v1 - v2 + 1e-9), (u2 - v2) / (v1 - v2 + 1e-9)]
        inv["velocity_ratios"] = base.score(
            float(np.mean(np.abs(np.subtract(ratio_gen, ratio_true)))), 0.15)
        raw.update(collision_time=float(tc), v_before=[v1, v2], v_after=[u1, u2],
                   v_after_predicted=[p1, p2], momentum_rel_err=mom, ke_ratio=ke_ratio)
