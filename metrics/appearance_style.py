"""``appearance_style``: CLIP similarity of every frame to the style the item asks for.

VBench's "appearance style" dimension: does the video look like "oil painting", "black and
white", "pixel art", ... as the prompt asked?

Formula, per video: ``mean_k exp(logit_scale) * cos(E_img(x_k), E_txt(style)) / 100`` over
the frames ``x_k`` of the view, with L2-normalised CLIP embeddings and the checkpoint's own
``logit_scale`` (exp = 100 for OpenAI's ViT-B/32, so then it is the mean cosine). This is
VBench's ``appearance_style`` (``logits_per_text / 100`` per frame), in VBench's units, so
VBench's published bounds (``NORMALIZE_DIC["appearance style"]`` = [0.0009, 0.2855]) apply
to vbench-mode values. Range [-exp(logit_scale)/100, exp(logit_scale)/100] (real values sit
around 0.18-0.26 for ViT-B/32); higher is better.

The text is the style alone, not the whole prompt: the item's VBench auxiliary info
(``vbench-full`` suites carry ``VBench_full_info.json``'s, see :func:`style_of`) or
``meta["appearance_style"]``. A video whose item names no style scores NaN with the reason
(VBench raises).

Aggregate: ``vbench`` mode averages over *frames* of all videos (VBench's ``sim / cnt``), so
a longer video weighs more; ``default`` mode averages per-video values (each video counts
once), with a bootstrap CI over videos in both modes.

View: ``vbench`` mode, every decoded frame with VBench's ``clip_transform_Image(224)`` (PIL
bicubic resize of the short side, center crop), as ``clip_score``'s vbench mode; ``default``
mode, the shared CLIP view (8 fps by timestamps, at most 32 frames, antialiased bicubic,
center crop 224), so fps and resolution do not move the score and the image embeddings are
shared with clip_score / background_consistency / aesthetic_quality.

Blind to: content (a red ball "in oil painting style" and any oil painting score alike),
the region outside the center crop, time. With ``random_weights=True`` the numbers are not
comparable. Checked against VBench's own ``appearance_style`` function with shared random
weights (``tests/test_appearance_style.py``).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from vidbench.metrics.consistency import ClipBackboneMetric
from vidbench.registry import Score, VideoContext
from vidbench.stats import Aggregate, bootstrap_ci, mean_with_ci


def style_of(meta: dict) -> str:
    """The style text an item asks for ('' when none): VBench's auxiliary info, keyed by
    dimension as in ``VBench_full_info.json`` (``{"appearance_style": {"appearance_style":
    "Van Gogh style"}}``) or flat as VBench hands it to the metric (``{"appearance_style":
    "Van Gogh style"}``), else ``meta["appearance_style"]``."""
    from vidbench.vbench_suite import auxiliary

    style = auxiliary(meta, "appearance_style")
    if isinstance(style, dict):
        style = style.get("appearance_style")
    if not isinstance(style, str):
        style = meta.get("appearance_style")
    return style.strip() if isinstance(style, str) else ""


class AppearanceStyle(ClipBackboneMetric):
    """CLIP image-style alignment in VBench's units (see the module docstring)."""

    name: ClassVar[str] = "appearance_style"
    version: ClassVar[str] = "1"
    higher_is_better: ClassVar[bool] = True
    default_options: ClassVar[dict[str, Any]] = {"fps": 8.0, "num_frames": 32,
                                                 "arch": "ViT-B-32", "seed": 0}
    archs: ClassVar[tuple[str, ...]] = ("ViT-B-32", "ViT-L-14", "tiny")

    def score(self, ctx: VideoContext) -> Score:
        from vidbench.metrics.backbones.clip import image_features

        style = style_of(ctx.meta)
        if not style:
            return Score.not_applicable("no appearance style in the item's metadata "
                                        "(auxiliary_info.appearance_style)", video=ctx.video)
        bb = self.backbone()
        transform = "vbench_pil" if self.mode == "vbench" else "clip"
        img = image_features(ctx, bb, self.view_spec(), transform, self.batch_size)
        txt, truncated = bb.encode_text(style)
        scale = math.exp(float(bb.model.logit_scale.detach().double()))
        per_frame = scale * (img.double() @ txt.double()).numpy() / 100.0
        return Score(float(per_frame.mean()),
                     {"min": float(per_frame.min()), "n_frames": int(len(per_frame)),
                      "style": style, "logit_scale": scale, "arch": self.options["arch"],
                      "style_truncated": bool(truncated)})

    def aggregate(self, values: np.ndarray, details: list[dict], *, seed: int = 0
                  ) -> Aggregate:
        """vbench mode: the frame-weighted mean (VBench's ``sim / cnt``); default: the mean
        over videos. Both with a bootstrap CI over videos."""
        if self.mode != "vbench":
            return mean_with_ci(values, seed=seed)
        v = np.asarray(values, dtype=np.float64)
        w = np.array([float(d.get("n_frames", 1)) if isinstance(d, dict) else 1.0
                      for d in details]) if len(details) == len(v) else np.ones(len(v))
        ok = np.isfinite(v) & (w > 0)
        n_nan = int(len(v) - ok.sum())
        if not ok.any():
            return Aggregate(math.nan, (math.nan, math.nan), 0, {"n_nan": n_nan})
        pairs = np.stack([v[ok] * w[ok], w[ok]], axis=1)

        def ratio(x: np.ndarray, axis: int = 0) -> np.ndarray:
            return x[..., 0].sum(axis=axis) / x[..., 1].sum(axis=axis)

        value = float(pairs[:, 0].sum() / pairs[:, 1].sum())
        return Aggregate(value, bootstrap_ci(pairs, ratio, seed=seed), int(ok.sum()),
                         {"n_nan": n_nan, "weighting": "frames", "n_frames": int(w[ok].sum())})
