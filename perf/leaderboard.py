"""Speed of the leaderboard build and of the regression gate, against named anchors.

- Leaderboard: ``build_leaderboard`` (load + validate + table + totals + md/csv/html/tex,
  and separately each plot) for M models x K metrics x N videos, against the anchor
  "json.load of the same result.json + videos.jsonl files" (the I/O floor).
- Gate: ``check`` (paired bootstrap, B = 10000) on K metrics x N items, against the anchor
  ``scipy.stats.bootstrap(method="percentile", vectorized=True)`` on the same paired
  differences with the same B, per metric.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python perf/leaderboard.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _median_time(fn, repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--metrics", type=int, default=10)
    ap.add_argument("--videos", type=int, default=200)
    args = ap.parse_args()

    from scipy.stats import bootstrap

    from vidbench.leaderboard import plots as P
    from vidbench.leaderboard.check import check
    from vidbench.leaderboard.cli import build_leaderboard
    from vidbench.leaderboard.load import load_result, load_results
    from vidbench.leaderboard.table import build_table
    from vidbench.leaderboard.testing import write_from_values

    names = ["subject_consistency", "background_consistency", "temporal_flicker",
             "motion_smoothness", "dynamic_degree", "aesthetic_quality", "clip_score",
             "physics_consistency", "physics_scenario", "extra_metric"][: args.metrics]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = []
        for k in range(args.models):
            rng = np.random.default_rng(k)
            pv = {n: list(rng.uniform(0.3, 1.0, args.videos)) for n in names}
            paths.append(write_from_values(root / f"m{k}", f"model-{k}", pv))

        def io_floor():
            for p in paths:
                json.loads(p.read_text())
                for line in (p.parent / "videos.jsonl").read_text().splitlines():
                    json.loads(line)

        def table_only():
            build_leaderboard(paths, root / "out", formats=("md", "csv", "html", "tex"),
                              plots=False)

        t_io = _median_time(io_floor, args.repeats)
        t_tab = _median_time(table_only, args.repeats)
        lb = build_table(load_results(paths))
        plot_t = {}
        for name, fn in (("radar", P.radar), ("bars", P.bars), ("correlation", P.correlation),
                         ("distributions", P.distributions)):
            plot_t[name] = _median_time(lambda fn=fn: fn(lb, root / "plots", []),
                                        max(2, args.repeats // 2))

        # gate: K metrics x N items, B = 10000
        base = paths[0]
        rng = np.random.default_rng(99)
        new_pv = {}
        r0 = load_result(base)
        for n in names:
            per = r0.per_item(n)
            new_pv[n] = [per[f"item{i:03d}"] - 0.01 + rng.normal(0, 0.01)
                         for i in range(args.videos)]
        newp = write_from_values(root / "new", "model-0", new_pv)
        rb, rn = load_result(base), load_result(newp)
        t_check = _median_time(lambda: check(rn, rb, n_boot=10000), args.repeats)

        diffs = [np.array([rn.per_item(n)[k] - rb.per_item(n)[k] for k in rb.per_item(n)])
                 for n in names]

        def scipy_anchor():
            for d in diffs:
                bootstrap((d,), np.mean, n_resamples=10000, method="percentile",
                          vectorized=True, random_state=0)

        t_scipy = _median_time(scipy_anchor, args.repeats)

    size = f"{args.models} models x {args.metrics} metrics x {args.videos} videos"
    print(f"leaderboard ({size}), median of {args.repeats}:")
    print(f"  anchor json.load of the files        {t_io * 1e3:8.1f} ms")
    print(f"  build (md,csv,html,tex; no plots)     {t_tab * 1e3:8.1f} ms  "
          f"({t_tab / t_io:.1f}x anchor)")
    for name, t in plot_t.items():
        print(f"  plot {name:<14}                   {t * 1e3:8.1f} ms  "
              f"({t / t_io:.1f}x anchor)")
    print(f"gate ({args.metrics} metrics x {args.videos} items, B=10000), median of "
          f"{args.repeats}:")
    print(f"  anchor scipy.stats.bootstrap          {t_scipy * 1e3:8.1f} ms")
    print(f"  vidbench check                        {t_check * 1e3:8.1f} ms  "
          f"({t_check / t_scipy:.2f}x anchor)")


if __name__ == "__main__":
    main()
