"""Generators: the reference video DiT and adapters around other models. Each adapter is a
``vidbench.models`` entry point in pyproject.toml (:mod:`vidbench.plugins`), imported on first
use."""
