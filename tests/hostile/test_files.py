"""Hostile files and folders: links out of the manifest folder, special files, names and
JSON that break parsers. Each is refused with a message, never followed, hashed or hung on."""

from __future__ import annotations

import json
import os
from pathlib import Path

import plugins_for_tests  # noqa: F401  (registers the test metrics)
import pytest

from vidbench.errors import ManifestError
from vidbench.manifest import read_manifest
from vidbench.results import read_video_records
from vidbench.runner import ScoreConfig, score

from .helpers import clip, manifest, one_line_error, vidbench

METRIC = ["test_mean_luma"]


def _errors(out: Path) -> dict[str, str | None]:
    return {r["video"]: r["error"] for r in read_video_records(out / "videos.jsonl")}


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_symlink_out_of_the_folder_is_refused_unless_followed(tmp_path: Path, kind: str
                                                             ) -> None:
    outside = tmp_path / "outside"
    clip(outside / "secret.mp4")
    d = tmp_path / "d"
    d.mkdir()
    clip(d / "ok.mp4", seed=1)
    if kind == "file":
        (d / "x.mp4").symlink_to(outside / "secret.mp4")
        name = "x.mp4"
    else:
        (d / "sub").symlink_to(outside, target_is_directory=True)
        name = "sub/secret.mp4"
    manifest(d, ["ok.mp4", name])
    res = score(d, tmp_path / "out", ScoreConfig(metrics=METRIC))
    errs = _errors(tmp_path / "out")
    assert errs["ok.mp4"] is None and "outside the folder" in errs[name]
    assert "--follow-symlinks" in errs[name]
    assert res["metrics"]["test_mean_luma"]["n"] == 1
    # the explicit opt-in scores it
    res2 = score(d, tmp_path / "out2", ScoreConfig(metrics=METRIC, follow_symlinks=True))
    assert _errors(tmp_path / "out2")[name] is None
    assert res2["metrics"]["test_mean_luma"]["n"] == 2


def test_link_inside_the_folder_is_fine(tmp_path: Path) -> None:
    d = tmp_path / "d"
    clip(d / "real" / "a.mp4")
    (d / "a.mp4").symlink_to(d / "real" / "a.mp4")
    m = read_manifest(d)
    assert all(e.problem is None for e in m)


def test_link_to_etc_passwd_is_never_hashed(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "x.mp4").symlink_to("/etc/passwd")
    clip(tmp_path / "ref" / "r.mp4")
    manifest(d, ["x.mp4"])
    cfg = ScoreConfig(metrics=["test_mean_colour_distance"], reference=str(tmp_path / "ref"))
    score(d, tmp_path / "out", cfg)
    recs = read_video_records(tmp_path / "out" / "videos.jsonl")
    assert "sha256" not in recs[0] and "outside the folder" in recs[0]["error"]


@pytest.mark.slow
@pytest.mark.parametrize("special", ["fifo", "devzero"])
def test_special_files_do_not_hang_the_run(tmp_path: Path, special: str) -> None:
    d = tmp_path / "d"
    clip(d / "ok.mp4")
    if special == "fifo":
        os.mkfifo(d / "x.mp4")
    else:
        (d / "x.mp4").symlink_to("/dev/zero")
    manifest(d, ["ok.mp4", "x.mp4"])
    (tmp_path / "ref").mkdir()
    clip(tmp_path / "ref" / "r.mp4")
    # a per-video metric (decode) and a set metric (content hash) in one run
    out = tmp_path / "out"
    args = ["score", str(d), "--out", str(out), "--metrics",
            "test_mean_luma,test_mean_colour_distance", "--reference", str(tmp_path / "ref")]
    if special == "devzero":
        args.append("--follow-symlinks")  # even followed, a device is not a video
    proc = vidbench(args, tmp_path, timeout=90)  # the old code never returned
    assert proc.returncode == 0, proc.stderr[-2000:]
    errs = _errors(out)
    assert errs["ok.mp4"] is None and errs["x.mp4"] and "not a regular file" in errs["x.mp4"]


