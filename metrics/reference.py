"""Reference statistics for set metrics (FVD, KVD, cd-FVD): per-video features of a real
video set, extracted once and cached by content.

``vidbench reference build DIR|MANIFEST --name NAME`` stores, per feature space (backbone +
weights + protocol, see ``FVD.feature_key``), under ``VIDBENCH_HOME/references/NAME/``:

- ``KEY.npz``: ``features`` (n, d) float64 (or (n, k, d)) and ``videos`` (their paths);
- ``KEY.json``: the sidecar: protocol and its hash, extractor and weights sha256, the
  source, the sha256 of the sorted list of (video path, size) pairs, the features file's
  sha256, and the videos that failed.

Both files are written atomically (temp file + rename, features first, sidecar last)
under a file lock, so a killed build leaves either the old valid pair or an invalid one
(the sidecar's features sha256 does not match), never a half-written cache that is used.

:func:`reference_features` (used by ``vidbench score --reference REF``) accepts a NAME under
``VIDBENCH_HOME/references``, a DIR or MANIFEST (extracted on the fly and cached under
``references/_auto/``, rebuilt when the content changed), or a ``.npz`` of features. A
stale NAME (content, weights or protocol changed) raises :class:`UserError` rather than
being reused.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from vidbench.errors import UserError
from vidbench.fileio import atomic_write_bytes, now_iso, read_json, sha256_file
from vidbench.plugins import Command
from vidbench.registry import SetMetric, VideoContext

SCHEMA = "vidbench.reference/1"
AUTO = "_auto"


# ----------------------------------------------------------------------------- layout


def references_root() -> Path:
    from vidbench.weights import home

    return home() / "references"


def feature_key(metric: SetMetric) -> str:
    """File-name-safe name of the metric's feature space."""
    key = metric.feature_key() if hasattr(metric, "feature_key") else \
        f"{metric.name}-{metric.protocol_hash()}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key)


def feature_protocol_hash(metric: SetMetric) -> str:
    """Hash of what the features depend on: the FVD-family protocol (shared by fvd and
    kvd), else the metric's own protocol hash."""
    proto = getattr(metric, "proto", None)
    return proto.hash() if proto is not None else metric.protocol_hash()


def _check_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name or "") or name == AUTO:
        raise UserError(f"invalid reference name {name!r}: use letters, digits, '.', '_', '-'")
    return name


def _sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _lock(path: Path):
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path) + ".lock")


# ----------------------------------------------------------------------------- content


def _read(source: str | os.PathLike):
    from vidbench.manifest import read_manifest

    return read_manifest(source)


def content_fingerprint(manifest: Any) -> dict:
    """sha256 of the sorted (video path, size in bytes) list; missing files count as -1."""
    items = []
    total = 0
    for e in manifest.entries:
        try:
            size = e.path.stat().st_size
        except OSError:
            size = -1
        total += max(size, 0)
        items.append([e.video, size])
    items.sort()
    blob = json.dumps(items, separators=(",", ":")).encode()
    return {"sha256": _sha256_bytes(blob), "count": len(items), "total_bytes": total}


def _progress(iterable, total: int, desc: str):
    from vidbench.progress import Progress

    with Progress(total, desc) as bar:
        for x in iterable:
            yield x
            bar.update(1)


def extract_features(manifest: Any, metric: SetMetric) -> tuple[np.ndarray, list[str], list]:
    """Per-video features through the metric's own view code (one decode per video).
    Returns (features, videos, failures [{"video", "error"}]).

    A metric that plans its clip from the container's facts (``planned_spec``, the FVD
    family) gets it streamed (:func:`vidbench.stream.decode_views`): memory is the clip's
    view, not the video, so long or 4K reference videos build in bounded memory. A plan
    that turns out not to match the decoded clip costs a second streamed pass; other
    metrics get the full decode."""
    from vidbench.stream import container_facts, decode_views
    from vidbench.video import decode

    plan = getattr(metric, "planned_spec", None)

    feats, videos, failed = [], [], []
    for e in _progress(manifest.entries, len(manifest.entries), f"reference {metric.name}"):
        if e.problem:
            failed.append({"video": e.video, "error": e.problem})
            continue
        try:
            if callable(plan):
                facts = container_facts(e.path)
                specs = [plan(facts, e.video)] if facts is not None else []
                clip: Any = decode_views(e.path, specs)
            else:
                clip = decode(e.path)
            ctx = VideoContext(clip, prompt=e.prompt, item=e.item, video=e.video,
                               meta=e.meta, device=getattr(metric, "device", "cpu"))
            f = np.asarray(metric.features(ctx), dtype=np.float64)
        except (UserError, ValueError, RuntimeError, OSError) as err:
            failed.append({"video": e.video, "error": f"{e.where}: {err}"})
            continue
        feats.append(f)
        videos.append(e.video)
    if not feats:
        detail = f"; first error: {failed[0]['error']}" if failed else ""
        raise UserError(f"{manifest.source or manifest.root}: no video gave features "
                        f"({len(failed)} failed){detail}")
    shapes = {f.shape for f in feats}
    if len(shapes) != 1:
        raise UserError(f"{manifest.source}: videos gave features of different shapes {shapes}")
    return np.stack(feats), videos, failed


