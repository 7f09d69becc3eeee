"""Per-video metric throughput on the CPU, and the weight-free battery against decoding.

Clips: ``--clips`` H.264 mp4s of ``--frames`` frames at ``--size`` x ``--size``, 8 fps, a
textured background with a moving disc (half of them slow enough that temporal_flicker
applies, half fast), written once to a temporary folder.

Anchor: decoding the same clips with :func:`vidbench.video.decode` (what every run pays once
per video), measured in the same run, interleaved with the scoring clip by clip as the runner
does (decode a video, score it, next), and also back to back with nothing in between (warm
caches: the cheapest decode can be, so the harshest ratio). Reported per metric: clips/s
(scoring only, decode excluded, a fresh :class:`VideoContext` per clip so nothing is shared
across clips) and the time as a multiple of the decode time. "battery" = temporal_flicker +
motion_smoothness + dynamic_degree in default mode (weight-free), scored together on one
context per clip, as the runner does (they share the 8 fps / 128 px view and its flows).
Target: battery <= 3x decode.

Learned metrics (``--learned``: subject/background consistency, clip_score,
aesthetic_quality; ``--vbench``: the VBench modes with RAFT / AMT-S) run with
``random_weights=True`` (same architectures and cost as the real weights).

    OMP_NUM_THREADS=1 .venv/bin/python perf/metrics.py [--clips 8] [--repeats 5] \
        [--learned] [--vbench]

Prints a markdown section (medians over the repeats) to append to perf/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from vidbench.registry import VideoContext, get_metric
from vidbench.synthetic import moving_disc
from vidbench.video import decode, write_video

BATTERY = ("temporal_flicker", "motion_smoothness", "dynamic_degree")
LEARNED = ("subject_consistency", "background_consistency", "clip_score", "aesthetic_quality")


def make_clips(root: Path, n: int, frames: int, size: int) -> list[Path]:
    paths = []
    for i in range(n):
        speed = 4.0 if i % 2 == 0 else 24.0
        arr = moving_disc(frames, size, 8.0, velocity=(speed, speed / 3), texture=1.0, seed=i,
                          radius=9.0)
        paths.append(write_video(root / f"c{i:02d}.mp4", arr, 8.0))
    return paths


def time_decode(paths: list[Path]) -> float:
    t0 = time.perf_counter()
    for p in paths:
        decode(p)
    return time.perf_counter() - t0


def time_metrics(clips, metrics) -> float:
    t0 = time.perf_counter()
    for clip in clips:
        ctx = VideoContext(clip, prompt="a red ball moves right across a dark background")
        for m in metrics:
            m.score(ctx)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--learned", action="store_true")
    ap.add_argument("--vbench", action="store_true")
    ap.add_argument("--learned-clips", type=int, default=2)
    ap.add_argument("--extra-runs", type=int, default=2,
                    help="runs of the learned / VBench-mode metrics (they are slow on a CPU)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        paths = make_clips(Path(tmp), args.clips, args.frames, args.size)
        clips = [decode(p) for p in paths]
        # warm-up: imports, OpenCV/DIS and torch initialisation
        time_metrics(clips[:1], [get_metric(n) for n in BATTERY])

        # Interleaved per clip (decode, then each metric alone, then the battery), so the
        # anchor and the metrics see the same machine load; medians over the repeats.
        rows: dict[str, list[float]] = {"decode": [], "decode back-to-back": [], "battery": []}
        singles = {n: get_metric(n) for n in BATTERY}
        for n in BATTERY:
            rows[n] = []
        for _ in range(args.repeats):
            acc = dict.fromkeys(rows, 0.0)
            acc["decode back-to-back"] = time_decode(paths)
            for p, clip in zip(paths, clips, strict=True):
                t0 = time.perf_counter()
                decode(p)
                acc["decode"] += time.perf_counter() - t0
                for n, m in singles.items():
                    acc[n] += time_metrics([clip], [m])
                acc["battery"] += time_metrics([clip], list(singles.values()))
            for k, v in acc.items():
                rows[k].append(v)
        ratios = [b / d for b, d in zip(rows["battery"], rows["decode"], strict=True)]
        ratios_b2b = [b / d for b, d in
                      zip(rows["battery"], rows["decode back-to-back"], strict=True)]
        nclips = {k: args.clips for k in rows}

        extra: dict[str, object] = {}
        if args.learned:
            for n in LEARNED:
                try:
                    extra[n] = get_metric(n, random_weights=True)
                except Exception as e:  # not in this build
                    print(f"<!-- {n}: skipped ({type(e).__name__}: {e}) -->")
        if args.vbench:
            for n in BATTERY:
                extra[f"{n} (vbench)"] = get_metric(n, mode="vbench", random_weights=True)
        sub = clips[:args.learned_clips]
        for label, m in extra.items():
            time_metrics(sub[:1], [m])  # warm-up: build the backbone
            rows[label] = [time_metrics(sub, [m]) for _ in range(args.extra_runs)]
            nclips[label] = len(sub)
            print(f"# {label}: {statistics.median(rows[label]) / len(sub):.3f} s/clip",
                  file=sys.stderr, flush=True)

    med = {k: statistics.median(v) for k, v in rows.items()}
    dec_per_clip = med["decode"] / args.clips
    print(f"\n## Per-video metrics: throughput on CPU ({time.strftime('%Y-%m-%d')})\n")
    print(f"{args.clips} clips of {args.frames} frames at {args.size}x{args.size}, 8 fps, "
          f"H.264; medians of {args.repeats} runs (learned/VBench modes: "
          f"{args.extra_runs} run(s) on {args.learned_clips} clip(s)); "
          f"{platform.processor() or platform.machine()}, OMP threads as set by the caller.\n")
    print("| what | clips/s | s/clip | x decode time (anchor) |")
    print("|---|---|---|---|")
    for k, v in med.items():
        per_clip = v / nclips[k]
        print(f"| {k} | {1 / per_clip:.3g} | {per_clip:.4g} | {per_clip / dec_per_clip:.3g} |")
    ratio = statistics.median(ratios)
    verdict = "meets" if ratio <= 3 else "misses"
    print(f"\nWeight-free battery (temporal_flicker + motion_smoothness + dynamic_degree, "
          f"default mode, shared view and flows) = {ratio:.2f}x the decode time (median of "
          f"the per-run ratios; range {min(ratios):.2f}-{max(ratios):.2f}): {verdict} the "
          f"<= 3x target. Against decoding the clips back to back with nothing in between "
          f"(warm caches, a lower bound on decode cost): {statistics.median(ratios_b2b):.2f}x "
          f"(range {min(ratios_b2b):.2f}-{max(ratios_b2b):.2f}).")
    print("\nCommand: `OMP_NUM_THREADS=1 .venv/bin/python perf/metrics.py "
          + "".join(f"--{a} " for a in ("learned", "vbench") if getattr(args, a))
          + f"--clips {args.clips} --repeats {args.repeats} --learned-clips "
          f"{args.learned_clips} --extra-runs {args.extra_runs}`")


if __name__ == "__main__":
    main()
