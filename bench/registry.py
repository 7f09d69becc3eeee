"""Metric registry and the contracts a metric implements.

A **per-video metric** declares the :class:`~vidbench.video.ViewSpec` it needs and maps a
:class:`VideoContext` (the decoded clip, prompt and metadata of one video) to a
:class:`Score`. A **set metric** (the FVD family) maps each video to a feature vector and a
generated and a reference feature set to one :class:`~vidbench.stats.Aggregate`.

The runner decodes each video once, builds one :class:`VideoContext`, and hands it to every
selected metric; ``ctx.view(spec)`` and ``ctx.memo(key, fn)`` are memoised per video, so two
metrics that want the same view or the same backbone features share one computation.

Metrics, the built-ins included, are found through the ``vidbench.metrics`` entry-point
group (:mod:`vidbench.plugins`) and imported on first use; a ``VIDBENCH_PLUGINS`` module
registers with :func:`register_metric`.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from vidbench.errors import UserError
from vidbench.plugins import DISTRIBUTION, METRICS
from vidbench.stats import Aggregate, mean_with_ci
from vidbench.video import Clip, View, ViewSpec

MODES = ("default", "vbench")


@dataclass
class Score:
    """One metric's result for one video: ``value`` (NaN when the metric does not apply,
    with ``details["reason"]``) and a JSON-able ``details`` dict."""

    value: float
    details: dict = field(default_factory=dict)

    @classmethod
    def not_applicable(cls, reason: str, **details: Any) -> Score:
        return cls(float("nan"), {"reason": reason, **details})


class VideoContext:
    """Everything a metric may look at for one video, decoded once.

    ``clip``: the decoded :class:`Clip`; ``prompt``, ``item``, ``video`` (manifest-relative
    path), ``meta`` (the manifest's metadata, e.g. physics scenario parameters), ``device``.
    """

    def __init__(self, clip: Clip, *, prompt: str = "", item: str = "", video: str = "",
                 meta: dict | None = None, device: str = "cpu") -> None:
        self.clip = clip
        self.prompt = prompt
        self.item = item
        self.video = video
        self.meta = meta or {}
        self.device = device
        self._views: dict[ViewSpec, View] = {}
        self._memo: dict[Any, Any] = {}

    def view(self, spec: ViewSpec) -> View:
        """The clip resampled to ``spec``; computed once per spec per video."""
        if spec not in self._views:
            self._views[spec] = self.clip.view(spec)
        return self._views[spec]

    def memo(self, key: Any, fn: Callable[[], Any]) -> Any:
        """``fn()`` computed once per video per ``key``: share backbone features between
        metrics by using the same key (e.g. ``("clip-vit-b-32", view_spec)``)."""
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]


class Metric:
    """Base of every metric. Subclasses set the class attributes and implement the kind's
    methods. Constructor arguments: ``mode`` ("default" or "vbench"), ``device``,
    ``random_weights`` (build learned backbones with a fixed-seed random initialisation
    instead of loading pretrained weights; such results are marked not comparable), and
    metric-specific options."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "per_video"  # or "set"
    version: ClassVar[str] = "1"
    higher_is_better: ClassVar[bool] = True
    requires_prompt: ClassVar[bool] = False
    #: Names (in the weights manifest) of the pretrained files this metric needs in
    #: ``mode``; empty when it runs weight-free. Override :meth:`required_weights` when it
    #: depends on mode or options.
    weights: ClassVar[tuple[str, ...]] = ()
    #: A manifest ``meta`` key this metric needs (e.g. "physics"): the runner's default
    #: selection skips the metric, with a note, when no video carries it.
    needs_meta: ClassVar[str | None] = None

    def __init__(self, mode: str = "default", *, device: str = "cpu",
                 random_weights: bool = False, **options: Any) -> None:
        if mode not in MODES:
            raise UserError(f"metric {self.name}: unknown mode {mode!r}; use one of {MODES}")
        self.mode = mode
        self.device = device
        self.random_weights = random_weights
        self.options = options

    def required_weights(self) -> tuple[str, ...]:
        return tuple(self.weights)

    @classmethod
    def weights_used(cls) -> tuple[str, ...]:
        """Every weights name this metric may load, in any mode or with any option (the
        "used by" column of ``vidbench weights list`` is derived from it). Default: what a
        default instance requires in each mode; override when an option picks other files."""
        out: dict[str, None] = {}
        for mode in MODES:
            out.update(dict.fromkeys(cls(mode=mode, random_weights=True).required_weights()))
        return tuple(out)

    @property
    def comparable(self) -> bool:
        """False when a learned backbone was randomly initialised (tests, dry runs)."""
        return not (self.random_weights and self.required_weights())

    def protocol(self) -> dict:
        """A JSON-able description of everything that changes the number: name, mode,
        version, view, options. Hashed into result.json; different hashes never share a
        leaderboard column."""
        spec = self.view_spec() if self.kind == "per_video" else None
        return {"metric": self.name, "mode": self.mode, "version": self.version,
                "view": _spec_dict(spec), "options": _jsonable(self.options),
                "weights": list(self.required_weights()),
                "random_weights": bool(self.random_weights and self.required_weights())}

    def protocol_hash(self) -> str:
        blob = json.dumps(self.protocol(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def view_spec(self) -> ViewSpec:
        raise NotImplementedError


class PerVideoMetric(Metric):
    kind: ClassVar[str] = "per_video"

    def view_spec(self) -> ViewSpec:
        """The view this metric scores (fps, frames, size, resize)."""
        raise NotImplementedError

    def score(self, ctx: VideoContext) -> Score:
        """Score one video. Use ``ctx.view(self.view_spec())``."""
        raise NotImplementedError

    def aggregate(self, values: np.ndarray, details: list[dict], *, seed: int = 0
                  ) -> Aggregate:
        """Set-level value from per-video values (NaN = not applicable). Default: mean of
        the finite values with a seeded bootstrap CI."""
        return mean_with_ci(values, seed=seed)


class SetMetric(Metric):
    kind: ClassVar[str] = "set"
    higher_is_better: ClassVar[bool] = False

    def features(self, ctx: VideoContext) -> np.ndarray:
        """Per-video feature vector (d,) (or (k, d) for k clips of one video)."""
        raise NotImplementedError

    def compute(self, generated: np.ndarray, reference: np.ndarray, *, seed: int = 0
                ) -> Aggregate:
        """One number from (n, d) generated and (m, d) reference features."""
        raise NotImplementedError


def _spec_dict(spec: ViewSpec | None) -> dict | None:
    if spec is None:
        return None
    d = dict(spec.__dict__)
    if isinstance(d.get("size"), tuple):
        d["size"] = list(d["size"])
    return d


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in sorted(x.items())}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return repr(x)


# ----------------------------------------------------------------------------- registry

def register_metric(cls: type[Metric]) -> type[Metric]:
    """Class decorator for a module named in ``VIDBENCH_PLUGINS`` (or a test): make ``cls``
    available as ``get_metric(cls.name)`` in this process. Packaged metrics, the built-ins
    included, use a ``vidbench.metrics`` entry point instead (:mod:`vidbench.plugins`)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    return METRICS.register(cls.name, cls)


def metric_names() -> list[str]:
    """Every known metric name: entry points (vidbench's own first), then registered ones."""
    return METRICS.names()


def metric_class(name: str) -> type[Metric]:
    return METRICS.load(name)


def _first_sentence(doc: str | None) -> str:
    """The first sentence of a docstring's first paragraph, on one line, without a leading
    ``name``: label and without a trailing "(see ...)" pointer."""
    para = " ".join((doc or "").strip().split("\n\n", 1)[0].split())
    para = re.sub(r"^``[\w.]+``:\s*", "", para)
    m = re.search(r"(?<=[.!?])\s", para)
    text = para[: m.start()] if m else para
    text = re.sub(r"\s*\([^()]*\b(?:see|module doc)\b[^()]*\)?", "", text).rstrip(" ,;:")
    return (text[:1].upper() + text[1:]).rstrip(".") if text else ""


def _static_class_info(target: str, name: str) -> tuple[str, str] | None:
    """(kind, one-line summary) of a built-in metric read from its module's source with
    :mod:`ast`, without importing it (listing metrics must not import torch). The summary is
    the first sentence of the module docstring when the module is the metric's own (it starts
    with ````name``:``), else of the class docstring; the kind follows the class's bases
    inside the module (``SetMetric`` -> ``set``)."""
    import ast
    import importlib.util

    module, _, cls_name = target.partition(":")
    try:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.origin:
            return None
        with open(spec.origin, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (ImportError, OSError, SyntaxError, ValueError):
        return None
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}

    def kind_of(cls_node: ast.ClassDef, depth: int = 0) -> str:
        for b in cls_node.bases:
            bname = b.id if isinstance(b, ast.Name) else getattr(b, "attr", "")
            if bname == "SetMetric":
                return "set"
            if bname in classes and depth < 8 and kind_of(classes[bname], depth + 1) == "set":
                return "set"
        return "per_video"

    node = classes.get(cls_name)
    if node is None:
        return None
    mod_doc = ast.get_docstring(tree) or ""
    own_module = mod_doc.lstrip().startswith(f"``{name}``")
    doc = mod_doc if own_module else (ast.get_docstring(node) or mod_doc)
    return kind_of(node), _first_sentence(doc)


def metric_info(name: str) -> tuple[str, str]:
    """(kind, one-line summary) of metric ``name``; built-ins are read without importing."""
    target = METRICS.target(name)
    if target is not None and target[1] == DISTRIBUTION:
        info = _static_class_info(target[0], name)
        if info is not None:
            return info
    cls = metric_class(name)
    return cls.kind, _first_sentence(cls.__doc__ or importlib.import_module(
        cls.__module__).__doc__)


def get_metric(name: str, mode: str = "default", **kwargs: Any) -> Metric:
    """An instance of metric ``name`` in ``mode`` (see :class:`Metric` for kwargs)."""
    return metric_class(name)(mode=mode, **kwargs)
