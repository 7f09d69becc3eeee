"""Frechet distance speed and accuracy against the pytorch-fid / StyleGAN-V anchor, and I3D
feature-extraction throughput on the CPU.

Anchor: ``scipy.linalg.sqrtm(S1 @ S2)`` then ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 sqrtm)``
(real part), measured in the same run, on the same (mu, sigma), single-threaded BLAS for
both. Ours: :func:`vidbench.metrics.fvd.frechet_distance` with ``method="auto"`` (the
default: nuclear norm of ``L1^T L2`` from pivoted Cholesky factors) and ``"eigh"`` (the
symmetric ``S1^1/2 S2 S1^1/2`` route). Also reported: the relative difference to the
anchor, and to the low-rank route computed from the features (exact without any matrix
square root: the nuclear norm of ``Xc1 Xc2^T``), which is the better reference when the
covariances are singular (n <= d).

Usage::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \\
        .venv/bin/python perf/frechet.py --repeats 3 --i3d-clips 4
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from functools import partial

import numpy as np


def _features(n: int, d: int, seed: int, shift: float) -> np.ndarray:
    """Gaussian features with a decaying spectrum (like classifier logits) and a random
    rotation, so the covariances are far from diagonal."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    spectrum = 1.0 / np.sqrt(np.arange(1, d + 1))
    return (rng.normal(size=(n, d)) * spectrum) @ q + shift


def _anchor(mu1, s1, mu2, s2) -> float:
    import scipy.linalg

    root = scipy.linalg.sqrtm(s1 @ s2)
    diff = mu1 - mu2
    return float(np.real(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(root)))


def _interleaved(fns: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """{name: (median seconds, value)}; the functions take turns in every repeat, so a
    change in the shared machine's load hits them all alike."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    values: dict[str, float] = {}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            values[k] = fn()
            times[k].append(time.perf_counter() - t0)
    return {k: (statistics.median(times[k]), values[k]) for k in fns}


def frechet_table(cases: list[tuple[int, int]], repeats: int) -> list[str]:
    import scipy.linalg

    from vidbench.metrics.fvd import frechet_distance, frechet_distance_from_features, mean_cov

    rows = ["| d | n | sqrtm anchor (s) | eigh (s) | speed-up | auto (s) | speed-up | "
            "rel. diff auto vs anchor | rel. diff eigh vs anchor | rel. diff auto vs low-rank | "
            "rel. diff eigh vs low-rank | rel. diff anchor vs low-rank |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for d, n in cases:
        x1, x2 = _features(n, d, 0, 0.0), _features(n, d, 1, 0.05)
        mu1, s1 = mean_cov(x1)
        mu2, s2 = mean_cov(x2)
        r = _interleaved({"anchor": partial(_anchor, mu1, s1, mu2, s2),
                          "eigh": partial(frechet_distance, mu1, s1, mu2, s2, method="eigh"),
                          "auto": partial(frechet_distance, mu1, s1, mu2, s2, method="auto")},
                         repeats)
        (t_a, v_a), (t_e, v_e), (t_c, v_c) = r["anchor"], r["eigh"], r["auto"]
        c1 = (x1 - mu1) / np.sqrt(n - 1)
        c2 = (x2 - mu2) / np.sqrt(n - 1)
        nuc = float(scipy.linalg.svdvals(c1 @ c2.T).sum())
        v_low = float((mu1 - mu2) @ (mu1 - mu2) + (c1 * c1).sum() + (c2 * c2).sum() - 2 * nuc)
        v_feat = frechet_distance_from_features(x1, x2)  # low-rank route when n <= d
        assert n > d or abs(v_feat - v_low) <= 1e-12 * v_low
        rows.append(f"| {d} | {n} | {t_a:.3f} | {t_e:.3f} | {t_a / t_e:.1f}x | {t_c:.3f} | "
                    f"{t_a / t_c:.1f}x | {abs(v_c - v_a) / abs(v_a):.1e} | "
                    f"{abs(v_e - v_a) / abs(v_a):.1e} | {abs(v_c - v_low) / abs(v_low):.1e} | "
                    f"{abs(v_e - v_low) / abs(v_low):.1e} | {abs(v_a - v_low) / abs(v_low):.1e} |")
        print(rows[-1], flush=True)
    return rows


def i3d_throughput(clips: int, threads: list[int]) -> list[str]:
    import torch

    from vidbench.metrics.backbones.i3d import I3DExtractor, InceptionI3d, random_init

    model = random_init(InceptionI3d(), 0).eval()
    ext = I3DExtractor(model, torchscript=False)
    x = np.random.default_rng(0).integers(0, 256, (1, 16, 224, 224, 3), dtype=np.uint8)
    rows = ["| torch threads | batch | clips | median s/clip | clips/s |", "|---|---|---|---|---|"]
    for t in threads:
        torch.set_num_threads(t)
        ext(x)  # warm-up
        times = []
        for _ in range(clips):
            t0 = time.perf_counter()
            ext(x)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        rows.append(f"| {t} | 1 | {clips} | {med:.2f} | {1 / med:.2f} |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="400:2048,1408:2048,2048:2048,2048:4096",
                    help="comma-separated d:n pairs")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--i3d-clips", type=int, default=4, help="0 skips the I3D benchmark")
    ap.add_argument("--i3d-threads", default="1,2")
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; numpy {np.__version__}")
    cases = [tuple(int(v) for v in c.split(":")) for c in args.cases.split(",")]
    rows = frechet_table(cases, args.repeats)  # type: ignore[arg-type]
    print("\n".join(rows))
    if args.i3d_clips:
        print("\n".join(i3d_throughput(args.i3d_clips,
                                       [int(t) for t in args.i3d_threads.split(",")])))


if __name__ == "__main__":
    main()
