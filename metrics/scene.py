"""``scene``: does the video show the scene its prompt names? (VBench's "scene" dimension,
with Tag2Text captions.)

Formula, per video: the fraction of its 16 frames whose Tag2Text caption contains every word
of the scene (VBench's auxiliary info, e.g. "amusement park"). Range [0, 1]; higher is
better. The aggregate is the mean over videos (VBench's pooled ratio: every video has 16
captions there).

``vbench`` mode reproduces VBench's ``scene()``: the mp4 is read again with decord at
384 x 384 (decord's own scaling, as VBench's ``load_video(width=384, height=384)``), 16
frames by VBench's middle-of-interval indices (padded with the last one), PIL bilinear
resize to 384 (a no-op for decord's 384 x 384 frames), a word matches as a substring (``q in
caption``: "park" matches "parking"). It also keeps VBench's batching quirk: the 16 frames go
through Tag2Text as one batch, and the caption decoder's cross-attention keeps only the first
``3 x 16`` of its ``9 x 16`` key rows, so frame ``f`` is captioned from frame ``f // 3``'s
tags and image (upstream recognize-anything issue #95): only frames 0-5 of the 16 matter,
and vidbench captions just those six and repeats each caption as VBench does.

``default`` mode: 16 frames spread over the clip by time from the decoded view, area
resize of the whole frame to 384 x 384, every frame captioned from itself, and each scene
word must be a whole word of the caption. A clip with fewer than 16 frames is NaN (the view
never invents duplicates).

An item without a scene (no ``auxiliary_info.scene`` nor ``meta["scene"]``) is NaN with the
reason "not a scene prompt". Blind to: anything the caption does not put in words (Tag2Text
names the main subject first and the place only sometimes), synonyms ("seaside" for
"beach"), and, in vbench mode, frames after the sixth. With ``random_weights=True`` the
numbers are not comparable (random networks and a stand-in vocabulary). Checked against
VBench's own ``scene()`` with shared seeded weights (``tests/test_scene.py``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from vidbench.errors import UserError
from vidbench.metrics.consistency import BackboneMetric
from vidbench.registry import Score, VideoContext
from vidbench.video import ViewSpec

if TYPE_CHECKING:
    from vidbench.metrics.backbones.tag2text import Tag2TextBackbone

NUM_FRAMES = 16
SIZE = 384
QUIRK_STRIDE = 3  # VBench: frame f is captioned from frame f // 3


def scene_of(meta: dict) -> str:
    """The scene an item asks for ('' when none): VBench's auxiliary info as the full-info
    file nests it (``{"scene": {"scene": {"scene": "alley"}}}``), any part of that nesting,
    or ``meta["scene"]``."""
    from vidbench.vbench_suite import auxiliary

    value: Any = auxiliary(meta, "scene")
    if value is None:
        value = meta.get("scene")
    for _ in range(4):
        if isinstance(value, dict):
            value = value.get("scene")
    return value.strip() if isinstance(value, str) else ""


def vbench_match(scene: str, caption: str) -> bool:
    """VBench's ``check_generate``: every space-separated word is a substring."""
    return all(q in caption for q in scene.split(" "))


def word_match(scene: str, caption: str) -> bool:
    """Every word of the scene is a whole word of the caption (case-insensitive)."""
    words = re.findall(r"[a-z0-9']+", caption.lower())
    return all(w in words for w in re.findall(r"[a-z0-9']+", scene.lower()))


def vbench_frames(path: str) -> np.ndarray:
    """VBench's ``load_video(path, num_frames=16, width=384, height=384)`` for an mp4."""
    import decord

    from vidbench.metrics.backbones.viclip import vbench_middle_indices

    vr = decord.VideoReader(path, width=SIZE, height=SIZE, num_threads=1)
    idx = vbench_middle_indices(len(vr), NUM_FRAMES)
    if not idx:
        raise UserError(f"{path}: no frames")
    with decord.bridge._BridgeScope("native"):  # whatever bridge another library set
        return np.asarray(vr.get_batch(idx).asnumpy(), dtype=np.uint8)


def pil_resize(frames: np.ndarray) -> np.ndarray:
    """torchvision ``Resize((384, 384))`` on PIL images (bilinear; identity at 384 x 384)."""
    from PIL import Image

    if frames.shape[1:3] == (SIZE, SIZE):
        return frames
    return np.stack([np.asarray(Image.fromarray(f).resize((SIZE, SIZE), Image.BILINEAR))
                     for f in frames])


class Scene(BackboneMetric):
    """Fraction of frames whose Tag2Text caption names the scene (see the module docstring)."""

    name: ClassVar[str] = "scene"
    version: ClassVar[str] = "2"  # 2: default view at segment midpoints (same frames at any fps)
    higher_is_better: ClassVar[bool] = True
    default_options: ClassVar[dict[str, Any]] = {"arch": "swin-b-384", "seed": 0}
    archs: ClassVar[tuple[str, ...]] = ("swin-b-384", "tiny")

    def required_weights(self) -> tuple[str, ...]:
        from vidbench.metrics.backbones.tag2text import PRETRAINED, VOCAB

        w = PRETRAINED.get(self.options["arch"])
        return (w, VOCAB) if w else ()

    def view_spec(self) -> ViewSpec:
        if self.mode == "vbench":
            return ViewSpec(num_frames=1)  # VBench reads the file itself (decord, 384 x 384)
        return ViewSpec(num_frames=NUM_FRAMES, pad=False, size=(SIZE, SIZE), resize="area")

    def backbone(self) -> Tag2TextBackbone:
        from vidbench.metrics.backbones.tag2text import load_tag2text

        return load_tag2text(self.options["arch"], random_weights=self.random_weights,
                             device=self.device, seed=int(self.options["seed"]))

    def score(self, ctx: VideoContext) -> Score:
        from vidbench.metrics.backbones.tag2text import normalise

        scene = scene_of(ctx.meta)
        if not scene:
            return Score.not_applicable("not a scene prompt (no auxiliary_info.scene in the "
                                        "item's metadata)", video=ctx.video)
        if self.mode == "vbench":
            if not ctx.clip.path:
                raise UserError(f"{ctx.video}: scene --mode vbench re-reads the video file "
                                f"with decord, as VBench does; this clip has no file")
            frames = pil_resize(vbench_frames(str(ctx.clip.path)))
            sources = sorted({f // QUIRK_STRIDE for f in range(len(frames))})
            caps, tags = self.backbone().caption(normalise(frames[sources]))
            captions = [caps[f // QUIRK_STRIDE] for f in range(len(frames))]
            tags = [tags[f // QUIRK_STRIDE] for f in range(len(frames))]
            hits = [vbench_match(scene, c) for c in captions]
        else:
            frames = ctx.view(self.view_spec()).frames
            if len(frames) < NUM_FRAMES:
                return Score.not_applicable(f"too few frames (scene reads {NUM_FRAMES})",
                                            video=ctx.video)
            captions, tags = self.backbone().caption(normalise(frames))
            hits = [word_match(scene, c) for c in captions]
        return Score(float(np.mean(hits)),
                     {"scene": scene, "n_frames": len(captions), "n_match": int(sum(hits)),
                      "captions": captions, "tags": tags})
