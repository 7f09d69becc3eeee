"""VBench's two ViCLIP dimensions, ``overall_consistency`` and ``temporal_style``: text-video
alignment of the whole clip.

Formula, per video: ``cos(E_video(x_1..x_8), E_text(prompt))``, the cosine of the
L2-normalised ViCLIP embeddings of 8 frames and of the prompt (no logit scale, no clamping).
Range [-1, 1]; real values sit around 0.2-0.3 (VBench normalises with [0, 0.364]); higher
is better. Aggregate: mean over videos with a bootstrap CI (VBench's ``np.mean(sim)``).

The two metrics share the formula, the frames and one ViCLIP pass per video (memoised on
the video context); they differ in the prompts VBench scores them on: ``overall_consistency``
on its overall-consistency prompts (everyday scenes), ``temporal_style`` on prompts that ask
for a camera motion or temporal effect ("..., zoom in", "..., in slow motion"). On a
``vbench-full`` run each scores only its own prompts; elsewhere both score every prompt.

Frames: ``vbench`` mode reproduces VBench's ``read_frames_decord_by_fps(num_frames=8,
sample="middle")``: the source frame indices split into 8 equal intervals, the middle of each
(padded with the last index for clips shorter than 8 frames), then ``clip_transform(224)``
on the uint8 frames (bicubic without antialiasing, rounded to uint8, center crop).
``default`` mode takes 8 frames spread over the clip *by time*, at the midpoints of 8 equal
segments of [first timestamp, end time) (version 2; so the same motion at another fps gives
the same frames: version 1 spread them to the last timestamp, which moves with the fps) with
antialiased bicubic resizing and a center crop; a clip with fewer than 8 frames is NaN with
the reason (ViCLIP reads exactly 8 frames and a default view never invents duplicates).

Needs a prompt (``requires_prompt``). Prompts longer than ViCLIP's 32-token context are
truncated (``details["prompt_truncated"]``). Blind to: the region outside the center crop,
anything between the 8 sampled frames, and fine spatial relations. With
``random_weights=True`` the numbers are not comparable. Checked against VBench's own
``overall_consistency`` / ``temporal_style`` functions with shared random weights
(``tests/test_viclip.py``).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch

from vidbench.errors import UserError
from vidbench.metrics.consistency import BackboneMetric
from vidbench.registry import Score, VideoContext
from vidbench.video import ViewSpec

NUM_FRAMES = 8
VBENCH_VIEW = ViewSpec()  # every decoded frame at its own size: VBench picks 8 by index


def default_view() -> ViewSpec:
    return ViewSpec(num_frames=NUM_FRAMES, pad=False, size=224, resize="bicubic_aa",
                    crop="center")


class ViCLIPAlignment(BackboneMetric):
    """Shared ViCLIP text-video cosine (see the module docstring)."""

    version: ClassVar[str] = "2"  # 2: default view at segment midpoints (same frames at any fps)
    higher_is_better: ClassVar[bool] = True
    requires_prompt: ClassVar[bool] = True
    weights: ClassVar[tuple[str, ...]] = ("viclip-l14-internvid-10m-flt",)
    default_options: ClassVar[dict[str, Any]] = {"arch": "ViT-L-14", "seed": 0}
    archs: ClassVar[tuple[str, ...]] = ("ViT-L-14", "tiny")

    def required_weights(self) -> tuple[str, ...]:
        from vidbench.metrics.backbones.viclip import CONFIGS

        w = CONFIGS[self.options["arch"]].weights
        return (w,) if w else ()

    def view_spec(self) -> ViewSpec:
        return VBENCH_VIEW if self.mode == "vbench" else default_view()

    def backbone(self):
        from vidbench.metrics.backbones.viclip import load_viclip

        return load_viclip(self.options["arch"], random_weights=self.random_weights,
                           device=self.device, half=bool(self.half),
                           seed=int(self.options["seed"]))

    def video_embedding(self, ctx: VideoContext) -> torch.Tensor | None:
        """The clip's ViCLIP embedding (None when it has too few frames), memoised so the
        two ViCLIP metrics share one pass."""
        from vidbench.metrics.backbones.viclip import (
            normalise_view,
            vbench_middle_indices,
            vbench_video_tensor,
        )

        bb = self.backbone()
        spec = self.view_spec()

        def compute() -> torch.Tensor | None:
            frames = ctx.view(spec).frames
            if self.mode == "vbench":
                if len(frames) == 0:
                    return None
                return bb.encode_video(vbench_video_tensor(
                    frames[vbench_middle_indices(len(frames), NUM_FRAMES)]))
            if len(frames) < NUM_FRAMES:
                return None
            return bb.encode_video(normalise_view(frames))

        return ctx.memo(("viclip-video", bb.tag, spec, self.mode), compute)

    def score(self, ctx: VideoContext) -> Score:
        prompt = (ctx.prompt or "").strip()
        if not prompt:
            return Score.not_applicable("no prompt", video=ctx.video)
        video = self.video_embedding(ctx)
        if video is None:
            return Score.not_applicable(f"too few frames (ViCLIP reads {NUM_FRAMES})",
                                        video=ctx.video)
        text, truncated = self.backbone().encode_text(prompt)
        cos = float(np.dot(video.double().numpy(), text.double().numpy()))
        if not math.isfinite(cos):
            raise UserError(f"{ctx.video}: ViCLIP produced a non-finite embedding")
        return Score(cos, {"arch": self.options["arch"], "prompt_truncated": bool(truncated)})


class OverallConsistency(ViCLIPAlignment):
    """ViCLIP cosine of the whole clip and its prompt (VBench's overall consistency)."""

    name: ClassVar[str] = "overall_consistency"


class TemporalStyle(ViCLIPAlignment):
    """ViCLIP cosine of the clip and a temporal-style prompt (VBench's temporal style). The
    prompts ask for camera motions, slow motion, time-lapse and the like."""

    name: ClassVar[str] = "temporal_style"
