"""Reference baselines for conditioned generation (scheme ``baseline``), the floor a learned
video model has to clear on the physics suites:

- ``baseline:copy-last`` — every generated frame repeats the last conditioning frame (a
  frozen world: perfect size and appearance, no motion).
- ``baseline:frozen-first-frame`` — every frame, the conditioning ones included, repeats the
  first conditioning frame (a still photograph of the start: the "doing nothing" floor of the
  reference model's bar, stricter than copy-last, which keeps the conditioning motion).
- ``baseline:constant-velocity`` — the objects seen in the conditioning frames keep moving
  at the constant velocity fitted to their colour centroids (least squares over the K
  frames); sprites are cut from the last conditioning frame and pasted onto a background
  plate assembled from the conditioning frames. No gravity, no collisions, no floor.
- ``baseline:untrained`` — the shipped DiT's architecture, randomly initialised
  (``init_seed``, default 0): since the network starts as the zero map, the sampler leaves
  the initial Gaussian noise in place; the conditioning frames are kept.
- ``baseline:noise`` — uniform noise after the conditioning frames (no model needed).
- ``baseline:prompt-following`` — for the language-sensitive items of ``physics-lang``
  (:mod:`vidbench.scenarios.language`): reads the prompt (English or Chinese keywords,
  :func:`~vidbench.scenarios.language.read_prompt`) to choose which of the item's two
  scenes to render exactly; a prompt it cannot read (empty, another wording) gets the first
  scene. ``?ignore_prompt=1`` always renders the first scene (the prompt-blind control);
  ``?understands=en`` reads English prompts only (a Chinese prompt is treated as unreadable:
  the "English-only model" whose negative EN/ZH gap the bilingual suites must detect).
  Other physics items get their ground truth. It is the prompt-understanding upper bound:
  its EN/ZH gap is 0 by construction, and a wrong prompt costs it what the metric detects.

Items without conditioning frames get a mid-grey clip from every baseline but ``untrained``.

:func:`find_objects` is the colour-blob detector the constant-velocity baseline (and the
reference model's evaluation) use: objects are saturated blobs (max - min channel above
``sat_thresh``) on a low-saturation background, split into connected components.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vidbench.adapters import Adapter, Generated
from vidbench.errors import UserError
from vidbench.suites import SuiteItem

KINDS = ("copy-last", "frozen-first-frame", "constant-velocity", "untrained", "noise",
         "prompt-following")


@dataclass
class Blob:
    """One saturated connected component: centroid (x, y) in pixels (coverage-weighted),
    area (sum of coverage, pixels), mean colour (RGB), bounding box (y0, y1, x0, x1)."""

    x: float
    y: float
    area: float
    color: np.ndarray
    bbox: tuple[int, int, int, int]


def saturation(frame: np.ndarray) -> np.ndarray:
    f = frame.astype(np.float32)
    return f.max(axis=-1) - f.min(axis=-1)


def find_objects(frame: np.ndarray, sat_thresh: float = 60.0, min_area: float = 1.0,
                 full_sat: float | None = None) -> list[Blob]:
    """Saturated blobs of one (H, W, 3) uint8 frame, largest first. Coverage of a pixel is
    ``clip(sat / full_sat, 0, 1)`` (``full_sat``: the frame's 95th percentile of saturation
    among blob pixels), so antialiased edges count partially."""
    from scipy import ndimage

    sat = saturation(frame)
    mask = sat > sat_thresh * 0.5
    core = sat > sat_thresh
    if not core.any():
        return []
    lab, n = ndimage.label(mask)
    out = []
    fs = full_sat or float(np.percentile(sat[core], 95))
    for i in range(1, n + 1):
        comp = lab == i
        if not (comp & core).any():
            continue
        w = np.clip(sat * comp / max(fs, 1.0), 0, 1)
        a = float(w.sum())
        if a < min_area:
            continue
        ys, xs = np.nonzero(comp)
        cy = float((w[ys, xs] * (ys + 0.5)).sum() / a)
        cx = float((w[ys, xs] * (xs + 0.5)).sum() / a)
        col = frame[comp & core].astype(np.float32).mean(axis=0)
        out.append(Blob(cx, cy, a, col, (int(ys.min()), int(ys.max()) + 1, int(xs.min()),
                                         int(xs.max()) + 1)))
    out.sort(key=lambda b: -b.area)
    return out


def track(frames: np.ndarray, max_objects: int = 4, sat_thresh: float = 60.0
          ) -> list[list[Blob | None]]:
    """Follow the objects of frame 0 (up to ``max_objects``) through ``frames`` by nearest
    colour, then position: returns one list per object, one entry per frame (None where the
    object was not found)."""
    first = find_objects(frames[0], sat_thresh)[:max_objects]
    tracks: list[list[Blob | None]] = [[b] for b in first]
    for f in frames[1:]:
        blobs = find_objects(f, sat_thresh)
        used: set[int] = set()
        for tr in tracks:
            ref = next(b for b in reversed(tr) if b is not None)
            best, best_d = None, 1e9
            for j, b in enumerate(blobs):
                if j in used:
                    continue
                dc = float(np.abs(b.color - ref.color).mean())
                if dc > 45:
                    continue
                d = dc + 0.5 * float(np.hypot(b.x - ref.x, b.y - ref.y))
                if d < best_d:
                    best, best_d = j, d
            if best is None:
                tr.append(None)
            else:
                used.add(best)
                tr.append(blobs[best])
    return tracks


def background_plate(frames: np.ndarray, sat_thresh: float = 60.0) -> np.ndarray:
    """(H, W, 3) float32: for each pixel, its value in the latest frame where it is not
    covered by a (dilated) saturated blob; the median unsaturated colour where it always is."""
    from scipy import ndimage

    H, W = frames.shape[1:3]
    plate = np.zeros((H, W, 3), np.float32)
    have = np.zeros((H, W), bool)
    for f in frames[::-1]:
        obj = ndimage.binary_dilation(saturation(f) > sat_thresh * 0.5, iterations=1)
        take = ~obj & ~have
        plate[take] = f[take]
        have |= take
    if not have.all():
        f = frames[-1]
        low = saturation(f) <= sat_thresh * 0.5
        fill = np.median(f[low], axis=0) if low.any() else np.full(3, 128.0)
        plate[~have] = fill
    return plate


def constant_velocity(cond: np.ndarray, num_frames: int, fps: float,
                      sat_thresh: float = 60.0) -> np.ndarray:
    """Extrapolate the conditioning frames' objects at constant velocity (see module doc)."""
    cond = np.asarray(cond)
    K, H, W = cond.shape[:3]
    out = np.empty((num_frames, H, W, 3), np.uint8)
    out[: min(K, num_frames)] = cond[:num_frames]
    if num_frames <= K:
        return out
    plate = background_plate(cond, sat_thresh)
    last = cond[-1].astype(np.float32)
    blobs = find_objects(cond[-1], sat_thresh)
    tracks = track(cond[::-1], sat_thresh=sat_thresh)  # from the last frame backwards
    sprites = []
    for b, tr in zip(blobs, tracks, strict=False):
        ks = [K - 1 - i for i, o in enumerate(tr) if o is not None]
        pts = [o for o in tr if o is not None]
        if len(pts) >= 2:
            t = np.array(ks, np.float64)
            vx = float(np.polyfit(t, [o.x for o in pts], 1)[0])
            vy = float(np.polyfit(t, [o.y for o in pts], 1)[0])
        else:
            vx = vy = 0.0
        y0, y1, x0, x1 = b.bbox
        y0, y1, x0, x1 = max(0, y0 - 1), min(H, y1 + 1), max(0, x0 - 1), min(W, x1 + 1)
        patch = last[y0:y1, x0:x1]
        bg = plate[y0:y1, x0:x1]
        denom = max(float(np.abs(b.color - bg.mean(axis=(0, 1))).max()), 1.0)
        alpha = np.clip(np.abs(patch - bg).max(axis=-1) / denom, 0, 1)
        # un-premultiplied sprite: the object's colour, with its coverage as alpha
        sprite = np.broadcast_to(b.color.astype(np.float32), patch.shape).copy()
        sprites.append((sprite, alpha, y0, x0, vx, vy))
    for k in range(K, num_frames):
        img = plate.copy()
        for patch, alpha, y0, x0, vx, vy in sprites:
            dy, dx = vy * (k - K + 1), vx * (k - K + 1)
            _paste(img, patch, alpha, y0 + dy, x0 + dx)
        out[k] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return out


