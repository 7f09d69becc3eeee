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
from vidbench.results import SCHEMA

#: result.json larger than this is refused before it is read (a result is a few KB)
MAX_RESULT_BYTES = 64 * 2**20
#: videos.jsonl larger than this is refused before it is read
MAX_VIDEOS_BYTES = 1024 * 2**20


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
    #: videos the metric did not apply to (NaN by design, e.g. "static"), when known
    n_not_applicable: int | None = None
    #: the value (or a CI bound) was written as a non-finite number (NaN/Infinity), which
    #: no honest aggregate is: ``null`` is how "no value" is written
    nonfinite: bool = False
    #: where the per-video unit whose mean is ``value`` lives: ``"scores"`` or
    #: ``"details.KEY"`` (e.g. ``details.dynamic`` for dynamic_degree); None = unknown
    per_video: str | None = None
    #: for a total: the protocol/weights/comparable of each dimension it is built from
    parts: dict[str, dict] | None = None

    @property
    def n_total(self) -> int | None:
        """Videos the metric was asked to score (n + failed + not applicable), if known."""
        if self.n_not_applicable is None:
            return None
        return self.n + self.n_failed + self.n_not_applicable

    @property
    def coverage(self) -> float:
        """Share of the videos the metric produced a value for, in [0, 1] (NaN if unknown)."""
        t = self.n_total
        return self.n / t if t else math.nan

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


def _num(x: Any, where: str, *, allow_none: bool = True) -> float:
    """A float from a JSON number (``null`` -> NaN). Integers too large for a float and
    strings that are not numbers are user errors naming ``where``."""
    if x is None and allow_none:
        return float("nan")
    if isinstance(x, bool) or not isinstance(x, (int, float, str)):
        raise UserError(f"{where}: expected a number, got {_short(x)}")
    try:
        return float(x)  # "NaN"/"Infinity" written as strings by some tools
    except (ValueError, OverflowError):
        raise UserError(f"{where}: expected a number within float range, got "
                        f"{_short(x)}") from None


def _nonfinite(x: Any) -> bool:
    """A number that was *written* non-finite (NaN, Infinity, 1e999), as opposed to null."""
    if x is None or isinstance(x, bool):
        return False
    try:
        return not math.isfinite(float(x))
    except (ValueError, OverflowError, TypeError):
        return False


def _short(x: Any, n: int = 60) -> str:
    """``repr`` cut to ``n`` characters, for error messages about hostile values."""
    if isinstance(x, int) and not isinstance(x, bool) and abs(x) > 10**n:
        return f"an integer of {len(str(abs(x))) if abs(x) < 10**4000 else '4000+'} digits"
    try:
        r = repr(x)
    except (ValueError, RecursionError):
        r = f"<{type(x).__name__}>"
    return r if len(r) <= n else r[: n - 1] + "…"


def _count(m: dict, key: str, where: str, default: int | None = 0) -> int | None:
    v = m.get(key, default)
    if v is None and default is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v > 10**12:
        raise UserError(f"{where}.{key}: expected a non-negative integer, got {_short(v)}")
    return v


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
        raise UserError(f"{where}.ci95: expected [lo, hi], got {_short(ci)}")
    lo, hi = (_num(c, f"{where}.ci95") for c in ci)
    nonfinite = _nonfinite(m["value"]) or any(_nonfinite(c) for c in ci)
    if not isinstance(m["higher_is_better"], bool):
        raise UserError(f"{where}.higher_is_better: expected true/false, got "
                        f"{_short(m['higher_is_better'])}")
    n = _count(m, "n", where)
    n_failed = _count(m, "n_failed", where)
    n_na = _count(m, "n_not_applicable", where, None)
    if n_na is None:  # older results: the aggregate's own count of NaN (not applicable)
        det = m.get("details")
        nn = det.get("n_nan") if isinstance(det, dict) else None
        if isinstance(nn, int) and not isinstance(nn, bool) and 0 <= nn <= 10**12:
            n_na = nn
    per_video = m.get("per_video")
    if per_video is not None and not (isinstance(per_video, str) and (
            per_video == "scores" or per_video.startswith("details."))):
        raise UserError(f"{where}.per_video: expected \"scores\" or \"details.KEY\", got "
                        f"{_short(per_video)}")
    comparable = m.get("comparable", True)
    if not isinstance(comparable, bool):
        raise UserError(f"{where}.comparable: expected true/false, got {_short(comparable)}")
    protocol = m.get("protocol")
    if protocol is None:
        protocol = (prov.get("protocol") or {}).get(name) if isinstance(
            prov.get("protocol"), dict) else None
    if isinstance(protocol, dict):  # a full protocol description: hash it canonically
        import hashlib

        protocol = hashlib.sha256(json.dumps(protocol, sort_keys=True).encode()).hexdigest()[:16]
    if protocol is not None and not isinstance(protocol, str):
        raise UserError(f"{where}.protocol: expected a hash string, got {_short(protocol)}")
    weights = m.get("weights")
    if weights is None:
        pw = prov.get("weights")
        weights = pw.get(name) if isinstance(pw, dict) else None
    weights = weights or {}
    if not isinstance(weights, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in weights.items()):
        raise UserError(f"{where}.weights: expected {{name: sha256 or null}}, got "
                        f"{_short(weights)}")
    return MetricEntry(name=name, value=_num(m["value"], f"{where}.value"), ci95=(lo, hi),
                       n=n, n_failed=n_failed, mode=str(m.get("mode", "default")),
                       version=str(m.get("version", "")),
                       higher_is_better=m["higher_is_better"], comparable=comparable,
                       protocol=protocol, weights=dict(weights), n_not_applicable=n_na,
                       nonfinite=nonfinite, per_video=per_video)


