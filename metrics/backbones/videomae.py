"""VideoMAE-v2 video ViT, the feature extractor of content-debiased FVD.

Ge et al., "On the Content Bias in Frechet Video Distance" (CVPR 2024) compute FVD on the
mean-pooled features of VideoMAE-v2 ViT-g/14 (Wang et al., CVPR 2023), self-supervised on
UnlabeledHybrid and fine-tuned on Something-Something-v2: the official checkpoint
``vit_g_hybrid_pt_1200e_ssv2_ft.pth`` (OpenGVLab). Its model, as cd-fvd builds it:

- tubelet patch embedding: Conv3d(3, D, kernel = stride = (2, 14, 14)) -> 8 x 16 x 16 = 2048
  tokens for 16 frames of 224x224; fixed sinusoidal position table (not in the checkpoint),
  linearly re-interpolated over time for other frame counts;
- 40 pre-norm blocks: LayerNorm(eps 1e-6) -> multi-head attention (16 heads, qkv weight
  without bias, separate ``q_bias`` and ``v_bias``, k has no bias) -> residual;
  LayerNorm -> MLP (GELU, hidden 6144 = 1408 * 48/11) -> residual;
- ``fc_norm`` (LayerNorm) of the token mean: the 1408-d feature (``forward_features``);
  the SSv2 classification head (``head.*``) is not used.

Preprocessing as cd-fvd: frames to float [0, 1], resized to 224x224 (bilinear, no
antialiasing), **no** mean/std normalisation.

``size`` picks a preset (``giant`` as above; ``base``/``small``: ViT-B/S with 16x16 patches
as in VideoMAE-v2's distilled models; ``tiny``: 64-d, 2 blocks, for tests); the keys of a
checkpoint are those of VideoMAE-v2's ``VisionTransformer`` (``patch_embed.proj.weight``,
``blocks.0.attn.qkv.weight``, ``blocks.0.attn.q_bias``, ``fc_norm.weight``, ...).
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidbench.errors import UserError
from vidbench.metrics.backbones.vit import Block, PatchEmbed

#: name -> (patch, dim, depth, heads, mlp_ratio)
PRESETS: dict[str, tuple[int, int, int, int, float]] = {
    "giant": (14, 1408, 40, 16, 48 / 11),
    "base": (16, 768, 12, 12, 4.0),
    "small": (16, 384, 12, 6, 4.0),
    "tiny": (16, 64, 2, 2, 4.0),
}


def sinusoid_table(n_position: int, dim: int) -> torch.Tensor:
    """(1, n_position, dim) table: sin on even, cos on odd channels, 10000^(2 (j // 2) / dim)."""
    pos = np.arange(n_position, dtype=np.float64)[:, None]
    j = np.arange(dim)[None, :]
    angle = pos / np.power(10000.0, 2 * (j // 2) / dim)
    table = np.where(j % 2 == 0, np.sin(angle), np.cos(angle))
    return torch.tensor(table, dtype=torch.float32)[None]


class VideoMAEv2(nn.Module):
    """VideoMAE-v2 encoder up to the mean-pooled, ``fc_norm``-ed feature.

    ``forward(x)``: (B, 3, T, H, W) float -> (B, dim)."""

    def __init__(self, size: str = "giant", *, img_size: int | tuple[int, int] = 224,
                 num_frames: int = 16, tubelet: int = 2) -> None:
        super().__init__()
        if size not in PRESETS:
            raise UserError(f"unknown VideoMAE-v2 size {size!r}; use one of {list(PRESETS)}")
        patch, dim, depth, heads, mlp_ratio = PRESETS[size]
        h, w = (img_size, img_size) if isinstance(img_size, int) else img_size
        self.size_name = size
        self.patch, self.dim, self.tubelet = patch, dim, tubelet
        self.grid = (num_frames // tubelet, h // patch, w // patch)
        self.img_size = (h, w)
        self.num_frames = num_frames
        self.patch_embed = PatchEmbed(patch, dim, tubelet=tubelet)
        self.register_buffer("pos_embed", sinusoid_table(int(np.prod(self.grid)), dim),
                             persistent=False)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, qv_bias=True)
                                    for _ in range(depth))
        self.fc_norm = nn.LayerNorm(dim, eps=1e-6)

    def _pos(self, t: int) -> torch.Tensor:
        t0 = t // self.tubelet
        if t0 == self.grid[0]:
            return self.pos_embed
        g = self.grid
        table = self.pos_embed.transpose(1, 2).reshape(1, self.dim, *g)
        table = F.interpolate(table, size=(t0, g[1], g[2]), mode="trilinear",
                              align_corners=False)
        return table.reshape(1, self.dim, -1).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[3:]) != self.img_size:
            raise ValueError(f"VideoMAE-v2 input must be {self.img_size}, got {tuple(x.shape[3:])}")
        tokens = self.patch_embed(x)
        tokens = tokens + self._pos(x.shape[2]).to(tokens.dtype)
        for blk in self.blocks:
            tokens = blk(tokens)
        return self.fc_norm(tokens.mean(dim=1))


def random_init(model: VideoMAEv2, seed: int = 0) -> VideoMAEv2:
    """Deterministic random weights from ``seed`` (truncated-normal 0.02 linears, as
    VideoMAE-v2 initialises). Results are not comparable."""
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                p.copy_(torch.ones_like(p) if ("norm" in name and name.endswith("weight"))
                        else torch.zeros_like(p))
            else:
                p.copy_((torch.randn(p.shape, generator=gen) * 0.02).clamp_(-0.04, 0.04))
        # patch embedding: keep unit-ish token scale for [0, 1] input
        w = model.patch_embed.proj.weight
        w.copy_(torch.randn(w.shape, generator=gen) / math.sqrt(w[0].numel()))
    return model


def _load_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """State dict from the official file; VideoMAE-v2 checkpoints may hold an
    ``argparse.Namespace`` beside the weights, which is allow-listed for the safe loader."""
    from vidbench.weights import load_state_dict

    try:
        return load_state_dict(path)
    except UserError:
        pass
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"{path}: cannot be loaded safely (torch.load weights_only=True): "
                        f"{str(e).splitlines()[0][:200]}") from None
    for key in ("model", "module", "state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    return obj


def load_videomae(path: str | os.PathLike, size: str = "giant", *, num_frames: int = 16,
                  img_size: int | tuple[int, int] = 224) -> VideoMAEv2:
    """:class:`VideoMAEv2` with the checkpoint at ``path`` (``head.*`` ignored; every other
    parameter must be present with the right shape)."""
    from vidbench.weights import state_dict_mismatch

    p = Path(path)
    sd = _load_checkpoint(p)
    sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
    sd = {k[len("encoder."):] if k.startswith("encoder.") else k: v for k, v in sd.items()}
    sd = {k: v for k, v in sd.items() if not k.startswith("head.") and k != "pos_embed"}
    model = VideoMAEv2(size, img_size=img_size, num_frames=num_frames)
    own = model.state_dict()
    problem = state_dict_mismatch(own, sd)
    if problem:
        raise UserError(f"{p}: not a VideoMAE-v2 {size} checkpoint ({problem}); pick the "
                        f"matching size= option")
    model.load_state_dict(sd)
    return model.eval()


class VideoMAEExtractor:
    """Callable: uint8 frames (B, T, H, W, 3) -> (B, dim) float64 features."""

    def __init__(self, model: VideoMAEv2, *, device: str = "cpu", scale: str = "[0,1]",
                 source: str = "") -> None:
        self.model = model.eval().to(device)
        self.device = device
        self.scale = scale
        self.source = source

    @torch.no_grad()
    def __call__(self, frames: np.ndarray) -> np.ndarray:
        if frames.dtype != np.uint8 or frames.ndim != 5 or frames.shape[-1] != 3:
            raise ValueError(f"VideoMAE input must be uint8 (B, T, H, W, 3), got "
                             f"{frames.shape} {frames.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)
        x = x.permute(0, 4, 1, 2, 3).float() / 255.0
        if self.scale == "[-1,1]":
            x = x * 2.0 - 1.0
        return self.model(x).double().cpu().numpy()


def load_videomae_extractor(weights_name: str | None, *, device: str = "cpu",
                            scale: str = "[0,1]", seed: int = 0, size: str = "giant",
                            num_frames: int = 16,
                            img_size: int | tuple[int, int] = 224) -> VideoMAEExtractor:
    """Extractor for weights ``weights_name`` (resolved via the weights manager, never
    downloaded) or a fixed-seed random-init model of ``size`` when None."""
    if weights_name is None:
        model = random_init(VideoMAEv2(size, img_size=img_size, num_frames=num_frames), seed)
        return VideoMAEExtractor(model, device=device, scale=scale,
                                 source=f"random-init(seed={seed}, size={size})")
    from vidbench.weights import resolve

    path = resolve(weights_name)
    return VideoMAEExtractor(load_videomae(path, size, num_frames=num_frames,
                                           img_size=img_size),
                             device=device, scale=scale, source=str(path))
