"""``vidbench train --init-from``: warm-starting a DiT whose config differs only in its text
side (vocabulary, languages, text length), the ``tiny-bi`` config and shipped names."""

from __future__ import annotations

import pytest
import torch

from vidbench.errors import UserError
from vidbench.models.dit import checkpoint as ckpt
from vidbench.models.dit.configs import get_config
from vidbench.models.dit.model import VideoDiT, tokenize_words
from vidbench.models.dit.warmstart import merged_vocab, warm_start

SMALL = dict(hidden=32, depth=2, heads=2, text_dim=16)


def _scrambled(cfg) -> VideoDiT:
    """A model whose every parameter is random (the zero-initialised gates and output layer
    too), so each output depends on all weights, the text tables included."""
    torch.manual_seed(0)
    m = VideoDiT(cfg).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    return m


@pytest.fixture()
def old_ckpt(tmp_path):
    cfg = get_config("tiny", vocab=("a", "ball", "falls", "red"), text_len=6, **SMALL)
    m = _scrambled(cfg)
    path = tmp_path / "old.safetensors"
    ckpt.save_model(m, path, extra={"step": 1})
    return m, path


def _out(model: VideoDiT, prompts: list[str]) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    B = len(prompts)
    x = torch.randn(B, 3, 16, 16, 16, generator=g)
    t = torch.rand(B, generator=g)
    ctx, mask = model.encode_text(prompts)
    with torch.no_grad():
        return model(x, t, ctx, mask, torch.full((B,), 4))


def test_warm_start_keeps_the_old_outputs_for_prompts_within_the_old_length(old_ckpt):
    old, path = old_ckpt
    new_cfg = old.cfg.replace(name="tiny-bi", langs=("en", "zh"), text_len=12,
                              vocab=merged_vocab(old.cfg, ["blue", "球", "红", "落", "下"]))
    new = VideoDiT(new_cfg).eval()
    info = warm_start(new, path)
    assert (info["words_new"], info["positions_new"]) == (5, 6)
    # known words, a word the old model did not know (blue), and Chinese characters (unknown
    # to the old model), all within the old 6 tokens: the same outputs
    prompts = ["A red ball falls.", "A blue ball falls.", "红球落下", "a red 球"]
    assert all(len(tokenize_words(p)) <= 6 for p in prompts)
    a, b = _out(old, prompts), _out(new, prompts)
    assert a.abs().mean() > 0.1  # a real signal, not zeros
    torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    # a new word starts as the unknown token (green is in neither vocabulary), while the
    # text is not ignored (red is not blue)
    torch.testing.assert_close(_out(new, ["A blue ball falls."]),
                               _out(new, ["A green ball falls."]), rtol=1e-4, atol=1e-4)
    assert (_out(new, ["A red ball falls."]) - _out(new, ["A blue ball falls."])).abs().max() \
        > 1e-3
    # a prompt longer than the old text length is cut by the old model, read in full now
    long = ["a red ball falls a red ball falls red"]
    assert (_out(new, long) - _out(old, long)).abs().max() > 1e-4
    # the tables: old words keep their rows (moved to their new index), new words start at
    # the old unknown row, new positions at the mean of the old positions
    oe, ne = old.text.embed.weight, new.text.embed.weight
    for w in old.cfg.vocab:
        assert torch.equal(ne[new.text.index[w]], oe[old.text.index[w]])
    assert torch.equal(ne[new.text.index["红"]], oe[1])
    assert torch.equal(new.text.pos[:6], old.text.pos)
    torch.testing.assert_close(new.text.pos[6:], old.text.pos.mean(0).expand(6, -1))


def test_warm_start_rejects_a_real_mismatch(old_ckpt, tmp_path):
    old, path = old_ckpt
    with pytest.raises(UserError, match=r"beyond the text side: depth 2 -> 3"):
        warm_start(VideoDiT(old.cfg.replace(depth=3)), path)
    with pytest.raises(UserError, match="drops 1 word.*falls"):
        warm_start(VideoDiT(old.cfg.replace(vocab=("a", "ball", "red"))), path)
    with pytest.raises(UserError, match="text_len 4 < the checkpoint's 6"):
        warm_start(VideoDiT(old.cfg.replace(text_len=4)), path)
    # a checkpoint whose weights do not match its own config: the keys are named
    sd = {k: v for k, v in old.state_dict().items() if not k.startswith("blocks.1.mlp")}
    sd["extra.weight"] = torch.zeros(2)
    from safetensors.torch import save_file
    bad = tmp_path / "bad.safetensors"
    save_file(sd, str(bad), metadata=ckpt.read_metadata(path))
    with pytest.raises(UserError, match=r"missing \['blocks.1.mlp.0.bias'.*unexpected "
                                        r"\['extra.weight'\]"):
        warm_start(VideoDiT(old.cfg), bad)
    with pytest.raises(UserError, match="no such DiT checkpoint"):
        warm_start(VideoDiT(old.cfg), tmp_path / "none.safetensors")


