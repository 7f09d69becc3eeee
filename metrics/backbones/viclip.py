"""ViCLIP (InternVid-10M-FLT, ViT-L/14): a video encoder and a text encoder in one embedding
space, for VBench's ``overall_consistency`` and ``temporal_style``.

Architecture (written for vidbench from the published model; parameter names are the
official checkpoint's, so ``ViClip-InternVid-10M-FLT.pth``'s ``"model"`` state dict loads
with ``strict=True``):

- Video: 8 frames of 224x224, a ``Conv3d`` patch embedding with kernel (1, 14, 14), a class
  token and spatial positional embedding per frame, a temporal positional embedding added to
  every patch token, then *one* sequence ``[cls, (patch, frame) tokens]`` through a 24-layer,
  1024-wide, 16-head pre-LN transformer with QuickGELU; output ``ln_post(x[0]) @ proj``
  (768-d). With one frame the temporal embedding's mean is added (as the original).
- Text: CLIP's BPE tokens (context 32: ``[sot] + tokens + [eot]``, truncated with the last
  kept token replaced by ``eot``), token + positional embedding, a 12-layer 768-wide causal
  transformer, ``ln_final`` at the ``eot`` position (the largest token id) ``@
  text_projection`` (768-d). The BPE vocabulary is the one open_clip ships (the same
  ``bpe_simple_vocab_16e6.txt.gz`` VBench downloads).

Weights: ``viclip-l14-internvid-10m-flt`` in ``bench/weights.json`` (the file VBench fetches
from ``OpenGVLab/VBench_Used_Models``), resolved by :mod:`vidbench.weights` and read with
``torch.load(weights_only=True)`` (never downloaded here). ``random_weights=True`` builds the
architecture from a fixed seed. ``arch="tiny"`` is a 2-layer, 64-wide test architecture with
the same code path (random weights only).

Checked against VBench's own ViCLIP modules and ``overall_consistency`` function with
shared weights (``tests/test_viclip.py``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vidbench.errors import UserError
from vidbench.metrics.backbones.clip import CLIP_MEAN, CLIP_STD
from vidbench.metrics.backbones.clip import _normalize as normalize_clip
from vidbench.metrics.backbones.loading import (
    BackboneCache,
    frozen,
    load_strict,
    resolve_pretrained,
)

SOT, EOT = 49406, 49407


@dataclass(frozen=True)
class ViCLIPConfig:
    image_size: int = 224
    patch: int = 14
    vision_width: int = 1024
    vision_layers: int = 24
    vision_heads: int = 16
    num_frames: int = 8
    embed_dim: int = 768
    text_width: int = 768
    text_layers: int = 12
    text_heads: int = 12
    context_length: int = 32
    vocab_size: int = 49408
    weights: str | None = "viclip-l14-internvid-10m-flt"


CONFIGS: dict[str, ViCLIPConfig] = {
    "ViT-L-14": ViCLIPConfig(),
    "tiny": ViCLIPConfig(vision_width=64, vision_layers=2, vision_heads=2, embed_dim=32,
                         text_width=64, text_layers=2, text_heads=2, weights=None),
}


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualBlock(nn.Module):
    """Pre-LN transformer block on (L, N, D) sequences: attention, then a 4x QuickGELU MLP."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, 4 * width)),
                                              ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(4 * width, width))]))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(ResidualBlock(width, heads) for _ in range(layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for blk in self.resblocks:
            x = blk(x, mask)
        return x


class VideoEncoder(nn.Module):
    """(B, 3, T, H, W) normalised frames -> (B, embed_dim) video embeddings."""

    def __init__(self, cfg: ViCLIPConfig) -> None:
        super().__init__()
        w, p = cfg.vision_width, cfg.patch
        scale = w ** -0.5
        self.conv1 = nn.Conv3d(3, w, (1, p, p), (1, p, p), bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(w))
        self.positional_embedding = nn.Parameter(
            scale * torch.randn((cfg.image_size // p) ** 2 + 1, w))
        self.ln_pre = nn.LayerNorm(w)
        self.temporal_positional_embedding = nn.Parameter(torch.zeros(1, cfg.num_frames, w))
        self.transformer = Transformer(w, cfg.vision_layers, cfg.vision_heads)
        self.ln_post = nn.LayerNorm(w)
        self.proj = nn.Parameter(scale * torch.randn(w, cfg.embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        b, c, t, h, w = x.shape
        n = h * w
        tokens = x.permute(0, 2, 3, 4, 1).reshape(b, t, n, c)
        cls = self.class_embedding + self.positional_embedding[0]
        tokens = tokens + self.positional_embedding[1:]
        temporal = self.temporal_positional_embedding
        temporal = temporal.mean(1, keepdim=True) if t == 1 else temporal
        # every patch token gets its frame's temporal embedding; sequence order (patch, frame)
        tokens = (tokens.permute(0, 2, 1, 3) + temporal[:, None]).reshape(b, n * t, c)
        seq = torch.cat([cls.expand(b, 1, c), tokens], dim=1)
        seq = self.transformer(self.ln_pre(seq).permute(1, 0, 2))
        return self.ln_post(seq[0]) @ self.proj


class TextEncoder(nn.Module):
    """(B, context_length) token ids -> (B, embed_dim) text embeddings."""

    def __init__(self, cfg: ViCLIPConfig) -> None:
        super().__init__()
        # registration order = the official checkpoint's key order
        self.transformer = Transformer(cfg.text_width, cfg.text_layers, cfg.text_heads)
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.text_width)
        self.positional_embedding = nn.Parameter(
            0.01 * torch.randn(cfg.context_length, cfg.text_width))
        self.ln_final = nn.LayerNorm(cfg.text_width)
        self.text_projection = nn.Parameter(
            cfg.text_width ** -0.5 * torch.randn(cfg.text_width, cfg.embed_dim))
        mask = torch.full((cfg.context_length, cfg.context_length), float("-inf")).triu_(1)
        self.register_buffer("causal_mask", mask, persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2), self.causal_mask.to(x.dtype)).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(len(x)), tokens.argmax(dim=-1)] @ self.text_projection


class ViCLIP(nn.Module):
    """The two encoders plus the contrastive temperature ``temp`` (in the checkpoint; not
    used for scoring: VBench scores with the plain cosine)."""

    def __init__(self, cfg: ViCLIPConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.vision_encoder = VideoEncoder(cfg)
        self.text_encoder = TextEncoder(cfg)
        self.temp = nn.Parameter(torch.ones([]) / 100.0)


_TOKENIZER = None


def tokenize(text: str, context_length: int = 32) -> tuple[torch.Tensor, bool]:
    """(1, context_length) int64 ids of ``text`` with CLIP's BPE, as ViCLIP tokenises, and
    whether it was truncated."""
    global _TOKENIZER
    if _TOKENIZER is None:
        from open_clip.tokenizer import SimpleTokenizer

        _TOKENIZER = SimpleTokenizer()
    ids = [SOT, *_TOKENIZER.encode(text), EOT]
    truncated = len(ids) > context_length
    if truncated:
        ids = ids[:context_length]
        ids[-1] = EOT
    out = torch.zeros(1, context_length, dtype=torch.long)
    out[0, :len(ids)] = torch.tensor(ids)
    return out, truncated


# ----------------------------------------------------------------------------- frames


def vbench_middle_indices(num_source: int, num_frames: int = 8) -> list[int]:
    """VBench's ``get_frame_indices(num_frames, vlen, sample="middle")``: split the frame
    indices into ``min(num_frames, vlen)`` equal intervals (``linspace(0, vlen).astype(int)``)
    and take each interval's middle, ``(start + end - 1) // 2``; pad with the last index."""
    acc = min(num_frames, num_source)
    edges = np.linspace(0, num_source, acc + 1).astype(int)
    idx = [int((edges[k] + edges[k + 1] - 1) // 2) for k in range(acc)]
    return idx + [idx[-1]] * (num_frames - len(idx)) if idx else []


def vbench_video_tensor(frames: np.ndarray) -> torch.Tensor:
    """VBench's ``clip_transform(224)`` on decord's uint8 frames, transcribed: torchvision
    ``Resize(224, BICUBIC, antialias=False)`` on the *uint8* tensor (so the result is rounded
    and clamped to uint8), ``CenterCrop(224)``, ``/ 255``, CLIP ``Normalize``. Returns
    (T, 3, 224, 224) float32."""
    import torchvision.transforms.functional as TF

    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    x = TF.resize(x, [224], interpolation=TF.InterpolationMode.BICUBIC, antialias=False)
    x = TF.center_crop(x, [224]).float().div(255.0)
    return TF.normalize(x, CLIP_MEAN, CLIP_STD)


def normalise_view(frames: np.ndarray) -> torch.Tensor:
    """Frames already resized and cropped to 224x224 by the view -> (T, 3, 224, 224)."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div(255.0)
    return normalize_clip(x)


# ----------------------------------------------------------------------------- loading


@dataclass
class ViCLIPBackbone:
    model: ViCLIP
    arch: str
    weights: str | None
    comparable: bool
    device: str
    dtype: torch.dtype
    seed: int = 0
    forwards: int = 0  # videos encoded so far (tests check that metrics share a pass)

    @property
    def tag(self) -> str:
        src = self.weights if self.comparable else f"random{self.seed}"
        return f"viclip-{self.arch}-{src}-{str(self.dtype).removeprefix('torch.')}"

    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        """(T, 3, 224, 224) normalised frames -> (D,) L2-normalised float32 embedding."""
        with torch.inference_mode():
            x = frames.to(self.device, self.dtype).permute(1, 0, 2, 3).unsqueeze(0)
            v = self.model.vision_encoder(x).float()[0].cpu()
        self.forwards += 1
        return v / v.norm()

    def encode_text(self, text: str) -> tuple[torch.Tensor, bool]:
        """(D,) L2-normalised float32 embedding of ``text``, and whether it was truncated."""
        tokens, truncated = tokenize(text, self.model.cfg.context_length)
        with torch.inference_mode():
            t = self.model.text_encoder(tokens.to(self.device)).float()[0].cpu()
        return t / t.norm(), truncated


_CACHE: BackboneCache[ViCLIPBackbone] = BackboneCache()


def build_viclip(arch: str = "ViT-L-14", seed: int = 0) -> ViCLIP:
    """The architecture with a deterministic random initialisation (``seed``); the global
    torch RNG is left untouched."""
    if arch not in CONFIGS:
        raise UserError(f"unknown ViCLIP architecture {arch!r}; use one of {list(CONFIGS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ViCLIP(CONFIGS[arch]).eval()


def load_viclip_state_dict(model: ViCLIP, path) -> None:
    """Load the official checkpoint (``{"model": state_dict}``) with ``strict=True``."""
    load_strict(model, path, f"ViCLIP {model.cfg.vision_width}-wide")


def load_viclip(arch: str = "ViT-L-14", *, random_weights: bool = False, device: str = "cpu",
                half: bool = False, seed: int = 0) -> ViCLIPBackbone:
    """A ViCLIP backbone, cached per process by (arch, random_weights, device, half, seed).
    Pretrained weights are resolved (or refused) before anything is built."""
    def make() -> ViCLIPBackbone:
        cfg = CONFIGS.get(arch)
        path = resolve_pretrained("ViCLIP", arch, cfg.weights if cfg else None,
                                  random_weights)
        model = build_viclip(arch, seed)
        if path is not None:
            load_viclip_state_dict(model, path)
        dtype = torch.float16 if half else torch.float32
        frozen(model, device, dtype)
        return ViCLIPBackbone(model, arch, cfg.weights if cfg else None, not random_weights,
                              str(device), dtype, seed)

    return _CACHE.get((arch, bool(random_weights), str(device), bool(half), seed), make)
