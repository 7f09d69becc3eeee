"""Bias or phase floor? dynamic_degree's reading of a resample against the source's, per
clip, over the sampling phase.

For each real clip (as perf/validity.py loads it), each rate (``--rates``, fps) and each phase
phi = q / (rate Q), q = 0 .. Q - 1 (``--phases`` Q, evenly over one frame of the resample):
the resample by timestamps starting at phi (the source frame on screen at phi + k / rate,
stamped k / rate), scored (a) as decoded frames (no encode: the source's own pairs, the
subset that resample keeps, the "oracle" no reader of that resample can beat) and (b)
written as H.264 CRF 18 and decoded (what perf/validity.py's ``fps`` row reads near
phi = 0). d = score / source score - 1. Averaged over phi, (a) is the source's own time
integral up to the clip's ends, so mean(a) isolates a bias (ends, shot cuts found on the
resample's frames, pair-gap mix), mean(b) - mean(a) the encoder's, and the spread of (a) is
the phase floor.

    OMP_NUM_THREADS=1 .venv/bin/python perf/dd_fps_bias.py --phases 16 --rates 8,16,24,30
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import validity  # perf/validity.py beside this script (perf/ is first on sys.path)

from vidbench.registry import VideoContext, get_metric
from vidbench.video import Clip, decode, write_video


def resample(clip: Clip, rate: float, phase: float) -> Clip:
    """The source frame on screen at ``phase + k / rate`` (k = 0, 1, ... while inside the
    clip), stamped k / rate."""
    ts = np.asarray(clip.timestamps, dtype=np.float64)
    t = np.arange(phase, float(clip.end_time) - 1e-9, 1.0 / rate)
    idx = np.searchsorted(ts, t + 1e-9, side="right") - 1
    return Clip(clip.frames[idx], np.arange(len(idx)) / rate, rate)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--size", type=int, default=240)
    ap.add_argument("--phases", type=int, default=8)
    ap.add_argument("--rates", default="8",
                    help="comma-separated resample rates (fps), e.g. 8,16,24,30")
    ap.add_argument("--metric", default="dynamic_degree")
    ap.add_argument("--no-encode", action="store_true")
    ap.add_argument("--opt", nargs="*", default=[],
                    help="metric options key=value (e.g. flow=dis-medium size=240)")
    a = ap.parse_args()
    v = validity
    opts = {k: (int(x) if x.isdigit() else x) for k, x in (o.split("=", 1) for o in a.opt)}
    m = get_metric(a.metric, **opts)
    print("| clip | fps | source | no encode (oracle): mean / min / max / std (phase 0) | "
          "CRF 18: mean / min / max (phase 0) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in sorted(v.real_clip_paths().items()):
            clip = v.load_source(path, a.seconds, a.size)
            base = m.score(VideoContext(clip)).value
            for rate in (float(r) for r in a.rates.split(",")):
                da, db = [], []
                for q in range(a.phases):
                    low = resample(clip, rate, q / (rate * a.phases))
                    da.append(m.score(VideoContext(low)).value / base - 1)
                    if not a.no_encode:
                        p = Path(tmp) / "x.mp4"
                        write_video(p, low.frames, rate, crf=18)
                        db.append(m.score(VideoContext(decode(p))).value / base - 1)
                print(_row(name, rate, base, da, db), flush=True)


def _row(name: str, rate: float, base: float, da: list[float], db: list[float]) -> str:
    x = 100 * np.asarray(da)
    row = (f"| {name} | {rate:g} | {base:.4g} | {x.mean():+.2f} / {x.min():+.1f} / "
           f"{x.max():+.1f} / {x.std():.1f}% ({x[0]:+.1f}) |")
    if db:
        y = 100 * np.asarray(db)
        row += f" {y.mean():+.2f} / {y.min():+.1f} / {y.max():+.1f}% ({y[0]:+.1f}) |"
    return row


if __name__ == "__main__":
    main()
