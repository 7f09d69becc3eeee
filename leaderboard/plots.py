"""Leaderboard plots (matplotlib, Agg backend), each written as PNG and SVG.

- ``radar``: one polar panel per model over the leaderboard's dimensions. Each axis is
  normalised so that outward is better: with the totals config's min/max for that metric
  when it has one, otherwise min-max across the models shown (so 0 = worst model, 1 = best;
  such an axis says nothing about absolute quality). Needs >= 3 dimensions.
- ``bars``: one panel per column, a bar per model with the 95% CI as whiskers.
- ``correlation``: Spearman rank correlation across models between columns, each column
  first oriented so that higher is better (so +1 means "the two metrics rank models alike").
  Needs >= 3 models; pairs with < 3 shared models are blank.
- ``distributions``: per-video scores (from ``videos.jsonl``) per model, one panel per
  metric, as box plots with the points (a seeded sample of at most 60) over them. Only when
  per-video data exist.

Every function returns the written paths; one that has too little data returns ``{}`` and
adds a note saying why.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vidbench.fileio import atomic_path
from vidbench.leaderboard.escape import plain_label  # noqa: E402
from vidbench.leaderboard.table import Leaderboard  # noqa: E402

#: at most this many per-video points are drawn over each box (a seeded sample)
MAX_POINTS = 60
#: the correlation heatmap needs this many models (Spearman over 3 points is +-1 or +-0.5)
MIN_CORR_MODELS = 5

plt.rcParams.update({"svg.hashsalt": "vidbench", "svg.fonttype": "none",
                     "figure.max_open_warning": 0})


def _save(fig, out_dir: Path, name: str) -> dict[str, str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for ext in ("png", "svg"):
        p = out_dir / f"{name}.{ext}"
        # no bbox_inches="tight": it costs a second full draw per file; the figures are
        # laid out with fixed margins (or tight_layout for the small heatmap) instead
        with atomic_path(p, mode=0o644) as tmp:
            fig.savefig(tmp, format=ext, dpi=100,
                        metadata={"Date": None} if ext == "svg" else None)
        paths[ext] = str(p)
    plt.close(fig)
    return paths


def _fixed_margins(fig, rows: int, cols: int, *, vgap: float = 1.15, hgap: float = 0.6,
                   left: float = 0.55, bottom: float = 0.85) -> None:
    """Margins and gaps in inches for panels with rotated short tick labels: cheaper than
    tight_layout, which measures every text extent (a full extra draw)."""
    w, h = fig.get_size_inches()
    right, top = 0.15, 0.3
    avail_h, avail_w = h - top - bottom, w - left - right
    hs = vgap * rows / max(avail_h - vgap * (rows - 1), 1e-3) if rows > 1 else 0.2
    ws = hgap * cols / max(avail_w - hgap * (cols - 1), 1e-3) if cols > 1 else 0.2
    fig.subplots_adjust(left=left / w, right=1 - right / w, top=1 - top / h,
                        bottom=bottom / h, hspace=hs, wspace=ws)


def _grid(k: int, max_cols: int = 4) -> tuple[int, int]:
    cols = min(k, max_cols)
    return math.ceil(k / cols), cols


def _short(s: str, n: int = 18) -> str:
    return plain_label(s, n)


def radar(lb: Leaderboard, out_dir: Path, notes: list[str] | None = None,
          bounds: dict[str, dict] | None = None) -> dict[str, str]:
    """Per-model radar over the comparable, non-total columns (see module docstring)."""
    notes = notes if notes is not None else []
    cols = [c for c in lb.columns if c.group != "totals" and c.comparable and not c.mixed
            and lb.value[c.key].notna().any()]
    if not any(c.comparable for c in lb.columns):  # random-weight dry run: draw them anyway
        cols = [c for c in lb.columns if c.group != "totals" and not c.mixed
                and lb.value[c.key].notna().any()]
    partial = [c.key for c in cols if lb.value[c.key].isna().any()]
    cols = [c for c in cols if c.key not in partial]  # a missing value would draw as worst
    if partial and len(cols) >= 3:
        notes.append("radar plot leaves out columns some models lack: " + ", ".join(partial))
    if len(cols) < 3:
        notes.append(f"radar plot skipped: needs >= 3 comparable metrics that every model "
                     f"has, have {len(cols)}")
        return {}
    norm = pd.DataFrame(index=lb.models)
    for c in cols:
        v = lb.value[c.key]
        b = (bounds or {}).get(c.metric)
        if b is not None:
            x = (v - b["min"]) / (b["max"] - b["min"])
        else:
            lo, hi = v.min(), v.max()
            x = (v - lo) / (hi - lo) if hi > lo else v * 0 + 0.5
        norm[c.key] = x if c.higher_is_better else 1 - x
    k = len(cols)
    ang = np.linspace(0, 2 * np.pi, k, endpoint=False)
    rows, ncols = _grid(len(lb.models), 4)
    fig = plt.figure(figsize=(4.6 * ncols, 4.3 * rows))
    for i, m in enumerate(lb.models):
        ax = fig.add_subplot(rows, ncols, i + 1, projection="polar")
        vals = np.clip(norm.loc[m].to_numpy(dtype=float), 0.0, 1.1)  # keep the panel readable
        closed = np.concatenate([vals, vals[:1]])
        a = np.concatenate([ang, [ang[0]]])
        ax.plot(a, closed, color=f"C{i % 10}", lw=1.5)
        ax.fill(a, closed, color=f"C{i % 10}", alpha=0.25)
        ax.set_xticks(ang)
        ax.set_xticklabels([_wrap(c.key, 12) for c in cols], fontsize=7)
        ax.xaxis.set_tick_params(pad=10)
        ax.set_ylim(0, 1.1)
        ax.set_yticks([0.25, 0.5, 0.75, 1.0])
        ax.set_yticklabels(["0.25", "0.5", "0.75", "1"], fontsize=6, color="#666")
        ax.set_rlabel_position(90 / max(k, 1))
        ax.set_title(_wrap(m, 30), fontsize=9, pad=24)
    h = 4.3 * rows
    fig.suptitle("Per-model profile: normalised score per axis, 0 = worst, 1 = best "
                 "(outward = better; clipped to [0, 1.1])", fontsize=9, y=1 - 0.15 / h)
    fig.subplots_adjust(left=0.1, right=0.9, bottom=0.5 / h, top=1 - 1.3 / h,
                        wspace=0.8, hspace=1.3 / 3.0)
    return _save(fig, out_dir, "radar")


def bars(lb: Leaderboard, out_dir: Path, notes: list[str] | None = None) -> dict[str, str]:
    """Per-column horizontal bars with 95% CI whiskers; full model names on the y axis (no
    truncation); a model without a value gets a hatched "no value" marker, so a missing
    value never looks like a 0."""
    cols = [c for c in lb.columns if lb.value[c.key].notna().any()]
    if not cols:
        (notes if notes is not None else []).append("bar plot skipped: no values")
        return {}
    names = [_wrap(m, 28) for m in lb.models]
    name_w = max(len(line) for nm in names for line in nm.split("\n"))
    rows, ncols = _grid(len(cols), 3)
    panel_h = 0.45 + 0.32 * len(lb.models) * max(nm.count("\n") + 1 for nm in names)
    left_in = 0.4 + 0.065 * name_w
    fig_w = ncols * (left_in + 2.6)
    fig, axes = plt.subplots(rows, ncols, figsize=(fig_w, rows * (panel_h + 0.9)),
                             squeeze=False)
    y = np.arange(len(lb.models))
    for ax, c in zip(axes.flat, cols, strict=False):
        v = lb.value[c.key].to_numpy(dtype=float)
        lo = lb.lo[c.key].to_numpy(dtype=float)
        hi = lb.hi[c.key].to_numpy(dtype=float)
        have = np.isfinite(v)
        err = np.vstack([np.where(np.isfinite(lo), v - lo, 0), np.where(np.isfinite(hi),
                                                                        hi - v, 0)])
        err = np.clip(np.nan_to_num(err), 0, None)
        ax.barh(y[have], v[have], xerr=err[:, have], color=[f"C{i % 10}" for i in y[have]],
                alpha=0.8, ecolor="black", capsize=3)
        span = np.nanmax(np.abs(np.concatenate([v[have], (v + err[1])[have]])))
        for i in y[have]:  # the value itself, so a 0 reads as 0 (not as a missing bar)
            ax.text(max(v[i], 0) + err[1][i] + 0.02 * (span or 1), i, f"{v[i]:.3g}",
                    va="center", ha="left", fontsize=6, color="#333")
        for i in y[~have]:
            ax.text(0, i, "  no value", va="center", ha="left", fontsize=7, color="#888",
                    style="italic")
            ax.barh([i], [span if span > 0 else 1.0], color="none", edgecolor="#bbb",
                    hatch="///", lw=0.5)
        ax.axvline(0, color="#444", lw=0.6)
        ax.set_yticks(y)
        ax.set_yticklabels(names, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(("↑ " if c.higher_is_better else "↓ ") + _wrap(c.key, 34), fontsize=8)
        ax.set_xlabel(_unit_label(c.key) + (" (higher is better)" if c.higher_is_better
                                            else " (lower is better)"), fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
    for ax in list(axes.flat)[len(cols):]:
        ax.axis("off")
    fig.subplots_adjust(left=left_in / fig_w, right=1 - 0.25 / fig_w,
                        wspace=(left_in + 0.3) / 2.6, hspace=0.9 / panel_h + 0.1,
                        top=1 - 0.45 / (rows * (panel_h + 0.9)),
                        bottom=0.55 / (rows * (panel_h + 0.9)))
    return _save(fig, out_dir, "bars")


def _unit_label(key: str) -> str:
    """The x/y-axis label of a leaderboard column: totals are normalised to [0, 1]; a
    metric is in its own units (its docstring gives them)."""
    if key.startswith("total") or key in ("quality", "semantic", "physics"):
        return "normalised score [0, 1]"
    return "value (metric's own units)"


def _wrap(s: str, n: int) -> str:
    """``s`` as plain text in lines of at most ``n`` characters, broken after ``_ - : /``
    or spaces where possible (at most 3 lines; the last is cut with an ellipsis)."""
    import re

    tokens = re.findall(r"[^_\-:/ ]+[_\-:/ ]*|[_\-:/ ]+", plain_label(s)) or [""]
    lines: list[str] = [""]
    for t in tokens:
        while len(t) > n:  # a token longer than a line: hard break
            if lines[-1]:
                lines.append("")
            lines[-1], t = t[:n], t[n:]
            lines.append("")
        if len(lines[-1]) + len(t.rstrip()) > n and lines[-1]:
            lines.append("")
        lines[-1] += t
    lines = [ln.rstrip() for ln in lines if ln.strip()] or [""]
    if len(lines) > 3:
        lines = lines[:2] + [plain_label("".join(lines[2:]), n)]
    return "\n".join(lines)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return math.nan
    ra = pd.Series(a[ok]).rank().to_numpy()
    rb = pd.Series(b[ok]).rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def correlation_matrix(lb: Leaderboard) -> pd.DataFrame:
    """Spearman correlation across models between direction-oriented columns."""
    cols = [c for c in lb.columns if lb.value[c.key].notna().sum() >= 3]
    oriented = {c.key: lb.value[c.key].to_numpy(dtype=float) * (1 if c.higher_is_better else -1)
                for c in cols}
    keys = list(oriented)
    mat = pd.DataFrame(np.nan, index=keys, columns=keys)
    for a in keys:
        for b in keys:
            mat.loc[a, b] = _spearman(oriented[a], oriented[b])
    return mat


def correlation(lb: Leaderboard, out_dir: Path, notes: list[str] | None = None
                ) -> dict[str, str]:
    """Metric-correlation heatmap across models."""
    notes = notes if notes is not None else []
    if len(lb.models) < MIN_CORR_MODELS:
        notes.append(f"correlation heatmap skipped: a rank correlation needs >= "
                     f"{MIN_CORR_MODELS} models to mean anything, have {len(lb.models)}")
        return {}
    mat = correlation_matrix(lb)
    if len(mat) < 2:
        notes.append("correlation heatmap skipped: fewer than 2 metrics with >= 3 models")
        return {}
    k = len(mat)
    fig, ax = plt.subplots(figsize=(2.6 + 0.55 * k, 2.0 + 0.5 * k))
    im = ax.imshow(mat.to_numpy(dtype=float), vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(k))
    ax.set_xticklabels([_wrap(s, 16) for s in mat.columns], rotation=60, ha="right",
                       fontsize=7)
    ax.set_yticks(range(k))
    ax.set_yticklabels([_wrap(s, 16) for s in mat.index], fontsize=7)
    for i in range(k):
        for j in range(k):
            v = mat.iat[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if abs(v) > 0.6 else "black")
    cb = fig.colorbar(im, ax=ax, shrink=0.8)
    cb.set_label("Spearman ρ\n(higher = better on both)", fontsize=7)
    ax.set_title(f"Metric agreement\nacross {len(lb.models)} models", fontsize=9)
    fig.tight_layout()
    return _save(fig, out_dir, "correlation")


def distributions(lb: Leaderboard, out_dir: Path, notes: list[str] | None = None
                  ) -> dict[str, str]:
    """Per-video score distributions per model (box + points), one panel per metric."""
    notes = notes if notes is not None else []
    data: dict[str, dict[str, np.ndarray]] = {}
    for r in lb.results:
        if not r.videos:
            continue
        for name in r.metrics:
            vals = np.array([rec.scores.get(name, math.nan) for rec in r.videos], dtype=float)
            vals = vals[np.isfinite(vals)]
            if len(vals):
                data.setdefault(name, {})[r.label or r.model] = vals
    if not data:
        notes.append("per-video distributions skipped: no videos.jsonl beside the results")
        return {}
    names = sorted(data)
    rows, ncols = _grid(len(names), 3)
    fig, axes = plt.subplots(rows, ncols, figsize=(4.0 * ncols + 0.2 * len(lb.models),
                                                   3.2 * rows), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, name in zip(axes.flat, names, strict=False):
        labs = [m for m in lb.models if m in data[name]]
        series = [data[name][m] for m in labs]
        ax.boxplot(series, showfliers=False, widths=0.6)
        for i, s in enumerate(series):
            if len(s) > MAX_POINTS:  # the box shows the distribution; points are a sample
                s = rng.choice(s, MAX_POINTS, replace=False)
            jit = rng.uniform(-0.15, 0.15, size=len(s))
            ax.scatter(np.full(len(s), i + 1) + jit, s, s=6, alpha=0.5,
                       color=f"C{lb.models.index(labs[i]) % 10}")
        ax.set_xticks(range(1, len(labs) + 1))
        ax.set_xticklabels([_wrap(m, 14) for m in labs], rotation=40, ha="right", fontsize=7)
        src = next((r.unit_source(name) for r in lb.results if r.unit_source(name)), None)
        ax.set_title(_wrap(name, 40), fontsize=8)
        if src in (None, "scores"):
            ax.set_ylabel("per-video score\n(the table's units)", fontsize=7)
        else:
            ax.set_ylabel(f"per-video score\n(the table: share/mean\nof {src})", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    _fixed_margins(fig, rows, ncols, hgap=1.2, vgap=1.4, left=1.0, bottom=1.2)
    return _save(fig, out_dir, "distributions")


def all_plots(lb: Leaderboard, out_dir: str | Path, notes: list[str] | None = None,
              bounds: dict[str, dict] | None = None) -> dict[str, dict[str, str]]:
    """Write every plot that has enough data; returns {plot name: {"png": p, "svg": p}}."""
    out = Path(out_dir)
    notes = notes if notes is not None else []
    res = {}
    # labels are plain text: names from others' result.json ("run$_$1") must not be parsed
    # as mathtext (a parse error would abort the whole leaderboard)
    with plt.rc_context({"text.parse_math": False, "text.usetex": False}):
        for name, fn in (("radar", lambda: radar(lb, out, notes, bounds)),
                         ("bars", lambda: bars(lb, out, notes)),
                         ("correlation", lambda: correlation(lb, out, notes)),
                         ("distributions", lambda: distributions(lb, out, notes))):
            try:
                with np.errstate(all="ignore"):
                    res[name] = fn()
            except (ValueError, OverflowError, RuntimeError) as e:  # e.g. values ~1e308
                plt.close("all")
                notes.append(f"{name} plot skipped: cannot draw these values "
                             f"({type(e).__name__}: {str(e)[:120]})")
    return {k: v for k, v in res.items() if v}
