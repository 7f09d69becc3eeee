"""Would another flow setting make dynamic_degree more invariant on real footage?

The invariant transforms of perf/validity.py (CRF-18 re-encode, fps 8/16/24/30, size x0.5,
phase 1-3, VFR; size x2 left out for time), each written as H.264 CRF 18 and decoded as
there, scored with dynamic_degree under several estimator settings on the same encodes.
Prints per clip and setting: the source value, the seconds the setting took for the 11
scores, and d = score / source score - 1 per transform, in %.

    OMP_NUM_THREADS=1 .venv/bin/python perf/dd_variants.py --variants base,fast,medium,s192
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import validity  # perf/validity.py beside this script (perf/ is first on sys.path)

from vidbench.registry import VideoContext, get_metric

VARIANTS: dict[str, dict] = {"base": {}, "fast": {"flow": "dis-fast"},
                             "medium": {"flow": "dis-medium"}, "s192": {"size": 192}}



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default=",".join(VARIANTS))
    a = ap.parse_args()
    v = validity
    ms = {k: get_metric("dynamic_degree", **VARIANTS[k]) for k in a.variants.split(",")}
    keep = ("reencode", "fps", "phase", "vfr", "size")
    trs = [t for t in v.transforms() if t.family in keep and t.name != "size:2"]
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in sorted(v.real_clip_paths().items()):
            src = v.load_source(path, 4.0, 240)
            outs = [(t.name, v.apply(t, src, name, Path(tmp))) for t in trs]
            for k, m in ms.items():
                t0 = time.time()
                ref = m.score(VideoContext(src)).value
                ds = {tn: 100 * (m.score(VideoContext(c)).value / ref - 1) for tn, c in outs}
                print(f"{name:18s} {k:7s} ref {ref:7.3f} {time.time() - t0:5.1f}s | "
                      + " ".join(f"{tn} {d:+.1f}" for tn, d in ds.items()), flush=True)


if __name__ == "__main__":
    main()
