"""The maths of the distribution metrics, apart from their metric classes
(:mod:`vidbench.metrics.fvd`):
Frechet distance, KVD's kernel MMD^2, the bootstrap CI, the noise floor and FVD-infinity
(the formulas and their meaning for FVD are in :mod:`vidbench.metrics.fvd`).

**Frechet distance** between two Gaussians fitted to feature sets (float64 throughout)::

    FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

``tr((S1 S2)^(1/2))`` is computed without a general (non-symmetric) matrix square root:

- factor route (``method="auto"``, the default): pivoted Cholesky factors
  ``S1 = L1 L1^T``, ``S2 = L2 L2^T`` (LAPACK ``?pstrf``, rank-revealing, so singular
  covariances are fine). Well-conditioned pair: ``L1^T S2 L1`` is symmetric PSD with the
  spectrum of ``S1 S2``, so ``tr((S1 S2)^(1/2)) = sum(sqrt(eigvalsh(L1^T S2 L1)))``.
  Near-singular pair: ``S1 S2`` has the non-zero spectrum of ``(L1^T L2)(L1^T L2)^T``, so
  the trace is the nuclear norm of ``L1^T L2`` (singular values: nothing is squared, so
  small eigenvalues keep their accuracy);
- one-factor route (``method="cholesky"``): always ``eigvalsh(L1^T S2 L1)``, the fastest;
- symmetric eigh route (``method="eigh"``): ``S1 = V diag(w) V^T``, ``R = S1^(1/2) =
  V diag(sqrt w) V^T``, and the spectrum of ``R S2 R`` is that of
  ``diag(sqrt w) V^T S2 V diag(sqrt w)`` (computed without forming R);
- low-rank route from features (used when ``n <= d`` for either set): with centred,
  ``1/sqrt(n-1)``-scaled (``1/sqrt(n)`` with ``cov="n"``) features ``Xc1`` (n1 x d) and
  ``Xc2``, the non-zero eigenvalues of ``S1 S2`` are the squared singular values of
  ``Xc1 Xc2^T`` (n1 x n2), so ``tr((S1 S2)^(1/2))`` is its nuclear norm.

Eigenvalues below zero are round-off and clipped; a *large* negative one (the analogue of
the large imaginary part ``scipy.linalg.sqrtm`` returns for a non-PSD product) means an
input covariance is not positive semi-definite and raises ``ValueError``: it is never
dropped silently.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from vidbench.errors import UserError
from vidbench.metrics.protocols import Protocol
from vidbench.stats import Aggregate

#: Relative size (to the largest eigenvalue) below which a negative eigenvalue is round-off.
PSD_RTOL = 1e-9
#: ``method="auto"`` keeps the eigenvalue route only when every eigenvalue of ``S1 S2`` is
#: at least this fraction of the largest; otherwise it takes the singular-value route.
PRODUCT_RTOL = 1e-6

METHODS = ("eigh", "cholesky", "auto")


# ============================================================================= the math


def _check_stats(mu: Any, sigma: Any, which: str) -> tuple[np.ndarray, np.ndarray]:
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if mu.ndim != 1:
        raise ValueError(f"mu{which} must be 1-D, got shape {mu.shape}")
    d = mu.shape[0]
    if sigma.shape != (d, d):
        raise ValueError(f"sigma{which} must be ({d}, {d}) to match mu{which}, got {sigma.shape}")
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
        raise ValueError(f"mu{which}/sigma{which} contain NaN or inf")
    scale = float(np.abs(sigma).max()) if sigma.size else 0.0
    asym = float(np.abs(sigma - sigma.T).max()) if sigma.size else 0.0
    if asym > 1e-8 * max(scale, 1e-300):
        raise ValueError(f"sigma{which} is not symmetric (max |S - S^T| = {asym:.3g})")
    return mu, (sigma + sigma.T) * 0.5


def _clip_eigs(w: np.ndarray, what: str, scale: float = 0.0) -> np.ndarray:
    """Clip round-off negatives to 0; raise on a negative eigenvalue too large to be one.
    Round-off is relative to ``max(max |w|, scale)``: ``scale`` is the size the matrix's
    entries were computed at (``max diag(S1) * max diag(S2)`` for a product), so a product
    that is exactly 0 up to round-off (covariances on orthogonal subspaces) is 0, not a
    "negative eigenvalue"."""
    if w.size == 0:
        return w
    top = max(float(np.abs(w).max()), float(scale))
    lo = float(w.min())
    if lo < -PSD_RTOL * max(top, 1e-300) * max(1, w.size) ** 0.5:
        raise ValueError(
            f"{what} has eigenvalue {lo:.6g} (largest |eigenvalue| {top:.6g}): the input "
            f"covariance is not positive semi-definite, so (S1 S2)^(1/2) would be complex; "
            f"refusing to drop the imaginary part")
    # eigenvalues within round-off of 0 are 0 (their square roots would add ~sqrt(eps) noise)
    return np.where(w > top * w.size * np.finfo(np.float64).eps, w, 0.0)


def _pivoted_cholesky(sigma: np.ndarray, which: str = "1") -> tuple[np.ndarray, np.ndarray]:
    """(L_r, perm) with ``sigma[perm][:, perm] = L_r L_r^T`` and L_r of the numerical rank r
    (LAPACK ``?pstrf``, which handles semi-definite matrices). Raises ``ValueError`` when
    what is left after the factorisation is more than round-off (a negative direction)."""
    from scipy.linalg import lapack

    c, piv, rank, info = lapack.dpstrf(sigma, lower=1)
    if info < 0:
        raise ValueError(f"LAPACK dpstrf rejected sigma{which} (info={info})")
    low, perm = np.tril(c)[:, :rank], piv - 1
    if rank < sigma.shape[0]:
        # Semi-definite stop: what is left must be round-off, not a negative direction.
        resid = sigma[np.ix_(perm, perm)] - low @ low.T
        top = float(np.abs(np.diag(sigma)).max())
        worst = float(np.abs(resid).max())
        if worst > 1e-8 * max(top, 1e-300):
            lo = float(np.linalg.eigvalsh(resid).min())
            raise ValueError(
                f"sigma{which} has eigenvalue about {lo:.6g} (largest diagonal {top:.6g}): the "
                f"input covariance is not positive semi-definite, so (S1 S2)^(1/2) would be "
                f"complex; refusing to drop the imaginary part")
    return low, perm


def _product_scale(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``max diag(S1) * max diag(S2)``: the scale of ``S1 S2``'s entries (<= its norm)."""
    if sigma1.size == 0:
        return 0.0
    return float(np.abs(np.diag(sigma1)).max() * np.abs(np.diag(sigma2)).max())


