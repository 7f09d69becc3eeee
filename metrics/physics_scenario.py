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
   all frames.

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
from typing import Any, ClassVar

import numpy as np
from scipy import ndimage

from vidbench.registry import PerVideoMetric, Score, VideoContext
from vidbench.scenarios import check_params, coverage, physics_params, trajectory
from vidbench.scenarios.dynamics import collision_velocities, incline_geometry
from vidbench.stats import Aggregate, mean_with_ci
from vidbench.video import ViewSpec

#: ROC-AUC of clean ground-truth renders vs each corruption (7 scenarios x ID/OOD x 2 seeds,
#: 16 frames at 8 fps; ``perf/physics.py scenario_roc``): rendered at 64x64 (``raw64``) and
#: at 32x32 through H.264 CRF 18 as physics-mini runs (``h264_32``). Violations are 1.0
#: everywhere; nuisances (flicker .. distractor) should stay low (their score drop is small:
#: docs/physics.md has the means).
ROC_AUC: dict[str, dict[str, float]] = {
    "raw64": {
        "teleport": 1.0,
        "vanish": 1.0,
        "grow": 1.0,
        "shrink": 1.0,
        "jitter": 1.0,
        "anti_gravity": 1.0,
        "linear_fall": 1.0,
        "energy_gain": 1.0,
        "momentum_violation": 1.0,
        "time_reversal": 1.0,
        "flicker": 0.856,
        "slow_motion": 1.0,
        "h264_crf35": 0.997,
        "texture": 0.712,
        "distractor": 0.579,
    },
    "h264_32": {
        "teleport": 1.0,
        "vanish": 1.0,
        "grow": 1.0,
        "shrink": 1.0,
        "jitter": 1.0,
        "anti_gravity": 1.0,
        "linear_fall": 1.0,
        "energy_gain": 1.0,
        "momentum_violation": 1.0,
        "time_reversal": 1.0,
        "flicker": 0.483,
        "slow_motion": 1.0,
        "texture": 0.693,
        "distractor": 0.543,
    },
}

WEIGHTS = {"presence": 1.0, "size": 1.0, "position": 1.0, "velocity": 1.0, "mask": 1.0,
           "law": 1.0, "conservation": 1.0, "invariant": 1.0, "timing": 1.0}
#: Range of playback speeds the time alignment considers (scene time = s * video time): wide
#: enough for slow motion x0.5 and fast motion x2, narrow enough that a frozen video cannot
#: pass for extreme slow motion of the scene.
S_MIN, S_MAX = 1.0 / 3.0, 3.0
FLOOR = 1e-3
_MISSING = 0.3  # position error charged for a frame where the object should be but is not
_ALIGN_MAX = 0.1  # mean position error above which no time scale is trusted


def _sc(err: float, tau: float) -> float:
    return float(math.exp(-max(err, 0.0) / tau)) if math.isfinite(err) else FLOOR


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
    out, info = [], {"gain_range": [float(gain.min()), float(gain.max())], "luma_contrast": []}
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


