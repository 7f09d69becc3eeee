"""The pytest configuration works by itself: ``weights`` and ``gpu`` markers skip without
a per-test skipif, and pytest-timeout is configured."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_weights_and_gpu_markers_skip_by_themselves(tmp_path):
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (tests / "test_marked.py").write_text(textwrap.dedent('''
        import pytest

        @pytest.mark.weights
        def test_needs_weights():
            assert False, "ran without weights"

        @pytest.mark.gpu
        def test_needs_gpu():
            import torch
            assert torch.cuda.is_available()

        def test_plain():
            pass
    '''))
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    env = {k: v for k, v in os.environ.items() if k != "VIDBENCH_TEST_WEIGHTS_HOME"}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-rs", str(tests)], cwd=tmp_path, capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "needs real weights" in r.stdout
    assert "1 passed" in r.stdout and "skipped" in r.stdout


def test_timeout_is_configured(pytestconfig):
    assert float(pytestconfig.getini("timeout")) > 0
