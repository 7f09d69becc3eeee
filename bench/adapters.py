"""The generator contract, everything an adapter may import.

An :class:`Adapter` turns :class:`~vidbench.suites.SuiteItem`s into videos;
:func:`get_model` parses a spec string (``scheme:target?key=value&...``) into one. Adapters,
the built-ins in :mod:`vidbench.models` included, are found through the ``vidbench.models``
entry-point group (:mod:`vidbench.plugins`) and imported on first use; a
``VIDBENCH_PLUGINS`` module registers with :func:`register_model`.

The generation loop that writes videos and the manifest is :func:`vidbench.generate.generate`
(the app layer); what it hands an adapter lives here: :class:`Generated`,
:class:`GenerationRun` (the ``prepare`` hook's argument), the :class:`JobJournal` of remote
jobs, :class:`MissingVideoError` and :func:`video_facts`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import numpy as np

from vidbench.errors import UserError, VideoDecodeError
from vidbench.fileio import append_jsonl, now_iso, read_jsonl
from vidbench.manifest import ManifestEntry
from vidbench.plugins import MODELS
from vidbench.progress import note
from vidbench.suites import Suite, SuiteItem


@dataclass
class Generated:
    """One generated video: either ``frames`` (T, H, W, 3) uint8 with ``fps``, or ``path``
    to a video file the adapter already has. ``params`` are the parameters actually used
    (after a pipeline's rounding), recorded in the manifest."""

    frames: np.ndarray | None = None
    fps: float = 8.0
    path: Path | None = None
    params: dict = field(default_factory=dict)


class Adapter:
    """Base class. ``scheme`` is the spec prefix (``dit``, ``folder``, ...); ``target`` is
    what follows the colon (path, model id, ...); ``options`` come from ``?k=v&...``."""

    scheme: ClassVar[str] = ""

    def __init__(self, target: str = "", **options: Any) -> None:
        self.target = target
        self.options = options

    @property
    def model_id(self) -> str:
        return f"{self.scheme}:{self.target}" if self.target else self.scheme

    @property
    def revision(self) -> str | None:
        """A version of the weights or endpoint (hash, tag), when known."""
        return None

    def prepare(self, run: Any) -> None:
        """Called once before the first item with the generation run (output folder, job
        journal, items to do); adapters that keep state across items override it."""

    def close(self) -> None:
        """Called once after the last item (release pipelines, sessions)."""

    def generate_one(self, item: SuiteItem) -> Generated:
        raise NotImplementedError

    def generate_many(self, items: Iterable[SuiteItem]
                      ) -> Iterator[tuple[SuiteItem, Generated | BaseException]]:
        """Yield (item, result or exception) for each item, in any order. Override to
        batch prompts or run jobs concurrently; the default calls :meth:`generate_one`."""
        for item in items:
            try:
                yield item, self.generate_one(item)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:  # one failed item must not stop the run
                yield item, e


def parse_spec(spec: str) -> tuple[str, str, dict[str, str]]:
    """``"scheme:target?k=v&k2=v2"`` -> (scheme, target, options). A bare ``scheme`` has an
    empty target. Windows-free: the first colon separates scheme and target."""
    body, _, query = spec.partition("?")
    scheme, _, target = body.partition(":")
    if not scheme:
        raise UserError(f"bad model spec {spec!r}: expected SCHEME[:TARGET][?k=v&...]")
    return scheme, target, dict(parse_qsl(query, keep_blank_values=True))


# ------------------------------------------------------ what the loop hands an adapter


class MissingVideoError(UserError):
    """A suite item has no video (a pre-generated folder that does not cover the suite)."""


class JobJournal:
    """Append-only record of remote jobs (``jobs.jsonl``), keyed by a string the adapter
    chooses (item id plus a hash of the request). The last record of a key wins; a torn last
    line (a killed writer) is ignored. Thread-safe. ``path=None`` keeps it in memory."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._records: dict[str, dict] = {}
        if path is not None:
            for no, rec in read_jsonl(path, on_bad_line=lambda m: note(f"{m}; ignored")):
                if isinstance(rec, dict) and "key" in rec:
                    self._records[str(rec["key"])] = rec
                else:
                    note(f"{path}:{no}: job record without a key; ignored")

    def get(self, key: str) -> dict | None:
        with self._lock:
            rec = self._records.get(key)
            return dict(rec) if rec is not None else None

    def put(self, key: str, **fields: Any) -> dict:
        """Record (merge) ``fields`` for ``key`` and flush it to disk before returning."""
        with self._lock:
            rec = {**self._records.get(key, {}), **fields, "key": key,
                   "updated": now_iso()}
            self._records[key] = rec
            if self.path is not None:
                append_jsonl(self.path, rec)
            return dict(rec)

    def records(self) -> dict[str, dict]:
        with self._lock:
            return {k: dict(v) for k, v in self._records.items()}


@dataclass
class GenerationRun:
    """What the loop hands an adapter's optional ``prepare(run)`` hook."""

    out_dir: Path
    suite: Suite
    items: list[SuiteItem]
    journal: JobJournal
    staging_dir: Path
    allow_missing: bool = False
    resume: bool = True
    previous: dict[str, ManifestEntry] = field(default_factory=dict)


def video_facts(path: str | os.PathLike, *, decode_frames: int = 1) -> dict:
    """Frames, size and fps of a video file without decoding it all: demux every packet
    (to count frames) and decode the first ``decode_frames`` frames (to prove it decodes).
    Raises :class:`VideoDecodeError` naming the file and the reason."""
    import av

    from vidbench.video import readable_file

    p = readable_file(path)
    try:
        with av.open(str(p)) as c:
            if not c.streams.video:
                raise VideoDecodeError(f"{p}: no video stream")
            s = c.streams.video[0]
            width, height = s.codec_context.width, s.codec_context.height
            nb = int(s.frames or 0)
            rate = s.average_rate or s.guessed_rate
            fps = float(rate) if rate else 0.0
            decoded = 0
            packets = 0
            for packet in c.demux(s):
                if packet.size == 0:
                    continue
                packets += 1
                if decoded < decode_frames:
                    decoded += len(packet.decode())
            if decode_frames > 0 and decoded == 0:
                # frames can sit in the decoder until flushed (B-frames, short clips)
                decoded = len(s.codec_context.decode(None)) if packets else 0
            if packets == 0 or (decode_frames > 0 and decoded == 0):
                raise VideoDecodeError(f"{p}: no decodable video frames")
    except VideoDecodeError:
        raise
    except Exception as e:  # av.error.* and friends
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise VideoDecodeError(f"{p}: not a readable video ({msg})") from None
    frames = nb if nb > 0 else packets
    return {"frames": frames, "height": int(height), "width": int(width),
            "fps": round(fps, 6)}


# ----------------------------------------------------------------------------- registry


def register_model(cls: type[Adapter]) -> type[Adapter]:
    """Class decorator for a module named in ``VIDBENCH_PLUGINS`` (or a test): make ``cls``
    available as ``--model {cls.scheme}:...`` in this process."""
    if not cls.scheme:
        raise ValueError(f"{cls.__name__} has no scheme")
    return MODELS.register(cls.scheme, cls)


def model_schemes() -> list[str]:
    """Every known model scheme (entry points of ``vidbench.models``, vidbench's own first,
    then schemes registered by a ``VIDBENCH_PLUGINS`` module)."""
    return MODELS.names()


def get_model(spec: str) -> Adapter:
    """An adapter instance from a spec string such as ``dit:ckpt.safetensors``."""
    scheme, target, options = parse_spec(spec)
    cls = MODELS.load(scheme)
    return cls(target, **options)
