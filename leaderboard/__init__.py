"""Leaderboard tables, plots, the static HTML page and the CI regression gate."""
