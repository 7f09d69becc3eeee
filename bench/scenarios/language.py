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
"""

from __future__ import annotations

from functools import partial

import numpy as np

from vidbench.scenarios.base import PALETTE, ZH_COLOURS
from vidbench.scenarios.base import make_object as _object
from vidbench.scenarios.base import round_floats as _round_floats
from vidbench.scenarios.items import prompt_for
from vidbench.scenarios.params import sample_params
from vidbench.scenarios.render import render
from vidbench.suite_model import Suite, SuiteItem

KINDS: tuple[str, ...] = ("throw_direction", "which_moves", "bounce_or_stick", "drop_colour")
_COND = {"throw_direction": 1, "which_moves": 1, "bounce_or_stick": 4, "drop_colour": 1}
_EN_SIDE = {1: "right", -1: "left"}
_ZH_SIDE = {1: "右", -1: "左"}


def _two_colours(rng: np.random.Generator) -> tuple[str, str]:
    names = list(PALETTE)
    i, j = rng.permutation(len(names))[:2]
    return names[int(i)], names[int(j)]


def variants(kind: str, seed: int) -> dict[str, dict]:
    """The two parameter sets of one language-sensitive item (``{variant: params}``, in a
    fixed order); their first frames are identical."""
    rng = np.random.default_rng([int(seed), 1000 + KINDS.index(kind)])
    if kind == "throw_direction":
        base = sample_params("projectile", seed)
        speed = min(abs(float(base["vx0"])), 0.19)
        return {side: _round_floats({**base, "x0": 0.5, "vx0": s * speed, "language": kind})
                for s, side in ((-1, "left"), (1, "right"))}
    if kind == "bounce_or_stick":
        base = sample_params("bounce", seed)
        return {"bounce": {**base, "vx0": 0.0, "language": kind},
                "stick": {**base, "vx0": 0.0, "restitution": 0.0, "language": kind}}
    c1, c2 = _two_colours(rng)
    r = round(float(rng.uniform(0.065, 0.08)), 6)
    bg = sample_params("free_fall", seed)
    common = {"version": bg["version"], "seed": int(seed), "ood": False,
              "duration": bg["duration"], "background": bg["background"],
              "background_name": bg["background_name"], "texture": 0.0,
              "texture_seed": int(seed), "language": kind}
    if kind == "which_moves":
        v = float(rng.uniform(0.22, 0.28))
        y0 = float(rng.uniform(0.4, 0.6))
        objs = [_object("ball", c1, r), _object("ball", c2, r)]
        return {c1: _round_floats({**common, "scenario": "collision", "objects": objs,
                                   "x0": [0.25, 0.75], "y0": y0, "vx0": [v, 0.0],
                                   "restitution": 1.0}),
                c2: _round_floats({**common, "scenario": "collision", "objects": objs,
                                   "x0": [0.25, 0.75], "y0": y0, "vx0": [0.0, -v],
                                   "restitution": 1.0})}
    if kind == "drop_colour":
        g = float(rng.uniform(0.18, 0.28))
        y0 = r + 0.05
        left, right = [0.3, y0], [0.7, y0]
        out = {}
        for mover, other, place, rest in ((c1, c2, left, right), (c2, c1, right, left)):
            out[mover] = _round_floats({
                **common, "scenario": "free_fall",
                "objects": [_object("ball", mover, r), _object("ball", other, r)],
                "x0": place[0], "y0": place[1], "vx0": 0.0, "vy0": 0.0, "g": g,
                "held": [rest]})
        return out
    raise ValueError(f"unknown language-sensitive kind {kind!r}; known: {', '.join(KINDS)}")


def prompt_for_variant(params: dict, kind: str, answer: str, lang: str = "en") -> str:
    """The prompt that states ``answer`` (a key of :func:`variants`) in ``lang``."""
    zh = lang == "zh"
    objs = params["objects"]

    def col(name: str) -> str:
        return ZH_COLOURS.get(name, name) if zh else name

    if kind == "throw_direction":
        return prompt_for(params, lang)
    if kind == "bounce_or_stick":
        c = col(objs[0]["color_name"])
        if answer == "bounce":
            return prompt_for(params, lang)
        return (f"一个{c}小球由静止落到灰色地面上，一落地就粘住不动，不再弹起。镜头固定。" if zh
                else f"A {c} ball falls from rest onto a grey floor and sticks to it without "
                     "bouncing. Static camera.")
    if kind == "which_moves":
        names = [o["color_name"] for o in objs]
        mover = names.index(answer)
        other = col(names[1 - mover])
        side = 1 if mover == 0 else -1
        return (f"{col(answer)}小球向{_ZH_SIDE[side]}滑去，与静止的{other}小球发生碰撞。镜头固定。"
                if zh else f"The {answer} ball slides to the {_EN_SIDE[side]} and collides with "
                           f"the {other} ball, which is at rest. Static camera.")
    if kind == "drop_colour":
        other = col(objs[1]["color_name"])
        return (f"两个小球并排悬在空中，{col(answer)}小球被松开后自由落体，"
                f"{other}小球留在原处不动。镜头固定。" if zh else
                f"Two balls hang side by side; the {answer} ball is released and falls freely "
                f"while the {other} ball stays where it is. Static camera.")
    raise ValueError(f"unknown language-sensitive kind {kind!r}")


_STICK = ("stick", "without bouncing", "不再弹起", "粘住")
_BOUNCE = ("bounce", "弹跳", "弹起")


def read_prompt(kind: str, prompt: str, options: list[str]) -> str | None:
    """Which of ``options`` (variant names) a prompt asks for, by keywords in English or
    Chinese; None when the prompt does not say (empty, other language, other wording).
    Colour kinds take the first colour named in the prompt."""
    text = prompt.lower()
    if kind == "throw_direction":
        hits = {o: min((text.find(w) for w in (o, "左" if o == "left" else "右")
                        if w in text), default=-1) for o in options}
    elif kind == "bounce_or_stick":
        if any(w in text for w in _STICK):
            return "stick" if "stick" in options else None
        return "bounce" if any(w in text for w in _BOUNCE) and "bounce" in options else None
    else:
        hits = {o: min((text.find(w) for w in (o, ZH_COLOURS.get(o, o)) if w in text),
                       default=-1) for o in options}
    found = {o: i for o, i in hits.items() if i >= 0}
    return min(found, key=found.__getitem__) if found else None


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
