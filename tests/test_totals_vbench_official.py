"""VBench's own Total / Quality / Semantic (``totals_vbench_official_v1.json``) against a
transcription of VBench's ``scripts/cal_final_score.py`` and ``scripts/constant.py``
(Vchitect/VBench; the script is not part of the ``vbench`` package on the registry, so the
oracle below is transcribed from the repository, names kept)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vidbench.leaderboard.load import load_result, load_results
from vidbench.leaderboard.table import build_table
from vidbench.leaderboard.testing import metric_entry, write_result
from vidbench.leaderboard.totals import compute_totals, load_config

OFFICIAL = load_config("vbench-official")

# --- transcription of VBench scripts/constant.py (values as published) --------------------
NORMALIZE_DIC = {
    "subject consistency": (0.1462, 1.0), "background consistency": (0.2615, 1.0),
    "temporal flickering": (0.6293, 1.0), "motion smoothness": (0.706, 0.9975),
    "dynamic degree": (0.0, 1.0), "aesthetic quality": (0.0, 1.0),
    "imaging quality": (0.0, 1.0), "object class": (0.0, 1.0), "multiple objects": (0.0, 1.0),
    "human action": (0.0, 1.0), "color": (0.0, 1.0), "spatial relationship": (0.0, 1.0),
    "scene": (0.0, 0.8222), "appearance style": (0.0009, 0.2855),
    "temporal style": (0.0, 0.364), "overall consistency": (0.0, 0.364)}
DIM_WEIGHT = {k: (0.5 if k == "dynamic degree" else 1.0) for k in NORMALIZE_DIC}
QUALITY_LIST = ["subject consistency", "background consistency", "temporal flickering",
                "motion smoothness", "aesthetic quality", "imaging quality", "dynamic degree"]
SEMANTIC_LIST = [k for k in NORMALIZE_DIC if k not in QUALITY_LIST]
QUALITY_WEIGHT, SEMANTIC_WEIGHT = 4, 1
#: VBench's dimension names -> vidbench's metric names
VIDBENCH_NAME = {k: k.replace(" ", "_") for k in NORMALIZE_DIC}
VIDBENCH_NAME["temporal flickering"] = "temporal_flicker"


def cal_final_score(upload: dict[str, float]) -> tuple[float, float, float]:
    """get_nomalized_score -> get_quality_score / get_semantic_score -> get_final_score."""
    norm = {k: (upload[k] - lo) / (hi - lo) * DIM_WEIGHT[k]
            for k, (lo, hi) in NORMALIZE_DIC.items()}
    q = sum(norm[k] for k in QUALITY_LIST) / sum(DIM_WEIGHT[k] for k in QUALITY_LIST)
    s = sum(norm[k] for k in SEMANTIC_LIST) / sum(DIM_WEIGHT[k] for k in SEMANTIC_LIST)
    return q, s, (q * QUALITY_WEIGHT + s * SEMANTIC_WEIGHT) / (QUALITY_WEIGHT + SEMANTIC_WEIGHT)


def _upload(seed: int) -> dict[str, float]:
    """Plausible per-dimension values drawn inside each dimension's [Min, Max]."""
    rng = np.random.default_rng(seed)
    return {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in NORMALIZE_DIC.items()}


def _write(folder, upload: dict[str, float], mode: str = "vbench", drop: str | None = None):
    metrics = {VIDBENCH_NAME[k]: metric_entry(value=v, mode=mode)
               for k, v in upload.items() if k != drop}
    return write_result(folder, folder.name, metrics, videos=False)


def test_config_covers_vbench_sixteen_dimensions_with_published_constants():
    assert OFFICIAL.path.endswith("totals_vbench_official_v1.json")
    assert len(OFFICIAL.dimensions) == 16
    for k, (lo, hi) in NORMALIZE_DIC.items():
        spec = OFFICIAL.dimensions[VIDBENCH_NAME[k]]
        assert (spec["min"], spec["max"], spec["weight"]) == (lo, hi, DIM_WEIGHT[k])
        assert spec["group"] == ("quality" if k in QUALITY_LIST else "semantic")
    assert {g: s["weight"] for g, s in OFFICIAL.groups.items()} == {"quality": 4,
                                                                     "semantic": 1}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_totals_equal_vbench_cal_final_score(tmp_path, seed):
    up = _upload(seed)
    t = compute_totals(load_result(_write(tmp_path / f"m{seed}", up)), OFFICIAL)
    q, s, total = cal_final_score(up)
    assert t["groups"]["quality"]["value"] == pytest.approx(q, abs=1e-12)
    assert t["groups"]["semantic"]["value"] == pytest.approx(s, abs=1e-12)
    assert t["total"]["value"] == pytest.approx(total, abs=1e-12)


def test_values_beyond_the_published_max_are_not_clipped_as_in_vbench(tmp_path):
    up = _upload(3)
    up["appearance style"] = 0.30  # above VBench's Max 0.2855: normalises to 1.05
    t = compute_totals(load_result(_write(tmp_path / "m", up)), OFFICIAL)
    assert t["normalised"]["appearance_style"] > 1.0 and not t["clipped"]
    assert t["total"]["value"] == pytest.approx(cal_final_score(up)[2], abs=1e-12)


def test_no_total_unless_all_sixteen_dimensions_are_measured(tmp_path):
    # VBench's script would count the missing dimension as 0 and publish a lower Total;
    # a Total over 15 of 16 dimensions is not VBench's Total, so vidbench gives none
    up = _upload(4)
    full = _write(tmp_path / "full", up)
    part = _write(tmp_path / "part", up, drop="scene")
    t = compute_totals(load_result(part), OFFICIAL)
    assert math.isnan(t["total"]["value"]) and math.isnan(t["groups"]["semantic"]["value"])
    assert math.isnan(t["groups"]["quality"]["value"])
    lb = build_table(load_results([full, part]), totals_config=OFFICIAL)
    assert not any(c.group.startswith("totals") for c in lb.columns)
    assert any("no Total" in n and "needs all 16" in n for n in lb.notes)
    assert any("scene" in n and "part" in n for n in lb.notes)
    # with every dimension in every row the table's Total is VBench's number
    lb = build_table(load_results([full, _write(tmp_path / "other", _upload(5))]),
                     totals_config=OFFICIAL)
    assert lb.value.loc["full", "total"] == pytest.approx(cal_final_score(up)[2], abs=1e-12)


def test_default_mode_values_do_not_enter_vbench_totals(tmp_path):
    up = _upload(6)
    t = compute_totals(load_result(_write(tmp_path / "d", up, mode="default")), OFFICIAL)
    assert math.isnan(t["total"]["value"]) and len(t["wrong_mode"]) == 16
    assert "vbench-mode values only" in t["wrong_mode"]["subject_consistency"]
