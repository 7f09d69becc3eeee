"""A spatio-temporal Diffusion Transformer for video, in the style of facebookresearch/DiT.

Input ``x`` (B, C, T, H, W) in [-1, 1] (pixels, or VAE latents), timestep ``t`` (B,) in [0, 1]
(rectified flow: 0 = data, 1 = noise), text context ``ctx`` (B, L, D_text) with a boolean
``ctx_mask`` (B, L) (True = real token), and ``cond`` (B,) the number of leading frames that
are given clean. Output: the predicted velocity ``eps - x0``, same shape as ``x``.

One idea per class:

- :class:`PatchEmbed` — a linear map on non-overlapping tubelets pt x ph x pw.
- frozen 3-D sin-cos positions (:func:`sincos_3d`), or 3-D rotary embeddings on q and k
  (:class:`Rope3D`, for larger configs).
- :class:`DiTBlock` — adaLN-Zero self-attention (full 3-D, or alternating spatial / temporal
  when factorised), a cross-attention sub-layer on the text tokens (PixArt/Wan style), and an
  adaLN-Zero MLP. Gates and the cross-attention output are zero-initialised, so every block
  starts as the identity.
- :class:`FinalLayer` — adaLN then a zero-initialised linear map back to patches, so the
  model's output at step 0 is exactly zero.
- :class:`TokenTextEncoder` — the tiny configs' text encoder: a learned embedding over a
  word-level vocabulary built from the suite's prompts, plus learned positions.
"""

from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn

from vidbench.models.dit.configs import DiTConfig, forward_flops

# --------------------------------------------------------------------------- positions


def sincos_1d(dim: int, pos: torch.Tensor) -> torch.Tensor:
    """(N,) positions -> (N, dim) [sin | cos] features (dim even), as in MAE / DiT."""
    omega = torch.arange(dim // 2, dtype=torch.float64, device=pos.device) / (dim / 2.0)
    omega = 1.0 / 10000 ** omega
    out = pos.double()[:, None] * omega[None]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1).float()


