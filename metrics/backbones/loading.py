"""How every learned backbone is loaded: pretrained weights resolved (or refused) before
anything is built, official checkpoints loaded strictly with a one-line mismatch report,
parameters frozen, and one instance per process and configuration."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch
from torch import nn

from vidbench.errors import UserError

B = TypeVar("B")


def resolve_pretrained(family: str, arch: str, weights: str | None,
                       random_weights: bool) -> Path | None:
    """The local file of ``weights`` (None with ``random_weights``); an architecture with no
    pretrained weights is refused unless ``random_weights``."""
    if random_weights:
        return None
    if weights is None:
        raise UserError(f"{family} architecture {arch!r} has no pretrained weights; use "
                        "random_weights=True")
    from vidbench.weights import resolve

    return resolve(weights)


def load_strict(model: nn.Module, path: Path, what: str,
                fill: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None
                ) -> None:
    """Load the checkpoint at ``path`` into ``model`` with ``strict=True``; a mismatch is a
    :class:`UserError` naming ``what`` and the missing / unexpected / mis-shaped keys.
    ``fill(found, expected)`` may complete the found state dict first (e.g. a fixed table
    the original does not store)."""
    from vidbench.weights import load_state_dict, state_dict_mismatch

    found = load_state_dict(path)
    expected = model.state_dict()
    if fill is not None:
        found = fill(found, expected)
    problem = state_dict_mismatch(expected, found)
    if problem:
        raise UserError(f"{path}: not a {what} checkpoint: {problem}")
    model.load_state_dict(found, strict=True)


def frozen(model: nn.Module, device: str, dtype: torch.dtype | None = None) -> nn.Module:
    """``model`` on ``device`` (and ``dtype``), in eval mode, without gradients."""
    model = model.to(device=device, dtype=dtype) if dtype is not None else model.to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


class BackboneCache(Generic[B]):
    """One backbone per process and key (arch, random_weights, device, ...), built once
    under a lock."""

    def __init__(self) -> None:
        self._items: dict[Hashable, B] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], B]) -> B:
        with self._lock:
            if key not in self._items:
                self._items[key] = make()
            return self._items[key]
