"""The native-resolution ``tiny32`` config and the bilingual (EN/ZH) text encoder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vidbench.errors import UserError
from vidbench.models.dit import checkpoint as ckpt
from vidbench.models.dit.configs import DiTConfig, forward_flops, get_config
from vidbench.models.dit.model import VideoDiT, tokenize_words


@pytest.fixture(scope="module")
def bilingual_vocab() -> tuple[str, ...]:
    from vidbench.models.dit.data import training_vocab

    return training_vocab(("en", "zh"), n_per_scenario=50)


def test_tiny32_is_native_physics_mini_shape_with_factorised_attention():
    from vidbench.suites import get_suite

    cfg = get_config("tiny32")
    item = get_suite("physics-mini").items[0]
    assert (cfg.num_frames, cfg.height, cfg.width, cfg.fps) == (
        item.num_frames, item.height, item.width, item.fps)
    assert cfg.patch == (2, 2, 2) and cfg.attention == "factorised"
    assert cfg.grid == (8, 16, 16) and cfg.num_tokens == 2048
    # factorised attention is what keeps 2048 tokens affordable: full 3-D attention over the
    # same tokens costs more than twice as much
    assert forward_flops(cfg.replace(attention="full")) > 2 * forward_flops(cfg)
    with torch.device("meta"):
        m = VideoDiT(cfg.replace(vocab=("a", "ball")))
        x = torch.empty(2, 3, 16, 32, 32)
        ctx = torch.empty(2, cfg.text_len, cfg.text_dim)
        out = m(x, torch.empty(2), ctx, torch.ones(2, cfg.text_len, dtype=torch.bool),
                torch.full((2,), 4))
    assert out.shape == x.shape
    n = sum(p.numel() for p in m.parameters())
    assert n * 4 <= 10 * 2 ** 20  # a float32 checkpoint fits the 10 MB limit


def test_tiny32_adapter_samples_at_native_size_without_resizing(tmp_path):
    """On a physics-mini item the adapter's frames after the conditioning ones are the
    sampler's output exactly (no down/up-sampling on the way)."""
    from vidbench.models.dit.adapter import DiTAdapter, item_seed
    from vidbench.models.dit.data import from_model, to_model
    from vidbench.models.dit.rectified_flow import sample
    from vidbench.suites import get_suite

    cfg = get_config("tiny32", hidden=32, depth=2, heads=2, text_dim=16,
                     vocab=("a", "ball", "red"))
    torch.manual_seed(0)
    model = VideoDiT(cfg).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    path = tmp_path / "t32.safetensors"
    ckpt.save_model(model, path)
    item = get_suite("physics-mini").items[2]
    ad = DiTAdapter(str(path), steps="2", cfg="1.5")
    out = ad.generate_one(item)
    cond = item.conditioning_frames()
    x = sample(ad.model, [item.prompt], seed=[item_seed(item)], steps=2, cfg_scale=1.5,
               cond_frames=to_model(cond)[None], num_frames=16, device="cpu")
    assert out.params["model_shape"] == [16, 32, 32]
    assert np.array_equal(out.frames[4:], from_model(x[0])[4:])
    assert np.array_equal(out.frames[:4], cond)


def test_every_suite_prompt_in_both_languages_encodes_without_unknown_tokens(bilingual_vocab):
    from vidbench.bilingual import with_languages
    from vidbench.models.dit.model import TokenTextEncoder
    from vidbench.suites import get_suite

    cfg = get_config("tiny32")
    enc = TokenTextEncoder(bilingual_vocab, 8, cfg.text_len)
    seen_zh = 0
    for name in ("physics-mini", "physics-lang", "physics-val"):
        for it in with_languages(get_suite(name), "en,zh").items:
            assert enc.unknown_words(it.prompt) == [], (name, it.item, it.prompt)
            n = len(tokenize_words(it.prompt))
            assert 0 < n <= cfg.text_len, (it.item, n)  # never cut
            ids, mask = enc.ids([it.prompt])
            assert int(mask.sum()) == n and not bool((ids == 1).any())
            seen_zh += it.lang == "zh"
    assert seen_zh > 40
    # Chinese characters are tokens of their own, English words stay words
    assert any(len(w) == 1 and "\u4e00" <= w <= "\u9fff" for w in bilingual_vocab)
    assert {"ball", "falls"} <= set(bilingual_vocab)


