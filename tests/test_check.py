"""The regression gate: graded drops against a baseline, paired vs unpaired power, the
false-alarm rate under no change, incomparable results, tolerances, JUnit and the CLI."""

from __future__ import annotations

import argparse
import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from vidbench.errors import UserError
from vidbench.leaderboard.check import (
    DROP_NS,
    IMPROVED,
    INCOMPARABLE,
    PASS,
    REGRESSION,
    SKIPPED,
    Tolerance,
    check,
    parse_tolerance,
)
from vidbench.leaderboard.cli import add_check_arguments, main, run_check
from vidbench.leaderboard.load import load_result
from vidbench.leaderboard.testing import metric_entry, write_from_values, write_result

N = 40


def _base(seed: int = 0, n: int = N, sd: float = 0.1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.7, sd, n)


def _pair(tmp_path, base: np.ndarray, new: np.ndarray, name: str = "m", *, hib: bool = True,
          items_new: list[str] | None = None, **kw):
    b = write_from_values(tmp_path / "base", "model", {name: list(base)},
                          higher_is_better={name: hib}, **kw)
    r = write_from_values(tmp_path / "new", "model", {name: list(new)},
                          higher_is_better={name: hib}, items=items_new, **kw)
    return load_result(r), load_result(b)


def _status(tmp_path, base, new, tol=None, **kw) -> str:
    res, bas = _pair(tmp_path, base, new, **kw)
    rep = check(res, bas, default=tol, n_boot=2000)
    return rep.checks[0].status, rep


def test_identical_results_pass(tmp_path):
    x = _base()
    status, rep = _status(tmp_path, x, x)
    assert status == PASS and rep.exit_code == 0
    assert rep.checks[0].delta == 0.0
    assert rep.checks[0].method == "paired bootstrap"


@pytest.mark.parametrize("drop,tol,want", [
    (0.0, None, PASS),
    (0.003, Tolerance("abs", 0.01), PASS),         # real but inside tolerance
    (0.03, Tolerance("abs", 0.01), REGRESSION),    # beyond tolerance, significant
    (0.03, Tolerance("abs", 0.05), PASS),          # tolerance wider than the drop
    (0.03, Tolerance("rel", 0.02), REGRESSION),    # 2% of ~0.7 = 0.014 < 0.03
    (0.03, Tolerance("rel", 0.10), PASS),          # 10% of ~0.7 = 0.07 > 0.03
    (-0.03, None, IMPROVED),
])
def test_graded_drops(tmp_path, drop, tol, want):
    x = _base()
    noise = np.random.default_rng(1).normal(0, 0.005, N)
    status, rep = _status(tmp_path, x, x - drop + noise, tol)
    assert status == want, rep.to_markdown()
    assert rep.exit_code == (1 if want == REGRESSION else 0)
    c = rep.checks[0]
    assert abs(c.delta - (-drop + noise.mean())) < 1e-12  # paired mean of differences
    assert c.delta_ci95[0] <= c.delta <= c.delta_ci95[1]


def test_direction_lower_is_better(tmp_path):
    x = _base() * 100  # e.g. an FVD-like per-video distance
    worse, better = x + 5, x - 5
    assert _status(tmp_path / "a", x, worse, hib=False)[0] == REGRESSION
    assert _status(tmp_path / "b", x, better, hib=False)[0] == IMPROVED


def test_paired_detects_what_unpaired_cannot(tmp_path):
    """Items differ a lot from each other (sd 0.2) but the change per item is a consistent
    -0.02: only pairing removes the between-item variance."""
    x = _base(sd=0.2)
    new = x - 0.02 + np.random.default_rng(5).normal(0, 0.005, N)
    res, bas = _pair(tmp_path, x, new)
    paired = check(res, bas, n_boot=2000).checks[0]
    unpaired = check(res, bas, n_boot=2000, pairing="unpaired").checks[0]
    assert paired.status == REGRESSION and paired.p_value < 0.001
    assert unpaired.status == DROP_NS and unpaired.p_value > 0.05
    assert unpaired.method == "unpaired bootstrap"
    assert abs(paired.delta - unpaired.delta) < 1e-12  # same items: same mean difference


