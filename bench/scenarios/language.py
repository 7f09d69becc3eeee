"""``physics-lang``: language-sensitive physics items, where the prompt carries what the
conditioning frames do not.

In ``physics-mini`` the conditioning frames already show the motion, so a model can ignore the
prompt. Here each item comes in two *variants* that share their conditioning frames exactly
(pixel for pixel) and differ in one fact that only the prompt states; the analytic ground
truth (``meta["physics"]``) follows the prompt:

=================  ==========  ==================================================  =====
kind               scenario    what the prompt decides                             cond
=================  ==========  ==================================================  =====
throw_direction    projectile  thrown up and to the left or to the right            1
which_moves        collision   which of two balls at rest slides into the other     1
bounce_or_stick    bounce      the ball bounces (e = 0.6-0.85) or sticks (e = 0)    4
drop_colour        free_fall   which of two hanging balls (named by colour) drops   1
=================  ==========  ==================================================  =====

Both variants of every kind are in the suite (for each seed), so a model that ignores the
prompt is right on at most half the items. ``meta["language"]`` = ``{"kind", "answer",
"variants": {name: params}}`` records the alternatives (for analysis and for the
``baseline:prompt-following`` oracle); ``meta["bucket"]`` is ``"lang"``.
:func:`read_prompt` is the keyword reader (English and Chinese) that oracle uses.

Each kind is one :class:`LanguageKind` subclass (its variants, prompts and keyword reader);
a new kind is one class plus its line in :data:`_KINDS`.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import numpy as np

from vidbench.scenarios.base import PALETTE, ZH_COLOURS, make_object, round_floats
from vidbench.scenarios.items import prompt_for
from vidbench.scenarios.params import sample_params
from vidbench.scenarios.render import render
from vidbench.suite_model import Suite, SuiteItem

_EN_SIDE = {1: "right", -1: "left"}
_ZH_SIDE = {1: "右", -1: "左"}
_STICK = ("stick", "without bouncing", "不再弹起", "粘住")
_BOUNCE = ("bounce", "弹跳", "弹起")


def _first_named(text: str, words: dict[str, tuple[str, ...]]) -> str | None:
    """The option whose word (any of its spellings) appears first in ``text``, or None."""
    hits = {o: min((text.find(w) for w in ws if w in text), default=-1)
            for o, ws in words.items()}
    found = {o: i for o, i in hits.items() if i >= 0}
    return min(found, key=found.__getitem__) if found else None


class LanguageKind:
    """One kind of language-sensitive item: two (or more) variants of a scene that share
    their first ``cond`` frames and differ in one fact the prompt states."""

    #: the kind's name (``meta["language"]["kind"]``)
    name: ClassVar[str]
    #: conditioning frames the variants share
    cond: ClassVar[int]
    #: random stream of the kind's own draws (fixed: part of every variant's parameters)
    stream: ClassVar[int]

    def rng(self, seed: int) -> np.random.Generator:
        return np.random.default_rng([int(seed), 1000 + self.stream])

    def variants(self, seed: int) -> dict[str, dict]:
        """``{variant: params}`` in a fixed order; their first frames are identical."""
        raise NotImplementedError

    def prompt(self, params: dict, answer: str, lang: str) -> str:
        """The prompt stating ``answer`` in ``lang`` (``en`` or ``zh``)."""
        raise NotImplementedError

    def read(self, text: str, options: list[str]) -> str | None:
        """Which of ``options`` a lower-cased prompt asks for; default: the first colour
        named (English or Chinese)."""
        return _first_named(text, {o: (o, ZH_COLOURS.get(o, o)) for o in options})


class ThrowDirection(LanguageKind):
    """A projectile from the frame's centre line, thrown up and to the left or right."""

    name, cond, stream = "throw_direction", 1, 0

    def variants(self, seed: int) -> dict[str, dict]:
        base = sample_params("projectile", seed)
        speed = min(abs(float(base["vx0"])), 0.19)
        return {side: round_floats({**base, "x0": 0.5, "vx0": s * speed, "language": self.name})
                for s, side in ((-1, "left"), (1, "right"))}

    def prompt(self, params: dict, answer: str, lang: str) -> str:
        return prompt_for(params, lang)

    def read(self, text: str, options: list[str]) -> str | None:
        return _first_named(text, {o: (o, "左" if o == "left" else "右") for o in options})


