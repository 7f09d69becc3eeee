"""`python -m vidbench` is the same as the `vidbench` console script."""

from vidbench.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
