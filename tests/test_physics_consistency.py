"""Validity tests of ``physics_consistency``: every clip is rendered here (the scenario library's
ground truth, and corrupted versions drawn by ``perf/calibrate_physics.py``'s helpers), with a
known right answer: clean renders score high, each corruption lowers the sub-score meant to
catch it and the overall score by a stated margin, and physically plausible variants (a fall
played backwards, global flicker, slow motion) are not penalised."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from vidbench.errors import UserError
from vidbench.metrics import physics_consistency as pc
from vidbench.metrics.physics_segment import render_discs, segment, track
from vidbench.registry import VideoContext, get_metric
from vidbench.video import Clip

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (64, 16.0, 32)  # the physics suite's shape: 64 px, 16 fps, 32 frames (2 s)


def _load_calibration_helpers():
    spec = importlib.util.spec_from_file_location("calibrate_physics",
                                                  ROOT / "perf" / "calibrate_physics.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["calibrate_physics"] = mod
    spec.loader.exec_module(mod)
    return mod


cp = _load_calibration_helpers()


@pytest.fixture(scope="module")
def metric() -> pc.PhysicsConsistency:
    return pc.PhysicsConsistency()


def _score(frames: np.ndarray, fps: float, metric=None):
    m = metric or _metric()
    return m.score(VideoContext(Clip.from_array(frames, fps)))


@lru_cache(maxsize=1)
def _metric() -> pc.PhysicsConsistency:
    return pc.PhysicsConsistency()


@lru_cache(maxsize=64)
def _scored(kind: str, scenario: str, seed: int = 0, shape: tuple = SHAPE):
    frames = cp.variant(kind, scenario, seed, *shape)
    return _score(frames, shape[1])


def _sub(score, name: str) -> float:
    s = score.details["subscores"][name]
    assert s["applicable"], f"{name} not applicable: {score.details}"
    return s["score"]


# ----------------------------------------------------------------------------- contract


def test_registry_entry_and_fixed_view():
    m = get_metric("physics_consistency")
    assert isinstance(m, pc.PhysicsConsistency)
    assert m.required_weights() == () and m.comparable
    assert m.view_spec() == pc.VIEW and m.view_spec().fps == 15.0 and m.view_spec().size == 128
    p = m.protocol()
    assert set(p["taus"]) == set(pc.SUBSCORES)
    assert all(v > 0 for v in p["taus"].values())


def test_calibration_file_is_consistent():
    cal = json.loads(pc.CALIBRATION_FILE.read_text())
    assert set(cal["taus"]) == set(pc.SUBSCORES)
    for k, tau in cal["taus"].items():
        q80 = cal["clean_errors"][k]["err_q80"] or 0.0
        # 80% of the clean renders score at least 0.9 on each sub-score (or the floor rules)
        assert tau == pytest.approx(max(q80 / -math.log(0.9), pc.TAU_FLOORS[k]), rel=1e-3)
        mean_score = cal["clean_errors"][k]["clean_mean_score"]
        assert mean_score is None or mean_score >= 0.85, k
    assert all(v["mean"] >= 0.9 for v in cal["clean_overall"].values())


def test_broken_calibration_is_a_user_error(tmp_path):
    bad = tmp_path / "cal.json"
    bad.write_text('{"taus": {\n  "permanence": 1,\n  oops}')
    with pytest.raises(UserError, match=r"cal\.json:3: invalid JSON"):
        pc.PhysicsConsistency(calibration=str(bad))
    bad.write_text(json.dumps({"taus": {"permanence": 1.0}}))
    with pytest.raises(UserError, match="lacks area"):
        pc.PhysicsConsistency(calibration=str(bad))
    taus = {k: 1.0 for k in pc.SUBSCORES} | {"warp": -1}
    bad.write_text(json.dumps({"taus": taus}))
    with pytest.raises(UserError, match="tau for 'warp' must be > 0"):
        pc.PhysicsConsistency(calibration=str(bad))
    with pytest.raises(UserError, match="missing"):
        pc.PhysicsConsistency(calibration=str(tmp_path / "nope.json"))


def test_static_and_untrackable_clips_are_nan_not_one(metric):
    rng = np.random.default_rng(0)
    still = np.repeat(rng.integers(0, 255, (1, 64, 64, 3), dtype=np.uint8), 24, axis=0)
    s = _score(still, 12.0, metric)
    assert math.isnan(s.value) and s.details["reason"].startswith("static")
    assert s.details["coverage"] == 0.0
    noise = rng.integers(0, 255, (24, 64, 64, 3), dtype=np.uint8)
    s = _score(noise, 12.0, metric)
    assert math.isnan(s.value) and "untrackable" in s.details["reason"]
    s = _score(still[:4], 12.0, metric)
    assert math.isnan(s.value) and "too short" in s.details["reason"]


def test_camera_pan_is_untrackable_not_scored(metric):
    """A panning camera over a textured scene has no static background: NaN with a reason
    (the judge-free checks assume a static camera), not a score."""
    from vidbench.scenarios import sample_params, static_layer

    p = sample_params("projectile", 0) | {"texture": 30.0}
    big = static_layer(p, 256)
    t = 24
    bgs = np.stack([big[64:192, 10 + 4 * k:138 + 4 * k] for k in range(t)])
    centres = np.stack([np.linspace(30, 90, t), np.full(t, 64.0)], -1)[None]
    frames = render_discs(centres, np.full((1, t), 9.0), [(220, 40, 40)], bgs)
    s = _score(frames, 12.0, metric)
    assert math.isnan(s.value) and "untrackable" in s.details["reason"]


# ----------------------------------------------------------------------------- segmentation


def test_segmentation_soft_area_centroid_and_colour_split():
    """Two discs of different colours approaching until they touch are two objects: centroids
    within 0.25 px and antialiasing-aware areas within 3% of pi r^2 while apart, within
    0.5 px and 7% while touching."""
    bg = np.full((128, 128, 3), 20.0, np.float32)
    t = 8
    x1, x2 = np.linspace(30.0, 50.0, t), np.linspace(85.0, 74.0, t)
    centres = np.stack([np.stack([x1, np.full(t, 60.3)], -1),
                        np.stack([x2, np.full(t, 61.7)], -1)])
    radii = np.array([[11.0] * t, [12.0] * t])
    frames = render_discs(centres, radii, [(220, 40, 40), (40, 90, 235)], bg)
    seg = segment(frames)
    tracks = [tr for tr in track(seg.objects, (128, 128)) if len(tr.obs) == t]
    assert len(tracks) == 2
    for tr in tracks:
        i = 0 if tr.color[0] > tr.color[2] else 1
        for o in tr.obs:
            apart = x2[o.frame] - x1[o.frame] > 23.0 + 3.0
            tol_px, tol_area = (0.25, 0.03) if apart else (0.5, 0.07)
            assert abs(o.x - centres[i, o.frame, 0]) < tol_px
            assert abs(o.y - centres[i, o.frame, 1]) < tol_px
            assert o.area == pytest.approx(math.pi * radii[i, 0] ** 2, rel=tol_area)


def test_slow_object_does_not_leak_into_the_background():
    """A big disc that covers most of its path in most frames (the temporal median alone
    would keep it) is still segmented whole."""
    bg = np.full((128, 128, 3), 30.0, np.float32)
    t = 24
    centres = np.stack([np.linspace(55, 70, t), np.full(t, 64.0)], -1)[None]
    frames = render_discs(centres, np.full((1, t), 18.0), [(40, 190, 70)], bg)
    seg = segment(frames)
    areas = [o.area for objs in seg.objects for o in objs]
    assert len(areas) == t
    assert np.allclose(areas, math.pi * 18.0**2, rtol=0.05)


# ----------------------------------------------------------------------------- validity

CLEAN = ("uniform_motion", "free_fall", "projectile", "bounce", "collision", "pendulum",
         "incline")


@pytest.mark.parametrize("scenario", CLEAN)
def test_clean_ground_truth_scores_at_least_0_9(scenario):
    s = _scored("clean", scenario)
    assert s.value >= 0.9, s.details
    assert 0 < s.details["coverage"] <= 1


#: corruption, scenario, the sub-score meant to catch it, the margin that sub-score must drop
#: by, the margin the overall score must drop by
CORRUPTIONS = [
    ("teleport", "uniform_motion", "teleport", 0.5, 0.1),
    ("vanish", "free_fall", "permanence", 0.5, 0.15),
    ("grow", "projectile", "area", 0.5, 0.1),
    ("jitter", "free_fall", "smoothness", 0.4, 0.1),
    ("antigravity", "free_fall", "gravity", 0.5, 0.3),
    ("linear_fall", "free_fall", "gravity", 0.5, 0.1),
    ("energy_bounce", "bounce", "bounce", 0.5, 0.1),
    ("momentum", "collision", "collision", 0.3, 0.05),
]


@pytest.mark.parametrize("kind,scenario,sub,margin,overall_margin", CORRUPTIONS)
def test_corruption_lowers_its_subscore_and_overall(kind, scenario, sub, margin,
                                                     overall_margin):
    clean, bad = _scored("clean", scenario), _scored(kind, scenario)
    clean_sub = clean.details["subscores"][sub]["score"]
    clean_sub = 1.0 if clean_sub is None else clean_sub  # not applicable on the clean clip
    assert _sub(bad, sub) <= clean_sub - margin, (kind, bad.details["subscores"][sub])
    assert bad.value <= clean.value - overall_margin, (kind, clean.value, bad.value)


def test_time_reversed_fall_is_a_plausible_throw():
    """A fall played backwards is an upward throw decelerated by gravity: not penalised."""
    clean, rev = _scored("clean", "free_fall"), _scored("reversed_fall", "free_fall")
    assert _sub(rev, "gravity") >= 0.9
    assert rev.value >= clean.value - 0.05


def test_global_brightness_flicker_is_not_a_physics_violation():
    for scenario in ("bounce", "projectile"):
        clean, fl = _scored("clean", scenario), _scored("flicker", scenario)
        assert fl.value >= clean.value - 0.1, (scenario, clean.value, fl.value)
        assert fl.details["subscores"]["permanence"]["score"] == 1.0


def test_slow_motion_passes():
    for scenario in ("projectile", "bounce"):
        s = _scored("slow_motion", scenario)
        assert s.value >= 0.85, (scenario, s.details)
        assert _sub(s, "gravity") >= 0.8


def test_same_scene_at_other_fps_and_resolution():
    """The fixed view keeps a clean render high and a teleport caught at 8 fps 32 px and
    24 fps 128 px alike."""
    for shape in ((32, 8.0, 16), (128, 24.0, 48)):
        clean = _scored("clean", "projectile", 1, shape)
        bad = _scored("teleport", "projectile", 1, shape)
        assert clean.value >= 0.85, (shape, clean.details)
        assert bad.value <= clean.value - 0.25, (shape, clean.value, bad.value)


#: nuisance -> (lowest value allowed, largest drop from clean allowed). H.264 CRF 35 is heavy
#: compression: it costs area/shape/smoothness precision (calibration: mean 0.87 vs 0.98),
#: but raises no permanence or teleport false alarm.
NUISANCES = {"crf35": (0.6, 0.35), "texture": (0.85, 0.1), "distractor": (0.85, 0.1)}


def test_container_that_repeats_frames_scores_the_same():
    """8 fps content stored at 24 fps (each frame three times) or at 16 fps (twice) is the
    same video: repeated content counts at the time it first appeared, so the motion is not
    turned into a staircase, and the score is unchanged."""
    m = _metric()
    frames = cp.variant("clean", "bounce", 0, 64, 8.0, 16)
    base = _score(frames, 8.0, m)
    for k, fps in ((3, 24.0), (2, 16.0)):
        s = _score(np.repeat(frames, k, axis=0), fps, m)
        assert s.value == pytest.approx(base.value, abs=0.01)
        assert s.details["frames"] == base.details["frames"]
    # a real violation in the repeated container is still caught
    bad = cp.variant("teleport", "bounce", 0, 64, 8.0, 16)
    assert _score(np.repeat(bad, 3, axis=0), 24.0, m).value <= base.value - 0.1


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(NUISANCES))
def test_compression_texture_and_distractor_are_handled(kind):
    lowest, drop = NUISANCES[kind]
    for scenario in ("free_fall", "bounce"):
        clean, v = _scored("clean", scenario), _scored(kind, scenario)
        assert v.value >= lowest, (kind, scenario, v.details)
        assert v.value >= clean.value - drop
        assert v.details["subscores"]["permanence"]["score"] == 1.0
        assert v.details["subscores"]["teleport"]["score"] >= 0.5
    # and a corruption is still caught on a textured background
    if kind == "texture":
        bg_tex = cp.variant("texture", "uniform_motion", 0, *SHAPE)
        assert _score(bg_tex, SHAPE[1]).value >= 0.8


@pytest.mark.slow
def test_discrimination_roc_auc():
    """Clean vs corrupted ROC-AUC on fresh seeds (not the calibration's) is high."""
    for kind, scenario in (("teleport", "projectile"), ("grow", "free_fall"),
                           ("antigravity", "projectile")):
        pos = [_scored("clean", scenario, seed).value for seed in (5, 6, 7)]
        neg = [_scored(kind, scenario, seed).value for seed in (5, 6, 7)]
        assert cp.auc(pos, neg) >= 0.9, (kind, pos, neg)


def _physics_mini_scored(spec: str, tmp_path) -> tuple[int, list]:
    """How many of physics-mini's 12 items model ``spec`` gets scored (not NaN) on, encoded
    as `vidbench run` encodes them; and the NaN reasons."""
    from vidbench.adapters import get_model
    from vidbench.suites import get_suite
    from vidbench.video import decode, write_video

    metric = get_metric("physics_consistency")
    model = get_model(spec)
    scored, reasons = 0, []
    for it in get_suite("physics-mini").items:
        g = model.generate_one(it)
        p = write_video(tmp_path / f"{spec}_{it.item}.mp4", g.frames, g.fps)
        s = metric.score(VideoContext(decode(p)))
        scored += not math.isnan(s.value)
        if math.isnan(s.value):
            reasons.append((it.item, s.details.get("reason")))
    return scored, reasons


def test_applies_to_the_physics_suite_it_was_built_for(tmp_path):
    """The metric's home ground must stay in its domain: the physics-mini ground truth,
    encoded as `vidbench run` encodes it, is scored (not NaN) on at least 11 of 12 items. A
    camera-motion gate tried for real footage (median DIS flow > 0.25 px/frame on normalised
    luma) NaN'd 3 of these 12 and 11 of the reference DiT's 12 clips, and was withdrawn;
    version 2 measures camera motion only on a textured background and scores all 12."""
    scored, reasons = _physics_mini_scored("physics-gt", tmp_path)
    assert scored >= 11, reasons


@pytest.mark.slow
def test_the_reference_dit_clips_stay_in_the_domain(tmp_path):
    """The shipped tiny DiT's physics-mini clips (flat backgrounds, noisy 32-px frames) are
    scored, not read as camera motion: version 2's withdrawn first gate NaN'd 11 of 12."""
    scored, reasons = _physics_mini_scored("dit", tmp_path)
    assert scored >= 11, reasons


def _textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    import cv2

    noise = rng.uniform(0, 255, (h // 4, w // 4, 3)).astype(np.uint8)
    return cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)


def test_camera_motion_is_measured_only_on_a_textured_background():
    """A ball crossing a flat background: no pair is measured (the ball's edges are the only
    texture), so camera motion is None, not the ball's speed. The same textured world panned
    by 1.5 px per frame reads ~1.5 px; held still with a ball crossing it, ~0."""
    centres = np.array([[(10 + 6 * k, 40 + 2 * k) for k in range(12)]], np.float64)
    radii = np.full((1, 12), 8.0)
    ball = render_discs(centres, radii, [(230, 40, 30)], np.full((96, 128, 3), 90, np.uint8))
    motion, measured = pc.camera_motion(ball)
    assert motion is None and measured == 0.0
    world = _textured(160, 260)
    pan = np.stack([world[20:116, int(1.5 * k) + 10:int(1.5 * k) + 138] for k in range(12)])
    motion, measured = pc.camera_motion(pan)
    assert measured == 1.0 and motion == pytest.approx(1.5, abs=0.35), motion
    still = render_discs(centres, radii, [(230, 40, 30)], world[20:116, 10:138])
    motion, _ = pc.camera_motion(still)
    assert motion is not None and motion < 0.1, motion


# ----------------------------------------------------------------------------- version 4


def test_version_4_reads_small_views_only_and_streams(tmp_path):
    """Version 4 finds repeated content on the small every-source-frame view, never on
    full-resolution frames: scored from a streamed decode (which holds no full frame) it
    equals the score from the full decode, without a second decode."""
    from vidbench.stream import decode_views
    from vidbench.video import decode, write_video

    m = _metric()
    assert m.version == "4" and m.view_specs() == [pc.VIEW, pc.SOURCE_VIEW]
    assert pc.SOURCE_VIEW.fps is None and pc.SOURCE_VIEW.num_frames is None
    assert (pc.SOURCE_VIEW.size, pc.SOURCE_VIEW.resize) == (pc.VIEW.size, pc.VIEW.resize)
    frames = cp.variant("clean", "bounce", 0, 160, 8.0, 16)
    path = write_video(tmp_path / "b.mp4", np.repeat(frames, 3, axis=0), 24.0, crf=18)
    full = m.score(VideoContext(decode(path)))
    streamed = decode_views(path, m.view_specs())
    s = m.score(VideoContext(streamed))
    assert "extra_decodes" not in streamed.meta
    assert s.value == full.value and s.details["frames"] == full.details["frames"] <= 16


def test_same_content_rule():
    a = np.full((40, 50, 3), 100, np.uint8)
    b = a.copy()
    b[:1, :1] = 200  # 1 of 2000 pixels: 5e-4, not under the fraction
    assert not pc.same_content(a, b, stride=1)
    b = a + 8  # everywhere, but not by more than 8 levels
    assert pc.same_content(a, b)
    b[0, 0, 0] = 109  # 1 value in 1500 on the 2x grid
    assert pc.same_content(a, b, stride=2, fraction=1e-3)
    c = a.copy()
    c[1::2, 1::2] = 0  # a change on the odd rows and columns only: stride 2 does not see it
    assert pc.same_content(a, c, stride=2) and not pc.same_content(a, c, stride=1)


def test_brightness_fit_applied_per_frame_equals_the_whole_clip():
    from vidbench.metrics.physics_segment import (
        apply_brightness,
        brightness_fit,
        normalise_brightness,
    )

    rng = np.random.default_rng(3)
    frames = np.clip(_textured(48, 64)[None].astype(np.float32)
                     * rng.uniform(0.7, 1.3, (9, 1, 1, 1)), 0, 255).astype(np.uint8)
    norm, gains, offsets = normalise_brightness(frames)
    g2, o2 = brightness_fit(frames)
    assert np.array_equal(gains, g2) and np.array_equal(offsets, o2)
    for i in range(len(frames)):
        assert np.array_equal(apply_brightness(frames[i], gains[i], offsets[i]), norm[i])


def test_camera_gate_and_stabilise_memory_do_not_grow_with_the_clip():
    """The camera gate and the pan undoing work one frame pair at a time: from 40 to 160
    frames their numpy peak (tracemalloc) grows by a fraction of the extra frames' bytes
    (the gate keeps a 4x-subsampled float copy for the brightness fit: 1/4), not by several
    float copies of the clip (version 3: 12x and 5x the frames' bytes at 900 frames)."""
    import tracemalloc

    world = _textured(140, 260)

    def peaks(k: int) -> tuple[int, int, int]:
        xs = [i % 80 if i % 80 < 40 else 80 - i % 80 for i in range(k)]  # pan back and forth
        pan = np.stack([world[10:130, x:x + 160] for x in xs])
        tracemalloc.start()
        pc.global_shifts(pan)
        gate = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        out, _ = pc.stabilise(pan)
        stab = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert out is not None
        return gate, stab - out.nbytes, pan.nbytes

    g1, s1, b1 = peaks(40)
    g2, s2, b2 = peaks(160)
    assert g2 - g1 < 0.35 * (b2 - b1), (g1, g2, b1, b2)
    assert s2 - s1 < 0.05 * (b2 - b1), (s1, s2, b1, b2)
