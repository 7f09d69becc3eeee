"""vidbench's GRiT text decoder against GRiT's own ``text_decoder.py`` (VBench's copy).

``text_decoder.py`` needs only torch; the ``modeling_bert.py`` it imports for the BERT
encoder imports ``file_utils.py``, which imports boto3, botocore and requests at the top
(for downloads it never does here): stand-in modules when they are not installed. GRiT's
package ``__init__`` imports its whole detectron2 model, so the ``text`` folder is loaded
as a private package of its own, its files unchanged. The official head is built with
the arguments of ``GRiTROIHeadsAndTextDecoder.from_config`` (``decoder_type='bert_en'``,
VBench's ``USE_ACT_CHECKPOINT=False``) and its decoder with ``__init__``'s beam search
(end token 102, 40 steps, ``BEAM_SIZE=1``, one candidate per node); vidbench's seeded
random weights are loaded into it strictly, so the key names are the official ones.

Asserted (measured values in docs/vbench.md): the textual head's logits at GRiT-B's size
and at the test size to 1e-5 (measured 1.1e-6 at B); greedy decoding with the key/value
cache (vidbench) against the whole sequence at every step (GRiT): the same ids, logprobs
to 1e-5 (measured 1.5e-6), on batches that end at step 1, end at mixed lengths, or run to
the 40-token limit; captions equal to transformers' ``BertTokenizer``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import pytest
import torch

from vidbench.metrics.backbones.grit_text import (
    BEGIN_TOKENS,
    CONFIGS,
    END_TOKEN,
    GritTextDecoder,
    build_grit_text_decoder,
    text_decoder_state,
)
from vidbench.metrics.backbones.tag2text_tokenizer import WordPiece, synthetic_vocab

PKG = "_grit_text_official"


@pytest.fixture(scope="module")
def official():
    spec = importlib.util.find_spec("vbench")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the official vbench package is not installed")
    root = (Path(list(spec.submodule_search_locations)[0]) / "third_party" / "grit_src"
            / "grit" / "modeling" / "text")
    if not (root / "text_decoder.py").is_file():
        pytest.skip("this vbench has no GRiT text_decoder.py")
    added = {}
    for name in ("boto3", "requests", "botocore", "botocore.exceptions"):
        try:
            importlib.import_module(name)
        except ImportError:
            added[name] = types.ModuleType(name)
    if "botocore.exceptions" in added:
        added["botocore.exceptions"].ClientError = type("ClientError", (Exception,), {})
    pkg = types.ModuleType(PKG)
    pkg.__path__ = [str(root)]  # type: ignore[attr-defined]
    added[PKG] = pkg
    sys.modules.update(added)
    try:
        yield importlib.import_module(f"{PKG}.text_decoder")
    finally:
        for name in [*added, f"{PKG}.text_decoder", f"{PKG}.modeling_bert",
                     f"{PKG}.file_utils"]:
            sys.modules.pop(name, None)


def _official_pair(td, arch: str, seed: int, task: str = "ObjectDet"):
    """(official GRiTTextDecoder, vidbench's) with vidbench's seeded weights in both."""
    c = CONFIGS[arch]
    head = td.TransformerDecoderTextualHead(
        object_feature_size=c.object_dim, vocab_size=c.vocab, hidden_size=c.hidden,
        num_layers=c.layers, attention_heads=c.heads, feedforward_size=c.feedforward,
        mask_future_positions=True, padding_idx=0, decoder_type="bert_en",
        use_act_checkpoint=False, max_caption_length=c.max_positions)
    search = td.AutoRegressiveBeamSearch(end_token_id=END_TOKEN, max_steps=c.max_steps,
                                         beam_size=1, objectdet=task == "ObjectDet",
                                         per_node_beam_size=1)
    ref = td.GRiTTextDecoder(head, beamsearch_decode=search,
                             begin_token_id=BEGIN_TOKENS[task], loss_type="smooth")
    ours = build_grit_text_decoder(True, seed=seed, arch=arch)
    sd_ref, sd_ours = ref.state_dict(), ours.state_dict()
    assert list(sd_ref) == list(sd_ours)
    assert all(sd_ref[k].shape == sd_ours[k].shape for k in sd_ref)
    ref.load_state_dict(sd_ours, strict=True)
    return ref.eval(), ours


def _liven(model: GritTextDecoder, scale: float, end_bias: float) -> None:
    """Weights further from init's 0.02 (peaked, varied captions) and a [SEP] bias that
    sets how soon captions end; the output bias is the one untied logit term."""
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.mul_(scale)
        model.textual.output.bias.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(1))
        model.textual.output.bias[END_TOKEN] += end_bias


@pytest.fixture(scope="module")
def grit_b(official):
    return _official_pair(official, "B", seed=3)


def test_keys_and_logits_at_grit_b_size(grit_b):
    ref, ours = grit_b
    sd = ours.state_dict()
    assert len(sd) == 4 + 4 + 6 * 16 + 2  # projection, embedding, 6 layers, output
    assert sd["textual.object_feature_projection.0.weight"].shape == (768, 256)
    assert sd["textual.output.weight"].data_ptr() == sd["textual.embedding.words.weight"].data_ptr()
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 196, 256, generator=g)
    tokens = torch.randint(0, 30522, (2, 5), generator=g)
    tokens[:, 0] = 101
    with torch.no_grad():
        want = ref.textual(feats, tokens)
        got = ours.textual(feats, tokens)
    assert want.shape == got.shape == (2, 5, 30522)
    assert (got - want).abs().max().item() < 1e-5
    assert want.std().item() > 0.1  # not a degenerate comparison


def test_greedy_decoding_at_grit_b_size(grit_b):
    """Full size, 4 tokens (GRiT's step is slow at this size: it reruns all 196 + t)."""
    ref, ours = grit_b
    ours.max_steps = ref.beamsearch_decode.max_steps = 4
    try:
        feats = torch.randn(2, 196, 256, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            want = ref({"object_features": feats})
            ids, lp = ours(feats)
    finally:
        ours.max_steps = ref.beamsearch_decode.max_steps = 40
    assert ids.shape == (2, 4)
    assert torch.equal(ids, want["predictions"])
    assert (lp - want["logprobs"]).abs().max().item() < 1e-5


def test_loads_from_a_grit_shaped_state_dict(official):
    """A state dict laid out as GRiT's ROI heads hold the decoder (``text_decoder`` and
    ``text_decoder_det`` sharing one transformer, among other heads) loads strictly."""
    from torch import nn

    ref, _ = _official_pair(official, "tiny", seed=6)
    heads = nn.Module()
    heads.text_decoder = ref
    heads.text_decoder_det = official.GRiTTextDecoder(ref.textual, begin_token_id=101)
    heads.box_head = nn.Linear(2, 2)
    full = nn.Module()
    full.roi_heads = heads
    sd = full.state_dict()
    assert any(k.startswith("roi_heads.text_decoder_det.") for k in sd)
    ours = build_grit_text_decoder(True, seed=7, arch="tiny")
    ours.load_state_dict(text_decoder_state(sd), strict=True)
    assert all(torch.equal(v, ref.state_dict()[k]) for k, v in ours.state_dict().items())


def test_logits_tiny(official):
    ref, ours = _official_pair(official, "tiny", seed=0)
    _liven(ours, 8.0, 0.0)
    ref.load_state_dict(ours.state_dict(), strict=True)
    g = torch.Generator().manual_seed(7)
    feats = torch.randn(4, 196, 16, generator=g)
    tokens = torch.randint(0, 30522, (4, 17), generator=g)
    with torch.no_grad():
        assert (ours.textual(feats, tokens) - ref.textual(feats, tokens)).abs().max() < 1e-5


# (seed, N, weight scale, [SEP] bias, task, what the random weights make the batch do)
CASES = [
    (0, 1, 8.0, 6.0, "ObjectDet", "ends"),      # N=1
    (1, 9, 8.0, 6.0, "ObjectDet", "mixed"),     # lengths 2 to 18
    (2, 9, 8.0, 6.0, "ObjectDet", "step1"),     # some end at step 1, not all
    (0, 9, 8.0, 4.0, "ObjectDet", "max"),       # some end, others run to 40 tokens
    (1, 6, 8.0, 6.0, "DenseCap", "ends"),       # the DenseCap begin token
    (3, 5, 8.0, -30.0, "ObjectDet", "never"),   # none ends
    (4, 4, 8.0, 60.0, "ObjectDet", "all1"),     # every caption ends at step 1
]


@pytest.mark.parametrize("seed,n,scale,end_bias,task,kind", CASES)
def test_greedy_decoding_matches_official(official, seed, n, scale, end_bias, task, kind):
    ref, ours = _official_pair(official, "tiny", seed=seed, task=task)
    _liven(ours, scale, end_bias)
    ref.load_state_dict(ours.state_dict(), strict=True)
    feats = torch.randn(n, 196, 16, generator=torch.Generator().manual_seed(100 + seed)) * 3
    with torch.no_grad():
        want = ref({"object_features": feats})
        ids, lp = ours(feats, task=task)
    assert torch.equal(ids, want["predictions"])
    assert lp.shape == (n,)
    assert (lp - want["logprobs"].reshape(n)).abs().max().item() < 1e-5
    assert bool((lp <= 0).all())
    words = (ids != END_TOKEN).sum(1)  # begin token included
    if kind == "all1":  # GRiT's early return: [SEP] alone, no begin token
        assert ids.shape == (n, 1) and bool((ids == END_TOKEN).all())
        return
    assert bool((ids[:, 0] == BEGIN_TOKENS[task]).all())
    if kind == "never":
        assert ids.shape == (n, 40) and int(words.min()) == 40
    elif kind == "max":
        assert ids.shape[1] == 40 and int(words.min()) < 40 == int(words.max())
    elif kind == "step1":
        assert int(words.min()) == 1 < int(words.max())
    elif kind == "mixed":
        assert 2 <= int(words.min()) < int(words.max()) < 40
    else:
        assert int(words.max()) < ids.shape[1] <= 40  # every row ended with [SEP]


def test_empty_batch():
    ours = build_grit_text_decoder(True, arch="tiny")
    ids, lp = ours(torch.zeros(0, 196, 16))
    assert ids.shape == (0, 1) and lp.shape == (0,)
    assert ours.decode(ids) == []


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory):
    tokens = synthetic_vocab(["a red car on the left of a dog", "it's", "don't", "x, y. z!",
                              "i'm you're we've", "café"])
    assert not {"##ing", "##s", "##ly", "##t", "n", "?"} & set(tokens)
    for i, t in zip(range(2000, 2006), ["##ing", "##s", "##ly", "##t", "n", "?"], strict=True):
        tokens[i] = t
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return path


def _bert_tokenizers(vocab_file) -> list:
    """transformers' BertTokenizer on the vocab file: in 5.x the tokenizers-backed class
    (``vocab=``) and the Python one GRiT's 4.x used (``BertTokenizerLegacy``,
    ``vocab_file=``); in 4.x the Python one. With ``clean_up_tokenization_spaces=True``:
    4.x's default, which GRiT's ``from_pretrained('bert-base-uncased')`` used (5.x's class
    defaults to False when built from a bare vocab file: "a ' we" for "a'we")."""
    transformers = pytest.importorskip("transformers")
    import inspect

    out = []
    for name in ("BertTokenizer", "BertTokenizerLegacy"):
        cls = getattr(transformers, name, None)
        if cls is None:
            continue
        params = inspect.signature(cls.__init__).parameters
        key = "vocab_file" if "vocab_file" in params else "vocab"
        tok = cls(**{key: str(vocab_file)}, do_lower_case=True,
                  clean_up_tokenization_spaces=True)
        assert tok.convert_ids_to_tokens(2000) == "##ing"  # it read this vocab
        out.append(tok)
    return out


def test_decode_matches_transformers(vocab_file):
    toks = _bert_tokenizers(vocab_file)
    ours = build_grit_text_decoder(True, arch="tiny")
    ours.tokenizer = WordPiece.from_file(vocab_file)
    pool = torch.tensor([0, 100, 101, 102, 103, 104, 5, 999, *range(1000, 1030),
                         *range(2000, 2006), 30000])
    g = torch.Generator().manual_seed(0)
    ids = pool[torch.randint(0, len(pool), (200, 12), generator=g)]
    got = ours.decode(ids)
    assert sum(bool(s) for s in got) > 150 and any("'" in s for s in got)
    for tok in toks:
        want = [tok.decode(r.tolist()[1:], skip_special_tokens=True) for r in ids]
        assert got == want, type(tok).__name__


def test_decode_of_decoder_output(vocab_file):
    toks = _bert_tokenizers(vocab_file)
    ours = build_grit_text_decoder(True, seed=1, arch="tiny")
    _liven(ours, 8.0, 7.0)
    ours.tokenizer = WordPiece.from_file(vocab_file)
    ids, _ = ours(torch.randn(6, 196, 16, generator=torch.Generator().manual_seed(9)) * 3)
    for tok in toks:
        assert ours.decode(ids) == [tok.decode(r.tolist()[1:], skip_special_tokens=True)
                                    for r in ids]


def test_seeded_init_is_reproducible():
    a = build_grit_text_decoder(True, seed=4, arch="tiny").state_dict()
    b = build_grit_text_decoder(True, seed=4, arch="tiny").state_dict()
    c = build_grit_text_decoder(True, seed=5, arch="tiny").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["textual.embedding.words.weight"],
                           c["textual.embedding.words.weight"])
