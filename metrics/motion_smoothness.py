"""``motion_smoothness``: how well each frame is predicted by interpolating its neighbours.

Smooth (locally linear) motion is what a frame interpolator assumes, so the interpolation
error of real frames measures stutter, dropped or duplicated frames and jitter.

**vbench** (VBench ``motion_smoothness.py``): every decoded frame at native resolution; keep the
even frames 0, 2, 4, ...; the AMT-S interpolator (``amt-s.pth``) re-creates the middle frame of
each consecutive kept pair (inputs / 255, replicate-padded to a multiple of 16, t = 0.5, scale
1); predictions are unpadded and quantised as ``uint8(clip(255 x))`` (truncation, as VBench's
``tensor2img``) and compared with the real odd frames 1, 3, 5, ...:

    score = (255 - mean_k mean |odd_k - pred_k|) / 255   (cv2.absdiff on uint8).

VBench picks a smaller AMT scale on GPUs with little memory; vidbench always uses scale 1 (the
value VBench uses on the CPU and on any GPU with enough memory). AMT needs padded frames of at
least 128 px per side; smaller clips give NaN with reason ``"too_small"``.

**default** (the corrected protocol, weight-free, version 3): the clip is resampled by
timestamps to 8 fps with its shorter side at 128 px
(:func:`vidbench.metrics.flow.default_view_spec`); view frames repeating a source frame
(source fps below 8) are dropped. As in VBench the odd frames (``frames="odd"``; ``"all"``
uses every interior frame) are predicted from their neighbours: for frame k with distinct
neighbours a, b, the flow F_ab is composed from the consecutive flows temporal_flicker
shares (OpenCV DIS on frames normalised to one luma mean and contrast, so brightness change
does not bend the flow; version 1 used raw luma;
``F_ab(x) = F_ak(x) + F_kb(x + F_ak(x))``;
``route="direct"`` estimates it from I_a and I_b alone, ~2x slower), and the frame at the true
relative time t = (t_k - t_a) / (t_b - t_a) of the source frames is interpolated by backward
warping both neighbours along the linear-motion flows ``-t F_ab`` and ``(1 - t) F_ab``,
blended (1 - t, t). On luma Y (BT.601):

    interpolation = 1 - mean_k mean |Y_k - Y^_k| / 255.

An 8 fps view cannot see a pair of swapped source frames (a 1/25-s timing error touching one
or two of its frames; version 2 saw 2 swaps on 1 of 4 real clips), so version 3 adds an
order check on every source frame at 128 px (:func:`vidbench.metrics.flow.order_check`): a
window of four consecutive frames a, b, c, d is out of order when the order a -> c -> b -> d
explains both of its ends better, D(a, c) < 0.8 D(a, b) and D(b, d) < 0.8 D(c, d) (D: mean
absolute difference of per-frame normalised luma); windows with a step over 1/16 of the short
side (top-5% flow magnitude between consecutive frames; beyond it differences stop growing
with displacement) or across a shot cut are unchecked. Then

    score = interpolation x order_share,   order_share = 1 - out_of_order / order_checked

(1 when no window is checked). Details: ``interpolation``, ``out_of_order``,
``order_checked``, ``order_share``.

Source timestamps make the score independent of the container fps, the fixed view size of
the resolution, and averaging over frames of the length. Fewer than three distinct frames:
NaN, reason ``"too_short"``.

Range [0, 1]; higher is better; a static clip (identical frames) scores exactly 1.0.
Identical frames are never out of order; fast motion (bikes.mp4, ~10 px per frame at 128 px)
leaves the order unchecked.

Measured sensitivity and invariance on real footage: docs/validity.md (``perf/validity.py``).

Blind to: a static video (perfectly "smooth"; read it with dynamic_degree); colour-only
artefacts at constant luma; smooth but physically wrong motion; errors of the interpolator
itself (occlusions, motion larger than the flow can follow) lower every score, so compare
models under one protocol only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from vidbench.errors import UserError
from vidbench.metrics import flow as fl
from vidbench.registry import Score, VideoContext
from vidbench.video import ViewSpec


class MotionSmoothness(fl.FlowMetric):
    name: ClassVar[str] = "motion_smoothness"
    version: ClassVar[str] = "3"
    higher_is_better: ClassVar[bool] = True

    def __init__(self, mode: str = "default", *, device: str = "cpu",
                 random_weights: bool = False, flow: str = "dis", flow_scale: float = 1.0,
                 fps: float = fl.REFERENCE_FPS, size: int = fl.VIEW_SIZE,
                 frames: str = "odd", route: str = "compose", bidirectional: bool = True,
                 batch_size: int = 4) -> None:
        if frames not in ("all", "odd"):
            raise UserError(f"motion_smoothness: frames must be 'all' or 'odd', got {frames!r}")
        if route not in ("compose", "direct"):
            raise UserError(f"motion_smoothness: route must be 'compose' or 'direct', got "
                            f"{route!r}")
        extra: dict[str, Any] = {"frames": frames, "route": route}
        if route == "direct":
            extra["bidirectional"] = bool(bidirectional)
        super().__init__(mode, device=device, random_weights=random_weights,
                         batch_size=batch_size,
                         **self.motion_options(flow, fps, size, flow_scale=float(flow_scale),
                                               **extra))

    @property
    def frames(self) -> str:
        """Which frames are predicted: ``"odd"`` (as VBench) or ``"all"`` interior ones."""
        return str(self.options.get("frames", "odd"))

    @property
    def route(self) -> str:
        """How the skip-one flow is found: ``"compose"`` (shared flows) or ``"direct"``."""
        return str(self.options.get("route", "compose"))

    @property
    def bidirectional(self) -> bool:
        """Direct route: estimate F_ba too (else F_ba = -F_ab)."""
        return bool(self.options.get("bidirectional", True))

    def view_specs(self) -> list[ViewSpec]:
        """Every view this metric reads (the runner streams them in one pass): default mode
        reads its 8 fps view and every source frame at ``size`` (the order check,
        :func:`vidbench.metrics.flow.order_check`); vbench mode every decoded frame."""
        if self.mode == "vbench":
            return [self.view_spec()]
        return [self.view_spec(), fl.interval_view_spec(self.size)]

    def required_weights(self) -> tuple[str, ...]:
        if self.mode == "vbench":
            return ("amt-s",)
        return fl.flow_weights(self.flow_backend)

    # ------------------------------------------------------------------ default

    def _score_default(self, ctx: VideoContext) -> Score:
        spec = self.view_spec()
        view = ctx.view(spec)
        times = fl.source_times(ctx, view)
        keep = [0] + [k for k in range(1, view.num_frames)
                      if view.indices[k] != view.indices[k - 1] and times[k] > times[k - 1]]
        step = 2 if self.frames == "odd" else 1
        triplets = [(keep[m - 1], keep[m], keep[m + 1]) for m in range(1, len(keep) - 1, step)]
        if not triplets:
            return Score.not_applicable("too_short", frames=len(keep),
                                        detail="fewer than three distinct frames in the view")
        est = self.estimator
        luma = fl.view_luma(ctx, spec)
        if self.route == "compose":
            # F_ab(x) = F_ak(x) + F_kb(x + F_ak(x)) from the shared consecutive flows
            data = fl.consecutive_flows(ctx, spec, est, normalise=True)
            by_end = {j: n for n, (_, j) in enumerate(data["pairs"])}
            cons = data["flows"]

            def skip_one(a: int, k: int, b: int) -> tuple[np.ndarray, np.ndarray | None]:
                fak, fkb = cons[by_end[k]], cons[by_end[b]]
                return fak + fl.warp_backward(fkb, fak, with_valid=False)[0], None
        else:
            nf = 2 if self.bidirectional else 1
            pairs = [p for a, _, b in triplets for p in ((a, b), (b, a))[:nf]]
            flows = ctx.memo(("vidbench.flow.skip_one", est.key, spec, self.frames, nf),
                             lambda: est.flows(view.frames, pairs))
            index = {tr: n for n, tr in enumerate(triplets)}

            def skip_one(a: int, k: int, b: int) -> tuple[np.ndarray, np.ndarray | None]:
                n = index[(a, k, b)]
                f01 = flows[nf * n]
                return f01, (flows[nf * n + 1] if nf == 2 else None)

        errors = []
        for a, k, b in triplets:
            t = float((times[k] - times[a]) / (times[b] - times[a]))
            f01, f10 = skip_one(a, k, b)
            pred = fl.interpolate_frame(luma[a], luma[b], f01, f10, t)
            errors.append(float(np.abs(luma[k] - pred).mean()))
        err = np.asarray(errors)
        interpolation = 1.0 - float(err.mean()) / 255.0
        order = fl.order_check(ctx, self.size, est)
        return Score(interpolation * order["order_share"], {
            "interpolation": interpolation, **order,
            "frames_interpolated": len(triplets), "worst_frame": 1.0 - float(err.max()) / 255.0,
            "worst_index": int(triplets[int(err.argmax())][1])})

    # ------------------------------------------------------------------ vbench

    def _score_vbench(self, ctx: VideoContext) -> Score:
        frames = ctx.view(self.view_spec()).frames
        if len(frames[0::2]) < 2:
            return Score.not_applicable("too_short", frames=int(len(frames)))
        h, w = frames.shape[1:3]
        from vidbench.metrics.backbones.amt import pad16

        left, right, top, bottom = pad16(h, w)
        if h + top + bottom < 128 or w + left + right < 128:
            return Score.not_applicable("too_small", size=[int(h), int(w)],
                                        detail="AMT-S needs frames of at least 128 px a side")
        preds = amt_interpolate_even(frames, device=self.device,
                                     random_weights=self.random_weights,
                                     batch_size=self.batch_size)
        return Score(vbench_smoothness_formula(frames, preds),
                     {"frames": int(len(frames)), "interpolated": int(len(preds))})


def amt_interpolate_even(frames: np.ndarray, *, device: str = "cpu",
                         random_weights: bool = False, batch_size: int = 4) -> np.ndarray:
    """AMT-S middle frames of each consecutive pair of the even frames 0, 2, 4, ... as VBench
    computes them: (P, H, W, 3) uint8 (``uint8(clip(255 x))``)."""
    import torch
    import torch.nn.functional as F

    from vidbench.metrics.backbones.amt import build_amt_s, pad16

    model = build_amt_s(random_weights=random_weights, device=device)
    even = frames[0::2]
    h, w = even.shape[1:3]
    left, right, top, bottom = pad16(h, w)
    out = []
    with torch.inference_mode():
        for s in range(0, len(even) - 1, batch_size):
            idx = list(range(s, min(s + batch_size, len(even) - 1)))
            a = torch.from_numpy(np.stack([even[i] for i in idx])).permute(0, 3, 1, 2) / 255.0
            b = torch.from_numpy(np.stack([even[i + 1] for i in idx])).permute(0, 3, 1, 2) / 255.0
            a = F.pad(a.to(device), [left, right, top, bottom], mode="replicate")
            b = F.pad(b.to(device), [left, right, top, bottom], mode="replicate")
            embt = torch.full((len(idx), 1, 1, 1), 0.5, device=device)
            pred = model(a, b, embt, scale_factor=1.0)
            pred = pred[..., top:pred.shape[-2] - bottom, left:pred.shape[-1] - right]
            img = (pred * 255.0).permute(0, 2, 3, 1).cpu().numpy().clip(0, 255).astype(np.uint8)
            out.append(img)
    return np.concatenate(out) if out else np.zeros((0, h, w, 3), np.uint8)


def vbench_smoothness_formula(frames: np.ndarray, preds: np.ndarray) -> float:
    """VBench's ``vfi_score`` + normalisation: the odd frames against the predictions."""
    import cv2

    ori = frames[1::2]
    scores = [np.mean(cv2.absdiff(ori[i], preds[i])) for i in range(len(preds))]
    return (255.0 - float(np.mean(np.array(scores)))) / 255.0
