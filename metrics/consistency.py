"""Subject and background consistency: how stable a video's appearance is over time.

Both metrics embed frames with an image backbone and score each frame ``i >= 1`` by

    s_i = 1/2 (max(0, cos(f_{i-1}, f_i)) + max(0, cos(f_0, f_i)))

(similarity to the previous frame and to the first frame), and a video by the mean of the
``s_i``. Range [0, 1], higher is more consistent; identical frames give exactly 1.

``subject_consistency`` uses DINO ViT-B/16 CLS features (sensitive to the identity and
appearance of the main subject); ``background_consistency`` uses CLIP ViT-B/32 image
embeddings (sensitive to the scene as a whole).

Modes
-----
``vbench`` (VBench's ``subject_consistency.py`` / ``background_consistency.py``): every
decoded frame at the container's frame rate; DINO input = torchvision ``Resize(224,
antialias=False)`` bilinear of the short side, no crop, ImageNet normalisation; CLIP input
= ``Resize(224, BICUBIC, antialias=False)`` + ``CenterCrop(224)``, CLIP normalisation. The
set-level value is frame-weighted, ``sum_v sum_i s_i / sum_v (K_v - 1)``, as VBench's
single-process result (longer videos count more; VBench's multi-GPU path averages per video
instead, so its number depends on the process count).

``default`` (corrected): the video is resampled by timestamps to 8 fps, at most 32 frames
(4 s) from the start, short side resized to 224 with antialiased bicubic (CLIP: then
center-cropped), so the container's fps, the resolution and the clip length do not move
the score; the set-level value is the mean over videos (identical on any number of
processes, with a bootstrap CI).

A video with fewer than 2 frames (in its view) has no frame pair, so its consistency is
undefined: NaN with the reason "too few frames: consistency needs at least 2" in both modes,
never a perfect 1.0. VBench's own functions raise ``ZeroDivisionError`` on such a video
(``video_sim / (len(images) - 1)``) in both metrics; NaN videos are left out of the
set-level value and counted in ``n_nan``.

Blind spots: a static or nearly static video scores ~1 (pair these with
``dynamic_degree``); the ``max(0, .)`` clamp hides how dissimilar anti-correlated frames
are; the default view ignores what happens after 4 s; features are global, so a subject
that changes identity while keeping its colours and layout may score high; with
``random_weights=True`` the numbers only test the plumbing and are not comparable.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from vidbench.errors import UserError
from vidbench.registry import PerVideoMetric, Score, VideoContext
from vidbench.stats import Aggregate, bootstrap_ci, mean_with_ci
from vidbench.video import ViewSpec, window_series

# ----------------------------------------------------------------------------- shared plumbing


class BackboneMetric(PerVideoMetric):
    """A per-video metric on a learned image backbone.

    Options (part of the protocol hash): ``fps`` and ``num_frames`` of the default view,
    ``arch`` (backbone architecture), ``seed`` (random initialisation seed, used with
    ``random_weights=True``). Runtime options: ``batch_size`` (frames per forward pass,
    default 32, not hashed) and ``half`` (fp16 weights and activations).

    Precision: ``vbench`` mode runs the backbones in float32 on every device by default,
    VBench's precision for DINO (its ``torch.hub`` model is never cast) and for CLIP on a
    CPU; fp16 is opt-in (``half=True``) and then goes into the protocol hash
    (``"precision": "fp16"``), so it never shares a column with the official precision.
    (VBench's ``clip.load`` on CUDA casts CLIP's linear/conv weights to fp16 and keeps the
    LayerNorms in fp32; vidbench does not reproduce that mixed precision: vbench mode's
    CLIP is float32 there, within ~1e-3 of VBench's fp16 numbers, not 1e-6.) ``default``
    mode keeps fp16 on CUDA by default (not hashed, as before).
    """

    default_options: ClassVar[dict[str, Any]] = {}
    #: Architectures the ``arch`` option accepts.
    archs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, mode: str = "default", *, device: str = "cpu",
                 random_weights: bool = False, batch_size: int = 32,
                 half: bool | None = None, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.default_options))
        if unknown:
            raise UserError(f"metric {self.name}: unknown option(s) {unknown}; known: "
                            f"{sorted(self.default_options)} (plus batch_size, half)")
        resolved = {**self.default_options, **options}
        super().__init__(mode, device=device, random_weights=random_weights, **resolved)
        if int(batch_size) < 1:
            raise UserError(f"metric {self.name}: batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        if mode == "vbench" and half is None:
            half = False  # the official precision; fp16 only when asked for (hashed)
        self.half = half
        fps, n = resolved.get("fps"), resolved.get("num_frames")
        if fps is not None and not (isinstance(fps, (int, float)) and fps > 0):
            raise UserError(f"metric {self.name}: fps must be a positive number, got {fps!r}")
        if n is not None and not (isinstance(n, int) and n >= 2):
            raise UserError(f"metric {self.name}: num_frames must be an int >= 2, got {n!r}")
        if self.archs and resolved.get("arch") not in self.archs:
            raise UserError(f"metric {self.name}: unknown architecture {resolved.get('arch')!r}; "
                            f"use one of {list(self.archs)}")

    @property
    def comparable(self) -> bool:
        return not self.random_weights

    def protocol(self) -> dict:
        """The registry's protocol, plus ``"precision": "fp16"`` for an opted-in fp16 run in
        ``vbench`` mode (float32, the official precision, adds nothing: hashes unchanged)."""
        d = super().protocol()
        if self.mode == "vbench" and self.half:
            d["precision"] = "fp16"
        return d


class ClipBackboneMetric(BackboneMetric):
    """A metric on CLIP image embeddings: the CLIP weights of ``options["arch"]``, VBench's
    view in vbench mode or the fixed default view, and the shared CLIP model. Metrics that
    use the same arch and view share one embedding pass per video through ``ctx.memo``."""

    def required_weights(self) -> tuple[str, ...]:
        from vidbench.metrics.backbones.clip import CLIP_WEIGHTS

        w = CLIP_WEIGHTS.get(self.options["arch"])
        return (w,) if w else ()

    def view_spec(self) -> ViewSpec:
        from vidbench.metrics.backbones.clip import VBENCH_VIEW, default_view

        if self.mode == "vbench":
            return VBENCH_VIEW
        return default_view(float(self.options["fps"]), self.options["num_frames"])

    def backbone(self):
        from vidbench.metrics.backbones.clip import load_clip

        return load_clip(self.options["arch"], random_weights=self.random_weights,
                         device=self.device, half=self.half, seed=int(self.options["seed"]))


def consistency_pairs(feats: torch.Tensor) -> np.ndarray:
    """Per-frame scores ``s_i`` (i = 1..K-1, float64) of (K, D) features, as VBench:
    ``(max(0, cos(f_{i-1}, f_i)) + max(0, cos(f_0, f_i))) / 2``."""
    if len(feats) < 2:
        return np.zeros(0, dtype=np.float64)
    f = feats.float()
    prev = F.cosine_similarity(f[:-1], f[1:], dim=-1).double().numpy()
    first = F.cosine_similarity(f[:1].expand_as(f[1:]), f[1:], dim=-1).double().numpy()
    return (np.maximum(prev, 0.0) + np.maximum(first, 0.0)) / 2.0


class _Consistency(BackboneMetric):
    higher_is_better: ClassVar[bool] = True

    def features(self, ctx: VideoContext) -> torch.Tensor:
        raise NotImplementedError

    def score(self, ctx: VideoContext) -> Score:
        spec = self.view_spec()
        view = ctx.view(spec)
        k = view.num_frames
        if k < 2:  # no pair: undefined (VBench raises ZeroDivisionError), never 1.0
            return Score.not_applicable("too few frames: consistency needs at least 2",
                                        n_frames=k, n_pairs=0)
        s = consistency_pairs(self.features(ctx))
        worst = int(np.argmin(s))
        return Score(float(s.sum() / len(s)),
                     {"n_frames": k, "n_pairs": int(len(s)), "sum": float(s.sum()),
                      "min": float(s[worst]), "min_at": float(view.timestamps[worst + 1]),
                      "over_time": window_series(view.timestamps[1:], s)})

    def aggregate(self, values: np.ndarray, details: list[dict], *, seed: int = 0
                  ) -> Aggregate:
        """``default``: mean over videos (bootstrap CI). ``vbench``: frame-weighted mean
        ``sum(sum_i s_i) / sum(n_pairs)`` as VBench's single-process number, with a
        bootstrap CI over videos of the same ratio."""
        if self.mode != "vbench":
            return mean_with_ci(values, seed=seed)
        v = np.asarray(values, dtype=np.float64)
        n = np.array([float((d or {}).get("n_pairs", 0)) for d in details], dtype=np.float64)
        ok = np.isfinite(v)
        n_nan = int((~ok).sum())
        v, n = v[ok], n[ok]
        if len(v) == 0 or n.sum() <= 0:
            value = float(v.mean()) if len(v) else math.nan
            return Aggregate(value, (math.nan, math.nan), int(len(v)), {"n_nan": n_nan})
        pairs = np.stack([v * n, n], axis=1)

        def ratio(a: np.ndarray) -> float:
            return float(a[:, 0].sum() / a[:, 1].sum()) if a[:, 1].sum() > 0 else math.nan

        return Aggregate(ratio(pairs), bootstrap_ci(pairs, stat=ratio, seed=seed), int(len(v)),
                         {"n_nan": n_nan, "weighting": "frames (VBench single-process)",
                          "n_pairs": int(n.sum())})


class SubjectConsistency(_Consistency):
    """``subject_consistency``: DINO ViT-B/16 CLS-feature consistency over time.

    Formula: mean over frames i >= 1 of 1/2 (max(0, cos(f_{i-1}, f_i)) + max(0, cos(f_0,
    f_i))), f = DINO CLS token. Range [0, 1], higher is better. View (default): 8 fps, <= 32
    frames, short side 224 (antialiased bicubic), no crop, ImageNet normalisation; vbench:
    all frames, VBench's ``dino_transform``. Blind to: static videos (score ~1), what
    happens after 4 s (default view), appearance changes DINO's global token ignores.
    Weights: ``dino-vitb16`` (facebookresearch/dino ``dino_vitbase16_pretrain.pth``).
    """

    name: ClassVar[str] = "subject_consistency"
    default_options: ClassVar[dict[str, Any]] = {"fps": 8.0, "num_frames": 32,
                                                 "arch": "vitb16", "seed": 0}
    archs: ClassVar[tuple[str, ...]] = ("vitb16", "vits16", "tiny")

    def required_weights(self) -> tuple[str, ...]:
        from vidbench.metrics.backbones.dino import DINO_CONFIGS

        cfg = DINO_CONFIGS.get(self.options["arch"])
        return (cfg.weights,) if cfg is not None and cfg.weights else ()

    def view_spec(self) -> ViewSpec:
        if self.mode == "vbench":
            return ViewSpec()
        return ViewSpec(fps=float(self.options["fps"]), num_frames=self.options["num_frames"],
                        pad=False, size=224, resize="bicubic_aa")

    def backbone(self):
        from vidbench.metrics.backbones.dino import load_dino

        return load_dino(self.options["arch"], random_weights=self.random_weights,
                         device=self.device, half=self.half, seed=int(self.options["seed"]))

    def features(self, ctx: VideoContext) -> torch.Tensor:
        from vidbench.metrics.backbones.dino import normalize_uint8, vbench_dino_transform

        bb = self.backbone()
        spec = self.view_spec()
        transform = "vbench" if self.mode == "vbench" else "imagenet"

        def compute() -> torch.Tensor:
            frames = ctx.view(spec).frames
            x = vbench_dino_transform(frames) if self.mode == "vbench" else normalize_uint8(frames)
            return bb.encode(x, self.batch_size)

        return ctx.memo(("dino", bb.tag, spec, transform), compute)


class BackgroundConsistency(ClipBackboneMetric, _Consistency):
    """``background_consistency``: CLIP ViT-B/32 image-embedding consistency over time.

    Formula: as ``subject_consistency`` with f = CLIP image embedding. Range [0, 1], higher
    is better. View (default): the shared CLIP view (8 fps, <= 32 frames, 224x224 center
    crop after an antialiased bicubic resize); vbench: all frames, VBench's
    ``clip_transform``. Blind to: static videos (score ~1), content outside the center
    crop, what happens after 4 s (default view). Weights: ``clip-vit-b-32-openai``.
    """

    name: ClassVar[str] = "background_consistency"
    default_options: ClassVar[dict[str, Any]] = {"fps": 8.0, "num_frames": 32,
                                                 "arch": "ViT-B-32", "seed": 0}
    archs: ClassVar[tuple[str, ...]] = ("ViT-B-32", "ViT-L-14", "tiny")

    def features(self, ctx: VideoContext) -> torch.Tensor:
        from vidbench.metrics.backbones.clip import image_features

        transform = "vbench_tensor" if self.mode == "vbench" else "clip"
        return image_features(ctx, self.backbone(), self.view_spec(), transform,
                              self.batch_size)
