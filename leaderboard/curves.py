"""Training curves: every metric of every scored checkpoint of a training run against the
training step, the best checkpoint per metric, and a gate of the newest checkpoint against
the previous best (``vidbench curves RUN [--gate]``).

A training run scored with ``vidbench train --eval-every N --eval-suite S`` holds, for each
kept checkpoint ``RUN/checkpoints/step-N.safetensors``, a normal runner output
``RUN/eval/step-N/`` (manifest, videos, ``result.json`` with 95% CIs and provenance). This
module reads those results (through :func:`vidbench.leaderboard.load.load_result`, so every
validation applies) and writes ``RUN/curves/``:

- ``curves.csv``: one row per (step, series): value, CI bounds, n; a series is a metric, or
  ``gap:METRIC`` for the paired ZH-minus-EN gap of a run over both languages.
- ``curves.md``: the same as a table, best per metric in bold with a star.
- ``curves.png``: one panel per series, the value against step with its 95% CI band and the
  best checkpoint starred.
- ``best.json``: per series, the best step, its value/CI and the checkpoint path. Best =
  the highest value for a higher-is-better metric, the lowest otherwise, the smallest
  ``|gap|`` for a gap; ties go to the earliest step.
- with ``--gate``: ``gate.md``/``gate.json``, the regression gate
  (:func:`vidbench.leaderboard.check.check`, same statistics and exit codes as
  ``vidbench check``) of the newest checkpoint against the best *earlier* checkpoint on the
  primary metric (``--metric``, default the first metric of the newest result).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from vidbench.errors import UserError
from vidbench.fileio import atomic_write_text
from vidbench.leaderboard.load import Result, load_result
from vidbench.plugins import Command

_STEP_DIR = re.compile(r"^step-(\d+)$")


@dataclass(frozen=True)
class Point:
    """One series at one checkpoint."""

    step: int
    value: float
    lo: float
    hi: float
    n: int


@dataclass
class Curves:
    """Every series of a run: ``series[name]`` = points in step order; ``direction[name]`` =
    "max", "min" or "abs" (closest to zero)."""

    run: Path
    steps: list[int]
    results: dict[int, Result]
    series: dict[str, list[Point]]
    direction: dict[str, str]

    def best(self, name: str, before: int | None = None) -> Point | None:
        """The best point of ``name`` (restricted to steps < ``before`` when given)."""
        pts = [p for p in self.series.get(name, []) if math.isfinite(p.value)
               and (before is None or p.step < before)]
        if not pts:
            return None
        d = self.direction[name]
        key = {"max": lambda p: -p.value, "min": lambda p: p.value,
               "abs": lambda p: abs(p.value)}[d]
        return min(pts, key=lambda p: (key(p), p.step))


def scored_steps(run: str | Path) -> dict[int, Path]:
    """step -> ``RUN/eval/step-N/result.json`` for every scored checkpoint, in step order."""
    ev = Path(run) / "eval"
    out: dict[int, Path] = {}
    if ev.is_dir():
        for d in ev.iterdir():
            m = _STEP_DIR.match(d.name)
            if m and (d / "result.json").is_file():
                out[int(m.group(1))] = d / "result.json"
    return dict(sorted(out.items()))


def checkpoint_path(run: str | Path, step: int) -> Path:
    """Where ``vidbench train --eval-every`` keeps the checkpoint of ``step``."""
    return Path(run) / "checkpoints" / f"step-{step}.safetensors"


def collect(run: str | Path) -> Curves:
    """Read every scored checkpoint of ``run`` (UserError when there is none)."""
    run = Path(run)
    paths = scored_steps(run)
    if not paths:
        raise UserError(f"{run}: no scored checkpoints (expected {run}/eval/step-N/result.json; "
                        f"train with --eval-every N --eval-suite SUITE)")
    results = {s: load_result(p, videos=True) for s, p in paths.items()}
    series: dict[str, list[Point]] = {}
    direction: dict[str, str] = {}
    for step, res in results.items():
        for name, m in res.metrics.items():
            series.setdefault(name, []).append(
                Point(step, m.value, m.ci95[0], m.ci95[1], m.n))
            direction[name] = "max" if m.higher_is_better else "min"
            g = m.gap
            if g is not None:
                key = f"gap:{name}"
                series.setdefault(key, []).append(
                    Point(step, g.value, g.ci95[0], g.ci95[1], g.n_pairs))
                direction[key] = "abs"
    return Curves(run=run, steps=list(results), results=results, series=series,
                  direction=direction)


def _f(x: float) -> str:
    return "" if not math.isfinite(x) else f"{x:.4f}"


def to_csv(c: Curves) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["step", "series", "value", "ci_low", "ci_high", "n", "best"])
    best = {name: c.best(name) for name in c.series}
    for name, pts in c.series.items():
        for p in pts:
            b = best[name]
            w.writerow([p.step, name, _f(p.value), _f(p.lo), _f(p.hi), p.n,
                        int(b is not None and b.step == p.step)])
    return buf.getvalue()


def to_markdown(c: Curves) -> str:
    names = list(c.series)
    arrow = {"max": " ↑", "min": " ↓", "abs": " (→0)"}
    lines = [f"# Training curves: `{c.run}`", "",
             "Value [95% CI] of each scored checkpoint; ★ = best checkpoint per column.", "",
             "| step | " + " | ".join(f"{n}{arrow[c.direction[n]]}" for n in names) + " |",
             "|---:|" + "---:|" * len(names)]
    best = {n: c.best(n) for n in names}
    for step in c.steps:
        cells = []
        for n in names:
            p = next((q for q in c.series[n] if q.step == step), None)
            if p is None or not math.isfinite(p.value):
                cells.append("–")
                continue
            txt = f"{p.value:.3f} [{p.lo:.3f}, {p.hi:.3f}]"
            b = best[n]
            cells.append(f"**{txt} ★**" if b is not None and b.step == step else txt)
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def best_json(c: Curves) -> dict:
    out: dict = {"run": str(c.run), "steps": c.steps, "best": {}}
    for n in c.series:
        b = c.best(n)
        if b is None:
            continue
        out["best"][n] = {"step": b.step, "value": b.value, "ci95": [b.lo, b.hi], "n": b.n,
                          "direction": c.direction[n],
                          "checkpoint": str(checkpoint_path(c.run, b.step)),
                          "result": str(c.results[b.step].path)}
    return out


def plot(c: Curves, path: Path) -> None:
    """One panel per series: value vs step, 95% CI band, best starred."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(c.series)
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), dpi=100,
                             squeeze=False)
    for ax, n in zip(axes.flat, names, strict=False):
        pts = [p for p in c.series[n] if math.isfinite(p.value)]
        xs = [p.step for p in pts]
        ax.plot(xs, [p.value for p in pts], marker="o", ms=3, lw=1.2)
        lo = [p.lo if math.isfinite(p.lo) else p.value for p in pts]
        hi = [p.hi if math.isfinite(p.hi) else p.value for p in pts]
        ax.fill_between(xs, lo, hi, alpha=0.25, lw=0)
        b = c.best(n)
        if b is not None:
            ax.plot([b.step], [b.value], marker="*", ms=14, color="tab:red", ls="none",
                    label=f"best: step {b.step}")
            ax.legend(fontsize=7, loc="best")
        if c.direction[n] == "abs":
            ax.axhline(0.0, color="grey", lw=0.6)
        ax.set_title(n, fontsize=9)
        ax.set_xlabel("training step", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    from vidbench.fileio import atomic_path

    with atomic_path(path, mode=0o644) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def gate(c: Curves, metric: str | None = None, tolerances: list[str] | None = None,
         n_boot: int = 2000, level: float = 0.05):
    """The newest checkpoint against the best earlier one on ``metric`` (see the module
    docstring): a :class:`~vidbench.leaderboard.check.CheckReport`, or None with fewer than
    two scored checkpoints."""
    from vidbench.leaderboard.check import check, parse_tolerance

    if len(c.steps) < 2:
        return None
    new = c.steps[-1]
    metric = metric or next(iter(c.results[new].metrics), None)
    if metric is None or metric not in c.series:
        raise UserError(f"--metric {metric!r}: not a metric of {c.run} "
                        f"(known: {', '.join(n for n in c.series if ':' not in n)})")
    prev = c.best(metric, before=new)
    if prev is None:
        return None
    tols = {}
    default = None
    for spec in tolerances or []:
        name, tol = parse_tolerance(spec)
        if name is None:
            default = tol
        else:
            tols[name] = tol
    return check(c.results[new], c.results[prev.step], tolerances=tols, default=default,
                 n_boot=n_boot, level=level)


def write_curves(run: str | Path, *, do_gate: bool = False, metric: str | None = None,
                 tolerances: list[str] | None = None, n_boot: int = 2000) -> dict:
    """Write ``RUN/curves/`` (and the gate with ``do_gate``); returns ``best.json``'s dict,
    with ``"gate"`` = {"verdict", "exit_code", "result", "baseline"} when gated."""
    c = collect(run)
    out = Path(run) / "curves"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "curves.csv", to_csv(c), mode=0o644)
    atomic_write_text(out / "curves.md", to_markdown(c), mode=0o644)
    best = best_json(c)
    try:
        plot(c, out / "curves.png")
    except Exception as e:  # a plot never loses the tables
        best["plot_error"] = f"{type(e).__name__}: {e}"[:200]
    if do_gate:
        rep = gate(c, metric, tolerances, n_boot=n_boot)
        if rep is None:
            best["gate"] = {"verdict": "NO BASELINE", "exit_code": 0,
                            "reason": "fewer than two scored checkpoints"}
        else:
            best["gate"] = {"verdict": rep.verdict, "exit_code": rep.exit_code,
                            "result": rep.result, "baseline": rep.baseline}
            atomic_write_text(out / "gate.md", rep.to_markdown(), mode=0o644)
        atomic_write_text(out / "gate.json", json.dumps(best["gate"], indent=2) + "\n",
                          mode=0o644)
    atomic_write_text(out / "best.json", json.dumps(best, indent=2) + "\n", mode=0o644)
    return best


