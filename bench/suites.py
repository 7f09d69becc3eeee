"""Suites: named lists of items (prompt, seed, shape, metadata) that a generator is asked
for. ``vidbench suites list|show``. Suites, the built-ins included, are found through the
``vidbench.suites`` entry-point group (:mod:`vidbench.plugins`) and built on first use;
``vbench:PATH`` loads a VBench prompt file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidbench.errors import UserError
from vidbench.fileio import loads_json, read_text
from vidbench.plugins import SUITES
from vidbench.suite_model import Suite, SuiteItem


def suite_names() -> list[str]:
    """Every known suite name (entry points of ``vidbench.suites``, vidbench's own first)."""
    return SUITES.names()


def get_suite(name: str) -> Suite:
    """A suite by name, ``vbench:PATH`` for a VBench prompt file, or ``vbench-full:DIM`` for
    one dimension's prompts of VBench's full suite. ``NAME@LANGS`` (e.g.
    ``physics-mini@zh``, ``physics-mini@en,zh``) selects languages of a built-in suite's
    paired twins (:mod:`vidbench.bilingual`); ``NAME`` alone is the English suite."""
    if "@" in name and not name.startswith("vbench:"):
        from vidbench.bilingual import with_languages

        base, _, langs = name.rpartition("@")
        return with_languages(get_suite(base), langs)
    if name.startswith("vbench:"):
        return load_vbench_prompts(Path(name[len("vbench:"):]))
    if name.startswith("vbench-full:"):
        from vidbench.vbench_suite import vbench_full

        return vbench_full(name[len("vbench-full:"):])
    return SUITES.load(name)()


def load_vbench_prompts(path: Path, samples_per_prompt: int = 5) -> Suite:
    """VBench prompt files: a .txt with one prompt per line, or VBench's full-info JSON
    (a list of {"prompt_en": ..., "dimension": [...]})."""
    if not path.is_file():
        raise UserError(f"{path}: no such VBench prompt file")
    text = read_text(path)
    entries: list[tuple[str, dict[str, Any]]] = []
    if path.suffix == ".json":
        data = loads_json(text, str(path))
        for rec in data:
            prompt = rec.get("prompt_en") or rec.get("prompt")
            if not prompt:
                continue
            entries.append((prompt, {"dimension": rec.get("dimension", [])}))
    else:
        entries = [(ln.strip(), {}) for ln in text.splitlines() if ln.strip()]
    items = []
    for p_i, (prompt, meta) in enumerate(entries):
        for s in range(samples_per_prompt):
            items.append(SuiteItem(item=f"p{p_i:04d}-{s}", prompt=prompt, seed=s,
                                   meta=dict(meta, vbench_index=s)))
    return Suite(name=f"vbench:{path.name}", description=f"VBench prompts from {path}",
                 items=items)


__all__ = ["Suite", "SuiteItem", "get_suite", "load_vbench_prompts", "suite_names"]