class BounceOrStick(LanguageKind):
    """A ball dropped onto the floor that bounces (the bounce scenario's restitution) or
    sticks (restitution 0)."""

    name, cond, stream = "bounce_or_stick", 4, 2

    def variants(self, seed: int) -> dict[str, dict]:
        base = sample_params("bounce", seed)
        return {"bounce": {**base, "vx0": 0.0, "language": self.name},
                "stick": {**base, "vx0": 0.0, "restitution": 0.0, "language": self.name}}

    def prompt(self, params: dict, answer: str, lang: str) -> str:
        if answer == "bounce":
            return prompt_for(params, lang)
        c = params["objects"][0]["color_name"]
        if lang == "zh":
            return (f"一个{ZH_COLOURS.get(c, c)}小球由静止落到灰色地面上，一落地就粘住不动，"
                    "不再弹起。镜头固定。")
        return (f"A {c} ball falls from rest onto a grey floor and sticks to it without "
                "bouncing. Static camera.")

    def read(self, text: str, options: list[str]) -> str | None:
        if any(w in text for w in _STICK):
            return "stick" if "stick" in options else None
        return "bounce" if any(w in text for w in _BOUNCE) and "bounce" in options else None


class _TwoBalls(LanguageKind):
    """Kinds with two balls of two palette colours (the variants are named by colour)."""

    def setup(self, seed: int) -> tuple[np.random.Generator, str, str, float, dict[str, Any]]:
        """(rng, colour 1, colour 2, radius, the keys every variant shares)."""
        rng = self.rng(seed)
        names = list(PALETTE)
        i, j = rng.permutation(len(names))[:2]
        c1, c2 = names[int(i)], names[int(j)]
        r = round(float(rng.uniform(0.065, 0.08)), 6)
        bg = sample_params("free_fall", seed)
        common = {"version": bg["version"], "seed": int(seed), "ood": False,
                  "duration": bg["duration"], "background": bg["background"],
                  "background_name": bg["background_name"], "texture": 0.0,
                  "texture_seed": int(seed), "language": self.name}
        return rng, c1, c2, r, common


class WhichMoves(_TwoBalls):
    """Two balls at rest; the prompt says which one slides into the other."""

    name, cond, stream = "which_moves", 1, 1

    def variants(self, seed: int) -> dict[str, dict]:
        rng, c1, c2, r, common = self.setup(seed)
        v = float(rng.uniform(0.22, 0.28))
        y0 = float(rng.uniform(0.4, 0.6))
        objs = [make_object("ball", c1, r), make_object("ball", c2, r)]
        return {c1: round_floats({**common, "scenario": "collision", "objects": objs,
                                  "x0": [0.25, 0.75], "y0": y0, "vx0": [v, 0.0],
                                  "restitution": 1.0}),
                c2: round_floats({**common, "scenario": "collision", "objects": objs,
                                  "x0": [0.25, 0.75], "y0": y0, "vx0": [0.0, -v],
                                  "restitution": 1.0})}

    def prompt(self, params: dict, answer: str, lang: str) -> str:
        names = [o["color_name"] for o in params["objects"]]
        mover = names.index(answer)
        other = names[1 - mover]
        side = 1 if mover == 0 else -1
        if lang == "zh":
            return (f"{ZH_COLOURS.get(answer, answer)}小球向{_ZH_SIDE[side]}滑去，与静止的"
                    f"{ZH_COLOURS.get(other, other)}小球发生碰撞。镜头固定。")
        return (f"The {answer} ball slides to the {_EN_SIDE[side]} and collides with the "
                f"{other} ball, which is at rest. Static camera.")


