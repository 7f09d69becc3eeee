"""Manifests: which videos to score, with their prompts and metadata.

``manifest.jsonl`` holds one JSON object per line::

    {"video": "rel/path.mp4", "prompt": "...", "seed": 0, "model": "...", "suite": "...",
     "item": "id", "meta": {...}}

Paths are relative to the manifest's folder; a path that escapes it is rejected. A bare
folder of videos is accepted too: prompts come from ``prompts.json`` (``{relative_path:
prompt}``) or from VBench-style names ``{prompt}-{i}.mp4``.

Structural problems (invalid JSON, non-UTF-8 bytes, a path escaping the folder, duplicate
videos or item ids) raise :class:`ManifestError` naming the file and line. A listed video
that does not exist is kept, with ``entry.problem`` set, so the run records an error for it
and goes on with the rest.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidbench.errors import ManifestError
from vidbench.fileio import atomic_write_bytes

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
_KNOWN_KEYS = ("video", "prompt", "seed", "model", "suite", "item", "meta")


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

    @property
    def path(self) -> Path:
        return self.root / self.video

    @property
    def where(self) -> str:
        """``manifest.jsonl:LINE`` (or the folder) for error messages."""
        return f"{self.source}:{self.line}" if self.line else (self.source or str(self.root))

    def to_json(self) -> dict[str, Any]:
        return {"video": self.video, "prompt": self.prompt, "seed": self.seed,
                "model": self.model, "suite": self.suite, "item": self.item, "meta": self.meta}


@dataclass
class Manifest:
    root: Path
    entries: list[ManifestEntry]
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)


def _inside(root: Path, rel: str) -> bool:
    if os.path.isabs(rel):
        return False
    full = os.path.normpath(os.path.join(os.path.abspath(root), rel))
    base = os.path.abspath(root)
    return full == base or full.startswith(base + os.sep)


def parse_manifest_lines(data: bytes, root: Path, source: str) -> list[ManifestEntry]:
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
        try:
            rec = json.loads(text)
        except json.JSONDecodeError as e:
            raise ManifestError(f"{source}:{no}: invalid JSON ({e.msg} at column {e.colno})"
                                ) from None
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
                              root=root, line=no, source=source)
        if not entry.path.exists():
            entry.problem = f"{entry.where}: video {video!r} not found (looked for {entry.path})"
        entries.append(entry)
    return entries


def _vbench_prompt(stem: str) -> tuple[str, int | None]:
    """VBench names videos ``{prompt}-{i}.mp4``: split off a trailing integer index."""
    m = re.match(r"^(.*)-(\d+)$", stem)
    if m and m.group(1).strip():
        return m.group(1), int(m.group(2))
    return stem, None


def scan_folder(folder: Path) -> Manifest:
    """A folder without manifest.jsonl: every video file under it (sorted), with prompts
    from ``prompts.json`` when present, else from VBench-style file names."""
    folder = Path(folder)
    prompts: dict[str, str] | None = None
    pj = folder / "prompts.json"
    if pj.is_file():
        try:
            prompts = json.loads(pj.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as e:
            raise ManifestError(f"{pj}: not valid UTF-8 (byte {e.start})") from None
        except json.JSONDecodeError as e:
            raise ManifestError(f"{pj}:{e.lineno}: invalid JSON ({e.msg})") from None
        if not isinstance(prompts, dict):
            raise ManifestError(f"{pj}: expected an object {{relative_path: prompt}}")
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
        entries.append(ManifestEntry(video=rel, prompt=prompt, seed=idx,
                                     item=Path(rel).with_suffix("").as_posix(),
                                     root=folder, source=str(folder)))
    if prompts is not None:
        listed = set(prompts) - {e.video for e in entries}
        for rel in sorted(listed):
            if not _inside(folder, rel):
                raise ManifestError(f"{pj}: path {rel!r} escapes the folder {folder}")
            e = ManifestEntry(video=rel, prompt=prompts[rel], item=rel, root=folder,
                              source=str(pj))
            e.problem = f"{pj}: video {rel!r} not found"
            entries.append(e)
    return Manifest(folder, entries, str(folder), notes)


def read_manifest(path: str | os.PathLike) -> Manifest:
    """A manifest file, a folder holding ``manifest.jsonl``, or a bare folder of videos."""
    p = Path(path)
    if p.is_dir():
        if (p / MANIFEST_NAME).is_file():
            p = p / MANIFEST_NAME
        else:
            return scan_folder(p)
    if not p.is_file():
        raise ManifestError(f"{p}: no such manifest file or folder")
    root = p.parent
    return Manifest(root, parse_manifest_lines(p.read_bytes(), root, str(p)), str(p))


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
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "a", encoding="utf-8") as f:
        f.write(dumps_line(entry) + "\n")
        f.flush()
        os.fsync(f.fileno())
