"""The metric battery: one module per metric family. Metrics are found through
:data:`vidbench.registry.BUILTIN_METRICS` and imported on first use."""