MAX_NAME = 200


def _name(x: Any, where: str) -> str:
    s = str(x)
    if len(s) > MAX_NAME:
        raise UserError(f"{where}: name longer than {MAX_NAME} characters ({_short(s)})")
    return s


def parse_result(data: Any, path: str | Path = "<result>") -> Result:
    """Validate a loaded ``result.json`` object; errors name ``path`` and the key."""
    p = Path(path)
    if not isinstance(data, dict):
        raise UserError(f"{p}: expected a JSON object at top level, got {type(data).__name__}")
    schema = data.get("schema")
    if schema != SCHEMA:
        raise UserError(f"{p}: schema is {_short(schema)}, expected {SCHEMA!r} (is this a "
                        "vidbench result.json?)")
    for key in ("model", "metrics"):
        if key not in data:
            raise UserError(f"{p}: missing required key {key!r}")
    if not isinstance(data["metrics"], dict):
        raise UserError(f"{p}: metrics: expected an object {{name: {{...}}}}")
    prov = data.get("provenance") or {}
    if not isinstance(prov, dict):
        raise UserError(f"{p}: provenance: expected an object")
    metrics = {_name(name, f"{p}: metrics"): _metric_entry(name, m, prov,
                                                             f"{p}: metrics.{name}")
               for name, m in data["metrics"].items()}
    errors = data.get("errors") or []
    if not isinstance(errors, list):
        raise UserError(f"{p}: errors: expected a list")
    skipped = data.get("skipped")
    if skipped is None:  # older results: "NAME: skipped, REASON" in notes
        skipped = {}
        for n in data.get("notes") or []:
            if isinstance(n, str) and ": skipped, " in n:
                k, _, why = n.partition(": skipped, ")
                if k and k not in metrics:
                    skipped[k] = why
    if not isinstance(skipped, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in skipped.items()):
        raise UserError(f"{p}: skipped: expected {{metric: reason}}")
    return Result(path=p, schema=schema, model=_name(data["model"], f"{p}: model"),
                  suite=_name(data.get("suite", ""), f"{p}: suite"),
                  created=str(data.get("created", ""))[:64],
                  metrics=metrics, provenance=prov, errors=errors, raw=data,
                  skipped={_name(k, f"{p}: skipped"): v[:500] for k, v in skipped.items()})


def _read_text(p: Path, limit: int, what: str) -> str:
    """The text of a regular file no larger than ``limit`` bytes; anything else (a folder, a
    FIFO, a device, too large, not UTF-8, unreadable) is a one-line user error."""
    import stat

    try:
        st = p.stat()
    except OSError as e:
        raise UserError(f"{p}: cannot read {what} ({e.strerror or e})") from None
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"{p}: {what} is not a regular file")
    if st.st_size > limit:
        raise UserError(f"{p}: {what} is {st.st_size} bytes, over the {limit}-byte limit")
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


def _json(text: str, where: str, *, lineno: bool = True) -> Any:
    """``json.loads`` whose failures (syntax, nesting too deep, integers over Python's
    digit limit) are one-line user errors naming ``where``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        at = f"{where}:{e.lineno}" if lineno else where
        raise UserError(f"{at}: not valid JSON ({e.msg})") from None
    except RecursionError:
        raise UserError(f"{where}: JSON nested too deeply") from None
    except ValueError as e:  # e.g. "Exceeds the limit (4300 digits) for integer string"
        raise UserError(f"{where}: unreadable JSON number ({str(e)[:80]})") from None


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
            d = _json(line, where, lineno=False)
        except UserError:
            if i == last:
                notes.append(f"{where}: skipped a truncated last line (interrupted run?)")
                continue
            raise
        if not isinstance(d, dict) or "video" not in d:
            raise UserError(f"{where}: expected an object with a 'video' key")
        scores = d.get("scores") or {}
        if not isinstance(scores, dict):
            raise UserError(f"{where}: scores: expected {{metric: number or null}}")
        clean = {str(k): _num(v, f"{where}: scores.{_short(k)}") for k, v in scores.items()}
        units: dict[str, dict[str, float]] = {}
        reasons: dict[str, str] = {}
        details = d.get("details") or {}
        if isinstance(details, dict):
            for k, det in details.items():
                if not isinstance(det, dict):
                    continue
                u = {}
                for dk, dv in det.items():
                    if isinstance(dv, float) or (isinstance(dv, int) and abs(dv) < 2**53):
                        u[str(dk)] = float(dv)
                units[str(k)] = u
                if isinstance(det.get("reason"), str):
                    reasons[str(k)] = det["reason"][:200]
        rec = VideoRecord(video=str(d["video"]), item=str(d.get("item") or ""),
                          prompt=str(d.get("prompt") or ""), scores=clean,
                          error=None if d.get("error") is None else str(d["error"]),
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
    data = _json(_read_text(p, MAX_RESULT_BYTES, "result.json"), str(p))
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
