"""Checkpoints as safetensors (never pickle).

- A *model* checkpoint (what ``dit:PATH`` loads and what ships in ``checkpoints/``): one
  ``.safetensors`` file holding the (EMA) weights, with the config JSON in the file's metadata
  under ``vidbench.dit.config``; a human-readable copy of the config sits beside it as
  ``<stem>.json``.
- A *training state* (for ``--resume``): ``state.safetensors`` with the raw weights
  (``model.*``), the EMA weights (``ema.*``) and AdamW's moments (``opt.<i>.exp_avg``,
  ``opt.<i>.exp_avg_sq``), plus ``state.json`` with the step counters and arguments.
Every file is written to a temporary name and renamed, so a killed run never leaves a torn one.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from vidbench.errors import UserError
from vidbench.fileio import atomic_path, atomic_write_text, read_json
from vidbench.models.dit.configs import DiTConfig
from vidbench.models.dit.model import VideoDiT

FORMAT = "vidbench.dit/1"


#: mkstemp makes 0600 files; checkpoints are meant to be shared
_SHARED = 0o644


def write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n", mode=_SHARED)


def save_model(model: VideoDiT, path: Path, *, dtype: torch.dtype | None = None,
               extra: dict | None = None) -> None:
    """Weights + config (metadata and ``<stem>.json``). ``dtype`` casts floating tensors
    (e.g. float16 to halve the file)."""
    path = Path(path)
    sd = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu().contiguous()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        sd[k] = v
    meta = {"format": FORMAT, "vidbench.dit.config": json.dumps(model.cfg.to_json()),
            "extra": json.dumps(extra or {})}
    with atomic_path(path, mode=_SHARED) as tmp:
        save_file(sd, str(tmp), metadata=meta)
    write_json(path.with_suffix(".json"), {"format": FORMAT, "config": model.cfg.to_json(),
                                           **(extra or {})})


def read_metadata(path: Path) -> dict:
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def load_model(path: Path, device: str | torch.device = "cpu") -> tuple[VideoDiT, dict]:
    """A model checkpoint -> (model in eval mode, float32, extra info). ``path`` may be the
    ``.safetensors`` file or a training output folder (its ``ema.safetensors``)."""
    path = Path(path)
    if path.is_dir():
        path = path / "ema.safetensors"
    if not path.is_file():
        raise UserError(f"{path}: no such DiT checkpoint")
    try:
        meta = read_metadata(path)
    except Exception as e:
        raise UserError(f"{path}: not a safetensors file ({e})") from None
    if meta.get("format") != FORMAT or "vidbench.dit.config" not in meta:
        raise UserError(f"{path}: not a vidbench DiT checkpoint (metadata format "
                        f"{meta.get('format')!r}, expected {FORMAT!r})")
    try:
        cfg = DiTConfig.from_json(json.loads(meta["vidbench.dit.config"]))
    except (ValueError, TypeError) as e:
        raise UserError(f"{path}: bad DiT config in checkpoint metadata ({e})") from None
    model = VideoDiT(cfg)
    sd = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    try:
        missing, unexpected = model.load_state_dict(sd, strict=False)
    except RuntimeError as e:
        raise UserError(f"{path}: weights do not match config {cfg.name!r} "
                        f"({str(e).splitlines()[-1].strip()})") from None
    if missing or unexpected:
        raise UserError(f"{path}: weights do not match config {cfg.name!r} "
                        f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.to(device).eval(), json.loads(meta.get("extra", "{}"))


def save_state(out: Path, model: VideoDiT, ema_model: VideoDiT, opt: torch.optim.Optimizer,
               info: dict) -> None:
    """The full training state for ``--resume``."""
    out = Path(out)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v.detach().cpu().contiguous()
                    for k, v in ema_model.state_dict().items()})
    opt_steps = {}
    params = [p for g in opt.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        st = opt.state.get(p)
        if not st:
            continue
        tensors[f"opt.{i}.exp_avg"] = st["exp_avg"].detach().cpu().contiguous()
        tensors[f"opt.{i}.exp_avg_sq"] = st["exp_avg_sq"].detach().cpu().contiguous()
        opt_steps[str(i)] = float(st["step"])
    with atomic_path(out / "state.safetensors", mode=_SHARED) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT})
    write_json(out / "state.json", {**info, "opt_steps": opt_steps,
                                    "config": model.cfg.to_json()})


def load_state(out: Path, model: VideoDiT, ema_model: VideoDiT,
               opt: torch.optim.Optimizer) -> dict:
    """Restore what :func:`save_state` wrote; returns the info dict (step, ...)."""
    out = Path(out)
    sp, jp = out / "state.safetensors", out / "state.json"
    if not sp.is_file() or not jp.is_file():
        raise UserError(f"{out}: nothing to resume (no state.safetensors / state.json)")
    info = read_json(jp)
    saved_cfg = DiTConfig.from_json(info["config"])
    if saved_cfg != model.cfg:
        raise UserError(f"{jp}: the saved config differs from the requested one; resume with "
                        f"the same --config and options")
    t = load_file(str(sp))
    dev = next(model.parameters()).device
    model.load_state_dict({k[6:]: v for k, v in t.items() if k.startswith("model.")})
    ema_model.load_state_dict({k[4:]: v for k, v in t.items() if k.startswith("ema.")})
    params = [p for g in opt.param_groups for p in g["params"]]
    state = {}
    for i in range(len(params)):
        if f"opt.{i}.exp_avg" in t:
            state[i] = {"step": torch.tensor(info["opt_steps"][str(i)]),
                        "exp_avg": t[f"opt.{i}.exp_avg"].to(dev),
                        "exp_avg_sq": t[f"opt.{i}.exp_avg_sq"].to(dev)}
    sd = opt.state_dict()
    sd["state"] = state
    opt.load_state_dict(sd)
    return info
