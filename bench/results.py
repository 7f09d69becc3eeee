"""Result files.

- ``videos.jsonl``: one line per video, appended (and fsynced) as each video finishes:
  ``{"video", "item", "prompt", "scores": {metric: float|null}, "details": {metric: {...}},
  "error": null|"message"}``. A killed run leaves at most a torn last line, which
  :func:`read_video_records` drops, so a re-run resumes from the videos that finished.
- ``result.json``: ``{"schema": "vidbench.result/1", "model", "suite", "created",
  "metrics": {...}, "provenance": {...}, "errors": [...], "notes": [...],
  "skipped": {metric: reason}}``, written atomically (temp file + rename). Each metric entry
  carries ``value``, ``ci95``, ``n`` (videos with a value), ``n_failed``,
  ``n_not_applicable`` (NaN by design, e.g. "static"), ``coverage`` =
  ``n / (n + n_failed + n_not_applicable)`` and ``per_video`` (which per-video field
  averages to ``value``: ``"scores"``, ``"details.KEY"`` or null).

``SCHEMA`` here is the one definition; the leaderboard and the test fixtures import it.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vidbench import __version__
from vidbench.manifest import atomic_write_bytes

SCHEMA = "vidbench.result/1"


def clean_json(x: Any) -> Any:
    """JSON-safe copy: NaN/inf floats -> None, numpy scalars/arrays -> Python values."""
    if isinstance(x, dict):
        return {str(k): clean_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean_json(v) for v in x]
    if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):
        return clean_json(x.tolist())
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, (str, int, bool)) or x is None:
        return x
    return str(x)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    p = Path(path)
    data = json.dumps(clean_json(obj), indent=2, ensure_ascii=False, sort_keys=False)
    atomic_write_bytes(p, (data + "\n").encode("utf-8"))
    return p


def read_video_records(path: str | os.PathLike) -> list[dict]:
    """Records of a videos.jsonl; a torn (unparseable) last line from a killed run is
    ignored, a bad line elsewhere is reported."""
    p = Path(path)
    if not p.is_file():
        return []
    lines = p.read_bytes().split(b"\n")
    out = []
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            out.append(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError):
            if any(ln.strip() for ln in lines[i + 1:]):
                raise ValueError(f"{p}:{i + 1}: corrupt record in the middle of the file"
                                 ) from None
    return out


def per_video_unit(values: list[float], details: list[dict], value: float) -> str | None:
    """Which per-video field averages (over the videos with a finite score) to the
    aggregate ``value``: ``"scores"``, ``"details.KEY"`` (e.g. ``details.dynamic`` for
    dynamic_degree, whose headline is the fraction of dynamic videos), or None when none
    does (e.g. a frame-weighted ratio). Written into result.json as ``per_video`` so the
    regression gate resamples the unit the headline is made of."""
    if not math.isfinite(value):
        return None
    ok = [i for i, v in enumerate(values) if math.isfinite(v)]
    if not ok:
        return None

    def same(xs: list[float]) -> bool:
        return len(xs) == len(ok) and abs(math.fsum(xs) / len(xs) - value) <= 1e-9 * max(
            1.0, abs(value))

    if same([values[i] for i in ok]):
        return "scores"
    keys = sorted({k for i in ok for k, x in (details[i] or {}).items()
                   if isinstance(x, (bool, int, float))})
    for k in keys:
        xs = [(details[i] or {}).get(k) for i in ok]
        if all(isinstance(x, (bool, int, float)) and math.isfinite(float(x)) for x in xs):
            if same([float(x) for x in xs]):
                return f"details.{k}"
    return None


def skipped_from_notes(notes: list[str]) -> dict[str, str]:
    """``{metric: reason}`` from the runner's ``"NAME: skipped, REASON"`` notes."""
    out: dict[str, str] = {}
    for n in notes:
        name, sep, why = n.partition(": skipped, ")
        if sep and name and " " not in name:
            out[name] = why
    return out


def record_key(rec: dict) -> str:
    return f"{rec.get('item', '')}\x00{rec.get('video', '')}"


class VideoLog:
    """Appends per-video records to a jsonl file, one fsynced line each."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_torn_tail()

    def _drop_torn_tail(self) -> None:
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data[: data.rfind(b"\n") + 1]
            atomic_write_bytes(self.path, keep)

    def append(self, rec: dict) -> None:
        line = json.dumps(clean_json(rec), ensure_ascii=False)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def base_provenance(device: str = "cpu", world_size: int = 1) -> dict:
    import numpy
    import torch

    return {"vidbench": __version__, "git_commit": git_commit(), "python":
            platform.python_version(), "platform": platform.platform(), "torch":
            torch.__version__, "numpy": numpy.__version__, "device": device,
            "world_size": world_size}


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
