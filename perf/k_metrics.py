"""vidbench vs VBench's own code at K = 1, 2, 4 metrics per video (issue 21, fix 6).

Anchor: the official ``vbench`` 0.1.5 package's per-video functions, each decoding the file
itself as VBench does (temporal_flickering: OpenCV; subject/background consistency and
aesthetic quality: decord). vidbench: one decode per video (PyAV, ``--mode vbench``'s colour
conversion) and every metric's view from it, exactly what ``vidbench score --mode vbench``
does per video (without the process start and the result files). Both sides run the same
seeded random ``tiny`` DINO / CLIP networks on the CPU, so the learned part costs the same.

K = 1: temporal_flicker. K = 2: + subject_consistency. K = 4: + background_consistency and
aesthetic_quality. Per video and K, the two sides run back to back (alternating which goes
first); the ratio is vidbench / VBench per pair, and the table gives medians over videos x
repeats. The same run measures on one pinned core (``sched_setaffinity({0})``, as
``taskset -c 0``) and unpinned (every core the machine gives), in two child processes.

    OMP_NUM_THREADS=1 .venv/bin/python perf/k_metrics.py [--repeats 5] [--videos 6]

Needs the peers (``pip install --no-deps -r requirements/peers.txt``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

KS = (1, 2, 4)


def make_clips(root: Path, n: int) -> list[Path]:
    """Short clips as VBench scores them: 2 s at 8 / 16 / 24 fps, 320x512 or 256x256."""
    from vidbench.synthetic import moving_disc
    from vidbench.video import write_video

    out = []
    for i in range(n):
        fps = (8.0, 16.0, 24.0)[i % 3]
        frames = moving_disc(int(2 * fps), 256 if i % 2 else 320, fps, velocity=(30.0, 12.0),
                             texture=1.0, seed=i)
        if i % 2 == 0:
            frames = np.ascontiguousarray(np.concatenate([frames, frames[:, :, :192]], axis=2))
        out.append(write_video(root / f"v{i:02d}.mp4", frames, fps))
    return out


def sides(k: int):
    """(vidbench(path), vbench(path)) callables scoring one video with the first k metrics."""
    from vidbench.registry import VideoContext, get_metric
    from vidbench.runner import decode_colour
    from vidbench.video import decode

    names = ["temporal_flicker", "subject_consistency", "background_consistency",
             "aesthetic_quality"][:k]
    ms = [get_metric(n, mode="vbench") if n == "temporal_flicker" else
          get_metric(n, mode="vbench", random_weights=True, arch="tiny") for n in names]
    colour = decode_colour("vbench")

    def ours(p: Path) -> list[float]:
        ctx = VideoContext(decode(p, colour=colour), prompt="a ball", video=str(p))
        return [m.score(ctx).value for m in ms]

    import vbench.temporal_flickering as tf

    calls = [lambda p: tf.cal_score(str(p))]
    if k >= 2:
        import vbench.subject_consistency as sc

        dino = ms[1].backbone().model
        calls.append(lambda p: sc.subject_consistency(dino, [str(p)], "cpu", False)[1][0]
                     ["video_results"])
    if k >= 4:
        import vbench.aesthetic_quality as aq
        import vbench.background_consistency as bc

        clip_model = ms[2].backbone().model
        head = ms[3].head(768)
        calls.append(lambda p: bc.background_consistency(clip_model, None, [str(p)], "cpu",
                                                         False)[1][0]["video_results"])
        calls.append(lambda p: aq.laion_aesthetic(head, ms[3].backbone().model, [str(p)],
                                                  "cpu")[1][0]["video_results"])

    def theirs(p: Path) -> list[float]:
        return [c(p) for c in calls]

    return ours, theirs


def worker(clips: list[Path], repeats: int, ks: tuple[int, ...] = KS) -> dict:
    import torch

    torch.set_num_threads(1)
    out: dict = {}
    for k in ks:
        ours, theirs = sides(k)
        for p in clips[:2]:  # warm-up: imports, first model calls
            a, b = ours(p), theirs(p)
            if not np.allclose(a, b, atol=1e-6):
                raise SystemExit(f"K={k} {p.name}: vidbench {a} != VBench {b}")
        t_ours, t_theirs, ratio = [], [], []
        for r in range(repeats):
            for i, p in enumerate(clips):
                order = (ours, theirs) if (r + i) % 2 == 0 else (theirs, ours)
                times = {}
                for fn in order:
                    t0 = time.perf_counter()
                    fn(p)
                    times[fn] = time.perf_counter() - t0
                t_ours.append(times[ours])
                t_theirs.append(times[theirs])
                ratio.append(times[ours] / times[theirs])
        out[str(k)] = {"vidbench_ms": 1000 * statistics.median(t_ours),
                       "vbench_ms": 1000 * statistics.median(t_theirs),
                       "ratio": statistics.median(ratio),
                       "ratio_q25_q75": [float(np.percentile(ratio, 25)),
                                         float(np.percentile(ratio, 75))]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--worker", choices=("pinned", "unpinned"))
    ap.add_argument("--clips", type=Path)
    ap.add_argument("--ks", default="1,2,4", help="metric counts to measure (of 1, 2, 4)")
    args = ap.parse_args()
    ks = tuple(int(k) for k in args.ks.split(","))
    if not set(ks) <= set(KS):
        sys.exit(f"--ks: choose from {KS}")
    if args.worker:
        if args.worker == "pinned":
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        clips = sorted(args.clips.glob("*.mp4"))
        print(json.dumps(worker(clips, args.repeats, ks)))
        return
    with tempfile.TemporaryDirectory() as d:
        make_clips(Path(d), args.videos)
        res = {}
        for how in ("pinned", "unpinned"):
            r = subprocess.run([sys.executable, __file__, "--worker", how, "--clips", d,
                                "--repeats", str(args.repeats), "--ks", args.ks],
                               capture_output=True,
                               text=True)
            if r.returncode:
                sys.exit(f"{how} worker failed:\n{r.stderr[-3000:]}")
            res[how] = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, "
          f"{args.videos} videos x {args.repeats} repeats")
    print("| K | metrics | pinned: vidbench / VBench ms | ratio (IQR) | "
          "unpinned: vidbench / VBench ms | ratio (IQR) |")
    print("|---|---|---|---|---|---|")
    names = {1: "flicker", 2: "+ subject", 4: "+ background, aesthetic"}
    for k in ks:
        row = [f"| {k} | {names[k]}"]
        for how in ("pinned", "unpinned"):
            x = res[how][str(k)]
            q = x["ratio_q25_q75"]
            row.append(f"{x['vidbench_ms']:.1f} / {x['vbench_ms']:.1f} | "
                       f"**{x['ratio']:.2f}** ({q[0]:.2f}-{q[1]:.2f})")
        print(" | ".join(row) + " |")


if __name__ == "__main__":
    main()
