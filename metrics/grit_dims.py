"""VBench's four GRiT dimensions: ``object_class``, ``multiple_objects``, ``color`` and
``spatial_relationship``: a detector interface, VBench's post-processing, and the metrics.

VBench scores these from GRiT (ViT-B, ``grit_b_densecap_objectdet.pth``) run on 16 frames of
each video. Per frame GRiT gives a list of detections, each a caption (short class names in
its "ObjectDet" task, descriptive sentences in its "DenseCap" task), a box ``[x0, y0, x1,
y1]`` in pixels of the frame it saw (VBench truncates with ``int``) and a score (GRiT keeps a
box when its box score > 0.5, before re-scoring it with the caption's probability); plus the
class names of a second, ObjectDet pass over the same proposals (VBench's ``det_obj``; the
same list is attached to every detection of the frame). :class:`FrameOutput` is that per-frame
output; a :class:`GritDetector` maps an RGB uint8 frame and a task to it.

Per-video formulas (transcribed from ``vbench`` 0.1.5's ``object_class.py``,
``multiple_objects.py``, ``color.py``, ``spatial_relationship.py``; the tests run VBench's own
functions, imported with its GRiT wrapper stubbed, on the same hand-built detections):

- ``object_class`` (task ObjectDet): the fraction of the 16 frames whose ObjectDet class names
  (the ``det_obj`` list; empty when the frame has no detection) contain the prompt's object
  exactly (``auxiliary_info.object``, e.g. "car"). Range [0, 1].
- ``multiple_objects`` (ObjectDet): the fraction of frames whose class names contain both
  objects of ``"A and B"`` (split on " and "). Range [0, 1].
- ``color`` (task DenseCap): the object is the prompt with every "a " and "an " removed and the
  colour removed (VBench's string replaces: "a red car" -> "car"). A frame *shows the object*
  when the frame's first ObjectDet class name equals the object and some dense caption contains
  one of 12 colour words (white red pink blue silver purple orange green gray yellow black
  grey, as substrings); it *shows the colour* when the first class name equals the object and
  some caption contains the asked colour. Value: frames showing the colour / frames showing
  the object, in [0, 1]; a video where no frame shows the object is NaN (VBench leaves it out
  of the mean).
- ``spatial_relationship`` (ObjectDet): per frame, the boxes whose caption equals object A or
  object B; the frame scores the best pair of them (any two, including two boxes of the same
  object, in either order) with VBench's ``get_position_score``, 0 when fewer than two: for a
  left/right relation (any relation that is a substring of "on the right of" or "on the left
  of") the pair counts when the centres are further apart horizontally than vertically, for
  top/bottom when vertically; a counting pair scores 1 when the boxes' IoU < 0.1, else
  0.1 / IoU; a non-counting pair 0. The sides are not checked (A left of B and B left of A
  score alike). Value: the mean of the 16 frame scores, in [0, 1].

Aggregation, as VBench: ``object_class``, ``multiple_objects`` and ``spatial_relationship``
pool frames (success frames / frames, or the mean frame score), which equals the mean over
videos because every video contributes 16 frames; ``color`` is the mean over the videos where
the object was seen (NaN videos are counted in ``n_nan``, never as 0 or 1).

Frames: ``vbench`` mode: VBench's ``load_video(num_frames=16)`` middle-of-interval indices
over the decoded frames (padded with the last one for short videos); when the short side is
over 768 the frames are resized to a short side of 720 (sizes ``int(720 / s * h)``,
``int(720 / s * w)``): torchvision ``Resize`` (antialiased) for the ObjectDet dimensions,
OpenCV ``INTER_LINEAR`` for ``color``, as VBench. ``default`` mode: 16 frames spread over the
clip by time (NaN when the clip has fewer), the same short-side rule with an antialiased
resize. The detector is run on the frames as given (VBench's GRiT predictor never resizes).

Where VBench would raise on a degenerate input, vidbench gives a number and says so: a frame
with captions but no ObjectDet class name (VBench's ``color`` raises IndexError) has no first
class name, so it shows nothing; a pair of two zero-area boxes (VBench divides by a zero
union) scores 0. An item without the auxiliary info (or a ``multiple_objects`` object that
is not "A and B") is NaN with the reason.

The detector: vidbench's own GRiT-B (:mod:`vidbench.metrics.backbones.grit`: the ViTDet
backbone, CenterNet proposals, the three-stage cascade and the caption decoder of
``vidbench.metrics.backbones.grit_text``), loaded strictly from ``grit_b_densecap_objectdet.pth``
(weights ``grit-b-densecap-objectdet``) or, with ``random_weights``, seeded stand-in weights
(not comparable). One network per process serves the four metrics, and object_class,
multiple_objects and spatial_relationship share one ObjectDet pass per video (same frames,
same task). A build without the caption decoder module fails each video with
:class:`DetectorUnavailable` naming it (no number is reported). A detector passed in
(``detector=``, used by the tests with hand-built detections) marks the result not
comparable.

Blind to: everything GRiT does not caption (object size, count beyond presence, which side
of a left/right pair is which), and to objects GRiT names differently from the prompt
("automobile" for "car" is a miss).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from vidbench.errors import UserError
from vidbench.registry import PerVideoMetric, Score, VideoContext
from vidbench.video import ViewSpec

NUM_FRAMES = 16
#: VBench resizes frames whose short side exceeds this ...
MAX_SHORT_SIDE = 768
#: ... to this short side.
RESIZED_SHORT_SIDE = 720.0
#: ``get_position_score``'s IoU threshold
IOU_THRESHOLD = 0.1
#: the colour words of VBench's ``color.check_generate``, in its order
COLOR_WORDS = ("white", "red", "pink", "blue", "silver", "purple", "orange", "green", "gray",
               "yellow", "black", "grey")
TASKS = ("ObjectDet", "DenseCap")
WEIGHTS = "grit-b-densecap-objectdet"
#: the GRiT size the metrics build ("tiny" only in tests, with random weights)
ARCH = "B"

UNAVAILABLE = ("detector not available: vidbench's GRiT network (backbone, CenterNet "
               "proposals, cascade box heads: vidbench.metrics.backbones.grit) needs its "
               "caption decoder, vidbench.metrics.backbones.grit_text, which this build does "
               "not have; object_class, multiple_objects, color and spatial_relationship "
               "cannot score without it")


class DetectorUnavailable(RuntimeError):
    """A part of the GRiT network is missing from this build (see :data:`UNAVAILABLE`)."""


@dataclass(frozen=True)
class Detection:
    """One GRiT detection: its caption, box ``(x0, y0, x1, y1)`` in frame pixels, score."""

    caption: str
    box: tuple[float, float, float, float]
    score: float = 1.0


@dataclass(frozen=True)
class FrameOutput:
    """GRiT's output for one frame: the detections of the requested task, and the class
    names of the ObjectDet pass (VBench's ``det_obj``, in GRiT's order)."""

    detections: tuple[Detection, ...] = ()
    object_names: tuple[str, ...] = field(default=())


class GritDetector(Protocol):
    """Maps one RGB uint8 frame (H, W, 3) and a task ("ObjectDet" or "DenseCap") to GRiT's
    output for it, detections already thresholded as GRiT does (box score > 0.5)."""

    def __call__(self, frame: np.ndarray, task: str) -> FrameOutput: ...


class NetworkDetector:
    """:class:`GritDetector` over vidbench's GRiT network
    (:func:`vidbench.metrics.backbones.grit.load_grit_model`)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, frame: np.ndarray, task: str) -> FrameOutput:
        r = self.model(frame, task)
        dets = tuple(Detection(c, (float(b[0]), float(b[1]), float(b[2]), float(b[3])),
                               float(sc))
                     for c, b, sc in zip(r.captions, r.boxes.tolist(), r.scores.tolist(),
                                         strict=True))
        return FrameOutput(dets, tuple(r.object_names))


