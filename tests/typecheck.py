"""Type-check the vidbench package with mypy (``make typecheck``; ``make test`` runs it).

The four source folders are one import namespace only once installed (pyproject's
``package-dir``), and mypy cannot follow an editable install's import hook. So this script
lays the namespace out as a tree of symbolic links in ``.typecheck/`` (``vidbench/`` ->
``bench/*``, ``vidbench/metrics`` -> ``metrics/``, ...) and runs ``mypy -p vidbench`` on it
with the configuration in pyproject.toml (``[tool.mypy]``). Exit status: mypy's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREE = ROOT / ".typecheck"
SUBPACKAGES = {"metrics": "metrics", "models": "models", "leaderboard": "leaderboard"}


def build_tree(tree: Path = TREE) -> Path:
    """``tree/vidbench`` laid out as the installed package, by symbolic links."""
    pkg = tree / "vidbench"
    if pkg.exists():  # rebuilt each run (files come and go); mypy's cache beside it stays
        shutil.rmtree(pkg)
    pkg.mkdir(parents=True)
    for child in sorted((ROOT / "bench").iterdir()):
        if child.name == "__pycache__":
            continue
        (pkg / child.name).symlink_to(child)
    for name, folder in SUBPACKAGES.items():
        (pkg / name).symlink_to(ROOT / folder)
    return tree


def main(argv: list[str] | None = None) -> int:
    tree = build_tree()
    env = dict(os.environ, MYPYPATH=str(tree))
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
           "-p", "vidbench", *(argv if argv is not None else sys.argv[1:])]
    return subprocess.call(cmd, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
