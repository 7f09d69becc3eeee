"""GRiT (``GRiT_B_DenseCap_ObjectDet``), the dense captioner behind VBench's object_class,
multiple_objects, color and spatial_relationship, assembled for inference on one frame.

Parts (each with its own module and checks): the ViTDet ViT-B backbone with its simple
feature pyramid (:mod:`.grit_vit`), CenterNet proposals (:mod:`.grit_centernet`), the
three-stage cascade of box heads (:mod:`.grit_roi`) and the caption decoder, passed in (any
module called as ``decoder(object_features, task) -> (ids, logprobs)`` with
``decoder.decode(ids) -> list[str]``: GRiT's, :mod:`.grit_text`, is a 6-layer BERT-style
decoder, greedy, at most 40 tokens, that starts from the task's begin token).

One frame, as VBench's GRiT predictor runs it (``SingleDefaultPredictor``: the frame is not
resized, and fed in the channel order given, RGB in VBench):

1. x = (frame - mean) / std per channel (mean 123.675, 116.28, 103.53; std 58.395, 57.12,
   57.375), zero-padded at the bottom and right to multiples of 32;
2. pyramid p3-p7, proposals (<= 256, scores sqrt(objectness)), cascade -> boxes with box
   score > 0.5 (see :mod:`.grit_roi`);
3. each kept box is pooled at 14 x 14 from p3-p5 (196 tokens of 256 channels) and captioned
   twice: from the task's begin token (``[CLS]`` = 101 for ObjectDet, 104 for DenseCap) and
   from ObjectDet's (VBench's ``det_obj``: the class names; one decoding when the task is
   ObjectDet);
4. final score = sqrt(box score x exp(mean token log-probability of the task's caption)), in
   [0, 1]; boxes with zero width or height after clipping to the frame are dropped (detectron2's
   ``detector_postprocess``; the frame is not rescaled).

The official checkpoint's names: ``backbone.*``, ``proposal_generator.centernet_head.*``,
``roi_heads.box_head.{k}.*``, ``roi_heads.box_predictor.{k}.*``, ``roi_heads.text_decoder.*``.
It loads strictly; the only keys dropped are those of networks VBench never reads: the mask
head (``roi_heads.mask_head.*``, built because the config says ``MASK_ON``), a second copy of
the shared text decoder (``roi_heads.text_decoder_det.*``, when a file has it) and the pixel
mean/std buffers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidbench.metrics.backbones.grit_centernet import CenterNetProposals
from vidbench.metrics.backbones.grit_centernet import init_random as init_centernet
from vidbench.metrics.backbones.grit_roi import OBJECT_POOL, CascadeBoxes, pool
from vidbench.metrics.backbones.grit_roi import init_random as init_roi
from vidbench.metrics.backbones.grit_vit import GritBackbone, GritVitConfig
from vidbench.metrics.backbones.loading import (
    BackboneCache,
    frozen,
    load_strict,
    resolve_pretrained,
)

PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)
SIZE_DIVISIBILITY = 32
#: begin tokens of GRiT's tasks (``TRAIN_TASK`` order: the first is BERT's [CLS], then 103 + i)
BEGIN_TOKENS = {"ObjectDet": 101, "DenseCap": 104}
#: checkpoint keys of parts VBench never runs (see the module docstring)
IGNORED_PREFIXES = ("roi_heads.mask_head.", "roi_heads.text_decoder_det.", "pixel_mean",
                    "pixel_std")


@dataclass(frozen=True)
class GritConfig:
    """Sizes; ``B`` is GRiT-B's, ``tiny`` the test size (same code path)."""

    vit: GritVitConfig
    fc_dim: int = 1024
    #: random weights only: the background logit's bias. At B size, 1.0 lets a few boxes
    #: (13 on perf/grit.py's 320x512 frame) pass the 0.5 box-score threshold instead of
    #: nearly all 256 proposals (0.0), so random-weight runs caption a plausible number.
    background_bias: float = 0.0


CONFIGS = {
    "B": GritConfig(GritVitConfig(), background_bias=1.0),
    "tiny": GritConfig(GritVitConfig(embed_dim=32, depth=3, num_heads=2, window_size=4,
                                     global_blocks=(2,), img_size=128, pretrain_img_size=64,
                                     out_channels=64), fc_dim=64),
}


@dataclass(frozen=True)
class GritResult:
    """GRiT's output for one frame: boxes (N, 4) in frame pixels ``(x0, y0, x1, y1)``, final
    scores (N,), the task's captions and the ObjectDet captions of the same boxes."""

    boxes: torch.Tensor
    scores: torch.Tensor
    captions: list[str]
    object_names: list[str]


class RoiHeads(CascadeBoxes):
    """GRiT's ``roi_heads``: the cascade plus the caption decoder (``text_decoder``)."""

    def __init__(self, channels: int, fc_dim: int, text_decoder: nn.Module) -> None:
        super().__init__(channels, fc_dim)
        self.text_decoder = text_decoder


