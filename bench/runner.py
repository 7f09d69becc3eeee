"""The scoring runner: decode each video once, run every selected metric on its view,
stream ``videos.jsonl``, aggregate with bootstrap CIs into ``result.json``.

Sharding: under ``torchrun`` (``WORLD_SIZE`` > 1) each rank scores ``entries[rank::world]``
into ``videos.rank{r}.jsonl``; after a barrier rank 0 merges every record in manifest order
and aggregates. Per-video values do not depend on the number of processes, and aggregates
are computed from records in manifest order, so 1, 2 or 3 processes, or a run killed and
resumed, give the same result.

The next video is decoded in a background thread while the metrics run on the current one
(:func:`vidbench.video.decode_ahead`); at most two clips are in memory at once. When every
selected metric reads only its declared view (:data:`STREAMABLE`), a "clip" is just those
views, built in one streaming pass (:func:`vidbench.stream.decode_views`), so memory is
bounded by the views, not by the video's length or resolution.

Resume: a record already in ``videos.jsonl`` is reused only while it still describes the
same thing: the video's content sha256, its prompt and meta (``inputs``, a hash), the
metric set and each metric's protocol hash (stored per record as ``protocols``). A video
whose content, prompt or meta changed, or that was missing and is back, is scored again;
a metric added to the selection, or whose protocol changed, is run on the videos that lack
it (and only that metric). What is reused and what is redone is said on stderr. One
``score`` at a time per output folder: it holds ``.vidbench.lock`` (``fcntl.flock``,
released when the process ends however it ends); a second run names the holder and stops.

Set-level metrics (FVD family) store per-video features in a content-addressed cache under
``VIDBENCH_HOME/cache/features/<protocol>/<video sha256>.npy``, so a second run with another
reference or metric selection reuses them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidbench import progress
from vidbench import video as video_io
from vidbench import weights as weights_mod
from vidbench.errors import (
    MissingWeightsError,
    UserError,
    VideoDecodeError,
    WeightsChecksumError,
)
from vidbench.fileio import (
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    clean_json,
    now_iso,
    regular_file_problem,
    sha256_file,
)
from vidbench.manifest import MAX_VIDEO_BYTES, Manifest, ManifestEntry, read_manifest
from vidbench.progress import Progress
from vidbench.registry import Metric, PerVideoMetric, SetMetric, VideoContext, get_metric
from vidbench.registry import metric_names as all_metric_names
from vidbench.results import (
    SCHEMA,
    ResultRecord,
    VideoLog,
    base_provenance,
    per_video_unit,
    read_video_records,
    record_key,
    skipped_from_notes,
)
from vidbench.vbench_suite import not_tagged


@dataclass
class ScoreConfig:
    """What to score and how. ``metrics`` None selects every metric that can run here
    (missing weights or reference -> skipped with a note); named metrics that cannot run
    are an error."""

    metrics: list[str] | None = None
    mode: str = "default"
    reference: str | None = None
    random_weights: bool = False
    device: str = "cpu"
    seed: int = 0
    model: str | None = None
    suite: str | None = None
    progress: bool | None = None
    feature_cache: bool = True
    follow_symlinks: bool = False  # accept videos linked in from outside the manifest folder


@dataclass
class Selection:
    metrics: list[Metric]
    notes: list[str] = field(default_factory=list)


def _note(notes: list[str], msg: str) -> None:
    """Record ``msg`` in the result's notes and tell the user (progress.note)."""
    notes.append(msg)
    progress.note(msg)