def int_box(box: Sequence[float]) -> tuple[int, int, int, int]:
    """VBench's ``[int(a) for a in box]`` (truncation toward zero)."""
    x0, y0, x1, y1 = (int(a) for a in box)
    return x0, y0, x1, y1


# ------------------------------------------------------------------ per-frame post-processing


def class_names_seen(frame: FrameOutput) -> set[str]:
    """``object_class``/``multiple_objects``' per-frame set: the ObjectDet class names, or
    the empty set when the frame has no detection (VBench reads them off the first one)."""
    return set(frame.object_names) if frame.detections else set()


def object_class_hits(frames: Sequence[FrameOutput], obj: str) -> list[bool]:
    """Per frame: is ``obj`` among the class names (exact match)?"""
    return [obj in class_names_seen(f) for f in frames]


def split_pair(objects: str) -> tuple[str, str] | None:
    """``"bird and cat"`` -> ("bird", "cat"); None unless exactly one " and "."""
    parts = objects.split(" and ")
    if len(parts) != 2:
        return None
    return parts[0].strip(), parts[1].strip()


def multiple_objects_hits(frames: Sequence[FrameOutput], a: str, b: str) -> list[bool]:
    """Per frame: are both ``a`` and ``b`` among the class names?"""
    out = []
    for f in frames:
        seen = class_names_seen(f)
        out.append(a in seen and b in seen)
    return out


