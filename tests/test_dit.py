"""Tests of the reference video DiT: configs, model, rectified flow, sampler, EMA,
checkpoints, training loop and the ``dit`` adapter. Everything runs on tiny shapes on CPU."""

from __future__ import annotations

import json
import math
import struct
from unittest.mock import patch

import numpy as np
import pytest
import torch

from vidbench.errors import UserError
from vidbench.models.dit import checkpoint as ckpt
from vidbench.models.dit.configs import CONFIGS, DiTConfig, forward_flops, get_config
from vidbench.models.dit.model import (
    VideoDiT,
    build_vocab,
    describe,
    patchify,
    sincos_3d,
    tokenize_words,
    unpatchify,
)
from vidbench.models.dit.rectified_flow import (
    EMA,
    flow_loss,
    foreground_weight,
    guided_velocity,
    sample,
    sample_t,
)

VOCAB = build_vocab(["A red ball falls from rest.", "A blue ball bounces on a grey floor."])


def small_cfg(**kw) -> DiTConfig:
    base = dict(hidden=32, depth=2, heads=2, num_frames=4, height=8, width=8, text_dim=16,
                text_len=8, vocab=VOCAB, cond_frames=1)
    base.update(kw)
    return get_config("tiny", **base)


def perturb(model: torch.nn.Module, seed: int = 1, scale: float = 0.05) -> None:
    """Give the zero-initialised layers non-zero weights, as training would."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)


def batch(cfg: DiTConfig, B: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.rand(B, cfg.channels, cfg.num_frames, cfg.height, cfg.width, generator=g) * 2 - 1
    eps = torch.randn(x0.shape, generator=g)
    t = torch.rand(B, generator=g)
    return x0, eps, t


PROMPTS = ["a red ball falls", "a blue ball bounces on a grey floor"]


# ----------------------------------------------------------------------------- configs


@pytest.mark.parametrize("name", [n if n in ("tiny", "S") else
                                  pytest.param(n, marks=pytest.mark.slow) for n in CONFIGS])
def test_every_config_forward_shape_on_meta_device(name):
    cfg = CONFIGS[name]
    with torch.device("meta"):
        model = VideoDiT(cfg)
        x = torch.empty(2, cfg.channels, cfg.num_frames, cfg.height, cfg.width)
        ctx = torch.empty(2, cfg.text_len, cfg.text_dim)
        mask = torch.ones(2, cfg.text_len, dtype=torch.bool)
        out = model(x, torch.empty(2), ctx, mask, torch.full((2,), cfg.cond_frames))
    assert out.shape == x.shape
    assert out.device.type == "meta"
    d = describe(cfg)
    assert d["params"] == sum(p.numel() for p in model.parameters())
    assert d["gflops_forward"] > 0


def test_config_sizes_grow_and_match_dit_widths():
    p = {n: describe(CONFIGS[n])["params"] for n in ("S", "B", "L", "XL")}
    assert p["S"] < p["B"] < p["L"] < p["XL"]
    # DiT-XL/2 has 675M params; ours adds cross-attention (~10% more per block)
    assert 0.6e9 < p["XL"] < 1.0e9
    assert describe(CONFIGS["tiny"])["params"] * 4 < 10 * 2 ** 20  # fp32 fits in 10 MB


def _explicit_attention(q, k, v, attn_mask=None, **_):
    """Scaled dot-product attention written as two batched matmuls and a softmax. Torch's
    FLOP counter knows matmuls on every release, while whether it counts the fused
    ``F.scaled_dot_product_attention`` on the CPU depends on the release (2.14.1 counts 0),
    so the FLOP test runs the model through this instead."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf"))
    return scores.softmax(dim=-1) @ v


