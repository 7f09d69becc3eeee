"""What a suite is: :class:`Suite`, a named list of :class:`SuiteItem` (prompt, seed, shape,
metadata). Kept apart from the suite registry (:mod:`vidbench.suites`) so the modules that
build suites (scenarios, bilingual twins, VBench's prompt file) import the types without
importing the registry that finds them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class SuiteItem:
    """One thing to generate. ``meta`` travels into the manifest (physics scenarios keep
    their parameters there so ``physics_scenario`` can score any model's video of the item).
    ``conditioning`` returns the first K frames (K, H, W, 3) uint8 for image/video-conditioned
    generators, or None."""

    item: str
    prompt: str
    seed: int = 0
    num_frames: int = 16
    height: int = 64
    width: int = 64
    fps: float = 8.0
    meta: dict = field(default_factory=dict)
    conditioning: Callable[[], np.ndarray | None] | None = field(default=None, repr=False,
                                                                 compare=False)
    #: BCP-47 language of ``prompt`` (``en``, ``zh``) in a multi-language suite; None in a
    #: single-language suite (English), whose items and manifests stay as they were.
    lang: str | None = None
    #: Key shared by the same request in several languages (the English item's id).
    pair: str | None = None

    def conditioning_frames(self) -> np.ndarray | None:
        return self.conditioning() if self.conditioning is not None else None

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("conditioning", None)
        for k in ("lang", "pair"):  # absent unless set: English-only suites keep their digest
            if d.get(k) is None:
                d.pop(k, None)
        return d


@dataclass
class Suite:
    name: str
    description: str
    items: list[SuiteItem]
    version: str = "1"
    #: Metrics this suite is meant to be scored with (the runner's default selection).
    metrics: tuple[str, ...] = ()

    def digest(self) -> str:
        blob = json.dumps([i.to_json() for i in self.items], sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
