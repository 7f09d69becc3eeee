"""The CI regression gate: is a result worse than its baseline, beyond tolerance and noise?

For each metric present in both results, with ``s = +1`` when higher is better and ``-1``
otherwise, the change in the "better" direction is

    paired:    delta = mean_i s * (new_i - base_i)          over items scored in both runs
    unpaired:  delta = s * (mean(new) - mean(base))          over each run's own items
    summary:   delta = s * (new.value - base.value)          from result.json alone

Per-video values are averaged per item first (an item with several seeds is one unit).
Paired is used when the runs share at least 2 items and the shared items are at least half
of the smaller run (``--pairing auto``); unpaired when they share fewer or per-video data
are missing on one side; the summary test (normal approximation with standard errors read
from each 95% CI, ``se = (hi - lo) / 3.92``) when neither side has per-video values (e.g.
FVD, a set-level metric).

Decision at level ``alpha`` (default 0.05) with tolerance ``tol`` (``abs:a`` -> ``a``;
``rel:r`` -> ``r * |baseline value|``; default 0):

- **regression** (exit 1) when ``delta < -tol`` AND the one-sided bootstrap-t p-value of
  "no drop" is below ``alpha``: with ``t = delta / se``, ``p = (1 + #{t* <= t}) / (B + 1)``
  where ``t* = (delta* - delta) / se*`` over ``B`` seeded bootstrap resamples of items
  (paired: the same items on both sides; unpaired: independently per side, Welch standard
  errors). Studentising keeps the false-alarm rate at ``alpha`` for the small item counts
  of CI suites, where the plain percentile bootstrap is liberal. The p-values are
  Holm-adjusted over the metrics tested (the default, ``--correction holm``: the chance
  that a no-change rerun fails on *any* metric stays at ``alpha``; ``--correction none``
  tests each metric at ``alpha`` alone).
- **drop (n.s.)**: beyond tolerance but not significant -- passes, shown in the summary.
- **untested**: beyond tolerance and no way to estimate noise (no per-video data, no CI), or
  the result has no value where the baseline had one and no more videos failed -- passes
  with a warning. No value *with* more failed videos than the baseline is a regression.
- **improved** / **pass** otherwise.
- **coverage** (its own regression): with ``c = n / (n + n_failed + n_not_applicable)``
  the share of videos a metric produced a value for, a result whose coverage fell by more
  than ``--coverage-tolerance`` (default 0.1, absolute) below the baseline's is a
  regression when it fell to zero (the metric applied to no video: nothing left to
  compare) or when the drop is significant (one-sided Fisher exact test on the two 2x2
  counts, p < ``alpha``); a drop beyond tolerance that is not significant is reported.
  This holds whatever the value test says, because a mean over fewer videos can look
  better than an honest score would (the worst videos turning NaN).
- **non-finite**: a value, CI bound or per-video score written as NaN/Infinity (``null``
  is how "no value" is written) is a failure in the result (exit 1) and makes a baseline
  unusable (exit 2); it is never a pass.

Per-video units: the paired/unpaired tests resample the per-video field whose mean is the
reported value: the scores, or for metrics that aggregate a per-video flag (dynamic_degree
reports the fraction of videos whose ``details.dynamic`` is true) that detail field,
named in ``per_video`` of the metric entry or found by checking which field reproduces the
value. Only when no per-video field does is the summary test used.

``--strict`` turns every **untested** metric into a failure (exit 1); untested metrics are
listed at the top of the summary either way.
- **incomparable** (exit 2) when the protocol hash, the weights or the ``comparable`` flag
  differ for a metric, or the schemas differ: the numbers measure different things.
  Exit 2 takes precedence over exit 1, because a misconfigured gate cannot vouch for
  anything.

Metrics present on one side only are reported as skipped.

**Language gaps** (runs over several languages, e.g. ``--lang en,zh``; docs/bilingual.md):
for each metric whose result.json entry has a paired ``gap`` (ZH minus EN) on both sides, a
check named ``gap:METRIC`` compares the gaps: ``delta = s * (new.gap - base.gap)`` (a gap that
widens against the language is a drop), tested like a summary metric from the two gap CIs
(``se = (hi - lo) / 3.92``; both CIs of zero width: the gaps are exact and any drop beyond
tolerance is a regression). ``--tolerance gap:METRIC=abs:X`` sets its tolerance (default:
the global one). A gap on one side only is reported as skipped. Gap checks join the Holm
correction like any other metric.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidbench.errors import UserError
from vidbench.leaderboard.escape import clean_text, md_escape
from vidbench.leaderboard.load import MetricEntry, Result

PASS, IMPROVED, REGRESSION, DROP_NS, UNTESTED, INCOMPARABLE, SKIPPED = (
    "pass", "improved", "regression", "drop (n.s.)", "untested", "incomparable", "skipped")
DEFAULT_BOOT = 10000
#: --n-boot above this is refused (memory and time grow linearly with it)
MAX_BOOT = 1_000_000
DEFAULT_COVERAGE_TOL = 0.1


@dataclass(frozen=True)
class Tolerance:
    """``abs``: an absolute amount; ``rel``: a fraction of the baseline's magnitude."""

    kind: str
    amount: float

    def absolute(self, baseline: float) -> float:
        return self.amount if self.kind == "abs" else self.amount * abs(baseline)

    def __str__(self) -> str:
        return f"{self.kind}:{self.amount:g}"


