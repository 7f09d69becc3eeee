"""``clip_score``: text-video alignment with CLIP (open_clip, OpenAI weights).

Formula (``default``): ``100 * mean_k max(0, cos(E_img(x_k), E_txt(prompt)))`` over the
frames ``x_k`` of the view, with L2-normalised embeddings; ``details["min"]`` is the
per-frame minimum (same scale), so one off-prompt frame is visible even when the mean is
fine. Range [0, 100] (vbench mode, unclamped: [-exp(logit_scale), exp(logit_scale)]),
higher is better; real values sit around 20-35 for ViT-B/32 (cosines of
CLIP image and text embeddings are small even for good matches), so compare numbers only
within one backbone.

View (``default``): the shared CLIP view (resampled by timestamps to 8 fps, at most 32
frames = 4 s, short side 224 with antialiased bicubic, center crop 224), so fps, resolution
and length do not move the score, and background_consistency / aesthetic_quality reuse the
same image embeddings. Backbones: ``arch="ViT-B-32"`` (default, ``clip-vit-b-32-openai``)
or ``"ViT-L-14"`` (``clip-vit-l-14-openai``).

``vbench`` mode follows VBench's CLIP image-text protocol (``appearance_style.py``): every
decoded frame, ``clip_transform_Image(224)`` (PIL bicubic resize, center crop), and per
frame VBench's ``logits_per_text / 100 = exp(logit_scale) * cos / 100`` without clamping,
with the checkpoint's own ``logit_scale`` (exp = 100.0 for OpenAI's weights, so then it is
``cos``; a random init's is 1/0.07, and a fine-tuned checkpoint's may differ), averaged over
frames; reported x100, i.e. ``mean_k exp(logit_scale) * cos_k``. ``details["logit_scale"]``
gives ``exp(logit_scale)``. Checked against VBench's own ``appearance_style`` function
(``tests/test_parity_official.py``). Protocol version 2: version 1 used ``100 * cos``.

Chinese prompts (any CJK ideograph in the prompt, e.g. the ``@zh`` suite twins) are scored
with Chinese-CLIP (:mod:`vidbench.metrics.backbones.chinese_clip`; ``zh_arch``, default
``ViT-B-16``, weights ``chinese-clip-vit-b-16``; ``tiny`` when ``arch`` is ``tiny``) on the
same default view and the same formula; their details name the scorer (``details["scorer"]``,
e.g. ``chinese-clip-ViT-B-16-chinese-clip-vit-b-16``), and a run with such prompts records
the Chinese text model in result.json's protocol and provenance (``vidbench.results``), so it
never shares a leaderboard column with an English-only run. English prompts are scored exactly
as before (same details, same protocol hash). The two scorers' numbers are on different
scales: a run over both languages reports clip_score per language and no EN/ZH gap.
``vbench`` mode has no Chinese protocol (VBench is English-only): Chinese prompts give NaN
there with that reason.

Needs a prompt (``requires_prompt``): a video without one scores NaN with reason
"no prompt". Prompts longer than CLIP's 77 tokens are truncated
(``details["prompt_truncated"]``). Blind to: temporal content (each frame is scored alone,
so "a ball bouncing" matches a still ball), counting and spatial relations (CLIP's known
weaknesses), the region outside the center crop, and anything after 4 s in the default
view. With ``random_weights=True`` the numbers are not comparable.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from vidbench.metrics.consistency import ClipBackboneMetric
from vidbench.registry import Score, VideoContext


class ClipScore(ClipBackboneMetric):
    """CLIP text-video alignment, x100 (see the module docstring)."""

    name: ClassVar[str] = "clip_score"
    #: 2: vbench mode scales by the checkpoint's exp(logit_scale) (1 assumed 100)
    version: ClassVar[str] = "2"
    higher_is_better: ClassVar[bool] = True
    requires_prompt: ClassVar[bool] = True
    default_options: ClassVar[dict[str, Any]] = {"fps": 8.0, "num_frames": 32,
                                                 "arch": "ViT-B-32", "seed": 0,
                                                 "zh_arch": "ViT-B-16"}
    archs: ClassVar[tuple[str, ...]] = ("ViT-B-32", "ViT-L-14", "tiny")

    def protocol(self) -> dict:
        """The base protocol; ``zh_arch`` enters the options (and the hash) only when it is
        not the default, so English-only protocols are unchanged. The Chinese text model of
        a run that scored Chinese prompts is added to result.json after scoring."""
        p = super().protocol()
        if self.options.get("zh_arch") == "ViT-B-16":
            p["options"] = {k: v for k, v in p["options"].items() if k != "zh_arch"}
        return p

    def chinese_backbone(self):
        """The Chinese-CLIP scorer for Chinese prompts (``tiny`` when ``arch`` is)."""
        from vidbench.metrics.backbones.chinese_clip import load_chinese_clip

        arch = "tiny" if self.options["arch"] == "tiny" else str(self.options["zh_arch"])
        return load_chinese_clip(arch, random_weights=self.random_weights, device=self.device,
                                 seed=int(self.options["seed"]))

    @classmethod
    def weights_used(cls) -> tuple[str, ...]:
        """The weights of every ``arch`` and ``zh_arch`` it accepts."""
        from vidbench.metrics.backbones.chinese_clip import ARCHS as ZH
        from vidbench.metrics.backbones.clip import CLIP_WEIGHTS

        return (*(w for a in cls.archs if (w := CLIP_WEIGHTS.get(a))),
                *(spec[2] for spec in ZH.values() if spec[2]))

    def frame_cosines(self, ctx: VideoContext) -> np.ndarray:
        """cos(image_k, text) per view frame (float64, unclamped)."""
        from vidbench.metrics.backbones.clip import image_features

        bb = self.backbone()
        transform = "vbench_pil" if self.mode == "vbench" else "clip"
        img = image_features(ctx, bb, self.view_spec(), transform, self.batch_size)
        txt, _ = bb.encode_text(ctx.prompt)
        return (img.double() @ txt.double()).numpy()

    def score(self, ctx: VideoContext) -> Score:
        prompt = (ctx.prompt or "").strip()
        if not prompt:
            return Score.not_applicable("no prompt", video=ctx.video)
        if is_chinese(prompt):
            return self._score_chinese(ctx)
        cos = self.frame_cosines(ctx)
        bb = self.backbone()
        details: dict[str, Any] = {}
        if self.mode == "vbench":
            scale = math.exp(float(bb.model.logit_scale.detach().double()))
            per_frame = scale * cos  # VBench: logits_per_text / 100, reported x100
            details["logit_scale"] = scale
        else:
            per_frame = 100.0 * np.maximum(cos, 0.0)
        _, truncated = bb.encode_text(ctx.prompt)
        return Score(float(per_frame.mean()),
                     {"min": float(per_frame.min()), "n_frames": int(len(per_frame)),
                      "arch": self.options["arch"], "prompt_truncated": bool(truncated),
                      **details})

    def _score_chinese(self, ctx: VideoContext) -> Score:
        """A Chinese prompt: Chinese-CLIP on the default view, ``100 * mean max(0, cos)``."""
        if self.mode == "vbench":
            return Score.not_applicable(
                "vbench mode reproduces VBench's English CLIP protocol; Chinese prompts are "
                "scored in default mode (Chinese-CLIP)", video=ctx.video)
        from vidbench.metrics.backbones.clip import image_features

        bb = self.chinese_backbone()
        img = image_features(ctx, bb, self.view_spec(), "clip", self.batch_size)
        txt, truncated = bb.encode_text(ctx.prompt)
        per_frame = 100.0 * np.maximum((img.double() @ txt.double()).numpy(), 0.0)
        return Score(float(per_frame.mean()),
                     {"min": float(per_frame.min()), "n_frames": int(len(per_frame)),
                      "arch": bb.arch, "prompt_truncated": bool(truncated),
                      "scorer": bb.tag, "scorer_weights": bb.weights})


def is_chinese(text: str) -> bool:
    """Whether ``text`` holds a CJK unified ideograph (then it is scored as Chinese)."""
    return any("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" for ch in text)
