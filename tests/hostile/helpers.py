"""Shared pieces of the hostile corpus: small real videos and a CLI runner with a timeout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from vidbench import video as video_io
from vidbench.manifest import write_manifest
from vidbench.synthetic import moving_disc

TESTS_DIR = Path(__file__).resolve().parent.parent


def clip(path: Path, n: int = 8, seed: int = 0) -> Path:
    frames = moving_disc(n, 32, 8.0, velocity=(4.0, 2.0), seed=seed)
    return video_io.write_video(path, frames, 8.0)


def manifest(root: Path, names: list[str], **extra) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    entries = [{"video": v, "prompt": f"clip {i}", "seed": i, "model": "m", "suite": "s",
                "item": f"it{i}", "meta": {}, **extra} for i, v in enumerate(names)]
    return write_manifest(root / "manifest.jsonl", entries)


def vidbench(args: list[str], cwd: Path, timeout: float = 120, env_extra: dict | None = None,
             preexec=None) -> subprocess.CompletedProcess:
    """``python -m vidbench ARGS`` with the test metrics registered; a hang is a
    TimeoutExpired (the test fails instead of the suite stalling)."""
    env = dict(os.environ, VIDBENCH_PLUGINS="plugins_for_tests",
               PYTHONPATH=str(TESTS_DIR) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "vidbench", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout,
                          preexec_fn=preexec)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """Assert exit 2 with one ``vidbench: ...`` line and no traceback; return the line."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("vidbench: ")
             and not ln.startswith(("vidbench: note:", "vidbench: progress:"))]
    assert len(lines) == 1, proc.stderr[-2000:]
    return lines[0]
