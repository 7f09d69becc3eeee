"""The Frechet distance itself: exactness against closed forms and scipy's sqrtm, every
route agreeing, the 1/n bias and its extrapolation, and refusal of invalid input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from vidbench.metrics.fvd import (
    bootstrap_fd_ci,
    fd_infinity,
    frechet_distance,
    frechet_distance_from_features,
    mean_cov,
    noise_floor,
    trace_sqrt_product,
)


def _pair(n: int, d: int, seed: int, shift: float = 0.3):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) / np.sqrt(d)
    b = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) / np.sqrt(d) + shift
    return a, b


def _sqrtm_fd(mu1, s1, mu2, s2) -> float:
    """The pytorch-fid / StyleGAN-V route, for cross-checking only."""
    root = scipy.linalg.sqrtm(s1 @ s2)
    if np.iscomplexobj(root):
        assert np.abs(root.imag).max() < 1e-6 * np.abs(root.real).max()
        root = root.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(root))


@pytest.mark.parametrize("d", [8, 64, 200])
@pytest.mark.parametrize("method", ["eigh", "cholesky", "auto"])
def test_matches_scipy_sqrtm_to_1e9(d, method):
    a, b = _pair(4 * d, d, seed=d)
    mu1, s1 = mean_cov(a)
    mu2, s2 = mean_cov(b)
    ref = _sqrtm_fd(mu1, s1, mu2, s2)
    got = frechet_distance(mu1, s1, mu2, s2, method=method)
    assert abs(got - ref) <= 1e-9 * abs(ref)
    assert abs(frechet_distance_from_features(a, b) - ref) <= 1e-9 * abs(ref)


def test_closed_form_for_diagonal_covariances():
    rng = np.random.default_rng(0)
    d = 50
    va, vb = rng.uniform(0.1, 4, d), rng.uniform(0.1, 4, d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    exact = float(((mu1 - mu2) ** 2).sum() + ((np.sqrt(va) - np.sqrt(vb)) ** 2).sum())
    for method in ("eigh", "cholesky"):
        got = frechet_distance(mu1, np.diag(va), mu2, np.diag(vb), method=method)
        assert got == pytest.approx(exact, rel=1e-12)


def test_closed_form_for_commuting_covariances():
    # Same eigenvectors: tr((S1 S2)^1/2) = sum sqrt(l1 l2).
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(30, 30)))
    l1, l2 = rng.uniform(0.5, 3, 30), rng.uniform(0.5, 3, 30)
    s1, s2 = (q * l1) @ q.T, (q * l2) @ q.T
    exact = float(l1.sum() + l2.sum() - 2 * np.sqrt(l1 * l2).sum())
    assert trace_sqrt_product(s1, s2) == pytest.approx(np.sqrt(l1 * l2).sum(), rel=1e-12)
    assert frechet_distance(np.zeros(30), s1, np.zeros(30), s2) == pytest.approx(exact, rel=1e-10)


@pytest.mark.parametrize("n,d", [(500, 40), (30, 64), (5, 400)])
def test_identical_sets_give_zero(n, d):
    a, _ = _pair(n, d, seed=3)
    assert abs(frechet_distance_from_features(a, a)) < 1e-6
    mu, s = mean_cov(a)
    assert abs(frechet_distance(mu, s, mu, s)) < 1e-6
    assert abs(frechet_distance(mu, s, mu, s, method="auto")) < 1e-6


@pytest.mark.parametrize("n,d", [(400, 40), (20, 64)])
def test_symmetric(n, d):
    a, b = _pair(n, d, seed=4)
    ab = frechet_distance_from_features(a, b)
    ba = frechet_distance_from_features(b, a)
    assert ab > 0
    assert ab == pytest.approx(ba, rel=1e-10)


def test_low_rank_route_matches_covariance_route_when_n_below_d():
    a, b = _pair(40, 120, seed=5)
    b = b[:25]  # unequal sizes, both below d
    mu1, s1 = mean_cov(a)
    mu2, s2 = mean_cov(b)
    dense = frechet_distance(mu1, s1, mu2, s2, method="eigh")
    low = frechet_distance_from_features(a, b)
    assert low == pytest.approx(dense, rel=1e-9)
    # the pivoted Cholesky route handles the singular S1 too
    assert frechet_distance(mu1, s1, mu2, s2, method="auto") == pytest.approx(low, rel=1e-9)
    assert frechet_distance(mu2, s2, mu1, s1, method="cholesky") == pytest.approx(low, rel=1e-9)
    # sqrtm struggles with singular products; it still agrees loosely
    assert low == pytest.approx(_sqrtm_fd(mu1, s1, mu2, s2), rel=1e-6)


def test_factor_route_keeps_accuracy_for_singular_covariances():
    # n == d: rank d - 1 covariances with eigenvalues down to ~1e-10 of the largest. The
    # nuclear norm of L1^T L2 does not square them; it matches the exact low-rank value.
    d = 300
    rng = np.random.default_rng(13)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    spec = 1 / np.sqrt(np.arange(1, d + 1))
    a = (rng.normal(size=(d, d)) * spec) @ q
    b = (rng.normal(size=(d, d)) * spec) @ q + 0.05
    exact = frechet_distance_from_features(a, b)  # low-rank route (n <= d)
    mu1, s1 = mean_cov(a)
    mu2, s2 = mean_cov(b)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(exact, rel=1e-12)
    # the eigenvalue routes (and scipy's sqrtm) square the small eigenvalues: ~1e-7 here
    for method in ("eigh", "cholesky"):
        assert frechet_distance(mu1, s1, mu2, s2, method=method) == pytest.approx(exact,
                                                                                  rel=1e-5)


def test_grows_with_mean_shift_and_scale():
    a, _ = _pair(300, 20, seed=6, shift=0.0)
    rng = np.random.default_rng(7)
    base = rng.normal(size=(300, 20)) @ np.linalg.cholesky(np.cov(a.T)).T + a.mean(0)
    vals = [frechet_distance_from_features(a, base + s) for s in (0.0, 0.2, 0.5, 1.0)]
    assert np.all(np.diff(vals) > 0)
    vals = [frechet_distance_from_features(a, (base - base.mean(0)) * s + base.mean(0))
            for s in (1.0, 1.5, 2.5)]
    assert np.all(np.diff(vals) > 0)


@pytest.mark.parametrize("method", ["auto", "cholesky", "eigh"])
def test_non_psd_covariance_is_refused_not_silently_fixed(method):
    rng = np.random.default_rng(8)
    s = np.cov(rng.normal(size=(100, 10)).T)
    bad = s - 2.0 * np.outer(np.eye(10)[0], np.eye(10)[0]) * s[0, 0]
    with pytest.raises(ValueError, match="positive semi-definite"):
        frechet_distance(np.zeros(10), bad, np.zeros(10), s, method=method)
    with pytest.raises(ValueError, match="positive semi-definite"):
        frechet_distance(np.zeros(10), s, np.zeros(10), bad, method=method)
    # a small negative direction hidden behind a rank-deficient PSD part is caught too
    low_rank = np.cov(rng.normal(size=(5, 10)).T)
    v = rng.normal(size=10)
    sneaky = low_rank - 1e-3 * np.trace(low_rank) * np.outer(v, v) / (v @ v)
    with pytest.raises(ValueError, match="positive semi-definite"):
        frechet_distance(np.zeros(10), sneaky, np.zeros(10), s, method=method)


def test_invalid_inputs_name_the_problem():
    rng = np.random.default_rng(9)
    a = rng.normal(size=(20, 5))
    with pytest.raises(ValueError, match="dimensions differ"):
        frechet_distance_from_features(a, rng.normal(size=(20, 6)))
    bad = a.copy()
    bad[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"rows \[7\]"):
        frechet_distance_from_features(a, bad)
    with pytest.raises(ValueError, match="at least 2 rows"):
        frechet_distance_from_features(a, a[:1])
    s = np.cov(a.T)
    asym = s.copy()
    asym[0, 1] += 1.0
    with pytest.raises(ValueError, match="not symmetric"):
        frechet_distance(np.zeros(5), asym, np.zeros(5), s)
    with pytest.raises(ValueError, match="must be"):
        frechet_distance(np.zeros(4), s, np.zeros(5), s)


def _same_distribution_fd(n: int, d: int, seeds) -> float:
    vals = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        vals.append(frechet_distance_from_features(rng.normal(size=(n, d)),
                                                   rng.normal(size=(n, d))))
    return float(np.mean(vals))


def test_upward_bias_shrinks_as_one_over_n():
    d = 16
    ns = [50, 100, 200, 400, 800]
    fds = [_same_distribution_fd(n, d, range(6)) for n in ns]
    assert np.all(np.diff(fds) < 0)
    scaled = np.array(fds) * np.array(ns)  # ~ constant if the bias is c / n
    assert scaled.max() / scaled.min() < 1.35
    # halving the bias each time n doubles, within noise
    ratios = np.array(fds[:-1]) / np.array(fds[1:])
    assert np.all((ratios > 1.6) & (ratios < 2.5))


def test_fd_infinity_removes_the_bias_on_average():
    d, n = 16, 400
    shift = np.full(d, 0.25)
    truth = float(shift @ shift)  # same covariance: the true FD is the mean term
    raw, inf = [], []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        a = rng.normal(size=(n, d))
        b = rng.normal(size=(n, d)) + shift
        raw.append(frechet_distance_from_features(a, b))
        fit = fd_infinity(a, b, seed=seed)
        assert fit["slope"] > 0 and len(fit["sizes"]) >= 3
        inf.append(fit["value"])
    assert np.mean(raw) - truth > 0.3  # the raw value is clearly biased at this n
    assert abs(np.mean(inf) - truth) < 0.15  # the extrapolation is not (std of mean ~0.05)
    rng = np.random.default_rng(0)
    assert np.isnan(fd_infinity(rng.normal(size=(5, d)), rng.normal(size=(5, d)),
                                seed=0)["value"])


def test_noise_floor_is_the_same_distribution_fd_at_that_size():
    rng = np.random.default_rng(11)
    d, n = 16, 100
    ref = rng.normal(size=(400, d))
    nf, h = noise_floor(ref, n, seed=0)
    assert h == n
    expected = _same_distribution_fd(n, d, range(10, 16))
    assert 0.5 * expected < nf < 2.0 * expected
    nf_small, h_small = noise_floor(ref[:60], n, seed=0)
    assert h_small == 30  # the reference only has 60: halves of 30
    assert nf_small > nf


def test_bootstrap_ci_is_seeded_covers_value_and_narrows_with_n():
    widths = []
    for n in (60, 480):
        a, b = _pair(n, 8, seed=12, shift=0.5)
        v = frechet_distance_from_features(a, b)
        lo, hi, info = bootstrap_fd_ci(a, b, n_boot=60, seed=3, value=v)
        assert lo <= v <= hi
        assert info["n_boot"] == 60
        assert (lo, hi) == bootstrap_fd_ci(a, b, n_boot=60, seed=3, value=v)[:2]
        widths.append(hi - lo)
    assert widths[1] < 0.6 * widths[0]


def _commuting(d: int, rank1: int, rank2: int, cond: float, seed: int = 0):
    """S1 = Q diag(a) Q^T, S2 = Q diag(b) Q^T with eigenvalues spread over ``cond`` (a, b
    zero beyond rank1 / before d - rank2): FD = |dmu|^2 + sum a + sum b - 2 sum sqrt(a b)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    a, b = np.zeros(d), np.zeros(d)
    a[:rank1] = np.logspace(0, -np.log10(cond), rank1)[rng.permutation(rank1)]
    b[d - rank2:] = np.logspace(0, -np.log10(cond), rank2)[rng.permutation(rank2)]
    s1, s2 = (q * a) @ q.T, (q * b) @ q.T
    mu1, mu2 = rng.normal(size=d) * 0.1, rng.normal(size=d) * 0.1
    exact = float(((mu1 - mu2) ** 2).sum() + a.sum() + b.sum() - 2 * np.sqrt(a * b).sum())
    return mu1, (s1 + s1.T) / 2, mu2, (s2 + s2.T) / 2, exact


