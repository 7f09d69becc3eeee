"""Chinese-CLIP (OFA-Sys, Yang et al. 2022, arXiv:2211.01335): a CLIP whose text tower is a
Chinese RoBERTa-wwm-ext BERT, for scoring Chinese prompts (``clip_score`` on the ``@zh``
suites).

vidbench's own code, written against the official checkpoint files (``clip_cn_vit-b-16.pt``
...): the architecture (OpenAI-style ViT image tower with QuickGELU; BERT text tower without a
pooler, the ``[CLS]`` state projected by ``text_projection``), the state-dict layout of those
files (``module.``-prefixed keys under ``state_dict``), the BERT word-piece tokenizer
(lower-casing, accents stripped, every CJK character a token, punctuation split, greedy
longest-match word pieces, ``[CLS] ... [SEP]`` padded with 0 to 52 tokens) and the image
normalisation (OpenAI CLIP's mean/std). From the ``cn-clip`` package (the ``chinese`` extra)
it reads only data files: the tokenizer vocabulary (``cn_clip/clip/vocab.txt``, 21128 word
pieces) and the model configs (``cn_clip/clip/model_configs/*.json``); it imports none of its
modules. Checkpoints load with ``torch.load(weights_only=True)`` through the weights manager;
a missing file names its URL. ``tiny`` is a 2-layer test architecture over the real vocabulary
(random weights only).
"""

from __future__ import annotations

import importlib.util
import json
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vidbench.errors import UserError
from vidbench.metrics.backbones.bert_blocks import DenseResidualNorm
from vidbench.metrics.backbones.wordpiece import basic_tokens, wordpiece

#: architecture -> (vision config, text config, weights manifest name or None)
ARCHS: dict[str, tuple[str, str, str | None]] = {
    "ViT-B-16": ("ViT-B-16", "RoBERTa-wwm-ext-base-chinese", "chinese-clip-vit-b-16"),
    "ViT-L-14": ("ViT-L-14", "RoBERTa-wwm-ext-base-chinese", "chinese-clip-vit-l-14"),
    "tiny": ("tiny", "tiny", None),
}
CONTEXT_LENGTH = 52  # Chinese-CLIP's text context (its tokenize() default)
_TINY_VISION = {"embed_dim": 64, "image_resolution": 224, "vision_layers": 2,
                "vision_width": 64, "vision_patch_size": 32, "vision_head_width": 32}
_TINY_TEXT = {"vocab_size": 21128, "text_hidden_size": 64, "text_intermediate_size": 128,
              "text_max_position_embeddings": 64, "text_num_attention_heads": 2,
              "text_num_hidden_layers": 2, "text_type_vocab_size": 2, "text_hidden_act": "gelu",
              "text_hidden_dropout_prob": 0.1, "text_attention_probs_dropout_prob": 0.1,
              "text_initializer_range": 0.02}


def package_dir() -> Path:
    """The installed ``cn_clip/clip`` folder (data files only; nothing is imported)."""
    spec = importlib.util.find_spec("cn_clip")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("Chinese-CLIP needs the cn-clip package for its tokenizer vocabulary "
                        "and model configs: pip install 'vidbench[chinese]' (cn-clip==1.6.0)")
    return Path(list(spec.submodule_search_locations)[0]) / "clip"


