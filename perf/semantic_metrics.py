"""Speed of the backbone metrics (subject_consistency, background_consistency, clip_score,
aesthetic_quality) on CPU, against decoding the same clip (the anchor), plus the saving from
sharing CLIP image features between metrics.

Clips: 16 frames, 256x256, 8 fps H.264 (so the default 8 fps view holds 16 frames).
Backbones: the real architectures (DINO ViT-B/16, CLIP ViT-B/32, CLIP ViT-L/14) with
fixed-seed random weights: the cost is the same as with the pretrained files. Models are
built once (not timed); each timed run scores a fresh VideoContext (no memoised features).

    OMP_NUM_THREADS=1 .venv/bin/python perf/semantic_metrics.py [--repeats 3] [--skip-vit-l]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from vidbench.registry import VideoContext, get_metric
from vidbench.synthetic import moving_disc
from vidbench.video import decode, write_video


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-vit-l", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        path = write_video(Path(d) / "clip.mp4",
                           moving_disc(16, 256, 8.0, texture=1.0, radius=14.0), 8.0)
        clip = decode(path)
        t_decode = median_time(lambda: decode(path), max(5, args.repeats))
        prompt = "a red ball moving right"
        metrics = {
            "subject_consistency (DINO ViT-B/16)": get_metric("subject_consistency",
                                                              random_weights=True),
            "background_consistency (CLIP ViT-B/32)": get_metric("background_consistency",
                                                                 random_weights=True),
            "clip_score (CLIP ViT-B/32)": get_metric("clip_score", random_weights=True),
        }
        if not args.skip_vit_l:
            metrics["aesthetic_quality (CLIP ViT-L/14)"] = get_metric("aesthetic_quality",
                                                                      random_weights=True)
        for m in metrics.values():  # build models, warm up
            m.score(VideoContext(clip, prompt=prompt))
        rows = []
        for label, m in metrics.items():
            t = median_time(lambda m=m: m.score(VideoContext(clip, prompt=prompt)),
                            args.repeats)
            rows.append((label, t))
        bg, cs = metrics["background_consistency (CLIP ViT-B/32)"], \
            metrics["clip_score (CLIP ViT-B/32)"]

        def shared() -> None:
            ctx = VideoContext(clip, prompt=prompt)
            bg.score(ctx)
            cs.score(ctx)

        def separate() -> None:
            bg.score(VideoContext(clip, prompt=prompt))
            cs.score(VideoContext(clip, prompt=prompt))

        t_shared = median_time(shared, args.repeats)
        t_separate = median_time(separate, args.repeats)

    print(f"decode (anchor): {t_decode * 1e3:.1f} ms/clip ({1 / t_decode:.1f} clips/s)")
    print("| metric | s/clip | clips/s | x decode time |")
    print("|---|---|---|---|")
    for label, t in rows:
        print(f"| {label} | {t:.2f} | {1 / t:.3f} | {t / t_decode:.0f} |")
    print(f"| background_consistency + clip_score, shared features | {t_shared:.2f} | "
          f"{1 / t_shared:.3f} | {t_shared / t_decode:.0f} |")
    print(f"| background_consistency + clip_score, separate contexts | {t_separate:.2f} | "
          f"{1 / t_separate:.3f} | {t_separate / t_decode:.0f} |")
    print(f"sharing saves {1 - t_shared / t_separate:.0%} (separate / shared = "
          f"{t_separate / t_shared:.2f}x)")


if __name__ == "__main__":
    main()
