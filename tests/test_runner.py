"""The scoring runner: one decode per video, streamed and resumable results, errors as data,
identical results on 1, 2 and 3 processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import plugins_for_tests  # noqa: F401  (registers the test metrics)
import pytest
from corpus import build_bad_corpus

from vidbench import video as video_io
from vidbench.errors import UserError
from vidbench.manifest import write_manifest
from vidbench.results import read_video_records
from vidbench.runner import ScoreConfig, score
from vidbench.synthetic import moving_disc

METRICS = ["test_mean_luma", "test_frame_diff"]
TESTS_DIR = Path(__file__).parent


def make_manifest(root: Path, n: int = 5) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    entries = []
    for i in range(n):
        frames = moving_disc(12 + 2 * i, 64, 8.0, velocity=(10.0 * i, 5.0), seed=i,
                             background=(20 + 20 * i, 30, 40))
        video_io.write_video(root / f"v{i}.mp4", frames, 8.0)
        entries.append({"video": f"v{i}.mp4", "prompt": f"clip {i}", "seed": i,
                        "model": "m", "suite": "s", "item": f"it{i}", "meta": {}})
    return write_manifest(root / "manifest.jsonl", entries)


def test_one_decode_per_video_for_a_multi_metric_run(tmp_path):
    manifest = make_manifest(tmp_path / "vids", 4)
    before = video_io.DECODE_COUNT
    result = score(manifest, tmp_path / "out", ScoreConfig(metrics=METRICS + ["test_explodes"]))
    assert video_io.DECODE_COUNT - before == 4
    assert set(result["metrics"]) == set(METRICS + ["test_explodes"])


def test_scores_are_streamed_and_aggregated_with_ci(tmp_path):
    manifest = make_manifest(tmp_path / "vids", 5)
    result = score(manifest, tmp_path / "out", ScoreConfig(metrics=METRICS))
    recs = read_video_records(tmp_path / "out" / "videos.jsonl")
    assert [r["item"] for r in recs] == [f"it{i}" for i in range(5)]
    vals = [r["scores"]["test_mean_luma"] for r in recs]
    m = result["metrics"]["test_mean_luma"]
    assert m["value"] == pytest.approx(np.mean(vals), abs=1e-12)
    assert m["ci95"][0] <= m["value"] <= m["ci95"][1]
    assert m["n"] == 5 and m["n_failed"] == 0
    saved = json.loads((tmp_path / "out" / "result.json").read_text())
    assert saved["schema"] == "vidbench.result/1"
    assert saved["model"] == "m" and saved["suite"] == "s"
    assert saved["provenance"]["protocol"]["test_mean_luma"]["view"]["fps"] == 8.0


def test_metric_failure_on_one_video_is_recorded_and_run_continues(tmp_path):
    manifest = make_manifest(tmp_path / "vids", 3)
    lines = manifest.read_text().splitlines()
    rec = json.loads(lines[1])
    rec["prompt"] = "boom"
    lines[1] = json.dumps(rec)
    manifest.write_text("\n".join(lines) + "\n")
    result = score(manifest, tmp_path / "out", ScoreConfig(metrics=["test_explodes"]))
    m = result["metrics"]["test_explodes"]
    assert m["n"] == 2 and m["n_failed"] == 1
    recs = read_video_records(tmp_path / "out" / "videos.jsonl")
    assert "metric bug" in recs[1]["details"]["test_explodes"]["error"]


def test_killed_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    manifest = make_manifest(tmp_path / "vids", 5)
    full = score(manifest, tmp_path / "full", ScoreConfig(metrics=METRICS))

    calls = {"n": 0}
    real = video_io.decode

    def dying_decode(path, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the process is killed while decoding video 3
        return real(path, **kw)

    monkeypatch.setattr(video_io, "decode", dying_decode)
    with pytest.raises(KeyboardInterrupt):
        score(manifest, tmp_path / "part", ScoreConfig(metrics=METRICS))
    monkeypatch.setattr(video_io, "decode", real)
    assert len(read_video_records(tmp_path / "part" / "videos.jsonl")) == 2
    with open(tmp_path / "part" / "videos.jsonl", "a") as f:
        f.write('{"video": "v2.mp4", "item": "it2", "sco')  # torn line from the kill
    before = video_io.DECODE_COUNT
    resumed = score(manifest, tmp_path / "part", ScoreConfig(metrics=METRICS))
    assert video_io.DECODE_COUNT - before == 3  # only the unfinished videos
    a = read_video_records(tmp_path / "full" / "videos.jsonl")
    b = read_video_records(tmp_path / "part" / "videos.jsonl")
    assert [r["scores"] for r in a] == [r["scores"] for r in b]
    for name in METRICS:
        assert resumed["metrics"][name]["value"] == full["metrics"][name]["value"]
        assert resumed["metrics"][name]["ci95"] == full["metrics"][name]["ci95"]


@pytest.mark.slow
def test_bad_input_manifest_scores_good_and_records_bad(tmp_path):
    cases = build_bad_corpus(tmp_path / "corpus")
    entries = []
    for name, (path, _) in cases.items():
        entries.append({"video": path.relative_to(tmp_path / "corpus").as_posix(),
                        "prompt": name, "item": name})
    entries.append({"video": "not_there.mp4", "prompt": "missing", "item": "missing"})
    manifest = write_manifest(tmp_path / "corpus" / "manifest.jsonl", entries)
    result = score(manifest, tmp_path / "out", ScoreConfig(metrics=METRICS))
    recs = {r["item"]: r for r in read_video_records(tmp_path / "out" / "videos.jsonl")}
    n_bad = 1
    for name, (_, ok) in cases.items():
        if ok:
            assert recs[name]["error"] is None, (name, recs[name]["error"])
            assert recs[name]["scores"]["test_mean_luma"] is not None
        else:
            n_bad += 1
            assert recs[name]["error"] and "manifest.jsonl:" in recs[name]["error"], name
    assert "not found" in recs["missing"]["error"]
    assert result["metrics"]["test_mean_luma"]["n_failed"] == n_bad
    assert result["metrics"]["test_mean_luma"]["n"] == len(cases) + 1 - n_bad
    assert len(result["errors"]) == n_bad
    # single-frame videos are NaN (not applicable) for frame_diff, not failures
    assert recs["one_frame"]["scores"]["test_frame_diff"] is None
    assert recs["one_frame"]["details"]["test_frame_diff"]["reason"] == "single frame"


def test_named_metric_that_cannot_run_is_an_error(tmp_path):
    manifest = make_manifest(tmp_path / "vids", 1)
    with pytest.raises(UserError, match="unknown metric"):
        score(manifest, tmp_path / "out", ScoreConfig(metrics=["no_such_metric"]))


def _vidbench(args: list[str], cwd: Path, nproc: int | None = None,
              env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, VIDBENCH_PLUGINS="plugins_for_tests",
               PYTHONPATH=str(TESTS_DIR) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", **(env_extra or {}))
    if nproc:
        torchrun = Path(sys.executable).with_name("torchrun")
        cmd = [str(torchrun), "--standalone", f"--nproc_per_node={nproc}", "-m", "vidbench",
               *args]
    else:
        cmd = [sys.executable, "-m", "vidbench", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_torchrun_1_2_3_processes_give_identical_results(tmp_path):
    manifest = make_manifest(tmp_path / "vids", 7)
    results = {}
    for n in (1, 2, 3):
        out = tmp_path / f"out{n}"
        proc = _vidbench(["score", str(manifest), "--out", str(out), "--metrics",
                          ",".join(METRICS)], tmp_path, nproc=n)
        assert proc.returncode == 0, proc.stderr[-2000:]
        results[n] = (json.loads((out / "result.json").read_text()),
                      read_video_records(out / "videos.jsonl"))
        assert not list(out.glob("videos.rank*.jsonl"))
    base_res, base_recs = results[1]
    assert base_res["provenance"]["world_size"] == 1
    for n in (2, 3):
        res, recs = results[n]
        assert res["provenance"]["world_size"] == n
        assert [r["scores"] for r in recs] == [r["scores"] for r in base_recs]  # bitwise
        for name in METRICS:
            assert abs(res["metrics"][name]["value"] - base_res["metrics"][name]["value"]) \
                <= 1e-12
            assert res["metrics"][name]["ci95"] == base_res["metrics"][name]["ci95"]


@pytest.mark.slow
def test_sigkilled_cli_run_resumes(tmp_path):
    """A real kill: SIGKILL the scoring process mid-run, re-run the same command."""
    manifest = make_manifest(tmp_path / "vids", 6)
    out = tmp_path / "out"
    env = dict(os.environ, VIDBENCH_PLUGINS="plugins_for_tests",
               PYTHONPATH=str(TESTS_DIR), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "vidbench", "score", str(manifest), "--out", str(out),
           "--metrics", ",".join(METRICS)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = out / "videos.jsonl"
    import time

    deadline = time.time() + 120
    while time.time() < deadline and (not log.exists() or len(read_video_records(log)) < 2):
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    done_before = len(read_video_records(log))
    assert done_before >= 2
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    clean = tmp_path / "clean"
    shutil.rmtree(clean, ignore_errors=True)
    ref = subprocess.run(cmd[:6] + [str(clean)] + cmd[7:], env=env, capture_output=True,
                         text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr
    a = json.loads((out / "result.json").read_text())["metrics"]
    b = json.loads((clean / "result.json").read_text())["metrics"]
    for name in METRICS:
        assert a[name]["value"] == b[name]["value"] and a[name]["n"] == 6


def test_set_metric_features_are_cached_by_content_and_reused(tmp_path, _isolated_home):
    gen = make_manifest(tmp_path / "gen", 4)
    make_manifest(tmp_path / "ref", 3)
    cfg = ScoreConfig(metrics=["test_mean_colour_distance"], reference=str(tmp_path / "ref"))
    first = score(gen, tmp_path / "out1", cfg)
    assert first["metrics"]["test_mean_colour_distance"]["n"] == 4
    assert list((_isolated_home / "cache" / "features").rglob("*.npy"))
    before = video_io.DECODE_COUNT
    second = score(gen, tmp_path / "out2", cfg)
    assert video_io.DECODE_COUNT == before  # every feature came from the cache
    assert second["metrics"]["test_mean_colour_distance"]["value"] == \
        first["metrics"]["test_mean_colour_distance"]["value"]
    recs = read_video_records(tmp_path / "out2" / "videos.jsonl")
    assert all(r["details"]["test_mean_colour_distance"]["cached"] for r in recs)


def test_no_cache_keeps_features_in_the_run_folder(tmp_path, _isolated_home):
    gen = make_manifest(tmp_path / "gen", 3)
    make_manifest(tmp_path / "ref", 3)
    cfg = ScoreConfig(metrics=["test_mean_colour_distance"], reference=str(tmp_path / "ref"),
                      feature_cache=False)
    result = score(gen, tmp_path / "out", cfg)
    m = result["metrics"]["test_mean_colour_distance"]
    assert m["n"] == 3 and m["n_failed"] == 0
    assert not (_isolated_home / "cache" / "features").exists()
    assert len(list((tmp_path / "out" / "features").rglob("*.npy"))) == 3