def parse_tolerance(spec: str) -> tuple[str | None, Tolerance]:
    """``metric=abs:0.01`` / ``metric=rel:0.02`` / ``abs:0.01`` (all metrics) ->
    (metric or None, Tolerance)."""
    metric, _, rhs = spec.rpartition("=")
    kind, sep, amount = rhs.partition(":")
    if not sep or kind not in ("abs", "rel"):
        raise UserError(f"--tolerance {spec!r}: expected METRIC=abs:X or METRIC=rel:X "
                        "(or abs:X / rel:X for every metric)")
    try:
        x = float(amount)
    except ValueError:
        raise UserError(f"--tolerance {spec!r}: {amount!r} is not a number") from None
    if not math.isfinite(x) or x < 0:
        raise UserError(f"--tolerance {spec!r}: the amount must be a finite number >= 0")
    metric = metric.strip()
    return (metric if metric not in ("", "*") else None), Tolerance(kind, x)


@dataclass
class MetricCheck:
    """The gate's verdict on one metric."""

    metric: str
    status: str
    higher_is_better: bool | None = None
    baseline: float = math.nan
    result: float = math.nan
    delta: float = math.nan          # in the "better" direction: < 0 is a drop
    delta_ci95: tuple[float, float] = (math.nan, math.nan)
    tolerance: str = "abs:0"
    tol_abs: float = 0.0
    p_value: float = math.nan        # one-sided, "no drop"
    p_adjusted: float = math.nan
    method: str = ""
    n: str = ""
    reason: str = ""
    coverage: str = ""               # "12/12 -> 0/12" when known
    coverage_fail: str = ""          # the coverage regression's message, if any