def color_object(prompt: str, color: str) -> str:
    """The object ``color`` looks for, read from the prompt as VBench does:
    ``prompt.replace('a ', '').replace('an ', '').replace(color, '').strip()``."""
    return prompt.replace("a ", "").replace("an ", "").replace(color, "").strip()


def color_frame_flags(frame: FrameOutput, color: str, obj: str) -> tuple[bool, bool]:
    """(shows the object with some colour word, shows the asked colour) for one frame."""
    first = frame.object_names[0] if frame.object_names else None
    object_flag = color_flag = False
    for det in frame.detections:
        if first is not None and obj == first:
            if any(word in det.caption for word in COLOR_WORDS):
                object_flag = True
            if color in det.caption:
                color_flag = True
    return object_flag, color_flag


def color_counts(frames: Sequence[FrameOutput], color: str, obj: str) -> tuple[int, int]:
    """(frames showing the object, frames showing it in ``color``)."""
    n_obj = n_col = 0
    for f in frames:
        o, c = color_frame_flags(f, color, obj)
        n_obj += o
        n_col += c
    return n_obj, n_col


def position_score(relation: str, box1: Sequence[float], box2: Sequence[float],
                   iou_threshold: float = IOU_THRESHOLD) -> float:
    """VBench's ``get_position_score`` for two boxes ``(x0, y0, x1, y1)`` (see the module
    docstring); 0 for two zero-area boxes."""
    x0a, y0a, x1a, y1a = box1
    x0b, y0b, x1b, y1b = box2
    dx = (x0b + x1b) / 2 - (x0a + x1a) / 2
    dy = (y0b + y1b) / 2 - (y0a + y1a) / 2
    inter = max(0, min(x1a, x1b) - max(x0a, x0b)) * max(0, min(y1a, y1b) - max(y0a, y0b))
    union = (x1a - x0a) * (y1a - y0a) + (x1b - x0b) * (y1b - y0b) - inter
    if union == 0:
        return 0.0
    iou = inter / union
    if relation in "on the right of" or relation in "on the left of":
        along = abs(dx) > abs(dy)
    elif relation in "on the bottom of" or relation in "on the top of":
        along = abs(dy) > abs(dx)
    else:
        return 0.0
    if not along:
        return 0.0
    return 1.0 if iou < iou_threshold else iou_threshold / iou


def spatial_frame_scores(frames: Sequence[FrameOutput], a: str, b: str,
                         relation: str) -> list[float]:
    """Per frame: the best :func:`position_score` over pairs of boxes captioned ``a`` or
    ``b`` (int-truncated as VBench), 0 without a pair."""
    out = []
    for f in frames:
        boxes = [int_box(d.box) for d in f.detections if d.caption in (a, b)]
        best = 0.0
        for i in range(len(boxes) - 1):
            for j in range(i + 1, len(boxes)):
                best = max(best, position_score(relation, boxes[i], boxes[j]))
        out.append(best)
    return out


# ------------------------------------------------------------------------------- frames