def _well_conditioned(low: np.ndarray, d: int, rtol: float = 1e-6) -> bool:
    """Full rank, and the smallest pivot of the pivoted Cholesky factor (squared: about
    the smallest eigenvalue) at least ``rtol`` of the largest."""
    if low.shape[1] < d or d == 0:
        return False
    piv = np.abs(np.diag(low)) ** 2
    return bool(piv.min() >= rtol * piv.max())


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray, *, method: str = "auto") -> float:
    """``tr((S1 S2)^(1/2))`` for symmetric PSD ``S1``, ``S2`` (see the module docstring).

    ``"auto"``: pivoted Cholesky factors of both, ``S_i = L_i L_i^T`` (rank-revealing).
    When both are full rank and well conditioned and every eigenvalue of ``L1^T S2 L1``
    (those of ``S1 S2``) is at least ``PRODUCT_RTOL`` of the largest, the sum of their square
    roots; otherwise the nuclear norm of ``L1^T L2`` (its singular values are the square
    roots of the eigenvalues of ``S1 S2``, computed without squaring, so tiny eigenvalues
    keep their accuracy; about twice the cost). ``"cholesky"``: always the eigenvalues of
    ``L1^T S2 L1`` (fastest). ``"eigh"``: ``S1 = V diag(w) V^T``, eigenvalues of
    ``diag(sqrt w) (V^T S2 V) diag(sqrt w)``, which is ``S1^1/2 S2 S1^1/2`` seen in the
    basis V.

    Accuracy against exact closed forms (relative error of FD, d = 400 and 2048; table in
    docs/fvd.md): ``"auto"`` <= 7e-13 on full-rank, condition-1e8 and singular pairs.
    ``"cholesky"`` and ``"eigh"`` take square roots of eigenvalues that carry an absolute
    error ~``d eps max eig``, so each eigenvalue of ``S1 S2`` near or below that loses up
    to ``sqrt(d eps max eig)``: measured up to 3.2e-7 (condition 1e8) and 5.5e-8
    (singular, condition 1e8); issue 21 measured 6.2e-5 on a singular n = d = 2048 case.
    scipy's ``sqrtm`` (StyleGAN-V, cd-fvd): up to 3e-8 on singular pairs."""
    import scipy.linalg as la

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {METHODS}")
    scale = _product_scale(sigma1, sigma2)
    if method == "auto":
        l1, p1 = _pivoted_cholesky(sigma1, "1")
        l2, p2 = _pivoted_cholesky(sigma2, "2")
        if _well_conditioned(l1, sigma1.shape[0]) and _well_conditioned(l2, sigma2.shape[0]):
            m = l1.T @ (sigma2[np.ix_(p1, p1)] @ l1)
            w = la.eigvalsh((m + m.T) * 0.5, check_finite=False, driver="evd")
            w = _clip_eigs(w, "L^T S2 L", scale)
            # an eigenvalue of S1 S2 carries absolute error ~ d eps max|w|, so its square
            # root is accurate only well above that: pivots do not see every small
            # eigenvalue of the product (e.g. cond 1e8 pairs), so check the product itself
            if w.size and w.min() >= PRODUCT_RTOL * w.max():
                return float(np.sqrt(w).sum())
        f1 = np.zeros_like(l1)
        f1[p1] = l1
        f2 = np.zeros_like(l2)
        f2[p2] = l2
        return float(la.svdvals(f1.T @ f2, check_finite=False).sum())
    if method == "cholesky":
        low, perm = _pivoted_cholesky(sigma1, "1")
        m = low.T @ (sigma2[np.ix_(perm, perm)] @ low)
        w = la.eigvalsh((m + m.T) * 0.5, check_finite=False, driver="evd")
        return float(np.sqrt(_clip_eigs(w, "L^T S2 L", scale)).sum())
    w1, v1 = la.eigh(sigma1, check_finite=False, driver="evd")
    w1 = _clip_eigs(w1, "sigma1")
    keep = w1 > 0
    v, r = v1[:, keep], np.sqrt(w1[keep])
    m = (v.T @ (sigma2 @ v)) * r[:, None] * r[None, :]
    w = la.eigvalsh((m + m.T) * 0.5, check_finite=False, driver="evd")
    return float(np.sqrt(_clip_eigs(w, "S1^1/2 S2 S1^1/2", scale)).sum())


