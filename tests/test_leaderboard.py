"""Leaderboard: loading and validating results, the table (values, CIs, ranks, groups),
refusing to mix incomparable results, totals from a versioned config, the renderers,
plots and the CLI entry points. Every result file is written by the test itself."""

from __future__ import annotations

import argparse
import io
import json
import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from vidbench.errors import UserError
from vidbench.leaderboard.cli import (
    add_leaderboard_arguments,
    build_leaderboard,
    main,
    run_leaderboard,
    summary_table,
)
from vidbench.leaderboard.load import load_result, load_results
from vidbench.leaderboard.plots import correlation_matrix
from vidbench.leaderboard.table import TOTAL_NAMES, build_table
from vidbench.leaderboard.testing import metric_entry, write_from_values, write_result
from vidbench.leaderboard.totals import (
    DEFAULT_CONFIG,
    compute_totals,
    config_hash,
    load_config,
    normalise,
    parse_config,
)


def three_models(tmp_path, videos: bool = True):
    """m1 < m2 < m3 on the higher-is-better metrics; 'dist' is lower-is-better with m1 best."""
    vals = {}
    paths = []
    for k, name in enumerate(["m1", "m2", "m3"]):
        rng = np.random.default_rng(k)
        pv = {"clip_score": list(rng.normal(0.20 + 0.03 * k, 0.01, 16)),
              "subject_consistency": list(rng.normal(0.80 + 0.05 * k, 0.01, 16)),
              "dist": list(rng.normal(10.0 + 2 * k, 0.5, 16))}
        vals[name] = pv
        paths.append(write_from_values(tmp_path / name, name, pv,
                                       higher_is_better={"dist": False}, videos=videos))
    return paths, vals


# ------------------------------------------------------------------------------ loading

def test_load_valid_result_and_videos(tmp_path):
    paths, vals = three_models(tmp_path)
    r = load_result(paths[0].parent)  # a folder works too
    assert r.model == "m1" and r.schema == "vidbench.result/1"
    e = r.metrics["dist"]
    assert e.higher_is_better is False and e.n == 16
    assert e.value == pytest.approx(np.mean(vals["m1"]["dist"]))
    assert e.ci95[0] < e.value < e.ci95[1]
    assert len(r.videos) == 16
    assert r.per_item("dist")["item003"] == pytest.approx(vals["m1"]["dist"][3])


@pytest.mark.parametrize("mutate,msg", [
    (lambda d: d.update(schema="other/1"), "schema is 'other/1'"),
    (lambda d: d.pop("model"), "missing required key 'model'"),
    (lambda d: d["metrics"]["dist"].update(ci95=[1, 2, 3]), "metrics.dist.ci95"),
    (lambda d: d["metrics"]["dist"].update(value="abc"), "metrics.dist.value"),
    (lambda d: d["metrics"]["dist"].update(n=-1), "metrics.dist.n"),
    (lambda d: d["metrics"]["dist"].pop("higher_is_better"), "'higher_is_better'"),
    (lambda d: d["metrics"]["dist"].update(comparable="yes"), "metrics.dist.comparable"),
    (lambda d: d["metrics"]["dist"].update(weights=["x"]), "metrics.dist.weights"),
])
def test_invalid_result_names_file_and_key(tmp_path, mutate, msg):
    p = three_models(tmp_path)[0][0]
    d = json.loads(p.read_text())
    mutate(d)
    p.write_text(json.dumps(d))
    with pytest.raises(UserError, match=re.escape(msg)) as ei:
        load_result(p)
    assert str(p) in str(ei.value)


def test_bad_json_and_missing_file(tmp_path):
    p = tmp_path / "result.json"
    p.write_text('{"schema": "vidbench.result/1",\n "model": }')
    with pytest.raises(UserError, match=r"result.json:2: invalid JSON"):
        load_result(p)
    with pytest.raises(UserError, match="no such result file"):
        load_result(tmp_path / "nope" / "result.json")


