"""Streaming decode: every declared view built in one pass, frame by frame, without holding
the video (issue 17).

:func:`decode_views` decodes a video once (PyAV, :func:`vidbench.video.iter_frames`) and, for
each decoded frame, keeps only what some declared :class:`~vidbench.video.ViewSpec` will
show, already resized (and cropped) to that view's size; the full-resolution frame is
dropped as soon as the next one arrives, and a frame no view shows is never converted to
RGB (an 8 fps view of a 30 fps video converts and resizes about 8 frames in 30). Which
frames a view shows is decided with the same comparisons
:func:`vidbench.video.sample_indices` makes, one frame ahead (a view frame at time t shows
the last source frame whose timestamp is <= t, so a frame is known to be needed or not when
the next frame's timestamp is seen); at the end the views are assembled by
``sample_indices`` itself on the full timestamp list, so each equals
``make_view(decode(path), spec)`` bit for bit (tests/test_video_streaming.py).

:func:`container_facts` reads a file's frame count, timestamps, fps and duration from its
packets without decoding (the FVD family plans its clip's start from them before the one
decode; the runner checks the plan against the decoded facts).

Memory: the views' own frames (each source frame resized once per distinct view size),
plus one decoded frame; when the views are assembled at the end, each kept frame is freed as
soon as the last view showing it has its copy. ``VIDBENCH_MAX_DECODE_GB`` bounds the views'
frames together; a view that would exceed it is a
:class:`~vidbench.video.ViewTooLargeError` naming the view. A video's length or resolution
is otherwise unbounded (up to :data:`~vidbench.video.MAX_FRAMES` frames).

The result, :class:`StreamedClip`, stands in for a :class:`~vidbench.video.Clip`: it has the
clip's timestamps, fps, size and duration, and ``view(spec)`` for the declared specs. Asking
for an undeclared view streams the video a second time for it, and asking for ``frames``
decodes it again in full (both counted in ``meta["extra_decodes"]``): correct, but not
single-pass (and ``frames`` not bounded). The runner streams
only when every selected metric reads nothing but its declared views.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from vidbench import video as V
from vidbench.errors import VideoDecodeError

EPS = 1e-6  # as sample_indices


class _Broken(Exception):
    """Timestamps stopped increasing: the clip uses k / fps instead (as decode does)."""


class _Plan:
    """Which source frames one spec may show, decided one frame ahead.

    ``grid`` specs (``fps`` set) show, at t0 + k / fps, the last frame with timestamp
    <= t + EPS: frame i is needed iff a grid time falls in [ts_i - EPS, ts_{i+1} - EPS)
    (frame 0 also for grid times before it). ``all`` specs (neither fps nor num_frames) show
    every frame from t0 on; ``spread`` specs (num_frames alone: spread over the whole clip,
    which is known only at the end) keep every frame at the view's size."""

    def __init__(self, spec: V.ViewSpec, t_first: float) -> None:
        self.spec = spec
        self.t0 = t_first + spec.start
        self.kind = "grid" if spec.fps is not None else (
            "all" if spec.num_frames is None else "spread")
        self.g = 0  # next grid index not yet assigned to a frame
        self.k_max: int | None = None
        if self.kind == "grid":
            fps = float(spec.fps)  # type: ignore[arg-type]
            if spec.num_frames is not None:
                self.k_max = spec.num_frames
            elif spec.duration is not None:
                kf = spec.duration * fps + 1e-6
                self.k_max = max(1, int(math.floor(kf))) if math.isfinite(kf) else None
            if self.k_max is not None and self.k_max > V.MAX_FRAMES:
                raise V.ViewTooLargeError(f"a view of {self.k_max} frames is over the limit "
                                          f"of {V.MAX_FRAMES}")

    def _time(self, k: int) -> float:
        return self.t0 + k / float(self.spec.fps)  # type: ignore[arg-type]

    def needs_previous(self, ts_next: float, index_prev: int) -> bool:
        """Called when the frame after ``index_prev`` arrives with timestamp ``ts_next``:
        does this spec show frame ``index_prev``? (Grid times below ts_next - EPS that are not
        yet taken belong to it.)"""
        if self.kind != "grid":
            return False  # decided on arrival (see needs_on_arrival)
        hit = False
        while (self.k_max is None or self.g < self.k_max) and \
                self._time(self.g) + EPS < ts_next:
            hit = True
            self.g += 1
            if self.g > V.MAX_FRAMES:
                raise V.ViewTooLargeError(f"a view at {self.spec.fps:g} fps would have more "
                                          f"than {V.MAX_FRAMES} frames")
        return hit

    def needs_on_arrival(self, ts: float) -> bool:
        if self.kind == "all":
            return ts >= self.t0 - EPS
        return self.kind == "spread"


