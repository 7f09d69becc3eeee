"""folder: adapter: manifest / prompts.json / VBench-named folders, coverage errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from vidbench.adapters import get_model
from vidbench.errors import UserError
from vidbench.generate import generate, sha256_file
from vidbench.manifest import read_manifest
from vidbench.suites import Suite, SuiteItem, load_vbench_prompts
from vidbench.video import decode, write_video


def _clip(level: int, t: int = 4, size: int = 16) -> np.ndarray:
    """A flat grey clip whose brightness identifies it after a lossy round trip."""
    return np.full((t, size, size, 3), level, np.uint8)


def _level(path: Path) -> float:
    return float(decode(path).frames.mean())


def _suite(prompts: list[str], seeds: int) -> Suite:
    items = [SuiteItem(item=f"s{p}-{s}", prompt=prompt, seed=s, num_frames=4, height=16,
                       width=16) for p, prompt in enumerate(prompts) for s in range(seeds)]
    return Suite("folder-unit", "", items)


def test_manifest_folder_matched_by_item_then_prompt_seed(tmp_path: Path) -> None:
    src = tmp_path / "src"
    lines = []
    # s0-0 by item id; s0-1 and s1-0 only by (prompt, seed); files named arbitrarily
    for name, item, prompt, seed, level in [("a.mp4", "s0-0", "cat", 0, 40),
                                             ("b.mp4", "x1", "cat", 1, 90),
                                             ("c.mp4", "x2", "dog", 0, 140),
                                             ("d.mp4", "x3", "dog", 1, 190)]:
        write_video(src / name, _clip(level), 8.0)
        lines.append({"video": name, "item": item, "prompt": prompt, "seed": seed,
                      "model": "their-model-v2"})
    (src / "manifest.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "out"
    ad = get_model(f"folder:{src}")
    assert ad.model_id == "their-model-v2"  # the source's uniform model name
    rep = generate(ad, _suite(["cat", "dog"], 2), out, progress=False)
    assert (rep.n_ok, rep.n_failed, rep.n_missing) == (4, 0, 0), rep.errors
    m = {e.item: e for e in read_manifest(out)}
    expect = {"s0-0": 40, "s0-1": 90, "s1-0": 140, "s1-1": 190}
    for item, level in expect.items():
        assert abs(_level(m[item].path) - level) < 3
    assert m["s0-0"].meta["generation"]["params"]["matched_by"] == "item"
    assert m["s1-1"].meta["generation"]["params"]["matched_by"] == "prompt+index"
    # the placed video is the source file, byte for byte (linked or copied)
    assert sha256_file(m["s0-1"].path) == sha256_file(src / "b.mp4")
    assert m["s0-0"].meta["generation"]["sha256"] == sha256_file(src / "a.mp4")
    # the source is untouched and a rerun skips everything
    assert len((src / "manifest.jsonl").read_text().splitlines()) == 4
    rep2 = generate(get_model(f"folder:{src}"), _suite(["cat", "dog"], 2), out,
                    progress=False)
    assert rep2.n_skipped == 4 and rep2.n_ok == 0


def test_prompts_json_folder_in_file_name_order(tmp_path: Path) -> None:
    src = tmp_path / "src"
    prompts = {}
    for name, prompt, level in [("v2.mp4", "A cat.", 120), ("v1.mp4", "A cat.", 60),
                                ("sub/v3.mp4", "A dog!", 200)]:
        write_video(src / name, _clip(level), 8.0)
        prompts[name] = prompt
    (src / "prompts.json").write_text(json.dumps(prompts))
    s = _suite(["a cat", "a dog"], 2)  # prompts match after normalisation
    with pytest.raises(UserError) as ei:
        generate(get_model(f"folder:{src}"), s, tmp_path / "out", progress=False)
    msg = str(ei.value)
    assert "no video for 1 of 4 suite items" in msg and "s1-1" in msg
    assert "--allow-missing" in msg
    assert not (tmp_path / "out" / "videos").exists()  # nothing copied before the check
    rep = generate(get_model(f"folder:{src}?name=catdog"), s, tmp_path / "out",
                   allow_missing=True, progress=False)
    assert (rep.n_ok, rep.n_missing, rep.n_failed) == (3, 1, 0)
    assert rep.errors[0]["item"] == "s1-1" and rep.errors[0]["kind"] == "missing"
    m = {e.item: e for e in read_manifest(tmp_path / "out")}
    assert set(m) == {"s0-0", "s0-1", "s1-0"} and m["s0-0"].model == "catdog"
    assert abs(_level(m["s0-0"].path) - 60) < 3  # v1 before v2
    assert abs(_level(m["s0-1"].path) - 120) < 3
    assert abs(_level(m["s1-0"].path) - 200) < 3


def test_vbench_named_folder_matches_sample_index(tmp_path: Path) -> None:
    txt = tmp_path / "prompts.txt"
    txt.write_text("a red ball moves right\na panda eats bamboo, in the snow\n")
    suite = load_vbench_prompts(txt)  # 5 samples per prompt
    src = tmp_path / "vb"
    for p_i, prompt in enumerate(["a red ball moves right", "a panda eats bamboo, in the snow"]):
        for i in range(5):
            if (p_i, i) == (1, 4):
                continue  # one sample missing
            write_video(src / f"{prompt}-{i}.mp4", _clip(20 + 40 * i + p_i * 5), 8.0)
    with pytest.raises(UserError, match="p0001-4"):
        generate(get_model(f"folder:{src}"), suite, tmp_path / "out", progress=False)
    rep = generate(get_model(f"folder:{src}"), suite, tmp_path / "out", allow_missing=True,
                   progress=False)
    assert (rep.n_ok, rep.n_missing) == (9, 1)
    m = {e.item: e for e in read_manifest(tmp_path / "out")}
    assert abs(_level(m["p0000-3"].path) - (20 + 120)) < 3
    assert abs(_level(m["p0001-2"].path) - (20 + 80 + 5)) < 3
    assert m["p0001-2"].meta["generation"]["params"]["source"] == \
        "a panda eats bamboo, in the snow-2.mp4"


def test_output_must_differ_from_source(tmp_path: Path) -> None:
    write_video(tmp_path / "x-0.mp4", _clip(50), 8.0)
    s = Suite("u", "", [SuiteItem(item="i", prompt="x", seed=0)])
    with pytest.raises(UserError, match="source folder"):
        generate(get_model(f"folder:{tmp_path}"), s, tmp_path, progress=False)


def test_listed_but_absent_or_broken_videos_are_per_item_errors(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    write_video(src / "ok.mp4", _clip(100), 8.0)
    (src / "broken.mp4").write_bytes(os.urandom(3000))
    (src / "manifest.jsonl").write_text(
        '{"video": "ok.mp4", "item": "a", "prompt": "p"}\n'
        '{"video": "gone.mp4", "item": "b", "prompt": "p"}\n'
        '{"video": "broken.mp4", "item": "c", "prompt": "p"}\n')
    s = Suite("u", "", [SuiteItem(item=k, prompt="p", seed=0) for k in "abc"])
    rep = generate(get_model(f"folder:{src}"), s, tmp_path / "out", progress=False)
    assert rep.n_ok == 1 and rep.n_failed == 2
    msgs = {e["item"]: e["error"] for e in rep.errors}
    assert "gone.mp4" in msgs["b"] and "not found" in msgs["b"]
    assert "broken.mp4" in msgs["c"]


def test_bad_folder_spec_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a folder"):
        get_model(f"folder:{tmp_path / 'nope'}")
    (tmp_path / "manifest.jsonl").write_text('{"video": "../escape.mp4"}\n')
    with pytest.raises(UserError, match="escapes"):
        get_model(f"folder:{tmp_path}")


def test_generate_one_without_the_loop(tmp_path: Path) -> None:
    for i, level in enumerate((60, 180)):
        write_video(tmp_path / f"cat-{i}.mp4", _clip(level), 8.0)
    ad = get_model(f"folder:{tmp_path}")
    s = _suite(["cat"], 2)
    g0, g1 = ad.generate_one(s.items[0]), ad.generate_one(s.items[1])
    assert abs(_level(g0.path) - 60) < 3 and abs(_level(g1.path) - 180) < 3
    # prompt-order matching (prompts.json, no indices) one item at a time
    pj = tmp_path / "pj"
    for name, level in (("b.mp4", 200), ("a.mp4", 30)):
        write_video(pj / name, _clip(level), 8.0)
    (pj / "prompts.json").write_text(json.dumps({"a.mp4": "cat", "b.mp4": "cat"}))
    ad = get_model(f"folder:{pj}")
    g0, g1 = ad.generate_one(s.items[0]), ad.generate_one(s.items[1])
    assert (g0.path.name, g1.path.name) == ("a.mp4", "b.mp4")
    from vidbench.generate import MissingVideoError

    with pytest.raises(MissingVideoError, match="no video for item"):
        ad.generate_one(SuiteItem(item="zz", prompt="dog", seed=0))
