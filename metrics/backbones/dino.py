"""DINO ViT (Caron et al., 2021) as a frame feature extractor for ``subject_consistency``.

The module layout and parameter names follow facebookresearch/dino's ``vision_transformer.py``
exactly (``cls_token``, ``pos_embed``, ``patch_embed.proj``, ``blocks.{i}.norm1``,
``blocks.{i}.attn.qkv``, ``blocks.{i}.attn.proj``, ``blocks.{i}.norm2``,
``blocks.{i}.mlp.fc1``, ``blocks.{i}.mlp.fc2``, ``norm``; the hub models have no head), so
the official ``dino_vitbase16_pretrain.pth`` loads with ``strict=True``. ``forward`` returns
the final-normed CLS token, as the torch.hub ``dino_vitb16`` model VBench uses does.

Position embeddings are interpolated for other input sizes the way DINO does it (bicubic
with ``scale_factor = (n + 0.1) / sqrt(N)``), so non-square frames (VBench resizes the short
side to 224 and does not crop) give the same features as the reference implementation.

Weights are never downloaded here: :func:`load_dino` resolves them through
:mod:`vidbench.weights` (sha256-checked, ``MissingWeightsError`` naming the URL) or builds
the same architecture from a fixed seed with ``random_weights=True`` (not comparable).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vidbench.metrics.backbones.vit import Block, PatchEmbed

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DinoConfig:
    patch_size: int
    embed_dim: int
    depth: int
    num_heads: int
    weights: str | None  # name in the weights manifest (None: test-only architecture)


#: Architectures. ``vitb16`` is the one subject_consistency uses (VBench's ``dino_vitb16``);
#: ``tiny`` is a 2-block test architecture with the same code path (random weights only).
DINO_CONFIGS: dict[str, DinoConfig] = {
    "vitb16": DinoConfig(16, 768, 12, 12, "dino-vitb16"),
    "vits16": DinoConfig(16, 384, 12, 6, None),
    "tiny": DinoConfig(16, 96, 2, 3, None),
}


class DinoViT(nn.Module):
    """DINO's ViT with no head: ``forward(x)`` -> final-normed CLS token (B, embed_dim)."""

    def __init__(self, cfg: DinoConfig, img_size: int = 224) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.embed_dim
        self.patch_embed = PatchEmbed(cfg.patch_size, d, img_size=img_size)
        n = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, d))
        self.blocks = nn.ModuleList(Block(d, cfg.num_heads) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(d, eps=1e-6)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def interpolate_pos_encoding(self, npatch: int, h: int, w: int) -> torch.Tensor:
        """DINO's position-embedding interpolation for an ``h x w`` input (pixels)."""
        n = self.pos_embed.shape[1] - 1
        if npatch == n and h == w:
            return self.pos_embed
        cls_pos = self.pos_embed[:, 0]
        patch_pos = self.pos_embed[:, 1:]
        dim = self.pos_embed.shape[-1]
        h0 = h // self.patch_embed.patch_size + 0.1
        w0 = w // self.patch_embed.patch_size + 0.1
        side = int(math.sqrt(n))
        patch_pos = F.interpolate(
            patch_pos.reshape(1, side, side, dim).permute(0, 3, 1, 2),
            scale_factor=(h0 / math.sqrt(n), w0 / math.sqrt(n)), mode="bicubic")
        if int(h0) != patch_pos.shape[-2] or int(w0) != patch_pos.shape[-1]:
            raise RuntimeError(f"position embedding interpolation gave {patch_pos.shape[-2:]}, "
                               f"expected {(int(h0), int(w0))}")
        patch_pos = patch_pos.permute(0, 2, 3, 1).reshape(1, -1, dim)
        return torch.cat((cls_pos.unsqueeze(0), patch_pos), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        t = self.patch_embed(x)
        t = torch.cat((self.cls_token.expand(b, -1, -1), t), dim=1)
        t = t + self.interpolate_pos_encoding(t.shape[1] - 1, h, w).to(t.dtype)
        for blk in self.blocks:
            t = blk(t)
        return self.norm(t)[:, 0]


# ----------------------------------------------------------------------------- loading


@dataclass
class DinoBackbone:
    """A loaded DINO model plus how it was made. ``comparable`` is False for random init."""

    model: DinoViT
    arch: str
    weights: str | None
    comparable: bool
    device: str
    dtype: torch.dtype
    seed: int = 0
    forwards: int = 0  # images encoded so far (tests use it to check feature sharing)

    @property
    def tag(self) -> str:
        src = self.weights if self.comparable else f"random{self.seed}"
        return f"dino-{self.arch}-{src}-{str(self.dtype).removeprefix('torch.')}"

    def encode(self, x: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
        """(N, 3, H, W) normalised float images -> (N, D) float32 CLS features (not
        L2-normalised), batched, under ``torch.inference_mode``."""
        outs = []
        with torch.inference_mode():
            for i in range(0, len(x), max(1, batch_size)):
                xb = x[i:i + batch_size].to(self.device, self.dtype)
                outs.append(self.model(xb).float().cpu())
                self.forwards += len(xb)
        return torch.cat(outs) if outs else torch.zeros(0, self.model.cfg.embed_dim)


_CACHE: dict[tuple, DinoBackbone] = {}
_LOCK = threading.Lock()


def build_dino(arch: str = "vitb16", seed: int = 0) -> DinoViT:
    """The architecture ``arch`` with a deterministic random initialisation (``seed``);
    the global torch RNG is left untouched."""
    if arch not in DINO_CONFIGS:
        from vidbench.errors import UserError

        raise UserError(f"unknown DINO architecture {arch!r}; use one of {list(DINO_CONFIGS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DinoViT(DINO_CONFIGS[arch]).eval()


def load_dino_state_dict(model: DinoViT, path) -> None:
    """Load an official DINO checkpoint (a flat state dict) with ``strict=True``; a
    mismatch names the missing and unexpected keys."""
    from vidbench.errors import UserError
    from vidbench.weights import load_state_dict, state_dict_mismatch

    sd = load_state_dict(path)
    problem = state_dict_mismatch(model.state_dict(), sd)
    if problem:
        raise UserError(f"{path}: not a DINO ViT ({model.cfg.embed_dim}-d, depth "
                        f"{model.cfg.depth}) checkpoint: {problem}")
    model.load_state_dict(sd, strict=True)


def load_dino(arch: str = "vitb16", *, random_weights: bool = False, device: str = "cpu",
              half: bool | None = None, seed: int = 0) -> DinoBackbone:
    """A DINO backbone, cached per process by (arch, random_weights, device, half, seed).

    Pretrained weights come from the weights manager (never downloaded here). ``half``
    defaults to True on CUDA devices."""
    half = str(device).startswith("cuda") if half is None else half
    key = (arch, bool(random_weights), str(device), bool(half), seed)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        cfg = DINO_CONFIGS.get(arch)
        path = None
        if not random_weights:  # resolve (or fail) before building anything
            from vidbench.errors import UserError
            from vidbench.weights import resolve

            if cfg is None or cfg.weights is None:
                raise UserError(f"DINO architecture {arch!r} has no pretrained weights; "
                                f"use random_weights=True")
            path = resolve(cfg.weights)
        model = build_dino(arch, seed)
        if path is not None:
            load_dino_state_dict(model, path)
        dtype = torch.float16 if half else torch.float32
        model = model.to(device=device, dtype=dtype).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        bb = DinoBackbone(model, arch, cfg.weights if cfg else None, not random_weights,
                          str(device), dtype, seed)
        _CACHE[key] = bb
        return bb


# ----------------------------------------------------------------------------- preprocessing


def normalize_uint8(frames: np.ndarray) -> torch.Tensor:
    """(K, H, W, 3) uint8 frames (already resized) -> (K, 3, H, W) float32 with ImageNet
    mean/std."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def vbench_dino_transform(frames: np.ndarray, n_px: int = 224) -> torch.Tensor:
    """VBench's ``dino_transform(224)`` on ``load_video`` output, transcribed: the uint8
    frames as a float tensor (T, C, H, W) in [0, 255], torchvision ``Resize(224,
    antialias=False)`` (bilinear, short side to 224, long side truncated, no crop), divide
    by 255, ImageNet ``Normalize``."""
    import torchvision.transforms.functional as TF

    x = torch.Tensor(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    x = TF.resize(x, [n_px], interpolation=TF.InterpolationMode.BILINEAR, antialias=False)
    x = x.float().div(255.0)
    return TF.normalize(x, IMAGENET_MEAN, IMAGENET_STD)