@pytest.mark.parametrize("attention", ["full", "factorised"])
def test_explicit_attention_equals_the_fused_kernel(attention):
    cfg = small_cfg(attention=attention, depth=2)
    torch.manual_seed(0)
    model = VideoDiT(cfg).eval()
    for p in model.parameters():  # zero-init blocks would hide attention: give them weights
        torch.nn.init.normal_(p, std=0.05)
    x0, _, t = batch(cfg, B=2)
    ctx = torch.randn(2, cfg.text_len, cfg.text_dim)
    mask = torch.ones(2, cfg.text_len, dtype=torch.bool)
    mask[1, 3:] = False
    args = (x0, t, ctx, mask, torch.ones(2, dtype=torch.long))
    with torch.no_grad():
        fused = model(*args)
        with patch.object(torch.nn.functional, "scaled_dot_product_attention",
                          _explicit_attention):
            explicit = model(*args)
    assert fused.abs().max() > 1e-3
    torch.testing.assert_close(explicit, fused, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("attention", ["full", "factorised"])
def test_analytic_flops_match_torch_flop_counter(attention):
    from torch.utils.flop_counter import FlopCounterMode

    cfg = small_cfg(attention=attention, depth=3)
    model = VideoDiT(cfg).eval()
    x0, _, t = batch(cfg, B=1)
    ctx = torch.randn(1, cfg.text_len, cfg.text_dim)
    mask = torch.ones(1, cfg.text_len, dtype=torch.bool)
    with (FlopCounterMode(display=False) as fc, torch.no_grad(),
          patch.object(torch.nn.functional, "scaled_dot_product_attention",
                       _explicit_attention)):
        model(x0, t, ctx, mask, torch.ones(1, dtype=torch.long))
    counted = fc.get_total_flops()
    assert counted == pytest.approx(forward_flops(cfg), rel=0.02)


def test_config_json_round_trip_and_validation():
    cfg = small_cfg(attention="factorised", pos="rope")
    assert DiTConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg
    with pytest.raises(ValueError, match="multiples of the patch"):
        get_config("tiny", height=18)
    with pytest.raises(ValueError, match="unknown DiT config keys"):
        DiTConfig.from_json({"hidden": 32, "bogus": 1})


# ----------------------------------------------------------------------------- model


def test_patchify_round_trip_and_token_order():
    x = torch.randn(2, 3, 4, 8, 8)
    tok = patchify(x, (1, 4, 4))
    assert tok.shape == (2, 4 * 2 * 2, 48)
    assert torch.equal(unpatchify(tok, (1, 4, 4), 3, (4, 2, 2)), x)
    # token 1 is frame 0, row-block 0, column-block 1
    assert torch.equal(tok[0, 1].reshape(3, 1, 4, 4), x[0, :, 0:1, 0:4, 4:8])


def test_sincos_positions_distinct_and_bounded():
    pos = sincos_3d(48, 4, 2, 2)
    assert pos.shape == (16, 48)
    assert pos.abs().max() <= 1.0
    d = torch.cdist(pos, pos) + torch.eye(16) * 10
    assert d.min() > 0.1  # every token has its own position


def test_zero_init_model_is_identity_at_step_zero():
    cfg = small_cfg()
    torch.manual_seed(0)
    model = VideoDiT(cfg).eval()
    x0, _, t = batch(cfg)
    ctx, mask = model.encode_text(PROMPTS)
    out = model(x0, t, ctx, mask, torch.tensor([1, 0]))
    assert torch.count_nonzero(out) == 0  # final layer is zero: predicts v = 0
    h = torch.randn(2, cfg.num_tokens, cfg.hidden)
    c = torch.randn(2, cfg.hidden)
    for blk in model.blocks:  # every block starts as the identity
        assert torch.equal(blk(h, c, ctx, mask, cfg.grid), h)


@pytest.mark.parametrize("attention,pos", [("full", "rope"), ("factorised", "sincos"),
                                           ("factorised", "rope")])
def test_variants_run_and_temporal_attention_mixes_frames(attention, pos):
    cfg = small_cfg(attention=attention, pos=pos)
    torch.manual_seed(0)
    model = VideoDiT(cfg).eval()
    perturb(model)
    x0, _, t = batch(cfg)
    ctx, mask = model.encode_text(PROMPTS)
    out = model(x0, t, ctx, mask)
    assert out.shape == x0.shape and torch.isfinite(out).all()
    x1 = x0.clone()
    x1[:, :, -1] += 1.0  # change only the last frame: the first frame's output must change
    out1 = model(x1, t, ctx, mask)
    assert not torch.allclose(out1[:, :, 0], out[:, :, 0])


def test_text_conditioning_changes_prediction_and_tokenizer():
    assert tokenize_words("A Red-ball, falls!") == ["a", "red", "ball", "falls"]
    cfg = small_cfg()
    torch.manual_seed(0)
    model = VideoDiT(cfg).eval()
    perturb(model)
    ids, m = model.text.ids(["a red ball zzz", ""])
    assert ids[0, 3] == 1 and m[0, :4].all() and not m[0, 4:].any()  # unknown word -> 1
    assert m[1, 0] and ids[1, 0] == 1  # an empty prompt still has one token
    x0, _, t = batch(cfg, B=1)
    outs = [model(x0, t, *model.encode_text([p])) for p in PROMPTS]
    assert not torch.allclose(outs[0], outs[1])


# ----------------------------------------------------------------------------- objective


def test_one_training_step_decreases_loss_on_fixed_batch():
    cfg = small_cfg()
    torch.manual_seed(0)
    model = VideoDiT(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x0, eps, t = batch(cfg, B=4)
    cond = torch.tensor([1, 0, 2, 1])
    prompts = PROMPTS * 2

    def loss():
        ctx, mask = model.encode_text(prompts)
        return flow_loss(model, x0, ctx, mask, t, eps, cond)

    l0 = loss()
    # at step 0 the model predicts 0, so the loss is the mean |eps - x0|^2 on generated frames
    w = (torch.arange(cfg.num_frames)[None] >= cond[:, None]).float()[:, None, :, None, None]
    expect = (((eps - x0) ** 2 * w).flatten(1).sum(1) / w.expand_as(x0).flatten(1).sum(1))
    assert float(l0) == pytest.approx(float(expect.mean()), rel=1e-5)
    opt.zero_grad()
    l0.backward()
    opt.step()
    with torch.no_grad():
        l1 = loss()
    assert float(l1) < float(l0)


def test_loss_ignores_conditioning_frames():
    cfg = small_cfg()
    torch.manual_seed(0)
    model = VideoDiT(cfg)
    perturb(model)
    x0, eps, t = batch(cfg)
    ctx, mask = model.encode_text(PROMPTS)
    cond = torch.tensor([2, 2])
    eps2 = eps.clone()
    eps2[:, :, :2] = torch.randn_like(eps2[:, :, :2])  # noise on clean frames is never used
    a = flow_loss(model, x0, ctx, mask, t, eps, cond)
    b = flow_loss(model, x0, ctx, mask, t, eps2, cond)
    assert torch.equal(a, b)


def moving_square_clip(T: int = 8, size: int = 16, x_at=lambda k: 2 + k) -> torch.Tensor:
    """(1, 3, T, size, size) in [-1, 1]: a grey background and a 2x2 red square at column
    ``x_at(k)`` of row 6 in frame k."""
    x = torch.full((1, 3, T, size, size), -0.5)
    for k in range(T):
        c = x_at(k)
        x[0, :, k, 6:8, c:c + 2] = torch.tensor([1.0, -1.0, -1.0])[:, None, None]
    return x


def test_foreground_weight_marks_the_moving_object_and_its_rim():
    x = moving_square_clip()
    w = foreground_weight(x, alpha=9.0)
    assert w.shape == (1, 1, 8, 16, 16)
    assert torch.equal(foreground_weight(x, 0.0), torch.ones_like(w))
    for k in range(8):
        c = 2 + k
        fg = w[0, 0, k]
        assert torch.all(fg[6:8, c:c + 2] == 10.0)  # the square
        assert torch.all(fg[5:9, c - 1:c + 3] == 10.0)  # its one-pixel rim
        assert float(fg.sum()) == 16 * 16 + 9.0 * 16  # nothing else: 4x4 pixels weighted
    static = x[:, :, :1].repeat(1, 1, 8, 1, 1)  # a still object is background
    assert torch.equal(foreground_weight(static, 9.0), torch.ones_like(w))


def test_foreground_weight_makes_a_misplaced_object_cost_more():
    """Predicting the clip with the square one step behind: the plain loss barely sees the
    error (a few pixels of 256), the weighted loss multiplies it; both are 0 when right."""
    cfg = small_cfg(num_frames=8, height=16, width=16)

    class Oracle(torch.nn.Module):  # predicts the velocity of a fixed clean clip
        def __init__(self, clean):
            super().__init__()
            self.clean = clean

        def forward(self, xt, t, ctx, mask, cond):
            tt = t.view(-1, 1, 1, 1, 1)
            eps = (xt - (1 - tt) * self.clean) / tt
            return eps - self.clean

    true = moving_square_clip()
    lag = moving_square_clip(x_at=lambda k: 2 + max(k - 1, 0))
    eps = torch.randn(true.shape, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([0.5])
    cond = torch.tensor([1])
    ctx, mask = VideoDiT(cfg).encode_text(PROMPTS[:1])
    w = foreground_weight(true, 9.0)
    right = flow_loss(Oracle(true), true, ctx, mask, t, eps, cond, weight=w)
    assert float(right) < 1e-10
    plain = flow_loss(Oracle(lag), true, ctx, mask, t, eps, cond)
    weighted = flow_loss(Oracle(lag), true, ctx, mask, t, eps, cond, weight=w)
    assert float(weighted) > 3.0 * float(plain) > 0


def test_logit_normal_time_distribution_and_shift():
    g = torch.Generator().manual_seed(0)
    t = sample_t(20000, 0.0, 1.0, 1.0, generator=g)
    assert 0 < float(t.min()) and float(t.max()) < 1
    assert abs(float(t.median()) - 0.5) < 0.02
    ts = sample_t(20000, 0.0, 1.0, 3.0, generator=torch.Generator().manual_seed(0))
    assert float(ts.median()) == pytest.approx(0.75, abs=0.02)  # shift 3 maps 0.5 to 0.75


def test_ema_update_formula_and_warmup():
    cfg = small_cfg(depth=1)
    torch.manual_seed(0)
    model = VideoDiT(cfg)
    ema = EMA(model, decay=0.9)
    assert ema.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0)
    p_model = next(model.parameters())
    e0 = next(ema.model.parameters()).clone()
    with torch.no_grad():
        p_model.add_(1.0)
    ema.update(model)
    assert torch.allclose(next(ema.model.parameters()), 0.1 * e0 + 0.9 * (e0 + 1.0), atol=1e-6)
    ema.updates = 1000
    assert ema.current_decay() == 0.9
    assert not any(p.requires_grad for p in ema.model.parameters())


# ----------------------------------------------------------------------------- sampling


def test_cfg_scale_one_equals_conditional_prediction():
    cfg = small_cfg()
    torch.manual_seed(0)
    model = VideoDiT(cfg).eval()
    perturb(model, scale=0.1)
    x0, _, t = batch(cfg)
    ctx, mask = model.encode_text(PROMPTS)
    cond = torch.tensor([1, 1])
    with torch.no_grad():
        v_text = model(x0, t, ctx, mask, cond)
        nctx, nmask = model.drop_context(ctx, mask, torch.ones(2, dtype=torch.bool))
        v_null = model(x0, t, nctx, nmask, cond)
        assert not torch.allclose(v_text, v_null, atol=1e-4)  # the test can see a difference
        g1 = guided_velocity(model, x0, t, ctx, mask, cond, 1.0, fast_path=False)
        g3 = guided_velocity(model, x0, t, ctx, mask, cond, 3.0)
    assert torch.allclose(g1, v_text, atol=1e-5)
    assert torch.allclose(g3, v_null + 3.0 * (v_text - v_null), atol=1e-5)


def test_sampling_is_deterministic_per_seed_and_independent_of_batch():
    cfg = small_cfg()
    torch.manual_seed(0)
    model = VideoDiT(cfg).eval()
    perturb(model)
    a = sample(model, PROMPTS, seed=[5, 6], steps=3, cfg_scale=2.0)
    b = sample(model, PROMPTS, seed=[5, 6], steps=3, cfg_scale=2.0)
    c = sample(model, PROMPTS[:1], seed=[5], steps=3, cfg_scale=2.0)
    d = sample(model, PROMPTS, seed=[7, 6], steps=3, cfg_scale=2.0)
    assert torch.equal(a, b)
    assert torch.allclose(a[:1], c, atol=1e-5)
    assert not torch.allclose(a[0], d[0])


def test_conditioning_frames_reproduced_exactly_by_sampler():
    cfg = small_cfg()
    torch.manual_seed(0)
    model = VideoDiT(cfg).eval()
    perturb(model)
    cond = torch.rand(2, 3, 2, cfg.height, cfg.width) * 2 - 1
    x = sample(model, PROMPTS, seed=0, steps=4, cfg_scale=1.5, cond_frames=cond)
    assert torch.equal(x[:, :, :2], cond)
    assert x.shape == (2, 3, cfg.num_frames, cfg.height, cfg.width)


def test_untrained_model_returns_its_initial_noise():
    cfg = small_cfg()
    torch.manual_seed(0)
    model = VideoDiT(cfg).eval()
    x = sample(model, PROMPTS[:1], seed=[3], steps=5)
    noise = torch.randn(cfg.channels, cfg.num_frames, cfg.height, cfg.width,
                        generator=torch.Generator().manual_seed(3))
    assert torch.equal(x[0], noise)


# ----------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip_safetensors_no_pickle(tmp_path):
    cfg = small_cfg(pos="rope")
    torch.manual_seed(0)
    model = VideoDiT(cfg).eval()
    perturb(model)
    path = tmp_path / "m.safetensors"
    ckpt.save_model(model, path, extra={"step": 7})
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8: 8 + n])  # a safetensors header is plain JSON
    assert header["__metadata__"]["format"] == ckpt.FORMAT
    assert b"\x80\x04" not in raw[:2] and not raw.startswith(b"PK")  # no pickle / zip
    loaded, extra = ckpt.load_model(path)
    assert extra == {"step": 7} and loaded.cfg == cfg
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items(),
                               strict=True):
        assert k == k2 and torch.equal(a, b)
    assert json.loads((tmp_path / "m.json").read_text())["config"]["hidden"] == 32


