"""The generation loop: ask an :class:`~vidbench.adapters.Adapter` for every item of a
:class:`~vidbench.suites.Suite`, write the videos and ``manifest.jsonl`` into one folder.

``vidbench generate`` and ``vidbench run`` call :func:`generate`. Layout of ``out_dir``::

    manifest.jsonl        one line per video (the manifest contract), appended as each
                          video lands, rewritten in suite order at the end
    videos/<item>.mp4     the videos (written atomically)
    jobs.jsonl            remote job ids (HTTP adapters): a restarted run polls jobs it
                          already paid for instead of submitting them again
    generate-errors.json  the per-item errors of the last run
    .staging/             partial downloads (removed when empty)

Each manifest line's ``meta`` is the suite item's ``meta`` plus ``"generation"``: the model
id and revision, the parameters the adapter actually used, the seed, the requested and the
actual frames/size/fps (pipelines round them), the wall time and the sha256 of the video.

Resuming (the default): an item whose earlier manifest line names the same model, prompt and
seed, and whose video still has the recorded sha256, is skipped. One failing item becomes an
error record and the run goes on; missing coverage of a pre-generated folder is an error
unless ``allow_missing``.

Adapters may define two optional hooks the loop calls: ``prepare(run: GenerationRun)``
before the first item (the run's folder, job journal, staging folder and the items to do)
and ``close()`` at the end.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidbench.adapters import (
    Adapter,
    Generated,
    GenerationRun,
    JobJournal,
    MissingVideoError,
    video_facts,
)
from vidbench.errors import ManifestError, UserError
from vidbench.fileio import (
    atomic_path,
    atomic_write_json,
    clean_json,
    now_iso,
    sha256_file,
)
from vidbench.manifest import (
    MANIFEST_NAME,
    VIDEO_EXTENSIONS,
    ManifestEntry,
    append_manifest,
    parse_manifest_lines,
    write_manifest,
)
from vidbench.progress import Progress, info, note
from vidbench.suites import Suite, SuiteItem

JOBS_NAME = "jobs.jsonl"
LOCK_NAME = ".generate.lock"
ERRORS_NAME = "generate-errors.json"
VIDEOS_DIR = "videos"
STAGING_DIR = ".staging"


@dataclass
class GenerateReport:
    """What :func:`generate` did. ``errors`` holds one dict per failed or missing item:
    ``{"item", "prompt", "seed", "kind", "error"}`` (``kind`` is ``"missing"`` for items a
    pre-generated folder lacks, else the exception's class name)."""

    manifest: Path
    n_ok: int
    n_skipped: int
    n_failed: int
    errors: list[dict]
    n_missing: int = 0
    wall_time_s: float = 0.0

    def summary(self) -> str:
        s = (f"{self.n_ok} generated, {self.n_skipped} already there, {self.n_failed} failed"
             f"{f', {self.n_missing} missing' if self.n_missing else ''} -> {self.manifest}")
        return s


# ----------------------------------------------------------------------------- helpers


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(item: str) -> str:
    """A file-name-safe, collision-resistant stem for an item id."""
    stem = _SAFE.sub("_", item).strip("._") or "item"
    if stem != item or len(stem) > 120:
        stem = f"{stem[:100]}-{hashlib.sha1(item.encode()).hexdigest()[:8]}"
    return stem


def _place_file(src: Path, dest: Path, *, move: bool) -> None:
    """Put ``src`` at ``dest`` atomically: rename (``move``), else hard link, else copy."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if move:
        os.replace(src, dest)
        return
    with atomic_path(dest) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def _is_within(path: Path, folder: Path) -> bool:
    """Whether ``path`` (symlinks resolved) lies strictly inside ``folder``."""
    try:
        rel = path.resolve().relative_to(folder.resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return rel != Path(".")


def read_previous(manifest: Path) -> tuple[dict[str, ManifestEntry], list[str]]:
    """Entries of an earlier (possibly interrupted) run by item id, tolerating a torn or
    invalid line (reported as a warning, that line's video is generated again)."""
    found: dict[str, ManifestEntry] = {}
    warnings: list[str] = []
    if not manifest.is_file():
        return found, warnings
    root = manifest.parent
    for no, raw in enumerate(manifest.read_bytes().split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            (entry,) = parse_manifest_lines(raw, root, str(manifest))
        except ManifestError as e:
            warnings.append(f"{manifest}:{no}: ignored ({str(e).split(': ', 2)[-1]})")
            continue
        entry.line = no
        found[entry.item] = entry
    return found, warnings


def _reusable(entry: ManifestEntry, item: SuiteItem, model_id: str) -> bool:
    gen = entry.meta.get("generation") if isinstance(entry.meta, dict) else None
    if not isinstance(gen, dict) or not gen.get("sha256"):
        return False
    if entry.model != model_id or entry.prompt != item.prompt or entry.seed != item.seed:
        return False
    req = gen.get("requested") or {}
    if req and (req.get("num_frames"), req.get("height"), req.get("width"),
                req.get("fps")) != (item.num_frames, item.height, item.width, item.fps):
        return False
    p = entry.path
    return p.is_file() and sha256_file(p) == gen["sha256"]


def _error_record(item: SuiteItem, exc: BaseException | str, kind: str | None = None) -> dict:
    msg = exc if isinstance(exc, str) else (str(exc) or type(exc).__name__)
    return {"item": item.item, "prompt": item.prompt, "seed": item.seed,
            "kind": kind or (type(exc).__name__ if not isinstance(exc, str) else "error"),
            "error": msg}


# ----------------------------------------------------------------------------- the loop


def generate(adapter: Adapter, suite: Suite, out_dir: Path, *, resume: bool = True,
             allow_missing: bool = False, progress: bool = True, overwrite: bool = False
             ) -> GenerateReport:
    """Generate every item of ``suite`` with ``adapter`` into ``out_dir``.

    Writes ``out_dir/manifest.jsonl`` (one line per video, see the module docstring) and
    returns a :class:`GenerateReport`. Raises :class:`UserError` for problems of the whole
    run (duplicate item ids, an ``out_dir`` holding another model's videos, a folder that
    does not cover the suite without ``allow_missing``, another process generating into the
    same folder); per-item failures are reported, not raised.

    A non-empty ``out_dir`` must be a vidbench run of this suite (files vidbench writes, a
    manifest whose every line came from ``generate`` for ``suite``): anything else (a
    user's own manifest or videos) is refused unless ``overwrite``.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir}: exists and is not a folder")
    src = getattr(adapter, "root", None)  # an adapter reading a folder (folder:DIR)
    if isinstance(src, Path) and out_dir.exists() and _same_dir(src, out_dir):
        raise UserError(f"the output folder {out_dir} is the source folder of the "
                        f"{adapter.scheme} adapter; use another --out")
    _check_out_dir(out_dir, suite, overwrite)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {out_dir}: cannot create ({e.strerror or e})") from None
    from filelock import FileLock, Timeout

    lock = FileLock(str(out_dir / LOCK_NAME))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise UserError(f"another vidbench process is generating into {out_dir} (lock "
                        f"{out_dir / LOCK_NAME}); wait for it, or use another output "
                        f"folder") from None
    try:
        return _generate(adapter, suite, out_dir, resume=resume, allow_missing=allow_missing,
                         progress=progress, overwrite=overwrite)
    finally:
        lock.release()


#: What vidbench itself writes into a run folder (generate, score, run, leaderboard).
_OWN_NAMES = {MANIFEST_NAME, VIDEOS_DIR, JOBS_NAME, ERRORS_NAME, STAGING_DIR, LOCK_NAME,
              "videos.jsonl", "result.json", "leaderboard", "features", ".vidbench.lock"}
_OWN_PATTERN = re.compile(r"^(videos\.rank\d+\.jsonl|\.vidbench\.rank\d+\.lock|\..+\.tmp)$")


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):
        return False


def _check_out_dir(out_dir: Path, suite: Suite, overwrite: bool) -> None:
    """Refuse (unless ``overwrite``) a non-empty folder that is not a vidbench run of
    ``suite``: its files would be overwritten or dropped from the manifest."""
    if overwrite or not out_dir.is_dir():
        return
    try:
        names = sorted(os.listdir(out_dir))
    except OSError as e:
        raise UserError(f"--out {out_dir}: cannot list ({e.strerror or e})") from None
    foreign = [n for n in names if n not in _OWN_NAMES and not _OWN_PATTERN.match(n)]
    reason = None
    if foreign:
        reason = f"it holds {', '.join(repr(n) for n in foreign[:3])}, not written by vidbench"
    else:
        entries, _ = read_previous(out_dir / MANIFEST_NAME)
        listed = {e.video for e in entries.values()}
        for ent in entries.values():
            if not isinstance(ent.meta.get("generation"), dict):
                reason = (f"{ent.where}: {ent.video!r} was not written by `vidbench generate`")
                break
            if ent.suite != suite.name:
                reason = f"it is a run of suite {ent.suite!r}, not {suite.name!r}"
                break
        vids = out_dir / VIDEOS_DIR
        if reason is None and vids.is_dir():
            extra = sorted(p.relative_to(out_dir).as_posix() for p in vids.rglob("*")
                           if not p.is_dir() and not p.name.startswith("."))
            extra = [v for v in extra if v not in listed]
            if extra and not (out_dir / MANIFEST_NAME).exists():
                reason = f"{VIDEOS_DIR}/ holds {extra[0]!r} but there is no manifest"
    if reason:
        raise UserError(f"--out {out_dir} is not empty and {reason}; use an empty folder, "
                        f"or pass --overwrite to write into it anyway")


def _generate(adapter: Adapter, suite: Suite, out_dir: Path, *, resume: bool,
              allow_missing: bool, progress: bool, overwrite: bool = False) -> GenerateReport:
    t_start = time.perf_counter()
    manifest_path = out_dir / MANIFEST_NAME
    model_id = adapter.model_id

    seen: dict[str, int] = {}
    for i, it in enumerate(suite.items):
        if it.item in seen:
            raise UserError(f"suite {suite.name!r}: duplicate item id {it.item!r} "
                             f"(items {seen[it.item]} and {i})")
        seen[it.item] = i

    previous: dict[str, ManifestEntry] = {}
    if manifest_path.exists():
        previous, warnings = read_previous(manifest_path)
        for w in warnings:
            note(w)
        others = sorted({e.model for e in previous.values() if e.model and e.model != model_id})
        if others and resume and not overwrite:
            raise UserError(f"{out_dir} already holds videos of model {others[0]!r}, not "
                            f"{model_id!r}; use another output folder, or turn resuming off "
                            f"(--no-resume) to overwrite it")
    if not resume:
        previous = {}

    skipped: list[ManifestEntry] = []
    todo: list[SuiteItem] = []
    for it in suite.items:
        prev = previous.get(it.item)
        if prev is not None and _reusable(prev, it, model_id):
            skipped.append(prev)
        else:
            todo.append(it)

    # Compact: the manifest holds exactly the videos that are done, with no duplicates, so
    # it stays readable (and resumable) however this run ends.
    write_manifest(manifest_path, skipped)

    staging = out_dir / STAGING_DIR
    journal = JobJournal(out_dir / JOBS_NAME)
    run = GenerationRun(out_dir=out_dir, suite=suite, items=todo, journal=journal,
                        staging_dir=staging, allow_missing=allow_missing, resume=resume,
                        previous=previous)
    prepare = getattr(adapter, "prepare", None)
    if callable(prepare):
        prepare(run)

    done: dict[str, ManifestEntry] = {e.item: e for e in skipped}
    errors: list[dict] = []
    n_ok = n_failed = n_missing = 0
    pending = {it.item: it for it in todo}
    bar = Progress(len(todo), "generate", mode=None if progress else "off")
    t_last = time.perf_counter()
    try:
        results: Iterable = adapter.generate_many(list(todo)) if todo else ()
        for item, result in results:
            now = time.perf_counter()
            elapsed, t_last = now - t_last, now
            if item.item not in pending:
                note(f"adapter returned an unexpected or repeated item {item.item!r}; ignored")
                continue
            del pending[item.item]
            if isinstance(result, MissingVideoError):
                n_missing += 1
                errors.append(_error_record(item, result, "missing"))
            elif isinstance(result, BaseException):
                n_failed += 1
                errors.append(_error_record(item, result))
                note(f"item {item.item} failed: {result}")
            else:
                try:
                    entry = _commit(result, item, adapter, suite, out_dir, elapsed)
                except (KeyboardInterrupt, SystemExit):
                    raise
                except Exception as e:
                    n_failed += 1
                    errors.append(_error_record(item, e))
                    note(f"item {item.item} failed: {e}")
                else:
                    append_manifest(manifest_path, entry)
                    done[item.item] = entry
                    n_ok += 1
            bar.update(1)
    finally:
        bar.close()
        close = getattr(adapter, "close", None)
        if callable(close):
            close()
    for it in pending.values():
        n_failed += 1
        errors.append(_error_record(it, "the adapter returned no result for this item",
                                    "AdapterError"))

    ordered = [done[it.item] for it in suite.items if it.item in done]
    write_manifest(manifest_path, ordered)
    atomic_write_json(out_dir / ERRORS_NAME, {"model": model_id, "suite": suite.name,
                                              "created": now_iso(), "errors": errors},
                      indent=1)
    try:
        staging.rmdir()
    except OSError:
        pass
    report = GenerateReport(manifest=manifest_path, n_ok=n_ok, n_skipped=len(skipped),
                            n_failed=n_failed, errors=errors, n_missing=n_missing,
                            wall_time_s=round(time.perf_counter() - t_start, 3))
    info(report.summary())
    return report


def _commit(gen: Generated, item: SuiteItem, adapter: Adapter, suite: Suite, out_dir: Path,
            elapsed: float) -> ManifestEntry:
    """Write or place one generated video and build its manifest entry."""
    if not isinstance(gen, Generated):
        raise TypeError(f"adapter returned {type(gen).__name__}, expected Generated")
    stem = safe_name(item.item)
    if gen.frames is not None:
        frames = np.asarray(gen.frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"adapter returned frames of shape {frames.shape} and dtype "
                             f"{frames.dtype}; expected (T, H, W, 3) uint8")
        if frames.shape[0] == 0:
            raise ValueError("adapter returned a video with no frames")
        if not (gen.fps and gen.fps > 0):
            raise ValueError(f"adapter returned fps={gen.fps!r}; expected a positive number")
        from vidbench.video import write_video

        t, h, w = (int(x) for x in frames.shape[:3])
        dest = out_dir / VIDEOS_DIR / f"{stem}.mp4"
        write_video(dest, frames, float(gen.fps),
                    pix_fmt="yuv420p" if h % 2 == 0 and w % 2 == 0 else "yuv444p")
        facts = {"frames": t, "height": h, "width": w, "fps": float(gen.fps)}
    elif gen.path is not None:
        src = Path(gen.path)
        staging = out_dir / STAGING_DIR
        staged = _is_within(src, staging)
        if getattr(adapter, "stages_downloads", False) and not staged:
            # an adapter that downloads (server-named files) must hand back files in the
            # staging folder; anything else is refused, never moved, linked or copied
            raise ValueError(f"adapter returned {str(src)[:200]!r}, which is not inside the "
                             f"staging folder {staging}; refused")
        if not src.is_file():
            raise ValueError(f"adapter returned {str(src)[:200]!r}, which is not a regular "
                             f"file")
        facts = video_facts(src)
        suffix = src.suffix.lower() if src.suffix.lower() in VIDEO_EXTENSIONS else ".mp4"
        dest = out_dir / VIDEOS_DIR / f"{stem}{suffix}"
        if src.resolve() != dest.resolve():
            _place_file(src, dest, move=staged)
    else:
        raise ValueError("adapter returned neither frames nor a path")
    params = clean_json(dict(gen.params))
    wall = params.pop("wall_time_s", None) if isinstance(params, dict) else None
    generation = {
        "model": adapter.model_id,
        "revision": adapter.revision,
        "params": params,
        "seed": item.seed,
        "requested": {"num_frames": item.num_frames, "height": item.height,
                      "width": item.width, "fps": item.fps},
        "num_frames": facts["frames"], "height": facts["height"], "width": facts["width"],
        "fps": facts["fps"],
        "wall_time_s": round(float(wall if wall is not None else elapsed), 4),
        "sha256": sha256_file(dest),
        "created": now_iso(),
    }
    meta = {**clean_json(dict(item.meta)), "generation": generation}
    return ManifestEntry(video=dest.relative_to(out_dir).as_posix(), prompt=item.prompt,
                         seed=item.seed, model=adapter.model_id, suite=suite.name,
                         item=item.item, meta=meta, root=out_dir,
                         lang=item.lang, pair=item.pair)
