"""aesthetic_quality: LAION head loading, the /10 and frame-mean formula on known answers,
linearity over frames, VBench transcription, fps/resolution invariance. Random-initialised
CLIP (tiny, 768-d) and head from a fixed seed unless a test installs a head file."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidbench.errors import MissingWeightsError, UserError
from vidbench.registry import VideoContext, get_metric
from vidbench.synthetic import moving_disc, static_scene
from vidbench.video import Clip, decode, write_video


def scene(num_frames: int = 16, size: int = 64, fps: float = 8.0, color=(230, 60, 40)
          ) -> np.ndarray:
    return moving_disc(num_frames, size, fps, radius=14.0, velocity=(24.0, 6.0),
                       start=(12.0, 24.0), color=color, texture=1.0,
                       background=(60, 90, 120), seed=5)


def ctx_of(frames: np.ndarray, fps: float = 8.0) -> VideoContext:
    return VideoContext(Clip.from_array(frames, fps), prompt="", video="v.mp4")


def aq(mode: str = "default", **kw):
    return get_metric("aesthetic_quality", mode=mode, random_weights=True,
                      **{"arch": "tiny", **kw})


def install_head(home, weight: torch.Tensor, bias: torch.Tensor) -> None:
    """Put a LAION-format head file (state dict with ``weight`` (1, 768), ``bias`` (1,))
    where the weights manager looks for it."""
    d = home / "weights"
    d.mkdir(parents=True, exist_ok=True)
    torch.save({"weight": weight, "bias": bias}, d / "sa_0_4_vit_l_14_linear.pth")


@pytest.fixture
def fresh_heads(monkeypatch):
    """An empty head cache, so a test's head file is read (and nothing leaks out)."""
    from vidbench.metrics import aesthetic

    monkeypatch.setattr(aesthetic, "_HEADS", {})
    return aesthetic


def pretrained_head_metric(monkeypatch, **kw):
    """aesthetic_quality with a real (file-loaded) head on the tiny random CLIP: random
    backbone weights, but the head comes from the weights manager."""
    from vidbench.metrics import aesthetic

    m = aq(**kw)
    monkeypatch.setattr(m, "head", lambda dim: aesthetic.load_head(dim, random_weights=False))
    return m


def test_known_answer_constant_head(fresh_heads, _isolated_home, monkeypatch):
    # weight 0, bias 55: every frame scores 55 / 10 = 5.5, whatever the pixels
    install_head(_isolated_home, torch.zeros(1, 768), torch.tensor([55.0]))
    m = pretrained_head_metric(monkeypatch)
    s = m.score(ctx_of(scene()))
    assert s.value == pytest.approx(5.5, abs=1e-6)
    assert s.details["min"] == pytest.approx(5.5, abs=1e-6) and s.details["n_frames"] == 16


def test_known_answer_direction_head(fresh_heads, _isolated_home, monkeypatch):
    """Head weight = 10 * u for a unit vector u: the score is the mean over frames of
    cos(e_k, u), which for u = the first frame's embedding is exactly 1 on a still clip."""
    from vidbench.metrics.backbones.clip import clip_preprocess, load_clip

    still = static_scene(6, 64, 8.0)
    bb = load_clip("tiny", random_weights=True)
    u = bb.encode_images(clip_preprocess(still[:1]))[0]
    install_head(_isolated_home, 10.0 * u[None, :], torch.zeros(1))
    m = pretrained_head_metric(monkeypatch)
    assert m.score(ctx_of(still)).value == pytest.approx(1.0, abs=1e-5)
    # on other content the cosine is < 1
    assert m.score(ctx_of(scene())).value < 1.0 - 1e-6


def test_score_is_the_mean_over_frames():
    """Frames are scored independently: a clip half A, half B scores the mean of all-A and
    all-B (16-frame view: 8 + 8)."""
    a = scene(color=(230, 60, 40))
    b = scene(color=(40, 200, 60))
    mixed = np.concatenate([a[:8], b[8:]])
    m = aq()
    sa, sb, sm = (m.score(ctx_of(x)).value for x in (a, b, mixed))
    part_a = m.score(ctx_of(np.concatenate([a[:8], a[:8]]))).value  # frames 0-7 of A, twice
    part_b = m.score(ctx_of(np.concatenate([b[8:], b[8:]]))).value  # frames 8-15 of B, twice
    assert sm == pytest.approx((part_a + part_b) / 2, abs=1e-6)
    assert sa != pytest.approx(sb, abs=1e-7)


