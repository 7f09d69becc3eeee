"""Does the displacement dynamic_degree reads grow linearly with the frame gap on real footage?

Per real clip (as perf/validity.py loads it) and flow setting: the mean over all source pairs
(i, i + g) of the top-5% flow magnitude per 1/8 s at a 256-px short side (capped at 128, as
dynamic_degree reads it), for gaps g = 1-6 source frames. Linear growth would read the same
at every gap; a falling row means a mix of gaps (a retimed constant-rate file) reads lower
than its mean gap.

    OMP_NUM_THREADS=1 .venv/bin/python perf/dd_gaps.py
"""

from __future__ import annotations

import numpy as np
import validity  # perf/validity.py beside this script (perf/ is first on sys.path)

from vidbench.metrics import flow as fl
from vidbench.video import resize_frames

SETTINGS = (("dis-ultrafast", 128), ("dis-fast", 128), ("dis-medium", 128),
            ("dis-ultrafast", 192))



def main() -> None:
    v = validity
    print("| clip | flow | view px | per 1/8 s at gaps 1 / 2 / 3 / 4 / 5 / 6 frames |")
    print("|---|---|---|---|")
    for name, path in sorted(v.real_clip_paths().items()):
        clip = v.load_source(path, 4.0, 240)
        for method, size in SETTINGS:
            est = fl.ClassicalFlow(method)
            g = fl.to_gray(resize_frames(clip.frames, size, "area"))
            row = []
            for gap in range(1, 7):
                pairs = [(i, i + gap) for i in range(len(g) - 6)]
                dt = np.full(len(pairs), gap / clip.fps)
                m = fl.motion_per_pair(est.flows(g, pairs), dt, size, cap=fl.DISPLACEMENT_CAP)
                row.append(float(m.mean()))
            print(f"| {name} | {method} | {size} | " + " / ".join(f"{x:.2f}" for x in row)
                  + " |", flush=True)


if __name__ == "__main__":
    main()
