"""Generation loop and http adapter overheads, against named anchors measured in the same run.

1. Loop overhead: ``generate()`` with an in-memory adapter (N clips of 16 x 64x64) against the
   anchor "write_video the same frames in a plain loop". The difference is hashing, the
   fsync'd manifest appends and the bookkeeping.
2. Resume: the same command again, every item verified by sha256 and skipped, per video,
   against the same anchor.
3. http concurrency: N jobs against the fake API on 127.0.0.1 with a fixed job latency
   (polls_to_finish polls at a fixed interval) at concurrency 1 (the anchor), 4 and 8.

    OMP_NUM_THREADS=1 .venv/bin/python perf/generate.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_video_api import FakeVideoAPI, openai_like_config  # noqa: E402

from vidbench.adapters import Adapter, Generated, get_model  # noqa: E402
from vidbench.generate import generate  # noqa: E402
from vidbench.suites import Suite, SuiteItem  # noqa: E402
from vidbench.video import write_video  # noqa: E402


def clip(seed: int, t: int = 16, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (size // 8, size // 8, 3), dtype=np.uint8)
    frame = np.kron(base, np.ones((8, 8, 1), np.uint8))
    return np.stack([np.roll(frame, 2 * k, axis=1) for k in range(t)])


class ArrayAdapter(Adapter):
    scheme = "perf"

    def __init__(self, clips: dict[str, np.ndarray]) -> None:
        super().__init__("arrays")
        self.clips = clips

    def generate_one(self, item: SuiteItem) -> Generated:
        return Generated(frames=self.clips[item.item], fps=item.fps)


def suite(n: int, prompt: str = "perf item {i}") -> Suite:
    return Suite("perf", "", [SuiteItem(item=f"p{i:03d}", prompt=prompt.format(i=i), seed=i,
                                        num_frames=8, height=24, width=32, fps=8.0)
                              for i in range(n)])


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--jobs", type=int, default=16)
    args = ap.parse_args()
    n = args.n
    clips = {f"p{i:03d}": clip(i) for i in range(n)}
    s = suite(n)
    anchor, loop, resume = [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            anchor.append(timed(lambda d=d: [write_video(d / "a" / f"{k}.mp4", v, 8.0)
                                             for k, v in clips.items()]))
            loop.append(timed(lambda d=d: generate(ArrayAdapter(clips), s, d / "g",
                                                   progress=False)))
            resume.append(timed(lambda d=d: generate(ArrayAdapter(clips), s, d / "g",
                                                     progress=False)))
    a, lo, re_ = (statistics.median(x) for x in (anchor, loop, resume))
    out = {"n_videos": n, "anchor_write_video_s": a, "generate_s": lo, "resume_s": re_,
           "loop_over_anchor": lo / a, "resume_over_anchor": re_ / a,
           "per_video_overhead_ms": (lo - a) / n * 1000, "resume_per_video_ms": re_ / n * 1000}

    os.environ["FAKE_VIDEO_API_KEY"] = "secret-token"
    http: dict[int, list[float]] = {1: [], 4: [], 8: []}
    with FakeVideoAPI(token="secret-token", polls_to_finish=4) as api:
        cfg = openai_like_config(api.base_url, poll={"interval_s": 0.05, "max_interval_s": 0.05},
                                 limits={"timeout_s": 10.0})
        tmp = Path(tempfile.mkdtemp())
        try:
            (tmp / "c.json").write_text(json.dumps(cfg))
            for r in range(args.repeats):
                for conc in http:
                    sj = suite(args.jobs, prompt=f"perf r{r} c{conc} {{i}}")
                    ad = get_model(f"http:{tmp / 'c.json'}?concurrency={conc}")
                    out_dir = tmp / f"h{r}-{conc}"
                    http[conc].append(timed(lambda: generate(ad, sj, out_dir,  # noqa: B023
                                                             progress=False)))
            created = sum(api.created.values())
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    h1 = statistics.median(http[1])
    out["http_jobs"] = args.jobs
    out["http_jobs_created"] = created
    for conc, ts in http.items():
        out[f"http_c{conc}_s"] = statistics.median(ts)
        out[f"http_c{conc}_speedup"] = h1 / statistics.median(ts)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
