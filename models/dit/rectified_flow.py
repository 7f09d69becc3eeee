"""Rectified flow: the training objective, the Euler sampler with classifier-free guidance,
and EMA weights.

Objective (Liu et al. 2022; SD3's logit-normal t): with data x0 and noise eps ~ N(0, I),
``x_t = (1 - t) x0 + t eps``, the network predicts the velocity ``v = eps - x0`` and the loss
is the mean squared error over the frames that are *not* given as conditioning.
``t = shift * s / (1 + (shift - 1) s)`` with ``s = sigmoid(n)``, ``n ~ N(t_mean, t_std)``
(shift > 1 spends more steps near noise, for larger frames).

Sampler: Euler from t = 1 to t = 0 on a uniform (then time-shifted) grid,
``x <- x + (t_next - t) v``, with ``v = v_null + scale (v_text - v_null)``; at scale 1 the
null branch is skipped (it equals the conditional prediction). The first K frames are held at
the clean conditioning frames throughout, so they come out exactly as given.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from vidbench.models.dit.configs import DiTConfig
from vidbench.models.dit.model import VideoDiT


def shift_time(t: torch.Tensor, shift: float) -> torch.Tensor:
    if shift == 1.0:
        return t
    return shift * t / (1 + (shift - 1) * t)


def prior_noise(cfg: DiTConfig, num_frames: int, generator: torch.Generator) -> torch.Tensor:
    """One draw of the prior, (C, T, H, W): standard Gaussian noise on the config's noise
    grid (H / noise_block x W / noise_block), each value repeated over its noise_block x
    noise_block pixel block (i.i.d. per pixel when noise_block is 1)."""
    b = cfg.noise_block
    eps = torch.randn(cfg.channels, num_frames, cfg.height // b, cfg.width // b,
                      generator=generator)
    return eps.repeat_interleave(b, dim=2).repeat_interleave(b, dim=3) if b > 1 else eps


def sample_t(n: int, mean: float, std: float, shift: float,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Logit-normal timesteps, time-shifted."""
    z = torch.randn(n, generator=generator) * std + mean
    return shift_time(torch.sigmoid(z), shift)


def frame_mask(cond: torch.Tensor, num_frames: int) -> torch.Tensor:
    """(B,) numbers of conditioning frames -> (B, 1, T, 1, 1) float mask, 1 on frames < K."""
    ar = torch.arange(num_frames, device=cond.device)
    return (ar[None] < cond[:, None]).float()[:, None, :, None, None]


def foreground_weight(x0: torch.Tensor, alpha: float, threshold: float = 0.1) -> torch.Tensor:
    """Per-pixel loss weights ``1 + alpha * M`` (B, 1, T, H, W) that put the moving objects
    back into the loss: ``M`` is 1 where a frame differs from the clip's per-pixel temporal
    median (the static background when the camera is fixed) by more than ``threshold`` in
    any channel (``x0`` in [-1, 1]), dilated by one pixel so an object's rim, where blurred
    or misplaced samples go wrong, is weighted too. The physics objects with their rims cover
    5-8% of a 32x32 frame, so without it an unweighted MSE is almost all background, which
    the concat conditioning already gives away. ``alpha = 0`` gives all-ones (the plain loss)."""
    if alpha == 0:
        return torch.ones_like(x0[:, :1])
    med = x0.median(dim=2, keepdim=True).values
    m = ((x0 - med).abs().amax(dim=1, keepdim=True) > threshold).to(x0.dtype)
    m = torch.nn.functional.max_pool3d(m, kernel_size=(1, 3, 3), stride=1, padding=(0, 1, 1))
    return 1.0 + alpha * m


def flow_loss(model: VideoDiT, x0: torch.Tensor, ctx: torch.Tensor, ctx_mask: torch.Tensor,
              t: torch.Tensor, eps: torch.Tensor, cond: torch.Tensor,
              reduction: str = "mean", weight: torch.Tensor | None = None) -> torch.Tensor:
    """Rectified-flow loss. ``x0``, ``eps`` (B, C, T, H, W); ``t`` (B,); ``cond`` (B,) number
    of clean leading frames; ``weight`` optional per-pixel weights broadcastable to ``x0``
    (e.g. :func:`foreground_weight`). Returns the weighted mean over the generated frames
    (``reduction="mean"``) or the per-sample means (``"none"``, shape (B,))."""
    T = x0.shape[2]
    keep = frame_mask(cond, T).to(x0.dtype)  # 1 where clean
    tt = t.view(-1, 1, 1, 1, 1).to(x0.dtype)
    xt = (1 - tt) * x0 + tt * eps
    xt = keep * x0 + (1 - keep) * xt
    v = model(xt, t, ctx, ctx_mask, cond)
    w = (1 - keep).expand_as(x0)
    if weight is not None:
        w = w * weight.to(x0.dtype)
    per = ((v - (eps - x0)) ** 2 * w).flatten(1).sum(1) / w.flatten(1).sum(1).clamp_min(1)
    return per.mean() if reduction == "mean" else per


