"""MUSIQ (Ke et al., ICCV 2021), the multi-scale image quality transformer VBench's
``imaging_quality`` runs with its SPAQ-trained weights.

Written for vidbench from the paper and the PyTorch port VBench imports (pyiqa's
``MUSIQ``); parameter names are that port's, so the official
``musiq_spaq_ckpt-358bb6af.pth`` loads with ``strict=True``.

- Input: an RGB image in [0, 1], mapped to [-1, 1].
- Multi-scale patches: the image resized (bicubic, no antialiasing) so its longer side is
  224 and 384, plus the original resolution; each cut into 32x32 patches (zero-padded
  "same" grid). Each patch carries a hashed spatial position (the patch grid mapped by
  nearest-neighbour onto a 10x10 grid), its scale index and a validity mask. The two
  resized scales are padded or cut to ceil(L/32)^2 patches; the original resolution keeps
  all its patches (``max_seq_len_from_original_res=-1``).
- Patch stem: a weight-standardised 7x7/2 conv (TensorFlow "same" padding), GroupNorm,
  ReLU, 3x3/2 max-pool with "same" padding, one bottleneck block (64 -> 256 channels):
  each 32x32 patch becomes 8x8x256 features, flattened in TensorFlow's channel-last order
  and embedded to 384-d.
- Encoder: a class token, hashed spatial + scale embeddings, 14 pre-LN blocks (6 heads,
  MLP 1152, GELU, LayerNorm eps 1e-6) with padded patches masked out, final LayerNorm;
  a linear head on the class token gives the quality score (SPAQ: a MOS on ~[0, 100]).

``random_weights=True`` builds the architecture from a fixed seed; ``arch="tiny"`` is a
2-block, 64-wide test architecture with the same code path.
"""

from __future__ import annotations

import math
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


@dataclass(frozen=True)
class MusiqConfig:
    hidden: int = 384
    mlp_dim: int = 1152
    heads: int = 6
    layers: int = 14
    patch: int = 32
    grid: int = 10
    scales: tuple[int, ...] = (224, 384)
    weights: str | None = "musiq-spaq"


CONFIGS: dict[str, MusiqConfig] = {
    "spaq": MusiqConfig(),
    "tiny": MusiqConfig(hidden=64, mlp_dim=128, heads=2, layers=2, weights=None),
}


def same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow's "same" zero padding for a square ``kernel`` and ``stride``."""
    h, w = x.shape[-2:]
    pad_h = max((math.ceil(h / stride) - 1) * stride + kernel - h, 0)
    pad_w = max((math.ceil(w / stride) - 1) * stride + kernel - w, 0)
    return F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))


