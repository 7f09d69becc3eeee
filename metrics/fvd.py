"""Distribution metrics: FVD, KVD and content-debiased FVD, with honest uncertainty.

The maths (Frechet distance, kernel MMD^2, bootstrap, noise floor, FVD-infinity) lives in
:mod:`vidbench.metrics.frechet` and is re-exported here.

**Frechet distance** between two Gaussians fitted to feature sets (float64 throughout)::

    FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

(how ``tr((S1 S2)^(1/2))`` is computed without a general matrix square root, and why a
non-PSD input raises: :mod:`vidbench.metrics.frechet`).

**FVD** (``fvd``): FD between I3D logits (400-d) of generated and reference clips under a
named protocol (:mod:`vidbench.metrics.protocols`). Each protocol states its covariance
normalisation (``Protocol.cov``): the ``stylegan-v/*``, ``deepmind-i3d/*`` and ``cd-fvd/*``
presets use 1/n, as StyleGAN-V's ``compute_fvd`` and cd-fvd (their Frechet step equals
cd-fvd's to 1e-9); vidbench's default ``vidbench/fvd2048_16f_8fps`` uses the unbiased 1/(n-1). The
two differ by about ``d/n`` relative (6.7e-5 at n = 2048, d = 400). Range [0, inf), lower
is better, in squared logit units. Biased upward roughly as ``c (1/n + 1/m)``, so it is
only comparable at equal set sizes; it sees only first and second moments of the features
(blind to multi-modality beyond that), only what the backbone encodes (Kinetics-400 I3D is
content-heavy and weak on motion quality), and only the protocol's clip (16 frames).

Every FVD comes with: ``n`` (generated) and ``n_reference``; a 95% CI from a seeded bootstrap
resampling videos of both sets: the 2.5-97.5% percentiles of the bootstrap values, shifted
so their median sits on the estimate (resampling with replacement duplicates videos, which
adds its own upward bias of the size of the effect being measured, so plain percentiles
would sit above the estimate). It is the uncertainty of FVD *at this n*, the quantity that is
comparable between models scored at equal n; the bias itself is described by the next two
figures: the **noise floor**, FD between two disjoint random halves of the
reference set at the generated set's size (or at ``m // 2`` when the reference is smaller
than ``2 n``); **FVD-infinity** (Chong & Forsyth, "Effectively Unbiased FID and Inception
Score and where to find them", CVPR 2020): FD of seeded proportional subsets of both sets
is fitted as linear in ``1 / n_sub`` and extrapolated to ``1 / n = 0``; and a warning when a
set is smaller than the protocol's size.

**KVD** (``kvd``): unbiased MMD^2 with the polynomial kernel ``k(x, y) = (x.y / d + 1)^3``
on the same I3D features, averaged over 100 seeded subsets of ``min(1000, n, m)`` videos
from each set (mean and std reported). Units: raw MMD^2 (not multiplied by 1000). Range
about [0, inf) (the unbiased estimate can be slightly negative when the sets match), lower
is better. Unbiased in n, unlike FVD, so small sets give usable numbers.

**cd-FVD** (``cd_fvd``): FD between VideoMAE-v2 ViT-g features (1408-d) fine-tuned on SSv2,
which are less biased to per-frame content and more sensitive to motion than I3D logits
(Ge et al., "On the Content Bias in Frechet Video Distance", CVPR 2024).

All three are set metrics (:class:`vidbench.registry.SetMetric`): ``features(ctx)`` maps one
decoded video to its feature vector (via the protocol's view, memoised per video so FVD and
KVD share one I3D pass) and ``compute(generated, reference, seed=...)`` gives the
:class:`~vidbench.stats.Aggregate`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from vidbench.errors import UserError
from vidbench.metrics.frechet import (  # noqa: F401  (re-exported: the public maths)
    COV_NORMS,
    METHODS,
    PRODUCT_RTOL,
    PSD_RTOL,
    _rows,
    bootstrap_fd_ci,
    fd_infinity,
    frechet_distance,
    frechet_distance_from_features,
    fvd_aggregate,
    kernel_distance,
    mean_cov,
    mmd2_unbiased,
    noise_floor,
    polynomial_kernel,
    trace_sqrt_product,
)
from vidbench.metrics.protocols import get_protocol
from vidbench.registry import SetMetric, VideoContext
from vidbench.stats import Aggregate
from vidbench.video import ViewSpec

# ============================================================================= metrics


#: options that change only the uncertainty figures, not the value: not hashed
_NOT_IN_PROTOCOL = frozenset({"protocol", "n_boot", "extras"})


class _FeatureSetMetric(SetMetric):
    """Shared plumbing: protocol, lazy backbone, per-video clip selection, memoisation."""

    #: default protocol per mode
    default_protocols: ClassVar[dict[str, str]] = {}
    backbone: ClassVar[str] = ""

    @classmethod
    def weights_used(cls) -> tuple[str, ...]:
        """The weights of every protocol preset on this metric's backbone."""
        from vidbench.metrics.protocols import PROTOCOLS

        return tuple(dict.fromkeys(p.weights for p in PROTOCOLS.values()
                                   if p.backbone == cls.backbone))

    def __init__(self, mode: str = "default", *, device: str = "cpu",
                 random_weights: bool = False, **options: Any) -> None:
        super().__init__(mode, device=device, random_weights=random_weights, **options)
        proto = options.get("protocol") or self.default_protocols[mode]
        self.proto = get_protocol(proto)
        if self.proto.backbone != self.backbone:
            raise UserError(f"metric {self.name}: protocol {self.proto.name} uses backbone "
                            f"{self.proto.backbone}, this metric needs {self.backbone}")
        self.seed = int(options.get("seed", 0))
        self._extractor: Any = None

    # -- description
    def required_weights(self) -> tuple[str, ...]:
        return (self.proto.weights,)

    def protocol(self) -> dict:
        return {"metric": self.name, "mode": self.mode, "version": self.version,
                "protocol": self.proto.to_dict(), "protocol_hash": self.proto.hash(),
                "options": {k: v for k, v in sorted(self.options.items())
                            if k not in _NOT_IN_PROTOCOL and isinstance(v, (str, int, float,
                                                                             bool))},
                "weights": list(self.required_weights()),
                "random_weights": bool(self.random_weights)}

    def view_spec(self) -> ViewSpec:
        return self.proto.base_view_spec()

    def feature_key(self) -> str:
        """Names the feature space: backbone, weights (or random init) and protocol hash.
        Metrics with the same key share features (fvd and kvd) and reference caches."""
        w = "random-init" if self.random_weights else self.proto.weights
        return f"{self.proto.backbone}-{w}-{self.proto.hash()}"

    def weights_sha256(self) -> str | None:
        """sha256 of the weights file in use (None for random init or when unknown)."""
        if self.random_weights:
            return None
        from vidbench import weights

        try:
            p = weights.resolve(self.proto.weights)
        except UserError:
            return None
        return weights.sha256_file(p)

    # -- extraction
    def clip_spec(self, ctx: VideoContext) -> ViewSpec:
        clip = ctx.clip
        return self.proto.clip_spec(clip.num_frames, float(clip.fps), float(clip.duration),
                                    ctx.video or clip.path)

    def planned_spec(self, facts: Any, video_id: str) -> ViewSpec:
        """The clip :meth:`clip_spec` will ask for, from the container's facts read before
        decoding (``num_frames``, ``fps``, ``duration``: :func:`vidbench.stream.container_facts`)
        and the id the runner gives the video (``ctx.video``). The runner streams this view
        with the others; it is used only when it equals :meth:`clip_spec` of the decoded
        clip (otherwise the view costs a second streamed pass, counted)."""
        return self.proto.clip_spec(int(facts.num_frames), float(facts.fps),
                                    float(facts.duration), video_id)

    def extractor(self) -> Any:
        if self._extractor is None:
            self._extractor = self._build_extractor()
        return self._extractor

    def _build_extractor(self) -> Any:
        raise NotImplementedError

    def features(self, ctx: VideoContext) -> np.ndarray:
        spec = self.clip_spec(ctx)
        key = ("vidbench.fvd-features", self.feature_key(), spec)
        return ctx.memo(key, lambda: self._extract(ctx, spec))

    def _extract(self, ctx: VideoContext, spec: ViewSpec) -> np.ndarray:
        view = ctx.view(spec)
        if view.num_frames < self.proto.num_frames:
            raise UserError(
                f"{ctx.video or ctx.clip.path}: only {view.num_frames} frames for a "
                f"{self.proto.num_frames}-frame clip at {view.fps:.3g} fps (protocol "
                f"{self.proto.name} does not pad short videos)")
        feats = self.extractor()(view.frames[None])
        return np.asarray(feats[0], dtype=np.float64)


