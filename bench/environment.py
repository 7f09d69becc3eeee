"""What this installation runs on: the versions of the packages that decide vidbench's numbers,
whether they are the locked ones, and whether a requested torch device exists.

Used by result.json provenance (``provenance["packages"]``), ``vidbench --version --verbose``
and the ``--device`` checks. Versions are read from package metadata
(:mod:`importlib.metadata`; torch's own version string from its ``version.py``), so nothing
here imports torch except :func:`check_device` of a device other than the CPU.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from vidbench.errors import UserError

NUMERIC_PACKAGES: tuple[str, ...] = (
    "torch", "torchvision", "numpy", "scipy", "av", "decord", "opencv-python-headless",
    "open_clip_torch", "safetensors", "pillow", "diffusers", "transformers", "scikit-video",
)
"""Distributions whose version can move a score (decoders, resizers, backbones, linear
algebra); ``provenance["packages"]`` records each one that is installed."""

LOCK_FILE = Path(__file__).resolve().parent.parent / "requirements.txt"
"""The lock of a source checkout (``make install`` installs exactly it); absent in a wheel."""

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def package_versions(names: tuple[str, ...] = NUMERIC_PACKAGES) -> dict[str, str]:
    """Installed version of each of ``names`` that is installed, by name."""
    out: dict[str, str] = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            continue
    return out


def locked_versions(lock: Path = LOCK_FILE) -> dict[str, str]:
    """``name -> version`` pins of a pip-compile lock file (normalised names); {} if absent."""
    try:
        text = lock.read_text(encoding="utf-8")
    except OSError:
        return {}
    pins = {}
    for line in text.splitlines():
        m = _PIN.match(line.strip())
        if m:
            pins[_norm(m.group(1))] = m.group(2)
    return pins


def lock_drift(lock: Path = LOCK_FILE, names: tuple[str, ...] = NUMERIC_PACKAGES
               ) -> dict[str, tuple[str, str]] | None:
    """``name -> (installed, locked)`` for the packages of ``names`` whose installed version
    differs from the lock; None when there is no lock (an installed wheel)."""
    pins = locked_versions(lock)
    if not pins:
        return None
    drift = {}
    for name, version in package_versions(names).items():
        # a local version label (torch 2.14.1+cu130) is the same release as its pin
        want = pins.get(_norm(name))
        if want is not None and version.split("+")[0] != want.split("+")[0]:
            drift[name] = (version, want)
    return drift


def version_report() -> str:
    """The text of ``vidbench --version --verbose``."""
    import platform

    from vidbench import __version__

    lines = [f"vidbench {__version__}", f"python {platform.python_version()} "
             f"({platform.platform()})"]
    pins = locked_versions()
    for name, version in package_versions().items():
        want = pins.get(_norm(name))
        mark = "" if want is None or version.split("+")[0] == want else f"  (lock: {want})"
        lines.append(f"{name} {version}{mark}")
    drift = lock_drift()
    if drift is None:
        lines.append("lock: none (not a source checkout)")
    else:
        lines.append(f"lock: {LOCK_FILE} "
                     + ("(installed versions match)" if not drift else
                        f"({len(drift)} package(s) differ: run `make install`)"))
    return "\n".join(lines)


def torch_version() -> str | None:
    """torch's own ``torch.__version__`` (with its local label, e.g. ``2.14.1+cu130``), read
    from ``torch/version.py`` without importing torch; the distribution's metadata version
    (which may lack the label: ``2.14.1``) when that file cannot be read; None when torch is
    not installed."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        return None
    try:
        text = (Path(spec.origin).parent / "version.py").read_text(encoding="utf-8")
        m = re.search(r"^__version__\s*(?::\s*str\s*)?=\s*['\"]([^'\"]+)['\"]", text, re.M)
        if m:
            return m.group(1)
    except OSError:
        pass
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def check_device(device: str) -> str:
    """``device`` if this machine has it, else a :class:`UserError` (one line, exit 2): a run
    asked for CUDA must not quietly run on the CPU and record ``"device": "cuda"``. The CPU
    is always there: ``"cpu"`` is answered without importing torch (a weight-free run never
    needs it)."""
    if device == "cpu":
        return device
    import torch

    try:
        d = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(f"--device {device!r}: not a torch device (e.g. cpu, cuda, cuda:1)"
                        ) from None
    if d.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {device}: no CUDA device on this machine (torch "
                            f"{torch.__version__}); use --device cpu")
        if d.index is not None and d.index >= torch.cuda.device_count():
            raise UserError(f"--device {device}: this machine has "
                            f"{torch.cuda.device_count()} CUDA device(s)")
    elif d.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise UserError(f"--device {device}: MPS is not available on this machine")
    elif d.type != "cpu":
        raise UserError(f"--device {device}: only cpu, cuda and mps are supported")
    return device