def test_unpaired_when_items_differ(tmp_path):
    x = _base()
    other = [f"other{i}" for i in range(N)]
    res, bas = _pair(tmp_path, x, x - 0.1, items_new=other)
    c = check(res, bas, n_boot=2000).checks[0]
    assert c.method == "unpaired bootstrap" and c.status == REGRESSION
    with pytest.raises(UserError):
        check(res, bas, n_boot=2000, pairing="bogus")
    forced = check(res, bas, n_boot=500, pairing="paired")
    assert forced.checks[0].status == INCOMPARABLE and forced.exit_code == 2


def test_false_alarm_rate_under_no_change(tmp_path):
    """Independent draws of one distribution, unpaired: regressions at level 0.05 should
    be rare (expected <= 5%; allow sampling slack over 60 replicates)."""
    alarms = 0
    reps = 60
    for k in range(reps):
        rng = np.random.default_rng(100 + k)
        b = write_from_values(tmp_path / f"b{k}", "m", {"m": list(rng.normal(0.5, 0.1, 30))},
                              items=[f"b{i}" for i in range(30)])
        r = write_from_values(tmp_path / f"r{k}", "m", {"m": list(rng.normal(0.5, 0.1, 30))},
                              items=[f"r{i}" for i in range(30)])
        rep = check(load_result(r), load_result(b), n_boot=1000, seed=k)
        alarms += rep.checks[0].status == REGRESSION
    assert alarms / reps <= 0.12


def test_false_alarm_rate_paired(tmp_path):
    """Same items re-scored with zero-mean noise: the paired test should rarely fire."""
    alarms = 0
    reps = 60
    for k in range(reps):
        rng = np.random.default_rng(500 + k)
        x = rng.normal(0.5, 0.2, 30)
        b = write_from_values(tmp_path / f"b{k}", "m", {"m": list(x)})
        r = write_from_values(tmp_path / f"r{k}", "m", {"m": list(x + rng.normal(0, 0.01, 30))})
        rep = check(load_result(r), load_result(b), n_boot=1000, seed=k)
        assert rep.checks[0].method == "paired bootstrap"
        alarms += rep.checks[0].status == REGRESSION
    assert alarms / reps <= 0.12


def test_summary_test_for_set_metrics(tmp_path):
    """No per-video data (FVD is set-level): the CIs in result.json carry the noise."""
    def fvd(folder, value, half):
        return write_result(folder, "model", {"fvd": metric_entry(
            value=value, ci95=(value - half, value + half), higher_is_better=False)})

    base = load_result(fvd(tmp_path / "b", 100.0, 2.0))
    worse = load_result(fvd(tmp_path / "w", 120.0, 2.0))
    close = load_result(fvd(tmp_path / "c", 101.0, 2.0))
    c = check(worse, base).checks[0]
    assert c.method == "summary" and c.status == REGRESSION and c.delta == pytest.approx(-20)
    assert check(close, base).checks[0].status == DROP_NS
    assert check(close, base, default=Tolerance("abs", 5)).checks[0].status == PASS
    # no CI at all: a drop is flagged as untested, not failed
    nci = load_result(write_result(tmp_path / "n", "model", {"fvd": metric_entry(
        value=150.0, higher_is_better=False)}))
    rep = check(nci, base)
    assert rep.checks[0].status == "untested" and rep.exit_code == 0


@pytest.mark.parametrize("field,why", [("protocol", "protocol differs"),
                                       ("weights", "weights differ"),
                                       ("comparable", "randomly initialised")])
