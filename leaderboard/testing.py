"""Write synthetic ``result.json`` + ``videos.jsonl`` pairs, for tests and examples.

The files are built through the typed contract the runner writes with
(:class:`vidbench.results.MetricRecord`, :class:`~vidbench.results.ResultRecord`,
:class:`~vidbench.results.VideoLine`), so fixtures cannot drift from the runner; aggregates are
computed from the per-video values with :func:`vidbench.stats.mean_with_ci`, as the runner
does, so a test can state the true per-video values and know the right answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from vidbench.results import SCHEMA, MetricRecord, ResultRecord, VideoLine
from vidbench.stats import mean_with_ci


def metric_entry(values: np.ndarray | list[float] | None = None, *, value: float | None = None,
                 ci95: tuple[float, float] | None = None, higher_is_better: bool = True,
                 protocol: str = "p0", weights: dict | None = None, comparable: bool = True,
                 mode: str = "default", version: str = "1", n_failed: int = 0,
                 n: int | None = None, n_not_applicable: int | None = None,
                 per_video: str | None = None) -> dict:
    """One ``metrics`` entry; from per-video ``values`` (mean + bootstrap CI over the finite
    ones; NaN = not applicable, counted in ``n_not_applicable``) or from an explicit
    ``value``/``ci95`` (set-level metrics; ``n`` defaults to 1, or 0 without a value)."""
    if values is not None:
        agg = mean_with_ci(np.asarray(values, dtype=float))
        value, ci95, n = agg.value, agg.ci95, agg.n
        if n_not_applicable is None:
            n_not_applicable = int(agg.details.get("n_nan", 0))
    elif n is None:
        n = 0 if value is None or value != value else 1
    ci95 = ci95 if ci95 is not None else (float("nan"), float("nan"))
    nan = float("nan")
    rec = MetricRecord(name="", value=nan if value is None else float(value),
                       ci95=(float(ci95[0]), float(ci95[1])), n=int(n), n_failed=n_failed,
                       mode=mode, version=version, higher_is_better=higher_is_better,
                       comparable=comparable, protocol=protocol, weights=dict(weights or {}),
                       n_not_applicable=(None if n_not_applicable is None
                                         else int(n_not_applicable)), per_video=per_video)
    return rec.to_json()


def _nan_none(x: Any) -> Any:
    """NaN -> null (how the runner writes "no value"); infinities are kept as written."""
    return None if x is None or (isinstance(x, float) and x != x) else float(x)


def write_result(folder: str | Path, model: str, metrics: dict[str, dict],
                 per_video: dict[str, list[float]] | None = None, *,
                 items: list[str] | None = None, suite: str = "test-suite",
                 errors: list | None = None, videos: bool = True,
                 details: dict[str, list[dict]] | None = None,
                 skipped: dict[str, str] | None = None) -> Path:
    """Write ``folder/result.json`` (and ``folder/videos.jsonl`` from ``per_video``:
    metric -> values, one per item, with ``details``: metric -> one dict per item).
    Returns the result.json path."""
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    res = {"schema": SCHEMA, "model": model, "suite": suite,
           "created": "2026-01-01T00:00:00Z", "metrics": metrics,
           "provenance": {"vidbench": "test", "seeds": [0]}, "errors": list(errors or []),
           "skipped": dict(skipped or {})}
    # through the typed contract: a fixture the reader would refuse cannot be written
    res = ResultRecord.from_json(res, str(d / "result.json")).to_json()
    p = d / "result.json"
    p.write_text(json.dumps(res, indent=1), encoding="utf-8")
    if per_video and videos:
        n = max(len(v) for v in per_video.values())
        items = items or [f"item{i:03d}" for i in range(n)]
        with open(d / "videos.jsonl", "w", encoding="utf-8") as f:
            for i, it in enumerate(items):
                scores = {m: _nan_none(float(v[i])) if i < len(v) else None
                          for m, v in per_video.items()}
                det = {m: ds[i] for m, ds in (details or {}).items() if i < len(ds)}
                line = VideoLine(video=f"{it}.mp4", item=it, prompt=f"prompt {it}",
                                 scores=scores, details=det)
                f.write(json.dumps(line.to_json()) + "\n")
    return p


def write_from_values(folder: str | Path, model: str, per_video: dict[str, list[float]], *,
                      higher_is_better: dict[str, bool] | None = None,
                      protocol: dict[str, str] | None = None, comparable: bool = True,
                      items: list[str] | None = None, suite: str = "test-suite",
                      videos: bool = True, weights: dict[str, dict] | None = None) -> Path:
    """Shortcut: aggregates computed from ``per_video`` and both files written."""
    hib = higher_is_better or {}
    metrics = {m: metric_entry(v, higher_is_better=hib.get(m, True),
                               protocol=(protocol or {}).get(m, f"proto-{m}"),
                               comparable=comparable, weights=(weights or {}).get(m))
               for m, v in per_video.items()}
    return write_result(folder, model, metrics, per_video, items=items, suite=suite,
                        videos=videos)