def vbench_aesthetic_transcription(clip_model, head, frames: np.ndarray) -> float:
    """VBench aesthetic_quality.py for one video: load_video, clip_transform(224) per batch
    of 32, encode_image -> float32 -> L2 normalise -> linear head -> / 10 -> mean."""
    import torchvision.transforms as T
    from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize

    images = torch.Tensor(frames).permute(0, 3, 1, 2)
    transform = Compose([Resize(224, interpolation=InterpolationMode.BICUBIC, antialias=False),
                         CenterCrop(224), T.Lambda(lambda x: x.float().div(255.0)),
                         Normalize((0.48145466, 0.4578275, 0.40821073),
                                   (0.26862954, 0.26130258, 0.27577711))])
    scores = []
    for i in range(0, len(images), 32):
        with torch.no_grad():
            feats = clip_model.encode_image(transform(images[i:i + 32])).to(torch.float32)
            feats = F.normalize(feats, dim=-1, p=2)
            scores.append(head(feats).squeeze())
    s = torch.cat(scores, dim=0) / 10
    return torch.mean(s, dim=0, keepdim=True).item()


def test_vbench_mode_equals_transcription():
    frames = np.concatenate([scene(5, 72), scene(5, 72)[:, :, :20]], axis=2)  # 72 x 92
    m = aq("vbench")
    ref = vbench_aesthetic_transcription(m.backbone().model, m.head(768), frames)
    assert m.score(ctx_of(frames)).value == pytest.approx(ref, abs=1e-6)


def test_default_mode_is_invariant_to_fps_and_resolution(tmp_path):
    m = aq()
    vals = {}
    for fps, size in [(8, 256), (16, 256), (24, 256), (30, 256), (24, 512)]:
        clip = decode(write_video(tmp_path / f"a_{fps}_{size}.mp4",
                                  scene(int(2 * fps), size, fps), fps))
        vals[(fps, size)] = m.score(VideoContext(clip)).value
    ref = vals[(24, 256)]
    spread = max(vals.values()) - min(vals.values())
    assert spread <= 0.01 * abs(ref), vals
    # ... and the spread is far below what a content change does to the score
    other = m.score(ctx_of(scene(16, 256, 8.0, color=(40, 200, 60)))).value
    assert spread < 0.2 * abs(other - ref), (vals, other)


def test_head_file_errors_name_the_file(fresh_heads, _isolated_home):
    with pytest.raises(MissingWeightsError, match="sa_0_4_vit_l_14_linear.pth"):
        fresh_heads.load_head(768)
    install_head(_isolated_home, torch.zeros(1, 512), torch.zeros(1))
    with pytest.raises(UserError, match="sa_0_4_vit_l_14_linear.pth.*768"):
        fresh_heads.load_head(768)


def test_head_file_is_checked_against_a_pinned_sha256(fresh_heads, _isolated_home,
                                                      monkeypatch, tmp_path):
    """Once the manifest pins a sha256, a file that does not match is refused."""
    from vidbench import weights
    from vidbench.errors import WeightsChecksumError

    manifest = json.loads(weights.MANIFEST_PATH.read_text())
    manifest["weights"]["laion-aesthetic-vit-l-14"]["sha256"] = "0" * 64
    alt = tmp_path / "weights.json"
    alt.write_text(json.dumps(manifest))
    monkeypatch.setattr(weights, "MANIFEST_PATH", alt)
    monkeypatch.setattr(weights.load_manifest, "__defaults__", (alt,))
    install_head(_isolated_home, torch.zeros(1, 768), torch.zeros(1))
    with pytest.raises(WeightsChecksumError, match="does not match"):
        fresh_heads.load_head(768)


def test_registry_contract():
    m = get_metric("aesthetic_quality")
    assert m.required_weights() == ("clip-vit-l-14-openai", "laion-aesthetic-vit-l-14")
    assert m.higher_is_better and m.comparable and not aq().comparable
    with pytest.raises(UserError, match="unknown architecture 'ViT-B-32'"):
        get_metric("aesthetic_quality", arch="ViT-B-32")  # 512-d: the head needs 768-d
    assert math.isfinite(aq().score(ctx_of(scene(4))).value)


REAL = os.environ.get("VIDBENCH_TEST_WEIGHTS_HOME")


@pytest.mark.weights
def test_real_head_prefers_clean_frames_to_noise(monkeypatch):
    """Needs ViT-L-14.pt and sa_0_4_vit_l_14_linear.pth under VIDBENCH_TEST_WEIGHTS_HOME."""
    monkeypatch.setenv("VIDBENCH_HOME", REAL)
    m = get_metric("aesthetic_quality", num_frames=4)
    clean = scene(4, 224)
    rng = np.random.default_rng(0)
    noisy = np.clip(clean.astype(np.int16) + rng.integers(-90, 90, clean.shape), 0, 255)
    a = m.score(ctx_of(clean)).value
    b = m.score(ctx_of(noisy.astype(np.uint8))).value
    assert 0.0 < b < a < 1.0
