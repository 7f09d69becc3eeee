"""``--model diffusers:MODEL_ID_OR_DIR[?pipeline=...&steps=...]`` — any diffusers video pipeline.

Loads a text-to-video or image-to-video pipeline from a Hub id or a local folder
(``DiffusionPipeline.from_pretrained``, or the class named by ``pipeline=``) and calls it once
per item, or once per batch of items. ``diffusers`` and ``transformers`` are an optional extra:
``pip install vidbench[diffusers]``.

What the adapter does for every pipeline:

- **Shapes.** The item asks for ``num_frames`` at ``fps``, i.e. a duration. The model renders
  at its own rate (the preset's ``fps``, or ``fps=``), so it is asked for
  ``ceil(num_frames * model_fps / item_fps)`` frames, rounded up to the counts it supports
  (``4k+1`` for CogVideoX/Wan/HunyuanVideo, ``8k+1`` LTX, ``6k+1`` Mochi), and for a size
  rounded to its multiple (16 or 32). The manifest keeps what was requested, what was asked
  and what came back; metrics resample by timestamps, so the rounding does not move scores.
- **Keywords.** The frame count goes in whichever of ``num_frames`` / ``video_length`` /
  ``frames`` the pipeline's signature has; keywords the signature lacks are dropped (and
  listed under ``dropped`` in the manifest). ``output_type="np"`` always; floats in [0, 1]
  are converted to uint8 once (``round(x * 255)``); NaN output is an error, not a black
  video.
- **Seeds.** One ``torch.Generator("cpu").manual_seed(seed)`` per item, so an item's latents
  do not depend on the device or on the batch it lands in.
- **Batching** (``batch=N``): consecutive items with the same call shape and no conditioning
  share one call (a list of prompts and a list of generators). If a batched call fails the
  items are retried one by one, so one bad prompt fails alone.
- **Conditioning.** Items with conditioning frames pass the first frame as ``image=`` to
  pipelines that take one (image-to-video); other pipelines ignore it (recorded).
- **Language.** Prompts go to the pipeline as written, in their language (a Chinese twin
  suite, ``--lang zh``, sends Chinese text): whether the pipeline's text encoder reads it is
  what the per-language results measure. No translation, no normalisation.

Spec options: ``pipeline`` (class name), ``preset`` (see :data:`PRESETS`; default: by class),
``steps``, ``guidance``, ``negative_prompt``, ``fps`` (the model's output rate),
``device`` (default cuda if available), ``dtype`` (``bf16``/``fp16``/``fp32``; default bf16 on
GPU, fp32 on CPU), ``offload`` (``none``/``model``/``sequential``), ``vae_tiling``,
``vae_slicing``, ``batch``, ``revision``, ``variant``, ``max_sequence_length``,
``local_files_only``, and ``kw.NAME=VALUE`` for any other call keyword.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidbench.adapters import Adapter, Generated
from vidbench.errors import UserError
from vidbench.progress import show_bar
from vidbench.suites import SuiteItem

INSTALL_HINT = "pip install vidbench[diffusers]"

_FRAME_KWS = ("num_frames", "video_length", "frames")


@dataclass(frozen=True)
class Preset:
    """How a family of pipelines is driven: native output ``fps``, valid frame counts
    ``frame_mult * k + frame_add``, sizes a multiple of ``size_mult``, default steps and
    guidance, and extra call keywords (``"{fps}"`` is replaced by the output fps)."""

    name: str
    classes: tuple[str, ...]
    fps: float | None
    frame_mult: int = 1
    frame_add: int = 0
    size_mult: int = 8
    steps: int | None = None
    guidance: float | None = None
    extra: dict = field(default_factory=dict)


PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("cogvideox", ("CogVideoXPipeline", "CogVideoXImageToVideoPipeline",
                         "CogVideoXVideoToVideoPipeline"), fps=8.0, frame_mult=4, frame_add=1,
           size_mult=16, steps=50, guidance=6.0),
    Preset("ltx-video", ("LTXPipeline", "LTXImageToVideoPipeline", "LTXConditionPipeline"),
           fps=24.0, frame_mult=8, frame_add=1, size_mult=32, steps=50, guidance=3.0,
           extra={"frame_rate": "{fps}"}),
    Preset("wan", ("WanPipeline", "WanImageToVideoPipeline", "WanVideoToVideoPipeline"),
           fps=16.0, frame_mult=4, frame_add=1, size_mult=16, steps=50, guidance=5.0),
    Preset("hunyuanvideo", ("HunyuanVideoPipeline", "HunyuanVideoImageToVideoPipeline",
                            "HunyuanVideoFramepackPipeline"), fps=24.0, frame_mult=4,
           frame_add=1, size_mult=16, steps=50, guidance=6.0),
    Preset("mochi", ("MochiPipeline",), fps=30.0, frame_mult=6, frame_add=1, size_mult=16,
           steps=64, guidance=4.5),
    Preset("animatediff", ("AnimateDiffPipeline", "AnimateDiffSDXLPipeline",
                           "AnimateDiffSparseControlNetPipeline"), fps=8.0, size_mult=8,
           steps=25, guidance=7.5),
    Preset("text-to-video-sd", ("TextToVideoSDPipeline", "TextToVideoZeroPipeline"), fps=8.0,
           size_mult=8, steps=50, guidance=9.0),
    Preset("generic", (), fps=None, size_mult=8),
]}


def preset_for(class_name: str, name: str | None = None) -> Preset:
    if name:
        if name not in PRESETS:
            raise UserError(f"diffusers adapter: unknown preset {name!r}; known: "
                            f"{', '.join(PRESETS)}")
        return PRESETS[name]
    for p in PRESETS.values():
        if class_name in p.classes:
            return p
    return PRESETS["generic"]


def round_frames(n: int, mult: int, add: int) -> int:
    """The smallest ``mult * k + add >= n`` (k >= 0; at least 1 frame)."""
    if mult <= 1:
        return max(1, n)
    k = max(0, math.ceil((n - add) / mult))
    return max(1, mult * k + add)


def round_size(x: int, mult: int) -> int:
    """``x`` rounded to the nearest multiple of ``mult`` (at least ``mult``)."""
    return max(mult, int(math.floor(x / mult + 0.5)) * mult)


def to_uint8_videos(frames: Any, n: int) -> list[np.ndarray]:
    """A pipeline's ``.frames`` (output_type="np") as ``n`` uint8 arrays (T, H, W, 3)."""
    if hasattr(frames, "detach"):
        frames = frames.detach().float().cpu().numpy()
    if isinstance(frames, np.ndarray):
        arr = frames
        if arr.ndim == 4 and n == 1:
            arr = arr[None]
        videos = list(arr) if arr.ndim == 5 else None
        if videos is None:
            raise ValueError(f"pipeline returned frames of shape {arr.shape}; expected "
                             f"(batch, T, H, W, 3)")
    elif isinstance(frames, (list, tuple)):
        videos = []
        for v in frames:
            if isinstance(v, (list, tuple)):  # a list of PIL images or arrays
                v = np.stack([np.asarray(f) for f in v])
            elif hasattr(v, "detach"):
                v = v.detach().float().cpu().numpy()
            videos.append(np.asarray(v))
    else:
        raise TypeError(f"pipeline returned frames of type {type(frames).__name__}")
    if len(videos) != n:
        raise ValueError(f"pipeline returned {len(videos)} videos for {n} prompts")
    out = []
    for v in videos:
        if v.ndim == 4 and v.shape[-1] != 3 and v.shape[1] == 3:
            v = v.transpose(0, 2, 3, 1)  # (T, C, H, W) -> (T, H, W, C)
        if v.ndim != 4 or v.shape[-1] != 3:
            raise ValueError(f"pipeline returned a video of shape {v.shape}; expected "
                             f"(T, H, W, 3)")
        if v.dtype == np.uint8:
            out.append(np.ascontiguousarray(v))
            continue
        v = v.astype(np.float32, copy=False)
        if not np.isfinite(v).all():
            raise ValueError("pipeline output contains NaN/inf (try dtype=bf16 or fp32, or "
                             "vae_tiling=false)")
        out.append(np.clip(np.rint(v * 255.0), 0, 255).astype(np.uint8))
    return out


