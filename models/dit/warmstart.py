"""Warm-starting a DiT from a checkpoint whose config differs on the text side, or in
resolution by a whole spatial factor on the same token grid.

``vidbench train --init-from CKPT`` (a path or a shipped name) builds the new model, then
copies every tensor of ``CKPT`` into it. The two configs may differ only in ``name``,
``vocab`` (the new one must hold every old word), ``langs`` and ``text_len`` (which may only
grow), and in ``height``/``width``/``patch`` when the new frame is the old one scaled by a
whole factor ``s`` with the spatial patch scaled by the same ``s`` (the token grid, and so
every attention and MLP weight, is unchanged); anything else is an error naming the differing
fields, and every weight other than the text encoder's two tables and the two pixel-facing
layers loads strictly (an error names missing, unexpected and mis-shaped keys).

The resolution lift (``tiny`` 16x16 / tubelets 1x4x4 -> ``tiny32-p8`` 32x32 / 1x8x8):

- ``x_embed.proj.weight`` (one column per input pixel of a tubelet): copied as is when the
  new config reads its input on the old grid (``noise_block`` = s, as ``tiny32-p8``);
  otherwise each old column is spread over the s x s new pixels it covers, divided by s^2.
  Either way the new embedding of a frame equals the old embedding of its s x s area average
  (the adapter's own area downsample);
- ``final.linear`` (one row per output pixel of a tubelet): each old row is repeated over the
  s x s new pixels, so the new output is the old output upsampled by nearest neighbour.

Hence for any input that is a nearest-neighbour upsampling of an old-size input the new
model's output is exactly the upsampled old output (tested). The new config should draw its
prior noise on the old pixel grid (``noise_block`` = s x the old one): with i.i.d. noise per
new pixel, the s x s average the lifted embedding takes has 1/s of the noise's standard
deviation, and the (s^2 - 1)/s^2 of the noise below the old pixel is something the lifted
network cannot see or remove (measured: a first training loss of 0.79 against tiny-bi's
0.03). With block noise, and the input read on the block grid (configs.noise_block says
why), the lifted model starts as the old one and fine-tuning at the new size only has to
learn to generate the detail below the old pixel.

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
#: config fields a resolution lift may change (see :func:`lift_factor`)
SPATIAL_FIELDS = ("height", "width", "patch", "noise_block")


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


def lift_factor(old: DiTConfig, new: DiTConfig) -> int:
    """The whole factor s with new height/width/spatial patch = s x the old ones, the same
    temporal patch and so the same token grid (1 when they are equal); UserError otherwise."""
    (pt0, ph0, pw0), (pt1, ph1, pw1) = old.patch, new.patch
    s = new.height // old.height  # a config's height is a positive multiple of its patch
    ok = (s >= 1 and pt1 == pt0 and new.height == s * old.height and new.width == s * old.width
          and ph1 == s * ph0 and pw1 == s * pw0 and new.grid == old.grid)
    if not ok:
        raise UserError(f"--init-from: config {new.name!r} ({new.height}x{new.width}, patch "
                        f"{new.patch}) is not the checkpoint's {old.name!r} ({old.height}x"
                        f"{old.width}, patch {old.patch}) scaled by a whole factor on the same "
                        f"token grid")
    return s


def check_compatible(old: DiTConfig, new: DiTConfig) -> None:
    """UserError unless ``new`` is ``old`` with only :data:`TEXT_FIELDS` changed (a
    vocabulary that keeps every old word, a text length that does not shrink) and, optionally,
    :data:`SPATIAL_FIELDS` changed by a whole factor (:func:`lift_factor`)."""
    lift_factor(old, new)
    differ = [f.name for f in dataclasses.fields(DiTConfig)
              if f.name not in TEXT_FIELDS + SPATIAL_FIELDS
              and getattr(old, f.name) != getattr(new, f.name)]
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


def lift_pixels(w: torch.Tensor, channels: int, patch: tuple[int, int, int], s: int,
                axis: int) -> torch.Tensor:
    """Spread a layer's per-pixel axis (``axis`` 1: input columns, 0: output rows, laid out
    channels x pt x ph x pw as in ``model.patchify``) over an s-times finer tubelet: each old
    pixel's entry is repeated over its s x s new pixels."""
    pt, ph, pw = patch
    moved = w.movedim(axis, 0)
    x = moved.reshape(channels, pt, ph, pw, *moved.shape[1:])
    x = x.repeat_interleave(s, dim=2).repeat_interleave(s, dim=3)
    return x.reshape(-1, *moved.shape[1:]).movedim(0, axis).contiguous()


@torch.no_grad()
def warm_start(model: VideoDiT, target: str | Path) -> dict:
    """Load ``target``'s weights into ``model`` as described in the module docstring;
    returns what was done (path, counts of copied / new rows and positions)."""
    path, old, src = read_checkpoint(target)
    new = model.cfg
    check_compatible(old, new)
    s = lift_factor(old, new)
    if s > 1:
        src = dict(src)
        s_in = new.in_patch[1] // old.in_patch[1]  # 1 when the new input grid is the old one
        if s_in > 1:
            cin = old.channels * (2 if old.cond_concat else 1)
            src["x_embed.proj.weight"] = lift_pixels(src["x_embed.proj.weight"], cin,
                                                     old.in_patch, s_in, axis=1) / s_in ** 2
        for k in ("final.linear.weight", "final.linear.bias"):
            src[k] = lift_pixels(src[k], old.channels, old.patch, s, axis=0)
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
            "new_word_init": "unknown-token row", "new_position_init": "mean of old rows",
            "resolution_lift": s}
