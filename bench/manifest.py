"""Manifests: which videos to score, with their prompts and metadata.

``manifest.jsonl`` holds one JSON object per line::

    {"video": "rel/path.mp4", "prompt": "...", "seed": 0, "model": "...", "suite": "...",
     "item": "id", "meta": {...}}

optionally with ``"lang"`` (BCP-47 language of the prompt, e.g. ``en``, ``zh``) and ``"pair"``
(the key shared by the same request in several languages; :mod:`vidbench.bilingual`). Lines
without them are single-language; both are written only when set.

Paths are relative to the manifest's folder; a path that escapes it is rejected. A bare
folder of videos is accepted too: prompts come from ``prompts.json`` (``{relative_path:
prompt}``) or from VBench-style names ``{prompt}-{i}.mp4``.

Structural problems (invalid JSON, non-UTF-8 bytes, a path escaping the folder, duplicate
videos or item ids, numbers or nesting beyond what JSON parsing allows) raise
:class:`ManifestError` naming the file and line. A listed video that does not exist, is not
a regular file (a FIFO, a device, a folder) or is a symbolic link whose target lies outside
the manifest's folder is kept, with ``entry.problem`` set, so the run records an error for
it and goes on with the rest; it is never opened.

Symbolic links (docs/security.md): a video path is resolved (every link followed) and must
still lie inside the manifest's folder (itself resolved). ``follow_symlinks=True`` (the
CLI's ``--follow-symlinks``) lifts that rule for the user who links videos in on purpose;
the regular-file rule always holds.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidbench.errors import ManifestError
from vidbench.fileio import append_line, atomic_write_bytes, loads_json, regular_file_problem

MANIFEST_NAME = "manifest.jsonl"
VIDEO_EXTENSIONS = (
    ".mp4", ".m4v", ".mov", ".qt", ".mkv", ".webm", ".avi", ".gif", ".mpg", ".mpeg", ".mpe",
    ".m1v", ".m2v", ".vob", ".ts", ".mts", ".m2ts", ".flv", ".f4v", ".3gp", ".3g2", ".ogv",
    ".ogg", ".ogm", ".wmv", ".asf", ".mxf", ".nut", ".dv", ".y4m", ".ivf", ".rm", ".rmvb",
    ".h264", ".264", ".h265", ".265", ".hevc", ".apng",
)
"""Containers and raw streams that FFmpeg (PyAV) opens; a folder scan takes every file with one
of these suffixes and names the other files it skipped in :attr:`Manifest.notes`."""
_NOT_VIDEOS = {"prompts.json", MANIFEST_NAME}
__all__ = ["Manifest", "ManifestEntry", "append_manifest", "atomic_write_bytes",
           "read_manifest", "scan_folder", "write_manifest"]
_KNOWN_KEYS = ("video", "prompt", "seed", "model", "suite", "item", "meta", "lang", "pair")
_LANG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


@dataclass
class ManifestEntry:
    """One video. ``video`` is relative to ``root``; ``line`` is its line in the manifest
    (0 for folder scans); ``problem`` explains why it cannot be scored, or is None."""

    video: str
    prompt: str = ""
    seed: int | None = None
    model: str = ""
    suite: str = ""
    item: str = ""
    meta: dict = field(default_factory=dict)
    root: Path = field(default_factory=Path)
    line: int = 0
    source: str = ""
    problem: str | None = None
    lang: str | None = None
    pair: str | None = None

    @property
    def path(self) -> Path:
        return self.root / self.video

    @property
    def where(self) -> str:
        """``manifest.jsonl:LINE`` (or the folder) for error messages."""
        return f"{self.source}:{self.line}" if self.line else (self.source or str(self.root))

    def to_json(self) -> dict[str, Any]:
        rec = {"video": self.video, "prompt": self.prompt, "seed": self.seed,
               "model": self.model, "suite": self.suite, "item": self.item, "meta": self.meta}
        if self.lang is not None:
            rec["lang"] = self.lang
        if self.pair is not None:
            rec["pair"] = self.pair
        return rec


@dataclass
class Manifest:
    root: Path
    entries: list[ManifestEntry]
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[ManifestEntry]:
        return iter(self.entries)


MAX_SIDE_FILE_BYTES = 64 * 2**20  # manifest.jsonl / prompts.json larger than this: refused
#: A video file larger than this is refused before it is hashed or decoded (a sparse file of
#: a terabyte costs no disk but would take half an hour to hash).
MAX_VIDEO_BYTES = 16 * 2**30


def read_side_file(p: Path, limit: int = MAX_SIDE_FILE_BYTES) -> bytes:
    """The bytes of a small user file (manifest, prompts.json): a regular file no larger
    than ``limit``, checked before it is opened (a FIFO or /dev/zero cannot hang or fill
    memory)."""
    problem = regular_file_problem(p, limit=limit)
    if problem:
        raise ManifestError(problem)
    try:
        with open(p, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise ManifestError(f"{p}: cannot read ({e.strerror or e})") from None
    if len(data) > limit:
        raise ManifestError(f"{p}: larger than {limit} bytes")
    return data


def symlink_problem(root: Path, rel: str) -> str | None:
    """None when ``root/rel`` with every symbolic link resolved still lies inside the
    resolved ``root``; else the reason."""
    try:
        base = os.path.realpath(root)
        full = os.path.realpath(os.path.join(root, rel))
    except (OSError, ValueError) as e:
        return f"{rel!r}: cannot resolve ({e})"
    if full == base or full.startswith(base.rstrip(os.sep) + os.sep):
        return None
    return (f"video {rel!r} is a symbolic link (or lies under one) leading outside the "
            f"folder {root} (to {full}); refused, pass --follow-symlinks to allow links")


def video_problem(entry: ManifestEntry, follow_symlinks: bool) -> str | None:
    """Why ``entry``'s video cannot be opened (not found, not a regular file, a link out of
    the manifest folder), or None."""
    if not follow_symlinks:
        p = symlink_problem(entry.root, entry.video)
        if p:
            return f"{entry.where}: {p}"
    p = regular_file_problem(entry.path, limit=MAX_VIDEO_BYTES)
    if p is None:
        return None
    if p.endswith(": not found"):
        return f"{entry.where}: video {entry.video!r} not found (looked for {entry.path})"
    return f"{entry.where}: {p}"


def _inside(root: Path, rel: str) -> bool:
    if os.path.isabs(rel):
        return False
    full = os.path.normpath(os.path.join(os.path.abspath(root), rel))
    base = os.path.abspath(root)
    return full == base or full.startswith(base + os.sep)


def parse_manifest_lines(data: bytes, root: Path, source: str, *,
                         follow_symlinks: bool = False) -> list[ManifestEntry]:
    """Parse manifest bytes; raises ManifestError naming ``source:line``."""
    entries: list[ManifestEntry] = []
    seen_video: dict[str, int] = {}
    seen_item: dict[str, int] = {}
    for no, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ManifestError(f"{source}:{no}: not valid UTF-8 (byte {e.start}: "
                                f"{raw[e.start:e.start + 1]!r})") from None
        rec = loads_json(text, f"{source}:{no}", lineno=False, error=ManifestError)
        if not isinstance(rec, dict):
            raise ManifestError(f"{source}:{no}: expected a JSON object, got "
                                f"{type(rec).__name__}")
        video = rec.get("video")
        if not isinstance(video, str) or not video.strip():
            raise ManifestError(f"{source}:{no}: missing \"video\" (a path relative to "
                                f"{root})")
        if not _inside(root, video):
            raise ManifestError(f"{source}:{no}: video path {video!r} escapes the manifest "
                                f"folder {root}; paths must be relative and inside it")
        prompt = rec.get("prompt", "")
        if prompt is None:
            prompt = ""
        if not isinstance(prompt, str):
            raise ManifestError(f"{source}:{no}: \"prompt\" must be a string")
        meta = rec.get("meta") or {}
        if not isinstance(meta, dict):
            raise ManifestError(f"{source}:{no}: \"meta\" must be an object")
        seed = rec.get("seed")
        if seed is not None and not isinstance(seed, int):
            raise ManifestError(f"{source}:{no}: \"seed\" must be an integer or null")
        lang, pair = rec.get("lang"), rec.get("pair")
        if lang is not None and not (isinstance(lang, str) and _LANG.match(lang)):
            raise ManifestError(f"{source}:{no}: \"lang\" must be a BCP-47 tag such as "
                                f"\"en\" or \"zh\", got {str(lang)[:40]!r}")
        if pair is not None and not (isinstance(pair, str) and pair.strip()):
            raise ManifestError(f"{source}:{no}: \"pair\" must be a non-empty string")
        item = str(rec.get("item") or Path(video).with_suffix("").as_posix())
        norm = os.path.normpath(video)
        if norm in seen_video:
            raise ManifestError(f"{source}:{no}: duplicate video {video!r} (first on line "
                                f"{seen_video[norm]})")
        if item in seen_item:
            raise ManifestError(f"{source}:{no}: duplicate item id {item!r} (first on line "
                                f"{seen_item[item]})")
        seen_video[norm] = no
        seen_item[item] = no
        extra = {k: v for k, v in rec.items() if k not in _KNOWN_KEYS}
        if extra:
            meta = {**meta, "extra": extra}
        entry = ManifestEntry(video=video, prompt=prompt, seed=seed,
                              model=str(rec.get("model") or ""),
                              suite=str(rec.get("suite") or ""), item=item, meta=meta,
                              root=root, line=no, source=source,
                              lang=lang.lower() if lang else None, pair=pair)
        entry.problem = video_problem(entry, follow_symlinks)
        entries.append(entry)
    return entries


def _vbench_prompt(stem: str) -> tuple[str, int | None]:
    """VBench names videos ``{prompt}-{i}.mp4``: split off a trailing integer index."""
    m = re.match(r"^(.*)-(\d+)$", stem)
    if m and m.group(1).strip():
        return m.group(1), int(m.group(2))
    return stem, None


def scan_folder(folder: Path, *, follow_symlinks: bool = False) -> Manifest:
    """A folder without manifest.jsonl: every video file under it (sorted), with prompts
    from ``prompts.json`` when present, else from VBench-style file names."""
    folder = Path(folder)
    prompts: dict[str, str] | None = None
    pj = folder / "prompts.json"
    if pj.exists() or pj.is_symlink():
        try:
            prompts = loads_json(read_side_file(pj).decode("utf-8"), str(pj),
                                 error=ManifestError)
        except UnicodeDecodeError as e:
            raise ManifestError(f"{pj}: not valid UTF-8 (byte {e.start})") from None
        if not isinstance(prompts, dict):
            raise ManifestError(f"{pj}: expected an object {{relative_path: prompt}}")
        bad = next((k for k, v in prompts.items() if not isinstance(v, str)), None)
        if bad is not None:
            raise ManifestError(f"{pj}: the prompt of {bad[:200]!r} is "
                                f"{type(prompts[bad]).__name__}, expected a string")
    paths, skipped = [], []
    for p in sorted(folder.rglob("*")):
        if p.name.startswith("."):
            continue
        if p.suffix.lower() in VIDEO_EXTENSIONS:
            paths.append(p)
        elif p.is_file() and p.name not in _NOT_VIDEOS:
            skipped.append(p.relative_to(folder).as_posix())
    notes = []
    if skipped:
        shown = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more"
                                          if len(skipped) > 5 else "")
        notes.append(f"{folder}: skipped {len(skipped)} file(s) that are not videos by their "
                     f"suffix: {shown}")
    entries = []
    for p in paths:
        rel = p.relative_to(folder).as_posix()
        if prompts is not None:
            prompt, idx = prompts.get(rel, ""), None
        else:
            prompt, idx = _vbench_prompt(p.stem)
        entry = ManifestEntry(video=rel, prompt=prompt, seed=idx,
                              item=Path(rel).with_suffix("").as_posix(), root=folder,
                              source=str(folder))
        entry.problem = video_problem(entry, follow_symlinks)
        entries.append(entry)
    if prompts is not None:
        listed = set(prompts) - {x.video for x in entries}
        for rel in sorted(listed):
            if not _inside(folder, rel):
                raise ManifestError(f"{pj}: path {rel!r} escapes the folder {folder}")
            entry = ManifestEntry(video=rel, prompt=prompts[rel], item=rel, root=folder,
                                  source=str(pj))
            entry.problem = (video_problem(entry, follow_symlinks)
                             or f"{pj}: video {rel!r} not found")
            entries.append(entry)
    return Manifest(folder, entries, str(folder), notes)


def read_manifest(path: str | os.PathLike, *, follow_symlinks: bool = False) -> Manifest:
    """A manifest file, a folder holding ``manifest.jsonl``, or a bare folder of videos.
    ``follow_symlinks``: accept videos that are links leading outside the folder."""
    p = Path(path)
    try:
        if p.is_dir():
            if (p / MANIFEST_NAME).exists():
                p = p / MANIFEST_NAME
            else:
                return scan_folder(p, follow_symlinks=follow_symlinks)
        if not p.exists():
            raise ManifestError(f"{p}: no such manifest file or folder")
    except OSError as e:  # a name too long, a loop of links
        raise ManifestError(f"{str(p)[:300]}: cannot access ({e.strerror or e})") from None
    root = p.parent
    return Manifest(root, parse_manifest_lines(read_side_file(p), root, str(p),
                                               follow_symlinks=follow_symlinks), str(p))


def dumps_line(entry: ManifestEntry | dict) -> str:
    rec = entry.to_json() if isinstance(entry, ManifestEntry) else entry
    return json.dumps(rec, ensure_ascii=False, sort_keys=False)


def write_manifest(path: str | os.PathLike, entries: list[ManifestEntry] | list[dict]) -> Path:
    """Write a whole manifest atomically."""
    p = Path(path)
    text = "".join(dumps_line(e) + "\n" for e in entries)
    atomic_write_bytes(p, text.encode("utf-8"))
    return p


def append_manifest(path: str | os.PathLike, entry: ManifestEntry | dict) -> None:
    """Append one line and fsync (a killed writer leaves at most a torn last line, which
    :func:`read_manifest` reports; rewrite with :func:`write_manifest` to compact)."""
    append_line(path, (dumps_line(entry) + "\n").encode("utf-8"))