def test_videos_jsonl_errors_resume_and_truncation(tmp_path):
    p = three_models(tmp_path)[0][0]
    vj = p.parent / "videos.jsonl"
    lines = vj.read_text().splitlines()
    # a resumed run re-wrote item000 with a new value: the later line wins
    rec = json.loads(lines[0])
    rec["scores"]["dist"] = 99.0
    lines.append(json.dumps(rec))
    lines.append('{"video": "item999.mp4", "scor')  # killed mid-write: skipped with a note
    vj.write_text("\n".join(lines) + "\n")
    r = load_result(p)
    assert len(r.videos) == 16
    assert next(v for v in r.videos if v.item == "item000").scores["dist"] == 99.0
    # ... and the per-video values no longer average to the headline: not resampled
    assert r.per_item("dist") == {} and not r.per_video_matches("dist")
    assert any("truncated last line" in n and "videos.jsonl:18" in n for n in r.notes)
    # the same garbage in the middle is an error naming file:line
    lines.insert(3, "not json")
    vj.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"videos.jsonl:4: invalid JSON"):
        load_result(p)


def test_labels_are_unique(tmp_path):
    a = write_from_values(tmp_path / "a", "same", {"x": [1.0, 2.0]}, suite="s1")
    b = write_from_values(tmp_path / "b", "same", {"x": [1.0, 2.0]}, suite="s2")
    c = write_from_values(tmp_path / "c", "same", {"x": [1.0, 2.0]}, suite="s2")
    res = load_results([a, b, c])
    labels = [r.label for r in res]
    assert len(set(labels)) == 3 and labels[0] == "same [s1]"
    notes = build_table(res, with_totals=False).notes
    assert "different suites" in notes[0] and "s1: same [s1]" in notes[0]


# ------------------------------------------------------------------------------ table

def test_table_values_ranks_and_direction(tmp_path):
    paths, vals = three_models(tmp_path)
    lb = build_table(load_results(paths), with_totals=False)
    for m in ("m1", "m2", "m3"):
        for metric in ("clip_score", "subject_consistency", "dist"):
            assert lb.value.at[m, metric] == pytest.approx(np.mean(vals[m][metric]))
            assert lb.lo.at[m, metric] < lb.value.at[m, metric] < lb.hi.at[m, metric]
    assert list(lb.rank["clip_score"].loc[["m1", "m2", "m3"]]) == [3, 2, 1]
    assert list(lb.rank["dist"].loc[["m1", "m2", "m3"]]) == [1, 2, 3]  # lower is better
    assert lb.mean_rank["m3"] == pytest.approx((1 + 1 + 3) / 3)
    assert lb.mean_rank["m1"] == pytest.approx((3 + 3 + 1) / 3)
    assert lb.models[-1] == "m1"  # rows by mean rank
    assert {c.group for c in lb.columns} == {"default"}
    assert lb.column("dist").higher_is_better is False


def test_ties_share_the_better_rank(tmp_path):
    a = write_result(tmp_path / "a", "a", {"x": metric_entry([1.0, 1.0])})
    b = write_result(tmp_path / "b", "b", {"x": metric_entry([1.0, 1.0])})
    c = write_result(tmp_path / "c", "c", {"x": metric_entry([0.0, 0.0])})
    lb = build_table(load_results([a, b, c]), with_totals=False)
    assert lb.rank.at["a", "x"] == lb.rank.at["b", "x"] == 1 and lb.rank.at["c", "x"] == 3