def _finish(diff2: float, tr1: float, tr2: float, tr_sqrt: float) -> float:
    fd = diff2 + tr1 + tr2 - 2.0 * tr_sqrt
    if fd < 0:
        if fd < -1e-9 * max(tr1 + tr2 + diff2, 1e-300):
            raise ValueError(f"Frechet distance came out negative ({fd:.6g}): the inputs are "
                             f"not valid covariances")
        fd = 0.0
    return float(fd)


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any, *,
                     method: str = "auto") -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    ``|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))`` by the symmetric route (see
    the module docstring); ``method`` is "auto" (default: nuclear norm of ``L1^T L2`` from
    pivoted Cholesky factors), "cholesky" or "eigh". Raises ``ValueError`` for mismatched
    shapes, NaN/inf, asymmetric or non-PSD covariances."""
    mu1, s1 = _check_stats(mu1, sigma1, "1")
    mu2, s2 = _check_stats(mu2, sigma2, "2")
    if mu1.shape != mu2.shape:
        raise ValueError(f"feature dimensions differ: {mu1.shape[0]} vs {mu2.shape[0]}")
    diff = mu1 - mu2
    tr_sqrt = trace_sqrt_product(s1, s2, method=method)
    return _finish(float(diff @ diff), float(np.trace(s1)), float(np.trace(s2)), tr_sqrt)


def _check_features(f: Any, which: str) -> np.ndarray:
    x = np.asarray(f, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features{which} must be (n, d), got shape {x.shape}")
    if x.shape[0] < 2:
        raise ValueError(f"features{which}: need at least 2 rows for a covariance, got "
                         f"{x.shape[0]}")
    bad = ~np.all(np.isfinite(x), axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(f"features{which}: rows {rows[:5].tolist()} contain NaN or inf")
    return x


#: covariance normalisations (``cov=``): "n" = 1/n (maximum likelihood; StyleGAN-V's and
#: cd-fvd's ``FeatureStats.get_mean_cov``), "n-1" = 1/(n-1) (unbiased)
COV_NORMS = ("n", "n-1")


def _cov_divisor(n: int, cov: str) -> int:
    if cov not in COV_NORMS:
        raise ValueError(f"unknown covariance normalisation {cov!r}; use one of {COV_NORMS}")
    return n if cov == "n" else n - 1


def mean_cov(x: np.ndarray, cov: str = "n-1") -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of (n, d) features in float64: ``Xc^T Xc / (n - 1)``
    (``cov="n-1"``, unbiased) or ``/ n`` (``cov="n"``, as StyleGAN-V and cd-fvd)."""
    x = np.asarray(x, dtype=np.float64)
    div = _cov_divisor(x.shape[0], cov)
    mu = x.mean(axis=0)
    xc = x - mu
    return mu, (xc.T @ xc) / div


