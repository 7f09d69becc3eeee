"""The shared durable append: a record lands whole or not at all."""

from __future__ import annotations

import errno
import json
import os

import pytest

from vidbench import fileio
from vidbench.generate import JobJournal


def test_append_line_cuts_back_a_half_written_record(tmp_path, monkeypatch):
    p = tmp_path / "log.jsonl"
    fileio.append_line(p, b'{"a": 1}\n')
    real_write = os.write
    calls = {"n": 0}

    def half_then_full(fd, data):
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "write", half_then_full)
    with pytest.raises(OSError, match="No space"):
        fileio.append_line(p, b'{"b": "' + b"x" * 100 + b'"}\n')
    monkeypatch.setattr(fileio.os, "write", real_write)
    assert p.read_bytes() == b'{"a": 1}\n'
    fileio.append_line(p, b'{"c": 3}\n')
    assert [json.loads(x) for x in p.read_bytes().splitlines()] == [{"a": 1}, {"c": 3}]


def test_job_journal_survives_a_failed_append(tmp_path, monkeypatch):
    path = tmp_path / "jobs.jsonl"
    j = JobJournal(path)
    j.put("k1", job="1")

    def full(fd, data):
        os.ftruncate(fd, os.fstat(fd).st_size)  # nothing written
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "write", full)
    with pytest.raises(OSError):
        j.put("k2", job="2")
    monkeypatch.undo()
    j.put("k3", job="3")
    again = JobJournal(path)
    assert again.get("k1")["job"] == "1" and again.get("k3")["job"] == "3"
    assert all(line.endswith(b"}") for line in path.read_bytes().splitlines())