class StreamedClip:
    """A decoded video's facts and its declared views (see the module docstring). Has the
    :class:`~vidbench.video.Clip` attributes metrics read besides ``frames``."""

    def __init__(self, path: str, timestamps: np.ndarray, fps: float, end_time: float | None,
                 size: tuple[int, int], views: dict, meta: dict, colour: str,
                 max_bytes: int | None) -> None:
        self.path = path
        self.timestamps = np.asarray(timestamps, dtype=np.float64)
        self.fps = fps
        if end_time is None:
            step = 1.0 / fps if fps > 0 else 0.0
            end_time = float(self.timestamps[-1] + step)
        self.end_time = end_time
        self._size = size
        self._views = views
        self.meta = meta
        self._colour = colour
        self._max_bytes = max_bytes
        self._full: V.Clip | None = None

    @property
    def num_frames(self) -> int:
        return len(self.timestamps)

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def duration(self) -> float:
        return float(self.end_time - self.timestamps[0])

    @property
    def specs(self) -> list[V.ViewSpec]:
        return list(self._views)

    def _decoded(self) -> V.Clip:
        if self._full is None:
            self.meta["extra_decodes"] = self.meta.get("extra_decodes", 0) + 1
            self._full = V.decode(self.path, max_bytes=self._max_bytes, colour=self._colour)
        return self._full

    @property
    def frames(self) -> np.ndarray:
        """Every frame at full resolution: decodes the video again (not bounded)."""
        return self._decoded().frames

    def view(self, spec: V.ViewSpec) -> V.View:
        """The declared view ``spec``; an undeclared one comes from a second streamed pass
        over the file (bounded like the first; counted in ``meta["extra_decodes"]``), or,
        when the full decode is already held, from it."""
        if spec in self._views:
            return self._views[spec]
        if self._full is not None:
            return V.make_view(self._full, spec)
        self.meta["extra_decodes"] = self.meta.get("extra_decodes", 0) + 1
        again = decode_views(self.path, [spec], max_bytes=self._max_bytes, colour=self._colour)
        self._views[spec] = again.view(spec)
        return self._views[spec]


def decode_views(path: str | os.PathLike, specs: Iterable[V.ViewSpec], *,
                 max_bytes: int | None = None, colour: str = "vidbench") -> StreamedClip:
    """Decode ``path`` once and build every view in ``specs`` on the way (module docstring).
    Raises :class:`~vidbench.errors.VideoDecodeError` as :func:`vidbench.video.decode` does,
    and :class:`~vidbench.video.ViewTooLargeError` when the views together would exceed
    ``max_bytes`` (default ``VIDBENCH_MAX_DECODE_GB``)."""
    if colour not in V.COLOURS:
        raise ValueError(f"unknown colour conversion {colour!r}; use one of {V.COLOURS}")
    V.DECODE_COUNT += 1
    p = V.readable_file(path)
    limit = V.max_decode_bytes() if max_bytes is None else max_bytes
    specs = list(dict.fromkeys(specs))
    try:
        return _stream(p, specs, limit, colour, index_times=False, max_bytes=max_bytes)
    except _Broken:  # timestamps went backwards: again, with k / fps (a second pass)
        clip = _stream(p, specs, limit, colour, index_times=True, max_bytes=max_bytes)
        clip.meta["decode_passes"] = 2
        return clip


def _size_key(spec: V.ViewSpec) -> tuple:
    return (spec.size, spec.resize, spec.crop)


def _shrink(frame: np.ndarray, spec: V.ViewSpec) -> np.ndarray:
    """One source frame at ``spec``'s size and crop, exactly as make_view treats it in a
    batch (resizing works frame by frame; tests compare the two)."""
    out = V.resize_frames(frame[None], spec.size, spec.resize)
    if spec.crop == "center":
        out = V.center_crop(out, int(spec.size))  # type: ignore[arg-type]
    return np.ascontiguousarray(out[0])