def test_special_files_are_planned_as_errors_without_reading(tmp_path: Path) -> None:
    """The fast in-process twin of the test above: planning never opens the file."""
    from vidbench.runner import FeatureCache, plan_entry

    d = tmp_path / "d"
    d.mkdir()
    os.mkfifo(d / "x.mp4")
    (d / "z.mp4").symlink_to("/dev/zero")
    manifest(d, ["x.mp4", "z.mp4"])
    for e in read_manifest(d, follow_symlinks=True):
        e.problem = None  # as if the manifest check had been passed: plan_entry re-checks
        plan = plan_entry(e, [], [], FeatureCache(tmp_path / "cache"))
        assert not plan.decode and "not a regular file" in plan.rec["error"]


def test_sparse_terabyte_video_is_refused_not_hashed(tmp_path: Path) -> None:
    d = tmp_path / "d"
    clip(d / "ok.mp4")
    with open(d / "big.mp4", "wb") as f:
        f.truncate(2**40)  # sparse: no disk used, 1 TiB to read
    manifest(d, ["ok.mp4", "big.mp4"])
    (tmp_path / "ref").mkdir()
    clip(tmp_path / "ref" / "r.mp4")
    cfg = ScoreConfig(metrics=["test_mean_luma", "test_mean_colour_distance"],
                      reference=str(tmp_path / "ref"))
    score(d, tmp_path / "out", cfg)
    errs = _errors(tmp_path / "out")
    assert errs["ok.mp4"] is None and "larger than the limit" in errs["big.mp4"]


def test_long_video_name_is_a_per_video_error(tmp_path: Path) -> None:
    d = tmp_path / "d"
    clip(d / "ok.mp4")
    manifest(d, ["ok.mp4", "a" * 300 + ".mp4"])
    m = read_manifest(d)
    assert m.entries[0].problem is None and "name too long" in m.entries[1].problem.lower()
    score(d, tmp_path / "out", ScoreConfig(metrics=METRIC))
    assert "too long" in _errors(tmp_path / "out")["a" * 300 + ".mp4"].lower()


@pytest.mark.parametrize("line,what", [
    ('{"video": "a.mp4", "seed": ' + "9" * 5000 + "}", "4300"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
], ids=["5000-digit-int", "100k-deep"])
def test_hostile_json_is_a_manifest_error(tmp_path: Path, line: str, what: str) -> None:
    (tmp_path / "manifest.jsonl").write_text('{"video": "ok.mp4"}\n' + line + "\n")
    with pytest.raises(ManifestError, match=what) as ei:
        read_manifest(tmp_path)
    assert "manifest.jsonl:2" in str(ei.value)


def test_hostile_json_via_cli_is_one_line(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "manifest.jsonl").write_text("[" * 100_000 + "]" * 100_000 + "\n")
    proc = vidbench(["score", str(d), "--out", str(tmp_path / "out"), "--metrics",
                     METRIC[0]], tmp_path)
    assert "nested too deeply" in one_line_error(proc)


@pytest.mark.parametrize("prompt", [5, None, ["a"], {"x": 1}])
def test_prompts_json_non_string_prompt(tmp_path: Path, prompt) -> None:
    clip(tmp_path / "a.mp4")
    (tmp_path / "prompts.json").write_text(json.dumps({"a.mp4": prompt}))
    with pytest.raises(ManifestError, match="expected a string"):
        read_manifest(tmp_path)


def test_prompts_json_fifo_is_refused(tmp_path: Path) -> None:
    clip(tmp_path / "a.mp4")
    os.mkfifo(tmp_path / "prompts.json")
    with pytest.raises(ManifestError, match="not a regular file"):
        read_manifest(tmp_path)


def test_score_seed_out_of_range_fails_before_scoring(tmp_path: Path) -> None:
    d = tmp_path / "d"
    clip(d / "a.mp4")
    manifest(d, ["a.mp4"])
    proc = vidbench(["score", str(d), "--out", str(tmp_path / "out"), "--metrics", METRIC[0],
                     "--seed", "-5"], tmp_path)
    assert proc.returncode == 2 and "--seed" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()
