"""CLIP image and text encoders (open_clip) for ``clip_score``, ``background_consistency``
and ``aesthetic_quality``.

- Architectures: ``ViT-B-32`` and ``ViT-L-14`` with OpenAI's weights (QuickGELU, as OpenAI
  trained them), plus ``tiny``, a two-layer test architecture with the same code path and a
  768-d embedding (random weights only).
- Weights: the official OpenAI files listed in ``bench/weights.json``
  (``clip-vit-b-32-openai``, ``clip-vit-l-14-openai``), resolved through
  :mod:`vidbench.weights` (sha256 checked, never downloaded here). OpenAI ships them as
  TorchScript archives: after the sha256 check, their tensors are read with a restricted
  unpickler (only tensor rebuilding and storage types are allowed; ``torch.jit.load`` is not
  used and the archive's code never runs) and loaded with ``strict=True`` into open_clip's
  ``CLIP``. A plain state-dict file loads with ``torch.load(weights_only=True)``.
- ``random_weights=True`` builds the same architecture from a fixed seed (results are not
  comparable to published numbers).
- Preprocessing as CLIP: bicubic, antialiased resize of the short side to 224, center crop
  to 224x224, CLIP mean/std. The metrics ask for that view from the runner
  (:data:`DEFAULT_VIEW`), so the uint8 frames only need normalising here; the VBench
  transforms (tensor bicubic without antialiasing, or PIL bicubic) are transcribed for the
  ``vbench`` modes.
- :func:`image_features` memoises L2-normalised image embeddings per video with
  ``ctx.memo`` keyed by (backbone, view, transform): metrics that share a view and a
  backbone share one forward pass.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vidbench.errors import UserError
from vidbench.video import ViewSpec

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
N_PX = 224

#: Architecture -> weights manifest name (None: test architecture, random weights only).
CLIP_WEIGHTS: dict[str, str | None] = {
    "ViT-B-32": "clip-vit-b-32-openai",
    "ViT-L-14": "clip-vit-l-14-openai",
    "tiny": None,
}

#: The corrected (``default`` mode) view shared by the CLIP metrics: resampled by
#: timestamps to 8 fps, at most 32 frames (4 s) from the start, short side bicubic
#: (antialiased) to 224, center-cropped to 224x224.
DEFAULT_FPS = 8.0
DEFAULT_NUM_FRAMES = 32


def default_view(fps: float = DEFAULT_FPS, num_frames: int = DEFAULT_NUM_FRAMES) -> ViewSpec:
    return ViewSpec(fps=fps, num_frames=num_frames, pad=False, size=N_PX, resize="bicubic_aa",
                    crop="center")


#: The ``vbench`` mode view: every decoded frame at its own size (VBench's ``load_video``);
#: the resize happens in the VBench transform on float tensors.
VBENCH_VIEW = ViewSpec()


@dataclass
class ClipBackbone:
    """A loaded CLIP model plus provenance. ``forwards`` counts encoded images."""

    model: Any
    arch: str
    weights: str | None
    comparable: bool
    device: str
    dtype: torch.dtype
    seed: int = 0
    forwards: int = 0
    _text_cache: dict = field(default_factory=dict)

    @property
    def tag(self) -> str:
        src = self.weights if self.comparable else f"random{self.seed}"
        return f"clip-{self.arch}-{src}-{str(self.dtype).removeprefix('torch.')}"

    @property
    def embed_dim(self) -> int:
        return int(self.model.text_projection.shape[1])

    def encode_images(self, x: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
        """(N, 3, 224, 224) normalised images -> (N, D) float32 L2-normalised embeddings,
        batched under ``torch.inference_mode``."""
        outs = []
        with torch.inference_mode():
            for i in range(0, len(x), max(1, batch_size)):
                xb = x[i:i + batch_size].to(self.device, self.dtype)
                f = self.model.encode_image(xb).float()
                outs.append(F.normalize(f, dim=-1, p=2).cpu())
                self.forwards += len(xb)
        return torch.cat(outs) if outs else torch.zeros(0, self.embed_dim)

    def encode_text(self, text: str) -> tuple[torch.Tensor, bool]:
        """(D,) float32 L2-normalised embedding of ``text`` (cached per process) and whether
        the text was truncated to CLIP's 77-token context."""
        if text not in self._text_cache:
            import open_clip

            tok = open_clip.tokenizer._tokenizer  # the SimpleTokenizer OpenAI CLIP uses
            n_tokens = len(tok.encode(text)) + 2  # + start and end tokens
            ids = open_clip.tokenize([text])
            with torch.inference_mode():
                f = self.model.encode_text(ids.to(self.device)).float()
            self._text_cache[text] = (F.normalize(f, dim=-1, p=2)[0].cpu(), n_tokens > 77)
        return self._text_cache[text]


_CACHE: dict[tuple, ClipBackbone] = {}
_LOCK = threading.Lock()