class StdConv(nn.Conv2d):
    """Weight-standardised convolution (per output channel: zero mean, unit std + 1e-5)
    with "same" padding."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        w = (w - w.mean((1, 2, 3), keepdim=True)) / (w.std((1, 2, 3), keepdim=True) + 1e-5)
        k, s = self.kernel_size[0], self.stride[0]
        return F.conv2d(same_pad(x, k, s), w, self.bias, s)


class Bottleneck(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = StdConv(cin, cin, 1, 1, bias=False)
        self.gn1 = nn.GroupNorm(32, cin, eps=1e-4)
        self.conv2 = StdConv(cin, cin, 3, 1, bias=False)
        self.gn2 = nn.GroupNorm(32, cin, eps=1e-4)
        self.conv3 = StdConv(cin, cout, 1, 1, bias=False)
        self.gn3 = nn.GroupNorm(32, cout, eps=1e-4)
        self.conv_proj = StdConv(cin, cout, 1, 1, bias=False)
        self.gn_proj = nn.GroupNorm(32, cout, eps=1e-4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.gn_proj(self.conv_proj(x))
        x = F.relu(self.gn1(self.conv1(x)))
        x = F.relu(self.gn2(self.conv2(x)))
        return F.relu(self.gn3(self.conv3(x)) + skip)


class Attention(nn.Module):
    """Multi-head self-attention with separate q/k/v projections; masked keys and queries
    get logit -1e3 (as the original)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = (f(x).reshape(b, n, self.heads, c // self.heads).transpose(1, 2)
                   for f in (self.query, self.key, self.value))
        logits = (q @ k.transpose(-2, -1)) * (c // self.heads) ** -0.5
        pair = (mask[:, None, :, None] & mask[:, None, None, :])
        logits = logits.masked_fill(~pair, -1e3)
        return self.out((logits.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class EncoderBlock(nn.Module):
    def __init__(self, dim: int, mlp_dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attention = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, mlp_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


class PositionEmbedding(nn.Module):
    def __init__(self, grid: int, dim: int) -> None:
        super().__init__()
        self.position_emb = nn.Parameter(0.02 * torch.randn(1, grid * grid, dim))


class ScaleEmbedding(nn.Module):
    def __init__(self, scales: int, dim: int) -> None:
        super().__init__()
        self.scale_emb = nn.Parameter(0.02 * torch.randn(scales, dim))


class Encoder(nn.Module):
    def __init__(self, cfg: MusiqConfig) -> None:
        super().__init__()
        self.posembed_input = PositionEmbedding(cfg.grid, cfg.hidden)
        self.scaleembed_input = ScaleEmbedding(len(cfg.scales) + 1, cfg.hidden)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.hidden))
        self.encoder_norm = nn.LayerNorm(cfg.hidden, eps=1e-6)
        self.transformer = nn.ModuleDict({f"encoderblock_{i}": EncoderBlock(
            cfg.hidden, cfg.mlp_dim, cfg.heads) for i in range(cfg.layers)})

    def forward(self, x: torch.Tensor, spatial: torch.Tensor, scale: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        x = x + self.posembed_input.position_emb[0][spatial]
        x = x + self.scaleembed_input.scale_emb[scale]
        x = torch.cat([self.cls.expand(len(x), 1, -1), x], dim=1)
        mask = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)
        for blk in self.transformer.values():
            x = blk(x, mask)
        return self.encoder_norm(x)


def hashed_positions(grid: int, rows: int, cols: int) -> torch.Tensor:
    """(rows * cols,) indices into a grid x grid table: each patch's row and column mapped
    by nearest neighbour (``floor(i * grid / n)``) onto the grid."""
    r = torch.div(torch.arange(rows) * grid, rows, rounding_mode="floor")
    c = torch.div(torch.arange(cols) * grid, cols, rounding_mode="floor")
    return (r[:, None] * grid + c[None, :]).reshape(-1)


def scale_patches(img: torch.Tensor, patch: int, grid: int, scale_id: int,
                  max_len: int | None) -> tuple[torch.Tensor, ...]:
    """(patches (N, 3*patch*patch), spatial (N,), scale (N,), mask (N,)) of one (3, H, W)
    image; padded with masked zero patches or cut to ``max_len`` when given."""
    h, w = img.shape[-2:]
    rows, cols = math.ceil(h / patch), math.ceil(w / patch)
    x = same_pad(img[None], patch, patch)
    p = F.unfold(x, patch, stride=patch)[0].T  # (rows*cols, 3*patch*patch), channel-major
    spatial = hashed_positions(grid, rows, cols)
    n = len(p)
    scale = torch.full((n,), scale_id)
    if max_len is not None:  # padding is all zeros: patch, position, scale and mask
        if n < max_len:
            p = torch.cat([p, p.new_zeros(max_len - n, p.shape[1])])
            spatial = torch.cat([spatial, spatial.new_zeros(max_len - n)])
            scale = torch.cat([scale, scale.new_zeros(max_len - n)])
        p, spatial, scale, n = p[:max_len], spatial[:max_len], scale[:max_len], min(n, max_len)
    mask = torch.arange(len(p)) < n
    return p, spatial, scale, mask


class Musiq(nn.Module):
    """(1, 3, H, W) image in [0, 1] -> (1,) quality score."""

    def __init__(self, cfg: MusiqConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.conv_root = StdConv(3, 64, 7, 2, bias=False)
        self.gn_root = nn.GroupNorm(32, 64, eps=1e-6)
        self.block1 = Bottleneck(64, 256)
        tok = cfg.patch // 4
        self.embedding = nn.Linear(256 * tok * tok, cfg.hidden)
        self.transformer_encoder = Encoder(cfg)
        self.head = nn.Linear(cfg.hidden, 1)

    def tokens(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The multi-scale patch sequence of one image (see the module docstring)."""
        cfg = self.cfg
        img = image[0] * 2.0 - 1.0
        h, w = img.shape[-2:]
        parts = []
        for sid, longer in enumerate(sorted(cfg.scales)):
            ratio = longer / max(h, w)
            size = (round(h * ratio), round(w * ratio))
            resized = F.interpolate(img[None], size, mode="bicubic", align_corners=False)[0]
            parts.append(scale_patches(resized, cfg.patch, cfg.grid, sid,
                                       math.ceil(longer / cfg.patch) ** 2))
        parts.append(scale_patches(img, cfg.patch, cfg.grid, len(cfg.scales), None))
        return tuple(torch.cat(z) for z in zip(*parts, strict=True))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        patches, spatial, scale, mask = self.tokens(image)
        n, p = len(patches), self.cfg.patch
        x = patches.reshape(n, 3, p, p)
        x = F.relu(self.gn_root(self.conv_root(x)))
        x = F.max_pool2d(same_pad(x, 3, 2), 3, 2)
        x = self.block1(x).permute(0, 2, 3, 1).reshape(1, n, -1)  # channel-last, as TF
        x = self.transformer_encoder(self.embedding(x), spatial[None], scale[None], mask[None])
        return self.head(x[:, 0])[:, 0]


@dataclass
class MusiqBackbone:
    model: Musiq
    arch: str
    weights: str | None
    comparable: bool
    device: str
    seed: int = 0

    @property
    def tag(self) -> str:
        return f"musiq-{self.arch}-{self.weights if self.comparable else f'random{self.seed}'}"

    def score_frames(self, frames: torch.Tensor) -> np.ndarray:
        """(T, 3, H, W) float frames in [0, 1] -> (T,) float64 scores, one image at a time
        (the multi-scale sequence length depends on the image size)."""
        out = []
        with torch.inference_mode():
            for f in frames:
                out.append(float(self.model(f[None].to(self.device))))
        return np.asarray(out, dtype=np.float64)


_CACHE: BackboneCache[MusiqBackbone] = BackboneCache()


def build_musiq(arch: str = "spaq", seed: int = 0) -> Musiq:
    if arch not in CONFIGS:
        raise UserError(f"unknown MUSIQ architecture {arch!r}; use one of {list(CONFIGS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Musiq(CONFIGS[arch]).eval()


def load_musiq(arch: str = "spaq", *, random_weights: bool = False, device: str = "cpu",
               seed: int = 0) -> MusiqBackbone:
    """A MUSIQ backbone, cached per process; pretrained weights are resolved (or refused)
    before anything is built and loaded with ``strict=True``."""
    def make() -> MusiqBackbone:
        cfg = CONFIGS.get(arch)
        path = resolve_pretrained("MUSIQ", arch, cfg.weights if cfg else None, random_weights)
        model = build_musiq(arch, seed)
        if path is not None:
            load_strict(model, path, "MUSIQ")
        frozen(model, device)
        return MusiqBackbone(model, arch, cfg.weights if cfg else None, not random_weights,
                             str(device), seed)

    return _CACHE.get((arch, bool(random_weights), str(device), seed), make)
