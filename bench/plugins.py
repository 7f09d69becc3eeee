"""The one registry mechanism: metrics, models, suites and CLI subcommands.

Everything vidbench can be asked for by name is found the same way, the built-ins included:
an entry point in one of four groups, declared in a distribution's metadata
(``[project.entry-points."vidbench.metrics"]`` in pyproject.toml)::

    vidbench.metrics   name   -> a Metric subclass            (``vidbench metrics list``)
    vidbench.models    scheme -> an Adapter subclass          (``--model scheme:target``)
    vidbench.suites    name   -> a function returning a Suite (``vidbench suites list``)
    vidbench.commands  name   -> a :class:`Command`           (``vidbench NAME ...``)

Names are listed in each registry's presentation ``order`` (the order a run scores metrics
and ``--help`` lists commands; installers sort entry points by name, so the metadata cannot
carry it), then any other entry points (vidbench's own first), then names registered
in-process. Modules named in ``VIDBENCH_PLUGINS`` (comma-separated) are
imported before a registry is read, so a module that is not packaged can call
:meth:`Registry.register` (``register_metric`` for metrics) at import time. Nothing is
imported until it is asked for by name: listing names never imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from vidbench.errors import UserError

T = TypeVar("T")

#: Our own distribution: its entry points are listed first.
DISTRIBUTION = "vidbench"


@dataclass(frozen=True)
class Command:
    """A ``vidbench NAME`` subcommand: one-line ``help``, ``add_arguments(parser)`` for its
    own parser, and ``run(args)`` returning the exit code (``None`` means 0)."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]


_ENV_LOADED: set[str] = set()


def load_env_plugins() -> None:
    """Import the modules named in ``VIDBENCH_PLUGINS`` (comma-separated) once each, so
    what they register is known without packaging them as entry points."""
    for mod in (m.strip() for m in os.environ.get("VIDBENCH_PLUGINS", "").split(",")):
        if mod and mod not in _ENV_LOADED:
            importlib.import_module(mod)
            _ENV_LOADED.add(mod)


def _group(group: str) -> list[EntryPoint]:
    """The entry points of ``group``: vidbench's own first (in declaration order), then the
    others'. A broken third-party distribution's metadata must not break vidbench."""
    try:
        eps = list(entry_points(group=group))
    except Exception:
        return []

    def ours(ep: EntryPoint) -> bool:
        dist = getattr(ep, "dist", None)
        return dist is not None and dist.name == DISTRIBUTION

    return [ep for ep in eps if ours(ep)] + [ep for ep in eps if not ours(ep)]


class Registry(Generic[T]):
    """Name -> object for one entry-point ``group``; ``what`` names the kind in errors
    ("metric", "model scheme", ...)."""

    def __init__(self, group: str, what: str, order: tuple[str, ...] = ()) -> None:
        self.group = group
        self.what = what
        self.order = order
        self._registered: dict[str, T] = {}
        self._loaded: dict[str, T] = {}

    def register(self, name: str, obj: T) -> T:
        """Make ``obj`` available as ``name`` in this process (a ``VIDBENCH_PLUGINS`` module
        or a test); an entry point of the same name is shadowed."""
        if not name:
            raise ValueError(f"{self.what}: empty name for {obj!r}")
        self._registered[name] = obj
        return obj

    def _entry_points(self) -> dict[str, EntryPoint]:
        out: dict[str, EntryPoint] = {}
        for ep in _group(self.group):
            out.setdefault(ep.name, ep)
        return out

    def names(self) -> list[str]:
        """Every known name: entry points (those in ``order`` first, in that order, then
        vidbench's own, then other distributions'), then names registered in-process."""
        load_env_plugins()
        eps = self._entry_points()
        first = [n for n in self.order if n in eps]
        return list(dict.fromkeys([*first, *eps, *self._registered]))

    def target(self, name: str) -> tuple[str, str] | None:
        """(``module:attr``, distribution name) of entry point ``name``, without importing
        it; ``None`` for a name registered in-process or unknown."""
        if name in self._registered:
            return None
        ep = self._entry_points().get(name)
        if ep is None:
            return None
        dist = getattr(ep, "dist", None)
        return ep.value, (dist.name if dist is not None else "")

    def load(self, name: str) -> T:
        """The object registered as ``name`` (imported on first use); an unknown name is a
        :class:`UserError` listing the known ones."""
        load_env_plugins()
        if name in self._registered:
            return self._registered[name]
        if name not in self._loaded:
            ep = self._entry_points().get(name)
            if ep is None:
                raise UserError(f"unknown {self.what} {name!r}; known: "
                                f"{', '.join(self.names())}")
            self._loaded[name] = ep.load()
        return self._loaded[name]


# Presentation order only: a name missing here is still found (after these), so a new metric
# needs no line here unless it should run before others.
METRICS: Registry[Any] = Registry("vidbench.metrics", "metric", (
    "temporal_flicker", "motion_smoothness", "dynamic_degree", "subject_consistency",
    "background_consistency", "clip_score", "aesthetic_quality", "imaging_quality",
    "human_action", "scene", "appearance_style", "overall_consistency", "temporal_style",
    "object_class", "multiple_objects", "color", "spatial_relationship",
    "physics_consistency", "physics_scenario", "fvd", "kvd", "cd_fvd"))
MODELS: Registry[Any] = Registry("vidbench.models", "model scheme", (
    "synthetic", "dit", "folder", "diffusers", "http", "python", "physics-gt", "baseline"))
SUITES: Registry[Callable[[], Any]] = Registry("vidbench.suites", "suite", (
    "synthetic-mini", "physics-mini", "physics", "physics-lang", "quality-mini", "vbench-full"))
COMMANDS: Registry[Command] = Registry("vidbench.commands", "command", (
    "run", "generate", "score", "weights", "suites", "metrics", "reference", "leaderboard",
    "check", "train"))
