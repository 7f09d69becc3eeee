"""Tag2Text captioning (Swin-B/384 image encoder, tagging head, tag encoder, caption
decoder), vidbench's own implementation with the parameter names of the official
``tag2text_swin_14m.pth`` (Tag2Text_Caption in VBench's ``third_party/tag2Text``), so that
file loads strictly.

Per image: Swin tokens -> the tagging head (3429 label queries cross-attending to the
tokens, 2 layers, a per-class linear; a tag is kept when sigmoid > 0.7, minus 6 excluded
indices) -> the tag text ``"a | b | c"`` (WordPiece, 40 tokens, ``[ENC]`` first) -> the tag
encoder (BERT, 12 layers, cross-attending to the image tokens) -> the caption decoder (BERT
LM, 12 layers, cross-attending to the tag encoder's states) from the prompt ``[DEC] a
picture of`` by beam search: 3 beams, at most 30 tokens, at least 10, scores = sum of log
probabilities / length (prompt included, end token excluded), as transformers 4.33.2's
``generate(num_beams=3)`` with ``early_stopping=False``. The decoder keeps a key/value
cache (the same numbers as the full recomputation transformers 4.33 did with this model).
The first two tag-encoder layers share their cross-attention and feed-forward weights with
the tagging head, as the original ties them.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidbench.errors import UserError
from vidbench.metrics.backbones.loading import (
    BackboneCache,
    frozen,
    load_strict,
    resolve_pretrained,
)
from vidbench.metrics.backbones.tag2text_swin import SwinTransformer
from vidbench.metrics.backbones.tag2text_tokenizer import WordPiece, synthetic_vocab
from vidbench.vbench_suite import official_vbench_file

NUM_TAGS = 3429
DELETE_TAGS = (127, 3351, 3265, 3338, 3355, 3359)
THRESHOLD = 0.7
PROMPT = "a picture of "
TAG_TOKENS = 40
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
ENV_TAGS = "VIDBENCH_TAG2TEXT_TAGS"
WEIGHTS = "tag2text-swin-14m"
VOCAB = "bert-base-uncased-vocab"


@dataclass(frozen=True)
class BertSpec:
    layers: int = 12
    heads: int = 12
    hidden: int = 768
    intermediate: int = 3072
    vocab: int = 30524
    positions: int = 512


@dataclass(frozen=True)
class Tag2TextConfig:
    img_size: int = 384
    swin_dim: int = 128
    swin_depths: tuple[int, ...] = (2, 2, 18, 2)
    swin_heads: tuple[int, ...] = (4, 8, 16, 32)
    window: int = 12
    text: BertSpec = BertSpec()
    tagger: BertSpec = BertSpec(layers=2, heads=4)

    @property
    def vision_width(self) -> int:
        return self.swin_dim * 2 ** (len(self.swin_depths) - 1)


CONFIGS = {"swin-b-384": Tag2TextConfig(),
           "tiny": Tag2TextConfig(swin_dim=16, swin_depths=(2, 2, 2), swin_heads=(2, 4, 8),
                                  text=BertSpec(layers=2, heads=4, intermediate=64),
                                  tagger=BertSpec(layers=2, heads=2, intermediate=64))}
PRETRAINED = {"swin-b-384": WEIGHTS}
NEG = -10000.0  # BERT's additive mask value


class SelfOut(nn.Module):
    def __init__(self, hidden: int, inner: int | None = None) -> None:
        super().__init__()
        self.dense = nn.Linear(inner or hidden, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class Heads(nn.Module):
    def __init__(self, hidden: int, heads: int, kv_width: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(kv_width, hidden)
        self.value = nn.Linear(kv_width, hidden)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.view(b, n, self.heads, c // self.heads).permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor, kv: torch.Tensor, mask: torch.Tensor | None,
                past: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        k, v = self.split(self.key(kv)), self.split(self.value(kv))
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        q = self.split(self.query(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores + mask
        ctx = (scores.softmax(-1) @ v).permute(0, 2, 1, 3)
        return ctx.reshape(x.shape), (k, v)


class Attention(nn.Module):
    def __init__(self, hidden: int, heads: int, kv_width: int) -> None:
        super().__init__()
        self.self = Heads(hidden, heads, kv_width)
        self.output = SelfOut(hidden)


class Intermediate(nn.Module):
    def __init__(self, hidden: int, inner: int) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, inner)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class BertLayer(nn.Module):
    """Self-attention (absent in the tagging head), cross-attention, feed-forward."""

    def __init__(self, s: BertSpec, kv_width: int, self_attention: bool = True) -> None:
        super().__init__()
        if self_attention:
            self.attention = Attention(s.hidden, s.heads, s.hidden)
        self.crossattention = Attention(s.hidden, s.heads, kv_width)
        self.intermediate = Intermediate(s.hidden, s.intermediate)
        self.output = SelfOut(s.hidden, s.intermediate)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, enc: torch.Tensor,
                past: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        present = None
        if hasattr(self, "attention"):
            a, present = self.attention.self(x, x, mask, past)
            x = self.attention.output(a, x)
        a, _ = self.crossattention.self(x, enc, None)
        x = self.crossattention.output(a, x)
        return self.output(self.intermediate(x), x), present


class Embeddings(nn.Module):
    def __init__(self, s: BertSpec) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(s.vocab, s.hidden, padding_idx=0)
        self.position_embeddings = nn.Embedding(s.positions, s.hidden)
        self.LayerNorm = nn.LayerNorm(s.hidden, eps=1e-12)
        self.register_buffer("position_ids", torch.arange(s.positions).expand((1, -1)))

    def forward(self, ids: torch.Tensor, start: int = 0) -> torch.Tensor:
        pos = self.position_ids[:, start:start + ids.shape[1]]
        return self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(pos))


class Encoder(nn.Module):
    def __init__(self, s: BertSpec, kv_width: int, self_attention: bool = True) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(s, kv_width, self_attention)
                                   for _ in range(s.layers))


class BertModel(nn.Module):
    """A BERT text model whose layers cross-attend to ``enc`` (``mask``: additive)."""

    def __init__(self, s: BertSpec, kv_width: int) -> None:
        super().__init__()
        self.embeddings = Embeddings(s)
        self.encoder = Encoder(s, kv_width)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None, enc: torch.Tensor,
                past: list | None = None, start: int = 0) -> tuple[torch.Tensor, list]:
        x = self.embeddings(ids, start)
        presents = []
        for i, layer in enumerate(self.encoder.layer):
            x, p = layer(x, mask, enc, past[i] if past is not None else None)
            presents.append(p)
        return x, presents


class PredictionHead(nn.Module):
    def __init__(self, s: BertSpec) -> None:
        super().__init__()
        self.transform = nn.Module()
        self.transform.dense = nn.Linear(s.hidden, s.hidden)
        self.transform.LayerNorm = nn.LayerNorm(s.hidden, eps=1e-12)
        self.decoder = nn.Linear(s.hidden, s.vocab, bias=False)
        self.bias = nn.Parameter(torch.zeros(s.vocab))
        self.decoder.bias = self.bias  # tied, both names in the state dict as in the original

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.transform
        return self.decoder(t.LayerNorm(F.gelu(t.dense(x))))


class LMHead(nn.Module):
    def __init__(self, s: BertSpec) -> None:
        super().__init__()
        self.predictions = PredictionHead(s)


class CaptionDecoder(nn.Module):
    """BERT LM decoder (causal self-attention with a key/value cache)."""

    def __init__(self, s: BertSpec, kv_width: int) -> None:
        super().__init__()
        self.bert = BertModel(s, kv_width)
        self.cls = LMHead(s)

    def forward(self, ids: torch.Tensor, enc: torch.Tensor, past: list | None = None
                ) -> tuple[torch.Tensor, list]:
        """Logits of every position of ``ids`` (the new tokens when ``past`` is given)."""
        start = past[0][0].shape[2] if past else 0
        n = ids.shape[1]
        q = torch.arange(start, start + n, device=ids.device)
        k = torch.arange(start + n, device=ids.device)
        mask = torch.where(k[None, :] <= q[:, None], 0.0, NEG)[None, None]
        x, presents = self.bert(ids, mask.to(enc.dtype), enc, past, start)
        return self.cls.predictions(x), presents


class GroupWiseLinear(nn.Module):
    def __init__(self, classes: int, hidden: int) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.zeros(1, classes, hidden))
        self.b = nn.Parameter(torch.zeros(1, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.W * x).sum(-1) + self.b


class Tag2Text(nn.Module):
    """The captioner's networks (``Tag2Text_Caption``'s module names)."""

    def __init__(self, cfg: Tag2TextConfig) -> None:
        super().__init__()
        self.cfg = cfg
        vw = cfg.vision_width
        self.visual_encoder = SwinTransformer(cfg.img_size, cfg.swin_dim, cfg.swin_depths,
                                              cfg.swin_heads, cfg.window)
        self.text_decoder = CaptionDecoder(cfg.text, cfg.text.hidden)
        self.tag_encoder = BertModel(cfg.text, vw)
        self.vision_multi = nn.Module()
        self.vision_multi.encoder = Encoder(cfg.tagger, vw, self_attention=False)
        self.label_embed = nn.Embedding(NUM_TAGS, cfg.tagger.hidden)
        self.fc = GroupWiseLinear(NUM_TAGS, cfg.tagger.hidden)
        self._tie()

    def _tie(self) -> None:
        """The tag encoder's first layers use the tagging head's cross-attention and
        feed-forward weights (``tie_encoder_decoder_weights`` in the original)."""
        tagger = self.vision_multi.encoder.layer
        for mine, theirs in zip(self.tag_encoder.encoder.layer, tagger, strict=False):
            for part in ("crossattention.self.query", "crossattention.self.key",
                         "crossattention.self.value", "crossattention.output.dense",
                         "crossattention.output.LayerNorm", "intermediate.dense",
                         "output.dense", "output.LayerNorm"):
                *parents, leaf = part.split(".")
                a, b = mine, theirs
                for p in parents:
                    a, b = getattr(a, p), getattr(b, p)
                setattr(a, leaf, getattr(b, leaf))

    def image_embeds(self, images: torch.Tensor) -> torch.Tensor:
        return self.visual_encoder(images)

    def tag_logits(self, embeds: torch.Tensor) -> torch.Tensor:
        """(B, 3429) tag logits from the image tokens."""
        x = self.label_embed.weight.unsqueeze(0).expand(embeds.shape[0], -1, -1)
        for layer in self.vision_multi.encoder.layer:
            x, _ = layer(x, None, embeds)
        return self.fc(x)

    def tag_states(self, ids: torch.Tensor, att: torch.Tensor,
                   embeds: torch.Tensor) -> torch.Tensor:
        """The tag encoder's states for tag token ids (``[ENC]`` first) and their mask."""
        mask = ((1.0 - att[:, None, None, :].to(embeds.dtype)) * NEG)
        return self.tag_encoder(ids, mask, embeds)[0]