def select_metrics(cfg: ScoreConfig, manifest: Manifest) -> Selection:
    """Instantiate the selected metrics; skip (with a note) or refuse those that cannot run."""
    explicit = cfg.metrics is not None
    names = cfg.metrics if cfg.metrics is not None else all_metric_names()
    chosen: list[Metric] = []
    notes: list[str] = []
    for name in names:
        try:
            m = get_metric(name, mode=cfg.mode, device=cfg.device,
                           random_weights=cfg.random_weights)
        except UserError as e:
            if explicit:
                raise
            _note(notes, f"{name}: skipped, {e}")
            continue
        if not cfg.random_weights:
            try:
                for w in m.required_weights():
                    weights_mod.verify(w)
            except MissingWeightsError as e:
                if explicit:
                    raise
                _note(notes, f"{name}: skipped, {e}")
                continue
        if isinstance(m, SetMetric) and not cfg.reference:
            if explicit:
                raise UserError(f"metric {name!r} compares against a reference set; pass "
                                f"--reference NAME|DIR")
            _note(notes, f"{name}: skipped, needs --reference")
            continue
        if (not explicit and m.needs_meta
                and not any(m.needs_meta in e.meta for e in manifest.entries)):
            _note(notes, f"{name}: skipped, no video carries meta[{m.needs_meta!r}]")
            continue
        chosen.append(m)
    if not chosen:
        raise UserError("no metric can run: " + ("; ".join(notes) or "none selected"))
    return Selection(chosen, notes)


def weights_provenance(m: Metric) -> dict[str, str | None]:
    """{weights name: sha256 of the file verified and used in this process, never a hash
    copied from the manifest} ("random-init" for test backbones)."""
    return {w: v["sha256"] for w, v in weights_trust(m).items()}


def weights_trust(m: Metric) -> dict[str, dict[str, str | None]]:
    """{weights name: {"sha256", "trust"}}: trust is ``publisher`` (the manifest's hash
    matched), ``first-use`` (matched the hash pinned at its first successful load),
    ``unpinned`` (no hash to check against yet) or ``random-init``."""
    out: dict[str, dict[str, str | None]] = {}
    for w in m.required_weights():
        if m.random_weights:
            out[w] = {"sha256": "random-init", "trust": "random-init"}
            continue
        try:
            out[w] = dict(weights_mod.provenance(w))
        except (UserError, OSError):
            out[w] = {"sha256": None, "trust": None}
    return out