class FVD(_FeatureSetMetric):
    """Frechet Video Distance on I3D (Kinetics-400) logits.

    Formula: ``|mu_g - mu_r|^2 + tr(S_g) + tr(S_r) - 2 tr((S_g S_r)^(1/2))`` on 400-d
    logits of one clip per video. Range [0, inf), lower is better. View: the protocol's
    (default mode ``vidbench/fvd2048_16f_8fps``; vbench mode ``stylegan-v/fvd2048_16f``;
    option ``protocol=`` picks any preset or a custom dict). Biased upward ~1/n: compare only
    at equal n, and read the noise floor, CI and FVD-infinity in ``details``. Blind to
    anything outside the clip, to higher moments of the features, and largely to motion
    quality (I3D logits are content-heavy; see cd_fvd)."""

    name: ClassVar[str] = "fvd"
    version: ClassVar[str] = "1"
    backbone: ClassVar[str] = "i3d"
    default_protocols: ClassVar[dict[str, str]] = {"default": "vidbench/fvd2048_16f_8fps",
                                                   "vbench": "stylegan-v/fvd2048_16f"}

    def _build_extractor(self) -> Any:
        from vidbench.metrics.backbones.i3d import load_i3d_extractor

        return load_i3d_extractor(None if self.random_weights else self.proto.weights,
                                  device=self.device, scale=self.proto.scale,
                                  seed=self.seed)

    def compute(self, generated: np.ndarray, reference: np.ndarray, *, seed: int = 0
                ) -> Aggregate:
        agg = fvd_aggregate(generated, reference, seed=seed,
                            n_boot=int(self.options.get("n_boot", 100)), protocol=self.proto,
                            extras=bool(self.options.get("extras", True)))
        agg.details["comparable"] = self.comparable
        return agg