def beam_search(decoder: CaptionDecoder, enc: torch.Tensor, prompt: list[int], eos: int,
                pad: int, num_beams: int = 3, max_length: int = 30,
                min_length: int = 10) -> list[list[int]]:
    """transformers 4.33.2's beam search (length penalty 1, no early stopping) for each row
    of ``enc``; returns the best hypothesis's ids (prompt included, end token excluded)."""
    b = enc.shape[0]
    encb = enc.repeat_interleave(num_beams, 0)
    ids = torch.tensor([prompt] * (b * num_beams), device=enc.device)
    scores = torch.zeros(b, num_beams, device=enc.device)
    scores[:, 1:] = -1e9
    scores = scores.view(-1)
    hyps: list[list[tuple[float, list[int]]]] = [[] for _ in range(b)]
    worst = [1e9] * b
    done = [False] * b

    def add(i: int, hyp: list[int], s: float) -> None:
        score = s / len(hyp)
        if len(hyps[i]) < num_beams or score > worst[i]:
            hyps[i].append((score, hyp))
            if len(hyps[i]) > num_beams:
                order = sorted((sc, k) for k, (sc, _) in enumerate(hyps[i]))
                del hyps[i][order[0][1]]
                worst[i] = order[1][0]
            else:
                worst[i] = min(score, worst[i])

    logits, past = decoder(ids, encb)
    while True:
        cur = ids.shape[1]
        logp = F.log_softmax(logits[:, -1, :], dim=-1)
        if cur < min_length:
            logp[:, eos] = -math.inf
        vocab = logp.shape[-1]
        nxt = (logp + scores[:, None]).view(b, num_beams * vocab)
        top, tok = torch.topk(nxt, 2 * num_beams, dim=1, largest=True, sorted=True)
        src, tok = tok // vocab, tok % vocab
        new_scores = torch.zeros(b, num_beams, device=enc.device)
        new_tok = torch.full((b, num_beams), pad, dtype=torch.long, device=enc.device)
        new_src = torch.zeros(b, num_beams, dtype=torch.long, device=enc.device)
        for i in range(b):
            if done[i]:
                continue
            j = 0
            for rank in range(2 * num_beams):
                row = i * num_beams + int(src[i, rank])
                if int(tok[i, rank]) == eos:
                    if rank < num_beams:
                        add(i, ids[row].tolist(), float(top[i, rank]))
                else:
                    new_scores[i, j], new_tok[i, j], new_src[i, j] = top[i, rank], tok[i, rank], row
                    j += 1
                if j == num_beams:
                    break
            if len(hyps[i]) >= num_beams:
                done[i] = worst[i] >= float(top[i].max()) / cur
        scores = new_scores.view(-1)
        src_rows = new_src.view(-1)
        ids = torch.cat([ids[src_rows], new_tok.view(-1, 1)], 1)
        if all(done) or ids.shape[1] >= max_length:
            break
        past = [(k[src_rows], v[src_rows]) for k, v in past]
        logits, past = decoder(ids[:, -1:], encb, past)
    out = []
    for i in range(b):
        if not done[i]:
            for k in range(num_beams):
                add(i, ids[i * num_beams + k].tolist(), float(scores[i * num_beams + k]))
        out.append(sorted(hyps[i], key=lambda h: h[0])[-1][1])
    return out


