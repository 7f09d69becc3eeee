"""BERT's basic tokenizer and greedy longest-match WordPiece, as ``transformers.BertTokenizer``
(``do_lower_case=True``) splits text: control characters dropped, whitespace normalised, CJK
characters split into single tokens, lower case with accents stripped (NFD), punctuation
split; then each word becomes the longest vocabulary pieces from its start (``##`` marks a
continuation), ``[UNK]`` for a word it cannot cover or longer than ``max_chars``. Shared by
Tag2Text's English tokenizer and Chinese-CLIP's."""

from __future__ import annotations

import unicodedata
from collections.abc import Container


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


def wordpiece(word: str, vocab: Container[str], max_chars: int = 100) -> list[str]:
    """Greedy longest-match pieces of ``word`` over ``vocab`` (``["[UNK]"]`` when it cannot
    be covered or is longer than ``max_chars``)."""
    if len(word) > max_chars:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        piece = None
        while start < end:
            sub = word[start:end] if start == 0 else "##" + word[start:end]
            if sub in vocab:
                piece = sub
                break
            end -= 1
        if piece is None:
            return ["[UNK]"]
        pieces.append(piece)
        start = end
    return pieces