@dataclass
class CheckReport:
    result: str
    baseline: str
    level: float
    checks: list[MetricCheck]
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    strict: bool = False

    @property
    def untested(self) -> list[MetricCheck]:
        return [c for c in self.checks if c.status == UNTESTED]

    @property
    def exit_code(self) -> int:
        if self.error or any(c.status == INCOMPARABLE for c in self.checks):
            return 2
        if not any(c.status not in (SKIPPED,) for c in self.checks):
            return 2
        if any(c.status == REGRESSION for c in self.checks):
            return 1
        return 1 if self.strict and self.untested else 0

    @property
    def verdict(self) -> str:
        return {0: "PASS", 1: "REGRESSION", 2: "CANNOT COMPARE"}[self.exit_code]

    def to_markdown(self) -> str:
        icon = {PASS: "✅", IMPROVED: "⬆️", REGRESSION: "❌", DROP_NS: "➖", UNTESTED: "⚠️",
                INCOMPARABLE: "⛔", SKIPPED: "·"}
        out = [f"## vidbench check: **{self.verdict}**", "",
               f"result `{self.result}` vs baseline `{self.baseline}`; level α = {self.level:g}",
               ""]
        if self.error:
            out += [f"**Cannot compare:** {md_escape(self.error)}", ""]
        regs = [c for c in self.checks if c.status == REGRESSION]
        if regs:
            out += ["**Regressed:** " + ", ".join(md_escape(c.metric) for c in regs), ""]
        if self.untested:
            out += [("**Untested** (" + ("fails under --strict" if self.strict else
                                          "passes; --strict makes this a failure")
                     + "): " + ", ".join(md_escape(c.metric) for c in self.untested)), ""]
        if self.checks:
            out += ["| metric | baseline | result | Δ (better +) | 95% CI of Δ | tolerance | p |"
                    " test | coverage | status |",
                    "|---|---:|---:|---:|---:|---:|---:|---|---|---|"]
            for c in self.checks:
                ci = ("–" if not np.isfinite(c.delta_ci95[0])
                      else f"[{_f(c.delta_ci95[0])}, {_f(c.delta_ci95[1])}]")
                arrow = "" if c.higher_is_better is None else (" ↑" if c.higher_is_better
                                                               else " ↓")
                p = _f(c.p_adjusted if np.isfinite(c.p_adjusted) else c.p_value, 3)
                out.append(f"| {md_escape(c.metric)}{arrow} | {_f(c.baseline)} | "
                           f"{_f(c.result)} | {_f(c.delta, sign=True)} | {ci} | {c.tolerance} "
                           f"| {p} | {c.method}{' ' + c.n if c.n else ''} | "
                           f"{c.coverage or '–'} | {icon.get(c.status, '')} {c.status} |")
            out.append("")
        reasons = [f"- **{md_escape(c.metric)}**: {md_escape(c.reason)}"
                   for c in self.checks if c.reason]
        out += reasons + [f"- {md_escape(n)}" for n in self.notes]
        return "\n".join(out).rstrip() + "\n"

    def to_junit(self) -> str:
        """JUnit XML: one testcase per metric; regression -> <failure>, incomparable ->
        <error>, skipped -> <skipped>."""
        fails = sum(c.status == REGRESSION for c in self.checks)
        errs = sum(c.status == INCOMPARABLE for c in self.checks) + (1 if self.error else 0)
        skips = sum(c.status == SKIPPED for c in self.checks)
        suites = ET.Element("testsuites", name="vidbench check")
        suite = ET.SubElement(suites, "testsuite", name="vidbench.check",
                              tests=str(len(self.checks) + (1 if self.error else 0)),
                              failures=str(fails), errors=str(errs), skipped=str(skips))
        props = ET.SubElement(suite, "properties")
        for k, v in (("result", self.result), ("baseline", self.baseline),
                     ("level", f"{self.level:g}"), ("verdict", self.verdict)):
            ET.SubElement(props, "property", name=k, value=str(v))
        if self.error:
            tc = ET.SubElement(suite, "testcase", classname="vidbench.check", name="compare")
            ET.SubElement(tc, "error", message=self.error, type="incomparable").text = self.error
        for c in self.checks:
            tc = ET.SubElement(suite, "testcase", classname="vidbench.check", name=c.metric)
            detail = (f"baseline={_f(c.baseline)} result={_f(c.result)} "
                      f"delta={_f(c.delta, sign=True)} tolerance={c.tolerance} "
                      f"p={_f(c.p_value, 4)} test={c.method} {c.n} status={c.status}"
                      + (f"\n{c.reason}" if c.reason else ""))
            if c.status == REGRESSION:
                ET.SubElement(tc, "failure", message=f"{c.metric} regressed: {c.reason}",
                              type="regression").text = detail
            elif c.status == INCOMPARABLE:
                ET.SubElement(tc, "error", message=c.reason, type="incomparable").text = detail
            elif c.status == SKIPPED:
                ET.SubElement(tc, "skipped", message=c.reason)
            else:
                ET.SubElement(tc, "system-out").text = detail
        ET.indent(suites)
        return clean_text('<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(
            suites, encoding="unicode") + "\n")