def guided_velocity(model: VideoDiT, x: torch.Tensor, t: torch.Tensor, ctx: torch.Tensor,
                    ctx_mask: torch.Tensor, cond: torch.Tensor, scale: float,
                    fast_path: bool = True) -> torch.Tensor:
    """Classifier-free guidance: ``v_null + scale (v_text - v_null)``, one batched call;
    with ``fast_path`` scale 1 skips the null branch (the result is the same)."""
    if scale == 1.0 and fast_path:
        return model(x, t, ctx, ctx_mask, cond)
    B = x.shape[0]
    nctx, nmask = model.drop_context(ctx, ctx_mask, torch.ones(B, dtype=torch.bool,
                                                               device=x.device))
    v = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([ctx, nctx]),
              torch.cat([ctx_mask, nmask]), torch.cat([cond, cond]))
    v_text, v_null = v.chunk(2)
    return v_null + scale * (v_text - v_null)


@torch.no_grad()
def sample(model: VideoDiT, prompts: list[str], *, seed: int | list[int] = 0,
           steps: int = 25, cfg_scale: float = 2.0, cond_frames: torch.Tensor | None = None,
           num_frames: int | None = None, shift: float | None = None,
           ctx: tuple[torch.Tensor, torch.Tensor] | None = None,
           decode: Callable[[torch.Tensor], torch.Tensor] | None = None,
           device: str | torch.device = "cpu") -> torch.Tensor:
    """Generate (B, C, T, H, W) in [-1, 1] (or decoded by ``decode`` for latent configs).

    ``seed``: one seed for the batch, or one per prompt (each sample's noise comes from its
    own generator, so a sample does not depend on its batch-mates). ``cond_frames``
    (B, C, K, H, W) in model space: held clean as the first K frames. ``ctx``: a precomputed
    (context, mask) for configs with an external text encoder."""
    cfg = model.cfg
    B = len(prompts)
    T = num_frames or cfg.num_frames
    seeds = [seed + i for i in range(B)] if isinstance(seed, int) else list(seed)
    noise = torch.stack([prior_noise(cfg, T, torch.Generator().manual_seed(int(s)))
                         for s in seeds]).to(device)
    if ctx is None:
        ctx_t, mask = model.encode_text(prompts)
    else:
        ctx_t, mask = ctx
    K = 0 if cond_frames is None else int(cond_frames.shape[2])
    cond = torch.full((B,), K, dtype=torch.long, device=device)
    x = noise
    if K:
        assert cond_frames is not None
        cond_frames = cond_frames.to(device, noise.dtype)
        x = torch.cat([cond_frames, x[:, :, K:]], dim=2)
    shift = cfg.time_shift if shift is None else shift
    grid = shift_time(torch.linspace(1.0, 0.0, steps + 1), shift)
    for i in range(steps):
        t, t_next = float(grid[i]), float(grid[i + 1])
        tt = torch.full((B,), t, device=device)
        v = guided_velocity(model, x, tt, ctx_t, mask, cond, cfg_scale)
        x = x + (t_next - t) * v
        if K:
            x[:, :, :K] = cond_frames
    return decode(x) if decode is not None else x


class EMA:
    """Exponential moving average of a model's parameters (and a copy of its buffers):
    ``ema <- decay * ema + (1 - decay) * param`` after each optimiser step, with the
    warm-up ``decay_k = min(decay, (1 + k) / (10 + k))``."""

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.updates = 0

    def current_decay(self) -> float:
        k = self.updates
        return min(self.decay, (1 + k) / (10 + k))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.current_decay()
        for e, p in zip(self.model.parameters(), model.parameters(), strict=True):
            e.mul_(d).add_(p.detach(), alpha=1 - d)
        for e, b in zip(self.model.buffers(), model.buffers(), strict=True):
            e.copy_(b)
        self.updates += 1