def tags_path() -> Path:
    """Tag2Text's tag list (``tag_class.py``'s ``tra_array``), read from the installed
    ``vbench`` package (located, not imported) or the file named in the environment."""
    return official_vbench_file("third_party/tag2Text/tag_class.py", ENV_TAGS,
                                "scene needs Tag2Text's 3429 tag names")


@lru_cache(maxsize=4)
def tag_names(path: Path) -> tuple[str, ...]:
    """The ``tra_array = [...]`` string list, parsed as a literal (never executed)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read Tag2Text's tag list ({e})") from None
    for node in tree.body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.List)
                and any(isinstance(t, ast.Name) and t.id == "tra_array" for t in node.targets)):
            try:
                names = ast.literal_eval(node.value)
            except ValueError:
                break
            if len(names) == NUM_TAGS and all(isinstance(n, str) for n in names):
                return tuple(names)
    raise UserError(f"{path}: no list of {NUM_TAGS} tag names assigned to tra_array")


def normalise(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) float: ToTensor then ImageNet normalisation."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    return (x - mean) / torch.tensor(STD).view(1, 3, 1, 1)


class Tag2TextBackbone:
    """A loaded captioner: ``caption(images)`` -> (captions, tags) per image."""

    def __init__(self, model: Tag2Text, tokenizer: WordPiece, tags: tuple[str, ...],
                 arch: str, weights: str | None, pretrained: bool, device: str,
                 seed: int) -> None:
        self.model, self.tok, self.tags = model, tokenizer, tags
        self.arch, self.weights, self.pretrained = arch, weights, pretrained
        self.device, self.seed = device, seed

    @torch.no_grad()
    def tag_text(self, embeds: torch.Tensor) -> list[str]:
        hit = (torch.sigmoid(self.model.tag_logits(embeds)) > THRESHOLD).cpu().numpy()
        hit[:, list(DELETE_TAGS)] = False
        return [" | ".join(self.tags[k] for k in np.flatnonzero(row)) for row in hit]

    def tag_ids(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded to 40 tokens, truncated, ``[CLS]`` replaced by ``[ENC]``."""
        ids = torch.full((len(texts), TAG_TOKENS), self.tok.pad_id, dtype=torch.long)
        att = torch.zeros((len(texts), TAG_TOKENS), dtype=torch.long)
        for i, t in enumerate(texts):
            row = self.tok.encode(t, TAG_TOKENS)
            ids[i, :len(row)] = torch.tensor(row)
            att[i, :len(row)] = 1
        ids[:, 0] = self.tok.enc_id
        return ids.to(self.device), att.to(self.device)

    @torch.no_grad()
    def caption(self, images: torch.Tensor) -> tuple[list[str], list[str]]:
        """Captions (without the prompt) and tag texts of normalised (B, 3, S, S) images."""
        embeds = self.model.image_embeds(images.to(self.device))
        tags = self.tag_text(embeds)
        ids, att = self.tag_ids(tags)
        states = self.model.tag_states(ids, att, embeds)
        prompt = [self.tok.bos_id, *self.tok.encode(PROMPT)[1:-1]]
        best = beam_search(self.model.text_decoder, states, prompt, self.tok.sep_id,
                           self.tok.pad_id)
        return [self.tok.decode(h)[len(PROMPT):] for h in best], tags


