"""``temporal_flicker``: how steady the pixels of a (near-)static video are over time.

**vbench** (VBench ``temporal_flickering.py``): on every decoded frame at the native frame rate
and resolution,

    score = (255 - mean_k MAE(I_k, I_{k+1})) / 255,   MAE = mean over pixels and channels of
    |I_k - I_{k+1}| (float32, ``cv2.absdiff``).

VBench only means this on near-static videos: it runs a separate RAFT static filter first
(``static_filter.py``) and keeps up to 5 static samples per prompt. The per-video formula alone
gives a *moving* video a low score that has nothing to do with flicker. ``static_filter=True``
applies VBench's filter here (top-2% RAFT flow magnitude per pair > 3 * min(H, W) / 256 on more
than round(2 N / 16) pairs, or the first-last pairs above twice that times the count, is "not
static": NaN with reason ``"not_static"``); it needs the ``raft-things`` weights.

**default** (the corrected protocol, version 2): the clip is resampled by timestamps to
8 fps with its shorter side at 128 px (:func:`vidbench.metrics.flow.default_view_spec`), so
container fps, resolution and length do not move the score. For each pair of consecutive view
frames showing different source frames, the flow F from I_k to I_{k+1} (weight-free OpenCV
DIS by default) is estimated on frames normalised to the same luma mean and contrast
(:func:`vidbench.metrics.flow.normalise_frames`), so it follows geometry and not brightness;
it gives a motion-compensated prediction I_{k+1}(x + F(x)) of I_k, and, on luma Y (BT.601),

    score = 1 - mean_k [ mean over in-frame pixels |Y_k - Y_{k+1}(x + F(x))| ] / 255.

Warping moves pixels but cannot change their values, so brightness/colour flicker stays in the
residual while slow camera or object motion does not read as flicker. The built-in filter: when
the clip is dynamic by the dynamic_degree rule (at least round(4 N / 16) pairs whose top-5%
flow magnitude exceeds ``motion_threshold`` = 6 px per 1/8 s at a 256-px short side) the score
is NaN with reason ``"dynamic"``, never a fake value; fewer than two distinct frames give NaN
with reason ``"too_short"``. The decision uses the normalised flows: version 1 estimated them
on raw luma, and 15-30% brightness flicker on a frozen real frame read as motion, so the worst
flicker turned NaN and left the aggregate; with normalised flows, and the decision's motion
statistic read away from clipped pixels (whose edges a brightness change moves), gain
flicker of 2-30% on real stills never turns a clip NaN (``perf/validity.py``,
docs/validity.md).

Range [0, 1]; higher is better (1 = no change at all). Identical frames give exactly 1.0.

Blind to: pure chroma flicker at constant luma; flicker slower than the view's frame spacing
(1/8 s), or faster and aliased by the resampling; flicker a flow field can imitate (a texture
sliding in place); compression noise lowers every score alike; anything in dynamic clips (NaN).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from vidbench.metrics import flow as fl
from vidbench.registry import Score, VideoContext
from vidbench.video import window_series


class TemporalFlicker(fl.FlowMetric):
    name: ClassVar[str] = "temporal_flicker"
    version: ClassVar[str] = "2"
    higher_is_better: ClassVar[bool] = True

    def __init__(self, mode: str = "default", *, device: str = "cpu",
                 random_weights: bool = False, flow: str = "dis", fps: float = fl.REFERENCE_FPS,
                 size: int = fl.VIEW_SIZE, motion_threshold: float = fl.MOTION_THRESHOLD,
                 static_filter: bool = False, batch_size: int = 4) -> None:
        super().__init__(mode, device=device, random_weights=random_weights,
                         batch_size=batch_size, vbench={"static_filter": bool(static_filter)},
                         **self.motion_options(flow, fps, size,
                                               motion_threshold=float(motion_threshold)))

    @property
    def static_filter(self) -> bool:
        """VBench's RAFT static filter (vbench mode only)."""
        return bool(self.options.get("static_filter", False))

    def required_weights(self) -> tuple[str, ...]:
        if self.mode == "vbench":
            return ("raft-things",) if self.static_filter else ()
        return fl.flow_weights(self.flow_backend)

    # ------------------------------------------------------------------ default

    def _score_default(self, ctx: VideoContext) -> Score:
        spec = self.view_spec()
        data = fl.consecutive_flows(ctx, spec, self.estimator, normalise=True)
        view, pairs, flows = data["view"], data["pairs"], data["flows"]
        if not pairs:
            return Score.not_applicable("too_short", frames=view.num_frames,
                                        detail="fewer than two distinct frames in the view")
        luma = fl.view_luma(ctx, spec)
        motion = unsaturated_motion(flows, luma, pairs, data["dt"], min(view.size))
        dynamic, over, need = fl.is_dynamic(motion, len(pairs) + 1, self.motion_threshold)
        info = {"pairs": len(pairs), "motion_mean": float(motion.mean()),
                "motion_max": float(motion.max()), "pairs_moving": over,
                "pairs_needed": need, "motion_threshold": self.motion_threshold}
        if dynamic:
            return Score.not_applicable("dynamic", **info)
        resid, raw = [], []
        for (i, j), f in zip(pairs, flows, strict=True):
            a = luma[i]
            pred, valid = fl.warp_backward(luma[j], f)
            d = np.abs(a - pred)
            resid.append(float(np.mean(d, where=valid)) if valid.any() else float(d.mean()))
            raw.append(float(np.abs(a - luma[j]).mean()))
        value = 1.0 - float(np.mean(resid)) / 255.0
        at = [float(view.timestamps[j]) for _, j in pairs]
        info.update({"uncompensated": 1.0 - float(np.mean(raw)) / 255.0,
                     "worst_pair": 1.0 - float(np.max(resid)) / 255.0,
                     "over_time": window_series(at, 1.0 - np.asarray(resid) / 255.0)})
        return Score(value, info)

    # ------------------------------------------------------------------ vbench

    def _score_vbench(self, ctx: VideoContext) -> Score:
        frames = ctx.view(self.view_spec()).frames
        if len(frames) < 2:
            return Score.not_applicable("too_short", frames=len(frames))
        details: dict[str, Any] = {"frames": int(len(frames))}
        if self.static_filter:
            from vidbench.metrics.backbones.raft import MIN_SIZE

            if min(frames.shape[1:3]) < MIN_SIZE - 7:
                return Score.not_applicable("too_small", **details,
                                            detail=f"the RAFT static filter needs frames of at "
                                                   f"least {MIN_SIZE} px")
            static, info = vbench_static_filter(frames, device=self.device,
                                                random_weights=self.random_weights,
                                                batch_size=self.batch_size)
            details.update(info)
            if not static:
                return Score.not_applicable("not_static", **details)
        return Score(vbench_flicker_formula(frames), details)


