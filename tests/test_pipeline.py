"""`vidbench run`: generate, score, leaderboard, summary, all under one folder; a second run
resumes instead of redoing work."""

from __future__ import annotations

import json

import plugins_for_tests  # noqa: F401

from vidbench.cli import main
from vidbench.results import read_video_records


def test_run_end_to_end_and_rerun_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["run", "--model", "synthetic", "--suite", "synthetic-mini", "--out", str(out),
            "--metrics", "test_mean_luma,test_frame_diff"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "test_mean_luma" in text and "result.json" in text
    result = json.loads((out / "result.json").read_text())
    assert result["model"] == "synthetic" and result["suite"] == "synthetic-mini"
    assert result["metrics"]["test_mean_luma"]["n"] == 8
    assert len(read_video_records(out / "videos.jsonl")) == 8
    assert (out / "manifest.jsonl").is_file() and len(list((out / "videos").glob("*.mp4"))) == 8
    assert (out / "leaderboard" / "leaderboard.md").is_file()
    assert main(args) == 0
    assert "skipped 8" in capsys.readouterr().out
    again = json.loads((out / "result.json").read_text())
    assert again["metrics"]["test_mean_luma"]["value"] == \
        result["metrics"]["test_mean_luma"]["value"]
