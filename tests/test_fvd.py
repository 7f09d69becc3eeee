"""FVD / KVD / cd-FVD as metrics: protocols and their hashes, seeded clip selection, the
per-video feature path shared between metrics, honesty details, and FVD growing with
graded corruption (noise, blur, frame shuffling) of rendered clips."""

from __future__ import annotations

import argparse

import cv2
import numpy as np
import pytest
import torch

from vidbench.errors import MissingWeightsError, UserError
from vidbench.metrics.backbones.videomae import (
    VideoMAEExtractor,
    VideoMAEv2,
    load_videomae,
    random_init,
    sinusoid_table,
)
from vidbench.metrics.fvd import FVD, KVD, ContentDebiasedFVD
from vidbench.metrics.protocols import PROTOCOLS, Protocol, get_protocol
from vidbench.registry import SetMetric, VideoContext, get_metric
from vidbench.synthetic import moving_disc
from vidbench.video import Clip

torch.set_num_threads(1)

SMALL_I3D = {"name": "test/i3d_32px", "backbone": "i3d", "weights": "i3d-torchscript",
             "num_frames": 16, "size": [32, 32], "clip_start": "first", "n_real": 64,
             "n_fake": 64}
TINY_MAE = {"name": "test/videomae_tiny", "backbone": "videomae",
            "weights": "videomae-v2-vit-g-ssv2", "num_frames": 16, "size": [32, 32],
            "scale": "[0,1]", "clip_start": "first", "backbone_options": {"size": "tiny"}}