# ----------------------------------------------------------------------------- cache


def _paths(folder: Path, metric: SetMetric) -> tuple[Path, Path]:
    key = feature_key(metric)
    return folder / f"{key}.npz", folder / f"{key}.json"


def _weights_sha(metric: SetMetric) -> str | None:
    fn = getattr(metric, "weights_sha256", None)
    return fn() if callable(fn) else None


def write_cache(folder: Path, metric: SetMetric, features: np.ndarray, videos: list[str],
                *, source: str, content: dict, failed: list, name: str) -> Path:
    """Write KEY.npz then KEY.json atomically; returns the features path."""
    npz_path, meta_path = _paths(folder, metric)
    buf = io.BytesIO()
    np.savez(buf, features=np.asarray(features, dtype=np.float64),
             videos=np.asarray(videos, dtype=str))
    data = buf.getvalue()
    atomic_write_bytes(npz_path, data)
    meta = {
        "schema": SCHEMA, "name": name, "source": source,
        "created": now_iso(),
        "metric": metric.name, "feature_key": feature_key(metric),
        "protocol": metric.protocol(), "protocol_hash": feature_protocol_hash(metric),
        "extractor": {"weights": list(metric.required_weights()),
                      "weights_sha256": _weights_sha(metric),
                      "random_weights": bool(metric.random_weights)},
        "content": content, "features_file": npz_path.name,
        "features_sha256": _sha256_bytes(data), "n": int(len(videos)),
        "shape": list(np.shape(features)), "failed": failed,
    }
    atomic_write_bytes(meta_path, json.dumps(meta, indent=2, sort_keys=True).encode())
    return npz_path


def _load_valid(folder: Path, metric: SetMetric) -> tuple[np.ndarray | None, dict | None, str]:
    """(features, sidecar, "") when the cache pair is complete and consistent, else
    (None, sidecar-or-None, reason)."""
    npz_path, meta_path = _paths(folder, metric)
    if not meta_path.is_file():
        return None, None, "no sidecar (never built, or the build was interrupted)"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return None, None, f"unreadable sidecar {meta_path}: {e}"
    if not npz_path.is_file():
        return None, meta, f"features file {npz_path} missing"
    if sha256_file(npz_path) != meta.get("features_sha256"):
        return None, meta, (f"{npz_path} does not match its sidecar (interrupted or "
                            f"concurrent write)")
    if meta.get("protocol_hash") != feature_protocol_hash(metric):
        return None, meta, (f"built with protocol hash {meta.get('protocol_hash')}, the metric "
                            f"now has {feature_protocol_hash(metric)}")
    want = _weights_sha(metric)
    have = (meta.get("extractor") or {}).get("weights_sha256")
    if want and have and want != have:
        return None, meta, f"built with weights sha256 {have[:12]}..., now {want[:12]}..."
    with np.load(npz_path, allow_pickle=False) as z:
        feats = np.asarray(z["features"], dtype=np.float64)
    return feats, meta, ""


def _stale_content(meta: dict) -> str:
    src = meta.get("source")
    if not src or not Path(src).exists():
        return ""
    now = content_fingerprint(_read(src))
    then = meta.get("content") or {}
    if now["sha256"] != then.get("sha256"):
        return (f"the content of {src} changed since the build ({then.get('count')} -> "
                f"{now['count']} videos, {then.get('total_bytes')} -> {now['total_bytes']} "
                f"bytes)")
    return ""