class ContentDebiasedFVD(FVD):
    """Content-debiased FVD: the Frechet distance on VideoMAE-v2 features.

    Same formula, range, direction and honesty details as :class:`FVD`, on 1408-d
    mean-pooled VideoMAE-v2 ViT-g/14 features (self-supervised on UnlabeledHybrid,
    fine-tuned on Something-Something-v2), protocol ``cd-fvd/videomae_16f`` (16 consecutive
    frames, 224x224 bilinear, [0, 1]). Less sensitive than I3D FVD to per-frame content,
    more to temporal quality (Ge et al., CVPR 2024). Blind to anything outside the 16-frame
    clip and to higher moments of the features. With ``random_weights`` a protocol's ViT-g
    is built ViT-S sized (384-d) unless ``size=`` says otherwise, so dry runs stay fast."""

    name: ClassVar[str] = "cd_fvd"
    backbone: ClassVar[str] = "videomae"
    default_protocols: ClassVar[dict[str, str]] = {"default": "cd-fvd/videomae_16f",
                                                   "vbench": "cd-fvd/videomae_16f"}

    def _build_extractor(self) -> Any:
        from vidbench.metrics.backbones.videomae import load_videomae_extractor

        opts = dict(self.proto.backbone_options)
        if self.random_weights and opts.get("size", "giant") == "giant":
            opts["size"] = "small"  # dry runs: a random ViT-g would take minutes per clip
        if "size" in self.options:
            opts["size"] = self.options["size"]
        return load_videomae_extractor(None if self.random_weights else self.proto.weights,
                                       device=self.device, scale=self.proto.scale,
                                       seed=self.seed, num_frames=self.proto.num_frames,
                                       img_size=self.proto.size, **opts)


