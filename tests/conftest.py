"""Shared test setup: an isolated VIDBENCH_HOME, quiet progress bars, small thread counts,
and helpers that render and write the clips tests score."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ["CI"] = os.environ.get("CI", "true")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """The ``weights`` and ``gpu`` markers skip by themselves: ``weights`` unless
    VIDBENCH_TEST_WEIGHTS_HOME names a VIDBENCH_HOME holding the real files (the test's
    docstring says which), ``gpu`` unless torch sees a CUDA device."""
    if item.get_closest_marker("weights") and not os.environ.get("VIDBENCH_TEST_WEIGHTS_HOME"):
        pytest.skip("needs real weights: set VIDBENCH_TEST_WEIGHTS_HOME to a VIDBENCH_HOME "
                    "holding them")
    if item.get_closest_marker("gpu"):
        import torch

        if not torch.cuda.is_available():
            pytest.skip("needs a CUDA device")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own VIDBENCH_HOME: no weights, no caches from elsewhere."""
    home = tmp_path_factory.mktemp("vidbench_home")
    monkeypatch.setenv("VIDBENCH_HOME", str(home))
    monkeypatch.setenv("VIDBENCH_OFFLINE", "1")
    yield home


@pytest.fixture
def write_clip(tmp_path):
    """write_clip(name, frames, fps=8.0, **kw) -> Path of an mp4 under tmp_path."""
    from vidbench.video import write_video

    def _write(name: str, frames: np.ndarray, fps: float = 8.0, **kw) -> Path:
        return write_video(tmp_path / name, frames, fps, **kw)

    return _write