@pytest.mark.parametrize("field,other,why", [
    ("protocol", "p-other", "protocol differs"),
    ("weights", {"clip": "ab" * 32}, "weights differ"),
    ("comparable", False, "comparable differs"),
])
def test_incomparable_results_are_not_mixed(tmp_path, field, other, why):
    x = [0.5, 0.6, 0.7]
    kw = {"protocol": "p0", "weights": {"clip": "cd" * 32}, "comparable": True}
    odd = dict(kw, **{field: other})
    a = write_result(tmp_path / "a", "A", {"s": metric_entry(x, **kw)})
    b = write_result(tmp_path / "b", "B", {"s": metric_entry(x, **kw)})
    c = write_result(tmp_path / "c", "C", {"s": metric_entry([0.9, 1.0, 1.1], **odd)})
    res = load_results([a, b, c])
    lb = build_table(res, with_totals=False)
    s_cols = [col for col in lb.columns if col.metric == "s"]
    assert len(s_cols) == 2
    assert sorted(len(col.models) for col in s_cols) == [1, 2]
    note = next(n for n in lb.notes if n.startswith("s: not one column"))
    assert why in note and "C" in note and "--force" in note
    # C is ranked alone in its own column: it cannot outrank A and B on a different scale
    lone = next(col for col in s_cols if col.models == ["C"])
    assert lb.rank.at["C", lone.key] == 1 and math.isnan(lb.value.at["A", lone.key])
    if field == "comparable":
        assert "random weights" in lone.group
    forced = build_table(res, force=True, with_totals=False)
    (col,) = [c for c in forced.columns if c.metric == "s"]
    assert col.mixed and col.group == "forced (mixed protocols)"
    assert forced.rank.at["C", "s"] == 1
    assert any("FORCED" in n and why in n for n in forced.notes)
    assert "mixed" in forced.to_markdown() or "FORCED" in forced.to_markdown()


def test_renderers(tmp_path):
    paths, vals = three_models(tmp_path)
    lb = build_table(load_results(paths), with_totals=False)
    md = lb.to_markdown()
    assert "## default" in md
    for m in ("m1", "m2", "m3"):
        assert f"| {m} |" in md
    mean = np.mean(vals["m3"]["clip_score"])
    cell = lb.cell("m3", "clip_score")
    v, hw = cell.split(" ± ")
    # value and half-width to the same decimals, the half-width to 2 significant digits
    assert len(v.split(".")[1]) == len(hw.split(".")[1])
    assert len(hw.lstrip("0.").replace(".", "")) == 2
    assert float(v) == pytest.approx(mean, abs=10 ** -len(v.split(".")[1]))
    assert f"{v} ± {hw}" in md
    # CSV is tidy and numeric: read it back
    df = pd.read_csv(io.StringIO(lb.to_csv()))
    assert len(df) == 9 and set(df.columns) >= {"model", "metric", "value", "ci95_lo",
                                                  "ci95_hi", "rank", "protocol"}
    row = df[(df.model == "m2") & (df.metric == "dist")].iloc[0]
    assert row.value == pytest.approx(np.mean(vals["m2"]["dist"]))
    assert row["rank"] == 2
    wide = lb.to_frame()  # display strings under (group, metric) headers
    assert wide.columns.nlevels == 2 and ("default", "dist ↓") in wide.columns
    assert list(wide.index) == lb.models
    tex = lb.to_latex()
    assert r"\multicolumn{3}{c}{default}" in tex and r"clip\_score" in tex
    assert tex.count(r"\textbf{") == 3  # one best per column
    assert "_" not in tex.replace(r"\_", "")


def test_html_is_self_contained(tmp_path):
    paths, _ = three_models(tmp_path)
    info = build_leaderboard(paths, tmp_path / "out", formats=("html",), plots=False)
    page = (tmp_path / "out" / "leaderboard.html").read_text()
    assert info["files"]["html"].endswith("leaderboard.html")
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", page)
    assert not re.search(r"https?://", page)
    # #, model, mean rank + total, quality, semantic + 3 metrics
    assert page.count('class="sortable"') == 3 + 3 + 3


# ------------------------------------------------------------------------------ totals

def _config(**over) -> dict:
    raw = {"schema": "vidbench.totals/1", "name": "t", "version": 1,
           "on_missing": "renormalize",
           "groups": {"quality": {"weight": 4}, "semantic": {"weight": 1}},
           "dimensions": {
               "q1": {"group": "quality", "min": 0.5, "max": 1.0, "weight": 1},
               "q2": {"group": "quality", "min": 0.0, "max": 2.0, "weight": 0.5},
               "lowb": {"group": "quality", "min": 0.0, "max": 100.0, "weight": 1},
               "s1": {"group": "semantic", "min": 0.0, "max": 0.4, "weight": 1}}}
    raw.update(over)
    return raw


