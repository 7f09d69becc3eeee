"""Data-parallel training of the reference DiT: ``torchrun`` with 2 gloo processes must
follow the loss trajectory of 1 process at the same global batch (same samples, same noise,
summed gradients)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vidbench.models.dit.checkpoint import load_model

ARGS = ["--config", "tiny", "--steps", "4", "--batch", "4", "--lr", "1e-3", "--warmup", "1",
        "--log-every", "1", "--threads", "1", "--device", "cpu",
        "--set", "hidden=32", "--set", "depth=2", "--set", "heads=2", "--set", "num_frames=4",
        "--set", "height=8", "--set", "width=8", "--set", "text_dim=16", "--set", "text_len=8",
        "--set", "cond_frames=1"]


def _run(cmd: list[str], tmp: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]


def _losses(out: Path) -> list[float]:
    with open(out / "log.csv") as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


@pytest.mark.slow
def test_torchrun_two_gloo_processes_match_one_process(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    _run([sys.executable, "-m", "vidbench.models.dit.cli", "--out", str(one), *ARGS], tmp_path)
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
          "-m", "vidbench.models.dit.cli", "--out", str(two), *ARGS], tmp_path)
    l1, l2 = _losses(one), _losses(two)
    assert len(l1) == len(l2) == 4
    assert l1[-1] < l1[0] * 1.5  # a real trajectory, not NaN or divergence
    np.testing.assert_allclose(l2, l1, rtol=1e-4, atol=1e-6)
    m1, _ = load_model(one)
    m2, _ = load_model(two)
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values(), strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)
