"""Decode once vs decode per metric.

Anchor: what VBench does — each metric opens the file again and reads it frame by frame
with OpenCV (``cv2.VideoCapture``), then builds its own view. vidbench decodes each video
once (PyAV, the next video decoded in the background while the current one's views are
built, as the runner does) and derives all K views from that one decode. Both routes build
the same K=4 views with the same view code, so the difference is the decoding alone.

Also measures peak memory (max RSS) of ``vidbench score`` on 8 and 32 videos, to show it
does not grow with the number of videos.

    .venv/bin/python perf/decode.py [--repeats 5] [--videos 32]
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

from vidbench.synthetic import moving_disc
from vidbench.video import Clip, ViewSpec, decode_ahead, make_view, write_video

VIEWS = [
    ViewSpec(fps=8.0, size=256),                                          # flow metrics
    ViewSpec(num_frames=16, size=224, resize="bicubic_aa", crop="center"),  # CLIP / DINO
    ViewSpec(fps=8.0, num_frames=16, size=(224, 224), resize="bilinear_aa"),  # I3D
    ViewSpec(size=64),                                                    # physics
]


def make_corpus(root: Path, n: int) -> list[Path]:
    paths = []
    rng = np.random.default_rng(0)
    for i in range(n):
        frames_n = int(rng.integers(16, 65))
        size = 256 if i % 2 == 0 else 512
        frames = moving_disc(frames_n, size, 16.0, velocity=(30.0, 12.0), texture=1.0, seed=i)
        paths.append(write_video(root / f"v{i:02d}.mp4", frames, 16.0))
    return paths


def decode_once(paths: list[Path]) -> int:
    """What the runner does: one decode per video (the next one decoded in the background
    while views of the current one are built), then every view from that decode."""
    n = 0
    for _, clip in decode_ahead(paths):
        for spec in VIEWS:
            n += make_view(clip, spec).num_frames
    return n


def opencv_per_metric(paths: list[Path]) -> int:
    import cv2

    n = 0
    for p in paths:
        for spec in VIEWS:
            cap = cv2.VideoCapture(str(p))
            fps = cap.get(cv2.CAP_PROP_FPS)
            frames = []
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            cap.release()
            clip = Clip.from_array(np.stack(frames), fps, str(p))
            n += make_view(clip, spec).num_frames
    return n


def peak_rss_mb(manifest_dir: Path, out: Path) -> float:
    tests = str(Path(__file__).resolve().parents[1] / "tests")
    code = "\n".join([
        "import resource, sys",
        f"sys.path.insert(0, {tests!r})",
        "import plugins_for_tests",
        "from vidbench.runner import ScoreConfig, score",
        f"score({str(manifest_dir)!r}, {str(out)!r}, ScoreConfig(metrics=['test_mean_luma',"
        " 'test_frame_diff'], progress=False))",
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)",
    ])
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1"), check=True)
    return float(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--videos", type=int, default=32)
    args = ap.parse_args()
    import cv2

    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        paths = make_corpus(root / "videos", args.videos)
        decode_once(paths[:2])  # warm-up: torch's resampling kernels load on first use
        opencv_per_metric(paths[:2])
        t_once, t_cv = [], []
        for _ in range(args.repeats):  # interleaved so machine noise hits both routes
            t0 = time.perf_counter()
            a = decode_once(paths)
            t_once.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            b = opencv_per_metric(paths)
            t_cv.append(time.perf_counter() - t0)
            assert a == b, (a, b)
        m_once, m_cv = statistics.median(t_once), statistics.median(t_cv)
        # memory: 8 vs all videos through the real runner
        from vidbench.manifest import write_manifest

        for k in (8, args.videos):
            write_manifest(root / "videos" / f"m{k}.jsonl",
                           [{"video": p.name, "item": p.stem} for p in paths[:k]])
        rss = {k: peak_rss_mb(root / "videos" / f"m{k}.jsonl", root / f"out{k}")
               for k in (8, args.videos)}
    report = {"videos": args.videos, "views_per_video": len(VIEWS), "repeats": args.repeats,
              "decode_once_s": round(m_once, 3), "opencv_per_metric_s": round(m_cv, 3),
              "speedup": round(m_cv / m_once, 2),
              "runs_decode_once_s": [round(x, 3) for x in t_once],
              "runs_opencv_s": [round(x, 3) for x in t_cv],
              "peak_rss_mb": {str(k): round(v, 1) for k, v in rss.items()}}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
