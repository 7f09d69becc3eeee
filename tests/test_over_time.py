"""Per-window details (issue 17, item 4): a long video's flicker and consistency per 2 s
window, and the drift from the first window to the last."""

from __future__ import annotations

import numpy as np
import pytest

from vidbench.registry import VideoContext, get_metric
from vidbench.video import Clip, window_series


def test_window_series_means_and_drift():
    t = np.arange(10) * 0.5  # 0 .. 4.5 s: windows [0, 2), [2, 4), [4, 6)
    v = np.array([1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.2, 0.2])
    w = window_series(t, v)
    assert [x["start"] for x in w["windows"]] == [0.0, 2.0, 4.0]
    assert [x["n"] for x in w["windows"]] == [4, 4, 2]
    assert [x["value"] for x in w["windows"]] == pytest.approx([1.0, 0.5, 0.2])
    assert w["drift"] == pytest.approx(-0.8)
    assert window_series([0.0], [1.0])["drift"] is None
    assert window_series([], [])["windows"] == []


def test_flicker_that_starts_late_shows_in_the_windows_not_just_the_mean():
    """6 s of a still textured frame at 8 fps; from 4 s on, the brightness alternates by
    12 levels every frame: the first windows are ~1, the last one is lower, drift < 0."""
    rng = np.random.default_rng(0)
    base = rng.integers(60, 180, (64, 64, 3)).astype(np.int16)
    frames = []
    for k in range(48):
        d = 12 if (k >= 32 and k % 2) else 0
        frames.append(np.clip(base + d, 0, 255).astype(np.uint8))
    clip = Clip.from_array(np.stack(frames), 8.0)
    s = get_metric("temporal_flicker").score(VideoContext(clip))
    ot = s.details["over_time"]
    vals = [w["value"] for w in ot["windows"]]
    assert len(vals) == 3
    assert vals[0] == pytest.approx(1.0, abs=1e-6) and vals[1] == pytest.approx(1.0, abs=1e-6)
    assert vals[2] < 0.99 and ot["drift"] < -0.01
    assert s.value == pytest.approx(np.average(vals, weights=[w["n"] for w in
                                                              ot["windows"]]))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["subject_consistency", "background_consistency"])
def test_consistency_reports_its_windows(name):
    """Every frame of a 5 s, 4 fps clip (vbench view): pairs fall in windows from 0, 2, 4 s;
    the pair-weighted window means give back the score."""
    from vidbench.synthetic import moving_disc

    clip = Clip.from_array(moving_disc(20, 64, 4.0, velocity=(8.0, 2.0), texture=1.0), 4.0)
    m = get_metric(name, mode="vbench", random_weights=True, arch="tiny")
    s = m.score(VideoContext(clip))
    ot = s.details["over_time"]
    assert [w["start"] for w in ot["windows"]] == [0.0, 2.0, 4.0]
    assert sum(w["n"] for w in ot["windows"]) == s.details["n_pairs"] == 19
    assert s.value == pytest.approx(np.average([w["value"] for w in ot["windows"]],
                                               weights=[w["n"] for w in ot["windows"]]))
    assert ot["drift"] == pytest.approx(ot["windows"][-1]["value"] - ot["windows"][0]["value"])