def frechet_distance_from_features(feats1: Any, feats2: Any, *, method: str = "auto",
                                   cov: str = "n-1") -> float:
    """Frechet distance between the Gaussians fitted (mean, covariance normalised by
    ``1/(n-1)`` or, with ``cov="n"``, ``1/n``) to (n1, d) and (n2, d) feature sets. Uses
    the low-rank route (nuclear norm of ``Xc1 Xc2^T``) when either set has at most ``d``
    rows (its covariance is then singular); otherwise :func:`frechet_distance` with
    ``method``."""
    _cov_divisor(2, cov)
    x1 = _check_features(feats1, "1")
    x2 = _check_features(feats2, "2")
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(f"feature dimensions differ: {x1.shape[1]} vs {x2.shape[1]}")
    n1, d = x1.shape
    n2 = x2.shape[0]
    if min(n1, n2) <= d:  # a covariance of rank <= n - 1 < d: singular
        import scipy.linalg as la

        mu1, mu2 = x1.mean(axis=0), x2.mean(axis=0)
        c1 = (x1 - mu1) / math.sqrt(_cov_divisor(n1, cov))
        c2 = (x2 - mu2) / math.sqrt(_cov_divisor(n2, cov))
        s = la.svdvals(c1 @ c2.T, check_finite=False)
        diff = mu1 - mu2
        return _finish(float(diff @ diff), float((c1 * c1).sum()), float((c2 * c2).sum()),
                       float(s.sum()))
    mu1, s1 = mean_cov(x1, cov)
    mu2, s2 = mean_cov(x2, cov)
    return frechet_distance(mu1, s1, mu2, s2, method=method)