class DropColour(_TwoBalls):
    """Two balls hanging side by side; the prompt says which colour is released."""

    name, cond, stream = "drop_colour", 1, 3

    def variants(self, seed: int) -> dict[str, dict]:
        rng, c1, c2, r, common = self.setup(seed)
        g = float(rng.uniform(0.18, 0.28))
        y0 = r + 0.05
        left, right = [0.3, y0], [0.7, y0]
        out = {}
        for mover, other, place, rest in ((c1, c2, left, right), (c2, c1, right, left)):
            out[mover] = round_floats({
                **common, "scenario": "free_fall",
                "objects": [make_object("ball", mover, r), make_object("ball", other, r)],
                "x0": place[0], "y0": place[1], "vx0": 0.0, "vy0": 0.0, "g": g,
                "held": [rest]})
        return out

    def prompt(self, params: dict, answer: str, lang: str) -> str:
        other = params["objects"][1]["color_name"]
        if lang == "zh":
            return (f"两个小球并排悬在空中，{ZH_COLOURS.get(answer, answer)}小球被松开后自由落体，"
                    f"{ZH_COLOURS.get(other, other)}小球留在原处不动。镜头固定。")
        return (f"Two balls hang side by side; the {answer} ball is released and falls freely "
                f"while the {other} ball stays where it is. Static camera.")


#: The kinds, in suite order (each kind's ``stream`` is fixed separately).
_KINDS: dict[str, LanguageKind] = {k.name: k for k in (
    ThrowDirection(), WhichMoves(), BounceOrStick(), DropColour())}
KINDS: tuple[str, ...] = tuple(_KINDS)
_COND = {name: kind.cond for name, kind in _KINDS.items()}


def get_kind(kind: str) -> LanguageKind:
    if kind not in _KINDS:
        raise ValueError(f"unknown language-sensitive kind {kind!r}; known: {', '.join(KINDS)}")
    return _KINDS[kind]


def variants(kind: str, seed: int) -> dict[str, dict]:
    """The two parameter sets of one language-sensitive item (``{variant: params}``, in a
    fixed order); their first frames are identical."""
    return get_kind(kind).variants(seed)


def prompt_for_variant(params: dict, kind: str, answer: str, lang: str = "en") -> str:
    """The prompt that states ``answer`` (a key of :func:`variants`) in ``lang``."""
    return get_kind(kind).prompt(params, answer, "zh" if lang == "zh" else "en")


def read_prompt(kind: str, prompt: str, options: list[str]) -> str | None:
    """Which of ``options`` (variant names) a prompt asks for, by keywords in English or
    Chinese; None when the prompt does not say (empty, other language, other wording).
    Colour kinds take the first colour named in the prompt."""
    reader = _KINDS.get(kind) or _KINDS["which_moves"]
    return reader.read(prompt.lower(), options)


def make_lang_item(kind: str, seed: int, answer: str, *, num_frames: int = 16, size: int = 32,
                   fps: float = 8.0) -> SuiteItem:
    """One language-sensitive item: ``meta["physics"]`` is the variant ``answer``."""
    vs = variants(kind, seed)
    if answer not in vs:
        raise ValueError(f"{kind}: unknown variant {answer!r}; known: {', '.join(vs)}")
    p = vs[answer]
    k = _COND[kind]
    meta = {"physics": p, "scenario": p["scenario"], "bucket": "lang", "cond_frames": k,
            "render": {"num_frames": int(num_frames), "height": size, "width": size,
                       "fps": float(fps)},
            "language": {"kind": kind, "answer": answer, "variants": vs}}
    tag = "ab"[list(vs).index(answer)]
    return SuiteItem(item=f"lang-{kind}-{seed:03d}{tag}",
                     prompt=prompt_for_variant(p, kind, answer, "en"), seed=int(seed),
                     num_frames=int(num_frames), height=size, width=size, fps=float(fps),
                     meta=meta, conditioning=partial(render, p, k, (size, size), float(fps)))


def physics_lang(seeds: int = 2) -> Suite:
    """4 kinds x 2 variants x ``seeds`` seeds (16 items), 16 frames 32x32 @ 8 fps, like
    physics-mini."""
    items = [make_lang_item(kind, seed, answer)
             for kind in KINDS for seed in range(seeds) for answer in variants(kind, seed)]
    return Suite(name="physics-lang",
                 description="language-sensitive physics: the prompt decides direction, which "
                             "ball moves, bounce or stick, which colour drops (16 items, 32x32)",
                 items=items, version="1", metrics=("physics_scenario",))
