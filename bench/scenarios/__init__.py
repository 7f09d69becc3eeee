"""Procedural physics scenarios with closed-form ground truth (numpy only).

Public API::

    SCENARIOS                                  # scenario names
    sample_params(scenario, seed, ood=False)   # JSON-able parameter dict (ID / OOD ranges)
    trajectory(params, times)                  # ground-truth states and events
    render(params, num_frames, size, fps, *, start_time=0.0)  # (T, H, W, 3) uint8
    make_item(scenario, seed, ood=False, num_frames=16, size=32, fps=8.0, cond_frames=4)

Coordinates are normalised frame coordinates: the scene is the unit square, ``x`` to the
right, ``y`` **down** (image rows), time in seconds; see :mod:`vidbench.scenarios.params`.
"""

from vidbench.scenarios.dynamics import collision_velocities, trajectory
from vidbench.scenarios.items import make_item, physics_params, prompt_for, render_item
from vidbench.scenarios.params import (
    DURATION,
    PALETTE,
    RANGES,
    SCENARIOS,
    check_params,
    in_range,
    sample_params,
)
from vidbench.scenarios.render import coverage, draw, render, static_layer

__all__ = [
    "DURATION", "PALETTE", "RANGES", "SCENARIOS", "check_params", "collision_velocities",
    "coverage", "draw", "in_range",
    "make_item", "physics_params", "prompt_for", "render", "render_item", "sample_params",
    "static_layer", "trajectory",
]