def vbench_resize(frames: np.ndarray, method: str) -> np.ndarray:
    """VBench's rule: short side > 768 -> short side 720 (``int(scale * h)``,
    ``int(scale * w)``), with torchvision's antialiased ``Resize`` ("torchvision") or
    OpenCV ``INTER_LINEAR`` ("cv2"); smaller frames unchanged."""
    t, h, w = frames.shape[:3]
    if min(h, w) <= MAX_SHORT_SIDE:
        return frames
    scale = RESIZED_SHORT_SIDE / min(h, w)
    nh, nw = int(scale * h), int(scale * w)
    if method == "cv2":
        import cv2

        return np.stack([cv2.resize(np.ascontiguousarray(f), (nw, nh),
                                    interpolation=cv2.INTER_LINEAR) for f in frames])
    import torch
    import torchvision.transforms.functional as TF

    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    x = TF.resize(x, [nh, nw], antialias=True)
    return x.permute(0, 2, 3, 1).contiguous().numpy()


# ------------------------------------------------------------------------------- metrics


class GritMetric(PerVideoMetric):
    """Shared machinery of the four GRiT dimensions (see the module docstring)."""

    version: ClassVar[str] = "2"  # 2: default view at segment midpoints (same frames at any fps)
    higher_is_better: ClassVar[bool] = True
    weights: ClassVar[tuple[str, ...]] = (WEIGHTS,)
    #: the GRiT task whose captions the dimension reads
    task: ClassVar[str] = "ObjectDet"
    #: VBench's resize for frames over 768 (torchvision or cv2)
    vbench_resize_method: ClassVar[str] = "torchvision"

    def __init__(self, mode: str = "default", *, device: str = "cpu",
                 random_weights: bool = False, detector: GritDetector | None = None,
                 **options: Any) -> None:
        if options:
            raise UserError(f"metric {self.name}: unknown option(s) {sorted(options)}")
        super().__init__(mode, device=device, random_weights=random_weights)
        self.detector = detector

    @property
    def comparable(self) -> bool:
        return self.detector is None and not self.random_weights

    def protocol(self) -> dict:
        d = super().protocol()
        if self.detector is not None:
            d["detector"] = "injected"
        return d

    def view_spec(self) -> ViewSpec:
        if self.mode == "vbench":
            return ViewSpec()  # every decoded frame: VBench picks 16 by index
        return ViewSpec(num_frames=NUM_FRAMES, pad=False)

    def target(self, ctx: VideoContext) -> dict[str, str] | str:
        """What the item asks for (from its meta), or the reason it cannot be scored."""
        raise NotImplementedError

    def per_video(self, frames: list[FrameOutput], target: dict[str, str]) -> Score:
        raise NotImplementedError

    def _detector(self) -> GritDetector:
        if self.detector is not None:
            return self.detector
        from vidbench.metrics.backbones.grit import TextDecoderMissing, load_grit_model

        try:
            model = load_grit_model(random_weights=self.random_weights, device=self.device,
                                    arch=ARCH)
        except TextDecoderMissing as e:
            raise DetectorUnavailable(f"{UNAVAILABLE} ({e})") from None
        return NetworkDetector(model)

    def frames(self, ctx: VideoContext) -> np.ndarray | None:
        """The 16 frames the detector sees, or None when the clip has too few."""
        from vidbench.metrics.backbones.viclip import vbench_middle_indices

        frames = ctx.view(self.view_spec()).frames
        if self.mode == "vbench":
            if len(frames) == 0:
                return None
            frames = frames[vbench_middle_indices(len(frames), NUM_FRAMES)]
            return vbench_resize(frames, self.vbench_resize_method)
        if len(frames) < NUM_FRAMES:
            return None
        return vbench_resize(frames, "torchvision")

    def score(self, ctx: VideoContext) -> Score:
        target = self.target(ctx)
        if isinstance(target, str):
            return Score.not_applicable(target, video=ctx.video)
        det = self._detector()
        frames = self.frames(ctx)
        if frames is None:
            return Score.not_applicable(f"too few frames (GRiT dimensions read {NUM_FRAMES})",
                                        video=ctx.video)
        # the network is shared by the four metrics (one instance per process): key on it
        key = ("grit", self.task, self.mode, self.vbench_resize_method,
               id(getattr(det, "model", det)))
        outputs = ctx.memo(key, lambda: [det(f, self.task) for f in frames])
        return self.per_video(outputs, target)


def _aux(ctx: VideoContext, dimension: str) -> Any:
    from vidbench.vbench_suite import auxiliary

    return auxiliary(ctx.meta, dimension)


