"""``quality-mini``: a small prompt set for the VBench-style quality dimensions, written for
this project (not VBench's prompts; use ``vbench:PATH`` for those).

Each prompt names the dimension it mainly exercises in ``meta["dimensions"]``: static
scenes for temporal flicker, one clear subject for subject consistency, a fixed setting
for background consistency, steady or varied motion for smoothness and dynamic degree, and
a described appearance for CLIP score and aesthetic quality. Two seeds per prompt.
"""

from __future__ import annotations

from vidbench.suite_model import Suite, SuiteItem

PROMPTS: list[tuple[str, tuple[str, ...]]] = [
    ("A still life of three lemons on a wooden table, soft window light, static camera.",
     ("temporal_flicker", "aesthetic_quality", "clip_score")),
    ("An empty library reading room at dusk, nothing moves, static camera.",
     ("temporal_flicker", "background_consistency")),
    ("A golden retriever walks across a green lawn, tracking shot.",
     ("subject_consistency", "motion_smoothness", "clip_score")),
    ("A red sports car drives along a coastal road at sunset.",
     ("subject_consistency", "dynamic_degree", "clip_score")),
    ("A lighthouse on a rocky shore while waves roll in, wide shot.",
     ("background_consistency", "motion_smoothness")),
    ("A ballerina spins slowly on an empty stage under a spotlight.",
     ("subject_consistency", "motion_smoothness", "aesthetic_quality")),
    ("Fireworks burst over a city skyline at night.",
     ("dynamic_degree", "aesthetic_quality")),
    ("A paper boat drifts down a narrow stream in a forest.",
     ("motion_smoothness", "background_consistency", "clip_score")),
    ("A close-up of a hummingbird hovering next to a purple flower.",
     ("dynamic_degree", "subject_consistency")),
    ("Snow falls gently on a quiet mountain village, static camera.",
     ("background_consistency", "temporal_flicker", "aesthetic_quality")),
    ("A chef slices a tomato on a white cutting board, top-down view.",
     ("subject_consistency", "clip_score")),
    ("Time-lapse of clouds moving over a wheat field.",
     ("dynamic_degree", "motion_smoothness", "aesthetic_quality")),
]


def quality_mini(seeds: int = 2) -> Suite:
    """12 prompts x ``seeds`` seeds, 16 frames, 256x256, 8 fps (adapters record what a
    pipeline actually returns when it rounds the shape)."""
    items = [SuiteItem(item=f"q{p:02d}-s{s}", prompt=prompt, seed=s, num_frames=16,
                       height=256, width=256, fps=8.0,
                       meta={"dimensions": list(dims)})
             for p, (prompt, dims) in enumerate(PROMPTS) for s in range(seeds)]
    return Suite("quality-mini", "12 prompts for the VBench-style quality dimensions "
                 "(written for vidbench), 2 seeds each.", items, version="1",
                 metrics=("temporal_flicker", "motion_smoothness", "dynamic_degree",
                          "subject_consistency", "background_consistency", "clip_score",
                          "aesthetic_quality"))
