"""Task metrics of generators on the physics suites, on top of ``vidbench run``: a run folder
(manifest, videos, ``result.json``) is scored against the analytic ground truth with
colour-centroid tracking (:func:`vidbench.models.baselines.track`), beside the suite metrics
(``physics_scenario``, ``physics_consistency``) that the runner already put in its
``result.json`` with 95% CIs. Generation and suite scoring are the normal runner path, so
the figures here are the ones ``vidbench run`` and the leaderboard show.

Per item (generated frames k >= K, the object = the one with the largest ground-truth
displacement over those frames):

- ``direction``: 1 when the generated displacement from frame K-1 to the last frame points
  within 60 degrees of the true one (cosine >= 0.5), else 0 (also 0 when the object is lost).
- ``size``: size constancy, the mean over generated frames of min(a_k, a_ref) / max(a_k, a_ref)
  with a_ref the object's area in the last conditioning frame (0 where it is lost). [0, 1].
- ``pos_err``: mean distance between generated and true centroids over generated frames, in
  frame sides (lost frames count as 0.5). Lower is better.
- ``found``: fraction of generated frames where the object is found.

Each is averaged over items with a seeded bootstrap 95% CI, over every item and over the
gravity scenarios (those whose parameters include ``g``, read from the scenario catalogue).
A run over several languages (``--suite NAME@en,zh``) is also summarised per language, with
the paired ZH-minus-EN gap.

    python -m vidbench.models.dit.evaluate --models dit,baseline:copy-last --suite physics-val \
        --out DIR                      # runs `vidbench run` for each model into DIR/runs/
    python -m vidbench.models.dit.evaluate --run tiny=runs/a --run cv=runs/b --out DIR

write ``DIR/eval.json`` and a markdown table ``DIR/eval.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

import numpy as np

#: the task metrics computed here (the suite metrics come from result.json)
TASK_KEYS = ("direction", "size", "pos_err", "found")
SUITE_KEYS = ("physics_scenario", "physics_consistency")


def gravity_scenarios() -> tuple[str, ...]:
    """Scenarios whose motion is driven by gravity: their parameters include ``g``
    (from the scenario catalogue, so a new gravity scenario joins by itself)."""
    from vidbench.scenarios import get_scenario, scenario_names

    return tuple(n for n in scenario_names() if "g" in get_scenario(n).required)


def item_scores(gen: np.ndarray, gt: np.ndarray, K: int) -> dict:
    from vidbench.models.baselines import track

    T, H, W = gt.shape[:3]
    side = float(max(H, W))
    start = max(K - 1, 0)
    gt_tr = track(gt[start:])
    gen_tr = track(gen[start:])
    if not gt_tr:
        return {"direction": math.nan, "size": math.nan, "pos_err": math.nan, "found": math.nan}

    def disp(tr):
        a = tr[0]
        b = next((o for o in reversed(tr) if o is not None), None)
        return np.zeros(2) if b is None else np.array([b.x - a.x, b.y - a.y])

    j = int(np.argmax([np.linalg.norm(disp(t)) for t in gt_tr]))
    ref_gt = gt_tr[j]
    # the generated track of the same object: nearest colour and position at frame K-1
    best, best_d = None, 1e9
    for t in gen_tr:
        d = float(np.abs(t[0].color - ref_gt[0].color).mean()) + float(
            np.hypot(t[0].x - ref_gt[0].x, t[0].y - ref_gt[0].y))
        if d < best_d:
            best, best_d = t, d
    n = len(ref_gt) - 1
    if best is None or n <= 0:
        return {"direction": 0.0, "size": 0.0, "pos_err": 0.5, "found": 0.0}
    d_gt, d_gen = disp(ref_gt), disp(best)
    last_gen = best[-1]
    if last_gen is None:
        direction = 0.0
    elif np.linalg.norm(d_gt) < 0.5:  # the true object barely moves: it should stay put
        direction = float(np.linalg.norm(d_gen) < 1.5)
    else:
        cos = float(d_gt @ d_gen / (np.linalg.norm(d_gt) * np.linalg.norm(d_gen) + 1e-9))
        direction = float(cos >= 0.5)
    a_ref = best[0].area
    sizes, errs, found = [], [], 0
    for k in range(1, n + 1):
        o, g = best[k], ref_gt[k]
        if o is None:
            sizes.append(0.0)
            errs.append(0.5)
            continue
        found += 1
        sizes.append(min(o.area, a_ref) / max(o.area, a_ref, 1e-9))
        errs.append(float(np.hypot(o.x - g.x, o.y - g.y)) / side if g is not None else 0.0)
    return {"direction": direction, "size": float(np.mean(sizes)),
            "pos_err": float(np.mean(errs)), "found": found / n}


def run_items(run_dir: Path) -> list[dict]:
    """Task metrics of every scored video of a ``vidbench run`` folder, plus its per-video
    suite-metric scores from ``videos.jsonl``: one row per manifest entry."""
    from vidbench.fileio import read_jsonl
    from vidbench.manifest import read_manifest
    from vidbench.scenarios import physics_params, render
    from vidbench.video import decode

    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir / "manifest.jsonl")
    per_video = {}
    vj = run_dir / "videos.jsonl"
    if vj.is_file():
        for _, rec in read_jsonl(vj):
            if isinstance(rec, dict):
                per_video[rec.get("item") or rec.get("video")] = rec.get("scores") or {}
    rows = []
    for e in manifest.entries:
        p = physics_params(e.meta)
        if p is None or e.problem:
            continue
        gen = decode(e.path).frames
        r = e.meta.get("render") or {}
        T, H, W = (int(r.get("num_frames", len(gen))), int(r.get("height", gen.shape[1])),
                   int(r.get("width", gen.shape[2])))
        gt = render(p, T, (H, W), float(r.get("fps", 8.0)))
        K = int(e.meta.get("cond_frames", 0))
        row = {"item": e.item, "pair": e.pair or e.item, "lang": e.lang or "en",
               "scenario": e.meta.get("scenario"), "bucket": e.meta.get("bucket"),
               **item_scores(gen[:T], gt, K)}
        scores = per_video.get(e.item) or per_video.get(e.video) or {}
        for k in SUITE_KEYS:
            v = scores.get(k)
            row[k] = float(v) if isinstance(v, (int, float)) else math.nan
        rows.append(row)
    return rows


def _agg(values: list[float], seed: int = 0) -> dict:
    from vidbench.stats import mean_with_ci

    a = mean_with_ci(np.asarray(values, dtype=np.float64), seed=seed)
    return {"value": a.value, "ci95": list(a.ci95), "n": a.n}


def summarise(rows: list[dict], seed: int = 0) -> dict:
    """Mean and bootstrap 95% CI of every metric, over all items and over gravity items."""
    grav = set(gravity_scenarios())
    out: dict = {}
    for k in (*TASK_KEYS, *SUITE_KEYS):
        out[k] = _agg([r[k] for r in rows], seed)
        out[f"gravity_{k}"] = _agg([r[k] for r in rows if r["scenario"] in grav], seed)
    out["n"] = len(rows)
    out["n_gravity"] = sum(r["scenario"] in grav for r in rows)
    return out


def language_summary(rows: list[dict], seed: int = 0) -> dict:
    """Per language, and the paired ZH-minus-EN gap (items matched by ``pair``) with a
    bootstrap 95% CI; {} for a one-language run."""
    langs = sorted({r["lang"] for r in rows})
    if len(langs) < 2 or "en" not in langs:
        return {}
    out: dict = {"per_language": {}, "gap": {}}
    for lang in langs:
        sub = [r for r in rows if r["lang"] == lang]
        out["per_language"][lang] = {k: _agg([r[k] for r in sub], seed)
                                     for k in (*TASK_KEYS, *SUITE_KEYS)}
    en = {r["pair"]: r for r in rows if r["lang"] == "en"}
    for lang in (x for x in langs if x != "en"):
        pairs = [(en[r["pair"]], r) for r in rows if r["lang"] == lang and r["pair"] in en]
        out["gap"][lang] = {k: _agg([b[k] - a[k] for a, b in pairs], seed)
                            for k in (*TASK_KEYS, *SUITE_KEYS)}
    return out


def evaluate_run(run_dir: Path, seed: int = 0) -> dict:
    """Everything :func:`main` reports for one run folder."""
    from vidbench.fileio import read_json

    rows = run_items(run_dir)
    res_path = Path(run_dir) / "result.json"
    res = read_json(res_path) if res_path.is_file() else {}
    suite_figs = {k: {"value": m.get("value"), "ci95": m.get("ci95"), "n": m.get("n"),
                      **({"gap": m["gap"]} if m.get("gap") else {})}
                  for k, m in (res.get("metrics") or {}).items() if isinstance(m, dict)}
    return {"run": str(run_dir), "model": res.get("model"), "suite": res.get("suite"),
            "items": rows, "summary": summarise(rows, seed),
            "languages": language_summary(rows, seed), "result": suite_figs}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "run"


def run_model(spec: str, suite: str, out: Path) -> Path:
    """``vidbench run --model SPEC --suite SUITE`` (the suite's metrics) into
    ``OUT/runs/<slug>``; returns the run folder."""
    from vidbench.errors import UserError
    from vidbench.models.dit.scoring import vidbench_command
    from vidbench.suites import get_suite

    d = Path(out) / "runs" / _slug(spec)
    metrics = ",".join(get_suite(suite).metrics or SUITE_KEYS)
    rc = vidbench_command(["run", "--model", spec, "--suite", suite, "--out", str(d),
                           "--metrics", metrics, "--quiet"], d.with_name(d.name + ".log"))
    if rc != 0:
        raise UserError(f"vidbench run --model {spec} failed (exit {rc}); see {d}.log")
    return d


def _cell(a: dict) -> str:
    v = a.get("value")
    if v is None or not math.isfinite(v):
        return "n/a"
    lo, hi = a.get("ci95") or (math.nan, math.nan)
    if lo is None or not math.isfinite(lo):
        return f"{v:.3f}"
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def to_markdown(res: dict) -> str:
    cols = [("physics_scenario", "physics_scenario"),
            ("physics_consistency", "physics_consistency"),
            ("direction", "direction agree"), ("size", "size const."),
            ("pos_err", "pos. err (frame sides)"), ("gravity_direction", "gravity direction"),
            ("gravity_physics_scenario", "gravity physics_scenario")]
    lines = ["Mean [bootstrap 95% CI] over items.", "",
             "| model | n | " + " | ".join(c[1] for c in cols) + " |",
             "|---|---:|" + "---:|" * len(cols)]
    gaps = []
    for label, r in res["models"].items():
        s = r["summary"]
        lines.append(f"| `{label}` | {s['n']} | " + " | ".join(_cell(s[k]) for k, _ in cols)
                     + " |")
        for lang, g in (r.get("languages") or {}).get("gap", {}).items():
            gaps.append(f"| `{label}` | {lang} - en | " + " | ".join(
                _cell(g[k]) for k in ("physics_scenario", "physics_consistency", "direction",
                                      "size")) + " |")
    if gaps:
        lines += ["", "Paired language gap (ZH minus EN, same items):", "",
                  "| model | gap | physics_scenario | physics_consistency | direction | size |",
                  "|---|---|---:|---:|---:|---:|", *gaps]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from vidbench.errors import UserError

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="",
                   help="comma-separated model specs to generate and score with vidbench run")
    p.add_argument("--run", action="append", default=[], metavar="LABEL=DIR",
                   help="an existing vidbench run folder (repeatable)")
    p.add_argument("--suite", default="physics-val",
                   help="suite for --models (default physics-val: validation seeds)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    a = p.parse_args(argv)
    runs: dict[str, Path] = {}
    try:
        for spec in a.run:
            label, sep, d = spec.partition("=")
            if not sep or not label or not d:
                raise UserError(f"--run {spec!r}: expected LABEL=DIR")
            if not (Path(d) / "manifest.jsonl").is_file():
                raise UserError(f"--run {spec!r}: {d}/manifest.jsonl not found")
            runs[label] = Path(d)
        for spec in (s for s in a.models.split(",") if s):
            runs[spec] = run_model(spec, a.suite, a.out)
        if not runs:
            raise UserError("nothing to evaluate: pass --models and/or --run LABEL=DIR")
        res = {"models": {label: evaluate_run(d, a.seed) for label, d in runs.items()}}
    except UserError as e:
        print(f"vidbench: {e}", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "eval.json").write_text(json.dumps(res, indent=2, default=float) + "\n")
    md = to_markdown(res)
    (a.out / "eval.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
