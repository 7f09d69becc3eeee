"""``imaging_quality``: MUSIQ-SPAQ technical quality of the frames (noise, blur, exposure).

VBench's "imaging quality" dimension: MUSIQ trained on SPAQ judges each frame's technical
quality (noise, blur, over/under-exposure, compression artefacts).

Formula, per video: ``mean_k MUSIQ(x_k) / 100`` over the frames ``x_k`` of the view, where
MUSIQ-SPAQ predicts a mean opinion score on SPAQ's ~[0, 100] scale. Reported in VBench's
aggregate units (its overall number is the mean over videos of the per-video means, / 100;
VBench's per-video list holds the raw means, 100x these). Range ~[0, 1] (a regression head:
a little outside is possible); higher is better.

``vbench`` mode reproduces VBench's ``technical_quality`` with its default
``imaging_quality_preprocessing_mode="longer"``: every decoded frame, as float; when the
longer side exceeds 512 the frame is resized (bilinear, no antialiasing) to longer side 512
with ``int()`` truncation of the other side; then / 255.

``default`` mode: frames resampled by timestamps to 2 fps (at most 16, so the cost of a
long clip is bounded: MUSIQ costs ~0.1-0.5 s per frame on a CPU), shrunk with antialiasing
(``area``) to longer side <= 512 and never enlarged. MUSIQ looks at the image at its own
resolution (one of its three scales is the original), so the score depends on resolution by
design; the cap makes videos above 512 px comparable, and smaller videos are scored as
they are.

Blind to: time (each frame alone), semantics and aesthetics (a sharp, well-exposed frame of
the wrong thing scores high). With ``random_weights=True`` the numbers are not comparable.
Checked against VBench's own ``technical_quality`` with pyiqa's MUSIQ, sharing weights
(``tests/test_imaging_quality.py``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from vidbench.metrics.consistency import BackboneMetric
from vidbench.registry import Score, VideoContext
from vidbench.video import ViewSpec

LONGER_SIDE = 512


def vbench_longer_transform(frames: np.ndarray) -> torch.Tensor:
    """VBench's ``transform(images, "longer")`` on ``load_video``'s float frames: resize to
    longer side 512 (torchvision bilinear, ``antialias=False``, sizes truncated by ``int``)
    when the longer side exceeds 512; then / 255. Returns (T, 3, H, W) float32."""
    import torchvision.transforms.functional as TF

    x = torch.Tensor(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    h, w = x.shape[-2:]
    if max(h, w) > LONGER_SIDE:
        scale = LONGER_SIDE / max(h, w)
        x = TF.resize(x, [int(scale * h), int(scale * w)], antialias=False)
    return x / 255.0


def capped_to_unit(frames: np.ndarray) -> torch.Tensor:
    """Default mode: longer side shrunk to <= 512 with area averaging (never enlarged), then
    / 255. Returns (T, 3, H, W) float32."""
    from vidbench.video import resize_frames

    h, w = frames.shape[1:3]
    if max(h, w) > LONGER_SIDE:
        scale = LONGER_SIDE / max(h, w)
        frames = resize_frames(frames, (max(1, round(h * scale)), max(1, round(w * scale))),
                               "area")
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0


class ImagingQuality(BackboneMetric):
    """MUSIQ-SPAQ frame quality / 100 (see the module docstring)."""

    name: ClassVar[str] = "imaging_quality"
    version: ClassVar[str] = "1"
    higher_is_better: ClassVar[bool] = True
    default_options: ClassVar[dict[str, Any]] = {"fps": 2.0, "num_frames": 16,
                                                 "arch": "spaq", "seed": 0}
    archs: ClassVar[tuple[str, ...]] = ("spaq", "tiny")

    def required_weights(self) -> tuple[str, ...]:
        from vidbench.metrics.backbones.musiq import CONFIGS

        w = CONFIGS[self.options["arch"]].weights
        return (w,) if w else ()

    def view_spec(self) -> ViewSpec:
        if self.mode == "vbench":
            return ViewSpec()  # every decoded frame at its own size
        return ViewSpec(fps=float(self.options["fps"]), num_frames=self.options["num_frames"],
                        pad=False)

    def backbone(self):
        from vidbench.metrics.backbones.musiq import load_musiq

        return load_musiq(self.options["arch"], random_weights=self.random_weights,
                          device=self.device, seed=int(self.options["seed"]))

    def score(self, ctx: VideoContext) -> Score:
        frames = ctx.view(self.view_spec()).frames
        if len(frames) == 0:
            return Score.not_applicable("no frames", video=ctx.video)
        x = vbench_longer_transform(frames) if self.mode == "vbench" else capped_to_unit(frames)
        per_frame = self.backbone().score_frames(x) / 100.0
        return Score(float(per_frame.mean()),
                     {"min": float(per_frame.min()), "n_frames": int(len(per_frame)),
                      "size": [int(x.shape[-2]), int(x.shape[-1])],
                      "arch": self.options["arch"]})
