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
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidbench import __version__
from vidbench.environment import package_versions
from vidbench.errors import UserError
from vidbench.fileio import (  # noqa: F401 (clean_json, now_iso: re-exported for callers)
    append_line,
    atomic_write_bytes,
    atomic_write_json,
    clean_json,
    now_iso,
)

#: The one definition of the result schema: the runner writes it, the leaderboard, the
#: regression gate and the test fixtures read and build results through the dataclasses
#: below (:class:`MetricRecord`, :class:`ResultRecord`, :class:`VideoLine`).
SCHEMA = "vidbench.result/1"
#: schemas :func:`migrate` can read (additive changes keep the version: a reader fills
#: fields an older writer did not write; a breaking change bumps it and adds a migration)
READABLE_SCHEMAS = (SCHEMA,)


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
        append_line(self.path, (line + "\n").encode("utf-8"))


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def base_provenance(device: str = "cpu", world_size: int = 1) -> dict:
    """The run's environment for ``result.json``'s provenance. Imports no torch: its version
    (``torch.__version__``, local label included) is read from its files
    (:func:`vidbench.environment.torch_version`)."""
    import numpy

    from vidbench.environment import torch_version

    return {"vidbench": __version__, "git_commit": git_commit(), "python":
            platform.python_version(), "platform": platform.platform(), "torch":
            torch_version(), "numpy": numpy.__version__, "device": device,
            "world_size": world_size, "packages": package_versions()}


# ------------------------------------------------------------------ the typed contract

def short_repr(x: Any, n: int = 60) -> str:
    """``repr`` cut to ``n`` characters, for error messages about hostile values."""
    if isinstance(x, int) and not isinstance(x, bool) and abs(x) > 10**n:
        return "an integer of more than 60 digits"
    try:
        r = repr(x)
    except (ValueError, RecursionError):
        r = f"<{type(x).__name__}>"
    return r if len(r) <= n else r[: n - 1] + "…"


def json_number(x: Any, where: str, *, allow_none: bool = True) -> float:
    """A float from a JSON number (``null`` -> NaN). Integers beyond float range and
    strings that are not numbers are user errors naming ``where``."""
    if x is None and allow_none:
        return float("nan")
    if isinstance(x, bool) or not isinstance(x, (int, float, str)):
        raise UserError(f"{where}: expected a number, got {short_repr(x)}")
    try:
        return float(x)  # "NaN"/"Infinity" written as strings by some tools
    except (ValueError, OverflowError):
        raise UserError(f"{where}: expected a number within float range, got "
                        f"{short_repr(x)}") from None


def written_nonfinite(x: Any) -> bool:
    """A number that was *written* non-finite (NaN, Infinity, 1e999), as opposed to null."""
    if x is None or isinstance(x, bool):
        return False
    try:
        return not math.isfinite(float(x))
    except (ValueError, OverflowError, TypeError):
        return False


def json_count(m: dict, key: str, where: str, default: int | None = 0) -> int | None:
    v = m.get(key, default)
    if v is None and default is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v > 10**12:
        raise UserError(f"{where}.{key}: expected a non-negative integer, got {short_repr(v)}")
    return v


MAX_NAME = 200


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def sane_text(x: Any) -> str:
    """``str(x)`` with lone surrogates (JSON can spell them, UTF-8 cannot encode them)
    replaced by U+FFFD, so every name can be written to any UTF-8 file."""
    return _SURROGATE.sub("\ufffd", str(x))


def json_name(x: Any, where: str) -> str:
    s = sane_text(x)
    if len(s) > MAX_NAME:
        raise UserError(f"{where}: name longer than {MAX_NAME} characters ({short_repr(s)})")
    return s



def _own_or_provenance(m: dict, prov: dict, key: str, name: str) -> Any:
    """A metric entry's ``key`` (protocol, weights), else what older results kept for that
    metric under ``provenance[key][name]``."""
    v = m.get(key)
    if v is None:
        pv = prov.get(key)
        v = pv.get(name) if isinstance(pv, dict) else None
    return v