def build_clip(arch: str, seed: int = 0):
    """open_clip's ``CLIP`` for ``arch`` with a deterministic random init (``seed``); the
    global torch RNG is left untouched."""
    import open_clip
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    if arch not in CLIP_WEIGHTS:
        raise UserError(f"unknown CLIP architecture {arch!r}; use one of {list(CLIP_WEIGHTS)}")
    log = logging.getLogger()
    level = log.level
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if arch == "tiny":
            model = CLIP(768, CLIPVisionCfg(layers=2, width=64, head_width=32, patch_size=32,
                                            image_size=N_PX),
                         CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=2,
                                     layers=2), quick_gelu=True)
        else:
            log.setLevel(logging.ERROR)  # open_clip warns that no weights were loaded
            try:
                model = open_clip.create_model(arch, pretrained=None, force_quick_gelu=True)
            finally:
                log.setLevel(level)
    return model.eval()


class _TSObject:
    """Stands in for every ``__torch__.*`` class of a TorchScript archive: the unpickler
    only collects attributes, it never runs the archive's code."""


_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "DoubleStorage": torch.float64,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


def _identity(value: Any, *_: Any) -> Any:
    return value


#: ``torch.jit._pickle`` helpers that TorchScript archives reference for typed lists; all
#: return their first argument (as torch's own do).
_JIT_PICKLE_SAFE = {n: _identity for n in ("build_intlist", "build_tensorlist",
                                           "build_doublelist", "build_boollist",
                                           "restore_type_tag")}


def _rebuild_tensor(storage: torch.Tensor, offset: int, size, stride, *_: Any) -> torch.Tensor:
    return torch.as_strided(storage, tuple(size), tuple(stride), offset).clone()


def read_torchscript_tensors(path) -> dict[str, torch.Tensor]:
    """Every tensor attribute of the module tree in a TorchScript archive, by dotted name,
    read without executing anything: a restricted unpickler that allows only tensor
    rebuilding, storage types, ``OrderedDict`` and stand-ins for the archive's classes
    (``torch.jit.load`` is not used, so the file's TorchScript code never runs)."""
    import io
    import pickle
    import zipfile
    from collections import OrderedDict

    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pkl:
            raise UserError(f"{path}: not a TorchScript archive (no data.pkl)")
        root = pkl[0].split("/")[0]

        class Unpickler(pickle.Unpickler):
            def find_class(self, module: str, name: str) -> Any:
                if module == "__torch__" or module.startswith("__torch__."):
                    return _TSObject
                if module == "torch._utils" and name == "_rebuild_tensor_v2":
                    return _rebuild_tensor
                if module == "torch" and name in _STORAGE_DTYPES:
                    return _STORAGE_DTYPES[name]
                if module == "collections" and name == "OrderedDict":
                    return OrderedDict
                if module == "torch.jit._pickle" and name in _JIT_PICKLE_SAFE:
                    return _JIT_PICKLE_SAFE[name]  # type tags on lists: identity functions
                raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

            def persistent_load(self, pid: Any) -> torch.Tensor:
                kind, dtype, key, _location, numel = pid
                if kind != "storage" or not isinstance(dtype, torch.dtype):
                    raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
                raw = bytearray(z.read(f"{root}/data/{key}"))
                if not raw:
                    return torch.zeros(0, dtype=dtype)
                return torch.frombuffer(raw, dtype=dtype)[:numel]

        try:
            top = Unpickler(io.BytesIO(z.read(pkl[0]))).load()
        except (pickle.UnpicklingError, ValueError, KeyError, TypeError) as e:
            raise UserError(f"{path}: cannot read the TorchScript archive's tensors safely "
                            f"({e})") from None
    out: dict[str, torch.Tensor] = {}

    def walk(obj: Any, prefix: str) -> None:
        for k, v in vars(obj).items():
            if isinstance(v, torch.Tensor):
                out[prefix + k] = v
            elif isinstance(v, _TSObject):
                walk(v, f"{prefix}{k}.")

    if not isinstance(top, _TSObject):
        raise UserError(f"{path}: the TorchScript archive holds no module")
    walk(top, "")
    return out


#: Entries of OpenAI's archives that are not parameters of open_clip's CLIP: the
#: hyper-parameters kept as tensors and the text transformer's causal mask attribute.
_OPENAI_EXTRA = ("input_resolution", "context_length", "vocab_size")


def openai_state_dict(path) -> dict[str, torch.Tensor]:
    """The state dict inside an official OpenAI CLIP file (a TorchScript archive, read by
    :func:`read_torchscript_tensors`) or a plain state-dict checkpoint
    (``torch.load(weights_only=True)``), without OpenAI's non-parameter entries, as
    float32."""
    import zipfile

    from vidbench.weights import load_state_dict

    sd: dict[str, torch.Tensor]
    try:
        with zipfile.ZipFile(path) if zipfile.is_zipfile(path) else _null() as z:
            is_ts = z is not None and any("/code/" in n or n.startswith("code/")
                                          for n in z.namelist())
    except OSError as e:
        raise UserError(f"{path}: cannot be read ({e})") from None
    if is_ts:
        sd = read_torchscript_tensors(path)
        sd = {k: v for k, v in sd.items() if k not in _OPENAI_EXTRA
              and not k.endswith(".attn_mask") and k != "attn_mask"}
    else:
        sd = load_state_dict(path)
        for key in _OPENAI_EXTRA:
            sd.pop(key, None)
    return {k: v.float() if torch.is_floating_point(v) else v for k, v in sd.items()}