def _video(seed: int, frames: int = 16, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return moving_disc(frames, size, 8.0, velocity=tuple(rng.uniform(-30, 30, 2)),
                       radius=float(rng.uniform(5, 10)),
                       start=tuple(rng.uniform(16, 48, 2)),
                       color=tuple(int(c) for c in rng.integers(60, 255, 3)),
                       texture=0.6, seed=seed)


def _ctx(frames: np.ndarray, name: str, fps: float = 8.0) -> VideoContext:
    return VideoContext(Clip.from_array(frames, fps, name), video=name)


def _features(metric: SetMetric, videos: list[np.ndarray], tag: str) -> np.ndarray:
    return np.stack([metric.features(_ctx(v, f"{tag}{i}.mp4")) for i, v in enumerate(videos)])


# ----------------------------------------------------------------------------- protocols


def test_presets_have_distinct_stable_hashes():
    hashes = {p.hash() for p in PROTOCOLS.values()}
    assert len(hashes) == len(PROTOCOLS)
    p = get_protocol("stylegan-v/fvd2048_16f")
    assert (p.n_real, p.n_fake, p.num_frames, p.size, p.input) == (2048, 2048, 16, (224, 224),
                                                                    "uint8")
    assert p.hash() == Protocol.from_dict(p.to_dict()).hash()
    assert Protocol.from_dict({**p.to_dict(), "description": "x"}).hash() == p.hash()
    assert Protocol.from_dict({**p.to_dict(), "seed": 1}).hash() != p.hash()
    assert get_protocol("cd-fvd/videomae_16f").scale == "[0,1]"


def test_each_preset_states_its_covariance_normalisation_and_it_is_hashed():
    """Presets named after StyleGAN-V / cd-fvd use their 1/n; vidbench's default keeps
    1/(n-1) and, with it, the hash it had before the field existed (cov "n-1" is not
    hashed); "n" changes the hash; anything else is a user error."""
    for name, p in PROTOCOLS.items():
        assert p.cov == ("n-1" if name.startswith("vidbench/") else "n"), name
    p = get_protocol("vidbench/fvd2048_16f_8fps")
    assert p.hash() == "1524d86ec07c8b3a"  # unchanged by the new field
    assert Protocol.from_dict({**p.to_dict(), "cov": "n"}).hash() != p.hash()
    custom = {k: v for k, v in p.to_dict().items() if k != "cov"}
    assert Protocol.from_dict(custom).cov == "n-1"
    with pytest.raises(UserError, match="cov"):
        Protocol.from_dict({**p.to_dict(), "cov": "n+1"})


def test_bad_protocols_are_user_errors():
    with pytest.raises(UserError, match="unknown FVD protocol 'nope'"):
        get_protocol("nope")
    with pytest.raises(UserError, match=r"unknown fields \['frames'\]"):
        get_protocol({**SMALL_I3D, "frames": 3})
    with pytest.raises(UserError, match="unknown backbone"):
        get_protocol({**SMALL_I3D, "backbone": "s3d"})
    with pytest.raises(UserError, match="backbone videomae"):
        FVD(random_weights=True, protocol=TINY_MAE)


def test_seeded_clip_start_is_per_video_and_on_frame_boundaries():
    p = get_protocol("stylegan-v/fvd2048_16f")
    starts = []
    for i in range(30):
        spec = p.clip_spec(40, 10.0, 4.0, f"vid{i}.mp4")
        assert spec.fps == 10.0 and spec.num_frames == 16
        assert spec == p.clip_spec(40, 10.0, 4.0, f"vid{i}.mp4")  # deterministic
        k = spec.start * 10
        assert abs(k - round(k)) < 1e-9 and 0 <= round(k) <= 24
        starts.append(round(k))
    assert len(set(starts)) > 5
    # the view is 16 consecutive source frames from that start
    frames = np.zeros((40, 8, 8, 3), np.uint8)
    clip = Clip.from_array(frames, 10.0)
    spec = p.clip_spec(40, 10.0, clip.duration, "vid3.mp4")
    view = clip.view(spec)
    first = int(round(spec.start * 10))
    np.testing.assert_array_equal(view.indices, np.arange(first, first + 16))
    # every 8th frame for the subsampled preset
    q = get_protocol("stylegan-v/fvd2048_128f_subsample8f")
    clip = Clip.from_array(np.zeros((200, 8, 8, 3), np.uint8), 25.0)
    v = clip.view(q.clip_spec(200, 25.0, clip.duration, "x.mp4"))
    assert np.all(np.diff(v.indices) == 8) and len(v.indices) == 16
    assert get_protocol(SMALL_I3D).clip_spec(40, 10.0, 4.0, "a").start == 0.0


# ----------------------------------------------------------------------------- registry


def test_registry_entries_and_protocol_provenance():
    fvd = get_metric("fvd", random_weights=True)
    kvd = get_metric("kvd", random_weights=True)
    cd = get_metric("cd_fvd", random_weights=True)
    for m in (fvd, kvd, cd):
        assert isinstance(m, SetMetric) and m.kind == "set" and not m.higher_is_better
        assert m.comparable is False
        assert m.protocol()["protocol_hash"] == m.proto.hash()
    assert fvd.proto.name == "vidbench/fvd2048_16f_8fps"
    assert get_metric("fvd", mode="vbench").proto.name == "stylegan-v/fvd2048_16f"
    assert cd.proto.name == "cd-fvd/videomae_16f"
    assert fvd.feature_key() == kvd.feature_key() != cd.feature_key()
    assert fvd.protocol_hash() != get_metric("fvd", mode="vbench").protocol_hash()
    assert get_metric("fvd").comparable is True
    # the bootstrap size changes the CI, not the value: same column; KVD subsets do not
    assert get_metric("fvd", n_boot=7).protocol_hash() == get_metric("fvd").protocol_hash()
    assert get_metric("kvd", random_weights=True, num_subsets=5).protocol_hash() != \
        kvd.protocol_hash()
    assert get_metric("fvd").required_weights() == ("i3d-torchscript",)


def test_missing_weights_name_the_file_and_never_download():
    m = FVD(protocol=SMALL_I3D)  # real weights requested, none under VIDBENCH_HOME
    with pytest.raises(MissingWeightsError, match="i3d_torchscript.pt"):
        m.features(_ctx(_video(0), "a.mp4"))
    cd = ContentDebiasedFVD()
    with pytest.raises(MissingWeightsError, match="vit_g_hybrid_pt_1200e_ssv2_ft.pth"):
        cd.features(_ctx(_video(0), "a.mp4"))


def test_fvd_and_kvd_share_one_extraction_per_video():
    fvd = FVD(random_weights=True, protocol=SMALL_I3D)
    kvd = KVD(random_weights=True, protocol=SMALL_I3D)
    calls = []
    real = fvd.extractor()

    def counting(frames):
        calls.append(frames.shape)
        return real(frames)

    fvd._extractor = kvd._extractor = counting
    ctx = _ctx(_video(1), "v.mp4")
    a = fvd.features(ctx)
    b = kvd.features(ctx)
    assert a.shape == (400,) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert calls == [(1, 16, 32, 32, 3)]


def test_short_video_fails_without_padding_and_pads_with_it():
    short = _video(2, frames=10)
    with pytest.raises(UserError, match=r"short\.mp4: only 10 frames"):
        FVD(random_weights=True, protocol=SMALL_I3D).features(_ctx(short, "short.mp4"))
    padded = FVD(random_weights=True, protocol={**SMALL_I3D, "pad": True, "name": "t/pad"})
    assert padded.features(_ctx(short, "short.mp4")).shape == (400,)


# ----------------------------------------------------------------------------- compute


def test_compute_reports_n_ci_noise_floor_fvd_inf_and_warnings():
    rng = np.random.default_rng(0)
    gen = rng.normal(size=(40, 16)) + 0.5
    ref = rng.normal(size=(100, 16))
    agg = FVD(random_weights=True, protocol=SMALL_I3D, n_boot=50).compute(gen, ref, seed=0)
    d = agg.details
    assert agg.n == 40 and d["n_reference"] == 100
    assert agg.ci95[0] <= agg.value <= agg.ci95[1]
    assert 0 < d["noise_floor"] < agg.value and d["noise_floor_n"] == 40
    assert np.isfinite(d["fvd_inf"]) and d["fvd_inf"] < agg.value
    assert d["protocol"] == "test/i3d_32px" and d["protocol_hash"] == get_protocol(
        SMALL_I3D).hash()
    assert any("only 40 generated videos" in w for w in d["warnings"])
    assert d["comparable"] is False
    again = FVD(random_weights=True, protocol=SMALL_I3D, n_boot=50).compute(gen, ref, seed=0)
    assert again.ci95 == agg.ci95 and again.details["fvd_inf"] == d["fvd_inf"]


def test_compute_rejects_features_from_another_extractor():
    with pytest.raises(UserError, match="400-d but the reference's are 1408-d"):
        FVD(random_weights=True).compute(np.zeros((5, 400)), np.zeros((5, 1408)))


def test_multi_clip_features_bootstrap_by_video():
    rng = np.random.default_rng(1)
    gen, ref = rng.normal(size=(20, 3, 8)) + 0.3, rng.normal(size=(30, 3, 8))
    agg = FVD(random_weights=True, protocol=SMALL_I3D, n_boot=30).compute(gen, ref)
    assert agg.n == 20 and agg.details["n_reference"] == 30
    assert agg.ci95[0] <= agg.value <= agg.ci95[1]


# ----------------------------------------------------------------------------- corruption


def _noise(v: np.ndarray, level: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(v + rng.normal(0, level, v.shape), 0, 255).astype(np.uint8)


def _blur(v: np.ndarray, level: float, seed: int) -> np.ndarray:
    if level == 0:
        return v
    return np.stack([cv2.GaussianBlur(f, (0, 0), level) for f in v])


def _shuffle(v: np.ndarray, level: float, seed: int) -> np.ndarray:
    """Shuffle all frames of a growing share of the videos (``level`` of them; the videos
    shuffled at a level are also shuffled at every higher level)."""
    if (seed % 4) >= level * 4:
        return v
    return v[np.random.default_rng(seed).permutation(len(v))]


CORRUPTIONS = {"noise": (_noise, [0, 15, 40, 90]), "blur": (_blur, [0, 0.8, 1.6, 3.0]),
               "shuffle": (_shuffle, [0, 0.25, 0.5, 1.0])}


def _graded(metric: SetMetric, n: int, kind: str) -> list[float]:
    fn, levels = CORRUPTIONS[kind]
    ref = _features(metric, [_video(1000 + i) for i in range(n)], "ref")
    base = [_video(1000 + i) for i in range(n)]  # one set, corrupted: FD starts at 0
    out = []
    for level in levels:
        gen = _features(metric, [fn(v, level, i) for i, v in enumerate(base)], f"{kind}{level}")
        out.append(metric.compute(gen, ref).value)
    return out


@pytest.mark.parametrize("kind", ["noise", "blur", "shuffle"])
def test_cd_fvd_grows_monotonically_with_graded_corruption(kind):
    metric = ContentDebiasedFVD(random_weights=True, protocol=TINY_MAE, extras=False)
    vals = _graded(metric, 12, kind)
    assert np.all(np.diff(vals) > 0), vals


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["noise", "blur", "shuffle"])
def test_fvd_grows_monotonically_with_graded_corruption(kind):
    metric = FVD(random_weights=True, protocol=SMALL_I3D, extras=False)
    vals = _graded(metric, 8, kind)
    assert np.all(np.diff(vals) > 0), vals


# ----------------------------------------------------------------------------- VideoMAE


def test_sinusoid_table_matches_its_formula():
    t = sinusoid_table(10, 8)
    assert t.shape == (1, 10, 8)
    pos, j = 3, 5  # odd channel: cos(pos / 10000^(2 * (5 // 2) / 8))
    assert float(t[0, pos, j]) == pytest.approx(np.cos(pos / 10000 ** (4 / 8)), rel=1e-6)
    assert float(t[0, 7, 2]) == pytest.approx(np.sin(7 / 10000 ** (2 / 8)), rel=1e-6)


def test_videomae_checkpoint_loads_with_head_and_args_and_checks_keys(tmp_path):
    model = random_init(VideoMAEv2("tiny", img_size=32), seed=0)
    sd = {**model.state_dict(), "head.weight": torch.zeros(174, 64),
          "head.bias": torch.zeros(174)}
    path = tmp_path / "vit_tiny.pth"
    torch.save({"model": sd, "args": argparse.Namespace(lr=1e-3)}, path)
    loaded = load_videomae(path, "tiny", img_size=32)
    x = np.random.default_rng(0).integers(0, 256, (2, 16, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_allclose(VideoMAEExtractor(loaded)(x), VideoMAEExtractor(model)(x),
                               rtol=1e-6, atol=1e-6)
    with pytest.raises(UserError, match="not a VideoMAE-v2 small checkpoint"):
        load_videomae(path, "small", img_size=32)
    # fewer frames: the position table is interpolated over time
    assert VideoMAEExtractor(model)(x[:, :8]).shape == (2, 64)


def test_random_init_cd_fvd_is_small_unless_asked():
    cd = ContentDebiasedFVD(random_weights=True)
    assert cd.extractor().model.size_name == "small"
    tiny = ContentDebiasedFVD(random_weights=True, protocol=TINY_MAE)
    assert tiny.extractor().model.size_name == "tiny"
    assert ContentDebiasedFVD(random_weights=True, size="tiny").extractor().model.dim == 64


def test_videomae_giant_has_the_published_shape():
    with torch.device("meta"):
        g = VideoMAEv2("giant")
    assert g.grid == (8, 16, 16) and g.dim == 1408 and len(g.blocks) == 40
    assert g.blocks[0].mlp.fc1.out_features == 6144
    n = sum(p.numel() for p in g.parameters())
    assert 1.0e9 < n < 1.02e9  # ViT-g: about one billion parameters