def _bool(v: Any) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes", "on")


def _coerce(v: Any) -> Any:
    if not isinstance(v, str):
        return v
    try:
        return json.loads(v)
    except ValueError:
        return v


def _require_diffusers() -> Any:
    try:
        import diffusers  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as e:
        raise UserError(f"the diffusers adapter needs the diffusers and transformers packages "
                        f"({e.name or e} is missing): {INSTALL_HINT}") from None
    return sys.modules["diffusers"]


class DiffusersAdapter(Adapter):
    """Drives a diffusers video pipeline; see the module docstring."""

    scheme = "diffusers"

    def __init__(self, target: str = "", **options: Any) -> None:
        pipe = options.pop("_pipeline", None)
        super().__init__(target, **options)
        if pipe is None:
            if not target:
                raise UserError("diffusers adapter: give a Hub id or a local folder, e.g. "
                                "--model diffusers:THUDM/CogVideoX-2b")
            _require_diffusers()
        self._pipe = pipe
        self.call_kwargs = {k[3:]: _coerce(v) for k, v in options.items()
                            if k.startswith("kw.")}
        opts = {k: v for k, v in options.items() if not k.startswith("kw.")}
        known = {"pipeline", "preset", "steps", "guidance", "negative_prompt", "fps", "device",
                 "dtype", "offload", "vae_tiling", "vae_slicing", "batch", "revision",
                 "variant", "max_sequence_length", "local_files_only", "name"}
        unknown = sorted(set(opts) - known)
        if unknown:
            raise UserError(f"diffusers adapter: unknown option(s) {', '.join(unknown)}; "
                            f"known: {', '.join(sorted(known))} and kw.NAME=VALUE")
        for k, conv in (("batch", int), ("steps", int), ("max_sequence_length", int),
                        ("guidance", float), ("fps", float)):
            if k in opts:
                try:
                    conv(opts[k])
                except (TypeError, ValueError):
                    kind = "an integer" if conv is int else "a number"
                    raise UserError(f"diffusers adapter: option {k}={opts[k]!r} is not "
                                    f"{kind}") from None
        self.opts = opts
        self.batch = max(1, int(opts.get("batch", 1)))
        self.offload = str(opts.get("offload", "none"))
        if self.offload not in ("none", "model", "sequential"):
            raise UserError(f"diffusers adapter: offload must be none, model or sequential, "
                            f"got {self.offload!r}")
        self._loaded = pipe is not None
        self._preset: Preset | None = None
        self._sig: dict[str, inspect.Parameter] = {}
        self._var_kw = False
        if pipe is not None:
            self._setup(pipe, move=bool(opts.get("device") or opts.get("dtype")))

    @classmethod
    def from_pipeline(cls, pipe: Any, model_id: str = "pipeline", **options: Any
                      ) -> DiffusersAdapter:
        """Wrap a pipeline object built in Python (own components, fine-tunes, tests)."""
        return cls(model_id, _pipeline=pipe, **options)

    # ------------------------------------------------------------------ identity

    @property
    def model_id(self) -> str:
        return str(self.opts.get("name") or f"diffusers:{self.target}")

    @property
    def revision(self) -> str | None:
        if self.opts.get("revision"):
            return str(self.opts["revision"])
        local = Path(self.target)
        if (local / "model_index.json").is_file():
            return hashlib.sha256((local / "model_index.json").read_bytes()).hexdigest()[:16]
        if self._pipe is not None and not self._from_hub():
            return self._fingerprint()
        try:
            from huggingface_hub import try_to_load_from_cache

            p = try_to_load_from_cache(self.target, "model_index.json")
            if isinstance(p, str) and "/snapshots/" in p:
                return p.split("/snapshots/")[1].split("/")[0]
        except Exception:
            pass
        return None

    def _from_hub(self) -> bool:
        return bool(getattr(self, "_hub_loaded", False))

    def _fingerprint(self) -> str:
        """Class names and configs of the components (not weights): a cheap identity."""
        h = hashlib.sha256(type(self._pipe).__name__.encode())
        for name, comp in sorted(getattr(self._pipe, "components", {}).items()):
            cfg = getattr(comp, "config", None)
            h.update(f"{name}:{type(comp).__name__}:".encode())
            try:
                h.update(json.dumps(dict(cfg) if cfg is not None else {}, sort_keys=True,
                                    default=str).encode())
            except Exception:
                pass
        return h.hexdigest()[:16]

    # ------------------------------------------------------------------ loading

    def _device(self) -> str:
        if self.opts.get("device"):
            return str(self.opts["device"])
        try:
            import torch

            return "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:
            return "cpu"

    def _dtype(self, device: str) -> Any:
        import torch

        name = str(self.opts.get("dtype") or ("bf16" if device.startswith("cuda") else "fp32"))
        table = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
                 "float16": torch.float16, "fp32": torch.float32, "float32": torch.float32}
        if name not in table:
            raise UserError(f"diffusers adapter: dtype must be one of bf16, fp16, fp32; got "
                            f"{name!r}")
        return table[name]

    def load(self) -> Any:
        """Load the pipeline (once); every error is a :class:`UserError` naming the model."""
        if self._loaded:
            return self._pipe
        diffusers = _require_diffusers()
        device = self._device()
        dtype = self._dtype(device)
        name = self.opts.get("pipeline")
        cls = getattr(diffusers, str(name), None) if name else diffusers.DiffusionPipeline
        if cls is None:
            raise UserError(f"diffusers adapter: diffusers {diffusers.__version__} has no "
                            f"pipeline class {name!r}")
        kw: dict[str, Any] = {_dtype_keyword(): dtype}
        for k in ("revision", "variant"):
            if self.opts.get(k):
                kw[k] = str(self.opts[k])
        if "local_files_only" in self.opts:
            kw["local_files_only"] = _bool(self.opts["local_files_only"])
        elif os.environ.get("VIDBENCH_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE"):
            kw["local_files_only"] = True
        try:
            pipe = cls.from_pretrained(self.target, **kw)
        except (OSError, ValueError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise UserError(f"diffusers adapter: cannot load {self.target!r} with "
                            f"{cls.__name__}: {first}") from None
        self._hub_loaded = not Path(self.target).is_dir()
        if self.offload == "model":
            pipe.enable_model_cpu_offload()
        elif self.offload == "sequential":
            pipe.enable_sequential_cpu_offload()
        else:
            pipe.to(device)
        self._pipe = pipe
        self._loaded = True
        self._setup(pipe, move=False)
        return pipe

    def _setup(self, pipe: Any, *, move: bool) -> None:
        if move:
            device = self._device()
            pipe.to(device, self._dtype(device))
        for comp in getattr(pipe, "components", {}).values():
            if hasattr(comp, "eval") and hasattr(comp, "parameters"):
                comp.eval()  # constructor-built modules start in train mode (dropout)
        if _bool(self.opts.get("vae_tiling", False)):
            vae = getattr(pipe, "vae", None)
            if vae is None or not hasattr(vae, "enable_tiling"):
                raise UserError("diffusers adapter: vae_tiling: this pipeline's VAE has no "
                                "tiling")
            vae.enable_tiling()
        if _bool(self.opts.get("vae_slicing", False)):
            vae = getattr(pipe, "vae", None)
            if vae is not None and hasattr(vae, "enable_slicing"):
                vae.enable_slicing()
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=not show_bar())
        self._preset = preset_for(type(pipe).__name__, self.opts.get("preset"))
        try:
            sig = inspect.signature(pipe.__call__)
            self._sig = dict(sig.parameters)
        except (TypeError, ValueError):
            self._sig = {}
        self._var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in self._sig.values())

    # ------------------------------------------------------------------ calls

    def plan(self, item: SuiteItem) -> dict[str, Any]:
        """The call keywords for ``item`` (before dropping unknown ones) and bookkeeping."""
        assert self._preset is not None
        p = self._preset
        fps_out = float(self.opts.get("fps") or p.fps or item.fps)
        want = math.ceil(item.num_frames * fps_out / item.fps - 1e-9) if item.fps else \
            item.num_frames
        frames = round_frames(want, p.frame_mult, p.frame_add)
        h, w = round_size(item.height, p.size_mult), round_size(item.width, p.size_mult)
        kw: dict[str, Any] = {"height": h, "width": w, "output_type": "np"}
        frame_kw = next((k for k in _FRAME_KWS if k in self._sig), None)
        if frame_kw is None and self._var_kw:
            frame_kw = "num_frames"
        if frame_kw is not None:
            kw[frame_kw] = frames
        steps = self.opts.get("steps", p.steps)
        if steps is not None:
            kw["num_inference_steps"] = int(steps)
        guidance = self.opts.get("guidance", p.guidance)
        if guidance is not None:
            kw["guidance_scale"] = float(guidance)
        if self.opts.get("negative_prompt") is not None:
            kw["negative_prompt"] = str(self.opts["negative_prompt"])
        if self.opts.get("max_sequence_length") is not None:
            kw["max_sequence_length"] = int(self.opts["max_sequence_length"])
        for k, v in p.extra.items():
            kw[k] = fps_out if v == "{fps}" else v
        kw.update(self.call_kwargs)
        return {"kw": kw, "fps": fps_out, "frame_kw": frame_kw,
                "asked": {"num_frames": frames, "height": h, "width": w}}

    def _filter(self, kw: dict) -> tuple[dict, list[str]]:
        if self._var_kw or not self._sig:
            return kw, []
        keep = {k: v for k, v in kw.items() if k in self._sig}
        return keep, sorted(set(kw) - set(keep))

    def _call(self, items: list[SuiteItem], plan: dict) -> list[Generated]:
        import torch

        pipe = self._pipe
        kw, dropped = self._filter(dict(plan["kw"]))
        gens = [torch.Generator("cpu").manual_seed(int(it.seed)) for it in items]
        conditioning = None
        if len(items) == 1:
            cond = items[0].conditioning_frames()
            if cond is not None:
                if "image" in self._sig:
                    from PIL import Image

                    kw["image"] = Image.fromarray(np.ascontiguousarray(cond[0]))
                    conditioning = "image"
                else:
                    conditioning = "ignored (the pipeline takes no image)"
        prompts: Any = [it.prompt for it in items] if len(items) > 1 else items[0].prompt
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = pipe(prompt=prompts, generator=gens if len(items) > 1 else gens[0], **kw)
        wall = time.perf_counter() - t0
        frames = getattr(out, "frames", None)
        if frames is None and isinstance(out, (tuple, list)) and out:
            frames = out[0]
        videos = to_uint8_videos(frames, len(items))

        params_common = {
            "pipeline": type(pipe).__name__, "preset": self._preset.name if self._preset
            else None, "asked": plan["asked"], "frame_kw": plan["frame_kw"],
            "call": {k: v for k, v in kw.items() if k not in ("image", "output_type")},
            "dropped": dropped, "output_fps": plan["fps"], "batch_size": len(items),
            "generator": "torch.Generator('cpu').manual_seed(seed)",
            "dtype": str(getattr(pipe, "dtype", "")).replace("torch.", ""),
            "device": str(getattr(pipe, "device", "")), "offload": self.offload,
            "conditioning": conditioning, "diffusers": _version("diffusers"),
        }
        return [Generated(frames=v, fps=plan["fps"],
                          params={**params_common, "wall_time_s": round(wall / len(items), 4)})
                for v in videos]

    def generate_one(self, item: SuiteItem) -> Generated:
        self.load()
        return self._call([item], self.plan(item))[0]

    def generate_many(self, items: Iterable[SuiteItem]
                      ) -> Iterator[tuple[SuiteItem, Generated | BaseException]]:
        items = list(items)
        if not items:
            return
        self.load()
        i = 0
        while i < len(items):
            first = items[i]
            plan = self.plan(first)
            group = [first]
            if first.conditioning is None:
                while (len(group) < self.batch and i + len(group) < len(items)
                       and items[i + len(group)].conditioning is None
                       and self.plan(items[i + len(group)])["kw"] == plan["kw"]):
                    group.append(items[i + len(group)])
            i += len(group)
            try:
                results = self._call(group, plan)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:
                if len(group) == 1:
                    yield group[0], _item_error(e)
                    continue
                for it in group:  # one bad prompt must not fail its batch-mates
                    try:
                        yield it, self._call([it], plan)[0]
                    except (KeyboardInterrupt, SystemExit):
                        raise
                    except Exception as e1:
                        yield it, _item_error(e1)
                continue
            yield from zip(group, results, strict=True)


def _dtype_keyword() -> str:
    """``dtype`` where diffusers accepts it (``torch_dtype`` is deprecated there), else
    ``torch_dtype`` (older releases would silently ignore ``dtype``)."""
    try:
        import importlib

        utils = importlib.import_module("diffusers.pipelines.pipeline_utils")
        return "dtype" if hasattr(utils, "_resolve_dtype") else "torch_dtype"
    except ImportError:
        return "torch_dtype"


def _version(dist: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return None


def _item_error(e: BaseException) -> BaseException:
    if isinstance(e, UserError):
        return e
    msg = (str(e).strip().splitlines() or [""])[0][:300]
    return RuntimeError(f"pipeline call failed: {type(e).__name__}: {msg}")
