"""Pretrained weights: one manifest (``weights.json`` beside this file), a local store under
``VIDBENCH_HOME`` (default ``~/.cache/vidbench``), explicit fetching with sha256
verification, and safe loading only (safetensors or ``torch.load(weights_only=True)``).

Nothing is ever downloaded implicitly while scoring: :func:`resolve` returns a verified
local path or raises :class:`MissingWeightsError` naming the file, its URL and where to put
it. ``vidbench weights fetch NAME`` downloads (refused when ``VIDBENCH_OFFLINE=1``).

Integrity (docs/security.md):

- Every verification hashes the file's content (once per process and file state); nothing
  on disk can make vidbench skip that. The ``.verified`` stamp beside a file records the
  content sha256 it was verified with, for people to read; it is never trusted.
- A manifest sha256 (the publisher's) must match. Where the publisher gives none, the hash
  is pinned on first use: the first time the file is loaded successfully into its model
  (safe loading, and :func:`state_dict_mismatch` finds every key and shape as expected, or
  a scoring run got at least one score out of it: :func:`pin_verified`), its sha256 is
  written to ``VIDBENCH_HOME/weights/pins.json``; from then on a different file under that
  name is refused (delete the pin to accept a new file on purpose).
- :func:`provenance` gives the sha256 of the file actually verified and how it is trusted
  (``publisher``, ``first-use`` or ``unpinned``); result.json records both.
- A file that cannot be loaded safely is a :class:`WeightsLoadError` (a user error, exit 2).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidbench.errors import MissingWeightsError, UserError, WeightsChecksumError
from vidbench.fileio import (
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    now_iso,
    sha256_file,
)

MANIFEST_PATH = Path(__file__).with_name("weights.json")
PINS_NAME = "pins.json"
MAX_WEIGHTS_BYTES = 64 * 2**30  # a download without a known size stops here


class WeightsLoadError(UserError):
    """A weights file exists and matches its hash (or has none) but cannot be loaded
    safely (a pickle with code, a truncated or foreign archive)."""


# (path, size, mtime_ns, inode) -> sha256, and weights name -> (path, sha256, trust) of
# what this process verified: the digest recorded is always that of the file verified.
_DIGESTS: dict[tuple, str] = {}
_VERIFIED: dict[str, tuple[Path, str, str]] = {}
_LOCK = threading.Lock()


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
                               format=e["format"],
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


def pins_path() -> Path:
    return home() / "weights" / PINS_NAME


def read_pins() -> dict[str, dict]:
    """Trust-on-first-use pins: ``{name: {"sha256", "filename", "pinned"}}``."""
    p = pins_path()
    try:
        data = json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}
    except (OSError, ValueError, RecursionError) as e:
        raise UserError(f"{p}: unreadable pins file ({str(e)[:120]}); fix or delete it") \
            from None
    return data if isinstance(data, dict) else {}


def _pin(name: str, filename: str, digest: str) -> None:
    with _LOCK:
        pins = read_pins()
        if name in pins:
            return
        pins[name] = {"sha256": digest, "filename": filename, "pinned": now_iso()}
        atomic_write_json(pins_path(), pins, indent=1, sort_keys=True)


def _digest(p: Path) -> str:
    """sha256 of ``p``'s content, hashed once per process and file state."""
    st = os.stat(p)
    if not stat.S_ISREG(st.st_mode):
        raise WeightsChecksumError(f"{p}: not a regular file (a FIFO, device or folder)")
    key = (str(p), st.st_size, st.st_mtime_ns, st.st_ino)
    with _LOCK:
        got = _DIGESTS.get(key)
    if got is None:
        got = sha256_file(p)
        with _LOCK:
            _DIGESTS[key] = got
    return got


