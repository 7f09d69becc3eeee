"""The generation loop (vidbench.generate): manifests, resume by sha256, per-item errors,
atomic placement of adapter files, interrupted runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vidbench.adapters import Adapter, Generated
from vidbench.errors import UserError
from vidbench.generate import (
    MissingVideoError,
    generate,
    safe_name,
    sha256_file,
    video_facts,
)
from vidbench.manifest import read_manifest
from vidbench.suites import Suite, SuiteItem
from vidbench.video import decode, write_video


def _frames(seed: int, t: int = 6, h: int = 32, w: int = 32) -> np.ndarray:
    """A bright square moving right by 2 px a frame, its colour set by ``seed``."""
    out = np.full((t, h, w, 3), 30, np.uint8)
    col = np.array([(seed * 70) % 256, 200, (seed * 40 + 90) % 256], np.uint8)
    for k in range(t):
        out[k, 8:16, 2 + 2 * k:10 + 2 * k] = col
    return out


class CountingAdapter(Adapter):
    scheme = "counting"

    def __init__(self, target: str = "", fail: set[str] | None = None,
                 interrupt_at: str | None = None, **options) -> None:
        super().__init__(target, **options)
        self.calls: list[str] = []
        self.fail = fail or set()
        self.interrupt_at = interrupt_at

    def generate_one(self, item: SuiteItem) -> Generated:
        self.calls.append(item.item)
        if item.item == self.interrupt_at:
            raise KeyboardInterrupt
        if item.item in self.fail:
            raise RuntimeError(f"boom on {item.item}")
        return Generated(frames=_frames(item.seed, item.num_frames, item.height, item.width),
                         fps=item.fps, params={"steps": 3, "np": np.int64(7)})


def _suite(n: int = 4, **kw) -> Suite:
    items = [SuiteItem(item=f"it-{i}", prompt=f"a square number {i}", seed=i, num_frames=6,
                       height=32, width=32, fps=8.0, meta={"k": i}, **kw) for i in range(n)]
    return Suite("unit", "unit test suite", items)


def test_generate_writes_videos_and_manifest(tmp_path: Path) -> None:
    ad = CountingAdapter("x")
    rep = generate(ad, _suite(3), tmp_path, progress=False)
    assert (rep.n_ok, rep.n_skipped, rep.n_failed, rep.errors) == (3, 0, 0, [])
    m = read_manifest(tmp_path / "manifest.jsonl")
    assert [e.item for e in m] == ["it-0", "it-1", "it-2"]
    for i, e in enumerate(m):
        assert e.problem is None and e.model == "counting:x" and e.suite == "unit"
        assert e.prompt == f"a square number {i}" and e.seed == i and e.meta["k"] == i
        g = e.meta["generation"]
        assert g["sha256"] == sha256_file(e.path)
        assert (g["num_frames"], g["height"], g["width"], g["fps"]) == (6, 32, 32, 8.0)
        assert g["requested"] == {"num_frames": 6, "height": 32, "width": 32, "fps": 8.0}
        assert g["params"] == {"steps": 3, "np": 7} and g["seed"] == i
        assert g["wall_time_s"] >= 0
        clip = decode(e.path)
        assert clip.frames.shape == (6, 32, 32, 3)
        # lossy H.264, but the square must be where it was drawn
        ref = _frames(i)
        assert np.abs(clip.frames.astype(int) - ref.astype(int)).mean() < 6
    errs = json.loads((tmp_path / "generate-errors.json").read_text())
    assert errs["errors"] == []


def test_resume_skips_only_verified_videos(tmp_path: Path) -> None:
    generate(CountingAdapter("x"), _suite(4), tmp_path, progress=False)
    m = read_manifest(tmp_path)
    # tamper one video, delete another
    p1 = m.entries[1].path
    data = bytearray(p1.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p1.write_bytes(bytes(data))
    m.entries[2].path.unlink()
    ad = CountingAdapter("x")
    rep = generate(ad, _suite(4), tmp_path, progress=False)
    assert sorted(ad.calls) == ["it-1", "it-2"]
    assert (rep.n_ok, rep.n_skipped, rep.n_failed) == (2, 2, 0)
    m2 = read_manifest(tmp_path)
    assert [e.item for e in m2] == ["it-0", "it-1", "it-2", "it-3"]
    assert all(e.meta["generation"]["sha256"] == sha256_file(e.path) for e in m2)
    # a third run does nothing
    ad3 = CountingAdapter("x")
    rep3 = generate(ad3, _suite(4), tmp_path, progress=False)
    assert ad3.calls == [] and rep3.n_skipped == 4


def test_resume_regenerates_when_prompt_or_shape_changes(tmp_path: Path) -> None:
    generate(CountingAdapter("x"), _suite(2), tmp_path, progress=False)
    s = _suite(2)
    s.items[0].prompt = "something else"
    s.items[1].num_frames = 8
    ad = CountingAdapter("x")
    generate(ad, s, tmp_path, progress=False)
    assert sorted(ad.calls) == ["it-0", "it-1"]
    m = read_manifest(tmp_path)
    assert m.entries[0].prompt == "something else"
    assert m.entries[1].meta["generation"]["num_frames"] == 8


def test_no_resume_regenerates_everything(tmp_path: Path) -> None:
    generate(CountingAdapter("x"), _suite(2), tmp_path, progress=False)
    ad = CountingAdapter("x")
    rep = generate(ad, _suite(2), tmp_path, resume=False, progress=False)
    assert len(ad.calls) == 2 and rep.n_ok == 2 and rep.n_skipped == 0


def test_failed_item_is_an_error_record_and_run_goes_on(tmp_path: Path) -> None:
    rep = generate(CountingAdapter("x", fail={"it-1"}), _suite(3), tmp_path, progress=False)
    assert (rep.n_ok, rep.n_failed) == (2, 1)
    (err,) = rep.errors
    assert err["item"] == "it-1" and err["kind"] == "RuntimeError"
    assert "boom on it-1" in err["error"] and err["prompt"] == "a square number 1"
    assert [e.item for e in read_manifest(tmp_path)] == ["it-0", "it-2"]
    saved = json.loads((tmp_path / "generate-errors.json").read_text())["errors"]
    assert saved == rep.errors
    # the rerun only retries the failed item
    ad = CountingAdapter("x")
    rep2 = generate(ad, _suite(3), tmp_path, progress=False)
    assert ad.calls == ["it-1"] and rep2.n_ok == 1 and rep2.n_skipped == 2


def test_interrupted_run_keeps_finished_videos(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        generate(CountingAdapter("x", interrupt_at="it-2"), _suite(4), tmp_path,
                 progress=False)
    m = read_manifest(tmp_path)  # readable after the interruption
    assert [e.item for e in m] == ["it-0", "it-1"]
    # a torn last line, as a kill during append leaves it
    with open(tmp_path / "manifest.jsonl", "a") as f:
        f.write('{"video": "videos/it-2.mp4", "prom')
    ad = CountingAdapter("x")
    rep = generate(ad, _suite(4), tmp_path, progress=False)
    assert ad.calls == ["it-2", "it-3"] and rep.n_skipped == 2
    assert len(read_manifest(tmp_path)) == 4


def test_other_models_folder_is_refused(tmp_path: Path) -> None:
    generate(CountingAdapter("x"), _suite(2), tmp_path, progress=False)
    with pytest.raises(UserError, match="counting:x"):
        generate(CountingAdapter("y"), _suite(2), tmp_path, progress=False)
    rep = generate(CountingAdapter("y"), _suite(2), tmp_path, resume=False, progress=False)
    assert rep.n_ok == 2
    assert {e.model for e in read_manifest(tmp_path)} == {"counting:y"}


def test_duplicate_item_ids_are_a_user_error(tmp_path: Path) -> None:
    s = _suite(2)
    s.items[1].item = "it-0"
    with pytest.raises(UserError, match="duplicate item id 'it-0'"):
        generate(CountingAdapter("x"), s, tmp_path, progress=False)


class BadOutputAdapter(Adapter):
    scheme = "bad"

    def generate_one(self, item: SuiteItem) -> Generated:
        if item.item == "it-0":
            return Generated(frames=np.zeros((4, 16, 16, 3), np.float32), fps=8)
        if item.item == "it-1":
            return Generated(frames=np.zeros((4, 16, 16, 3), np.uint8), fps=0)
        return Generated()


def test_bad_adapter_output_is_a_per_item_error(tmp_path: Path) -> None:
    rep = generate(BadOutputAdapter(), _suite(3), tmp_path, progress=False)
    assert rep.n_failed == 3 and rep.n_ok == 0
    msgs = {e["item"]: e["error"] for e in rep.errors}
    assert "float32" in msgs["it-0"] and "uint8" in msgs["it-0"]
    assert "fps" in msgs["it-1"]
    assert "neither frames nor a path" in msgs["it-2"]


class FileAdapter(Adapter):
    """Returns files: from a folder outside out_dir (linked/copied) or from staging (moved)."""

    scheme = "files"

    def __init__(self, target: str = "", src: Path | None = None, **kw) -> None:
        super().__init__(target, **kw)
        self.src = src
        self.staging: Path | None = None

    def prepare(self, run) -> None:
        self.staging = run.staging_dir

    def generate_one(self, item: SuiteItem) -> Generated:
        if item.seed % 2 == 0:
            return Generated(path=self.src / f"{item.item}.mp4", params={"from": "src"})
        assert self.staging is not None
        self.staging.mkdir(parents=True, exist_ok=True)
        p = self.staging / f"dl-{item.item}.mp4"
        write_video(p, _frames(item.seed, 5, 24, 40), 10.0)
        return Generated(path=p, params={"from": "staging"})


def test_adapter_files_are_placed_atomically(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in (0, 2):
        write_video(src / f"it-{i}.mp4", _frames(i, 7, 32, 48), 12.0)
    out = tmp_path / "out"
    rep = generate(FileAdapter(src=src), _suite(4), out, progress=False)
    assert rep.n_ok == 4, rep.errors
    m = read_manifest(out)
    g = {e.item: e.meta["generation"] for e in m}
    assert (g["it-0"]["num_frames"], g["it-0"]["height"], g["it-0"]["width"]) == (7, 32, 48)
    assert g["it-0"]["fps"] == pytest.approx(12.0)
    assert (g["it-1"]["num_frames"], g["it-1"]["width"], g["it-1"]["fps"]) == (5, 40, 10.0)
    assert (src / "it-0.mp4").exists()  # sources are not moved away
    assert not (out / ".staging").exists()  # staged downloads are moved in, staging removed
    for e in m:
        assert e.path.parent == out / "videos"
        assert e.meta["generation"]["sha256"] == sha256_file(e.path)


def test_missing_source_file_is_a_clear_error(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "it-0.mp4").write_bytes(b"")
    (src / "it-2.mp4").write_bytes(b"not a video at all" * 10)
    rep = generate(FileAdapter(src=src), _suite(3), tmp_path / "out", progress=False)
    msgs = {e["item"]: e["error"] for e in rep.errors}
    assert "empty file" in msgs["it-0"] and "it-0.mp4" in msgs["it-0"]
    assert "not a readable video" in msgs["it-2"]
    assert rep.n_ok == 1


def test_odd_sizes_are_written_exactly(tmp_path: Path) -> None:
    s = Suite("odd", "", [SuiteItem(item="o", prompt="p", seed=1, num_frames=5, height=33,
                                    width=47, fps=6.0)])
    rep = generate(CountingAdapter("x"), s, tmp_path, progress=False)
    assert rep.n_ok == 1, rep.errors
    clip = decode(read_manifest(tmp_path).entries[0].path)
    assert clip.frames.shape == (5, 33, 47, 3)


class DroppingAdapter(Adapter):
    scheme = "drop"

    def generate_many(self, items):
        items = list(items)
        for it in items[:-1]:
            if it.item == "it-1":
                yield it, MissingVideoError(f"no video for item {it.item}")
            else:
                yield it, Generated(frames=_frames(it.seed), fps=8.0)
        yield items[0], Generated(frames=_frames(0), fps=8.0)  # a repeat is ignored


def test_missing_and_unanswered_items_are_reported(tmp_path: Path) -> None:
    rep = generate(DroppingAdapter(), _suite(3), tmp_path, progress=False)
    assert (rep.n_ok, rep.n_missing, rep.n_failed) == (1, 1, 1)
    kinds = {e["item"]: e["kind"] for e in rep.errors}
    assert kinds == {"it-1": "missing", "it-2": "AdapterError"}


def test_video_facts_and_safe_name(tmp_path: Path) -> None:
    p = write_video(tmp_path / "a.mp4", _frames(3, 9, 16, 24), 15.0)
    assert video_facts(p) == {"frames": 9, "height": 16, "width": 24, "fps": 15.0}
    trunc = tmp_path / "t.mp4"
    trunc.write_bytes(p.read_bytes()[:200])
    with pytest.raises(Exception, match="t.mp4"):
        video_facts(trunc)
    assert safe_name("p0001-0") == "p0001-0"
    a, b = safe_name("a/b c"), safe_name("a_b c")
    assert a != b and "/" not in a and " " not in a
    shutil.rmtree(tmp_path / "x", ignore_errors=True)


def test_two_runs_cannot_write_one_folder(tmp_path: Path) -> None:
    from filelock import FileLock

    held = FileLock(str(tmp_path / ".generate.lock"))
    held.acquire()
    try:
        with pytest.raises(UserError, match="another vidbench process"):
            generate(CountingAdapter("x"), _suite(1), tmp_path, progress=False)
    finally:
        held.release()
    assert generate(CountingAdapter("x"), _suite(1), tmp_path, progress=False).n_ok == 1