def test_incomparable_exit_2(tmp_path, field, why):
    x = list(_base())
    kw_b = {"protocol": "aaa", "weights": {"clip": "11" * 32}, "comparable": True}
    kw_r = dict(kw_b)
    kw_r[field] = {"protocol": "bbb", "weights": {"clip": "22" * 32},
                   "comparable": False}[field]
    b = write_result(tmp_path / "b", "m", {"m": metric_entry(x, **kw_b)}, {"m": x})
    r = write_result(tmp_path / "r", "m", {"m": metric_entry(x, **kw_r)}, {"m": x})
    rep = check(load_result(r), load_result(b))
    assert rep.checks[0].status == INCOMPARABLE and rep.exit_code == 2
    assert why in rep.checks[0].reason


def test_incomparable_takes_precedence_and_missing_is_skipped(tmp_path):
    x = list(_base())
    b = write_result(tmp_path / "b", "m", {
        "a": metric_entry(x, protocol="p1"), "b": metric_entry(x, protocol="q"),
        "only_base": metric_entry(x)}, {"a": x, "b": x, "only_base": x})
    y = list(np.asarray(x) - 0.2)
    r = write_result(tmp_path / "r", "m", {
        "a": metric_entry(x, protocol="p2"), "b": metric_entry(y, protocol="q")},
        {"a": x, "b": y})
    rep = check(load_result(r), load_result(b))
    st = {c.metric: c.status for c in rep.checks}
    assert st == {"a": INCOMPARABLE, "b": REGRESSION, "only_base": SKIPPED}
    assert rep.exit_code == 2


def test_tolerance_parsing():
    assert parse_tolerance("clip_score=abs:0.01") == ("clip_score", Tolerance("abs", 0.01))
    assert parse_tolerance("rel:0.02") == (None, Tolerance("rel", 0.02))
    assert parse_tolerance("*=abs:1") == (None, Tolerance("abs", 1.0))
    assert Tolerance("rel", 0.1).absolute(-50.0) == pytest.approx(5.0)
    for bad in ("clip_score=0.01", "clip_score=pct:1", "m=abs:x", "m=abs:-1", "m=abs:nan"):
        with pytest.raises(UserError, match="--tolerance"):
            parse_tolerance(bad)


def test_tolerance_for_unknown_metric_is_an_error(tmp_path):
    x = _base()
    res, bas = _pair(tmp_path, x, x)
    with pytest.raises(UserError, match="clip_scor"):
        check(res, bas, tolerances={"clip_scor": Tolerance("abs", 0.1)})


def test_holm_correction(tmp_path):
    """Five metrics each with a marginal drop: some pass alone at 0.05, fewer after Holm."""
    rng = np.random.default_rng(7)
    base = {f"m{k}": list(rng.normal(0.5, 0.1, 30)) for k in range(5)}
    new = {k: list(np.asarray(v) - 0.004 + rng.normal(0, 0.01, 30)) for k, v in base.items()}
    b = load_result(write_from_values(tmp_path / "b", "x", base))
    r = load_result(write_from_values(tmp_path / "r", "x", new))
    plain = check(r, b, n_boot=4000, correction="none")
    adj = check(r, b, n_boot=4000)  # holm is the default
    n_plain = sum(c.status == REGRESSION for c in plain.checks)
    n_adj = sum(c.status == REGRESSION for c in adj.checks)
    assert n_adj < n_plain
    # Holm by hand: sorted p, multiply by (m - i), running maximum, cap at 1
    ps = sorted(c.p_value for c in adj.checks)
    want, run = [], 0.0
    for i, p in enumerate(ps):
        run = max(run, min(1.0, (len(ps) - i) * p))
        want.append(run)
    assert sorted(c.p_adjusted for c in adj.checks) == pytest.approx(want)


def _args(*argv):
    p = argparse.ArgumentParser()
    add_check_arguments(p)
    return p.parse_args([str(a) for a in argv])