class Grit(nn.Module):
    """The assembled network (see the module docstring)."""

    def __init__(self, cfg: GritConfig, text_decoder: nn.Module) -> None:
        super().__init__()
        ch = cfg.vit.out_channels
        self.backbone = GritBackbone(cfg.vit)
        self.proposal_generator = CenterNetProposals(ch)
        self.roi_heads = RoiHeads(ch, cfg.fc_dim, text_decoder)
        self.register_buffer("pixel_mean", torch.tensor(PIXEL_MEAN).view(3, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(PIXEL_STD).view(3, 1, 1), False)

    def preprocess(self, frame: np.ndarray) -> torch.Tensor:
        """uint8 (H, W, 3) -> normalised (1, 3, H', W'), zero-padded to multiples of 32."""
        x = torch.as_tensor(np.ascontiguousarray(frame).astype("float32").transpose(2, 0, 1))
        x = (x.to(self.pixel_mean.device) - self.pixel_mean) / self.pixel_std
        h, w = x.shape[-2:]
        d = SIZE_DIVISIBILITY
        return F.pad(x, (0, -w % d, 0, -h % d)).unsqueeze(0)

    def caption(self, feats: torch.Tensor, task: str) -> tuple[list[str], torch.Tensor]:
        dec: Any = self.roi_heads.text_decoder
        ids, logprobs = dec(feats, task)
        return list(dec.decode(ids)), logprobs.reshape(-1)

    @torch.no_grad()
    def forward(self, frame: np.ndarray, task: str) -> GritResult:
        if task not in BEGIN_TOKENS:
            raise ValueError(f"unknown GRiT task {task!r}; known: {', '.join(BEGIN_TOKENS)}")
        h, w = frame.shape[:2]
        features = self.backbone(self.preprocess(frame))
        proposals, objectness = self.proposal_generator(features)
        boxes, box_scores = self.roi_heads(features, proposals, objectness, (h, w))
        if len(boxes) == 0:
            return GritResult(boxes, box_scores, [], [])
        feats = pool(features, boxes, OBJECT_POOL)
        feats = feats.view(feats.shape[0], feats.shape[1], -1).permute(0, 2, 1).contiguous()
        captions, logprobs = self.caption(feats, task)
        names = captions if task == "ObjectDet" else self.caption(feats, "ObjectDet")[0]
        scores = (box_scores * torch.exp(logprobs)) ** 0.5
        keep = ((boxes[:, 2] - boxes[:, 0]) > 0) & ((boxes[:, 3] - boxes[:, 1]) > 0)
        idx = keep.nonzero().squeeze(1).tolist()
        return GritResult(boxes[keep], scores[keep], [captions[i] for i in idx],
                          [names[i] for i in idx])


def build_grit(arch: str, text_decoder: nn.Module, seed: int = 0) -> Grit:
    """GRiT with seeded stand-in weights everywhere but ``text_decoder`` (kept as given)."""
    with torch.random.fork_rng():
        torch.manual_seed(int(seed))  # the default initialisation, before the stand-ins
        model = Grit(CONFIGS[arch], text_decoder)
    g = torch.Generator().manual_seed(int(seed))
    _randomise(model.backbone, g)
    init_centernet(model.proposal_generator, g)
    init_roi(model.roi_heads, g, skip="text_decoder.",
             background_bias=CONFIGS[arch].background_bias)
    return model.eval()


def _randomise(m: nn.Module, g: torch.Generator) -> None:
    """grit_vit's seeded scheme (every tensor + N(0, 0.02)) with an explicit generator."""
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=g))


def checkpoint_filter(found: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """The official state dict minus :data:`IGNORED_PREFIXES` (for ``load_strict``)."""
    return {k: v for k, v in found.items() if not k.startswith(IGNORED_PREFIXES)}


def load_grit(model: Grit, path: Any) -> Grit:
    """Load ``grit_b_densecap_objectdet.pth`` into ``model`` strictly (see the module
    docstring for the keys left out)."""
    load_strict(model, path, "GRiT-B DenseCap+ObjectDet", fill=checkpoint_filter)
    return model



#: the weights manifest entry of the official checkpoint
WEIGHTS = "grit-b-densecap-objectdet"


class TextDecoderMissing(ImportError):
    """vidbench's GRiT caption decoder (``grit_text``) is not in this build."""


def _build_text_decoder(random_weights: bool, seed: int) -> nn.Module:
    try:
        from vidbench.metrics.backbones.grit_text import build_grit_text_decoder
    except ImportError as e:
        raise TextDecoderMissing(str(e)) from None
    return build_grit_text_decoder(random_weights=random_weights, seed=seed)


_CACHE: BackboneCache[Grit] = BackboneCache()


def load_grit_model(*, random_weights: bool = False, device: str = "cpu", seed: int = 0,
                    arch: str = "B") -> Grit:
    """GRiT-B, cached per process: the official ``grit_b_densecap_objectdet.pth`` (weights
    ``grit-b-densecap-objectdet``) loaded strictly, or seeded stand-in weights (``arch``
    "tiny": the test size, random weights only)."""
    def make() -> Grit:
        decoder = _build_text_decoder(random_weights, seed)  # first: says what is missing
        path = resolve_pretrained("GRiT", arch, WEIGHTS if arch == "B" else None,
                                  random_weights)
        model = build_grit(arch, decoder, seed)
        if path is not None:
            load_grit(model, path)
        return frozen(model, device)

    return _CACHE.get((arch, bool(random_weights), str(device), int(seed)), make)
