"""Escaping of untrusted text (model, metric, mode names, notes from others' result.json)
for every format vidbench writes: markdown, LaTeX, CSV cells and matplotlib labels.

Every field that reaches an output goes through one of these; none of them can change the
structure of the document it lands in:

- :func:`md_escape`: one line of inert markdown: line breaks and control characters become
  spaces; ``& < >`` become entities (no raw HTML); the characters that start markup
  (``\\ ` * _ [ ] | # ~ ! { }`` and a leading ``- + =``) are backslash-escaped, so a field can
  neither break a table (``|``), start a heading, a list or a link, nor inject HTML.
- :func:`tex_escape`: LaTeX specials escaped, ``[``/``]`` braced (a row starting with ``[``
  after ``\\\\`` would otherwise be read as a vertical skip), line breaks -> spaces.
- :func:`csv_cell`: OWASP's rule against formula injection: a text cell that starts with
  ``= + - @``, a tab or a carriage return (or whose first non-blank character is one) gets
  a leading ``'`` so a spreadsheet shows it as text; line breaks become spaces. Numbers
  are left alone.
- :func:`plain_label`: text for matplotlib with mathtext disabled (``$`` is literal).
"""

from __future__ import annotations

import re

_CTRL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\ud800-\udfff\ufffe\uffff]+")
#: characters no XML/HTML/UTF-8 file may hold: C0 controls but tab/newline/CR, lone
#: surrogates (JSON can spell them, UTF-8 cannot encode them), U+FFFE/U+FFFF
_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean_text(s: object) -> str:
    """``str(s)`` without the characters no XML/HTML/UTF-8 file can hold (each becomes
    ``?``); line breaks are kept."""
    return _INVALID.sub("?", str(s))
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~!{}])")


def one_line(s: object) -> str:
    """``str(s)`` with line breaks and control characters replaced by single spaces."""
    return _CTRL.sub(" ", str(s))


def md_escape(s: object) -> str:
    """Inert, single-line markdown text (see the module docstring)."""
    t = one_line(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    t = _MD_SPECIAL.sub(r"\\\1", t)
    if t[:1] in ("-", "+", "="):
        t = "\\" + t
    return t


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
        "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}",
        "[": "{[}", "]": "{]}", "<": r"\textless{}", ">": r"\textgreater{}",
        "|": r"\textbar{}", '"': r"\textquotedbl{}", "–": "--", "†": r"$^\dagger$",
        "±": r"$\pm$", "…": r"\ldots{}", "·": r"$\cdot$"}


def tex_escape(s: object) -> str:
    """LaTeX-safe text: specials escaped, brackets braced, one line; characters outside
    ASCII that pdflatex cannot typeset without extra packages become ``?``."""
    out = []
    for ch in one_line(s):
        if ch in _TEX:
            out.append(_TEX[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out.append("?")
    return "".join(out)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(x: object) -> object:
    """A CSV cell that a spreadsheet will not evaluate: line breaks and control characters
    become spaces (a cell can never start a new row), and text whose first non-blank
    character is a formula character is prefixed with ``'`` (OWASP CSV injection rule);
    non-text passes through."""
    if not isinstance(x, str):
        return x
    t = one_line(x)
    if x.startswith(_FORMULA_START) or t.lstrip().startswith(_FORMULA_START):
        return "'" + t
    return t


def plain_label(s: object, n: int | None = None) -> str:
    """One-line label for matplotlib (used with ``text.parse_math`` off), cut to ``n``
    characters with an ellipsis when given."""
    t = one_line(s)
    if n is not None and len(t) > n:
        t = t[: n - 1] + "…"
    return t
