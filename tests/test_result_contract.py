"""The typed result contract (issue 15): one SCHEMA, dataclasses with to/from JSON and
validation, a migration path for older files; the runner writes through it, the
leaderboard, the gate and the test fixtures read and build through it."""

from __future__ import annotations

import json
import math

import numpy as np
import plugins_for_tests  # noqa: F401  (registers the test metrics)
import pytest

from vidbench import results
from vidbench import video as video_io
from vidbench.errors import UserError
from vidbench.leaderboard import load, testing
from vidbench.leaderboard.load import load_result
from vidbench.manifest import write_manifest
from vidbench.results import (
    SCHEMA,
    MetricRecord,
    ResultRecord,
    VideoLine,
    migrate,
    per_video_unit,
    skipped_from_notes,
)
from vidbench.runner import ScoreConfig, score
from vidbench.synthetic import moving_disc


def make_manifest(root, n: int = 3):
    root.mkdir(parents=True, exist_ok=True)
    entries = []
    for i in range(n):
        frames = moving_disc(12, 64, 8.0, velocity=(10.0 * i, 5.0), seed=i)
        video_io.write_video(root / f"v{i}.mp4", frames, 8.0)
        entries.append({"video": f"v{i}.mp4", "prompt": f"clip {i}", "seed": i,
                        "model": "m", "suite": "s", "item": f"it{i}", "meta": {}})
    return write_manifest(root / "manifest.jsonl", entries)


def test_one_schema_constant():
    assert load.SCHEMA is results.SCHEMA and testing.SCHEMA is results.SCHEMA
    assert load.MetricEntry is MetricRecord


def test_metric_record_round_trip_and_coverage():
    m = MetricRecord(name="x", value=0.5, ci95=(0.4, 0.6), n=9, n_failed=1, mode="default",
                     version="1", higher_is_better=True, comparable=True, protocol="p",
                     weights={"w": None}, n_not_applicable=2, per_video="details.k",
                     extra={"details": {"n_nan": 2}, "kind": "per_video"})
    d = m.to_json()
    assert d["coverage"] == pytest.approx(9 / 12) and d["n_not_applicable"] == 2
    back = MetricRecord.from_json("x", json.loads(json.dumps(d)))
    assert back == m
    # "no value" is written as null and read back as NaN, never as a number
    empty = MetricRecord(name="y", value=math.nan, ci95=(math.nan, math.nan), n=0,
                         n_failed=0, mode="default", version="1", higher_is_better=True,
                         comparable=True, protocol=None, weights={}, n_not_applicable=4)
    d = empty.to_json()
    assert d["value"] is None and d["ci95"] == [None, None] and d["coverage"] == 0.0
    assert not MetricRecord.from_json("y", d).nonfinite


@pytest.mark.parametrize("bad,msg", [
    ({"n": 1.5}, "metrics.m.n"), ({"n_not_applicable": -1}, "n_not_applicable"),
    ({"per_video": "elsewhere"}, "per_video"), ({"value": [1]}, "metrics.m.value"),
    ({"value": 10**400}, "float range"),
])
def test_validation_names_the_key(bad, msg):
    d = testing.metric_entry([0.1, 0.2])
    d.update(bad)
    with pytest.raises(UserError, match=msg):
        ResultRecord.from_json({"schema": SCHEMA, "model": "a", "metrics": {"m": d}}, "r.json")


def test_migration_of_an_older_result():
    old = {"schema": SCHEMA, "model": "a", "suite": "s",
           "metrics": {"m": {"value": 0.5, "ci95": [0.4, 0.6], "n": 3, "n_failed": 0,
                             "higher_is_better": True, "details": {"n_nan": 2}}},
           "notes": ["fvd: skipped, needs --reference", "something else"]}
    rec = ResultRecord.from_json(old, "old.json")
    assert rec.metrics["m"].n_not_applicable == 2 and rec.metrics["m"].coverage == 0.6
    assert rec.skipped == {"fvd": "needs --reference"}
    assert "n_not_applicable" not in old["metrics"]["m"]  # the input is not changed
    with pytest.raises(UserError, match="schema is 'vidbench.result/9'"):
        migrate(dict(old, schema="vidbench.result/9"))


def test_video_line_round_trip():
    v = VideoLine(video="a.mp4", item="i", prompt="p", scores={"m": 0.5, "n": None},
                  details={"m": {"dynamic": True}})
    assert VideoLine.from_json(json.loads(json.dumps(v.to_json()))) == v
    with pytest.raises(UserError, match="scores"):
        VideoLine.from_json({"video": "a", "scores": {"m": "x"}}, "v.jsonl:3")


def test_per_video_unit_and_skipped_notes():
    vals = [10.0, 0.5, float("nan"), 12.0]
    dets = [{"dynamic": True, "pairs": 15}, {"dynamic": False, "pairs": 15}, {},
            {"dynamic": True, "pairs": 15}]
    assert per_video_unit(vals, dets, 2 / 3) == "details.dynamic"
    assert per_video_unit(vals, dets, float(np.mean([10.0, 0.5, 12.0]))) == "scores"
    assert per_video_unit(vals, dets, 0.123) is None
    assert skipped_from_notes(["clip_score: skipped, weights missing", "x y: skipped, no"]) \
        == {"clip_score": "weights missing"}


def test_the_runner_writes_through_the_contract(tmp_path):
    manifest = make_manifest(tmp_path / "vids", 3)
    score(manifest, tmp_path / "out", ScoreConfig(metrics=["test_mean_luma",
                                                           "test_frame_diff"]))
    raw = json.loads((tmp_path / "out" / "result.json").read_text())
    assert raw["schema"] == SCHEMA and raw["skipped"] == {}
    for m in raw["metrics"].values():
        assert {"n", "n_failed", "n_not_applicable", "coverage", "per_video"} <= set(m)
        assert m["coverage"] == 1.0 and m["per_video"] == "scores"
    # what the runner wrote is what the leaderboard reads, field for field
    rec = ResultRecord.from_json(raw, "result.json")
    assert rec.to_json()["metrics"] == raw["metrics"]
    res = load_result(tmp_path / "out")
    assert res.metrics["test_mean_luma"].coverage == 1.0
    assert res.unit_source("test_mean_luma") == "scores"
