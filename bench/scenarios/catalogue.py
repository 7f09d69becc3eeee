"""The scenario registry: name -> :class:`~vidbench.scenarios.base.Scenario` instance.

The built-ins are registered below, in a fixed order: a scenario's position in the
registry is its random stream in :func:`~vidbench.scenarios.params.sample_params`, so the
order is part of every sampled parameter set (append, never reorder). A new scenario is one
class plus one :func:`register_scenario` line (here, or at import time of a module named in
``VIDBENCH_PLUGINS``)."""

from __future__ import annotations

from vidbench.plugins import load_env_plugins
from vidbench.scenarios.base import Scenario
from vidbench.scenarios.bounce import Bounce
from vidbench.scenarios.collision import Collision
from vidbench.scenarios.falling import FreeFall, Projectile
from vidbench.scenarios.incline import Incline
from vidbench.scenarios.pendulum import Pendulum
from vidbench.scenarios.uniform_motion import UniformMotion

_REGISTRY: dict[str, Scenario] = {}


def register_scenario(cls: type[Scenario]) -> type[Scenario]:
    """Register a :class:`Scenario` subclass under its ``name`` (usable as a class
    decorator); registering a name again replaces it in place (its stream is kept)."""
    if not getattr(cls, "name", ""):
        raise ValueError(f"scenario class {cls.__name__} has no name")
    _REGISTRY[cls.name] = cls()
    return cls


def unregister_scenario(name: str) -> None:
    """Remove ``name`` (tests registering a throw-away scenario)."""
    if name in BUILTIN:
        raise ValueError(f"cannot unregister the built-in scenario {name!r}")
    _REGISTRY.pop(name, None)


def find_scenario(name: object) -> Scenario | None:
    """The scenario registered as ``name``, or None."""
    if not isinstance(name, str):
        return None
    found = _REGISTRY.get(name)
    if found is None:
        load_env_plugins()
        found = _REGISTRY.get(name)
    return found


def get_scenario(name: object) -> Scenario:
    """The scenario registered as ``name``; ValueError naming the known ones otherwise."""
    found = find_scenario(name)
    if found is None:
        raise ValueError(f"unknown physics scenario {name!r}; known: "
                         f"{', '.join(scenario_names())}")
    return found


def scenario_names() -> tuple[str, ...]:
    """Every registered scenario, the built-ins first (in :data:`BUILTIN` order)."""
    return tuple(_REGISTRY)


def stream_of(name: str) -> int:
    """The scenario's random stream (its registration position)."""
    return list(_REGISTRY).index(name)


for _cls in (UniformMotion, FreeFall, Projectile, Bounce, Collision, Pendulum, Incline):
    register_scenario(_cls)

#: The built-in scenarios, in their fixed order (the physics suites and the DiT's training
#: stream draw from these; a registered extra scenario is not added to them).
BUILTIN: tuple[str, ...] = scenario_names()
