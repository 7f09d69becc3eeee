"""File helpers every writer shares: atomic writes (temp file in the same folder, fsync,
rename), durable line appends, and streaming sha256. A killed writer leaves either the old
file or the new one, never half of one; a failed append (disk full) leaves no torn line."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
