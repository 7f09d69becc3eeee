"""The ``physics-mini`` and ``physics`` suites (``vidbench.suites`` entry points,
found by :mod:`vidbench.suites`)."""

from __future__ import annotations

from vidbench.scenarios.items import make_item
from vidbench.scenarios.params import SCENARIOS
from vidbench.suite_model import Suite

#: Scenarios of physics-mini that also get an OOD item (the rest are ID only).
_MINI_OOD = ("free_fall", "bounce", "collision", "projectile", "pendulum")


def physics_mini() -> Suite:
    """12 items, 16 frames, 32x32, 8 fps (2 s), 4 conditioning frames: every scenario once in
    distribution (seed 0) and five of them once out of distribution. Small enough for CI and
    ``make demo`` on a 2-core CPU with the tiny reference DiT."""
    items = [make_item(s, 0, False, num_frames=16, size=32, fps=8.0, cond_frames=4)
             for s in SCENARIOS]
    items += [make_item(s, 0, True, num_frames=16, size=32, fps=8.0, cond_frames=4)
              for s in _MINI_OOD]
    return Suite(name="physics-mini",
                 description="7 physics scenarios (7 ID + 5 OOD items), 16 frames 32x32 @ 8 fps, "
                             "analytic ground truth in meta",
                 items=items, version="1", metrics=("physics_scenario", "physics_consistency"))


def physics_full(seeds: int = 4) -> Suite:
    """Every scenario x {ID, OOD} x ``seeds`` seeds (56 items by default), 32 frames, 64x64,
    16 fps (2 s), 8 conditioning frames."""
    items = [make_item(s, seed, ood, num_frames=32, size=64, fps=16.0, cond_frames=8)
             for ood in (False, True) for s in SCENARIOS for seed in range(seeds)]
    return Suite(name="physics",
                 description=f"7 physics scenarios x ID/OOD x {seeds} seeds, 32 frames 64x64 @ "
                             "16 fps, analytic ground truth in meta",
                 items=items, version="1", metrics=("physics_scenario", "physics_consistency"))


#: physics-val's seeds: apart from every test suite (physics-mini: 0, physics: 0-3) and from
#: the reference DiT's training stream (seeds >= 10000, models/dit/data.HELD_OUT_SEEDS).
VALIDATION_SEEDS: tuple[int, ...] = (100, 101)


def physics_val(seeds: tuple[int, ...] = VALIDATION_SEEDS) -> Suite:
    """physics-mini's layout (every scenario ID, five of them OOD; 16 frames, 32x32, 8 fps,
    4 conditioning frames) on the validation seeds :data:`VALIDATION_SEEDS`: 24 items. Sampler
    settings (guidance, steps) and training checkpoints are chosen here, never on
    physics-mini, so physics-mini's figures stay a held-out test."""
    items = [make_item(s, seed, ood, num_frames=16, size=32, fps=8.0, cond_frames=4)
             for seed in seeds
             for ood, names in ((False, SCENARIOS), (True, _MINI_OOD)) for s in names]
    return Suite(name="physics-val",
                 description=f"physics-mini's 12-item layout on validation seeds "
                             f"{', '.join(map(str, seeds))} ({len(items)} items), for choosing "
                             f"guidance, steps and checkpoints",
                 items=items, version="1", metrics=("physics_scenario", "physics_consistency"))
