"""Segmentation and tracking of moving objects for :mod:`vidbench.metrics.physics_consistency`.

Pipeline (every step is per frame in 2-D; nothing is smoothed across time, so a corruption
in one frame stays in that frame):

1. **Brightness normalisation** (:func:`normalise_brightness`): each frame is mapped onto the
   temporal median frame by a robust gain/offset fit (offset only where the scene has no
   contrast to fit a gain on), so global exposure flicker is removed before anything else.
2. **Background model**: the per-pixel temporal median of the normalised frames.
3. **Foreground**: max-over-channels distance to the background above an adaptive threshold
   (``max(20, 6 * noise)`` grey levels, noise from the median absolute difference), then a 3x3
   opening, closing and hole filling per frame.
4. **Objects**: connected components per frame, split by colour where a component's core
   colours are bimodal (two touching balls of different colours); *ghosts* (the background model
   still holds an object that has moved away: the frame is locally uniform there) are dropped.
   Each object gets a soft (antialiasing-aware) area and centroid, its mean colour, second-moment
   shape descriptors (elongation, compactness) and whether it touches the frame border.
5. **Tracking** (:func:`track`): Hungarian assignment (``scipy.optimize.linear_sum_assignment``)
   on predicted-centroid distance plus colour and area terms, with colour/area gates but no
   distance gate (a teleport stays one track and is judged by the teleport sub-score); tracks
   may skip frames (a gap is judged by the permanence sub-score).

:func:`render_discs` draws antialiased discs along given tracks over a given background; the
calibration script and the tests use it to render ground truth and its corruptions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

#: Smallest soft area (px at the analysis size) kept as an object.
MIN_AREA = 12.0
#: Thinner structures (rods, strings, edges) are not tracked: elongation (sqrt of the ratio
#: of the second-moment eigenvalues) above this, or a largest inscribed disc radius below
#: MIN_INSCRIBED px.
MAX_ELONGATION = 4.0
MIN_INSCRIBED = 2.5
#: Frames with more objects than this are "cluttered" (noise, camera motion).
MAX_OBJECTS = 16


@dataclass
class Obs:
    """One object in one frame: centroid (x, y) in pixels with pixel centres at +0.5 (y
    down), soft area in px, mean colour, shape descriptors, border contact, bbox."""

    frame: int
    x: float
    y: float
    area: float
    color: np.ndarray
    elong: float
    compact: float
    border: bool
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 (inclusive-exclusive)

    @property
    def radius(self) -> float:
        return math.sqrt(max(self.area, 1e-6) / math.pi)


@dataclass
class Track:
    """A tracked object: its observations in increasing frame order."""

    id: int
    obs: list[Obs] = field(default_factory=list)

    @property
    def frames(self) -> np.ndarray:
        return np.array([o.frame for o in self.obs], dtype=np.int64)

    @property
    def pos(self) -> np.ndarray:
        return np.array([[o.x, o.y] for o in self.obs], dtype=np.float64)

    @property
    def areas(self) -> np.ndarray:
        return np.array([o.area for o in self.obs], dtype=np.float64)

    @property
    def color(self) -> np.ndarray:
        return np.median(np.stack([o.color for o in self.obs]), axis=0)

    @property
    def radius(self) -> float:
        return math.sqrt(float(np.median(self.areas)) / math.pi)


@dataclass
class Segmentation:
    """Normalised frames, background model and per-frame objects of one clip."""

    norm: np.ndarray  # (K, H, W, 3) float32, brightness-normalised
    background: np.ndarray  # (H, W, 3) float32
    fg: np.ndarray  # (K, H, W) uint8 {0, 1} after morphology
    objects: list[list[Obs]]
    threshold: float
    noise: float
    gains: np.ndarray
    offsets: np.ndarray
    cluttered: np.ndarray  # (K,) bool
    ghosts: int = 0
    swept: np.ndarray | None = None  # (H, W) bool: where moving objects passed


# ----------------------------------------------------------------------------- brightness


def _median_frames(x: np.ndarray, max_frames: int = 31) -> np.ndarray:
    k = len(x)
    idx = np.unique(np.linspace(0, k - 1, min(k, max_frames)).round().astype(int))
    return np.median(x[idx], axis=0)


def brightness_fit(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame robust gain and offset onto the temporal median frame (see
    :func:`normalise_brightness`), read from a 4x-subsampled grid only: the working memory is
    1/16 of the frames' as float32, whatever the clip's length."""
    sub = np.asarray(frames)[:, ::4, ::4].astype(np.float32).reshape(len(frames), -1)
    ref = _median_frames(sub)
    k = len(sub)
    gains = np.ones(k)
    offsets = np.zeros(k)
    for i in range(k):
        y = sub[i]
        d = y - ref
        b0 = float(np.median(d))
        r = np.abs(d - b0)
        mad = float(np.median(r))
        keep = r < 3.0 * 1.4826 * mad + 4.0
        xs, ys = ref[keep], y[keep]
        if len(xs) < 16:
            offsets[i] = b0
            continue
        sx = float(xs.std())
        if sx > 8.0:
            a, b = np.polyfit(xs.astype(np.float64), ys.astype(np.float64), 1)
            if 0.2 < a < 5.0:
                gains[i], offsets[i] = a, b
                continue
        offsets[i] = float(np.mean(ys - xs))
    return gains, offsets


