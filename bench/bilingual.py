"""Paired language twins of the built-in suites (English / Chinese).

Every built-in suite has a Chinese twin: the same items, seeds, shapes, conditioning frames
and ground truth (``meta``), with the prompt written as a native speaker would write it.
A twin is selected with a language suffix on the suite name, ``NAME@LANGS``:

- ``physics-mini`` (or ``physics-mini@en``): the English suite exactly as before (items carry
  no ``lang``/``pair``, so manifests and results of English-only runs do not change);
- ``physics-mini@zh``: the Chinese twin alone; item ids get a ``-zh`` suffix;
- ``physics-mini@en,zh``: both, English items first. Every item carries ``lang`` (BCP-47)
  and ``pair`` (the English item's id), which the manifest records, so an English item and
  its Chinese twin are known to be the same request.

The CLI's ``--lang en,zh`` is the same as ``--suite NAME@en,zh``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from vidbench.errors import UserError
from vidbench.suite_model import Suite, SuiteItem

#: Languages a twin can be asked in (BCP-47 primary tags).
LANGUAGES: tuple[str, ...] = ("en", "zh")

#: Chinese twins of the ``quality-mini`` prompts (same order as
#: :data:`vidbench.quality_suite.PROMPTS`).
QUALITY_ZH: tuple[str, ...] = (
    "木桌上摆着三个柠檬的静物，窗边洒进柔和的光线，固定镜头。",
    "黄昏时分空无一人的图书馆阅览室，一切静止不动，固定镜头。",
    "一只金毛寻回犬走过绿油油的草坪，跟拍镜头。",
    "日落时分，一辆红色跑车沿着海滨公路飞驰。",
    "礁石海岸上矗立着一座灯塔，海浪一阵阵涌上来，远景。",
    "聚光灯下，一位芭蕾舞演员在空荡荡的舞台上缓缓旋转。",
    "夜空中，烟花在城市天际线上方绽放。",
    "一只纸船顺着林间的小溪缓缓漂流而下。",
    "一只蜂鸟悬停在紫色花朵旁边的特写镜头。",
    "雪花轻轻飘落在宁静的山村里，固定镜头。",
    "厨师在白色砧板上切番茄，俯拍视角。",
    "云朵掠过麦田的延时摄影。",
)

_SYN_COLOURS = {"red": "红色", "green": "绿色", "blue": "蓝色", "yellow": "黄色"}
_SYN_DIRECTIONS = {"right": "向右", "left": "向左", "down": "向下", "up": "向上"}


def _synthetic_zh(item: SuiteItem) -> str:
    syn = item.meta.get("synthetic", {})
    colour = _SYN_COLOURS[syn["color"]]
    if syn["direction"] == "still":
        return f"一个{colour}小球静静地停在深色背景上，固定镜头。"
    return f"一个{colour}小球在深色背景上{_SYN_DIRECTIONS[syn['direction']]}移动，固定镜头。"


def _quality_zh(item: SuiteItem) -> str:
    from vidbench.quality_suite import PROMPTS

    index = [p for p, _ in PROMPTS].index(item.prompt)
    return QUALITY_ZH[index]


def _physics_zh(item: SuiteItem) -> str:
    from vidbench.scenarios.items import prompt_for

    return prompt_for(item.meta["physics"], "zh")


def _physics_lang_zh(item: SuiteItem) -> str:
    from vidbench.scenarios.language import prompt_for_variant

    lang = item.meta["language"]
    return prompt_for_variant(item.meta["physics"], lang["kind"], lang["answer"], "zh")


#: Suite name -> function giving an English item's prompt in Chinese.
TRANSLATORS: dict[str, Callable[[SuiteItem], str]] = {
    "synthetic-mini": _synthetic_zh,
    "quality-mini": _quality_zh,
    "physics-mini": _physics_zh,
    "physics-val": _physics_zh,
    "physics": _physics_zh,
    "physics-lang": _physics_lang_zh,
}


def suite_languages(name: str) -> tuple[str, ...]:
    """Languages a suite can be generated in (``("en",)`` for a suite without twins)."""
    return LANGUAGES if name in TRANSLATORS else ("en",)


def parse_languages(spec: str | None) -> tuple[str, ...]:
    """``"en"``, ``"zh"``, ``"en,zh"`` -> a tuple of known languages, in the given order,
    without repeats; anything else is a :class:`UserError`."""
    text = "en" if spec is None else spec
    langs = tuple(dict.fromkeys(x.strip().lower() for x in text.split(",") if x.strip()))
    bad = [x for x in langs if x not in LANGUAGES]
    if not langs or bad:
        raise UserError(f"unknown language {', '.join(bad) or repr(spec)}; known: "
                        f"{', '.join(LANGUAGES)} (comma-separated, e.g. en,zh)")
    return langs


def twin_id(item_id: str, lang: str) -> str:
    """The id of ``item_id``'s twin in ``lang`` (the English id is unchanged)."""
    return item_id if lang == "en" else f"{item_id}-{lang}"


def translate(suite_name: str, item: SuiteItem, lang: str) -> str:
    """``item``'s prompt in ``lang``."""
    if lang == "en":
        return item.prompt
    return TRANSLATORS[suite_name](item)


def with_languages(suite: Suite, spec: str | None) -> Suite:
    """``suite`` in the languages of ``spec`` (see the module docstring). English alone
    returns ``suite`` unchanged."""
    langs = parse_languages(spec)
    if langs == ("en",):
        return suite
    if suite.name not in TRANSLATORS:
        raise UserError(f"suite {suite.name!r} has no language twins (only English); suites "
                        f"with twins: {', '.join(TRANSLATORS)}")
    items = [dataclasses.replace(it, item=twin_id(it.item, lang),
                                 prompt=translate(suite.name, it, lang), lang=lang,
                                 pair=it.item)
             for lang in langs for it in suite.items]
    return dataclasses.replace(
        suite, name=f"{suite.name}@{','.join(langs)}", items=items,
        description=f"{suite.description} [{'/'.join(langs)} paired twins]")
