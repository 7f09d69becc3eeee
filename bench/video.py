"""Video I/O: decode once into a :class:`Clip`, derive every metric's :class:`View` from it,
and write H.264 mp4 files.

Decoding uses PyAV by default (frames, per-frame presentation timestamps, rotation) or
decord (``VIDBENCH_DECODER=decord``, cross-checked against PyAV); PyAV writes mp4 files. A view is
resampled **by timestamps**, never by frame index, so that the container's fps does not move
a score: the view's frame ``k`` is the source frame on screen at time ``t0 + k / fps``.

Memory bounds (docs/security.md): nothing a file declares (frame count, size, duration,
frame rate) sizes an allocation before it is checked. A decoded clip's frames are at most
``VIDBENCH_MAX_DECODE_GB`` (default 4 GiB; the frames are written into one array allocated
once, so that is also the decode's peak), a clip has at most :data:`MAX_FRAMES` frames, and
a view at most :data:`MAX_FRAMES` frames whose uint8 pixels (gathered and resized) are each
within the same budget.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from vidbench.errors import UserError, VideoDecodeError

#: Number of :func:`decode` calls in this process. Tests use it to assert one decode per video.
DECODE_COUNT = 0

RESIZE_METHODS = ("area", "bilinear", "bicubic", "bilinear_aa", "bicubic_aa", "nearest")


#: The most frames a clip or a view may have (about 55 minutes at 30 fps).
MAX_FRAMES = 100_000


def max_decode_bytes() -> int:
    """``VIDBENCH_MAX_DECODE_GB`` (default 4) in bytes; anything but a finite positive number
    of GiB (at most 1 TiB) is a one-line :class:`UserError`."""
    raw = os.environ.get("VIDBENCH_MAX_DECODE_GB")
    if raw is None:
        return 4 * 2**30
    try:
        gb = float(raw)
    except ValueError:
        gb = math.nan
    if not (math.isfinite(gb) and 0 < gb <= 1024):
        raise UserError(f"VIDBENCH_MAX_DECODE_GB={raw[:40]!r}: give a number of GiB greater "
                        f"than 0 and at most 1024, e.g. 4")
    return int(gb * 2**30)


class ViewTooLargeError(VideoDecodeError):
    """A view would exceed the frame or memory bound (a file declaring an absurd duration or
    frame rate)."""


@dataclass
class Clip:
    """A decoded video: ``frames`` (T, H, W, 3) uint8 RGB, ``timestamps`` (T,) presentation
    times in seconds, ``end_time`` the end of the last frame's display interval, ``fps`` the
    container's average frame rate, ``path`` the file it came from."""

    frames: np.ndarray
    timestamps: np.ndarray
    fps: float
    path: str = ""
    end_time: float | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
            raise ValueError(f"Clip frames must be (T, H, W, 3) uint8, got {self.frames.shape} "
                             f"{self.frames.dtype}")
        self.timestamps = np.asarray(self.timestamps, dtype=np.float64)
        if len(self.timestamps) != len(self.frames):
            raise ValueError("Clip needs one timestamp per frame")
        if self.end_time is None:
            step = 1.0 / self.fps if self.fps > 0 else 0.0
            self.end_time = float(self.timestamps[-1] + step) if len(self.timestamps) else 0.0

    @classmethod
    def from_array(cls, frames: np.ndarray, fps: float, path: str = "") -> Clip:
        """A constant-frame-rate clip from an in-memory (T, H, W, 3) uint8 array."""
        frames = np.ascontiguousarray(frames)
        return cls(frames, np.arange(len(frames)) / float(fps), float(fps), path)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    @property
    def duration(self) -> float:
        return float(self.end_time - self.timestamps[0]) if len(self.timestamps) else 0.0

    def view(self, spec: ViewSpec) -> View:
        """Resample this clip to ``spec`` (see :func:`make_view`)."""
        return make_view(self, spec)


@dataclass(frozen=True)
class ViewSpec:
    """What a metric wants to look at, independent of how the file was stored.

    - ``fps``: resample by timestamps to this rate (None: keep the source frames).
    - ``num_frames``: with ``fps``, take this many frames from ``start``; without ``fps``,
      take this many frames spread evenly over the clip's time (the midpoints of
      ``num_frames`` equal segments of [start, end time): the same frames at any frame rate).
    - ``duration``: with ``fps``, cover this many seconds (ignored when ``num_frames`` is set).
    - ``start``: seconds after the first frame where the view begins.
    - ``pad``: when the clip is too short for ``num_frames``, repeat frames (True) or
      return fewer frames (False, the default: a view never invents duplicate frames).
    - ``size``: an int resizes the shorter side to it (aspect kept); (H, W) resizes exactly.
    - ``resize``: one of :data:`RESIZE_METHODS`. ``area`` is antialiased (cv2 INTER_AREA when
      shrinking, bilinear when growing); ``*_aa`` use torch's antialiased interpolation (as
      torchvision ``Resize(antialias=True)``); plain ``bilinear``/``bicubic``/``nearest`` do
      not antialias (legacy protocols).
    - ``crop``: ``"center"`` takes a central ``size x size`` square after the resize.
    """

    fps: float | None = None
    num_frames: int | None = None
    duration: float | None = None
    start: float = 0.0
    pad: bool = False
    size: int | tuple[int, int] | None = None
    resize: str = "area"
    crop: str | None = None

    def __post_init__(self) -> None:
        if self.resize not in RESIZE_METHODS:
            raise ValueError(f"unknown resize method {self.resize!r}; use one of {RESIZE_METHODS}")
        if self.crop not in (None, "center"):
            raise ValueError(f"unknown crop {self.crop!r}; use None or 'center'")
        if self.crop == "center" and not isinstance(self.size, int):
            raise ValueError("crop='center' needs an int size (the square's side)")
        if self.fps is not None and self.fps <= 0:
            raise ValueError("fps must be positive")
        if self.num_frames is not None and self.num_frames < 1:
            raise ValueError("num_frames must be >= 1")