def test_tiny_bi_warm_started_from_shipped_tiny_serves_english_as_tiny():
    """The shipped tiny warm-started into tiny-bi: every physics-mini English prompt that
    fits tiny's 16 tokens gives tiny's outputs; the vocabulary covers every suite prompt in
    both languages and keeps all of tiny's words."""
    from vidbench.models.dit.data import suite_prompts, training_vocab
    from vidbench.suites import get_suite

    old, _ = ckpt.load_model(ckpt_path := __import__(
        "vidbench.models.dit.shipped", fromlist=["x"]).shipped_path("tiny"))
    cfg = get_config("tiny-bi")
    assert cfg.replace(name="tiny", langs=("en",), text_len=16) == old.cfg.replace(vocab=())
    vocab = merged_vocab(old.cfg, training_vocab(cfg.langs, n_per_scenario=50))
    new = VideoDiT(cfg.replace(vocab=vocab)).eval()
    warm_start(new, "tiny")  # by shipped name
    assert all(not new.text.unknown_words(p) for p in suite_prompts(("en", "zh")))
    prompts = [it.prompt for it in get_suite("physics-mini").items
               if len(tokenize_words(it.prompt)) <= old.cfg.text_len]
    assert len(prompts) >= 6
    torch.testing.assert_close(_out(new, prompts), _out(old, prompts), rtol=1e-4, atol=1e-4)
    assert ckpt_path is not None


def test_train_cli_init_from_warm_starts_and_records_it(tmp_path, old_ckpt):
    from vidbench.models.dit.cli import main

    old, path = old_ckpt
    out = tmp_path / "run"
    sets = [f"--set={k}={v}" for k, v in SMALL.items()]
    rc = main(["--config", "tiny-bi", "--init-from", str(path), "--out", str(out),
               "--steps", "1", "--batch", "2", "--lr", "0", "--warmup", "1", "--threads", "1",
               "--device", "cpu", "--zh-frac", "0.5", *sets])
    assert rc == 0
    # tiny-bi's text side differs from the small checkpoint's only in vocab/langs/text_len;
    # with lr 0 the weights after one step are the warm-started ones
    new, _ = ckpt.load_model(out / "ema.safetensors")
    assert set(old.cfg.vocab) < set(new.cfg.vocab) and "球" in new.cfg.vocab
    assert new.cfg.text_len == 48 and new.cfg.langs == ("en", "zh")
    torch.testing.assert_close(_out(new, ["A red ball falls."]),
                               _out(old, ["A red ball falls."]), rtol=1e-4, atol=1e-4)
    import json
    assert json.loads((out / "state.json").read_text())["args"]["init_from"] == str(path)
    # a config that differs beyond the text side is refused, naming the field
    rc = main(["--config", "tiny-bi", "--init-from", str(path), "--out", str(tmp_path / "r2"),
               "--steps", "1", "--batch", "2", "--threads", "1", "--device", "cpu",
               "--set=hidden=64", "--set=depth=2", "--set=heads=2", "--set=text_dim=16"])
    assert rc == 2


def test_dit_adapter_selects_shipped_checkpoints_by_name(tmp_path):
    from vidbench.adapters import get_model
    from vidbench.models.dit.shipped import resolve, shipped_names

    assert "tiny" in shipped_names()
    p, name = resolve("tiny")
    assert name == "tiny" and p.name == "tiny.safetensors"
    ad = get_model("dit:tiny?steps=1")
    assert ad.model_id == "dit:tiny" and ad.path == p
    assert ad.revision == get_model("dit?steps=1").revision
    with pytest.raises(UserError, match="shipped names: .*tiny"):
        get_model("dit:no-such-name")


def _up(x: torch.Tensor, s: int = 2) -> torch.Tensor:
    """(B, C, T, H, W) -> nearest-neighbour upsampling by s in H and W."""
    return x.repeat_interleave(s, dim=3).repeat_interleave(s, dim=4)


