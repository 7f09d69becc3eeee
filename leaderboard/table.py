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

import pandas as pd

from vidbench.leaderboard.escape import csv_cell, md_escape, tex_escape
from vidbench.leaderboard.load import MetricEntry, Result
from vidbench.leaderboard.totals import TotalsConfig, compute_totals, totals_entries

TOTAL_NAMES = ("total",)


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

    @property
    def groups(self) -> list[str]:
        return list(dict.fromkeys(c.group for c in self.columns))

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)

    def cell(self, model: str, key: str, digits: int = 3) -> str:
        """``value ± half-width`` (asymmetric CIs are shown as ``value [lo, hi]``); a
        total built from an incomplete set of dimensions gets a †."""
        s = format_cell(self.value.at[model, key], self.lo.at[model, key],
                        self.hi.at[model, key], digits)
        return s + "†" if s != "–" and self.incomplete(model, key) else s

    def incomplete(self, model: str, key: str) -> bool:
        c = self.column(key)
        t = self.totals.get(model)
        if c.group != "totals" or not t:
            return False
        part = t["total"] if c.metric == "total" else t["groups"].get(c.metric, {})
        return not part.get("complete", True)

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
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ renderers
    def to_markdown(self, title: str = "Leaderboard") -> str:
        """Markdown: an overview table (mean rank and totals), one table per protocol group,
        then the notes."""
        out = [f"# {title}", ""]
        tot_cols = [c for c in self.columns if c.group.startswith("totals")]
        head = ["#", "model", "mean rank"] + [c.key + arrow(c) for c in tot_cols]
        rows = [[str(i + 1), md_escape(m), fmt(self.mean_rank[m], 2)]
                + [self.cell(m, c.key) for c in tot_cols] for i, m in enumerate(self.models)]
        out += md_table(head, rows) + [""]
        for g in self.groups:
            cols = [c for c in self.columns if c.group == g]
            if g.startswith("totals"):
                continue
            out += [f"## {g}", ""]
            head = ["model"] + [c.key + arrow(c) for c in cols]
            rows = [[md_escape(m)] + [self.cell(m, c.key) + rank_mark(self.rank.at[m, c.key])
                                      for c in cols] for m in self.models]
            out += md_table(head, rows) + [""]
        if self.totals_config:
            tc = self.totals_config
            out += [f"Totals: config `{tc['name']}` v{tc['version']}, sha256 "
                    f"`{tc['hash'][:16]}`; † = some dimensions missing "
                    "(renormalised over the rest).", ""]
        out += ["Values are mean ± half-width of the 95% bootstrap CI; ↑/↓ = higher/lower is "
                "better; (k) = rank in that column.", ""]
        if self.notes:
            out += ["**Notes**", ""] + [f"- {md_escape(n)}" for n in self.notes] + [""]
        return "\n".join(out)

    def to_csv(self) -> str:
        buf = io.StringIO()
        self.long().to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL)
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
                s = tex_escape(self.cell(m, c.key)).replace("±", r"$\pm$")
                if self.rank.at[m, c.key] == 1:
                    s = rf"\textbf{{{s}}}"
                cells.append(s)
            cells.append(fmt(self.mean_rank[m], 2))
            lines.append(" & ".join(cells) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}",
                  rf"\caption{{{tex_escape(caption)}. Mean $\pm$ half-width of the 95\% "
                  r"bootstrap CI; bold: best per column.}", r"\end{table}", ""]
        return "\n".join(lines)


# ---------------------------------------------------------------------- formatting helpers

def fmt(x: float, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)) or pd.isna(x):
        return "–"
    ax = abs(float(x))
    if ax != 0 and (ax >= 1e4 or ax < 10 ** -(digits)):
        return f"{x:.{digits}g}"
    return f"{x:.{digits}f}"


def format_cell(v: float, lo: float, hi: float, digits: int = 3) -> str:
    if pd.isna(v):
        return "–"
    if pd.isna(lo) or pd.isna(hi):
        return fmt(v, digits)
    a, b = v - lo, hi - v
    if max(a, b) > 0 and abs(a - b) > 0.5 * max(a, b):  # clearly asymmetric
        return f"{fmt(v, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"
    return f"{fmt(v, digits)} ± {fmt((hi - lo) / 2, digits)}"


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