def build_reference(source: str | os.PathLike, metric: SetMetric, *, name: str | None = None,
                    folder: Path | None = None, force: bool = False) -> Path:
    """Extract and cache the features of ``source`` (a folder or manifest) for ``metric``
    under ``references/NAME`` (or ``folder``). Reuses a valid, up-to-date cache unless
    ``force``. Returns the features path."""
    src = Path(source).resolve()
    if folder is None:
        folder = references_root() / _check_name(name or "")
    npz_path, _ = _paths(folder, metric)
    with _lock(npz_path):
        manifest = _read(src)
        content = content_fingerprint(manifest)
        if not force:
            feats, meta, _ = _load_valid(folder, metric)
            if feats is not None and meta is not None and \
                    (meta.get("content") or {}).get("sha256") == content["sha256"]:
                return npz_path
        feats, videos, failed = extract_features(manifest, metric)
        return write_cache(folder, metric, feats, videos, source=str(src), content=content,
                           failed=failed, name=name or folder.name)


def _auto_folder(src: Path) -> Path:
    return references_root() / AUTO / _sha256_bytes(str(src).encode())[:16]


def reference_features(ref: str, metric: SetMetric) -> np.ndarray:
    """Reference features for ``metric`` from ``ref``: a ``.npz`` of features, a folder
    or manifest of videos (extracted on the fly and cached by content), or a NAME built
    with ``vidbench reference build``. Raises :class:`UserError` when it is missing,
    incomplete or stale."""
    p = Path(ref).expanduser()
    if p.suffix == ".npz":
        return _load_npz(p, metric)
    if p.exists():
        src = p.resolve()
        build_reference(src, metric, folder=_auto_folder(src), name=f"auto:{src}")
        feats, _, why = _load_valid(_auto_folder(src), metric)
        if feats is None:
            raise UserError(f"reference {src}: cache unusable after build ({why})")
        return feats
    if os.sep in ref or "/" in ref:
        raise UserError(f"reference {ref!r}: no such folder, manifest or .npz file")
    folder = references_root() / _check_name(ref)
    if not folder.is_dir():
        known = list_references()
        raise UserError(f"reference {ref!r} not found under {references_root()} (known: "
                        f"{', '.join(r['name'] for r in known) or 'none'}); build it with "
                        f"`vidbench reference build VIDEO_DIR --name {ref}`")
    feats, meta, why = _load_valid(folder, metric)
    src = (meta or {}).get("source", "VIDEO_DIR")
    rebuild = f"rebuild with `vidbench reference build {src} --name {ref}`"
    if feats is None and meta is None:
        others = []
        for side in sorted(folder.glob("*.json")):
            try:
                o = json.loads(side.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            others.append(f"{o.get('feature_key')} (metric {o.get('metric')}, protocol hash "
                          f"{o.get('protocol_hash')})")
        if others:
            why += (f"; it holds features for {', '.join(others)}, the metric wants protocol "
                    f"hash {feature_protocol_hash(metric)}")
    if feats is None:
        raise UserError(f"reference {ref!r} has no usable {metric.name} features "
                        f"({feature_key(metric)}): {why}; {rebuild}")
    stale = _stale_content(meta or {})
    if stale:
        raise UserError(f"reference {ref!r} is stale: {stale}; {rebuild}")
    return feats


def _load_npz(p: Path, metric: SetMetric) -> np.ndarray:
    if not p.is_file():
        raise UserError(f"{p}: no such features file")
    try:
        with np.load(p, allow_pickle=False) as z:
            keys = list(z.keys())
            key = "features" if "features" in keys else (keys[0] if len(keys) == 1 else None)
            if key is None:
                raise UserError(f"{p}: expected an array named 'features' (found {keys})")
            feats = np.asarray(z[key], dtype=np.float64)
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"{p}: not a readable .npz file ({e})") from None
    if feats.ndim not in (2, 3) or not np.all(np.isfinite(feats)):
        raise UserError(f"{p}: features must be a finite (n, d) or (n, k, d) array, got "
                        f"shape {feats.shape}")
    side = p.with_suffix(".json")
    if side.is_file():
        meta = read_json(side)
        if meta.get("protocol_hash") not in (None, feature_protocol_hash(metric)):
            raise UserError(f"{p}: built under protocol hash {meta.get('protocol_hash')}, "
                            f"metric {metric.name} uses {feature_protocol_hash(metric)}")
    return feats


