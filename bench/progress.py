"""Progress of long loops (generation, scoring, reference building), one rule for all.

- On a terminal (stderr is a TTY and ``CI`` is not set): a tqdm bar.
- Otherwise (CI logs, ``nohup``, output redirected to a file): a plain line on stderr at the
  first item, then whenever ``every_s`` seconds (default 10) have passed or another tenth of
  the items is done, and at the end::

      vidbench: progress: generate 6/12 videos (50%), 1.9 videos/s, 3s elapsed, ETA 3s

  (``vidbench: progress:`` sets these lines apart from notes and from the one-line errors)

- ``--quiet`` (:func:`set_quiet`, or ``VIDBENCH_QUIET=1``) silences both.

Messages follow one policy too, all on stderr: :func:`note` (``vidbench: note: ...``, always
shown: something the user should know, e.g. a skipped metric or an ignored record) and
:func:`info` (``vidbench: ...``, shown only with ``vidbench --verbose`` or
``VIDBENCH_VERBOSE=1``). One-line errors are printed by the CLI. vidbench does not use
:mod:`logging` (without a handler its INFO lines vanish); :func:`show_bar` is the rule for a
third-party progress bar (tqdm inside diffusers).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

_QUIET = False
_VERBOSE = False


def set_quiet(quiet: bool) -> None:
    """Silence (or re-enable) every progress display of this process."""
    global _QUIET
    _QUIET = bool(quiet)


def is_quiet() -> bool:
    return _QUIET or os.environ.get("VIDBENCH_QUIET", "").lower() in ("1", "true", "yes")


def set_verbose(verbose: bool) -> None:
    """Show (or hide) :func:`info` messages in this process."""
    global _VERBOSE
    _VERBOSE = bool(verbose)


def is_verbose() -> bool:
    return _VERBOSE or os.environ.get("VIDBENCH_VERBOSE", "").lower() in ("1", "true", "yes")


def note(message: str) -> None:
    """``vidbench: note: MESSAGE`` on stderr (not silenced by ``--quiet``)."""
    print(f"vidbench: note: {message}", file=sys.stderr, flush=True)


def info(message: str) -> None:
    """``vidbench: MESSAGE`` on stderr when verbose, else nothing."""
    if is_verbose():
        print(f"vidbench: {message}", file=sys.stderr, flush=True)


def show_bar(stream: TextIO | None = None) -> bool:
    """Whether a progress bar (ours or a library's) should be drawn: a terminal, not CI,
    not quiet."""
    return progress_mode(stream) == "bar"


def progress_mode(stream: TextIO | None = None) -> str:
    """``"off"`` (quiet), ``"bar"`` (a terminal) or ``"lines"`` (anything else)."""
    if is_quiet():
        return "off"
    stream = stream if stream is not None else sys.stderr
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return "bar" if tty and not in_ci else "lines"


def _duration(s: float) -> str:
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Progress:
    """Counts finished items of a loop of ``total`` and shows it by the module's rule.

    ``mode`` overrides the rule (``"off"``, ``"bar"``, ``"lines"``); ``clock`` is for tests.
    Use as a context manager, or call :meth:`close` at the end."""

    def __init__(self, total: int, desc: str, unit: str = "video", *, mode: str | None = None,
                 stream: TextIO | None = None, every_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = max(0, int(total))
        self.desc, self.unit = desc, unit
        self.stream = stream if stream is not None else sys.stderr
        self.mode = mode or progress_mode(self.stream)
        if self.total == 0:
            self.mode = "off"
        self.every_s = every_s
        self.step = max(1, math.ceil(self.total / 10))
        self.clock = clock
        self.n = 0
        self.t0 = clock()
        self._last_t = self.t0
        self._last_n = 0
        self._bar = None
        self._closed = False
        if self.mode == "bar":
            try:
                from tqdm import tqdm
            except ImportError:
                self.mode = "lines"
            else:
                self._bar = tqdm(total=self.total, desc=desc, unit=unit, file=self.stream)

    def line(self) -> str:
        """The plain progress line for the current count."""
        elapsed = self.clock() - self.t0
        pct = 100.0 * self.n / self.total if self.total else 100.0
        rate = self.n / elapsed if elapsed > 0 else 0.0
        text = (f"vidbench: progress: {self.desc} {self.n}/{self.total} {self.unit}s ({pct:.0f}%), "
                f"{rate:.2g} {self.unit}s/s, {_duration(elapsed)} elapsed")
        if 0 < self.n < self.total and rate > 0:
            text += f", ETA {_duration((self.total - self.n) / rate)}"
        return text

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.mode == "bar" and self._bar is not None:
            self._bar.update(n)
        elif self.mode == "lines":
            now = self.clock()
            if (self._last_n == 0 or self.n - self._last_n >= self.step
                    or now - self._last_t >= self.every_s or self.n >= self.total):
                self._emit(now)

    def _emit(self, now: float) -> None:
        print(self.line(), file=self.stream, flush=True)
        self._last_t, self._last_n = now, self.n

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif self.mode == "lines" and self.n != self._last_n:
            self._emit(self.clock())

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
