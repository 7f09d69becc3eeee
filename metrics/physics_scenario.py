"""``physics_scenario``: a generated video of a physics suite item, scored against the item's
analytic ground truth (``meta["physics"]``, see :mod:`vidbench.scenarios`).

View: the source frames with their own timestamps (no fps resampling: every rate is in true
seconds, so container fps does not move the score), resized to 64x64 (INTER_AREA; the scene is
the unit square, so a non-square video is read in the same normalised coordinates).

1. **State extraction, colour keyed.** Each pixel's opponent chroma
   ``(a, b) = (R - (G + B) / 2, sqrt(3) / 2 (G - B))``; each object's chroma vector is measured
   in frame 0 (pixels within 40 degrees of hue of the declared colour, the 30% most
   saturated). A pixel's coverage by the object is its chroma projected on that vector over
   the object's core chroma *in the same frame* (95th percentile), weighted down beyond 20-35
   degrees of hue distance: blending with a grey background scales chroma linearly, so
   antialiased edges give sub-pixel centroids, and a global brightness gain or offset does
   not change coverage. The largest connected blob (coverage > 0.5, dilated by 1 px) is kept
   per object and frame. States: soft area, centroid (normalised coordinates).
2. **Time scale.** The ground truth is compared at scene time ``tau = s t``; ``s`` (1/3-3,
   log grid + refinement, ties broken towards 1) minimises the mean position error. Every
   physics sub-score below is computed in scene time, so a video in slow motion is not read as
   breaking physics; ``timing = exp(-|ln s| / 0.5)`` carries the speed error (weight 1).
   Kang-style real-time errors (``s = 1``) are in details (``position_error_t1``,
   ``velocity_error_t1``). When even the best ``s`` leaves a mean position error above 0.1
   (the objects are not where the truth has them, e.g. a text-only model that set the scene
   up differently), ``s = 1`` is used, ``time_aligned`` is false and ``timing`` is left out.
3. **Sub-scores** (each in [0, 1], higher is better; ``tau`` = tolerance):

   ============  ==========================================================  ==========
   presence      exp(-f / 0.1), f = fraction of frames where "object shown"   all
                 (soft area >= 25% of its full disc) disagrees with truth
   size          exp(-(std + |mean| / 4) / 0.3) of log(area / true visible     all
                 area): constancy fully, a constant bias (codec blur) a quarter
   position      exp(-mean min(|p - p_true|, 0.3) / 0.05) (missing = 0.3)     all
   velocity      exp(-mean |dp - dp_true| / (mean |dp_true| + 0.1 dt) / 0.45)  all
                 over consecutive frame pairs (Kang et al. 2024 style)
   mask          mean of the Physics-IQ ratios: spatial IoU, spatiotemporal    all
                 IoU, weighted spatial IoU and MSE of the object masks, each
                 divided by its value between the ground truth and the same
                 scene with initial conditions perturbed by 2-3% ("physical
                 variance", 4 draws; MSE inverted), capped at 1
   law           recovered law parameters vs truth (scene time):              per
                 free fall / projectile g (exp(-rel err / 0.2)); bounce g and  scenario
                 restitution e (exp(-|de| / 0.1)); collision post-collision
                 velocities predicted from the measured pre-collision ones
                 (error / closing speed, tau 0.15); pendulum angle curve
                 (rms / theta0, tau 0.15); incline acceleration (tau 0.2);
                 uniform motion: velocity change over the clip / (speed + 0.1)
                 (tau 0.2)
   conservation  bounce e <= 1 and apex ratio <= 1 (tau 0.05); collision      bounce,
                 momentum (tau 0.15) and kinetic energy ratio (tau 0.2);      collision,
                 pendulum amplitude <= theta0 (tau 0.1) and rod length        pendulum
                 (relative, tau 0.1)
   invariant     time-scale-invariant shape checks: straight path (uniform);  all
                 vertical path, start from rest and downward acceleration
                 (fall); y(x) on the true parabola (projectile); apex ratio
                 sqrt(h_{n+1} / h_n) = e (bounce; with e = 0, the ball stays
                 down after impact, exp(-rise / drop / 0.1)); velocity ratios across the
                 collision; rod length (pendulum); distance to the ramp = r
                 and start from rest (incline)
   timing        exp(-|ln s| / 0.5)                                          all
   ============  ==========================================================  ==========

   Trajectory terms (presence, size, position, velocity, mask) use the frames after the
   item's conditioning frames (``meta["cond_frames"]``) when 3 or more remain; law fits use
   all frames. The law, conservation and invariant checks of a scenario are its class's
   :meth:`~vidbench.scenarios.base.Scenario.check` (``bench/scenarios/<scenario>.py``), so a
   new scenario brings its own.

Value: weighted geometric mean of the applicable sub-scores (all weights 1), floored
at 1e-3, so one severe violation pulls it down. Range [0, 1], higher is better. NaN with a
reason for a video without physics parameters in its meta or with fewer than 4 frames.
:meth:`PhysicsScenario.aggregate` reports ID and OOD buckets (and each scenario) separately
in its details. Weight-free and deterministic; ``mode`` has no VBench counterpart and does
not change the number.

Validity (tests/test_physics_scenario.py renders every clip): clean ground truth >= 0.95 at
64x64 (mean 0.994 over 28 clips); rendered at 32x32 and passed through H.264 CRF 18
(physics-mini's shape) mean 0.945; ``vidbench run --model physics-gt --suite physics-mini``
0.942 (baseline:copy-last 0.32, constant-velocity 0.26, noise 0.017). ROC-AUC clean vs
corrupted (7 scenarios x ID/OOD x 2 seeds):

===================  ======  ========  =====================
corruption           kind    64x64     32x32 H.264 CRF 18
===================  ======  ========  =====================
teleport             viol.   1.000     1.000
vanish (mid-clip)    viol.   1.000     1.000
grow / shrink        viol.   1.0/1.0   1.0/1.0
jitter               viol.   1.000     1.000
anti-gravity         viol.   1.000     1.000
linear fall          viol.   1.000     1.000
energy-gaining       viol.   1.000     1.000
momentum-violating   viol.   1.000     1.000
time reversal        viol.   1.000     1.000
flicker              nuis.   0.856     0.483   (mean drop <= 0.01)
slow motion x0.5     nuis.   1.000     1.000   (``timing`` moves, laws pass)
H.264 CRF 35         nuis.   0.997     -
textured background  nuis.   0.712     0.693
distractor           nuis.   0.579     0.543
===================  ======  ========  =====================

Blind to: anything outside the colour-keyed objects (background, scenery, lighting, a
distractor of another hue: deliberately); an object drawn in a hue far from its declared
colour (it is "missing"); a distractor of the *same* hue (it can be taken for the object);
rotation and texture of the objects; depth; how the scenery itself is drawn (floor, ramp,
rod); a wrong absolute speed is only penalised through ``timing`` (after time alignment a
world with a different g that is consistent in itself is not a physics violation).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import ndimage

from vidbench.fileio import clean_json
from vidbench.registry import PerVideoMetric, Score, VideoContext
from vidbench.scenarios import (
    Checks,
    Track,
    check_params,
    coverage,
    get_scenario,
    physics_params,
    trajectory,
)
from vidbench.scenarios.base import FLOOR
from vidbench.scenarios.base import score as _sc
from vidbench.scenarios.corrupt import PHYSICAL
from vidbench.stats import Aggregate, mean_with_ci
from vidbench.video import ViewSpec

#: ROC-AUC of clean ground-truth renders vs each corruption (7 scenarios x ID/OOD x 2 seeds,
#: 16 frames at 8 fps; ``perf/physics.py scenario_roc``): rendered at 64x64 (``raw64``) and
#: at 32x32 through H.264 CRF 18 as physics-mini runs (``h264_32``). Violations are 1.0
#: everywhere; nuisances (flicker .. distractor) should stay low (their score drop is small:
#: docs/physics.md has the means).
ROC_AUC: dict[str, dict[str, float]] = {
    "raw64": {**dict.fromkeys(PHYSICAL, 1.0), "flicker": 0.856, "slow_motion": 1.0,
              "h264_crf35": 0.997, "texture": 0.712, "distractor": 0.579},
    "h264_32": {**dict.fromkeys(PHYSICAL, 1.0), "flicker": 0.483, "slow_motion": 1.0,
                "texture": 0.693, "distractor": 0.543},
}

WEIGHTS = {"presence": 1.0, "size": 1.0, "position": 1.0, "velocity": 1.0, "mask": 1.0,
           "law": 1.0, "conservation": 1.0, "invariant": 1.0, "timing": 1.0}
#: Range of playback speeds the time alignment considers (scene time = s * video time): wide
#: enough for slow motion x0.5 and fast motion x2, narrow enough that a frozen video cannot
#: pass for extreme slow motion of the scene.
S_MIN, S_MAX = 1.0 / 3.0, 3.0
_MISSING = 0.3  # position error charged for a frame where the object should be but is not
_ALIGN_MAX = 0.1  # mean position error above which no time scale is trusted


def _gmean(vals: list[float]) -> float:
    v = np.maximum(np.asarray(vals, dtype=np.float64), FLOOR)
    return float(np.exp(np.log(v).mean()))


# ------------------------------------------------------------------------- extraction


def _chroma(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = frames.astype(np.float32)
    a = f[..., 0] - 0.5 * (f[..., 1] + f[..., 2])
    b = 0.8660254 * (f[..., 1] - f[..., 2])
    return a, b


def _rgb_chroma(rgb: Any) -> np.ndarray:
    r, g, b = (float(v) for v in rgb)
    return np.array([r - 0.5 * (g + b), 0.8660254 * (g - b)])


def _measure_colour(a0: np.ndarray, b0: np.ndarray, declared: Any) -> tuple[np.ndarray, float]:
    """(unit chroma direction, chroma magnitude) of an object, measured in frame 0."""
    d = _rgb_chroma(declared)
    dn = float(np.hypot(*d))
    u = d / max(dn, 1e-6)
    mag = np.hypot(a0, b0)
    proj = a0 * u[0] + b0 * u[1]
    ok = (mag > 30) & (proj > mag * math.cos(math.radians(40)))
    if ok.sum() >= 3:
        m = mag[ok]
        top = m >= np.quantile(m, 0.7)
        va, vb = float(np.median(a0[ok][top])), float(np.median(b0[ok][top]))
        c = np.array([va, vb])
        cn = float(np.hypot(*c))
        if cn > 1e-6:
            return c / cn, cn
    return u, dn


def _keyed(a: np.ndarray, b: np.ndarray, u: np.ndarray, c0: float) -> np.ndarray:
    """Soft coverage (T, H, W) of the object with chroma direction ``u``."""
    proj = a * u[0] + b * u[1]
    perp = np.abs(-a * u[1] + b * u[0])
    t1, t2 = math.tan(math.radians(20)), math.tan(math.radians(35))
    w = np.clip((t2 * proj - perp) / np.maximum((t2 - t1) * proj, 1e-6), 0, 1)
    valid = proj > max(10.0, 0.12 * c0)
    core = valid & (w > 0.5) & (proj > 0.35 * c0)
    alpha = np.zeros_like(proj)
    for k in range(proj.shape[0]):
        ck = proj[k][core[k]]
        ref = float(np.quantile(ck, 0.95)) if ck.size >= 3 else c0
        alpha[k] = np.clip(proj[k] / max(ref, 1e-6), 0, 1) * w[k] * valid[k]
    return alpha


def _largest_blob(alpha: np.ndarray) -> np.ndarray:
    out = np.zeros_like(alpha)
    st = np.ones((3, 3), bool)
    for k in range(alpha.shape[0]):
        lab, n = ndimage.label(alpha[k] > 0.5)
        if n == 0:
            continue
        mass = ndimage.sum(alpha[k], lab, index=np.arange(1, n + 1))
        keep = lab == (int(np.argmax(mass)) + 1)
        keep = ndimage.binary_dilation(keep, structure=st)
        out[k] = alpha[k] * keep
    return out


def _luma_coverage(frames: np.ndarray, keyed: list[np.ndarray]) -> tuple[list[np.ndarray], dict]:
    """Refine chroma-keyed coverage with luma, which video codecs keep at full resolution
    (4:2:0 halves chroma): inside each object's dilated chroma region, coverage =
    (Y - Y_bg) / (Y_obj - Y_bg), with Y_bg the per-pixel temporal median of luma over the
    frames where no object is near that pixel, and each frame's luma divided by its global gain
    (least squares against Y_bg over free pixels, so brightness flicker cancels). Objects whose
    luma contrast with the background is under 20 grey levels keep their chroma coverage."""
    f = frames.astype(np.float32)
    y = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
    st = np.ones((1, 5, 5), bool)
    regions = [ndimage.binary_dilation(k > 0.2, structure=st) for k in keyed]
    occupied = np.logical_or.reduce(regions)
    free = ~occupied
    t = y.shape[0]

    def bg_of(yn: np.ndarray) -> np.ndarray:
        masked = np.where(free, yn, np.nan)
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                bg = np.nanmedian(masked, axis=0)
        ok = np.isfinite(bg)
        if not ok.any():
            return np.full(bg.shape, float(np.median(yn)), np.float32)
        if not ok.all():  # never-free pixels take the nearest free pixel's background
            idx = ndimage.distance_transform_edt(~ok, return_distances=False, return_indices=True)
            bg = bg[idx[0], idx[1]]
        return bg.astype(np.float32)

    bg = bg_of(y)
    gain = np.ones(t, np.float32)
    for k in range(t):
        fk = free[k]
        den = float((bg[fk] ** 2).sum())
        if fk.sum() > 16 and den > 1e-3:
            gain[k] = float(np.clip((y[k][fk] * bg[fk]).sum() / den, 0.5, 2.0))
    yn = y / gain[:, None, None]
    bg = bg_of(yn)
    out: list[np.ndarray] = []
    info: dict[str, Any] = {"gain_range": [float(gain.min()), float(gain.max())],
                            "luma_contrast": []}
    for kc, reg in zip(keyed, regions, strict=True):
        core = kc > 0.9
        y_obj = float(np.median(yn[core])) if core.sum() >= 3 else float("nan")
        # per pixel: Y = alpha Y_obj + (1 - alpha) Y_bg (an opaque object over any background)
        contrast = y_obj - bg[None]
        info["luma_contrast"].append(float(np.median(contrast)) if core.sum() >= 3 else None)
        if not math.isfinite(y_obj):
            out.append(kc)
            continue
        ok = np.abs(contrast) >= 20.0
        with np.errstate(divide="ignore", invalid="ignore"):
            al_y = np.clip((yn - bg[None]) / contrast, 0.0, 1.0)
        # grey scenery next to the object (a pendulum rod, a floor) has luma contrast but
        # no chroma: gate by chroma evidence, loosely (4:2:0 chroma bleeds 1-2 px); where
        # the object's luma is close to the background's, keep the chroma coverage
        gate = np.clip(kc / 0.25, 0.0, 1.0)
        al = np.where(ok, al_y * gate, kc) * reg
        out.append(al.astype(np.float32))
    if len(out) > 1:  # share pixels claimed by several objects by their chroma evidence
        tot = np.sum(keyed, axis=0) + 1e-6
        both = np.sum(regions, axis=0) > 1
        out = [np.where(both, al * kc / tot, al) for al, kc in zip(out, keyed, strict=True)]
    return out, info


def _states(alpha: np.ndarray) -> dict[str, np.ndarray]:
    t, h, w = alpha.shape
    area = alpha.sum((1, 2))
    ys = (np.arange(h) + 0.5) / h
    xs = (np.arange(w) + 0.5) / w
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = (alpha.sum(1) * xs[None]).sum(1) / area
        cy = (alpha.sum(2) * ys[None]).sum(1) / area
    return {"area": area, "x": cx, "y": cy}


# ----------------------------------------------------------------------------- helpers


def _perturbed(params: dict, seed: int, j: int) -> dict:
    """The same scene with its initial conditions perturbed by 2-3% (random signs): start
    positions by 2-3% of the frame, velocities, angles and law parameters by 2-3% of their
    value (restitution capped at 1)."""
    rng = np.random.default_rng([seed, j, 4242])
    p = copy.deepcopy(params)

    def step() -> float:
        return float(rng.choice([-1, 1]) * rng.uniform(0.02, 0.03))

    def rel(v: float) -> float:
        return float(v) * (1.0 + step())

    def shift(v: float) -> float:
        return float(v) + step()

    for key, fn in (("x0", shift), ("y0", shift), ("s0", shift), ("vx0", rel), ("vy0", rel),
                    ("theta0", rel), ("g", rel), ("restitution", rel), ("length", rel)):
        if key in p:
            p[key] = [fn(v) for v in p[key]] if isinstance(p[key], list) else fn(p[key])
    if "restitution" in p:
        p["restitution"] = min(1.0, float(p["restitution"]))
    if "s0" in p:
        p["s0"] = max(0.0, float(p["s0"]))
    return p


def _mask_metrics(gen: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Physics-IQ style metrics between two (T, H, W) soft object masks."""
    g, r = gen > 0.5, ref > 0.5
    sg, sr = g.any(0), r.any(0)
    union = (sg | sr).sum()
    spatial = float((sg & sr).sum() / union) if union else 1.0
    vu = (g | r).sum()
    st = float((g & r).sum() / vu) if vu else 1.0
    wg, wr = g.sum(0).astype(np.float64), r.sum(0).astype(np.float64)
    den = np.maximum(wg, wr).sum()
    weighted = float(np.minimum(wg, wr).sum() / den) if den else 1.0
    mse = float(((gen - ref) ** 2).mean())
    return {"spatial_iou": spatial, "spatiotemporal_iou": st, "weighted_spatial_iou": weighted,
            "mse": mse}