def test_totals_known_answer(tmp_path):
    # normalised: q1 0.75 -> 0.5, q2 1.5 -> 0.75, lowb 20 (lower better) -> 0.8, s1 0.1 -> 0.25
    p = write_result(tmp_path / "a", "A", {
        "q1": metric_entry(value=0.75), "q2": metric_entry(value=1.5),
        "lowb": metric_entry(value=20.0, higher_is_better=False),
        "s1": metric_entry(value=0.1), "unrelated": metric_entry(value=5.0)})
    cfg = parse_config(_config())
    t = compute_totals(load_result(p), cfg)
    q = (1 * 0.5 + 0.5 * 0.75 + 1 * 0.8) / 2.5
    assert t["normalised"] == pytest.approx({"q1": 0.5, "q2": 0.75, "lowb": 0.8, "s1": 0.25})
    assert t["groups"]["quality"]["value"] == pytest.approx(q)
    assert t["groups"]["semantic"]["value"] == pytest.approx(0.25)
    assert t["total"]["value"] == pytest.approx((4 * q + 0.25) / 5)
    assert t["total"]["complete"] and t["config"]["hash"] == cfg.hash


def test_totals_missing_policies(tmp_path):
    p = write_result(tmp_path / "a", "A", {"q1": metric_entry(value=1.0),
                                            "s1": metric_entry(value=0.4)})
    r = load_result(p)
    ren = compute_totals(r, parse_config(_config()))
    assert ren["groups"]["quality"]["value"] == pytest.approx(1.0)
    assert not ren["groups"]["quality"]["complete"]
    assert ren["groups"]["quality"]["dims_missing"] == ["q2", "lowb"]
    assert ren["total"]["value"] == pytest.approx(1.0) and not ren["total"]["complete"]
    zero = compute_totals(r, parse_config(_config(on_missing="zero")))
    assert zero["groups"]["quality"]["value"] == pytest.approx(1.0 / 2.5)  # VBench's script
    nan = compute_totals(r, parse_config(_config(on_missing="nan")))
    assert math.isnan(nan["groups"]["quality"]["value"]) and math.isnan(nan["total"]["value"])


def test_totals_ci_from_items_and_table_column(tmp_path):
    paths, _ = three_models(tmp_path)
    cfg = load_config()
    r = load_result(paths[2])
    t = compute_totals(r, cfg)
    lo, hi = t["total"]["ci95"]
    assert lo < t["total"]["value"] < hi
    assert t["groups"]["semantic"]["dims_used"] == ["clip_score"]
    lb = build_table(load_results(paths), totals_config=cfg)
    # several of the config's dimensions are missing in every row: the total is the
    # explicitly named common-subset total, over the same dimensions for every row
    assert lb.columns[0].key == "total (common)" and lb.columns[0].group == "totals"
    assert lb.models == ["m3", "m2", "m1"]  # ordered by Total
    assert any("Total (common) is computed for every row over the same 2" in n
               and "subject_consistency, clip_score" in n for n in lb.notes)
    assert cfg.hash[:16] in lb.to_markdown()
    # identical items: every bootstrap replicate equals the point estimate, so the
    # vectorised replicate formula must reproduce the scalar one exactly
    flat = write_from_values(tmp_path / "flat", "flat", {
        "clip_score": [0.3] * 8, "subject_consistency": [0.9] * 8,
        "dynamic_degree": [0.25] * 8, "dist": [3.0] * 8}, higher_is_better={"dist": False})
    for policy in ("renormalize", "zero", "nan"):
        raw = dict(cfg.raw, on_missing=policy)
        t = compute_totals(load_result(flat), parse_config(raw))
        for part in [t["total"], *t["groups"].values()]:
            if math.isfinite(part["value"]):
                assert part["ci95"] == pytest.approx([part["value"]] * 2, abs=1e-12)