def model_config(arch: str) -> dict[str, Any]:
    """The merged vision + text config of ``arch`` (cn-clip's JSON files; ``tiny`` built in)."""
    if arch not in ARCHS:
        raise UserError(f"unknown Chinese-CLIP architecture {arch!r}; use one of {list(ARCHS)}")
    vision, text, _ = ARCHS[arch]
    if arch == "tiny":
        return {**_TINY_VISION, **_TINY_TEXT}
    cfg: dict[str, Any] = {}
    for name in (vision, text):
        p = package_dir() / "model_configs" / f"{name}.json"
        try:
            cfg.update(json.loads(p.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as e:
            raise UserError(f"{p}: cannot read the Chinese-CLIP config ({e})") from None
    return cfg


# ------------------------------------------------------------------------------ tokenizer


class WordPieceTokenizer:
    """BERT's basic + word-piece tokenizer over a vocabulary file (the one Chinese-CLIP
    ships), lower-casing (``do_lower_case=True``, as Chinese-CLIP)."""

    def __init__(self, vocab_file: str | Path, max_chars_per_word: int = 200) -> None:
        lines = Path(vocab_file).read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines = lines[:-1]
        self.vocab = OrderedDict((tok.strip(), i) for i, tok in enumerate(lines))
        self.max_chars = max_chars_per_word
        for special in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"):
            if special not in self.vocab:
                raise UserError(f"{vocab_file}: not a BERT vocabulary (no {special})")

    def basic(self, text: str) -> list[str]:
        return basic_tokens(text)

    def wordpiece(self, token: str) -> list[str]:
        return wordpiece(token, self.vocab, self.max_chars)

    def tokenize(self, text: str) -> list[str]:
        return [p for t in self.basic(text) for p in self.wordpiece(t)]

    def encode(self, texts: list[str], context_length: int = CONTEXT_LENGTH
               ) -> tuple[torch.Tensor, list[bool]]:
        """``[CLS] ids [SEP]`` padded with 0 to ``context_length`` (LongTensor), and per
        text whether it was truncated."""
        ids = torch.zeros(len(texts), context_length, dtype=torch.long)
        cut = []
        for i, text in enumerate(texts):
            toks = [self.vocab.get(t, self.vocab["[UNK]"]) for t in self.tokenize(text)]
            cut.append(len(toks) > context_length - 2)
            row = [self.vocab["[CLS]"], *toks[: context_length - 2], self.vocab["[SEP]"]]
            ids[i, : len(row)] = torch.tensor(row)
        return ids, cut


@lru_cache(maxsize=1)
def tokenizer() -> WordPieceTokenizer:
    """The tokenizer over cn-clip's shipped vocabulary."""
    return WordPieceTokenizer(package_dir() / "vocab.txt")


# --------------------------------------------------------------------------- architecture


class _QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class _ResBlock(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads)
        self.ln_1 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(d, 4 * d)),
                                              ("gelu", _QuickGELU()),
                                              ("c_proj", nn.Linear(4 * d, d))]))
        self.ln_2 = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (L, N, D)
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class _Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.Sequential(*[_ResBlock(width, heads) for _ in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resblocks(x)


class VisualTransformer(nn.Module):
    """The image tower: patches -> [CLS] + positions -> pre-LN transformer -> LN -> proj."""

    def __init__(self, resolution: int, patch: int, width: int, layers: int, heads: int,
                 out_dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(
            scale * torch.randn((resolution // patch) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = _Transformer(width, layers, heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x).flatten(2).transpose(1, 2)  # (N, grid^2, width)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.transformer(self.ln_pre(x).transpose(0, 1)).transpose(0, 1)
        return self.ln_post(x[:, 0, :]) @ self.proj


class _Embeddings(nn.Module):
    def __init__(self, vocab: int, d: int, max_pos: int, types: int) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, d, padding_idx=0)
        self.position_embeddings = nn.Embedding(max_pos, d)
        self.token_type_embeddings = nn.Embedding(types, d)
        self.LayerNorm = nn.LayerNorm(d, eps=1e-12)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        x = (self.word_embeddings(ids) + self.position_embeddings(pos)
             + self.token_type_embeddings(torch.zeros_like(ids)))
        return self.LayerNorm(x)


class _SelfAttention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = (nn.Linear(d, d) for _ in range(3))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        n, length, d = x.shape
        h = self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(n, length, h, d // h).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(d // h) + bias
        return (att.softmax(dim=-1) @ v).transpose(1, 2).reshape(n, length, d)




class _Attention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.self = _SelfAttention(d, heads)
        self.output = DenseResidualNorm(d, d)


class _Intermediate(nn.Module):
    def __init__(self, d: int, inner: int) -> None:
        super().__init__()
        self.dense = nn.Linear(d, inner)


class _Layer(nn.Module):
    def __init__(self, d: int, heads: int, inner: int) -> None:
        super().__init__()
        self.attention = _Attention(d, heads)
        self.intermediate = _Intermediate(d, inner)
        self.output = DenseResidualNorm(inner, d)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        a = self.attention.output(self.attention.self(x, bias), x)
        h = F.gelu(self.intermediate.dense(a))  # erf GELU, as BERT
        return self.output(h, a)


class _Encoder(nn.Module):
    def __init__(self, d: int, layers: int, heads: int, inner: int) -> None:
        super().__init__()
        self.layer = nn.ModuleList([_Layer(d, heads, inner) for _ in range(layers)])


class Bert(nn.Module):
    """The text tower (RoBERTa-wwm-ext in BERT layout, no pooler): last hidden states."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        d = int(cfg["text_hidden_size"])
        self.embeddings = _Embeddings(int(cfg["vocab_size"]), d,
                                      int(cfg["text_max_position_embeddings"]),
                                      int(cfg["text_type_vocab_size"]))
        self.encoder = _Encoder(d, int(cfg["text_num_hidden_layers"]),
                                int(cfg["text_num_attention_heads"]),
                                int(cfg["text_intermediate_size"]))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(ids)
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.encoder.layer:
            x = layer(x, bias)
        return x


class ChineseCLIP(nn.Module):
    """Image and text towers with the official checkpoints' parameter names."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        width = int(cfg["vision_width"])
        self.visual = VisualTransformer(int(cfg["image_resolution"]),
                                        int(cfg["vision_patch_size"]), width,
                                        int(cfg["vision_layers"]),
                                        width // int(cfg.get("vision_head_width", 64)),
                                        int(cfg["embed_dim"]))
        self.bert = Bert(cfg)
        d = int(cfg["text_hidden_size"])
        self.text_projection = nn.Parameter(torch.randn(d, int(cfg["embed_dim"])) * d ** -0.5)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        for m in self.bert.modules():  # BERT's initialisation
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(x)

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        return self.bert(ids, ids.ne(0))[:, 0, :] @ self.text_projection


def build(arch: str, seed: int = 0) -> ChineseCLIP:
    """``arch`` with a deterministic random initialisation (``seed``); the global torch RNG
    is left untouched."""
    cfg = model_config(arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ChineseCLIP(cfg)
    return model.eval()


def official_state_dict(sd: dict[str, Any]) -> dict[str, torch.Tensor]:
    """An official checkpoint's state dict in this module's names: ``module.`` prefixes
    dropped (the files are saved from DistributedDataParallel), the unused BERT pooler
    removed."""
    out = {}
    for k, v in sd.items():
        k = k[len("module."):] if k.startswith("module.") else k
        if k.startswith("bert.pooler."):
            continue
        out[k] = v
    return out


# ----------------------------------------------------------------------------- backbone


@dataclass
class ChineseClipBackbone:
    """A loaded Chinese-CLIP plus provenance; ``encode_text`` caches per text."""

    model: ChineseCLIP
    arch: str
    weights: str | None
    comparable: bool
    device: str
    seed: int = 0
    _text_cache: dict = field(default_factory=dict)

    @property
    def tag(self) -> str:
        """The scorer's name in details and provenance, e.g.
        ``chinese-clip-ViT-B-16-chinese-clip-vit-b-16`` or ``chinese-clip-tiny-random0``."""
        src = self.weights if self.comparable else f"random{self.seed}"
        return f"chinese-clip-{self.arch}-{src}"

    def encode_images(self, x: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
        """(N, 3, R, R) CLIP-normalised images -> (N, D) L2-normalised float32."""
        outs = []
        with torch.inference_mode():
            for i in range(0, len(x), max(1, batch_size)):
                f = self.model.encode_image(x[i:i + batch_size].to(self.device)).float()
                outs.append(F.normalize(f, dim=-1).cpu())
        return torch.cat(outs)

    def encode_text(self, text: str) -> tuple[torch.Tensor, bool]:
        """(D,) L2-normalised embedding of ``text`` and whether it was cut to 52 tokens."""
        if text not in self._text_cache:
            ids, cut = tokenizer().encode([text])
            with torch.inference_mode():
                f = self.model.encode_text(ids.to(self.device)).float()
            self._text_cache[text] = (F.normalize(f, dim=-1)[0].cpu(), cut[0])
        return self._text_cache[text]


_CACHE: dict[tuple, ChineseClipBackbone] = {}
_LOCK = threading.Lock()


def load_chinese_clip(arch: str = "ViT-B-16", *, random_weights: bool = False,
                      device: str = "cpu", seed: int = 0) -> ChineseClipBackbone:
    """A Chinese-CLIP backbone (float32), cached per process. Pretrained weights come from
    the weights manager (``chinese-clip-vit-b-16`` ...); a missing file raises
    :class:`~vidbench.errors.MissingWeightsError` naming it and its URL."""
    key = (arch, bool(random_weights), str(device), seed)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        if arch not in ARCHS:
            raise UserError(f"unknown Chinese-CLIP architecture {arch!r}; use one of "
                            f"{list(ARCHS)}")
        weights = ARCHS[arch][2]
        if not random_weights and weights is None:
            raise UserError(f"Chinese-CLIP architecture {arch!r} has no pretrained weights; "
                            "use random_weights=True")
        tokenizer()  # the vocabulary is needed either way: fail before building
        path = None
        if not random_weights:
            from vidbench.weights import resolve

            path = resolve(weights)  # type: ignore[arg-type]
        model = build(arch, seed)
        if path is not None:
            from vidbench.weights import load_state_dict, state_dict_mismatch

            sd = official_state_dict(load_state_dict(path))
            problem = state_dict_mismatch(model.state_dict(), sd)
            if problem:
                raise UserError(f"{path}: does not match Chinese-CLIP {arch}: {problem}")
            model.load_state_dict(sd, strict=True)
        model = model.to(device=device, dtype=torch.float32).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        bb = ChineseClipBackbone(model, arch, weights, not random_weights, str(device), seed)
        _CACHE[key] = bb
        return bb