_CACHE: BackboneCache[Tag2TextBackbone] = BackboneCache()


def build_tag2text(arch: str = "swin-b-384", seed: int = 0) -> Tag2Text:
    """The captioner with a seeded random initialisation (normal 0.02 weights)."""
    if arch not in CONFIGS:
        raise UserError(f"unknown Tag2Text arch {arch!r}; known: {', '.join(CONFIGS)}")
    g = torch.Generator().manual_seed(seed)
    model = Tag2Text(CONFIGS[arch])
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("LayerNorm.weight") or name.endswith("norm.weight") or \
                    ".norm1." in name or ".norm2." in name:
                p.fill_(1.0) if name.endswith("weight") else p.zero_()
            elif p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
            else:
                p.zero_()
    return model


def load_tag2text(arch: str = "swin-b-384", *, random_weights: bool = False,
                  device: str = "cpu", seed: int = 0) -> Tag2TextBackbone:
    """The captioner, cached per process. Pretrained: ``tag2text-swin-14m`` loaded strictly
    (its fixed relative-position indices and window masks dropped as the original's loader
    does) and the bert-base-uncased vocab; random weights use a stand-in vocab."""
    def make() -> Tag2TextBackbone:
        weights = PRETRAINED.get(arch)
        path = resolve_pretrained("Tag2Text", arch, weights, random_weights)
        tags = tag_names(tags_path())
        model = build_tag2text(arch, seed)
        if path is not None:
            from vidbench.weights import resolve

            load_strict(model, path, "Tag2Text Swin-B captioner", fill=_fill)
            tok = WordPiece.from_file(resolve(VOCAB))
        else:
            tok = WordPiece(synthetic_vocab(["a picture of", *tags]))
        frozen(model, device)
        return Tag2TextBackbone(model, tok, tags, arch, weights, not random_weights,
                                str(device), seed)

    return _CACHE.get((arch, bool(random_weights), str(device), seed), make)


def _fill(found: dict, expected: dict) -> dict:
    out = {k: v for k, v in found.items()
           if not (k.endswith("relative_position_index") or k.endswith("attn_mask"))}
    for k in expected:  # the fixed position-id rows, when a file leaves them out
        if k.endswith("position_ids") and k not in out:
            out[k] = expected[k]
    return out