def _f(x: float, digits: int = 4, sign: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    return f"{x:+.{digits}g}" if sign else f"{x:.{digits}g}"


def _boot_means(x: np.ndarray, idx_rng: np.random.Generator, n_boot: int,
                with_var: bool = False):
    """Means of ``n_boot`` resamples of ``x`` (and their variances of the mean, when
    ``with_var``), drawn in chunks of 1000 so memory stays at 1000 x n floats."""
    out = np.empty(n_boot)
    var = np.empty(n_boot)
    n = len(x)
    for s in range(0, n_boot, 1000):
        k = min(1000, n_boot - s)
        xs = x[idx_rng.integers(0, n, size=(k, n))]
        out[s:s + k] = xs.mean(axis=1)
        if with_var:
            var[s:s + k] = xs.var(axis=1, ddof=1) / n
    return (out, var) if with_var else out


def _t_p(obs_t: float, t_boot: np.ndarray) -> float:
    """One-sided bootstrap-t p-value of "no drop": ``(1 + #{t* <= t}) / (B + 1)``."""
    return float((1 + np.sum(t_boot <= obs_t)) / (len(t_boot) + 1))


def _studentised(delta: float, se: float, boot: np.ndarray, se_boot: np.ndarray) -> float:
    """Bootstrap-t p-value: ``t = delta / se`` against ``t* = (delta* - delta) / se*``.
    The percentile bootstrap of a mean is too narrow for small n (about 1.5x the nominal
    false-alarm rate at n = 12-20); the studentised version is second-order accurate.
    Zero standard errors (every item moved by the same amount) are handled exactly."""
    with np.errstate(all="ignore"):
        if not se > 0:
            return 1.0 / (len(boot) + 1) if delta < 0 else 1.0
        t_boot = np.where(se_boot > 0, (boot - delta) / np.sqrt(se_boot),
                          np.where(boot == delta, 0.0, np.sign(boot - delta) * np.inf))
        return _t_p(delta / se, t_boot)


def _incomparable_reason(b: MetricEntry, r: MetricEntry) -> str:
    why = []
    if b.protocol != r.protocol:
        why.append(f"protocol differs (baseline {b.protocol}, result {r.protocol})")
    if b.weights != r.weights:
        why.append(f"weights differ (baseline {b.weights}, result {r.weights})")
    if b.comparable != r.comparable:
        why.append("one side used randomly initialised weights (comparable: "
                   f"baseline {b.comparable}, result {r.comparable})")
    if b.higher_is_better != r.higher_is_better:
        why.append("higher_is_better differs")
    return "; ".join(why)


def _nonfinite_in(res: Result, name: str) -> str:
    """Why ``name`` of ``res`` holds a non-finite number ('' when it does not)."""
    e = res.metrics[name]
    if e.nonfinite:
        return f"its value or CI is non-finite ({e.value:g}, [{e.ci95[0]:g}, {e.ci95[1]:g}])"
    bad = sum(name in rec.nonfinite for rec in res.videos or [])
    return f"{bad} per-video score(s) are non-finite (NaN/Infinity)" if bad else ""


def coverage_test(baseline: Result, result: Result, name: str, tol: float, level: float
                  ) -> tuple[str, str]:
    """(``"12/12 -> 0/12"``, regression message or '') for the coverage of ``name`` (see
    the module docstring); ('', '') when either side's counts are unknown."""
    cb, cr = baseline.coverage_counts(name), result.coverage_counts(name)
    if cb is None or cr is None or cb[1] == 0 or cr[1] == 0:
        return "", ""
    (kb, tb), (kr, tr) = cb, cr
    text = f"{kb}/{tb} -> {kr}/{tr}"
    drop = kb / tb - kr / tr
    if drop <= tol:
        return text, ""
    e = result.metrics[name]
    why = f" ({e.n_failed} failed" + (f", {e.n_not_applicable} not applicable)"
                                      if e.n_not_applicable is not None else ")")
    if kr == 0:
        return text, (f"coverage fell to zero: the metric applied to {kb} of {tb} videos in "
                      f"the baseline and to none of {tr} now{why}")
    from scipy.stats import fisher_exact

    p = float(fisher_exact([[kb, tb - kb], [kr, tr - kr]], alternative="greater")[1])
    msg = (f"coverage fell from {kb}/{tb} ({kb / tb:.0%}) to {kr}/{tr} ({kr / tr:.0%}) "
           f"videos{why}, beyond the coverage tolerance {tol:g}")
    if p < level:
        return text, f"{msg}; Fisher exact p = {p:.3g} < {level:g}"
    return text + f" (drop n.s., p = {p:.2g})", ""


def compare_metric(baseline: Result, result: Result, name: str, tol: Tolerance, *,
                   level: float = 0.05, n_boot: int = DEFAULT_BOOT, seed: int = 0,
                   pairing: str = "auto", coverage_tol: float = DEFAULT_COVERAGE_TOL
                   ) -> MetricCheck:
    """The verdict on one metric present in both results (see module docstring)."""
    b, r = baseline.metrics[name], result.metrics[name]
    c = MetricCheck(metric=name, status=PASS, higher_is_better=b.higher_is_better,
                    baseline=b.value, result=r.value, tolerance=str(tol))
    why = _incomparable_reason(b, r)
    bad_base = _nonfinite_in(baseline, name)
    if bad_base:
        why = "; ".join(x for x in (why, f"the baseline is unusable: {bad_base}") if x)
    if why:
        c.status, c.reason = INCOMPARABLE, why
        return c
    bad = _nonfinite_in(result, name)
    if bad:
        c.status, c.reason = REGRESSION, f"non-finite result: {bad}"
        return c
    c.coverage, c.coverage_fail = coverage_test(baseline, result, name, coverage_tol, level)
    s = 1.0 if b.higher_is_better else -1.0
    c.tol_abs = tol.absolute(b.value) if np.isfinite(b.value) else tol.amount
    bi, ri = baseline.per_item(name), result.per_item(name)
    shared = sorted(set(bi) & set(ri))
    rng = np.random.default_rng(seed)
    use_paired = (pairing == "paired" or (pairing == "auto" and len(shared) >= 2
                  and len(shared) >= 0.5 * min(len(bi), len(ri))))
    boot = None
    t_p = math.nan
    src = result.unit_source(name)
    unit = "" if src in (None, "scores") else f" of per-video {src}"
    with np.errstate(all="ignore"):
        if use_paired and len(shared) >= 2:
            d = s * (np.array([ri[k] for k in shared]) - np.array([bi[k] for k in shared]))
            c.delta = float(d.mean())
            boot, vb = _boot_means(d, rng, n_boot, with_var=True)
            t_p = _studentised(c.delta, math.sqrt(d.var(ddof=1) / len(d)), boot, vb)
            c.method = "paired bootstrap" + unit
            c.n = f"n={len(shared)}"
            dropped = len(set(bi) | set(ri)) - len(shared)
            if dropped:
                c.n += f" (+{dropped} unshared)"
        elif pairing != "paired" and len(bi) >= 2 and len(ri) >= 2:
            xb = np.array(list(bi.values()))
            xr = np.array(list(ri.values()))
            c.delta = float(s * (xr.mean() - xb.mean()))
            mr, vr = _boot_means(xr, rng, n_boot, with_var=True)
            mb, vbb = _boot_means(xb, rng, n_boot, with_var=True)
            boot = s * (mr - mb)
            se = math.sqrt(xr.var(ddof=1) / len(xr) + xb.var(ddof=1) / len(xb))
            t_p = _studentised(c.delta, se, boot, vr + vbb)  # Welch-type
            c.method = "unpaired bootstrap" + unit
            c.n = f"n={len(ri)}/{len(bi)}"
        elif pairing == "paired" and np.isfinite(r.value) and np.isfinite(b.value):
            c.status, c.reason = INCOMPARABLE, (f"--pairing paired but only {len(shared)} "
                                                "shared items with per-video values")
            return c
        else:
            c.delta = float(s * (r.value - b.value))
            c.method = "summary"
            half = [(e.ci95[1] - e.ci95[0]) / 3.92 for e in (b, r)]
            if all(np.isfinite(x) for x in half) and sum(x * x for x in half) > 0:
                from scipy.stats import norm

                sd = math.sqrt(sum(x * x for x in half))
                # one-sided p of "no drop": Phi(delta / sd), the normal analogue of
                # P*(delta* >= 0)
                c.p_value = (float(norm.cdf(c.delta / sd)) if np.isfinite(c.delta)
                             and np.isfinite(sd) else math.nan)
                c.delta_ci95 = (c.delta - 1.96 * sd, c.delta + 1.96 * sd)
            c.n = f"n={r.n}/{b.n}"
        if boot is not None:
            c.p_value = t_p
            c.delta_ci95 = (float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975)))
    if not np.isfinite(c.delta):
        if np.isfinite(b.value) and np.isfinite(r.value):
            c.status, c.reason = INCOMPARABLE, ("the difference of the values is not a finite "
                                                "number (values too large to compare)")
            return c
        if np.isfinite(b.value) and not np.isfinite(r.value):
            if c.coverage_fail:
                c.status, c.reason = REGRESSION, c.coverage_fail
            elif r.n_failed > b.n_failed:  # e.g. every video failed to decode: not a pass
                c.status = REGRESSION
                c.reason = (f"the result has no value: {r.n_failed} failed videos "
                            f"(baseline {b.n_failed})")
            else:
                c.status = UNTESTED
                c.reason = ("the result has no value (the metric applied to no video); the "
                            f"baseline had {b.value:.4g}; coverage unknown")
        elif np.isfinite(r.value):
            c.status, c.reason = SKIPPED, "the baseline has no value"
        else:
            c.status, c.reason = SKIPPED, "no value on either side"
        return c
    _decide(c, level)
    return c


