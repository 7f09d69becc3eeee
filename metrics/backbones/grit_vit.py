"""GRiT's image backbone: ViTDet ViT-B/16 with a simple feature pyramid (p3-p7), written for
vidbench. One part of the GRiT network, assembled in :mod:`vidbench.metrics.backbones.grit`
(see ``metrics/grit_dims.py``).

Parameter names are the official ones under GRiT's ``backbone.`` prefix (``bottom_up.*`` for
the ViT, ``fpn_stride{8,16,32}_*`` and ``top_block.p6/p7``), so the backbone part of
``grit_b_densecap_objectdet.pth`` loads strictly into it. Checked against
GRiT's own ``vit.py`` (VBench's copy, imported with detectron2's few pieces stubbed) with
shared seeded weights in ``tests/test_grit_vit.py``.

Architecture (GRiT's ``build_vit_fpn_backbone``):

- Input (B, 3, H, W), H and W multiples of 32 (GRiT pads to a multiple of p5's stride),
  normalised with ImageNet mean/std in 0-255 units. Patch embedding ``Conv2d`` 16x16 stride
  16 -> (B, H/16, W/16, 768).
- Absolute position embedding learned at 224 (14x14 plus a class-token slot, which is
  dropped), resized bicubically (``align_corners=False``) to the token grid.
- 12 pre-LN blocks (768-d, 12 heads, LayerNorm eps 1e-6, GELU MLP x4, qkv bias). Blocks 2, 5,
  8, 11 attend globally, the others within 14x14 windows (zero-padded to a multiple of 14).
  Every block adds decomposed relative position terms (MViTv2): per axis a learned table of
  ``2 * size - 1`` rows (size 64 for global blocks, i.e. a 1024 input, and 14 for windowed
  ones), linearly resized when the attended grid differs, ``attn += q . R_h + q . R_w``.
- Simple pyramid from the stride-16 map: p3 = ConvTranspose 2x2 stride 2 then 1x1 conv +
  LN + 3x3 conv + LN; p4 = 1x1 conv + LN + 3x3 conv + LN; p5 = 2x2 max-pool then the same;
  p6 = 3x3 stride-2 conv of p5, p7 = 3x3 stride-2 conv of relu(p6). 256 channels; the convs
  of p3-p5 have no bias, the LayerNorms normalise channels (eps 1e-5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vidbench.metrics.backbones.vit import Mlp


@dataclass(frozen=True)
class GritVitConfig:
    """Sizes of the backbone; ``B`` is GRiT-B's, ``tiny`` the test size (same code path)."""

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    window_size: int = 14
    global_blocks: tuple[int, ...] = (2, 5, 8, 11)
    img_size: int = 1024
    pretrain_img_size: int = 224
    patch_size: int = 16
    out_channels: int = 256


CONFIGS = {
    "B": GritVitConfig(),
    "tiny": GritVitConfig(embed_dim=32, depth=3, num_heads=2, window_size=4,
                          global_blocks=(2,), img_size=128, pretrain_img_size=64,
                          out_channels=16),
}


def resize_rel_pos(table: torch.Tensor, length: int) -> torch.Tensor:
    """The (L, C) relative position table linearly resized to ``length`` rows."""
    if table.shape[0] == length:
        return table
    t = F.interpolate(table.t().unsqueeze(0), size=length, mode="linear")
    return t.squeeze(0).t()


def rel_pos_rows(q: int, k: int, table: torch.Tensor) -> torch.Tensor:
    """(q, k, C): the table row for each query/key offset (query and key grids scaled to
    the longer one when they differ)."""
    table = resize_rel_pos(table, int(2 * max(q, k) - 1))
    qs, ks = max(k / q, 1.0), max(q / k, 1.0)
    offset = (torch.arange(q)[:, None] * qs - torch.arange(k)[None, :] * ks) + (k - 1) * ks
    return table[offset.long()]


