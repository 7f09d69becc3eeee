"""``--model python:package.module:function`` — any Python function as a generator.

The function is called once per suite item as::

    f(prompt, seed, num_frames, height, width, fps, **options)

and returns either a ``uint8`` array ``(T, H, W, 3)`` (RGB), a tuple ``(array, fps)`` when
it renders at another frame rate than asked, or a path (``str`` / ``os.PathLike``) to a video
file it wrote. ``options`` are the spec's query parameters
(``python:mypkg.gen:make?steps=20&guidance=4.5``), with ``true``/``false``, integers and
floats converted from text. If the function has a ``conditioning`` parameter it receives
the item's conditioning frames (``(K, H, W, 3)`` uint8 or None); a ``meta`` parameter
receives the item's metadata; a ``lang`` parameter receives the prompt's language (``"en"``,
``"zh"``; suites selected with ``--lang``). The prompt is passed as written, in its language.

The target may also be a file: ``python:path/to/gen.py:make``. The recorded revision is the
sha256 (first 16 hex digits) of the module's source file, so a changed generator does not
pass for the old one.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vidbench.adapters import Adapter, Generated
from vidbench.errors import UserError
from vidbench.suites import SuiteItem

_CORE = ("prompt", "seed", "num_frames", "height", "width", "fps")


def coerce_option(value: Any) -> Any:
    """Spec options arrive as text: ``"true"``/``"false"``, ints and floats are converted."""
    if not isinstance(value, str):
        return value
    low = value.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(value)
        except ValueError:
            pass
    return value


def load_callable(target: str) -> tuple[Callable[..., Any], str | None]:
    """``"pkg.mod:func"`` or ``"path/file.py:func"`` -> (function, source file or None)."""
    mod_name, sep, attr = target.rpartition(":")
    if not sep or not mod_name or not attr:
        raise UserError(f"python adapter: expected python:package.module:function or "
                        f"python:path/to/file.py:function, got {target!r}")
    if mod_name.endswith(".py") or os.sep in mod_name or "/" in mod_name:
        path = Path(mod_name)
        if not path.is_file():
            raise UserError(f"python adapter: no such file {path}")
        name = f"_vidbench_user_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise UserError(f"python adapter: cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            raise UserError(f"python adapter: importing {path} failed: "
                            f"{type(e).__name__}: {e}") from e
    else:
        try:
            module = importlib.import_module(mod_name)
        except ModuleNotFoundError as e:
            raise UserError(f"python adapter: cannot import module {mod_name!r} ({e}); is it "
                            f"installed or on PYTHONPATH?") from None
    fn = getattr(module, attr, None)
    if fn is None:
        raise UserError(f"python adapter: module {mod_name!r} has no attribute {attr!r}")
    if not callable(fn):
        raise UserError(f"python adapter: {mod_name}:{attr} is not callable")
    return fn, getattr(module, "__file__", None)


class PythonAdapter(Adapter):
    """Calls a user function per item; see the module docstring for the contract."""

    scheme = "python"

    def __init__(self, target: str = "", **options: Any) -> None:
        super().__init__(target, **options)
        self.fn, self._source = load_callable(target)
        self.kwargs = {k: coerce_option(v) for k, v in options.items()}
        try:
            sig = inspect.signature(self.fn)
        except (TypeError, ValueError):
            sig = None
        self._params = dict(sig.parameters) if sig is not None else {}
        self._var_kw = sig is None or any(p.kind is inspect.Parameter.VAR_KEYWORD
                                          for p in self._params.values())
        if sig is not None:
            names = set(self._params)
            missing = [n for n in _CORE if n not in names and not self._var_kw]
            if missing:
                raise UserError(f"python adapter: {target} must accept {', '.join(_CORE)}; "
                                f"it lacks {', '.join(missing)}")
            unknown = [k for k in self.kwargs if k not in names and not self._var_kw]
            if unknown:
                raise UserError(f"python adapter: {target} does not accept option(s) "
                                f"{', '.join(unknown)} (add **kwargs or a parameter)")

    @property
    def revision(self) -> str | None:
        if self._source and os.path.isfile(self._source):
            with open(self._source, "rb") as f:
                return hashlib.sha256(f.read()).hexdigest()[:16]
        return None

    def generate_one(self, item: SuiteItem) -> Generated:
        call: dict[str, Any] = {"prompt": item.prompt, "seed": item.seed,
                                "num_frames": item.num_frames, "height": item.height,
                                "width": item.width, "fps": item.fps, **self.kwargs}
        if "conditioning" in self._params:
            call["conditioning"] = item.conditioning_frames()
        if "meta" in self._params:
            call["meta"] = item.meta
        if "lang" in self._params:
            call["lang"] = item.lang or "en"
        out = self.fn(**call)
        params = {"function": self.target, **self.kwargs}
        return to_generated(out, item, f"python:{self.target}", params)


def to_generated(out: Any, item: SuiteItem, who: str, params: dict) -> Generated:
    """Validate a generator's return value (array, (array, fps) or path)."""
    fps = float(item.fps)
    if isinstance(out, tuple) and len(out) == 2 and not isinstance(out[0], (str, os.PathLike)):
        out, fps = out
        fps = float(fps)
    if isinstance(out, (str, os.PathLike)):
        p = Path(out).expanduser().resolve()
        if not p.is_file():
            raise FileNotFoundError(f"{who} returned the path {p} for item {item.item!r}, "
                                    f"but no such file exists")
        return Generated(path=p, fps=fps, params=params)
    if hasattr(out, "detach") and hasattr(out, "cpu"):  # a torch tensor
        out = out.detach().cpu().numpy()
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{who} returned {type(out).__name__} for item {item.item!r}; "
                        f"expected a uint8 array (T, H, W, 3) or a path to a video")
    if out.ndim != 4 or out.shape[-1] != 3:
        raise ValueError(f"{who} returned an array of shape {out.shape} for item "
                         f"{item.item!r}; expected (T, H, W, 3) RGB")
    if out.dtype != np.uint8:
        raise ValueError(f"{who} returned dtype {out.dtype} for item {item.item!r}; expected "
                         f"uint8 in [0, 255] (convert with "
                         f"(x * 255).round().clip(0, 255).astype(np.uint8))")
    return Generated(frames=np.ascontiguousarray(out), fps=fps, params=params)