def _null(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


@dataclass
class LanguageGap:
    """``metrics.NAME.gap``: value in ``lang`` minus value in ``base`` over ``n_pairs``
    paired items, with a paired bootstrap 95% CI."""

    value: float
    ci95: tuple[float, float]
    n_pairs: int
    lang: str = "zh"
    base: str = "en"

    @classmethod
    def from_json(cls, g: Any, where: str) -> LanguageGap:
        if not isinstance(g, dict) or "value" not in g:
            raise UserError(f"{where}: expected an object with value, ci95, n_pairs")
        ci = g.get("ci95") or [None, None]
        if not isinstance(ci, (list, tuple)) or len(ci) != 2:
            raise UserError(f"{where}.ci95: expected [lo, hi], got {short_repr(ci)}")
        return cls(value=json_number(g["value"], f"{where}.value"),
                   ci95=(json_number(ci[0], f"{where}.ci95"),
                         json_number(ci[1], f"{where}.ci95")),
                   n_pairs=json_count(g, "n_pairs", where) or 0,
                   lang=sane_text(g.get("lang", "zh"))[:16],
                   base=sane_text(g.get("base", "en"))[:16])


@dataclass
class MetricRecord:
    """One metric of one result (``result.json`` -> ``metrics.NAME``): the aggregate, its
    coverage and the fields that decide comparability.

    ``value``/``ci95`` are NaN for "no value" (written as ``null``); ``n`` videos gave a
    value, ``n_failed`` failed, ``n_not_applicable`` gave NaN by design (e.g. "static");
    ``coverage = n / (n + n_failed + n_not_applicable)``. ``per_video`` names the per-video
    field whose mean is ``value`` (``"scores"``, ``"details.KEY"`` or None). ``protocol``
    hashes everything that changes the number; ``weights`` maps each pretrained file to
    its sha256; ``comparable`` is false for randomly initialised backbones."""

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
    n_not_applicable: int | None = None
    #: the value or a CI bound was written as NaN/Infinity (``null`` is "no value")
    nonfinite: bool = False
    per_video: str | None = None
    #: for a leaderboard total: protocol/weights/comparable of each dimension it uses
    parts: dict[str, dict] | None = None
    #: other keys of the entry (kind, details, reference, ...), passed through unchanged
    extra: dict[str, Any] = field(default_factory=dict)

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

    @property
    def gap(self) -> LanguageGap | None:
        """The paired language gap of a run over several languages (validated when read),
        or None."""
        g = self.extra.get("gap")
        return LanguageGap.from_json(g, f"metrics.{self.name}.gap") if g else None

    @property
    def gap_reason(self) -> str | None:
        """Why a multi-language run has no gap for this metric (e.g. the scorer differs by
        language), or None."""
        r = self.extra.get("gap_reason")
        return sane_text(r)[:300] if r else None

    def fingerprint(self) -> tuple:
        """What must be equal for two entries to be compared: protocol, weights, comparable."""
        return (self.protocol, tuple(sorted(self.weights.items())), self.comparable)

    def to_json(self) -> dict:
        out = {"value": _null(self.value), "ci95": [_null(self.ci95[0]), _null(self.ci95[1])],
               "n": self.n, "n_failed": self.n_failed}
        if self.n_not_applicable is not None:
            out["n_not_applicable"] = self.n_not_applicable
            cov = self.coverage
            out["coverage"] = cov if math.isfinite(cov) else None
        out.update({"per_video": self.per_video, "mode": self.mode, "version": self.version,
                    "higher_is_better": self.higher_is_better, "comparable": self.comparable,
                    "protocol": self.protocol, "weights": dict(self.weights)})
        for k, v in self.extra.items():
            out.setdefault(k, v)
        return out

    @classmethod
    def from_json(cls, name: str, m: Any, prov: dict | None = None,
                  where: str = "metrics") -> MetricRecord:
        """Validate one entry; errors name ``where`` and the key. ``prov`` supplies
        ``protocol``/``weights`` an older writer kept only in the provenance."""
        prov = prov or {}
        if not isinstance(m, dict):
            raise UserError(f"{where}: expected an object, got {type(m).__name__}")
        for key in ("value", "ci95", "n", "higher_is_better"):
            if key not in m:
                raise UserError(f"{where}: missing required key {key!r}")
        ci = m["ci95"]
        if ci is None:
            ci = [None, None]
        if not isinstance(ci, (list, tuple)) or len(ci) != 2:
            raise UserError(f"{where}.ci95: expected [lo, hi], got {short_repr(ci)}")
        lo, hi = (json_number(c, f"{where}.ci95") for c in ci)
        nonfinite = written_nonfinite(m["value"]) or any(written_nonfinite(c) for c in ci)
        if not isinstance(m["higher_is_better"], bool):
            raise UserError(f"{where}.higher_is_better: expected true/false, got "
                            f"{short_repr(m['higher_is_better'])}")
        n = json_count(m, "n", where)
        n_failed = json_count(m, "n_failed", where)
        n_na = json_count(m, "n_not_applicable", where, None)
        per_video = m.get("per_video")
        if per_video is not None and not (isinstance(per_video, str) and (
                per_video == "scores" or per_video.startswith("details."))):
            raise UserError(f"{where}.per_video: expected \"scores\" or \"details.KEY\", got "
                            f"{short_repr(per_video)}")
        comparable = m.get("comparable", True)
        if not isinstance(comparable, bool):
            raise UserError(f"{where}.comparable: expected true/false, got "
                            f"{short_repr(comparable)}")
        protocol = _own_or_provenance(m, prov, "protocol", name)
        if isinstance(protocol, dict):  # a full protocol description: hash it canonically
            import hashlib

            protocol = hashlib.sha256(json.dumps(protocol, sort_keys=True, default=str)
                                      .encode()).hexdigest()[:16]
        if protocol is not None and not isinstance(protocol, str):
            raise UserError(f"{where}.protocol: expected a hash string, got "
                            f"{short_repr(protocol)}")
        weights = _own_or_provenance(m, prov, "weights", name) or {}
        if not isinstance(weights, dict) or not all(
                isinstance(k, str) and (v is None or isinstance(v, str))
                for k, v in weights.items()):
            raise UserError(f"{where}.weights: expected {{name: sha256 or null}}, got "
                            f"{short_repr(weights)}")
        if m.get("gap"):
            LanguageGap.from_json(m["gap"], f"{where}.gap")  # a bad gap fails on reading
        known = {"value", "ci95", "n", "n_failed", "n_not_applicable", "coverage", "per_video",
                 "mode", "version", "higher_is_better", "comparable", "protocol", "weights"}
        return cls(name=name, value=json_number(m["value"], f"{where}.value"), ci95=(lo, hi),
                   n=n, n_failed=n_failed, mode=sane_text(m.get("mode", "default"))[:200],
                   version=sane_text(m.get("version", ""))[:200],
                   higher_is_better=m["higher_is_better"],
                   comparable=comparable, protocol=protocol, weights=dict(weights),
                   n_not_applicable=n_na, nonfinite=nonfinite, per_video=per_video,
                   extra={k: v for k, v in m.items() if k not in known})


@dataclass
class ResultRecord:
    """A whole ``result.json``: see the module docstring for the fields."""

    model: str
    suite: str
    metrics: dict[str, MetricRecord]
    created: str = ""
    provenance: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    schema: str = SCHEMA
    #: a run over several languages: ``{"langs", "base", "n_pairs", "gap"}`` (see
    #: :func:`language_results`); empty (and not written) for single-language runs
    languages: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        out = {"schema": self.schema, "model": self.model, "suite": self.suite,
               "created": self.created,
               "metrics": {k: m.to_json() for k, m in self.metrics.items()},
               "provenance": self.provenance, "errors": list(self.errors),
               "notes": list(self.notes), "skipped": dict(self.skipped)}
        if self.languages:
            out["languages"] = dict(self.languages)
        return out

    @classmethod
    def from_json(cls, data: Any, where: str = "<result>") -> ResultRecord:
        """Validate (after :func:`migrate`) a loaded result.json object; errors name
        ``where`` and the key."""
        data = migrate(data, where)
        for key in ("model", "metrics"):
            if key not in data:
                raise UserError(f"{where}: missing required key {key!r}")
        if not isinstance(data["metrics"], dict):
            raise UserError(f"{where}: metrics: expected an object {{name: {{...}}}}")
        prov = data.get("provenance") or {}
        if not isinstance(prov, dict):
            raise UserError(f"{where}: provenance: expected an object")
        metrics = {json_name(k, f"{where}: metrics"): MetricRecord.from_json(
            k, m, prov, f"{where}: metrics.{k}") for k, m in data["metrics"].items()}
        errors = data.get("errors") or []
        if not isinstance(errors, list):
            raise UserError(f"{where}: errors: expected a list")
        notes = data.get("notes") or []
        if not isinstance(notes, list):
            raise UserError(f"{where}: notes: expected a list")
        skipped = data.get("skipped") or {}
        if not isinstance(skipped, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in skipped.items()):
            raise UserError(f"{where}: skipped: expected {{metric: reason}}")
        languages = data.get("languages") or {}
        if not isinstance(languages, dict):
            raise UserError(f"{where}: languages: expected an object")
        return cls(languages=languages, schema=data["schema"],
                   model=json_name(data["model"], f"{where}: model"),
                   suite=json_name(data.get("suite", ""), f"{where}: suite"),
                   created=str(data.get("created", ""))[:64], metrics=metrics,
                   provenance=prov, errors=errors, notes=[sane_text(n) for n in notes],
                   skipped={json_name(k, f"{where}: skipped"): sane_text(v[:500])
                            for k, v in skipped.items()})


def migrate(data: Any, where: str = "<result>") -> dict:
    """Bring a result.json object written by any readable version up to :data:`SCHEMA`
    (a shallow copy; the input is not changed). vidbench.result/1 files from before
    coverage counts get ``n_not_applicable`` from ``details.n_nan`` and ``skipped`` from
    the runner's ``"NAME: skipped, REASON"`` notes."""
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected a JSON object at top level, got "
                        f"{type(data).__name__}")
    schema = data.get("schema")
    if schema not in READABLE_SCHEMAS:
        raise UserError(f"{where}: schema is {short_repr(schema)}, expected {SCHEMA!r} (is "
                        "this a vidbench result.json?)")
    out = dict(data)
    metrics = out.get("metrics")
    if isinstance(metrics, dict):
        fixed = {}
        for k, m in metrics.items():
            if isinstance(m, dict) and "n_not_applicable" not in m:
                det = m.get("details")
                nn = det.get("n_nan") if isinstance(det, dict) else None
                if isinstance(nn, int) and not isinstance(nn, bool) and 0 <= nn <= 10**12:
                    m = dict(m, n_not_applicable=nn)
            fixed[k] = m
        out["metrics"] = fixed
    if "skipped" not in out:
        notes = out.get("notes")
        out["skipped"] = skipped_from_notes([n for n in notes if isinstance(n, str)]
                                            if isinstance(notes, list) else [])
    return out