def _stream(p: Path, specs: list[V.ViewSpec], limit: int, colour: str, *, index_times: bool,
            max_bytes: int | None) -> StreamedClip:
    container, s = V._open(p)
    info: dict = {}
    starts: list[float] = []
    ends: list[float] = []
    plans: list[_Plan] = []
    # per distinct (size, resize, crop): source index -> the frame at that size
    kept: dict[tuple, dict[int, np.ndarray]] = {_size_key(sp): {} for sp in specs}
    held = 0  # bytes in kept
    prev: V.LazyFrame | None = None
    prev_small: dict[tuple, np.ndarray] = {}
    size: tuple[int, int] = (0, 0)

    def keep(i: int, spec: V.ViewSpec, small: np.ndarray) -> None:
        nonlocal held
        store = kept[_size_key(spec)]
        if i in store:
            return
        store[i] = small
        held += small.nbytes
        if held > limit:
            th, tw = small.shape[:2]
            raise V.ViewTooLargeError(
                f"{p}: the views need more than {limit / 2**30:.2f} GiB (VIDBENCH_MAX_DECODE_GB)"
                f" by frame {i}; the view {_describe(spec)} alone holds "
                f"{len(store)} frames of {tw}x{th}")

    def small_of(frame: np.ndarray, spec: V.ViewSpec, cache: dict) -> np.ndarray:
        key = _size_key(spec)
        if key not in cache:
            cache[key] = _shrink(frame, spec)
        return cache[key]

    with container:
        fps_declared = float(s.average_rate) if s.average_rate else 0.0
        step = 1.0 / fps_declared if fps_declared > 0 else 1 / 25.0
        if len(specs) > 0 and int(s.frames or 0) > V.MAX_FRAMES:
            raise VideoDecodeError(f"{p}: more than {V.MAX_FRAMES} frames; trim the video")
        frames = V.iter_frames(container, s, p, limit, colour, info, lazy=True)
        for i, (lazy, t0, t1) in enumerate(frames):
            if i >= V.MAX_FRAMES:
                raise VideoDecodeError(f"{p}: more than {V.MAX_FRAMES} frames; trim the video")
            if index_times:
                t0, t1 = i * step, i * step + step
            elif starts and not t0 > starts[-1]:
                raise _Broken
            if i == 0:
                size = lazy.rgb().shape[:2]
                plans = [_Plan(sp, t0) for sp in specs]
            # the frame before this one: which views show it (now that its successor's
            # timestamp is known)
            if prev is not None:
                for pl in plans:
                    if pl.needs_previous(t0, i - 1):
                        keep(i - 1, pl.spec, small_of(prev.rgb(), pl.spec, prev_small))
            cur_small: dict[tuple, np.ndarray] = {}
            for pl in plans:
                if pl.needs_on_arrival(t0):
                    keep(i, pl.spec, small_of(lazy.rgb(), pl.spec, cur_small))
            prev, prev_small = lazy, cur_small
            starts.append(t0)
            ends.append(t1)
    n = len(starts)
    stamps = np.stack([np.asarray(starts), np.asarray(ends)], axis=1)
    ts, end_time, fps = V.finish_times(stamps, fps_declared)
    clip_end = end_time if end_time is not None else float(ts[-1] + 1.0 / fps)
    views: dict[V.ViewSpec, V.View] = {}
    last_small: dict[tuple, np.ndarray] = {}
    picks = {sp: V.sample_indices(ts, clip_end, sp) for sp in specs}
    refs: dict[tuple, int] = {}  # (size key, source index) -> view frames still to fill
    for sp, (idx, _, _) in picks.items():
        store = kept[_size_key(sp)]
        if n - 1 in idx and n - 1 not in store:  # the last frame: every view may end on it
            store[n - 1] = small_of(prev.rgb(), sp, last_small)  # type: ignore[union-attr]
        missing = sorted(set(int(j) for j in idx) - set(store))
        if missing:  # a bug, never a silent difference from make_view
            raise RuntimeError(f"{p}: streamed view {_describe(sp)} lacks source frames "
                               f"{missing[:5]}")
        for j in idx:
            refs[(_size_key(sp), int(j))] = refs.get((_size_key(sp), int(j)), 0) + 1
    for key, store in kept.items():  # frames kept for grid times past the end
        for j in [j for j in store if (key, j) not in refs]:
            del store[j]
    for sp, (idx, times, vfps) in picks.items():
        key = _size_key(sp)
        store = kept[key]
        th, tw = store[int(idx[0])].shape[:2]
        if len(idx) * th * tw * 3 > limit:
            raise V.ViewTooLargeError(
                f"{p}: a view of {len(idx)} frames of {tw}x{th} needs "
                f"{len(idx) * th * tw * 3 / 2**30:.2f} GiB, over the limit of "
                f"{limit / 2**30:.2f} GiB (VIDBENCH_MAX_DECODE_GB)")
        frames = np.empty((len(idx), th, tw, 3), np.uint8)
        for r, j in enumerate(idx):  # each kept frame is freed once its last view has it
            j = int(j)
            frames[r] = store[j]
            refs[(key, j)] -= 1
            if not refs[(key, j)]:
                del store[j]
        views[sp] = V.View(frames, times, vfps, idx, sp, fps, size, str(p))
    meta = {"codec": info.get("codec"), "pix_fmt": info.get("pix_fmt"),
            "rotation": info.get("rotation", 0), "decoder": "pyav-stream", "colour": colour,
            "decode_passes": 1}
    return StreamedClip(str(p), ts, fps, end_time, size, views, meta, colour, max_bytes)