# ----------------------------------------------------------------------------- the metric


class PhysicsScenario(PerVideoMetric):
    """Score a video against its physics suite item's analytic ground truth (module doc)."""

    name: ClassVar[str] = "physics_scenario"
    version: ClassVar[str] = "1"
    higher_is_better: ClassVar[bool] = True

    def __init__(self, mode: str = "default", *, device: str = "cpu",
                 random_weights: bool = False, size: int = 64, variance_draws: int = 4,
                 fit_time_scale: bool = True, **options: Any) -> None:
        super().__init__(mode, device=device, random_weights=random_weights, size=size,
                         variance_draws=variance_draws, fit_time_scale=fit_time_scale,
                         **options)
        self.size = int(size)
        self.variance_draws = int(variance_draws)
        self.fit_time_scale = bool(fit_time_scale)

    def view_spec(self) -> ViewSpec:
        return ViewSpec(size=(self.size, self.size), resize="area")

    # -------------------------------------------------------------------------- scoring

    def score(self, ctx: VideoContext) -> Score:
        params = physics_params(ctx.meta)
        if params is None:
            return Score.not_applicable(
                "no physics scenario parameters in the video's meta (physics_scenario scores "
                "videos of physics suite items, e.g. physics-mini)")
        try:
            check_params(params)
        except ValueError as e:
            raise ValueError(f"{ctx.video or ctx.item or 'video'}: bad physics meta: {e}") from None
        view = ctx.view(self.view_spec())
        if view.num_frames < 4:
            return Score.not_applicable(f"only {view.num_frames} frames (need >= 4)")
        t = np.asarray(view.timestamps, dtype=np.float64) - float(view.timestamps[0])
        return score_frames(view.frames, t, params, meta=ctx.meta,
                            variance_draws=self.variance_draws,
                            fit_time_scale=self.fit_time_scale)

    def aggregate(self, values: np.ndarray, details: list[dict], *, seed: int = 0
                  ) -> Aggregate:
        """Mean with CI over all videos; ``details`` adds per-bucket (``id``/``ood``) and
        per-scenario means and counts."""
        agg = mean_with_ci(values, seed=seed)
        v = np.asarray(values, dtype=np.float64)
        groups: dict[str, dict[str, list[float]]] = {"bucket": {}, "scenario": {}}
        for val, d in zip(v, details, strict=False):
            if not math.isfinite(val) or not isinstance(d, dict):
                continue
            for key in ("bucket", "scenario"):
                if d.get(key):
                    groups[key].setdefault(str(d[key]), []).append(float(val))
        for key, name in (("bucket", "buckets"), ("scenario", "scenarios")):
            agg.details[name] = {
                g: {"value": float(np.mean(x)), "n": len(x),
                    "ci95": list(mean_with_ci(np.array(x), seed=seed).ci95)}
                for g, x in sorted(groups[key].items())}
        for b in ("id", "ood"):
            agg.details[b] = agg.details["buckets"].get(b, {}).get("value", float("nan"))
        return agg


