"""Warm-starting a DiT from a checkpoint whose config differs only on the text side.

``vidbench train --init-from CKPT`` (a path or a shipped name) builds the new model, then
copies every tensor of ``CKPT`` into it. The two configs may differ only in ``name``,
``vocab`` (the new one must hold every old word), ``langs`` and ``text_len`` (which may only
grow); anything else is an error naming the differing fields, and every weight other than the
text encoder's two tables loads strictly (an error names missing, unexpected and mis-shaped
keys).

The two text tables:

- ``text.embed.weight`` (rows: 0 padding, 1 unknown, then the sorted vocabulary): rows of
  padding, unknown and every word of the old vocabulary are copied by *word* (the sorted
  order shifts when words are added); each new word's row is a copy of the old **unknown**
  row. The old model read every new word (a Chinese character, an English word it never
  learned) as the unknown token, so with this init the new model encodes every prompt that
  fits in the old ``text_len`` exactly as the old one did: its outputs are the old outputs,
  and fine-tuning starts from the old model's behaviour, not from a perturbed one. (The mean
  of the old rows would change every prompt holding a new word before the first step.)
- ``text.pos`` (one row per text position): the old rows are copied; each new position
  (``old text_len`` and beyond) gets the **mean of the old rows**. Tokens there were cut by
  the old model, so no init preserves its outputs for longer prompts; the mean keeps the
  offset that all trained positions share (the part the cross-attention has adapted to)
  without claiming any particular position, where zeros would give those tokens an offset
  the model never saw.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from vidbench.errors import UserError
from vidbench.models.dit.configs import DiTConfig
from vidbench.models.dit.model import VideoDiT
from vidbench.models.dit.shipped import resolve

#: config fields a warm start may change
TEXT_FIELDS = ("name", "vocab", "langs", "text_len")


def read_checkpoint(target: str | Path) -> tuple[Path, DiTConfig, dict[str, torch.Tensor]]:
    """A model checkpoint (path, training folder or shipped name) -> (path, config, float32
    tensors)."""
    from vidbench.models.dit.checkpoint import FORMAT, read_metadata

    path, _ = resolve(str(target))
    if path.is_dir():
        path = path / "ema.safetensors"
    if not path.is_file():
        raise UserError(f"--init-from {target}: no such DiT checkpoint ({path})")
    meta = read_metadata(path)
    if meta.get("format") != FORMAT or "vidbench.dit.config" not in meta:
        raise UserError(f"--init-from {path}: not a vidbench DiT checkpoint")
    cfg = DiTConfig.from_json(json.loads(meta["vidbench.dit.config"]))
    sd = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    return path, cfg, sd


def check_compatible(old: DiTConfig, new: DiTConfig) -> None:
    """UserError unless ``new`` is ``old`` with only :data:`TEXT_FIELDS` changed, a vocabulary
    that keeps every old word and a text length that does not shrink."""
    differ = [f.name for f in dataclasses.fields(DiTConfig)
              if f.name not in TEXT_FIELDS and getattr(old, f.name) != getattr(new, f.name)]
    if differ:
        raise UserError(f"--init-from: config {new.name!r} differs from the checkpoint's "
                        f"{old.name!r} beyond the text side: "
                        + ", ".join(f"{k} {getattr(old, k)!r} -> {getattr(new, k)!r}"
                                    for k in differ))
    if old.text_encoder != "tokens":
        raise UserError(f"--init-from: config {old.name!r} has no token text encoder "
                        f"({old.text_encoder!r}); only its vocabulary could be extended")
    lost = sorted(set(old.vocab) - set(new.vocab))
    if lost:
        raise UserError(f"--init-from: the new vocabulary drops {len(lost)} word(s) the "
                        f"checkpoint learned: {', '.join(lost[:10])}")
    if new.text_len < old.text_len:
        raise UserError(f"--init-from: text_len {new.text_len} < the checkpoint's "
                        f"{old.text_len}")


def merged_vocab(old: DiTConfig, new_words) -> tuple[str, ...]:
    """The sorted union of a checkpoint's vocabulary and ``new_words``."""
    return tuple(sorted(set(old.vocab) | set(new_words)))


@torch.no_grad()
def warm_start(model: VideoDiT, target: str | Path) -> dict:
    """Load ``target``'s weights into ``model`` as described in the module docstring;
    returns what was done (path, counts of copied / new rows and positions)."""
    path, old, src = read_checkpoint(target)
    new = model.cfg
    check_compatible(old, new)
    dst = model.state_dict()
    text_keys = {"text.embed.weight", "text.pos"}
    missing = sorted(k for k in dst if k not in src)
    unexpected = sorted(k for k in src if k not in dst)
    shape = sorted(f"{k} {tuple(src[k].shape)} -> {tuple(v.shape)}" for k, v in dst.items()
                   if k in src and k not in text_keys and src[k].shape != v.shape)
    if missing or unexpected or shape:
        raise UserError(f"--init-from {path}: weights do not match config {new.name!r}: "
                        f"missing {missing}, unexpected {unexpected}, shape {shape}")
    out = {k: src[k] for k in dst if k not in text_keys}
    old_emb, old_pos = src["text.embed.weight"], src["text.pos"]
    if old_emb.shape != (len(old.vocab) + 2, old.text_dim) or \
            old_pos.shape != (old.text_len, old.text_dim):
        raise UserError(f"--init-from {path}: text tables {tuple(old_emb.shape)} / "
                        f"{tuple(old_pos.shape)} do not match its config")
    old_index = {w: i + 2 for i, w in enumerate(old.vocab)}
    emb = old_emb[1].expand(len(new.vocab) + 2, -1).clone()  # every row: the unknown token
    emb[0] = old_emb[0]
    for i, w in enumerate(new.vocab):
        if w in old_index:
            emb[i + 2] = old_emb[old_index[w]]
    pos = old_pos.mean(0, keepdim=True).expand(new.text_len, -1).clone()
    pos[: old.text_len] = old_pos
    out["text.embed.weight"], out["text.pos"] = emb, pos
    model.load_state_dict(out, strict=True)
    return {"init_from": str(path), "init_config": old.name,
            "words_kept": len(old.vocab), "words_new": len(new.vocab) - len(old.vocab),
            "positions_kept": old.text_len, "positions_new": new.text_len - old.text_len,
            "new_word_init": "unknown-token row", "new_position_init": "mean of old rows"}
