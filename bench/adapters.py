"""The generator contract. An :class:`Adapter` turns :class:`~vidbench.suites.SuiteItem`s
into videos; :func:`get_model` parses a spec string (``scheme:target?key=value&...``) into
one. Built-in adapters live in :mod:`vidbench.models` (imported on first use from
:data:`BUILTIN_MODELS`); third-party ones register through the ``vidbench.models``
entry-point group. The generation loop that writes videos and the manifest is
:func:`vidbench.generate.generate`."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import numpy as np

from vidbench.errors import UserError
from vidbench.suites import SuiteItem


@dataclass
class Generated:
    """One generated video: either ``frames`` (T, H, W, 3) uint8 with ``fps``, or ``path``
    to a video file the adapter already has. ``params`` are the parameters actually used
    (after a pipeline's rounding), recorded in the manifest."""

    frames: np.ndarray | None = None
    fps: float = 8.0
    path: Path | None = None
    params: dict = field(default_factory=dict)


class Adapter:
    """Base class. ``scheme`` is the spec prefix (``dit``, ``folder``, ...); ``target`` is
    what follows the colon (path, model id, ...); ``options`` come from ``?k=v&...``."""

    scheme: ClassVar[str] = ""

    def __init__(self, target: str = "", **options: Any) -> None:
        self.target = target
        self.options = options

    @property
    def model_id(self) -> str:
        return f"{self.scheme}:{self.target}" if self.target else self.scheme

    @property
    def revision(self) -> str | None:
        """A version of the weights or endpoint (hash, tag), when known."""
        return None

    def prepare(self, run: Any) -> None:
        """Called once before the first item with the generation run (output folder, job
        journal, items to do); adapters that keep state across items override it."""

    def close(self) -> None:
        """Called once after the last item (release pipelines, sessions)."""

    def generate_one(self, item: SuiteItem) -> Generated:
        raise NotImplementedError

    def generate_many(self, items: Iterable[SuiteItem]
                      ) -> Iterator[tuple[SuiteItem, Generated | BaseException]]:
        """Yield (item, result or exception) for each item, in any order. Override to
        batch prompts or run jobs concurrently; the default calls :meth:`generate_one`."""
        for item in items:
            try:
                yield item, self.generate_one(item)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:  # one failed item must not stop the run
                yield item, e


#: Built-in adapters: scheme -> "module:Class".
BUILTIN_MODELS: dict[str, str] = {
    "synthetic": "vidbench.synthetic:SyntheticAdapter",
    "dit": "vidbench.models.dit.adapter:DiTAdapter",
    "folder": "vidbench.models.folder:FolderAdapter",
    "diffusers": "vidbench.models.diffusers_adapter:DiffusersAdapter",
    "http": "vidbench.models.http_api:HttpAdapter",
    "python": "vidbench.models.python_callable:PythonAdapter",
    "physics-gt": "vidbench.models.physics_gt:PhysicsGroundTruth",
    "baseline": "vidbench.models.baselines:BaselineAdapter",
}


def parse_spec(spec: str) -> tuple[str, str, dict[str, str]]:
    """``"scheme:target?k=v&k2=v2"`` -> (scheme, target, options). A bare ``scheme`` has an
    empty target. Windows-free: the first colon separates scheme and target."""
    body, _, query = spec.partition("?")
    scheme, _, target = body.partition(":")
    if not scheme:
        raise UserError(f"bad model spec {spec!r}: expected SCHEME[:TARGET][?k=v&...]")
    return scheme, target, dict(parse_qsl(query, keep_blank_values=True))


def model_schemes() -> list[str]:
    from importlib.metadata import entry_points

    try:
        eps = [ep.name for ep in entry_points(group="vidbench.models")]
    except Exception:
        eps = []
    return list(dict.fromkeys([*BUILTIN_MODELS, *eps]))


def get_model(spec: str) -> Adapter:
    """An adapter instance from a spec string such as ``dit:ckpt.safetensors``."""
    scheme, target, options = parse_spec(spec)
    if scheme in BUILTIN_MODELS:
        module, _, attr = BUILTIN_MODELS[scheme].partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise UserError(f"model adapter {scheme!r} is not available in this build ({e})"
                            ) from None
    else:
        from importlib.metadata import entry_points

        eps = {ep.name: ep for ep in entry_points(group="vidbench.models")}
        if scheme not in eps:
            raise UserError(f"unknown model scheme {scheme!r}; known: "
                            f"{', '.join(model_schemes())}")
        cls = eps[scheme].load()
    return cls(target, **options)