class KVD(FVD):
    """Kernel Video Distance: unbiased MMD^2 with the polynomial kernel (x.y/d + 1)^3.

    On the same I3D features and protocol as :class:`FVD` (shared per video). Value: mean
    over 100 seeded subsets of ``min(1000, n, m)`` videos per set; ``details["std"]`` their
    std. Units: raw MMD^2 (not x1000). Range about [0, inf), lower is better; unbiased in
    n, so near 0 for two samples of one distribution at any size. CI: bootstrap over videos
    of both sets of the full-set MMD^2, its spread centred on the value. Blind to what I3D
    does not encode and to anything outside the clip."""

    name: ClassVar[str] = "kvd"

    def compute(self, generated: np.ndarray, reference: np.ndarray, *, seed: int = 0
                ) -> Aggregate:
        gen, _ = _rows(generated, "generated")
        ref, _ = _rows(reference, "reference")
        n, m = gen.shape[0], ref.shape[0]
        details: dict[str, Any] = {"n_reference": m, "units": "MMD^2 (raw, not x1000)",
                                   "kernel": "(x.y/d + 1)^3", "protocol": self.proto.name,
                                   "protocol_hash": self.proto.hash(),
                                   "comparable": self.comparable}
        if n < 2 or m < 2:
            details["reason"] = f"need at least 2 videos in each set (generated {n}, " \
                                f"reference {m})"
            return Aggregate(float("nan"), (float("nan"), float("nan")), n, details)
        num_subsets = int(self.options.get("num_subsets", 100))
        subset = int(self.options.get("subset_size", 1000))
        mean, std = kernel_distance(gen, ref, num_subsets=num_subsets,
                                    max_subset_size=subset, seed=seed)
        details.update({"std": std, "num_subsets": num_subsets,
                        "subset_size": min(subset, n, m)})
        lo, hi = self._bootstrap(gen, ref, mean, seed=seed,
                                 n_boot=int(self.options.get("n_boot", 200)))
        warnings = []
        if n < self.proto.n_fake:
            warnings.append(f"only {n} generated videos; protocol {self.proto.name} uses "
                            f"{self.proto.n_fake}")
        details["warnings"] = warnings
        return Aggregate(mean, (lo, hi), n, details)

    @staticmethod
    def _bootstrap(gen: np.ndarray, ref: np.ndarray, value: float, *, seed: int,
                   n_boot: int) -> tuple[float, float]:
        n, m = gen.shape[0], ref.shape[0]
        allf = np.concatenate([gen, ref])
        k = polynomial_kernel(allf, allf)
        rng = np.random.default_rng(seed)
        boots = np.empty(n_boot)
        for b in range(n_boot):
            i = rng.integers(0, n, n)
            j = n + rng.integers(0, m, m)
            boots[b] = mmd2_unbiased(k[np.ix_(i, i)], k[np.ix_(j, j)], k[np.ix_(i, j)])
        q_lo, q_med, q_hi = np.quantile(boots, [0.025, 0.5, 0.975])
        # the spread of the bootstrap distribution, centred on the reported value
        return float(value + (q_lo - q_med)), float(value + (q_hi - q_med))