def compare_gap(baseline: Result, result: Result, name: str, tol: Tolerance, *,
                level: float = 0.05) -> MetricCheck:
    """The verdict on the language gap of ``name`` (module docstring, "Language gaps")."""
    b = baseline.metrics.get(name)
    r = result.metrics.get(name)
    gb, gr = (b.gap if b else None), (r.gap if r else None)
    c = MetricCheck(metric=f"gap:{name}", status=PASS, tolerance=str(tol),
                    higher_is_better=(b or r).higher_is_better)  # type: ignore[union-attr]
    if gb is None or gr is None:
        c.status = SKIPPED
        c.reason = f"no language gap in the {'baseline' if gb is None else 'result'}"
        return c
    why = _incomparable_reason(b, r)  # type: ignore[arg-type]
    if why or (gb.lang, gb.base) != (gr.lang, gr.base):
        c.status = INCOMPARABLE
        c.reason = why or (f"gaps between different languages ({gr.lang}-{gr.base} vs "
                           f"{gb.lang}-{gb.base})")
        return c
    s = 1.0 if c.higher_is_better else -1.0
    c.baseline, c.result = gb.value, gr.value
    c.tol_abs = tol.absolute(gb.value)
    c.delta = float(s * (gr.value - gb.value))
    c.method = "summary (paired gap CIs)"
    c.n = f"pairs={gr.n_pairs}/{gb.n_pairs}"
    if not np.isfinite(c.delta):
        c.status, c.reason = SKIPPED, "no gap value on one side"
        return c
    se = [(g.ci95[1] - g.ci95[0]) / 3.92 for g in (gb, gr)]
    if all(np.isfinite(x) for x in se):
        sd = math.sqrt(sum(x * x for x in se))
        if sd > 0:
            from scipy.stats import norm

            c.p_value = float(norm.cdf(c.delta / sd))
        else:  # both gaps exact (e.g. identical videos in both languages)
            c.p_value = 0.0 if c.delta < 0 else 1.0
        c.delta_ci95 = (c.delta - 1.96 * sd, c.delta + 1.96 * sd)
    _decide(c, level)
    return c


