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

from typing import Any

import numpy as np

from vidbench.scenarios.base import (
    BACKGROUNDS,
    DURATION,
    PALETTE,
    PARAMS_VERSION,
    ROD_GREY,
    ROLLING_FACTOR,
    SCENERY_GREY,
    Interval,
    Ranges,
    Sampler,
    rgb,
    round_floats,
)
from vidbench.scenarios.catalogue import BUILTIN, get_scenario, scenario_names, stream_of

__all__ = ["BACKGROUNDS", "DURATION", "PALETTE", "PARAMS_VERSION", "RANGES", "REQUIRED_KEYS",
           "ROD_GREY", "ROLLING_FACTOR", "SCENARIOS", "SCENERY_GREY", "Interval",
           "check_params", "in_range", "sample_params"]

#: Names of the built-in procedural scenarios, in a fixed order
#: (:mod:`vidbench.scenarios.catalogue`; each one is a class of its own module).
SCENARIOS: tuple[str, ...] = BUILTIN

#: Declared ranges of the built-ins: scenario -> parameter -> (ID interval, OOD intervals)
#: (each scenario's ``ranges``).
RANGES: dict[str, Ranges] = {name: get_scenario(name).ranges for name in BUILTIN}

#: Keys each built-in scenario's parameter dict must hold (besides ``objects``).
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {name: get_scenario(name).required
                                             for name in BUILTIN}


def check_params(params: Any) -> None:
    """Raise ValueError naming what is wrong with a scenario parameter dict (e.g. one read
    back from a manifest's meta)."""
    if not isinstance(params, dict):
        raise ValueError(f"physics parameters must be a dict, got {type(params).__name__}")
    scen = params.get("scenario")
    scenario = get_scenario(scen)
    missing = [k for k in ("objects", *scenario.required) if k not in params]
    if missing:
        raise ValueError(f"physics parameters of scenario {scen!r} lack {', '.join(missing)}")
    objs = params["objects"]
    need = scenario.objects_needed(params)
    if not isinstance(objs, list) or len(objs) < need:
        raise ValueError(f"physics scenario {scen!r} needs {need} object(s) in 'objects'")
    for i, o in enumerate(objs):
        bad = [k for k in ("radius", "color") if not isinstance(o, dict) or k not in o]
        if bad:
            raise ValueError(f"physics object {i} of scenario {scen!r} lacks {', '.join(bad)}")
        if not float(o["radius"]) > 0:
            raise ValueError(f"physics object {i} of scenario {scen!r}: radius must be > 0")


def in_range(scenario: str, key: str, value: float, ood: bool) -> bool:
    """Whether ``value`` lies in the declared ID (``ood=False``) or OOD set of ``key``."""
    id_iv, ood_ivs = get_scenario(scenario).ranges[key]
    ivs = ood_ivs if ood else (id_iv,)
    return any(lo - 1e-9 <= value <= hi + 1e-9 for lo, hi in ivs)


def sample_params(scenario: str, seed: int, ood: bool = False) -> dict[str, Any]:
    """A JSON-able parameter set for ``scenario``, deterministic in ``seed`` and ``ood``.

    Keys common to every scenario: ``scenario``, ``version``, ``seed``, ``ood``,
    ``duration`` (nominal seconds the action is designed for), ``objects`` (list of
    ``{"name", "color_name", "color", "radius", "mass"}``; mass is proportional to radius^2),
    ``background`` (RGB), ``background_name``, ``texture`` (0 = flat background; > 0 adds a
    smooth, resolution-independent pattern of that amplitude in grey levels), ``texture_seed``.
    Scenario keys hold the initial conditions and law parameters (the scenario's
    :meth:`~vidbench.scenarios.base.Scenario.sample`, see :func:`trajectory`).
    """
    if not isinstance(scenario, str) or scenario not in scenario_names():
        raise ValueError(f"unknown physics scenario {scenario!r}; known: "
                         f"{', '.join(scenario_names())}")
    scn = get_scenario(scenario)
    rng = np.random.default_rng([int(seed), stream_of(scenario), int(bool(ood))])
    colors = list(PALETTE)
    order = rng.permutation(len(colors))
    c1, c2 = colors[order[0]], colors[order[1]]
    bg_name = list(BACKGROUNDS)[int(rng.integers(len(BACKGROUNDS)))]
    p: dict[str, Any] = {"scenario": scenario, "version": PARAMS_VERSION, "seed": int(seed),
                         "ood": bool(ood), "duration": DURATION,
                         "background": rgb(BACKGROUNDS[bg_name]), "background_name": bg_name,
                         "texture": 0.0, "texture_seed": int(seed)}
    sampler = Sampler(rng=rng, ranges=scn.ranges, ood=bool(ood), radius=0.0, direction=1,
                      colours=(c1, c2), duration=DURATION)
    sampler.radius = sampler.draw("radius")
    sampler.direction = 1 if rng.random() < 0.5 else -1
    p.update(scn.sample(sampler))
    return round_floats(p)