def verify(name: str, manifest: dict[str, WeightSpec] | None = None) -> Path:
    """Verify the local file of ``name`` by its content; returns its path. Raises
    MissingWeightsError or WeightsChecksumError (a mismatch with the publisher's hash or
    with the first-use pin)."""
    s = spec(name, manifest)
    p = home() / "weights" / s.filename
    if not p.exists():
        raise MissingWeightsError(
            f"weights {name!r} not found: expected {p} (from {s.url}); run "
            f"`vidbench weights fetch {name}` or download it there by hand")
    digest = _digest(p)
    _check(s, digest, str(p))
    trust = "publisher" if s.sha256 else "unpinned"
    if not s.sha256:
        pin = read_pins().get(name)
        if isinstance(pin, dict) and pin.get("sha256"):
            if pin["sha256"] != digest:
                raise WeightsChecksumError(
                    f"{p}: sha256 {digest} differs from {pin['sha256']}, pinned for {name} "
                    f"when it was first loaded ({pins_path()}); if you replaced it on "
                    f"purpose, delete that entry")
            trust = "first-use"
    with _LOCK:
        _VERIFIED[name] = (p, digest, trust)
    try:
        stamp = {"sha256": digest, "trust": trust}
        atomic_write_bytes(_stamp(p), (json.dumps(stamp) + "\n").encode())
    except OSError:
        pass  # a read-only store: the stamp is informational
    return p


def check_loadable(name: str) -> Path:
    """Verify ``name`` and, for plain checkpoints, load it safely once (a pickle with
    code or a foreign file is a :class:`WeightsLoadError`). This does not pin: only a load
    into the model does."""
    p = verify(name)
    if spec(name).format in ("state_dict", "safetensors"):
        load_state_dict(p)
    return p


def provenance(name: str) -> dict[str, str | None]:
    """``{"sha256": of the file this process verified for name, "trust": "publisher" |
    "first-use" | "unpinned"}`` (verifying it now if it was not yet)."""
    with _LOCK:
        hit = _VERIFIED.get(name)
    if hit is None:
        verify(name)
        with _LOCK:
            hit = _VERIFIED[name]
    p, digest, trust = hit
    if trust == "unpinned":  # pinned since (its first load succeeded)?
        pin = read_pins().get(name)
        if isinstance(pin, dict) and pin.get("sha256") == digest:
            trust = "first-use"
    return {"sha256": digest, "trust": trust}


def _name_of(p: Path) -> str | None:
    with _LOCK:
        for name, (vp, _, trust) in _VERIFIED.items():
            if trust == "unpinned" and vp == p:
                return name
    return None


def loaded(p: str | os.PathLike) -> None:
    """Record that the weights file ``p`` was loaded into its model successfully: an
    unpinned file verified in this process gets its sha256 pinned (trust on first use)."""
    p = Path(p)
    name = _name_of(p)
    if name is not None:
        pin_verified(name)


def pin_verified(name: str) -> bool:
    """Pin the sha256 this process verified for ``name`` if it has no publisher hash and no
    pin yet, and the file is unchanged since. Returns whether a pin was written."""
    with _LOCK:
        hit = _VERIFIED.get(name)
    if hit is None or hit[2] != "unpinned":
        return False
    p, digest, _ = hit
    try:
        if _digest(p) != digest:
            return False
    except OSError:
        return False
    _pin(name, p.name, digest)
    with _LOCK:
        _VERIFIED[name] = (p, digest, "first-use")
    return True


# id of a state dict returned by load_state_dict -> (its path, its number of keys)
_LOADED_FROM: dict[int, tuple[Path, int]] = {}


def resolve(name: str) -> Path:
    """A verified local path for weights ``name``; never downloads."""
    return verify(name)