def test_cli_markdown_and_junit(tmp_path, capsys):
    x = _base()
    noise = np.random.default_rng(2).normal(0, 0.005, N)
    b = write_from_values(tmp_path / "b", "m", {"good": list(x), "bad": list(x)})
    r = write_from_values(tmp_path / "r", "m", {"good": list(x + noise),
                                                "bad": list(x - 0.05 + noise)})
    junit = tmp_path / "ci" / "junit.xml"
    code = run_check(_args(r, "--baseline", b, "--tolerance", "bad=abs:0.01",
                           "--junit", junit, "--n-boot", 2000))
    out = capsys.readouterr().out
    assert code == 1
    assert "REGRESSION" in out and "| bad ↑" in out and "| good ↑" in out
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert suite.get("failures") == "1" and suite.get("errors") == "0"
    cases = {tc.get("name"): tc for tc in suite.iter("testcase")}
    assert set(cases) == {"good", "bad"}
    assert cases["bad"].find("failure") is not None
    assert cases["good"].find("failure") is None
    # passing gate
    assert run_check(_args(r, "--baseline", b, "--tolerance", "abs:0.1",
                           "--n-boot", 500)) == 0


def test_cli_schema_mismatch_exit_2_with_junit(tmp_path, capsys):
    b = write_from_values(tmp_path / "b", "m", {"a": list(_base())})
    data = json.loads(b.read_text())
    data["schema"] = "vidbench.result/2"
    r = tmp_path / "r" / "result.json"
    r.parent.mkdir()
    r.write_text(json.dumps(data))
    junit = tmp_path / "j.xml"
    assert run_check(_args(r, "--baseline", b, "--junit", junit)) == 2
    captured = capsys.readouterr()
    assert "vidbench.result/2" in captured.err and "CANNOT COMPARE" in captured.out
    assert ET.parse(junit).getroot().find("testsuite").get("errors") == "1"
    # the standalone entry point maps a bad argument to exit 2 with one line
    assert main(["check", str(b), "--baseline", str(b), "--tolerance", "a=zz:1"]) == 2
    assert "--tolerance" in capsys.readouterr().err


def test_custom_aggregate_falls_back_to_summary(tmp_path):
    """A metric whose headline is not the mean of its per-video scores (dynamic_degree
    reports the fraction of dynamic videos, per-video scores are motion magnitudes) must not
    be bootstrapped from those scores."""
    motion = list(np.linspace(2.0, 14.0, 20))

    def res(folder, frac):
        return load_result(write_result(folder, "m", {"dynamic_degree": metric_entry(
            value=frac, ci95=(frac - 0.1, frac + 0.1))}, {"dynamic_degree": motion}))

    base, new = res(tmp_path / "b", 0.8), res(tmp_path / "r", 0.5)
    assert not base.per_video_matches("dynamic_degree") and base.per_item("dynamic_degree") == {}
    assert any("aggregates its own way" in n for n in base.notes)
    c = check(new, base).checks[0]
    assert c.method == "summary" and c.delta == pytest.approx(-0.3)
    assert c.status == REGRESSION  # 0.3 drop vs se ~0.072: z ~ -4.2
    same = check(res(tmp_path / "s", 0.8), base).checks[0]
    assert same.status == PASS and same.delta == 0.0