def test_totals_config_is_versioned_and_validated(tmp_path):
    cfg = load_config()
    assert cfg.path == str(DEFAULT_CONFIG) and cfg.name == "vbench-style"
    raw = json.loads(DEFAULT_CONFIG.read_text())
    assert cfg.hash == config_hash(raw)
    raw["dimensions"]["clip_score"]["max"] = 0.5
    assert config_hash(raw) != cfg.hash
    bad = _config()
    bad["dimensions"]["q1"]["max"] = 0.1
    with pytest.raises(UserError, match=r"dimensions.q1: max"):
        parse_config(bad, "my.json")
    bad = _config()
    bad["dimensions"]["q1"]["group"] = "nope"
    with pytest.raises(UserError, match=r"dimensions.q1.group"):
        parse_config(bad)
    with pytest.raises(UserError, match="on_missing"):
        parse_config(_config(on_missing="guess"))
    assert normalise(5.0, {"min": 0, "max": 10}, False) == pytest.approx(0.5)
    assert normalise(12.0, {"min": 0, "max": 10}, True, clip=True) == 1.0


def test_totals_from_different_protocols_do_not_share_a_column(tmp_path):
    a = write_result(tmp_path / "a", "A", {"clip_score": metric_entry([0.2, 0.3],
                                                                      protocol="p1")})
    b = write_result(tmp_path / "b", "B", {"clip_score": metric_entry([0.2, 0.3],
                                                                      protocol="p2")})
    lb = build_table(load_results([a, b]))
    totals = [c for c in lb.columns if c.metric in TOTAL_NAMES]
    assert len(totals) == 2
    # the note names the field that differs, not just "protocol"
    assert any("protocol of dimension clip_score differs" in n for n in lb.notes)


# ------------------------------------------------------------------------------ plots

def test_correlation_matrix_is_oriented(tmp_path):
    paths = []
    for k, v in enumerate([0.1, 0.4, 0.2, 0.9]):
        paths.append(write_result(tmp_path / f"m{k}", f"m{k}", {
            "good": metric_entry([v, v]), "same_rank": metric_entry([v ** 3, v ** 3]),
            "distance": metric_entry([1 - v, 1 - v], higher_is_better=False),
            "anti": metric_entry([-v, -v])}))
    lb = build_table(load_results(paths), with_totals=False)
    mat = correlation_matrix(lb)
    assert mat.at["good", "same_rank"] == pytest.approx(1.0)
    assert mat.at["good", "distance"] == pytest.approx(1.0)  # lower-better flipped
    assert mat.at["good", "anti"] == pytest.approx(-1.0)


@pytest.mark.slow
def test_plots_written_png_and_svg(tmp_path):
    from PIL import Image

    paths, _ = three_models(tmp_path)
    info = build_leaderboard(paths, tmp_path / "out", formats=("md",))
    # three models: a rank correlation over 3 points means little, so no heatmap, and why
    assert set(info["plots"]) == {"radar", "bars", "distributions"}
    assert any("needs >= 5 models to mean anything, have 3" in n for n in info["notes"])
    five = [write_from_values(tmp_path / f"f{k}", f"f{k}", {
        "a": [0.1 * k, 0.2], "b": [0.3, 0.1 * k ** 2], "c": [0.5, 0.4 - 0.05 * k]})
        for k in range(5)]
    assert "correlation" in build_leaderboard(five, tmp_path / "out5", formats=("md",))[
        "plots"]
    for kinds in info["plots"].values():
        with Image.open(kinds["png"]) as im:
            assert im.size[0] > 100 and im.size[1] > 100
        root = ET.parse(kinds["svg"]).getroot()
        assert root.tag.endswith("svg")
    # with two models and no per-video data some plots cannot be drawn, and it says why
    two, _ = three_models(tmp_path / "nov", videos=False)
    info = build_leaderboard(two[:2], tmp_path / "out2", formats=("md",))
    assert "correlation" not in info["plots"] and "distributions" not in info["plots"]
    assert any("needs >= 5 models" in n for n in info["notes"])
    assert any("no videos.jsonl" in n for n in info["notes"])


# ------------------------------------------------------------------------------ CLI

