"""Closed-form trajectories of the physics scenarios (numpy only, no integrator).

Coordinates are normalised frame coordinates (unit square, ``y`` down; see
:mod:`vidbench.scenarios.params`). Each scenario's law is its class's
:meth:`~vidbench.scenarios.base.Scenario.motion` (module docstrings of
:mod:`~vidbench.scenarios.uniform_motion`, :mod:`~vidbench.scenarios.falling`,
:mod:`~vidbench.scenarios.bounce`, :mod:`~vidbench.scenarios.collision`,
:mod:`~vidbench.scenarios.pendulum`, :mod:`~vidbench.scenarios.incline`); this module adds
what every trajectory has (radii, visibility) and keeps the shared formulas importable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vidbench.scenarios.bounce import ballistic_bounce
from vidbench.scenarios.catalogue import get_scenario
from vidbench.scenarios.collision import collision_velocities
from vidbench.scenarios.incline import incline_geometry
from vidbench.scenarios.params import check_params
from vidbench.scenarios.pendulum import ellipj, ellipk

__all__ = ["ballistic_bounce", "collision_velocities", "ellipj", "ellipk", "incline_geometry",
           "trajectory"]


def _finish(out: dict[str, Any], params: dict) -> dict[str, Any]:
    r = np.array([float(o["radius"]) for o in params["objects"]])
    out["r"] = r
    x, y = out["x"], out["y"]
    rr = r[:, None]
    out["visible"] = (x + rr > 0) & (x - rr < 1) & (y + rr > 0) & (y - rr < 1)
    return out


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
    return _finish(get_scenario(params["scenario"]).motion(params, t), params)