def score_frames(frames: np.ndarray, t: np.ndarray, params: dict, *, meta: dict | None = None,
                 variance_draws: int = 4, fit_time_scale: bool = True) -> Score:
    """Score (T, H, W, 3) uint8 ``frames`` shown at times ``t`` (seconds from the first
    frame) against the scenario ``params``. The frames should be square (the metric's view);
    see the module docstring for the sub-scores. The steps, in order: extract the objects'
    states, pick the evaluation window, fit the time scale, place the truth in scene time,
    then score trajectory terms, Physics-IQ masks and the scenario's own checks."""
    meta = meta or {}
    seen = _extract(frames, params)
    ev = _eval_window(t, meta)
    s_best, aligned = _fit_time_scale(params, t, seen, ev, fit_time_scale)
    truth = _truth(params, s_best * t, seen)
    sub: dict[str, float] = {}
    raw: dict[str, Any] = {}
    _presence_and_size(seen, truth, ev, sub, raw)
    _position_and_velocity(params, t, seen, truth, ev, sub, raw)
    _mask(params, seen, truth, ev, variance_draws, sub, raw)
    checks = _scenario_checks(params, truth, seen)
    for key, group in (("law", checks.law), ("conservation", checks.conservation),
                       ("invariant", checks.invariant)):
        if group:
            sub[key] = _gmean(list(group.values()))
    if aligned:
        sub["timing"] = _sc(abs(math.log(s_best)), 0.5)
    value, names = _combine(sub)
    details = {"subscores": {k: round(sub[k], 6) for k in names},
               "checks": {"law": checks.law, "conservation": checks.conservation,
                          "invariant": checks.invariant},
               "time_scale": s_best, "time_aligned": aligned, "scenario": params["scenario"],
               "bucket": meta.get("bucket", "ood" if params.get("ood") else "id"),
               "frames": int(frames.shape[0]), "eval_from_frame": int(np.argmax(ev)),
               "object_hue_deg": seen.colours, "extraction": seen.luma_info, **raw,
               **checks.raw}
    return Score(value, clean_json(details))