@dataclass
class View:
    """A clip resampled for one metric: ``frames`` (K, H, W, 3) uint8, ``timestamps`` (K,)
    the times the frames stand for, ``fps`` the view's rate (the spec's, or the source's),
    ``indices`` the source frame behind each view frame, ``spec`` and ``source`` (the clip)."""

    frames: np.ndarray
    timestamps: np.ndarray
    fps: float
    indices: np.ndarray
    spec: ViewSpec
    source_fps: float
    source_size: tuple[int, int]
    path: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def float_frames(self) -> np.ndarray:
        """Frames as float32 in [0, 255], shape (K, H, W, 3)."""
        return self.frames.astype(np.float32)

    def gray(self) -> np.ndarray:
        """Luma (ITU-R BT.601) as float32 in [0, 255], shape (K, H, W)."""
        f = self.frames.astype(np.float32)
        return 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]


def sample_indices(timestamps: np.ndarray, end_time: float, spec: ViewSpec,
                   max_frames: int = MAX_FRAMES) -> tuple[np.ndarray, np.ndarray, float]:
    """Source frame indices, view timestamps and view fps for ``spec``.

    A view frame at time t shows the last source frame whose timestamp is <= t (what a
    player shows), so variable frame rates and any container fps map to the same content.
    A view of more than ``max_frames`` frames raises :class:`ViewTooLargeError` before
    anything of that length is allocated.
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    n = len(ts)
    if n == 0:
        raise ValueError("cannot sample a view from a clip with no frames")
    t0 = float(ts[0]) + spec.start
    eps = 1e-6
    if spec.fps is not None:
        fps = float(spec.fps)
        if spec.num_frames is not None:
            k = spec.num_frames
        else:
            span = spec.duration if spec.duration is not None else end_time - t0
            kf = span * fps + 1e-6
            if not math.isfinite(kf) or kf > max_frames:
                raise ViewTooLargeError(
                    f"a view of {span:.6g} s at {fps:g} fps would have {kf:.6g} frames, "
                    f"over the limit of {max_frames} (the file declares a duration of "
                    f"{end_time - float(ts[0]):.6g} s for {n} frames)")
            k = max(1, int(math.floor(kf)))
        if k > max_frames:
            raise ViewTooLargeError(f"a view of {k} frames is over the limit of {max_frames}")
        times = t0 + np.arange(k) / fps
        if not spec.pad:
            keep = times < end_time - eps
            keep[0] = True
            times = times[keep]
    elif spec.num_frames is not None:
        # Never more frames than the clip has unless padding is asked for: duplicated
        # frames would read as perfect temporal consistency.
        # k frames spread evenly over the clip's time: the midpoints of k equal segments of
        # [start, end time). (linspace from the first to the last *timestamp*, the rule
        # before, moves with the frame rate: the last timestamp of a 4 s clip is 3.96 s at
        # 25 fps, 3.875 s at 8 fps, so an 8-frame view picked other frames at other rates;
        # ViCLIP's score moved 4.3% across fps on real bikes, 0.8% with midpoints.)
        k = spec.num_frames if spec.pad else min(spec.num_frames, n)
        if k > max_frames:
            raise ViewTooLargeError(f"a view of {k} frames is over the limit of {max_frames}")
        span = end_time - t0
        if k > 1 and span > 0:
            times = t0 + (np.arange(k) + 0.5) * (span / k)
            fps = k / span
        else:
            times = np.array([t0])
            fps = _source_fps(ts, end_time)
    else:
        times = ts[ts >= t0 - eps]
        if len(times) == 0:
            times = ts[-1:]
        fps = _source_fps(ts, end_time)
    idx = np.searchsorted(ts, times + eps, side="right") - 1
    idx = np.clip(idx, 0, n - 1)
    return idx.astype(np.int64), times.astype(np.float64), float(fps)


def _source_fps(ts: np.ndarray, end_time: float) -> float:
    span = end_time - float(ts[0])
    return len(ts) / span if span > 0 else 0.0


def _target_size(h: int, w: int, size: int | tuple[int, int] | None) -> tuple[int, int]:
    if size is None:
        return h, w
    if isinstance(size, int):
        if h <= w:
            return size, max(1, int(round(w * size / h)))
        return max(1, int(round(h * size / w))), size
    return int(size[0]), int(size[1])


def resize_frames(frames: np.ndarray, size: int | tuple[int, int] | None,
                  method: str = "area") -> np.ndarray:
    """Resize (K, H, W, 3) uint8 frames; see :class:`ViewSpec` for ``size`` and ``method``."""
    k, h, w, _ = frames.shape
    th, tw = _target_size(h, w, size)
    if (th, tw) == (h, w):
        return frames
    if method in ("bilinear_aa", "bicubic_aa"):
        import torch
        import torch.nn.functional as F

        # uint8 in, uint8 out: torch's vectorised uint8 path (channels-last, as the permuted
        # view of (K, H, W, 3) already is) is ~3.5x faster than float. Downsampling agrees
        # with float to rounding; bicubic upsampling can differ by up to ~10 grey levels
        # (overshoot handling) but stays within ~2 of PIL's bicubic, CLIP's own resize.
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
        mode = "bilinear" if method == "bilinear_aa" else "bicubic"
        y = F.interpolate(x, size=(th, tw), mode=mode, antialias=True, align_corners=False)
        return np.ascontiguousarray(y.permute(0, 2, 3, 1).numpy())
    import cv2

    if method == "area":
        interp = cv2.INTER_AREA if th <= h and tw <= w else cv2.INTER_LINEAR
    else:
        interp = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC,
                  "nearest": cv2.INTER_NEAREST}[method]
    out = np.empty((k, th, tw, 3), dtype=np.uint8)
    for i in range(k):
        out[i] = cv2.resize(frames[i], (tw, th), interpolation=interp)
    return out


def center_crop(frames: np.ndarray, side: int) -> np.ndarray:
    """Central ``side x side`` square of (K, H, W, C) frames (smaller sides are kept)."""
    h, w = frames.shape[1:3]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return frames[:, top:top + side, left:left + side]


def make_view(clip: Clip, spec: ViewSpec, max_bytes: int | None = None) -> View:
    """Resample ``clip`` by timestamps, then resize and crop, as ``spec`` says. The view's
    frame count and its uint8 pixels before and after resizing are bounded (``max_bytes``,
    default ``VIDBENCH_MAX_DECODE_GB``) before they are allocated. A view of consecutive
    source frames at the source size (e.g. VBench's "every decoded frame") shares the
    clip's memory instead of copying it: treat view frames as read-only."""
    limit = max_decode_bytes() if max_bytes is None else max_bytes
    h, w = clip.size
    idx, times, fps = sample_indices(clip.timestamps, float(clip.end_time), spec)
    th, tw = _target_size(h, w, spec.size)
    for what, (vh, vw) in (("gathered", (h, w)), ("resized", (th, tw))):
        need = len(idx) * vh * vw * 3
        if need > limit:
            raise ViewTooLargeError(
                f"{clip.path or 'clip'}: a view of {len(idx)} frames of {vw}x{vh} ({what}) "
                f"needs {need / 2**30:.2f} GiB, over the limit of {limit / 2**30:.2f} GiB "
                f"(VIDBENCH_MAX_DECODE_GB)")
    if len(idx) and int(idx[-1]) - int(idx[0]) == len(idx) - 1 and np.all(np.diff(idx) == 1):
        frames = clip.frames[int(idx[0]):int(idx[-1]) + 1]  # consecutive: a view, no copy
    else:
        frames = clip.frames[idx]
    frames = resize_frames(frames, spec.size, spec.resize)
    if spec.crop == "center":
        frames = center_crop(frames, int(spec.size))  # type: ignore[arg-type]
    return View(np.ascontiguousarray(frames), times, fps, idx, spec, clip.fps, clip.size,
                clip.path)


#: Width in seconds of the windows of :func:`window_series` (issue 17: per-window details).
WINDOW_S = 2.0


def window_series(times, values, width: float = WINDOW_S) -> dict:
    """Per-window means of a per-frame (or per-pair) series: ``{"width": s, "windows":
    [{"start": s from the first time, "value": mean, "n": count}, ...], "drift": last
    window's mean - first window's (None with one window)}``; windows without a value are
    left out. For long videos, where one number hides whether quality degrades over time."""
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if len(t) == 0:
        return {"width": width, "windows": [], "drift": None}
    k = np.floor((t - t[0]) / width + 1e-9).astype(np.int64)
    wins = [{"start": round(float(j * width), 6), "value": float(v[k == j].mean()),
             "n": int((k == j).sum())} for j in np.unique(k)]
    drift = wins[-1]["value"] - wins[0]["value"] if len(wins) > 1 else None
    return {"width": width, "windows": wins, "drift": drift}


# ----------------------------------------------------------------------------- probing


def readable_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path if it is a non-empty regular file (links followed), else a
    VideoDecodeError; checked by its mode before it is opened
    (:func:`vidbench.fileio.regular_file_problem`), so a FIFO or a device never blocks or
    streams forever."""
    from vidbench.fileio import regular_file_problem

    p = Path(path)
    problem = regular_file_problem(p)
    if problem:
        raise VideoDecodeError(problem)
    if p.stat().st_size == 0:
        raise VideoDecodeError(f"{p}: empty file (0 bytes)")
    return p


def probe(path: str | os.PathLike) -> dict:
    """Container facts from PyAV, decoding only the first frame: ``{"streams": n,
    "rotation": degrees counter-clockwise to display upright, "codec", "pix_fmt", "width",
    "height", "first_frame": (H, W, 3) uint8 RGB as stored (not rotated)}``.
    Raises :class:`VideoDecodeError` for anything that is not a readable video file."""
    p = readable_file(path)
    import av

    try:
        with av.open(str(p)) as container:
            vstreams = list(container.streams.video)
            if not vstreams:
                kinds = ", ".join(s.type for s in container.streams) or "none"
                raise VideoDecodeError(f"{p}: no video stream (streams: {kinds})")
            s = vstreams[0]
            first = None
            rotation = 0
            for frame in container.decode(s):
                first = frame_to_rgb(frame)
                rotation = int(round(float(getattr(frame, "rotation", 0) or 0))) % 360
                break
            if first is None:
                raise VideoDecodeError(f"{p}: the video stream has no decodable frame")
            return {"streams": len(container.streams), "rotation": rotation,
                    "codec": s.codec_context.name, "pix_fmt": s.codec_context.pix_fmt,
                    "width": int(first.shape[1]), "height": int(first.shape[0]),
                    "first_frame": first}
    except VideoDecodeError:
        raise
    except Exception as e:  # av.error.InvalidDataError and friends
        raise VideoDecodeError(f"{p}: not a readable video ({_short(e)})") from None


def _short(e: BaseException) -> str:
    msg = str(e).strip().splitlines()
    return (msg[0] if msg else type(e).__name__)[:200]


# ----------------------------------------------------------------------------- colour

#: AVColorSpace tag -> the YUV->RGB matrix used (PyAV's ``Colorspace`` names). Every other
#: value (unspecified, reserved, RGB, YCgCo) reads as BT.601: see :func:`colour_rule`.
_MATRIX_OF_TAG = {1: "ITU709", 4: "FCC", 5: "ITU601", 6: "ITU601", 7: "SMPTE240M",
                  9: "BT2020", 10: "BT2020"}


def colour_rule(frame) -> tuple[str, str]:
    """The (matrix, range) a decoded YUV frame is converted to RGB with, as PyAV names
    them: the stream's tags when it has them; untagged, BT.601 and limited ("MPEG") range,
    full ("JPEG") for the ``yuvj*`` pixel formats. Untagged reads as BT.601 whatever the
    size because that is the matrix every FFmpeg-based writer (ffmpeg's own scale filter,
    PyAV, imageio-ffmpeg, vidbench's :func:`write_video`) converts RGB with when it does not
    tag its output, and what OpenCV and decord (VBench's readers) assume (docs/decoding.md)."""
    matrix = _MATRIX_OF_TAG.get(int(frame.colorspace or 2), "ITU601")
    tag = int(frame.color_range or 0)
    if tag in (1, 2):
        rng = "JPEG" if tag == 2 else "MPEG"
    else:
        rng = "JPEG" if frame.format.name.startswith("yuvj") else "MPEG"
    return matrix, rng


def _high_depth_planar(frame) -> int:
    """Bits per sample of a planar YUV frame stored in more than 8 bits (0 otherwise)."""
    fmt = frame.format
    name = fmt.name
    if not name.startswith("yuv") or name.startswith("yuva") or len(frame.planes) != 3:
        return 0
    bits = int(fmt.components[0].bits)
    return bits if 8 < bits <= 16 else 0


def round_to_8bit(frame, rng: str):
    """A ``yuv4XXp`` 8-bit frame holding ``frame``'s (9-16 bit planar YUV) samples rounded
    to 8 bits, same chroma layout and tags. Limited range: ``(v + 2^(b-9)) >> (b-8)`` (code
    values scale by exactly 2^(b-8), so 10-bit 64/940 land on 8-bit 16/235); full range:
    ``round(v * 255 / (2^b - 1))``. Rounding, not truncation: truncating drops 0.375 levels
    on average at 10 bits."""
    import av

    bits = _high_depth_planar(frame)
    y, u = frame.planes[0], frame.planes[1]
    sub = {(1, 1): "444", (2, 1): "422", (2, 2): "420"}.get(
        (-(-y.width // u.width), -(-y.height // u.height)))
    if sub is None:
        raise VideoDecodeError(f"unsupported chroma layout {frame.format.name}")
    out = av.VideoFrame(frame.width, frame.height, f"yuv{sub}p")
    shift = bits - 8
    for src, dst in zip(frame.planes, out.planes, strict=True):
        a = np.frombuffer(src, np.uint16).reshape(src.height, src.line_size // 2)
        a = a[:, :src.width].astype(np.uint32)
        if rng == "JPEG":
            v = (a * 255 * 2 + (2**bits - 1)) // (2 * (2**bits - 1))
        else:
            v = (a + (1 << (shift - 1))) >> shift
        d = np.frombuffer(dst, np.uint8).reshape(dst.height, dst.line_size)
        d[:, :dst.width] = np.minimum(v, 255)
    out.pts, out.time_base = frame.pts, frame.time_base
    return out


#: How decoded YUV becomes RGB: "vidbench" (:func:`colour_rule`, more than 8 bits rounded
#: to 8 first) or "opencv" (what ``cv2.VideoCapture`` returns, VBench's reader for flicker,
#: motion smoothness and dynamic degree). They are the same pixels for 8-bit input.
COLOURS = ("vidbench", "opencv")


def frame_to_rgb(frame, colour: str = "vidbench", reformatter=None) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a decoded PyAV frame (docs/decoding.md).

    ``"vidbench"``: the matrix and range of :func:`colour_rule`. 8-bit YUV goes through
    libswscale's YUV->RGB converter, as OpenCV's and decord's readers do (the same pixels,
    bit for bit, measured on 8-bit 4:2:0); for 4:2:0 it repeats each chroma sample over its
    2x2 block and works in fixed point (0 to 3 levels below the exact float conversion).
    YUV in more than 8 bits is first rounded to 8 bits per sample (:func:`round_to_8bit`)
    and converted the same way, so a 10-bit file reads exactly as the 8-bit file holding
    its rounded samples.

    ``"opencv"``: OpenCV's FFmpeg reader, reproduced: libswscale to BGR24 with bicubic
    scaling flags and the frame's own tags (bit-identical to ``cv2.VideoCapture`` on 8- and
    10-bit H.264/H.265, measured); above 8 bits this interpolates chroma bicubically and
    dithers, 2.6-2.9 levels mean from the exact conversion where "vidbench" is 0.7. On
    8-bit 4:2:0 the two are the same pixels and take the same (faster) route.

    ``reformatter``: a ``VideoReformatter`` to reuse across a stream's frames (one swscale
    context instead of one per frame). Conversion runs on one thread: swscale's automatic
    threads cost 3x on a loaded 2-core machine (perf/RESULTS.md)."""
    return converter(frame, colour, reformatter)(frame)


def converter(first, colour: str = "vidbench", reformatter=None):
    """``frame -> (H, W, 3) uint8 RGB`` for a stream whose first frame is ``first``: the
    :func:`frame_to_rgb` decisions (route, matrix, range) taken once from ``first`` and
    applied to every frame, through one swscale context."""
    if reformatter is None:
        from av.video.reformatter import VideoReformatter

        reformatter = VideoReformatter()
    high = _high_depth_planar(first)
    reformat = reformatter.reformat
    if colour == "opencv" and (high or first.format.name not in ("yuv420p", "yuvj420p")):
        return lambda f: reformat(f, format="bgr24", interpolation="BICUBIC",
                                  threads=1).to_ndarray()[..., ::-1]
    matrix, rng = colour_rule(first)
    if high:
        return lambda f: reformat(round_to_8bit(f, rng), format="rgb24",
                                  src_colorspace=matrix, src_color_range=rng,
                                  threads=1).to_ndarray()
    return lambda f: reformat(f, format="rgb24", src_colorspace=matrix, src_color_range=rng,
                              threads=1).to_ndarray()


class _DecordMismatch(Exception):
    pass


def _decode_decord(p: Path, info: dict, limit: int) -> tuple[np.ndarray, np.ndarray, float]:
    """All frames with decord, checked against PyAV's first frame: decord 0.6.0 returns
    mis-sized frames for some widths (measured: 48 x 64 and 2 x 2 fail), so its output is
    only trusted when frame 0 matches."""
    import decord

    vr = decord.VideoReader(str(p), ctx=decord.cpu(0), num_threads=1)
    n = len(vr)
    if n == 0:
        raise _DecordMismatch("no frames")
    if n > MAX_FRAMES:
        raise VideoDecodeError(f"{p}: more than {MAX_FRAMES} frames; trim the video")
    _check_budget(p, n, info["height"], info["width"], limit)
    # decord's output type is process-global state (another library, e.g. VBench's reader,
    # may have set the torch bridge): read numpy arrays whatever it is, and leave it as found
    with decord.bridge._BridgeScope("native"):
        frames = vr.get_batch(list(range(n))).asnumpy()
    ref = info["first_frame"]
    if frames.shape[1:] != ref.shape:
        raise _DecordMismatch(f"shape {frames.shape[1:]} vs {ref.shape}")
    if np.abs(frames[0].astype(np.int16) - ref).mean() > 4.0:
        raise _DecordMismatch("frame 0 differs from PyAV's")
    stamps = np.asarray(vr.get_frame_timestamp(list(range(n))), dtype=np.float64)
    return frames, stamps, float(vr.get_avg_fps())


def _count_packets(p: Path, limit_frames: int) -> int:
    """Video packets in the container (demuxed, not decoded: cheap), an upper bound on the
    frames a decode yields for the codecs seen here. Stops counting past ``limit_frames``.
    Used only when the container does not declare a frame count (mkv, webm)."""
    import av

    n = 0
    with av.open(str(p)) as container:
        vstreams = list(container.streams.video)
        if not vstreams:
            return 0
        for pkt in container.demux(vstreams[0]):
            if pkt.size:
                n += 1
                if n > limit_frames:
                    break
    return n


#: Decoded pixels (frames x width x height, as the container declares them) below which a
#: video is decoded on one thread: frame threading's start-up (a frame of latency per
#: thread, one thread per core) costs more than it saves on short clips, and on a loaded
#: machine extra threads only wait for busy cores (perf/RESULTS.md, "Speed at K = 1").
THREADED_PIXELS = 60_000_000


def decode_threads(stream) -> int:
    """Decoder threads for ``stream``: ``VIDBENCH_DECODE_THREADS`` when set (0: FFmpeg's
    automatic count); else 1 for clips under :data:`THREADED_PIXELS` or when this process
    may use one core (``taskset``, cgroup cpusets), else the usable cores, at most 4."""
    raw = os.environ.get("VIDBENCH_DECODE_THREADS")
    if raw is not None:
        try:
            n = int(raw)
        except ValueError:
            n = -1
        if not 0 <= n <= 64:
            raise UserError(f"VIDBENCH_DECODE_THREADS={raw[:20]!r}: give a whole number from "
                            f"0 (automatic) to 64")
        return n
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    cc = stream.codec_context
    frames = int(stream.frames or 0)
    if frames <= 0:  # mkv, webm: frames from the declared duration and rate, if any
        try:
            frames = int(float(stream.duration * stream.time_base * stream.average_rate))
        except (TypeError, ValueError, AttributeError, ZeroDivisionError):
            frames = 0
    pixels = frames * int(cc.width or 0) * int(cc.height or 0)
    if cpus <= 1 or pixels < THREADED_PIXELS:
        return 1
    return min(cpus, 4)


def _open(p: Path):
    """(container, first video stream) with the thread settings of :func:`decode_threads`;
    VideoDecodeError for anything without a video stream."""
    import av

    try:
        container = av.open(str(p))
    except Exception as e:
        raise VideoDecodeError(f"{p}: not a readable video ({_short(e)})") from None
    vstreams = list(container.streams.video)
    if not vstreams:
        kinds = ", ".join(s.type for s in container.streams) or "none"
        container.close()
        raise VideoDecodeError(f"{p}: no video stream (streams: {kinds})")
    s = vstreams[0]
    threads = decode_threads(s)
    if threads != 1:
        s.thread_type = "AUTO"
    s.codec_context.thread_count = threads
    return container, s


class LazyFrame:
    """A decoded frame not yet converted to RGB: ``rgb()`` converts it (once), so a frame
    no view needs is never converted (vidbench.stream)."""

    __slots__ = ("_frame", "_convert", "_rotation", "_rgb")

    def __init__(self, frame, convert, rotation: int) -> None:
        self._frame, self._convert, self._rotation = frame, convert, rotation
        self._rgb: np.ndarray | None = None

    def rgb(self) -> np.ndarray:
        if self._rgb is None:
            arr = self._convert(self._frame)
            self._rgb = _rotate(arr[None], self._rotation)[0] if self._rotation else arr
            self._frame = None
        return self._rgb


def iter_frames(container, s, p: Path, limit: int, colour: str = "vidbench",
                info: dict | None = None, lazy: bool = False):
    """Yield ``(rgb, start, end)`` for each decoded frame of stream ``s``: (H, W, 3) uint8
    upright (rotation applied; a fresh array the caller may keep), presentation start and
    end in seconds. One frame larger than ``limit`` bytes is refused from its declared size
    before anything is converted; a size change mid-stream is an error; a truncated tail
    ends the iteration (nothing decodable at all is an error). ``info`` (a dict) receives
    ``codec``, ``pix_fmt``, ``rotation``, ``fps``. ``lazy``: yield :class:`LazyFrame`
    objects instead of arrays (converted only when asked)."""
    import av
    from av.video.reformatter import VideoReformatter

    info = {} if info is None else info
    fps = float(s.average_rate) if s.average_rate else 0.0
    info.update({"codec": s.codec_context.name, "pix_fmt": s.codec_context.pix_fmt,
                 "rotation": 0, "fps": fps})
    dw, dh = int(s.codec_context.width or 0), int(s.codec_context.height or 0)
    if dw * dh * 3 > limit:  # one declared frame is over budget: do not decode it
        _check_budget(p, 1, dh, dw, limit)
    reformatter = VideoReformatter()  # one swscale context for the whole stream
    convert = None
    shape: tuple[int, int] | None = None
    rotation = 0
    n = 0
    num = den = 1
    try:
        for frame in container.decode(s):
            if shape is None:
                if frame.width * frame.height * 3 > limit:
                    _check_budget(p, 1, frame.height, frame.width, limit)
                shape = (frame.height, frame.width)
                rotation = int(round(float(getattr(frame, "rotation", 0) or 0))) % 360
                info["rotation"] = rotation
                convert = converter(frame, colour, reformatter)
                tb = frame.time_base or s.time_base
                num, den = (tb.numerator, tb.denominator) if tb else (1, 1)
            elif (frame.height, frame.width) != shape:
                raise VideoDecodeError(f"{p}: frame size changes mid-stream ({shape[1]}x"
                                       f"{shape[0]} to {frame.width}x{frame.height})")
            # as PyAV's frame.time and float(duration * time_base), without Fractions
            pts = frame.pts
            t = float(pts) * num / den if pts is not None else n / (fps or 25.0)
            dur = frame.duration
            n += 1
            end = t + ((dur * num) / den if dur else 0.0)
            if lazy:
                yield LazyFrame(frame, convert, rotation), t, end  # type: ignore[arg-type]
                continue
            arr = convert(frame)  # type: ignore[misc]
            if rotation:
                arr = _rotate(arr[None], rotation)[0]
            yield arr, t, end
    except VideoDecodeError:
        raise
    except av.error.FFmpegError as e:
        if not n:  # a truncated tail is tolerated; nothing decodable is not
            raise VideoDecodeError(f"{p}: decode failed ({_short(e)})") from None
    if not n:
        raise VideoDecodeError(f"{p}: the video stream has no decodable frame")


def _frame_hint(s, p: Path) -> int:
    """Frames the container declares for stream ``s`` (mp4 ``nb_frames``), else its
    demuxed packets (mkv, webm declare none). A hint for sizing, not trusted: the decode
    checks every frame against the budget."""
    declared = int(s.frames or 0)
    return declared if declared > 0 else _count_packets(p, MAX_FRAMES)


def _decode_pyav(p: Path, limit: int, colour: str = "vidbench"
                 ) -> tuple[np.ndarray, np.ndarray, float, dict]:
    """All frames with PyAV: frames (T, H, W, 3) upright (rotation applied), (T, 2)
    start/end times, average fps, and facts.

    Memory: the frames are written into one array allocated once, sized by the container's
    declared frame count (mp4 ``nb_frames``; demuxed packets where none is declared, mkv),
    capped by the budget and :data:`MAX_FRAMES`; a file with more frames than it declares
    grows the array, each growth checked against the budget. A frame list and its stacked
    copy never coexist."""
    container, s = _open(p)
    info: dict = {"rotated": True}
    with container:
        hint = _frame_hint(s, p)
        if hint > MAX_FRAMES:
            raise VideoDecodeError(f"{p}: more than {MAX_FRAMES} frames; trim the video")
        buf: np.ndarray | None = None
        stamps = np.zeros((0, 2), np.float64)
        n = 0
        for arr, t0, t1 in iter_frames(container, s, p, limit, colour, info):
            if buf is None:
                per = arr.nbytes
                cap = max(1, min(max(hint, 1), MAX_FRAMES, limit // per))
                if max(hint, 1) * per > limit:  # declared over budget: refuse as before
                    _check_budget(p, max(hint, 1), arr.shape[0], arr.shape[1], limit)
                buf = np.empty((cap, *arr.shape), np.uint8)
                stamps = np.zeros((cap, 2), np.float64)
            if n == len(buf):  # more frames than declared: grow, within the budget
                if n + 1 > MAX_FRAMES:
                    raise VideoDecodeError(f"{p}: more than {MAX_FRAMES} frames; trim the "
                                           f"video")
                _check_budget(p, n + 1, arr.shape[0], arr.shape[1], limit)
                grow = min(max(2 * n, n + 16), MAX_FRAMES, limit // arr.nbytes)
                buf = np.concatenate([buf, np.empty((grow - n, *arr.shape), np.uint8)])
                stamps = np.concatenate([stamps, np.zeros((grow - n, 2))])
            buf[n] = arr
            stamps[n] = (t0, t1)
            n += 1
    assert buf is not None
    if n < len(buf) // 2:  # the container declared far more frames than it has
        buf = buf[:n].copy()
    return buf[:n], stamps[:n], float(info["fps"]), info


def _check_budget(p: Path, n: int, h: int, w: int, limit: int) -> None:
    need = n * h * w * 3
    if need > limit:
        raise VideoDecodeError(
            f"{p}: {n} frames of {w}x{h} need {need / 2**30:.1f} GiB decoded, over the "
            f"limit of {limit / 2**30:.1f} GiB; trim the video or raise VIDBENCH_MAX_DECODE_GB")


def _decoder() -> str:
    name = os.environ.get("VIDBENCH_DECODER", "pyav")
    if name not in ("pyav", "decord"):
        raise VideoDecodeError(f"VIDBENCH_DECODER={name!r}: use 'pyav' or 'decord'")
    return name


def decode(path: str | os.PathLike, *, max_bytes: int | None = None,
           colour: str = "vidbench") -> Clip:
    """Decode every frame of ``path`` into a :class:`Clip` (RGB uint8, with timestamps).

    The default decoder is PyAV: one pass over the container, per-frame presentation
    timestamps, display-matrix rotation. ``VIDBENCH_DECODER=decord`` uses decord instead,
    trusted only when its frame 0 matches PyAV's (decord 0.6.0 mis-sizes some widths, and
    measured 3-5x slower here; see perf/RESULTS.md). Rotation metadata is applied, so
    frames are upright as a player shows them. Raises :class:`VideoDecodeError` naming the
    file and the reason on any failure: empty or truncated file, no video stream, no
    decodable frame, or a decode larger than ``max_bytes`` (default
    ``VIDBENCH_MAX_DECODE_GB``, 4 GiB). ``colour``: how YUV becomes RGB, one of
    :data:`COLOURS` (:func:`frame_to_rgb`; docs/decoding.md); decord is used for 8-bit 4:2:0
    only (it reads 10-bit its own way).
    """
    global DECODE_COUNT
    if colour not in COLOURS:
        raise ValueError(f"unknown colour conversion {colour!r}; use one of {COLOURS}")
    DECODE_COUNT += 1
    p = readable_file(path)
    limit = max_decode_bytes() if max_bytes is None else max_bytes
    decoder = _decoder()
    info: dict | None = None
    if decoder == "decord":
        info = probe(p)
        try:
            if info["rotation"]:
                raise _DecordMismatch("rotated")
            if info["pix_fmt"] not in ("yuv420p", "yuvj420p"):
                raise _DecordMismatch(f"pixel format {info['pix_fmt']}")
            frames, stamps, fps = _decode_decord(p, info, limit)
        except VideoDecodeError:
            raise
        except Exception:  # decord.DECORDError, _DecordMismatch: PyAV decodes it
            info = None
            decoder = "pyav"
    if info is None:
        frames, stamps, fps, info = _decode_pyav(p, limit, colour)
    if not info.get("rotated"):
        frames = _rotate(frames, info["rotation"])
    starts, end_time, fps = finish_times(stamps, fps)
    return Clip(np.ascontiguousarray(frames), starts, fps, str(p), end_time,
                meta={"codec": info["codec"], "pix_fmt": info["pix_fmt"],
                      "rotation": info["rotation"], "decoder": decoder, "colour": colour})


def finish_times(stamps: np.ndarray, fps: float) -> tuple[np.ndarray, float | None, float]:
    """Frame start times, the end of the last frame (None: one frame period after it) and
    the clip's fps from decoded (T, 2) start/end ``stamps`` and the container's average
    ``fps``. Timestamps that do not increase are replaced by ``k / fps`` (broken files)."""
    n = len(stamps)
    starts, ends = stamps[:, 0], stamps[:, 1]
    if n > 1 and not np.all(np.diff(starts) > 0):  # broken timestamps: use the average rate
        step = 1.0 / fps if fps > 0 else 1 / 25.0
        starts = np.arange(n) * step
        ends = starts + step
    end_time = float(ends[-1]) if ends[-1] > starts[-1] else None
    return starts, end_time, (fps if fps > 0 else 25.0)


def _rotate(frames: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate (T, H, W, 3) frames counter-clockwise by ``rotation`` degrees (a multiple of
    90, as PyAV's ``VideoFrame.rotation`` reports the display matrix)."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(frames, k=k, axes=(1, 2))) if k else frames


# ----------------------------------------------------------------------------- writing


X264_DETERMINISTIC = {"threads": "1", "x264-params": "sync-lookahead=0:mbtree=0"}
"""libx264 options that make its output a function of its input alone: no macroblock-tree
rate control, one encoding thread, no threaded lookahead. Measured with PyAV 18.1 (x264 core
165) on the 12 physics-mini clips of the reference DiT, each encoded 6 times in each of 10
processes: with mbtree on (x264's default), 3 of the 12 clips came out as 2-3 different
files (decoded pixels up to 19 levels apart), with or without threads; with ``mbtree=0``,
one file per clip, whether PyAV or the caller converts RGB to YUV. (Under valgrind, which
serialises threads, mbtree was stable too; the cause inside x264 was not pinned down.) The
automatic thread count would also follow the machine's cores, so bytes would differ between
machines. Cost: encoding on one core, small next to sampling a video; without mbtree, CRF 18
spends a few more bits."""


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float, *,
                timestamps: np.ndarray | None = None, crf: int = 18,
                pix_fmt: str = "yuv420p", codec: str = "libx264",
                rotation: int = 0) -> Path:
    """Write (T, H, W, 3) uint8 RGB ``frames`` (or (T, H, W) grayscale) to an mp4, atomically.

    H.264, ``pix_fmt`` (yuv420p by default; odd sizes need ``yuv444p``), constant ``fps``,
    or variable frame rate when ``timestamps`` (seconds, increasing) are given. ``rotation``
    writes display-matrix metadata asking players to rotate the stored frames ``rotation``
    degrees counter-clockwise (PyAV's convention; for tests of rotated inputs).
    """
    import av

    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    t, h, w, _ = frames.shape
    if t == 0:
        raise ValueError("cannot write a video with no frames")
    if pix_fmt == "yuv420p" and (h % 2 or w % 2):
        raise ValueError(f"{w}x{h} is odd: yuv420p needs even sizes; pass pix_fmt='yuv444p'")
    from vidbench.fileio import atomic_path

    out = Path(path)
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_path(out) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream(codec, rate=rate)
            stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
            stream.options = ({"crf": str(crf), **X264_DETERMINISTIC}
                              if codec == "libx264" else {})
            if rotation:
                stream.set_display_rotation(rotation)
            if timestamps is not None:
                stream.codec_context.time_base = Fraction(1, 1000)
            for i in range(t):
                frame = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
                if timestamps is not None:
                    frame.pts = int(round(float(timestamps[i]) * 1000))
                    frame.time_base = Fraction(1, 1000)
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return out


# ----------------------------------------------------------------------------- prefetch


def decode_ahead(paths, *, ahead: int = 1, decoder=None):
    """Yield ``(path, Clip | VideoDecodeError)`` for each path, decoding the next ``ahead``
    videos in a background thread while the caller works on the current one (PyAV releases
    the GIL while decoding). At most ``ahead + 1`` clips are alive at once, so memory does
    not grow with the number of videos. ``paths`` may hold None (yielded as (None, None)).
    Any other exception in the decoder (KeyboardInterrupt included) is re-raised here."""
    from concurrent.futures import ThreadPoolExecutor

    def _one(p):
        if p is None:
            return None
        try:
            return (decoder or decode)(p)
        except VideoDecodeError as e:
            return e
        except BaseException as e:  # re-raised in the consumer's thread
            return _Raised(e)

    paths = list(paths)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vidbench-decode") as pool:
        pending = [pool.submit(_one, p) for p in paths[: ahead + 1]]
        nxt = len(pending)
        for p in paths:
            result = pending.pop(0).result()
            if isinstance(result, _Raised):
                for f in pending:
                    f.cancel()
                raise result.exc
            yield p, result  # the consumer works on it while `ahead` decodes run
            del result
            if nxt < len(paths):
                pending.append(pool.submit(_one, paths[nxt]))
                nxt += 1


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
