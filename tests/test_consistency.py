"""subject_consistency and background_consistency: formula, identity, monotonicity under
identity swaps, fps/resolution invariance of the default mode, VBench transcription, and
aggregation. Backbones are random-initialised from a fixed seed (``random_weights=True``):
features are still deterministic functions of the pixels, so these properties hold."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidbench.errors import MissingWeightsError, UserError
from vidbench.registry import VideoContext, get_metric
from vidbench.synthetic import moving_disc, static_scene
from vidbench.video import Clip, decode

IDENTITIES = [(230, 40, 40), (40, 200, 60), (50, 80, 230), (230, 210, 40)]


def subject_clip(n_identities: int = 1, *, num_frames: int = 16, size: int = 64,
                 fps: float = 8.0) -> np.ndarray:
    """A big disc drifting right over a textured background; the clip is cut into
    ``n_identities`` equal time segments and the subject's colour (its identity) changes at
    each cut, so ``n_identities - 1`` is the number of identity swaps."""
    segs = np.array_split(np.arange(num_frames), n_identities)
    out = []
    for seg, color in zip(segs, IDENTITIES, strict=False):
        fr = moving_disc(num_frames, size, fps, radius=18.0, velocity=(8.0, 0.0),
                         start=(28.0, 32.0), color=color, texture=1.0,
                         background=(90, 110, 130), seed=3)
        out.append(fr[seg])
    return np.concatenate(out)


def moving_scene(num_frames: int, size: int, fps: float) -> np.ndarray:
    """Time-defined content with real change: a textured disc crossing the frame fast."""
    return moving_disc(num_frames, size, fps, radius=14.0, velocity=(24.0, 6.0),
                       start=(12.0, 24.0), color=(230, 60, 40), texture=1.0,
                       background=(60, 90, 120), seed=5)


def ctx_of(frames: np.ndarray, fps: float = 8.0) -> VideoContext:
    return VideoContext(Clip.from_array(frames, fps), prompt="a ball", video="v.mp4")


def subject(mode: str = "default", **kw):
    return get_metric("subject_consistency", mode=mode, random_weights=True,
                      **{"arch": "tiny", **kw})


def background(mode: str = "default", **kw):
    return get_metric("background_consistency", mode=mode, random_weights=True,
                      **{"arch": "tiny", **kw})


# ----------------------------------------------------------------------------- formula


def test_pair_formula_on_hand_made_features():
    from vidbench.metrics.consistency import consistency_pairs

    e1, e2 = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    diag = torch.tensor([1.0, 1.0, 0.0]) / math.sqrt(2)
    f = torch.stack([e1, e1, diag, e2, -e1])
    s = consistency_pairs(f)
    # frame 1: same as prev and first; frame 2: cos 0.707 to both; frame 3: cos 0.707 to
    # prev, 0 to first; frame 4: cos 0 to prev (e2 . -e1), -1 to first -> clamped to 0.
    r = 1 / math.sqrt(2)
    np.testing.assert_allclose(s, [1.0, r, (r + 0.0) / 2, 0.0], atol=1e-7)
    assert len(consistency_pairs(f[:1])) == 0


@pytest.mark.parametrize("make", [subject, background])
def test_identical_frames_score_exactly_one(make):
    frames = static_scene(12, 64, 8.0)
    for mode in ("default", "vbench"):
        s = make(mode).score(ctx_of(frames))
        assert s.value == pytest.approx(1.0, abs=1e-6), mode
        assert s.details["min"] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("make", [subject, background])
def test_identity_swaps_lower_the_score_monotonically(make):
    scores = [make().score(ctx_of(subject_clip(k))).value for k in (1, 2, 3, 4)]
    assert all(0.0 <= v <= 1.0 for v in scores)
    # 0 swaps > 1 swap > 2 swaps > 3 swaps, each by a margin well above float noise
    assert all(a - b > 1e-3 for a, b in zip(scores, scores[1:], strict=False)), scores


def test_a_swap_is_located_in_details():
    s = subject().score(ctx_of(subject_clip(2)))
    # the identity changes between frame 7 and 8 of the 8 fps view: t = 1.0 s
    assert s.details["min_at"] == pytest.approx(1.0)
    assert s.details["n_pairs"] == 15 and s.details["n_frames"] == 16


# ----------------------------------------------------------------------------- invariance


@pytest.fixture(scope="module")
def muxed(tmp_path_factory):
    """The same 2-second scene written at 8/16/24/30 fps (256 px) and at 512 px (24 fps)."""
    from vidbench.video import write_video

    d = tmp_path_factory.mktemp("muxed")
    out = {}
    for fps, size in [(8, 256), (16, 256), (24, 256), (30, 256), (24, 512)]:
        n = int(2 * fps)
        out[(fps, size)] = decode(write_video(d / f"s_{fps}_{size}.mp4",
                                              moving_scene(n, size, fps), fps))
    return out


@pytest.mark.parametrize("make", [subject, background])
def test_default_mode_is_invariant_to_fps_and_resolution(make, muxed):
    m = make()
    vals = {k: m.score(VideoContext(c)).value for k, c in muxed.items()}
    ref = vals[(24, 256)]
    assert 1 - ref > 1e-4  # the scene really changes: not a trivially perfect score
    for k, v in vals.items():
        assert abs(v - ref) / ref < 0.01, (k, vals)
        # stronger: the distance from a perfect score agrees too
        assert abs((1 - v) - (1 - ref)) / (1 - ref) < 0.1, (k, vals)


def test_vbench_mode_moves_with_container_fps(muxed):
    """The flaw the default mode fixes: VBench compares neighbouring *decoded* frames, so
    the same scene muxed at 30 fps looks more consistent than at 8 fps."""
    m = subject("vbench")
    lo = 1 - m.score(VideoContext(muxed[(8, 256)])).value
    hi = 1 - m.score(VideoContext(muxed[(30, 256)])).value
    assert hi < 0.92 * lo  # 13% apart here, while default mode stays within 5% (above)


# ----------------------------------------------------------------------------- VBench


def vbench_subject_transcription(model, frames: np.ndarray) -> float:
    """VBench subject_consistency.py for one video, with its dino_transform(224)."""
    import torchvision.transforms as T
    from torchvision.transforms import Compose, Normalize, Resize

    images = torch.Tensor(frames).permute(0, 3, 1, 2)  # load_video
    transform = Compose([Resize(size=224, antialias=False), T.Lambda(lambda x: x.float()
                                                                     .div(255.0)),
                         Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    images = transform(images)
    video_sim = 0.0
    former = first = None
    for i in range(len(images)):
        with torch.no_grad():
            f = F.normalize(model(images[i].unsqueeze(0)), dim=-1, p=2)
            if i == 0:
                first = f
            else:
                sim_pre = max(0.0, F.cosine_similarity(former, f).item())
                sim_fir = max(0.0, F.cosine_similarity(first, f).item())
                video_sim += (sim_pre + sim_fir) / 2
        former = f
    return video_sim / (len(images) - 1)


def vbench_background_transcription(model, frames: np.ndarray) -> float:
    """VBench background_consistency.py for one video, with its clip_transform(224)."""
    import torchvision.transforms as T
    from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize

    images = torch.Tensor(frames).permute(0, 3, 1, 2)
    transform = Compose([Resize(224, interpolation=InterpolationMode.BICUBIC, antialias=False),
                         CenterCrop(224), T.Lambda(lambda x: x.float().div(255.0)),
                         Normalize((0.48145466, 0.4578275, 0.40821073),
                                   (0.26862954, 0.26130258, 0.27577711))])
    with torch.no_grad():
        feats = F.normalize(model.encode_image(transform(images)), dim=-1, p=2)
    video_sim = 0.0
    former = first = None
    for i in range(len(feats)):
        f = feats[i].unsqueeze(0)
        if i == 0:
            first = f
        else:
            video_sim += (max(0.0, F.cosine_similarity(former, f).item())
                          + max(0.0, F.cosine_similarity(first, f).item())) / 2
        former = f
    return video_sim / (len(feats) - 1)


def test_vbench_subject_equals_transcription():
    # non-square frames: VBench resizes the short side and does not crop, so DINO's
    # position-embedding interpolation is exercised too
    frames = subject_clip(2, num_frames=10, size=64)
    frames = np.concatenate([frames, frames[:, :, :32]], axis=2)  # 64 x 96
    m = subject("vbench")
    ref = vbench_subject_transcription(m.backbone().model, frames)
    assert m.score(ctx_of(frames)).value == pytest.approx(ref, abs=1e-6)


def test_vbench_background_equals_transcription():
    frames = subject_clip(3, num_frames=10, size=80)
    m = background("vbench")
    ref = vbench_background_transcription(m.backbone().model, frames)
    assert m.score(ctx_of(frames)).value == pytest.approx(ref, abs=1e-6)


@pytest.mark.slow
def test_vbench_equals_transcription_with_the_real_architectures():
    frames = subject_clip(2, num_frames=6, size=64)
    s = get_metric("subject_consistency", mode="vbench", random_weights=True)
    b = get_metric("background_consistency", mode="vbench", random_weights=True)
    assert s.score(ctx_of(frames)).value == pytest.approx(
        vbench_subject_transcription(s.backbone().model, frames), abs=1e-6)
    assert b.score(ctx_of(frames)).value == pytest.approx(
        vbench_background_transcription(b.backbone().model, frames), abs=1e-6)


# ----------------------------------------------------------------------------- aggregation


def test_vbench_aggregate_is_frame_weighted_default_is_per_video():
    short = subject_clip(2, num_frames=4)
    long = subject_clip(1, num_frames=16)
    sv, dv = subject("vbench"), subject("default")
    scores = [sv.score(ctx_of(c)) for c in (short, long)]
    vals = np.array([s.value for s in scores])
    agg = sv.aggregate(vals, [s.details for s in scores])
    want = sum(s.details["sum"] for s in scores) / sum(s.details["n_pairs"] for s in scores)
    assert agg.value == pytest.approx(want, abs=1e-12)
    assert agg.value != pytest.approx(vals.mean(), abs=1e-4)  # the long video weighs more
    assert dv.aggregate(vals, [s.details for s in scores]).value == pytest.approx(vals.mean())


def test_default_scores_do_not_depend_on_what_else_was_scored():
    """A video's default score is a function of that video alone, so sharding videos over
    any number of processes and averaging gives the same number."""
    m = subject()
    a, b = subject_clip(2), subject_clip(3)
    alone = m.score(ctx_of(a)).value
    m.score(ctx_of(b))
    assert m.score(ctx_of(a)).value == alone
    assert m.aggregate(np.array([alone, m.score(ctx_of(b)).value]), [{}, {}]).n == 2


def test_single_frame_videos_are_nan_with_a_reason_in_both_modes():
    """A one-frame video has no frame pair: undefined (VBench raises ZeroDivisionError, see
    test_parity_official.py), so NaN with a reason in both modes and both metrics, never
    1.0; the set value skips it and counts it in n_nan."""
    one, two = static_scene(1, 64, 8.0), subject_clip(2)
    for make in (subject, background):
        for mode in ("default", "vbench"):
            m = make(mode)
            d = m.score(ctx_of(one))
            assert math.isnan(d.value), (m.name, mode)
            assert d.details["reason"].startswith("too few frames"), d.details
            ok = m.score(ctx_of(two))
            agg = m.aggregate(np.array([d.value, ok.value]), [d.details, ok.details])
            assert agg.value == pytest.approx(ok.value) and agg.n == 1, (m.name, mode)


# ----------------------------------------------------------------------------- contract


def test_registry_options_and_provenance():
    m = get_metric("subject_consistency", random_weights=True)
    assert type(m).__name__ == "SubjectConsistency"
    assert m.required_weights() == ("dino-vitb16",) and not m.comparable
    assert get_metric("background_consistency").required_weights() == ("clip-vit-b-32-openai",)
    p = m.protocol()
    assert p["view"]["fps"] == 8.0 and p["view"]["size"] == 224
    assert p["options"]["arch"] == "vitb16"
    # runtime options do not change the protocol, view options do
    assert subject(batch_size=3).protocol_hash() == subject().protocol_hash()
    assert subject(num_frames=16).protocol_hash() != subject().protocol_hash()
    assert subject("vbench").view_spec().fps is None


def test_bad_options_are_clear_errors():
    with pytest.raises(UserError, match="unknown option.*frames"):
        get_metric("subject_consistency", frames=3)
    with pytest.raises(UserError, match="num_frames"):
        get_metric("background_consistency", num_frames=1)
    with pytest.raises(UserError, match="batch_size"):
        get_metric("background_consistency", batch_size=0)
    with pytest.raises(UserError, match="unknown architecture 'vit-huge'"):
        subject(arch="vit-huge")
    with pytest.raises(UserError, match="unknown architecture 'vitb16'"):
        background(arch="vitb16")


def test_missing_weights_name_the_file_and_url():
    m = get_metric("subject_consistency")
    with pytest.raises(MissingWeightsError, match="dino_vitbase16_pretrain.pth.*dl.fbaipublic"):
        m.score(ctx_of(static_scene(2, 32, 8.0)))


def test_batch_size_does_not_change_scores():
    frames = subject_clip(3)
    a = subject(batch_size=1).score(ctx_of(frames)).value
    b = subject(batch_size=16).score(ctx_of(frames)).value
    assert a == pytest.approx(b, abs=1e-6)


REAL = os.environ.get("VIDBENCH_TEST_WEIGHTS_HOME")


@pytest.mark.weights
@pytest.mark.parametrize("name", ["subject_consistency", "background_consistency"])
def test_real_backbones_see_identity_swaps(name, monkeypatch):
    """Needs the DINO and CLIP files under VIDBENCH_TEST_WEIGHTS_HOME."""
    monkeypatch.setenv("VIDBENCH_HOME", REAL)
    m = get_metric(name)
    assert m.comparable
    same = m.score(ctx_of(subject_clip(1, size=224))).value
    swapped = m.score(ctx_of(subject_clip(3, size=224))).value
    assert 0.0 <= swapped < same - 0.01 and same <= 1.0
    assert m.score(ctx_of(static_scene(8, 224, 8.0))).value == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("name", ["subject_consistency", "background_consistency",
                                  "clip_score", "aesthetic_quality"])
def test_vbench_mode_runs_the_official_float32_and_fp16_is_opt_in_and_hashed(name):
    """VBench runs DINO (and CLIP on a CPU) in float32: vbench mode does so on every device
    unless fp16 is asked for, and an fp16 run never shares a protocol hash with it."""
    def make(**kw):
        return get_metric(name, mode="vbench", random_weights=True, arch="tiny", **kw)

    on_gpu, on_cpu = make(device="cuda"), make(device="cpu")  # nothing is loaded yet
    assert on_gpu.half is False and on_cpu.half is False
    assert on_gpu.protocol_hash() == on_cpu.protocol_hash()
    fp16 = make(device="cuda", half=True)
    assert fp16.protocol()["precision"] == "fp16"
    assert fp16.protocol_hash() != on_gpu.protocol_hash()
    assert "precision" not in on_gpu.protocol()
    assert on_cpu.backbone().dtype == torch.float32
    # default mode keeps its device-dependent default (fp16 on CUDA), unchanged
    assert get_metric(name, random_weights=True, arch="tiny", device="cuda").half is None