def list_references() -> list[dict]:
    """One row per built reference feature set."""
    rows: list[dict] = []
    root = references_root()
    if not root.is_dir():
        return rows
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder.name == AUTO:
            continue
        for side in sorted(folder.glob("*.json")):
            try:
                meta = json.loads(side.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            rows.append({"name": folder.name, "metric": meta.get("metric"),
                         "feature_key": meta.get("feature_key"), "n": meta.get("n"),
                         "failed": len(meta.get("failed") or []),
                         "source": meta.get("source"), "created": meta.get("created")})
    return rows


# ----------------------------------------------------------------------------- CLI


def add_reference_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``vidbench reference build``: SOURCE, --name, --metrics, --mode,
    --protocol, --device, --random-weights, --force (``parser`` is the build parser)."""
    parser.add_argument("source", help="folder of videos, or manifest.jsonl")
    parser.add_argument("--name", required=True,
                        help="name to store it under (VIDBENCH_HOME/references/NAME)")
    parser.add_argument("--metrics", default="fvd", help="comma-separated set metrics "
                        "(fvd and kvd share features; cd_fvd has its own) [fvd]")
    parser.add_argument("--mode", default="default", choices=["default", "vbench"])
    parser.add_argument("--protocol", default=None, help="protocol preset (see docs/fvd.md)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--random-weights", action="store_true",
                        help="random-init extractors (tests, dry runs; not comparable)")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")


def add_reference_subcommands(parser: argparse.ArgumentParser) -> None:
    """``build`` (see :func:`add_reference_arguments`), ``list`` and ``show NAME``."""
    sub = parser.add_subparsers(dest="reference_cmd", metavar="{build,list,show}")
    sub.required = True
    build = sub.add_parser("build", help="extract and cache reference features of a video set")
    add_reference_arguments(build)
    build.add_argument("--quiet", action="store_true", help="no progress bar or progress lines")
    sub.add_parser("list", help="list built references")
    sub.add_parser("show", help="print a reference's sidecars").add_argument("name")


def run_reference(args: argparse.Namespace) -> int:
    """Run ``reference build|list|show`` (``args.reference_cmd``; build when absent)."""
    cmd = getattr(args, "reference_cmd", None) or "build"
    if cmd == "list":
        rows = list_references()
        if not rows:
            print(f"no references under {references_root()}")
        for r in rows:
            print(f"{r['name']}\t{r['metric']}\t{r['feature_key']}\tn={r['n']}\t"
                  f"failed={r['failed']}\t{r['source']}")
        return 0
    if cmd == "show":
        folder = references_root() / _check_name(args.name)
        sides = sorted(folder.glob("*.json")) if folder.is_dir() else []
        if not sides:
            raise UserError(f"reference {args.name!r} not found under {references_root()}")
        for side in sides:
            print(side.read_text(encoding="utf-8"))
        return 0
    from vidbench.registry import get_metric

    names = [m.strip() for m in args.metrics.split(",") if m.strip()]
    done: set[str] = set()
    for mname in names:
        opts: dict[str, Any] = {}
        if args.protocol:
            opts["protocol"] = args.protocol
        metric = get_metric(mname, mode=args.mode, device=args.device,
                            random_weights=args.random_weights, **opts)
        if not isinstance(metric, SetMetric):
            raise UserError(f"metric {mname!r} is not a set metric; references are for "
                            f"fvd, kvd, cd_fvd")
        key = feature_key(metric)
        if key in done:
            continue
        done.add(key)
        path = build_reference(args.source, metric, name=args.name, force=args.force)
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        print(f"reference {args.name}: {meta['n']} videos ({len(meta['failed'])} failed) "
              f"-> {path}")
        for f in meta["failed"][:5]:
            print(f"  failed: {f['error']}", file=sys.stderr)
    return 0


#: ``vidbench reference build|list|show`` (a ``vidbench.commands`` entry point).
COMMAND = Command("FVD reference features: build, list, show", add_reference_subcommands,
                  run_reference)
