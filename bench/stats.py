"""Aggregation with honest uncertainty: means with seeded percentile-bootstrap 95% CIs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_BOOTSTRAP = 2000


@dataclass
class Aggregate:
    """One set-level number: ``value`` with its 95% CI, ``n`` videos used, and details."""

    value: float
    ci95: tuple[float, float]
    n: int
    details: dict = field(default_factory=dict)


def bootstrap_ci(values: np.ndarray, stat: Callable[..., Any] = np.mean, *,
                 n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0, level: float = 0.95
                 ) -> tuple[float, float]:
    """Percentile bootstrap CI of ``stat`` over the first axis of ``values`` (seeded).

    Returns (nan, nan) for fewer than 2 values."""
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    if stat is np.mean and v.ndim == 1:
        boots = v[idx].mean(axis=1)
    else:
        boots = np.array([stat(v[i]) for i in idx])
    lo, hi = np.quantile(boots, [(1 - level) / 2, 1 - (1 - level) / 2])
    return (float(lo), float(hi))


def mean_with_ci(values: Any, *, seed: int = 0, n_boot: int = DEFAULT_BOOTSTRAP) -> Aggregate:
    """Mean of the finite values with a bootstrap CI; NaNs (metric not applicable) are
    excluded and counted in ``details["n_nan"]``."""
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    n_nan = int(len(v) - len(finite))
    if len(finite) == 0:
        return Aggregate(float("nan"), (float("nan"), float("nan")), 0, {"n_nan": n_nan})
    return Aggregate(float(finite.mean()), bootstrap_ci(finite, seed=seed, n_boot=n_boot),
                     int(len(finite)), {"n_nan": n_nan, "std": float(finite.std(ddof=0))})
