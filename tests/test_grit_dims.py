"""VBench's GRiT dimensions (object_class, multiple_objects, color, spatial_relationship):
vidbench's post-processing against VBench's own functions, on hand-built detections.

VBench's ``object_class.py`` etc. import ``vbench.third_party.grit_model``, which imports
detectron2 (no wheel here). These tests register a stub module under that name (a bare
``DenseCaptioning`` placeholder that is never called) so the official files import unchanged;
their ``get_dect_from_grit``, ``check_generate``, ``get_position_score`` and the per-dimension
loops (``object_class(model, video_dict, device)`` ...: VBench's decode with decord, its
16-frame sampling, its aggregation) then run on a test-only scripted "model" whose
``run_caption_tensor`` returns hand-built detections in the format of GRiT's
``dense_pred_to_caption_tuple`` (``image_dense_captions.py`` imports detectron2 too, so that
one-line format is transcribed here: ``(caption, [int(x) for x in box], det_obj)`` per
detection). No GRiT network runs anywhere: the product has none (see
``metrics/grit_dims.py``), and only these tests feed detections.
"""

from __future__ import annotations

import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from vidbench.metrics.grit_dims import (
    COLOR_WORDS,
    Detection,
    DetectorUnavailable,
    FrameOutput,
    color_counts,
    color_object,
    multiple_objects_hits,
    object_class_hits,
    position_score,
    spatial_frame_scores,
    vbench_resize,
)
from vidbench.registry import VideoContext, get_metric
from vidbench.video import decode, write_video

RELATIONS = ("on the left of", "on the right of", "on the top of", "on the bottom of")
NAMES = ("car", "bicycle", "person", "dog", "cat", "bus")


def _official(name: str):
    """VBench's ``vbench.<name>`` module, imported with the GRiT wrapper stubbed."""
    pytest.importorskip("vbench")
    if "vbench.third_party.grit_model" not in sys.modules:
        stub = types.ModuleType("vbench.third_party.grit_model")
        stub.DenseCaptioning = object  # type: ignore[attr-defined]
        sys.modules["vbench.third_party.grit_model"] = stub
    return pytest.importorskip(f"vbench.{name}")


def grit_tuple(out: FrameOutput) -> tuple[list, None]:
    """``DenseCaptioning.run_caption_tensor``'s return for ``out`` (transcribed format)."""
    dets = [(d.caption, [int(a) for a in d.box], list(out.object_names))
            for d in out.detections]
    return dets, None


class ScriptedModel:
    """Test-only stand-in for VBench's ``DenseCaptioning``: frame -> hand-built output."""

    def __init__(self, lookup) -> None:
        self.lookup = lookup

    def run_caption_tensor(self, frame):
        return grit_tuple(self.lookup(frame))


def random_frame(rng: np.random.Generator, captions: tuple[str, ...],
                 names: tuple[str, ...] = NAMES, min_dets: int = 0) -> FrameOutput:
    dets = []
    for _ in range(int(rng.integers(min_dets, 5))):
        x0, y0 = rng.uniform(0, 200, 2)
        w, h = rng.uniform(1, 120, 2)
        dets.append(Detection(str(rng.choice(captions)), (x0, y0, x0 + w, y0 + h),
                              float(rng.uniform(0.5, 1))))
    names = tuple(str(n) for n in rng.choice(names, int(rng.integers(1, 4))))
    return FrameOutput(tuple(dets), names)


def random_video(seed: int, captions: tuple[str, ...] = NAMES) -> list[FrameOutput]:
    rng = np.random.default_rng(seed)
    return [random_frame(rng, captions) for _ in range(16)]


# ------------------------------------------------------------- post-processing, unit parity


def test_position_score_equals_vbench():
    sr = _official("spatial_relationship")
    rng = np.random.default_rng(0)
    n_partial = n_zero = 0
    for _ in range(3000):
        b1 = [int(v) for v in np.concatenate([rng.integers(0, 50, 2), rng.integers(50, 100, 2)])]
        b2 = [int(v) for v in np.concatenate([rng.integers(0, 80, 2), rng.integers(80, 140, 2)])]
        for rel in RELATIONS + ("left", "above", ""):
            ours = position_score(rel, b1, b2)
            assert ours == sr.get_position_score(rel, b1, b2), (rel, b1, b2)
            n_partial += 0 < ours < 1
            n_zero += ours == 0
    assert n_partial > 100 and n_zero > 100  # both the IoU branch and the miss branch ran


def test_position_score_known_answers():
    left, right = (0, 0, 10, 10), (20, 0, 30, 10)
    assert position_score("on the left of", left, right) == 1.0
    assert position_score("on the right of", left, right) == 1.0  # sides are not checked
    assert position_score("on the top of", left, right) == 0.0
    above, below = (0, 0, 10, 10), (0, 30, 10, 40)
    assert position_score("on the top of", above, below) == 1.0
    assert position_score("on the left of", above, below) == 0.0
    a, b = (0, 0, 10, 10), (5, 0, 15, 10)  # IoU 50/150
    assert position_score("on the left of", a, b) == pytest.approx(0.1 / (50 / 150))


