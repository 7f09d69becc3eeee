"""models/dit/compare.py: paired cross-run differences per language and of the gap."""

from __future__ import annotations

import json

import pytest

from vidbench.errors import UserError
from vidbench.models.dit.compare import compare_runs


def _run(path, values: dict[str, tuple[float, float]], model: str) -> None:
    """A minimal run folder: item k has an English and a Chinese twin with the given
    (en, zh) physics_scenario values."""
    path.mkdir()
    man, vid = [], []
    for k, (en, zh) in values.items():
        for lang, v, item in (("en", en, k), ("zh", zh, f"{k}-zh")):
            man.append({"item": item, "lang": lang, "pair": k, "model": model,
                        "meta": {"generation": {"params": {"sha256": model * 4}}}})
            vid.append({"item": item, "scores": {"physics_scenario": v}})
    (path / "manifest.jsonl").write_text("".join(json.dumps(d) + "\n" for d in man))
    (path / "videos.jsonl").write_text("".join(json.dumps(d) + "\n" for d in vid))
    en = [v[0] for v in values.values()]
    zh = [v[1] for v in values.values()]
    m = {"value": sum(en + zh) / (2 * len(en)), "ci95": [0, 1], "n": 2 * len(en),
         "per_language": {"en": {"value": sum(en) / len(en), "ci95": [0, 1], "n": len(en)},
                          "zh": {"value": sum(zh) / len(zh), "ci95": [0, 1], "n": len(zh)}},
         "gap": {"value": (sum(zh) - sum(en)) / len(en), "ci95": [-1, 1]}}
    (path / "result.json").write_text(json.dumps({"model": model,
                                                  "metrics": {"physics_scenario": m}}))


def test_paired_differences_per_language_and_of_the_gap(tmp_path):
    a = {f"i{k}": (0.2 + 0.1 * k, 0.1) for k in range(5)}
    # B gains exactly 0.05 in English and 0.30 in Chinese on every item: the per-item spread
    # (0.2-0.6) cancels in the pairing, so the CIs are points
    b = {k: (en + 0.05, zh + 0.30) for k, (en, zh) in a.items()}
    b["i4"] = (a["i4"][0] + 0.05, float("nan"))  # a failed Chinese video: out of zh and gap
    _run(tmp_path / "a", a, "dit:a")
    _run(tmp_path / "b", b, "dit:b")
    r = compare_runs(tmp_path / "a", tmp_path / "b")
    en, zh = r["diff_b_minus_a"]["en"], r["diff_b_minus_a"]["zh"]
    assert (en["n"], zh["n"]) == (5, 4)
    assert en["value"] == pytest.approx(0.05) and en["ci95"] == pytest.approx([0.05, 0.05])
    assert zh["value"] == pytest.approx(0.30)
    g = r["gap_change_b_minus_a"]
    assert g["n"] == 4 and g["value"] == pytest.approx(0.25)
    assert r["runs"]["b"]["checkpoint_sha256"] == ["dit:b" * 4]
    assert r["runs"]["a"]["per_language"]["en"]["value"] == pytest.approx(0.4)


def test_runs_of_different_suites_are_refused(tmp_path):
    _run(tmp_path / "a", {"i0": (0.1, 0.1), "i1": (0.2, 0.2)}, "dit:a")
    _run(tmp_path / "b", {"i0": (0.1, 0.1), "j1": (0.2, 0.2)}, "dit:b")
    with pytest.raises(UserError, match="different items"):
        compare_runs(tmp_path / "a", tmp_path / "b")