def test_load_model_rejects_bad_files(tmp_path):
    with pytest.raises(UserError, match="no such DiT checkpoint"):
        ckpt.load_model(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(UserError, match="not a safetensors file"):
        ckpt.load_model(bad)
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(UserError, match="not a vidbench DiT checkpoint"):
        ckpt.load_model(other)


# ----------------------------------------------------------------------------- training


def _train_args(**kw):
    from vidbench.models.dit.train import TrainArgs

    base = dict(steps=4, batch=2, lr=1e-3, warmup=1, seed=0, ckpt_every_s=1e9, log_every=1,
                render_size=8)
    base.update(kw)
    return TrainArgs(**base)


def _losses(out):
    import csv

    with open(out / "log.csv") as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def test_train_resume_reproduces_uninterrupted_run(tmp_path):
    from vidbench.models.dit.train import train

    cfg = small_cfg(depth=1)
    quiet = lambda m: None
    train(cfg, tmp_path / "a", _train_args(steps=4), log=quiet)
    train(cfg, tmp_path / "b", _train_args(steps=2), log=quiet)
    train(cfg, tmp_path / "b", _train_args(steps=4), resume=True, log=quiet)
    la, lb = _losses(tmp_path / "a"), _losses(tmp_path / "b")
    assert len(la) == len(lb) == 4
    assert np.allclose(la, lb, rtol=1e-5, atol=1e-6)
    ea, _ = ckpt.load_model(tmp_path / "a")
    eb, _ = ckpt.load_model(tmp_path / "b")
    for a, b in zip(ea.state_dict().values(), eb.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    for f in ("ema.safetensors", "ema.json", "state.safetensors", "state.json", "log.csv",
              "loss.png"):
        assert (tmp_path / "a" / f).is_file(), f


def test_lr_schedule_warmup_constant_then_linear_cooldown():
    from vidbench.models.dit.train import lr_at

    a = _train_args(steps=100, lr=1e-3, warmup=10, cooldown=0.2)
    assert lr_at(0, a) == pytest.approx(1e-4)
    assert lr_at(50, a) == lr_at(79, a) == pytest.approx(1e-3)
    assert lr_at(90, a) == pytest.approx(0.5e-3)
    assert lr_at(100, a) == 0.0
    lrs = [lr_at(s, a) for s in range(10, 101)]
    assert all(x >= y for x, y in zip(lrs, lrs[1:], strict=False))
    # a time budget's progress overrides the step count
    assert lr_at(20, a, progress=0.9) == pytest.approx(0.5e-3)
    assert lr_at(20, a, progress=0.5) == pytest.approx(1e-3)
    flat = _train_args(steps=100, lr=1e-3, warmup=10)
    assert lr_at(99, flat) == lr_at(99, flat, progress=0.99) == pytest.approx(1e-3)


def test_time_budget_cooldown_decays_lr_to_near_zero(tmp_path):
    import csv

    from vidbench.models.dit.train import train

    a = _train_args(steps=10_000, cooldown=1.0, time_budget_s=2.0, warmup=1)
    summary = train(small_cfg(depth=1), tmp_path / "r", a, log=lambda m: None)
    with open(tmp_path / "r" / "log.csv") as f:
        lrs = [float(r["lr"]) for r in csv.DictReader(f)]
    assert 3 <= summary["step"] < 10_000 and len(lrs) == summary["step"]
    assert all(x >= y for x, y in zip(lrs[1:], lrs[2:], strict=False))
    assert lrs[1] > 0.5e-3 and lrs[-1] < 0.3e-3


def test_scenario_mix_weights_the_stream():
    from vidbench.models.dit.data import PhysicsStream
    from vidbench.models.dit.train import scenario_mix
    from vidbench.scenarios import SCENARIOS

    mix = scenario_mix({"collision": 2, "incline": 0})
    assert mix.count("collision") == 2 and "incline" not in mix
    assert len(mix) == len(SCENARIOS)  # one more collision, no incline
    assert scenario_mix(None) is None and scenario_mix({}) is None
    for bad in ({"colision": 2}, {"collision": -1}, {"collision": 1.5},
                {n: 0 for n in SCENARIOS}):
        with pytest.raises(ValueError):
            scenario_mix(bad)

    def count(stream, n=140):
        return sum(stream.item(i)[2]["scenario"] == "collision" for i in range(n))

    kw = dict(seed=1, num_frames=2, height=8, width=8, render_size=8)
    plain = count(PhysicsStream(**kw))
    heavy = count(PhysicsStream(scenarios=scenario_mix({"collision": 3}), **kw))
    # expected 140/7 = 20 and 140 * 3/9 = 47
    assert 8 <= plain <= 32 and 32 <= heavy <= 62 and heavy > plain + 10


def test_train_cli_rejects_bad_scenario_weights(tmp_path, capsys):
    from vidbench.models.dit.cli import main

    for bad, msg in (("bogus=2", "unknown scenario"), ("collision", "NAME=N"),
                     ("collision=two", "whole number"), ("collision=-1", ">= 0")):
        assert main(["--out", str(tmp_path / "r"), "--scenario-weight", bad]) == 2
        assert msg in capsys.readouterr().err, bad
    assert not (tmp_path / "r").exists()  # nothing written for a rejected command


def test_physics_stream_is_seeded_and_shardable():
    from vidbench.models.dit.data import PhysicsStream

    s = PhysicsStream(seed=3, num_frames=4, height=8, width=8, render_size=16)
    x, p = s.batch([0, 1, 2, 3])
    x2, p2 = s.batch([2, 3])
    assert x.shape == (4, 3, 4, 8, 8) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(x[2:], x2) and p[2:] == p2
    x3, _ = PhysicsStream(seed=4, num_frames=4, height=8, width=8, render_size=16).batch([0])
    assert not torch.equal(x[:1], x3)
    assert all(isinstance(q, str) and q for q in p)


def test_train_cli_dry_run_and_errors(tmp_path, capsys):
    from vidbench.models.dit.cli import main

    assert main(["--config", "B", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "config B" in out and "GFLOPs/sample" in out and "params" in out
    assert main(["--dry-run", "--set", "bogus=1"]) == 2
    assert "bad config override" in capsys.readouterr().err
    assert main(["--config", "tiny"]) == 2  # --out is required
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "state.json").write_text("{}")
    assert main(["--out", str(tmp_path / "run")]) == 2
    assert "--resume" in capsys.readouterr().err


# ----------------------------------------------------------------------------- adapter


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    cfg = small_cfg(height=16, width=16, num_frames=8, fps=4.0, cond_frames=2)
    torch.manual_seed(0)
    model = VideoDiT(cfg).eval()
    perturb(model)
    path = tmp_path_factory.mktemp("ckpt") / "small.safetensors"
    ckpt.save_model(model, path)
    return path


def _item(num_frames=16, size=32, fps=8.0, K=4, seed=0):
    from vidbench.scenarios import make_item

    return make_item("free_fall", seed, num_frames=num_frames, size=size, fps=fps,
                     cond_frames=K)


@pytest.mark.parametrize("shape", [(16, 32, 8.0, 4), (32, 64, 16.0, 8), (6, 24, 8.0, 0)])
def test_adapter_output_matches_item_shape_and_keeps_conditioning(small_checkpoint, shape):
    from vidbench.models.dit.adapter import DiTAdapter

    T, S, fps, K = shape
    item = _item(T, S, fps, K)
    ad = DiTAdapter(str(small_checkpoint), steps="3", cfg="1.5")
    g = ad.generate_one(item)
    assert g.frames.shape == (T, S, S, 3) and g.frames.dtype == np.uint8
    assert g.fps == fps
    if K:
        assert np.array_equal(g.frames[:K], item.conditioning_frames())
    g2 = ad.generate_one(item)
    assert np.array_equal(g.frames, g2.frames)  # seeded, deterministic
    assert g.params["sha256"] and g.params["steps"] == 3
    assert ad.revision == g.params["sha256"][:16]


def test_adapter_options_and_errors(small_checkpoint, tmp_path):
    from vidbench.adapters import get_model

    with pytest.raises(UserError, match="no such DiT checkpoint"):
        get_model(f"dit:{tmp_path / 'nope.safetensors'}")
    with pytest.raises(UserError, match="bad option"):
        get_model(f"dit:{small_checkpoint}?steps=many")
    ad = get_model(f"dit:{small_checkpoint}?random_weights=1&steps=2")
    assert "random_weights=1" in ad.model_id and ad.revision is None
    item = _item()
    g = ad.generate_one(item)
    assert np.array_equal(g.frames[:4], item.conditioning_frames())


def test_shipped_tiny_checkpoint_loads_and_serves_physics_mini():
    from vidbench.adapters import get_model
    from vidbench.models.dit.adapter import DEFAULT_CHECKPOINT
    from vidbench.suites import get_suite

    assert DEFAULT_CHECKPOINT.is_file()
    assert DEFAULT_CHECKPOINT.stat().st_size <= 10 * 2 ** 20
    model, extra = ckpt.load_model(DEFAULT_CHECKPOINT)
    assert model.cfg.name == "tiny" and extra["step"] > 0
    suite = get_suite("physics-mini")
    assert all(not model.text.unknown_words(it.prompt) for it in suite.items)
    ad = get_model("dit?steps=2")
    item = suite.items[1]
    g = ad.generate_one(item)
    assert g.frames.shape == (item.num_frames, item.height, item.width, 3)
    assert np.array_equal(g.frames[:4], item.conditioning_frames())
    assert g.params["cfg_scale"] == 2.0 and g.params["unknown_words"] == []
