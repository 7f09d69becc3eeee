"""GRiT's text decoder (``GRiT_B_DenseCap_ObjectDet``): the BERT-style transformer that turns
one detected object's pooled features into its caption (a class name in GRiT's "ObjectDet"
task, a descriptive phrase in its "DenseCap" task), written for vidbench. One part of the
GRiT network (see ``metrics/grit_dims.py``); checked against GRiT's own ``text_decoder.py``
(VBench's copy) in ``tests/test_grit_text.py``.

Architecture (GRiT's ``TransformerDecoderTextualHead`` with ``decoder_type='bert_en'``, sizes
from ``grit/config.py``; ``GRiT_B_DenseCap_ObjectDet.yaml`` changes none of them):

- Object features (N, 196, 256): the 14x14 ROI-pooled FPN features of N boxes, 256 channels
  (``MODEL.FPN.OUT_CHANNELS``, GRiT's ``object_feature_size``), projected by ``Linear(256,
  768)`` + ``LayerNorm`` (eps 1e-5): the 196 *memory* tokens.
- Text tokens: word embedding (30522 x 768, tied to the output layer) + learned position
  embedding (1024 rows), ``LayerNorm`` eps 1e-8.
- 6 post-LN BERT layers (768-d, 12 heads, FFN 3072, exact GELU, LayerNorm eps 1e-12) over the
  concatenation [memory; text]. Mask: memory tokens attend to memory only, text tokens to all
  memory and to the text tokens up to themselves. Logits: ``Linear(768, 30522)`` of the text
  positions.

Because memory never attends to text, its per-layer keys and values do not depend on the
caption: vidbench computes them once per object and then one text token per step (a
key/value cache). GRiT runs the whole sequence again at every step; the two agree up to
float summation order (the test measures it).

Greedy decoding (GRiT's ``AutoRegressiveBeamSearch`` with VBench's ``BEAM_SIZE: 1``,
``max_steps=40``, ``per_node_beam_size=1``, end token ``[SEP]`` = 102):

- Begin token: ``[CLS]`` (101) for ObjectDet, 104 for DenseCap (GRiT's ``103 + i`` for the
  i-th training task, ``TRAIN_TASK: [ObjectDet, DenseCap]``). GRiT's ``text_decoder`` uses
  the configured test task's token, ``text_decoder_det`` (VBench's ``det_obj``) ObjectDet's;
  both share this one transformer, so one module serves both through ``task=``.
- Step 1: ``t_1 = argmax log_softmax(logits)``. If every object's ``t_1`` is ``[SEP]``, GRiT
  returns ``t_1`` alone, *without* the begin token, and its log-probability (ids (N, 1)
  of 102, which decode to ""); so does :meth:`GritTextDecoder.forward`. (GRiT's logprobs
  are then (N, 1), not (N,); here they are (N,).)
- Later steps: the logit of the previous token is set to -10000 (no immediate repeat),
  an object whose previous token was ``[SEP]`` is forced to ``[SEP]`` at log-probability 0,
  ``t = argmax log_softmax``; stop when every object's last token is ``[SEP]`` or the
  sequence (begin token included) has 40 tokens.
- ids: (N, T) with the begin token first, finished rows padded with ``[SEP]``. logprob:
  the sum of the chosen tokens' log-probabilities divided by ``max(1, n_words + e)``, where
  ``n_words`` counts the non-``[SEP]`` tokens after the begin token and ``e`` is 1 when
  the row holds a ``[SEP]``. Range (-inf, 0]; GRiT multiplies a box's score by
  ``exp(logprob)`` and takes the square root.
- Caption: ``BertTokenizer.decode(ids[1:], skip_special_tokens=True)`` of bert-base-uncased
  (vidbench's own WordPiece decoder, :mod:`tag2text_tokenizer`).

Key mapping: the state dict of :class:`GritTextDecoder` is the official checkpoint's
``roi_heads.text_decoder.`` sub-tree with that prefix removed (``textual.*``:
``object_feature_projection.{0,1}``, ``embedding.{words,positions,layer_norm}``,
``transformer.encoder.layer.{0-5}.{attention.self.{query,key,value},
attention.output.{dense,LayerNorm}, intermediate.dense, output.{dense,LayerNorm}}``,
``output``; ``textual.output.weight`` and ``textual.embedding.words.weight`` are one tied
tensor listed under both names, as in GRiT). GRiT's ``roi_heads.text_decoder_det.*`` (the
same shared tensors again, when a file lists them) is the same sub-tree; it is not loaded
separately. :func:`text_decoder_state` extracts the sub-tree from a full GRiT state dict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vidbench.metrics.backbones.bert_blocks import DenseResidualNorm
from vidbench.metrics.backbones.tag2text_tokenizer import WordPiece, synthetic_vocab

VOCAB = "bert-base-uncased-vocab"
CHECKPOINT_PREFIX = "roi_heads.text_decoder."
BEGIN_TOKENS = {"ObjectDet": 101, "DenseCap": 104}
END_TOKEN = 102  # [SEP]
REPEAT_LOGIT = -10000.0


@dataclass(frozen=True)
class GritTextConfig:
    """Sizes; ``B`` is GRiT-B's, ``tiny`` the test size (same code path)."""

    object_dim: int = 256
    hidden: int = 768
    layers: int = 6
    heads: int = 12
    feedforward: int = 3072
    vocab: int = 30522
    max_positions: int = 1024
    max_steps: int = 40


