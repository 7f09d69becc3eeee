"""GRiT's proposal generator: CenterNet (CenterNet2's ``CenterNet`` with ``ONLY_PROPOSAL`` and
``WITH_AGN_HM``), inference path only, written for vidbench.

Parameter names are the official ones under GRiT's ``proposal_generator.`` prefix
(``centernet_head.bbox_tower.{0,3,6,9}`` convs, ``{1,4,7,10}`` GroupNorms,
``centernet_head.bbox_pred``, ``centernet_head.agn_hm``, ``centernet_head.scales.{l}.scale``;
the class towers are empty in proposal-only mode and hold no parameters). Checked against
CenterNet2's own ``centernet.py`` / ``centernet_head.py`` in ``tests/test_grit_det.py``.

Per pyramid level l (p3..p7, stride s = 8..128), on the shared box tower t (4 x [3x3 conv,
GroupNorm(32), ReLU]):

- objectness o = sigmoid(agn_hm(t)) in (0, 1), one channel;
- distances (l, t, r, b) = relu(scale_l * bbox_pred(t)) * s, in pixels;
- location (x, y) = (j * s + s // 2, i * s + s // 2); box = (x - l, y - t, x + r, y + b), with
  x1 >= x0 + 0.01 and y1 >= y0 + 0.01; score = sqrt(o).

Locations with o > 1e-4 are candidates, at most 1000 per level (``topk``, unsorted); all levels
together go through NMS at IoU 0.9, and the 256 best scores are kept (ties at the 256th score
kept too, as CenterNet2's ``kthvalue`` threshold does). Boxes are not clipped here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms

STRIDES = (8, 16, 32, 64, 128)
LEVELS = ("p3", "p4", "p5", "p6", "p7")
#: ``MODEL.CENTERNET.INFERENCE_TH`` of GRiT's Base.yaml
SCORE_THRESH = 1e-4
PRE_NMS_TOPK = 1000
POST_NMS_TOPK = 256
NMS_THRESH = 0.9


class Scale(nn.Module):
    """A learned scalar multiplier (one per level)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def group_norm(channels: int) -> nn.GroupNorm:
    """CenterNet's ``norm='GN'``: 32 groups (25 when the width is not a multiple of 32)."""
    return nn.GroupNorm(32 if channels % 32 == 0 else 25, channels)


class CenterNetHead(nn.Module):
    """The proposal-only head: a 4-conv box tower, the box regression and the
    class-agnostic heatmap."""

    def __init__(self, channels: int, num_levels: int = 5, num_convs: int = 4) -> None:
        super().__init__()
        tower: list[nn.Module] = []
        for _ in range(num_convs):
            tower += [nn.Conv2d(channels, channels, 3, padding=1), group_norm(channels),
                      nn.ReLU()]
        self.bbox_tower = nn.Sequential(*tower)
        self.bbox_pred = nn.Conv2d(channels, 4, 3, padding=1)
        self.scales = nn.ModuleList(Scale() for _ in range(num_levels))
        self.agn_hm = nn.Conv2d(channels, 1, 3, padding=1)

    def forward(self, feats: list[torch.Tensor]) -> tuple[list[torch.Tensor],
                                                           list[torch.Tensor]]:
        """Per level: objectness logits (B, 1, H, W) and distances in strides (B, 4, H, W)."""
        hms, regs = [], []
        for level, f in enumerate(feats):
            t = self.bbox_tower(f)
            hms.append(self.agn_hm(t))
            regs.append(F.relu(self.scales[level](self.bbox_pred(t))))
        return hms, regs


def level_grid(h: int, w: int, stride: int, device: torch.device | None = None
               ) -> torch.Tensor:
    """(H * W, 2) pixel centres ``(x, y)`` of a level's locations, row-major."""
    xs = torch.arange(0, w * stride, step=stride, dtype=torch.float32, device=device)
    ys = torch.arange(0, h * stride, step=stride, dtype=torch.float32, device=device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx.reshape(-1), gy.reshape(-1)), dim=1) + stride // 2


def decode_level(objectness: torch.Tensor, dist: torch.Tensor, stride: int,
                 score_thresh: float = SCORE_THRESH, pre_nms_topk: int = PRE_NMS_TOPK
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """One level of one image: objectness (1, H, W) in (0, 1) and distances (4, H, W) in
    strides -> candidate boxes (n, 4) and scores sqrt(objectness) (n,)."""
    _, h, w = objectness.shape
    heat = objectness.permute(1, 2, 0).reshape(-1, 1)
    reg = (dist * stride).view(4, h, w).permute(1, 2, 0).reshape(-1, 4)
    cand = heat > score_thresh
    n = int(cand.sum())
    top_n = min(n, pre_nms_topk)
    cls = heat[cand]
    loc = cand.nonzero()[:, 0]
    reg = reg[loc]
    grid = level_grid(h, w, stride, objectness.device)[loc]
    if n > top_n:
        cls, idx = cls.topk(top_n, sorted=False)
        reg, grid = reg[idx], grid[idx]
    boxes = torch.stack([grid[:, 0] - reg[:, 0], grid[:, 1] - reg[:, 1],
                         grid[:, 0] + reg[:, 2], grid[:, 1] + reg[:, 3]], dim=1)
    boxes[:, 2] = torch.max(boxes[:, 2], boxes[:, 0] + 0.01)
    boxes[:, 3] = torch.max(boxes[:, 3], boxes[:, 1] + 0.01)
    return boxes, torch.sqrt(cls)


def nms_top_k(boxes: torch.Tensor, scores: torch.Tensor, nms_thresh: float = NMS_THRESH,
              post_nms_topk: int = POST_NMS_TOPK) -> torch.Tensor:
    """Indices kept: NMS (descending score order), then every score >= the
    ``post_nms_topk``-th best."""
    keep = batched_nms(boxes, scores, torch.zeros_like(scores, dtype=torch.long), nms_thresh)
    if len(keep) > post_nms_topk:
        kept = scores[keep]
        thresh, _ = torch.kthvalue(kept.float().cpu(), len(keep) - post_nms_topk + 1)
        keep = keep[torch.nonzero(kept >= thresh.item()).squeeze(1)]
    return keep


class CenterNetProposals(nn.Module):
    """Feature pyramid -> class-agnostic proposals (boxes in padded-input pixels, scores)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.centernet_head = CenterNetHead(channels, num_levels=len(STRIDES))

    def forward(self, features: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Proposals of the first image of the batch: boxes (n, 4), scores (n,)."""
        hms, regs = self.centernet_head([features[k] for k in LEVELS])
        boxes, scores = [], []
        for hm, reg, stride in zip(hms, regs, STRIDES, strict=True):
            b, s = decode_level(hm[0].sigmoid(), reg[0], stride)
            boxes.append(b)
            scores.append(s)
        all_boxes, all_scores = torch.cat(boxes), torch.cat(scores)
        keep = nms_top_k(all_boxes, all_scores)
        return all_boxes[keep], all_scores[keep]


def init_random(head: CenterNetProposals, g: torch.Generator) -> None:
    """Seeded stand-in weights: convs N(0, 0.02), GroupNorm identity, zero biases except
    the box regression's (1.0: boxes a couple of strides wide), scales 1."""
    with torch.no_grad():
        for name, p in head.named_parameters():
            if name.endswith("scale"):
                p.fill_(1.0)
            elif p.dim() == 4:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
            elif name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.fill_(1.0 if "bbox_pred" in name else 0.0)
