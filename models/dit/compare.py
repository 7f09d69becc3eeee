"""Two ``vidbench run`` folders of the same suite, paired item by item: does model B score
differently from model A, per language, and is B's language gap different from A's?

For a per-video metric ``m`` and the items ``i`` of language ``lang`` present in both runs
with a finite value:

    diff[lang] = mean_i (m_B(i) - m_A(i))                         range [-1, 1] for [0, 1] metrics

and, over the EN/ZH pairs ``p`` (an English item and its Chinese twin, by the manifest's
``pair`` key) finite in both runs:

    gap_change = mean_p ((m_B(zh_p) - m_B(en_p)) - (m_A(zh_p) - m_A(en_p)))

each with a seeded 95% percentile bootstrap CI over the items (pairs)
(:func:`vidbench.stats.bootstrap_ci`). The per-language values and gaps of each run are
taken from its ``result.json`` (what the runner reports), so this adds only the cross-run
differences. Item ids of Chinese twins end in ``-zh``; both runs must hold the same suite.

    python -m vidbench.models.dit.compare A_DIR B_DIR [--metric physics_scenario] [--json F]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from vidbench.errors import UserError
from vidbench.fileio import read_json
from vidbench.stats import bootstrap_ci


def run_values(run_dir: Path, metric: str) -> dict[str, tuple[str, str, float]]:
    """item id -> (lang, pair key, value) from a run's manifest and videos.jsonl."""
    run_dir = Path(run_dir)
    meta: dict[str, tuple[str, str]] = {}
    with open(run_dir / "manifest.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                meta[d["item"]] = (d.get("lang", "en"), d.get("pair", d["item"]))
    out: dict[str, tuple[str, str, float]] = {}
    with open(run_dir / "videos.jsonl", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            d = json.loads(line)
            v = (d.get("scores") or {}).get(metric)
            item = d["item"]
            if item in meta:
                out[item] = (*meta[item], float("nan") if v is None else float(v))
    return out


def _agg(values: list[float], seed: int) -> dict:
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return {"value": None, "ci95": None, "n": 0}
    lo, hi = bootstrap_ci(v, seed=seed)
    return {"value": float(v.mean()), "ci95": [lo, hi], "n": int(len(v))}


def compare_runs(run_a: Path, run_b: Path, metric: str = "physics_scenario",
                 seed: int = 0) -> dict:
    """The cross-run differences of the module docstring, plus each run's own per-language
    figures and gap from its result.json."""
    a, b = run_values(run_a, metric), run_values(run_b, metric)
    if set(a) != set(b):
        raise UserError(f"{run_a} and {run_b} hold different items "
                        f"({len(set(a) ^ set(b))} not in both): not the same suite")
    langs = sorted({lang for lang, _, _ in a.values()})
    diff = {}
    for lang in langs:
        d = [b[i][2] - a[i][2] for i in sorted(a) if a[i][0] == lang
             and math.isfinite(a[i][2]) and math.isfinite(b[i][2])]
        diff[lang] = _agg(d, seed)
    pairs: dict[str, dict[str, str]] = {}
    for item, (lang, pair, _) in a.items():
        pairs.setdefault(pair, {})[lang] = item
    gc = []
    for p in sorted(pairs):
        en, zh = pairs[p].get("en"), pairs[p].get("zh")
        if en is None or zh is None:
            continue
        vals = (a[en][2], a[zh][2], b[en][2], b[zh][2])
        if all(math.isfinite(x) for x in vals):
            gc.append((vals[3] - vals[2]) - (vals[1] - vals[0]))
    runs = {}
    for label, run in (("a", run_a), ("b", run_b)):
        shas = set()
        with open(Path(run) / "manifest.jsonl", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    gen = (json.loads(line).get("meta") or {}).get("generation") or {}
                    sha = (gen.get("params") or {}).get("sha256")
                    if sha:
                        shas.add(sha)
        res = read_json(Path(run) / "result.json")
        m = res["metrics"][metric]
        runs[label] = {"run": str(run), "model": res.get("model", {}).get("id")
                       if isinstance(res.get("model"), dict) else res.get("model"),
                       "value": m["value"], "ci95": m["ci95"], "n": m["n"],
                       "per_language": {k: {"value": v["value"], "ci95": v["ci95"],
                                            "n": v["n"]}
                                        for k, v in (m.get("per_language") or {}).items()},
                       "gap": m.get("gap"),
                       # the DiT checkpoint(s) the videos were generated with (adapter params)
                       "checkpoint_sha256": sorted(shas)}
    return {"metric": metric, "runs": runs, "diff_b_minus_a": diff,
            "gap_change_b_minus_a": _agg(gc, seed) if "zh" in langs else None}


def _fmt(x: dict | None) -> str:
    if not x or x.get("value") is None:
        return "–"
    lo, hi = x["ci95"]
    return f"{x['value']:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vidbench.models.dit.compare",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("run_a", type=Path)
    p.add_argument("run_b", type=Path)
    p.add_argument("--metric", default="physics_scenario")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args(argv)
    try:
        res = compare_runs(args.run_a, args.run_b, args.metric, args.seed)
    except UserError as e:
        print(f"compare: {e}", file=sys.stderr)
        return 2
    for label in ("a", "b"):
        r = res["runs"][label]
        langs = ", ".join(f"{k} {v['value']:.3f}" for k, v in r["per_language"].items())
        print(f"{label}: {r['model']} {args.metric} {langs}; gap {_fmt(r['gap'])}")
    for lang, d in res["diff_b_minus_a"].items():
        print(f"b - a [{lang}]: {_fmt(d)} ({d['n']} items)")
    if res["gap_change_b_minus_a"] is not None:
        g = res["gap_change_b_minus_a"]
        print(f"gap(b) - gap(a): {_fmt(g)} ({g['n']} pairs)")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
