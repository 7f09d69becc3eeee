"""Read and validate ``result.json`` files (and the ``videos.jsonl`` beside them).

Every problem is reported as a :class:`~vidbench.errors.UserError` that names the file and
the offending key (``results/a/result.json: metrics.clip_score.ci95: ...``) or, for
``videos.jsonl``, the file and line number. A truncated *last* line of ``videos.jsonl`` (a
run killed while writing) is skipped with a note instead, because resuming the run rewrites
it; a malformed line anywhere else is an error.

The fields that decide whether two results may share a leaderboard column (or be compared by
the regression gate) are, per metric: ``protocol`` (a hash of everything that changes the
number), ``weights`` (name -> sha256 of each pretrained file, ``null`` when unverified) and
``comparable`` (false for randomly initialised backbones). They are read from the metric's
own entry, falling back to ``provenance["protocol"][name]`` / ``provenance["weights"][name]``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidbench.errors import UserError

SCHEMA = "vidbench.result/1"


@dataclass
class MetricEntry:
    """One metric of one result: the aggregate plus the fields that decide comparability."""

    name: str
    value: float
    ci95: tuple[float, float]
    n: int
    n_failed: int
    mode: str
    version: str
    higher_is_better: bool
    comparable: bool
    protocol: str | None
    weights: dict[str, str | None]

    def fingerprint(self) -> tuple:
        """What must be equal for two entries to be compared: protocol, weights, comparable."""
        return (self.protocol, tuple(sorted(self.weights.items())), self.comparable)


@dataclass
class VideoRecord:
    """One line of ``videos.jsonl``."""

    video: str
    item: str
    prompt: str
    scores: dict[str, float]
    error: str | None


@dataclass
class Result:
    """A validated ``result.json`` with its per-video records (``None`` when the
    ``videos.jsonl`` beside it is absent)."""

    path: Path
    schema: str
    model: str
    suite: str
    created: str
    metrics: dict[str, MetricEntry]
    provenance: dict
    errors: list
    raw: dict
    videos: list[VideoRecord] | None = None
    notes: list[str] = field(default_factory=list)
    label: str = ""

    def per_video_matches(self, metric: str) -> bool:
        """Whether the finite per-video scores of ``metric`` average to the reported value.
        False for metrics that aggregate their own way (e.g. a per-video motion magnitude
        reported as a fraction of dynamic videos): their per-video scores cannot stand in
        for the headline number in a bootstrap."""
        e = self.metrics.get(metric)
        if e is None or not self.videos:
            return False
        vals = [rec.scores[metric] for rec in self.videos
                if math.isfinite(rec.scores.get(metric, math.nan))]
        if not vals or not math.isfinite(e.value):
            return False
        mean = math.fsum(vals) / len(vals)
        return abs(mean - e.value) <= 1e-9 * max(1.0, abs(e.value))

    def per_item(self, metric: str) -> dict[str, float]:
        """Finite per-video values of ``metric`` averaged per item (item id, or the video
        path when a record has no item). Empty when there are no per-video data, or when
        they do not average to the reported value (see :meth:`per_video_matches`; a note
        says so)."""
        if not self.videos:
            return {}
        cache = self.__dict__.setdefault("_per_item", {})
        if metric in cache:
            return dict(cache[metric])
        if not self.per_video_matches(metric):
            if any(math.isfinite(rec.scores.get(metric, math.nan)) for rec in self.videos):
                self.notes.append(
                    f"{self.path}: {metric}: per-video scores do not average to the reported "
                    "value (the metric aggregates its own way); its value and CI from "
                    "result.json are used instead of per-video resampling")
            cache[metric] = {}
            return {}
        acc: dict[str, list[float]] = {}
        for rec in self.videos:
            v = rec.scores.get(metric)
            if v is None or not math.isfinite(v):
                continue
            acc.setdefault(rec.item or rec.video, []).append(v)
        cache[metric] = {k: float(sum(vs) / len(vs)) for k, vs in acc.items()}
        return dict(cache[metric])


def _num(x: Any, where: str, *, allow_none: bool = True) -> float:
    if x is None and allow_none:
        return float("nan")
    if isinstance(x, bool) or not isinstance(x, (int, float, str)):
        raise UserError(f"{where}: expected a number, got {x!r}")
    if isinstance(x, str):  # "NaN"/"Infinity" written as strings by some tools
        try:
            return float(x)
        except ValueError:
            raise UserError(f"{where}: expected a number, got {x!r}") from None
    return float(x)


def _metric_entry(name: str, m: Any, prov: dict, where: str) -> MetricEntry:
    if not isinstance(m, dict):
        raise UserError(f"{where}: expected an object, got {type(m).__name__}")
    for key in ("value", "ci95", "n", "higher_is_better"):
        if key not in m:
            raise UserError(f"{where}: missing required key {key!r}")
    ci = m["ci95"]
    if ci is None:
        ci = [None, None]
    if not isinstance(ci, (list, tuple)) or len(ci) != 2:
        raise UserError(f"{where}.ci95: expected [lo, hi], got {ci!r}")
    lo, hi = (_num(c, f"{where}.ci95") for c in ci)
    if not isinstance(m["higher_is_better"], bool):
        raise UserError(f"{where}.higher_is_better: expected true/false, got "
                        f"{m['higher_is_better']!r}")
    n = m["n"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise UserError(f"{where}.n: expected a non-negative integer, got {n!r}")
    n_failed = m.get("n_failed", 0)
    if isinstance(n_failed, bool) or not isinstance(n_failed, int) or n_failed < 0:
        raise UserError(f"{where}.n_failed: expected a non-negative integer, got {n_failed!r}")
    comparable = m.get("comparable", True)
    if not isinstance(comparable, bool):
        raise UserError(f"{where}.comparable: expected true/false, got {comparable!r}")
    protocol = m.get("protocol")
    if protocol is None:
        protocol = (prov.get("protocol") or {}).get(name) if isinstance(
            prov.get("protocol"), dict) else None
    if isinstance(protocol, dict):  # a full protocol description: hash it canonically
        import hashlib

        protocol = hashlib.sha256(json.dumps(protocol, sort_keys=True).encode()).hexdigest()[:16]
    if protocol is not None and not isinstance(protocol, str):
        raise UserError(f"{where}.protocol: expected a hash string, got {protocol!r}")
    weights = m.get("weights")
    if weights is None:
        pw = prov.get("weights")
        weights = pw.get(name) if isinstance(pw, dict) else None
    weights = weights or {}
    if not isinstance(weights, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in weights.items()):
        raise UserError(f"{where}.weights: expected {{name: sha256 or null}}, got {weights!r}")
    return MetricEntry(name=name, value=_num(m["value"], f"{where}.value"), ci95=(lo, hi),
                       n=n, n_failed=n_failed, mode=str(m.get("mode", "default")),
                       version=str(m.get("version", "")),
                       higher_is_better=m["higher_is_better"], comparable=comparable,
                       protocol=protocol, weights=dict(weights))


def parse_result(data: Any, path: str | Path = "<result>") -> Result:
    """Validate a loaded ``result.json`` object; errors name ``path`` and the key."""
    p = Path(path)
    if not isinstance(data, dict):
        raise UserError(f"{p}: expected a JSON object at top level, got {type(data).__name__}")
    schema = data.get("schema")
    if schema != SCHEMA:
        raise UserError(f"{p}: schema is {schema!r}, expected {SCHEMA!r} (is this a vidbench "
                        "result.json?)")
    for key in ("model", "metrics"):
        if key not in data:
            raise UserError(f"{p}: missing required key {key!r}")
    if not isinstance(data["metrics"], dict):
        raise UserError(f"{p}: metrics: expected an object {{name: {{...}}}}")
    prov = data.get("provenance") or {}
    if not isinstance(prov, dict):
        raise UserError(f"{p}: provenance: expected an object")
    metrics = {name: _metric_entry(name, m, prov, f"{p}: metrics.{name}")
               for name, m in data["metrics"].items()}
    errors = data.get("errors") or []
    if not isinstance(errors, list):
        raise UserError(f"{p}: errors: expected a list")
    return Result(path=p, schema=schema, model=str(data["model"]),
                  suite=str(data.get("suite", "")), created=str(data.get("created", "")),
                  metrics=metrics, provenance=prov, errors=errors, raw=data)


def load_videos(path: str | Path) -> tuple[list[VideoRecord], list[str]]:
    """Parse ``videos.jsonl``: (records, notes). Later lines for the same video replace
    earlier ones (a resumed run). A malformed line is an error naming file:line, except a
    truncated final line, which is skipped with a note."""
    p = Path(path)
    lines = p.read_text(encoding="utf-8").splitlines()
    notes: list[str] = []
    by_video: dict[str, VideoRecord] = {}
    last = max((i for i, s in enumerate(lines) if s.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        where = f"{p}:{i + 1}"
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            if i == last:
                notes.append(f"{where}: skipped a truncated last line (interrupted run?)")
                continue
            raise UserError(f"{where}: not valid JSON ({e.msg})") from None
        if not isinstance(d, dict) or "video" not in d:
            raise UserError(f"{where}: expected an object with a 'video' key")
        scores = d.get("scores") or {}
        if not isinstance(scores, dict):
            raise UserError(f"{where}: scores: expected {{metric: number or null}}")
        clean = {str(k): _num(v, f"{where}: scores.{k}") for k, v in scores.items()}
        rec = VideoRecord(video=str(d["video"]), item=str(d.get("item") or ""),
                          prompt=str(d.get("prompt") or ""), scores=clean,
                          error=None if d.get("error") is None else str(d["error"]))
        by_video[rec.video] = rec
    return list(by_video.values()), notes


def load_result(path: str | Path, *, videos: bool = True) -> Result:
    """Read ``path`` (a result.json, or a folder holding one) and, when ``videos`` is true,
    the ``videos.jsonl`` beside it if present."""
    p = Path(path)
    if p.is_dir():
        p = p / "result.json"
    if not p.exists():
        raise UserError(f"{p}: no such result file")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise UserError(f"{p}:{e.lineno}: not valid JSON ({e.msg})") from None
    except UnicodeDecodeError:
        raise UserError(f"{p}: not a UTF-8 text file") from None
    res = parse_result(data, p)
    vj = p.parent / "videos.jsonl"
    if videos and vj.exists():
        res.videos, res.notes = load_videos(vj)
    return res


def load_results(paths: list[str | Path], *, videos: bool = True) -> list[Result]:
    """Load several results and give each a unique display ``label`` (the model name,
    with the suite and then the folder added when two results share it)."""
    if not paths:
        raise UserError("no result files given")
    results = [load_result(p, videos=videos) for p in paths]
    labels = [r.model for r in results]

    def clashing(labs: list[str]) -> set[str]:
        return {lab for lab in labs if labs.count(lab) > 1}

    dup = clashing(labels)
    labels = [f"{lab} [{r.suite}]" if lab in dup and r.suite else lab
              for lab, r in zip(labels, results, strict=True)]
    dup = clashing(labels)
    labels = [f"{lab} ({r.path.parent.name or r.path.name})" if lab in dup else lab
              for lab, r in zip(labels, results, strict=True)]
    seen: dict[str, int] = {}
    for r, lab in zip(results, labels, strict=True):
        k = seen.get(lab, 0)
        seen[lab] = k + 1
        r.label = lab if k == 0 else f"{lab} #{k + 1}"
    return results
