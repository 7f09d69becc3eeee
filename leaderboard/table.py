"""The leaderboard table: value +/- 95% CI per metric, ranks, columns grouped by protocol.

Columns. Each (metric, fingerprint) pair is one column, where the fingerprint is the
metric's ``protocol`` hash, its ``weights`` (name -> sha256) and its ``comparable`` flag.
When every result reports a metric with the same fingerprint, the metric is one column.
When they differ, the metric is split into one column per fingerprint (``clip_score @3f2a``)
and a note says why (which results differ in protocol, weights or comparability); with
``force=True`` they share one column anyway and the note says that the column is mixed.

Groups. Columns are grouped by protocol family: the metric's ``mode`` (``default``,
``vbench``), with randomly initialised backbones (``comparable: false``) in their own group,
and the totals (see :mod:`vidbench.leaderboard.totals`) in a group named after the totals
config and its hash.

Ranks. Per column, 1 is best (direction from ``higher_is_better``), ties share the lower
rank; the mean rank is taken over the columns of comparable metrics a model has a value in.
Rows are ordered by Total when the totals exist for every model, else by mean rank.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from vidbench.leaderboard.escape import csv_cell, md_escape, tex_escape
from vidbench.leaderboard.load import MetricEntry, Result
from vidbench.leaderboard.totals import TotalsConfig, compute_totals, totals_entries

TOTAL_NAMES = ("total", "total (common)")


@dataclass
class Column:
    """One leaderboard column."""

    key: str
    metric: str
    group: str
    higher_is_better: bool
    protocol: str | None
    comparable: bool
    mixed: bool = False
    models: list[str] = field(default_factory=list)


@dataclass
class Leaderboard:
    """Models x columns: ``value``, ``lo``, ``hi``, ``n``, ``rank`` are DataFrames indexed
    by model label with one column per :class:`Column` key."""

    models: list[str]
    columns: list[Column]
    value: pd.DataFrame
    lo: pd.DataFrame
    hi: pd.DataFrame
    n: pd.DataFrame
    n_failed: pd.DataFrame
    rank: pd.DataFrame
    mean_rank: pd.Series
    notes: list[str]
    totals: dict[str, dict] = field(default_factory=dict)
    totals_config: dict | None = None
    results: list[Result] = field(default_factory=list)
    n_total: pd.DataFrame | None = None

    @property
    def groups(self) -> list[str]:
        return list(dict.fromkeys(c.group for c in self.columns))

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)

    def cell(self, model: str, key: str, digits: int = 3) -> str:
        """``value ± half-width`` (asymmetric CIs as ``value [lo, hi]``), value and CI to
        the same decimals; ``[k/N]`` when the metric covered k of N videos (< 100%);
        ``– (n=0)`` when the row has the metric but no value (the reason is listed under
        the table)."""
        s = format_cell(self.value.at[model, key], self.lo.at[model, key],
                        self.hi.at[model, key], digits)
        n = self.n.at[model, key]
        tot = self.n_total.at[model, key] if self.n_total is not None else math.nan
        if s == "–":
            return "– (n=0)" if pd.notna(n) and n == 0 else s
        if pd.notna(tot) and pd.notna(n) and tot > 0 and n < tot:
            s += f" [{int(n)}/{int(tot)}]"
        return s

    def to_frame(self) -> pd.DataFrame:
        """Wide frame of display strings with (group, column) MultiIndex columns."""
        data = {(c.group, c.key + arrow(c)): [self.cell(m, c.key) for m in self.models]
                for c in self.columns}
        df = pd.DataFrame(data, index=pd.Index(self.models, name="model"))
        df.columns = pd.MultiIndex.from_tuples(df.columns, names=["group", "metric"])
        df[("", "mean rank")] = [fmt(self.mean_rank[m], 2) for m in self.models]
        return df

    def long(self) -> pd.DataFrame:
        """Tidy frame: one row per (model, column) with numbers, for CSV and analysis."""
        rows = []
        for c in self.columns:
            for m in self.models:
                v = self.value.at[m, c.key]
                if pd.isna(v) and m not in c.models:
                    continue
                rows.append({"model": m, "group": c.group, "column": c.key, "metric": c.metric,
                             "value": v, "ci95_lo": self.lo.at[m, c.key],
                             "ci95_hi": self.hi.at[m, c.key], "n": self.n.at[m, c.key],
                             "n_failed": self.n_failed.at[m, c.key],
                             "rank": self.rank.at[m, c.key],
                             "higher_is_better": c.higher_is_better, "protocol": c.protocol,
                             "comparable": c.comparable, "mixed": c.mixed,
                             "mean_rank": self.mean_rank[m]})
        for r in self.results:  # runs over several languages: per-language values, gaps
            for name, e in sorted(r.metrics.items()):
                for lang, v in sorted(per_language(e).items()):
                    rows.append(_lang_row(r, name, f"{name} [{lang}]", "language", v))
                g = e.gap
                if g is not None:
                    rows.append(_lang_row(r, name, f"gap:{name}", "language gap",
                                          {"value": g.value, "ci95": list(g.ci95),
                                           "n": g.n_pairs}))
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ renderers
    def not_measured(self) -> list[str]:
        """One line per metric a row did not measure or got no value for, with the
        reason: metrics skipped by the run (missing weights, no reference, ...) and
        metrics with n = 0 (not applicable: why, from videos.jsonl)."""
        out = []
        skipped: dict[tuple[str, str], list[str]] = {}
        for r in self.results:
            lab = r.label or r.model
            for name, why in sorted(r.skipped.items()):
                skipped.setdefault((name, why), []).append(lab)
        for (name, why), labs in sorted(skipped.items()):
            who = "every row" if len(labs) == len(self.results) else ", ".join(sorted(labs))
            out.append(f"{name}: not run for {who}: {why}")
        for r in self.results:
            lab = r.label or r.model
            for name in sorted(r.metrics):
                why = why_missing(r, name)
                if why:
                    out.append(f"{name} for {lab}: {why}")
        return out

    def to_markdown(self, title: str = "Leaderboard") -> str:
        """Markdown: an overview table (mean rank and totals), one table per protocol group,
        what was not measured, then the notes. Every field from a result is escaped
        (:func:`~vidbench.leaderboard.escape.md_escape`)."""
        out = [f"# {md_escape(title)}", ""]
        tot_cols = [c for c in self.columns if c.group.startswith("totals")]
        head = ["#", "model", "mean rank"] + [md_escape(c.key + arrow(c)) for c in tot_cols]
        rows = [[str(i + 1), md_escape(m), fmt(self.mean_rank[m], 2)]
                + [md_escape(self.cell(m, c.key)) for c in tot_cols]
                for i, m in enumerate(self.models)]
        out += md_table(head, rows) + [""]
        for g in self.groups:
            cols = [c for c in self.columns if c.group == g]
            if g.startswith("totals"):
                continue
            out += [f"## {md_escape(g)}", ""]
            head = ["model"] + [md_escape(c.key + arrow(c)) for c in cols]
            rows = [[md_escape(m)] + [md_escape(self.cell(m, c.key))
                                      + rank_mark(self.rank.at[m, c.key]) for c in cols]
                    for m in self.models]
            out += md_table(head, rows) + [""]
        out += language_markdown(self.results, self.models)
        if self.totals_config:
            tc = self.totals_config
            out += [f"Totals: config `{md_escape(tc['name'])}` v{md_escape(tc['version'])}, "
                    f"sha256 `{md_escape(tc['hash'][:16])}`.", ""]
        out += ["Values are mean ± half-width of the 95% bootstrap CI (value and CI to the "
                "same decimals); ↑/↓ = higher/lower is better; (k) = rank in that column; "
                "[k/N] = the metric gave a value for k of N videos; – (n=0) = no value "
                "(why: below).", ""]
        nm = self.not_measured()
        if nm:
            out += ["**Not measured**", ""] + [f"- {md_escape(x)}" for x in nm] + [""]
        if self.notes:
            out += ["**Notes**", ""] + [f"- {md_escape(n)}" for n in self.notes] + [""]
        return "\n".join(out)

    def to_csv(self) -> str:
        """Tidy CSV; text cells that a spreadsheet would evaluate (``= + - @``, tab, CR
        first) are prefixed with ``'`` (OWASP's rule)."""
        df = self.long()
        for col in df.columns:
            if not pd.api.types.is_numeric_dtype(df[col]):
                df[col] = df[col].map(csv_cell)
        df.columns = [csv_cell(str(c)) for c in df.columns]
        buf = io.StringIO()
        df.to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL)
        return buf.getvalue()

    def to_latex(self, caption: str = "Leaderboard") -> str:
        """A booktabs ``table`` with group headers spanning their columns; best value per
        column in bold."""
        cols = self.columns
        spec = "l" + "c" * len(cols) + "c"
        lines = [r"\begin{table}[t]", r"\centering", r"\small",
                 rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
        grp = [""]
        rules = []
        start = 2
        for g in self.groups:
            k = sum(1 for c in cols if c.group == g)
            grp.append(rf"\multicolumn{{{k}}}{{c}}{{{tex_escape(g)}}}")
            rules.append(rf"\cmidrule(lr){{{start}-{start + k - 1}}}")
            start += k
        lines.append(" & ".join(grp + [""]) + r" \\")
        lines.append(" ".join(rules))
        arrows = {True: r"$\uparrow$", False: r"$\downarrow$"}
        lines.append(" & ".join(["Model"] + [tex_escape(c.key) + " " + arrows[c.higher_is_better]
                                             for c in cols] + ["Mean rank"]) + r" \\")
        lines.append(r"\midrule")
        for m in self.models:
            cells = [tex_escape(m)]
            for c in cols:
                s = tex_escape(self.cell(m, c.key))
                if self.rank.at[m, c.key] == 1:
                    s = rf"\textbf{{{s}}}"
                cells.append(s)
            cells.append(fmt(self.mean_rank[m], 2))
            lines.append(" & ".join(cells) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}",
                  rf"\caption{{{tex_escape(caption)}. Mean $\pm$ half-width of the 95\% "
                  r"bootstrap CI; bold: best per column.}", r"\end{table}", ""]
        return "\n".join(lines)


# ------------------------------------------------------------------ languages and gaps

def per_language(e: MetricEntry) -> dict[str, dict]:
    """A metric entry's ``per_language`` block, as far as it is well formed: language tags
    (short strings) mapped to objects; anything else in a result from elsewhere is ignored."""
    pl = e.extra.get("per_language")
    if not isinstance(pl, dict):
        return {}
    return {k: v for k, v in list(pl.items())[:16]
            if isinstance(k, str) and 0 < len(k) <= 16 and isinstance(v, dict)}


def _num(x) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError, OverflowError):
        return math.nan
    return v if math.isfinite(v) else math.nan


def _lang_row(r: Result, metric: str, column: str, group: str, v: dict) -> dict:
    raw = v.get("ci95")
    ci: list[Any] = list(raw) if isinstance(raw, (list, tuple)) else [None, None]
    ci = ci + [None] * (2 - len(ci))
    return {"model": r.label or r.model, "group": group, "column": column, "metric": metric,
            "value": _num(v.get("value")), "ci95_lo": _num(ci[0]), "ci95_hi": _num(ci[1]),
            "n": _num(v.get("n"))}


GAP_NOTE = ("Gap = value in the other language minus value in English over items asked in "
            "both (same items, seeds and ground truth), with a paired bootstrap 95% CI; it is "
            "computed only where one scorer scored both languages (judge-free metrics, or the "
            "same text model); a CI excluding 0 is a language gap the suite detects.")


@dataclass
class LanguageTables:
    """The per-language and gap tables as plain text cells (each renderer escapes them)."""

    lang_head: list[str]
    lang_rows: list[list[str]]
    gap_title: str
    gap_head: list[str]
    gap_rows: list[list[str]]
    why: list[str]


def language_tables(results: list[Result], models: list[str]) -> LanguageTables | None:
    """For results of runs over several languages: each metric per language, and the gap
    (LANG minus BASE over paired items, 95% paired bootstrap CI) per metric; a metric whose
    scorer differs by language shows ``no gap`` and why. None when no result has languages."""
    by_label = {(r.label or r.model): r for r in results}
    multi = [lab for lab in models if lab in by_label and any(
        per_language(e) for e in by_label[lab].metrics.values())]
    if not multi:
        return None
    names = sorted({n for lab in multi for n, e in by_label[lab].metrics.items()
                    if per_language(e) or e.gap or e.gap_reason})
    langs = sorted({lang for lab in multi for e in by_label[lab].metrics.values()
                    for lang in per_language(e)}, key=lambda x: (x != "en", x))
    lang_head = ["model"] + [f"{n} [{lang}]" for n in names for lang in langs]
    lang_rows = []
    for lab in multi:
        row = [lab]
        for n in names:
            pl = per_language(by_label[lab].metrics[n]) if n in by_label[lab].metrics else {}
            for lang in langs:
                v = pl.get(lang)
                if v is None:
                    row.append("–")
                    continue
                raw = v.get("ci95")
                ci = list(raw) if isinstance(raw, (list, tuple)) and raw else [None, None]
                row.append(format_cell(_num(v.get("value")), _num(ci[0]), _num(ci[-1])))
        lang_rows.append(row)
    gap_langs = sorted({f"{e.gap.lang} − {e.gap.base}" for lab in multi
                        for e in by_label[lab].metrics.values() if e.gap is not None})
    gap_title = f"language gap ({', '.join(gap_langs) or 'zh − en'}, paired)"
    gap_head = ["model"] + [f"gap:{n}" for n in names]
    gap_rows, why = [], []
    for lab in multi:
        row = [lab]
        for n in names:
            e = by_label[lab].metrics.get(n)
            g = e.gap if e is not None else None
            if g is not None:
                row.append(format_cell(g.value, *g.ci95) + f" ({g.n_pairs} pairs)")
            elif e is not None and e.gap_reason:
                row.append("no gap")
                why.append(f"gap:{n} for {lab}: {e.gap_reason}")
            else:
                row.append("–")
        gap_rows.append(row)
    return LanguageTables(lang_head, lang_rows, gap_title, gap_head, gap_rows, why)


def language_markdown(results: list[Result], models: list[str]) -> list[str]:
    """:func:`language_tables` as Markdown (empty when no result has languages)."""
    t = language_tables(results, models)
    if t is None:
        return []

    def esc(rows: list[list[str]]) -> list[list[str]]:
        return [[md_escape(c) for c in r] for r in rows]

    out = ["## per language", ""]
    out += md_table([md_escape(h) for h in t.lang_head], esc(t.lang_rows)) + [""]
    out += [f"## {md_escape(t.gap_title)}", ""]
    out += md_table([md_escape(h) for h in t.gap_head], esc(t.gap_rows)) + [""]
    out += [GAP_NOTE, ""]
    if t.why:
        out += ["**No gap**", ""] + [f"- {md_escape(x)}" for x in t.why] + [""]
    return out


# ---------------------------------------------------------------------- formatting helpers

def fmt(x: float, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)) or pd.isna(x):
        return "–"
    ax = abs(float(x))
    if ax != 0 and (ax >= 1e4 or ax < 10 ** -(digits)):
        return f"{x:.{digits}g}"
    return f"{x:.{digits}f}"


def format_cell(v: float, lo: float, hi: float, digits: int = 3) -> str:
    """``value ± half-width`` with the half-width to 2 significant digits and the value to
    the same decimals (``0.99585 ± 0.00068``, ``1.0000 ± 0.0001``); ``value [lo, hi]`` for a
    clearly asymmetric CI; values of 1e5 or more in ``g`` notation."""
    if pd.isna(v):
        return "–"
    if pd.isna(lo) or pd.isna(hi):
        return fmt(v, digits)
    with np.errstate(all="ignore"):
        a, b = np.float64(v) - lo, np.float64(hi) - v
        hw = (np.float64(hi) - lo) / 2
    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(hw)):
        return fmt(v, digits)
    if max(abs(v), hw) >= 1e5:
        spec = f".{digits}g"
    else:
        d = digits if hw <= 0 else min(8, max(0, 1 - math.floor(math.log10(hw))))
        spec = f".{d}f"

    def f(x: float) -> str:
        return format(x, spec)
    if max(a, b) > 0 and abs(a - b) > 0.5 * max(a, b):  # clearly asymmetric
        return f"{f(v)} [{f(lo)}, {f(hi)}]"
    return f"{f(v)} ± {f(hw)}"


def arrow(c: Column) -> str:
    return " ↑" if c.higher_is_better else " ↓"


def rank_mark(r: float) -> str:
    return "" if pd.isna(r) else f" ({int(r)})"


def md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1))
           + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


# ---------------------------------------------------------------------- building

def _group_of(e: MetricEntry) -> str:
    if e.mode == "totals":
        return "totals"
    return e.mode if e.comparable else f"{e.mode} (random weights: not comparable)"


def _who(entries: dict[str, MetricEntry], key) -> str:
    groups: dict = {}
    for lab, e in sorted(entries.items()):
        groups.setdefault(key(e), []).append(lab)
    return "; ".join(f"{', '.join(labs)}: {k}" for k, labs in groups.items())


def _why_split(metric: str, entries: dict[str, MetricEntry]) -> str:
    """A sentence naming the field that differs between the results: protocol, weights or
    comparability (for a total: of which dimension, or the dimension set)."""
    parts = []
    ents = list(entries.values())
    if all(e.parts is not None for e in ents):
        dimsets = {tuple(sorted(e.parts or {})) for e in ents}
        if len(dimsets) > 1:
            parts.append("dimension set differs (" + _who(
                entries, lambda e: ", ".join(sorted(e.parts or {}))) + ")")
        else:
            for d in sorted(dimsets.pop()):
                for fld in ("protocol", "weights", "comparable"):
                    vals = {repr((e.parts or {})[d][fld]) for e in ents}
                    if len(vals) > 1:
                        parts.append(f"{fld} of dimension {d} differs (" + _who(
                            entries, lambda e, d=d, fld=fld: str((e.parts or {})[d][fld])) + ")")
        if parts:
            return "; ".join(parts)
    if len({e.protocol for e in ents}) > 1:
        parts.append(f"protocol differs ({_who(entries, lambda e: e.protocol)})")
    if len({tuple(sorted(e.weights.items())) for e in ents}) > 1:
        parts.append("weights differ (" + _who(
            entries, lambda e: ", ".join(f"{k}={(v or 'unverified')[:12]}"
                                         for k, v in sorted(e.weights.items())) or "none") + ")")
    if len({e.comparable for e in ents}) > 1:
        parts.append("comparable differs (" + _who(
            entries, lambda e: "real weights" if e.comparable else "random weights") + ")")
    if len({e.version for e in ents}) > 1:
        parts.append(f"version differs ({_who(entries, lambda e: e.version)})")
    return "; ".join(parts)


def why_missing(r: Result, name: str) -> str:
    """Why result ``r`` has no value for metric ``name`` ('' when it has one)."""
    if name in r.skipped:
        return f"not run: {r.skipped[name]}"
    e = r.metrics.get(name)
    if e is None:
        return "not in the result"
    if e.nonfinite:
        return "non-finite value (NaN/Infinity) in result.json"
    if math.isfinite(e.value):
        return ""
    reasons = r.na_reasons(name)
    tot = e.n_total or (len(r.videos) if r.videos else None)
    if reasons:
        return "no value: " + "; ".join(
            f"{k} in {v}" + (f" of {tot}" if tot else "") + " videos"
            for k, v in list(reasons.items())[:3])
    bits = []
    if e.n_failed:
        bits.append(f"{e.n_failed} failed")
    if e.n_not_applicable:
        bits.append(f"{e.n_not_applicable} not applicable")
    return "no value (n = 0" + (": " + ", ".join(bits) if bits else "") + ")"


def _fp_key(fp: tuple) -> str:
    import hashlib

    return hashlib.sha256(repr(fp).encode()).hexdigest()[:4]


def _common_dims(results: list[Result], labels: list[str], cfg: TotalsConfig
                 ) -> tuple[list[str], dict[str, dict[str, str]]]:
    """(dimensions of ``cfg`` every row has an in-range value for, {dimension left out:
    {row: why}}) for the dimensions that could move the Total."""
    from vidbench.leaderboard.totals import in_range

    common, left_out = [], {}
    for d in cfg.weighted_dims():
        spec = cfg.dimensions[d]
        why: dict[str, str] = {}
        for r, lab in zip(results, labels, strict=True):
            e = r.metrics.get(d)
            if e is not None and math.isfinite(e.value) and not in_range(e.value, spec):
                why[lab] = (f"value {e.value:.4g} outside the config's declared range "
                            f"{spec['range']} in {spec.get('units', 'its units')} "
                            "(units mismatch?)")
            elif e is None or not math.isfinite(e.value):
                why[lab] = why_missing(r, d) or "no value"
            elif cfg.mode_problem(e.mode):
                why[lab] = str(cfg.mode_problem(e.mode))
        if not why:
            cov = _coverage_gap({lab: r.metrics.get(d) for r, lab in
                                 zip(results, labels, strict=True)})
            if cov:
                why = {lab: f"covered {cov[lab]}" for lab in cov}
                why["(all)"] = COVERAGE_WHY
        if why:
            left_out[d] = why
        else:
            common.append(d)
    return common, left_out


#: rows whose coverage of a metric differs by more than this are not compared on it
COVERAGE_GAP = 0.1
COVERAGE_WHY = (f"coverage differs by more than {COVERAGE_GAP:g} between rows: a mean over "
                "fewer videos (the rest not applicable or failed) is not comparable")


def _coverage_gap(entries: dict[str, MetricEntry | None]) -> dict[str, str]:
    """{row: "k/N"} when the rows' coverage of one metric differs by more than
    :data:`COVERAGE_GAP` (leaving videos out as NaN must not make a row look better);
    {} when it does not, or when coverage is unknown."""
    cov = {lab: e for lab, e in entries.items()
           if e is not None and e.n_total and math.isfinite(e.coverage)}
    if len(cov) < 2:
        return {}
    vals = [e.coverage for e in cov.values()]
    if max(vals) - min(vals) <= COVERAGE_GAP:
        return {}
    return {lab: f"{e.n}/{e.n_total}" for lab, e in sorted(cov.items())}


def build_table(results: list[Result], *, force: bool = False,
                totals_config: TotalsConfig | None = None, with_totals: bool = True
                ) -> Leaderboard:
    """Assemble the leaderboard from loaded results (see module docstring). The same set
    of results in any order gives the same table."""
    results = sorted(results, key=lambda r: (r.label or r.model, r.suite, str(r.path)))
    models = [r.label or r.model for r in results]
    notes: list[str] = []
    per_model: dict[str, dict[str, MetricEntry]] = {lab: dict(r.metrics)
                                                    for r, lab in zip(results, models,
                                                                      strict=True)}
    totals: dict[str, dict] = {}
    tc_meta = None
    total_note: list[str] = []
    if with_totals:
        cfg = totals_config
        if cfg is None:
            from vidbench.leaderboard.totals import load_config
            cfg = totals_config = load_config()
        common, left_out = _common_dims(results, models, cfg)
        full = set(common) >= set(cfg.weighted_dims())
        tname = "total" if full else "total (common)"
        if cfg.require_all and not full:
            total_note.append(
                f"no Total: {cfg.short} needs all {len(cfg.weighted_dims())} of its dimensions "
                f"in every row; {len(common)} are common to every row")
            common = []
        elif common:
            total_note.append(
                f"{'Total' if full else 'Total (common)'} is computed for every row over the "
                f"same {len(common)} of the config's {len(cfg.weighted_dims())} weighted "
                f"dimensions: {', '.join(common)}" + ("" if full else
                                                     " (the dimensions every row has)"))
        else:
            total_note.append("no Total: no dimension of the totals config has a value in "
                              "every row")
        present = {d: w for d, w in left_out.items()
                   if "(all)" in w or len(w) < len(models)}
        absent = sorted(d for d in left_out if d not in present)
        for d, w in present.items():
            general = w.pop("(all)", None)
            total_note.append(f"left out of the Total: {d} (" + (
                general + ": " if general else "") + "; ".join(
                f"{lab}: {why}" for lab, why in sorted(w.items())) + ")")
        if absent:
            total_note.append("not measured by any row, so not in the Total: "
                              + ", ".join(absent))
        for r, lab in zip(results, models, strict=True):
            if not common:
                break
            t = compute_totals(r, cfg, dims=common)
            totals[lab] = t
            tc_meta = t["config"]
            for d, x in sorted(t["clipped"].items()):
                total_note.append(
                    f"{lab}: {d} = {r.metrics[d].value:.4g} normalises to {x:.4g}, outside "
                    f"[0, 1] (the config's min/max are {cfg.dimensions[d]['min']:g}/"
                    f"{cfg.dimensions[d]['max']:g}); clipped")
            for name, e in totals_entries(r, cfg.restricted(common), t).items():
                e.mode = "totals"
                per_model[lab][tname if name == "total" else name] = e
        if tc_meta is None:
            tc_meta = {"name": cfg.name, "version": cfg.version, "hash": cfg.hash,
                       "path": cfg.path}
    for r, lab in zip(results, models, strict=True):
        notes.extend(r.notes)
        nf = sum(e.n_failed for e in r.metrics.values())
        if r.errors:
            notes.append(f"{lab}: {len(r.errors)} error record(s) in {r.path}")
        elif nf:
            notes.append(f"{lab}: {nf} failed video-metric evaluation(s)")
    suites: dict[str, list[str]] = {}
    for r, lab in zip(results, models, strict=True):
        suites.setdefault(r.suite, []).append(lab)
    if len(suites) > 1:
        total_note.insert(0, "results come from different suites (" + "; ".join(
            f"{s or '?'}: {', '.join(labs)}" for s, labs in sorted(suites.items()))
            + "): their numbers were not computed on the same prompts")
    metric_names = sorted({k for ents in per_model.values() for k in ents})
    columns: list[Column] = []
    cells: dict[str, dict[str, MetricEntry]] = {}
    for name in metric_names:
        have = {lab: ents[name] for lab, ents in per_model.items() if name in ents}
        fps: dict[tuple, list[str]] = {}
        for lab, e in have.items():
            fps.setdefault(e.fingerprint(), []).append(lab)
        hib = {e.higher_is_better for e in have.values()}
        if len(hib) > 1:
            notes.append(f"{name}: results disagree on higher_is_better; split into columns")
        if len(fps) == 1 or (force and len(hib) == 1):
            e0 = have[sorted(have)[0]]
            col = Column(key=name, metric=name, group=_group_of(e0),
                         higher_is_better=e0.higher_is_better, protocol=e0.protocol,
                         comparable=all(e.comparable for e in have.values()),
                         mixed=len(fps) > 1, models=sorted(have))
            if col.mixed:
                col.group = "forced (mixed protocols)"
                notes.append(f"{name}: FORCED into one column although "
                             f"{_why_split(name, have)}; do not read rank differences as "
                             "model differences")
            columns.append(col)
            cells[name] = have
            continue
        notes.append(f"{name}: not one column because {_why_split(name, have)}; shown as "
                     f"{len(fps)} columns (use --force to merge)")
        for fp, labs in sorted(fps.items(), key=lambda kv: sorted(kv[1])):
            e0 = have[sorted(labs)[0]]
            key = f"{name} @{(e0.protocol or 'none')[:6]}"
            if sum(1 for f in fps if (have[fps[f][0]].protocol or 'none')[:6]
                   == (e0.protocol or 'none')[:6]) > 1:
                key += f"/{_fp_key(fp)}"
            if not e0.comparable:
                key += " (random)"
            columns.append(Column(key=key, metric=name, group=_group_of(e0),
                                  higher_is_better=e0.higher_is_better, protocol=e0.protocol,
                                  comparable=e0.comparable, models=sorted(labs)))
            cells[key] = {lab: have[lab] for lab in labs}
    # order: groups (totals first, then default, vbench, others), metric name inside
    order = {"totals": 0, "default": 1, "vbench": 2}
    columns.sort(key=lambda c: (order.get(c.group, 3), c.group,
                                TOTAL_NAMES.index(c.metric) - 10 if c.metric in TOTAL_NAMES
                                else 0, c.metric, c.key))
    keys = [c.key for c in columns]

    def frame(fn) -> pd.DataFrame:
        return pd.DataFrame({k: [fn(cells[k][m]) if m in cells[k] else math.nan
                                 for m in models] for k in keys},
                            index=pd.Index(models, name="model"), columns=keys, dtype=float)

    value = frame(lambda e: e.value)
    lo = frame(lambda e: e.ci95[0])
    hi = frame(lambda e: e.ci95[1])
    n = frame(lambda e: e.n)
    n_failed = frame(lambda e: e.n_failed)
    n_total = frame(lambda e: math.nan if e.n_total is None else e.n_total)
    rank = pd.DataFrame(index=value.index, columns=keys, dtype=float)
    # mean rank over the columns every row has a value in: a missing value can neither
    # help nor hurt a row; the other columns are shown but not ranked
    candidates = [c for c in columns if c.comparable and not c.mixed and c.group != "totals"]
    if not candidates:  # a dry run with random weights: rank on what there is, and say so
        candidates = [c for c in columns if not c.mixed and c.group != "totals"]
        if candidates:
            notes.append("mean rank uses columns computed with random weights (no comparable "
                         "columns): a smoke test, not a comparison")
    rank_cols = [c.key for c in candidates if value[c.key].notna().all()]
    for c in candidates:
        if c.key in rank_cols:
            gap = _coverage_gap({m: cells[c.key].get(m) for m in models})
            if gap:
                rank_cols.remove(c.key)
                notes.append(f"not in the mean rank: {c.key}, because its {COVERAGE_WHY} ("
                             + ", ".join(f"{m}: {k}" for m, k in gap.items()) + ")")
    unranked = [c for c in candidates if c.key not in rank_cols
                and value[c.key].isna().any()]
    if unranked:
        notes.append("not in the mean rank (some rows have no value, and a missing value must "
                     "neither help nor hurt a row): " + "; ".join(
                         f"{c.key} (no value for "
                         f"{', '.join(m for m in models if pd.isna(value.at[m, c.key]))})"
                         for c in unranked))
    for c in columns:  # per-column rank among the rows that have the column
        rank[c.key] = value[c.key].rank(ascending=not c.higher_is_better, method="min")
    if rank_cols:
        mean_rank = rank[rank_cols].mean(axis=1)
        total_note.append(f"mean rank over the {len(rank_cols)} column(s) every row has: "
                          + ", ".join(rank_cols))
    else:
        mean_rank = pd.Series(math.nan, index=models)
        if candidates:
            notes.append("no mean rank: no metric column has a value in every row")
    # row order: Total (when every row has one), then mean rank, then label: deterministic
    tcol = next((c.key for c in columns if c.metric in TOTAL_NAMES
                 and value[c.key].notna().all()), None)

    def sort_key(m: str) -> tuple:
        t = -value.at[m, tcol] if tcol else 0.0
        mr = mean_rank[m] if pd.notna(mean_rank[m]) else math.inf
        return (t, mr, m)

    ordered = sorted(models, key=sort_key)
    lb = Leaderboard(models=ordered, columns=columns, value=value.loc[ordered],
                     lo=lo.loc[ordered], hi=hi.loc[ordered], n=n.loc[ordered],
                     n_failed=n_failed.loc[ordered], rank=rank.loc[ordered],
                     mean_rank=mean_rank.loc[ordered], notes=total_note + notes, totals=totals,
                     totals_config=tc_meta, results=list(results),
                     n_total=n_total.loc[ordered])
    return lb
