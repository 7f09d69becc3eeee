"""python: adapter: a user function as a generator."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from vidbench.adapters import get_model
from vidbench.errors import UserError
from vidbench.generate import generate
from vidbench.manifest import read_manifest
from vidbench.suites import Suite, SuiteItem
from vidbench.video import decode

GEN = textwrap.dedent('''
    import numpy as np
    from pathlib import Path

    CALLS = []

    def make(prompt, seed, num_frames, height, width, fps, speed=1, label="x"):
        """A bright bar sweeping right at `speed` px/frame on a seed-dependent grey."""
        CALLS.append((prompt, seed, speed, label))
        v = np.full((num_frames, height, width, 3), 40 + 20 * seed, np.uint8)
        for k in range(num_frames):
            x = (k * speed) % (width - 4)
            v[k, :, x:x + 4] = 250
        return v

    def slow(prompt, seed, num_frames, height, width, fps, **kw):
        return make(prompt, seed, num_frames * 2, height, width, fps), fps * 2

    def to_file(prompt, seed, num_frames, height, width, fps, out_dir, **kw):
        from vidbench.video import write_video
        p = Path(out_dir) / f"{seed}.mp4"
        write_video(p, make(prompt, seed, num_frames, height, width, fps), fps)
        return str(p)

    def floats(prompt, seed, num_frames, height, width, fps):
        return np.zeros((num_frames, height, width, 3), np.float32)

    def wrong_shape(prompt, seed, num_frames, height, width, fps):
        return np.zeros((num_frames, 3, height, width), np.uint8)

    def nothing(prompt, seed, num_frames, height, width, fps):
        return None

    def picky(prompt, seed, num_frames, height, width, fps, conditioning=None, meta=None):
        assert meta == {"m": 1}
        return make(prompt, seed, num_frames, height, width, fps) if conditioning is None \\
            else np.repeat(conditioning[:1], num_frames, axis=0)

    def too_few(prompt, seed):
        return None
''')


@pytest.fixture()
def genmod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    pkg = tmp_path / "usergen"
    pkg.mkdir()
    (pkg / "mygen.py").write_text(GEN)
    monkeypatch.syspath_prepend(str(pkg))
    sys.modules.pop("mygen", None)
    yield pkg / "mygen.py"
    sys.modules.pop("mygen", None)


def _suite(n: int = 2, **kw) -> Suite:
    return Suite("py", "", [SuiteItem(item=f"i{k}", prompt=f"bar {k}", seed=k, num_frames=8,
                                      height=24, width=32, fps=8.0, **kw) for k in range(n)])


def test_module_function_with_typed_options(genmod: Path, tmp_path: Path) -> None:
    ad = get_model("python:mygen:make?speed=3&label=fast")
    assert ad.model_id == "python:mygen:make" and len(ad.revision or "") == 16
    rep = generate(ad, _suite(), tmp_path / "out", progress=False)
    assert rep.n_ok == 2, rep.errors
    import mygen

    assert mygen.CALLS == [("bar 0", 0, 3, "fast"), ("bar 1", 1, 3, "fast")]
    e = read_manifest(tmp_path / "out").entries[1]
    g = e.meta["generation"]
    assert g["params"] == {"function": "mygen:make", "speed": 3, "label": "fast"}
    clip = decode(e.path)
    assert clip.frames.shape == (8, 24, 32, 3)
    # the bar is where the function drew it: frame 2 at x = 6..9
    col = clip.frames[2, :, :, 0].mean(axis=0)
    assert 6 <= int(np.argmax(col)) <= 9


def test_file_target_path_return_and_fps_override(genmod: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "rendered"
    out_dir.mkdir()
    ad = get_model(f"python:{genmod}:to_file?out_dir={out_dir}")
    rep = generate(ad, _suite(1), tmp_path / "o1", progress=False)
    assert rep.n_ok == 1, rep.errors
    assert (out_dir / "0.mp4").exists()
    rep = generate(get_model(f"python:{genmod}:slow"), _suite(1), tmp_path / "o2",
                   progress=False)
    g = read_manifest(tmp_path / "o2").entries[0].meta["generation"]
    assert (g["num_frames"], g["fps"]) == (16, 16.0)
    assert g["requested"]["num_frames"] == 8  # what was asked is kept next to what came back


def test_bad_returns_are_clear_per_item_errors(genmod: Path, tmp_path: Path) -> None:
    for fn, needle in [("floats", "dtype float32"), ("wrong_shape", "(8, 3, 24, 32)"),
                       ("nothing", "NoneType")]:
        rep = generate(get_model(f"python:mygen:{fn}"), _suite(1), tmp_path / fn,
                       progress=False)
        assert rep.n_failed == 1 and rep.n_ok == 0
        assert needle in rep.errors[0]["error"] and "'i0'" in rep.errors[0]["error"]


def test_conditioning_and_meta_are_passed_when_accepted(genmod: Path, tmp_path: Path) -> None:
    first = np.full((1, 24, 32, 3), 123, np.uint8)
    s = _suite(1, meta={"m": 1}, conditioning=lambda: first)
    rep = generate(get_model("python:mygen:picky"), s, tmp_path / "o", progress=False)
    assert rep.n_ok == 1, rep.errors
    clip = decode(read_manifest(tmp_path / "o").entries[0].path)
    assert abs(float(clip.frames.mean()) - 123) < 2


def test_spec_errors_are_user_errors(genmod: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot import module 'no_such_mod_xyz'"):
        get_model("python:no_such_mod_xyz:f")
    with pytest.raises(UserError, match="has no attribute 'nope'"):
        get_model("python:mygen:nope")
    with pytest.raises(UserError, match="lacks num_frames"):
        get_model("python:mygen:too_few")
    with pytest.raises(UserError, match="does not accept option"):
        get_model("python:mygen:make?bogus=1")
    with pytest.raises(UserError, match="expected python:package.module:function"):
        get_model("python:justamodule")
    with pytest.raises(UserError, match="no such file"):
        get_model(f"python:{tmp_path / 'missing.py'}:f")