CONFIGS = {
    "B": GritTextConfig(),
    "tiny": GritTextConfig(object_dim=16, hidden=32, layers=2, heads=4, feedforward=64,
                           max_positions=64),
}


class _Embedding(nn.Module):
    def __init__(self, c: GritTextConfig) -> None:
        super().__init__()
        self.words = nn.Embedding(c.vocab, c.hidden)
        self.positions = nn.Embedding(c.max_positions, c.hidden)
        self.layer_norm = nn.LayerNorm(c.hidden, eps=1e-8)

    def forward(self, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        pos = torch.arange(start, start + tokens.shape[1], device=tokens.device)
        return self.layer_norm(self.words(tokens) + self.positions(pos)[None])


class _QKV(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.query = nn.Linear(d, d)
        self.key = nn.Linear(d, d)
        self.value = nn.Linear(d, d)




class _Attention(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.self = _QKV(d)
        self.output = DenseResidualNorm(d, d)


class _Dense(nn.Module):
    def __init__(self, d: int, f: int) -> None:
        super().__init__()
        self.dense = nn.Linear(d, f)


class _Layer(nn.Module):
    """One BERT layer; attention is given explicit keys/values so memory can be cached."""

    def __init__(self, c: GritTextConfig) -> None:
        super().__init__()
        self.heads = c.heads
        self.attention = _Attention(c.hidden)
        self.intermediate = _Dense(c.hidden, c.feedforward)
        self.output = DenseResidualNorm(c.feedforward, c.hidden)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def kv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.attention.self
        return self.split(a.key(x)), self.split(a.value(x))

    def forward(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, D) attending to heads-split keys/values (B, H, S, D/H); ``mask`` an
        additive (T, S) mask or None."""
        q = self.split(self.attention.self.query(x))
        scores = (q / math.sqrt(q.shape[-1])) @ k.transpose(-1, -2)
        if mask is not None:
            scores = scores + mask
        ctx = (scores.softmax(-1) @ v).transpose(1, 2).reshape(x.shape)
        h = self.attention.output(ctx, x)
        return self.output(F.gelu(self.intermediate.dense(h)), h)


class _Encoder(nn.Module):
    def __init__(self, c: GritTextConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(c) for _ in range(c.layers))


class _Transformer(nn.Module):
    def __init__(self, c: GritTextConfig) -> None:
        super().__init__()
        self.encoder = _Encoder(c)


class TextualHead(nn.Module):
    """GRiT's ``TransformerDecoderTextualHead`` (inference)."""

    def __init__(self, c: GritTextConfig) -> None:
        super().__init__()
        self.config = c
        self.object_feature_projection = nn.Sequential(
            nn.Linear(c.object_dim, c.hidden), nn.LayerNorm(c.hidden))
        self.embedding = _Embedding(c)
        self.transformer = _Transformer(c)
        self.output = nn.Linear(c.hidden, c.vocab)
        self.output.weight = self.embedding.words.weight

    @property
    def layers(self) -> nn.ModuleList:
        return self.transformer.encoder.layer

    def forward(self, object_features: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (N, T, vocab) of every text position, the whole sequence at once (what GRiT
        computes at each decoding step)."""
        mem = self.object_feature_projection(object_features)
        text = self.embedding(tokens)
        m, t = mem.shape[1], text.shape[1]
        x = torch.cat([mem, text], 1)
        mask = x.new_zeros(m + t, m + t)
        mask[:m, m:] = float("-inf")
        mask[m:, m:] = torch.triu(torch.full((t, t), float("-inf"), device=x.device,
                                             dtype=x.dtype), diagonal=1)
        for layer in self.layers:
            k, v = layer.kv(x)
            x = layer(x, k, v, mask)
        return self.output(x[:, m:])


class _Cache:
    """Per-layer key/value buffers (B, heads, memory + max_steps, head dim): the memory's
    written once, each text token's appended at its step."""

    def __init__(self, head: TextualHead, object_features: torch.Tensor, steps: int) -> None:
        self.head = head
        x = head.object_feature_projection(object_features)
        b, m, d = x.shape
        self.start = m
        self.kv: list[tuple[torch.Tensor, torch.Tensor]] = []
        for i, layer in enumerate(head.layers):
            k, v = layer.kv(x)
            kb = k.new_empty(b, k.shape[1], m + steps, k.shape[3])
            vb = torch.empty_like(kb)
            kb[:, :, :m], vb[:, :, :m] = k, v
            self.kv.append((kb, vb))
            if i + 1 < len(head.layers):  # the last layer's memory output is never read
                x = layer(x, k, v)
        self.length = 0

    def keep(self, rows: torch.Tensor) -> None:
        self.kv = [(k[rows], v[rows]) for k, v in self.kv]

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (B, vocab) after appending ``tokens`` (B,) at the next position."""
        x = self.head.embedding(tokens[:, None], self.length)
        end = self.start + self.length + 1
        for layer, (kb, vb) in zip(self.head.layers, self.kv, strict=True):
            k, v = layer.kv(x)
            kb[:, :, end - 1:end], vb[:, :, end - 1:end] = k, v
            x = layer(x, kb[:, :, :end], vb[:, :, :end])
        self.length += 1
        return self.head.output(x[:, 0]).float()


class GritTextDecoder(nn.Module):
    """Object features (N, 196, 256) -> greedy captions: ids (N, T) and logprobs (N,), as
    GRiT's ``GRiTTextDecoder.infer`` with beam size 1 (see the module docstring)."""

    def __init__(self, config: GritTextConfig, tokenizer: WordPiece) -> None:
        super().__init__()
        self.textual = TextualHead(config)
        self.tokenizer = tokenizer
        self.max_steps = config.max_steps

    @torch.no_grad()
    def forward(self, object_features: torch.Tensor, task: str = "ObjectDet"
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``task`` "ObjectDet" (begin token 101: GRiT's ``text_decoder_det`` and, in
        ObjectDet mode, ``text_decoder``) or "DenseCap" (104)."""
        begin = BEGIN_TOKENS[task]
        n = object_features.shape[0]
        dev = object_features.device
        if n == 0:
            return (torch.full((0, 1), END_TOKEN, dtype=torch.long, device=dev),
                    torch.zeros(0, device=dev))
        cache = _Cache(self.textual, object_features, self.max_steps)
        logp = F.log_softmax(cache.step(torch.full((n,), begin, device=dev)), dim=1)
        top = logp.topk(1)  # topk, as GRiT: the same rule on ties
        total, tok = top.values[:, 0].clone(), top.indices[:, 0]
        if bool((tok == END_TOKEN).all()):
            return tok[:, None], total
        ids = [torch.full((n,), begin, dtype=torch.long, device=dev), tok]
        alive = torch.nonzero(tok != END_TOKEN).flatten()
        if alive.numel() < n:
            cache.keep(alive)
        while len(ids) < self.max_steps and alive.numel():
            last = ids[-1][alive]
            logits = cache.step(last)
            logits = logits.scatter(1, last[:, None], REPEAT_LOGIT)
            top = F.log_softmax(logits, dim=1).topk(1)
            lp, t = top.values[:, 0], top.indices[:, 0]
            total[alive] = lp + total[alive]
            nxt = torch.full((n,), END_TOKEN, dtype=torch.long, device=dev)
            nxt[alive] = t
            ids.append(nxt)
            going = t != END_TOKEN
            if not bool(going.all()):
                cache.keep(torch.nonzero(going).flatten())
                alive = alive[going]
        out = torch.stack(ids, 1)
        words = (out != END_TOKEN).sum(1) + (out == END_TOKEN).any(1).long() - 1
        return out, total / words.clamp(min=1)

    def decode(self, ids: torch.Tensor) -> list[str]:
        """Each row's caption: ``tokenizer.decode(row[1:], skip_special_tokens=True)``."""
        return [self.tokenizer.decode(row[1:]) for row in ids.tolist()]


def text_decoder_state(checkpoint: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The :class:`GritTextDecoder` state dict inside a full GRiT state dict: the keys under
    ``roi_heads.text_decoder.`` with that prefix removed (``roi_heads.text_decoder_det.*``,
    the same shared tensors, and everything else left out)."""
    n = len(CHECKPOINT_PREFIX)
    return {k[n:]: v for k, v in checkpoint.items() if k.startswith(CHECKPOINT_PREFIX)}


def build_grit_text_decoder(random_weights: bool, seed: int = 0, arch: str = "B"
                            ) -> GritTextDecoder:
    """The decoder in eval mode without gradients. ``random_weights``: seeded BERT-style init
    (weights N(0, 0.02), biases 0, LayerNorms 1/0) and a stand-in vocab (bert-base-uncased's
    special tokens at their ids, ``[unusedK]`` elsewhere); otherwise the bert-base-uncased
    vocab from ``vidbench weights`` (``bert-base-uncased-vocab``) and parameters to be
    loaded by the caller from the checkpoint's ``roi_heads.text_decoder.`` sub-tree."""
    config = CONFIGS[arch]
    if random_weights:
        tok = WordPiece(synthetic_vocab([]))
    else:
        from vidbench.weights import resolve

        tok = WordPiece.from_file(resolve(VOCAB))
    model = GritTextDecoder(config, tok)
    g = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("LayerNorm.weight") or name.endswith("norm.weight") or (
                    name == "textual.object_feature_projection.1.weight"):
                p.fill_(1.0)
            elif p.dim() == 1:
                p.zero_()
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()