def sincos_3d(dim: int, gt: int, gh: int, gw: int, device=None) -> torch.Tensor:
    """Frozen 3-D positions (gt*gh*gw, dim), tokens ordered t-major then h then w.
    The width is split as (t, h, w) = (dim - 2*dh, dh, dh) with dh = (dim // 3) rounded down
    to an even number."""
    dh = (dim // 3) // 2 * 2
    dt = dim - 2 * dh
    if dt % 2 or dt <= 0:
        raise ValueError(f"hidden width {dim} cannot be split into three even parts")
    t, h, w = torch.meshgrid(torch.arange(gt, device=device), torch.arange(gh, device=device),
                             torch.arange(gw, device=device), indexing="ij")
    return torch.cat([sincos_1d(dt, t.reshape(-1)), sincos_1d(dh, h.reshape(-1)),
                      sincos_1d(dh, w.reshape(-1))], dim=1)


class Rope3D(nn.Module):
    """3-D rotary position embedding: the head dimension is split into (t, h, w) parts,
    each rotated by its own coordinate (RoFormer's rotation, applied per axis)."""

    def __init__(self, head_dim: int, theta: float = 10000.0) -> None:
        super().__init__()
        dh = (head_dim // 3) // 2 * 2
        self.dims = (head_dim - 2 * dh, dh, dh)
        if any(d <= 0 or d % 2 for d in self.dims):
            raise ValueError(f"head dim {head_dim} cannot be split for 3-D RoPE")
        self.theta = theta

    def angles(self, gt: int, gh: int, gw: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        coords = torch.meshgrid(torch.arange(gt, device=device), torch.arange(gh, device=device),
                                torch.arange(gw, device=device), indexing="ij")
        parts = []
        for d, c in zip(self.dims, coords, strict=True):
            freq = 1.0 / self.theta ** (torch.arange(0, d, 2, device=device).float() / d)
            parts.append(c.reshape(-1, 1).float() * freq[None])
        ang = torch.cat(parts, dim=1)  # (N, head_dim/2)
        return ang.cos(), ang.sin()

    @staticmethod
    def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """x (B, heads, N, head_dim); pairs (2i, 2i+1) rotated by the angle i."""
        x1, x2 = x[..., 0::2], x[..., 1::2]
        out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
        return out.flatten(-2)


# --------------------------------------------------------------------------- embeddings


class PatchEmbed(nn.Module):
    """(B, C, T, H, W) -> (B, N, D): a linear map of each pt x ph x pw tubelet."""

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        self.patch = cfg.in_patch
        self.proj = nn.Linear(cfg.in_patch_dim * (2 if cfg.cond_concat else 1), cfg.hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(patchify(x, self.patch))


def patchify(x: torch.Tensor, patch: tuple[int, int, int]) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, N, C*pt*ph*pw), tokens t-major then h then w."""
    B, C, T, H, W = x.shape
    pt, ph, pw = patch
    x = x.reshape(B, C, T // pt, pt, H // ph, ph, W // pw, pw)
    x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)
    return x.reshape(B, (T // pt) * (H // ph) * (W // pw), C * pt * ph * pw)


def unpatchify(x: torch.Tensor, patch: tuple[int, int, int], channels: int,
               grid: tuple[int, int, int]) -> torch.Tensor:
    """The inverse of :func:`patchify`."""
    B = x.shape[0]
    pt, ph, pw = patch
    gt, gh, gw = grid
    x = x.reshape(B, gt, gh, gw, channels, pt, ph, pw)
    x = x.permute(0, 4, 1, 5, 2, 6, 3, 7)
    return x.reshape(B, channels, gt * pt, gh * ph, gw * pw)


class TimestepEmbedder(nn.Module):
    """Scalar t in [0, 1] -> sinusoidal features of 1000 t -> MLP (as DiT)."""

    def __init__(self, hidden: int, freq_dim: int = 256) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.freq_dim // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device).float() / half)
        args = (t.float() * 1000.0)[:, None] * freqs[None]
        return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))


_WORD = re.compile(r"[a-z0-9]+|[\u3400-\u4dbf\u4e00-\u9fff]")


def tokenize_words(text: str) -> list[str]:
    """Lower-case words and numbers, and each Chinese character (CJK unified ideographs) as
    a token of its own; punctuation is dropped. English text tokenises as before (the
    shipped checkpoint's vocabulary is English words; Chinese characters it has not seen
    are unknown tokens until a model is trained on Chinese prompts)."""
    return _WORD.findall(text.lower())


def build_vocab(prompts) -> tuple[str, ...]:
    """A sorted word vocabulary from an iterable of prompts."""
    return tuple(sorted({w for p in prompts for w in tokenize_words(p)}))


class TokenTextEncoder(nn.Module):
    """Word-level tokenizer + learned embedding: prompts -> (B, L, D_text), mask (B, L).
    Index 0 is padding, 1 is unknown words; words beyond ``max_len`` are cut."""

    def __init__(self, vocab: tuple[str, ...], dim: int, max_len: int) -> None:
        super().__init__()
        self.vocab = tuple(vocab)
        self.index = {w: i + 2 for i, w in enumerate(self.vocab)}
        self.max_len = max_len
        self.embed = nn.Embedding(len(self.vocab) + 2, dim)
        self.pos = nn.Parameter(torch.zeros(max_len, dim))
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.pos, std=0.02)

    def ids(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.zeros(len(prompts), self.max_len, dtype=torch.long)
        for i, p in enumerate(prompts):
            toks = [self.index.get(w, 1) for w in tokenize_words(p)][: self.max_len] or [1]
            ids[i, : len(toks)] = torch.tensor(toks)
        return ids, ids != 0

    def unknown_words(self, prompt: str) -> list[str]:
        return [w for w in tokenize_words(prompt) if w not in self.index]

    def forward(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = self.ids(prompts)
        dev = self.embed.weight.device
        ids, mask = ids.to(dev), mask.to(dev)
        return self.embed(ids) + self.pos[None], mask


# --------------------------------------------------------------------------- blocks


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


class SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> torch.Tensor:
        B, N, D = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, D // self.heads).permute(
            2, 0, 3, 1, 4)
        if rope is not None:
            q, k = Rope3D.rotate(q, *rope), Rope3D.rotate(k, *rope)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(B, N, D))


class CrossAttention(nn.Module):
    """Queries from the video tokens, keys/values from the text tokens (masked)."""

    def __init__(self, hidden: int, text_dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(hidden, hidden)
        self.kv = nn.Linear(text_dim, 2 * hidden)
        self.proj = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, N, D = x.shape
        L = ctx.shape[1]
        hd = D // self.heads
        q = self.q(x).reshape(B, N, self.heads, hd).transpose(1, 2)
        k, v = self.kv(ctx).reshape(B, L, 2, self.heads, hd).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
        return self.proj(out.transpose(1, 2).reshape(B, N, D))


class DiTBlock(nn.Module):
    """adaLN-Zero block with cross-attention. ``kind`` is "full", "spatial" or "temporal":
    spatial attention runs within each frame, temporal attention across frames at each
    spatial position."""

    def __init__(self, cfg: DiTConfig, kind: str = "full") -> None:
        super().__init__()
        D = cfg.hidden
        self.kind = kind
        self.norm1 = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(D, cfg.heads)
        self.norm_x = nn.LayerNorm(D, eps=1e-6)
        self.cross = CrossAttention(D, cfg.text_dim, cfg.heads)
        self.norm2 = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        hid = int(D * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(D, hid), nn.GELU(approximate="tanh"),
                                 nn.Linear(hid, D))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(D, 6 * D))

    def _attend(self, h: torch.Tensor, grid: tuple[int, int, int], rope) -> torch.Tensor:
        if self.kind == "full":
            return self.attn(h, rope)
        B, N, D = h.shape
        gt, gh, gw = grid
        if self.kind == "spatial":
            r = None if rope is None else tuple(a.reshape(gt, gh * gw, -1)[0] for a in rope)
            out = self.attn(h.reshape(B * gt, gh * gw, D), r)
            return out.reshape(B, N, D)
        # temporal: (B, gt, S, D) -> (B*S, gt, D)
        S = gh * gw
        r = None if rope is None else tuple(a.reshape(gt, S, -1)[:, 0] for a in rope)
        hs = h.reshape(B, gt, S, D).transpose(1, 2).reshape(B * S, gt, D)
        out = self.attn(hs, r)
        return out.reshape(B, S, gt, D).transpose(1, 2).reshape(B, N, D)

    def forward(self, x: torch.Tensor, c: torch.Tensor, ctx: torch.Tensor, mask: torch.Tensor,
                grid: tuple[int, int, int], rope=None) -> torch.Tensor:
        sh1, sc1, g1, sh2, sc2, g2 = self.ada(c).chunk(6, dim=-1)
        x = x + g1[:, None] * self._attend(modulate(self.norm1(x), sh1, sc1), grid, rope)
        x = x + self.cross(self.norm_x(x), ctx, mask)
        x = x + g2[:, None] * self.mlp(modulate(self.norm2(x), sh2, sc2))
        return x


class FinalLayer(nn.Module):
    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(cfg.hidden, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(cfg.hidden, 2 * cfg.hidden))
        self.linear = nn.Linear(cfg.hidden, cfg.patch_dim)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.ada(c).chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))


# --------------------------------------------------------------------------- model


class VideoDiT(nn.Module):
    """The video DiT (see the module docstring). ``text`` is the built-in token encoder
    for ``text_encoder="tokens"`` configs, else None (pass ``ctx`` from any encoder)."""

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        D = cfg.hidden
        self.x_embed = PatchEmbed(cfg)
        self.t_embed = TimestepEmbedder(D)
        self.text = (TokenTextEncoder(cfg.vocab, cfg.text_dim, cfg.text_len)
                     if cfg.text_encoder == "tokens" else None)
        self.pool = nn.Sequential(nn.Linear(cfg.text_dim, D), nn.SiLU(), nn.Linear(D, D))
        # the learned null context for classifier-free guidance (one token)
        self.null_ctx = nn.Parameter(torch.zeros(1, cfg.text_dim))
        # added to the tokens of clean conditioning frames
        self.cond_embed = nn.Parameter(torch.zeros(D))
        kinds = (["full"] * cfg.depth if cfg.attention == "full"
                 else ["spatial" if i % 2 == 0 else "temporal" for i in range(cfg.depth)])
        self.blocks = nn.ModuleList([DiTBlock(cfg, k) for k in kinds])
        self.final = FinalLayer(cfg)
        self.rope = Rope3D(D // cfg.heads) if cfg.pos == "rope" else None
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """DiT's scheme: xavier linears, zero adaLN and output layers (identity at step 0);
        the cross-attention output is zeroed too so each block starts as the identity."""
        def _basic(m: nn.Module) -> None:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        self.apply(_basic)
        if self.text is not None:
            nn.init.normal_(self.text.embed.weight, std=0.02)
            nn.init.normal_(self.text.pos, std=0.02)
        nn.init.normal_(self.t_embed.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embed.mlp[2].weight, std=0.02)
        nn.init.normal_(self.null_ctx, std=0.02)
        nn.init.normal_(self.cond_embed, std=0.02)
        for b in self.blocks:
            nn.init.zeros_(b.ada[-1].weight)
            nn.init.zeros_(b.ada[-1].bias)
            nn.init.zeros_(b.cross.proj.weight)
            nn.init.zeros_(b.cross.proj.bias)
        nn.init.zeros_(self.final.ada[-1].weight)
        nn.init.zeros_(self.final.ada[-1].bias)
        nn.init.zeros_(self.final.linear.weight)
        nn.init.zeros_(self.final.linear.bias)

    # -- context
    def encode_text(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.text is None:
            raise RuntimeError(f"config {self.cfg.name!r} uses the external text encoder "
                               f"{self.cfg.text_encoder!r}: pass ctx= to forward()")
        return self.text(prompts)

    def drop_context(self, ctx: torch.Tensor, mask: torch.Tensor, drop: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Replace the context of the samples where ``drop`` (B,) is True by the null one
        (the null token in slot 0, the other slots masked out)."""
        if not bool(drop.any()):
            return ctx, mask
        null = torch.zeros_like(ctx)
        null[:, 0] = self.null_ctx[0]
        nmask = torch.zeros_like(mask)
        nmask[:, 0] = True
        d = drop[:, None]
        return torch.where(d[..., None], null, ctx), torch.where(d, nmask, mask)

    @staticmethod
    def reference_frames(x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """The last clean conditioning frame of each sample repeated over time
        (zeros for samples without conditioning frames): (B, C, T, H, W)."""
        B, C, T = x.shape[:3]
        if cond is None:
            return torch.zeros_like(x)
        cond = cond.to(x.device).long()
        idx = (cond - 1).clamp(min=0)
        ref = x[torch.arange(B, device=x.device), :, idx]  # (B, C, H, W)
        ref = ref * (cond > 0).to(x.dtype)[:, None, None, None]
        return ref[:, :, None].expand(-1, -1, T, -1, -1)

    # -- forward
    def forward(self, x: torch.Tensor, t: torch.Tensor, ctx: torch.Tensor,
                ctx_mask: torch.Tensor | None = None, cond: torch.Tensor | None = None
                ) -> torch.Tensor:
        cfg = self.cfg
        B, C, T, H, W = x.shape
        pt, ph, pw = cfg.patch
        grid = (T // pt, H // ph, W // pw)
        if ctx_mask is None:
            ctx_mask = torch.ones(ctx.shape[:2], dtype=torch.bool, device=ctx.device)
        xin = x
        if cfg.noise_block > 1:  # read the input on the coarse grid (configs.noise_block)
            b = cfg.noise_block
            xin = nn.functional.avg_pool3d(x, (1, b, b))
        if cfg.cond_concat:
            h = self.x_embed(torch.cat([xin, self.reference_frames(xin, cond)], dim=1))
        else:
            h = self.x_embed(xin)
        rope = None
        if self.rope is None:
            h = h + sincos_3d(cfg.hidden, *grid, device=x.device).to(h.dtype)[None]
        else:
            rope = self.rope.angles(*grid, device=x.device)
        if cond is not None:
            # tokens whose tubelet lies entirely in the clean prefix get the condition marker
            frame_of_token = torch.arange(grid[0], device=x.device).repeat_interleave(
                grid[1] * grid[2]) * pt + (pt - 1)
            is_cond = frame_of_token[None] < cond.to(x.device)[:, None]
            h = h + is_cond[..., None].to(h.dtype) * self.cond_embed
        m = ctx_mask.to(ctx.dtype)[..., None]
        pooled = (ctx * m).sum(1) / m.sum(1).clamp_min(1.0)
        c = self.t_embed(t) + self.pool(pooled)
        for blk in self.blocks:
            h = blk(h, c, ctx, ctx_mask, grid, rope)
        out = self.final(h, c)
        return unpatchify(out, cfg.patch, C, grid)


# ----------------------------------------------------------------------------- size

_PARAMS_CACHE: dict[str, int] = {}


def count_params(cfg: DiTConfig) -> int:
    """Trainable parameter count, computed by building the model on the meta device."""
    import json

    key = json.dumps(cfg.to_json(), sort_keys=True)
    if key not in _PARAMS_CACHE:
        with torch.device("meta"):
            m = VideoDiT(cfg)
        _PARAMS_CACHE[key] = sum(p.numel() for p in m.parameters() if p.requires_grad)
    return _PARAMS_CACHE[key]


def describe(cfg: DiTConfig) -> dict:
    """Name, params, GFLOPs per sample (forward, and x3 for a training step), tokens."""
    flops = forward_flops(cfg)
    return {"config": cfg.name, "params": count_params(cfg), "tokens": cfg.num_tokens,
            "gflops_forward": flops / 1e9, "gflops_train_step": 3 * flops / 1e9,
            "shape": [cfg.num_frames, cfg.height, cfg.width, cfg.channels],
            "patch": list(cfg.patch), "hidden": cfg.hidden, "depth": cfg.depth,
            "attention": cfg.attention, "pos": cfg.pos, "latent": cfg.latent,
            "text_encoder": cfg.text_encoder}
