"""VBench's prompt suite: ``vbench-full`` (all 946 prompts) and ``vbench-full:DIMENSION``.

The prompts are read from VBench's own ``VBench_full_info.json``: the copy inside the
installed ``vbench`` package (located with ``importlib.util.find_spec``, never imported, so
none of its heavy imports run), or a user's copy named in ``VIDBENCH_VBENCH_FULL_INFO``.
Nothing of VBench's is vendored into this repository.

Each prompt becomes :data:`SAMPLES_PER_PROMPT` items, as VBench samples it: item
``p{k:04d}-{i}`` with sample index ``i`` (``meta["vbench_index"]``) and seed ``i``, so a
folder of VBench-named videos (``{prompt}-{i}.mp4``) scores without renaming (the folder
adapter matches on prompt and index). The record's ``dimension`` list and
``auxiliary_info`` (the object, colour, relation, scene or style a prompt asks for, keyed by
dimension as in the file) travel in the item's ``meta``; metrics read their own entry.

Per-dimension scoring, as VBench: a VBench dimension is scored only on the prompts tagged
with it (VBench's ``load_dimension_info``); :func:`not_tagged` gives the reason the runner
records for the others, so a ``vbench-full`` run's ``subject_consistency`` is over the 72
subject-consistency prompts, not all 946.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from vidbench.errors import UserError
from vidbench.fileio import regular_file_problem

#: VBench samples every prompt this many times (``{prompt}-0.mp4`` ... ``-4.mp4``)
SAMPLES_PER_PROMPT = 5
FULL_INFO_NAME = "VBench_full_info.json"
ENV_FULL_INFO = "VIDBENCH_VBENCH_FULL_INFO"

#: VBench's 16 dimension names -> vidbench metric names
VBENCH_DIMENSIONS: dict[str, str] = {
    "subject_consistency": "subject_consistency",
    "background_consistency": "background_consistency",
    "temporal_flickering": "temporal_flicker",
    "motion_smoothness": "motion_smoothness",
    "dynamic_degree": "dynamic_degree",
    "aesthetic_quality": "aesthetic_quality",
    "imaging_quality": "imaging_quality",
    "object_class": "object_class",
    "multiple_objects": "multiple_objects",
    "human_action": "human_action",
    "color": "color",
    "spatial_relationship": "spatial_relationship",
    "scene": "scene",
    "appearance_style": "appearance_style",
    "temporal_style": "temporal_style",
    "overall_consistency": "overall_consistency",
}
#: vidbench metric name -> VBench dimension name
METRIC_TO_VBENCH = {v: k for k, v in VBENCH_DIMENSIONS.items()}


def official_vbench_file(relpath: str, env: str, needed_for: str) -> Path:
    """``$env`` when set, else ``relpath`` inside the installed official ``vbench`` package
    (located with ``find_spec``, never imported); otherwise a UserError that says how to get
    it. ``needed_for`` opens the error (e.g. "scene needs Tag2Text's 3429 tag names")."""
    value = os.environ.get(env)
    if value:
        return Path(value)
    spec = importlib.util.find_spec("vbench")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        p = Path(loc) / relpath
        if p.is_file():
            return p
    raise UserError(f"{needed_for}: install the official vbench package (pip install "
                    f"--no-deps vbench==0.1.5) or point {env} at a copy of its {relpath}")


def full_info_path() -> Path:
    """The full-info file: ``$VIDBENCH_VBENCH_FULL_INFO``, else the installed package's."""
    p = official_vbench_file(FULL_INFO_NAME, ENV_FULL_INFO,
                             f"vbench-full needs VBench's {FULL_INFO_NAME}")
    if not p.is_file():
        raise UserError(f"{ENV_FULL_INFO}={p}: no such file")
    return p


def read_full_info(path: Path) -> list[dict[str, Any]]:
    """The records of a full-info file, validated; errors name the file and the record."""
    problem = regular_file_problem(path)
    if problem:
        raise UserError(problem)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of prompt records")
    for k, rec in enumerate(data):
        where = f"{path}: record {k}"
        if not isinstance(rec, dict):
            raise UserError(f"{where}: expected an object")
        prompt = rec.get("prompt_en", rec.get("prompt"))
        if not isinstance(prompt, str) or not prompt.strip():
            raise UserError(f"{where}: no prompt_en")
        dims = rec.get("dimension", [])
        if not isinstance(dims, list) or not all(isinstance(d, str) for d in dims):
            raise UserError(f"{where}: dimension: expected a list of names")
        aux = rec.get("auxiliary_info", {})
        if not isinstance(aux, dict):
            raise UserError(f"{where}: auxiliary_info: expected an object")
    return data


def resolve_dimension(name: str) -> str:
    """A VBench dimension from its VBench or vidbench name (``temporal_flicker`` ->
    ``temporal_flickering``)."""
    if name in VBENCH_DIMENSIONS:
        return name
    if name in METRIC_TO_VBENCH:
        return METRIC_TO_VBENCH[name]
    raise UserError(f"unknown VBench dimension {name!r}; known: "
                    f"{', '.join(VBENCH_DIMENSIONS)}")


def vbench_full(dimension: str | None = None, path: Path | None = None,
                samples: int = SAMPLES_PER_PROMPT):
    """The ``vbench-full`` suite (or its ``dimension`` subset) from VBench's full-info file."""
    from vidbench.suite_model import Suite, SuiteItem

    dim = resolve_dimension(dimension) if dimension else None
    path = path or full_info_path()
    records = read_full_info(path)
    items = []
    for k, rec in enumerate(records):
        dims = list(rec.get("dimension", []))
        if dim is not None and dim not in dims:
            continue
        meta: dict[str, Any] = {"dimension": dims}
        if rec.get("auxiliary_info"):
            meta["auxiliary_info"] = rec["auxiliary_info"]
        prompt = str(rec.get("prompt_en", rec.get("prompt")))
        for i in range(samples):
            items.append(SuiteItem(item=f"p{k:04d}-{i}", prompt=prompt, seed=i,
                                   meta=dict(meta, vbench_index=i)))
    name = "vbench-full" + (f":{dimension}" if dimension else "")
    what = f"VBench's {dim} prompts" if dim else "All of VBench's prompts"
    metrics = (VBENCH_DIMENSIONS[dim],) if dim else ()
    return Suite(name=name, description=f"{what} from {path.name}, {samples} samples each "
                                        f"({len(items)} videos)",
                 items=items, metrics=metrics)


def not_tagged(metric: str, meta: dict | None) -> str | None:
    """Why ``metric`` does not score an item of a VBench suite (its prompt is not tagged
    with the metric's dimension), or None (it does, or the item carries no VBench tags, or
    the metric is not a VBench dimension)."""
    dims = (meta or {}).get("dimension")
    vb = METRIC_TO_VBENCH.get(metric)
    if vb is None or not isinstance(dims, list):
        return None
    if vb in dims:
        return None
    return f"not a {vb} prompt (VBench scores each dimension on its own prompts)"


def auxiliary(meta: dict | None, dimension: str) -> Any:
    """The auxiliary info of ``dimension`` in an item's meta (VBench's file keys it by
    dimension: ``{"color": {"color": "red"}}`` -> ``{"color": "red"}``), or None."""
    aux = (meta or {}).get("auxiliary_info")
    if not isinstance(aux, dict):
        return None
    return aux.get(dimension)
