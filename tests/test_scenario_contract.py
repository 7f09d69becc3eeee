"""A new physics scenario is one :class:`vidbench.scenarios.Scenario` subclass plus one
registration line: a throw-away scenario registered here is sampled, checked, rendered (with
its own scenery), prompted in English and Chinese, made into a suite item, corrupted and
scored by ``physics_scenario`` with its own checks, with no other file touched."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from vidbench.metrics.physics_scenario import score_frames
from vidbench.scenarios import (
    SCENARIOS,
    Checks,
    Sampler,
    Scenario,
    Track,
    check_params,
    make_item,
    physics_params,
    prompt_for,
    register_scenario,
    render,
    render_item,
    sample_params,
    scenario_names,
    static_layer,
    trajectory,
    unregister_scenario,
)
from vidbench.scenarios.base import colour_name, empty_state, make_object, score
from vidbench.scenarios.corrupt import applies, corrupt
from vidbench.suites import get_suite


class Glide(Scenario):
    """A ball sliding right at constant speed above a grey stripe (the test's scenery)."""

    name = "test_glide"
    ranges = {"radius": ((0.08, 0.10), ((0.06, 0.07), (0.11, 0.12))),
              "speed": ((0.20, 0.30), ((0.10, 0.15), (0.35, 0.40)))}
    required = ("x0", "y0", "vx0")

    def sample(self, s: Sampler) -> dict[str, Any]:
        return {"objects": [make_object("ball", s.colours[0], s.radius)],
                "x0": 0.2, "y0": 0.4, "vx0": s.draw("speed"), "stripe_y": 0.8}

    def motion(self, p: dict, t: np.ndarray) -> dict[str, Any]:
        o = empty_state(t, 1)
        o["x"][0] = p["x0"] + p["vx0"] * t
        o["y"][0] = p["y0"]
        o["vx"][0] = p["vx0"]
        return o

    def scenery(self, params: dict, xx: np.ndarray, yy: np.ndarray, h: int, w: int
                ) -> np.ndarray | None:
        return np.clip(yy - params["stripe_y"] * h + 0.5, 0, 1) * np.ones((1, w))

    def prompt_en(self, params: dict) -> str:
        return f"A {colour_name(params, 0)} ball glides to the right."

    def prompt_zh(self, params: dict) -> str:
        return f"一个{colour_name(params, 0, 'zh')}小球向右滑行"

    def check(self, track: Track, out: Checks) -> None:
        vx = np.polyfit(track.tt, track.xx, 1)[0]
        out.law["speed"] = score(abs(vx - track.params["vx0"]) / track.params["vx0"], 0.2)
        out.raw["vx_est"] = float(vx)


@pytest.fixture
def glide():
    register_scenario(Glide)
    yield Glide
    unregister_scenario(Glide.name)


def test_a_registered_class_is_a_whole_scenario(glide):
    assert glide.name in scenario_names()
    assert glide.name not in SCENARIOS  # the built-in suites do not change
    p = sample_params(glide.name, 3)
    check_params(p)
    assert p == sample_params(glide.name, 3) and p != sample_params(glide.name, 4)
    assert 0.20 <= p["vx0"] <= 0.30 and not (0.20 <= sample_params(glide.name, 3, True)["vx0"]
                                             <= 0.30)
    tr = trajectory(p, [0.0, 1.0])
    assert tr["x"][0, 1] == pytest.approx(0.2 + p["vx0"]) and tr["visible"].all()
    colour = p["objects"][0]["color"]
    frames = render(p, 8, 40, 4.0)
    # the ball is drawn where the class's motion puts it: the colour-matched centroid
    for k in (0, 7):
        match = np.all(np.abs(frames[k].astype(int) - colour) < 30, axis=-1)
        cx = (np.nonzero(match)[1] + 0.5).mean() / 40
        assert cx == pytest.approx(0.2 + p["vx0"] * k / 4.0, abs=0.02)
    # its scenery hook draws the stripe below stripe_y, nothing above
    bg = static_layer(p, 40)
    assert np.allclose(bg[35], 140) and np.allclose(bg[20], p["background"])
    assert prompt_for(p) == f"A {p['objects'][0]['color_name']} ball glides to the right. " \
                            "Static camera."
    assert prompt_for(p, "zh").endswith("小球向右滑行。镜头固定。")
    item = make_item(glide.name, 3, num_frames=16, size=32, fps=8.0)
    assert physics_params(item.meta) == p and item.item == "test_glide-id-003"
    assert np.array_equal(render_item(item)[:4], item.conditioning_frames())


def test_the_metric_scores_a_registered_scenario_with_its_own_checks(glide):
    p = sample_params(glide.name, 1)
    t = np.arange(16) / 8.0
    meta = {"physics": p, "cond_frames": 4, "render": {"fps": 8.0}}
    clean = score_frames(render(p, 16, 64, 8.0), t, p, meta=meta)
    assert clean.value > 0.9
    assert set(clean.details["checks"]["law"]) == {"speed"}
    assert clean.details["vx_est"] == pytest.approx(p["vx0"], rel=0.05)
    assert clean.details["scenario"] == glide.name
    # generic corruptions apply, the scenario-specific ones do not
    assert applies("teleport", glide.name) and not applies("anti_gravity", glide.name)
    bad = score_frames(corrupt(p, "teleport", 16, 64, 8.0), t, p, meta=meta)
    assert bad.value < clean.value - 0.2
    with pytest.raises(ValueError, match="does not apply"):
        corrupt(p, "anti_gravity", 16, 64, 8.0)


def test_unknown_and_unregistered_scenarios_are_refused(glide):
    unregister_scenario(glide.name)
    with pytest.raises(ValueError, match="unknown physics scenario 'test_glide'; known: "
                                         "uniform_motion"):
        sample_params(glide.name, 0)
    assert physics_params({"physics": {"scenario": glide.name}}) is None
    with pytest.raises(ValueError, match="built-in"):
        unregister_scenario("bounce")


def test_physics_suites_are_untouched_by_an_extra_scenario(glide):
    items = get_suite("physics-mini").items
    assert [it.meta["scenario"] for it in items[:7]] == list(SCENARIOS)
    assert math.isclose(items[0].fps, 8.0) and len(items) == 12