# ------------------------------------------------------------------------------ steps


@dataclass
class _Seen:
    """The video's objects: soft masks ``alpha`` (N, T, H, W), centroids ``x``/``y`` and
    soft ``area`` (N, T), ``shown`` (soft area >= 25% of the full disc, ``full`` (N, 1) in
    pixels), hue of each object's measured colour, luma refinement info."""

    alpha: np.ndarray
    x: np.ndarray
    y: np.ndarray
    area: np.ndarray
    full: np.ndarray
    shown: np.ndarray
    colours: list[float]
    luma_info: dict


@dataclass
class _Truth:
    """The ground truth at scene times ``tau``: trajectory ``tr``, rendered coverage ``cov``
    (N, T, H, W) and its ``area``, ``shown`` / ``inside`` (>= 25% / >= 95% of the disc in
    view) and the centroids ``x``/``y`` of the visible parts."""

    tau: np.ndarray
    tr: dict
    cov: np.ndarray
    area: np.ndarray
    shown: np.ndarray
    inside: np.ndarray
    x: np.ndarray
    y: np.ndarray


def _extract(frames: np.ndarray, params: dict) -> _Seen:
    """Step 1: colour-keyed, luma-refined soft masks and states of every declared object."""
    _, H, W, _ = frames.shape
    objs = params["objects"]
    a, b = _chroma(frames)
    alphas = []
    colours = []
    for ob in objs:
        u, c0 = _measure_colour(a[0], b[0], ob["color"])
        colours.append(float(np.degrees(np.arctan2(u[1], u[0]))))
        alphas.append(_largest_blob(_keyed(a, b, u, c0)))
    alphas, luma_info = _luma_coverage(frames, alphas)
    st = [_states(al) for al in alphas]
    area = np.stack([s["area"] for s in st])
    full = np.array([math.pi * float(o["radius"]) ** 2 * H * W for o in objs])[:, None]
    return _Seen(alpha=np.stack(alphas), x=np.stack([s["x"] for s in st]),
                 y=np.stack([s["y"] for s in st]), area=area, full=full,
                 shown=area >= 0.25 * full, colours=colours, luma_info=luma_info)


