"""The metric battery: one module per metric family. Each metric is a
``vidbench.metrics`` entry point in pyproject.toml (:mod:`vidbench.plugins`), imported on
first use."""
