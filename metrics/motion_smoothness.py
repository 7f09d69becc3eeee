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

**default** (the corrected protocol, weight-free): the clip is resampled by timestamps to 8 fps
with its shorter side at 256 px (:func:`vidbench.metrics.flow.default_view_spec`); view frames
repeating a source frame (source fps below 8) are dropped. For every interior frame I_k with
its distinct neighbours I_a, I_b, flows F_ab and F_ba (OpenCV DIS on frames shrunk by
``flow_scale``) give a Super-SloMo style backward-warped interpolation Î_k at the true relative
time t = (t_k - t_a) / (t_b - t_a) of the source frames:

    score = 1 - mean_k mean |I_k - Î_k| / 255.

Using the source timestamps makes the score independent of the container fps; resampling to
a fixed size makes it independent of resolution; averaging over frames makes it independent
of length. Fewer than three distinct frames: NaN, reason ``"too_short"``.

Range [0, 1]; higher is better; a static clip (identical frames) scores exactly 1.0.

Blind to: a static video (perfectly "smooth"; read it with dynamic_degree); smooth but
physically wrong motion; errors of the interpolator itself (occlusions, motion larger than
the flow can follow) lower every score, so compare models under the same protocol only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from vidbench.metrics import flow as fl
from vidbench.registry import PerVideoMetric, Score, VideoContext
from vidbench.video import ViewSpec


class MotionSmoothness(PerVideoMetric):
    name: ClassVar[str] = "motion_smoothness"
    version: ClassVar[str] = "1"
    higher_is_better: ClassVar[bool] = True

    def __init__(self, mode: str = "default", *, device: str = "cpu",
                 random_weights: bool = False, flow: str = "dis", flow_scale: float = 0.5,
                 fps: float = fl.REFERENCE_FPS, size: int = fl.REFERENCE_SIZE,
                 batch_size: int = 4) -> None:
        opts: dict[str, Any]
        if mode == "vbench":
            opts = {}
        else:
            opts = {"flow": flow, "flow_scale": float(flow_scale), "fps": float(fps),
                    "size": int(size)}
        super().__init__(mode, device=device, random_weights=random_weights, **opts)
        self.flow_backend = flow
        self.flow_scale = float(flow_scale)
        self.fps = float(fps)
        self.size = int(size)
        self.batch_size = max(1, int(batch_size))
        self._estimator: fl.FlowEstimator | None = None

    def required_weights(self) -> tuple[str, ...]:
        if self.mode == "vbench":
            return ("amt-s",)
        return fl.flow_weights(self.flow_backend)

    def view_spec(self) -> ViewSpec:
        if self.mode == "vbench":
            return ViewSpec()
        return fl.default_view_spec(self.fps, self.size)

    @property
    def estimator(self) -> fl.FlowEstimator:
        if self._estimator is None:
            method = "dis-fast" if self.flow_backend == "dis" else None
            self._estimator = fl.get_flow_estimator(
                self.flow_backend, device=self.device, random_weights=self.random_weights,
                method=method, scale=self.flow_scale, batch_size=self.batch_size)
        return self._estimator

    def score(self, ctx: VideoContext) -> Score:
        if self.mode == "vbench":
            return self._score_vbench(ctx)
        return self._score_default(ctx)

    # ------------------------------------------------------------------ default

    def _score_default(self, ctx: VideoContext) -> Score:
        spec = self.view_spec()
        view = ctx.view(spec)
        times = fl.source_times(ctx, view)
        keep = [0] + [k for k in range(1, view.num_frames)
                      if view.indices[k] != view.indices[k - 1] and times[k] > times[k - 1]]
        triplets = [(keep[m - 1], keep[m], keep[m + 1]) for m in range(1, len(keep) - 1)]
        if not triplets:
            return Score.not_applicable("too_short", frames=len(keep),
                                        detail="fewer than three distinct frames in the view")
        est = self.estimator
        pairs = [p for a, _, b in triplets for p in ((a, b), (b, a))]

        def compute() -> np.ndarray:
            return est.flows(view.frames, pairs)

        flows = ctx.memo(("vidbench.flow.skip_one", est.key, spec), compute)
        errors = []
        for n, (a, k, b) in enumerate(triplets):
            t = float((times[k] - times[a]) / (times[b] - times[a]))
            pred = fl.interpolate_frame(view.frames[a], view.frames[b], flows[2 * n],
                                        flows[2 * n + 1], t)
            errors.append(float(np.abs(view.frames[k].astype(np.float32) - pred).mean()))
        err = np.asarray(errors)
        return Score(1.0 - float(err.mean()) / 255.0, {
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
