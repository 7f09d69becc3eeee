"""Command-line entry points of the leaderboard and the regression gate.

The main CLI (``vidbench``) wires these in as ``vidbench leaderboard`` and ``vidbench check``;
``python -m vidbench.leaderboard.cli leaderboard|check ...`` runs them standalone.

- :func:`build_leaderboard` is what ``vidbench run`` calls to write the table, plots and
  page under ``runs/<name>/``.
- :func:`summary_table` formats one result dict as a short terminal table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from vidbench.errors import UserError
from vidbench.fileio import atomic_write_text, clean_json
from vidbench.plugins import Command
from vidbench.progress import note

FORMATS = ("md", "csv", "html", "tex")


def _write(path: Path, text: str) -> str:
    try:
        atomic_write_text(path, text)
    except OSError as e:
        raise UserError(f"{path}: cannot write ({e.strerror or e})") from None
    return str(path)


def _out_dir(out_dir: str | Path) -> Path:
    """Create ``out_dir`` (before any work): a path that cannot be a folder is a user error."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {out}: cannot create the output folder "
                        f"({e.strerror or e})") from None
    if not out.is_dir():
        raise UserError(f"--out {out}: not a folder")
    return out


def parse_formats(spec: str | Sequence[str]) -> tuple[str, ...]:
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    fmts = tuple(dict.fromkeys(f.strip().lower() for f in items if f.strip()))
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        raise UserError(f"--format {spec!r}: unknown format(s) {bad}; choose from "
                        f"{','.join(FORMATS)}")
    return fmts


def build_leaderboard(result_paths: Sequence[str | Path], out_dir: str | Path,
                      formats: Sequence[str] = ("md", "csv", "html"), force: bool = False, *,
                      plots: bool = True, totals_config: str | Path | None = None,
                      title: str = "vidbench leaderboard") -> dict:
    """Load ``result_paths`` and write ``leaderboard.{md,csv,html,tex}`` (as asked) and the
    plots (``plots/*.png|svg``) into ``out_dir``.

    Returns ``{"files": {format: path}, "plots": {name: {"png", "svg"}}, "notes": [...],
    "models": [label in leaderboard order], "totals_config": {name, version, hash}}``."""
    from vidbench.leaderboard.load import load_results
    from vidbench.leaderboard.table import build_table
    from vidbench.leaderboard.totals import load_config

    fmts = parse_formats(formats)
    results = load_results(list(result_paths))
    out = _out_dir(out_dir)
    cfg = load_config(totals_config)
    lb = build_table(results, force=force, totals_config=cfg)
    plot_paths: dict[str, dict[str, str]] = {}
    if plots:
        from vidbench.leaderboard.plots import all_plots

        plot_paths = all_plots(lb, out / "plots", lb.notes,
                               bounds={d: s for d, s in cfg.dimensions.items()})
    files: dict[str, str] = {}
    if "md" in fmts:
        files["md"] = _write(out / "leaderboard.md", lb.to_markdown(title))
    if "csv" in fmts:
        files["csv"] = _write(out / "leaderboard.csv", lb.to_csv())
    if "tex" in fmts:
        files["tex"] = _write(out / "leaderboard.tex", lb.to_latex(title))
    if "html" in fmts:
        from vidbench.leaderboard.html import write_html

        files["html"] = str(write_html(lb, out / "leaderboard.html", plot_paths, title=title))
    totals = {m: t for m, t in lb.totals.items()}
    files["totals"] = _write(out / "totals.json", json.dumps(
        clean_json({"config": lb.totals_config, "models": totals}), indent=2,
        allow_nan=False) + "\n")
    return {"files": files, "plots": plot_paths, "notes": list(lb.notes),
            "models": list(lb.models), "totals_config": lb.totals_config}


