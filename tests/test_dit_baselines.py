"""Baselines (copy-last, frozen-first-frame, constant-velocity, untrained, noise), the
colour-blob tracker and the physics task scores used to accept the reference DiT."""

from __future__ import annotations

import numpy as np
import pytest

from vidbench.errors import UserError
from vidbench.models.baselines import BaselineAdapter, constant_velocity, find_objects, track
from vidbench.models.dit.evaluate import item_scores
from vidbench.scenarios import make_item, render_item
from vidbench.suites import SuiteItem


def disc_clip(T=12, size=32, v=(1.5, 0.5), p0=(6.0, 10.0), r=3.0, a=(0.0, 0.0)):
    """A red antialiased disc at p0 + v k + a k^2 / 2 (pixels, per frame) on dark grey."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    out = np.empty((T, size, size, 3), np.uint8)
    for k in range(T):
        cx = p0[0] + v[0] * k + 0.5 * a[0] * k * k
        cy = p0[1] + v[1] * k + 0.5 * a[1] * k * k
        cov = np.clip(r - np.hypot(xx - cx, yy - cy) + 0.5, 0, 1)[..., None]
        out[k] = np.rint(np.array([30, 30, 30]) * (1 - cov) + np.array([220, 40, 40]) * cov)
    return out


def test_find_objects_centroid_and_area():
    f = disc_clip(T=1, p0=(12.3, 17.6), r=4.0)[0]
    (b,) = find_objects(f)
    assert b.x == pytest.approx(12.3, abs=0.1) and b.y == pytest.approx(17.6, abs=0.1)
    assert b.area == pytest.approx(np.pi * 16, rel=0.1)
    assert find_objects(np.full((8, 8, 3), 90, np.uint8)) == []  # grey: nothing saturated


def test_constant_velocity_extrapolates_uniform_motion():
    clip = disc_clip(T=12)
    out = constant_velocity(clip[:4], 12, 8.0)
    assert np.array_equal(out[:4], clip[:4])
    tr = track(out)[0]
    for k in range(4, 12):
        assert tr[k].x == pytest.approx(6.0 + 1.5 * k, abs=0.4)
        assert tr[k].y == pytest.approx(10.0 + 0.5 * k, abs=0.4)
        assert tr[k].area == pytest.approx(tr[3].area, rel=0.2)


def test_constant_velocity_misses_acceleration():
    clip = disc_clip(T=12, v=(0.0, 0.2), a=(0.0, 0.3), p0=(16.0, 5.0))
    out = constant_velocity(clip[:4], 12, 8.0)
    last_true = track(clip)[0][-1]
    last_cv = track(out)[0][-1]
    assert last_true.y - last_cv.y > 5.0  # falls behind a falling object


def _item(cond: np.ndarray | None, T=12, size=32) -> SuiteItem:
    return SuiteItem(item="x", prompt="a red ball", num_frames=T, height=size, width=size,
                     fps=8.0, conditioning=(lambda: cond) if cond is not None else None)


def test_copy_last_and_noise_baselines():
    clip = disc_clip()
    g = BaselineAdapter("copy-last").generate_one(_item(clip[:4]))
    assert g.frames.shape == clip.shape and np.array_equal(g.frames[:4], clip[:4])
    assert all(np.array_equal(f, clip[3]) for f in g.frames[4:])
    n = BaselineAdapter("noise").generate_one(_item(clip[:4]))
    assert np.array_equal(n.frames[:4], clip[:4]) and n.frames[4:].std() > 50
    grey = BaselineAdapter("copy-last").generate_one(_item(None))
    assert (grey.frames == 128).all() and grey.frames.shape == (12, 32, 32, 3)


def test_frozen_first_frame_is_a_still_of_the_first_conditioning_frame():
    clip = disc_clip()
    g = BaselineAdapter("frozen-first-frame").generate_one(_item(clip[:4]))
    assert g.frames.shape == clip.shape
    assert all(np.array_equal(f, clip[0]) for f in g.frames)  # the conditioning motion too
    assert not np.array_equal(g.frames[3], clip[3])  # unlike copy-last, which keeps it
    assert track(g.frames)[0][-1].x == pytest.approx(track(clip)[0][0].x, abs=1e-6)
    grey = BaselineAdapter("frozen-first-frame").generate_one(_item(None))
    assert (grey.frames == 128).all()


def test_baseline_errors():
    with pytest.raises(UserError, match="unknown baseline"):
        BaselineAdapter("teleport")
    bad = _item(np.zeros((4, 32, 32), np.float32))
    with pytest.raises(UserError, match="item x: conditioning frames"):
        BaselineAdapter("copy-last").generate_one(bad)


def test_item_scores_grade_ground_truth_copy_and_reversal():
    item = make_item("free_fall", 0, num_frames=16, size=32, fps=8.0, cond_frames=4)
    gt = render_item(item)
    s_gt = item_scores(gt, gt, 4)
    assert s_gt["direction"] == 1.0 and s_gt["pos_err"] == 0.0 and s_gt["size"] > 0.9
    frozen = np.concatenate([gt[:4], np.repeat(gt[3:4], 12, axis=0)])
    s_frozen = item_scores(frozen, gt, 4)
    assert s_frozen["direction"] == 0.0 and s_frozen["pos_err"] > s_gt["pos_err"] + 0.05
    rev = np.concatenate([gt[:4], gt[3::-1], np.repeat(gt[:1], 8, axis=0)])  # moves back up
    assert item_scores(rev, gt, 4)["direction"] == 0.0
    lost = gt.copy()
    lost[4:] = gt[0, 0, 0]  # the ball vanishes
    s_lost = item_scores(lost, gt, 4)
    assert s_lost["found"] == 0.0 and s_lost["size"] == 0.0