def _eval_window(t: np.ndarray, meta: dict) -> np.ndarray:
    """Step 2: the frames after the item's conditioning frames (all when fewer than 3)."""
    item_fps = float(meta.get("render", {}).get("fps", 0) or 0)
    k_cond = int(meta.get("cond_frames", 0) or 0)
    t_cond = k_cond / item_fps if item_fps > 0 else 0.0
    ev = t >= t_cond - 1e-6
    if ev.sum() < 3:
        ev = np.ones(len(t), bool)
    return ev


def _position_error(params: dict, t: np.ndarray, seen: _Seen, ev: np.ndarray, s: float
                    ) -> float:
    """Mean centroid error (capped at _MISSING, missing = _MISSING) over the evaluation
    frames where the truth at scene time ``s t`` is visible."""
    tr = trajectory(params, s * t)
    vis = tr["visible"] & ev[None]
    d = np.hypot(seen.x - tr["x"], seen.y - tr["y"])
    d = np.where(seen.shown, np.minimum(np.nan_to_num(d, nan=_MISSING), _MISSING), _MISSING)
    return float(d[vis].mean()) if vis.any() else _MISSING


def _fit_time_scale(params: dict, t: np.ndarray, seen: _Seen, ev: np.ndarray, fit: bool
                    ) -> tuple[float, bool]:
    """Step 3: (s, aligned): the playback speed s in [S_MIN, S_MAX] minimising the position
    error (log grid, then a finer grid around the best; ties towards 1); s = 1 and not
    aligned when even the best leaves an error above _ALIGN_MAX."""
    if not fit:
        return 1.0, True

    def cost(s: float) -> float:
        return _position_error(params, t, seen, ev, s) + 0.002 * abs(math.log(s))

    grid = np.exp(np.linspace(math.log(S_MIN), math.log(S_MAX), 89))
    errs = np.array([cost(s) for s in grid])
    i = int(np.argmin(errs))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    fine = np.exp(np.linspace(math.log(lo), math.log(hi), 41))
    errs_f = np.array([cost(s) for s in fine])
    s_best = float(fine[int(np.argmin(errs_f))])
    if _position_error(params, t, seen, ev, s_best) > _ALIGN_MAX:
        # no time scale puts the objects where the truth has them (e.g. a text-only model
        # that starts the scene elsewhere): judge the laws in real time, do not score timing
        return 1.0, False
    return s_best, True


