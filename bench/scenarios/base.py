"""The :class:`Scenario` contract: one object per physics scenario owns everything that
differs between scenarios (parameter ranges and sampling, the closed-form trajectory, its
scenery, its prompts in English and Chinese, its law checks and the scenario-specific
corruptions it supports). The shared machinery (sampling prefix, renderer, items, the
``physics_scenario`` metric) calls these hooks and never switches on a scenario's name.

Adding a scenario: subclass :class:`Scenario` in a module of its own and register it with
:func:`vidbench.scenarios.catalogue.register_scenario` (the built-ins are registered in
:mod:`vidbench.scenarios.catalogue`; see docs/architecture.md).

Units: the scene is the unit square, ``x`` right, ``y`` **down**, time in seconds (see
:mod:`vidbench.scenarios.params`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

#: Schema version of the parameter dicts (bump when the meaning of a key changes).
PARAMS_VERSION = 1

#: Nominal scene length in seconds: sampled scenes keep their action inside [0, DURATION].
DURATION = 2.0

#: Saturated object colours (name -> RGB). Objects are keyed by hue, so they are far from grey.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "blue": (40, 90, 235),
    "green": (40, 190, 70),
    "yellow": (235, 205, 35),
    "magenta": (205, 50, 205),
    "cyan": (35, 200, 220),
    "orange": (245, 135, 30),
}

#: Low-saturation backgrounds (name -> RGB); static scenery (floor, ramp, rod) is grey.
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "black": (10, 10, 10),
    "dark grey": (35, 35, 38),
    "charcoal": (55, 52, 50),
}
SCENERY_GREY = (140, 140, 140)
ROD_GREY = (120, 120, 120)

#: Rolling solid sphere without slipping: acceleration along a slope is 5/7 g sin(angle).
ROLLING_FACTOR = 5.0 / 7.0

#: Colour and background names in Chinese (the palette above, plus scenery grey).
ZH_COLOURS: dict[str, str] = {"red": "红色", "blue": "蓝色", "green": "绿色", "yellow": "黄色",
                              "magenta": "品红色", "cyan": "青色", "orange": "橙色",
                              "grey": "灰色"}
ZH_BACKGROUNDS: dict[str, str] = {"black": "黑色", "dark grey": "深灰色", "charcoal": "炭灰色",
                                  "dark": "深色"}

Interval = tuple[float, float]
#: parameter -> (ID interval, OOD intervals on both sides of it)
Ranges = dict[str, tuple[Interval, tuple[Interval, ...]]]

#: The smallest sub-score a check gives (so a geometric mean stays finite).
FLOOR = 1e-3


# ------------------------------------------------------------------------- small helpers


def rgb(c: tuple[int, int, int]) -> list[int]:
    return [int(v) for v in c]


def make_object(name: str, color_name: str, radius: float) -> dict[str, Any]:
    """An object entry of a parameter dict; mass is proportional to radius^2."""
    return {"name": name, "color_name": color_name, "color": rgb(PALETTE[color_name]),
            "radius": round(radius, 6), "mass": round(radius * radius, 8)}


def round_floats(x: Any) -> Any:
    """Round floats to 9 significant decimals so the dict survives a JSON round trip
    exactly (the manifest carries it)."""
    if isinstance(x, dict):
        return {k: round_floats(v) for k, v in x.items()}
    if isinstance(x, list):
        return [round_floats(v) for v in x]
    if isinstance(x, float):
        return float(round(x, 9))
    return x


def colour_name(params: dict, index: int, lang: str = "en") -> str:
    """The colour name of object ``index`` in ``lang`` (``en`` or ``zh``)."""
    name = params["objects"][index]["color_name"]
    return ZH_COLOURS.get(name, name) if lang == "zh" else name


def background_name(params: dict, lang: str = "en") -> str:
    name = params.get("background_name", "dark")
    return ZH_BACKGROUNDS.get(name, name) if lang == "zh" else name


def empty_state(times: np.ndarray, n: int) -> dict[str, Any]:
    """Zeroed state arrays ``x, y, vx, vy`` (n, T) and no events, at ``times``."""
    z = np.zeros((n, len(times)))
    return {"t": times, "x": z.copy(), "y": z.copy(), "vx": z.copy(), "vy": z.copy(),
            "events": []}


def score(err: float, tau: float) -> float:
    """A check's sub-score ``exp(-max(err, 0) / tau)`` in (0, 1]; FLOOR for a non-finite
    error."""
    return float(math.exp(-max(err, 0.0) / tau)) if math.isfinite(err) else FLOOR


def fit_poly(t: np.ndarray, v: np.ndarray, deg: int) -> np.ndarray:
    return np.polyfit(t, v, deg)


# ------------------------------------------------------------------------------ sampling


@dataclass
class Sampler:
    """What a scenario's :meth:`Scenario.sample` draws from: the seeded ``rng`` (already
    advanced past the shared draws: colours, background, radius, direction), the bucket,
    the first object's ``radius``, a random ``direction`` (+1 / -1) and two distinct
    palette colours."""

    rng: np.random.Generator
    ranges: Ranges
    ood: bool
    radius: float
    direction: int
    colours: tuple[str, str]
    duration: float = DURATION

    def draw(self, key: str) -> float:
        """A value of the declared range ``key``: uniform on the ID interval, or (OOD) on
        the OOD intervals, each picked with probability proportional to its width."""
        id_iv, ood_ivs = self.ranges[key]
        if not self.ood:
            return float(self.rng.uniform(*id_iv))
        widths = np.array([hi - lo for lo, hi in ood_ivs])
        j = int(self.rng.choice(len(ood_ivs), p=widths / widths.sum()))
        return float(self.rng.uniform(*ood_ivs[j]))


# -------------------------------------------------------------------------------- checks


@dataclass
class Track:
    """A video's measured object states, in scene time, for a scenario's law checks.

    ``tau`` (T,) scene times; ``gx``, ``gy`` (N, T) measured centroids; ``shown`` (N, T)
    where the object was found (fully in view); ``truth`` the ground-truth trajectory at
    ``tau``. ``m`` selects the frames where object 0 was found; ``tt``, ``xx``, ``yy`` are
    its times and centroid there; ``span`` the time they cover; ``r0`` its radius."""

    params: dict
    tau: np.ndarray
    gx: np.ndarray
    gy: np.ndarray
    shown: np.ndarray
    truth: dict

    def __post_init__(self) -> None:
        self.m = self.shown[0] & np.isfinite(self.gx[0])
        self.tt, self.xx, self.yy = self.tau[self.m], self.gx[0][self.m], self.gy[0][self.m]
        self.span = float(self.tt.max() - self.tt.min()) if len(self.tt) else 0.0
        self.r0 = float(self.params["objects"][0]["radius"])


@dataclass
class Checks:
    """Sub-scores in [0, 1] a scenario's checks fill in: ``law`` (recovered law parameters),
    ``conservation``, ``invariant`` (time-scale invariant shape checks), and ``raw`` (the
    measured quantities, for details)."""

    law: dict[str, float] = field(default_factory=dict)
    conservation: dict[str, float] = field(default_factory=dict)
    invariant: dict[str, float] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------ the contract


class Scenario:
    """One procedural physics scenario. Subclasses set the class attributes and implement
    :meth:`sample`, :meth:`motion`, :meth:`prompt_en`, :meth:`prompt_zh` and :meth:`check`;
    the scenery and corruption hooks default to "none"."""

    #: the scenario's name (``params["scenario"]``)
    name: ClassVar[str]
    #: declared ID/OOD ranges of the sampled law parameters (``radius`` always)
    ranges: ClassVar[Ranges]
    #: keys a parameter dict must hold besides ``objects``
    required: ClassVar[tuple[str, ...]]
    #: objects a parameter dict must list
    n_objects: ClassVar[int] = 1
    #: scenario-specific corruptions (:mod:`vidbench.scenarios.corrupt`) that apply to it
    corruptions: ClassVar[tuple[str, ...]] = ()
    #: whether its law checks need object 0 found in 3 or more frames
    needs_main_track: ClassVar[bool] = True

    # -- parameters

    def sample(self, s: Sampler) -> dict[str, Any]:
        """The scenario's keys of a new parameter dict (objects, initial conditions, law
        parameters, scenery), drawn from ``s`` in a fixed order."""
        raise NotImplementedError

    def objects_needed(self, params: dict) -> int:
        """How many objects ``params`` must list (raises ValueError on a bad extra key)."""
        if params.get("held") is not None:
            raise ValueError("'held' (free_fall only) must be a list of [x, y] places")
        return self.n_objects

    # -- dynamics

    def motion(self, p: dict, t: np.ndarray) -> dict[str, Any]:
        """Closed-form state at times ``t``: ``{"t", "x", "y", "vx", "vy": (N, T),
        "events": [...]}`` plus scenario extras (:func:`vidbench.scenarios.trajectory`
        adds radii and visibility)."""
        raise NotImplementedError

    # -- rendering

    def scenery(self, params: dict, xx: np.ndarray, yy: np.ndarray, h: int, w: int
                ) -> np.ndarray | None:
        """Coverage (H, W) in [0, 1] of the fixed scenery (drawn in ``floor_color``), or
        None; ``xx``/``yy`` are pixel-centre coordinates in pixels."""
        return None

    def draw_props(self, img: np.ndarray, params: dict, x: np.ndarray, y: np.ndarray,
                   present: np.ndarray | None) -> None:
        """Draw what moves with the objects but is not one (a pendulum's rod) into one
        float frame ``img`` before the objects; ``x``, ``y`` (N,) normalised centres at
        that frame, ``present`` (N,) or None."""

    # -- language

    def prompt(self, params: dict, lang: str = "en") -> str:
        """A one-sentence description of the scene (colours, motion, static camera) in
        English or (``lang="zh"``) Chinese as a native speaker would write it."""
        if lang == "zh":
            return self.prompt_zh(params) + "。镜头固定。"
        return self.prompt_en(params) + " Static camera."

    def prompt_en(self, params: dict) -> str:
        """The English sentence, with its full stop (" Static camera." is appended)."""
        raise NotImplementedError

    def prompt_zh(self, params: dict) -> str:
        """The Chinese clause, without its full stop ("。镜头固定。" is appended)."""
        raise NotImplementedError

    # -- checks

    def check(self, track: Track, out: Checks) -> None:
        """Fill ``out`` with law / conservation / invariant sub-scores of a measured
        ``track`` (scene time). Must not depend on the absolute speed (that is timing)."""
        raise NotImplementedError

    # -- corruptions

    def reverse_gravity(self, params: dict) -> None:
        """Edit ``params`` in place so gravity points up and the motion stays in view
        (the ``anti_gravity`` corruption; only for scenarios listing it)."""
        raise ValueError(f"anti_gravity does not apply to scenario {self.name!r}")