class FeatureCache:
    """Per-video features of set metrics, addressed by (metric protocol, weights, video
    content sha256), stored as .npy under VIDBENCH_HOME/cache/features (or a run-local
    folder when the shared cache is off)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else weights_mod.home() / "cache" / "features"

    def key(self, m: Metric) -> str:
        blob = f"{m.protocol_hash()}:{sorted(weights_provenance(m).items())}"
        return f"{m.name}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"

    def path(self, m: Metric, sha: str) -> Path:
        return self.root / self.key(m) / f"{sha}.npy"

    def get(self, m: Metric, sha: str) -> np.ndarray | None:
        p = self.path(m, sha)
        if p.is_file():
            try:
                return np.load(p, allow_pickle=False)
            except (OSError, ValueError):
                return None
        return None

    def put(self, m: Metric, sha: str, feats: np.ndarray) -> None:
        with atomic_write(self.path(m, sha)) as f:
            np.save(f, np.asarray(feats), allow_pickle=False)


def _dist_info() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return rank, world


def _init_dist(world: int, device: str) -> Any:
    if world <= 1:
        return None
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend)
    return dist


def _show_progress(cfg: ScoreConfig) -> bool:
    """False when the caller turned progress off; otherwise vidbench.progress decides
    (a bar on a terminal, plain lines elsewhere, nothing under --quiet)."""
    return cfg.progress is not False


@dataclass
class _Plan:
    """What one video still needs: its record so far, the set metrics whose features are
    not cached, and whether it must be decoded at all."""

    entry: ManifestEntry
    rec: dict[str, Any]
    pending_sets: list[SetMetric]
    decode: bool
    per_video: list[PerVideoMetric] | None = None  # None: every selected per-video metric


def plan_entry(entry: ManifestEntry, per_video: list[PerVideoMetric],
               set_metrics: list[SetMetric], cache: FeatureCache,
               prev: dict | None = None) -> _Plan:
    """What ``entry`` needs. ``prev``: its record from an earlier run, reused for every
    per-video metric whose score it holds under the same protocol for the same content."""
    rec: dict[str, Any] = {"video": entry.video, "item": entry.item, "prompt": entry.prompt,
                           "scores": {}, "details": {}, "error": None}
    if entry.problem:
        rec["error"] = entry.problem
        return _Plan(entry, rec, [], False)
    pending: list[SetMetric] = []
    # regular file first: hashing or decoding a FIFO or /dev/zero would never end
    problem = regular_file_problem(entry.path, limit=MAX_VIDEO_BYTES)
    if problem:
        rec["error"] = f"{entry.where}: {problem}" if entry.line else problem
        return _Plan(entry, rec, [], False)
    try:
        sha = sha256_file(entry.path)
    except OSError as e:  # unreadable file
        rec["error"] = f"{entry.where}: cannot read {entry.video} ({e.strerror or e})"
        return _Plan(entry, rec, [], False)
    rec["sha256"] = sha
    rec["inputs"] = _inputs_hash(entry)
    todo = list(per_video)
    if prev is not None and prev.get("sha256") == sha and prev.get("inputs") == rec["inputs"]:
        if prev.get("error") is not None:  # the same bytes failed before: same answer
            return _Plan(entry, dict(prev), [], False, [])
        old = prev.get("protocols") or {}
        todo = [m for m in per_video if m.name not in (prev.get("scores") or {})
                or old.get(m.name) != m.protocol_hash()]
        rec["scores"] = dict(prev.get("scores") or {})
        rec["details"] = dict(prev.get("details") or {})
        rec["protocols"] = dict(old)
        for k in ("source",):
            if k in prev:
                rec[k] = prev[k]
    for m in set_metrics:
        if cache.get(m, sha) is None:
            pending.append(m)
        else:
            rec["details"][m.name] = {"feature_sha256": sha, "cached": True}
    return _Plan(entry, rec, pending, bool(todo or pending), todo)


def _inputs_hash(entry: ManifestEntry) -> str:
    """What a score depends on besides the video's bytes: its prompt and metadata."""
    blob = json.dumps([entry.prompt, entry.meta], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _resume_reason(prev: dict | None, plan: _Plan, per_video: list[PerVideoMetric]) -> str:
    """Why a video is (re)scored: new, changed content, back from an error, or which
    metrics it lacks or holds under another protocol."""
    if prev is None:
        return "new"
    if plan.rec.get("sha256") != prev.get("sha256"):
        if plan.entry.problem or plan.rec.get("error"):
            return "now unreadable"
        if prev.get("sha256"):
            return "content changed"
        return "back after an error" if prev.get("error") else "no content hash on record"
    if plan.rec.get("inputs") != prev.get("inputs"):
        return "prompt or meta changed"
    if plan.per_video is None or not plan.decode:
        return "unchanged"
    return "stale metrics: " + ",".join(m.name for m in plan.per_video) if plan.per_video \
        else "set-metric features missing"


_FATAL = (MissingWeightsError, WeightsChecksumError, weights_mod.WeightsLoadError)


def finish_entry(plan: _Plan, clip: video_io.Clip | VideoDecodeError | None,
                 per_video: list[PerVideoMetric], cache: FeatureCache, device: str,
                 timings: dict[str, float]) -> dict:
    """Run every metric on one decoded video; never raises for a bad video or metric."""
    entry, rec = plan.entry, plan.rec
    if plan.per_video is not None:
        per_video = plan.per_video
    if not plan.decode:
        return rec
    if isinstance(clip, VideoDecodeError):
        rec["error"] = f"{entry.where}: {clip}" if entry.line else str(clip)
        return rec
    assert clip is not None
    rec["source"] = {"frames": clip.num_frames, "size": list(clip.size), "fps": clip.fps,
                     "duration": clip.duration, "decoder": clip.meta.get("decoder"),
                     "pix_fmt": clip.meta.get("pix_fmt"), "colour": clip.meta.get("colour")}
    ctx = VideoContext(clip, prompt=entry.prompt, item=entry.item, video=entry.video,
                       meta=entry.meta, device=device)
    for m in per_video:
        t0 = time.perf_counter()
        untagged = not_tagged(m.name, entry.meta)
        if untagged:  # a VBench dimension scores only the prompts tagged with it
            rec["scores"][m.name] = math.nan
            rec["details"][m.name] = {"reason": untagged}
            continue
        if m.requires_prompt and not entry.prompt.strip():
            rec["scores"][m.name] = None
            rec["details"][m.name] = {"error": f"{entry.where}: empty prompt; {m.name} needs "
                                               f"the video's prompt"}
            continue
        rec.setdefault("protocols", {})[m.name] = m.protocol_hash()
        try:
            s = m.score(ctx)
            rec["scores"][m.name] = float(s.value)
            rec["details"][m.name] = s.details
        except _FATAL:
            raise  # weights that cannot be used fail the run (exit 2), not each video
        except Exception as e:  # a metric failing on one video is recorded, not fatal
            rec["scores"][m.name] = None
            rec["details"][m.name] = {"error": f"{type(e).__name__}: {e}"}
        timings[m.name] = timings.get(m.name, 0.0) + time.perf_counter() - t0
    for sm in plan.pending_sets:
        t0 = time.perf_counter()
        try:
            feats = np.asarray(sm.features(ctx))
            cache.put(sm, rec["sha256"], feats)
            rec["details"][sm.name] = {"feature_sha256": rec["sha256"], "cached": False}
        except _FATAL:
            raise
        except Exception as e:
            rec["details"][sm.name] = {"error": f"{type(e).__name__}: {e}"}
        timings[sm.name] = timings.get(sm.name, 0.0) + time.perf_counter() - t0
    rec["source"]["decodes"] = 1 + int(clip.meta.get("extra_decodes", 0))
    return rec


#: (metric, mode) pairs that read nothing of a video but ``ctx.view(m.view_spec())`` and the
#: clip's timestamps, fps, size and duration, so they can be scored from a streamed decode
#: (vidbench.stream; checked against the full decode in tests/test_video_streaming.py). A
#: metric may instead define ``view_specs()``, every spec it reads, with the same promise.
STREAMABLE: frozenset[tuple[str, str]] = frozenset(
    {(name, mode) for name in ("temporal_flicker", "motion_smoothness", "subject_consistency",
                               "background_consistency", "clip_score", "aesthetic_quality")
     for mode in ("default", "vbench")} | {("dynamic_degree", "vbench")})


def stream_specs(per_video: list[PerVideoMetric], set_metrics: list[SetMetric]
                 ) -> list[video_io.ViewSpec] | None:
    """The views to stream for these metrics, or None when one of them needs the whole
    clip (its frames at full resolution), when a view is every frame at full size (vbench
    mode's views: streaming would hold as much and copy it once more), or when
    ``VIDBENCH_STREAM=0``. Set metrics stream when each can plan its clip from the
    container's facts (``planned_spec``, see :func:`_timed_decode`); their views are added
    per video."""
    if os.environ.get("VIDBENCH_STREAM", "1") == "0":
        return None
    if any(not callable(getattr(sm, "planned_spec", None)) for sm in set_metrics):
        return None
    specs: list[video_io.ViewSpec] = []
    for m in per_video:
        hook = getattr(m, "view_specs", None)
        if callable(hook):
            specs.extend(hook())
        elif (m.name, m.mode) in STREAMABLE:
            specs.append(m.view_spec())
        else:
            return None
    if any(sp.size is None and sp.fps is None and sp.num_frames is None for sp in specs):
        return None  # every frame at full size (VBench's views): as large as the clip itself
    return specs if (specs or set_metrics) else None


def _timed_decode(timings: dict[str, float], colour: str = "vidbench",
                  specs: list[video_io.ViewSpec] | None = None,
                  planners: list[SetMetric] | None = None,
                  video_ids: dict[str, str] | None = None
                  ) -> Callable[[str | os.PathLike], Any]:
    """The runner's decoder: the whole clip, or (``specs``) only those views, streamed
    (a :class:`~vidbench.video.Clip` or a :class:`~vidbench.stream.StreamedClip`).

    ``planners`` (set metrics with ``planned_spec``): their clip depends on the video's
    frame count, fps and duration, known exactly only after decoding. They are read from
    the packets first (:func:`vidbench.stream.container_facts`, no decoding) and each
    metric's planned view is streamed with the others; when the metric later asks for its
    view from the decoded facts, a plan that matches is served from the stream, and one
    that does not (or no plan) costs a second streamed pass, counted in the video's
    ``source["decodes"]``."""
    def _decode(path: str | os.PathLike) -> Any:
        t0 = time.perf_counter()
        try:
            if specs is not None:
                from vidbench.stream import container_facts, decode_views

                extra: list[video_io.ViewSpec] = []
                if planners:
                    facts = container_facts(path)
                    vid = (video_ids or {}).get(str(path), str(path))
                    if facts is not None:
                        for sm in planners:
                            plan = sm.planned_spec  # type: ignore[attr-defined]
                            try:
                                extra.append(plan(facts, vid))
                            except UserError:  # no plan (unknown rate): the metric says so
                                continue
                return decode_views(path, [*specs, *extra], colour=colour)
            return video_io.decode(path, colour=colour)
        finally:
            timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - t0

    return _decode


def decode_colour(mode: str) -> str:
    """The YUV->RGB conversion a run decodes with (docs/decoding.md): vbench mode reads as
    OpenCV does, as VBench's flicker, motion smoothness and dynamic degree code does (its
    DINO/CLIP code reads with decord, which differs from OpenCV above 8 bits: one decode
    cannot match both); default mode uses vidbench's own rule. Equal on 8-bit input."""
    return "opencv" if mode == "vbench" else "vidbench"


def _merge_records(out_dir: Path, manifest: Manifest, world: int) -> list[dict]:
    """All finished records (videos.jsonl plus rank files), one per manifest entry, in
    manifest order; rewrites videos.jsonl atomically and removes the rank files."""
    by_key: dict[str, dict] = {}
    main = out_dir / "videos.jsonl"
    for rec in read_video_records(main):
        by_key[record_key(rec)] = rec
    rank_files = sorted(out_dir.glob("videos.rank*.jsonl"))
    for p in rank_files:
        for rec in read_video_records(p):
            by_key[record_key(rec)] = rec
    ordered = []
    for e in manifest.entries:
        k = record_key({"item": e.item, "video": e.video})
        if k in by_key:
            ordered.append(by_key[k])
    text = "".join(json.dumps(clean_json(r), ensure_ascii=False) + "\n" for r in ordered)
    atomic_write_bytes(main, text.encode("utf-8"))
    for p in rank_files:
        p.unlink(missing_ok=True)
    return ordered


def _read_records(p: Path) -> list[dict]:
    """Records of one videos*.jsonl in ``--out``; a corrupt line in the middle (or one the
    JSON parser cannot take) is a one-line UserError naming it."""
    problem = regular_file_problem(p) if p.exists() or p.is_symlink() else None
    if problem:
        raise UserError(problem)
    try:
        recs = read_video_records(p)
    except RecursionError:
        raise UserError(f"{p}: a record is nested too deeply; move the file away to start "
                        f"over") from None
    except ValueError as e:
        raise UserError(f"{str(e).splitlines()[0][:300]}; fix or delete that line (or move "
                        f"the file away) to resume") from None
    return [r for r in recs if isinstance(r, dict)]


def _previous_records(out_dir: Path) -> dict[str, dict]:
    """The latest record per (item, video) from videos.jsonl and any rank files."""
    by_key: dict[str, dict] = {}
    for p in [out_dir / "videos.jsonl", *sorted(out_dir.glob("videos.rank*.jsonl"))]:
        for r in _read_records(p):
            by_key[record_key(r)] = r
    return by_key


class OutLock:
    """An exclusive ``fcntl.flock`` on ``OUT/.vidbench.lock`` (per rank under torchrun),
    holding who took it; released when closed or when the process dies."""

    def __init__(self, out_dir: Path, rank: int = 0) -> None:
        name = ".vidbench.lock" if rank == 0 else f".vidbench.rank{rank}.lock"
        self.path = out_dir / name
        self._fd: int | None = None

    def __enter__(self) -> OutLock:
        import fcntl
        import socket

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.read(fd, 4096).decode("utf-8", "replace").strip()
            finally:
                os.close(fd)
            raise UserError(f"{self.path.parent}: another vidbench run is writing here "
                            f"({holder or 'holder unknown'}); wait for it, or use another "
                            f"--out") from None
        info = f"pid {os.getpid()} on {socket.gethostname()}, since {now_iso()}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass
            os.close(self._fd)  # releases the flock
            self._fd = None


def _pin_used_weights(records: list[dict], metrics: Iterable[Metric]) -> None:
    """Trust on first use: weights without a publisher hash that gave at least one score
    (or set-metric features) in this run loaded into their model; pin their sha256."""
    for m in metrics:
        if m.random_weights or not m.required_weights():
            continue
        worked = any((r.get("scores") or {}).get(m.name) is not None or
                     "feature_sha256" in ((r.get("details") or {}).get(m.name) or {})
                     for r in records if r.get("error") is None)
        if worked:
            for w in m.required_weights():
                weights_mod.pin_verified(w)


def aggregate(records: list[dict], metrics: Iterable[Metric], cfg: ScoreConfig,
              cache: FeatureCache) -> tuple[dict, list[str]]:
    """Per-metric result entries from the merged records."""
    out: dict[str, dict] = {}
    notes: list[str] = []
    for m in metrics:
        base = {"mode": m.mode, "version": m.version, "higher_is_better": m.higher_is_better,
                "comparable": m.comparable, "protocol": m.protocol_hash(),
                "weights": weights_provenance(m), "kind": m.kind}
        if isinstance(m, PerVideoMetric):
            vals, dets, failed = [], [], 0
            for r in records:
                if r.get("error") is not None:
                    failed += 1
                    continue
                v = r["scores"].get(m.name)
                d = r["details"].get(m.name, {}) or {}
                if v is None and "error" in d:
                    failed += 1
                    continue
                vals.append(float("nan") if v is None else float(v))
                dets.append(d)
            agg = m.aggregate(np.asarray(vals, dtype=np.float64), dets, seed=cfg.seed)
            n_na = sum(1 for v in vals if not np.isfinite(v))
            total = agg.n + failed + n_na
            out[m.name] = {"value": agg.value, "ci95": list(agg.ci95), "n": agg.n,
                           "n_failed": failed, "n_not_applicable": n_na,
                           "coverage": agg.n / total if total else None,
                           "per_video": per_video_unit(vals, dets, agg.value),
                           **base, "details": agg.details}
        elif isinstance(m, SetMetric):
            feats, failed = [], 0
            for r in records:
                d = r.get("details", {}).get(m.name, {})
                sha = d.get("feature_sha256") if d else None
                f = cache.get(m, sha) if sha else None
                if r.get("error") is not None or f is None:
                    failed += 1
                    continue
                feats.append(f)
            if not feats:
                notes.append(f"{m.name}: no features to compare")
                out[m.name] = {"value": None, "ci95": [None, None], "n": 0,
                               "n_failed": failed, "n_not_applicable": 0,
                               "coverage": 0.0 if failed else None, **base}
                continue
            from vidbench.metrics.reference import reference_features

            ref = reference_features(cfg.reference, m)  # type: ignore[arg-type]
            gen = np.concatenate([f.reshape(-1, f.shape[-1]) for f in feats], axis=0)
            agg = m.compute(gen, ref, seed=cfg.seed)
            out[m.name] = {"value": agg.value, "ci95": list(agg.ci95), "n": agg.n,
                           "n_failed": failed, "n_not_applicable": 0,
                           "coverage": len(feats) / (len(feats) + failed), **base,
                           "reference": cfg.reference, "details": agg.details}
    return out, notes


def score(manifest_path: str | os.PathLike, out_dir: str | os.PathLike,
          cfg: ScoreConfig | None = None) -> dict | None:
    """Score every video of a manifest (or folder) into ``out_dir``; returns the result
    dict on rank 0 (None on other ranks). Resumes from an existing ``videos.jsonl``."""
    cfg = cfg or ScoreConfig()
    rank, world = _dist_info()
    dist = _init_dist(world, cfg.device)
    video_io.max_decode_bytes()  # a bad VIDBENCH_MAX_DECODE_GB fails before any work
    manifest = read_manifest(manifest_path, follow_symlinks=cfg.follow_symlinks)
    if not manifest.entries:
        raise UserError(f"{manifest_path}: no videos to score"
                        + (f" ({'; '.join(manifest.notes)})" if manifest.notes else ""))
    if rank == 0:
        for note in manifest.notes:
            progress.note(note)
    sel = select_metrics(cfg, manifest)
    per_video = [m for m in sel.metrics if isinstance(m, PerVideoMetric)]
    set_metrics = [m for m in sel.metrics if isinstance(m, SetMetric)]
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {out}: cannot create ({e.strerror or e})") from None
    with OutLock(out, rank):
        return _score_locked(manifest, out, cfg, sel, per_video, set_metrics, rank, world,
                             dist)


def _score_locked(manifest: Manifest, out: Path, cfg: ScoreConfig, sel: Selection,
                  per_video: list[PerVideoMetric], set_metrics: list[SetMetric], rank: int,
                  world: int, dist: Any) -> dict | None:
    # --no-cache: neither read nor fill the shared cache; features live in the run folder.
    cache = FeatureCache(None if cfg.feature_cache else out / "features")
    previous = _previous_records(out)
    shard = manifest.entries[rank::world]
    plans: list[_Plan] = []
    reasons: dict[str, int] = {}
    for e in shard:
        prev = previous.get(record_key({"item": e.item, "video": e.video}))
        plan = plan_entry(e, per_video, set_metrics, cache, prev)
        if prev is not None and not plan.decode and (
                plan.rec == prev or ("sha256" in prev
                                     and plan.rec.get("sha256") == prev["sha256"])):
            continue  # same content and inputs, every metric there, same protocols: reused
        why = _resume_reason(prev, plan, per_video)
        reasons[why] = reasons.get(why, 0) + 1
        plans.append(plan)
    if previous:
        n_reused = len(shard) - len(plans)
        redo = "; ".join(f"{n} {why}" for why, n in sorted(reasons.items()))
        who = f" (rank {rank})" if world > 1 else ""
        _note(sel.notes, f"resuming {out}{who}: {n_reused} of {len(shard)} videos reused; "
                         f"scoring {len(plans)}" + (f" ({redo})" if redo else ""))
    log = VideoLog(out / ("videos.jsonl" if world == 1 else f"videos.rank{rank}.jsonl"))
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    bar = Progress(len(plans), "score",
                   mode=None if _show_progress(cfg) and rank == 0 else "off")
    specs = stream_specs(per_video, set_metrics)
    ids = {str(p.entry.path): p.entry.video for p in plans if p.entry.video}
    decoded = video_io.decode_ahead([p.entry.path if p.decode else None for p in plans],
                                    decoder=_timed_decode(timings, decode_colour(cfg.mode),
                                                          specs, set_metrics, ids))
    for plan, (_, clip) in zip(plans, decoded, strict=True):
        log.append(finish_entry(plan, clip, per_video, cache, cfg.device, timings))
        del clip
        bar.update(1)
    bar.close()
    if dist is not None:
        dist.barrier()
    if rank != 0:
        if dist is not None:
            dist.barrier()
        return None
    records = _merge_records(out, manifest, world)
    _pin_used_weights(records, sel.metrics)
    metrics, agg_notes = aggregate(records, sel.metrics, cfg, cache)
    errors = [{"video": r["video"], "item": r["item"], "error": r["error"]}
              for r in records if r.get("error")]
    models = sorted({e.model for e in manifest.entries if e.model})
    suites = sorted({e.suite for e in manifest.entries if e.suite})
    prov = base_provenance(cfg.device, world)
    prov.update({
        "manifest": str(manifest.source),
        "n_videos": len(manifest.entries),
        "seeds": {"bootstrap": cfg.seed, "generation": sorted({e.seed for e in manifest.entries
                                                                if e.seed is not None})},
        "protocol": {m.name: m.protocol() for m in sel.metrics},
        "weights": {m.name: weights_provenance(m) for m in sel.metrics},
        "weights_trust": {m.name: weights_trust(m) for m in sel.metrics},
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
        "wall_s": round(time.perf_counter() - t_start, 3),
    })
    result = {"schema": SCHEMA, "model": cfg.model or (models[0] if len(models) == 1 else
                                                        ",".join(models) or "unknown"),
              "suite": cfg.suite or (suites[0] if len(suites) == 1 else ",".join(suites) or
                                     "unknown"),
              "created": now_iso(), "metrics": metrics, "provenance": prov,
              "errors": errors, "notes": sel.notes + agg_notes,
              "skipped": skipped_from_notes(sel.notes)}
    # through the typed contract: what the leaderboard and the gate will read back
    result = ResultRecord.from_json(clean_json(result), str(out / "result.json")).to_json()
    atomic_write_json(out / "result.json", result)
    if dist is not None:
        dist.barrier()
    return result
