"""``vidbench run``: generate a suite with a model, score it, write the leaderboard and
plots, and print a summary, all under ``runs/<name>/``::

    runs/<name>/manifest.jsonl     what was generated (the manifest contract)
    runs/<name>/videos/            generated videos
    runs/<name>/videos.jsonl       per-video scores
    runs/<name>/result.json        aggregates with CIs and provenance
    runs/<name>/leaderboard/       table (md/csv/html) and plots
"""

from __future__ import annotations

import re
from pathlib import Path

from vidbench.adapters import Adapter, get_model
from vidbench.errors import UserError
from vidbench.progress import note
from vidbench.runner import ScoreConfig, score
from vidbench.suites import Suite, get_suite

DEFAULT_MODEL = "dit"
DEFAULT_SUITE = "physics-mini"
FALLBACK_MODEL = "synthetic"
FALLBACK_SUITE = "synthetic-mini"


def _default_model() -> tuple[str, Adapter]:
    try:
        return DEFAULT_MODEL, get_model(DEFAULT_MODEL)
    except (UserError, ImportError, OSError) as e:
        note(f"reference DiT not available ({e}); using the synthetic renderer")
        return FALLBACK_MODEL, get_model(FALLBACK_MODEL)


def _default_suite() -> Suite:
    try:
        return get_suite(DEFAULT_SUITE)
    except UserError as e:
        note(f"{e}; using {FALLBACK_SUITE}")
        return get_suite(FALLBACK_SUITE)


def print_summary(result: dict) -> None:
    """The short terminal table of one result (what ``run`` and ``score`` print)."""
    from vidbench.leaderboard import summary_table

    print(summary_table(result))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "run"


def run_pipeline(model: str | None = None, suite: str | None = None, out: str | None = None,
                 name: str | None = None, cfg: ScoreConfig | None = None,
                 allow_missing: bool = False) -> dict:
    """Generate, score, report. Returns the result dict."""
    from vidbench.generate import generate

    spec, adapter = (model, get_model(model)) if model else _default_model()
    s = get_suite(suite) if suite else _default_suite()
    run_name = name or _slug(f"{spec}_{s.name}")
    out_dir = Path(out) if out else Path("runs") / run_name
    report = generate(adapter, s, out_dir, allow_missing=allow_missing)
    print(f"generated {report.n_ok}, skipped {report.n_skipped} (already there), failed "
          f"{report.n_failed} -> {report.manifest}")
    cfg = cfg or ScoreConfig()
    cfg.model = cfg.model or adapter.model_id
    cfg.suite = cfg.suite or s.name
    result = score(report.manifest, out_dir, cfg)
    if result is None:  # a non-zero rank under torchrun
        return {}
    from vidbench.leaderboard import build_leaderboard
    from vidbench.results import add_language_results

    result = add_language_results(out_dir, report.manifest, seed=cfg.seed) or result

    build_leaderboard([out_dir / "result.json"], out_dir / "leaderboard")
    print(f"leaderboard: {out_dir / 'leaderboard'}")
    print_summary(result)
    print(f"wrote {out_dir / 'result.json'}")
    return result