def _truth(params: dict, tau: np.ndarray, seen: _Seen) -> _Truth:
    """Step 4: the ground truth at scene times ``tau``, drawn as the renderer draws it."""
    H, W = seen.alpha.shape[2:]
    tr = trajectory(params, tau)
    cov = coverage(params, tau, (H, W))  # (N, T, H, W)
    tarea = cov.sum((2, 3))
    ys, xs = (np.arange(H) + 0.5) / H, (np.arange(W) + 0.5) / W
    with np.errstate(invalid="ignore", divide="ignore"):
        tcx = np.where(tarea > 0, (cov.sum(2) * xs).sum(2) / tarea, tr["x"])
        tcy = np.where(tarea > 0, (cov.sum(3) * ys).sum(2) / tarea, tr["y"])
    return _Truth(tau=tau, tr=tr, cov=cov, area=tarea, shown=tarea >= 0.25 * seen.full,
                  inside=tarea >= 0.95 * seen.full,  # fully in view: centroids are unbiased
                  x=tcx, y=tcy)


def _presence_and_size(seen: _Seen, truth: _Truth, ev: np.ndarray, sub: dict,
                       raw: dict) -> None:
    """Step 5a: presence (shown vs truth) and size (log area ratio) sub-scores."""
    miss = float((seen.shown != truth.shown)[:, ev].mean())
    sub["presence"] = _sc(miss, 0.1)
    raw["presence_mismatch"] = miss
    both = seen.shown & truth.shown & ev[None]
    if both.any():
        lr = np.log(np.maximum(seen.area[both], 1e-3) / np.maximum(truth.area[both], 1e-3))
        # constancy (spread of the log area ratio) counts fully, a constant bias (codec
        # blur, a slightly bigger ball) a quarter
        e_size = float(lr.std() + 0.25 * abs(lr.mean()))
        sub["size"] = _sc(e_size, 0.3)
        raw.update(size_log_std=float(lr.std()), size_log_bias=float(lr.mean()))


