"""Procedural physics scenarios with closed-form ground truth (numpy only).

Each scenario is one :class:`~vidbench.scenarios.base.Scenario` subclass in a module of its
own (``uniform_motion``, ``falling``: free fall and projectile, ``bounce``, ``collision``,
``pendulum``, ``incline``), registered in :mod:`vidbench.scenarios.catalogue`; the modules
below call its hooks and never switch on a scenario's name.

Public API::

    SCENARIOS                                  # built-in scenario names
    Scenario, register_scenario, get_scenario  # the contract and the registry
    sample_params(scenario, seed, ood=False)   # JSON-able parameter dict (ID / OOD ranges)
    trajectory(params, times)                  # ground-truth states and events
    render(params, num_frames, size, fps, *, start_time=0.0)  # (T, H, W, 3) uint8
    make_item(scenario, seed, ood=False, num_frames=16, size=32, fps=8.0, cond_frames=4)

Coordinates are normalised frame coordinates: the scene is the unit square, ``x`` to the
right, ``y`` **down** (image rows), time in seconds; see :mod:`vidbench.scenarios.params`.
"""

from vidbench.scenarios.base import Checks, Sampler, Scenario, Track
from vidbench.scenarios.catalogue import (
    find_scenario,
    get_scenario,
    register_scenario,
    scenario_names,
    unregister_scenario,
)
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
    "DURATION", "PALETTE", "RANGES", "SCENARIOS", "Checks", "Sampler", "Scenario", "Track",
    "check_params", "collision_velocities", "coverage", "draw", "find_scenario",
    "get_scenario", "in_range", "make_item", "physics_params", "prompt_for",
    "register_scenario", "render", "render_item", "sample_params", "scenario_names",
    "static_layer", "trajectory", "unregister_scenario",
]
