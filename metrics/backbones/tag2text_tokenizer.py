"""BERT's uncased WordPiece tokenizer (bert-base-uncased vocab plus Tag2Text's added
``[DEC]`` and ``[ENC]``), as ``transformers.BertTokenizer`` encodes and decodes: clean-up
of control characters, CJK characters split, lower case with accents stripped (NFD),
punctuation split, greedy longest-match WordPiece (``[UNK]`` for a word it cannot cover or
longer than 100 characters); decoding drops special tokens, joins ``##`` pieces and applies
``clean_up_tokenization``."""

from __future__ import annotations

from pathlib import Path

from vidbench.errors import UserError
from vidbench.metrics.backbones.wordpiece import basic_tokens, wordpiece

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
ADDED = ("[DEC]", "[ENC]")
BERT_VOCAB_SIZE = 30522


class WordPiece:
    """Encoder/decoder over a vocab (token -> id, line order), with ``[DEC]`` and ``[ENC]``
    appended after it."""

    def __init__(self, tokens: list[str]) -> None:
        self.vocab = {t: i for i, t in enumerate(tokens)}
        for t in SPECIALS:
            if t not in self.vocab:
                raise UserError(f"vocab lacks the special token {t}")
        for t in ADDED:
            self.vocab.setdefault(t, len(self.vocab))
        self.inv = {i: t for t, i in self.vocab.items()}
        self.pad_id, self.unk_id = self.vocab["[PAD]"], self.vocab["[UNK]"]
        self.cls_id, self.sep_id = self.vocab["[CLS]"], self.vocab["[SEP]"]
        self.bos_id, self.enc_id = self.vocab["[DEC]"], self.vocab["[ENC]"]
        self.special_ids = {self.vocab[t] for t in SPECIALS + ADDED}

    def __len__(self) -> int:
        return len(self.vocab)

    @classmethod
    def from_file(cls, path: Path) -> WordPiece:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"{path}: cannot read the BERT vocab ({e})") from None
        tokens = [t.rstrip("\n") for t in text.splitlines()]
        if len(tokens) != BERT_VOCAB_SIZE or len(set(tokens)) != len(tokens):
            raise UserError(f"{path}: expected bert-base-uncased's {BERT_VOCAB_SIZE} distinct "
                            f"tokens, got {len(tokens)}")
        return cls(tokens)

    def wordpiece(self, word: str) -> list[str]:
        return wordpiece(word, self.vocab, 100)

    def encode(self, text: str, max_length: int | None = None) -> list[int]:
        """``[CLS] pieces [SEP]`` ids, the pieces truncated to ``max_length - 2``."""
        ids = [self.vocab[p] for w in basic_tokens(text) for p in self.wordpiece(w)]
        if max_length is not None:
            ids = ids[:max_length - 2]
        return [self.cls_id, *ids, self.sep_id]

    def decode(self, ids: list[int]) -> str:
        """``tokenizer.decode(ids, skip_special_tokens=True)`` of transformers' BERT."""
        toks = [self.inv.get(i, "[UNK]") for i in ids if i not in self.special_ids]
        text = " ".join(toks).replace(" ##", "").strip()
        for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
                     (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"),
                     (" 're", "'re")):
            text = text.replace(a, b)
        return text


def synthetic_vocab(words: list[str]) -> list[str]:
    """A stand-in vocab of BERT's size for random weights (no download): the special tokens
    at BERT's ids, ``|`` and the given words' tokens, then ``[unusedN]`` fillers. Captions
    decoded with it are as meaningless as the random networks that produce them."""
    tokens = [f"[unused{i}]" for i in range(BERT_VOCAB_SIZE)]
    for t, i in zip(SPECIALS, (0, 100, 101, 102, 103), strict=True):
        tokens[i] = t
    seen = set(SPECIALS)
    k = 1000
    for w in ["|", *words]:
        for t in basic_tokens(w):
            if t not in seen and k < BERT_VOCAB_SIZE:
                tokens[k] = t
                seen.add(t)
                k += 1
    return tokens