def _describe(spec: V.ViewSpec) -> str:
    parts = [f"{k}={v}" for k, v in spec.__dict__.items()
             if v != V.ViewSpec.__dataclass_fields__[k].default]
    return "ViewSpec(" + ", ".join(parts) + ")"


class ContainerFacts:
    """What :func:`container_facts` read from a file's packets: the frame count, start
    times, fps and duration the decoder would report (``VideoContext.clip`` facts)."""

    def __init__(self, path: str, timestamps: np.ndarray, fps: float,
                 end_time: float | None) -> None:
        self.path = path
        self.timestamps = timestamps
        self.fps = fps
        if end_time is None:
            end_time = float(timestamps[-1] + (1.0 / fps if fps > 0 else 0.0))
        self.end_time = end_time

    @property
    def num_frames(self) -> int:
        return len(self.timestamps)

    @property
    def duration(self) -> float:
        return float(self.end_time - self.timestamps[0])


def container_facts(path: str | os.PathLike) -> ContainerFacts | None:
    """A video's frame count, timestamps, fps and duration from its packets (demuxed, not
    decoded: ~0.1 s for a minute of 1080p), computed as :func:`vidbench.video.decode`
    computes them from the decoded frames (presentation times sorted, each packet's
    duration, :func:`~vidbench.video.finish_times`). A plan, not a fact: a decoder may drop
    or add frames (a truncated tail, an edit list), so callers compare it with the decoded
    clip and never use it in its place. None when the packets do not tell (no timestamps,
    a stream without packets) or the file cannot be opened."""
    import av

    try:
        p = V.readable_file(path)
        container, s = V._open(p)
    except (VideoDecodeError, OSError, ValueError):
        return None
    try:
        with container:
            tb = s.time_base
            if tb is None:
                return None
            num, den = tb.numerator, tb.denominator
            fps_declared = float(s.average_rate) if s.average_rate else 0.0
            pts: list[int] = []
            durs: list[int] = []
            for pkt in container.demux(s):
                if pkt.size == 0:
                    continue  # the demuxer's flush packet
                if pkt.pts is None:
                    return None
                pts.append(int(pkt.pts))
                durs.append(int(pkt.duration or 0))
                if len(pts) > V.MAX_FRAMES:
                    return None
    except av.error.FFmpegError:
        return None
    if not pts:
        return None
    order = np.argsort(np.asarray(pts), kind="stable")
    p_sorted = np.asarray(pts, dtype=np.float64)[order]
    d_sorted = np.asarray(durs, dtype=np.float64)[order]
    starts = p_sorted * num / den
    ends = starts + d_sorted * num / den
    ts, end_time, fps = V.finish_times(np.stack([starts, ends], axis=1), fps_declared)
    return ContainerFacts(str(p), ts, fps, end_time)
