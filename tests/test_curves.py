"""Checkpoint scoring during training (``train --eval-every``) and ``vidbench curves``."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import pytest

from vidbench.errors import UserError
from vidbench.leaderboard.curves import Curves, Point, collect, write_curves

TINY = ["--config", "tiny", "--set", "hidden=32", "--set", "depth=1", "--set", "heads=2",
        "--set", "text_dim=16", "--batch", "2", "--threads", "1", "--device", "cpu",
        "--log-every", "1"]


@pytest.fixture(scope="module")
def scored_run(tmp_path_factory) -> Path:
    """A 4-step training run that keeps and scores a checkpoint every 2 steps."""
    from vidbench.models.dit.cli import main

    out = tmp_path_factory.mktemp("run") / "r"
    rc = main([*TINY, "--out", str(out), "--steps", "4", "--eval-every", "2",
               "--eval-suite", "physics-mini", "--eval-options", "steps=2&cfg=1"])
    assert rc == 0
    return out


def test_eval_every_keeps_and_scores_each_checkpoint_through_the_runner(scored_run):
    from vidbench.leaderboard.load import load_result

    for step in (2, 4):
        assert (scored_run / "checkpoints" / f"step-{step}.safetensors").is_file()
        d = scored_run / "eval" / f"step-{step}"
        res = load_result(d / "result.json")
        assert res.suite == "physics-mini" and f"step-{step}.safetensors" in res.model
        # the suite's own metrics, scored by the runner with its protocols
        assert set(res.metrics) == {"physics_scenario", "physics_consistency"}
        assert res.metrics["physics_scenario"].protocol
        assert (d / "manifest.jsonl").is_file() and (d / "videos.jsonl").is_file()
    # the two checkpoints differ (training moved the weights between them)
    a = (scored_run / "checkpoints" / "step-2.safetensors").read_bytes()
    assert a != (scored_run / "checkpoints" / "step-4.safetensors").read_bytes()


def test_curves_files_and_best_checkpoint_agree_with_the_results(scored_run):
    from vidbench.leaderboard.load import load_result

    cur = scored_run / "curves"
    for f in ("curves.png", "curves.csv", "curves.md", "best.json", "gate.json"):
        assert (cur / f).is_file() and (cur / f).stat().st_size > 0, f
    assert (cur / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(open(cur / "curves.csv")))
    ps = {int(r["step"]): r for r in rows if r["series"] == "physics_scenario"}
    assert set(ps) == {2, 4}
    vals = {s: load_result(scored_run / "eval" / f"step-{s}" / "result.json")
            .metrics["physics_scenario"] for s in (2, 4)}
    for s, m in vals.items():
        assert float(ps[s]["value"]) == pytest.approx(m.value, abs=1e-4)
        assert float(ps[s]["ci_low"]) <= float(ps[s]["value"]) <= float(ps[s]["ci_high"])
    best = json.loads((cur / "best.json").read_text())
    top = max(vals, key=lambda s: (vals[s].value, -s))
    assert best["best"]["physics_scenario"]["step"] == top
    assert best["best"]["physics_scenario"]["checkpoint"].endswith(f"step-{top}.safetensors")
    assert sum(int(r["best"]) for r in ps.values()) == 1
    assert "★" in (cur / "curves.md").read_text()
    gate = json.loads((cur / "gate.json").read_text())
    assert gate["verdict"] in ("PASS", "REGRESSION") and gate["baseline"].endswith(
        "step-2/result.json")


def _degrade(run: Path, src: int, dst: int) -> None:
    """A fake later checkpoint whose physics_scenario is 0 on every item."""
    d_src, d_dst = run / "eval" / f"step-{src}", run / "eval" / f"step-{dst}"
    shutil.copytree(d_src, d_dst)
    lines = []
    for line in (d_dst / "videos.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec.get("scores", {}).get("physics_scenario") is not None:
            rec["scores"]["physics_scenario"] = 0.0
        lines.append(json.dumps(rec))
    (d_dst / "videos.jsonl").write_text("\n".join(lines) + "\n")
    res = json.loads((d_dst / "result.json").read_text())
    res["metrics"]["physics_scenario"].update(value=0.0, ci95=[0.0, 0.0])
    (d_dst / "result.json").write_text(json.dumps(res))


def test_gate_flags_a_checkpoint_worse_than_the_previous_best(scored_run, tmp_path, capsys):
    from vidbench.leaderboard.curves import run_curves

    run = tmp_path / "r"
    shutil.copytree(scored_run, run)
    _degrade(run, 4, 6)
    best = write_curves(run, do_gate=True, metric="physics_scenario", n_boot=500)
    assert best["gate"]["verdict"] == "REGRESSION" and best["gate"]["exit_code"] == 1
    assert best["best"]["physics_scenario"]["step"] in (2, 4)  # never the degraded one
    assert "**Regressed:** physics\\_scenario" in (run / "curves" / "gate.md").read_text()
    import argparse

    rc = run_curves(argparse.Namespace(run=run, gate=True, metric=None, tolerance=[],
                                       n_boot=500))
    assert rc == 1 and "REGRESSION" in capsys.readouterr().out
    # a tolerance as wide as the drop lets it pass, as in vidbench check
    ok = write_curves(run, do_gate=True, tolerances=["physics_scenario=abs:1"], n_boot=500)
    assert ok["gate"]["exit_code"] == 0


def test_best_direction_and_empty_run(tmp_path):
    c = Curves(run=tmp_path, steps=[1, 2, 3], results={},
               series={"up": [Point(1, 0.2, 0.1, 0.3, 5), Point(2, 0.5, 0.4, 0.6, 5),
                              Point(3, 0.5, 0.4, 0.6, 5)],
                       "down": [Point(1, 3.0, 2, 4, 5), Point(2, 1.0, 0, 2, 5),
                                Point(3, math.nan, math.nan, math.nan, 0)],
                       "gap:up": [Point(1, -0.3, -0.4, -0.2, 5), Point(2, 0.1, 0, 0.2, 5)]},
               direction={"up": "max", "down": "min", "gap:up": "abs"})
    assert c.best("up").step == 2  # ties go to the earliest step
    assert c.best("up", before=2).step == 1
    assert c.best("down").step == 2  # NaN never wins
    assert c.best("gap:up").step == 2
    with pytest.raises(UserError, match="no scored checkpoints"):
        collect(tmp_path)