def _text(v: Any) -> str | None:
    return v.strip() if isinstance(v, str) and v.strip() else None


class ObjectClass(GritMetric):
    """Fraction of frames where GRiT names the prompt's object (see the module docstring)."""

    name: ClassVar[str] = "object_class"

    def target(self, ctx: VideoContext) -> dict[str, str] | str:
        aux = _aux(ctx, "object_class")
        obj = _text(aux.get("object")) if isinstance(aux, dict) else None
        if obj is None:
            return "no object in the item's metadata (auxiliary_info.object_class.object)"
        return {"object": obj}

    def per_video(self, frames: list[FrameOutput], target: dict[str, str]) -> Score:
        hits = object_class_hits(frames, target["object"])
        return Score(sum(hits) / len(hits),
                     {"object": target["object"], "success_frames": int(sum(hits)),
                      "n_frames": len(hits)})


class MultipleObjects(GritMetric):
    """Fraction of frames where GRiT names both objects (see the module docstring)."""

    name: ClassVar[str] = "multiple_objects"

    def target(self, ctx: VideoContext) -> dict[str, str] | str:
        aux = _aux(ctx, "multiple_objects")
        objs = _text(aux.get("object")) if isinstance(aux, dict) else None
        if objs is None:
            return "no objects in the item's metadata (auxiliary_info.multiple_objects.object)"
        pair = split_pair(objs)
        if pair is None:
            return f"objects {objs!r} are not of the form 'A and B'"
        return {"object_a": pair[0], "object_b": pair[1]}

    def per_video(self, frames: list[FrameOutput], target: dict[str, str]) -> Score:
        hits = multiple_objects_hits(frames, target["object_a"], target["object_b"])
        return Score(sum(hits) / len(hits),
                     {**target, "success_frames": int(sum(hits)), "n_frames": len(hits)})


class Color(GritMetric):
    """Share of the frames showing the object in which it has the asked colour (see the
    module docstring)."""

    name: ClassVar[str] = "color"
    requires_prompt: ClassVar[bool] = True
    task: ClassVar[str] = "DenseCap"
    vbench_resize_method: ClassVar[str] = "cv2"

    def target(self, ctx: VideoContext) -> dict[str, str] | str:
        aux = _aux(ctx, "color")
        color = _text(aux.get("color")) if isinstance(aux, dict) else None
        if color is None:
            return "no colour in the item's metadata (auxiliary_info.color.color)"
        obj = color_object(ctx.prompt or "", color)
        if not obj:
            return f"no object left in the prompt {ctx.prompt!r} once the colour is removed"
        return {"color": color, "object": obj}

    def per_video(self, frames: list[FrameOutput], target: dict[str, str]) -> Score:
        n_obj, n_col = color_counts(frames, target["color"], target["object"])
        details = {**target, "object_frames": n_obj, "color_frames": n_col,
                   "n_frames": len(frames)}
        if n_obj == 0:
            return Score.not_applicable("the object was not seen with a colour word in any "
                                        "frame (VBench leaves the video out)", **details)
        return Score(n_col / n_obj, details)


class SpatialRelationship(GritMetric):
    """Mean over frames of VBench's box-geometry score for the two objects (see the module
    docstring)."""

    name: ClassVar[str] = "spatial_relationship"

    def target(self, ctx: VideoContext) -> dict[str, str] | str:
        aux = _aux(ctx, "spatial_relationship")
        rel = aux.get("spatial_relationship") if isinstance(aux, dict) else None
        keys = ("object_a", "object_b", "relationship")
        if not isinstance(rel, dict) or any(_text(rel.get(k)) is None for k in keys):
            return ("no relation in the item's metadata (auxiliary_info.spatial_relationship"
                    ".spatial_relationship: object_a, object_b, relationship)")
        return {k: str(_text(rel.get(k))) for k in keys}

    def per_video(self, frames: list[FrameOutput], target: dict[str, str]) -> Score:
        scores = spatial_frame_scores(frames, target["object_a"], target["object_b"],
                                      target["relationship"])
        return Score(float(np.mean(scores)),
                     {**target, "frame_scores": [round(s, 6) for s in scores],
                      "n_frames": len(scores)})
