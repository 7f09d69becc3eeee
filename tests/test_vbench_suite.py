"""``vbench-full``: VBench's own prompt file read from the installed package (or a user's
copy), 5 samples per prompt under VBench's names, auxiliary info in the items' meta, and each
VBench dimension scored only on the prompts tagged with it."""

from __future__ import annotations

import collections
import json
import math

import numpy as np
import pytest

from vidbench.errors import UserError
from vidbench.suites import get_suite
from vidbench.vbench_suite import (
    ENV_FULL_INFO,
    VBENCH_DIMENSIONS,
    full_info_path,
    not_tagged,
    vbench_full,
)
from vidbench.video import write_video


def _official_records() -> list[dict]:
    pytest.importorskip("vbench")
    return json.loads(full_info_path().read_text(encoding="utf-8"))


def test_full_suite_is_vbench_prompt_file_times_five_samples():
    recs = _official_records()
    s = get_suite("vbench-full")
    assert len(recs) >= 900 and len(s.items) == 5 * len(recs)
    first = s.items[:5]
    assert {it.prompt for it in first} == {recs[0]["prompt_en"]}
    assert [it.meta["vbench_index"] for it in first] == [0, 1, 2, 3, 4]
    assert [it.seed for it in first] == [0, 1, 2, 3, 4]
    # each per-dimension subset is exactly the prompts tagged with that dimension
    counts = collections.Counter(d for r in recs for d in r["dimension"])
    assert set(counts) == set(VBENCH_DIMENSIONS)
    for dim in ("color", "appearance_style", "temporal_flickering"):
        sub = get_suite(f"vbench-full:{dim}")
        assert len(sub.items) == 5 * counts[dim]
        assert all(dim in it.meta["dimension"] for it in sub.items)
        assert sub.metrics == (VBENCH_DIMENSIONS[dim],)
    # vidbench's metric name selects the same subset as VBench's dimension name
    assert len(get_suite("vbench-full:temporal_flicker").items) == 5 * counts[
        "temporal_flickering"]
    color = get_suite("vbench-full:color").items[0]
    assert isinstance(color.meta["auxiliary_info"]["color"]["color"], str)


def test_unknown_dimension_and_bad_files_are_user_errors(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="unknown VBench dimension 'colour'"):
        vbench_full("colour", path=tmp_path / "x.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"prompt_en": "a cat", "dimension": ["scene"]},
                               {"dimension": ["scene"]}]))
    with pytest.raises(UserError, match=r"bad.json: record 1: no prompt_en"):
        vbench_full(path=bad)
    bad.write_text('[{"prompt_en": "a cat",\n "dimension": "scene"}]')
    with pytest.raises(UserError, match="record 0: dimension: expected a list"):
        vbench_full(path=bad)
    bad.write_text('[{"prompt_en": "a cat"},\n oops]')
    with pytest.raises(UserError, match=r"bad.json:2: invalid JSON"):
        vbench_full(path=bad)
    monkeypatch.setenv(ENV_FULL_INFO, str(tmp_path / "missing.json"))
    with pytest.raises(UserError, match="missing.json: no such file"):
        get_suite("vbench-full")


def test_not_tagged_rule():
    meta = {"dimension": ["scene", "background_consistency"]}
    assert not_tagged("background_consistency", meta) is None
    assert "not a temporal_flickering prompt" in not_tagged("temporal_flicker", meta)
    assert not_tagged("clip_score", meta) is None  # not a VBench dimension: every item
    assert not_tagged("temporal_flicker", {}) is None  # items without VBench tags


@pytest.mark.slow
def test_vbench_named_folder_scores_without_renaming_each_dimension_on_its_prompts(
        tmp_path, monkeypatch):
    """A user's copy of the full-info file with two prompts; a folder of VBench-named
    videos; ``vidbench run --suite vbench-full`` matches them by name and scores
    temporal_flicker on the flicker prompt only and appearance_style on the style one."""
    from vidbench.cli import main

    info = [{"prompt_en": "In a still frame, a stop sign", "dimension": ["temporal_flickering"]},
            {"prompt_en": "A lake at dawn, oil painting style", "dimension": ["appearance_style"],
             "auxiliary_info": {"appearance_style": {"appearance_style": "oil painting style"}}}]
    src = tmp_path / "my_full_info.json"
    src.write_text(json.dumps(info))
    monkeypatch.setenv(ENV_FULL_INFO, str(src))
    videos = tmp_path / "videos"
    videos.mkdir()
    rng = np.random.default_rng(0)
    still = np.repeat(rng.integers(0, 255, (1, 32, 32, 3), dtype=np.uint8), 8, axis=0)
    for rec in info:
        for i in range(5):
            write_video(videos / f"{rec['prompt_en']}-{i}.mp4", still, 8.0)
    out = tmp_path / "run"
    rc = main(["run", "--model", f"folder:{videos}", "--suite", "vbench-full", "--out",
               str(out), "--metrics", "temporal_flicker,appearance_style", "--mode", "vbench",
               "--random-weights", "--quiet"])
    assert rc == 0
    res = json.loads((out / "result.json").read_text())
    tf, st = res["metrics"]["temporal_flicker"], res["metrics"]["appearance_style"]
    assert (tf["n"], tf["n_not_applicable"]) == (5, 5)
    assert (st["n"], st["n_not_applicable"]) == (5, 5)
    assert math.isfinite(tf["value"]) and math.isfinite(st["value"])
    lines = [json.loads(x) for x in (out / "videos.jsonl").read_text().splitlines()]
    style_rows = [r for r in lines if "oil painting" in r.get("prompt", "")]
    assert len(style_rows) == 5
    assert all("not a temporal_flickering prompt" in r["details"]["temporal_flicker"]["reason"]
               for r in style_rows)
    assert all(r["details"]["appearance_style"]["style"] == "oil painting style"
               for r in style_rows)
