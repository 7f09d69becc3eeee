"""Suite items for the physics scenarios: prompt, conditioning frames and ground truth in
``meta`` (JSON-able, it travels in the manifest so any model's video can be scored)."""

from __future__ import annotations

from functools import partial

import numpy as np

from vidbench.scenarios.params import SCENARIOS, sample_params
from vidbench.scenarios.render import render
from vidbench.suite_model import SuiteItem

#: Colour and background names in Chinese (the palette of :mod:`vidbench.scenarios.params`).
ZH_COLOURS: dict[str, str] = {"red": "红色", "blue": "蓝色", "green": "绿色", "yellow": "黄色",
                              "magenta": "品红色", "cyan": "青色", "orange": "橙色",
                              "grey": "灰色"}
ZH_BACKGROUNDS: dict[str, str] = {"black": "黑色", "dark grey": "深灰色", "charcoal": "炭灰色",
                                  "dark": "深色"}


def prompt_for(params: dict, lang: str = "en") -> str:
    """A one-sentence description of the scene (colours, motion, static camera), in English
    or (``lang="zh"``) in Chinese as a native speaker would write it."""
    if lang == "zh":
        return prompt_for_zh(params)
    s = params["scenario"]
    objs = params["objects"]
    c1 = objs[0]["color_name"]
    bg = params.get("background_name", "dark")
    if s == "uniform_motion":
        side = "right" if params["vx0"] > 0 else "left"
        text = (f"A {c1} ball glides to the {side} at constant speed across a {bg} "
                "background.")
    elif s == "free_fall":
        text = f"A {c1} ball falls from rest against a {bg} background."
    elif s == "projectile":
        side = "right" if params["vx0"] > 0 else "left"
        text = f"A {c1} ball is thrown up and to the {side} and flies in an arc."
    elif s == "bounce":
        text = f"A {c1} ball falls from rest and bounces on a grey floor."
    elif s == "collision":
        c2 = objs[1]["color_name"]
        text = f"A {c1} ball slides along a line and collides with a {c2} ball."
    elif s == "pendulum":
        text = f"A {c1} pendulum bob swings from a fixed pivot on a grey rod."
    elif s == "incline":
        text = f"A {c1} ball rolls down a grey ramp from rest onto the floor."
    else:  # pragma: no cover - guarded by sample_params
        raise ValueError(s)
    return text + " Static camera."


def prompt_for_zh(params: dict) -> str:
    """The Chinese twin of :func:`prompt_for` (same facts, native phrasing, not word for
    word: 匀速, 自由落体, 抛物线, 弹跳, 碰撞, 单摆, 斜面滚动)."""
    s = params["scenario"]
    objs = params["objects"]
    c1 = ZH_COLOURS.get(objs[0]["color_name"], objs[0]["color_name"])
    bg = params.get("background_name", "dark")
    bg = ZH_BACKGROUNDS.get(bg, bg)
    if s == "uniform_motion":
        side = "右" if params["vx0"] > 0 else "左"
        text = f"一个{c1}小球在{bg}背景上匀速向{side}滑行"
    elif s == "free_fall":
        text = f"一个{c1}小球在{bg}背景前由静止开始自由落体"
    elif s == "projectile":
        side = "右" if params["vx0"] > 0 else "左"
        text = f"一个{c1}小球被斜向{side}上方抛出，沿抛物线飞行"
    elif s == "bounce":
        text = f"一个{c1}小球由静止落下，在灰色地面上弹跳"
    elif s == "collision":
        c2 = ZH_COLOURS.get(objs[1]["color_name"], objs[1]["color_name"])
        text = f"一个{c1}小球沿直线滑行，与一个{c2}小球发生碰撞"
    elif s == "pendulum":
        text = f"一个单摆的{c1}摆球挂在灰色摆杆下，绕固定支点来回摆动"
    elif s == "incline":
        text = f"一个{c1}小球由静止沿灰色斜面滚下，一直滚到地面上"
    else:  # pragma: no cover - guarded by sample_params
        raise ValueError(s)
    return text + "。镜头固定。"


def _hw(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def make_item(scenario: str, seed: int, ood: bool = False, *, num_frames: int = 16,
              size: int | tuple[int, int] = 32, fps: float = 8.0, cond_frames: int = 4,
              params: dict | None = None) -> SuiteItem:
    """A :class:`~vidbench.suites.SuiteItem` for one scenario instance.

    ``meta`` = ``{"physics": params, "scenario", "bucket": "id"|"ood", "cond_frames": K,
    "render": {"num_frames", "height", "width", "fps"}}``; ``conditioning()`` returns the
    first ``K`` ground-truth frames (K, H, W, 3) uint8 at the item's size and fps.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown physics scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    if cond_frames < 0 or cond_frames > num_frames:
        raise ValueError(f"cond_frames must be in [0, num_frames={num_frames}], got {cond_frames}")
    p = params if params is not None else sample_params(scenario, seed, ood)
    h, w = _hw(size)
    bucket = "ood" if ood else "id"
    meta = {"physics": p, "scenario": scenario, "bucket": bucket, "cond_frames": int(cond_frames),
            "render": {"num_frames": int(num_frames), "height": h, "width": w,
                       "fps": float(fps)}}
    cond = partial(render, p, cond_frames, (h, w), float(fps)) if cond_frames > 0 else None
    return SuiteItem(item=f"{scenario}-{bucket}-{seed:03d}", prompt=prompt_for(p), seed=int(seed),
                     num_frames=int(num_frames), height=h, width=w, fps=float(fps), meta=meta,
                     conditioning=cond)


def render_item(item: SuiteItem) -> np.ndarray:
    """The ground-truth video of a physics item at the item's shape."""
    p = physics_params(item.meta)
    if p is None:
        raise ValueError(f"item {item.item!r} has no physics parameters in meta")
    return render(p, item.num_frames, (item.height, item.width), item.fps)


def physics_params(meta: dict | None) -> dict | None:
    """The scenario parameters of a suite item / manifest ``meta``, or None."""
    if not isinstance(meta, dict):
        return None
    p = meta.get("physics")
    return p if isinstance(p, dict) and p.get("scenario") in SCENARIOS else None
