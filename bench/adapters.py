"""The generator contract. An :class:`Adapter` turns :class:`~vidbench.suites.SuiteItem`s
into videos; :func:`get_model` parses a spec string (``scheme:target?key=value&...``) into
one. Adapters, the built-ins in :mod:`vidbench.models` included, are found through the
``vidbench.models`` entry-point group (:mod:`vidbench.plugins`) and imported on first use; a
``VIDBENCH_PLUGINS`` module registers with :func:`register_model`. The generation loop that
writes videos and the manifest is :func:`vidbench.generate.generate`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import numpy as np

from vidbench.errors import UserError
from vidbench.plugins import MODELS
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


def parse_spec(spec: str) -> tuple[str, str, dict[str, str]]:
    """``"scheme:target?k=v&k2=v2"`` -> (scheme, target, options). A bare ``scheme`` has an
    empty target. Windows-free: the first colon separates scheme and target."""
    body, _, query = spec.partition("?")
    scheme, _, target = body.partition(":")
    if not scheme:
        raise UserError(f"bad model spec {spec!r}: expected SCHEME[:TARGET][?k=v&...]")
    return scheme, target, dict(parse_qsl(query, keep_blank_values=True))


def register_model(cls: type[Adapter]) -> type[Adapter]:
    """Class decorator for a module named in ``VIDBENCH_PLUGINS`` (or a test): make ``cls``
    available as ``--model {cls.scheme}:...`` in this process."""
    if not cls.scheme:
        raise ValueError(f"{cls.__name__} has no scheme")
    return MODELS.register(cls.scheme, cls)


def model_schemes() -> list[str]:
    """Every known model scheme (entry points of ``vidbench.models``, vidbench's own first,
    then schemes registered by a ``VIDBENCH_PLUGINS`` module)."""
    return MODELS.names()


def get_model(spec: str) -> Adapter:
    """An adapter instance from a spec string such as ``dit:ckpt.safetensors``."""
    scheme, target, options = parse_spec(spec)
    cls = MODELS.load(scheme)
    return cls(target, **options)
