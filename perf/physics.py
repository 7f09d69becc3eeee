"""Physics metrics: speed and validity figures.

Shared file: each metric owner appends functions and registers them in ``TASKS``.

    OMP_NUM_THREADS=1 .venv/bin/python perf/physics.py scenario_speed [--repeats 5]
    OMP_NUM_THREADS=1 .venv/bin/python perf/physics.py scenario_roc [--size 64 --crf -1]
    OMP_NUM_THREADS=1 .venv/bin/python perf/physics.py consistency_speed [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

# ----------------------------------------------------------------------- physics_scenario


def scenario_speed(repeats: int = 5, frames: int = 64, size: int = 256, fps: float = 24.0
                   ) -> dict:
    """physics_scenario clips/s at ``frames`` x ``size``^2, one thread, against the anchor
    "decode the same mp4 with vidbench.video.decode" measured in the same run. Each repeat
    scores one clip per scenario (7 clips) from a fresh VideoContext (the view resize is
    included; decode is not)."""
    import cv2

    from vidbench.registry import VideoContext, get_metric
    from vidbench.scenarios import SCENARIOS, make_item, render
    from vidbench.video import decode, write_video

    cv2.setNumThreads(1)
    metric = get_metric("physics_scenario")
    items = [make_item(s, 0, num_frames=frames, size=size, fps=fps, cond_frames=8)
             for s in SCENARIOS]
    with tempfile.TemporaryDirectory() as tmp:
        paths = [write_video(Path(tmp) / f"{i.item}.mp4", render(i.meta["physics"], frames,
                                                                  size, fps), fps)
                 for i in items]
        clips = [decode(p) for p in paths]
        metric_s, decode_s, metric_cpu, decode_cpu = [], [], [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            for item, clip in zip(items, clips, strict=True):
                s = metric.score(VideoContext(clip, meta=item.meta))
                assert np.isfinite(s.value)
            metric_s.append((time.perf_counter() - t0) / len(items))
            metric_cpu.append((time.process_time() - c0) / len(items))
            t0, c0 = time.perf_counter(), time.process_time()
            for p in paths:
                decode(p)
            decode_s.append((time.perf_counter() - t0) / len(paths))
            decode_cpu.append((time.process_time() - c0) / len(paths))
    m, d = statistics.median(metric_s), statistics.median(decode_s)
    mc, dc = statistics.median(metric_cpu), statistics.median(decode_cpu)
    return {"metric": "physics_scenario", "clip": f"{frames}x{size}x{size}@{fps:g}fps",
            "repeats": repeats, "wall_s_per_clip": round(m, 4),
            "clips_per_s_wall": round(1.0 / m, 2), "cpu_s_per_clip": round(mc, 4),
            "clips_per_s_cpu": round(1.0 / mc, 2),
            "anchor_decode_wall_s_per_clip": round(d, 4),
            "anchor_decode_cpu_s_per_clip": round(dc, 4),
            "ratio_metric_over_decode_wall": round(m / d, 2),
            "ratio_metric_over_decode_cpu": round(mc / dc, 2),
            "wall_s_per_clip_all": [round(x, 4) for x in metric_s]}


def scenario_roc(size: int = 64, crf: int = -1, seeds: int = 2) -> dict:
    """ROC-AUC of physics_scenario between clean ground-truth renders and each corruption
    of vidbench.scenarios.corrupt, over every applicable scenario x {ID, OOD} x ``seeds``
    seeds, 16 frames at 8 fps rendered at ``size``; ``crf >= 0`` passes every clip through
    an H.264 round trip at that CRF first (the physics-mini pipeline is size 32, crf 18)."""
    from vidbench.registry import VideoContext, get_metric
    from vidbench.scenarios import SCENARIOS, render, sample_params
    from vidbench.scenarios.corrupt import CORRUPTIONS, applies, corrupt
    from vidbench.video import Clip, decode, write_video

    metric = get_metric("physics_scenario")
    n, fps = 16, 8.0

    def score(frames: np.ndarray, params: dict) -> float:
        if crf >= 0:
            with tempfile.TemporaryDirectory() as tmp:
                clip = decode(write_video(Path(tmp) / "c.mp4", frames, fps, crf=crf))
        else:
            clip = Clip.from_array(frames, fps)
        meta = {"physics": params, "cond_frames": 4, "render": {"fps": fps}}
        return metric.score(VideoContext(clip, meta=meta)).value

    clean: list[float] = []
    bad: dict[str, list[float]] = {}
    for scen in SCENARIOS:
        for ood in (False, True):
            for seed in range(seeds):
                p = sample_params(scen, seed, ood)
                clean.append(score(render(p, n, size, fps), p))
                for name in CORRUPTIONS:
                    if name == "h264_crf35" and crf >= 0:
                        continue
                    if applies(name, scen):
                        bad.setdefault(name, []).append(
                            score(corrupt(p, name, n, size, fps, seed=seed), p))

    def auc(pos: list[float], neg: list[float]) -> float:
        a, b = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
        return float(((a > b).sum() + 0.5 * (a == b).sum()) / (a.size * b.size))

    return {"metric": "physics_scenario", "size": size, "crf": crf, "seeds": seeds,
            "clean_mean": round(float(np.mean(clean)), 4),
            "clean_min": round(float(np.min(clean)), 4), "n_clean": len(clean),
            "auc": {k: round(auc(clean, v), 3) for k, v in bad.items()},
            "corrupted_mean": {k: round(float(np.mean(v)), 3) for k, v in bad.items()}}


# --------------------------------------------------------------------- physics_consistency


def consistency_speed(repeats: int = 5, frames: int = 64, size: int = 256, fps: float = 24.0
                      ) -> dict:
    """physics_consistency clips/s at ``frames`` x ``size``^2, one thread (OpenCV and
    OMP limited to 1), against the anchor "decode the same mp4 with vidbench.video.decode"
    measured in the same run. Each repeat scores one clip per scenario (7 clips) from a fresh
    VideoContext (the view's resample + resize to 128 px is included; decode is not)."""
    import cv2

    from vidbench.registry import VideoContext, get_metric
    from vidbench.scenarios import SCENARIOS, render, sample_params
    from vidbench.video import decode, write_video

    cv2.setNumThreads(1)
    metric = get_metric("physics_consistency")
    params = [sample_params(s, 0) for s in SCENARIOS]
    with tempfile.TemporaryDirectory() as tmp:
        paths = [write_video(Path(tmp) / f"{p['scenario']}.mp4",
                             render(p, frames, size, fps), fps) for p in params]
        clips = [decode(p) for p in paths]
        metric_s, decode_s, metric_cpu, decode_cpu = [], [], [], []
        values = []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            for clip in clips:
                values.append(metric.score(VideoContext(clip)).value)
            metric_s.append((time.perf_counter() - t0) / len(clips))
            metric_cpu.append((time.process_time() - c0) / len(clips))
            t0, c0 = time.perf_counter(), time.process_time()
            for p in paths:
                decode(p)
            decode_s.append((time.perf_counter() - t0) / len(paths))
            decode_cpu.append((time.process_time() - c0) / len(paths))
    m, d = statistics.median(metric_s), statistics.median(decode_s)
    mc, dc = statistics.median(metric_cpu), statistics.median(decode_cpu)
    return {"metric": "physics_consistency", "clip": f"{frames}x{size}x{size}@{fps:g}fps",
            "repeats": repeats, "wall_s_per_clip": round(m, 4),
            "clips_per_s_wall": round(1.0 / m, 2), "cpu_s_per_clip": round(mc, 4),
            "clips_per_s_cpu": round(1.0 / mc, 2),
            "anchor_decode_wall_s_per_clip": round(d, 4),
            "anchor_decode_cpu_s_per_clip": round(dc, 4),
            "ratio_metric_over_decode_wall": round(m / d, 2),
            "ratio_metric_over_decode_cpu": round(mc / dc, 2),
            "mean_score_clean": round(float(np.nanmean(values)), 4),
            "wall_s_per_clip_all": [round(x, 4) for x in metric_s]}


TASKS: dict[str, Callable[..., dict]] = {
    "consistency_speed": consistency_speed,
    "scenario_speed": scenario_speed,
    "scenario_roc": scenario_roc,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("task", choices=sorted(TASKS))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--crf", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=None)
    args = ap.parse_args()
    kw = {k: v for k, v in (("size", args.size), ("crf", args.crf), ("seeds", args.seeds))
          if v is not None}
    if args.task in ("scenario_speed", "consistency_speed"):
        kw = {"repeats": args.repeats, **({"size": args.size} if args.size else {})}
    print(json.dumps(TASKS[args.task](**kw), indent=1))


if __name__ == "__main__":
    main()