def _paste(img: np.ndarray, patch: np.ndarray, alpha: np.ndarray, y: float, x: float) -> None:
    """Alpha-blend ``patch`` with its top-left corner at the sub-pixel position (y, x)
    (bilinear shift of patch and alpha)."""
    import cv2

    H, W = img.shape[:2]
    ph, pw = alpha.shape
    iy, ix = int(np.floor(y)), int(np.floor(x))
    fy, fx = y - iy, x - ix
    M = np.array([[1, 0, fx], [0, 1, fy]], dtype=np.float32)
    big = (ph + 2, pw + 2)
    p = cv2.warpAffine(patch.astype(np.float32), M, big[::-1], flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    a = cv2.warpAffine(alpha.astype(np.float32), M, big[::-1], flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    ys0, xs0 = max(0, iy), max(0, ix)
    ys1, xs1 = min(H, iy + big[0]), min(W, ix + big[1])
    if ys0 >= ys1 or xs0 >= xs1:
        return
    py0, px0 = ys0 - iy, xs0 - ix
    pp = p[py0: py0 + ys1 - ys0, px0: px0 + xs1 - xs0]
    aa = a[py0: py0 + ys1 - ys0, px0: px0 + xs1 - xs0, None]
    img[ys0:ys1, xs0:xs1] = img[ys0:ys1, xs0:xs1] * (1 - aa) + pp * aa


class BaselineAdapter(Adapter):
    """``baseline:copy-last`` | ``baseline:frozen-first-frame`` | ``baseline:constant-velocity``
    | ``baseline:untrained`` | ``baseline:noise`` (see the module docstring)."""

    scheme = "baseline"

    def __init__(self, target: str = "", **options: Any) -> None:
        super().__init__(target, **options)
        if target not in KINDS:
            raise UserError(f"unknown baseline {target!r}; known: {', '.join(KINDS)}")
        self._dit = None
        self.ignore_prompt = str(options.get("ignore_prompt", "0")).lower() in ("1", "true",
                                                                                "yes")
        self.understands = tuple(x.strip() for x in str(options.get(
            "understands", "en,zh")).split(",") if x.strip())
        if target == "untrained":
            from vidbench.models.dit.adapter import DiTAdapter

            self._dit = DiTAdapter(options.get("checkpoint", ""), random_weights="1",
                                   init_seed=options.get("init_seed", "0"),
                                   steps=options.get("steps", "25"))

    def generate_one(self, item: SuiteItem) -> Generated:
        if self._dit is not None:
            g = self._dit.generate_one(item)
            g.params = dict(g.params, baseline="untrained")
            return g
        if self.target == "prompt-following":
            return self._follow_prompt(item)
        T, H, W = item.num_frames, item.height, item.width
        cond = item.conditioning_frames()
        params: dict[str, Any] = {"baseline": self.target,
                                  "cond_frames": 0 if cond is None else int(len(cond))}
        if cond is None or len(cond) == 0:
            return Generated(frames=np.full((T, H, W, 3), 128, np.uint8), fps=item.fps,
                             params=params)
        cond = np.asarray(cond)
        if cond.ndim != 4 or cond.shape[-1] != 3 or cond.dtype != np.uint8:
            raise UserError(f"item {item.item}: conditioning frames must be (K, H, W, 3) uint8, "
                            f"got {cond.shape} {cond.dtype}")
        K = len(cond)
        if self.target == "copy-last":
            out = np.concatenate([cond[:T], np.repeat(cond[-1:], max(0, T - K), axis=0)])
        elif self.target == "frozen-first-frame":
            out = np.repeat(cond[:1], T, axis=0)
        elif self.target == "noise":
            rng = np.random.default_rng(int(item.seed))
            out = np.concatenate([cond[:T], rng.integers(0, 256, (max(0, T - K),) +
                                                         cond.shape[1:], dtype=np.uint8)])
        else:
            out = constant_velocity(cond, T, item.fps)
        return Generated(frames=np.ascontiguousarray(out[:T]), fps=float(item.fps),
                         params=params)

    def _follow_prompt(self, item: SuiteItem) -> Generated:
        from vidbench.scenarios import physics_params, render
        from vidbench.scenarios.language import read_prompt

        T, H, W = item.num_frames, item.height, item.width
        params: dict[str, Any] = {"baseline": self.target, "ignore_prompt": self.ignore_prompt,
                                  "understands": ",".join(self.understands)}
        lang = item.meta.get("language") if isinstance(item.meta, dict) else None
        scene = physics_params(item.meta)
        if isinstance(lang, dict) and isinstance(lang.get("variants"), dict):
            options = list(lang["variants"])
            written_zh = any("\u4e00" <= ch <= "\u9fff" for ch in item.prompt)
            readable = ("zh" if written_zh else "en") in self.understands
            read = None if self.ignore_prompt or not readable else read_prompt(
                str(lang.get("kind")), item.prompt, options)
            params["read"] = read
            scene = lang["variants"][read or options[0]]
        if scene is None:
            return Generated(frames=np.full((T, H, W, 3), 128, np.uint8), fps=item.fps,
                             params=params)
        return Generated(frames=render(scene, T, (H, W), float(item.fps)), fps=float(item.fps),
                         params=params)