def add_curves_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", type=Path, help="a training output folder (vidbench train --out)")
    p.add_argument("--gate", action="store_true",
                   help="gate the newest checkpoint against the best earlier one "
                        "(exit 1 on regression, 2 when they cannot be compared)")
    p.add_argument("--metric", default=None,
                   help="metric that picks the previous best for --gate (default: the first "
                        "metric of the newest result)")
    p.add_argument("--tolerance", action="append", default=[], metavar="[METRIC=]abs:X|rel:X",
                   help="as in vidbench check (repeatable)")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples for --gate")


def run_curves(args: argparse.Namespace) -> int:
    best = write_curves(args.run, do_gate=args.gate, metric=args.metric,
                        tolerances=args.tolerance, n_boot=args.n_boot)
    out = Path(args.run) / "curves"
    print((out / "curves.md").read_text(), end="")
    for name, b in best["best"].items():
        print(f"best {name}: step {b['step']} ({b['value']:.4f})")
    print(f"wrote {out}/curves.png, curves.csv, curves.md, best.json")
    if args.gate:
        g = best["gate"]
        print(f"gate: {g['verdict']}" + (f" (newest {g['result']} vs best earlier "
                                         f"{g['baseline']}; {out}/gate.md)"
                                         if "baseline" in g else f" ({g.get('reason', '')})"))
        return int(g["exit_code"])
    return 0


#: ``vidbench curves`` (a ``vidbench.commands`` entry point).
CURVES = Command("training curves of a run's scored checkpoints (and a gate on the newest)",
                 add_curves_arguments, run_curves)
