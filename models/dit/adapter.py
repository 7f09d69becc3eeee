"""``dit`` adapter: generate suite items with a reference-DiT checkpoint.

- ``dit`` (bare): the shipped ``tiny`` checkpoint (``checkpoints/tiny.safetensors``).
- ``dit:NAME``: a shipped checkpoint by name (``checkpoints/NAME.safetensors``): ``dit:tiny``
  (the same as bare ``dit``) or ``dit:tiny-bi`` (tiny fine-tuned on English and Chinese
  prompts, docs/bilingual.md); an existing path of the same spelling wins.
- ``dit:PATH``: a model checkpoint (``.safetensors`` written by ``vidbench train``, or its
  output folder, whose ``ema.safetensors`` is used).
- options: ``steps`` (Euler steps, default 25), ``cfg`` (guidance scale, default
  :data:`DEFAULT_CFG`), ``shift`` (sampler time shift, default the config's),
  ``device`` (``cpu``/``cuda``), ``threads`` (torch CPU threads while sampling, default 1;
  see below), ``random_weights=1`` (the
  checkpoint's architecture, randomly initialised from ``init_seed``: the "untrained"
  reference; its output stays at the initial noise because the model starts as the zero map).

Threads: on the CPU each item is sampled with ``threads`` torch threads (default 1), set for
the call and restored after it. One thread makes the numbers independent of
``OMP_NUM_THREADS`` and of the machine's core count by construction (no reduction is split
differently), and the tiny model's operations are too small for a second thread to pay for its
synchronisation: on a busy 2-core box two OpenMP threads spin at every barrier waiting for a
descheduled partner (measured in perf/RESULTS.md, "Generation").

Shapes: the model works at its trained size (``tiny``: 16x16 pixels, 8 fps). An item asking
for another size or frame rate is served by (1) area-resizing the item's conditioning frames
to the model size and taking, for each model frame time ``k / fps_model``, the latest
conditioning frame at or before it; (2) sampling ``round(duration * fps_model)`` frames;
(3) resizing back to the item size with bilinear interpolation and picking, for each item
frame time, the nearest model frame; (4) writing the item's own conditioning frames back
unchanged as the first K frames, so they are reproduced exactly.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from vidbench.adapters import Adapter, Generated
from vidbench.errors import UserError
from vidbench.fileio import sha256_file
from vidbench.models.dit.shipped import CHECKPOINT_DIR, DEFAULT_NAME, resolve, shipped_names
from vidbench.suites import SuiteItem

DEFAULT_CHECKPOINT = CHECKPOINT_DIR / f"{DEFAULT_NAME}.safetensors"
DEFAULT_STEPS = 25
DEFAULT_CFG = 2.0  # chosen on the validation items (seeds 1-2), not on physics-mini


def _truthy(v: Any) -> bool:
    return str(v).lower() in ("1", "true", "yes", "on")


def item_seed(item: SuiteItem) -> int:
    """The noise seed of an item: its seed mixed with its id (items often share seed 0)."""
    return (int(item.seed) * 1_000_003 + zlib.crc32(item.item.encode())) % (2 ** 63)


class DiTAdapter(Adapter):
    """The reference DiT as a generator (see the module docstring)."""

    scheme = "dit"

    def __init__(self, target: str = "", **options: Any) -> None:
        super().__init__(target, **options)
        self.path = resolve(target)[0] if target else DEFAULT_CHECKPOINT
        if not target and not self.path.is_file():
            raise UserError(f"the shipped tiny DiT checkpoint is missing ({self.path}); "
                            f"reinstall vidbench or pass dit:PATH")
        ckpt = self.path / "ema.safetensors" if self.path.is_dir() else self.path
        if not ckpt.is_file():  # before importing torch: a typo fails in milliseconds
            raise UserError(f"{ckpt}: no such DiT checkpoint (shipped names: "
                            f"{', '.join(shipped_names())})")
        try:
            self.steps = int(options.get("steps", DEFAULT_STEPS))
            self.cfg_scale = float(options.get("cfg", DEFAULT_CFG))
            self.init_seed = int(options.get("init_seed", 0))
            self.shift = float(options["shift"]) if "shift" in options else None
        except ValueError as e:
            raise UserError(f"dit adapter: bad option value ({e})") from None
        if self.steps < 1:
            raise UserError("dit adapter: steps must be >= 1")
        try:
            self.threads = int(options.get("threads", 1))
        except ValueError:
            raise UserError(f"dit adapter: threads must be an integer, got "
                            f"{options.get('threads')!r}") from None
        if self.threads < 1:
            raise UserError("dit adapter: threads must be >= 1")
        from vidbench.environment import check_device

        self.device = check_device(options.get("device") or "cpu")
        import torch

        from vidbench.models.dit.checkpoint import load_model

        self.random_weights = _truthy(options.get("random_weights", "0"))
        model, extra = load_model(self.path, device=self.device)
        if self.random_weights:
            from vidbench.models.dit.model import VideoDiT

            torch.manual_seed(self.init_seed)
            model = VideoDiT(model.cfg).to(self.device).eval()
        self.model = model
        self.extra = extra
        if self.path.is_dir():
            self.path = self.path / "ema.safetensors"
        self._sha = sha256_file(self.path)

    @property
    def model_id(self) -> str:
        base = f"dit:{self.target}" if self.target else "dit:tiny"
        return base + ("?random_weights=1" if self.random_weights else "")

    @property
    def revision(self) -> str | None:
        return None if self.random_weights else self._sha[:16]

    def generate_one(self, item: SuiteItem) -> Generated:
        import torch

        if str(self.device).startswith("cuda"):
            return self._generate_one(item)
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            return self._generate_one(item)
        finally:
            torch.set_num_threads(before)

    def _generate_one(self, item: SuiteItem) -> Generated:
        from vidbench.models.dit.data import area_resize, from_model, to_model
        from vidbench.models.dit.rectified_flow import sample

        cfg = self.model.cfg
        if cfg.latent != "pixel":
            raise UserError(f"{self.path}: latent-space config {cfg.name!r} needs a VAE "
                            f"decoder; the dit adapter samples pixel-space checkpoints only")
        fps_m = float(cfg.fps)
        duration = item.num_frames / float(item.fps)
        T_m = max(1, int(round(duration * fps_m)))
        pt = cfg.patch[0]
        T_m = int(np.ceil(T_m / pt) * pt)
        cond = item.conditioning_frames()
        K_item = 0 if cond is None else int(len(cond))
        cond_m = None
        if K_item:
            cond = np.asarray(cond)
            if cond.ndim != 4 or cond.shape[-1] != 3 or cond.dtype != np.uint8:
                raise UserError(f"item {item.item}: conditioning frames must be (K, H, W, 3) "
                                f"uint8, got {cond.shape} {cond.dtype}")
            small = area_resize(cond, (cfg.height, cfg.width))
            # model frames covered by the conditioning: times k/fps_m < K_item/fps_item
            K_m = int(np.ceil(K_item / float(item.fps) * fps_m - 1e-9))
            K_m = max(1, min(K_m, T_m - 1))
            src = [min(K_item - 1, int(np.floor(k / fps_m * item.fps + 1e-9)))
                   for k in range(K_m)]
            cond_m = to_model(small[src])[None]
        seed = item_seed(item)
        unknown = (self.model.text.unknown_words(item.prompt) if self.model.text is not None
                   else [])
        x = sample(self.model, [item.prompt], seed=[seed], steps=self.steps,
                   cfg_scale=self.cfg_scale, cond_frames=cond_m, num_frames=T_m,
                   shift=self.shift, device=self.device)
        frames_m = from_model(x[0])
        big = area_resize(frames_m, (item.height, item.width))
        pick = [min(T_m - 1, int(round(k / float(item.fps) * fps_m)))
                for k in range(item.num_frames)]
        out = np.ascontiguousarray(big[pick])
        if K_item:
            out[:K_item] = cond[: item.num_frames]
        params = {"checkpoint": str(self.path), "sha256": self._sha, "config": cfg.name,
                  "steps": self.steps, "cfg_scale": self.cfg_scale, "seed": seed,
                  "threads": self.threads,
                  "shift": self.shift if self.shift is not None else cfg.time_shift,
                  "model_shape": [T_m, cfg.height, cfg.width], "model_fps": fps_m,
                  "cond_frames": K_item, "random_weights": self.random_weights,
                  "resize": "area down / bilinear up", "unknown_words": unknown}
        return Generated(frames=out, fps=float(item.fps), params=params)