def summary_table(result: dict) -> str:
    """A short terminal table of one result dict (as written to result.json)."""
    metrics = result.get("metrics") or {}
    rows = [("metric", "value", "95% CI", "n", "failed", "n/a", "")]
    for name, m in metrics.items():
        def num(x):
            try:
                x = float(x)
            except (TypeError, ValueError):
                return "–"
            return "–" if not math.isfinite(x) else f"{x:.4g}"

        ci = m.get("ci95") or [None, None]
        flags = ("↑" if m.get("higher_is_better", True) else "↓") + (
            "" if m.get("comparable", True) else " not comparable (random weights)")
        na = m.get("n_not_applicable")
        rows.append((name, num(m.get("value")), f"[{num(ci[0])}, {num(ci[1])}]",
                     str(m.get("n", "")), str(m.get("n_failed", 0)),
                     "" if na is None else str(na), flags))
    k = len(rows[0]) - 1
    widths = [max(len(r[i]) for r in rows) for i in range(k)]
    lines = [f"{result.get('model', '?')} on {result.get('suite', '?')}"]
    for j, r in enumerate(rows):
        lines.append("  ".join(r[i].ljust(widths[i]) if i == 0 else r[i].rjust(widths[i])
                               for i in range(k)) + ("  " + r[k] if r[k] else ""))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    skipped = result.get("skipped") or {}
    if skipped:
        lines.append(f"not measured: {', '.join(sorted(skipped))} (reasons in result.json)")
    errs = result.get("errors") or []
    if errs:
        lines.append(f"{len(errs)} error(s); see result.json")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- leaderboard

def add_leaderboard_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", metavar="RESULT.json",
                        help="result.json files (or folders holding one)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--format", default="md,csv,html",
                        help=f"comma-separated formats from {','.join(FORMATS)} "
                             "(default: md,csv,html)")
    parser.add_argument("--force", action="store_true",
                        help="put results with different protocol/weights/comparable in one "
                             "column anyway (marked as mixed)")
    parser.add_argument("--totals-config", default=None, metavar="JSON|NAME",
                        help="totals config file, or a shipped one by name: vbench-style "
                             "(default, v2), vbench-style-v1, vbench-official (VBench's own "
                             "16-dimension Total)")
    parser.add_argument("--no-plots", action="store_true", help="skip the plots")
    parser.add_argument("--title", default="vidbench leaderboard")


def run_leaderboard(args: argparse.Namespace) -> int:
    """Build the leaderboard; an unexpected failure is a one-line error (exit 2)."""
    try:
        return _run_leaderboard(args)
    except (UserError, KeyboardInterrupt):
        raise
    except Exception as e:
        raise UserError(f"leaderboard failed unexpectedly: {type(e).__name__}: "
                        f"{str(e)[:200]} (rerun with --debug for the traceback)") from e


def _run_leaderboard(args: argparse.Namespace) -> int:
    info = build_leaderboard(args.results, args.out, parse_formats(args.format),
                             force=args.force, plots=not args.no_plots,
                             totals_config=args.totals_config, title=args.title)
    for n in info["notes"]:
        note(n)
    md = info["files"].get("md")
    if md:
        print(Path(md).read_text(encoding="utf-8").split("\n## ")[0].rstrip())
    for fmt, p in info["files"].items():
        print(f"wrote {fmt}: {p}")
    for name, ps in info["plots"].items():
        print(f"wrote plot {name}: {ps['png']} (+ .svg)")
    return 0


# ---------------------------------------------------------------------------- check

def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("result", metavar="RESULT.json", help="the new result (or its folder)")
    parser.add_argument("--baseline", required=True, metavar="RESULT.json",
                        help="the baseline result (or its folder)")
    parser.add_argument("--tolerance", action="append", default=[],
                        metavar="METRIC=abs:X|rel:X",
                        help="allowed drop per metric (repeatable); abs:X/rel:X without a "
                             "metric sets the default (default abs:0)")
    parser.add_argument("--level", type=float, default=0.05,
                        help="significance level of the one-sided test (default 0.05)")
    parser.add_argument("--junit", default=None, metavar="FILE", help="write JUnit XML here")
    parser.add_argument("--pairing", default="auto", choices=("auto", "paired", "unpaired"))
    parser.add_argument("--correction", default="holm", choices=("none", "holm"),
                        help="multiple-testing correction over metrics (default holm: the "
                             "false-alarm rate of the whole gate stays at --level)")
    parser.add_argument("--metrics", default=None,
                        help="comma-separated metrics to gate on (default: all shared)")
    parser.add_argument("--n-boot", type=int, default=10000,
                        help="bootstrap resamples (100 to 1000000; default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--coverage-tolerance", type=float, default=0.1, metavar="X",
                        help="allowed absolute drop of a metric's coverage (share of videos "
                             "it produced a value for) before it counts (default 0.1)")
    parser.add_argument("--strict", action="store_true",
                        help="fail (exit 1) when any metric is untested (no data to decide)")


