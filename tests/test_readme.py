"""The README's commands run as written on a machine without pretrained weights.

Every fenced ``bash`` block preceded by an ``<!-- runnable -->`` line in README.md and docs/*.md
is run, command by command, in one scratch folder, in document order (README first, then docs
in name order), so later blocks can use what earlier ones wrote, as a newcomer following the
README would. ``vidbench`` and ``.venv/bin/vidbench`` run as ``python -m vidbench`` with this
interpreter. A command whose comment says ``exit N`` must exit N; any other must
exit 0, except ``vidbench check``, which may exit 1 (a regression is a verdict, not a failure of
the command); 2 is a failure unless a comment asks for it.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARK = "<!-- runnable -->"


def runnable_blocks(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, commands) of each marked bash block of ``path``; continuation lines are
    joined and ``#`` comments dropped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.strip() != MARK:
            continue
        if i + 1 >= len(lines) or not lines[i + 1].strip().startswith("```bash"):
            raise AssertionError(f"{path}:{i + 1}: {MARK} must be followed by a ```bash fence")
        body, j = [], i + 2
        while not lines[j].strip().startswith("```"):
            body.append(lines[j])
            j += 1
        joined = re.sub(r"\\\n\s*", " ", "\n".join(body))
        cmds = []
        for x in joined.splitlines():
            words = shlex.split(x, comments=True)
            if words:
                m = re.search(r"#.*\bexit\s+(\d+)\b", x)
                cmds.append((shlex.join(words), int(m.group(1)) if m else None))
        blocks.append((i + 2, cmds))
    return blocks


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_runnable_blocks_are_found_and_well_formed():
    found = {p.name: runnable_blocks(p) for p in documents()}
    readme = found["README.md"]
    assert len(readme) >= 2, "README lost its runnable blocks"
    for _, cmds in readme:
        assert all(shlex.split(c)[0] in ("vidbench", ".venv/bin/vidbench") for c, _ in cmds)
    ci = found["ci.md"]
    assert ci and any(code == 1 for _, cmds in ci for _, code in cmds)


def _argv(cmd: str, cwd: Path) -> list[str]:
    words = shlex.split(cmd)
    assert words[0] in ("vidbench", ".venv/bin/vidbench"), f"not a vidbench command: {cmd}"
    out = [sys.executable, "-m", "vidbench"]
    for w in words[1:]:
        if any(ch in w for ch in "*?["):
            matches = sorted(glob.glob(w, root_dir=cwd))
            assert matches, f"{cmd}: {w} matches nothing"
            out += matches
        else:
            out.append(w)
    return out


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "2")
    ran = 0
    for doc in documents():
        for line, cmds in runnable_blocks(doc):
            for cmd, code in cmds:
                r = subprocess.run(_argv(cmd, tmp_path), cwd=tmp_path, env=env,
                                   capture_output=True, text=True, timeout=900)
                if code is not None:
                    allowed: tuple[int, ...] = (code,)
                else:
                    allowed = (0, 1) if shlex.split(cmd)[1] == "check" else (0,)
                assert r.returncode in allowed, (
                    f"{doc.name}:{line}: `{cmd}` exited {r.returncode}\n{r.stderr[-3000:]}")
                ran += 1
    assert ran >= 12
    # the README's reruns are byte-identical, so its `check` passes
    main, new = tmp_path / "runs" / "main", tmp_path / "runs" / "new"
    for v in sorted((main / "videos").iterdir()):
        assert v.read_bytes() == (new / "videos" / v.name).read_bytes(), v.name
    # the manifest example in the README has the shape of a real manifest line
    example = re.search(r"```json\n(\{\"video\".*?\})\n```",
                        (ROOT / "README.md").read_text(), re.S)
    assert example is not None
    shown = json.loads(example.group(1))
    real = json.loads((main / "manifest.jsonl").read_text().splitlines()[0])
    assert list(shown) == list(real)
    assert shown["model"] == real["model"] and shown["suite"] == real["suite"]
    items = {json.loads(x)["item"] for x in (main / "manifest.jsonl").read_text().splitlines()}
    assert shown["item"] in items
    assert (tmp_path / "board" / "leaderboard.md").is_file()
    assert (tmp_path / "junit.xml").is_file()
