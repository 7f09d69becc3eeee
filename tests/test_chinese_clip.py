"""Chinese-CLIP (metrics/backbones/chinese_clip.py) and clip_score on Chinese prompts: the
tokenizer and architecture against cn-clip's own code (imported here only, with its one
missing dependency, ``six``, stubbed: its tokenizer uses it only to tell Python 2 from 3),
seeded random weights, the official checkpoint layout, and the result contract."""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("cn_clip")

from vidbench.errors import MissingWeightsError  # noqa: E402
from vidbench.metrics.backbones import chinese_clip as cc  # noqa: E402
from vidbench.registry import VideoContext, get_metric  # noqa: E402
from vidbench.suites import get_suite  # noqa: E402
from vidbench.synthetic import moving_disc  # noqa: E402
from vidbench.video import Clip  # noqa: E402

ZH_PROMPTS = [it.prompt for n in ("physics-mini@zh", "quality-mini@zh", "physics-lang@zh",
                                  "synthetic-mini@zh") for it in get_suite(n).items]


@pytest.fixture(scope="module")
def cn_clip_ref():
    """cn-clip's own modules (tokenizer, CLIP class), importable with ``six`` stubbed."""
    stub = types.SimpleNamespace(PY3=True, PY2=False, text_type=str, binary_type=bytes)
    had = "six" in sys.modules
    sys.modules.setdefault("six", stub)
    try:
        from cn_clip.clip import tokenize
        from cn_clip.clip.model import CLIP
    finally:
        if not had and sys.modules.get("six") is stub:
            del sys.modules["six"]
    return tokenize, CLIP


def test_tokenizer_matches_cn_clip_on_every_chinese_prompt_and_edge_cases(cn_clip_ref):
    tokenize, _ = cn_clip_ref
    texts = ZH_PROMPTS + ["Héllo, WORLD!! 你好，世界。 naïve café 123abc", "x" * 300, " \t",
                          "ｆｕｌｌ-width ＡＢＣ？", "单摆" * 40, ""]
    mine, cut = cc.tokenizer().encode(texts)
    assert torch.equal(mine, tokenize(texts))
    assert cut[texts.index("单摆" * 40)] and not cut[0]
    tok = cc.tokenizer()
    assert tok.basic("红色Ball，弹跳!") == ["红", "色", "ball", "，", "弹", "跳", "!"]


def test_architecture_matches_cn_clip_outputs_and_checkpoint_layout(cn_clip_ref, tmp_path):
    """cn-clip's CLIP (random init), saved the way the official files are (a dict whose
    state_dict has 'module.' keys and a BERT pooler), loads strictly through vidbench's
    safe loader and gives the same embeddings."""
    from vidbench.weights import load_state_dict, state_dict_mismatch

    tokenize, CLIP = cn_clip_ref
    torch.manual_seed(3)
    ref = CLIP(**cc.model_config("tiny")).eval().float()
    sd = {f"module.{k}": v for k, v in ref.state_dict().items()}
    sd["module.bert.pooler.dense.weight"] = torch.zeros(64, 64)  # dropped by the loader
    torch.save({"epoch": 3, "step": 10, "name": "test", "state_dict": sd}, tmp_path / "c.pt")
    mine = cc.build("tiny", seed=0)
    loaded = cc.official_state_dict(load_state_dict(tmp_path / "c.pt"))
    assert state_dict_mismatch(mine.state_dict(), loaded) == ""
    mine.load_state_dict(loaded, strict=True)
    ids = tokenize(ZH_PROMPTS[:6])
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(mine.encode_text(ids), ref.encode_text(ids), atol=1e-5)
        assert torch.allclose(mine.encode_image(x), ref.encode_image(x), atol=1e-5)


