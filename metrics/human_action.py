"""``human_action``: is the action the prompt names recognised in the video? (VBench's
"human action" dimension, with UMT ViT-L/16 fine-tuned on Kinetics-400.)

Formula, per video: 1 when the prompt's action is among the Kinetics-400 classes that UMT
ranks in its top 5 with sigmoid probability >= 0.85 (probabilities rounded to 4 decimals
first, as VBench), else 0. The aggregate is the mean, the fraction of videos whose action is
recognised (VBench's accuracy). Range [0, 1]; higher is better.

The action is read from the prompt as VBench reads it from the file name: lower-cased, the
text after "person is " ("A person is riding a bike" -> "riding a bike"), compared with the
class name exactly. A prompt without "person is " is NaN with the reason (not a
human-action prompt). Class names: the Kinetics-400 list in UMT's head order, read from the
installed ``vbench`` package (``third_party/umt/kinetics_400_categories.txt``; located, not
imported) or from the file named in ``VIDBENCH_KINETICS400_CLASSES``; not vendored here.

Frames: 16. ``vbench`` mode: VBench's ``load_video(num_frames=16)`` middle-of-interval
indices over the decoded frames, OpenCV bilinear resize of the short side to 256, center
crop 224. ``default`` mode: 16 frames spread over the clip by time, antialiased (area)
resize of the short side to 256, the same crop; a clip with fewer than 16 frames is NaN
(the default view never invents duplicates; VBench pads with the last frame).

Blind to: anything but the one named action (two people doing it, its quality, the scene),
actions outside Kinetics-400, and what lies outside the 224 center crop. With
``random_weights=True`` the numbers are not comparable. Checked against VBench's own
``human_action`` function with shared weights (``tests/test_human_action.py``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vidbench.errors import UserError
from vidbench.metrics.consistency import BackboneMetric
from vidbench.registry import Score, VideoContext
from vidbench.vbench_suite import official_vbench_file
from vidbench.video import ViewSpec

NUM_FRAMES = 16
THRESHOLD = 0.85
ENV_CLASSES = "VIDBENCH_KINETICS400_CLASSES"


def classes_path() -> Path:
    """The Kinetics-400 class file (``name<TAB>index`` lines)."""
    return official_vbench_file("third_party/umt/kinetics_400_categories.txt", ENV_CLASSES,
                                "human_action needs the Kinetics-400 class names in UMT's "
                                "order")


@lru_cache(maxsize=4)
def class_names(path: Path) -> tuple[str, ...]:
    """Index -> lower-cased class name, validated (400 lines, indices 0..399 once each)."""
    names: dict[int, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror})") from None
    for k, line in enumerate(lines, 1):
        if not line.strip():
            continue
        name, sep, idx = line.strip().rpartition("\t")
        if not sep or not idx.isdigit() or int(idx) in names:
            raise UserError(f"{path}:{k}: expected 'name<TAB>index' with a new index")
        names[int(idx)] = name.lower()
    if sorted(names) != list(range(len(names))) or len(names) != 400:
        raise UserError(f"{path}: expected indices 0..399, got {len(names)} classes")
    return tuple(names[i] for i in range(len(names)))


def action_of(prompt: str) -> str | None:
    """The action a human-action prompt names, as VBench reads it, or None."""
    text = prompt.strip().lower()
    return text.split("person is ")[-1].strip() if "person is " in text else None


class HumanAction(BackboneMetric):
    """Whether UMT recognises the prompt's Kinetics-400 action (see the module docstring)."""

    name: ClassVar[str] = "human_action"
    version: ClassVar[str] = "2"  # 2: default view at segment midpoints (same frames at any fps)
    higher_is_better: ClassVar[bool] = True
    requires_prompt: ClassVar[bool] = True
    default_options: ClassVar[dict[str, Any]] = {"arch": "ViT-L-16", "seed": 0}
    archs: ClassVar[tuple[str, ...]] = ("ViT-L-16", "tiny")

    def required_weights(self) -> tuple[str, ...]:
        from vidbench.metrics.backbones.umt import CONFIGS

        w = CONFIGS[self.options["arch"]].weights
        return (w,) if w else ()

    def view_spec(self) -> ViewSpec:
        if self.mode == "vbench":
            return ViewSpec()  # every decoded frame: VBench picks 16 by index
        return ViewSpec(num_frames=NUM_FRAMES, pad=False, size=256, resize="area")

    def backbone(self):
        from vidbench.metrics.backbones.umt import load_umt

        return load_umt(self.options["arch"], random_weights=self.random_weights,
                        device=self.device, seed=int(self.options["seed"]))

    def score(self, ctx: VideoContext) -> Score:
        from vidbench.metrics.backbones.umt import crop_normalise, vbench_umt_tensor
        from vidbench.metrics.backbones.viclip import vbench_middle_indices

        action = action_of(ctx.prompt or "")
        if action is None:
            return Score.not_applicable("not a human-action prompt ('... person is <action>')",
                                        video=ctx.video)
        names = class_names(classes_path())
        frames = ctx.view(self.view_spec()).frames
        if self.mode == "vbench":
            if len(frames) == 0:
                return Score.not_applicable("no frames", video=ctx.video)
            clip = vbench_umt_tensor(frames[vbench_middle_indices(len(frames), NUM_FRAMES)])
        else:
            if len(frames) < NUM_FRAMES:
                return Score.not_applicable(f"too few frames (UMT reads {NUM_FRAMES})",
                                            video=ctx.video)
            if min(frames.shape[1:3]) < 224:
                raise UserError(f"{ctx.video}: view smaller than UMT's 224 crop")
            clip = crop_normalise(frames)
        probs = self.backbone().probabilities(clip)
        top = np.argsort(-probs, kind="stable")[:5]
        top5 = [(names[i], round(float(probs[i]), 4)) for i in top]
        recognised = [n for n, p in top5 if p >= THRESHOLD]
        return Score(float(action in recognised),
                     {"action": action, "top5": [[n, p] for n, p in top5],
                      "recognised": recognised})