def _decide(c: MetricCheck, level: float) -> None:
    p = c.p_adjusted if np.isfinite(c.p_adjusted) else c.p_value
    c.reason = ""
    if c.delta < -c.tol_abs:
        if not np.isfinite(p):
            c.status = UNTESTED
            c.reason = (f"dropped by {-c.delta:.4g} (> tolerance {c.tol_abs:.4g}) but there is "
                        "no per-video data or CI to tell noise from change")
        elif p < level:
            c.status = REGRESSION
            c.reason = (f"dropped by {-c.delta:.4g} (> tolerance {c.tol_abs:.4g}), "
                        f"p = {p:.3g} < {level:g}")
        else:
            c.status = DROP_NS
            c.reason = ""
    elif c.delta > c.tol_abs and np.isfinite(c.delta_ci95[0]) and c.delta_ci95[0] > 0:
        c.status = IMPROVED
    else:
        c.status = PASS
    if c.coverage_fail:
        value_part = f" (value test: {c.status}{'; ' + c.reason if c.reason else ''})"
        c.status, c.reason = REGRESSION, c.coverage_fail + value_part


def holm(checks: list[MetricCheck], level: float) -> None:
    """Holm step-down adjustment of the p-values of the tested metrics, then re-decide."""
    tested = sorted((c for c in checks if np.isfinite(c.p_value)
                     and c.status not in (INCOMPARABLE, SKIPPED)), key=lambda c: c.p_value)
    m = len(tested)
    running = 0.0
    for i, c in enumerate(tested):
        running = max(running, min(1.0, (m - i) * c.p_value))
        c.p_adjusted = running
        _decide(c, level)