def test_seeded_random_init_is_deterministic_and_leaves_the_global_rng():
    state = torch.random.get_rng_state()
    a, b, c = cc.build("tiny", 7), cc.build("tiny", 7), cc.build("tiny", 8)
    assert torch.equal(torch.random.get_rng_state(), state)
    pa, pb, pc = (dict(m.named_parameters()) for m in (a, b, c))
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert not torch.equal(pa["text_projection"], pc["text_projection"])


def test_missing_official_weights_name_the_file_and_url(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDBENCH_HOME", str(tmp_path))
    monkeypatch.setenv("VIDBENCH_OFFLINE", "1")
    with pytest.raises(MissingWeightsError) as e:
        cc.load_chinese_clip("ViT-B-16")
    msg = str(e.value)
    assert "clip_cn_vit-b-16.pt" in msg and "huggingface.co/OFA-Sys" in msg
    from vidbench.weights import load_manifest, used_by

    spec = load_manifest()["chinese-clip-vit-b-16"]
    assert spec.sha256 is None and spec.license.startswith("MIT")
    assert "clip_score" in used_by()[spec.name]


def _ctx(prompt: str) -> VideoContext:
    frames = moving_disc(8, 64, 8.0, radius=12.0, color=(230, 60, 40), texture=1.0, seed=2)
    return VideoContext(Clip.from_array(frames, 8.0), prompt=prompt, video="v.mp4")


def test_clip_score_scores_chinese_prompts_with_chinese_clip():
    m = get_metric("clip_score", random_weights=True, arch="tiny", seed=1)
    en = m.score(_ctx("A red ball moves right across a dark background. Static camera."))
    zh1 = m.score(_ctx(ZH_PROMPTS[0]))
    zh2 = m.score(_ctx(ZH_PROMPTS[1]))
    assert "scorer" not in en.details  # English: exactly as before
    assert zh1.details["scorer"] == "chinese-clip-tiny-random1"
    assert zh1.details["scorer_weights"] is None and zh1.details["arch"] == "tiny"
    assert 0.0 <= zh1.value <= 100.0 and zh1.value != zh2.value  # the prompt matters
    # the same number from the Chinese-CLIP embeddings directly (cos of L2-normed vectors)
    bb = cc.load_chinese_clip("tiny", random_weights=True, seed=1)
    from vidbench.metrics.backbones.clip import clip_preprocess

    ctx = _ctx(ZH_PROMPTS[0])
    frames = ctx.view(m.view_spec()).frames
    img = bb.model.encode_image(clip_preprocess(frames)).detach()
    txt = bb.model.encode_text(cc.tokenizer().encode([ZH_PROMPTS[0]])[0]).detach()[0]
    cos = torch.nn.functional.cosine_similarity(img, txt[None], dim=-1).double().numpy()
    assert zh1.value == pytest.approx(100 * np.maximum(cos, 0).mean(), abs=1e-4)
    vb = get_metric("clip_score", mode="vbench", random_weights=True, arch="tiny")
    assert math.isnan(vb.score(_ctx(ZH_PROMPTS[0])).value)


def test_english_protocol_is_unchanged_and_a_chinese_run_names_its_text_model():
    from vidbench.results import _name_scorers, language_results

    m = get_metric("clip_score", random_weights=True, arch="tiny", seed=5)
    assert "zh_arch" not in m.protocol()["options"]
    other = get_metric("clip_score", random_weights=True, arch="tiny", seed=5,
                       zh_arch="ViT-L-14")
    assert other.protocol_hash() != m.protocol_hash()
    en_items = get_suite("synthetic-mini").items[:3]
    zh_items = get_suite("synthetic-mini@zh").items[:3]
    recs, langs_of = [], {}
    for it in en_items + zh_items:
        s = m.score(_ctx(it.prompt))
        recs.append({"item": it.item, "video": f"{it.item}.mp4", "error": None,
                     "scores": {"clip_score": s.value}, "details": {"clip_score": s.details}})
        langs_of[it.item] = (it.lang or "en", it.pair or it.item)
    data = {"metrics": {"clip_score": {"protocol": m.protocol_hash(), "per_video": "scores",
                                       "kind": "per_video", "weights": {}}},
            "provenance": {"protocol": {"clip_score": m.protocol()}, "weights": {}}}
    _name_scorers(data, {"clip_score": {"chinese-clip-tiny-random5": None}})
    e = data["metrics"]["clip_score"]
    assert e["text_models"] == ["chinese-clip-tiny-random5"] and e["comparable"] is False
    assert e["protocol"] != m.protocol_hash()
    assert data["provenance"]["protocol"]["clip_score"]["text_models"] == e["text_models"]
    per = language_results(recs, langs_of, data["metrics"])[1]["clip_score"]
    assert per["gap"] is None and "scorer differs by language" in per["gap_reason"]
    assert per["per_language"]["zh"]["scorer"] == "chinese-clip-tiny-random5"
    assert per["per_language"]["en"]["n"] == 3


@pytest.mark.slow
def test_vit_b_16_architecture_random_init_scores_and_matches_cn_clip_layout(cn_clip_ref):
    """The real Chinese-CLIP ViT-B/16 architecture (188M parameters), randomly initialised
    from a fixed seed, has exactly the official model's parameter names and shapes and
    scores a Chinese prompt through clip_score."""
    _, CLIP = cn_clip_ref
    mine = cc.build("ViT-B-16", seed=0)
    ref = {k: tuple(v.shape) for k, v in CLIP(**cc.model_config("ViT-B-16")).state_dict().items()}
    assert {k: tuple(v.shape) for k, v in mine.state_dict().items()} == ref
    del mine
    m = get_metric("clip_score", random_weights=True, num_frames=2)
    s = m.score(_ctx(ZH_PROMPTS[0]))
    assert s.details["scorer"] == "chinese-clip-ViT-B-16-random0" and math.isfinite(s.value)


@pytest.mark.slow
def test_scored_bilingual_run_reports_clip_score_per_language_without_a_gap(tmp_path,
                                                                             monkeypatch):
    """``score`` + the language step on a generated EN/ZH run: clip_score per language, no
    gap (two scorers), the Chinese text model named, and a protocol of its own; the English
    half scored alone keeps the English-only protocol and no language fields."""
    import json

    from vidbench.adapters import get_model
    from vidbench.bilingual import with_languages
    from vidbench.generate import generate
    from vidbench.metrics.clip_score import ClipScore
    from vidbench.results import add_language_results
    from vidbench.runner import ScoreConfig, score
    from vidbench.suites import Suite

    monkeypatch.setattr(ClipScore, "default_options",
                        {**ClipScore.default_options, "arch": "tiny", "seed": 1})
    base = get_suite("synthetic-mini")
    small = Suite("synthetic-mini", base.description, base.items[:3])
    out = {}
    for name, suite in (("both", with_languages(small, "en,zh")), ("en", small)):
        d = tmp_path / name
        rep = generate(get_model("synthetic"), suite, d, progress=False)
        cfg = ScoreConfig(metrics=["clip_score"], random_weights=True, progress=False,
                          feature_cache=False)
        score(rep.manifest, d, cfg)
        changed = add_language_results(d, rep.manifest, seed=0)
        assert (changed is None) == (name == "en")
        out[name] = json.loads((d / "result.json").read_text(encoding="utf-8"))
    both, en = out["both"]["metrics"]["clip_score"], out["en"]["metrics"]["clip_score"]
    assert "per_language" not in en and "languages" not in out["en"]
    assert both["gap"] is None and "scorer differs" in both["gap_reason"]
    assert both["per_language"]["en"]["n"] == both["per_language"]["zh"]["n"] == 3
    assert both["per_language"]["zh"]["scorer"] == "chinese-clip-tiny-random1"
    assert both["text_models"] == ["chinese-clip-tiny-random1"]
    assert both["protocol"] != en["protocol"]
    assert out["both"]["provenance"]["protocol"]["clip_score"]["text_models"]