def test_missing_value_after_failures_is_a_regression(tmp_path):
    x = list(_base())
    base = load_result(write_result(tmp_path / "b", "m", {"m": metric_entry(x)}, {"m": x}))
    dead = load_result(write_result(tmp_path / "r", "m", {"m": metric_entry(
        value=float("nan"), n_failed=N)}, {"m": [float("nan")] * N}))
    c = check(dead, base).checks[0]
    assert c.status == REGRESSION and f"({N} failed" in c.reason
    assert "coverage fell to zero" in c.reason
    # the metric applied to no video now (all NaN by design) where it applied to all before:
    # a coverage regression with its own message, not "untested"
    na = load_result(write_result(tmp_path / "n", "m", {"m": metric_entry(
        value=float("nan"), n_not_applicable=N)}, {"m": [float("nan")] * N}))
    c = check(na, base).checks[0]
    assert c.status == REGRESSION and "coverage fell to zero" in c.reason
    assert f"{N} not applicable" in c.reason and c.coverage == f"{N}/{N} -> 0/{N}"
    assert check(base, na).checks[0].status == SKIPPED
    # no counts and no videos.jsonl: nothing tells coverage, so it stays untested
    bare = load_result(write_result(tmp_path / "u", "m", {"m": metric_entry(
        value=float("nan"))}, videos=False))
    assert check(bare, base).checks[0].status == "untested"


def test_metrics_filter(tmp_path):
    x = _base()
    b = load_result(write_from_values(tmp_path / "b", "m", {"a": list(x), "b": list(x)}))
    r = load_result(write_from_values(tmp_path / "r", "m", {"a": list(x),
                                                            "b": list(x - 0.2)}))
    assert check(r, b, metrics=["a"]).exit_code == 0
    assert check(r, b, metrics=["b"]).exit_code == 1
    with pytest.raises(UserError, match="nope"):
        check(r, b, metrics=["nope"])


@pytest.mark.slow
def test_through_the_vidbench_cli(tmp_path):
    """The exit codes survive the real console entry point (``python -m vidbench check``)."""
    import os
    import subprocess
    import sys

    x = _base()
    b = write_from_values(tmp_path / "b", "m", {"a": list(x)})
    r = write_from_values(tmp_path / "r", "m", {"a": list(x - 0.2)})
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def run(*argv):
        return subprocess.run([sys.executable, "-m", "vidbench", "check", *map(str, argv)],
                              capture_output=True, text=True, env=env, timeout=300)

    p = run(r, "--baseline", b, "--junit", tmp_path / "j.xml", "--n-boot", 1000)
    assert p.returncode == 1, p.stderr
    assert "REGRESSION" in p.stdout and (tmp_path / "j.xml").exists()
    p = run(tmp_path / "nope.json", "--baseline", b)
    assert p.returncode == 2 and "no such result file" in p.stderr


# ------------------------------------------------------------ issue 15: gate on collapse

def _flags(tmp_path, name, flags, *, motion=None):
    """A dynamic_degree-style result: per-video scores are motion magnitudes, the headline
    is the fraction of videos whose details.dynamic is true."""
    motion = motion if motion is not None else [10.0 if f else 0.5 for f in flags]
    frac = float(np.mean(flags))
    ent = metric_entry(value=frac, ci95=(max(0.0, frac - 0.1), min(1.0, frac + 0.1)),
                       n=len(flags), n_not_applicable=0)
    return load_result(write_result(tmp_path / name, "m", {"dynamic_degree": ent},
                                    {"dynamic_degree": motion},
                                    details={"dynamic_degree": [{"dynamic": bool(f)}
                                                                for f in flags]}))


def test_aggregate_only_metric_is_compared_per_video(tmp_path):
    """dynamic_degree's headline (fraction of dynamic videos) is not the mean of its
    per-video scores; the gate finds the per-video flag that reproduces it and pairs it."""
    base = _flags(tmp_path, "b", [True] * 12)
    frozen = _flags(tmp_path, "r", [False] * 12)
    assert base.unit_source("dynamic_degree") == "details.dynamic"
    c = check(frozen, base, n_boot=2000).checks[0]
    assert c.status == REGRESSION and c.method.startswith("paired bootstrap")
    assert "details.dynamic" in c.method and c.delta == -1.0
    same = check(_flags(tmp_path, "s", [True] * 12), base, n_boot=2000)
    assert same.exit_code == 0 and same.checks[0].status == PASS
    one = check(_flags(tmp_path, "o", [True] * 11 + [False]), base, n_boot=2000).checks[0]
    assert one.status == DROP_NS  # one video of 12 is noise, not a collapse


