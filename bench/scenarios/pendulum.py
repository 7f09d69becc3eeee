"""``pendulum``: a bob on a rigid rod, exact (large-amplitude) solution from rest at
``theta0``: ``sin(theta / 2) = k sn(K(k) - w t | k^2)``, ``k = sin(theta0 / 2)``,
``w = sqrt(g / L)``, via Jacobi elliptic functions computed with the arithmetic-geometric
mean."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import vidbench.scenarios.base as base
from vidbench.scenarios.base import Checks, Sampler, Scenario, Track
from vidbench.scenarios.raster import disc, segment


def ellipk(m: float) -> float:
    """Complete elliptic integral of the first kind K(m), parameter ``m = k^2`` in [0, 1)."""
    a, b = 1.0, math.sqrt(1.0 - m)
    for _ in range(60):
        if abs(a - b) < 1e-15 * a:
            break
        a, b = (a + b) / 2.0, math.sqrt(a * b)
    return math.pi / (2.0 * a)


def ellipj(u: np.ndarray, m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Jacobi elliptic functions (sn, cn, dn) of ``u`` with parameter ``m`` in [0, 1),
    by the descending AGM (Abramowitz & Stegun 16.4)."""
    u = np.asarray(u, dtype=np.float64)
    if m < 1e-14:
        return np.sin(u), np.cos(u), np.ones_like(u)
    a, b, c = [1.0], [math.sqrt(1.0 - m)], [math.sqrt(m)]
    while abs(c[-1]) > 1e-16 and len(a) < 60:
        an, bn = (a[-1] + b[-1]) / 2.0, math.sqrt(a[-1] * b[-1])
        cn = (a[-1] - b[-1]) / 2.0
        a.append(an)
        b.append(bn)
        c.append(cn)
    n = len(a) - 1
    phi = (2.0 ** n) * a[n] * u
    phis = [phi]
    for j in range(n, 0, -1):
        phi = 0.5 * (phi + np.arcsin(np.clip(c[j] / a[j] * np.sin(phi), -1.0, 1.0)))
        phis.append(phi)
    phi0, phi1 = phis[-1], phis[-2]
    sn, cnv = np.sin(phi0), np.cos(phi0)
    dn = cnv / np.cos(phi1 - phi0)
    return sn, cnv, dn


class Pendulum(Scenario):
    name = "pendulum"
    ranges = {
        "radius": ((0.06, 0.08), ((0.048, 0.054), (0.09, 0.10))),
        "length": ((0.40, 0.55), ((0.28, 0.34), (0.60, 0.65))),
        "amplitude_deg": ((20.0, 45.0), ((8.0, 14.0), (55.0, 75.0))),
        "g": ((1.50, 3.00), ((0.80, 1.20), (3.60, 4.50))),
    }
    required = ("pivot", "length", "theta0", "g")

    def sample(self, s: Sampler) -> dict[str, Any]:
        r = s.radius
        length, g = s.draw("length"), s.draw("g")
        amp = math.radians(s.draw("amplitude_deg")) * s.direction
        pivot = [0.5, 0.12]
        length = min(length, 0.97 - r - pivot[1])
        return {"objects": [base.make_object("bob", s.colours[0], r)], "pivot": pivot,
                "length": length, "theta0": amp, "g": g, "rod_color": base.rgb(base.ROD_GREY),
                "rod_width": 0.008}

    def motion(self, p: dict, t: np.ndarray) -> dict[str, Any]:
        """Adds ``theta``/``omega`` (1, T) and ``period``."""
        o = base.empty_state(t, 1)
        px, py = p["pivot"]
        L, g, th0 = float(p["length"]), float(p["g"]), float(p["theta0"])
        w = math.sqrt(g / L)
        k = math.sin(th0 / 2.0)
        m = k * k
        kk = ellipk(m)
        sn, cn, dn = ellipj(kk - w * t, m)
        th = 2.0 * np.arcsin(np.clip(k * sn, -1.0, 1.0))
        om = -2.0 * k * w * cn * dn / np.cos(th / 2.0)
        o["x"][0] = px + L * np.sin(th)
        o["y"][0] = py + L * np.cos(th)
        o["vx"][0] = L * np.cos(th) * om
        o["vy"][0] = -L * np.sin(th) * om
        o["theta"], o["omega"] = th[None], om[None]
        o["period"] = 4.0 * kk / w
        return o

    def draw_props(self, img: np.ndarray, params: dict, x: np.ndarray, y: np.ndarray,
                   present: np.ndarray | None) -> None:
        """The rod from the pivot to the bob (while the bob is present), and the pivot."""
        h, w = img.shape[:2]
        rod = params.get("rod_color", (175, 175, 175))
        if present is None or present[0]:
            px, py = params["pivot"]
            half = 0.5 * float(params.get("rod_width", 0.012)) * min(h, w)
            segment(img, px * w, py * h, x[0] * w, y[0] * h, max(half, 0.35), rod)
        disc(img, params["pivot"][0] * w, params["pivot"][1] * h, 0.015 * w, 0.015 * h, rod)

    def prompt_en(self, params: dict) -> str:
        c1 = base.colour_name(params, 0)
        return f"A {c1} pendulum bob swings from a fixed pivot on a grey rod."

    def prompt_zh(self, params: dict) -> str:
        c1 = base.colour_name(params, 0, "zh")
        return f"一个单摆的{c1}摆球挂在灰色摆杆下，绕固定支点来回摆动"

    def check(self, track: Track, out: Checks) -> None:
        """Angle curve (rms / theta0, tau 0.15); rod length (relative, tau 0.1); amplitude
        <= theta0 (tau 0.1)."""
        p, tt, xx, yy = track.params, track.tt, track.xx, track.yy
        px, py = p["pivot"]
        L, th0 = float(p["length"]), float(p["theta0"])
        th = np.arctan2(xx - px, yy - py)
        ln = np.hypot(xx - px, yy - py)
        th_true = track.truth["theta"][0][track.m]
        out.law["angle_curve"] = base.score(
            float(np.sqrt(np.mean((th - th_true) ** 2))) / abs(th0), 0.15)
        lerr = float(np.sqrt(np.mean((ln - L) ** 2))) / L
        out.conservation["rod_length"] = base.score(lerr, 0.1)
        th_start = abs(float(th[0])) if abs(float(tt[0])) < 1e-6 else abs(th0)
        over = max(0.0, float(np.abs(th).max()) - th_start) / abs(th0)
        out.conservation["amplitude"] = base.score(over, 0.1)
        out.invariant["rod_length"] = out.conservation["rod_length"]
        out.raw.update(rod_length_rel_err=lerr, amplitude_excess=over,
                       g_apparent=float(p["g"]))
