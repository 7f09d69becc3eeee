"""Generators: the reference video DiT and adapters around other models. Found through
:data:`vidbench.adapters.BUILTIN_MODELS` and imported on first use."""
