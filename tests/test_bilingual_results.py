"""Per-language results, the paired EN/ZH gap, its leaderboard columns and its gate."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vidbench.errors import UserError
from vidbench.results import ResultRecord, language_results


def _recs(values: dict[str, list[float]], metric: str = "m", scorer: dict | None = None):
    """Records and the item -> (lang, pair) map of items p0..pN in each language."""
    recs, langs_of = [], {}
    for lang, vals in values.items():
        for i, v in enumerate(vals):
            item = f"p{i}" if lang == "en" else f"p{i}-{lang}"
            langs_of[item] = (lang, f"p{i}")
            det = {"scorer": scorer[lang]} if scorer else {}
            recs.append({"video": f"{item}.mp4", "item": item, "error": None,
                         "scores": {metric: v}, "details": {metric: det}})
    return recs, langs_of


M = {"m": {"kind": "per_video", "per_video": "scores", "value": 0.0}}


def test_gap_is_the_paired_mean_difference_with_a_paired_ci():
    rng = np.random.default_rng(0)
    en = rng.uniform(0.2, 0.9, 40)  # items differ a lot; the language shift is small
    zh = en - 0.05 + rng.normal(0, 0.01, 40)
    recs, langs_of = _recs({"en": list(en), "zh": list(zh)})
    langs, per = language_results(recs, langs_of, M, seed=3)
    g = per["m"]["gap"]
    assert langs["langs"] == ["en", "zh"] and langs["n_pairs"] == 40
    assert g["value"] == pytest.approx(float(np.mean(zh - en)), abs=1e-12)
    assert g["n_pairs"] == 40 and g["lang"] == "zh" and g["base"] == "en"
    lo, hi = g["ci95"]
    assert lo < g["value"] < hi < 0  # detected
    # pairing removes the item-to-item spread: the per-language CIs are far wider
    pl = per["m"]["per_language"]
    assert pl["en"]["value"] == pytest.approx(en.mean()) and pl["zh"]["n"] == 40
    assert (hi - lo) < 0.2 * (pl["en"]["ci95"][1] - pl["en"]["ci95"][0])


def test_no_shift_gives_a_ci_around_zero_and_unpaired_items_are_counted():
    rng = np.random.default_rng(1)
    en = rng.uniform(0, 1, 30)
    zh = en + rng.normal(0, 0.05, 30)
    recs, langs_of = _recs({"en": list(en), "zh": list(zh[:25]) + [math.nan] * 5})
    g = language_results(recs, langs_of, M)[1]["m"]["gap"]
    assert g["ci95"][0] < 0 < g["ci95"][1]
    assert (g["n_pairs"], g["n_unpaired"]) == (25, 5)


def test_no_gap_where_the_scorer_differs_by_language_or_the_metric_is_set_level():
    recs, langs_of = _recs({"en": [0.3, 0.4], "zh": [0.2, 0.1]},
                           scorer={"en": "openai-clip", "zh": "chinese-clip"})
    metrics = {"m": M["m"], "fvd": {"kind": "set", "value": 1.0}}
    per = language_results(recs, langs_of, metrics)[1]
    assert per["m"]["gap"] is None and "scorer differs by language" in per["m"]["gap_reason"]
    assert per["m"]["per_language"]["zh"]["scorer"] == "chinese-clip"
    assert per["m"]["per_language"]["en"]["value"] == pytest.approx(0.35)
    assert per["fvd"]["gap"] is None and "set-level" in per["fvd"]["gap_reason"]
    same = _recs({"en": [0.3, 0.4], "zh": [0.2, 0.1]}, scorer={"en": "x", "zh": "x"})
    assert language_results(*same, M)[1]["m"]["gap"]["value"] == pytest.approx(-0.2)


def test_single_language_runs_are_left_alone():
    recs, langs_of = _recs({"en": [0.3, 0.4]})
    assert language_results(recs, {k: (None, None) for k in langs_of}, M) is None
    base = {"schema": "vidbench.result/1", "model": "a", "suite": "s",
            "metrics": {"m": {"value": 0.5, "ci95": [0.4, 0.6], "n": 2,
                              "higher_is_better": True}}}
    assert "languages" not in ResultRecord.from_json(base).to_json()


def test_result_contract_round_trips_and_refuses_a_bad_gap():
    entry = {"value": 0.5, "ci95": [0.4, 0.6], "n": 2, "higher_is_better": True,
             "per_language": {"en": {"value": 0.6}, "zh": {"value": 0.4}},
             "gap": {"value": -0.2, "ci95": [-0.3, -0.1], "n_pairs": 2, "lang": "zh",
                     "base": "en"}, "gap_reason": None}
    data = {"schema": "vidbench.result/1", "model": "a", "suite": "s@en,zh",
            "metrics": {"m": entry}, "languages": {"langs": ["en", "zh"], "base": "en"}}
    rec = ResultRecord.from_json(data)
    out = rec.to_json()
    assert out["languages"]["langs"] == ["en", "zh"]
    assert out["metrics"]["m"]["gap"]["value"] == -0.2
    assert rec.metrics["m"].gap.ci95 == (-0.3, -0.1)
    for bad, where in (({"value": "x"}, "gap.value"), ({"value": 0.1, "ci95": [0]}, "gap.ci95"),
                       ({"value": 0.1, "n_pairs": -1}, "gap.n_pairs"), ([1], "gap")):
        with pytest.raises(UserError, match=rf"metrics\.m\.{where}"):
            ResultRecord.from_json({**data, "metrics": {"m": {**entry, "gap": bad}}}, "r.json")


# ------------------------------------------------ end to end: generate, score, table, gate


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """physics-lang (its first 8 items) in EN and ZH by a model that reads both languages
    and by one that reads English only."""
    from vidbench.adapters import get_model
    from vidbench.bilingual import with_languages
    from vidbench.generate import generate
    from vidbench.results import add_language_results
    from vidbench.runner import ScoreConfig, score
    from vidbench.suites import Suite, get_suite

    full = get_suite("physics-lang")
    items = [it for it in full.items if it.seed == 0]
    suite = with_languages(Suite("physics-lang", full.description, items), "en,zh")
    out = {}
    for name, spec in (("both", "baseline:prompt-following"),
                       ("en_only", "baseline:prompt-following?understands=en")):
        d = tmp_path_factory.mktemp(name)
        rep = generate(get_model(spec), suite, d)
        cfg = ScoreConfig(metrics=["physics_scenario"], progress=False, feature_cache=False)
        plain = score(rep.manifest, d, cfg)
        assert "languages" not in plain
        res = add_language_results(d, rep.manifest, seed=0)
        assert json.loads((d / "result.json").read_text())["languages"] == res["languages"]
        out[name] = d / "result.json"
    return out


@pytest.mark.slow
def test_english_only_model_has_a_significant_negative_gap(runs):
    both = json.loads(runs["both"].read_text())["metrics"]["physics_scenario"]
    en_only = json.loads(runs["en_only"].read_text())["metrics"]["physics_scenario"]
    assert both["gap"]["value"] == pytest.approx(0.0, abs=1e-9)  # same videos in both
    assert both["gap"]["n_pairs"] == 8
    assert en_only["gap"]["ci95"][1] < 0  # ZH prompts unread: detected, with its CI
    assert en_only["per_language"]["en"]["value"] == pytest.approx(
        both["per_language"]["en"]["value"])


@pytest.mark.slow
def test_leaderboard_gap_columns_and_check_gate(runs, tmp_path):
    from vidbench.cli import main
    from vidbench.leaderboard.cli import build_leaderboard

    build_leaderboard([runs["both"], runs["en_only"]], tmp_path / "lb",
                      formats=("md", "csv", "html"), plots=False)
    md = (tmp_path / "lb" / "leaderboard.md").read_text(encoding="utf-8")
    assert "## language gap" in md and "gap:physics\\_scenario" in md
    page = (tmp_path / "lb" / "leaderboard.html").read_text(encoding="utf-8")
    assert '<table class="lb language-gap">' in page and "<th>gap:physics_scenario</th>" in page
    assert "(8 pairs)" in page and "<th>physics_scenario [zh]</th>" in page
    assert "(8 pairs)" in md and "physics\\_scenario \\[zh\\]" in md
    csv = (tmp_path / "lb" / "leaderboard.csv").read_text(encoding="utf-8")
    assert "gap:physics_scenario" in csv and "physics_scenario [zh]" in csv
    gate = ["check", str(runs["en_only"]), "--baseline", str(runs["both"]),
            "--tolerance", "physics_scenario=abs:1"]
    assert main([*gate, "--tolerance", "gap:physics_scenario=abs:0.05"]) == 1
    assert main([*gate, "--tolerance", "gap:physics_scenario=abs:1"]) == 0
    assert main(["check", str(runs["both"]), "--baseline", str(runs["both"]),
                 "--tolerance", "gap:physics_scenario=abs:0.05"]) == 0
    assert main(["check", str(runs["both"]), "--baseline", str(runs["both"]),
                 "--tolerance", "gap:fvd=abs:0.05"]) == 2


def test_leaderboard_tolerates_hostile_language_fields(tmp_path):
    """per_language from someone else's result.json: a list, odd keys, formula-looking
    language tags; the tables build, cells are escaped, nothing raises."""
    from vidbench.leaderboard.cli import build_leaderboard
    from vidbench.leaderboard.testing import metric_entry, write_result

    ok = metric_entry([0.5, 0.6, 0.7])
    bad = {**ok, "per_language": {"=HYPERLINK(1)": {"value": 0.4, "ci95": ["x", None]},
                                  "zh": [1, 2], "x" * 50: {"value": 1}},
           "gap": {"value": -0.1, "ci95": [-0.2, 0.0], "n_pairs": 3},
           "gap_reason": None}
    a = write_result(tmp_path / "a", "a", {"m": bad})
    b = write_result(tmp_path / "b", "b", {"m": {**ok, "per_language": [1, 2]}})
    build_leaderboard([a, b], tmp_path / "lb", formats=("md", "csv", "html"), plots=False)
    md = (tmp_path / "lb" / "leaderboard.md").read_text(encoding="utf-8")
    page = (tmp_path / "lb" / "leaderboard.html").read_text(encoding="utf-8")
    assert "<th>gap:m</th>" in page and "x" * 50 not in page and "<th>=HYPERLINK" not in page
    csv = (tmp_path / "lb" / "leaderboard.csv").read_text(encoding="utf-8")
    assert "gap:m" in md and "x" * 50 not in md
    assert "\n=HYPERLINK" not in csv and ",=HYPERLINK" not in csv
