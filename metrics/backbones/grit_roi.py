"""GRiT's box stages: multi-level ROIAlign, the three-stage cascade of box heads and the
final filtering, inference path only, written for vidbench (detectron2's ``CascadeROIHeads``
as GRiT's ``GRiTROIHeadsAndTextDecoder`` and ``GRiTFastRCNNOutputLayers`` use it).

Parameter names are the official ones under GRiT's ``roi_heads.`` prefix:
``box_head.{k}.fc1/fc2`` and ``box_predictor.{k}.cls_score`` / ``bbox_pred.{0,2}`` for stages
k = 0, 1, 2. Checked against GRiT's own ``grit_roi_heads.py`` / ``grit_fast_rcnn.py`` in
``tests/test_grit_det.py``.

- **Pooling** (detectron2 ``ROIPooler``, ``ROIAlignV2``): a box of area A goes to level
  ``clamp(floor(4 + log2(sqrt(A) / 224 + 1e-8)), 3, 5)`` of p3-p5, and is pooled with
  ``torchvision.ops.roi_align(aligned=True, sampling_ratio=0)`` at that level's scale:
  7 x 7 for the box heads, 14 x 14 for the caption features.
- **Stage k** on boxes B_k: ``fc1``, ReLU, ``fc2``, ReLU (1024-d) on the flattened 256 x 7 x 7
  pool; ``cls_score`` -> 2 logits (object, background), ``bbox_pred`` (Linear, ReLU, Linear)
  -> class-agnostic deltas (dx, dy, dw, dh), decoded with weights w_k = (10, 10, 5, 5),
  (20, 20, 10, 10), (30, 30, 15, 15): centre += (dx / wx * width, dy / wy * height), size *=
  exp(min(dw / ww, log(1000 / 16))) (same for h). B_0 are the proposals, B_{k+1} the decoded
  boxes of stage k clipped to the image.
- **Score** of a box: p = mean over the 3 stages of softmax(logits)[object], times the
  proposal's score s (``MULT_PROPOSAL_SCORE``): sqrt(p * s), in [0, 1].
- **Boxes kept**: the last stage's decoded boxes clipped to the image, with score > 0.5
  (VBench's ``confidence_threshold``, strictly greater), NMS at IoU 0.5, at most 256.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms, roi_align

POOLER_LEVELS = ("p3", "p4", "p5")
POOLER_SCALES = (1 / 8, 1 / 16, 1 / 32)
BOX_POOL = 7
OBJECT_POOL = 14
CASCADE_WEIGHTS = ((10.0, 10.0, 5.0, 5.0), (20.0, 20.0, 10.0, 10.0), (30.0, 30.0, 15.0, 15.0))
SCALE_CLAMP = math.log(1000.0 / 16)
#: VBench's ``confidence_threshold`` (``MODEL.ROI_HEADS.SCORE_THRESH_TEST``)
SCORE_THRESH = 0.5
NMS_THRESH = 0.5
#: ``TEST.DETECTIONS_PER_IMAGE``
MAX_DETECTIONS = 256


def assign_levels(boxes: torch.Tensor, min_level: int = 3, max_level: int = 5,
                  canonical_size: float = 224.0, canonical_level: int = 4) -> torch.Tensor:
    """detectron2's ``assign_boxes_to_levels``: the pyramid index (0 = p3) of each box."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    lvl = torch.floor(canonical_level + torch.log2(torch.sqrt(area) / canonical_size + 1e-8))
    return torch.clamp(lvl, min=min_level, max=max_level).to(torch.int64) - min_level


def pool(features: dict[str, torch.Tensor], boxes: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, size, size) ROIAlignV2 features of ``boxes`` (N, 4) of image 0."""
    feats = [features[k] for k in POOLER_LEVELS]
    levels = assign_levels(boxes)
    rois = torch.cat([boxes.new_zeros(len(boxes), 1), boxes], dim=1)
    out = feats[0].new_zeros((len(boxes), feats[0].shape[1], size, size))
    for i, (x, scale) in enumerate(zip(feats, POOLER_SCALES, strict=True)):
        inds = torch.nonzero(levels == i, as_tuple=True)[0]
        if len(inds):
            out.index_put_((inds,), roi_align(x, rois[inds].to(x.dtype), (size, size), scale,
                                              sampling_ratio=0, aligned=True))
    return out


def apply_deltas(deltas: torch.Tensor, boxes: torch.Tensor,
                 weights: tuple[float, float, float, float]) -> torch.Tensor:
    """detectron2's ``Box2BoxTransform.apply_deltas`` for class-agnostic (N, 4) deltas."""
    deltas = deltas.float()
    boxes = boxes.to(deltas.dtype)
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    ctr_x = boxes[:, 0] + 0.5 * widths
    ctr_y = boxes[:, 1] + 0.5 * heights
    wx, wy, ww, wh = weights
    dx, dy = deltas[:, 0::4] / wx, deltas[:, 1::4] / wy
    dw = torch.clamp(deltas[:, 2::4] / ww, max=SCALE_CLAMP)
    dh = torch.clamp(deltas[:, 3::4] / wh, max=SCALE_CLAMP)
    px = dx * widths[:, None] + ctr_x[:, None]
    py = dy * heights[:, None] + ctr_y[:, None]
    pw = torch.exp(dw) * widths[:, None]
    ph = torch.exp(dh) * heights[:, None]
    out = torch.stack((px - 0.5 * pw, py - 0.5 * ph, px + 0.5 * pw, py + 0.5 * ph), dim=-1)
    return out.reshape(deltas.shape)


