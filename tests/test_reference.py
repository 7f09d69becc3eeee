"""Reference statistics: build once, reuse on a cache hit, refuse or rebuild when the
content, protocol or weights changed, and never use a cache a killed build left behind."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

import vidbench.video as video_mod
from vidbench.errors import UserError
from vidbench.metrics import reference as R
from vidbench.registry import SetMetric, register_metric
from vidbench.synthetic import moving_disc
from vidbench.video import ViewSpec


class FakeSet(SetMetric):
    """Cheap set metric: the mean colour of a 4-frame, 16-pixel view (3-d features)."""

    name: ClassVar[str] = "fake_set"
    calls: ClassVar[int] = 0

    def view_spec(self) -> ViewSpec:
        return ViewSpec(fps=8.0, num_frames=4, size=16, pad=True)

    def features(self, ctx):
        FakeSet.calls += 1
        return ctx.view(self.view_spec()).float_frames().mean(axis=(0, 1, 2))

    def compute(self, generated, reference, *, seed=0):
        raise NotImplementedError


@pytest.fixture(autouse=True)
def _reset_calls():
    FakeSet.calls = 0


def _real_set(write_clip, n: int = 3, folder: str = "real") -> Path:
    for i in range(n):
        write_clip(f"{folder}/v{i}.mp4", moving_disc(8, 32, 8.0, color=(40 * i + 60, 80, 200),
                                                     seed=i))
    return Path(write_clip(f"{folder}/v0.mp4", moving_disc(8, 32, 8.0, color=(60, 80, 200),
                                                           seed=0))).parent


def test_build_then_cache_hit_without_extracting_again(write_clip):
    src = _real_set(write_clip)
    m = FakeSet()
    before = video_mod.DECODE_COUNT
    f1 = R.reference_features(str(src), m)
    assert f1.shape == (3, 3) and FakeSet.calls == 3
    assert video_mod.DECODE_COUNT - before == 3  # one decode per video
    f2 = R.reference_features(str(src), m)
    assert FakeSet.calls == 3  # hit
    np.testing.assert_array_equal(f1, f2)
    # a named reference: built once, read back without any extraction
    path = R.build_reference(src, m, name="real")
    assert FakeSet.calls == 6
    side = json.loads(path.with_suffix(".json").read_text())
    assert side["content"]["count"] == 3 and side["n"] == 3
    assert side["protocol_hash"] == m.protocol_hash()
    assert side["source"] == str(src.resolve())
    np.testing.assert_array_equal(R.reference_features("real", m), f1)
    R.build_reference(src, m, name="real")
    assert FakeSet.calls == 6  # up to date: not rebuilt


def test_changed_content_is_a_cache_miss_for_folders_and_stale_for_names(write_clip):
    src = _real_set(write_clip)
    m = FakeSet()
    R.reference_features(str(src), m)
    R.build_reference(src, m, name="real")
    calls = FakeSet.calls
    write_clip("real/v3.mp4", moving_disc(8, 32, 8.0, color=(250, 250, 10), seed=3))
    f = R.reference_features(str(src), m)  # folder: rebuilt, not reused
    assert f.shape == (4, 3) and FakeSet.calls == calls + 4
    with pytest.raises(UserError,
                       match=r"stale: the content of .* changed since the build \(3 -> 4 videos"):
        R.reference_features("real", m)
    R.build_reference(src, m, name="real")
    assert R.reference_features("real", m).shape == (4, 3)


def test_protocol_change_is_detected(write_clip):
    src = _real_set(write_clip, n=2)
    R.build_reference(src, FakeSet(), name="real")
    other = FakeSet(threshold=1)  # an option: a different protocol hash
    with pytest.raises(UserError, match=f"wants protocol hash {other.protocol_hash()}"):
        R.reference_features("real", other)


def test_decode_failures_are_recorded_not_fatal(write_clip, tmp_path):
    src = _real_set(write_clip, n=2)
    (src / "broken.mp4").write_bytes(b"not a video at all")
    path = R.build_reference(src, FakeSet(), name="real")
    side = json.loads(path.with_suffix(".json").read_text())
    assert side["n"] == 2
    assert len(side["failed"]) == 1 and "broken.mp4" in side["failed"][0]["error"]
    empty = tmp_path / "allbad"
    empty.mkdir()
    (empty / "x.mp4").write_bytes(b"junk")
    with pytest.raises(UserError, match="no video gave features"):
        R.build_reference(empty, FakeSet(), name="bad")


def test_interrupted_write_leaves_no_usable_cache(write_clip, monkeypatch):
    src = _real_set(write_clip, n=2)
    m = FakeSet()
    real_write = R.atomic_write_bytes

    def dies_on_sidecar(path, data):
        if path.suffix == ".json":
            raise KeyboardInterrupt  # killed after the features, before the sidecar
        real_write(path, data)

    monkeypatch.setattr(R, "atomic_write_bytes", dies_on_sidecar)
    with pytest.raises(KeyboardInterrupt):
        R.build_reference(src, m, name="real")
    folder = R.references_root() / "real"
    assert list(folder.glob("*.npz")) and not list(folder.glob("*.json"))
    assert not list(folder.glob(".*.tmp"))
    with pytest.raises(UserError, match="no sidecar"):
        R.reference_features("real", m)
    monkeypatch.setattr(R, "atomic_write_bytes", real_write)
    R.build_reference(src, m, name="real")
    assert R.reference_features("real", m).shape == (2, 3)
    # a second build killed after replacing the features: old sidecar, new features
    write_clip("real/v9.mp4", moving_disc(8, 32, 8.0, color=(10, 200, 10), seed=9))
    monkeypatch.setattr(R, "atomic_write_bytes", dies_on_sidecar)
    with pytest.raises(KeyboardInterrupt):
        R.build_reference(src, m, name="real")
    with pytest.raises(UserError, match="does not match its sidecar"):
        R.reference_features("real", m)


KILLER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from test_reference import FakeSet
    from vidbench.metrics import reference as R
    real = os.replace
    def replace(src, dst):
        if str(dst).endswith(".json"):
            os.kill(os.getpid(), signal.SIGKILL)  # killed mid-build
        real(src, dst)
    R.os.replace = replace
    R.build_reference({src!r}, FakeSet(), name="real")
""")