# ----------------------------------------------------------------------------- KVD


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(x . y / d + 1)^3`` for rows of x (n, d) and y (m, d)."""
    d = x.shape[1]
    return (x @ y.T / d + 1.0) ** 3


def mmd2_unbiased(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    """Unbiased MMD^2 from kernel matrices (diagonals of kxx and kyy excluded)."""
    n, m = kxx.shape[0], kyy.shape[0]
    sxx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(sxx + syy - 2.0 * kxy.mean())


def kernel_distance(feats1: Any, feats2: Any, *, num_subsets: int = 100,
                    max_subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """KVD/KID: mean and std over ``num_subsets`` seeded subsets (size ``min(max_subset_size,
    n1, n2)``, drawn without replacement from each set) of the unbiased polynomial-kernel
    MMD^2. Raw units (not x1000)."""
    x = _check_features(feats1, "1")
    y = _check_features(feats2, "2")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature dimensions differ: {x.shape[1]} vs {y.shape[1]}")
    m = min(max_subset_size, x.shape[0], y.shape[0])
    rng = np.random.default_rng(seed)
    vals = np.empty(num_subsets)
    full = max(x.shape[0], y.shape[0]) <= 4096  # kernels once, then index (<= 400 MB)
    if full:
        kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    for i in range(num_subsets):
        ia = rng.choice(x.shape[0], m, replace=False)
        ib = rng.choice(y.shape[0], m, replace=False)
        if full:
            vals[i] = mmd2_unbiased(kxx[np.ix_(ia, ia)], kyy[np.ix_(ib, ib)], kxy[np.ix_(ia, ib)])
        else:
            a, b = x[ia], y[ib]
            vals[i] = mmd2_unbiased(polynomial_kernel(a, a), polynomial_kernel(b, b),
                                    polynomial_kernel(a, b))
    return float(vals.mean()), float(vals.std())


# ----------------------------------------------------------------------------- honesty


def _rows(features: np.ndarray, which: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows, video index of each row) from (n, d) or (n, k, d) features."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim == 2:
        return f, np.arange(f.shape[0])
    if f.ndim == 3:
        n, k, d = f.shape
        return f.reshape(n * k, d), np.repeat(np.arange(n), k)
    raise ValueError(f"{which} features must be (n, d) or (n, k, d), got shape {f.shape}")


def _take(rows: np.ndarray, groups: np.ndarray, videos: np.ndarray) -> np.ndarray:
    if groups.shape[0] == rows.shape[0] and np.array_equal(groups, np.arange(rows.shape[0])):
        return rows[videos]
    order = np.argsort(groups, kind="stable")
    starts = np.searchsorted(groups[order], videos)
    k = rows.shape[0] // (groups.max() + 1)
    idx = (order[starts][:, None] + np.arange(k)[None, :]).ravel()
    return rows[idx]


def bootstrap_fd_ci(gen: np.ndarray, ref: np.ndarray, *, n_boot: int, seed: int,
                    value: float, gen_groups: np.ndarray | None = None,
                    ref_groups: np.ndarray | None = None, cov: str = "n-1"
                    ) -> tuple[float, float, dict]:
    """Basic bootstrap 95% CI of FD, resampling videos of both sets with replacement."""
    gg = np.arange(gen.shape[0]) if gen_groups is None else gen_groups
    rg = np.arange(ref.shape[0]) if ref_groups is None else ref_groups
    n, m = int(gg.max()) + 1, int(rg.max()) + 1
    if n < 2 or m < 2 or n_boot < 2:
        return float("nan"), float("nan"), {"n_boot": 0}
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for b in range(n_boot):
        boots[b] = frechet_distance_from_features(_take(gen, gg, rng.integers(0, n, n)),
                                                  _take(ref, rg, rng.integers(0, m, m)),
                                                  cov=cov)
    q_lo, q_med, q_hi = np.quantile(boots, [0.025, 0.5, 0.975])
    shift = q_med - value  # resampling with replacement adds its own upward bias
    lo, hi = max(0.0, q_lo - shift), max(0.0, q_hi - shift)
    return float(lo), float(hi), {"n_boot": int(n_boot),
                                  "ci_method": "bootstrap percentile, median-centred",
                                  "bootstrap_shift": float(shift)}


def noise_floor(ref: np.ndarray, n: int, *, seed: int,
                ref_groups: np.ndarray | None = None, cov: str = "n-1") -> tuple[float, int]:
    """FD between two disjoint random halves of the reference set, each of
    ``min(n, m // 2)`` videos: the FD two samples of the *same* distribution give at about
    this size. Returns (value, half size); NaN when the reference has < 4 videos."""
    rg = np.arange(ref.shape[0]) if ref_groups is None else ref_groups
    m = int(rg.max()) + 1
    h = min(int(n), m // 2)
    if h < 2:
        return float("nan"), h
    perm = np.random.default_rng(seed).permutation(m)
    a, b = perm[:h], perm[h:2 * h]
    return frechet_distance_from_features(_take(ref, rg, a), _take(ref, rg, b), cov=cov), h


def fd_infinity(gen: np.ndarray, ref: np.ndarray, *, seed: int, points: int = 12,
                min_fraction: float = 0.25, gen_groups: np.ndarray | None = None,
                ref_groups: np.ndarray | None = None, cov: str = "n-1") -> dict:
    """Chong & Forsyth's extrapolation: FD of seeded subsets holding a fraction f of both
    sets (f from ``min_fraction`` to 1), fitted as ``a + b / n_sub``; FD-infinity = a.
    Returns {"value", "slope", "sizes", "values"} (value NaN with a reason when the sets are
    too small to fit)."""
    gg = np.arange(gen.shape[0]) if gen_groups is None else gen_groups
    rg = np.arange(ref.shape[0]) if ref_groups is None else ref_groups
    n, m = int(gg.max()) + 1, int(rg.max()) + 1
    fracs = np.linspace(min_fraction, 1.0, points)
    sizes = sorted({(max(2, int(round(f * n))), max(2, int(round(f * m)))) for f in fracs})
    if n < 8 or m < 8 or len({s[0] for s in sizes}) < 3:
        return {"value": float("nan"), "reason": f"too few videos to extrapolate (n={n}, m={m})"}
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for ng, nr in sizes:
        a = rng.permutation(n)[:ng]
        b = rng.permutation(m)[:nr]
        xs.append(1.0 / ng)
        ys.append(frechet_distance_from_features(_take(gen, gg, a), _take(ref, rg, b),
                                                 cov=cov))
    slope, intercept = np.polyfit(np.asarray(xs), np.asarray(ys), 1)
    return {"value": float(intercept), "slope": float(slope),
            "sizes": [int(s[0]) for s in sizes], "values": [float(v) for v in ys]}


def fvd_aggregate(generated: Any, reference: Any, *, seed: int = 0, n_boot: int = 100,
                  protocol: Protocol | None = None, extras: bool = True,
                  cov: str | None = None) -> Aggregate:
    """FD of two feature sets with n, bootstrap CI, noise floor, FD-infinity and warnings.
    Covariances are normalised by ``cov`` ("n" or "n-1"); by default the protocol's
    (``protocol.cov``), or "n-1" without a protocol. ``details["covariance"]`` says which."""
    if cov is None:
        cov = protocol.cov if protocol is not None else "n-1"
    gen, gg = _rows(generated, "generated")
    ref, rg = _rows(reference, "reference")
    if gen.shape[1] != ref.shape[1]:
        raise UserError(f"generated features are {gen.shape[1]}-d but the reference's are "
                        f"{ref.shape[1]}-d: the reference was built with another extractor")
    n, m = int(gg.max()) + 1 if gg.size else 0, int(rg.max()) + 1 if rg.size else 0
    details: dict[str, Any] = {"n_reference": m, "units": "squared feature units",
                               "covariance": f"1/({cov})" if cov == "n-1" else "1/n"}
    warnings: list[str] = []
    if n < 2 or m < 2:
        details["reason"] = f"need at least 2 videos in each set (generated {n}, reference {m})"
        return Aggregate(float("nan"), (float("nan"), float("nan")), n, details)
    value = frechet_distance_from_features(gen, ref, cov=cov)
    if protocol is not None:
        details["protocol"] = protocol.name
        details["protocol_hash"] = protocol.hash()
        if n < protocol.n_fake:
            warnings.append(f"only {n} generated videos; protocol {protocol.name} uses "
                            f"{protocol.n_fake}: FD is biased upward ~1/n, so this value is "
                            f"not comparable with published numbers")
        if m < protocol.n_real:
            warnings.append(f"only {m} reference videos; protocol {protocol.name} uses "
                            f"{protocol.n_real}")
    lo, hi = float("nan"), float("nan")
    if extras:
        lo, hi, binfo = bootstrap_fd_ci(gen, ref, n_boot=n_boot, seed=seed, value=value,
                                        gen_groups=gg, ref_groups=rg, cov=cov)
        details.update(binfo)
        nf, h = noise_floor(ref, n, seed=seed + 1, ref_groups=rg, cov=cov)
        details["noise_floor"] = nf
        details["noise_floor_n"] = h
        if h < n:
            warnings.append(f"reference has {m} videos (< 2n = {2 * n}): noise floor measured "
                            f"between halves of {h}")
        inf = fd_infinity(gen, ref, seed=seed + 2, gen_groups=gg, ref_groups=rg, cov=cov)
        details["fvd_inf"] = inf.pop("value")
        details["fvd_inf_fit"] = inf
    details["warnings"] = warnings
    return Aggregate(float(value), (lo, hi), n, details)
