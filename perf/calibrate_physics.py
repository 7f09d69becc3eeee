"""Calibrate the taus of ``physics_consistency`` and measure its discrimination.

1. Renders the ground truth of every scenario of :mod:`vidbench.scenarios` (ID seeds 0-2,
   OOD seeds 0-1) at three shapes (32 px 8 fps 16 frames, 64 px 16 fps 32 frames, 128 px
   24 fps 48 frames: 2 s each), scores their raw sub-score errors through the metric's own
   view (timestamps -> 15 fps, 128 px, repeated frames dropped), and sets each tau so that
   80% of them score at least 0.9 on the sub-score ``exp(-err / tau)``
   (``tau = q80(err) / -ln 0.9``, at least the floor of
   :data:`~vidbench.metrics.physics_consistency.TAU_FLOORS`). The same renders through H.264
   at CRF 18 (how a run stores videos, e.g. the physics-gt model) are scored and reported.
2. Renders corrupted versions (teleport, vanish, grow, jitter, anti-gravity, linear fall,
   energy-gaining bounce, momentum-violating collision) and must-not-penalise variants
   (time-reversed fall, global flicker, slow motion x0.5, H.264 CRF 35, textured background,
   distractor) and reports the mean overall score and ROC-AUC (clean vs variant) of each.
3. Writes ``metrics/physics_calibration.json``.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python perf/calibrate_physics.py`` (about 2-4 minutes on one
core). ``--quick`` runs a smaller set and does not write the file.

The corruption helpers (:func:`variant`) are also used by ``tests/test_physics_consistency.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vidbench.metrics import physics_consistency as pc
from vidbench.metrics.physics_segment import render_discs
from vidbench.scenarios import SCENARIOS, render, sample_params, static_layer, trajectory
from vidbench.video import Clip, make_view

SHAPES = ((32, 8.0, 16), (64, 16.0, 32), (128, 24.0, 48))
#: Each tau is set so that this quantile of the clean renders scores SCORE_AT_QUANTILE on the
#: sub-score (or is the floor, if higher).
QUANTILE = 0.8
SCORE_AT_QUANTILE = 0.9
#: The taus are fitted on the raw renders; the same renders through an H.264 round trip at
#: this CRF (``vidbench.video.write_video``'s default: how a run stores videos) are reported.
CRF = 18

#: corruption -> scenarios it applies to
CORRUPTIONS: dict[str, tuple[str, ...]] = {
    "teleport": ("uniform_motion", "free_fall", "projectile", "bounce"),
    "vanish": ("uniform_motion", "free_fall", "projectile", "collision"),
    "grow": ("uniform_motion", "free_fall", "projectile", "bounce"),
    "jitter": ("uniform_motion", "free_fall", "projectile", "bounce"),
    "antigravity": ("free_fall", "projectile"),
    "linear_fall": ("free_fall",),
    "energy_bounce": ("bounce",),
    "momentum": ("collision",),
}
#: variants that must NOT lower the score (much)
BENIGN: dict[str, tuple[str, ...]] = {
    "reversed_fall": ("free_fall",),
    "flicker": ("uniform_motion", "free_fall", "projectile", "bounce", "collision"),
    "slow_motion": ("free_fall", "projectile", "bounce", "collision"),
    "crf35": ("uniform_motion", "free_fall", "projectile", "bounce", "collision"),
    "texture": ("uniform_motion", "free_fall", "projectile", "bounce", "collision"),
    "distractor": ("free_fall", "projectile", "bounce"),
}


# ----------------------------------------------------------------------------- rendering


def _state(params: dict, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tr = trajectory(params, times)
    pos = np.stack([tr["x"], tr["y"]], axis=-1)  # (N, T, 2) normalised
    rad = np.repeat(np.asarray(tr["r"])[:, None], len(times), axis=1)  # (N, T)
    return pos, rad


def _draw(params: dict, pos: np.ndarray, rad: np.ndarray, size: int, *,
          present: np.ndarray | None = None, colors: list | None = None,
          background: np.ndarray | None = None) -> np.ndarray:
    bg = static_layer(params, size) if background is None else background
    cols = colors or [o["color"] for o in params["objects"]]
    return render_discs(pos * size, rad * size, cols, bg, present=present)


def _corrupt_params(kind: str, params: dict) -> dict:
    p = json.loads(json.dumps(params))
    if kind == "energy_bounce":
        p["restitution"] = 1.2
        p["y0"] = max(float(p["y0"]), 0.45)  # room to gain height without leaving at once
    if kind == "texture":
        p["texture"] = 25.0
    return p


def variant(kind: str, scenario: str, seed: int, size: int, fps: float, num_frames: int,
            ood: bool = False, crf: int | None = None) -> np.ndarray:
    """Frames (T, H, W, 3) uint8 of ``scenario`` seed ``seed`` under variant ``kind``
    ("clean" = the scenario library's own ground-truth render), optionally through an
    H.264 round trip at ``crf`` (the "crf35" variant always uses CRF 35)."""
    frames = _variant(kind, scenario, seed, size, fps, num_frames, ood)
    if crf is not None and kind != "crf35":
        frames = _h264(frames, fps, crf)
    return frames


def _variant(kind: str, scenario: str, seed: int, size: int, fps: float, num_frames: int,
             ood: bool) -> np.ndarray:
    params = _corrupt_params(kind, sample_params(scenario, seed, ood))
    times = np.arange(num_frames) / fps
    rng = np.random.default_rng([seed, len(kind), num_frames])
    if kind in ("clean", "texture", "crf35", "flicker", "reversed_fall"):
        frames = render(params, num_frames, size, fps)
        if kind == "crf35":
            frames = _h264(frames, fps, 35)
        elif kind == "flicker":
            g = rng.uniform(0.7, 1.3, size=num_frames)
            frames = np.clip(frames.astype(np.float32) * g[:, None, None, None], 0,
                             255).astype(np.uint8)
        elif kind == "reversed_fall":
            frames = frames[::-1].copy()
        return frames
    if kind == "slow_motion":
        return render(params, num_frames, size, fps * 2.0)  # half the scene time per frame
    pos, rad = _state(params, times)
    present = None
    k0 = num_frames // 2
    if kind == "teleport":
        shift = np.array([0.0, 0.0])
        v = pos[0, -1] - pos[0, 0]
        d = v / (np.linalg.norm(v) + 1e-9)
        shift = 0.18 * np.array([-d[1], d[0]])  # sideways jump of 18% of the frame
        if abs(pos[0, k0, 0] + shift[0] - 0.5) > abs(pos[0, k0, 0] - shift[0] - 0.5):
            shift = -shift  # towards the middle: stay in view
        pos[0, k0:] += shift
    elif kind == "vanish":
        present = np.ones(pos.shape[:2], bool)
        present[0, num_frames // 3 if scenario == "collision" else k0:] = False
    elif kind == "grow":
        rad = rad * np.linspace(1.0, 1.7, num_frames)[None]
    elif kind == "jitter":
        pos = pos + rng.normal(0, 0.012, size=pos.shape)
    elif kind == "antigravity":
        pos[..., 1] = 1.0 - pos[..., 1]
    elif kind == "linear_fall":
        y0, y1 = pos[0, 0, 1], pos[0, -1, 1]
        pos[0, :, 1] = y0 + (y1 - y0) * times / times[-1]
    elif kind == "momentum":
        ev = [e for e in trajectory(params, times)["events"] if e["type"] == "collision"]
        if ev:
            tc = ev[0]["t"]
            sel = times >= tc
            start = trajectory(params, np.array([tc]))
            for i in range(2):
                u = ev[0]["v_after"][i]
                pos[i, sel, 0] = start["x"][i, 0] + 1.8 * u * (times[sel] - tc)
    elif kind == "distractor":
        col = [c for c in ([235, 205, 35], [35, 200, 220], [205, 50, 205])
               if c != list(params["objects"][0]["color"])][0]
        yd = 0.2 if scenario != "bounce" else 0.5
        x = 0.1 + 0.3 * times / times[-1]
        if pos[0, 0, 0] < 0.5:
            x = 0.9 - 0.3 * times / times[-1]
        dpos = np.stack([x, np.full_like(x, yd)], axis=-1)[None]
        pos = np.concatenate([pos, dpos], axis=0)
        rad = np.concatenate([rad, np.full((1, num_frames), 0.05)], axis=0)
        cols = [o["color"] for o in params["objects"]] + [col]
        return _draw(params, pos, rad, size, colors=cols)
    frames = _draw(params, pos, rad, size, present=present,
                   background=None if kind != "antigravity" else
                   np.full((size, size, 3), params["background"], np.float32))
    return frames


def _h264(frames: np.ndarray, fps: float, crf: int) -> np.ndarray:
    from vidbench.video import decode, write_video

    with tempfile.TemporaryDirectory() as d:
        p = write_video(Path(d) / "v.mp4", frames, fps, crf=crf)
        return decode(p).frames


# ----------------------------------------------------------------------------- scoring


def clip_errors(frames: np.ndarray, fps: float) -> tuple[dict[str, float], str | None]:
    """Raw sub-score errors of a constant-rate clip through the metric's view."""
    clip = Clip.from_array(frames, fps)
    view = make_view(clip, pc.VIEW)
    src = make_view(clip, pc.SOURCE_VIEW).frames
    f, t = pc.distinct_frames(view.frames, view.indices, clip.timestamps, src)
    if len(f) < pc.MIN_FRAMES:
        return {}, "too short"
    an = pc.analyse(f, t)
    return dict(an.errors), an.reason


def auc(pos: list[float], neg: list[float]) -> float:
    """P(clean score > corrupted score) + 0.5 P(tie): ROC-AUC of 'clean' vs 'corrupted'."""
    a = np.asarray(pos)[:, None]
    b = np.asarray(neg)[None, :]
    return float(((a > b).sum() + 0.5 * (a == b).sum()) / (a.size * b.size))


class ErrorCache:
    """Raw sub-score errors per rendered clip, kept in a JSON file between runs (the taus can
    then be re-derived without scoring again)."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self.data: dict[str, dict] = {}
        if self.path and self.path.exists():
            self.data = json.loads(self.path.read_text())
        self.dirty = 0

    def get(self, kind: str, s: str, seed: int, shape: tuple, ood: bool = False,
            crf: int | None = None) -> dict:
        key = f"{kind}|{s}|{seed}|{int(ood)}|{shape[0]}|{shape[1]:g}|{shape[2]}|{crf}"
        if key not in self.data:
            errs, reason = clip_errors(variant(kind, s, seed, *shape, ood=ood, crf=crf),
                                       shape[1])
            self.data[key] = {"errors": errs, "reason": reason}
            self.dirty += 1
            if self.dirty % 10 == 0:
                self.save()
        return self.data[key]

    def save(self) -> None:
        if self.path:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data))
            tmp.replace(self.path)


def fit_tau(errors: np.ndarray, floor: float) -> float:
    """``tau = max(q(err, QUANTILE) / -ln(SCORE_AT_QUANTILE), floor)``: 80% of the clean
    renders score at least 0.9 on the sub-score (a quantile, not the mean, so that one broken
    clip cannot inflate a tau)."""
    v = np.asarray(errors, dtype=np.float64)
    if len(v) == 0:
        return floor
    return max(float(np.quantile(v, QUANTILE)) / -math.log(SCORE_AT_QUANTILE), floor)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small set, do not write the file")
    ap.add_argument("--out", default=str(pc.CALIBRATION_FILE))
    ap.add_argument("--cache", default=None,
                    help="JSON file of raw errors per clip, reused between runs")
    args = ap.parse_args(argv)
    t_start = time.time()
    cache = ErrorCache(args.cache)
    seeds_id, seeds_ood = ((0,), (0,)) if args.quick else ((0, 1, 2), (0, 1))
    shapes = SHAPES[1:2] if args.quick else SHAPES
    clean: list[dict] = []
    for crf in (None, CRF):
        for shape in shapes:
            for s in SCENARIOS:
                for ood, seeds in ((False, seeds_id), (True, seeds_ood)):
                    for seed in seeds:
                        r = cache.get("clean", s, seed, shape, ood, crf=crf)
                        clean.append({"scenario": s, "seed": seed, "ood": ood,
                                      "size": shape[0], "fps": shape[1], "crf": crf,
                                      "errors": r["errors"], "reason": r["reason"]})
    cache.save()
    taus, stats = {}, {}
    raw = [c for c in clean if c["crf"] is None]  # the taus are fitted on the raw renders
    for k in pc.SUBSCORES:
        v = np.array([c["errors"][k] for c in raw if k in c["errors"]])
        taus[k] = round(fit_tau(v, pc.TAU_FLOORS[k]), 4)
        stats[k] = {"n_applicable": int(len(v)),
                    "err_median": round(float(np.median(v)), 4) if len(v) else None,
                    "err_q80": round(float(np.quantile(v, QUANTILE)), 6) if len(v) else None,
                    "err_q90": round(float(np.quantile(v, 0.9)), 4) if len(v) else None,
                    "err_max": round(float(v.max()), 4) if len(v) else None}
        for size in sorted({c["size"] for c in raw}):
            w = np.array([c["errors"][k] for c in raw if k in c["errors"]
                          and c["size"] == size])
            stats[k][f"err_median_{size}px"] = round(float(np.median(w)), 4) if len(w) else None
        w = np.array([c["errors"][k] for c in clean if k in c["errors"] and c["crf"] == CRF])
        stats[k][f"err_median_h264_crf{CRF}"] = round(float(np.median(w)), 4) if len(w) else None
    for k in pc.SUBSCORES:
        v = np.array([c["errors"][k] for c in raw if k in c["errors"]])
        stats[k]["clean_mean_score"] = (round(float(np.exp(-v / taus[k]).mean()), 4)
                                        if len(v) else None)
    overall, overall_crf = {}, {}
    for c in clean:
        c["score"] = pc.combine(c["errors"], taus)[0] if c["errors"] else float("nan")
    for s in SCENARIOS:
        for crf, table in ((None, overall), (CRF, overall_crf)):
            v = [c["score"] for c in clean if c["scenario"] == s and c["crf"] == crf]
            table[s] = {"mean": round(float(np.nanmean(v)), 4),
                        "min": round(float(np.nanmin(v)), 4), "n_nan": int(np.isnan(v).sum())}
    cache.save()
    print("taus", json.dumps(taus))
    print("clean per scenario", json.dumps(overall))
    print(f"clean per scenario through H.264 CRF {CRF}", json.dumps(overall_crf))
    # discrimination, at the physics suite's shape (64 px, 16 fps, 32 frames)
    disc: dict[str, dict] = {}
    seeds = (0, 1) if args.quick else (0, 1, 2, 3)
    for group, table in (("corruption", CORRUPTIONS), ("benign", BENIGN)):
        for kind, scen in table.items():
            pos, neg = [], []
            sub_drop = []
            for s in scen:
                for seed in seeds:
                    ce = cache.get("clean", s, seed, SHAPES[1])["errors"]
                    ve = cache.get(kind, s, seed, SHAPES[1])["errors"]
                    cs = pc.combine(ce, taus)[0] if ce else float("nan")
                    vs = pc.combine(ve, taus)[0] if ve else float("nan")
                    pos.append(cs)
                    neg.append(vs if np.isfinite(vs) else 0.0)
                    sub_drop.append({k: round(math.exp(-ve.get(k, 0) / taus[k])
                                              - math.exp(-ce.get(k, 0) / taus[k]), 3)
                                     for k in pc.SUBSCORES if k in ve or k in ce})
            worst = {k: round(float(np.mean([d.get(k, 0.0) for d in sub_drop])), 3)
                     for k in pc.SUBSCORES}
            disc[kind] = {"group": group, "n": len(neg),
                          "clean_mean": round(float(np.nanmean(pos)), 4),
                          "variant_mean": round(float(np.mean(neg)), 4),
                          "roc_auc": round(auc(pos, neg), 3),
                          "mean_subscore_change": worst}
            print(f"{kind:15s} clean {np.nanmean(pos):.3f} variant {np.mean(neg):.3f} "
                  f"auc {auc(pos, neg):.3f} {worst}", flush=True)
    cache.save()
    out = {"schema": "vidbench.physics_calibration/1", "metric": "physics_consistency",
           "metric_version": pc.PhysicsConsistency.version,
           "rule": f"tau = max(q{QUANTILE * 100:g}(clean err) / -ln({SCORE_AT_QUANTILE}), floor)",
           "view": {"fps": pc.VIEW.fps, "size": pc.VIEW.size, "resize": pc.VIEW.resize},
           "source_view": {"size": pc.SOURCE_VIEW.size, "resize": pc.SOURCE_VIEW.resize},
           "calibration_set": {"scenarios": list(SCENARIOS), "seeds_id": list(seeds_id),
                               "seeds_ood": list(seeds_ood),
                               "shapes": [list(s) for s in shapes], "n_clips": len(raw),
                               "n_clips_h264": len(clean) - len(raw)},
           "taus": taus, "floors": pc.TAU_FLOORS, "clean_errors": stats,
           "clean_overall": overall, f"clean_overall_h264_crf{CRF}": overall_crf,
           "discrimination": {"shape": list(SHAPES[1]), "seeds": list(seeds), **disc},
           "seconds": round(time.time() - t_start, 1)}
    if not args.quick:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
        print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
