"""models/dit/bar.py: issue 20's bar (margin over every trivial baseline, consistency against
constant-velocity, direction, size) from per-item rows and from real ``vidbench run`` folders."""

from __future__ import annotations

import json
import math

import pytest

from vidbench.errors import UserError
from vidbench.models.dit.bar import BASELINES, check_bar, main


def _rows(ps: list[float], pc: list[float], direction: float = 1.0, size: float = 0.9):
    pairs = enumerate(zip(ps, pc, strict=True))
    return [{"item": f"i{k}", "physics_scenario": a, "physics_consistency": b,
             "direction": direction, "size": size} for k, (a, b) in pairs]


NAN = math.nan
ITEMS = 10
# copy-last is the best trivial baseline here; constant-velocity the only one with consistency
BASE = {"copy-last": _rows([0.30 + 0.01 * k for k in range(ITEMS)], [NAN] * ITEMS),
        "constant-velocity": _rows([0.25] * ITEMS, [0.60 + 0.02 * k for k in range(ITEMS)]),
        "frozen-first-frame": _rows([0.28] * ITEMS, [NAN] * ITEMS)}


def _crit(res: dict, name: str) -> dict:
    return next(c for c in res["criteria"] if c["criterion"] == name)


@pytest.mark.parametrize("delta,met", [(0.09, False), (0.11, True)])
def test_margin_is_paired_against_the_best_baseline(delta, met):
    cl = [r["physics_scenario"] for r in BASE["copy-last"]]
    cv = [r["physics_consistency"] for r in BASE["constant-velocity"]]
    res = check_bar(_rows([v + delta for v in cl], [v + 0.01 for v in cv]), BASE)
    m = _crit(res, "physics_scenario_margin")
    assert res["best_baseline"] == "copy-last"
    assert m["value"] == pytest.approx(delta) and m["met"] is met
    # every item sits exactly delta above copy-last: the paired CI has no width
    assert m["ci95"] == pytest.approx([delta, delta])
    assert m["clear"] is met and res["met"] is met
    assert _crit(res, "physics_consistency_vs_cv")["value"] == pytest.approx(0.01)


def test_consistency_below_constant_velocity_and_weak_size_or_direction_fail():
    cl = [r["physics_scenario"] + 0.3 for r in BASE["copy-last"]]
    low = check_bar(_rows(cl, [0.5] * ITEMS), BASE)
    assert not _crit(low, "physics_consistency_vs_cv")["met"] and not low["met"]
    good_cons = [r["physics_consistency"] for r in BASE["constant-velocity"]]
    small = check_bar(_rows(cl, good_cons, size=0.79), BASE)
    assert not _crit(small, "size")["met"] and not small["met"]
    assert _crit(small, "physics_consistency_vs_cv")["met"]  # equal is enough
    turned = check_bar(_rows(cl, good_cons, direction=0.0), BASE)
    assert not _crit(turned, "direction")["met"]
    assert check_bar(_rows(cl, good_cons), BASE)["met"]


def test_missing_baseline_or_other_items_is_an_error():
    ok = _rows([0.9] * ITEMS, [0.9] * ITEMS)
    with pytest.raises(UserError, match="frozen-first-frame"):
        check_bar(ok, {b: BASE[b] for b in BASELINES[:2]})
    with pytest.raises(UserError, match="copy-last run does not cover"):
        check_bar(ok, {**BASE, "copy-last": BASE["copy-last"][:5]})


def test_real_runs_ground_truth_meets_the_bar_and_constant_velocity_does_not(tmp_path):
    from vidbench.cli import main as cli

    runs = {}
    for m in ("physics-gt", *(f"baseline:{b}" for b in BASELINES)):
        d = runs[m.split(":")[-1]] = tmp_path / m.replace(":", "-")
        assert cli(["run", "--model", m, "--suite", "physics-mini", "--out", str(d),
                    "--metrics", "physics_scenario,physics_consistency", "--quiet"]) == 0
    base = [a for b in BASELINES for a in (f"--{b}", str(runs[b]))]
    assert main(["--model", f"gt={runs['physics-gt']}", *base, "--out",
                 str(tmp_path / "gt")]) == 0
    res = json.loads((tmp_path / "gt" / "bar.json").read_text())
    assert res["met"] and res["suite"] == "physics-mini" and res["model_id"] == "physics-gt"
    # the best trivial baseline by physics_scenario is a static video, not the heuristic
    assert res["best_baseline"] in ("copy-last", "frozen-first-frame")
    assert "Bar met: yes" in (tmp_path / "gt" / "bar.md").read_text()
    assert main(["--model", f"cv={runs['constant-velocity']}", *base, "--out",
                 str(tmp_path / "cv")]) == 1
    cv = json.loads((tmp_path / "cv" / "bar.json").read_text())
    assert not _crit(cv, "physics_scenario_margin")["met"]
    assert _crit(cv, "physics_consistency_vs_cv")["value"] == 0.0
    assert main(["--model", "nolabel", *base, "--out", str(tmp_path / "x")]) == 2