def run_check(args: argparse.Namespace) -> int:
    """0 pass, 1 regression (only), 2 cannot compare or any error. Prints a markdown summary
    to stdout and writes JUnit XML when ``--junit`` is given (also when the results cannot
    be compared). An unexpected failure is reported as an error (exit 2), never as exit 1,
    which means "regression" to CI."""
    try:
        return _run_check(args)
    except (UserError, KeyboardInterrupt):
        raise
    except Exception as e:  # a crash must not read as "regression" (exit 1)
        raise UserError(f"check failed unexpectedly: {type(e).__name__}: {str(e)[:200]} "
                        "(rerun with --debug for the traceback)") from e


def _run_check(args: argparse.Namespace) -> int:
    from vidbench.leaderboard.check import (
        MAX_BOOT,
        CheckReport,
        check,
        parse_tolerance,
        write_junit,
    )
    from vidbench.leaderboard.load import load_result

    tols = {}
    default = None
    for spec in args.tolerance:
        metric, tol = parse_tolerance(spec)
        if metric is None:
            default = tol
        else:
            tols[metric] = tol
    if not 100 <= args.n_boot <= MAX_BOOT:
        raise UserError(f"--n-boot {args.n_boot}: use 100 to {MAX_BOOT} resamples")
    cov_tol = getattr(args, "coverage_tolerance", 0.1)
    if not (math.isfinite(cov_tol) and 0 <= cov_tol <= 1):
        raise UserError(f"--coverage-tolerance {cov_tol}: must be between 0 and 1")
    if args.junit:
        try:
            Path(args.junit).parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"--junit {args.junit}: cannot create its folder "
                            f"({e.strerror or e})") from None
    try:
        res = load_result(args.result)
        base = load_result(args.baseline)
    except UserError as e:
        rep = CheckReport(result=str(args.result), baseline=str(args.baseline),
                          level=args.level, checks=[], error=str(e))
    else:
        metrics = [m.strip() for m in args.metrics.split(",")] if args.metrics else None
        rep = check(res, base, tolerances=tols, default=default, level=args.level,
                    n_boot=args.n_boot, seed=args.seed, pairing=args.pairing,
                    correction=args.correction, metrics=metrics, coverage_tol=cov_tol,
                    strict=getattr(args, "strict", False))
    sys.stdout.write(rep.to_markdown())
    if args.junit:
        write_junit(rep, args.junit)
    if rep.error:
        print(f"vidbench: cannot compare: {rep.error}", file=sys.stderr)
    return rep.exit_code


#: ``vidbench leaderboard`` and ``vidbench check`` (``vidbench.commands`` entry points).
LEADERBOARD = Command("tables, plots and an HTML page from result.json files",
                      add_leaderboard_arguments, run_leaderboard)
CHECK = Command("regression gate: compare a result with a baseline (exit 1 on regression)",
                add_check_arguments, run_check)


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone: ``python -m vidbench.leaderboard.cli leaderboard|check ...``."""
    p = argparse.ArgumentParser(prog="vidbench-leaderboard")
    sub = p.add_subparsers(dest="cmd", required=True)
    add_leaderboard_arguments(sub.add_parser("leaderboard", help="build a leaderboard"))
    add_check_arguments(sub.add_parser("check", help="regression gate"))
    args = p.parse_args(argv)
    try:
        return run_leaderboard(args) if args.cmd == "leaderboard" else run_check(args)
    except UserError as e:
        print(f"vidbench: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
