"""human_action: vidbench's UMT against VBench's own UMT code (same state dict, loaded
strictly; the same sinusoid position table; the same frame transform) and VBench's own
``human_action`` function end to end on named videos, plus the metric's own rules."""

from __future__ import annotations

import importlib
import math
from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

from vidbench.errors import UserError
from vidbench.metrics.backbones.umt import build_umt, load_umt, sinusoid_table, vbench_umt_tensor
from vidbench.metrics.human_action import action_of, class_names, classes_path
from vidbench.registry import VideoContext, get_metric
from vidbench.synthetic import moving_disc
from vidbench.video import decode, write_video

SEED = 17  # the cached tiny backbone this module overwrites with the reference weights


def _official_vit():
    pytest.importorskip("vbench")
    return importlib.import_module("vbench.third_party.umt.models.modeling_finetune")


def _umt_datasets() -> None:
    """VBench's ``third_party/umt/datasets/__init__`` imports its Kinetics dataset module,
    which needs numpy < 2 (``numpy.lib.function_base``); human_action uses only the
    transforms beside it. Register the package as a bare namespace over the installed files
    so VBench's own transform modules (and ``vbench.human_action``) import unchanged."""
    import sys
    import types

    name = "vbench.third_party.umt.datasets"
    if hasattr(sys.modules.get(name), "__vidbench_stub__"):
        return
    umt = importlib.import_module("vbench.third_party.umt")
    mod = types.ModuleType(name)
    mod.__path__ = [f"{list(umt.__path__)[0]}/datasets"]
    mod.__vidbench_stub__ = True  # type: ignore[attr-defined]
    sys.modules[name] = mod


def _tiny_official(mf):
    torch.manual_seed(5)
    return mf.VisionTransformer(
        img_size=224, patch_size=16, embed_dim=64, depth=2, num_heads=2, mlp_ratio=4,
        qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6), num_classes=400,
        all_frames=16, tubelet_size=1, use_learnable_pos_emb=False, drop_path_rate=0.0,
        use_mean_pooling=True, init_scale=0.001).eval()


@pytest.fixture(scope="module")
def reference():
    mf = _official_vit()
    ref = _tiny_official(mf)
    with torch.no_grad():  # a head that is sure of one class, so recognition can succeed
        names = class_names(classes_path())
        ref.head.bias[names.index("riding a bike")] = 8.0
        ref.head.bias[names.index("marching")] = 1.7  # p = 0.8455 < 0.85 after rounding
    ours = load_umt("tiny", random_weights=True, seed=SEED)
    ours.model.load_state_dict(ref.state_dict(), strict=True)
    return ref, ours


def test_position_table_equals_official_interpolated_sinusoid():
    mf = _official_vit()
    ref = mf.get_sinusoid_encoding_table(16 * 196, 64, 16, pre_n_position=1568)
    assert torch.allclose(sinusoid_table(64, 16), ref.detach(), atol=1e-6)
    assert set(build_umt("tiny").state_dict()) == set(_tiny_official(mf).state_dict())


def test_logits_equal_official_model(reference):
    ref, ours = reference
    x = torch.randn(1, 3, 16, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(ours.model(x), ref(x), atol=1e-5)


@pytest.mark.parametrize("hw", [(144, 176), (256, 320), (300, 500), (480, 270)])
def test_frame_transform_equals_vbench(hw):
    pytest.importorskip("vbench")
    _umt_datasets()
    vt = importlib.import_module("vbench.third_party.umt.datasets.video_transforms")
    voltr = importlib.import_module("vbench.third_party.umt.datasets.volume_transforms")
    tf = vt.Compose([vt.Resize(256, interpolation="bilinear"), vt.CenterCrop(size=(224, 224)),
                     voltr.ClipToTensor(), vt.Normalize(mean=[0.485, 0.456, 0.406],
                                                        std=[0.229, 0.224, 0.225])])
    frames = np.random.default_rng(hw[0]).integers(0, 256, (4, *hw, 3), dtype=np.uint8)
    assert torch.allclose(vbench_umt_tensor(frames), tf(frames), atol=1e-6)


def _clip(tmp_path, name: str, n: int = 20, size: int = 160):
    frames = moving_disc(n, size, 8.0, radius=20.0, velocity=(16.0, 0.0), start=(30.0, 80.0),
                         color=(220, 60, 40), texture=1.0, background=(60, 90, 120), seed=3)
    return write_video(tmp_path / name, frames, 8.0)


@pytest.mark.slow
def test_equals_vbench_human_action_end_to_end(reference, tmp_path, monkeypatch):
    ref, _ = reference
    _umt_datasets()
    ha = importlib.import_module("vbench.human_action")
    torch.save(ref.state_dict(), tmp_path / "umt_tiny.pth")
    monkeypatch.setattr(ha, "create_model", lambda *a, **k: _tiny_official(_official_vit()))
    prompts = ["A person is riding a bike", "A person is marching", "A person is dodgeball"]
    paths = [_clip(tmp_path, f"{p}-0.mp4", n=12 + 5 * k) for k, p in enumerate(prompts)]
    acc, per_video = ha.human_action(str(tmp_path / "umt_tiny.pth"),
                                     [str(p) for p in paths], "cpu")
    assert [r["video_results"] for r in per_video] == [True, False, False]  # can fail
    m = get_metric("human_action", mode="vbench", random_weights=True, arch="tiny", seed=SEED)
    got = [m.score(VideoContext(decode(p), prompt=pr, video=str(p)))
           for p, pr in zip(paths, prompts, strict=True)]
    assert [bool(s.value) for s in got] == [r["video_results"] for r in per_video]
    assert got[1].details["top5"][1][0] == "marching" and got[1].details["recognised"] == [
        "riding a bike"]
    assert np.mean([s.value for s in got]) == pytest.approx(acc)


def test_rules_prompt_frames_and_class_file(tmp_path, monkeypatch, reference):
    assert action_of("A person is Riding a Bike") == "riding a bike"
    assert action_of("a red ball bouncing") is None
    m = get_metric("human_action", random_weights=True, arch="tiny", seed=SEED)
    ok = _clip(tmp_path, "ok.mp4", n=20)
    s = m.score(VideoContext(decode(ok), prompt="a ball", video="ok.mp4"))
    assert math.isnan(s.value) and "not a human-action prompt" in s.details["reason"]
    short = _clip(tmp_path, "short.mp4", n=10)
    s = m.score(VideoContext(decode(short), prompt="A person is marching", video="s.mp4"))
    assert math.isnan(s.value) and "too few frames" in s.details["reason"]
    s = m.score(VideoContext(decode(ok), prompt="A person is riding a bike", video="ok.mp4"))
    assert s.value == 1.0 and s.details["action"] == "riding a bike"
    bad = tmp_path / "classes.txt"
    bad.write_text("riding a bike\t0\nmarching\t0\n")
    monkeypatch.setenv("VIDBENCH_KINETICS400_CLASSES", str(bad))
    with pytest.raises(UserError, match=r"classes.txt:2: expected 'name<TAB>index'"):
        class_names(classes_path())