def test_cli_leaderboard(tmp_path, capsys):
    paths, _ = three_models(tmp_path)
    p = argparse.ArgumentParser()
    add_leaderboard_arguments(p)
    args = p.parse_args([*map(str, paths), "--out", str(tmp_path / "lb"), "--format",
                         "md,csv,tex", "--no-plots"])
    assert run_leaderboard(args) == 0
    out = capsys.readouterr().out
    assert "m3" in out and "wrote md" in out
    for ext in ("md", "csv", "tex"):
        assert (tmp_path / "lb" / f"leaderboard.{ext}").exists()
    assert not (tmp_path / "lb" / "leaderboard.html").exists()
    totals = json.loads((tmp_path / "lb" / "totals.json").read_text())
    assert totals["config"]["hash"] == load_config().hash
    assert main(["leaderboard", str(paths[0]), "--out", str(tmp_path / "x"),
                 "--format", "md,pdf"]) == 2
    assert "pdf" in capsys.readouterr().err
    assert main(["leaderboard", str(tmp_path / "missing.json"), "--out",
                 str(tmp_path / "x")]) == 2


def test_summary_table(tmp_path):
    paths, vals = three_models(tmp_path)
    res = json.loads(paths[0].read_text())
    res["metrics"]["clip_score"]["comparable"] = False
    s = summary_table(res)
    lines = s.splitlines()
    assert lines[0] == "m1 on test-suite"
    row = next(ln for ln in lines if ln.startswith("dist"))
    assert f"{np.mean(vals['m1']['dist']):.4g}" in row and "↓" in row
    assert "not comparable" in next(ln for ln in lines if ln.startswith("clip_score"))


def test_random_weight_dry_run_still_ranks(tmp_path):
    paths = [write_from_values(tmp_path / n, n, {"a": [v, v + 0.1], "b": [v, v]},
                               comparable=False)
             for n, v in (("lo", 0.1), ("hi", 0.9))]
    lb = build_table(load_results(paths), with_totals=False)
    assert all("random weights" in c.group for c in lb.columns)
    assert lb.models == ["hi", "lo"] and lb.mean_rank["hi"] == 1.0
    assert any("smoke test" in n for n in lb.notes)


# ----------------------------------------------- issue 15: totals, ranks, not measured

def _physics_like(tmp_path):
    """dit / copy-last / gt as on physics-mini: copy-last has temporal_flicker (only it is
    static) and no physics_consistency (not applicable to a frozen clip); gt's smoothness
    is above the config's max."""
    rng = np.random.default_rng(0)
    n = 12
    nan = [float("nan")] * n

    def vals(mu, sd=0.02):
        return list(np.clip(rng.normal(mu, sd, n), 0, 1))

    specs = {
        "dit": {"motion_smoothness": vals(0.995, 0.001), "dynamic_degree": [1.0] * n,
                "physics_consistency": vals(0.36, 0.1), "physics_scenario": vals(0.44, 0.1),
                "temporal_flicker": nan},
        "copy-last": {"motion_smoothness": vals(0.9994, 0.0002), "dynamic_degree": [0.0] * n,
                      "physics_consistency": nan, "physics_scenario": vals(0.32, 0.1),
                      "temporal_flicker": vals(0.9997, 0.0001)},
        "gt": {"motion_smoothness": vals(0.9985, 0.0005), "dynamic_degree": [1.0] * n,
               "physics_consistency": vals(0.8, 0.05), "physics_scenario": vals(0.94, 0.02),
               "temporal_flicker": nan},
    }
    skipped = {"clip_score": "weights 'clip-vit-b-32-openai' not found",
               "subject_consistency": "weights 'dino-vitb16' not found"}
    paths = []
    for name, pv in specs.items():
        details = {"temporal_flicker": [{"reason": "dynamic"} if np.isnan(v) else {}
                                        for v in pv["temporal_flicker"]],
                   "physics_consistency": [{"reason": "static"} if np.isnan(v) else {}
                                           for v in pv["physics_consistency"]]}
        metrics = {m: metric_entry(v, protocol=f"p-{m}") for m, v in pv.items()}
        paths.append(write_result(tmp_path / name, name, metrics, pv, details=details,
                                  skipped=skipped, suite="physics-mini"))
    return paths


