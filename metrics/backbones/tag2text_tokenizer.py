"""BERT's uncased WordPiece tokenizer (bert-base-uncased vocab plus Tag2Text's added
``[DEC]`` and ``[ENC]``), as ``transformers.BertTokenizer`` encodes and decodes: clean-up
of control characters, CJK characters split, lower case with accents stripped (NFD),
punctuation split, greedy longest-match WordPiece (``[UNK]`` for a word it cannot cover or
longer than 100 characters); decoding drops special tokens, joins ``##`` pieces and applies
``clean_up_tokenization``."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from vidbench.errors import UserError

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
ADDED = ("[DEC]", "[ENC]")
BERT_VOCAB_SIZE = 30522


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    return ch not in "\t\n\r" and unicodedata.category(ch).startswith("C")


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokens(text: str) -> list[str]:
    """BERT's BasicTokenizer with lower casing (and so accent stripping)."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        out.append(" " if _is_whitespace(ch) else f" {ch} " if _is_cjk(cp) else ch)
    tokens = []
    for word in "".join(out).split():
        word = "".join(c for c in unicodedata.normalize("NFD", word.lower())
                       if unicodedata.category(c) != "Mn")
        cur = ""
        for ch in word:
            if _is_punctuation(ch):
                if cur:
                    tokens.append(cur)
                tokens.append(ch)
                cur = ""
            else:
                cur += ch
        if cur:
            tokens.append(cur)
    return tokens


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
        if len(word) > 100:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            piece = None
            while start < end:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in self.vocab:
                    piece = sub
                    break
                end -= 1
            if piece is None:
                return ["[UNK]"]
            pieces.append(piece)
            start = end
        return pieces

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
