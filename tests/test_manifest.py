"""Manifests: the contract's fields, folder scans, and clear errors naming the line."""

from __future__ import annotations

import json

import pytest

from vidbench.errors import ManifestError
from vidbench.manifest import read_manifest, write_manifest


def _touch(p):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"x")
    return p


def test_roundtrip_keeps_every_field(tmp_path):
    _touch(tmp_path / "a" / "v.mp4")
    rec = {"video": "a/v.mp4", "prompt": "A ball", "seed": 3, "model": "m", "suite": "s",
           "item": "i1", "meta": {"physics": {"g": 9.8}}}
    m = read_manifest(write_manifest(tmp_path / "manifest.jsonl", [rec]))
    e = m.entries[0]
    assert e.to_json() == rec
    assert e.path == tmp_path / "a" / "v.mp4" and e.problem is None
    assert read_manifest(tmp_path).entries[0].item == "i1"  # folder with manifest.jsonl


@pytest.mark.parametrize("video", ["../outside.mp4", "/etc/passwd", "a/../../x.mp4"])
def test_path_escaping_the_folder_is_rejected(tmp_path, video):
    (tmp_path / "manifest.jsonl").write_text(
        json.dumps({"video": "ok.mp4"}) + "\n" + json.dumps({"video": video}) + "\n")
    with pytest.raises(ManifestError, match=r"manifest\.jsonl:2: .*escapes"):
        read_manifest(tmp_path / "manifest.jsonl")


def test_duplicates_name_both_lines(tmp_path):
    (tmp_path / "manifest.jsonl").write_text(
        '{"video": "a.mp4"}\n\n{"video": "b.mp4"}\n{"video": "./a.mp4", "item": "z"}\n')
    with pytest.raises(ManifestError, match=r":4: duplicate video .*line 1"):
        read_manifest(tmp_path / "manifest.jsonl")
    (tmp_path / "manifest.jsonl").write_text(
        '{"video": "a.mp4", "item": "x"}\n{"video": "b.mp4", "item": "x"}\n')
    with pytest.raises(ManifestError, match=r":2: duplicate item id 'x'"):
        read_manifest(tmp_path / "manifest.jsonl")


def test_non_utf8_and_bad_json_name_the_line(tmp_path):
    (tmp_path / "manifest.jsonl").write_bytes(b'{"video": "a.mp4"}\n{"video": "b\xff.mp4"}\n')
    with pytest.raises(ManifestError, match=r":2: not valid UTF-8"):
        read_manifest(tmp_path / "manifest.jsonl")
    (tmp_path / "manifest.jsonl").write_text('{"video": "a.mp4"}\n{"video": \n')
    with pytest.raises(ManifestError, match=r":2: invalid JSON"):
        read_manifest(tmp_path / "manifest.jsonl")
    (tmp_path / "manifest.jsonl").write_text('["a.mp4"]\n')
    with pytest.raises(ManifestError, match=r":1: expected a JSON object"):
        read_manifest(tmp_path / "manifest.jsonl")


def test_missing_video_is_kept_as_a_problem_naming_the_line(tmp_path):
    _touch(tmp_path / "a.mp4")
    (tmp_path / "manifest.jsonl").write_text('{"video": "a.mp4"}\n{"video": "gone.mp4"}\n')
    m = read_manifest(tmp_path / "manifest.jsonl")
    assert m.entries[0].problem is None
    assert "manifest.jsonl:2" in m.entries[1].problem and "not found" in m.entries[1].problem


def test_folder_with_vbench_names(tmp_path):
    _touch(tmp_path / "a cat playing piano-0.mp4")
    _touch(tmp_path / "a cat playing piano-1.mp4")
    _touch(tmp_path / "sub" / "waves-crash-12.mp4")
    _touch(tmp_path / "notes.txt")
    m = read_manifest(tmp_path)
    got = {(e.video, e.prompt, e.seed) for e in m.entries}
    assert got == {("a cat playing piano-0.mp4", "a cat playing piano", 0),
                   ("a cat playing piano-1.mp4", "a cat playing piano", 1),
                   ("sub/waves-crash-12.mp4", "waves-crash", 12)}


def test_folder_with_prompts_json_reports_listed_but_missing(tmp_path):
    _touch(tmp_path / "x.mp4")
    (tmp_path / "prompts.json").write_text(json.dumps({"x.mp4": "A dog", "y.mp4": "A cat"}))
    m = read_manifest(tmp_path)
    by = {e.video: e for e in m.entries}
    assert by["x.mp4"].prompt == "A dog" and by["x.mp4"].problem is None
    assert "not found" in by["y.mp4"].problem


def test_broken_prompts_json_names_its_line(tmp_path):
    _touch(tmp_path / "x.mp4")
    (tmp_path / "prompts.json").write_text('{\n  "x.mp4": "A dog",\n  "y.mp4": oops\n}\n')
    with pytest.raises(ManifestError, match=r"prompts\.json:3: invalid JSON"):
        read_manifest(tmp_path)


def test_missing_manifest_is_a_user_error(tmp_path):
    with pytest.raises(ManifestError, match="no such manifest"):
        read_manifest(tmp_path / "nope.jsonl")