@dataclass
class VideoLine:
    """One line of ``videos.jsonl``."""

    video: str
    item: str = ""
    prompt: str = ""
    scores: dict[str, float | None] = field(default_factory=dict)
    details: dict[str, dict] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict:
        return {"video": self.video, "item": self.item, "prompt": self.prompt,
                "scores": {k: (None if v is None or (isinstance(v, float) and v != v) else v)
                           for k, v in self.scores.items()},
                "details": self.details, "error": self.error}

    @classmethod
    def from_json(cls, d: Any, where: str = "videos.jsonl") -> VideoLine:
        """Validate one parsed line; scores stay as written (numbers or null) so a reader
        can tell a written NaN/Infinity from ``null``."""
        if not isinstance(d, dict) or "video" not in d:
            raise UserError(f"{where}: expected an object with a 'video' key")
        scores = d.get("scores") or {}
        if not isinstance(scores, dict):
            raise UserError(f"{where}: scores: expected {{metric: number or null}}")
        for k, v in scores.items():
            json_number(v, f"{where}: scores.{short_repr(k)}")
        details = d.get("details") or {}
        if not isinstance(details, dict):
            details = {}
        return cls(video=sane_text(d["video"]), item=sane_text(d.get("item") or ""),
                   prompt=sane_text(d.get("prompt") or ""),
                   scores={sane_text(k): v for k, v in scores.items()},
                   details={sane_text(k): v for k, v in details.items()
                            if isinstance(v, dict)},
                   error=None if d.get("error") is None else sane_text(d["error"]))