def test_sigkill_mid_build_is_detected(write_clip, _isolated_home):
    src = _real_set(write_clip, n=2)
    code = KILLER.format(tests=str(Path(__file__).parent), src=str(src))
    env = {**os.environ, "VIDBENCH_HOME": str(_isolated_home)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-500:]
    with pytest.raises(UserError, match="interrupted"):
        R.reference_features("real", FakeSet())
    R.build_reference(src, FakeSet(), name="real")
    assert R.reference_features("real", FakeSet()).shape == (2, 3)


def test_npz_reference_and_its_checks(tmp_path):
    m = FakeSet()
    p = tmp_path / "feats.npz"
    np.savez(p, features=np.arange(12.0).reshape(4, 3))
    assert R.reference_features(str(p), m).shape == (4, 3)
    p.with_suffix(".json").write_text(json.dumps({"protocol_hash": "0123456789abcdef"}))
    with pytest.raises(UserError, match="protocol hash 0123456789abcdef"):
        R.reference_features(str(p), m)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"nope")
    with pytest.raises(UserError, match="not a readable .npz"):
        R.reference_features(str(bad), m)
    nan = tmp_path / "nan.npz"
    np.savez(nan, features=np.full((3, 2), np.nan))
    with pytest.raises(UserError, match="finite"):
        R.reference_features(str(nan), m)


def test_missing_and_invalid_names_explain_what_to_do(write_clip):
    with pytest.raises(UserError, match=r"reference 'ucf101' not found.*reference build"):
        R.reference_features("ucf101", FakeSet())
    with pytest.raises(UserError, match="no such folder"):
        R.reference_features("no/such/dir", FakeSet())
    with pytest.raises(UserError, match="invalid reference name"):
        R.build_reference(_real_set(write_clip, n=1), FakeSet(), name="../escape")


