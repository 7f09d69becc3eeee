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

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidbench.errors import UserError
from vidbench.fileio import loads_json
from vidbench.results import (  # noqa: F401  (SCHEMA re-exported for readers)
    SCHEMA,
    MetricRecord,
    ResultRecord,
    VideoLine,
    json_number,
    short_repr,
    written_nonfinite,
)

#: result.json larger than this is refused before it is read (a result is a few KB)
MAX_RESULT_BYTES = 64 * 2**20
#: videos.jsonl larger than this is refused before it is read
MAX_VIDEOS_BYTES = 1024 * 2**20


#: one metric of one result: the contract's :class:`vidbench.results.MetricRecord`
MetricEntry = MetricRecord


@dataclass
class VideoRecord:
    """One line of ``videos.jsonl``."""

    video: str
    item: str
    prompt: str
    scores: dict[str, float]
    error: str | None
    #: numeric/boolean fields of ``details`` per metric (e.g. ``{"dynamic_degree":
    #: {"dynamic": 1.0}}``), for metrics whose headline is the mean of such a field
    units: dict[str, dict[str, float]] = field(default_factory=dict)
    #: ``details[metric]["reason"]`` where the metric gave no value (why it did not apply)
    reasons: dict[str, str] = field(default_factory=dict)
    #: metrics whose score was written as a non-finite number rather than null
    nonfinite: set[str] = field(default_factory=set)


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
    #: metrics the run did not measure at all, with the reason (missing weights, ...)
    skipped: dict[str, str] = field(default_factory=dict)

    def unit_source(self, metric: str) -> str | None:
        """Where the per-video unit of ``metric`` whose mean reproduces the reported value
        lives: ``"scores"``, ``"details.KEY"``, or None when no per-video field does (the
        aggregate is not a mean over videos, e.g. a frame-weighted ratio)."""
        e = self.metrics.get(metric)
        if e is None or not self.videos or not math.isfinite(e.value):
            return None
        cands = [e.per_video] if e.per_video else []
        cands += ["scores"]
        keys = sorted({k for rec in self.videos for k in rec.units.get(metric, {})})
        cands += [f"details.{k}" for k in keys]
        for src in dict.fromkeys(cands):
            vals = [v for v in (self._unit(rec, metric, src) for rec in self.videos)
                    if v is not None]
            if vals and abs(math.fsum(vals) / len(vals) - e.value) <= 1e-9 * max(
                    1.0, abs(e.value)):
                return src
        return None

    @staticmethod
    def _unit(rec: VideoRecord, metric: str, src: str) -> float | None:
        if rec.error is not None:
            return None
        v = rec.scores.get(metric, math.nan)
        if not math.isfinite(v):
            return None  # not applicable / failed: not part of the aggregate
        if src == "scores":
            return v
        x = rec.units.get(metric, {}).get(src[len("details."):])
        return x if x is not None and math.isfinite(x) else None

    def coverage_counts(self, metric: str) -> tuple[int, int] | None:
        """(videos with a value, videos asked) for ``metric``: from the entry's counts, else
        from videos.jsonl; None when neither says."""
        e = self.metrics.get(metric)
        if e is None:
            return None
        if e.n_total is not None:
            return e.n, e.n_total
        if self.videos:
            return e.n, max(len(self.videos), e.n + e.n_failed)
        return None

    def na_reasons(self, metric: str) -> dict[str, int]:
        """Why ``metric`` gave no value, counted over videos (``{"dynamic": 12}``)."""
        out: dict[str, int] = {}
        for rec in self.videos or []:
            if rec.error is not None:
                out["video failed to decode"] = out.get("video failed to decode", 0) + 1
            elif not math.isfinite(rec.scores.get(metric, math.nan)):
                r = rec.reasons.get(metric) or "no reason given"
                out[r] = out.get(r, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))

    def per_video_matches(self, metric: str) -> bool:
        """Whether some per-video field (the scores, or a numeric field of the details such
        as dynamic_degree's ``dynamic`` flag) averages to the reported value, so that
        per-video resampling tests the headline number itself."""
        return self.unit_source(metric) is not None

    def per_item(self, metric: str) -> dict[str, float]:
        """Per-video units of ``metric`` (see :meth:`unit_source`) averaged per item (item
        id, or the video path when a record has no item). Empty when there are no
        per-video data, or when no per-video field averages to the reported value (a note
        says so)."""
        if not self.videos:
            return {}
        cache = self.__dict__.setdefault("_per_item", {})
        if metric in cache:
            return dict(cache[metric])
        src = self.unit_source(metric)
        if src is None:
            if any(math.isfinite(rec.scores.get(metric, math.nan)) for rec in self.videos):
                self.notes.append(
                    f"{self.path}: {metric}: no per-video field averages to the reported "
                    "value (the metric aggregates its own way); its value and CI from "
                    "result.json are used instead of per-video resampling")
            cache[metric] = {}
            return {}
        acc: dict[str, list[float]] = {}
        for rec in self.videos:
            v = self._unit(rec, metric, src)
            if v is None:
                continue
            acc.setdefault(rec.item or rec.video, []).append(v)
        cache[metric] = {k: float(math.fsum(vs) / len(vs)) for k, vs in acc.items()}
        return dict(cache[metric])


