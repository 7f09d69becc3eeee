"""Paired language twins of the built-in suites and the language-sensitive physics items
(docs/bilingual.md)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from vidbench.bilingual import parse_languages, suite_languages
from vidbench.cli import main
from vidbench.errors import ManifestError, UserError
from vidbench.manifest import ManifestEntry, parse_manifest_lines, write_manifest
from vidbench.scenarios.language import KINDS, read_prompt, variants
from vidbench.suites import get_suite, suite_names

#: every suite vidbench writes itself (vbench-full is VBench's own English prompt file)
BUILTIN_SUITES = [n for n in suite_names() if n != "vbench-full"]

CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]")


@pytest.mark.parametrize("name", sorted(BUILTIN_SUITES))
def test_every_builtin_suite_has_a_paired_chinese_twin(name):
    en = get_suite(name)
    both = get_suite(f"{name}@en,zh")
    zh = [it for it in both.items if it.lang == "zh"]
    en2 = [it for it in both.items if it.lang == "en"]
    assert len(zh) == len(en2) == len(en.items)
    for a, b, c in zip(en.items, en2, zh, strict=True):
        assert b.item == a.item and b.prompt == a.prompt  # English side unchanged
        assert b.pair == c.pair == a.item and c.item != a.item
        assert (c.seed, c.num_frames, c.height, c.width, c.fps) == \
            (a.seed, a.num_frames, a.height, a.width, a.fps)
        assert json.dumps(c.meta, sort_keys=True) == json.dumps(a.meta, sort_keys=True)
        assert CJK.search(c.prompt) and not LATIN.search(c.prompt), c.prompt
    if en.items[0].conditioning is not None:
        for a, c in list(zip(en.items, zh, strict=True))[:3]:
            assert np.array_equal(a.conditioning_frames(), c.conditioning_frames())
    # one English prompt, one Chinese prompt: the twins are as distinct as the originals
    assert len({it.prompt for it in zh}) == len({it.prompt for it in en.items})


def test_english_only_suites_are_unchanged():
    s, s_en = get_suite("physics-mini"), get_suite("physics-mini@en")
    assert s_en.name == "physics-mini" and s.digest() == s_en.digest()
    assert all("lang" not in it.to_json() and "pair" not in it.to_json() for it in s.items)
    assert get_suite("physics-mini@zh").digest() != s.digest()


def test_physics_vocabulary_in_chinese_prompts():
    zh = {it.meta["scenario"]: it.prompt for it in get_suite("physics-mini@zh").items}
    words = {"free_fall": "自由落体", "projectile": "抛物线", "bounce": "弹跳",
             "collision": "碰撞", "pendulum": "单摆", "incline": "斜面",
             "uniform_motion": "匀速"}
    for scen, word in words.items():
        assert word in zh[scen], (scen, zh[scen])
    side = {"右": 1, "左": -1}
    for it in get_suite("physics@zh").items:
        p = it.meta["physics"]
        if p["scenario"] in ("uniform_motion", "projectile"):  # the direction is the truth's
            said = [v for k, v in side.items() if k in it.prompt]
            assert said == [1 if p["vx0"] > 0 else -1], it.prompt


def test_language_selection_errors():
    assert parse_languages("zh, en,zh") == ("zh", "en")
    for bad in ("fr", "", "en;zh"):
        with pytest.raises(UserError):
            parse_languages(bad)
    with pytest.raises(UserError, match="no language twins"):
        from vidbench.bilingual import with_languages
        from vidbench.suites import Suite

        with_languages(Suite("plugin", "", []), "zh")
    assert suite_languages("physics-mini") == ("en", "zh")
    assert suite_languages("vbench:x.txt") == ("en",)


def test_cli_lists_languages_and_selects_twins(capsys):
    assert main(["suites", "list"]) == 0
    out = capsys.readouterr().out
    assert all("[en,zh]" in ln for ln in out.splitlines() if ln.split()[0] in BUILTIN_SUITES)
    assert main(["suites", "show", "synthetic-mini", "--lang", "zh"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("# synthetic-mini@zh")
    recs = [json.loads(x) for x in lines[1:]]
    assert {r["lang"] for r in recs} == {"zh"} and recs[0]["pair"] == "syn-00"
    assert main(["suites", "show", "physics-mini@zh", "--lang", "en"]) == 2


def test_manifest_lang_and_pair_round_trip(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x")
    (tmp_path / "b.mp4").write_bytes(b"x")
    write_manifest(tmp_path / "manifest.jsonl", [
        ManifestEntry(video="a.mp4", prompt="A red ball.", item="a"),
        ManifestEntry(video="b.mp4", prompt="红色小球。", item="a-zh", lang="zh", pair="a")])
    text = (tmp_path / "manifest.jsonl").read_text(encoding="utf-8")
    first, second = (json.loads(x) for x in text.splitlines())
    assert "lang" not in first and "pair" not in first  # English-only lines unchanged
    assert second["lang"] == "zh" and "红色小球" in text  # written as UTF-8, not escaped
    es = parse_manifest_lines(text.encode(), tmp_path, "m.jsonl")
    assert (es[1].lang, es[1].pair, es[0].lang) == ("zh", "a", None)
    assert "extra" not in es[1].meta
    for bad, what in (('"lang": 5', "lang"), ('"lang": "../x"', "lang"), ('"pair": ""', "pair")):
        line = '{"video": "a.mp4", ' + bad + "}\n"
        with pytest.raises(ManifestError, match=rf"m.jsonl:2: \"{what}\""):
            parse_manifest_lines(b'{"video": "b.mp4"}\n' + line.encode(), tmp_path, "m.jsonl")


# ------------------------------------------------------------- language-sensitive items


def test_language_items_share_conditioning_and_differ_after():
    from vidbench.scenarios import render
    from vidbench.scenarios.language import _COND

    s = get_suite("physics-lang")
    assert {it.meta["language"]["kind"] for it in s.items} == set(KINDS)
    for kind in KINDS:
        a, b = variants(kind, 0).values()
        fa, fb = render(a, 16, 32, 8.0), render(b, 16, 32, 8.0)
        k = _COND[kind]
        assert np.array_equal(fa[:k], fb[:k])  # the frames cannot tell the variants apart
        assert np.abs(fa[k:].astype(int) - fb[k:]).max() > 100  # the prompt can


def test_prompt_reader_reads_both_languages():
    both = get_suite("physics-lang@en,zh")
    for it in both.items:
        lang = it.meta["language"]
        assert read_prompt(lang["kind"], it.prompt, list(lang["variants"])) == lang["answer"]
        assert read_prompt(lang["kind"], "", list(lang["variants"])) is None


def _scores(items, prompts, **options):
    from vidbench.metrics.physics_scenario import score_frames
    from vidbench.models.baselines import BaselineAdapter

    model = BaselineAdapter("prompt-following", **options)
    out = []
    for it, prompt in zip(items, prompts, strict=True):
        g = model.generate_one(type(it)(**{**it.__dict__, "prompt": prompt}))
        t = np.arange(len(g.frames)) / g.fps
        out.append(score_frames(g.frames, t, it.meta["physics"], meta=it.meta,
                                variance_draws=1).value)
    return np.array(out)


def test_wrong_or_missing_prompt_scores_clearly_lower():
    """The right prompt gives the scene the truth follows; the twin variant's prompt (the
    wrong one), no prompt, or ignoring the prompt cost what physics_scenario detects."""
    items = get_suite("physics-lang@zh").items  # Chinese prompts: the reader is bilingual
    pairs: dict[tuple, list] = {}
    for it in items:
        pairs.setdefault((it.meta["language"]["kind"], it.seed), []).append(it)
    wrong = {it.item: other.prompt for a, b in pairs.values() for it, other in ((a, b), (b, a))}
    right = _scores(items, [it.prompt for it in items])
    swapped = _scores(items, [wrong[it.item] for it in items])
    none = _scores(items, ["" for _ in items])
    blind = _scores(items, [it.prompt for it in items], ignore_prompt="1")
    assert right.min() > 0.9
    assert swapped.max() < 0.7 and right.mean() - swapped.mean() > 0.5
    assert np.allclose(none, blind)  # without a prompt it can only guess the first scene
    assert right.mean() - none.mean() > 0.25 and (none <= right + 1e-9).all()


def test_dit_tokenizer_reads_chinese_characters_and_english_as_before():
    """The reference DiT's word tokenizer takes each Chinese character as a token; every
    English prompt of every suite gives the same token ids from the shipped checkpoint as
    the English-only rule did (so its English videos cannot change)."""
    re_old = re.compile(r"[a-z0-9]+")
    pytest.importorskip("torch")
    from vidbench.models.dit.checkpoint import load_model
    from vidbench.models.dit.model import TokenTextEncoder, tokenize_words

    assert tokenize_words("红色小球，A red ball!") == ["红", "色", "小", "球", "a", "red", "ball"]
    from vidbench.models.dit.adapter import DEFAULT_CHECKPOINT

    model, _ = load_model(DEFAULT_CHECKPOINT)
    enc = next(m for m in model.modules() if isinstance(m, TokenTextEncoder))
    for name in BUILTIN_SUITES:
        for it in get_suite(name).items:
            ids, _ = enc.ids([it.prompt])
            old = [enc.index.get(w, 1) for w in re_old.findall(it.prompt.lower())]
            old = (old[: enc.max_len] or [1])
            assert ids[0, : len(old)].tolist() == old and int((ids[0] != 0).sum()) == len(old)
    zh = get_suite("physics-mini@zh").items[1].prompt
    assert len(enc.unknown_words(zh)) == len([c for c in zh if CJK.match(c)])