def _fit_poly(t: np.ndarray, v: np.ndarray, deg: int) -> np.ndarray:
    return np.polyfit(t, v, deg)


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
    see the module docstring for the sub-scores."""
    meta = meta or {}
    T, H, W, _ = frames.shape
    objs = params["objects"]
    a, b = _chroma(frames)
    alphas = []
    colours = []
    for ob in objs:
        u, c0 = _measure_colour(a[0], b[0], ob["color"])
        colours.append(float(np.degrees(np.arctan2(u[1], u[0]))))
        alphas.append(_largest_blob(_keyed(a, b, u, c0)))
    alphas, luma_info = _luma_coverage(frames, alphas)
    alpha = np.stack(alphas)  # (N, T, H, W)
    st = [_states(al) for al in alphas]
    gx = np.stack([s["x"] for s in st])
    gy = np.stack([s["y"] for s in st])
    garea = np.stack([s["area"] for s in st])
    full = np.array([math.pi * float(o["radius"]) ** 2 * H * W for o in objs])[:, None]
    shown = garea >= 0.25 * full

    # evaluation window: after the conditioning frames
    item_fps = float(meta.get("render", {}).get("fps", 0) or 0)
    k_cond = int(meta.get("cond_frames", 0) or 0)
    t_cond = k_cond / item_fps if item_fps > 0 else 0.0
    ev = t >= t_cond - 1e-6
    if ev.sum() < 3:
        ev = np.ones(T, bool)

    def pos_err(s: float) -> float:
        tr = trajectory(params, s * t)
        vis = tr["visible"] & ev[None]
        d = np.hypot(gx - tr["x"], gy - tr["y"])
        d = np.where(shown, np.minimum(np.nan_to_num(d, nan=_MISSING), _MISSING), _MISSING)
        return float(d[vis].mean()) if vis.any() else _MISSING

    s_best = 1.0
    if fit_time_scale:
        grid = np.exp(np.linspace(math.log(S_MIN), math.log(S_MAX), 89))
        errs = np.array([pos_err(s) + 0.002 * abs(math.log(s)) for s in grid])
        i = int(np.argmin(errs))
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
        fine = np.exp(np.linspace(math.log(lo), math.log(hi), 41))
        errs_f = np.array([pos_err(s) + 0.002 * abs(math.log(s)) for s in fine])
        s_best = float(fine[int(np.argmin(errs_f))])
    aligned = True
    if fit_time_scale and pos_err(s_best) > _ALIGN_MAX:
        # no time scale puts the objects where the truth has them (e.g. a text-only model
        # that starts the scene elsewhere): judge the laws in real time, do not score timing
        s_best, aligned = 1.0, False
    tau = s_best * t
    tr = trajectory(params, tau)
    cov = coverage(params, tau, (H, W))  # (N, T, H, W)
    tarea = cov.sum((2, 3))
    tshown = tarea >= 0.25 * full
    inside = tarea >= 0.95 * full  # fully in view: centroids are unbiased
    ys, xs = (np.arange(H) + 0.5) / H, (np.arange(W) + 0.5) / W
    with np.errstate(invalid="ignore", divide="ignore"):
        tcx = np.where(tarea > 0, (cov.sum(2) * xs).sum(2) / tarea, tr["x"])
        tcy = np.where(tarea > 0, (cov.sum(3) * ys).sum(2) / tarea, tr["y"])
    seen = {"x": tcx, "y": tcy, "visible": tshown}  # centroids of the visible parts

    sub: dict[str, float] = {}
    raw: dict[str, Any] = {}
    # presence
    miss = float((shown != tshown)[:, ev].mean())
    sub["presence"] = _sc(miss, 0.1)
    raw["presence_mismatch"] = miss
    # size
    both = shown & tshown & ev[None]
    if both.any():
        lr = np.log(np.maximum(garea[both], 1e-3) / np.maximum(tarea[both], 1e-3))
        # constancy (spread of the log area ratio) counts fully, a constant bias (codec
        # blur, a slightly bigger ball) a quarter
        e_size = float(lr.std() + 0.25 * abs(lr.mean()))
        sub["size"] = _sc(e_size, 0.3)
        raw.update(size_log_std=float(lr.std()), size_log_bias=float(lr.mean()))
    # position (scene time) and the real-time errors
    d = np.hypot(gx - tcx, gy - tcy)
    d = np.where(shown, np.minimum(np.nan_to_num(d, nan=_MISSING), _MISSING), _MISSING)
    sel = tshown & ev[None]
    e_pos = float(d[sel].mean()) if sel.any() else _MISSING
    sub["position"] = _sc(e_pos, 0.05)
    raw["position_error"] = e_pos
    raw["position_error_t1"] = pos_err(1.0)

    def vel_err(txy: dict) -> float:
        dt = np.diff(t)
        pair = (shown[:, 1:] & shown[:, :-1] & txy["visible"][:, 1:] & txy["visible"][:, :-1]
                & ev[None, 1:])
        if not pair.any():
            return float("nan")
        dgx, dgy = np.diff(gx, axis=1), np.diff(gy, axis=1)
        dtx, dty = np.diff(txy["x"], axis=1), np.diff(txy["y"], axis=1)
        num = np.hypot(dgx - dtx, dgy - dty)[pair].mean()
        den = np.hypot(dtx, dty)[pair].mean() + 0.1 * float(np.median(dt))
        return float(num / den)

    e_vel = vel_err(seen)
    if math.isfinite(e_vel):
        sub["velocity"] = _sc(e_vel, 0.45)
        raw["velocity_error"] = e_vel
    raw["velocity_error_t1"] = vel_err(trajectory(params, t))
    # Physics-IQ mask metrics, ratioed by the physical variance
    gmask = alpha.max(0)[ev]
    tmask = cov.max(0)[ev]
    m_gen = _mask_metrics(gmask, tmask)
    var = [_mask_metrics(coverage(_perturbed(params, int(params.get("seed", 0)), j), tau,
                                  (H, W)).max(0)[ev], tmask) for j in range(variance_draws)]
    m_var = {k: float(np.mean([v[k] for v in var])) for k in m_gen}
    ratios = {}
    for k in ("spatial_iou", "spatiotemporal_iou", "weighted_spatial_iou"):
        ratios[k] = min(1.0, m_gen[k] / max(m_var[k], 1e-6))
    ratios["mse"] = min(1.0, (m_var["mse"] + 1e-5) / (m_gen["mse"] + 1e-5))
    sub["mask"] = float(np.mean(list(ratios.values())))
    raw["physics_iq"] = {"generated": m_gen, "physical_variance": m_var, "ratios": ratios}

    # laws, conservation and invariants, in scene time, all frames where shown
    law, cons, inv, lraw = _laws(params, tau, gx, gy, shown & inside, tr)
    if law:
        sub["law"] = _gmean(list(law.values()))
    if cons:
        sub["conservation"] = _gmean(list(cons.values()))
    if inv:
        sub["invariant"] = _gmean(list(inv.values()))
    if aligned:
        sub["timing"] = _sc(abs(math.log(s_best)), 0.5)

    names = [k for k in WEIGHTS if k in sub]
    w = np.array([WEIGHTS[k] for k in names])
    v = np.maximum(np.array([sub[k] for k in names]), FLOOR)
    value = float(np.exp((w * np.log(v)).sum() / w.sum()))
    details = {"subscores": {k: round(sub[k], 6) for k in names},
               "checks": {"law": law, "conservation": cons, "invariant": inv},
               "time_scale": s_best, "time_aligned": aligned, "scenario": params["scenario"],
               "bucket": meta.get("bucket", "ood" if params.get("ood") else "id"),
               "frames": int(T), "eval_from_frame": int(np.argmax(ev)),
               "object_hue_deg": colours, "extraction": luma_info, **raw, **lraw}
    return Score(value, _json(details))


def _json(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json(v) for v in x]
    if isinstance(x, (np.floating, float)):
        xf = float(x)
        return xf if math.isfinite(xf) else None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


# ------------------------------------------------------------------------------ laws


def _laws(p: dict, tau: np.ndarray, gx: np.ndarray, gy: np.ndarray, shown: np.ndarray,
          tr: dict) -> tuple[dict, dict, dict, dict]:
    scen = p["scenario"]
    law: dict[str, float] = {}
    cons: dict[str, float] = {}
    inv: dict[str, float] = {}
    raw: dict[str, Any] = {}
    m = shown[0] & np.isfinite(gx[0])
    if m.sum() < 3 and scen != "collision":
        return law, cons, inv, {"law_reason": "object found in fewer than 3 frames"}
    tt, xx, yy = tau[m], gx[0][m], gy[0][m]
    span = float(tt.max() - tt.min()) if len(tt) else 0.0
    r0 = float(p["objects"][0]["radius"])
    if scen == "uniform_motion":
        cx, cy = _fit_poly(tt, xx, 2), _fit_poly(tt, yy, 2)
        acc = math.hypot(2 * cx[0], 2 * cy[0])
        speed = math.hypot(cx[1], cy[1])
        law["constant_velocity"] = _sc(acc * span / (speed + 0.1), 0.2)
        inv["straight_path"] = _sc(_line_residual(xx, yy) / r0, 0.15)
        raw.update(acceleration=acc, speed=speed)
    elif scen in ("free_fall", "projectile"):
        g = float(p["g"])
        cy = _fit_poly(tt, yy, 2)
        g_est = 2 * cy[0]
        law["g"] = _sc(abs(g_est - g) / g, 0.2)
        cx = _fit_poly(tt, xx, 2)
        law["constant_vx"] = _sc(abs(2 * cx[0]) * span / (abs(cx[1]) + 0.05), 0.15)
        inv["downward_acceleration"] = 1.0 if g_est > 0.1 * g else FLOOR
        raw.update(g_est=g_est, g_true=g)
        if scen == "free_fall":
            drop = max(float(np.ptp(yy)), r0)
            inv["vertical_path"] = _sc(float(np.ptp(xx)) / drop, 0.1)
            # a fall from rest: |y'(0)| small against the speed reached over the clip
            inv["from_rest"] = _sc(abs(cy[1]) / (abs(g_est) * max(span, 1e-3) + 1e-6), 0.15)
        else:
            vx, vy0, x0, y0 = float(p["vx0"]), float(p["vy0"]), float(p["x0"]), float(p["y0"])
            dx = xx - x0
            y_curve = y0 + vy0 / vx * dx + g / (2 * vx * vx) * dx * dx
            rms = float(np.sqrt(np.mean((yy - y_curve) ** 2)))
            inv["parabola_y_of_x"] = _sc(rms / r0, 0.3)
            raw["parabola_rms"] = rms
    elif scen == "bounce":
        _bounce_checks(p, tt, yy, law, cons, inv, raw)
    elif scen == "collision":
        _collision_checks(p, tau, gx, shown, tr, law, cons, inv, raw)
    elif scen == "pendulum":
        px, py = p["pivot"]
        L, th0 = float(p["length"]), float(p["theta0"])
        th = np.arctan2(xx - px, yy - py)
        ln = np.hypot(xx - px, yy - py)
        th_true = tr["theta"][0][m]
        law["angle_curve"] = _sc(float(np.sqrt(np.mean((th - th_true) ** 2))) / abs(th0), 0.15)
        lerr = float(np.sqrt(np.mean((ln - L) ** 2))) / L
        cons["rod_length"] = _sc(lerr, 0.1)
        th_start = abs(float(th[0])) if abs(float(tt[0])) < 1e-6 else abs(th0)
        over = max(0.0, float(np.abs(th).max()) - th_start) / abs(th0)
        cons["amplitude"] = _sc(over, 0.1)
        inv["rod_length"] = cons["rod_length"]
        raw.update(rod_length_rel_err=lerr, amplitude_excess=over,
                   g_apparent=float(p["g"]))
    elif scen == "incline":
        geo = incline_geometry(p)
        a_true = float(p.get("rolling_factor", 5 / 7)) * float(p["g"]) * math.sin(geo["angle"])
        ux = 1.0 - xx if p.get("mirror") else xx
        d = np.array([geo["xb"] - geo["xa"], geo["yb"] - geo["ya"]])
        d /= np.linalg.norm(d)
        rel_x, rel_y = ux - geo["xa"], yy - geo["ya"]
        s_along = rel_x * d[0] + rel_y * d[1]
        perp = rel_x * d[1] - rel_y * d[0]  # > 0 above the slope
        t_floor = [e["t"] for e in tr["events"] if e["type"] == "reach_floor"]
        on = tt < (min(t_floor) - 0.02 if t_floor else np.inf)
        if on.sum() >= 3:
            cs = _fit_poly(tt[on], s_along[on], 2)
            a_est = 2 * cs[0]
            law["acceleration"] = _sc(abs(a_est - a_true) / a_true, 0.2)
            inv["on_ramp"] = _sc(float(np.sqrt(np.mean((perp[on] - r0) ** 2))) / r0, 0.3)
            inv["from_rest"] = _sc(abs(cs[1] - float(p.get("v0", 0.0)))
                                   / (abs(a_est) * max(span, 1e-3) + 1e-6), 0.2)
            raw.update(a_est=a_est, a_true=a_true)
    return law, cons, inv, raw


def _line_residual(x: np.ndarray, y: np.ndarray) -> float:
    pts = np.stack([x - x.mean(), y - y.mean()], 1)
    if len(pts) < 3:
        return 0.0
    sv = np.linalg.svd(pts, compute_uv=False)
    return float(sv[-1] / math.sqrt(len(pts)))


def _bounce_checks(p: dict, tt: np.ndarray, yy: np.ndarray, law: dict, cons: dict, inv: dict,
                   raw: dict) -> None:
    g, e_true = float(p["g"]), float(p["restitution"])
    # only the part of the clip whose flights the frame rate resolves: cut at the first true
    # impact after which the flight lasts fewer than 3 frame intervals (scene time)
    dts = float(np.median(np.diff(tt))) if len(tt) > 1 else 0.0
    truth_bounces = []
    cut = float(tt.max())
    for e in trajectory(p, tt)["events"]:
        if e["type"] != "bounce" or not (tt.min() < e["t"] < tt.max()):
            continue
        if float(tt.max()) - e["t"] < 2.0 * dts:  # fewer than 2 frames after it
            cut = float(e["t"])
            break
        if abs(e["vy_out"]) < 1e-9:  # e = 0: the ball sticks; the fall ends the fit
            cut = float(e["t"])
            after = yy[tt > cut + 1e-9]
            if len(after):  # how far the video's ball comes back up, over the drop height
                y_hit = float(np.interp(cut, tt, yy))
                drop = max(float(p["floor_y"]) - float(p["objects"][0]["radius"])
                           - float(p["y0"]), 1e-3)
                rise = max(0.0, y_hit - float(np.nanmin(after))) if np.isfinite(after).any() \
                    else 0.0
                inv["stays_down"] = _sc(rise / drop, 0.1)
                raw["rise_after_impact"] = rise / drop
            break
        truth_bounces.append(e)
        if 2.0 * abs(e["vy_out"]) / g < 3.0 * dts:
            cut = float(e["t"])
            break
    keep = tt <= cut + 1e-9
    if keep.sum() < 4:
        return
    tt, yy = tt[keep], yy[keep]
    raw["bounce_fit_until"] = cut
    # segments between impacts: local maxima of y (lowest points) where the motion turns up
    dy = np.diff(yy)
    turns = [k for k in range(1, len(yy) - 1) if dy[k - 1] > 0 and dy[k] < 0]
    best = None
    for assign in range(2 ** len(turns)):
        labels = np.zeros(len(yy), int)
        for j, k in enumerate(turns):
            labels[k + (0 if (assign >> j) & 1 else 1):] = j + 1
        fit = _joint_parabolas(tt, yy, labels)
        if fit is not None and (best is None or fit["sse"] < best["sse"]):
            best = fit
    if best is None:
        return
    g_est = 2 * best["c"]
    law["g"] = _sc(abs(g_est - g) / g, 0.2)
    raw.update(g_est=g_est, g_true=g, bounces_found=len(best["impacts"]),
               bounces_true=len(truth_bounces))
    if truth_bounces and not best["impacts"]:
        law["restitution"] = 0.05
        inv["apex_ratio"] = 0.05
        raw["bounce_reason"] = "the ground truth bounces in view, the video does not"
        return
    if not best["impacts"]:
        return
    es = [abs(vo / vi) for vi, vo in best["impacts"] if abs(vi) > 1e-6]
    e_est = float(es[0])
    law["restitution"] = _sc(abs(e_est - e_true), 0.1)
    viol = max(0.0, max(es) - 1.0)
    hs = best["apex_heights"]
    ratios = [math.sqrt(max(h1, 0.0) / h0) for h0, h1 in zip(hs[:-1], hs[1:], strict=True)
              if h0 > 1e-4 and math.isfinite(h1)]
    if ratios:
        viol += max(0.0, max(ratios) - 1.0)
        inv["apex_ratio"] = _sc(abs(ratios[0] - e_true), 0.1)
        raw["apex_ratio_sqrt"] = ratios
    cons["energy"] = _sc(viol, 0.05)
    raw["restitution_est"] = es


def _joint_parabolas(t: np.ndarray, y: np.ndarray, labels: np.ndarray) -> dict | None:
    """Least squares y = a_s + b_s t + c t^2 per segment s with one shared c."""
    segs = [s for s in np.unique(labels) if (labels == s).sum() >= 2]
    if not segs or sum((labels == s).sum() for s in segs) < len(segs) * 2 + 1:
        return None
    rows, rhs = [], []
    for j, s in enumerate(segs):
        for ti, yi in zip(t[labels == s], y[labels == s], strict=True):
            r = np.zeros(2 * len(segs) + 1)
            r[2 * j], r[2 * j + 1], r[-1] = 1.0, ti, ti * ti
            rows.append(r)
            rhs.append(yi)
    A, Y = np.array(rows), np.array(rhs)
    sol, *_ = np.linalg.lstsq(A, Y, rcond=None)
    sse = float(((A @ sol - Y) ** 2).sum())
    c = float(sol[-1])
    impacts, heights = [], []
    for j in range(len(segs)):
        a_s, b_s = sol[2 * j], sol[2 * j + 1]
        heights.append((a_s, b_s))
    apex_h = []
    contact = None
    for j in range(len(segs) - 1):
        (a1, b1), (a2, b2) = heights[j], heights[j + 1]
        if abs(b1 - b2) < 1e-9:
            continue
        ts = (a2 - a1) / (b1 - b2)
        impacts.append((b1 + 2 * c * ts, b2 + 2 * c * ts))
        contact = a1 + b1 * ts + c * ts * ts if contact is None else contact
    if contact is not None and abs(c) > 1e-9:
        for a_s, b_s in heights:
            apex_h.append(float(contact - (a_s - b_s * b_s / (4 * c))))
    return {"c": c, "sse": sse, "impacts": impacts, "apex_heights": apex_h}


def _collision_checks(p: dict, tau: np.ndarray, gx: np.ndarray, shown: np.ndarray, tr: dict,
                      law: dict, cons: dict, inv: dict, raw: dict) -> None:
    ev = [e for e in tr["events"] if e["type"] == "collision"]
    both = shown[0] & shown[1] & np.isfinite(gx).all(0)
    if not ev or not (tau.min() < ev[0]["t"] < tau.max()) or both.sum() < 5:
        raw["collision_reason"] = "no collision inside the observed time with both balls found"
        return
    tt, x1, x2 = tau[both], gx[0][both], gx[1][both]
    grid = np.linspace(tt[1], tt[-2], 121)
    best = None
    for tc in grid:
        h = np.maximum(tt - tc, 0.0)
        A = np.stack([np.ones_like(tt), tt, h], 1)
        s1, r1, *_ = np.linalg.lstsq(A, x1, rcond=None)
        s2, r2, *_ = np.linalg.lstsq(A, x2, rcond=None)
        sse = float(((A @ s1 - x1) ** 2).sum() + ((A @ s2 - x2) ** 2).sum())
        if best is None or sse < best[0]:
            best = (sse, tc, s1, s2)
    _, tc, s1, s2 = best
    v1, v2 = float(s1[1]), float(s2[1])
    u1, u2 = v1 + float(s1[2]), v2 + float(s2[2])
    m1, m2 = (float(o.get("mass", float(o["radius"]) ** 2)) for o in p["objects"])
    e = float(p.get("restitution", 1.0))
    w = abs(v1 - v2) + 1e-6
    p1, p2 = collision_velocities(m1, m2, v1, v2, e)
    err = (abs(u1 - p1) + abs(u2 - p2)) / (2 * w)
    law["post_collision_velocities"] = _sc(err, 0.15)
    mom = abs(m1 * u1 + m2 * u2 - m1 * v1 - m2 * v2) / (m1 * abs(v1) + m2 * abs(v2) + 1e-9)
    cons["momentum"] = _sc(mom, 0.15)
    ke0 = m1 * v1 * v1 + m2 * v2 * v2
    ke1 = m1 * u1 * u1 + m2 * u2 * u2
    ke_expected = (m1 * p1 * p1 + m2 * p2 * p2) / max(ke0, 1e-12)
    ke_ratio = ke1 / max(ke0, 1e-12)
    cons["energy"] = _sc(abs(ke_ratio - ke_expected), 0.2)
    # velocity changes in units of the closing speed: time-scale invariant
    e0 = ev[0]
    w_true = e0["v_before"][0] - e0["v_before"][1]
    ratio_true = [(e0["v_after"][i] - e0["v_before"][i]) / w_true for i in (0, 1)]
    ratio_gen = [(u1 - v1) / (v1 - v2 + 1e-9), (u2 - v2) / (v1 - v2 + 1e-9)]
    inv["velocity_ratios"] = _sc(float(np.mean(np.abs(np.subtract(ratio_gen, ratio_true)))),
                                 0.15)
    raw.update(collision_time=float(tc), v_before=[v1, v2], v_after=[u1, u2],
               v_after_predicted=[p1, p2], momentum_rel_err=mom, ke_ratio=ke_ratio)
