"""The reference model's bar (issue 20) on physics-mini, read from ``vidbench run`` folders.

A checkpoint becomes the shipped default only when, on the same items, it clears every
trivial baseline by a margin and tracks objects as well as the physics-aware heuristic:

- ``physics_scenario``: ``mean(model) - max_b mean(b) >= 0.10`` over the trivial baselines
  ``b`` in {copy-last, constant-velocity, frozen-first-frame}. The margin is the mean of the
  per-item differences against the best baseline (same items), so its CI is paired.
  physics_scenario is in [0, 1] (1 = the analytic trajectory); the margin is in [-1, 1].
- ``physics_consistency`` (in [0, 1]): ``mean(model) >= mean(constant-velocity)``, paired over
  the items both score (copy-last and frozen-first-frame are static: NaN with a reason).
- ``direction`` agreement >= 0.9 and ``size`` constancy >= 0.8 (task metrics of
  :mod:`vidbench.models.dit.evaluate`, each in [0, 1]).

Every figure carries a seeded bootstrap 95% CI over items. A criterion is *met* when its point
estimate clears the threshold, and *clear* when the CI's lower end does too; the bar is met
when every criterion is met.

    python -m vidbench.models.dit.bar --model tiny32=runs/m --copy-last runs/cl \\
        --constant-velocity runs/cv --frozen-first-frame runs/ff --out DIR

writes ``DIR/bar.json`` and ``DIR/bar.md``; exit 0 when the bar is met, 1 when not, 2 on bad
input.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from vidbench.models.dit.evaluate import _agg

#: the trivial baselines the margin is taken over (CLI flag -> label)
BASELINES = ("copy-last", "constant-velocity", "frozen-first-frame")
SCENARIO_MARGIN = 0.10
DIRECTION_MIN = 0.9
SIZE_MIN = 0.8


def _by_item(rows: list[dict], key: str) -> dict[str, float]:
    return {r["item"]: float(r[key]) for r in rows}


def _paired(a: dict[str, float], b: dict[str, float], seed: int) -> dict:
    """Mean and CI of a - b over the items both have finite."""
    common = sorted(k for k in a.keys() & b.keys()
                    if math.isfinite(a[k]) and math.isfinite(b[k]))
    return _agg([a[k] - b[k] for k in common], seed)


def _criterion(name: str, est: dict, threshold: float, what: str, *,
               difference: bool = False) -> dict:
    v, lo = est["value"], est["ci95"][0]
    met = bool(math.isfinite(v) and v >= threshold)
    clear = bool(met and lo is not None and math.isfinite(lo) and lo >= threshold)
    return {"criterion": name, "what": what, "threshold": threshold, "difference": difference,
            **est, "met": met, "clear": clear}


def check_bar(model: list[dict], baselines: dict[str, list[dict]], seed: int = 0) -> dict:
    """The bar's criteria from per-item rows (:func:`evaluate.run_items`) of the model and
    of each baseline in :data:`BASELINES`; raises UserError when one is missing or the
    runs do not cover the same items."""
    from vidbench.errors import UserError

    missing = [b for b in BASELINES if b not in baselines]
    if missing:
        raise UserError(f"bar: baseline run(s) missing: {', '.join(missing)}")
    items = {r["item"] for r in model}
    for b, rows in baselines.items():
        if {r["item"] for r in rows} != items:
            raise UserError(f"bar: the {b} run does not cover the model's items "
                            f"({len(rows)} vs {len(items)}); run both on the same suite")
    ps = {b: _agg([r["physics_scenario"] for r in rows], seed) for b, rows in baselines.items()}
    best = max(BASELINES, key=lambda b: ps[b]["value"])
    margin = _paired(_by_item(model, "physics_scenario"),
                     _by_item(baselines[best], "physics_scenario"), seed)
    cons = _paired(_by_item(model, "physics_consistency"),
                   _by_item(baselines["constant-velocity"], "physics_consistency"), seed)
    crits = [
        _criterion("physics_scenario_margin", margin, SCENARIO_MARGIN,
                   f"physics_scenario minus the best trivial baseline ({best}), paired",
                   difference=True),
        _criterion("physics_consistency_vs_cv", cons, 0.0,
                   "physics_consistency minus constant-velocity's, paired", difference=True),
        _criterion("direction", _agg([r["direction"] for r in model], seed), DIRECTION_MIN,
                   "direction agreement"),
        _criterion("size", _agg([r["size"] for r in model], seed), SIZE_MIN,
                   "size constancy"),
    ]
    return {"model": {k: _agg([r[k] for r in model], seed)
                      for k in ("physics_scenario", "physics_consistency", "direction",
                                "size")},
            "baselines": {b: {"physics_scenario": ps[b],
                              "physics_consistency": _agg(
                                  [r["physics_consistency"] for r in rows], seed)}
                          for b, rows in baselines.items()},
            "best_baseline": best, "criteria": crits,
            "met": all(c["met"] for c in crits), "clear": all(c["clear"] for c in crits)}


def _num(x: dict) -> str:
    v = x["value"]
    if not math.isfinite(v):
        return "n/a"
    f = "{:+.3f}" if x.get("difference") else "{:.3f}"
    lo, hi = x["ci95"]
    return (f"{f.format(v)} [{f.format(lo)}, {f.format(hi)}]" if math.isfinite(lo)
            else f.format(v))


def to_markdown(res: dict, label: str) -> str:
    lines = [f"Issue 20's bar for `{label}` on {res.get('suite', 'physics-mini')} "
             f"(mean [bootstrap 95% CI] over items; best trivial baseline: "
             f"{res['best_baseline']}).", "",
             "| criterion | figure | threshold | met | CI clear |", "|---|---:|---:|---|---|"]
    for c in res["criteria"]:
        lines.append(f"| {c['what']} | {_num(c)} | {c['threshold']:.2f} | "
                     f"{'yes' if c['met'] else 'no'} | {'yes' if c['clear'] else 'no'} |")
    lines += ["", f"Bar met: {'yes' if res['met'] else 'no'} (every CI clear: "
              f"{'yes' if res['clear'] else 'no'})."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from vidbench.errors import UserError
    from vidbench.models.dit.evaluate import evaluate_run

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, metavar="LABEL=DIR",
                   help="the checkpoint's vidbench run folder")
    for b in BASELINES:
        p.add_argument(f"--{b}", required=True, metavar="DIR", help=f"baseline:{b}'s run")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    a = p.parse_args(argv)
    label, sep, d = a.model.partition("=")
    try:
        if not sep or not label or not d:
            raise UserError(f"--model {a.model!r}: expected LABEL=DIR")
        runs = {"model": Path(d), **{b: Path(getattr(a, b.replace("-", "_")))
                                     for b in BASELINES}}
        for name, run in runs.items():
            if not (run / "manifest.jsonl").is_file():
                raise UserError(f"{name}: {run}/manifest.jsonl not found")
        ev = {name: evaluate_run(run, a.seed) for name, run in runs.items()}
        res = check_bar(ev["model"]["items"], {b: ev[b]["items"] for b in BASELINES}, a.seed)
    except UserError as e:
        print(f"vidbench: {e}", file=sys.stderr)
        return 2
    res = {"label": label, "suite": ev["model"]["suite"], "model_id": ev["model"]["model"],
           "runs": {k: str(v) for k, v in runs.items()}, **res}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "bar.json").write_text(json.dumps(res, indent=2, default=float) + "\n")
    md = to_markdown(res, label)
    (a.out / "bar.md").write_text(md)
    print(md)
    return 0 if res["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
