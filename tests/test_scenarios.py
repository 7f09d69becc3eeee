"""The procedural physics scenario library: parameters, closed-form laws, renderer, items,
suites. Physical checks use independent routes (finite differences, conservation laws, a
numerical integrator, scipy's elliptic functions), not the code's own formulas."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vidbench.scenarios import (
    RANGES,
    SCENARIOS,
    in_range,
    make_item,
    render,
    render_item,
    sample_params,
    static_layer,
    trajectory,
)
from vidbench.scenarios.dynamics import ellipj, ellipk, incline_geometry
from vidbench.scenarios.params import ROLLING_FACTOR
from vidbench.suites import get_suite

SEEDS = range(6)


def _law_values(p: dict) -> dict[str, float]:
    """The declared-range parameters as they can be read back from a parameter dict."""
    s = p["scenario"]
    o = p["objects"]
    v: dict[str, float] = {"radius": o[0]["radius"]}
    if s == "uniform_motion":
        v["speed"] = math.hypot(p["vx0"], p["vy0"])
    elif s in ("free_fall", "bounce", "incline", "pendulum"):
        v["g"] = p["g"]
    if s == "projectile":
        v.update(g=p["g"], speed=abs(p["vx0"]), launch_vy=-p["vy0"])
    if s == "bounce":
        v["restitution"] = p["restitution"]
    if s == "collision":
        sign = 1.0 if p["vx0"][0] > 0 else -1.0
        v.update(speed=abs(p["vx0"][0]), target_speed=sign * p["vx0"][1])
    if s == "pendulum":
        v["amplitude_deg"] = abs(math.degrees(p["theta0"]))
    if s == "incline":
        v["angle_deg"] = math.degrees(p["angle"])
    return v


# ----------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_params_deterministic_jsonable_and_in_declared_ranges(scenario: str) -> None:
    for seed in SEEDS:
        for ood in (False, True):
            p = sample_params(scenario, seed, ood)
            assert p == sample_params(scenario, seed, ood)
            assert json.loads(json.dumps(p)) == p
            assert p["ood"] is ood and p["scenario"] == scenario
            for key, value in _law_values(p).items():
                assert in_range(scenario, key, value, ood), (scenario, seed, ood, key, value)
                if ood:  # OOD values lie outside the ID interval
                    assert not in_range(scenario, key, value, False)
    # different seeds give different scenes
    assert sample_params(scenario, 0) != sample_params(scenario, 1)


def test_ood_intervals_are_disjoint_from_id_and_on_both_sides() -> None:
    for scenario, table in RANGES.items():
        for key, ((lo, hi), ood) in table.items():
            assert any(b <= lo for _, b in ood) and any(a >= hi for a, _ in ood), (scenario, key)


def test_unknown_scenario_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown physics scenario 'wobble'"):
        sample_params("wobble", 0)
    with pytest.raises(ValueError, match="wobble"):
        trajectory({"scenario": "wobble"}, [0.0])


# ----------------------------------------------------------------------------- dynamics


def _fd_velocity(p: dict, t: np.ndarray, h: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    a, b = trajectory(p, t - h), trajectory(p, t + h)
    return (b["x"] - a["x"]) / (2 * h), (b["y"] - a["y"]) / (2 * h)


def _away_from_events(p: dict, t: np.ndarray, margin: float = 1e-3) -> np.ndarray:
    ev = [e["t"] for e in trajectory(p, t)["events"] if e["type"] != "apex"]
    return np.array([ti for ti in t if all(abs(ti - te) > margin for te in ev)])


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("ood", [False, True])
def test_reported_velocity_is_the_derivative_of_position(scenario: str, ood: bool) -> None:
    for seed in range(3):
        p = sample_params(scenario, seed, ood)
        t = _away_from_events(p, np.linspace(0, 2, 81))
        tr = trajectory(p, t)
        vx, vy = _fd_velocity(p, t)
        np.testing.assert_allclose(tr["vx"], vx, atol=1e-5)
        np.testing.assert_allclose(tr["vy"], vy, atol=1e-5)


def test_free_fall_and_projectile_accelerate_at_g() -> None:
    for s in ("free_fall", "projectile"):
        p = sample_params(s, 3)
        t = np.linspace(0, 2, 9)
        h = 1e-3
        ys = [trajectory(p, t + d)["y"][0] for d in (-h, 0, h)]
        acc = (ys[0] - 2 * ys[1] + ys[2]) / h**2
        np.testing.assert_allclose(acc, p["g"], rtol=1e-4)
        xs = [trajectory(p, t + d)["x"][0] for d in (-h, 0, h)]
        np.testing.assert_allclose((xs[0] - 2 * xs[1] + xs[2]) / h**2, 0, atol=1e-6)


def test_bounce_apex_heights_scale_by_e_squared_and_never_enter_the_floor() -> None:
    p = sample_params("bounce", 2)
    p["duration"] = 6.0
    t = np.linspace(0, 6, 60001)
    tr = trajectory(p, t)
    r, e = p["objects"][0]["radius"], p["restitution"]
    contact = p["floor_y"] - r
    assert tr["y"].max() <= contact + 1e-9
    bounces = [ev for ev in tr["events"] if ev["type"] == "bounce"]
    assert len(bounces) >= 3
    heights = []
    for a, b in zip(bounces[:-1], bounces[1:], strict=True):
        seg = (t > a["t"]) & (t < b["t"])
        heights.append(contact - tr["y"][0, seg].min())
    ratios = np.array(heights[1:]) / np.array(heights[:-1])
    np.testing.assert_allclose(ratios, e**2, rtol=2e-3)
    for ev in bounces:
        assert ev["vy_out"] == pytest.approx(-e * ev["vy_in"])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ood", [False, True])
def test_collision_conserves_momentum_and_energy_without_overlap(seed: int, ood: bool) -> None:
    p = sample_params("collision", seed, ood)
    t = np.linspace(0, 2, 2001)
    tr = trajectory(p, t)
    m = np.array([o["mass"] for o in p["objects"]])
    mom = (m[:, None] * tr["vx"]).sum(0)
    ke = (0.5 * m[:, None] * tr["vx"] ** 2).sum(0)
    np.testing.assert_allclose(mom, mom[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ke, ke[0], rtol=1e-9)
    gap = np.abs(tr["x"][1] - tr["x"][0]) - tr["r"].sum()
    assert gap.min() > -1e-9 and gap.min() < 2e-3  # they touch, they never overlap
    assert [e["type"] for e in tr["events"]] == ["collision"]
    assert np.sign(tr["vx"][0, -1] - tr["vx"][1, -1]) != np.sign(tr["vx"][0, 0] - tr["vx"][1, 0])


def test_elliptic_functions_match_scipy() -> None:
    special = pytest.importorskip("scipy.special")
    u = np.linspace(-5, 5, 101)
    for m in (0.0, 0.1, 0.5, 0.9, 0.99):
        sn, cn, dn, _ = special.ellipj(u, m)
        ours = ellipj(u, m)
        np.testing.assert_allclose(ours[0], sn, atol=1e-12)
        np.testing.assert_allclose(ours[1], cn, atol=1e-12)
        np.testing.assert_allclose(ours[2], dn, atol=1e-12)
        assert ellipk(m) == pytest.approx(float(special.ellipk(m)), rel=1e-12)


def _rk4_pendulum(theta0: float, w2: float, t_end: float, n: int = 20000) -> np.ndarray:
    h = t_end / n
    s = np.array([theta0, 0.0])
    f = lambda s: np.array([s[1], -w2 * math.sin(s[0])])  # noqa: E731
    out = [s[0]]
    for _ in range(n):
        k1 = f(s)
        k2 = f(s + h / 2 * k1)
        k3 = f(s + h / 2 * k2)
        k4 = f(s + h * k3)
        s = s + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(s[0])
    return np.array(out)


@pytest.mark.parametrize("ood", [False, True])
def test_pendulum_matches_a_numerical_integrator_and_conserves_energy(ood: bool) -> None:
    p = sample_params("pendulum", 1, ood)
    t = np.linspace(0, 2, 20001)
    tr = trajectory(p, t)
    ref = _rk4_pendulum(p["theta0"], p["g"] / p["length"], 2.0, 20000)
    np.testing.assert_allclose(tr["theta"][0], ref, atol=1e-7)
    length = math.hypot(tr["x"][0, 0] - p["pivot"][0], tr["y"][0, 0] - p["pivot"][1])
    assert length == pytest.approx(p["length"])
    # energy per unit mass, y down: 0.5 v^2 - g y
    energy = 0.5 * (tr["vx"] ** 2 + tr["vy"] ** 2) - p["g"] * tr["y"]
    np.testing.assert_allclose(energy, energy[0, 0], atol=1e-9)


def test_incline_rolls_with_five_sevenths_g_sin_angle_touching_the_ramp() -> None:
    p = sample_params("incline", 0)
    geo = incline_geometry(p)
    tr = trajectory(p, np.linspace(0, 2, 401))
    t_floor = [e["t"] for e in tr["events"] if e["type"] == "reach_floor"][0]
    t = np.linspace(0.05, t_floor - 0.05, 7)
    h = 1e-3
    sx = [trajectory(p, t + d)["x"][0] for d in (-h, 0, h)]
    sy = [trajectory(p, t + d)["y"][0] for d in (-h, 0, h)]
    ax = (sx[0] - 2 * sx[1] + sx[2]) / h**2
    ay = (sy[0] - 2 * sy[1] + sy[2]) / h**2
    expected = ROLLING_FACTOR * p["g"] * math.sin(p["angle"])
    np.testing.assert_allclose(np.hypot(ax, ay), expected, rtol=1e-4)
    # the centre stays one radius above the slope line (unmirror x first)
    x = sx[1] if not p["mirror"] else 1 - sx[1]
    a = np.array([geo["xa"], geo["ya"]])
    d = np.array([geo["xb"] - geo["xa"], geo["yb"] - geo["ya"]])
    d /= np.linalg.norm(d)
    rel = np.stack([x - a[0], sy[1] - a[1]], 1)
    dist = np.abs(rel[:, 0] * d[1] - rel[:, 1] * d[0])
    np.testing.assert_allclose(dist, p["objects"][0]["radius"], rtol=1e-9)
    # after reaching the floor it rolls level, resting on it
    late = trajectory(p, np.linspace(t_floor + 0.01, t_floor + 1.0, 5))
    np.testing.assert_allclose(late["y"][0], p["floor_y"] - p["objects"][0]["radius"])


# ----------------------------------------------------------------------------- rendering


def _mask(frames: np.ndarray, color: list[int], tol: float = 60.0) -> np.ndarray:
    d = np.abs(frames.astype(np.float32) - np.asarray(color, np.float32)).sum(-1)
    return d < tol


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_render_centroid_and_area_follow_the_trajectory(scenario: str) -> None:
    p = sample_params(scenario, 1)
    size, fps = 128, 8.0
    frames = render(p, 16, size, fps)
    assert frames.shape == (16, size, size, 3) and frames.dtype == np.uint8
    tr = trajectory(p, np.arange(16) / fps)
    bg = static_layer(p, size).astype(np.float64)
    for i, ob in enumerate(p["objects"]):
        rpx = ob["radius"] * size
        for k in range(16):
            x, y = tr["x"][i, k] * size, tr["y"][i, k] * size
            if not (rpx < x < size - rpx and rpx < y < size - rpx):
                continue  # partly outside: centroid is biased
            # coverage-weighted centroid from the antialiased image, by colour distance
            f = frames[k].astype(np.float64)
            col = np.asarray(ob["color"], np.float64)
            diff = col - bg  # per pixel: the background or scenery under the object
            alpha = np.clip(((f - bg) * diff).sum(-1) / (diff * diff).sum(-1), 0, 1)
            yy, xx = np.mgrid[0:size, 0:size] + 0.5
            near = (np.hypot(xx - x, yy - y) < rpx + 2)
            a = alpha * near
            assert (a * xx).sum() / a.sum() == pytest.approx(x, abs=0.25)
            assert (a * yy).sum() / a.sum() == pytest.approx(y, abs=0.25)
            if scenario != "pendulum":  # the rod overlaps the bob's coverage estimate
                assert a.sum() == pytest.approx(math.pi * rpx**2, rel=0.03)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_same_scene_at_any_fps_start_time_and_size(scenario: str) -> None:
    p = sample_params(scenario, 2, True)
    fast = render(p, 32, 48, 16.0)
    slow = render(p, 16, 48, 8.0)
    assert np.array_equal(fast[::2], slow)
    tail = render(p, 10, 48, 16.0, start_time=6 / 16.0)
    assert np.array_equal(tail, fast[6:16])
    big = render(p, 4, 256, 4.0).astype(np.float32)
    small = render(p, 4, 32, 4.0).astype(np.float32)
    down = big.reshape(4, 32, 8, 32, 8, 3).mean((2, 4))
    assert np.abs(down - small).mean() < 1.5
    assert render(p, 3, (24, 40), 8.0).shape == (3, 24, 40, 3)


def test_render_rejects_bad_shapes() -> None:
    p = sample_params("bounce", 0)
    with pytest.raises(ValueError, match="num_frames"):
        render(p, 0, 32, 8.0)
    with pytest.raises(ValueError, match="fps"):
        render(p, 4, 32, 0.0)
    with pytest.raises(ValueError, match="size"):
        render(p, 4, (0, 32), 8.0)


def test_textured_background_is_resolution_independent() -> None:
    p = dict(sample_params("free_fall", 0), texture=25.0)
    big = render(p, 1, 256, 8.0).astype(np.float32)
    small = render(p, 1, 64, 8.0).astype(np.float32)
    assert big.std() > 10
    assert np.abs(big.reshape(1, 64, 4, 64, 4, 3).mean((2, 4)) - small).mean() < 2.0


# ----------------------------------------------------------------------------- items, suites


def test_make_item_carries_ground_truth_and_conditioning() -> None:
    item = make_item("bounce", 5, ood=True, num_frames=12, size=(32, 48), fps=6.0,
                     cond_frames=3)
    assert item.item == "bounce-ood-005"
    assert (item.num_frames, item.height, item.width, item.fps) == (12, 32, 48, 6.0)
    assert item.prompt.endswith("Static camera.") and "bounces on a grey floor" in item.prompt
    color = item.meta["physics"]["objects"][0]["color_name"]
    assert color in item.prompt
    meta = json.loads(json.dumps(item.meta))
    assert meta == item.meta and meta["bucket"] == "ood" and meta["scenario"] == "bounce"
    full = render_item(item)
    assert full.shape == (12, 32, 48, 3)
    assert np.array_equal(item.conditioning_frames(), full[:3])
    assert json.loads(json.dumps(item.to_json()))["meta"] == item.meta
    with pytest.raises(ValueError, match="cond_frames"):
        make_item("bounce", 0, num_frames=4, cond_frames=5)


def test_physics_suites_are_registered_small_and_complete() -> None:
    mini = get_suite("physics-mini")
    assert 12 <= len(mini.items) <= 16
    assert {i.meta["scenario"] for i in mini.items} == set(SCENARIOS)
    assert {i.meta["bucket"] for i in mini.items} == {"id", "ood"}
    assert all((i.num_frames, i.height, i.width, i.fps) == (16, 32, 32, 8.0) for i in mini.items)
    assert len({i.item for i in mini.items}) == len(mini.items)
    assert "physics_scenario" in mini.metrics
    full = get_suite("physics")
    keys = {(i.meta["scenario"], i.meta["bucket"]) for i in full.items}
    assert keys == {(s, b) for s in SCENARIOS for b in ("id", "ood")}
    assert len({i.item for i in full.items}) == len(full.items)
    assert len({i.seed for i in full.items}) >= 3
    assert mini.digest() == get_suite("physics-mini").digest()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_scenario_keeps_its_objects_in_view_in_distribution(scenario: str) -> None:
    for seed in range(8):
        p = sample_params(scenario, seed)
        tr = trajectory(p, np.linspace(0, p["duration"], 33))
        inside = ((tr["x"] - tr["r"][:, None] > -0.01) & (tr["x"] + tr["r"][:, None] < 1.01)
                  & (tr["y"] - tr["r"][:, None] > -0.01) & (tr["y"] + tr["r"][:, None] < 1.01))
        assert inside.mean() > 0.9, (scenario, seed, inside.mean())
        assert tr["visible"].all(), (scenario, seed)


# ----------------------------------------------------------------------------- physics-gt


def test_physics_gt_adapter_renders_the_items_ground_truth() -> None:
    from vidbench.adapters import get_model
    from vidbench.errors import UserError
    from vidbench.suites import SuiteItem

    item = make_item("pendulum", 1, True, num_frames=10, size=(32, 48), fps=6.0)
    g = get_model("physics-gt").generate_one(item)
    assert g.fps == 6.0 and np.array_equal(g.frames, render_item(item))
    slow = get_model("physics-gt?slowmo=0.5&size=40").generate_one(item)
    p = item.meta["physics"]
    assert np.array_equal(slow.frames, render(p, 10, 40, 12.0)) and slow.fps == 6.0
    assert slow.params["slowmo"] == 0.5
    with pytest.raises(UserError, match="no physics scenario"):
        get_model("physics-gt").generate_one(SuiteItem(item="x", prompt="a cat"))
    with pytest.raises(UserError, match="unknown option"):
        get_model("physics-gt?speed=2")
    with pytest.raises(UserError, match="bad option value"):
        get_model("physics-gt?fps=fast")


def test_corruptions_render_and_refuse_what_does_not_apply() -> None:
    from vidbench.scenarios.corrupt import CORRUPTIONS, applies, corrupt

    p = sample_params("free_fall", 0)
    clean = render(p, 8, 32, 8.0)
    for name in CORRUPTIONS:
        if name == "h264_crf35" or not applies(name, "free_fall"):
            continue
        bad = corrupt(p, name, 8, 32, 8.0)
        assert bad.shape == clean.shape and bad.dtype == np.uint8
        assert not np.array_equal(bad, clean), name
    with pytest.raises(ValueError, match="does not apply"):
        corrupt(p, "energy_gain", 8, 32, 8.0)
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(p, "wobble", 8, 32, 8.0)