def _velocity_error(t: np.ndarray, seen: _Seen, ev: np.ndarray, x: np.ndarray,
                    y: np.ndarray, visible: np.ndarray) -> float:
    """Mean |dp - dp_true| over consecutive frame pairs / (mean |dp_true| + 0.1 dt)."""
    dt = np.diff(t)
    shown = seen.shown
    pair = (shown[:, 1:] & shown[:, :-1] & visible[:, 1:] & visible[:, :-1] & ev[None, 1:])
    if not pair.any():
        return float("nan")
    dgx, dgy = np.diff(seen.x, axis=1), np.diff(seen.y, axis=1)
    dtx, dty = np.diff(x, axis=1), np.diff(y, axis=1)
    num = np.hypot(dgx - dtx, dgy - dty)[pair].mean()
    den = np.hypot(dtx, dty)[pair].mean() + 0.1 * float(np.median(dt))
    return float(num / den)


def _position_and_velocity(params: dict, t: np.ndarray, seen: _Seen, truth: _Truth,
                           ev: np.ndarray, sub: dict, raw: dict) -> None:
    """Step 5b: position and velocity in scene time, and the real-time (s = 1) errors."""
    d = np.hypot(seen.x - truth.x, seen.y - truth.y)
    d = np.where(seen.shown, np.minimum(np.nan_to_num(d, nan=_MISSING), _MISSING), _MISSING)
    sel = truth.shown & ev[None]
    e_pos = float(d[sel].mean()) if sel.any() else _MISSING
    sub["position"] = _sc(e_pos, 0.05)
    raw["position_error"] = e_pos
    raw["position_error_t1"] = _position_error(params, t, seen, ev, 1.0)
    e_vel = _velocity_error(t, seen, ev, truth.x, truth.y, truth.shown)
    if math.isfinite(e_vel):
        sub["velocity"] = _sc(e_vel, 0.45)
        raw["velocity_error"] = e_vel
    real = trajectory(params, t)
    raw["velocity_error_t1"] = _velocity_error(t, seen, ev, real["x"], real["y"],
                                               real["visible"])