# ------------------------------------------------------- per-language results and the gap

#: How the paired gap is defined (written into ``result.json`` -> ``languages.gap``).
GAP_DEFINITION = ("mean over paired items of (value in LANG - value in BASE), items paired "
                  "by the manifest's 'pair' key; 95% CI: seeded percentile bootstrap over "
                  "the pairs")


def _unit_value(rec: dict, name: str, unit: str) -> float | None:
    """The per-video value of metric ``name`` whose mean is its aggregate (``unit`` as in
    ``per_video``), or None (error, not applicable, missing)."""
    if rec.get("error") is not None:
        return None
    v = (rec.get("scores") or {}).get(name)
    if v is None:
        return None
    if unit != "scores":
        v = ((rec.get("details") or {}).get(name) or {}).get(unit[len("details."):])
        if isinstance(v, bool):
            v = float(v)
    if not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        return None
    return float(v)


def _scorer(rec: dict, name: str) -> str | None:
    """The scorer a video was scored with, where a metric's scorer depends on the language
    (``details[name]["scorer"]``, e.g. clip_score's text model); None: the metric's one."""
    d = (rec.get("details") or {}).get(name)
    s = d.get("scorer") if isinstance(d, dict) else None
    return str(s) if s is not None else None


def language_results(records: list[dict], langs_of: dict[str, tuple[str | None, str | None]],
                     metrics: dict[str, dict], *, seed: int = 0, base: str = "en"
                     ) -> tuple[dict, dict[str, dict]] | None:
    """Per-language aggregates and the paired gap of a run over several languages.

    ``langs_of`` maps an item id to its manifest ``(lang, pair)``; ``metrics`` are the
    result's metric entries. Returns ``(languages, per_metric)`` -- ``languages`` =
    ``{"langs", "base", "n_pairs", "gap"}`` for ``result.json``'s ``languages`` and, per
    metric, the fields to add to its entry: ``per_language`` ``{lang: {"value", "ci95",
    "n", "scorer"}}``, ``gap`` (``{"value", "ci95", "n_pairs", "n_unpaired", "lang",
    "base"}`` or None) and ``gap_reason`` (why there is no gap). None when no item carries a
    language (a single-language run: its result stays as it was).

    A gap is computed only where one scorer scored both languages: a judge-free metric, or
    a metric whose videos record the same ``details.scorer`` in every language. A set-level
    metric (FVD family) or one whose aggregate is not a per-video mean gets neither.
    """
    from vidbench.stats import bootstrap_ci, mean_with_ci

    tagged = {item: lp for item, lp in langs_of.items() if lp[0]}
    if not tagged:
        return None
    langs = sorted({lp[0] for lp in tagged.values()}, key=lambda x: (x != base, x))
    others = [x for x in langs if x != base]
    pairs: dict[str, dict[str, dict]] = {}
    for rec in records:
        lang, pair = tagged.get(str(rec.get("item", "")), (None, None))
        if lang:
            pairs.setdefault(pair or str(rec.get("item")), {})[lang] = rec
    n_pairs = sum(1 for p in pairs.values() if len(p) > 1)
    out: dict[str, dict] = {}
    for name, m in metrics.items():
        add: dict[str, Any] = {"per_language": None, "gap": None, "gap_reason": None}
        unit = m.get("per_video")
        if m.get("kind") == "set":
            add["gap_reason"] = "set-level metric (one number over the whole set)"
            out[name] = add
            continue
        if not isinstance(unit, str):
            add["gap_reason"] = "the aggregate is not a mean of per-video values"
            out[name] = add
            continue
        per_lang, scorers = {}, {}
        for lang in langs:
            recs = [p[lang] for p in pairs.values() if lang in p]
            vals = [v for v in (_unit_value(r, name, unit) for r in recs) if v is not None]
            agg = mean_with_ci(vals, seed=seed)
            scorers[lang] = sorted({s for r in recs if (s := _scorer(r, name))})
            per_lang[lang] = {"value": agg.value, "ci95": list(agg.ci95), "n": agg.n,
                              "scorer": ",".join(scorers[lang]) or None}
        add["per_language"] = per_lang
        if not others or base not in per_lang:
            add["gap_reason"] = f"needs {base} and another language"
        elif any(scorers[x] != scorers[base] for x in others):
            add["gap_reason"] = "scorer differs by language (" + "; ".join(
                f"{x}: {','.join(scorers[x]) or 'default'}" for x in langs) + ")"
        else:
            lang = others[0]
            diffs, unpaired = [], 0
            for p in pairs.values():
                a = _unit_value(p[base], name, unit) if base in p else None
                b = _unit_value(p[lang], name, unit) if lang in p else None
                if a is None or b is None:
                    unpaired += 1
                else:
                    diffs.append(b - a)
            if diffs:
                ci = bootstrap_ci(diffs, seed=seed)
                add["gap"] = {"value": math.fsum(diffs) / len(diffs), "ci95": list(ci),
                              "n_pairs": len(diffs), "n_unpaired": unpaired, "lang": lang,
                              "base": base}
            else:
                add["gap_reason"] = "no item scored in both languages"
        out[name] = add
    languages = {"langs": langs, "base": base, "n_pairs": n_pairs,
                 "gap": GAP_DEFINITION.replace("LANG", others[0] if others else "LANG")
                 .replace("BASE", base)}
    return languages, out


