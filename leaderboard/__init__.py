"""Leaderboard tables, plots, the static HTML page and the CI regression gate.

Entry points: :func:`build_leaderboard` (what ``vidbench run`` and ``vidbench leaderboard``
call), :func:`summary_table` (a short terminal table of one result), and the regression gate
in :mod:`vidbench.leaderboard.check`. Heavy dependencies (pandas, matplotlib) are imported
only when a leaderboard is actually built.
"""

from vidbench.leaderboard.cli import build_leaderboard, summary_table

__all__ = ["build_leaderboard", "summary_table"]