def test_zero_area_pair_scores_zero_where_vbench_raises():
    sr = _official("spatial_relationship")
    with pytest.raises(ZeroDivisionError):
        sr.get_position_score("on the left of", [5, 5, 5, 5], [9, 5, 9, 5])
    assert position_score("on the left of", (5, 5, 5, 5), (9, 5, 9, 5)) == 0.0


@pytest.mark.parametrize("seed", range(20))
def test_object_class_and_multiple_objects_equal_vbench(seed):
    oc, mo = _official("object_class"), _official("multiple_objects")
    video = random_video(seed)
    model = ScriptedModel(lambda k: video[k])
    for obj in NAMES:
        official = oc.check_generate(obj, oc.get_dect_from_grit(model, list(range(16))))
        assert sum(object_class_hits(video, obj)) == official
    for a, b in [("car", "bicycle"), ("person", "dog"), ("cat", "cat")]:
        official = mo.check_generate(f"{a} and {b}",
                                     mo.get_dect_from_grit(model, list(range(16))))
        assert sum(multiple_objects_hits(video, a, b)) == official


@pytest.mark.parametrize("seed", range(20))
def test_color_equals_vbench(seed):
    co = _official("color")
    captions = ("a red car", "car", "a blue car parked", "bicycle", "greyhound", "redwood")
    video = random_video(seed, captions)
    model = ScriptedModel(lambda k: video[k])
    preds = co.get_dect_from_grit(model, list(range(16)))
    for color in ("red", "blue", "grey", "green"):
        for obj in ("car", "bicycle"):
            assert color_counts(video, color, obj) == co.check_generate(color, obj, preds)


@pytest.mark.parametrize("seed", range(20))
def test_spatial_frame_scores_equal_vbench(seed):
    sr = _official("spatial_relationship")
    video = random_video(seed)
    model = ScriptedModel(lambda k: video[k])
    preds = sr.get_dect_from_grit(model, list(range(16)))
    for rel in RELATIONS:
        for a, b in [("car", "bicycle"), ("person", "dog")]:
            info = {"object_a": a, "object_b": b, "relationship": rel}
            assert spatial_frame_scores(video, a, b, rel) == sr.check_generate(info, preds)


def test_known_answers_on_hand_built_frames():
    car = Detection("a red car", (0, 0, 10, 10))
    frame = FrameOutput((car,), ("car",))
    assert color_counts([frame], "red", "car") == (1, 1)
    assert color_counts([frame], "blue", "car") == (1, 0)
    assert color_counts([FrameOutput((car,), ("bus", "car"))], "red", "car") == (0, 0)
    assert color_object("a red car", "red") == "car"
    assert color_object("an orange bicycle", "orange") == "bicycle"
    assert object_class_hits([frame, FrameOutput((), ("car",))], "car") == [True, False]
    two = FrameOutput((Detection("bicycle", (0, 0, 10, 10)), Detection("car", (40, 2, 50, 12))),
                      ("bicycle", "car"))
    assert multiple_objects_hits([two], "car", "bicycle") == [True]
    assert spatial_frame_scores([two], "bicycle", "car", "on the left of") == [1.0]
    assert spatial_frame_scores([two], "bicycle", "car", "on the top of") == [0.0]
    assert spatial_frame_scores([two], "bicycle", "bus", "on the left of") == [0.0]
    assert set(COLOR_WORDS) >= {"red", "grey", "gray"}


# ---------------------------------------------------------------- end to end with VBench


def _gray_video(path: Path, n: int, size: tuple[int, int] = (48, 64), first: int = 0) -> Path:
    """Frame k is uniformly gray at level 10 * (first + k): both decoders identify it."""
    frames = np.stack([np.full((*size, 3), 10 * (first + k), np.uint8) for k in range(n)])
    return write_video(path, frames, 8.0)


class ByLevel:
    """Detector keyed by the frame's gray level (frame index); used by both sides."""

    def __init__(self, table: list[FrameOutput]) -> None:
        self.table = table
        self.calls: list[str] = []

    def index(self, frame) -> int:
        return int(round(float(np.asarray(frame, dtype=np.float64).mean()) / 10.0))

    def __call__(self, frame: np.ndarray, task: str) -> FrameOutput:
        self.calls.append(task)
        return self.table[self.index(frame)]

    def model(self) -> ScriptedModel:
        return ScriptedModel(lambda f: self.table[self.index(f)])


