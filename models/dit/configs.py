"""Named configurations of the reference video DiT, with computed parameter counts and
forward GFLOPs per sample.

``tiny`` works in pixel space (16 frames x 16x16 RGB, tubelets 1x4x4, 256 tokens) and trains
on a CPU; ``tiny32`` is the same width and depth at physics-mini's native 32x32 (tubelets
2x2x2, 2048 tokens, factorised space/time attention, English and Chinese prompts);
``tiny32-p8`` serves 32x32 on tiny's 256-token grid (output tubelets 1x8x8, input and prior
noise on a 16x16 grid, ``noise_block``) so it can be lifted from tiny / tiny-bi;
``S``/``B``/``L``/``XL`` follow DiT's widths and depths (DiT-S/B/L/XL: 384/768/1024/1152
wide, 12/12/24/28 deep) on a VAE latent of 16 x 32x32 x 4 (a 256x256 clip through an 8x
spatial VAE), patches 1x2x2 (4096 tokens), with factorised attention by default (full 3-D
attention over 4096 tokens is quadratic; set ``attention="full"`` to compare), 3-D RoPE, and
the open_clip ViT-L/14 text tower (768-d tokens) as the text encoder.

FLOPs are counted as 2 x multiply-accumulates of every matmul in one forward pass (linear
layers, attention scores and attention-weighted values); elementwise work (norms, softmax,
activations) is left out, as in DiT's own GFLOP figures. Training costs about 3x the forward.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DiTConfig:
    """Everything needed to rebuild a model (stored as JSON beside each checkpoint)."""

    name: str = "tiny"
    # video shape the model is trained on (pixels, or latents when ``latent`` is set)
    num_frames: int = 16
    height: int = 16
    width: int = 16
    channels: int = 3
    fps: float = 8.0
    patch: tuple[int, int, int] = (1, 4, 4)  # (pt, ph, pw)
    hidden: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    attention: str = "full"  # "full" 3-D attention | "factorised" (spatial/temporal alternating)
    pos: str = "sincos"  # "sincos" (frozen 3-D, added) | "rope" (3-D rotary on q, k)
    # text conditioning
    text_encoder: str = "tokens"  # "tokens": learned embedding over ``vocab`` | "open_clip:..."
    text_dim: int = 64
    text_len: int = 16
    vocab: tuple[str, ...] = ()
    # prompt languages the vocabulary covers and training mixes: English words, and (with
    # "zh") each Chinese character as a token (model.tokenize_words)
    langs: tuple[str, ...] = ("en",)
    # classifier-free guidance: probability of replacing the text by the learned null context
    cfg_drop: float = 0.1
    # conditioning frames: the first K frames are given clean and the loss covers the rest
    cond_frames: int = 4
    # also feed the last conditioning frame, repeated over time, as extra input channels
    # (image-to-video "concat" conditioning, as in SVD): copying the static scene becomes a
    # local operation instead of a search by attention
    cond_concat: bool = True
    # the objective's timestep distribution: logit-normal(mean, std), then a time shift
    t_mean: float = 0.0
    t_std: float = 1.0
    time_shift: float = 1.0
    # a coarse grid for the noise and the network's input (1: none, per pixel). With b > 1
    # the prior is Gaussian noise drawn at (height / b) x (width / b) and repeated over b x b
    # pixel blocks, and the network reads its input area-averaged onto that grid (tubelets
    # pt x ph/b x pw/b there) while it still predicts every pixel (tubelets pt x ph x pw).
    # Both go together: under block noise the clip's detail below the block is never noised,
    # so a network that sees it learns to copy it out of the noisy state, and at sampling,
    # where it starts at zero, it is never generated (measured on tiny32-p8 with a per-pixel
    # input: validation physics_scenario fell from 0.468 to 0.231 between steps 5,000 and
    # 20,000 while the training loss fell). A config lifted from a b-times smaller one
    # (models/dit/warmstart.py) starts out exactly as the smaller one, upsampled.
    noise_block: int = 1
    # latent slot: "pixel" (identity) or a VAE name whose encode/decode callables are supplied
    latent: str = "pixel"
    latent_scale: int = 1  # spatial downsampling of the VAE (output pixels per latent pixel)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        pt, ph, pw = self.patch
        if self.num_frames % pt or self.height % ph or self.width % pw:
            raise ValueError(f"config {self.name!r}: frames/height/width "
                             f"{self.num_frames}/{self.height}/{self.width} are not multiples of "
                             f"the patch {self.patch}")
        if self.hidden % self.heads:
            raise ValueError(f"config {self.name!r}: hidden {self.hidden} is not a multiple of "
                             f"heads {self.heads}")
        if self.attention not in ("full", "factorised"):
            raise ValueError(f"config {self.name!r}: attention must be 'full' or 'factorised'")
        if self.pos not in ("sincos", "rope"):
            raise ValueError(f"config {self.name!r}: pos must be 'sincos' or 'rope'")
        if not self.langs or set(self.langs) - {"en", "zh"}:
            raise ValueError(f"config {self.name!r}: langs must be a non-empty subset of "
                             f"('en', 'zh'), got {self.langs}")
        if self.noise_block < 1 or self.height % self.noise_block or \
                self.width % self.noise_block:
            raise ValueError(f"config {self.name!r}: noise_block {self.noise_block} does not "
                             f"divide {self.height}x{self.width}")
        if ph % self.noise_block or pw % self.noise_block:
            raise ValueError(f"config {self.name!r}: noise_block {self.noise_block} does not "
                             f"divide the patch {self.patch}")
        if not 0 <= self.cond_frames < self.num_frames:
            raise ValueError(f"config {self.name!r}: cond_frames must be in [0, num_frames)")

    @property
    def patch_dim(self) -> int:
        """Output values per token (channels x pt x ph x pw)."""
        pt, ph, pw = self.patch
        return self.channels * pt * ph * pw

    @property
    def in_patch(self) -> tuple[int, int, int]:
        """The tubelet the network reads, on the noise_block grid."""
        pt, ph, pw = self.patch
        return pt, ph // self.noise_block, pw // self.noise_block

    @property
    def in_patch_dim(self) -> int:
        """Input values per token (before the conditioning concat)."""
        pt, ph, pw = self.in_patch
        return self.channels * pt * ph * pw

    @property
    def grid(self) -> tuple[int, int, int]:
        pt, ph, pw = self.patch
        return self.num_frames // pt, self.height // ph, self.width // pw

    @property
    def num_tokens(self) -> int:
        gt, gh, gw = self.grid
        return gt * gh * gw

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["patch"] = list(self.patch)
        d["vocab"] = list(self.vocab)
        d["langs"] = list(self.langs)
        return d

    @classmethod
    def from_json(cls, d: dict) -> DiTConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown DiT config keys: {', '.join(unknown)}")
        d = dict(d)
        d.setdefault("cond_concat", False)  # checkpoints from before the field: no concat
        if "patch" in d:
            d["patch"] = tuple(int(x) for x in d["patch"])
        if "vocab" in d:
            d["vocab"] = tuple(d["vocab"])
        if "langs" in d:  # checkpoints from before the field are English-only (the default)
            d["langs"] = tuple(d["langs"])
        return cls(**d)

    def replace(self, **kw) -> DiTConfig:
        return dataclasses.replace(self, **kw)


_LATENT: dict[str, Any] = dict(
    num_frames=16, height=32, width=32, channels=4, patch=(1, 2, 2), cond_concat=False,
    attention="factorised", pos="rope", text_encoder="open_clip:ViT-L-14", text_dim=768,
    text_len=77, latent="vae", latent_scale=8)

CONFIGS: dict[str, DiTConfig] = {
    "tiny": DiTConfig(name="tiny"),
    # physics-mini's own shape (32x32 at 8 fps, 16 frames): no resize on the way in or out.
    # Tubelets 2x2x2 give 8 x 16 x 16 = 2048 tokens; factorised attention keeps the cost
    # linear-ish in tokens (spatial 256-token and temporal 8-token attention alternate).
    # It reads English and Chinese prompts (text_len 48 fits the longest Chinese prompt of the
    # physics suites, one token per character).
    "tiny32": DiTConfig(name="tiny32", height=32, width=32, patch=(2, 2, 2),
                        attention="factorised", langs=("en", "zh"), text_len=48),
    # tiny, reading English and Chinese: the same network with the bilingual vocabulary
    # (tiny's words + every suite prompt's Chinese characters, data.training_vocab) and room
    # for the Chinese prompts (text_len 48, as tiny32); warm-started from the shipped tiny
    # with ``vidbench train --init-from tiny`` (models/dit/warmstart.py)
    "tiny-bi": DiTConfig(name="tiny-bi", langs=("en", "zh"), text_len=48),
    # physics-mini's native 32x32 on tiny's token grid: tubelets 1x8x8 (16 x 4x4 = 256
    # tokens, full attention), bilingual as tiny-bi, prior noise on tiny's 16x16 grid. Its
    # pixel-facing layers can be lifted from tiny / tiny-bi (``vidbench train --config
    # tiny32-p8 --init-from tiny-bi``, the resolution lift of models/dit/warmstart.py), so it
    # starts from their training instead of from scratch, and it predicts every 32x32 pixel
    # itself (no bilinear upsampling).
    "tiny32-p8": DiTConfig(name="tiny32-p8", height=32, width=32, patch=(1, 8, 8),
                           noise_block=2, langs=("en", "zh"), text_len=48),
    "S": DiTConfig(name="S", hidden=384, depth=12, heads=6, **_LATENT),
    "B": DiTConfig(name="B", hidden=768, depth=12, heads=12, **_LATENT),
    "L": DiTConfig(name="L", hidden=1024, depth=24, heads=16, **_LATENT),
    "XL": DiTConfig(name="XL", hidden=1152, depth=28, heads=16, **_LATENT),
}


def get_config(name: str, **overrides) -> DiTConfig:
    """A named config, optionally with fields replaced (``get_config("tiny", depth=2)``)."""
    if name not in CONFIGS:
        raise KeyError(f"unknown DiT config {name!r}; known: {', '.join(CONFIGS)}")
    return CONFIGS[name].replace(**overrides) if overrides else CONFIGS[name]


def forward_flops(cfg: DiTConfig) -> int:
    """Matmul FLOPs (2 x MACs) of one forward pass for one sample (see module docstring)."""
    D, N, L, Dt = cfg.hidden, cfg.num_tokens, cfg.text_len, cfg.text_dim
    mlp = int(D * cfg.mlp_ratio)
    gt, gh, gw = cfg.grid
    f = 0
    f += 2 * N * cfg.in_patch_dim * (2 if cfg.cond_concat else 1) * D  # patch embedding
    f += 2 * (256 * D + D * D)  # timestep MLP
    f += 2 * (Dt * D + D * D)  # pooled text MLP
    per_block = 0
    per_block += 2 * D * 6 * D  # adaLN modulation
    per_block += 2 * N * D * 3 * D + 2 * N * D * D  # qkv + out projections
    if cfg.attention == "full":
        attn_pairs = N * N
    else:  # alternate blocks: spatial (gh*gw per frame) and temporal (gt per position)
        attn_pairs = None
    per_block += 4 * N * D * D  # cross-attn q + out projections
    per_block += 2 * L * Dt * 2 * D  # cross-attn k, v from the text tokens
    per_block += 2 * 2 * N * L * D  # cross-attn scores and values
    per_block += 2 * 2 * N * D * mlp  # MLP
    f += cfg.depth * per_block
    if attn_pairs is not None:
        f += cfg.depth * 2 * 2 * attn_pairs * D
    else:
        n_spatial = (cfg.depth + 1) // 2
        n_temporal = cfg.depth // 2
        f += n_spatial * 2 * 2 * gt * (gh * gw) ** 2 * D
        f += n_temporal * 2 * 2 * gh * gw * gt ** 2 * D
    f += 2 * D * 2 * D + 2 * N * D * cfg.patch_dim  # final adaLN + projection
    return f


def human(n: float) -> str:
    if n <= 0:
        return "0"
    k = min(int(math.log10(n) // 3), 4)
    return f"{n / 10 ** (3 * k):.2f}{['', 'K', 'M', 'G', 'T'][k]}"