def _why_split(metric: str, entries: dict[str, MetricEntry]) -> str:
    """A sentence naming which results differ in protocol, weights or comparability."""
    parts = []

    def who(key) -> str:
        groups: dict = {}
        for lab, e in entries.items():
            groups.setdefault(key(e), []).append(lab)
        return "; ".join(f"{', '.join(labs)}: {k}" for k, labs in groups.items())

    if len({e.protocol for e in entries.values()}) > 1:
        parts.append(f"protocol differs ({who(lambda e: e.protocol)})")
    if len({tuple(sorted(e.weights.items())) for e in entries.values()}) > 1:
        parts.append("weights differ (" + who(
            lambda e: ", ".join(f"{k}={(v or 'unverified')[:12]}"
                                for k, v in sorted(e.weights.items())) or "none") + ")")
    if len({e.comparable for e in entries.values()}) > 1:
        parts.append("comparable differs (" + who(
            lambda e: "real weights" if e.comparable else "random weights") + ")")
    return "; ".join(parts)


def build_table(results: list[Result], *, force: bool = False,
                totals_config: TotalsConfig | None = None, with_totals: bool = True
                ) -> Leaderboard:
    """Assemble the leaderboard from loaded results (see module docstring)."""
    models = [r.label or r.model for r in results]
    notes: list[str] = []
    per_model: dict[str, dict[str, MetricEntry]] = {}
    totals: dict[str, dict] = {}
    tc_meta = None
    for r, lab in zip(results, models, strict=True):
        entries = dict(r.metrics)
        if with_totals:
            cfg = totals_config
            if cfg is None:
                from vidbench.leaderboard.totals import load_config
                cfg = totals_config = load_config()
            t = compute_totals(r, cfg)
            totals[lab] = t
            tc_meta = t["config"]
            for name, e in totals_entries(r, cfg, t).items():
                e.mode = "totals"
                entries[name] = e
        per_model[lab] = entries
        for n in r.notes:
            notes.append(n)
        nf = sum(e.n_failed for e in r.metrics.values())
        if r.errors:
            notes.append(f"{lab}: {len(r.errors)} error record(s) in {r.path}")
        elif nf:
            notes.append(f"{lab}: {nf} failed video-metric evaluation(s)")
    suites: dict[str, list[str]] = {}
    for r, lab in zip(results, models, strict=True):
        suites.setdefault(r.suite, []).append(lab)
    if len(suites) > 1:
        notes.insert(0, "results come from different suites (" + "; ".join(
            f"{s or '?'}: {', '.join(labs)}" for s, labs in suites.items())
            + "): their numbers were not computed on the same prompts")
    metric_names = list(dict.fromkeys(k for ents in per_model.values() for k in ents))
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
            e0 = next(iter(have.values()))
            col = Column(key=name, metric=name, group=_group_of(e0),
                         higher_is_better=e0.higher_is_better, protocol=e0.protocol,
                         comparable=all(e.comparable for e in have.values()),
                         mixed=len(fps) > 1, models=list(have))
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
        for labs in fps.values():
            e0 = have[labs[0]]
            key = f"{name} @{(e0.protocol or 'none')[:6]}"
            if key in cells or any(c.key == key for c in columns):
                key = f"{key}/{len(columns)}"
            if not e0.comparable:
                key += " (random)"
            columns.append(Column(key=key, metric=name, group=_group_of(e0),
                                  higher_is_better=e0.higher_is_better, protocol=e0.protocol,
                                  comparable=e0.comparable, models=labs))
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
    rank = pd.DataFrame(index=value.index, columns=keys, dtype=float)
    for c in columns:
        rank[c.key] = value[c.key].rank(ascending=not c.higher_is_better, method="min")
    rank_cols = [c.key for c in columns if c.comparable and not c.mixed
                 and c.group != "totals"]
    if not rank_cols:  # a dry run with random weights: rank on what there is, and say so
        rank_cols = [c.key for c in columns if not c.mixed and c.group != "totals"]
        if rank_cols:
            notes.append("mean rank uses columns computed with random weights (no comparable "
                         "columns): a smoke test, not a comparison")
    mean_rank = rank[rank_cols].mean(axis=1) if rank_cols else pd.Series(math.nan, index=models)
    # row order
    if "total" in value.columns and value["total"].notna().all():
        ordered = list(value["total"].sort_values(ascending=False, kind="stable").index)
    else:
        ordered = list(mean_rank.sort_values(kind="stable", na_position="last").index)
    lb = Leaderboard(models=ordered, columns=columns, value=value.loc[ordered],
                     lo=lo.loc[ordered], hi=hi.loc[ordered], n=n.loc[ordered],
                     n_failed=n_failed.loc[ordered], rank=rank.loc[ordered],
                     mean_rank=mean_rank.loc[ordered], notes=notes, totals=totals,
                     totals_config=tc_meta, results=list(results))
    return lb