class Attention(nn.Module):
    """Multi-head self-attention on a (B, H, W, C) grid with decomposed relative positions."""

    def __init__(self, dim: int, num_heads: int, grid: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        head = dim // num_heads
        self.scale = head ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.rel_pos_h = nn.Parameter(torch.zeros(2 * grid - 1, head))
        self.rel_pos_w = nn.Parameter(torch.zeros(2 * grid - 1, head))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        n = self.num_heads
        qkv = self.qkv(x).reshape(b, h * w, 3, n, c // n).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, b * n, h * w, c // n).unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        rq = q.reshape(b * n, h, w, c // n)
        rel_h = torch.einsum("bhwc,hkc->bhwk", rq, rel_pos_rows(h, h, self.rel_pos_h))
        rel_w = torch.einsum("bhwc,wkc->bhwk", rq, rel_pos_rows(w, w, self.rel_pos_w))
        attn = (attn.view(b * n, h, w, h, w) + rel_h[..., :, None] + rel_w[..., None, :])
        attn = attn.view(b * n, h * w, h * w).softmax(dim=-1)
        out = (attn @ v).view(b, n, h, w, c // n).permute(0, 2, 3, 1, 4).reshape(b, h, w, c)
        return self.proj(out)


def to_windows(x: torch.Tensor, size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """(B, H, W, C) -> (B * windows, size, size, C), zero-padded; returns the padded H, W."""
    b, h, w, c = x.shape
    hp, wp = -(-h // size) * size, -(-w // size) * size
    x = F.pad(x, (0, 0, 0, wp - w, 0, hp - h))
    x = x.view(b, hp // size, size, wp // size, size, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, size, size, c), (hp, wp)


def from_windows(x: torch.Tensor, size: int, padded: tuple[int, int],
                 hw: tuple[int, int]) -> torch.Tensor:
    hp, wp = padded
    b = x.shape[0] // ((hp // size) * (wp // size))
    x = x.view(b, hp // size, wp // size, size, size, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, hp, wp, -1)[:, :hw[0], :hw[1]].contiguous()


class Block(nn.Module):
    """Pre-LN transformer block; ``window`` > 0 attends within windows of that size."""

    def __init__(self, dim: int, num_heads: int, window: int, grid: int) -> None:
        super().__init__()
        self.window = window
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, window if window else grid)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm1(x)
        if self.window:
            hw = (y.shape[1], y.shape[2])
            y, padded = to_windows(y, self.window)
            y = from_windows(self.attn(y), self.window, padded, hw)
        else:
            y = self.attn(y)
        x = x + y
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class ViT(nn.Module):
    """ViTDet's plain ViT: (B, 3, H, W) -> (B, C, H/16, W/16)."""

    def __init__(self, cfg: GritVitConfig) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(cfg.patch_size, cfg.embed_dim)
        side = cfg.pretrain_img_size // cfg.patch_size
        self.pos_embed = nn.Parameter(torch.zeros(1, side * side + 1, cfg.embed_dim))
        grid = cfg.img_size // cfg.patch_size
        self.blocks = nn.ModuleList(
            Block(cfg.embed_dim, cfg.num_heads,
                  0 if i in cfg.global_blocks else cfg.window_size, grid)
            for i in range(cfg.depth))

    def abs_pos(self, h: int, w: int) -> torch.Tensor:
        pos = self.pos_embed[:, 1:]
        side = int(math.isqrt(pos.shape[1]))
        grid = pos.reshape(1, side, side, -1)
        if (side, side) == (h, w):
            return grid
        grid = F.interpolate(grid.permute(0, 3, 1, 2), size=(h, w), mode="bicubic",
                             align_corners=False)
        return grid.permute(0, 2, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        x = x + self.abs_pos(x.shape[1], x.shape[2])
        for blk in self.blocks:
            x = blk(x)
        return x.permute(0, 3, 1, 2)


class TopBlock(nn.Module):
    """p6, p7 from p5 (RetinaNet-style)."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.p6 = nn.Conv2d(ch, ch, 3, 2, 1)
        self.p7 = nn.Conv2d(ch, ch, 3, 2, 1)

    def forward(self, p5: torch.Tensor) -> list[torch.Tensor]:
        p6 = self.p6(p5)
        return [p6, self.p7(F.relu(p6))]


def _conv_ln(x: torch.Tensor, conv: nn.Module, norm: nn.Module) -> torch.Tensor:
    return norm(conv(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class GritBackbone(nn.Module):
    """ViT + simple pyramid: (B, 3, H, W) -> {"p3": ..., ..., "p7": ...}."""

    def __init__(self, cfg: GritVitConfig) -> None:
        super().__init__()
        d, o = cfg.embed_dim, cfg.out_channels
        self.bottom_up = ViT(cfg)
        self.top_block = TopBlock(o)
        self.maxpool = nn.MaxPool2d(2, stride=2)
        self.fpn_stride_16_8 = nn.ConvTranspose2d(d, d, 2, stride=2, bias=False)
        for s in (8, 16, 32):
            setattr(self, f"fpn_stride{s}_conv1", nn.Conv2d(d, o, 1, bias=False))
            setattr(self, f"fpn_stride{s}_norm1", nn.LayerNorm(o))
            setattr(self, f"fpn_stride{s}_conv2", nn.Conv2d(o, o, 3, padding=1, bias=False))
            setattr(self, f"fpn_stride{s}_norm2", nn.LayerNorm(o))

    def _level(self, x: torch.Tensor, s: int) -> torch.Tensor:
        x = _conv_ln(x, getattr(self, f"fpn_stride{s}_conv1"),
                     getattr(self, f"fpn_stride{s}_norm1"))
        return _conv_ln(x, getattr(self, f"fpn_stride{s}_conv2"),
                        getattr(self, f"fpn_stride{s}_norm2"))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.bottom_up(x)
        p3 = self._level(self.fpn_stride_16_8(f), 8)
        p4 = self._level(f, 16)
        p5 = self._level(self.maxpool(f), 32)
        p6, p7 = self.top_block(p5)
        return {"p3": p3, "p4": p4, "p5": p5, "p6": p6, "p7": p7}


def build_grit_backbone(arch: str = "B", seed: int = 0) -> GritBackbone:
    """The backbone with seeded random weights (``arch`` "B" or "tiny"), in eval mode."""
    torch.manual_seed(int(seed))
    model = GritBackbone(CONFIGS[arch])
    for p in model.parameters():  # the zero-initialised tables get values too
        if p.dim() >= 1:
            with torch.no_grad():
                p.add_(0.02 * torch.randn_like(p))
    return model.eval()