def apply_brightness(frame: np.ndarray, gain: float, offset: float) -> np.ndarray:
    """One frame normalised by its gain and offset: ``(frame - offset) / gain``, float32
    (the same numbers as the whole-clip :func:`normalise_brightness`)."""
    return (frame.astype(np.float32) - np.float32(offset)) / np.float32(gain)


def normalise_brightness(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame robust gain/offset normalisation onto the temporal median frame.

    Returns ``(norm, gains, offsets)`` with ``norm = (frame - offset) / gain`` as float32.
    The fit uses a 4x-subsampled grid, starts from the offset-only fit (median difference),
    keeps pixels whose residual is within ``3 * 1.4826 * MAD + 4`` (moving objects are
    outliers) and refits gain and offset by least squares on them; where the inlier
    reference has little contrast (std < 8 grey levels) only the offset is fitted
    (:func:`brightness_fit`).
    """
    gains, offsets = brightness_fit(frames)
    norm = frames.astype(np.float32)  # in place: one float copy of the clip, not three
    norm -= offsets[:, None, None, None].astype(np.float32)
    norm /= gains[:, None, None, None].astype(np.float32)
    return norm, gains, offsets


# ----------------------------------------------------------------------------- segmentation

_K3 = np.ones((3, 3), np.uint8)
_K5 = np.ones((5, 5), np.uint8)
_DISC15 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15))


def _features(mask: np.ndarray, w: np.ndarray, x0: int, y0: int, color: np.ndarray,
              frame: int, hw: tuple[int, int], bbox: tuple[int, int, int, int]) -> Obs | None:
    area = float(w.sum())
    if area < MIN_AREA:
        return None
    ys, xs = np.nonzero(w > 0)
    ww = w[ys, xs]
    cx = float((ww * xs).sum() / area)
    cy = float((ww * ys).sum() / area)
    dx, dy = xs - cx, ys - cy
    sxx = float((ww * dx * dx).sum() / area) + 1.0 / 12
    syy = float((ww * dy * dy).sum() / area) + 1.0 / 12
    sxy = float((ww * dx * dy).sum() / area)
    tr, det = sxx + syy, max(sxx * syy - sxy * sxy, 1e-9)
    disc = math.sqrt(max(tr * tr / 4 - det, 0.0))
    l1, l2 = tr / 2 + disc, max(tr / 2 - disc, 1e-9)
    h, wd = hw
    bx0, by0, bx1, by1 = bbox
    border = bx0 <= 1 or by0 <= 1 or bx1 >= wd - 1 or by1 >= h - 1
    return Obs(frame, cx + x0 + 0.5, cy + y0 + 0.5, area, color, math.sqrt(l1 / l2),
               area / (4 * math.pi * math.sqrt(det)), border, bbox)


def _is_ghost(norm: np.ndarray, bg: np.ndarray, comp: np.ndarray, ring: np.ndarray) -> bool:
    """The frame is locally uniform where the background model differs: a moved-away object
    left in the background model, not an object in this frame. Also when 40% of the ring
    around the component shows the inside's colour (within 25) while the background model
    differs inside by over 40: scenery the background model got wrong."""
    if ring.sum() < 4 or comp.sum() < 1:
        return False
    fin = norm[comp].mean(axis=0)
    ring_px = norm[ring]
    fring = ring_px.mean(axis=0)
    bin_ = bg[comp].mean(axis=0)
    differs = float(np.abs(fin - bin_).max())
    if float(np.abs(fin - fring).max()) < 0.35 * differs:
        return True
    # or: a good part of the surroundings looks like the inside (a piece of scenery that the
    # background model got wrong), while the background model differs inside
    match = float((np.abs(ring_px - fin).max(axis=-1) < 25.0).mean())
    return match >= 0.4 and differs > 40.0


def _coverage(nrm: np.ndarray, bgl: np.ndarray, color: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: the coverage ``c`` in [0, 1] that best explains the pixel as
    ``bg + c (color - bg)`` (an antialiased edge mixes the two), and the max-channel
    residual of that explanation."""
    dvec = color[None, None, :] - bgl
    pv = nrm - bgl
    den = np.maximum((dvec * dvec).sum(-1), 1.0)
    c = np.clip((pv * dvec).sum(-1) / den, 0.0, 1.0)
    res = np.abs(pv - c[..., None] * dvec).max(-1)
    return c, res


def _core_colour(pm: np.ndarray, nrm: np.ndarray, dl: np.ndarray) -> np.ndarray:
    v = dl[pm]
    core = pm & (dl >= 0.7 * float(np.quantile(v, 0.8)))
    if core.sum() < 3:
        core = pm
    return np.median(nrm[core], axis=0)


def _split_parts(comp: np.ndarray, nrm: np.ndarray, bgl: np.ndarray, dl: np.ndarray
                 ) -> list[np.ndarray | tuple]:
    """Split a component by colour: pixels that are not a mix of the background and the
    component's core colour (residual > 40 grey levels; e.g. a touching ball of another
    colour, or a rod) form separate parts (after a 3x3 opening). An unsplit component comes
    back as ``(mask, colour, coverage, residual)`` so they are not computed twice."""
    color = _core_colour(comp, nrm, dl)
    c, res = _coverage(nrm, bgl, color)
    other = (comp & (res > 40.0)).astype(np.uint8)
    other = cv2.morphologyEx(other, cv2.MORPH_OPEN, _K3)
    if other.sum() < MIN_AREA:
        return [(comp, color, c, res)]
    parts = []
    for m in (comp & ~other.astype(bool), other.astype(bool)):
        n, lab = cv2.connectedComponents(m.astype(np.uint8), connectivity=8)
        for q in range(1, n):
            pm = lab == q
            if pm.sum() >= MIN_AREA:
                parts.append(pm)
    return parts


def _part(pm: np.ndarray | tuple, nrm: np.ndarray, bgl: np.ndarray, dl: np.ndarray,
          grown: np.ndarray, frame: int, hw: tuple[int, int], ex0: int, ey0: int
          ) -> Obs | None:
    """Features of one object part: soft area/centroid from the per-pixel coverage over the
    part grown by one pixel (antialiased rim included), pixels of other colours excluded."""
    pre = pm if isinstance(pm, tuple) else None
    pm = pre[0] if pre is not None else pm
    pad = np.pad(pm.astype(np.uint8), 1)
    if float(cv2.distanceTransform(pad, cv2.DIST_L2, 3).max()) < MIN_INSCRIBED:
        return None  # a thin structure (rod, string, edge): not tracked
    if pre is not None:
        color, c, res = pre[1], pre[2], pre[3]
    else:
        color = _core_colour(pm, nrm, dl)
        c, res = _coverage(nrm, bgl, color)
    ok = res <= 40.0
    body = cv2.morphologyEx((pm & ok & (c >= 0.5)).astype(np.uint8), cv2.MORPH_OPEN, _K3)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(body, connectivity=8)
    if n < 2:
        return None
    body = lab == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    # a hole inside the body: the background model holds the object there (it covered those
    # pixels in every frame); count the pixels of the object's colour as covered
    filled = _fill_holes(body.astype(np.uint8)).astype(bool)
    hole = filled & ~body
    region = cv2.dilate(filled.astype(np.uint8), _K3).astype(bool) & grown & ok
    soft = c * (region | body)
    if hole.any():
        soft[hole & (np.abs(nrm - color).max(-1) < 40.0)] = 1.0
        body = filled
    pm = body
    ys, xs = np.nonzero(pm)
    bbox = (int(xs.min()) + ex0, int(ys.min()) + ey0, int(xs.max()) + ex0 + 1,
            int(ys.max()) + ey0 + 1)
    return _features(pm, soft, ex0, ey0, color, frame, hw, bbox)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` (uint8 {0,1}) with the regions it encloses filled."""
    h, w = mask.shape
    inv = np.ones((h + 2, w + 2), np.uint8)
    inv[1:-1, 1:-1] = 1 - mask
    ff = np.zeros((h + 4, w + 4), np.uint8)
    cv2.floodFill(inv, ff, (0, 0), 2)
    return ((mask == 1) | (inv[1:-1, 1:-1] == 1)).astype(np.uint8)


def background_model(norm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Background image (H, W, 3) float32 of brightness-normalised frames, and the region
    (H, W) bool that moving objects swept (where the background was estimated).

    Start from the per-pixel temporal median (up to 25 frames). Where some frame differs from
    it by more than 20 grey levels (the region swept by moving objects, dilated 3x3, closed
    with a 15 px disc, holes filled), the median may hold a slow object that covered the
    pixel in most frames. There a spatial estimate ``S`` is inpainted (OpenCV Telea) from the
    never-changing surroundings, and each pixel takes its own value (in up to 12 frames) that
    minimises ``|value - S| - 40 * support`` (support: the fraction of those frames showing
    that value within 15 grey levels; averaged over them). ``S`` itself is used where the
    pixel never changed but is enclosed by the swept region, or where the chosen value is seen
    in 80% of the frames yet differs from ``S`` by over 40 where ``S`` is flat (Sobel
    ``|gx| + |gy| < 24`` within 2 px): an object covered it nearly the whole time. So the
    background is made of real frame values, chosen by spatial context.
    """
    k = len(norm)
    idx = np.unique(np.linspace(0, k - 1, min(k, 25)).round().astype(int))
    sub = norm[idx]
    bg = np.median(sub, axis=0)
    changed = (np.abs(sub - bg[None]).max(axis=-1) > 20.0).any(axis=0).astype(np.uint8)
    if not changed.any():
        return bg.astype(np.float32), changed.astype(bool)
    swept = cv2.dilate(changed, _K3)
    changed = _fill_holes(cv2.morphologyEx(swept, cv2.MORPH_CLOSE, _DISC15))
    if changed.mean() > 0.6:
        return bg.astype(np.float32), changed.astype(bool)
    u8 = np.clip(np.rint(bg), 0, 255).astype(np.uint8)
    est = cv2.inpaint(u8, changed, 5, cv2.INPAINT_TELEA).astype(np.float32)
    sel = changed.astype(bool)
    ci = np.unique(np.linspace(0, len(sub) - 1, min(len(sub), 12)).round().astype(int))
    cand = sub[ci][:, sel]  # (M, P, 3)
    target = est[sel]  # (P, 3)
    dist = np.abs(cand - target[None]).max(axis=-1)  # (M, P)
    # support: the fraction of frames showing (within 15) the same value; the background is
    # seen whenever nothing covers the pixel, an antialiased edge only for a frame or two
    pair = np.abs(cand[:, None] - cand[None, :]).max(axis=-1) <= 15.0  # (M, M, P)
    support = pair.mean(axis=1)
    score = dist - 40.0 * support
    pick = np.argmin(score, axis=0)
    best_val = cand[pick, np.arange(cand.shape[1])]
    wgt = (np.abs(cand - best_val[None]).max(axis=-1) <= 15.0).astype(np.float32)
    val = (cand * wgt[..., None]).sum(0) / wgt.sum(0)[:, None]
    # never changed, yet unlike its surroundings (or enclosed by the swept region): an object
    # covered it in every frame; take the spatial estimate
    cols = np.arange(cand.shape[1])
    mostly = support[pick, cols] >= 0.8
    gray = est.mean(axis=-1)
    grad = np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)) + np.abs(
        cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3))
    flat = cv2.dilate(grad, _K5)[sel] < 24.0  # S is trustworthy only where it is flat
    inside = (swept == 0)[sel] | (mostly & flat & (dist[pick, cols] > 40.0))
    val[inside] = target[inside]
    bg[sel] = val
    return bg.astype(np.float32), sel


def segment(frames: np.ndarray) -> Segmentation:
    """Normalise, model the background and extract per-frame objects (see module doc)."""
    norm, gains, offsets = normalise_brightness(frames)
    bg, swept = background_model(norm)
    diff: np.ndarray = np.empty(norm.shape[:3], np.float32)
    for i in range(len(norm)):  # frame by frame: no (K, H, W, 3) temporaries
        diff[i] = np.abs(norm[i] - bg).max(axis=-1)
    noise = 1.4826 * float(np.median(diff[:, ::2, ::2]))
    thr = max(20.0, 6.0 * noise)
    k, h, w = diff.shape
    fg = np.empty((k, h, w), np.uint8)
    objects: list[list[Obs]] = []
    cluttered = np.zeros(k, bool)
    ghosts = 0
    for i in range(k):
        m = (diff[i] > thr).astype(np.uint8)
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, _K3)
        m = _fill_holes(cv2.morphologyEx(m, cv2.MORPH_CLOSE, _K3))
        fg[i] = m
        n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
        big = [j for j in range(1, n) if stats[j, cv2.CC_STAT_AREA] >= MIN_AREA]
        if len(big) > MAX_OBJECTS:
            cluttered[i] = True
            objects.append([])
            continue
        frame_objs: list[Obs] = []
        for j in big:
            x0, y0, bw, bh = (int(v) for v in stats[j, :4])
            ex0, ey0 = max(0, x0 - 3), max(0, y0 - 3)
            ex1, ey1 = min(w, x0 + bw + 3), min(h, y0 + bh + 3)
            lab = labels[ey0:ey1, ex0:ex1]
            comp = lab == j
            nrm = norm[i, ey0:ey1, ex0:ex1]
            bgl = bg[ey0:ey1, ex0:ex1]
            dl = diff[i, ey0:ey1, ex0:ex1]
            others = (lab != j) & (lab != 0)
            grown = cv2.dilate(comp.astype(np.uint8), _K3).astype(bool) & ~others
            ring = cv2.dilate(comp.astype(np.uint8), _K5).astype(bool) & ~comp & ~others
            ring &= dl <= thr
            if _is_ghost(nrm, bgl, comp, ring):
                ghosts += 1
                continue
            for pm in _split_parts(comp, nrm, bgl, dl):
                ob = _part(pm, nrm, bgl, dl, grown, i, (h, w), ex0, ey0)
                if ob is not None and ob.elong <= MAX_ELONGATION:
                    frame_objs.append(ob)
        objects.append(frame_objs)
    return Segmentation(norm, bg, fg, objects, thr, noise, gains, offsets, cluttered, ghosts,
                        swept)


# ----------------------------------------------------------------------------- tracking


def _predict(tr: Track, frame: int) -> np.ndarray:
    p = np.array([tr.obs[-1].x, tr.obs[-1].y])
    if len(tr.obs) >= 2:
        a, b = tr.obs[-2], tr.obs[-1]
        if b.frame - a.frame == 1:
            v = np.array([b.x - a.x, b.y - a.y])
            return p + v * (frame - b.frame)
    return p


def track(objects: list[list[Obs]], hw: tuple[int, int], *, max_colour: float = 80.0,
          max_log_area: float = 1.1) -> list[Track]:
    """Link per-frame objects into tracks by Hungarian assignment.

    Cost of linking track ``T`` to object ``o`` in frame ``k``:
    ``|pred_T(k) - o| / diag + |colour_T - colour_o|_inf / 255 + 0.3 |log(area_o / area_T)|
    + 0.02 * (frames skipped)``, allowed only when the colour distance is below
    ``max_colour`` grey levels and the area ratio below ``exp(max_log_area)``.
    """
    diag = math.hypot(*hw)
    tracks: list[Track] = []
    for k, objs in enumerate(objects):
        if not objs:
            continue
        live = tracks
        if live:
            cost = np.full((len(live), len(objs)), 1e6)
            for a, tr in enumerate(live):
                pred = _predict(tr, k)
                last = tr.obs[-1]
                if last.frame >= k:
                    continue
                recent = tr.obs[-5:]
                tc = np.mean([o.color for o in recent], axis=0)
                ta = float(np.median([o.area for o in recent]))
                for b, ob in enumerate(objs):
                    dc = float(np.abs(ob.color - tc).max())
                    da = abs(math.log(ob.area / ta))
                    if dc > max_colour or da > max_log_area:
                        continue
                    dist = math.hypot(ob.x - pred[0], ob.y - pred[1]) / diag
                    cost[a, b] = dist + dc / 255.0 + 0.3 * da + 0.02 * (k - last.frame - 1)
            rows, cols = linear_sum_assignment(cost)
            used = set()
            for a, b in zip(rows, cols, strict=True):
                if cost[a, b] < 1e5:
                    live[a].obs.append(objs[b])
                    used.add(b)
        else:
            used = set()
        for b, ob in enumerate(objs):
            if b not in used:
                tracks.append(Track(len(tracks), [ob]))
    return tracks


# ----------------------------------------------------------------------------- rendering


def render_discs(centres: np.ndarray, radii: np.ndarray, colors: list, background: np.ndarray,
                 *, present: np.ndarray | None = None) -> np.ndarray:
    """Antialiased ellipses over a background, one frame per time step.

    ``centres`` (N, T, 2) pixel coordinates (x, y; pixel centres at +0.5), ``radii`` (N, T) or
    (N, T, 2) (rx, ry) in pixels, ``colors`` N RGB triples, ``background`` (H, W, 3) float or
    uint8 (one static image) or (T, H, W, 3) (a per-frame background), ``present`` (N, T) bool
    (False: the object is not drawn). Returns (T, H, W, 3) uint8.
    """
    centres = np.asarray(centres, dtype=np.float64)
    n, t = centres.shape[:2]
    radii = np.asarray(radii, dtype=np.float64)
    if radii.ndim == 2:
        radii = np.stack([radii, radii], axis=-1)
    bgr = np.asarray(background, dtype=np.float32)
    h, w = bgr.shape[-3:-1]
    out = np.empty((t, h, w, 3), np.uint8)
    for k in range(t):
        img = (bgr[k] if bgr.ndim == 4 else bgr).copy()
        for i in range(n):
            if present is not None and not present[i, k]:
                continue
            cx, cy = centres[i, k]
            rx, ry = radii[i, k]
            y0, y1 = max(0, int(cy - ry - 2)), min(h, int(cy + ry + 3))
            x0, x1 = max(0, int(cx - rx - 2)), min(w, int(cx + rx + 3))
            if y0 >= y1 or x0 >= x1 or rx <= 0 or ry <= 0:
                continue
            yy = np.arange(y0, y1)[:, None] + 0.5
            xx = np.arange(x0, x1)[None, :] + 0.5
            rho = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
            cov = np.clip((1.0 - rho) * min(rx, ry) + 0.5, 0.0, 1.0)[..., None]
            patch = img[y0:y1, x0:x1]
            patch *= 1.0 - cov
            patch += cov * np.asarray(colors[i], dtype=np.float32)
        out[k] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return out
