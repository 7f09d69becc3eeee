"""Vision-transformer building blocks shared by the DINO image ViT (:mod:`.dino`) and the
VideoMAE-v2 video ViT (:mod:`.videomae`).

Parameter names follow the timm/DINO/VideoMAE convention both official checkpoints use
(``patch_embed.proj``, ``norm1``, ``attn.qkv``, ``attn.q_bias``/``attn.v_bias``,
``attn.proj``, ``norm2``, ``mlp.fc1``, ``mlp.fc2``), so their state dicts load with
``strict=True``. A pre-norm block::

    x = x + proj(softmax(q k^T / sqrt(d_head)) v)      on LayerNorm(x), eps 1e-6
    x = x + fc2(GELU(fc1(x)))                           on LayerNorm(x), eps 1e-6
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Mlp(nn.Module):
    """``fc2(GELU(fc1(x)))`` (exact GELU)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """Multi-head self-attention. ``qv_bias=False``: one ``qkv`` linear with its bias (DINO);
    ``qv_bias=True``: ``qkv`` without bias plus separate ``q_bias`` and ``v_bias`` (k has
    none), as VideoMAE-v2."""

    def __init__(self, dim: int, num_heads: int, *, qv_bias: bool = False) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qv_bias = qv_bias
        self.qkv = nn.Linear(dim, dim * 3, bias=not qv_bias)
        if qv_bias:
            self.q_bias = nn.Parameter(torch.zeros(dim))
            self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        if self.qv_bias:
            bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
            qkv = F.linear(x, self.qkv.weight, bias)
        else:
            qkv = self.qkv(x)
        q, k, v = qkv.reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(
            2, 0, 3, 1, 4).unbind(0)
        y = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(d_head)) v
        return self.proj(y.transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    """Pre-norm transformer block (see the module docstring)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, *,
                 qv_bias: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, qv_bias=qv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """Non-overlapping patches to tokens: ``Conv2d`` with kernel = stride = ``patch_size``
    for images (B, 3, H, W), or ``Conv3d`` with kernel = stride = (``tubelet``, patch,
    patch) for videos (B, 3, T, H, W); output (B, tokens, embed_dim). ``num_patches`` is
    that of a square ``img_size`` image (0 when not given)."""

    def __init__(self, patch_size: int, embed_dim: int, *, tubelet: int | None = None,
                 img_size: int | None = None) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.num_patches = (img_size // patch_size) ** 2 if img_size else 0
        self.proj: nn.Module
        if tubelet is None:
            self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)
        else:
            k = (tubelet, patch_size, patch_size)
            self.proj = nn.Conv3d(3, embed_dim, k, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)
