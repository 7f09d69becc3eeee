"""``aesthetic_quality``: the LAION aesthetic predictor on CLIP ViT-L/14 image features.

Formula: ``mean_k (w . e_k + b) / 10`` over the frames of the view, where ``e_k`` is the
L2-normalised CLIP ViT-L/14 image embedding of frame k and ``(w, b)`` is LAION's linear
aesthetic head ``sa_0_4_vit_l_14_linear.pth`` (``nn.Linear(768, 1)``, trained to predict
1-10 ratings), exactly as VBench's ``aesthetic_quality.py``. ``details["min"]`` is the
per-frame minimum. Range: about [0, 1] (the head is linear, so values slightly outside are
possible), higher is better.

View: ``default`` = the shared CLIP view (8 fps by timestamps, at most 32 frames = 4 s,
short side 224 with antialiased bicubic, center crop), so fps, resolution and length do
not move it and ``clip_score(arch="ViT-L-14")`` shares the image embeddings; ``vbench`` =
every decoded frame with VBench's ``clip_transform(224)`` (tensor bicubic without
antialiasing, center crop).

Blind to: motion and temporal artefacts (frames are scored independently), the region
outside the center crop, what happens after 4 s in the default view; it inherits LAION's
rating bias (photographic, "pretty" images) and rewards style over prompt faithfulness.
Weights: ``clip-vit-l-14-openai`` and ``laion-aesthetic-vit-l-14``. With
``random_weights=True`` both the backbone and the head are random (not comparable).
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import torch
import torch.nn as nn

from vidbench.errors import UserError
from vidbench.metrics.consistency import ClipBackboneMetric
from vidbench.registry import Score, VideoContext

HEAD_WEIGHTS = "laion-aesthetic-vit-l-14"

_HEADS: dict[tuple, nn.Linear] = {}
_LOCK = threading.Lock()


def load_head(dim: int = 768, *, random_weights: bool = False, seed: int = 0) -> nn.Linear:
    """LAION's linear aesthetic head (``nn.Linear(dim, 1)``), float32 on the CPU, cached.

    The official file is a plain state dict (``weight`` (1, 768), ``bias`` (1,)), loaded
    with ``torch.load(weights_only=True)`` and ``strict=True``; with ``random_weights`` the
    head is initialised from ``seed`` instead."""
    key = (dim, bool(random_weights), seed)
    with _LOCK:
        if key in _HEADS:
            return _HEADS[key]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            head = nn.Linear(dim, 1)
        if not random_weights:
            from vidbench.weights import load_state_dict, resolve

            path = resolve(HEAD_WEIGHTS)
            sd = load_state_dict(path)
            try:
                head.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
            except RuntimeError as e:
                raise UserError(f"{path}: not a LAION aesthetic head for {dim}-d features: "
                                f"{str(e).splitlines()[0][:200]}") from None
        head = head.eval()
        for p in head.parameters():
            p.requires_grad_(False)
        _HEADS[key] = head
        return head


class AestheticQuality(ClipBackboneMetric):
    """LAION aesthetic score / 10, averaged over frames (see the module docstring)."""

    name: ClassVar[str] = "aesthetic_quality"
    higher_is_better: ClassVar[bool] = True
    default_options: ClassVar[dict[str, Any]] = {"fps": 8.0, "num_frames": 32,
                                                 "arch": "ViT-L-14", "seed": 0}
    #: Only 768-d CLIP embeddings fit the LAION head (``tiny`` is a 768-d test model).
    archs: ClassVar[tuple[str, ...]] = ("ViT-L-14", "tiny")

    def required_weights(self) -> tuple[str, ...]:
        return super().required_weights() + (HEAD_WEIGHTS,)

    def head(self, dim: int) -> nn.Linear:
        return load_head(dim, random_weights=self.random_weights, seed=int(self.options["seed"]))

    def frame_scores(self, ctx: VideoContext) -> torch.Tensor:
        """Per-frame LAION scores / 10 (float32)."""
        from vidbench.metrics.backbones.clip import image_features

        bb = self.backbone()
        if bb.embed_dim != 768:
            raise UserError(f"metric {self.name}: the LAION head needs 768-d CLIP features "
                            f"(ViT-L-14); arch {self.options['arch']!r} gives {bb.embed_dim}")
        transform = "vbench_tensor" if self.mode == "vbench" else "clip"
        feats = image_features(ctx, bb, self.view_spec(), transform, self.batch_size)
        with torch.inference_mode():
            return self.head(bb.embed_dim)(feats.float()).squeeze(-1) / 10.0

    def score(self, ctx: VideoContext) -> Score:
        s = self.frame_scores(ctx)
        return Score(float(s.mean()), {"min": float(s.min()), "n_frames": int(len(s)),
                                       "arch": self.options["arch"]})
