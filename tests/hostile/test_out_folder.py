"""The --out folder of ``score``: resume re-checks content, metric set and protocol; a file,
a corrupt videos.jsonl, a second concurrent run and a full disk are one-line errors that
leave nothing torn."""

from __future__ import annotations

import fcntl
import json
import os
import resource
import signal
from pathlib import Path

import plugins_for_tests
import pytest

from vidbench import video as video_io
from vidbench.errors import UserError
from vidbench.results import read_video_records
from vidbench.runner import ScoreConfig, score

from .helpers import clip, manifest, one_line_error, vidbench


def _setup(tmp_path: Path, n: int = 3) -> Path:
    d = tmp_path / "d"
    for i in range(n):
        clip(d / f"v{i}.mp4", n=8 + i, seed=i)
    manifest(d, [f"v{i}.mp4" for i in range(n)])
    return d


def test_added_metric_is_scored_on_the_finished_videos(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    d, out = _setup(tmp_path), tmp_path / "out"
    score(d, out, ScoreConfig(metrics=["test_mean_luma"]))
    before = video_io.DECODE_COUNT
    res = score(d, out, ScoreConfig(metrics=["test_mean_luma", "test_frame_diff"]))
    assert res["metrics"]["test_frame_diff"]["n"] == 3  # was n=0 with no notice
    assert res["metrics"]["test_mean_luma"]["n"] == 3
    assert video_io.DECODE_COUNT - before == 3
    assert "stale metrics: test_frame_diff" in capsys.readouterr().err
    before = video_io.DECODE_COUNT
    score(d, out, ScoreConfig(metrics=["test_mean_luma", "test_frame_diff"]))
    assert video_io.DECODE_COUNT == before  # nothing changed: nothing decoded


def test_missing_video_put_back_is_scored(tmp_path: Path) -> None:
    d, out = _setup(tmp_path), tmp_path / "out"
    (d / "v1.mp4").rename(tmp_path / "away.mp4")
    res = score(d, out, ScoreConfig(metrics=["test_mean_luma"]))
    assert res["metrics"]["test_mean_luma"]["n"] == 2
    (tmp_path / "away.mp4").rename(d / "v1.mp4")
    res = score(d, out, ScoreConfig(metrics=["test_mean_luma"]))
    assert res["metrics"]["test_mean_luma"]["n"] == 3 and not res["errors"]


def test_replaced_video_is_rescored(tmp_path: Path) -> None:
    d, out = _setup(tmp_path), tmp_path / "out"
    score(d, out, ScoreConfig(metrics=["test_mean_luma"]))
    clip(d / "v0.mp4", n=8, seed=7)  # other content under the same name
    res = score(d, out, ScoreConfig(metrics=["test_mean_luma"]))
    fresh = score(d, tmp_path / "fresh", ScoreConfig(metrics=["test_mean_luma"]))
    assert res["metrics"]["test_mean_luma"]["value"] == fresh["metrics"]["test_mean_luma"][
        "value"]
    a = {r["video"]: r for r in read_video_records(out / "videos.jsonl")}
    b = {r["video"]: r for r in read_video_records(tmp_path / "fresh" / "videos.jsonl")}
    assert a["v0.mp4"]["sha256"] == b["v0.mp4"]["sha256"]


def test_protocol_change_rescores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d, out = _setup(tmp_path), tmp_path / "out"
    score(d, out, ScoreConfig(metrics=["test_mean_luma"]))
    monkeypatch.setattr(plugins_for_tests.MeanLuma, "version", "2")
    before = video_io.DECODE_COUNT
    score(d, out, ScoreConfig(metrics=["test_mean_luma"]))
    assert video_io.DECODE_COUNT - before == 3


def test_changed_prompt_rescores_that_video(tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    d, out = _setup(tmp_path), tmp_path / "out"
    score(d, out, ScoreConfig(metrics=["test_mean_luma"]))
    lines = [json.loads(x) for x in (d / "manifest.jsonl").read_text().splitlines()]
    lines[2]["prompt"] = "another prompt"
    (d / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    before = video_io.DECODE_COUNT
    score(d, out, ScoreConfig(metrics=["test_mean_luma"]))
    assert video_io.DECODE_COUNT - before == 1
    assert "1 prompt or meta changed" in capsys.readouterr().err
    recs = {r["video"]: r for r in read_video_records(out / "videos.jsonl")}
    assert recs["v2.mp4"]["prompt"] == "another prompt"


def test_out_that_is_a_file(tmp_path: Path) -> None:
    d = _setup(tmp_path, 1)
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="not a folder"):
        score(d, tmp_path / "f", ScoreConfig(metrics=["test_mean_luma"]))
    assert (tmp_path / "f").read_text() == "x"


def test_corrupt_middle_line_in_videos_jsonl(tmp_path: Path) -> None:
    d, out = _setup(tmp_path), tmp_path / "out"
    score(d, out, ScoreConfig(metrics=["test_mean_luma"]))
    lines = (out / "videos.jsonl").read_text().splitlines()
    lines[1] = lines[1][:20]
    (out / "videos.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"videos.jsonl:2"):
        score(d, out, ScoreConfig(metrics=["test_mean_luma"]))


def test_second_concurrent_run_names_the_holder(tmp_path: Path) -> None:
    d, out = _setup(tmp_path, 1), tmp_path / "out"
    out.mkdir()
    fd = os.open(out / ".vidbench.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"pid 4242 on otherhost, since 2026-01-01")
        with pytest.raises(UserError, match="pid 4242 on otherhost"):
            score(d, out, ScoreConfig(metrics=["test_mean_luma"]))
        assert not (out / "videos.jsonl").exists()
    finally:
        os.close(fd)
    score(d, out, ScoreConfig(metrics=["test_mean_luma"]))  # free again: runs


def _small_fsize() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a signal
    resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500))


def test_disk_full_leaves_no_torn_line(tmp_path: Path) -> None:
    d = tmp_path / "d"
    clip(d / "a.mp4")
    clip(d / "b.mp4", seed=1)
    manifest(d, ["a.mp4", "b.mp4"])
    # a long prompt makes b's record cross the file-size limit mid-line
    recs = [json.loads(x) for x in (d / "manifest.jsonl").read_text().splitlines()]
    recs[1]["prompt"] = "p" * 1200
    (d / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = tmp_path / "out"
    proc = vidbench(["score", str(d), "--out", str(out), "--metrics", "test_mean_luma"],
                    tmp_path, preexec=_small_fsize)
    one_line_error(proc)
    data = (out / "videos.jsonl").read_bytes()
    assert data.endswith(b"\n") and [json.loads(x) for x in data.splitlines()]
    assert not (out / "result.json").exists()