def test_resolution_lift_serves_upsampled_inputs_exactly_as_the_old_model(old_ckpt):
    """tiny (16x16, tubelets 1x4x4) -> a 32x32 model with tubelets 1x8x8 on the same 4x4
    grid: on a nearest-upsampled clip the lifted model's velocity is the old velocity
    upsampled, at every timestep and for any conditioning."""
    old, path = old_ckpt
    new_cfg = old.cfg.replace(name="tiny32-p8", height=32, width=32, patch=(1, 8, 8))
    new = VideoDiT(new_cfg).eval()
    info = warm_start(new, path)
    assert info["resolution_lift"] == 2
    g = torch.Generator().manual_seed(5)
    x16 = torch.randn(3, 3, 16, 16, 16, generator=g)
    t = torch.tensor([0.05, 0.5, 0.95])
    cond = torch.tensor([0, 4, 8])
    ctx, mask = old.encode_text(["A red ball falls.", "a ball", "red"])
    with torch.no_grad():
        a = old(x16, t, ctx, mask, cond)
        b = new(_up(x16), t, ctx, mask, cond)
    assert a.abs().mean() > 0.1
    # equal up to float32 rounding of the differently ordered sums, which the scrambled weights
    # (std 0.3 everywhere) amplify to ~1e-4 of the output's range; a lift that forgets the
    # 1/s^2 of the embedding is off by a whole order of the output
    err = (b - _up(a)).abs().max() / a.abs().max()
    assert err < 1e-3, err
    with torch.no_grad():
        new.x_embed.proj.weight.mul_(4)
        wrong = (new(_up(x16), t, ctx, mask, cond) - _up(a)).abs().max() / a.abs().max()
        new.x_embed.proj.weight.div_(4)
    assert wrong > 0.1, wrong
    # on a clip with detail below the old pixel the lifted model sees its 2x2 average: the
    # embedding of the fine clip equals the embedding of its area-downsampled, re-upsampled
    # copy
    x32 = torch.randn(1, 6, 16, 32, 32, generator=g)
    pooled = torch.nn.functional.avg_pool3d(x32, (1, 2, 2))
    with torch.no_grad():
        torch.testing.assert_close(new.x_embed(x32), new.x_embed(_up(pooled)),
                                   rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(new.x_embed(x32), old.x_embed(pooled), rtol=1e-4, atol=1e-4)


def test_resolution_lift_onto_a_coarse_input_grid_serves_upsampled_clips_as_the_old_model(
        old_ckpt):
    """As tiny32-p8 (noise_block 2): the lifted model reads its input on the old 16x16 grid,
    so its embedding is the old one verbatim, its output on an upsampled clip is the old output
    upsampled, and detail below the 2x2 block of the input cannot reach the network."""
    old, path = old_ckpt
    new = VideoDiT(old.cfg.replace(name="p8", height=32, width=32, patch=(1, 8, 8),
                                   noise_block=2)).eval()
    assert warm_start(new, path)["resolution_lift"] == 2
    assert new.cfg.in_patch == (1, 4, 4)
    assert torch.equal(new.x_embed.proj.weight, old.x_embed.proj.weight)
    g = torch.Generator().manual_seed(6)
    x16 = torch.randn(2, 3, 16, 16, 16, generator=g)
    t, cond = torch.tensor([0.3, 0.9]), torch.tensor([4, 0])
    ctx, mask = old.encode_text(["A red ball falls.", "red"])
    x32 = torch.randn(2, 3, 16, 32, 32, generator=g)
    with torch.no_grad():
        a = old(x16, t, ctx, mask, cond)
        err = (new(_up(x16), t, ctx, mask, cond) - _up(a)).abs().max() / a.abs().max()
        fine = new(x32, t, ctx, mask, cond)
        coarse = new(_up(torch.nn.functional.avg_pool3d(x32, (1, 2, 2))), t, ctx, mask, cond)
    assert err < 1e-3, err
    torch.testing.assert_close(fine, coarse, rtol=1e-4, atol=1e-4)


def test_resolution_lift_rejects_a_changed_token_grid(old_ckpt):
    old, path = old_ckpt
    # 32x32 with the old 1x4x4 tubelets: 8x8 tokens per frame instead of 4x4
    with pytest.raises(UserError, match="scaled by a whole factor on the same token grid"):
        warm_start(VideoDiT(old.cfg.replace(height=32, width=32)), path)
    # a temporal patch change is not a spatial lift
    with pytest.raises(UserError, match="same token grid"):
        warm_start(VideoDiT(old.cfg.replace(height=32, width=32, patch=(2, 8, 8))), path)
    # 24x24 is not a whole multiple of 16
    with pytest.raises(UserError, match="same token grid"):
        warm_start(VideoDiT(old.cfg.replace(height=24, width=24, patch=(1, 6, 6))), path)


def test_prior_noise_on_a_coarser_grid_and_unchanged_per_pixel():
    from vidbench.models.dit.rectified_flow import prior_noise

    cfg = get_config("tiny32-p8")
    assert cfg.noise_block == 2 and cfg.grid == get_config("tiny-bi").grid
    e = prior_noise(cfg, 16, torch.Generator().manual_seed(0))
    assert e.shape == (3, 16, 32, 32)
    coarse = e[..., ::2, ::2]
    assert torch.equal(e, _up(coarse[None])[0])  # constant over each 2x2 block
    assert abs(float(coarse.std()) - 1) < 0.02 and abs(float(coarse.mean())) < 0.02
    # per-pixel noise (every other config) is the same draw as before the field existed, so
    # the shipped checkpoints' samples do not change
    tiny = get_config("tiny")
    torch.testing.assert_close(prior_noise(tiny, 16, torch.Generator().manual_seed(0)),
                               torch.randn(3, 16, 16, 16, generator=torch.Generator()
                                           .manual_seed(0)), rtol=0, atol=0)
    with pytest.raises(ValueError, match="noise_block 3 does not divide 32x32"):
        cfg.replace(noise_block=3)