def check(result: Result, baseline: Result, *, tolerances: dict[str, Tolerance] | None = None,
          default: Tolerance | None = None, level: float = 0.05, n_boot: int = DEFAULT_BOOT,
          seed: int = 0, pairing: str = "auto", correction: str = "holm",
          metrics: list[str] | None = None, coverage_tol: float = DEFAULT_COVERAGE_TOL,
          strict: bool = False) -> CheckReport:
    """Gate ``result`` against ``baseline`` (see module docstring)."""
    if not 0 < level < 1:
        raise UserError(f"--level {level}: must be between 0 and 1")
    if not 0 <= coverage_tol <= 1:
        raise UserError(f"--coverage-tolerance {coverage_tol}: must be between 0 and 1")
    if not 1 <= n_boot <= MAX_BOOT:
        raise UserError(f"--n-boot {n_boot}: must be between 100 and {MAX_BOOT}")
    if pairing not in ("auto", "paired", "unpaired"):
        raise UserError(f"--pairing {pairing!r}: use auto, paired or unpaired")
    tolerances = tolerances or {}
    default = default or Tolerance("abs", 0.0)
    rep = CheckReport(result=str(result.path), baseline=str(baseline.path), level=level,
                      checks=[], strict=strict)
    known = set(result.metrics) | set(baseline.metrics)
    gaps = [n for n in dict.fromkeys([*baseline.metrics, *result.metrics])
            if (n in baseline.metrics and baseline.metrics[n].gap is not None)
            or (n in result.metrics and result.metrics[n].gap is not None)]
    known |= {f"gap:{n}" for n in gaps}
    unknown = sorted(set(tolerances) - known)
    if unknown:
        raise UserError(f"--tolerance names metric(s) in neither result: {', '.join(unknown)} "
                        f"(known: {', '.join(sorted(known))})")
    if metrics:
        missing = sorted(set(metrics) - known)
        if missing:
            raise UserError(f"--metrics names metric(s) in neither result: {', '.join(missing)}")
    if result.schema != baseline.schema:
        rep.error = f"schema differs (result {result.schema}, baseline {baseline.schema})"
        return rep
    names = [m for m in dict.fromkeys([*baseline.metrics, *result.metrics])
             if not metrics or m in metrics]
    for name in names:
        if name not in result.metrics or name not in baseline.metrics:
            side = "result" if name not in result.metrics else "baseline"
            rep.checks.append(MetricCheck(metric=name, status=SKIPPED,
                                          reason=f"not in the {side}"))
            continue
        tol = tolerances.get(name, default)
        rep.checks.append(compare_metric(baseline, result, name, tol, level=level,
                                         n_boot=n_boot, seed=seed, pairing=pairing,
                                         coverage_tol=coverage_tol))
    for name in gaps:
        if not metrics or name in metrics or f"gap:{name}" in metrics:
            rep.checks.append(compare_gap(baseline, result, name,
                                          tolerances.get(f"gap:{name}", default),
                                          level=level))
    if correction == "holm":
        holm(rep.checks, level)
    elif correction != "none":
        raise UserError(f"--correction {correction!r}: use none or holm")
    if result.suite != baseline.suite:
        rep.notes.append(f"suites differ (result {result.suite!r}, baseline "
                         f"{baseline.suite!r}); compared anyway, unpaired where items differ")
    for name in names:
        if name in result.metrics and name in baseline.metrics:
            fb, fr = baseline.metrics[name].n_failed, result.metrics[name].n_failed
            if fr > fb:
                rep.notes.append(f"{name}: failed videos rose from {fb} to {fr}")
    if not any(c.status != SKIPPED for c in rep.checks) and not rep.error:
        rep.error = "no metric is present in both results"
    return rep


def write_junit(report: CheckReport, path: str | Path) -> Path:
    """Write the JUnit XML atomically; a path that cannot be written is a user error."""
    from vidbench.fileio import atomic_write_bytes

    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(p, report.to_junit().encode("utf-8"))
    except OSError as e:
        raise UserError(f"--junit {path}: cannot write ({e.strerror or e})") from None
    return p