def _null():
    import contextlib

    return contextlib.nullcontext(None)


def load_clip(arch: str = "ViT-B-32", *, random_weights: bool = False, device: str = "cpu",
              half: bool | None = None, seed: int = 0) -> ClipBackbone:
    """A CLIP backbone, cached per process by (arch, random_weights, device, half, seed).

    ``half`` defaults to True on CUDA devices. Pretrained weights come from the weights
    manager; a missing file raises :class:`~vidbench.errors.MissingWeightsError` naming it.
    """
    half = str(device).startswith("cuda") if half is None else half
    key = (arch, bool(random_weights), str(device), bool(half), seed)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        if arch not in CLIP_WEIGHTS:
            raise UserError(f"unknown CLIP architecture {arch!r}; use one of "
                            f"{list(CLIP_WEIGHTS)}")
        weights = CLIP_WEIGHTS[arch]
        if not random_weights and weights is None:
            raise UserError(f"CLIP architecture {arch!r} has no pretrained weights; use "
                            f"random_weights=True")
        path = None
        if not random_weights:  # resolve (or fail) before building anything
            from vidbench.weights import resolve

            path = resolve(weights)  # type: ignore[arg-type]
        model = build_clip(arch, seed)
        if path is not None:
            from vidbench.weights import state_dict_mismatch

            sd = openai_state_dict(path)
            problem = state_dict_mismatch(model.state_dict(), sd)
            if problem:
                raise UserError(f"{path}: does not match open_clip {arch}: {problem}")
            model.load_state_dict(sd, strict=True)
        dtype = torch.float16 if half else torch.float32
        model = model.to(device=device, dtype=dtype).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        bb = ClipBackbone(model, arch, weights, not random_weights, str(device), dtype, seed)
        _CACHE[key] = bb
        return bb


# ----------------------------------------------------------------------------- preprocessing


def _normalize(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(CLIP_MEAN, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


def clip_preprocess(frames: np.ndarray) -> torch.Tensor:
    """(K, H, W, 3) uint8 -> (K, 3, 224, 224) float32 as CLIP: frames that are not already
    224x224 get an antialiased bicubic resize of the short side to 224 and a center crop;
    then [0, 1] and CLIP mean/std."""
    from vidbench.video import center_crop, resize_frames

    if frames.shape[1:3] != (N_PX, N_PX):
        frames = center_crop(resize_frames(frames, N_PX, "bicubic_aa"), N_PX)
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)
    return _normalize(x)


def vbench_clip_transform(frames: np.ndarray) -> torch.Tensor:
    """VBench's ``clip_transform(224)`` on ``load_video`` output, transcribed: float tensor
    (T, C, H, W) in [0, 255]; torchvision ``Resize(224, BICUBIC, antialias=False)`` (short
    side, long side truncated, no clamping); ``CenterCrop(224)``; divide by 255; CLIP
    ``Normalize``."""
    import torchvision.transforms.functional as TF

    x = torch.Tensor(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    x = TF.resize(x, [N_PX], interpolation=TF.InterpolationMode.BICUBIC, antialias=False)
    x = TF.center_crop(x, [N_PX])
    x = x.float().div(255.0)
    return TF.normalize(x, CLIP_MEAN, CLIP_STD)


def vbench_clip_transform_image(frames: np.ndarray) -> torch.Tensor:
    """VBench's ``clip_transform_Image(224)`` (PIL path, as in its CLIP text-image
    dimensions), transcribed: PIL bicubic resize of the short side to 224, center crop,
    ``ToTensor``, CLIP ``Normalize``."""
    import torchvision.transforms.functional as TF
    from PIL import Image

    out = []
    for f in frames:
        img = Image.fromarray(np.ascontiguousarray(f))
        img = TF.resize(img, [N_PX], interpolation=TF.InterpolationMode.BICUBIC)
        img = TF.center_crop(img, [N_PX])
        out.append(TF.normalize(TF.to_tensor(img), CLIP_MEAN, CLIP_STD))
    return torch.stack(out) if out else torch.zeros(0, 3, N_PX, N_PX)


TRANSFORMS = {
    "clip": clip_preprocess,
    "vbench_tensor": vbench_clip_transform,
    "vbench_pil": vbench_clip_transform_image,
}


def image_features(ctx, backbone: ClipBackbone, spec: ViewSpec, transform: str = "clip",
                   batch_size: int = 32) -> torch.Tensor:
    """L2-normalised (K, D) float32 CLIP embeddings of the frames of ``ctx.view(spec)``,
    memoised on the video context by (backbone, view, transform): metrics that ask for the
    same triple share one forward pass."""
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown CLIP transform {transform!r}; use one of {list(TRANSFORMS)}")

    def compute() -> torch.Tensor:
        frames = ctx.view(spec).frames
        return backbone.encode_images(TRANSFORMS[transform](frames), batch_size)

    return ctx.memo(("clip-image", backbone.tag, spec, transform), compute)
