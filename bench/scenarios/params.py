"""Seeded parameter sampling for the physics scenarios, with declared in-distribution (ID)
and out-of-distribution (OOD) ranges.

Units (everywhere in :mod:`vidbench.scenarios`): the scene is the **unit square**; positions
are normalised frame coordinates ``x`` (0 = left edge, 1 = right edge) and ``y`` (0 = top edge,
1 = bottom edge, i.e. image rows: **y points down**, so gravity is ``+g`` in y); lengths and
radii are in frame sides; time is in seconds; velocities in frame sides per second; ``g`` in
frame sides per second squared. A render at any size maps the unit square onto the whole frame,
so the same parameters give the same scene at any resolution, frame rate and length.

OOD design follows Kang et al. 2024 ("How Far is Video Generation from World Model: A Physical
Law Perspective"): each law parameter (speed, radius, g, restitution, angle...) has one ID
interval, and its OOD set is made of intervals on *both* sides of it, disjoint from it (e.g.
slower and faster than anything seen in distribution), so an OOD item asks a model to
extrapolate the law rather than recall a training case. Every sampled parameter set records
which bucket it came from (``params["ood"]``) and the ranges used (:data:`RANGES`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Names of the procedural scenarios, in a fixed order.
SCENARIOS: tuple[str, ...] = ("uniform_motion", "free_fall", "projectile", "bounce",
                              "collision", "pendulum", "incline")

#: Schema version of the parameter dicts (bump when the meaning of a key changes).
PARAMS_VERSION = 1

#: Nominal scene length in seconds: sampled scenes keep their action inside [0, DURATION].
DURATION = 2.0

#: Saturated object colours (name -> RGB). Objects are keyed by hue, so they are far from grey.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "blue": (40, 90, 235),
    "green": (40, 190, 70),
    "yellow": (235, 205, 35),
    "magenta": (205, 50, 205),
    "cyan": (35, 200, 220),
    "orange": (245, 135, 30),
}

#: Low-saturation backgrounds (name -> RGB); static scenery (floor, ramp, rod) is grey.
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "black": (10, 10, 10),
    "dark grey": (35, 35, 38),
    "charcoal": (55, 52, 50),
}
SCENERY_GREY = (140, 140, 140)
ROD_GREY = (120, 120, 120)

Interval = tuple[float, float]

#: Declared ranges: scenario -> parameter -> (ID interval, OOD intervals).
RANGES: dict[str, dict[str, tuple[Interval, tuple[Interval, ...]]]] = {
    "uniform_motion": {
        "radius": ((0.07, 0.12), ((0.05, 0.06), (0.13, 0.16))),
        "speed": ((0.10, 0.30), ((0.02, 0.06), (0.34, 0.42))),
    },
    "free_fall": {
        "radius": ((0.07, 0.12), ((0.05, 0.06), (0.13, 0.16))),
        "g": ((0.18, 0.28), ((0.08, 0.13), (0.32, 0.38))),
    },
    "projectile": {
        "radius": ((0.065, 0.10), ((0.05, 0.058), (0.11, 0.13))),
        "g": ((0.40, 0.55), ((0.25, 0.33), (0.62, 0.70))),
        "speed": ((0.20, 0.30), ((0.10, 0.15), (0.34, 0.40))),  # horizontal
        "launch_vy": ((0.35, 0.45), ((0.22, 0.28), (0.50, 0.55))),  # upward
    },
    "bounce": {
        "radius": ((0.065, 0.10), ((0.05, 0.058), (0.11, 0.13))),
        "g": ((1.60, 2.40), ((0.90, 1.30), (2.80, 3.40))),
        "restitution": ((0.60, 0.85), ((0.30, 0.50), (0.90, 0.97))),
    },
    "collision": {
        "radius": ((0.06, 0.085), ((0.048, 0.054), (0.095, 0.11))),
        "speed": ((0.15, 0.28), ((0.06, 0.11), (0.32, 0.38))),  # incoming ball
        "target_speed": ((-0.10, 0.05), ((-0.20, -0.14), (0.10, 0.15))),  # right ball
    },
    "pendulum": {
        "radius": ((0.06, 0.08), ((0.048, 0.054), (0.09, 0.10))),
        "length": ((0.40, 0.55), ((0.28, 0.34), (0.60, 0.65))),
        "amplitude_deg": ((20.0, 45.0), ((8.0, 14.0), (55.0, 75.0))),
        "g": ((1.50, 3.00), ((0.80, 1.20), (3.60, 4.50))),
    },
    "incline": {
        "radius": ((0.06, 0.08), ((0.048, 0.054), (0.09, 0.10))),
        "angle_deg": ((15.0, 30.0), ((6.0, 10.0), (36.0, 45.0))),
        "g": ((0.80, 1.30), ((0.40, 0.60), (1.50, 1.90))),
    },
}

#: Rolling solid sphere without slipping: acceleration along a slope is 5/7 g sin(angle).
ROLLING_FACTOR = 5.0 / 7.0


#: Keys each scenario's parameter dict must hold (besides ``objects``).
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "uniform_motion": ("x0", "y0", "vx0", "vy0"),
    "free_fall": ("x0", "y0", "vx0", "vy0", "g"),
    "projectile": ("x0", "y0", "vx0", "vy0", "g"),
    "bounce": ("x0", "y0", "vx0", "vy0", "g", "restitution", "floor_y"),
    "collision": ("x0", "y0", "vx0"),
    "pendulum": ("pivot", "length", "theta0", "g"),
    "incline": ("angle", "g", "floor_y", "ramp_x", "s0"),
}
_N_OBJECTS = {"collision": 2}


def check_params(params: Any) -> None:
    """Raise ValueError naming what is wrong with a scenario parameter dict (e.g. one read
    back from a manifest's meta)."""
    if not isinstance(params, dict):
        raise ValueError(f"physics parameters must be a dict, got {type(params).__name__}")
    scen = params.get("scenario")
    if scen not in SCENARIOS:
        raise ValueError(f"unknown physics scenario {scen!r}; known: {', '.join(SCENARIOS)}")
    missing = [k for k in ("objects", *REQUIRED_KEYS[scen]) if k not in params]
    if missing:
        raise ValueError(f"physics parameters of scenario {scen!r} lack {', '.join(missing)}")
    objs = params["objects"]
    need = _N_OBJECTS.get(scen, 1)
    held = params.get("held")
    if held is not None:
        if scen != "free_fall" or not isinstance(held, list) or not all(
                isinstance(h, list) and len(h) == 2 for h in held):
            raise ValueError("'held' (free_fall only) must be a list of [x, y] places")
        need = 1 + len(held)
    if not isinstance(objs, list) or len(objs) < need:
        raise ValueError(f"physics scenario {scen!r} needs {need} object(s) in 'objects'")
    for i, o in enumerate(objs):
        bad = [k for k in ("radius", "color") if not isinstance(o, dict) or k not in o]
        if bad:
            raise ValueError(f"physics object {i} of scenario {scen!r} lacks {', '.join(bad)}")
        if not float(o["radius"]) > 0:
            raise ValueError(f"physics object {i} of scenario {scen!r}: radius must be > 0")


def _draw(rng: np.random.Generator, scenario: str, key: str, ood: bool) -> float:
    id_iv, ood_ivs = RANGES[scenario][key]
    if not ood:
        return float(rng.uniform(*id_iv))
    widths = np.array([hi - lo for lo, hi in ood_ivs])
    j = int(rng.choice(len(ood_ivs), p=widths / widths.sum()))
    return float(rng.uniform(*ood_ivs[j]))


def _rgb(c: tuple[int, int, int]) -> list[int]:
    return [int(v) for v in c]


def _object(name: str, color_name: str, radius: float) -> dict[str, Any]:
    return {"name": name, "color_name": color_name, "color": _rgb(PALETTE[color_name]),
            "radius": round(radius, 6), "mass": round(radius * radius, 8)}


def in_range(scenario: str, key: str, value: float, ood: bool) -> bool:
    """Whether ``value`` lies in the declared ID (``ood=False``) or OOD set of ``key``."""
    id_iv, ood_ivs = RANGES[scenario][key]
    ivs = ood_ivs if ood else (id_iv,)
    return any(lo - 1e-9 <= value <= hi + 1e-9 for lo, hi in ivs)


def sample_params(scenario: str, seed: int, ood: bool = False) -> dict[str, Any]:
    """A JSON-able parameter set for ``scenario``, deterministic in ``seed`` and ``ood``.

    Keys common to every scenario: ``scenario``, ``version``, ``seed``, ``ood``,
    ``duration`` (nominal seconds the action is designed for), ``objects`` (list of
    ``{"name", "color_name", "color", "radius", "mass"}``; mass is proportional to radius^2),
    ``background`` (RGB), ``background_name``, ``texture`` (0 = flat background; > 0 adds a
    smooth, resolution-independent pattern of that amplitude in grey levels), ``texture_seed``.
    Scenario keys hold the initial conditions and law parameters (see :func:`trajectory`).
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown physics scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    rng = np.random.default_rng([int(seed), SCENARIOS.index(scenario), int(bool(ood))])
    colors = list(PALETTE)
    order = rng.permutation(len(colors))
    c1, c2 = colors[order[0]], colors[order[1]]
    bg_name = list(BACKGROUNDS)[int(rng.integers(len(BACKGROUNDS)))]
    p: dict[str, Any] = {"scenario": scenario, "version": PARAMS_VERSION, "seed": int(seed),
                         "ood": bool(ood), "duration": DURATION,
                         "background": _rgb(BACKGROUNDS[bg_name]), "background_name": bg_name,
                         "texture": 0.0, "texture_seed": int(seed)}
    d = DURATION
    draw = lambda key: _draw(rng, scenario, key, ood)  # noqa: E731
    r = draw("radius")
    direction = 1 if rng.random() < 0.5 else -1
    if scenario == "uniform_motion":
        v = draw("speed")
        angle = math.radians(float(rng.uniform(-12.0, 12.0)))
        vx, vy = direction * v * math.cos(angle), v * math.sin(angle)
        y0 = float(rng.uniform(0.3, 0.7))
        travel = abs(vx) * d
        slack = max(0.0, 1.0 - 2 * r - 0.04 - travel)
        x_left = r + 0.02 + float(rng.uniform(0, slack))
        x0 = x_left if direction > 0 else 1.0 - x_left
        y0 = float(np.clip(y0, r + 0.02 + max(0, -vy * d), 1 - r - 0.02 - max(0, vy * d)))
        p.update(objects=[_object("ball", c1, r)], x0=x0, y0=y0, vx0=vx, vy0=vy)
    elif scenario == "free_fall":
        g = draw("g")
        x0 = float(rng.uniform(0.25, 0.75))
        y0 = r + 0.03 + float(rng.uniform(0, max(0.0, 0.12 - r)))
        p.update(objects=[_object("ball", c1, r)], x0=x0, y0=y0, vx0=0.0, vy0=0.0, g=g)
    elif scenario == "projectile":
        g, vx, vy = draw("g"), draw("speed"), draw("launch_vy")
        rise = vy * vy / (2 * g)  # apex height above the launch point
        drop = max(0.0, (g * d / 2 - vy) * d)  # how far below the launch point it ends
        lo, hi = r + 0.03 + rise, 0.97 - r - drop
        y0 = float(np.clip(rng.uniform(0.50, 0.70), lo, max(lo, hi)))
        x_left = r + 0.03 + float(rng.uniform(0, max(0.0, 0.94 - 2 * r - vx * d)))
        x0 = x_left if direction > 0 else 1.0 - x_left
        p.update(objects=[_object("ball", c1, r)], x0=x0, y0=y0, vx0=direction * vx,
                 vy0=-vy, g=g)
    elif scenario == "bounce":
        g, e = draw("g"), draw("restitution")
        floor_y = 0.88
        x0 = float(rng.uniform(0.25, 0.75))
        y0 = r + 0.05 + float(rng.uniform(0.0, 0.10))
        vx = float(rng.uniform(-0.06, 0.06))
        p.update(objects=[_object("ball", c1, r)], x0=x0, y0=y0, vx0=vx, vy0=0.0, g=g,
                 restitution=e, floor_y=floor_y, floor_color=_rgb(SCENERY_GREY))
    elif scenario == "collision":
        r2 = draw("radius")
        v1, v2 = draw("speed"), draw("target_speed")
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
        if direction < 0:  # mirror: the moving ball comes from the right
            x1, x2, v1, v2 = 1.0 - x1, 1.0 - x2, -v1, -v2
        p.update(objects=[_object("ball", c1, r), _object("ball", c2, r2)],
                 x0=[x1, x2], y0=y0, vx0=[v1, v2], restitution=1.0)
    elif scenario == "pendulum":
        length, g = draw("length"), draw("g")
        amp = math.radians(draw("amplitude_deg")) * direction
        pivot = [0.5, 0.12]
        length = min(length, 0.97 - r - pivot[1])
        p.update(objects=[_object("bob", c1, r)], pivot=pivot, length=length, theta0=amp,
                 g=g, rod_color=_rgb(ROD_GREY), rod_width=0.008)
    elif scenario == "incline":
        angle, g = math.radians(draw("angle_deg")), draw("g")
        floor_y = 0.9
        x_top = 0.04
        # the ramp spans most of the frame width, capped so its top stays inside the frame
        span = min(0.88, (floor_y - 0.12 - r) / math.tan(angle))
        s0 = float(rng.uniform(0.02, 0.06))
        p.update(objects=[_object("ball", c1, r)], angle=angle, g=g, floor_y=floor_y,
                 ramp_x=[x_top, x_top + span], s0=s0, v0=0.0, mirror=direction < 0,
                 rolling_factor=ROLLING_FACTOR, floor_color=_rgb(SCENERY_GREY))
    return _round_floats(p)


def _round_floats(x: Any) -> Any:
    """Round floats to 9 significant decimals so the dict survives a JSON round trip
    exactly (the manifest carries it)."""
    if isinstance(x, dict):
        return {k: _round_floats(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_round_floats(v) for v in x]
    if isinstance(x, float):
        return float(round(x, 9))
    return x