def scorer_records(records: list[dict]) -> dict[str, dict[str, str | None]]:
    """``{metric: {scorer tag: weights name or None}}`` for metrics that scored some videos
    with a language-specific scorer (``details.scorer``, e.g. clip_score's Chinese-CLIP)."""
    out: dict[str, dict[str, str | None]] = {}
    for rec in records:
        for name, d in (rec.get("details") or {}).items():
            if isinstance(d, dict) and d.get("scorer"):
                w = d.get("scorer_weights")
                out.setdefault(name, {})[str(d["scorer"])] = str(w) if w else None
    return out


def _name_scorers(data: dict, scorers: dict[str, dict[str, str | None]]) -> None:
    """Record the language-specific scorers in the metric entries and the provenance:
    ``text_models`` (their tags) in the entry and in ``provenance.protocol[metric]``, their
    weights' sha256 beside the metric's own, and a protocol hash that covers them (a run
    that scored Chinese prompts never shares a column with an English-only run)."""
    import hashlib

    prov = data.setdefault("provenance", {})
    for name, tags in scorers.items():
        m = data.get("metrics", {}).get(name)
        if not isinstance(m, dict):
            continue
        models = sorted(tags)
        m["text_models"] = models
        m["protocol"] = hashlib.sha256(json.dumps([m.get("protocol"), models]).encode()
                                       ).hexdigest()[:16]
        pp = prov.get("protocol")
        if isinstance(pp, dict) and isinstance(pp.get(name), dict):
            pp[name]["text_models"] = models
        for w in sorted({w for w in tags.values() if w}):
            try:
                from vidbench.weights import provenance as weights_provenance

                sha = weights_provenance(w).get("sha256")
            except Exception:  # noqa: BLE001 - a file that cannot be re-verified: say so
                sha = None
            m.setdefault("weights", {})[w] = sha
            pw = prov.get("weights")
            if isinstance(pw, dict) and isinstance(pw.get(name), dict):
                pw[name][w] = sha
        if any(t and "-random" in t for t in tags):
            m["comparable"] = False