def test_totals_use_the_same_dimensions_for_every_row(tmp_path):
    paths = _physics_like(tmp_path)
    lb = build_table(load_results(paths))
    tot = [c for c in lb.columns if c.metric in TOTAL_NAMES]
    assert len(tot) == 1 and tot[0].key == "total (common)"  # one Total column, named
    dims = {lab: sorted(t["normalised"]) for lab, t in lb.totals.items()}
    assert len({tuple(d) for d in dims.values()}) == 1  # same dimension set in every row
    assert set(dims["dit"]) == {"motion_smoothness", "dynamic_degree", "physics_scenario"}
    note = "\n".join(lb.notes)
    assert "left out of the Total: temporal_flicker (dit: no value: dynamic" in note
    assert "left out of the Total: physics_consistency (copy-last: no value: static" in note
    # clipping: gt's smoothness is above VBench's max; clipped to 1, and counted
    assert "motion_smoothness" in lb.totals["gt"]["clipped"]
    assert lb.totals["gt"]["normalised"]["motion_smoothness"] == 1.0
    assert all(0 <= lb.value.at[m, tot[0].key] <= 1 for m in lb.models)
    assert any(n.startswith("gt: motion_smoothness") and "clipped" in n for n in lb.notes)
    # physics takes part in the physics suite's total (weight 1 in the v2 config)
    assert "physics" in lb.totals["dit"]["total"]["groups_used"]
    assert lb.models[0] == "gt" and lb.models[-1] == "copy-last"


def test_mean_rank_is_not_gamed_by_absence(tmp_path):
    paths = _physics_like(tmp_path)
    lb = build_table(load_results(paths), with_totals=False)
    # temporal_flicker (only copy-last) and physics_consistency (copy-last lacks it) are
    # shown but left out of the mean rank
    assert lb.value.at["copy-last", "temporal_flicker"] > 0.99
    ranked = ["dynamic_degree", "motion_smoothness", "physics_scenario"]
    for m in lb.models:
        assert lb.mean_rank[m] == pytest.approx(lb.rank.loc[m, ranked].mean())
    assert any(n.startswith("not in the mean rank") and "temporal_flicker" in n
               for n in lb.notes)


def test_same_inputs_in_any_order_give_the_same_table(tmp_path):
    import random

    paths = _physics_like(tmp_path)
    # a tie: a fourth row identical to dit under another name
    twin = tmp_path / "dit-twin"
    import shutil

    shutil.copytree(paths[0].parent, twin)
    d = json.loads((twin / "result.json").read_text())
    d["model"] = "dit-twin"
    (twin / "result.json").write_text(json.dumps(d))
    paths.append(twin / "result.json")
    ref = None
    for seed in range(4):
        order = list(paths)
        random.Random(seed).shuffle(order)
        info = build_leaderboard(order, tmp_path / f"out{seed}", formats=("md", "csv", "tex"),
                                 plots=False)
        files = {k: open(v, encoding="utf-8").read() for k, v in info["files"].items()
                 if k != "totals"}
        if ref is None:
            ref = files
            lb_models = info["models"]
        assert files == ref
    assert lb_models.index("dit") < lb_models.index("dit-twin")  # tie broken by name


def test_not_measured_is_listed_with_reasons(tmp_path):
    paths = _physics_like(tmp_path)
    info = build_leaderboard(paths, tmp_path / "out", formats=("md", "html"), plots=False)
    md = open(info["files"]["md"], encoding="utf-8").read()
    html = open(info["files"]["html"], encoding="utf-8").read()
    block = md.split("**Not measured**")[1].split("**Notes**")[0]
    assert "clip\\_score: not run for every row: weights 'clip-vit-b-32-openai' not found" in block
    assert "subject\\_consistency: not run for every row" in block
    assert "temporal\\_flicker for dit: no value: dynamic in 12 of 12 videos" in block
    assert "physics\\_consistency for copy-last: no value: static in 12 of 12" in block
    assert "– (n=0)" in md  # the empty cell says there is no value, the list says why
    assert "Not measured" in html and "dino-vitb16" in html