def test_cli_build_list_show(write_clip, capsys):
    register_metric(FakeSet)
    src = _real_set(write_clip)
    build = argparse.ArgumentParser(prog="vidbench reference build")
    R.add_reference_arguments(build)  # how the CLI wires `reference build`
    args = build.parse_args([str(src), "--name", "cli", "--metrics", "fake_set"])
    assert R.run_reference(args) == 0
    assert "reference cli: 3 videos (0 failed)" in capsys.readouterr().out
    parser = argparse.ArgumentParser(prog="vidbench reference")
    R.add_reference_subcommands(parser)
    args = parser.parse_args(["build", str(src), "--name", "cli", "--metrics", "fake_set"])
    assert R.run_reference(args) == 0
    assert R.run_reference(parser.parse_args(["list"])) == 0
    assert "cli\tfake_set" in capsys.readouterr().out
    assert R.run_reference(parser.parse_args(["show", "cli"])) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "cli"
    with pytest.raises(UserError, match="not a set metric"):
        R.run_reference(parser.parse_args(["build", str(src), "--name", "x", "--metrics",
                                           "temporal_flicker"]))
    with pytest.raises(SystemExit):
        parser.parse_args(["build", str(src)])  # --name is required


def test_changed_weights_make_a_named_reference_stale(write_clip):
    class Weighted(FakeSet):
        sha: ClassVar[str] = "a" * 64

        def weights_sha256(self):
            return Weighted.sha

    src = _real_set(write_clip, n=2)
    R.build_reference(src, Weighted(), name="real")
    assert R.reference_features("real", Weighted()).shape == (2, 3)
    Weighted.sha = "b" * 64
    with pytest.raises(UserError, match=r"weights sha256 aaaaaaaaaaaa\.\.\., now bbbbbbbbbbbb"):
        R.reference_features("real", Weighted())


def test_fvd_and_kvd_share_one_reference(write_clip):
    from vidbench.metrics.fvd import FVD, KVD

    proto = {"name": "test/i3d_32px_pad", "backbone": "i3d", "weights": "i3d-torchscript",
             "size": [32, 32], "pad": True, "clip_start": "first"}
    src = _real_set(write_clip, n=2)
    path = R.build_reference(src, FVD(random_weights=True, protocol=proto), name="real")
    kvd = KVD(random_weights=True, protocol=proto)
    feats = R.reference_features("real", kvd)
    assert feats.shape == (2, 400)
    assert path.name == f"{R.feature_key(kvd)}.npz"


def test_fvd_reference_is_streamed_with_the_full_decode_features(write_clip, monkeypatch):
    """`reference build` streams an FVD-family reference video (its planned clip only, one
    pass) and gets the same features as from the full decode."""
    import vidbench.stream as stream_mod
    from vidbench.metrics.fvd import FVD
    from vidbench.registry import VideoContext

    proto = {"name": "test/i3d_32px_rand", "backbone": "i3d", "weights": "i3d-torchscript",
             "num_frames": 16, "fps": 8.0, "size": [32, 32], "clip_start": "random",
             "n_real": 64, "n_fake": 64}
    m = FVD(random_weights=True, protocol=proto)
    for i in range(2):
        write_clip(f"long/v{i}.mp4", moving_disc(40, 48, 12.0, seed=i, texture=1.0), 12.0)
    src = Path(write_clip("long/v0.mp4", moving_disc(40, 48, 12.0, seed=0, texture=1.0),
                          12.0)).parent
    streamed: list[int] = []
    real = stream_mod.decode_views

    def spy(path, specs, **kw):
        clip = real(path, specs, **kw)
        streamed.append(len(list(specs)))
        return clip

    monkeypatch.setattr(stream_mod, "decode_views", spy)
    before = video_mod.DECODE_COUNT
    feats, videos, failed = R.extract_features(R._read(src), m)
    assert not failed and streamed == [1, 1]
    assert video_mod.DECODE_COUNT - before == 2  # the plan matched: one pass per video
    for f, v in zip(feats, videos, strict=True):
        full = VideoContext(video_mod.decode(src / v), video=v)
        np.testing.assert_array_equal(f, m.features(full))
