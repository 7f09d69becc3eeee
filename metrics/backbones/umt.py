"""UMT ViT-L/16 (Unmasked Teacher, fine-tuned on Kinetics-710 then Kinetics-400): the video
classifier VBench's ``human_action`` runs.

Architecture (written for vidbench; parameter names are the official fine-tuning code's, so
``l16_ptk710_ftk710_ftk400_f16_res224.pth`` loads with ``strict=True``):

- Input (B, 3, 16, 224, 224), ImageNet-normalised. Patch embedding ``Conv3d`` with kernel
  (1, 16, 16) (tubelet 1): 16 x 14 x 14 tokens, frame-major.
- Position embedding: the fixed sinusoid table of an 8-frame 14x14 grid
  (``angle = pos / 10000^(2 floor(j/2) / D)``, sin on even, cos on odd channels), linearly
  interpolated along time to 16 frames (as the original builds it for 16-frame inputs); the
  original keeps it as a parameter, so a checkpoint may override it.
- 24 pre-LN blocks (1024-d, 16 heads, LayerNorm eps 1e-6, GELU MLP x4); attention with a
  bias on q and v only (k has none). No class token: the output is ``fc_norm(mean over
  tokens)`` and a linear Kinetics-400 head.

``random_weights=True`` builds the architecture from a fixed seed; ``arch="tiny"`` is a
2-block, 64-wide test architecture with the same code path. A checkpoint is loaded strictly,
except that a missing ``pos_embed`` keeps the sinusoid table (the original's fixed value).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidbench.errors import UserError
from vidbench.metrics.backbones.loading import (
    BackboneCache,
    frozen,
    load_strict,
    resolve_pretrained,
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class UMTConfig:
    dim: int = 1024
    depth: int = 24
    heads: int = 16
    patch: int = 16
    frames: int = 16
    image: int = 224
    classes: int = 400
    weights: str | None = "umt-l16-k400"


CONFIGS: dict[str, UMTConfig] = {
    "ViT-L-16": UMTConfig(),
    "tiny": UMTConfig(dim=64, depth=2, heads=2, weights=None),
}


def sinusoid_table(dim: int, frames: int, grid: int = 14, base_frames: int = 8) -> torch.Tensor:
    """(1, frames * grid * grid, dim) position table: the sinusoid of ``base_frames`` x grid
    x grid positions, linearly interpolated along time to ``frames``."""
    pos = np.arange(base_frames * grid * grid, dtype=np.float64)[:, None]
    j = np.arange(dim)
    table = pos / np.power(10000, 2 * (j // 2) / dim)
    table[:, 0::2] = np.sin(table[:, 0::2])
    table[:, 1::2] = np.cos(table[:, 1::2])
    t = torch.tensor(table, dtype=torch.float32)
    if frames == base_frames:
        return t[None]
    t = t.reshape(base_frames, grid, grid, dim).permute(1, 2, 3, 0).reshape(-1, dim, base_frames)
    t = F.interpolate(t, size=frames, mode="linear")
    return t.reshape(grid, grid, dim, frames).permute(3, 0, 1, 2).reshape(1, -1, dim)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
        qkv = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = ((q * (c // self.heads) ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, cfg: UMTConfig) -> None:
        super().__init__()
        self.proj = nn.Conv3d(3, cfg.dim, (1, cfg.patch, cfg.patch), (1, cfg.patch, cfg.patch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class UMTClassifier(nn.Module):
    """(B, 3, T, 224, 224) -> (B, classes) logits."""

    def __init__(self, cfg: UMTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg)
        self.pos_embed = nn.Parameter(sinusoid_table(cfg.dim, cfg.frames))
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads) for _ in range(cfg.depth))
        self.fc_norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.head = nn.Linear(cfg.dim, cfg.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.fc_norm(x.mean(1)))


# ----------------------------------------------------------------------------- frames


def vbench_umt_tensor(frames: np.ndarray) -> torch.Tensor:
    """VBench's human-action transform on 16 uint8 frames, transcribed: OpenCV bilinear
    resize of the short side to 256 (long side ``int()``-truncated; skipped when the short
    side already is 256), a 224x224 center crop at ``round((size - 224) / 2)``, / 255,
    ImageNet normalisation. Returns (3, T, 224, 224) float32."""
    import cv2

    h, w = frames.shape[1:3]
    if min(h, w) != 256:
        oh, ow = (int(256 * h / w), 256) if w < h else (256, int(256 * w / h))
        frames = np.stack([cv2.resize(f, (ow, oh), interpolation=cv2.INTER_LINEAR)
                           for f in frames])
    return _crop_normalise(frames)


def _crop_normalise(frames: np.ndarray) -> torch.Tensor:
    h, w = frames.shape[1:3]
    if h < 224 or w < 224:
        raise ValueError(f"frames of {h}x{w} are smaller than the 224x224 crop")
    y0, x0 = int(round((h - 224) / 2.0)), int(round((w - 224) / 2.0))
    crop = frames[:, y0:y0 + 224, x0:x0 + 224].astype(np.float64)
    x = torch.from_numpy(crop).permute(3, 0, 1, 2).float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)
    return (x - mean) / std


def crop_normalise(frames: np.ndarray) -> torch.Tensor:
    """Default mode: frames already resized (short side 256, antialiased) -> center crop,
    / 255, ImageNet normalisation; (3, T, 224, 224) float32."""
    return _crop_normalise(frames)


# ----------------------------------------------------------------------------- loading


@dataclass
class UMTBackbone:
    model: UMTClassifier
    arch: str
    weights: str | None
    comparable: bool
    device: str
    seed: int = 0

    @property
    def tag(self) -> str:
        return f"umt-{self.arch}-{self.weights if self.comparable else f'random{self.seed}'}"

    def probabilities(self, clip: torch.Tensor) -> np.ndarray:
        """(3, T, 224, 224) -> (classes,) sigmoid probabilities (float64)."""
        with torch.inference_mode():
            logits = self.model(clip[None].to(self.device)).float()[0].cpu()
        return torch.sigmoid(logits).double().numpy()


_CACHE: BackboneCache[UMTBackbone] = BackboneCache()


def build_umt(arch: str = "ViT-L-16", seed: int = 0) -> UMTClassifier:
    if arch not in CONFIGS:
        raise UserError(f"unknown UMT architecture {arch!r}; use one of {list(CONFIGS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = UMTClassifier(CONFIGS[arch])
        for m in model.modules():  # the original's init: truncated normal, zero biases
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        return model.eval()


def load_umt(arch: str = "ViT-L-16", *, random_weights: bool = False, device: str = "cpu",
             seed: int = 0) -> UMTBackbone:
    """A UMT classifier, cached per process; pretrained weights are resolved (or refused)
    before anything is built, and loaded strictly (a missing ``pos_embed`` keeps the
    original's fixed sinusoid)."""
    def make() -> UMTBackbone:
        cfg = CONFIGS.get(arch)
        path = resolve_pretrained("UMT", arch, cfg.weights if cfg else None, random_weights)
        model = build_umt(arch, seed)
        if path is not None:
            load_strict(model, path, f"UMT {model.cfg.dim}-d Kinetics-400",
                        fill=lambda found, expected: found if "pos_embed" in found
                        else {**found, "pos_embed": expected["pos_embed"]})
        frozen(model, device)
        return UMTBackbone(model, arch, cfg.weights if cfg else None, not random_weights,
                           str(device), seed)

    return _CACHE.get((arch, bool(random_weights), str(device), seed), make)
