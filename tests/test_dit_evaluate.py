"""models/dit/evaluate.py on the runner path: task metrics from a ``vidbench run`` folder."""

from __future__ import annotations

import json

import pytest

from vidbench.models.dit.evaluate import gravity_scenarios, main


def test_gravity_scenarios_come_from_the_catalogue():
    from vidbench.scenarios import get_scenario, scenario_names

    g = gravity_scenarios()
    assert {"free_fall", "projectile", "bounce"} <= set(g)
    assert "uniform_motion" not in g and "collision" not in g
    assert all("g" in get_scenario(n).required for n in g)
    assert set(g) < set(scenario_names())


@pytest.fixture(scope="module")
def gt_eval(tmp_path_factory):
    out = tmp_path_factory.mktemp("ev")
    assert main(["--models", "physics-gt", "--suite", "physics-mini", "--out", str(out)]) == 0
    return out


def test_ground_truth_scores_perfectly_and_matches_the_runner(gt_eval):
    res = json.loads((gt_eval / "eval.json").read_text())
    r = res["models"]["physics-gt"]
    s = r["summary"]
    assert s["n"] == 12 and r["suite"] == "physics-mini"
    assert s["direction"]["value"] == 1.0
    # (tracking an encoded mp4: the ground truth keeps its size to within ~10%)
    assert s["size"]["value"] > 0.85 and s["pos_err"]["value"] < 0.05
    assert s["found"]["value"] > 0.95
    # the suite metric is the runner's own figure (per-video scores from videos.jsonl,
    # aggregated with the same bootstrap), not a second computation
    assert s["physics_scenario"]["value"] == pytest.approx(r["result"]["physics_scenario"]
                                                           ["value"], abs=1e-9)
    assert s["physics_scenario"]["ci95"] == pytest.approx(r["result"]["physics_scenario"]
                                                          ["ci95"], abs=1e-9)
    assert (gt_eval / "runs" / "physics-gt" / "result.json").is_file()
    assert "physics-gt" in (gt_eval / "eval.md").read_text()


def test_existing_run_folder_and_language_gap(gt_eval, tmp_path):
    from vidbench.cli import main as cli

    d = tmp_path / "cl"
    assert cli(["run", "--model", "baseline:copy-last", "--suite", "physics-mini@en,zh",
                "--out", str(d), "--metrics", "physics_scenario", "--quiet"]) == 0
    out = tmp_path / "ev"
    assert main(["--run", f"cl={d}", "--run", f"gt={gt_eval / 'runs' / 'physics-gt'}",
                 "--out", str(out)]) == 0
    res = json.loads((out / "eval.json").read_text())["models"]
    gap = res["cl"]["languages"]["gap"]["zh"]
    # copy-last ignores the prompt: every paired gap is exactly zero
    assert all(gap[k]["value"] == 0.0 for k in ("direction", "size", "physics_scenario"))
    assert res["cl"]["summary"]["n"] == 24 and res["gt"]["languages"] == {}
    assert main(["--run", "nolabel", "--out", str(out)]) == 2
    assert main(["--run", f"x={tmp_path}", "--out", str(out)]) == 2
