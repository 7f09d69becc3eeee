"""The checkpoints shipped in ``models/dit/checkpoints/`` and how a name selects one.

A *shipped name* is the stem of a ``checkpoints/<name>.safetensors`` file (``tiny``,
``tiny-bi``). ``dit:tiny-bi`` and ``vidbench train --init-from tiny`` accept one; anything
else is read as a path. No torch import here: a typo fails before the model stack loads.
"""

from __future__ import annotations

import re
from pathlib import Path

CHECKPOINT_DIR = Path(__file__).with_name("checkpoints")
DEFAULT_NAME = "tiny"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def shipped_names() -> list[str]:
    """Stems of the shipped ``.safetensors`` files, sorted."""
    return sorted(p.stem for p in CHECKPOINT_DIR.glob("*.safetensors"))


def shipped_path(name: str) -> Path | None:
    """``checkpoints/<name>.safetensors`` when ``name`` is a bare shipped name, else None."""
    if not _NAME.match(name):
        return None
    p = CHECKPOINT_DIR / f"{name}.safetensors"
    return p if p.is_file() else None


def resolve(target: str) -> tuple[Path, str | None]:
    """``target`` -> (checkpoint path, shipped name or None). An existing path wins over a
    shipped name of the same spelling; a bare name that is neither is returned as a path
    (the caller reports it missing)."""
    p = Path(target).expanduser()
    if p.exists():
        return p, None
    s = shipped_path(target)
    return (s, target) if s is not None else (p, None)
