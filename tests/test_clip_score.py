"""clip_score: formula against a direct computation, VBench transcription, clamping and
per-frame minimum, prompt handling, fps/resolution invariance, and feature sharing with
background_consistency and aesthetic_quality. Random-initialised backbones (fixed seed)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidbench.registry import VideoContext, get_metric
from vidbench.synthetic import moving_disc, static_scene
from vidbench.video import Clip, decode, write_video

PROMPTS = ["red", "blue", "a red ball", "a video", "green", "sunset", "a cat", "circle"]
#: More candidates for the best-aligned prompt: with random weights, cos(image, text) is a
#: draw of spread ~0.03, and the largest of many draws sits well clear of the clamp at 0.
CANDIDATES = PROMPTS + [
    "a ball", "a red disc moving right", "a blue wall", "an orange circle", "a bouncing ball",
    "a dog", "a car on a road", "the sea", "a forest", "a person walking", "a red sphere",
    "a painting", "a bird flying", "a city at night", "a cup of coffee", "snow", "fire",
    "a tomato", "a planet", "a clock", "a flower", "a window", "a ship", "a mountain"]


def scene(num_frames: int = 16, size: int = 64, fps: float = 8.0) -> np.ndarray:
    return moving_disc(num_frames, size, fps, radius=14.0, velocity=(24.0, 6.0),
                       start=(12.0, 24.0), color=(230, 60, 40), texture=1.0,
                       background=(60, 90, 120), seed=5)


def ctx_of(frames: np.ndarray, prompt: str, fps: float = 8.0) -> VideoContext:
    return VideoContext(Clip.from_array(frames, fps), prompt=prompt, video="v.mp4")


#: Random-init seed of the tiny CLIP for these tests: with seed 5 the (nearly constant)
#: image-text cosine of the random model sits around +0.05, well clear of the clamp at 0, so
#: relative comparisons are meaningful (seed 0 sits near -0.03).
SEED = 5


def cs(mode: str = "default", **kw):
    return get_metric("clip_score", mode=mode, random_weights=True,
                      **{"arch": "tiny", "seed": SEED, **kw})


@pytest.fixture(scope="module")
def aligned_prompt() -> str:
    """The candidate prompt the (random) tiny CLIP aligns best with the scene, so that the
    score is clearly above the clamp at 0."""
    m = cs()
    ctx = ctx_of(scene(), "")

    def value(p: str) -> float:
        ctx.prompt = p  # one context: the image features are computed once
        return m.score(ctx).value

    best = max(CANDIDATES, key=value)
    assert value(best) > 3.0
    return best


def test_default_formula_matches_a_direct_computation(aligned_prompt):
    from vidbench.metrics.backbones.clip import N_PX, load_clip

    frames = scene()
    m = cs()
    s = m.score(ctx_of(frames, aligned_prompt))
    # direct: resize each frame (antialiased bicubic short side -> 224, center crop), CLIP
    # mean/std, encode, cosine with the encoded prompt, clamp at 0, x100, mean
    # (torch's uint8 antialiased bicubic, which follows PIL's kernel as CLIP's own
    # preprocessing does; the float path uses a sharper kernel and differs by up to 10 levels)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2)
    x = F.interpolate(x, size=(N_PX, N_PX), mode="bicubic", antialias=True,
                      align_corners=False).float() / 255.0
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    bb = load_clip("tiny", random_weights=True, seed=SEED)
    import open_clip

    with torch.inference_mode():  # the same kernels (MHA fast path) as the metric
        img = F.normalize(bb.model.encode_image((x - mean) / std), dim=-1)
        txt = F.normalize(bb.model.encode_text(open_clip.tokenize([aligned_prompt])), dim=-1)
    per_frame = 100 * (img @ txt.T).squeeze(1).clamp(min=0).double().numpy()
    assert s.value == pytest.approx(per_frame.mean(), abs=1e-4)  # 1e-6 in cosine units
    assert s.details["min"] == pytest.approx(per_frame.min(), abs=1e-4)
    assert s.details["n_frames"] == 16 and not s.details["prompt_truncated"]


def test_clamped_range_and_minimum():
    m = cs()
    for p in PROMPTS:
        s = m.score(ctx_of(scene(), p))
        assert 0.0 <= s.details["min"] <= s.value <= 100.0
    # with seed 0 the tiny model anti-aligns most prompts: they clamp to exactly 0 in
    # default mode, while the unclamped vbench mode goes negative
    neg = cs("vbench", seed=0).score(ctx_of(scene(), "a cat")).value
    assert neg < 0
    assert cs(seed=0).score(ctx_of(scene(), "a cat")).value == 0.0


def test_identical_frames_have_min_equal_mean_and_prompts_matter(aligned_prompt):
    still = static_scene(8, 64, 8.0)
    s = cs().score(ctx_of(still, aligned_prompt))
    assert s.details["min"] == pytest.approx(s.value, abs=1e-4)
    values = {p: cs("vbench").score(ctx_of(still, p)).value for p in PROMPTS}
    assert len({round(v, 6) for v in values.values()}) == len(PROMPTS)


def test_missing_prompt_is_not_applicable():
    s = cs().score(ctx_of(scene(), "  "))
    assert math.isnan(s.value) and s.details["reason"] == "no prompt"
    assert get_metric("clip_score").requires_prompt


def test_long_prompts_are_truncated_and_flagged():
    s = cs().score(ctx_of(scene(8), "a red ball " * 40))
    assert s.details["prompt_truncated"] is True
    assert math.isfinite(s.value)


def vbench_clip_image_transcription(model, frames: np.ndarray, prompt: str) -> float:
    """VBench's CLIP text-image protocol (appearance_style.py): PIL frames,
    clip_transform_Image(224), per-frame logits_per_text / 100 (exp(logit_scale) * cos / 100,
    with the checkpoint's own logit_scale), mean. The official function itself is run in
    tests/test_parity_official.py."""
    import open_clip
    from PIL import Image
    from torchvision.transforms import (
        CenterCrop,
        Compose,
        InterpolationMode,
        Normalize,
        Resize,
        ToTensor,
    )

    transform = Compose([Resize(224, interpolation=InterpolationMode.BICUBIC), CenterCrop(224),
                         ToTensor(), Normalize((0.48145466, 0.4578275, 0.40821073),
                                               (0.26862954, 0.26130258, 0.27577711))])
    text = open_clip.tokenize([prompt])
    cur = []
    with torch.inference_mode():  # VBench: no_grad; inference_mode picks the same kernels as
        # the metric (nn.MultiheadAttention's fast path), the formula is unchanged
        for f in frames:
            image = transform(Image.fromarray(f)).unsqueeze(0)
            logits_per_image, _ = model.get_logits(image, text)
            cur.append(float(logits_per_image[0][0]) / 100)
    return float(np.mean(cur))


def test_vbench_mode_equals_transcription(aligned_prompt):
    frames = np.concatenate([scene(6, 64), scene(6, 64)[:, :, :16]], axis=2)  # 64 x 80
    m = cs("vbench")
    ref = vbench_clip_image_transcription(m.backbone().model, frames, aligned_prompt)
    assert m.score(ctx_of(frames, aligned_prompt)).value == pytest.approx(100 * ref, abs=1e-4)


@pytest.fixture(scope="module")
def muxed(tmp_path_factory):
    d = tmp_path_factory.mktemp("muxed_cs")
    return {(fps, size): decode(write_video(d / f"c_{fps}_{size}.mp4",
                                            scene(int(2 * fps), size, fps), fps))
            for fps, size in [(8, 256), (16, 256), (24, 256), (30, 256), (24, 512)]}


def test_default_mode_is_invariant_to_fps_and_resolution(muxed, aligned_prompt):
    m = cs()
    vals = {k: m.score(VideoContext(c, prompt=aligned_prompt)).value for k, c in muxed.items()}
    ref = vals[(24, 256)]
    assert ref > 3.0
    for k, v in vals.items():
        assert abs(v - ref) / ref < 0.01, (k, vals)


def test_features_are_shared_between_clip_metrics(aligned_prompt):
    """clip_score, background_consistency and aesthetic_quality on the same view and
    backbone run one forward pass per frame between them."""
    from vidbench.metrics.backbones.clip import load_clip

    bb = load_clip("tiny", random_weights=True, seed=SEED)
    ctx = ctx_of(scene(12), aligned_prompt)
    before = bb.forwards
    metrics = [cs(), get_metric("background_consistency", random_weights=True, arch="tiny",
                                seed=SEED),
               get_metric("aesthetic_quality", random_weights=True, arch="tiny", seed=SEED)]
    for m in metrics:
        assert math.isfinite(m.score(ctx).value)
    assert bb.forwards - before == 12
    # a different view (vbench mode) is a different set of features
    cs("vbench").score(ctx)
    assert bb.forwards - before == 24


def test_batch_size_does_not_change_scores(aligned_prompt):
    a = cs(batch_size=1).score(ctx_of(scene(), aligned_prompt)).value
    b = cs(batch_size=7).score(ctx_of(scene(), aligned_prompt)).value
    assert a == pytest.approx(b, abs=1e-4)


def test_registry_contract():
    m = get_metric("clip_score", arch="ViT-L-14")
    assert m.required_weights() == ("clip-vit-l-14-openai",)
    assert get_metric("clip_score").required_weights() == ("clip-vit-b-32-openai",)
    assert m.comparable and not cs().comparable
    assert m.protocol_hash() != get_metric("clip_score").protocol_hash()


@pytest.mark.slow
def test_vit_l_14_random_init_runs_and_is_shared_with_aesthetic():
    from vidbench.metrics.backbones.clip import load_clip

    ctx = ctx_of(scene(2, 64), "a red ball")
    c = get_metric("clip_score", random_weights=True, arch="ViT-L-14", num_frames=2)
    a = get_metric("aesthetic_quality", random_weights=True, num_frames=2)
    bb = load_clip("ViT-L-14", random_weights=True)
    before = bb.forwards
    assert 0 <= c.score(ctx).value <= 100
    assert math.isfinite(a.score(ctx).value)
    assert bb.forwards - before == 2 and bb.embed_dim == 768


REAL = os.environ.get("VIDBENCH_TEST_WEIGHTS_HOME")


@pytest.mark.weights
def test_real_clip_prefers_the_matching_prompt(monkeypatch):
    """Needs ViT-B-32.pt under VIDBENCH_TEST_WEIGHTS_HOME."""
    monkeypatch.setenv("VIDBENCH_HOME", str(Path(REAL)))
    m = get_metric("clip_score")
    red = m.score(ctx_of(scene(8, 224), "a red circle on a blue background")).value
    other = m.score(ctx_of(scene(8, 224), "a photo of a dog in the snow")).value
    assert red > other