def unsaturated_motion(flows: np.ndarray, luma: np.ndarray, pairs: list[tuple[int, int]],
                       dt: np.ndarray, short_side: int, lo: float = 6.0, hi: float = 249.0
                       ) -> np.ndarray:
    """:func:`vidbench.metrics.flow.motion_per_pair` over the pixels that are neither clipped
    (luma <= ``lo`` or >= ``hi``) in either frame of the pair nor within 2 px of such a pixel:
    a brightness change moves the edge of a clipped region, which no normalisation undoes and
    which must not read as motion. A pair with under 10% of such pixels uses them all."""
    import cv2

    out = np.zeros(len(pairs), dtype=np.float64)
    kernel = np.ones((5, 5), np.uint8)
    for n, (i, j) in enumerate(pairs):
        sat = (luma[i] <= lo) | (luma[i] >= hi) | (luma[j] <= lo) | (luma[j] >= hi)
        ok = cv2.dilate(sat.astype(np.uint8), kernel) == 0
        f = flows[n]
        if ok.mean() >= 0.1:
            f = f[ok][None, :, None, :]
        else:
            f = f[None]
        out[n] = fl.motion_per_pair(f, dt[n:n + 1], short_side)[0]
    return out


def vbench_flicker_formula(frames: np.ndarray) -> float:
    """VBench's per-video temporal_flickering score on (T, H, W, 3) uint8 frames."""
    import cv2

    # |a - b| of uint8 values is exact in uint8, so the float32 array VBench averages is
    # the uint8 absdiff converted: the same numbers, one conversion per pair instead of two
    maes = [np.mean(cv2.absdiff(frames[k], frames[k + 1]).astype(np.float32))
            for k in range(len(frames) - 1)]
    return (255.0 - np.mean(np.array(maes)).item()) / 255.0


def vbench_static_filter(frames: np.ndarray, *, device: str = "cpu",
                         random_weights: bool = False, batch_size: int = 4
                         ) -> tuple[bool, dict]:
    """VBench's ``StaticFilter.infer`` on (T, H, W, 3) uint8 frames (RAFT, 20 iterations):
    pairs (k, k+1) plus (first, last) and (last, first); per pair the mean of the top 2% flow
    magnitudes on the padded grid; static unless more than round(2 T / 16) consecutive pairs
    exceed 3 * min(H, W) / 256, or one of the two wrap-around pairs exceeds twice that times
    the count."""
    from vidbench.metrics.backbones.raft import RaftFlow

    t = len(frames)
    thres = 3.0 * (min(frames.shape[1:3]) / 256.0)
    count_num = round(2 * (t / 16.0))
    pairs = [(k, k + 1) for k in range(t - 1)] + [(0, t - 1), (t - 1, 0)]
    raft = RaftFlow(device=device, random_weights=random_weights, batch_size=batch_size)
    padded, _ = raft.padded_flows(frames, pairs)
    scores = [fl.vbench_top_mean(f, 0.02) for f in padded]
    count = 0
    static = True
    for s in scores[:-2]:
        if s > thres:
            count += 1
        if count > count_num:
            static = False
            break
    if static:
        for s in scores[-2:]:
            if s > thres * count_num * 2:
                static = False
                break
    return static, {"static_filter_scores": [float(s) for s in scores],
                    "static_filter_threshold": thres, "static_filter_count": count_num}

