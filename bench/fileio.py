"""The one home of file I/O every writer and reader shares.

- Atomic writes: :func:`atomic_write` (a context manager giving a file object),
  :func:`atomic_path` (a temp path for writers that want a file name: matplotlib, torch,
  safetensors), :func:`atomic_write_bytes`, :func:`atomic_write_text`,
  :func:`atomic_write_json`. A unique temp file in the same folder (``.NAME.XXXX.tmp``),
  fsync, rename: a killed writer leaves the old file or the new one, never half of one, and
  two writers never share a temp file.
- JSONL: :func:`append_line` / :func:`append_jsonl` (one fsynced record; a failed append
  leaves no torn line) and :func:`read_jsonl` (the torn-tail rule: an unparsable *last* line
  is a killed writer's and is dropped; a bad line before the end is an error naming the file
  and line, or is skipped with a note when the caller can regenerate it).
- JSON: :func:`loads_json` / :func:`read_json` (every failure is one line naming the file,
  line and column), :func:`clean_json` (NaN/inf -> null, numpy -> Python; strict JSON).
- :func:`read_text` (UTF-8 or a one-line error), :func:`now_iso` (UTC, seconds),
  :func:`sha256_file`, :func:`regular_file_problem`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from vidbench.errors import UserError


def now_iso() -> str:
    """The current UTC time as ISO 8601 to the second: ``2026-12-02T16:46:27+00:00``."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, mode: int | None = None) -> Iterator[Path]:
    """A fresh temp path next to ``path`` for a writer that wants a file name; on a clean
    exit the file is fsynced, given permission bits ``mode`` (mkstemp makes 0600) and
    renamed onto ``path``; on an error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, *, text: bool = False,
                 mode: int | None = None) -> Iterator[IO[Any]]:
    """``with atomic_write(p) as f: f.write(...)``: the file object of a unique temp file
    next to ``p`` (binary, or UTF-8 text with ``text=True``), fsynced and renamed onto ``p``
    on a clean exit; removed on an error (see :func:`atomic_path`)."""
    with atomic_path(path, mode=mode) as tmp:
        f: IO[Any]
        with (open(tmp, "w", encoding="utf-8") if text else open(tmp, "wb")) as f:
            yield f


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, mode: int | None = None
                       ) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, mode=mode) as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2,
                      sort_keys: bool = False) -> Path:
    """Write ``clean_json(obj)`` as strict JSON (UTF-8, a final newline) atomically."""
    p = Path(path)
    data = json.dumps(clean_json(obj), indent=indent, ensure_ascii=False, sort_keys=sort_keys,
                      allow_nan=False)
    atomic_write_bytes(p, (data + "\n").encode("utf-8"))
    return p


def clean_json(x: Any) -> Any:
    """JSON-safe copy: NaN/inf floats -> None, numpy scalars/arrays -> Python values, paths
    and other objects -> their ``str``."""
    if isinstance(x, dict):
        return {str(k): clean_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean_json(v) for v in x]
    if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):
        return clean_json(x.tolist())
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, (str, int, bool)) or x is None:
        return x
    return str(x)


def loads_json(text: str | bytes, where: str, *, lineno: bool = True,
               error: type[Exception] = UserError) -> Any:
    """``json.loads`` whose every failure is one ``error`` naming ``where`` and the line
    (``lineno=False`` when ``where`` already names the line of a JSONL record) and column:
    invalid JSON, an integer beyond Python's 4300-digit limit, nesting too deep."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        at = f"{where}:{e.lineno}" if lineno else where
        raise error(f"{at}: invalid JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise error(f"{where}: JSON nested too deeply") from None
    except ValueError as e:  # "Exceeds the limit (4300 digits) ...", bad UTF-8
        raise error(f"{where}: invalid JSON ({str(e).splitlines()[0][:120]})") from None


def read_text(path: str | os.PathLike, *, limit: int | None = 64 * 2**20) -> str:
    """The UTF-8 text of ``path`` (a regular file of at most ``limit`` bytes); anything
    else is one :class:`UserError` naming the file (and the byte where UTF-8 fails)."""
    problem = regular_file_problem(path, limit=limit)
    if problem:
        raise UserError(problem)
    try:
        return Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror or e})") from None


def read_json(path: str | os.PathLike, *, limit: int | None = 64 * 2**20,
              error: type[Exception] = UserError) -> Any:
    """The JSON document in ``path`` (a regular file of at most ``limit`` bytes); a missing,
    unreadable or invalid file is one ``error`` naming the file (and line)."""
    problem = regular_file_problem(path, limit=limit)
    if problem:
        raise error(problem)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror or e})") from None
    return loads_json(data, str(path), error=error)


def append_jsonl(path: str | os.PathLike, record: Any) -> None:
    """Append ``clean_json(record)`` as one line (see :func:`append_line`)."""
    line = json.dumps(clean_json(record), ensure_ascii=False, allow_nan=False)
    append_line(path, (line + "\n").encode("utf-8"))


def read_jsonl(path: str | os.PathLike, *,
               on_bad_line: Callable[[str], None] | None = None) -> list[tuple[int, Any]]:
    """``(line number, record)`` of every non-blank line of a JSONL file (none when it does
    not exist). The torn-tail rule: an unparsable last line is what a killed writer leaves
    and is dropped silently. An unparsable line before the end is a :class:`UserError`
    naming the file and line, unless ``on_bad_line`` is given: then it gets that message
    and the line is skipped (for files whose records can be regenerated)."""
    p = Path(path)
    if not p.is_file():
        return []
    lines = p.read_bytes().split(b"\n")
    last = max((i for i, raw in enumerate(lines) if raw.strip()), default=-1)
    out: list[tuple[int, Any]] = []
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            out.append((i + 1, json.loads(raw.decode("utf-8"))))
        except (UnicodeDecodeError, ValueError, RecursionError):
            if i == last:
                continue
            msg = f"{p}:{i + 1}: unreadable record in the middle of the file"
            if on_bad_line is None:
                raise UserError(msg) from None
            on_bad_line(msg)
    return out


def append_line(path: str | os.PathLike, line: bytes) -> None:
    """Append ``line`` (one record, ending in a newline) to ``path`` and fsync. If the write
    fails part-way (ENOSPC, EFBIG, a file-size limit), the file is cut back to its old length
    and the error re-raised, so no torn line is left for a reader (or the next append) to
    trip on. The jsonl writers (manifest, videos.jsonl, the job journal) all append here."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass
            raise
    finally:
        os.close(fd)


def regular_file_problem(p: str | os.PathLike, *, limit: int | None = None) -> str | None:
    """None when ``p`` is a regular file (after following links) of at most ``limit``
    bytes, else the reason, naming the path. Never opens ``p``: a FIFO or a device is
    refused by its mode, before any read that could block or never end. Every read of a
    path someone else named (videos, manifests, result files) checks this first."""
    try:
        st = os.stat(p)
    except FileNotFoundError:
        return f"{p}: not found"
    except OSError as e:  # ENAMETOOLONG, ELOOP, EACCES, ...
        return f"{p}: cannot access ({e.strerror or type(e).__name__})"
    if stat.S_ISDIR(st.st_mode):
        return f"{p}: is a folder, not a file"
    if not stat.S_ISREG(st.st_mode):
        return f"{p}: not a regular file (a FIFO, socket or device); refused"
    if limit is not None and st.st_size > limit:
        return f"{p}: {st.st_size} bytes, larger than the limit of {limit}"
    return None


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
