"""The shipped bilingual checkpoint ``tiny-bi`` (tiny warm-started and fine-tuned on English
and Chinese prompts): it is selectable, it is not the default, and the evaluation figures
committed beside it (``tiny-bi_eval.json``, written by models/dit/compare.py from
``vidbench run`` folders) were measured on these weights and support what the docs claim."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidbench.fileio import sha256_file
from vidbench.models.dit.shipped import CHECKPOINT_DIR

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = CHECKPOINT_DIR / "tiny-bi.safetensors"
EVAL = CHECKPOINT_DIR / "tiny-bi_eval.json"


@pytest.fixture(scope="module")
def ev() -> dict:
    return json.loads(EVAL.read_text())


def _fmt(x: dict) -> str:
    lo, hi = x["ci95"]
    return f"{x['value']:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def test_figures_were_measured_on_the_committed_weights(ev):
    sha_bi = sha256_file(WEIGHTS)
    sha_tiny = sha256_file(CHECKPOINT_DIR / "tiny.safetensors")
    assert WEIGHTS.stat().st_size <= 10 * 2 ** 20
    for suite, r in ev["suites"].items():
        assert r["runs"]["b"]["checkpoint_sha256"] == [sha_bi], suite
        assert r["runs"]["a"]["checkpoint_sha256"] == [sha_tiny], suite
        assert r["runs"]["b"]["model"] == "dit:tiny-bi" and r["runs"]["a"]["model"] == "dit:tiny"


def test_language_sensitive_items_gap_closed_and_the_ablation_gap_detected(ev):
    r = ev["suites"][ev["language_sensitive"]]
    assert ev["language_sensitive"] == "physics-lang"
    a, b = r["runs"]["a"]["gap"], r["runs"]["b"]["gap"]
    assert a["n_pairs"] == b["n_pairs"] == 16 and a["n_unpaired"] == b["n_unpaired"] == 0
    assert a["ci95"][1] < 0  # the English-only ablation: significantly worse in Chinese
    assert b["ci95"][0] <= 0 <= b["ci95"][1]  # the bilingual checkpoint: not significant
    # and the gap did change: the difference of the two gaps, paired, excludes 0
    assert r["gap_change_b_minus_a"]["ci95"][0] > 0


def test_every_suite_gap_not_significant_and_english_not_lost(ev):
    for suite, r in ev["suites"].items():
        b = r["runs"]["b"]["gap"]
        assert b["ci95"][0] <= 0 <= b["ci95"][1], suite
        assert r["runs"]["a"]["gap"]["ci95"][1] < 0, suite
        en = r["diff_b_minus_a"]["en"]
        assert en["ci95"][1] >= 0, suite  # English not significantly worse than tiny's
        assert en["n"] == r["runs"]["a"]["per_language"]["en"]["n"]


def test_checkpoint_json_summary_matches_the_eval_file(ev):
    meta = json.loads((CHECKPOINT_DIR / "tiny-bi.json").read_text())
    for suite, r in ev["suites"].items():
        got = meta["eval_summary"][suite]
        assert got["tiny_bi_gap"]["value"] == pytest.approx(r["runs"]["b"]["gap"]["value"],
                                                            abs=1e-4)
        assert got["tiny_gap"]["value"] == pytest.approx(r["runs"]["a"]["gap"]["value"],
                                                         abs=1e-4)


def test_docs_quote_the_committed_figures(ev):
    text = (ROOT / "docs" / "bilingual.md").read_text()
    ref = (ROOT / "docs" / "reference-model.md").read_text()
    for suite, r in ev["suites"].items():
        for label in ("a", "b"):
            assert _fmt(r["runs"][label]["gap"]) in text, (suite, label)
        assert _fmt(r["diff_b_minus_a"]["en"]) in text, suite
    assert "tiny-bi" in ref


def test_tiny_bi_is_selectable_by_name_and_tiny_stays_the_default():
    from vidbench.adapters import get_model
    from vidbench.models.dit.data import suite_prompts

    ad = get_model("dit:tiny-bi?steps=1")
    assert ad.model_id == "dit:tiny-bi" and ad.path == WEIGHTS
    cfg = ad.model.cfg
    assert cfg.name == "tiny-bi" and cfg.langs == ("en", "zh") and cfg.text_len == 48
    assert all(not ad.model.text.unknown_words(p) for p in suite_prompts(("en", "zh")))
    meta = json.loads((CHECKPOINT_DIR / "tiny-bi.json").read_text())
    assert meta["init"]["init_from"].endswith("tiny.safetensors")
    assert meta["step"] > 0 and meta["clips"] == meta["step"] * meta["batch"]
    default = get_model("dit?steps=1")
    assert default.model_id == "dit:tiny" and default.model.cfg.name == "tiny"