def test_worst_videos_turning_nan_cannot_look_better(tmp_path):
    """Leaving NaNs out raises the mean of the remaining videos; the coverage test makes
    that a regression, whatever the value test says."""
    x = np.sort(_base(seed=3))
    honest = load_result(write_from_values(tmp_path / "b", "model", {"m": list(x)}))
    cheat = x.copy()
    cheat[: N // 3] = np.nan  # the worst third become "not applicable"
    gamed = load_result(write_from_values(tmp_path / "r", "model", {"m": list(cheat)}))
    assert gamed.metrics["m"].value > honest.metrics["m"].value  # looks better ...
    c = check(gamed, honest, n_boot=2000).checks[0]
    assert c.status == REGRESSION and "coverage fell from 40/40" in c.reason  # ... but fails
    assert c.coverage == f"{N}/{N} -> {N - N // 3}/{N}"


def test_coverage_within_tolerance_and_false_alarms(tmp_path):
    """Random not-applicable videos at the same rate on both sides rarely fail the coverage
    test (one-sided Fisher exact at level 0.05: at most ~5%, in practice fewer)."""
    from vidbench.leaderboard.check import coverage_test

    rng = np.random.default_rng(7)
    alarms, trials = 0, 60
    for t in range(trials):
        vals = []
        for side in ("b", "r"):
            v = _base(seed=100 + 2 * t + (side == "r"))
            v[rng.random(N) < 0.25] = np.nan
            vals.append(load_result(write_from_values(tmp_path / f"{side}{t}", "model",
                                                      {"m": list(v)})))
        _, fail = coverage_test(vals[0], vals[1], "m", 0.1, 0.05)
        alarms += bool(fail)
    assert alarms / trials <= 0.1
    x = _base()
    y = x.copy()
    y[:2] = np.nan  # 40/40 -> 38/40: within the 0.1 tolerance
    r = load_result(write_from_values(tmp_path / "y", "model", {"m": list(y)}))
    b = load_result(write_from_values(tmp_path / "x", "model", {"m": list(x)}))
    assert coverage_test(b, r, "m", 0.1, 0.05)[1] == ""


@pytest.mark.parametrize("literal", ["-Infinity", "NaN", "Infinity", "1e999"])
def test_non_finite_value_is_a_failure_never_a_pass(tmp_path, literal):
    x = list(_base())
    base = write_result(tmp_path / "b", "m", {"m": metric_entry(x)}, {"m": x})
    bad = write_result(tmp_path / "r", "m", {"m": metric_entry(x)}, {"m": x})
    txt = bad.read_text()
    d = json.loads(txt)
    d["metrics"]["m"]["value"] = "@@"
    bad.write_text(json.dumps(d).replace('"@@"', literal))
    rep = check(load_result(bad), load_result(base))
    assert rep.checks[0].status == REGRESSION and "non-finite" in rep.checks[0].reason
    assert rep.exit_code == 1
    # the same number in the baseline makes the gate unable to vouch: exit 2
    assert check(load_result(base), load_result(bad)).exit_code == 2


def test_non_finite_per_video_score_fails(tmp_path):
    x = list(_base())
    base = write_result(tmp_path / "b", "m", {"m": metric_entry(x)}, {"m": x})
    r = write_result(tmp_path / "r", "m", {"m": metric_entry(x)}, {"m": x})
    vj = r.parent / "videos.jsonl"
    lines = vj.read_text().splitlines()
    d = json.loads(lines[5])
    d["scores"]["m"] = "@@"
    lines[5] = json.dumps(d).replace('"@@"', "-Infinity")
    vj.write_text("\n".join(lines) + "\n")
    c = check(load_result(r), load_result(base)).checks[0]
    assert c.status == REGRESSION and "1 per-video score(s) are non-finite" in c.reason


def test_strict_turns_untested_into_failure(tmp_path, capsys):
    def summary_only(folder, v):
        return write_result(tmp_path / folder, "m", {"fvd": metric_entry(
            value=v, higher_is_better=False)}, videos=False)

    b, r = summary_only("b", 100.0), summary_only("r", 130.0)  # no CI, no per-video data
    rep = check(load_result(r), load_result(b))
    assert rep.checks[0].status == "untested" and rep.exit_code == 0
    assert "**Untested**" in rep.to_markdown() and "fvd" in rep.to_markdown()
    assert check(load_result(r), load_result(b), strict=True).exit_code == 1
    assert main(["check", str(r), "--baseline", str(b), "--strict"]) == 1
    assert main(["check", str(r), "--baseline", str(b)]) == 0


def test_family_wise_false_alarm_rate_of_a_rerun(tmp_path):
    """A rerun with no real change, gated on 4 metrics at once, fails in at most ~level of
    the runs with the default Holm correction (per-metric testing would fail in ~4x as
    many)."""
    rng = np.random.default_rng(11)
    trials, fails, fails_plain = 40, 0, 0
    for t in range(trials):
        per_item = {f"m{k}": rng.normal(0.6, 0.1, 20) for k in range(4)}
        base = {k: list(v + rng.normal(0, 0.02, 20)) for k, v in per_item.items()}
        new = {k: list(v + rng.normal(0, 0.02, 20)) for k, v in per_item.items()}
        b = load_result(write_from_values(tmp_path / f"b{t}", "x", base))
        r = load_result(write_from_values(tmp_path / f"r{t}", "x", new))
        fails += check(r, b, n_boot=500, seed=t).exit_code == 1
        fails_plain += check(r, b, n_boot=500, seed=t, correction="none").exit_code == 1
    assert fails / trials <= 0.125
    assert fails <= fails_plain


@pytest.mark.slow
def test_collapse_is_caught_end_to_end_on_physics_mini(tmp_path, capsys):
    """The real runner on physics-mini (no pretrained weights needed): a frozen model
    (baseline:copy-last) gated against the analytic ground truth fails naming
    dynamic_degree (paired per video through details.dynamic) and physics_consistency
    (coverage fell to zero); the ground truth against itself passes; the leaderboard of
    both lists the metrics that were not measured."""
    from vidbench.cli import main as vidbench_main

    for model, name in (("physics-gt", "gt"), ("baseline:copy-last", "frozen")):
        assert vidbench_main(["run", "--model", model, "--suite", "physics-mini",
                              "--out", str(tmp_path / name)]) == 0
    capsys.readouterr()
    rc = vidbench_main(["check", str(tmp_path / "frozen"), "--baseline", str(tmp_path / "gt")])
    out = capsys.readouterr().out
    assert rc == 1
    regressed = out.split("**Regressed:**")[1].splitlines()[0]
    assert "dynamic\\_degree" in regressed and "physics\\_consistency" in regressed
    # frozen clips leave physics_consistency nothing (or almost nothing) to track: 0-1 of 12
    assert re.search(r"coverage fell (to zero|from 12/12 \(100%\) to [01]/12)", out)
    assert "details.dynamic" in out
    assert vidbench_main(["check", str(tmp_path / "gt"), "--baseline", str(tmp_path / "gt")]) == 0
    capsys.readouterr()
    assert vidbench_main(["leaderboard", str(tmp_path / "gt"), str(tmp_path / "frozen"),
                          "--out", str(tmp_path / "board"), "--no-plots"]) == 0
    md = (tmp_path / "board" / "leaderboard.md").read_text(encoding="utf-8")
    saved = json.loads((tmp_path / "gt" / "result.json").read_text())
    for skipped in saved["skipped"]:
        assert skipped.replace("_", "\\_") + ": not run" in md