def add_language_results(out_dir: str | os.PathLike, manifest_path: str | os.PathLike, *,
                         seed: int = 0, follow_symlinks: bool = False) -> dict | None:
    """After scoring (``vidbench score`` and ``vidbench run``): name language-specific
    scorers (:func:`_name_scorers`) and, when the manifest's entries carry languages, add
    per-language results and the paired gap to ``out_dir/result.json`` (rewritten
    atomically). Returns the updated result, or None when nothing changed: English-only
    runs keep their result.json as is."""
    from vidbench.manifest import read_manifest

    out = Path(out_dir)
    manifest = read_manifest(manifest_path, follow_symlinks=follow_symlinks)
    langs_of = {e.item: (e.lang, e.pair) for e in manifest.entries}
    records = read_video_records(out / "videos.jsonl")
    scorers = scorer_records(records)
    if not scorers and not any(lp[0] for lp in langs_of.values()):
        return None
    path = out / "result.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    _name_scorers(data, scorers)
    got = language_results(records, langs_of, data.get("metrics") or {}, seed=seed)
    if got is not None:
        languages, per_metric = got
        for name, add in per_metric.items():
            data["metrics"][name].update(add)
        data["languages"] = languages
    rec = ResultRecord.from_json(clean_json(data), str(path)).to_json()
    atomic_write_json(path, rec)
    return rec
