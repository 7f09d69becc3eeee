"""``bounce``: a ball falling onto a floor. Ballistic flight between impacts on the floor
``y = floor_y - r``; each impact reverses and scales the vertical velocity by the
restitution ``e`` (so successive apex heights scale by ``e^2``; ``e = 0``: it sticks);
horizontal velocity is kept."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import vidbench.scenarios.base as base
from vidbench.scenarios.base import Checks, Sampler, Scenario, Track


def ballistic_bounce(times: np.ndarray, y0: float, vy0: float, g: float, e: float,
                     y_contact: float, events: list, obj: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Vertical motion under gravity ``g`` (down = +y) with a floor at ``y_contact``."""
    y = y0 + vy0 * times + 0.5 * g * times ** 2
    vy = vy0 + g * times
    tmax = float(times.max()) if len(times) else 0.0
    if g <= 0 or y0 > y_contact + 1e-12:
        return y, vy
    disc = vy0 * vy0 + 2.0 * g * (y_contact - y0)
    t_hit = (-vy0 + math.sqrt(max(disc, 0.0))) / g
    v_in = vy0 + g * t_hit
    seg_start, seg_v = t_hit, v_in
    for k in range(500):
        if seg_start > tmax:
            break
        v_out = -e * seg_v
        events.append({"type": "bounce", "object": obj, "t": float(seg_start),
                       "vy_in": float(seg_v), "vy_out": float(v_out), "index": k})
        flight = 2.0 * (-v_out) / g
        sel = times >= seg_start
        tau = times[sel] - seg_start
        if abs(v_out) < 1e-6 or flight < 1e-6:  # at rest on the floor
            y[sel], vy[sel] = y_contact, 0.0
            break
        y[sel] = y_contact + v_out * tau + 0.5 * g * tau ** 2
        vy[sel] = v_out + g * tau
        seg_start, seg_v = seg_start + flight, -v_out
    return y, vy


def floor_coverage(params: dict, yy: np.ndarray, h: int, w: int) -> np.ndarray:
    """Coverage (H, W) of the floor below ``floor_y`` (a one-pixel antialiased edge)."""
    return np.clip(yy - float(params["floor_y"]) * h + 0.5, 0, 1) * np.ones((1, w))


def joint_parabolas(t: np.ndarray, y: np.ndarray, labels: np.ndarray) -> dict | None:
    """Least squares y = a_s + b_s t + c t^2 per segment s with one shared c."""
    segs = [s for s in np.unique(labels) if (labels == s).sum() >= 2]
    if not segs or sum((labels == s).sum() for s in segs) < len(segs) * 2 + 1:
        return None
    rows, rhs = [], []
    for j, s in enumerate(segs):
        for ti, yi in zip(t[labels == s], y[labels == s], strict=True):
            r = np.zeros(2 * len(segs) + 1)
            r[2 * j], r[2 * j + 1], r[-1] = 1.0, ti, ti * ti
            rows.append(r)
            rhs.append(yi)
    A, Y = np.array(rows), np.array(rhs)
    sol, *_ = np.linalg.lstsq(A, Y, rcond=None)
    sse = float(((A @ sol - Y) ** 2).sum())
    c = float(sol[-1])
    impacts, heights = [], []
    for j in range(len(segs)):
        a_s, b_s = sol[2 * j], sol[2 * j + 1]
        heights.append((a_s, b_s))
    apex_h = []
    contact = None
    for j in range(len(segs) - 1):
        (a1, b1), (a2, b2) = heights[j], heights[j + 1]
        if abs(b1 - b2) < 1e-9:
            continue
        ts = (a2 - a1) / (b1 - b2)
        impacts.append((b1 + 2 * c * ts, b2 + 2 * c * ts))
        contact = a1 + b1 * ts + c * ts * ts if contact is None else contact
    if contact is not None and abs(c) > 1e-9:
        for a_s, b_s in heights:
            apex_h.append(float(contact - (a_s - b_s * b_s / (4 * c))))
    return {"c": c, "sse": sse, "impacts": impacts, "apex_heights": apex_h}


