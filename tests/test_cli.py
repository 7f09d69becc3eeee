"""The command line: help everywhere, one-line user errors with exit 2, python -m."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vidbench.cli import main


@pytest.mark.parametrize("cmd", [[], ["score"], ["weights"], ["suites"], ["run"],
                                 ["generate"], ["reference", "build"], ["leaderboard"],
                                 ["check"], ["train"]])
def test_help_everywhere(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([*cmd, "--help"])
    assert e.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_user_error_is_one_line_exit_2(tmp_path, capsys):
    rc = main(["score", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("vidbench: ") and "missing.jsonl" in err


def test_debug_shows_traceback(tmp_path):
    with pytest.raises(Exception, match="missing.jsonl"):
        main(["--debug", "score", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path)])


def test_python_dash_m_and_weights_list(tmp_path):
    out = subprocess.run([sys.executable, "-m", "vidbench", "weights", "list"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "clip-vit-b-32-openai" in out.stdout and "missing" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "vidbench", "weights", "path", "nope"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown weights 'nope'" in bad.stderr


def test_suites_and_metrics_list(capsys):
    assert main(["suites", "list"]) == 0
    assert "synthetic-mini" in capsys.readouterr().out
    assert main(["metrics"]) == 0
    assert "fvd" in capsys.readouterr().out