def test_english_only_vocab_is_unchanged_by_the_bilingual_option():
    from vidbench.models.dit.data import scenario_vocab, training_vocab

    en = training_vocab(("en",), n_per_scenario=30)
    assert en == scenario_vocab(30)
    assert not any("\u4e00" <= ch <= "\u9fff" for w in en for ch in w)


def test_stream_mixes_languages_by_zh_frac_and_is_seeded():
    from vidbench.models.dit.data import PhysicsStream, scenario_prompt

    s = PhysicsStream(seed=3, zh_frac=0.5)
    langs = [s.lang(i) for i in range(400)]
    frac = langs.count("zh") / len(langs)
    assert 0.4 < frac < 0.6
    assert langs == [PhysicsStream(seed=3, zh_frac=0.5).lang(i) for i in range(400)]
    assert set(PhysicsStream(seed=3).lang(i) for i in range(50)) == {"en"}
    assert set(PhysicsStream(seed=3, zh_frac=1.0).lang(i) for i in range(50)) == {"zh"}
    i_zh = langs.index("zh")
    _, prompt, params = s.item(i_zh)
    assert prompt == scenario_prompt(params, "zh") != scenario_prompt(params, "en")
    # the scene of a sample does not depend on its language
    clip_en, prompt_en, _ = PhysicsStream(seed=3).item(i_zh)
    assert np.array_equal(clip_en, s.item(i_zh)[0]) and prompt_en == scenario_prompt(params)


def test_old_english_only_checkpoint_loads_with_identical_outputs(tmp_path):
    """The shipped ``tiny`` predates ``langs``: it loads as English-only, and the model built
    from its stored config gives bit-identical predictions to one whose config names
    ``langs=["en"]`` explicitly."""
    from vidbench.models.dit.adapter import DEFAULT_CHECKPOINT
    from vidbench.suites import get_suite

    meta = ckpt.read_metadata(DEFAULT_CHECKPOINT)
    raw = json.loads(meta["vidbench.dit.config"])
    assert "langs" not in raw
    model, _ = ckpt.load_model(DEFAULT_CHECKPOINT)
    assert model.cfg.langs == ("en",)
    explicit = VideoDiT(DiTConfig.from_json({**raw, "langs": ["en"]})).eval()
    explicit.load_state_dict(model.state_dict())
    prompts = [it.prompt for it in get_suite("physics-mini").items[:3]]
    assert all(not model.text.unknown_words(p) for p in prompts)
    g = torch.Generator().manual_seed(0)
    cfg = model.cfg
    x = torch.randn(3, 3, cfg.num_frames, cfg.height, cfg.width, generator=g)
    t = torch.rand(3, generator=g)
    with torch.no_grad():
        a = model(x, t, *model.encode_text(prompts), torch.full((3,), 4))
        b = explicit(x, t, *explicit.encode_text(prompts), torch.full((3,), 4))
    assert torch.equal(a, b) and float(a.abs().mean()) > 0
    # and a re-saved copy keeps the field and the weights
    ckpt.save_model(model, tmp_path / "re.safetensors")
    again, _ = ckpt.load_model(tmp_path / "re.safetensors")
    assert again.cfg == model.cfg


def test_config_rejects_unknown_languages_and_cli_checks_zh_frac():
    from vidbench.models.dit.cli import resolve_zh_frac

    with pytest.raises(ValueError, match="langs"):
        get_config("tiny", langs=("en", "fr"))
    assert resolve_zh_frac(None, ("en", "zh")) == 0.5
    assert resolve_zh_frac(None, ("en",)) == 0.0
    with pytest.raises(UserError, match="reads only en"):
        resolve_zh_frac(0.3, ("en",))
    with pytest.raises(UserError, match="between 0 and 1"):
        resolve_zh_frac(1.5, ("en", "zh"))
