"""``--model folder:DIR`` — videos someone already generated.

``DIR`` is read the way ``vidbench score`` reads it (:func:`vidbench.manifest.read_manifest`):

1. ``DIR/manifest.jsonl``: suite items are matched by ``item`` id, then by (prompt, seed),
   then by prompt in order;
2. ``DIR/prompts.json`` (``{relative_path: prompt}``): matched by file stem == item id, then
   by prompt (several videos of one prompt go to that prompt's items in file-name order);
3. VBench file names ``{prompt}-{i}.mp4``: matched by prompt and sample index ``i`` (the
   item's ``meta["vbench_index"]``, else its position among the items with that prompt).

Prompts match exactly or after normalisation (case, whitespace and punctuation ignored), since
file names cannot hold every character. Suite items with no video are listed in one error
before anything is copied, unless the run allows missing videos (``--allow-missing``): then
each is reported as missing. Videos that match no item are logged and left out.

Spec options: ``name=`` the model name recorded in the manifest (default: the source
manifest's uniform ``model`` field, else ``folder:DIR``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from vidbench.adapters import Adapter, Generated, GenerationRun, MissingVideoError
from vidbench.errors import UserError
from vidbench.manifest import MANIFEST_NAME, Manifest, ManifestEntry, read_manifest
from vidbench.progress import info
from vidbench.suites import SuiteItem

_NORM = re.compile(r"[\W_]+", re.UNICODE)


def norm_prompt(prompt: str) -> str:
    """Prompt key for matching: casefolded, punctuation and whitespace runs to one space."""
    return _NORM.sub(" ", prompt.casefold()).strip()


class FolderAdapter(Adapter):
    """Serves pre-generated videos from a folder; see the module docstring."""

    scheme = "folder"

    def __init__(self, target: str = "", **options: Any) -> None:
        super().__init__(target, **options)
        if not target:
            raise UserError("folder adapter: give the folder, e.g. --model folder:videos/")
        self.root = Path(target).expanduser()
        if not self.root.is_dir():
            raise UserError(f"folder adapter: {self.root} is not a folder")
        self.source: Manifest = read_manifest(self.root)
        self._match: dict[str, tuple[ManifestEntry, str]] | None = None
        self._seen: list[SuiteItem] = []  # every item asked for, in order
        self._allow_missing = False
        models = {e.model for e in self.source.entries if e.model}
        self._name = options.get("name") or (models.pop() if len(models) == 1 else None)

    @property
    def model_id(self) -> str:
        return self._name or f"folder:{self.target}"

    # ------------------------------------------------------------------ matching

    def match(self, items: list[SuiteItem]) -> dict[str, tuple[ManifestEntry, str]]:
        """item id -> (source entry, how it was matched) for the items that have a video."""
        entries = list(self.source.entries)
        used: set[int] = set()
        out: dict[str, tuple[ManifestEntry, str]] = {}
        by_item: dict[str, int] = {}
        for i, e in enumerate(entries):
            by_item.setdefault(e.item, i)
            by_item.setdefault(Path(e.video).with_suffix("").as_posix(), i)
            by_item.setdefault(Path(e.video).stem, i)
        # 1. item id (manifest item, file path without suffix, or file stem)
        for it in items:
            hit = by_item.get(it.item)
            if hit is not None and hit not in used:
                out[it.item] = (entries[hit], "item")
                used.add(hit)
        # 2. prompt (+ seed or VBench sample index)
        groups: dict[str, list[int]] = defaultdict(list)
        for i, e in enumerate(entries):
            if i not in used and e.prompt:
                groups[e.prompt].append(i)
                k = norm_prompt(e.prompt)
                if k != e.prompt:
                    groups[k].append(i)
        rest = [it for it in items if it.item not in out]
        for it in rest:
            cand = [i for i in dict.fromkeys(groups.get(it.prompt, [])
                                             + groups.get(norm_prompt(it.prompt), []))
                    if i not in used]
            if not cand:
                continue
            idx = it.meta.get("vbench_index") if isinstance(it.meta, dict) else None
            pick = None
            if idx is None:
                idx = it.seed
            same = [i for i in cand if entries[i].seed is not None and entries[i].seed == idx]
            if same:
                pick, how = same[0], "prompt+index"
            elif all(entries[i].seed is None for i in cand):
                pick, how = sorted(cand, key=lambda i: entries[i].video)[0], "prompt"
            if pick is None:
                continue
            out[it.item] = (entries[pick], how)
            used.add(pick)
        unmatched = [entries[i].video for i in range(len(entries)) if i not in used]
        if unmatched:
            info(f"{self.root}: {len(unmatched)} video(s) match no suite item (e.g. "
                 f"{', '.join(unmatched[:3])})")
        return out

    def prepare(self, run: GenerationRun) -> None:
        self._allow_missing = run.allow_missing
        if run.out_dir.resolve() == self.root.resolve():
            raise UserError(f"folder adapter: the output folder {run.out_dir} is the source "
                            f"folder; write to another folder (videos are hard-linked, not "
                            f"copied, when both are on one file system)")
        self._seen = list(run.items)
        self._match = self.match(self._seen)
        missing = [it for it in run.items if it.item not in self._match]
        if missing and not run.allow_missing:
            shown = ", ".join(f"{it.item} ({it.prompt[:40]!r})" for it in missing[:8])
            more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
            raise UserError(f"{self.root}: no video for {len(missing)} of {len(run.items)} "
                            f"suite items: {shown}{more}; pass --allow-missing to score the "
                            f"rest")

    def generate_many(self, items: Iterable[SuiteItem]
                      ) -> Iterator[tuple[SuiteItem, Generated | BaseException]]:
        items = list(items)
        known = {it.item for it in self._seen}
        new = [it for it in items if it.item not in known]
        if self._match is None or new:
            # match over every item seen so far, in order, so that prompt-order matching
            # gives the same answer whether items come one by one or all at once
            self._seen.extend(new)
            self._match = self.match(self._seen)
        for it in items:
            hit = self._match.get(it.item)
            if hit is None:
                yield it, MissingVideoError(f"{self.root}: no video for item {it.item!r} "
                                            f"(prompt {it.prompt!r}, seed {it.seed})")
                continue
            entry, how = hit
            if entry.problem:
                yield it, FileNotFoundError(entry.problem)
                continue
            yield it, Generated(path=entry.path, params={"source": entry.video,
                                                         "matched_by": how})

    def generate_one(self, item: SuiteItem) -> Generated:
        ((_, result),) = list(self.generate_many([item]))
        if isinstance(result, BaseException):
            raise result
        return result


__all__ = ["FolderAdapter", "norm_prompt", "MANIFEST_NAME"]
