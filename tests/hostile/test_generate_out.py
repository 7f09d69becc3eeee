"""``generate --out``: a user's folder is never overwritten without --overwrite; a file as
--out and a full disk are one-line errors leaving no torn manifest line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_generate import CountingAdapter, _suite

from vidbench.errors import UserError
from vidbench.generate import generate
from vidbench.manifest import append_manifest
from vidbench.suites import Suite

from .helpers import clip, manifest


def test_users_folder_is_refused_without_overwrite(tmp_path: Path) -> None:
    d = tmp_path / "mine"
    clip(d / "videos" / "it-0.mp4", seed=3)
    manifest(d, ["videos/it-0.mp4"])
    before = {p: p.read_bytes() for p in d.rglob("*") if p.is_file()}
    for resume in (True, False):
        with pytest.raises(UserError, match="not written by `vidbench generate`.*--overwrite"):
            generate(CountingAdapter("x"), _suite(2), d, progress=False, resume=resume)
    assert {p: p.read_bytes() for p in d.rglob("*") if p.is_file()} == before
    rep = generate(CountingAdapter("x"), _suite(2), d, progress=False, overwrite=True)
    assert rep.n_ok == 2


def test_foreign_files_and_other_suite_are_refused(tmp_path: Path) -> None:
    d = tmp_path / "notes"
    d.mkdir()
    (d / "thesis.tex").write_text("x")
    with pytest.raises(UserError, match="thesis.tex"):
        generate(CountingAdapter("x"), _suite(1), d, progress=False)
    run = tmp_path / "run"
    generate(CountingAdapter("x"), _suite(2), run, progress=False)
    other = Suite("other", "", _suite(2).items)
    with pytest.raises(UserError, match="suite 'unit'"):
        generate(CountingAdapter("x"), other, run, progress=False)


def test_own_run_and_empty_folder_are_fine(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    generate(CountingAdapter("x"), _suite(2), run, progress=False)
    (run / "result.json").write_text("{}")  # what `vidbench run` adds
    ad = CountingAdapter("x")
    rep = generate(ad, _suite(3), run, progress=False)
    assert ad.calls == ["it-2"] and rep.n_skipped == 2


def test_out_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="not a folder"):
        generate(CountingAdapter("x"), _suite(1), tmp_path / "f", progress=False)


def test_full_disk_leaves_no_torn_manifest_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    m = tmp_path / "manifest.jsonl"
    append_manifest(m, {"video": "a.mp4", "prompt": "short"})
    code = f"""
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (300, 300))
from vidbench.manifest import append_manifest
try:
    append_manifest({str(m)!r}, {{"video": "b.mp4", "prompt": "p" * 1000}})
except OSError as e:
    print("OSError", e.errno)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert "OSError" in proc.stdout, proc.stderr
    data = m.read_bytes()
    assert data.endswith(b"\n") and [json.loads(x) for x in data.splitlines()]
    assert len(data.splitlines()) == 1