def clip(boxes: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    """detectron2's ``Boxes.clip``: x to [0, W], y to [0, H]."""
    h, w = image_size
    return torch.stack((boxes[:, 0].clamp(min=0, max=w), boxes[:, 1].clamp(min=0, max=h),
                        boxes[:, 2].clamp(min=0, max=w), boxes[:, 3].clamp(min=0, max=h)),
                       dim=-1)


class BoxHead(nn.Module):
    """detectron2's ``FastRCNNConvFCHead`` with ``NUM_FC 2``: flatten, (fc, ReLU) x 2."""

    def __init__(self, in_dim: int, fc_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_dim, fc_dim)
        self.fc2 = nn.Linear(fc_dim, fc_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc2(F.relu(self.fc1(torch.flatten(x, start_dim=1)))))


class BoxPredictor(nn.Module):
    """``GRiTFastRCNNOutputLayers``: object/background logits and class-agnostic deltas."""

    def __init__(self, fc_dim: int) -> None:
        super().__init__()
        self.cls_score = nn.Linear(fc_dim, 2)
        self.bbox_pred = nn.Sequential(nn.Linear(fc_dim, fc_dim), nn.ReLU(),
                                       nn.Linear(fc_dim, 4))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cls_score(x), self.bbox_pred(x)


class CascadeBoxes(nn.Module):
    """The three box stages (the box part of GRiT's ``roi_heads``)."""

    def __init__(self, channels: int, fc_dim: int = 1024, stages: int = 3) -> None:
        super().__init__()
        in_dim = channels * BOX_POOL * BOX_POOL
        self.box_head = nn.ModuleList(BoxHead(in_dim, fc_dim) for _ in range(stages))
        self.box_predictor = nn.ModuleList(BoxPredictor(fc_dim) for _ in range(stages))

    def forward(self, features: dict[str, torch.Tensor], proposals: torch.Tensor,
                proposal_scores: torch.Tensor, image_size: tuple[int, int]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Proposals (N, 4) with scores (N,) -> kept boxes (M, 4) and box scores (M,),
        sorted by decreasing score."""
        boxes = proposals
        probs = []
        pred = proposals
        for k, (head, predictor) in enumerate(zip(self.box_head, self.box_predictor,
                                                  strict=True)):
            if k > 0:
                boxes = clip(pred.detach(), image_size)
            logits, deltas = predictor(head(pool(features, boxes, BOX_POOL)))
            pred = apply_deltas(deltas, boxes, CASCADE_WEIGHTS[k])
            probs.append(F.softmax(logits, dim=-1))
        scores = sum(probs) * (1.0 / len(probs))
        scores = (scores * proposal_scores[:, None]) ** 0.5
        return filter_boxes(pred, scores, image_size)


def filter_boxes(boxes: torch.Tensor, scores: torch.Tensor, image_size: tuple[int, int],
                 score_thresh: float = SCORE_THRESH, nms_thresh: float = NMS_THRESH,
                 max_detections: int = MAX_DETECTIONS) -> tuple[torch.Tensor, torch.Tensor]:
    """detectron2's ``fast_rcnn_inference_single_image`` for one foreground class: boxes
    (R, 4), scores (R, 2) with the background last -> kept boxes and object scores."""
    valid = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores).all(dim=1)
    if not valid.all():
        boxes, scores = boxes[valid], scores[valid]
    scores = scores[:, :-1]
    boxes = clip(boxes.reshape(-1, 4), image_size).view(-1, 1, 4)
    mask = scores > score_thresh
    inds = mask.nonzero()
    boxes = boxes[inds[:, 0], 0]
    scores = scores[mask]
    keep = batched_nms(boxes, scores, inds[:, 1], nms_thresh)[:max_detections]
    return boxes[keep], scores[keep]


def init_random(roi: nn.Module, g: torch.Generator, skip: str = "",
                background_bias: float = 0.0) -> None:
    """Seeded stand-in weights: N(0, 0.02) matrices (N(0, 0.001) for the last delta layer, as
    GRiT initialises it), zero biases except the background logit's (``background_bias``)."""
    with torch.no_grad():
        for name, p in roi.named_parameters():
            if skip and name.startswith(skip):
                continue
            if p.dim() > 1:
                std = 0.001 if name.endswith("bbox_pred.2.weight") else 0.02
                p.copy_(torch.randn(p.shape, generator=g) * std)
            else:
                p.zero_()
                if name.endswith("cls_score.bias"):
                    p[-1] = background_bias