@pytest.mark.parametrize("rank1,rank2,cond", [(120, 120, 1e8), (60, 90, 1e8), (60, 90, 1e3)])
def test_auto_route_is_exact_on_ill_conditioned_and_singular_closed_forms(rank1, rank2, cond):
    """The default route keeps ~1e-12 where the eigenvalue routes (cholesky, eigh) lose the
    square roots of tiny eigenvalues of S1 S2 (documented: up to ~1e-7 relative here)."""
    mu1, s1, mu2, s2, exact = _commuting(120, rank1, rank2, cond)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(exact, rel=1e-11)
    for method in ("cholesky", "eigh"):
        assert frechet_distance(mu1, s1, mu2, s2, method=method) == pytest.approx(exact,
                                                                                  rel=1e-6)


@pytest.mark.parametrize("method", ["eigh", "cholesky", "auto"])
def test_covariances_on_orthogonal_subspaces_are_valid_not_refused(method):
    """S1 S2 = 0 up to round-off: tr((S1 S2)^1/2) = 0, and the round-off negatives of a zero
    product are not a "non-PSD" input."""
    mu1, s1, mu2, s2, exact = _commuting(60, 30, 30, 1e3)
    assert trace_sqrt_product(s1, s2, method=method) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(mu1, s1, mu2, s2, method=method) == pytest.approx(exact, rel=1e-12)


def test_covariance_normalisation_n_versus_n_minus_1():
    a, b = _pair(50, 8, 3)
    for cov, ddof in (("n", 0), ("n-1", 1)):
        mu1, mu2 = a.mean(0), b.mean(0)
        s1, s2 = np.cov(a, rowvar=False, ddof=ddof), np.cov(b, rowvar=False, ddof=ddof)
        want = _sqrtm_fd(mu1, s1, mu2, s2)
        assert frechet_distance_from_features(a, b, cov=cov) == pytest.approx(want, rel=1e-9)
        # the low-rank route (n <= d) scales the same way
        small_a, small_b = a[:6], b[:7]
        m1, c1 = mean_cov(small_a, cov)
        m2, c2 = mean_cov(small_b, cov)
        assert frechet_distance_from_features(small_a, small_b, cov=cov) == pytest.approx(
            frechet_distance(m1, c1, m2, c2), rel=1e-9)
    with pytest.raises(ValueError, match="normalisation"):
        frechet_distance_from_features(a, b, cov="n+1")
