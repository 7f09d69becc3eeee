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


def test_atomic_write_leaves_old_file_on_error_and_no_temp(tmp_path):
    p = tmp_path / "out.json"
    fileio.atomic_write_text(p, "old\n")
    with pytest.raises(RuntimeError):
        with fileio.atomic_write(p, text=True) as f:
            f.write("half of the new")
            raise RuntimeError("killed")
    assert p.read_text() == "old\n"
    assert [x.name for x in tmp_path.iterdir()] == ["out.json"]
    with fileio.atomic_path(p, mode=0o644) as tmp:
        assert tmp != p and tmp.parent == p.parent
        tmp.write_text("new\n")
    assert p.read_text() == "new\n" and (p.stat().st_mode & 0o777) == 0o644


def test_atomic_writers_never_share_a_temp_file(tmp_path):
    p = tmp_path / "x.txt"
    with fileio.atomic_write(p) as a, fileio.atomic_write(p) as b:
        assert a.name != b.name
        a.write(b"a")
        b.write(b"b")
    assert p.read_bytes() == b"a"  # the outer writer renamed last


def test_json_helpers_are_strict_and_name_the_line(tmp_path):
    p = fileio.atomic_write_json(tmp_path / "r.json",
                                 {"v": float("nan"), "w": [1.5, float("inf")], "p": tmp_path})
    assert json.loads(p.read_text()) == {"v": None, "w": [1.5, None], "p": str(tmp_path)}
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "a": 1,\n  oops\n}\n')
    with pytest.raises(fileio.UserError, match=r"bad\.json:3: invalid JSON"):
        fileio.read_json(bad)
    with pytest.raises(fileio.UserError, match="not found"):
        fileio.read_json(tmp_path / "missing.json")
    with pytest.raises(fileio.UserError, match="nested too deeply"):
        fileio.loads_json("[" * 100_000 + "]" * 100_000, "deep")


def test_read_jsonl_torn_tail_rule(tmp_path):
    p = tmp_path / "log.jsonl"
    fileio.append_jsonl(p, {"a": 1})
    fileio.append_jsonl(p, {"b": float("nan")})
    with open(p, "ab") as f:
        f.write(b'{"c": 3')  # a killed writer's last line
    assert fileio.read_jsonl(p) == [(1, {"a": 1}), (2, {"b": None})]
    p.write_bytes(b'{"a": 1}\nnot json\n{"c": 3}\n')
    with pytest.raises(fileio.UserError, match=r"log\.jsonl:2: unreadable record"):
        fileio.read_jsonl(p)
    seen: list[str] = []
    assert fileio.read_jsonl(p, on_bad_line=seen.append) == [(1, {"a": 1}), (3, {"c": 3})]
    assert seen and ":2:" in seen[0]
    assert fileio.read_jsonl(tmp_path / "none.jsonl") == []


def test_now_iso_is_utc_to_the_second():
    import datetime as dt

    t = dt.datetime.fromisoformat(fileio.now_iso())
    assert t.utcoffset() == dt.timedelta(0) and t.microsecond == 0


def test_notes_always_and_info_only_when_verbose(capsys, monkeypatch):
    from vidbench import progress

    monkeypatch.delenv("VIDBENCH_VERBOSE", raising=False)
    progress.set_quiet(True)
    try:
        progress.note("weights missing")
        progress.info("detail")
        assert capsys.readouterr().err == "vidbench: note: weights missing\n"
        progress.set_verbose(True)
        progress.info("detail")
        assert capsys.readouterr().err == "vidbench: detail\n"
    finally:
        progress.set_quiet(False)
        progress.set_verbose(False)