class Bounce(Scenario):
    name = "bounce"
    ranges = {
        "radius": ((0.065, 0.10), ((0.05, 0.058), (0.11, 0.13))),
        "g": ((1.60, 2.40), ((0.90, 1.30), (2.80, 3.40))),
        "restitution": ((0.60, 0.85), ((0.30, 0.50), (0.90, 0.97))),
    }
    required = ("x0", "y0", "vx0", "vy0", "g", "restitution", "floor_y")
    corruptions = ("energy_gain",)

    def sample(self, s: Sampler) -> dict[str, Any]:
        rng, r = s.rng, s.radius
        g, e = s.draw("g"), s.draw("restitution")
        floor_y = 0.88
        x0 = float(rng.uniform(0.25, 0.75))
        y0 = r + 0.05 + float(rng.uniform(0.0, 0.10))
        vx = float(rng.uniform(-0.06, 0.06))
        return {"objects": [base.make_object("ball", s.colours[0], r)], "x0": x0, "y0": y0,
                "vx0": vx, "vy0": 0.0, "g": g, "restitution": e, "floor_y": floor_y,
                "floor_color": base.rgb(base.SCENERY_GREY)}

    def motion(self, p: dict, t: np.ndarray) -> dict[str, Any]:
        o = base.empty_state(t, 1)
        r = float(p["objects"][0]["radius"])
        o["x"][0] = p["x0"] + p["vx0"] * t
        o["vx"][0] = p["vx0"]
        y, vy = ballistic_bounce(t, float(p["y0"]), float(p["vy0"]), float(p["g"]),
                                 float(p["restitution"]), float(p["floor_y"]) - r, o["events"])
        o["y"][0], o["vy"][0] = y, vy
        return o

    def scenery(self, params: dict, xx: np.ndarray, yy: np.ndarray, h: int, w: int
                ) -> np.ndarray | None:
        return floor_coverage(params, yy, h, w)

    def prompt_en(self, params: dict) -> str:
        return f"A {base.colour_name(params, 0)} ball falls from rest and bounces on a grey floor."

    def prompt_zh(self, params: dict) -> str:
        return f"一个{base.colour_name(params, 0, 'zh')}小球由静止落下，在灰色地面上弹跳"

    def check(self, track: Track, out: Checks) -> None:
        """g and restitution e (exp(-|de| / 0.1)) from parabolas fitted jointly between
        impacts; e <= 1 and apex ratio <= 1 (tau 0.05); apex ratio sqrt(h_{n+1} / h_n) = e;
        with e = 0, the ball stays down after impact (exp(-rise / drop / 0.1))."""
        p, tt, yy = track.params, track.tt, track.yy
        law, cons, inv, raw = out.law, out.conservation, out.invariant, out.raw
        g, e_true = float(p["g"]), float(p["restitution"])
        # only the part of the clip whose flights the frame rate resolves: cut at the first
        # true impact after which the flight lasts fewer than 3 frame intervals (scene time)
        dts = float(np.median(np.diff(tt))) if len(tt) > 1 else 0.0
        truth_bounces = []
        cut = float(tt.max())
        for e in self.motion(p, tt)["events"]:
            if e["type"] != "bounce" or not (tt.min() < e["t"] < tt.max()):
                continue
            if float(tt.max()) - e["t"] < 2.0 * dts:  # fewer than 2 frames after it
                cut = float(e["t"])
                break
            if abs(e["vy_out"]) < 1e-9:  # e = 0: the ball sticks; the fall ends the fit
                cut = float(e["t"])
                after = yy[tt > cut + 1e-9]
                if len(after):  # how far the video's ball comes back up, over the drop height
                    y_hit = float(np.interp(cut, tt, yy))
                    drop = max(float(p["floor_y"]) - float(p["objects"][0]["radius"])
                               - float(p["y0"]), 1e-3)
                    rise = max(0.0, y_hit - float(np.nanmin(after))) \
                        if np.isfinite(after).any() else 0.0
                    inv["stays_down"] = base.score(rise / drop, 0.1)
                    raw["rise_after_impact"] = rise / drop
                break
            truth_bounces.append(e)
            if 2.0 * abs(e["vy_out"]) / g < 3.0 * dts:
                cut = float(e["t"])
                break
        keep = tt <= cut + 1e-9
        if keep.sum() < 4:
            return
        tt, yy = tt[keep], yy[keep]
        raw["bounce_fit_until"] = cut
        # segments between impacts: local maxima of y (lowest points) where the motion turns up
        dy = np.diff(yy)
        turns = [k for k in range(1, len(yy) - 1) if dy[k - 1] > 0 and dy[k] < 0]
        best = None
        for assign in range(2 ** len(turns)):
            labels = np.zeros(len(yy), int)
            for j, k in enumerate(turns):
                labels[k + (0 if (assign >> j) & 1 else 1):] = j + 1
            fit = joint_parabolas(tt, yy, labels)
            if fit is not None and (best is None or fit["sse"] < best["sse"]):
                best = fit
        if best is None:
            return
        g_est = 2 * best["c"]
        law["g"] = base.score(abs(g_est - g) / g, 0.2)
        raw.update(g_est=g_est, g_true=g, bounces_found=len(best["impacts"]),
                   bounces_true=len(truth_bounces))
        if truth_bounces and not best["impacts"]:
            law["restitution"] = 0.05
            inv["apex_ratio"] = 0.05
            raw["bounce_reason"] = "the ground truth bounces in view, the video does not"
            return
        if not best["impacts"]:
            return
        es = [abs(vo / vi) for vi, vo in best["impacts"] if abs(vi) > 1e-6]
        e_est = float(es[0])
        law["restitution"] = base.score(abs(e_est - e_true), 0.1)
        viol = max(0.0, max(es) - 1.0)
        hs = best["apex_heights"]
        ratios = [math.sqrt(max(h1, 0.0) / h0) for h0, h1 in zip(hs[:-1], hs[1:], strict=True)
                  if h0 > 1e-4 and math.isfinite(h1)]
        if ratios:
            viol += max(0.0, max(ratios) - 1.0)
            inv["apex_ratio"] = base.score(abs(ratios[0] - e_true), 0.1)
            raw["apex_ratio_sqrt"] = ratios
        cons["energy"] = base.score(viol, 0.05)
        raw["restitution_est"] = es
