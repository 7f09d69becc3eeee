"""Two cheap, exactly known metrics for runner tests (loaded with VIDBENCH_PLUGINS in
subprocesses, imported directly in-process). They look at different views, so a run with
both checks that one decode serves several views."""

from __future__ import annotations

import numpy as np

from vidbench.registry import PerVideoMetric, Score, SetMetric, VideoContext, register_metric
from vidbench.stats import Aggregate
from vidbench.video import ViewSpec


@register_metric
class MeanLuma(PerVideoMetric):
    """Mean luma of the 8 fps, 32 px view, / 255: range [0, 1]."""

    name = "test_mean_luma"

    def view_spec(self) -> ViewSpec:
        return ViewSpec(fps=8.0, size=32)

    def score(self, ctx: VideoContext) -> Score:
        v = ctx.view(self.view_spec())
        return Score(float(v.gray().mean() / 255.0), {"frames": v.num_frames})


@register_metric
class FrameDiff(PerVideoMetric):
    """1 - mean |I_t - I_{t+1}| / 255 on 4 frames spread over the clip at native size;
    NaN for a single frame."""

    name = "test_frame_diff"

    def view_spec(self) -> ViewSpec:
        return ViewSpec(num_frames=4)

    def score(self, ctx: VideoContext) -> Score:
        v = ctx.view(self.view_spec())
        if v.num_frames < 2:
            return Score.not_applicable("single frame")
        d = np.abs(np.diff(v.frames.astype(np.float64), axis=0)).mean()
        return Score(float(1.0 - d / 255.0))


@register_metric
class Explodes(PerVideoMetric):
    """Raises on videos whose prompt contains 'boom' (a metric bug on one video)."""

    name = "test_explodes"

    def view_spec(self) -> ViewSpec:
        return ViewSpec(fps=4.0)

    def score(self, ctx: VideoContext) -> Score:
        if "boom" in ctx.prompt:
            raise RuntimeError("metric bug")
        return Score(1.0)


@register_metric
class MeanColourDistance(SetMetric):
    """Distance between the mean colours (8 fps, 16 px view) of two sets, / 255."""

    name = "test_mean_colour_distance"

    def view_spec(self) -> ViewSpec:
        return ViewSpec(fps=8.0, size=16)

    def protocol(self) -> dict:
        return {"metric": self.name, "view": "8fps-16px"}

    def features(self, ctx: VideoContext) -> np.ndarray:
        return ctx.view(self.view_spec()).frames.reshape(-1, 3).mean(axis=0) / 255.0

    def compute(self, generated: np.ndarray, reference: np.ndarray, *, seed: int = 0
                ) -> Aggregate:
        d = float(np.linalg.norm(generated.mean(axis=0) - reference.mean(axis=0)))
        return Aggregate(d, (d, d), len(generated))