def test_cells_show_coverage_below_100_percent(tmp_path):
    v = [0.5] * 9 + [float("nan")] * 3
    p = write_from_values(tmp_path / "a", "a", {"m": v})
    lb = build_table(load_results([p]), with_totals=False)
    assert lb.cell("a", "m").endswith("[9/12]")
    full = write_from_values(tmp_path / "b", "b", {"m": [0.5] * 12})
    assert "[" not in build_table(load_results([full]), with_totals=False).cell("b", "m")


def test_units_mismatch_is_caught(tmp_path):
    raw = _config()
    raw["dimensions"]["s1"].update(units="cos", range=[0.0, 1.0])
    cfg = parse_config(raw)
    # a clip score reported x100 cannot be normalised with cosine bounds
    a = write_result(tmp_path / "a", "A", {"q1": metric_entry([0.8, 0.9]),
                                            "s1": metric_entry([30.0, 31.0])})
    b = write_result(tmp_path / "b", "B", {"q1": metric_entry([0.7, 0.9]),
                                            "s1": metric_entry([0.3, 0.31])})
    lb = build_table(load_results([a, b]), totals_config=cfg)
    assert all("s1" not in t["normalised"] for t in lb.totals.values())
    assert any("s1 (A: value 30.5 outside the config's declared range" in n
               and "units mismatch" in n for n in lb.notes)
    bad = _config()
    bad["dimensions"]["s1"].update(units="cos", range=[0.0, 1.0], max=36.4)
    with pytest.raises(UserError, match="units mismatch"):
        parse_config(bad)
    shipped = load_config()
    assert shipped.dimensions["clip_score"]["units"] == "100*cos"
    assert shipped.dimensions["clip_score"]["max"] == pytest.approx(36.4)


def test_plots_distinguish_missing_from_zero_and_keep_names_whole(tmp_path):
    """A 0 and a missing value must not look the same in bars.svg, and long model names
    are wrapped, not cut (the SVG keeps text as text: svg.fonttype none)."""
    long = "baseline:constant-velocity-with-a-long-name"
    paths = [write_from_values(tmp_path / "a", long, {"m": [0.0, 0.0], "k": [0.5, 0.6]}),
             write_from_values(tmp_path / "b", "other", {"k": [0.4, 0.5]})]
    info = build_leaderboard(paths, tmp_path / "out", formats=("md",))
    svg = open(info["plots"]["bars"]["svg"], encoding="utf-8").read()
    assert "no value" in svg  # "other" has no m: a hatched marker, not an empty bar
    assert ">0<" in svg or ">0 <" in svg or "0</text>" in svg  # the 0 bar is labelled 0
    assert "…" not in svg  # nothing truncated
    text = re.sub(r"\s+", "", re.sub(r"<[^>]+>", "", svg))
    assert long in text  # wrapped over lines, every character kept


def test_nan_exclusion_cannot_buy_a_better_rank_or_total(tmp_path):
    """A model whose worst videos became NaN ("not applicable") has a higher mean over what
    is left; its coverage differs from the honest model's, so that metric is neither in
    the mean rank nor in the Total, and a note says why."""
    rng = np.random.default_rng(5)
    honest = np.sort(rng.normal(0.9, 0.03, 40))
    gamed = honest.copy()
    gamed[:15] = np.nan
    other = list(rng.normal(0.5, 0.05, 40))
    a = write_from_values(tmp_path / "a", "honest", {"motion_smoothness": list(honest),
                                                     "dynamic_degree": other})
    b = write_from_values(tmp_path / "b", "gamed", {"motion_smoothness": list(gamed),
                                                    "dynamic_degree": other})
    lb = build_table(load_results([a, b]))
    assert lb.value.at["gamed", "motion_smoothness"] > lb.value.at["honest", "motion_smoothness"]
    assert lb.mean_rank["gamed"] == lb.mean_rank["honest"]  # only dynamic_degree is ranked
    assert any("not in the mean rank: motion_smoothness" in n and "gamed: 25/40" in n
               for n in lb.notes)
    assert all("motion_smoothness" not in t["normalised"] for t in lb.totals.values())
    assert any("left out of the Total: motion_smoothness (coverage differs" in n
               for n in lb.notes)
    assert lb.cell("gamed", "motion_smoothness").endswith("[25/40]")
