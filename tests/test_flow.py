"""Shared flow machinery of the motion metrics: classical flow, warping, interpolation, the
VBench statistics, and the RAFT / AMT-S backbones' loading (random weights; no downloads)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidbench.errors import MissingWeightsError, UserError, WeightsChecksumError
from vidbench.metrics import flow as fl


def textured(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """A smooth random texture (uint8 RGB) that flow can lock onto."""
    import cv2

    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, size=(h // 8, w // 8, 3)).astype(np.float32)
    img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(img, 0, 255).astype(np.uint8)


def shift(img: np.ndarray, dx: int, dy: int) -> np.ndarray:
    return np.roll(np.roll(img, dy, axis=0), dx, axis=1)


def test_warp_backward_with_a_constant_flow_is_a_translation():
    img = textured()
    flow = np.zeros(img.shape[:2] + (2,), np.float32)
    flow[..., 0], flow[..., 1] = 3.0, -2.0
    out, valid = fl.warp_backward(img, flow)
    # out(x) = img(x + (3, -2)) -> img shifted left by 3 and down by 2
    expect = shift(img, -3, 2).astype(np.float32)
    inner = (slice(4, -4), slice(4, -4))
    assert np.array_equal(out[inner], expect[inner])
    assert not valid[:, -3:].any() and not valid[:2].any()  # sources outside the image
    assert valid[inner].all()


@pytest.mark.parametrize("method,scale", [("dis-fast", 1.0), ("dis-medium", 1.0),
                                          ("farneback", 1.0), ("dis-fast", 0.5)])
def test_classical_flow_recovers_a_known_translation(method, scale):
    a = textured(seed=1)
    b = shift(a, 4, 2)  # content moves right 4 and down 2: a(x) = b(x + (4, 2))
    f = fl.ClassicalFlow(method, scale).flows(np.stack([a, b]), [(0, 1)])[0]
    inner = f[16:-16, 16:-16]
    assert abs(np.median(inner[..., 0]) - 4.0) < 0.5
    assert abs(np.median(inner[..., 1]) - 2.0) < 0.5


def test_identical_frames_give_exactly_zero_flow():
    a = textured()
    f = fl.ClassicalFlow("dis-fast").flows(np.stack([a, a]), [(0, 1)])
    assert f.shape == (1, 96, 128, 2) and not f.any()


def test_bad_flow_options_are_user_errors():
    with pytest.raises(UserError, match="unknown classical flow"):
        fl.ClassicalFlow("lucas-kanade")
    with pytest.raises(UserError, match="scale"):
        fl.ClassicalFlow("dis-fast", scale=0)
    with pytest.raises(UserError, match="unknown flow backend"):
        fl.get_flow_estimator("pwc")


def test_intermediate_flows_for_linear_motion_are_halves():
    d = np.zeros((4, 4, 2), np.float32)
    d[..., 0] = 6.0
    ft0, ft1 = fl.intermediate_flows(d, -d, 0.5)
    assert np.allclose(ft0[..., 0], -3.0) and np.allclose(ft1[..., 0], 3.0)
    ft0, ft1 = fl.intermediate_flows(d, -d, 0.25)
    assert np.allclose(ft0[..., 0], -1.5) and np.allclose(ft1[..., 0], 4.5)


def test_interpolating_a_translation_recovers_the_middle_frame():
    base = textured(seed=3)
    f0, f1, f2 = base, shift(base, 3, 0), shift(base, 6, 0)
    est = fl.ClassicalFlow("dis-medium")
    flows = est.flows(np.stack([f0, f2]), [(0, 1), (1, 0)])
    mid = fl.interpolate_frame(f0, f2, flows[0], flows[1], 0.5)
    inner = (slice(12, -12), slice(12, -12))
    err = np.abs(mid[inner] - f1[inner].astype(np.float32)).mean()
    naive = np.abs((f0[inner].astype(np.float32) + f2[inner]) / 2 - f1[inner]).mean()
    assert err < 1.0 and err < naive / 4


def test_top_fraction_mean_matches_vbench_statistic():
    rng = np.random.default_rng(0)
    flow = rng.normal(0, 3, size=(40, 50, 2)).astype(np.float32)
    mag = np.sqrt((flow.astype(np.float64) ** 2).sum(-1)).ravel()
    k = int(40 * 50 * 0.05)
    brute = np.sort(mag)[::-1][:k].mean()
    assert fl.top_fraction_mean(fl.flow_magnitude(flow), 0.05) == pytest.approx(brute, rel=1e-6)
    assert fl.vbench_top_mean(flow, 0.05) == pytest.approx(brute, rel=1e-6)
    assert fl.vbench_top_mean(flow, 0.02) > fl.vbench_top_mean(flow, 0.05)


def test_vbench_count_rule():
    assert fl.count_needed(16) == 4
    assert fl.count_needed(9) == 2  # round(2.25)
    assert fl.count_needed(10) == 2  # round(2.5) -> 2 (half to even, as Python/VBench)
    assert fl.count_needed(2) == 1  # floored at one moving pair
    dyn, over, need = fl.is_dynamic(np.array([7, 7, 7, 1, 1]), 6)
    assert (dyn, over, need) == (True, 3, 2)
    assert not fl.is_dynamic(np.array([6.0, 6.0, 6.0]), 4)[0]  # strictly above 6


def test_motion_per_pair_normalises_size_and_time():
    f = np.zeros((1, 64, 64, 2), np.float32)
    f[0, :, :, 0] = 2.0  # 2 px at a 64-px short side over 1/16 s
    m = fl.motion_per_pair(f, np.array([1 / 16]), 64)
    assert m[0] == pytest.approx(2.0 * 4 * 2)  # x4 for 256 px, x2 for 1/8 s


# ----------------------------------------------------------------------------- RAFT


def test_sintel_padding_matches_raft_input_padder():
    from vidbench.metrics.backbones.raft import sintel_padding

    assert sintel_padding(256, 256) == (0, 0, 0, 0)
    assert sintel_padding(250, 333) == (1, 2, 3, 3)  # pad_wd = 3 -> (1, 2); pad_ht = 6
    from vidbench.metrics.backbones.amt import pad16

    assert sintel_padding(250, 340) == (2, 2, 3, 3)  # to 256 x 344
    assert pad16(250, 340) == (6, 6, 3, 3)  # to 256 x 352


@pytest.mark.slow
def test_raft_random_weights_are_deterministic_and_shaped():
    from vidbench.metrics.backbones import raft as R

    frames = np.stack([textured(124, 132, s) for s in range(3)])
    a = R.RaftFlow(random_weights=True, iters=2)
    flows = a.flows(frames, [(0, 1), (1, 2)])
    padded, pad = a.padded_flows(frames, [(0, 1)])
    assert flows.shape == (2, 124, 132, 2)
    assert padded.shape == (1, 128, 136, 2) and pad == (2, 2, 2, 2)
    assert np.array_equal(padded[0, 2:-2, 2:-2], flows[0])
    with pytest.raises(UserError, match="at least 128"):
        a.flows(frames[:, :64, :64], [(0, 1)])
    R._MODELS.clear()
    b = R.RaftFlow(random_weights=True, iters=2).flows(frames, [(0, 1), (1, 2)])
    assert np.array_equal(flows, b)


def test_raft_missing_weights_names_file_and_url():
    from vidbench.metrics.backbones.raft import build_raft

    with pytest.raises(MissingWeightsError, match="raft_large_C_T_V1-22a6c225.pth"):
        build_raft()


def test_raft_file_with_wrong_hash_prefix_is_refused(_isolated_home):
    from torchvision.models.optical_flow import raft_large

    from vidbench import weights
    from vidbench.metrics.backbones.raft import build_raft

    p = weights.path("raft-things")
    p.parent.mkdir(parents=True, exist_ok=True)
    torch.save(raft_large(weights=None).state_dict(), p)
    with pytest.raises(WeightsChecksumError, match="22a6c225"):
        build_raft()


# ----------------------------------------------------------------------------- AMT-S


def test_amt_s_has_the_published_size_and_loads_official_layout_strictly(_isolated_home):
    from vidbench import weights
    from vidbench.metrics.backbones import amt as A

    model = A.AMTS()
    # AMT's docs/method.md: AMT-S has "only 60% of [IFRNet-B's] parameters" (4.96M) -> ~3.0M
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(0.6 * 4.96e6, rel=0.02)
    keys = set(model.state_dict())
    for k in ("feat_encoder.layer2.0.downsample.0.weight", "encoder.pyramid4.1.1.weight",
              "decoder4.convblock.1.conv5.weight", "decoder1.convblock.2.weight",
              "update2.flow_head.2.weight", "update4.gru.0.weight", "comb_block.1.weight"):
        assert k in keys
    # the official file is {"state_dict": {...}} saved from a DataParallel-free model; also
    # accept "module." prefixes; any mismatch is a clear UserError
    sd = {k: torch.randn_like(v) for k, v in model.state_dict().items()}
    p = weights.path("amt-s")
    p.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {"module." + k: v for k, v in sd.items()}}, p)
    A._MODELS.clear()
    loaded = A.build_amt_s()
    assert torch.equal(loaded.state_dict()["comb_block.0.weight"], sd["comb_block.0.weight"])
    A._MODELS.clear()
    del sd["comb_block.0.weight"]
    torch.save({"state_dict": sd}, p)
    with pytest.raises(UserError, match="does not match AMT-S"):
        A.build_amt_s()
    A._MODELS.clear()


def test_amt_batching_equals_one_pair_at_a_time():
    from vidbench.metrics.backbones.amt import build_amt_s

    m = build_amt_s(random_weights=True)
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 3, 128, 128, generator=g), torch.rand(2, 3, 128, 128, generator=g)
    with torch.inference_mode():
        both = m(a, b, torch.full((2, 1, 1, 1), 0.5))
        one = m(a[1:], b[1:], torch.full((1, 1, 1, 1), 0.5))
    assert both.shape == (2, 3, 128, 128)
    assert float(both.min()) >= 0 and float(both.max()) <= 1
    assert torch.allclose(both[1:], one, atol=1e-5)


def test_shared_flows_give_the_same_scores_as_each_metric_alone():
    from vidbench.registry import VideoContext, get_metric
    from vidbench.synthetic import moving_disc
    from vidbench.video import Clip

    frames = moving_disc(12, 128, 8.0, velocity=(6.0, 2.0), texture=1.0)
    names = ("temporal_flicker", "motion_smoothness", "dynamic_degree")
    alone = {n: get_metric(n).score(VideoContext(Clip.from_array(frames, 8.0))).value
             for n in names}
    ctx = VideoContext(Clip.from_array(frames, 8.0))
    together = {n: get_metric(n).score(ctx).value for n in names}
    assert together == alone
    # one set of consecutive flows and one luma for the three
    assert sum(1 for k in ctx._memo if k[0] == "vidbench.flow.consecutive") == 1
    assert sum(1 for k in ctx._memo if k[0] == "vidbench.flow.luma") == 1


def test_motion_options_are_stored_once():
    """The three motion metrics keep their options only in ``options`` (what the protocol
    hashes); the attributes read them back, and a mode that does not record an option reads
    its default."""
    from vidbench.metrics.dynamic_degree import DynamicDegree
    from vidbench.metrics.motion_smoothness import MotionSmoothness
    from vidbench.metrics.temporal_flicker import TemporalFlicker

    for cls in (DynamicDegree, MotionSmoothness, TemporalFlicker):
        m = cls(flow="farneback", fps=16, size=96)
        assert not {"fps", "size", "flow_backend", "motion_threshold", "flow_scale"} & set(vars(m))
        assert (m.flow_backend, m.fps, m.size) == ("farneback", 16.0, 96)
        assert m.options["fps"] == 16.0 and isinstance(m.options["size"], int)
        assert m.view_spec().fps == 16.0 and m.view_spec().size == 96
        v = cls(mode="vbench", fps=16)
        assert "fps" not in v.options and v.fps == fl.REFERENCE_FPS
    ms = MotionSmoothness(route="direct", bidirectional=False, flow_scale=0.5)
    assert (ms.route, ms.bidirectional, ms.flow_scale) == ("direct", False, 0.5)
    assert MotionSmoothness().options.get("bidirectional") is None  # compose: not recorded
    assert TemporalFlicker(mode="vbench", static_filter=True).static_filter
    assert not TemporalFlicker(static_filter=True).static_filter  # default mode: no filter