_num = json_number
_nonfinite = written_nonfinite
_short = short_repr


def parse_result(data: Any, path: str | Path = "<result>") -> Result:
    """Validate a loaded ``result.json`` object through the typed contract
    (:class:`vidbench.results.ResultRecord`, after :func:`~vidbench.results.migrate`);
    errors name ``path`` and the key."""
    p = Path(path)
    rec = ResultRecord.from_json(data, str(p))
    return Result(path=p, schema=rec.schema, model=rec.model, suite=rec.suite,
                  created=rec.created, metrics=rec.metrics, provenance=rec.provenance,
                  errors=rec.errors, raw=data, skipped=rec.skipped)


def _read_text(p: Path, limit: int, what: str) -> str:
    """The text of a regular file no larger than ``limit`` bytes; anything else (a folder, a
    FIFO, a device, too large, not UTF-8, unreadable) is a one-line user error."""
    from vidbench.fileio import regular_file_problem

    problem = regular_file_problem(p, limit=limit)
    if problem:
        raise UserError(f"{problem} ({what})")
    try:
        with open(p, "rb") as f:
            raw = f.read(limit + 1)
    except OSError as e:
        raise UserError(f"{p}: cannot read {what} ({e.strerror or e})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UserError(f"{p}:{line}: not UTF-8 text") from None


def load_videos(path: str | Path) -> tuple[list[VideoRecord], list[str]]:
    """Parse ``videos.jsonl``: (records, notes). Later lines for the same video replace
    earlier ones (a resumed run). A malformed line is an error naming file:line, except a
    truncated final line, which is skipped with a note."""
    p = Path(path)
    lines = _read_text(p, MAX_VIDEOS_BYTES, "videos.jsonl").splitlines()
    notes: list[str] = []
    by_video: dict[str, VideoRecord] = {}
    last = max((i for i, s in enumerate(lines) if s.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        where = f"{p}:{i + 1}"
        try:
            d = loads_json(line, where, lineno=False)
        except UserError:
            if i == last:
                notes.append(f"{where}: skipped a truncated last line (interrupted run?)")
                continue
            raise
        vl = VideoLine.from_json(d, where)
        scores = vl.scores
        clean = {k: _num(v, where) for k, v in scores.items()}
        units: dict[str, dict[str, float]] = {}
        reasons: dict[str, str] = {}
        details = vl.details
        for k, det in details.items():
            u = {}
            for dk, dv in det.items():
                if isinstance(dv, float) or (isinstance(dv, int) and abs(dv) < 2**53):
                    u[str(dk)] = float(dv)
            units[k] = u
            if isinstance(det.get("reason"), str):
                reasons[k] = det["reason"][:200]
        rec = VideoRecord(video=vl.video, item=vl.item, prompt=vl.prompt, scores=clean,
                          error=vl.error,
                          units=units, reasons=reasons,
                          nonfinite={str(k) for k, v in scores.items() if _nonfinite(v)})
        by_video[rec.video] = rec
    return list(by_video.values()), notes


def load_result(path: str | Path, *, videos: bool = True) -> Result:
    """Read ``path`` (a result.json, or a folder holding one) and, when ``videos`` is true,
    the ``videos.jsonl`` beside it if present. Every failure is a one-line user error."""
    p = Path(path)
    if p.is_dir():
        p = p / "result.json"
    if not p.exists():
        raise UserError(f"{p}: no such result file")
    data = loads_json(_read_text(p, MAX_RESULT_BYTES, "result.json"), str(p))
    res = parse_result(data, p)
    vj = p.parent / "videos.jsonl"
    if videos and vj.exists():
        res.videos, res.notes = load_videos(vj)
    return res


def load_results(paths: list[str | Path], *, videos: bool = True) -> list[Result]:
    """Load several results, in a canonical order (model, suite, path) so that the input
    order never matters, and give each a unique display ``label`` (the model name, with
    the suite and then the folder added when two results share it)."""
    if not paths:
        raise UserError("no result files given")
    results = [load_result(p, videos=videos) for p in paths]
    # the same set of files in any order gives the same labels (and so the same table)
    results.sort(key=lambda r: (r.model, r.suite, str(r.path)))
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
