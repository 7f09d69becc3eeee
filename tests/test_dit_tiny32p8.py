"""The committed ``tiny32-p8`` checkpoint (tiny-bi lifted to physics-mini's native 32x32 and
fine-tuned, issue 20): the figures committed beside it (``tiny32-p8_eval.json``, from
``vidbench run`` folders through models/dit/evaluate.py and models/dit/bar.py) were measured
on these weights, it beats the shipped default on the validation seeds (the condition for
committing it), and it is the default only if it meets issue 20's bar, which it does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidbench.fileio import sha256_file
from vidbench.models.dit import shipped
from vidbench.models.dit.shipped import CHECKPOINT_DIR

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = CHECKPOINT_DIR / "tiny32-p8.safetensors"
EVAL = CHECKPOINT_DIR / "tiny32-p8_eval.json"
THRESHOLDS = {"physics_scenario_margin": 0.10, "physics_consistency_vs_cv": 0.0,
              "direction": 0.9, "size": 0.8}


@pytest.fixture(scope="module")
def ev() -> dict:
    return json.loads(EVAL.read_text())


def test_figures_were_measured_on_the_committed_weights(ev):
    sha = sha256_file(WEIGHTS)
    assert WEIGHTS.stat().st_size <= 10 * 2 ** 20
    assert ev["checkpoint_sha256"] == sha
    assert ev["bar_run_checkpoint_sha256"] == [sha]  # every video of the bar run
    meta = json.loads((CHECKPOINT_DIR / "tiny32-p8.json").read_text())
    assert meta["config"]["name"] == "tiny32-p8" and meta["config"]["height"] == 32
    assert meta["config"]["noise_block"] == 2 and meta["config"]["patch"] == [1, 8, 8]
    assert meta["clips"] == meta["step"] * meta["batch"]


def test_bar_verdict_follows_from_the_figures_and_the_issue_thresholds(ev):
    crit = {c["criterion"]: c for c in ev["bar"]["criteria"]}
    assert set(crit) == set(THRESHOLDS)
    for name, c in crit.items():
        assert c["threshold"] == THRESHOLDS[name]
        assert c["met"] == (c["value"] >= THRESHOLDS[name]), name
        lo, hi = c["ci95"]
        assert lo <= c["value"] <= hi and c["n"] == 12, name
    assert ev["bar_met"] == all(c["met"] for c in crit.values())
    assert ev["bar"]["suite"] == "physics-mini" and ev["bar"]["best_baseline"] == "copy-last"
    # the committed standing: the margin over copy-last is met, the rest is not
    assert crit["physics_scenario_margin"]["met"] and not ev["bar_met"]


def test_it_beats_the_shipped_default_on_validation_with_guidance_chosen_there(ev):
    v = ev["validation"]
    assert v["suite"] == "physics-val@en,zh" and v["items"] == 48
    runs = v["runs"]
    ours, tiny = runs["tiny32-p8 cfg1.5"], runs["dit (shipped tiny, cfg2)"]
    for q in ("physics_scenario", "physics_consistency", "size"):
        assert ours["en"][q]["value"] > tiny["en"][q]["value"], q
        assert ours["both"][q]["ci95"][0] > tiny["both"][q]["value"], q
    # the chosen guidance is within 0.011 of the best swept setting on each bar quantity
    swept = [r for k, r in runs.items() if k.startswith("tiny32-p8 cfg")]
    for q in ("physics_scenario", "physics_consistency", "direction", "size"):
        best = max(r["both"][q]["value"] for r in swept)
        assert ours["both"][q]["value"] >= best - 0.011, q
    assert ev["model_id"] == "dit:tiny32-p8?cfg=1.5"


def test_default_only_when_the_bar_is_met(ev):
    assert "tiny32-p8" in shipped.shipped_names()
    assert (shipped.DEFAULT_NAME == "tiny32-p8") == ev["bar_met"]


def test_docs_quote_the_committed_bar_figures(ev):
    text = (ROOT / "docs" / "reference-model.md").read_text()
    for c in ev["bar"]["criteria"]:
        lo, hi = c["ci95"]
        f = "+.3f" if c["difference"] else ".3f"
        assert f"{c['value']:{f}} [{lo:{f}}, {hi:{f}}]" in text, c["criterion"]
