"""Peak memory of dynamic_degree (default mode) on long clips: its flows reduced in chunks of
``flow.FLOW_CHUNK`` pairs against all pairs at once (issue 17).

Makes a synthetic H.264 clip per duration (a smooth texture panning ~3 px/frame at 320x180,
30 fps: the flows run on a 128-px view whatever the source size, so flow memory is that of a
1080p clip of the same length), then, each in a fresh process, streams dynamic_degree's view
(``vidbench.stream.decode_views``) and scores it; prints the value (hex: equal to the last bit
or not), the flow count and the peak RSS (``ru_maxrss``).

    OMP_NUM_THREADS=1 .venv/bin/python perf/dd_memory.py --seconds 20,60
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_clip(path: Path, seconds: float, fps: float = 30.0) -> Path:
    import cv2

    from vidbench.video import write_video

    n = int(seconds * fps)
    rng = np.random.default_rng(0)
    width = 320 + 3 * n + 4
    coarse = rng.uniform(0, 255, size=(30, width // 6 + 1, 3)).astype(np.float32)
    world = np.clip(cv2.resize(coarse, (width, 180), interpolation=cv2.INTER_CUBIC), 0, 255)
    world = world.astype(np.uint8)
    x = [3 * k + 2 + int(2 * np.sin(k / 7)) for k in range(n)]
    return write_video(path, np.stack([world[:, a:a + 320] for a in x]), fps)


def measure(path: str, chunk: int) -> dict:
    """In this process: stream dynamic_degree's view of ``path`` and score it."""
    from vidbench.metrics import flow as fl
    from vidbench.registry import VideoContext, get_metric
    from vidbench.stream import decode_views

    if chunk > 0:
        fl.FLOW_CHUNK = chunk
    else:
        fl.FLOW_CHUNK = 1 << 30  # every pair's flow at once (before the chunked reduction)
    m = get_metric("dynamic_degree")
    t0 = time.perf_counter()
    clip = decode_views(path, m.view_specs())
    s = m.score(VideoContext(clip))
    return {"value": float(s.value).hex(), "flows": s.details["flows"],
            "frames": clip.num_frames, "wall_s": round(time.perf_counter() - t0, 1),
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", default="20,60")
    ap.add_argument("--measure", nargs=2, metavar=("PATH", "CHUNK"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.measure:
        print(json.dumps(measure(a.measure[0], int(a.measure[1]))))
        return
    from vidbench.metrics.flow import FLOW_CHUNK

    print("| clip | flows | all pairs at once: peak RSS | chunks of "
          f"{FLOW_CHUNK}: peak RSS | value equal |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for sec in (float(s) for s in a.seconds.split(",")):
            clip = make_clip(Path(tmp) / f"pan{sec:g}.mp4", sec)
            got = {}
            for chunk in (0, FLOW_CHUNK):
                out = subprocess.run([sys.executable, __file__, "--measure", str(clip),
                                      str(chunk)], check=True, capture_output=True, text=True)
                got[chunk] = json.loads(out.stdout.strip().splitlines()[-1])
            whole, part = got[0], got[FLOW_CHUNK]
            print(f"| {sec:g} s 320x180 30 fps | {whole['flows']} | {whole['peak_mb']} MB | "
                  f"{part['peak_mb']} MB | {whole['value'] == part['value']} |")


if __name__ == "__main__":
    main()
