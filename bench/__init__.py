"""vidbench: evaluation suite for video generators.

The core (this package) holds video I/O, manifests, results, weights, suites and the
registries. Metrics live in :mod:`vidbench.metrics`, generators in :mod:`vidbench.models`,
tables/plots/gates in :mod:`vidbench.leaderboard`; the CLI and runner tie them together.
"""

__version__ = "0.1.0"