def _mask(params: dict, seen: _Seen, truth: _Truth, ev: np.ndarray, variance_draws: int,
          sub: dict, raw: dict) -> None:
    """Step 5c: Physics-IQ mask metrics, each ratioed by the physical variance."""
    H, W = seen.alpha.shape[2:]
    gmask = seen.alpha.max(0)[ev]
    tmask = truth.cov.max(0)[ev]
    m_gen = _mask_metrics(gmask, tmask)
    var = [_mask_metrics(coverage(_perturbed(params, int(params.get("seed", 0)), j),
                                  truth.tau, (H, W)).max(0)[ev], tmask)
           for j in range(variance_draws)]
    m_var = {k: float(np.mean([v[k] for v in var])) for k in m_gen}
    ratios = {}
    for k in ("spatial_iou", "spatiotemporal_iou", "weighted_spatial_iou"):
        ratios[k] = min(1.0, m_gen[k] / max(m_var[k], 1e-6))
    ratios["mse"] = min(1.0, (m_var["mse"] + 1e-5) / (m_gen["mse"] + 1e-5))
    sub["mask"] = float(np.mean(list(ratios.values())))
    raw["physics_iq"] = {"generated": m_gen, "physical_variance": m_var, "ratios": ratios}


def _scenario_checks(params: dict, truth: _Truth, seen: _Seen) -> Checks:
    """Step 6: the scenario's own law, conservation and invariant checks, in scene time,
    on all frames where an object is found fully in view."""
    scenario = get_scenario(params["scenario"])
    track = Track(params=params, tau=truth.tau, gx=seen.x, gy=seen.y,
                  shown=seen.shown & truth.inside, truth=truth.tr)
    out = Checks()
    if track.m.sum() < 3 and scenario.needs_main_track:
        out.raw["law_reason"] = "object found in fewer than 3 frames"
        return out
    scenario.check(track, out)
    return out


def _combine(sub: dict[str, float]) -> tuple[float, list[str]]:
    """Step 7: the weighted geometric mean of the sub-scores present (floored)."""
    names = [k for k in WEIGHTS if k in sub]
    w = np.array([WEIGHTS[k] for k in names])
    v = np.maximum(np.array([sub[k] for k in names]), FLOOR)
    return float(np.exp((w * np.log(v)).sum() / w.sum())), names
