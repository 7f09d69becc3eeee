"""Named, hashed FVD-family protocols.

A protocol pins everything that moves an FVD number besides the two video sets: the feature
extractor and its weights, how a clip is cut from a video (frame count, frame rate, where it
starts), how frames are resized and scaled, and how many real and generated videos the
published numbers use. Results computed under different protocols never share a leaderboard
column: the protocol's hash goes into ``result.json``.

Presets (``get_protocol(name)``):

- ``stylegan-v/fvd2048_16f``: StyleGAN-V's FVD: 2048 real and 2048 generated clips of 16
  consecutive frames at the video's own frame rate, clip start drawn per video from a seeded
  generator, uint8 frames resized to 224x224 (bilinear, no antialiasing, as TF's
  ``resize_bilinear``), scaled to [-1, 1], I3D (``i3d_torchscript.pt``) logits (400-d).
- ``stylegan-v/fvd2048_128f``: the same with 128 consecutive frames.
- ``stylegan-v/fvd2048_128f_subsample8f``: 16 frames taken every 8th source frame.
- ``deepmind-i3d/fvd2048_16f``: the same clips through DeepMind's kinetics-i3d weights
  converted to a state dict (``i3d_pretrained_400.pt``, as VideoGPT/TATS/cd-fvd use).
- ``vidbench/fvd2048_16f_8fps``: vidbench's default: the clip is resampled by timestamps to
  8 fps (16 frames = 2 s, short videos padded with their last frame), so the container's
  frame rate does not move the score; antialiased area resize to 224x224.
- ``cd-fvd/videomae_16f``: content-debiased FVD (Ge et al., CVPR 2024): VideoMAE-v2 ViT-g/14
  fine-tuned on SSv2, 16 consecutive frames, 224x224 bilinear, scaled to [0, 1] (no mean/std
  normalisation, as cd-fvd does), 1408-d mean-pooled features.

Covariance normalisation (field ``cov``): the presets named after a source use that
source's, 1/n (``cov="n"``): StyleGAN-V's ``compute_fvd`` and cd-fvd (a copy of it)
both take ``FeatureStats.get_mean_cov()``, ``raw_cov / n - mu mu^T``; the
``stylegan-v/*``, ``deepmind-i3d/*`` and ``cd-fvd/*`` presets' Frechet step reproduces
those packages' to 1e-9 (the features may still differ: docs/fvd.md, "Known gaps").
``vidbench/fvd2048_16f_8fps`` keeps the unbiased 1/(n-1) (``cov="n-1"``): its numbers are
vidbench's own, and 1/(n-1) keeps every result computed before the field existed valid
under the same hash. The two differ by O(1/n) relative (6.7e-5 at n=2048, d=400 on issue
21's features), below FVD's own 1/n bias, but a preset named after a protocol must give
that protocol's number.

A custom protocol is a dict with the fields of :class:`Protocol` (``Protocol.from_dict``);
``cov`` defaults to "n-1".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from vidbench.errors import UserError
from vidbench.video import RESIZE_METHODS, ViewSpec

BACKBONES = ("i3d", "videomae")
SCALES = ("[-1,1]", "[0,1]")
#: covariance normalisations: 1/n (maximum likelihood) or 1/(n-1) (unbiased)
COV_NORMS = ("n", "n-1")
CLIP_STARTS = ("random", "first")


@dataclass(frozen=True)
class Protocol:
    """One FVD-family protocol. See the module docstring for the presets.

    - ``backbone``: "i3d" or "videomae"; ``weights``: name in the weights manifest;
      ``backbone_options``: e.g. ``{"size": "giant"}`` for VideoMAE.
    - ``num_frames`` frames per clip; ``fps``: resample to this rate by timestamps, or None
      for consecutive source frames (every ``subsample``-th) at the video's own rate.
    - ``clip_start``: "random" (uniform over the valid starts, seeded per video by
      ``seed`` and the video's path) or "first".
    - ``pad``: repeat the last frame when a video is too short (else the video fails).
    - ``size``, ``resize``: the :class:`~vidbench.video.ViewSpec` resize; ``scale``: the
      float range the uint8 frames are mapped to before the backbone.
    - ``n_real``, ``n_fake``: the set sizes published numbers use (fewer gives a warning).
    """

    name: str
    backbone: str
    weights: str
    num_frames: int = 16
    fps: float | None = None
    subsample: int = 1
    clip_start: str = "random"
    pad: bool = False
    size: tuple[int, int] = (224, 224)
    resize: str = "bilinear"
    scale: str = "[-1,1]"
    input: str = "uint8"
    n_real: int = 2048
    n_fake: int = 2048
    seed: int = 0
    backbone_options: dict = field(default_factory=dict)
    #: covariance normalisation of the fitted Gaussians: "n" (maximum likelihood, 1/n, as
    #: StyleGAN-V's ``compute_fvd`` and cd-fvd's ``FeatureStats``) or "n-1" (unbiased)
    cov: str = "n-1"
    description: str = ""

    def __post_init__(self) -> None:
        where = f"protocol {self.name!r}"
        if self.backbone not in BACKBONES:
            raise UserError(f"{where}: unknown backbone {self.backbone!r}; use one of {BACKBONES}")
        if self.scale not in SCALES:
            raise UserError(f"{where}: unknown scale {self.scale!r}; use one of {SCALES}")
        if self.clip_start not in CLIP_STARTS:
            raise UserError(f"{where}: clip_start must be one of {CLIP_STARTS}")
        if self.resize not in RESIZE_METHODS:
            raise UserError(f"{where}: unknown resize {self.resize!r}; use one of "
                            f"{RESIZE_METHODS}")
        if self.num_frames < 1 or self.subsample < 1:
            raise UserError(f"{where}: num_frames and subsample must be >= 1")
        if self.fps is not None and self.fps <= 0:
            raise UserError(f"{where}: fps must be positive or None")
        if self.cov not in COV_NORMS:
            raise UserError(f"{where}: cov must be one of {COV_NORMS}, got {self.cov!r}")
        if self.input != "uint8":
            raise UserError(f"{where}: only uint8 input is supported")
        if not (isinstance(self.size, (tuple, list)) and len(self.size) == 2):
            raise UserError(f"{where}: size must be [height, width]")
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["size"] = list(self.size)
        return d

    def hash(self) -> str:
        """sha256 (16 hex digits) of every field except ``description``. ``cov`` at "n-1"
        (the only normalisation before the field existed) is left out, so protocols that
        keep it keep the hash their earlier results carry; "n" changes the hash."""
        d = self.to_dict()
        d.pop("description", None)
        if d.get("cov") == "n-1":
            d.pop("cov")
        blob = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Protocol:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserError(f"protocol {d.get('name', '?')!r}: unknown fields {unknown}; "
                            f"known: {sorted(known)}")
        if "name" not in d or "backbone" not in d or "weights" not in d:
            raise UserError("a custom protocol needs at least 'name', 'backbone' and 'weights'")
        d = dict(d)
        if "size" in d:
            d["size"] = tuple(d["size"])
        return cls(**d)

    def base_view_spec(self) -> ViewSpec:
        """The view with the clip starting at the video's first frame. With ``fps=None`` the
        frame rate is the video's own and is filled in per video by :meth:`clip_spec`."""
        return ViewSpec(fps=self.fps, num_frames=self.num_frames, start=0.0, pad=self.pad,
                        size=self.size, resize=self.resize)

    def clip_spec(self, timestamps_count: int, source_fps: float, duration: float,
                  video_id: str) -> ViewSpec:
        """The exact view for one video: rate (the protocol's, or the source's divided by
        ``subsample``) and a start drawn from a generator seeded by ``seed`` and
        ``video_id``, so the same video always gives the same clip."""
        if self.fps is not None:
            fps = float(self.fps)
            span = self.num_frames / fps
            room = max(0.0, duration - span)
            step = 1.0 / fps
        else:
            if source_fps <= 0:
                raise UserError(f"{video_id}: unknown frame rate; protocol {self.name} needs it")
            fps = float(source_fps) / self.subsample
            need = (self.num_frames - 1) * self.subsample + 1
            room = max(0, timestamps_count - need) / float(source_fps)
            step = 1.0 / float(source_fps)
        start = 0.0
        if self.clip_start == "random" and room > 0:
            slots = int(room / step + 1e-6) + 1
            start = step * int(_video_rng(self.seed, video_id) % slots)
        return replace(self.base_view_spec(), fps=fps, start=start)


def _video_rng(seed: int, video_id: str) -> int:
    h = hashlib.sha256(f"{seed}:{video_id}".encode()).digest()
    return int.from_bytes(h[:8], "little")


_I3D_TS = "i3d-torchscript"

PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol("stylegan-v/fvd2048_16f", "i3d", _I3D_TS, num_frames=16, cov="n",
                 description="StyleGAN-V FVD: 2048+2048 clips of 16 consecutive frames, "
                             "seeded random start, 224x224 bilinear, [-1,1], I3D logits"),
        Protocol("stylegan-v/fvd2048_128f", "i3d", _I3D_TS, num_frames=128, cov="n",
                 description="StyleGAN-V FVD on 128 consecutive frames"),
        Protocol("stylegan-v/fvd2048_128f_subsample8f", "i3d", _I3D_TS, num_frames=16, cov="n",
                 subsample=8,
                 description="StyleGAN-V FVD on 16 frames taken every 8th source frame"),
        Protocol("vidbench/fvd2048_16f_8fps", "i3d", _I3D_TS, num_frames=16, fps=8.0,
                 pad=True, resize="area", cov="n-1",
                 description="vidbench default: 16 frames resampled by timestamps to 8 fps "
                             "(padded), antialiased resize, I3D logits"),
        Protocol("deepmind-i3d/fvd2048_16f", "i3d", "i3d-kinetics400-deepmind",
                 num_frames=16, cov="n",
                 description="as stylegan-v/fvd2048_16f, with DeepMind's kinetics-i3d "
                             "weights converted to a state dict (VideoGPT/TATS/cd-fvd file)"),
        Protocol("cd-fvd/videomae_16f", "videomae", "videomae-v2-vit-g-ssv2", num_frames=16,
                 cov="n", scale="[0,1]", backbone_options={"size": "giant"},
                 description="content-debiased FVD: VideoMAE-v2 ViT-g SSv2 features, 16 "
                             "consecutive frames, 224x224 bilinear, [0,1]"),
    )
}


def get_protocol(p: str | dict | Protocol) -> Protocol:
    """A preset by name, a custom protocol from a dict, or ``p`` itself."""
    if isinstance(p, Protocol):
        return p
    if isinstance(p, dict):
        return Protocol.from_dict(p)
    if p not in PROTOCOLS:
        raise UserError(f"unknown FVD protocol {p!r}; known: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[p]

