"""Suite items for the physics scenarios: prompt, conditioning frames and ground truth in
``meta`` (JSON-able, it travels in the manifest so any model's video can be scored)."""

from __future__ import annotations

from functools import partial

import numpy as np

from vidbench.scenarios.base import ZH_BACKGROUNDS, ZH_COLOURS
from vidbench.scenarios.catalogue import find_scenario, get_scenario
from vidbench.scenarios.params import sample_params
from vidbench.scenarios.render import render
from vidbench.suite_model import SuiteItem

__all__ = ["ZH_BACKGROUNDS", "ZH_COLOURS", "make_item", "physics_params", "prompt_for",
           "prompt_for_zh", "render_item"]


def prompt_for(params: dict, lang: str = "en") -> str:
    """A one-sentence description of the scene (colours, motion, static camera), in English
    or (``lang="zh"``) in Chinese as a native speaker would write it (the scenario's
    :meth:`~vidbench.scenarios.base.Scenario.prompt`)."""
    return get_scenario(params["scenario"]).prompt(params, lang)


def prompt_for_zh(params: dict) -> str:
    """The Chinese twin of :func:`prompt_for` (same facts, native phrasing, not word for
    word: 匀速, 自由落体, 抛物线, 弹跳, 碰撞, 单摆, 斜面滚动)."""
    return prompt_for(params, "zh")


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
    get_scenario(scenario)  # ValueError naming the known ones
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
    return p if isinstance(p, dict) and find_scenario(p.get("scenario")) is not None else None
