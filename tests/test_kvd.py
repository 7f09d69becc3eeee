"""KVD: the polynomial-kernel unbiased MMD^2, its subsets, and the metric's aggregate."""

from __future__ import annotations

import numpy as np
import pytest

from vidbench.metrics.fvd import (
    KVD,
    frechet_distance_from_features,
    kernel_distance,
    mmd2_unbiased,
    polynomial_kernel,
)


def test_kernel_and_unbiased_mmd_match_their_definitions():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 5)), rng.normal(size=(6, 5)) + 0.3
    k = polynomial_kernel(x, y)
    assert k[2, 3] == pytest.approx((x[2] @ y[3] / 5 + 1) ** 3, rel=1e-12)

    def brute(a, b):
        n, m = len(a), len(b)
        kxx = sum((a[i] @ a[j] / 5 + 1) ** 3 for i in range(n) for j in range(n) if i != j)
        kyy = sum((b[i] @ b[j] / 5 + 1) ** 3 for i in range(m) for j in range(m) if i != j)
        kxy = sum((a[i] @ b[j] / 5 + 1) ** 3 for i in range(n) for j in range(m))
        return kxx / (n * (n - 1)) + kyy / (m * (m - 1)) - 2 * kxy / (n * m)

    got = mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(y, y), k)
    assert got == pytest.approx(brute(x, y), rel=1e-10)


def test_kvd_is_unbiased_where_fvd_is_not():
    # Two samples of one distribution at a small n: FVD is far above 0, KVD averages to 0.
    d, n = 16, 40
    kvds, fvds = [], []
    for seed in range(30):
        rng = np.random.default_rng(seed)
        a, b = rng.normal(size=(n, d)), rng.normal(size=(n, d))
        kvds.append(kernel_distance(a, b, num_subsets=5, seed=seed)[0])
        fvds.append(frechet_distance_from_features(a, b))
    kvds = np.asarray(kvds)
    sem = kvds.std(ddof=1) / np.sqrt(len(kvds))
    assert abs(kvds.mean()) < 3 * sem
    assert np.mean(fvds) > 1.0  # FVD of the same distribution is far from 0 at this n
    # and a real difference is far above the noise
    rng = np.random.default_rng(99)
    shifted = kernel_distance(rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 0.5,
                              num_subsets=5, seed=0)[0]
    assert shifted > 10 * kvds.std()


def test_kvd_grows_with_the_shift_and_is_seeded():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 8))
    b = rng.normal(size=(300, 8))
    vals = [kernel_distance(a, b + s, num_subsets=20, seed=0)[0] for s in (0.0, 0.3, 0.6)]
    assert np.all(np.diff(vals) > 0)
    assert kernel_distance(a, b, num_subsets=20, seed=4) == kernel_distance(a, b,
                                                                            num_subsets=20,
                                                                            seed=4)
    assert kernel_distance(a, b, num_subsets=20, seed=4) != kernel_distance(a, b,
                                                                            num_subsets=20,
                                                                            seed=5)


def test_subset_size_is_min_of_1000_and_the_sets():
    rng = np.random.default_rng(2)
    agg = KVD(random_weights=True, n_boot=20).compute(rng.normal(size=(50, 8)),
                                                      rng.normal(size=(70, 8)), seed=0)
    assert agg.details["subset_size"] == 50
    assert agg.details["num_subsets"] == 100
    assert agg.n == 50 and agg.details["n_reference"] == 70
    assert "not x1000" in agg.details["units"]
    assert agg.details["std"] > 0
    assert agg.details["comparable"] is False
    assert any("50 generated" in w for w in agg.details["warnings"])


def test_kvd_metric_ci_brackets_the_value_and_shrinks_with_n():
    widths = []
    for n in (40, 320):
        rng = np.random.default_rng(n)
        gen, ref = rng.normal(size=(n, 8)) + 0.4, rng.normal(size=(n, 8))
        agg = KVD(random_weights=True, n_boot=80, num_subsets=20).compute(gen, ref, seed=1)
        lo, hi = agg.ci95
        assert lo <= agg.value <= hi
        widths.append(hi - lo)
    assert widths[1] < 0.6 * widths[0]


def test_kvd_too_few_videos_is_nan_with_a_reason():
    agg = KVD(random_weights=True).compute(np.ones((1, 4)), np.ones((5, 4)))
    assert np.isnan(agg.value)
    assert "at least 2" in agg.details["reason"]


def test_subsets_are_seeded_draws_without_replacement():
    # Recompute the documented procedure by hand: same generator, same draws, same MMD^2.
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(25, 4)) + 0.2
    mean, std = kernel_distance(x, y, num_subsets=7, max_subset_size=20, seed=11)
    g = np.random.default_rng(11)
    vals = []
    for _ in range(7):
        a = x[g.choice(30, 20, replace=False)]
        b = y[g.choice(25, 20, replace=False)]
        vals.append(mmd2_unbiased(polynomial_kernel(a, a), polynomial_kernel(b, b),
                                  polynomial_kernel(a, b)))
    assert mean == pytest.approx(np.mean(vals), rel=1e-12)
    assert std == pytest.approx(np.std(vals), rel=1e-9)