def fetch(name: str, *, url: str | None = None, timeout: float = 60.0,
          manifest: dict[str, WeightSpec] | None = None) -> Path:
    """Download weights ``name`` (from ``url`` or the manifest's), verify, and move into
    place atomically. A failed or mismatching transfer leaves nothing behind."""
    s = spec(name, manifest)
    dest = home() / "weights" / s.filename
    if url is not None:
        scheme = urllib.parse.urlparse(url).scheme.lower()
        if scheme not in ("http", "https", "file"):
            raise UserError(f"--url {url[:200]!r}: not a URL (give http://, https:// or "
                            f"file://)")
    if offline():
        raise UserError(f"VIDBENCH_OFFLINE=1: not downloading {name} from {s.url}; put the "
                        f"file at {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    src = url or s.url
    h = hashlib.sha256()
    got = 0
    # the file lands at dest only after every check passed (atomic_write renames on a clean
    # exit and removes the temp file on any error)
    with atomic_write(dest) as out:
        try:
            with urllib.request.urlopen(src, timeout=timeout) as resp:
                expected = resp.headers.get("Content-Length")
                cap = s.size or MAX_WEIGHTS_BYTES
                while block := resp.read(1 << 20):
                    out.write(block)
                    h.update(block)
                    got += len(block)
                    if got > cap:  # a server (or /dev/zero) that never stops
                        raise WeightsChecksumError(
                            f"fetching {name} from {src}: more than {cap} bytes"
                            + (" (the manifest's size)" if s.size else ""))
        except urllib.error.HTTPError as e:
            raise UserError(f"fetching {name} from {src}: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise UserError(f"fetching {name} from {src}: {e}") from None
        if expected is not None and got != int(expected):
            raise UserError(f"fetching {name} from {src}: truncated transfer ({got} of "
                            f"{expected} bytes)")
        if s.size and got != s.size:
            raise WeightsChecksumError(f"fetching {name}: got {got} bytes, manifest says {s.size}")
        _check(s, h.hexdigest(), src)
        pin = None if s.sha256 else read_pins().get(name)
        if isinstance(pin, dict) and pin.get("sha256") not in (None, h.hexdigest()):
            raise WeightsChecksumError(
                f"fetching {name} from {src}: sha256 {h.hexdigest()} differs from the one "
                f"pinned at first use ({pin['sha256']}, {pins_path()})")
    verify(name, manifest)
    return dest


def load_state_dict(p: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint safely: safetensors, or ``torch.load(weights_only=True)``.
    Unwraps the common ``{"state_dict": ...}`` / ``{"model": ...}`` containers."""
    p = Path(p)
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            obj = load_file(str(p))
        except Exception as e:
            raise WeightsLoadError(f"{p}: not a readable safetensors file: "
                                   f"{(str(e).splitlines() or [''])[0][:200]}") from None
    else:
        import torch

        try:
            obj = torch.load(str(p), map_location="cpu", weights_only=True)
        except Exception as e:
            raise WeightsLoadError(
                f"{p}: cannot be loaded safely with torch.load(weights_only=True): "
                f"{(str(e).splitlines() or [type(e).__name__])[0][:200]}") from None
    for key in ("state_dict", "model", "module", "params"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise WeightsLoadError(f"{p}: holds a {type(obj).__name__}, not a state dict")
    with _LOCK:
        _LOADED_FROM[id(obj)] = (p, len(obj))
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
    if not (missing or unexpected or shapes):
        with _LOCK:
            src = _LOADED_FROM.pop(id(found), None)
        if src is not None and src[1] == len(found):
            loaded(src[0])  # the checkpoint fits its model: trust it from now on
    for label, items in (("missing", missing), ("unexpected", unexpected),
                         ("shape mismatches", shapes)):
        if items:
            more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
            parts.append(f"{label} {len(items)}: {', '.join(items[:5])}{more}")
    return "; ".join(parts)


def used_by() -> dict[str, list[str]]:
    """Weights name -> the metrics that may load it, derived from each registered metric's
    own :meth:`~vidbench.registry.Metric.weights_used` (so the manifest does not repeat it).
    A metric that cannot be imported here is left out."""
    from vidbench.registry import metric_class, metric_names

    out: dict[str, list[str]] = {}
    for metric in metric_names():
        try:
            names = metric_class(metric).weights_used()
        except (UserError, ImportError, AttributeError, TypeError):
            continue
        for w in names:
            out.setdefault(w, []).append(metric)
    return out


def status(manifest: dict[str, WeightSpec] | None = None) -> list[dict]:
    """One row per known weights file: name, present, verified, path, url, used_by."""
    m = manifest if manifest is not None else load_manifest()
    users = used_by()
    rows = []
    for name, s in m.items():
        p = home() / "weights" / s.filename
        row = {"name": name, "present": p.is_file(), "path": str(p), "url": s.url,
               "sha256": s.sha256, "size": s.size, "license": s.license,
               "used_by": users.get(name, [])}
        rows.append(row)
    return rows
