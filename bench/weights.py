"""Pretrained weights: one manifest (``weights.json`` beside this file), a local store under
``VIDBENCH_HOME`` (default ``~/.cache/vidbench``), explicit fetching with sha256
verification, and safe loading only (safetensors or ``torch.load(weights_only=True)``).

Nothing is ever downloaded implicitly while scoring: :func:`resolve` returns a verified
local path or raises :class:`MissingWeightsError` naming the file, its URL and where to put
it. ``vidbench weights fetch NAME`` downloads (refused when ``VIDBENCH_OFFLINE=1``).
A file placed by hand is verified against the manifest's sha256 before first use (the
verification is remembered in a ``.verified`` stamp keyed by size and mtime).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidbench.errors import MissingWeightsError, UserError, WeightsChecksumError
from vidbench.fileio import sha256_file

MANIFEST_PATH = Path(__file__).with_name("weights.json")


@dataclass(frozen=True)
class WeightSpec:
    """One entry of the weights manifest. ``sha256`` is None where the publisher gives no
    checksum and none has been pinned yet (then ``sha256_prefix``, e.g. the 8 hex digits in
    a torchvision file name, is checked when present)."""

    name: str
    filename: str
    url: str
    sha256: str | None
    size: int | None
    license: str
    used_by: tuple[str, ...]
    format: str  # "torchscript" | "state_dict" | "safetensors" | "open_clip"
    sha256_prefix: str | None = None
    notes: str = ""


def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, WeightSpec]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    out = {}
    for name, e in raw["weights"].items():
        out[name] = WeightSpec(name=name, filename=e["filename"], url=e["url"],
                               sha256=e.get("sha256"), size=e.get("size"),
                               license=e.get("license", "unknown"),
                               used_by=tuple(e.get("used_by", ())), format=e["format"],
                               sha256_prefix=e.get("sha256_prefix"), notes=e.get("notes", ""))
    return out


def home() -> Path:
    """The local store: ``$VIDBENCH_HOME`` or ``~/.cache/vidbench``."""
    return Path(os.environ.get("VIDBENCH_HOME") or Path.home() / ".cache" / "vidbench")


def offline() -> bool:
    return os.environ.get("VIDBENCH_OFFLINE", "") not in ("", "0", "false", "False")


def spec(name: str, manifest: dict[str, WeightSpec] | None = None) -> WeightSpec:
    m = manifest if manifest is not None else load_manifest()
    if name not in m:
        raise UserError(f"unknown weights {name!r}; `vidbench weights list` shows the known ones")
    return m[name]


def path(name: str, manifest: dict[str, WeightSpec] | None = None) -> Path:
    """Where weights ``name`` live (whether or not they are there)."""
    return home() / "weights" / spec(name, manifest).filename


def _check(s: WeightSpec, digest: str, where: str) -> None:
    if s.sha256 and digest != s.sha256:
        raise WeightsChecksumError(f"{where}: sha256 {digest} does not match the manifest's "
                                   f"{s.sha256} for {s.name}; delete it and fetch again")
    if not s.sha256 and s.sha256_prefix and not digest.startswith(s.sha256_prefix):
        raise WeightsChecksumError(f"{where}: sha256 {digest[:16]}... does not start with "
                                   f"{s.sha256_prefix} as the file name of {s.name} says")


def _stamp(p: Path) -> Path:
    return p.with_name(p.name + ".verified")


def verify(name: str, manifest: dict[str, WeightSpec] | None = None) -> Path:
    """Verify the local file of ``name``; returns its path. Raises MissingWeightsError or
    WeightsChecksumError."""
    s = spec(name, manifest)
    p = home() / "weights" / s.filename
    if not p.is_file():
        raise MissingWeightsError(
            f"weights {name!r} not found: expected {p} (from {s.url}); run "
            f"`vidbench weights fetch {name}` or download it there by hand")
    st = p.stat()
    key = f"{st.st_size}:{st.st_mtime_ns}"
    stamp = _stamp(p)
    if stamp.is_file() and stamp.read_text().strip() == key:
        return p
    _check(s, sha256_file(p), str(p))
    stamp.write_text(key)
    return p


def resolve(name: str) -> Path:
    """A verified local path for weights ``name``; never downloads."""
    return verify(name)


def fetch(name: str, *, url: str | None = None, timeout: float = 60.0,
          manifest: dict[str, WeightSpec] | None = None) -> Path:
    """Download weights ``name`` (from ``url`` or the manifest's), verify, and move into
    place atomically. A failed or mismatching transfer leaves nothing behind."""
    s = spec(name, manifest)
    dest = home() / "weights" / s.filename
    if offline():
        raise UserError(f"VIDBENCH_OFFLINE=1: not downloading {name} from {s.url}; put the "
                        f"file at {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    src = url or s.url
    fd, tmp = tempfile.mkstemp(prefix=f".{s.filename}.", suffix=".part", dir=dest.parent)
    h = hashlib.sha256()
    got = 0
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(src, timeout=timeout) as resp:
                    expected = resp.headers.get("Content-Length")
                    while block := resp.read(1 << 20):
                        out.write(block)
                        h.update(block)
                        got += len(block)
            except urllib.error.HTTPError as e:
                raise UserError(f"fetching {name} from {src}: HTTP {e.code} {e.reason}") from None
            except (urllib.error.URLError, OSError) as e:
                raise UserError(f"fetching {name} from {src}: {e}") from None
        if expected is not None and got != int(expected):
            raise UserError(f"fetching {name} from {src}: truncated transfer ({got} of "
                            f"{expected} bytes)")
        if s.size and got != s.size:
            raise WeightsChecksumError(f"fetching {name}: got {got} bytes, manifest says {s.size}")
        _check(s, h.hexdigest(), src)
        os.replace(tmp, dest)
        _stamp(dest).write_text(f"{dest.stat().st_size}:{dest.stat().st_mtime_ns}")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def load_state_dict(p: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint safely: safetensors, or ``torch.load(weights_only=True)``.
    Unwraps the common ``{"state_dict": ...}`` / ``{"model": ...}`` containers."""
    p = Path(p)
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(p))
    import torch

    try:
        obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"{p}: cannot be loaded safely with torch.load(weights_only=True): "
                        f"{str(e).splitlines()[0][:200]}") from None
    for key in ("state_dict", "model", "module", "params"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    return obj


def state_dict_mismatch(expected: dict[str, Any], found: dict[str, Any]) -> str:
    """'' when ``found`` fits ``expected`` exactly (same keys, same shapes), else one line
    naming the first missing, unexpected and wrongly shaped keys with their counts, e.g.
    ``missing 1: a.weight; unexpected 2: x, y``."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    shapes = [f"{k} {tuple(found[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
              if k in found and hasattr(found[k], "shape")
              and tuple(found[k].shape) != tuple(v.shape)]
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected),
                         ("shape mismatches", shapes)):
        if items:
            more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
            parts.append(f"{label} {len(items)}: {', '.join(items[:5])}{more}")
    return "; ".join(parts)


def status(manifest: dict[str, WeightSpec] | None = None) -> list[dict]:
    """One row per known weights file: name, present, verified, path, url, used_by."""
    m = manifest if manifest is not None else load_manifest()
    rows = []
    for name, s in m.items():
        p = home() / "weights" / s.filename
        row = {"name": name, "present": p.is_file(), "path": str(p), "url": s.url,
               "sha256": s.sha256, "size": s.size, "license": s.license,
               "used_by": list(s.used_by)}
        rows.append(row)
    return rows
