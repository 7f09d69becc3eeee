"""The main job's speed: `vidbench generate`/`vidbench run` of the reference DiT on physics-mini
against the anchor "the sampler called directly on the same items in one process".

Per repeat, in turn (so the box's load drifts evenly over all three):

1. anchor: a fresh Python process loads the DiT adapter and calls ``generate_one`` on every
   physics-mini item (sampling only: no encoding, hashing or manifest); the time of that loop
   is printed by the child.
2. ``vidbench generate --model dit --suite physics-mini --out TMP``: the generation loop's own
   wall time (``wall_time_s`` of its report, from the first item to the manifest) and the
   whole command's wall time (process start, imports, model load included).
3. ``vidbench run --out TMP``: the whole main job (generate + score + leaderboard).

    OMP_NUM_THREADS=2 .venv/bin/python perf/generate_dit.py --repeats 5

Prints medians and the ratios generate-loop / anchor and generate-command / anchor.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ANCHOR = """
import sys, time
from vidbench.adapters import get_model
from vidbench.suites import get_suite
adapter = get_model("dit")
items = get_suite("physics-mini").items
t0 = time.perf_counter()
for it in items:
    adapter.generate_one(it)
print(time.perf_counter() - t0)
"""


def _timed(cmd: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return dt, r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    env = {**os.environ}
    env.pop("CI", None)
    py = sys.executable
    rows: dict[str, list[float]] = {"anchor_loop": [], "generate_loop": [], "generate_cmd": [],
                                    "run_cmd": []}
    for rep in range(args.repeats):
        _, r = _timed([py, "-c", ANCHOR], env)
        rows["anchor_loop"].append(float(r.stdout.strip().splitlines()[-1]))
        tmp = Path(tempfile.mkdtemp(prefix="vb-perf-"))
        try:
            dt, _ = _timed([py, "-m", "vidbench", "generate", "--model", "dit", "--suite",
                            "physics-mini", "--out", str(tmp / "g"), "--quiet"], env)
            rows["generate_cmd"].append(dt)
            manifest = [json.loads(x) for x in (tmp / "g" / "manifest.jsonl").read_text()
                        .splitlines()]
            rows["generate_loop"].append(sum(m["meta"]["generation"]["wall_time_s"]
                                             for m in manifest))
            dt, _ = _timed([py, "-m", "vidbench", "run", "--out", str(tmp / "r"), "--quiet"],
                           env)
            rows["run_cmd"].append(dt)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"repeat {rep + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in rows.items()),
              flush=True)
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"\nmedians of {args.repeats} (min-max):")
    for k, v in rows.items():
        print(f"  {k:14s} {med[k]:7.2f} s  ({min(v):.2f}-{max(v):.2f})")
    print(f"generate loop / anchor:    {med['generate_loop'] / med['anchor_loop']:.2f}x")
    print(f"generate command / anchor: {med['generate_cmd'] / med['anchor_loop']:.2f}x")
    print(f"vidbench run (whole):      {med['run_cmd']:.1f} s")


if __name__ == "__main__":
    main()
