"""Closed-form trajectories of the physics scenarios (numpy only, no integrator).

Coordinates are normalised frame coordinates (unit square, ``y`` down; see
:mod:`vidbench.scenarios.params`). Laws:

- ``uniform_motion``: ``p(t) = p0 + v0 t``.
- ``free_fall``: ``x = x0``, ``y = y0 + g t^2 / 2`` (from rest); optional ``held``: a list
  of ``[x, y]`` places of objects 1.. that stay put (the language items' "drop the red one").
- ``projectile``: ``x = x0 + vx t``, ``y = y0 + vy0 t + g t^2 / 2`` (``vy0 < 0``: upward).
- ``bounce``: ballistic flight between impacts on the floor ``y = floor_y - r``; each impact
  reverses and scales the vertical velocity by the restitution ``e`` (so successive apex
  heights scale by ``e^2``); horizontal velocity is kept.
- ``collision``: two balls on one horizontal line, 1-D collision with restitution ``e`` (1 =
  elastic) and masses ``m ~ r^2``:
  ``v1' = (m1 v1 + m2 v2 - m2 e (v1 - v2)) / (m1 + m2)``,
  ``v2' = (m1 v1 + m2 v2 + m1 e (v1 - v2)) / (m1 + m2)``.
- ``pendulum``: exact (large-amplitude) solution from rest at ``theta0``:
  ``sin(theta / 2) = k sn(K(k) - w t | k^2)``, ``k = sin(theta0 / 2)``, ``w = sqrt(g / L)``,
  via Jacobi elliptic functions computed with the arithmetic-geometric mean.
- ``incline``: rolling without slipping down a ramp of angle ``a``: distance along the slope
  ``s = s0 + v0 t + f g sin(a) t^2 / 2`` with ``f = 5/7`` (solid sphere); when the ball
  reaches the floor its vertical velocity is absorbed and it rolls on at ``v cos(a)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from vidbench.scenarios.params import check_params

# ----------------------------------------------------------------------- elliptic functions


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


# ----------------------------------------------------------------------------- helpers


def _out(times: np.ndarray, n: int) -> dict[str, Any]:
    z = np.zeros((n, len(times)))
    return {"t": times, "x": z.copy(), "y": z.copy(), "vx": z.copy(), "vy": z.copy(),
            "events": []}


def _finish(out: dict[str, Any], params: dict) -> dict[str, Any]:
    r = np.array([float(o["radius"]) for o in params["objects"]])
    out["r"] = r
    x, y = out["x"], out["y"]
    rr = r[:, None]
    out["visible"] = (x + rr > 0) & (x - rr < 1) & (y + rr > 0) & (y - rr < 1)
    return out


def _ballistic_bounce(times: np.ndarray, y0: float, vy0: float, g: float, e: float,
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


# --------------------------------------------------------------------------- scenarios


def _uniform(p: dict, t: np.ndarray) -> dict:
    o = _out(t, 1)
    o["x"][0] = p["x0"] + p["vx0"] * t
    o["y"][0] = p["y0"] + p["vy0"] * t
    o["vx"][0], o["vy"][0] = p["vx0"], p["vy0"]
    return o


def _ballistic(p: dict, t: np.ndarray) -> dict:
    held = p.get("held") or []  # free fall of object 0 while objects 1.. stay put
    o = _out(t, 1 + len(held))
    for i, (hx, hy) in enumerate(held, start=1):
        o["x"][i], o["y"][i] = float(hx), float(hy)
    g = float(p["g"])
    o["x"][0] = p["x0"] + p["vx0"] * t
    o["vx"][0] = p["vx0"]
    o["y"][0] = p["y0"] + p["vy0"] * t + 0.5 * g * t ** 2
    o["vy"][0] = p["vy0"] + g * t
    if p["scenario"] == "projectile" and p["vy0"] < 0:
        o["events"].append({"type": "apex", "object": 0, "t": float(-p["vy0"] / g)})
    return o


def _bounce(p: dict, t: np.ndarray) -> dict:
    o = _out(t, 1)
    r = float(p["objects"][0]["radius"])
    o["x"][0] = p["x0"] + p["vx0"] * t
    o["vx"][0] = p["vx0"]
    y, vy = _ballistic_bounce(t, float(p["y0"]), float(p["vy0"]), float(p["g"]),
                              float(p["restitution"]), float(p["floor_y"]) - r, o["events"])
    o["y"][0], o["vy"][0] = y, vy
    return o


def collision_velocities(m1: float, m2: float, v1: float, v2: float, e: float
                         ) -> tuple[float, float]:
    """Post-collision velocities of a 1-D collision with restitution ``e``."""
    p = m1 * v1 + m2 * v2
    return (p - m2 * e * (v1 - v2)) / (m1 + m2), (p + m1 * e * (v1 - v2)) / (m1 + m2)


def _collision(p: dict, t: np.ndarray) -> dict:
    o = _out(t, 2)
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


def _pendulum(p: dict, t: np.ndarray) -> dict:
    o = _out(t, 1)
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


def incline_geometry(p: dict) -> dict[str, float]:
    """Ramp corners (unmirrored frame): top ``(xa, ya)``, foot ``(xb, floor_y)``."""
    a = float(p["angle"])
    xa, xb = (float(v) for v in p["ramp_x"])
    fy = float(p["floor_y"])
    ya = fy - (xb - xa) * math.tan(a)
    return {"xa": xa, "ya": ya, "xb": xb, "yb": fy, "angle": a}


def _incline(p: dict, t: np.ndarray) -> dict:
    o = _out(t, 1)
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


_DYN = {"uniform_motion": _uniform, "free_fall": _ballistic, "projectile": _ballistic,
        "bounce": _bounce, "collision": _collision, "pendulum": _pendulum,
        "incline": _incline}


def trajectory(params: dict, times: np.ndarray | list[float]) -> dict[str, Any]:
    """Ground-truth state of every object of ``params`` at ``times`` (seconds).

    Returns ``{"t": (T,), "x", "y", "vx", "vy": (N, T) arrays, "r": (N,) radii,
    "visible": (N, T) bool (the disc overlaps the frame), "events": [...]}`` in normalised
    frame coordinates (unit square, y down). Events are dicts with ``type`` (``bounce``:
    ``vy_in``/``vy_out``; ``collision``: ``v_before``/``v_after``; ``apex``;
    ``reach_floor``) and ``t``. The pendulum adds ``theta``/``omega`` (N, T) and
    ``period``; the incline adds ``acceleration`` (along the slope).
    """
    check_params(params)
    t = np.atleast_1d(np.asarray(times, dtype=np.float64))
    return _finish(_DYN[params["scenario"]](params, t), params)