CASES = {
    "object_class": ({"object_class": {"object": "car"}}, "a car"),
    "multiple_objects": ({"multiple_objects": {"object": "car and bicycle"}},
                         "a car and a bicycle"),
    "color": ({"color": {"color": "red"}}, "a red car"),
    "spatial_relationship": ({"spatial_relationship": {"spatial_relationship": {
        "object_a": "bicycle", "object_b": "car", "relationship": "on the left of"}}},
        "a bicycle on the left of a car, front view"),
}


@pytest.mark.parametrize("dim", list(CASES))
def test_metric_equals_vbench_end_to_end(dim, tmp_path):
    mod = _official(dim)
    aux, prompt = CASES[dim]
    captions = ("car", "bicycle", "a red car", "a blue car")
    # a: 24 frames (VBench samples 16 by index), b: 10 frames (padded to 16), c: 2 frames
    # where GRiT sees only a bus (colour: left out of VBench's mean; the others: 0)
    paths = [_gray_video(tmp_path / "a.mp4", 24), _gray_video(tmp_path / "b.mp4", 10),
             _gray_video(tmp_path / "c.mp4", 2, first=24)]
    rng = np.random.default_rng(7)
    table = [random_frame(rng, captions, ("car", "bicycle"), min_dets=1) for _ in range(24)]
    table += [FrameOutput((Detection("a red bus", (0, 0, 9, 9)),), ("bus",))] * 2
    det = ByLevel(table)
    info = {"prompt": prompt, "auxiliary_info": aux[dim], "video_list": [str(p) for p in paths]}
    overall, per_video = getattr(mod, dim)(det.model(), [info], "cpu")
    official = {r["video_path"]: r["video_results"] for r in per_video}
    m = get_metric(dim, mode="vbench", detector=det)
    ours = []
    for p in paths:
        s = m.score(VideoContext(decode(p), prompt=prompt, video=str(p),
                                 meta={"dimension": [dim], "auxiliary_info": aux}))
        if str(p) in official:
            assert s.value == pytest.approx(official[str(p)], abs=1e-12), (dim, p)
        else:  # VBench leaves a colour video without the object out
            assert dim == "color" and math.isnan(s.value)
        ours.append(s.value)
    assert 0 < overall < 1  # the hand-built detections give a non-trivial answer
    assert m.aggregate(np.array(ours), []).value == pytest.approx(overall, abs=1e-12)
    assert set(det.calls) == {"DenseCap" if dim == "color" else "ObjectDet"}


# ------------------------------------------------------------------- metric behaviour


@pytest.mark.parametrize("dim", list(CASES))
def test_without_detector_fails_clearly_and_without_meta_is_nan(dim, tmp_path, monkeypatch):
    from vidbench.errors import MissingWeightsError

    monkeypatch.setenv("VIDBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VIDBENCH_OFFLINE", "1")
    aux, prompt = CASES[dim]
    clip = decode(_gray_video(tmp_path / "v.mp4", 16))
    m = get_metric(dim, mode="vbench")
    assert m.required_weights() == ("grit-b-densecap-objectdet",)
    # without the caption decoder module: "detector not available"; with it: the missing
    # weights file named (the GRiT checkpoint, or the BERT vocab its decoder reads)
    with pytest.raises((DetectorUnavailable, MissingWeightsError),
                       match="detector not available|grit|bert"):
        m.score(VideoContext(clip, prompt=prompt, meta={"auxiliary_info": aux}))
    s = m.score(VideoContext(clip, prompt=prompt, meta={}))
    assert math.isnan(s.value) and "metadata" in s.details["reason"]
    assert get_metric(dim, random_weights=True).comparable is False
    assert get_metric(dim, detector=ByLevel([])).comparable is False


def test_runner_records_the_missing_detector_per_video(tmp_path):
    from vidbench.runner import _FATAL

    assert not issubclass(DetectorUnavailable, _FATAL)  # a per-video error, not a crash


def test_default_mode_needs_16_frames(tmp_path):
    aux, prompt = CASES["object_class"]
    det = ByLevel([FrameOutput((Detection("car", (0, 0, 5, 5)),), ("car",))] * 24)
    m = get_metric("object_class", detector=det)
    short = VideoContext(decode(_gray_video(tmp_path / "s.mp4", 10)), prompt=prompt,
                         meta={"auxiliary_info": aux})
    assert math.isnan(m.score(short).value)
    ok = VideoContext(decode(_gray_video(tmp_path / "l.mp4", 20)), prompt=prompt,
                      meta={"auxiliary_info": aux})
    assert m.score(ok).value == 1.0


def test_vbench_resize_rule():
    small = np.zeros((2, 768, 1000, 3), np.uint8)
    assert vbench_resize(small, "cv2") is small
    big = np.zeros((2, 800, 1100, 3), np.uint8)
    for method in ("cv2", "torchvision"):
        assert vbench_resize(big, method).shape == (2, 720, int(720 / 800 * 1100), 3)
