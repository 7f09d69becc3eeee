"""Per-dimension CPU cost of VBench's dimensions in vidbench (random weights, full-size
architectures) on one clip, the decode count of a run over all of them, and what sharing
one context saves.

    OMP_NUM_THREADS=1 .venv/bin/python perf/vbench_dims.py --repeats 3
    OMP_NUM_THREADS=1 .venv/bin/python perf/vbench_dims.py --metrics scene --mode default

For each metric: the median wall time of ``score()`` on a fresh video context (so nothing is
memoised across repeats; the model is built once beforehand and not timed), in ``vbench``
mode (or ``--mode default``). Then all of them on one shared context (the runner's path:
one decode, shared views and backbone passes) against the sum of the separate times.
Prints a markdown table. (scene's vbench mode also re-reads the file with decord at
384 x 384, as VBench does; that read is inside its time, not in the decode count.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

DIMENSIONS = ["subject_consistency", "background_consistency", "temporal_flicker",
              "motion_smoothness", "dynamic_degree", "aesthetic_quality", "imaging_quality",
              "appearance_style", "overall_consistency", "temporal_style", "human_action",
              "scene", "object_class", "multiple_objects", "color", "spatial_relationship"]
PROMPT = "A person is riding a bike, oil painting style"
META = {"auxiliary_info": {
    "appearance_style": {"appearance_style": "oil painting style"},
    "scene": {"scene": {"scene": "amusement park"}},
    "object_class": {"object": "bicycle"},
    "multiple_objects": {"object": "person and bicycle"},
    "color": {"color": "red"},
    "spatial_relationship": {"spatial_relationship": {
        "object_a": "person", "object_b": "bicycle", "relationship": "on the left of"}}}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--metrics", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--mode", default="vbench", choices=["vbench", "default"])
    args = ap.parse_args()

    from vidbench import video as video_io
    from vidbench.registry import VideoContext, get_metric
    from vidbench.synthetic import moving_disc

    with tempfile.TemporaryDirectory() as d:
        frames = moving_disc(args.frames, 320, 8.0, radius=40.0, velocity=(40.0, 0.0),
                             start=(60.0, 160.0), color=(220, 60, 40), texture=1.0,
                             background=(60, 90, 120), seed=1)
        frames = np.ascontiguousarray(np.concatenate([frames, frames[:, :, :192]], axis=2))
        path = video_io.write_video(Path(d) / "clip.mp4", frames, 8.0)  # 320 x 512, 2 s
        decodes = 0
        real_decode = video_io.decode

        def counting_decode(*a, **k):
            nonlocal decodes
            decodes += 1
            return real_decode(*a, **k)

        t0 = time.perf_counter()
        clip = real_decode(path)
        t_decode = time.perf_counter() - t0
        metrics = {}
        for name in args.metrics.split(",") if args.metrics else DIMENSIONS:
            m = get_metric(name, mode=args.mode, random_weights=True)
            m.score(VideoContext(clip, prompt=PROMPT, meta=META))  # build + warm up
            metrics[name] = m
        rows = []
        separate = 0.0
        for name, m in metrics.items():
            times = []
            for _ in range(args.repeats):
                ctx = VideoContext(clip, prompt=PROMPT, meta=META)
                t0 = time.perf_counter()
                m.score(ctx)
                times.append(time.perf_counter() - t0)
            med = statistics.median(times)
            separate += med
            rows.append((name, med, min(times), max(times)))
            print(f"# {name}: {med:.2f} s", flush=True)
        shared = []
        for _ in range(args.repeats):
            video_io.decode = counting_decode
            decodes = 0
            t0 = time.perf_counter()
            ctx = VideoContext(video_io.decode(path), prompt=PROMPT, meta=META)
            for m in metrics.values():
                m.score(ctx)
            shared.append(time.perf_counter() - t0)
            video_io.decode = real_decode
        print(f"clip: {args.frames} frames 320x512 at 8 fps; decode {t_decode:.3f} s; "
              f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}; "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"\n| dimension ({args.mode} mode, random weights) | median s/clip | min-max "
              f"| x decode |")
        print("|---|---:|---:|---:|")
        for name, med, lo, hi in rows:
            print(f"| {name} | {med:.2f} | {lo:.2f}-{hi:.2f} | {med / t_decode:.0f} |")
        print(f"| **all {len(rows)}, separate contexts (sum)** | {separate:.2f} | | |")
        print(f"| **all {len(rows)}, one context (decode included)** | "
              f"{statistics.median(shared):.2f} | {min(shared):.2f}-{max(shared):.2f} | |")
        print(f"\ndecodes per video in the shared run: {decodes}")


if __name__ == "__main__":
    main()
